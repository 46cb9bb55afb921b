"""Real nodes for the Python tests: the workspace's ``oarn`` binary (``$OARN_TEST_BINS``, else
``target/debug``), each node in a home of its own under /tmp, started in the foreground as a
child and stopped when the test ends; the devnet is the workspace's ``oarn-devnet`` (real
anvil, the project's contracts)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, TypeVar

import pytest

import oarn

ROOT = Path(__file__).resolve().parents[2]
BINS = Path(os.environ.get("OARN_TEST_BINS", ROOT / "target" / "debug"))
MODEL = ROOT / "target" / "test-models" / "SmolLM2-135M-Instruct.Q4_1.gguf"
#: The name the test model is installed as.
MODEL_NAME = "smollm2-135m-instruct"
#: ONNX Runtime and the ONNX tests' files (scripts/fetch-onnxruntime --test).
ONNXRUNTIME = ROOT / "target" / "onnxruntime" / "libonnxruntime.so.1.31.1"
TEST_ONNX = ROOT / "target" / "test-onnx"
T = TypeVar("T")


def wait_for(what: str, secs: float, f: Callable[[], Optional[T]]) -> T:
    """Polls ``f`` until it returns something other than None, or fails the test."""
    deadline = time.monotonic() + secs
    while True:
        try:
            v = f()
        except oarn.OarnError:
            v = None
        if v is not None:
            return v
        if time.monotonic() > deadline:
            pytest.fail(f"{what} within {secs} s")
        time.sleep(0.05)


class Node:
    """A node home, and the daemon when started."""

    def __init__(self, env: Optional[Dict[str, str]] = None) -> None:
        # Short paths: the socket path must fit in sockaddr_un.
        self.dir = Path(tempfile.mkdtemp(prefix="oarn-py", dir="/tmp"))
        self.home = self.dir / "home"
        self.env = dict(os.environ)
        self.env.pop("OARN_HOME", None)
        # Many daemons run at once: each picks a free port for its HTTP listener.
        self.env["OARN_METRICS__LISTEN"] = "127.0.0.1:0"
        self.env.update(env or {})
        self.daemon: Optional[subprocess.Popen[bytes]] = None
        self.run("init")

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        out = subprocess.run(
            [str(BINS / "oarn"), "--home", str(self.home), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if check and out.returncode != 0:
            raise AssertionError(f"oarn {' '.join(args)} exited {out.returncode}: {out.stdout}{out.stderr}")
        return out

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args).stdout)

    def import_model(self) -> None:
        self.run("model", "import", str(MODEL), "--name", MODEL_NAME, "--json")

    def start(self, *args: str) -> oarn.Client:
        """Starts the daemon (``oarn start`` or ``args``) and waits until every worker runs."""
        command = list(args) or ["start"]
        log = open(self.dir / "daemon.stderr", "ab")
        self.daemon = subprocess.Popen(
            [str(BINS / "oarn"), "--home", str(self.home), *command],
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        client = oarn.Client(self.home)

        def running() -> Optional[bool]:
            s = client.status()
            return True if s.workers and all(w.state == "running" for w in s.workers) else None

        wait_for(f"the node of {self.home} starts: {self.log()}", 120, running)
        return client

    @property
    def client(self) -> oarn.Client:
        return oarn.Client(self.home)

    def stop(self) -> None:
        if self.daemon is not None and self.daemon.poll() is None:
            self.run("stop", check=False)
            try:
                self.daemon.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.daemon.kill()
                self.daemon.wait()
        self.daemon = None

    def log(self) -> str:
        try:
            return (self.home / "logs" / "oarn.log").read_text()[-4000:]
        except OSError:
            return ""

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def nodes() -> Iterator[Callable[..., Node]]:
    """Makes nodes; every one is stopped and removed when the test ends."""
    made: List[Node] = []

    def make(env: Optional[Dict[str, str]] = None) -> Node:
        n = Node(env)
        made.append(n)
        return n

    yield make
    for n in made:
        n.cleanup()


@pytest.fixture
def local_node(nodes: Callable[..., Node]) -> Node:
    """A local-only node (`oarn local start`) with the test model installed."""
    n = nodes()
    n.import_model()
    n.start("local", "start")
    return n


class Devnet:
    """``oarn-devnet``: anvil with the project's contracts, funding the given accounts."""

    def __init__(self, fund: List[str]) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="oarn-pd", dir="/tmp"))
        out = self.dir / "devnet.json"
        args = [str(BINS / "oarn-devnet"), "--port", "0", "--json"]
        for a in fund:
            args += ["--fund", a]
        self.process = subprocess.Popen(args, stdout=open(out, "wb"), stderr=open(self.dir / "stderr", "wb"))
        info = wait_for("the devnet starts", 120, lambda: out.stat().st_size > 0 or None)
        assert info
        self.info: Any = json.loads(out.read_text())

    def env(self, bootstrap: List[str], auto_claim: bool) -> Dict[str, str]:
        """The configuration of a node on this devnet (manual discovery, as scripts/demo)."""
        return {
            "OARN_NETWORK__DISCOVERY__DISCOVERY_METHOD": "manual",
            "OARN_NETWORK__DISCOVERY__BOOTSTRAP_PEERS": json.dumps(bootstrap),
            "OARN_BLOCKCHAIN__RPC_URLS": json.dumps([self.info["rpc_url"]]),
            "OARN_BLOCKCHAIN__REGISTRY_ADDRESS": json.dumps(self.info["contracts"]["OARNRegistry"]),
            "OARN_BLOCKCHAIN__CHAIN_ID": str(self.info["chain_id"]),
            "OARN_COMPUTE__AUTO_CLAIM": "true" if auto_claim else "false",
        }

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def devnet() -> Iterator[Callable[[List[str]], Devnet]]:
    made: List[Devnet] = []

    def make(fund: List[str]) -> Devnet:
        d = Devnet(fund)
        made.append(d)
        return d

    yield make
    for d in made:
        d.stop()
