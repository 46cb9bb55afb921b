"""Writes a Llama decoder as an ONNX graph of standard operators, in Hugging Face Optimum's
input convention, from Hugging Face-named f32 weights. Used by derive_smollm2.py --onnx.

Inputs: input_ids i64[1, s], attention_mask i64[1, past + s], position_ids i64[1, s],
past_key_values.N.key / .value f32[1, kv_heads, past, head_dim]. Outputs: logits
f32[1, s, vocab], present.N.key / .value f32[1, kv_heads, past + s, head_dim]. Grouped-query
attention without repeating the keys: the queries of the heads sharing a key/value head are
stacked along the sequence axis, attend, and are unstacked.
"""

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


class Graph:
    def __init__(self):
        self.nodes, self.inits, self.n = [], [], 0

    def name(self, hint: str) -> str:
        self.n += 1
        return f"{hint}_{self.n}"

    def const(self, value, hint="c") -> str:
        n = self.name(hint)
        self.inits.append(numpy_helper.from_array(np.asarray(value), n))
        return n

    def op(self, kind: str, inputs: list, hint: str = "", **attrs) -> str:
        out = self.name(hint or kind.lower())
        self.nodes.append(helper.make_node(kind, inputs, [out], **attrs))
        return out

    def rms_norm(self, x: str, w: str, eps: float) -> str:
        sq = self.op("Mul", [x, x])
        mean = self.op("ReduceMean", [sq, self.const(np.array([-1], np.int64))], keepdims=1)
        root = self.op("Sqrt", [self.op("Add", [mean, self.const(np.float32(eps))])])
        return self.op("Mul", [self.op("Div", [x, root]), w])

    def rotate(self, x: str, cos: str, sin: str, half: int) -> str:
        a, b = self.name("x1"), self.name("x2")
        self.nodes.append(helper.make_node("Split", [x, self.const(np.array([half, half], np.int64))], [a, b], axis=-1))
        rotated = self.op("Concat", [self.op("Neg", [b]), a], axis=-1)
        return self.op("Add", [self.op("Mul", [x, cos]), self.op("Mul", [rotated, sin])])


def build(weights: dict, cfg: dict, path: str) -> None:
    g = Graph()
    h, nh, kvh = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd, layers, eps = h // nh, cfg["num_hidden_layers"], cfg["rms_norm_eps"]
    w = {k: g.const(v.astype(np.float32), k.replace(".", "_")) for k, v in weights.items() if k.endswith("norm.weight")}
    # Linear weights transposed once, so each projection is one MatMul.
    lin = lambda k: g.const(np.ascontiguousarray(weights[k].astype(np.float32).T), k.replace(".", "_"))
    embed = g.const(weights["model.embed_tokens.weight"].astype(np.float32), "embed")
    head = lin("lm_head.weight") if "lm_head.weight" in weights else g.const(
        np.ascontiguousarray(weights["model.embed_tokens.weight"].astype(np.float32).T), "lm_head")
    # Rotary tables, as transformers computes them: [positions, head_dim], halves repeated.
    inv = 1.0 / (cfg["rope_theta"] ** (np.arange(0, hd, 2, dtype=np.int64).astype(np.float32) / hd))
    freqs = np.outer(np.arange(cfg["max_position_embeddings"], dtype=np.float32), inv)
    emb = np.concatenate([freqs, freqs], axis=-1)
    cos = g.op("Unsqueeze", [g.op("Gather", [g.const(np.cos(emb).astype(np.float32)), "position_ids"]), g.const(np.array([1], np.int64))])
    sin = g.op("Unsqueeze", [g.op("Gather", [g.const(np.sin(emb).astype(np.float32)), "position_ids"]), g.const(np.array([1], np.int64))])

    # Mask [1, 1, s, past + s]: a key is seen when it is not after the query and not padding.
    total = g.op("Gather", [g.op("Shape", ["attention_mask"]), g.const(np.int64(1))])
    keys = g.op("Range", [g.const(np.int64(0)), total, g.const(np.int64(1))])
    causal = g.op("LessOrEqual", [keys, g.op("Unsqueeze", ["position_ids", g.const(np.array([-1], np.int64))])])
    present = g.op("Equal", [g.op("Unsqueeze", ["attention_mask", g.const(np.array([1], np.int64))]), g.const(np.int64(1))])
    mask = g.op("Where", [g.op("And", [causal, present]), g.const(np.float32(0)), g.const(np.float32(-3.0e38))])
    mask = g.op("Unsqueeze", [mask, g.const(np.array([1], np.int64))])

    x = g.op("Gather", [embed, "input_ids"])
    scale = g.const(np.float32(1.0 / np.sqrt(hd)))
    heads = lambda t, n: g.op("Transpose", [g.op("Reshape", [t, g.const(np.array([0, 0, n, hd], np.int64))])], perm=[0, 2, 1, 3])
    outputs = []
    for i in range(layers):
        p = f"model.layers.{i}"
        a = g.rms_norm(x, w[f"{p}.input_layernorm.weight"], eps)
        q = g.rotate(heads(g.op("MatMul", [a, lin(f"{p}.self_attn.q_proj.weight")]), nh), cos, sin, hd // 2)
        k = g.rotate(heads(g.op("MatMul", [a, lin(f"{p}.self_attn.k_proj.weight")]), kvh), cos, sin, hd // 2)
        v = heads(g.op("MatMul", [a, lin(f"{p}.self_attn.v_proj.weight")]), kvh)
        pk, pv = f"present.{i}.key", f"present.{i}.value"
        g.nodes.append(helper.make_node("Concat", [f"past_key_values.{i}.key", k], [pk], axis=2))
        g.nodes.append(helper.make_node("Concat", [f"past_key_values.{i}.value", v], [pv], axis=2))
        outputs += [pk, pv]
        # [1, nh, s, hd] -> [1, kvh, groups * s, hd]: the heads sharing a key/value head stacked.
        qg = g.op("Reshape", [q, g.const(np.array([0, kvh, -1, hd], np.int64))])
        scores = g.op("MatMul", [qg, g.op("Transpose", [pk], perm=[0, 1, 3, 2])])
        scores = g.op("Reshape", [scores, g.const(np.array([0, nh, -1, 0], np.int64))])
        probs = g.op("Softmax", [g.op("Add", [g.op("Mul", [scores, scale]), mask])], axis=-1)
        probs = g.op("Reshape", [probs, g.const(np.array([0, kvh, -1, 0], np.int64))])
        ctx = g.op("Reshape", [g.op("MatMul", [probs, pv]), g.const(np.array([0, nh, -1, hd], np.int64))])
        ctx = g.op("Reshape", [g.op("Transpose", [ctx], perm=[0, 2, 1, 3]), g.const(np.array([0, 0, h], np.int64))])
        x = g.op("Add", [x, g.op("MatMul", [ctx, lin(f"{p}.self_attn.o_proj.weight")])])
        m = g.rms_norm(x, w[f"{p}.post_attention_layernorm.weight"], eps)
        gate = g.op("MatMul", [m, lin(f"{p}.mlp.gate_proj.weight")])
        up = g.op("MatMul", [m, lin(f"{p}.mlp.up_proj.weight")])
        act = g.op("Mul", [g.op("Mul", [gate, g.op("Sigmoid", [gate])]), up])
        x = g.op("Add", [x, g.op("MatMul", [act, lin(f"{p}.mlp.down_proj.weight")])])
    x = g.rms_norm(x, w["model.norm.weight"], eps)
    g.nodes.append(helper.make_node("MatMul", [x, head], ["logits"]))

    f32, i64 = TensorProto.FLOAT, TensorProto.INT64
    inputs = [
        helper.make_tensor_value_info("input_ids", i64, [1, "sequence"]),
        helper.make_tensor_value_info("attention_mask", i64, [1, "total"]),
        helper.make_tensor_value_info("position_ids", i64, [1, "sequence"]),
    ]
    outs = [helper.make_tensor_value_info("logits", f32, [1, "sequence", cfg["vocab_size"]])]
    for i in range(layers):
        for kind in ("key", "value"):
            inputs.append(helper.make_tensor_value_info(f"past_key_values.{i}.{kind}", f32, [1, kvh, "past", hd]))
            outs.append(helper.make_tensor_value_info(f"present.{i}.{kind}", f32, [1, kvh, "total", hd]))
    graph = helper.make_graph(g.nodes, "llama", inputs, outs, g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], producer_name="oarn derive_smollm2")
    model.ir_version = 8
    onnx.save(model, path)
