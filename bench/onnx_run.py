"""ONNX Runtime through the node against onnxruntime's own Python API, on the same model file,
library build, options and thread count. Each round is a fresh process on both sides (what a
node does for a task: `oarn local run` starts a sandboxed worker), which builds a session and
runs the model once; the node's result bytes must not change between rounds.

Usage: onnx_run.py OARN_BINS LIBRARY OUT_DIR (run by bench/onnx);
       onnx_run.py --once MODEL (one Python round; prints its timings as JSON)."""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

ROUNDS = int(os.environ.get("OARN_BENCH_ROUNDS", "20"))
THREADS = int(os.environ.get("OARN_BENCH_THREADS", "2"))
WIDTH = 2048


def model(path: Path) -> None:
    """An MLP big enough that the run, not the process, is what is timed: 1x512 in, two
    2048-wide hidden layers, 10 classes out (about 21 MB of f32 weights)."""
    rng = np.random.default_rng(7)
    dims = [512, WIDTH, WIDTH, 10]
    nodes, inits, x = [], [], "x"
    for i in range(3):
        w = rng.normal(0, 0.05, (dims[i], dims[i + 1])).astype(np.float32)
        b = np.zeros(dims[i + 1], dtype=np.float32)
        inits += [numpy_helper.from_array(w, f"w{i}"), numpy_helper.from_array(b, f"b{i}")]
        nodes.append(helper.make_node("Gemm", [x, f"w{i}", f"b{i}"], [f"h{i}"]))
        x = f"h{i}"
        if i < 2:
            nodes.append(helper.make_node("Relu", [x], [f"r{i}"]))
            x = f"r{i}"
    nodes.append(helper.make_node("Softmax", [x], ["y"], axis=1))
    graph = helper.make_graph(
        nodes,
        "bench-mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 512])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])],
        inits,
    )
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    path.write_bytes(m.SerializeToString())


def python_round(path: Path, x: np.ndarray) -> tuple[float, float]:
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    opts.intra_op_num_threads = THREADS
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    t = time.perf_counter()
    s = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    load = time.perf_counter() - t
    t = time.perf_counter()
    s.run(None, {"x": x})
    return load * 1e3, (time.perf_counter() - t) * 1e3


def once(path: Path) -> None:
    x = np.linspace(-1, 1, 512, dtype=np.float32).reshape(1, 512)
    load, run = python_round(path, x)
    print(json.dumps({"load_ms": load, "run_ms": run}))


def main() -> None:
    if sys.argv[1] == "--once":
        once(Path(sys.argv[2]))
        return
    bins, lib, out = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    out.mkdir(parents=True, exist_ok=True)
    path = out / "bench-mlp.onnx"
    model(path)
    x = np.linspace(-1, 1, 512, dtype=np.float32).reshape(1, 512)
    (out / "input.json").write_text(json.dumps([float(v) for v in x.ravel()]))
    home = tempfile.mkdtemp(prefix="oarn-bench-")
    env = dict(os.environ, OARN_COMPUTE__ONNXRUNTIME=lib, OARN_METRICS__LISTEN="127.0.0.1:0")
    oarn = [str(bins / "oarn"), "--home", home]
    subprocess.run(oarn + ["init"], check=True, env=env, capture_output=True)
    subprocess.run(oarn + ["model", "import", str(path), "--name", "mlp"], check=True, env=env, capture_output=True)
    node_load, node_run, py_load, py_run, node_total, py_total = [], [], [], [], [], []
    results = set()
    for _ in range(ROUNDS):
        t = time.perf_counter()
        r = subprocess.run(
            oarn + ["local", "run", str(out / "input.json"), "--threads", str(THREADS), "--json"],
            check=True, env=env, capture_output=True,
        )
        node_total.append((time.perf_counter() - t) * 1e3)
        v = json.loads(r.stdout)
        node_load.append(v["load_ms"])
        node_run.append(v["run_ms"])
        results.add(v["result"])
        t = time.perf_counter()
        r = subprocess.run([sys.executable, __file__, "--once", str(path)], check=True, capture_output=True)
        py_total.append((time.perf_counter() - t) * 1e3)
        v = json.loads(r.stdout)
        py_load.append(v["load_ms"])
        py_run.append(v["run_ms"])
    assert len(results) == 1, "the node's result bytes changed between runs"
    p50 = statistics.median
    rows = [
        ("session load", p50(node_load), p50(py_load)),
        ("first run", p50(node_run), p50(py_run)),
        ("round (process start + load + run)", p50(node_total), p50(py_total)),
    ]
    print(f"bench-mlp (512 -> {WIDTH} -> {WIDTH} -> 10, f32), {THREADS} threads, {ROUNDS} rounds, p50 ms:")
    print(f"{'':32} {'oarn':>10} {'python':>10} {'ratio':>8}")
    for name, a, b in rows:
        print(f"{name:32} {a:10.2f} {b:10.2f} {a / b:8.2f}x")


if __name__ == "__main__":
    main()
