"""Python's `generate` against the CLI's, on the same running node and the same request:
64 tokens of the real SmolLM2, greedy, the two taking turns (so neither gets a warmer
machine), wall time of each call: `oarn local inference` as a process (what a shell script
pays) and `Client.generate` in this process. The CLI is the baseline; target: Python takes at
most 5 % longer (p50).

Run by bench/python, with the node's binaries in $OARN_BENCH_BINS."""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import oarn

ROUNDS = int(os.environ.get("OARN_BENCH_ROUNDS", "20"))
TOKENS = 64
PROMPT = "Write a short story about a lighthouse keeper."
TARGET = 1.05

bins = Path(os.environ["OARN_BENCH_BINS"])
model = Path(os.environ["OARN_BENCH_MODEL"])
home_dir = Path(tempfile.mkdtemp(prefix="oarn-pb", dir="/tmp"))
home = home_dir / "home"
env = {**os.environ, "OARN_METRICS__LISTEN": "127.0.0.1:0"}
env.pop("OARN_HOME", None)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(bins / "oarn"), "--home", str(home), *args], env=env, capture_output=True, text=True, check=True)


daemon = None
try:
    cli("init")
    cli("model", "import", str(model), "--name", "bench", "--json")
    daemon = subprocess.Popen([str(bins / "oarn"), "--home", str(home), "local", "start"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = oarn.Client(home)
    deadline = time.monotonic() + 60
    while True:
        try:
            if all(w.state == "running" for w in client.status().workers):
                break
        except oarn.NodeNotRunning:
            pass
        if time.monotonic() > deadline:
            sys.exit("the node did not start")
        time.sleep(0.1)

    # Warm-up: the model is loaded by the first generation, kept for the rest.
    reference = client.generate(PROMPT, max_tokens=TOKENS)
    cli_times, py_times = [], []
    for i in range(ROUNDS):
        order = ("cli", "py") if i % 2 == 0 else ("py", "cli")
        for who in order:
            start = time.perf_counter()
            if who == "cli":
                out = json.loads(cli("local", "inference", PROMPT, "--max-tokens", str(TOKENS), "--json").stdout)
                cli_times.append(time.perf_counter() - start)
                assert out["text_keccak"] == reference.text_keccak, "the CLI's bytes differ"
            else:
                got = client.generate(PROMPT, max_tokens=TOKENS)
                py_times.append(time.perf_counter() - start)
                assert got.text_keccak == reference.text_keccak, "Python's bytes differ"

    def row(name: str, t: list[float]) -> str:
        q = statistics.quantiles(t, n=10)
        return f"{name:<22} {statistics.median(t) * 1000:>8.1f} {min(t) * 1000:>8.1f} {q[-1] * 1000:>8.1f}"

    print(f"{ROUNDS} rounds of {TOKENS} tokens ({reference.generated_tokens} generated), ms per call:")
    print(f"{'':<22} {'p50':>8} {'min':>8} {'p90':>8}")
    print(row("oarn local inference", cli_times))
    print(row("Client.generate", py_times))
    ratio = statistics.median(py_times) / statistics.median(cli_times)
    print(f"Python p50 = {ratio:.3f}x the CLI's (the baseline); target <= {TARGET}x: {'met' if ratio <= TARGET else 'MISSED'}")
    code = 0 if ratio <= TARGET else 1
finally:
    if daemon is not None:
        subprocess.run([str(bins / "oarn"), "--home", str(home), "stop"], env=env, capture_output=True)
        daemon.wait(timeout=60)
    shutil.rmtree(home_dir, ignore_errors=True)
sys.exit(code)
