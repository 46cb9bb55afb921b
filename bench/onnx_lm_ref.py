"""The reference runner bench/backends measures the ONNX decoder backend against: onnxruntime's
own Python API on the same graph, with the same session options oarn pins (basic graph
optimisation, one inter-op thread, sequential, deterministic, no spinning) and the same
greedy loop (prompt in one step, then one token a step, presents fed back as the past).
Prints one JSON line. Usage: onnx_lm_ref.py MODEL_DIR PROMPT GENERATED_TOKENS THREADS"""

import json
import sys
import time

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer


def main() -> None:
    d, prompt, gen, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    cfg = json.load(open(f"{d}/config.json"))
    tok = Tokenizer.from_file(f"{d}/tokenizer.json")
    o = ort.SessionOptions()
    o.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    o.intra_op_num_threads, o.inter_op_num_threads = threads, 1
    o.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    o.use_deterministic_compute = True
    o.add_session_config_entry("session.intra_op.allow_spinning", "0")
    start = time.monotonic()
    s = ort.InferenceSession(f"{d}/model.onnx", o)
    load_ms = (time.monotonic() - start) * 1e3
    layers, kvh = cfg["num_hidden_layers"], cfg["num_key_value_heads"]
    hd = cfg["hidden_size"] // cfg["num_attention_heads"]
    names = [x.name for x in s.get_outputs()]
    past = {f"past_key_values.{i}.{k}": np.zeros((1, kvh, 0, hd), np.float32) for i in range(layers) for k in ("key", "value")}
    ids = tok.encode(prompt, add_special_tokens=True).ids
    out, cur, pos, times = [], ids, 0, []
    for _ in range(gen + 1):
        t = time.monotonic()
        feed = dict(past, input_ids=np.array([cur], np.int64), attention_mask=np.ones((1, pos + len(cur)), np.int64),
                    position_ids=np.arange(pos, pos + len(cur), dtype=np.int64)[None])
        r = dict(zip(names, s.run(None, feed)))
        times.append(time.monotonic() - t)
        token = int(np.argmax(r["logits"][0, -1]))
        pos += len(cur)
        cur = [token]
        out.append(token)
        past = {f"past_key_values.{i}.{k}": r[f"present.{i}.{k}"] for i in range(layers) for k in ("key", "value")}
    out = out[:gen]
    print(json.dumps({
        "load_ms": load_ms,
        "prompt_tokens": len(ids),
        "prompt_tokens_per_s": len(ids) / times[0],
        "generated_tokens": gen,
        # The first step reads the prompt; each later step generates one token.
        "generation_tokens_per_s": gen / sum(times[1:]),
        "text": tok.decode(out, skip_special_tokens=True),
    }))


if __name__ == "__main__":
    main()
