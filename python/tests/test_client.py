"""The Python package against real running nodes: typed answers, streams that match the CLI
byte for byte, cancellation, a task submitted from Python to consensus on the devnet, and each
exception for its cause."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import threading
import urllib.request
from typing import Callable, List, Optional

import pytest

import oarn
from conftest import MODEL_NAME, ONNXRUNTIME, TEST_ONNX, Devnet, Node, wait_for

PROMPT = "The capital of France is"
#: A raw prompt the model continues for longer than any test lets it: an uncancelled
#: generation of it makes all of its LONG_TOKENS.
LONG = "1, 2, 3, 4, 5, 6, 7, 8, 9, 10,"
LONG_TOKENS = 300


def long_runs_its_course(client: oarn.Client) -> None:
    """What cancelling is measured against: left alone, LONG makes every token asked for."""
    whole = client.generate(LONG, max_tokens=LONG_TOKENS, chat=False)
    assert (whole.stop, whole.generated_tokens) == ("MaxTokens", LONG_TOKENS), whole


def tcp_address(status: oarn.Status) -> Optional[str]:
    return next((a for a in status.network.listen if "/tcp/" in a), None)


def test_status_and_peers_of_two_connected_nodes(nodes: Callable[..., Node]) -> None:
    manual = {"OARN_NETWORK__DISCOVERY__DISCOVERY_METHOD": "manual"}
    a = nodes(manual)
    ca = a.start()
    address = wait_for("node A listens on TCP", 30, lambda: tcp_address(ca.status()))
    b = nodes({**manual, "OARN_NETWORK__DISCOVERY__BOOTSTRAP_PEERS": json.dumps([address])})
    cb = b.start()

    status = ca.status()
    assert isinstance(status, oarn.Status)
    assert status.mode == "standard"
    assert status.pid == a.json("status", "--json")["pid"]
    assert sorted(w.kind for w in status.workers) == ["chain", "infer", "net"]
    assert all(isinstance(w, oarn.Worker) and w.state == "running" for w in status.workers)
    assert "Status(version=" in repr(status)

    b_id = wait_for("B knows its peer id", 30, lambda: cb.status().network.peer_id)
    peers = wait_for(
        "A sees B",
        60,
        lambda: (lambda p: p if any(x.peer_id == b_id for x in p.peers) else None)(ca.peers()),
    )
    assert isinstance(peers, oarn.Peers) and isinstance(peers.peers[0], oarn.Peer)
    assert peers.peer_id == status.network.peer_id
    assert any(p.peer_id == peers.peer_id for p in cb.peers().peers), "B sees A too"
    assert [w.kind for w in ca.workers()] == [w.kind for w in status.workers]


def test_a_stream_gives_the_bytes_the_cli_gives_for_the_same_request(local_node: Node) -> None:
    client = local_node.client
    stream = client.stream(PROMPT, max_tokens=24)
    pieces = list(stream)
    assert len(pieces) > 1, "the text came in pieces"
    done = stream.result
    assert isinstance(done, oarn.Generated)
    assert done.text == "".join(pieces)
    assert done.model == MODEL_NAME
    cli = local_node.json("local", "inference", PROMPT, "--max-tokens", "24", "--json")
    assert cli["text"] == done.text
    assert cli["text_keccak"] == done.text_keccak
    assert "Paris" in done.text
    whole = client.generate(PROMPT, max_tokens=24)
    assert (whole.text, whole.text_keccak) == (done.text, done.text_keccak)
    models = client.models()
    assert [m.name for m in models] == [MODEL_NAME] and models[0].loaded


def metric(node: Node, name: str) -> float:
    listen = node.client.status().http.listen
    assert listen, "the node serves metrics"
    text = urllib.request.urlopen(f"http://{listen}/metrics", timeout=30).read().decode()
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0


def test_leaving_a_stream_cancels_the_generation_in_the_node(local_node: Node) -> None:
    client = local_node.client
    long_runs_its_course(client)
    # close(): the result says it was cancelled, before its tokens were all made.
    with client.stream(LONG, max_tokens=LONG_TOKENS, chat=False) as s:
        first = [next(s) for _ in range(3)]
        done = s.close()
    assert done is not None and done.stop == "Cancelled", done
    assert done.generated_tokens < LONG_TOKENS and done.text.startswith("".join(first))

    # break out of a for loop: dropping the stream cancels too; the node counts a generation
    # that ended early.
    before = metric(local_node, "oarn_generations_total")
    tokens_before = metric(local_node, 'oarn_inference_tokens_total{phase="generation"}')
    for i, _piece in enumerate(client.stream(LONG, max_tokens=LONG_TOKENS, chat=False)):
        if i == 2:
            break
    wait_for("the broken-off generation ends", 60, lambda: metric(local_node, "oarn_generations_total") > before or None)
    after = metric(local_node, 'oarn_inference_tokens_total{phase="generation"}')
    assert after - tokens_before < LONG_TOKENS
    # The worker was not restarted, and generates again at once.
    assert all(w.restarts == 0 for w in client.workers())
    assert client.generate(PROMPT, max_tokens=4).generated_tokens <= 4


def test_ctrl_c_while_streaming_cancels_the_generation_in_the_node(local_node: Node) -> None:
    script = (
        "import oarn\n"
        f"c = oarn.Client({str(local_node.home)!r})\n"
        "try:\n"
        f"    for i, _ in enumerate(c.stream({LONG!r}, max_tokens={LONG_TOKENS}, chat=False)):\n"
        "        if i == 0:\n"
        "            print('started', flush=True)\n"
        "except KeyboardInterrupt:\n"
        "    print('interrupted', flush=True)\n"
    )
    long_runs_its_course(local_node.client)
    before = metric(local_node, "oarn_generations_total")
    tokens_before = metric(local_node, 'oarn_inference_tokens_total{phase="generation"}')
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "started"
    child.send_signal(signal.SIGINT)
    out, _ = child.communicate(timeout=60)
    assert out.strip() == "interrupted", out
    wait_for("the interrupted generation ends", 60, lambda: metric(local_node, "oarn_generations_total") > before or None)
    assert metric(local_node, 'oarn_inference_tokens_total{phase="generation"}') - tokens_before < LONG_TOKENS


def test_a_stream_is_read_from_another_thread_and_from_asyncio(local_node: Node) -> None:
    client = local_node.client
    pieces: List[str] = []
    stream = client.stream(PROMPT, max_tokens=12)
    t = threading.Thread(target=lambda: pieces.extend(stream))
    t.start()
    t.join(timeout=120)
    assert not t.is_alive()
    assert stream.result is not None and "".join(pieces) == stream.result.text

    async def run() -> str:
        node = oarn.AsyncClient(local_node.home)
        status = await node.status()
        assert status.mode == "local"
        got = [p async for p in node.stream(PROMPT, max_tokens=12)]
        whole = await node.generate(PROMPT, max_tokens=12)
        assert "".join(got) == whole.text
        return whole.text

    assert "Paris" in asyncio.run(run())


def test_each_exception_names_its_cause(local_node: Node, nodes: Callable[..., Node]) -> None:
    client = local_node.client
    with pytest.raises(oarn.InvalidRequest, match="temperature"):
        client.generate(PROMPT, temperature=5.0)
    with pytest.raises(oarn.InvalidRequest, match="max_tokens"):
        client.generate(PROMPT, max_tokens=0)
    with pytest.raises(oarn.InvalidRequest, match="no-such-model"):
        client.generate(PROMPT, model="no-such-model")
    with pytest.raises(oarn.Timeout):
        client.generate(LONG, max_tokens=LONG_TOKENS, chat=False, timeout=0.001)
    with pytest.raises(oarn.NotFound, match="has not seen task 7"):
        client.task(7)
    with pytest.raises(oarn.InvalidRequest, match="task_id"):
        client.task(0)
    assert issubclass(oarn.NodeNotRunning, oarn.OarnError)
    local_node.stop()
    with pytest.raises(oarn.NodeNotRunning, match="oarn start"):
        client.status()
    with pytest.raises(oarn.NodeNotRunning):
        list(client.stream(PROMPT))
    never = nodes()
    with pytest.raises(oarn.NodeNotRunning):
        oarn.Client(never.home).earnings()


def wallet(node: Node) -> str:
    passphrase = node.dir / "pass"
    passphrase.write_text("python test passphrase\n")
    out = node.json("wallet", "create", "--no-confirm", "--new-passphrase-file", str(passphrase), "--json")
    return str(out["address"])


def test_a_task_submitted_from_python_reaches_consensus_and_its_result_is_read_back(
    nodes: Callable[..., Node], devnet: Callable[[List[str]], Devnet]
) -> None:
    requester, workers = nodes(), [nodes() for _ in range(3)]
    accounts = [wallet(n) for n in [requester, *workers]]
    chain = devnet(accounts)
    requester.import_model()
    requester.env.update(chain.env([], auto_claim=False))
    rq = requester.start("start", "--passphrase-file", str(requester.dir / "pass"))
    address = wait_for("the requester listens", 30, lambda: tcp_address(rq.status()))
    for w in workers:
        w.env.update(chain.env([address], auto_claim=True))
        w.start("start", "--passphrase-file", str(w.dir / "pass"))
    for w in [requester, *workers]:
        client = w.client
        wait_for("the node signs", 60, lambda: client.status().wallet.account)

    submitted = rq.submit_task(MODEL_NAME, PROMPT, reward_eth="0.001", nodes=3, max_tokens=12)
    assert isinstance(submitted, oarn.Submitted)
    assert submitted.paid_wei == str(3 * 10**15)
    task_id = submitted.task_id
    hashes = []
    for w in workers:

        def ended(client: oarn.Client = w.client) -> Optional[oarn.TaskReport]:
            r = client.task(task_id)
            return r if r.stage in ("settled", "failed", "skipped") else None

        report = wait_for(f"task {task_id} settles on a worker", 300, ended)
        assert report.stage == "settled" and report.outcome == "rewarded", report
        assert oarn.eth(report.ledger.reward_wei) == oarn.eth("1000000000000000")
        hashes.append(report.result_hash)
    assert len(set(hashes)) == 1
    result = wait_for("the result notices arrive", 60, lambda: rq.result(task_id))
    assert isinstance(result, oarn.TaskResult)
    assert result.result_hash == hashes[0]
    assert result.agreeing == 3
    assert "Paris" in result.text
    history = workers[0].client.history()
    assert history.tasks[0].id == task_id and history.tasks[0].outcome == "rewarded"
    assert workers[0].client.earnings().total.rewarded == 1


def test_an_onnx_model_runs_in_the_node_with_the_bytes_the_cli_gives(nodes: Callable[..., Node]) -> None:
    node = nodes({"OARN_COMPUTE__ONNXRUNTIME": str(ONNXRUNTIME)})
    node.run("model", "import", str(TEST_ONNX / "iris.onnx"))
    client = node.start("local", "start")
    data = (TEST_ONNX / "params.json").read_bytes()
    done = client.run_tensor(data, model="iris", threads=1)
    assert isinstance(done, oarn.TensorResult)
    assert done.result.encode() == (TEST_ONNX / "params.json.expected").read_bytes()
    assert (done.input_shape, done.output_shape) == ([1, 4], [1, 3])
    cli = node.json("local", "run", str(TEST_ONNX / "params.json"), "--json")
    assert (cli["result"], cli["result_keccak"]) == (done.result, done.result_keccak)
    assert "onnxruntime" in done.fingerprint
    with pytest.raises(oarn.InvalidRequest, match="not a tensor"):
        client.run_tensor(b"hello")
