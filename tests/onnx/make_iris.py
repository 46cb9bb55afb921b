"""Builds the iris classifier the ONNX tests run, and its expected results.

The network's ONNX tensor tasks today run a small iris classifier: four f32 features in
(shape [1, 4]), three class probabilities out (shape [1, 3]). This script writes one of that
shape with the `onnx` package's helpers (Gemm, Relu, Gemm, Softmax; weights from a seeded
generator, so the file is the same on every run), then runs it with onnxruntime's own Python
API (the reference runner) on each test input and writes the result bytes that
task-format.md's rules give for it, formatted here in Python, independently of the node's
Rust code. Usage: make_iris.py OUT_DIR
"""

import json
import math
import struct
import sys
from decimal import Decimal
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper


def model() -> bytes:
    rng = np.random.default_rng(20261207)
    w1 = rng.normal(0, 0.8, (4, 8)).astype(np.float32)
    b1 = rng.normal(0, 0.1, (8,)).astype(np.float32)
    w2 = rng.normal(0, 0.8, (8, 3)).astype(np.float32)
    b2 = rng.normal(0, 0.1, (3,)).astype(np.float32)
    nodes = [
        helper.make_node("Gemm", ["float_input", "w1", "b1"], ["h"]),
        helper.make_node("Relu", ["h"], ["r"]),
        helper.make_node("Gemm", ["r", "w2", "b2"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "iris",
        [helper.make_tensor_value_info("float_input", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [1, 3])],
        [numpy_helper.from_array(a, n) for a, n in [(w1, "w1"), (b1, "b1"), (w2, "w2"), (b2, "b2")]],
    )
    m = helper.make_model(graph, producer_name="oarn-tests", opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m.SerializeToString()


def slow_model() -> bytes:
    """A model that takes seconds to run, for deadlines: the iris input widened to a
    1024 x 1024 matrix, then 250 rounds of MatMul (1024 x 1024) and Tanh, then the mean."""
    rng = np.random.default_rng(1)
    w0 = rng.normal(0, 0.5, (4, 1024)).astype(np.float32)
    w = rng.normal(0, 1 / 32, (1024, 1024)).astype(np.float32)
    shape = np.array([1024, 1024], dtype=np.int64)
    nodes = [
        helper.make_node("MatMul", ["float_input", "w0"], ["h"]),
        helper.make_node("Expand", ["h", "shape"], ["m0"]),
    ]
    for i in range(250):
        nodes.append(helper.make_node("MatMul", [f"m{i}", "w"], [f"p{i}"]))
        nodes.append(helper.make_node("Tanh", [f"p{i}"], [f"m{i + 1}"]))
    nodes.append(helper.make_node("ReduceMean", ["m250"], ["mean"], axes=[0, 1], keepdims=1))
    graph = helper.make_graph(
        nodes,
        "slow",
        [helper.make_tensor_value_info("float_input", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("mean", TensorProto.FLOAT, [1, 1])],
        [numpy_helper.from_array(a, n) for a, n in [(w0, "w0"), (w, "w"), (shape, "shape")]],
    )
    m = helper.make_model(graph, producer_name="oarn-tests", opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m.SerializeToString()


def number(x: float) -> str:
    """An f64 as serde_json writes it: the shortest digits that read back as the same f64
    (Python's repr finds the same ones), placed as serde_json places them: plainly when the
    decimal point falls within 16 digits left of the first digit and 5 right of it, else with
    an exponent written `e+N` or `e-N`; NaN and infinities as null."""
    if math.isnan(x) or math.isinf(x):
        return "null"
    sign = "-" if math.copysign(1.0, x) < 0 else ""
    if x == 0:
        return sign + "0.0"
    _, digits, exponent = Decimal(repr(abs(x))).normalize().as_tuple()
    d = "".join(map(str, digits))
    point = len(d) + exponent  # where the decimal point falls, counted from the first digit
    if 0 <= exponent and point <= 16:
        return sign + d + "0" * exponent + ".0"
    if 0 < point <= 16:
        return sign + d[:point] + "." + d[point:]
    if -5 < point <= 0:
        return sign + "0." + "0" * -point + d
    e = point - 1
    mantissa = d[0] + ("." + d[1:] if len(d) > 1 else "")
    return f"{sign}{mantissa}e{'+' if e > 0 else '-'}{abs(e)}"


def result(shape: list[int], values: np.ndarray) -> bytes:
    vals = ",".join(number(float(v)) for v in values.astype(np.float32).ravel())
    return ('{"shape":[' + ",".join(str(d) for d in shape) + '],"type":"f32","values":[' + vals + "]}").encode()


# Inputs in each of the forms the format file lists, and the features each one means.
INPUTS = {
    "array.json": (b"[5.1, 3.5, 1.4, 0.2]", [5.1, 3.5, 1.4, 0.2]),
    "input.json": (b'{"input": [6.7, 3.0, 5.2, 2.3], "shape": [1, 4]}', [6.7, 3.0, 5.2, 2.3]),
    "data.json": (b'{"data": [5.9, 3.0, 4.2, 1.5]}', [5.9, 3.0, 4.2, 1.5]),
    "params.json": (
        b'{"params": {"sepal_length": 6.3, "sepal_width": 2.5, "petal_length": 5.0, "petal_width": 1.9}}',
        # key order: petal_length, petal_width, sepal_length, sepal_width
        [5.0, 1.9, 6.3, 2.5],
    ),
    "object.json": (b'{"d": 0.2, "c": 1.4, "b": 3.5, "a": 5.1, "note": "ignored"}', [5.1, 3.5, 1.4, 0.2]),
    "raw.f32": (struct.pack("<4f", 4.9, 2.4, 3.3, 1.0), [4.9, 2.4, 3.3, 1.0]),
}


def main() -> None:
    # The formatting rules, checked on the cases the node's own unit test pins.
    widened = [float(np.float32(v)) for v in (0.1, 2.0**60, 1e-7)]
    assert [number(v) for v in widened] == ["0.10000000149011612", "1.152921504606847e+18", "1.0000000116860974e-7"]
    assert [number(v) for v in (1.0, 100.0, 1e15, 1e16, 1e-5, 1e-6, -2.5)] == [
        "1.0", "100.0", "1000000000000000.0", "1e+16", "0.00001", "1e-6", "-2.5"]
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    (out / "iris.onnx").write_bytes(model())
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    session = ort.InferenceSession(str(out / "iris.onnx"), opts, providers=["CPUExecutionProvider"])
    for name, (raw, features) in INPUTS.items():
        (out / name).write_bytes(raw)
        x = np.array([features], dtype=np.float32)
        (y,) = session.run(None, {"float_input": x})
        (out / (name + ".expected")).write_bytes(result(list(y.shape), y))
    (out / "slow.onnx").write_bytes(slow_model())
    # Hostile model files: cut short; not a model at all; a graph whose declared length is
    # 4 GiB; a weight stored "externally" in a file outside the model store.
    full = (out / "iris.onnx").read_bytes()
    (out / "truncated.onnx").write_bytes(full[: len(full) // 2])
    (out / "garbage.onnx").write_bytes(b"\x08\x07\x12\x04oarn" + bytes(range(256)) * 4)
    (out / "oversized.onnx").write_bytes(b"\x08\x08\x3a\xff\xff\xff\xff\x0f" + full[8:64])
    escape = onnx.load_from_string(full)
    w1 = escape.graph.initializer[0]
    w1.ClearField("raw_data")
    w1.ClearField("float_data")
    w1.data_location = TensorProto.EXTERNAL
    for key, value in [("location", "../../../../../../etc/passwd"), ("offset", "0"), ("length", "128")]:
        entry = w1.external_data.add()
        entry.key, entry.value = key, value
    (out / "external.onnx").write_bytes(escape.SerializeToString())
    print(json.dumps(sorted(p.name for p in out.iterdir())))


if __name__ == "__main__":
    main()
