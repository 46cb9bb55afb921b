"""Derives the SmolLM2 test model in Hugging Face's Safetensors layout from its GGUF.

No package index ships a small text-generation model as Safetensors, so the tests make one
from the GGUF they already use: every tensor dequantised to f32 with the `gguf` package's own
dequantiser, the query and key projections un-permuted (llama.cpp's converter interleaves their
rotary halves; Hugging Face's layout keeps them split), the tensors renamed to Hugging Face's
Llama names, and `config.json`, `tokenizer.json` and `tokenizer_config.json` written from the
GGUF's metadata (byte-level BPE with SmolLM's digit split, its special tokens, its chat
template). The result is the directory `oarn model import` takes. With `--pytorch DIR`, the
same model also as a PyTorch checkpoint (`pytorch_model.bin` in torch.save's zip format, f16
weights, so the loader's dtype conversion is exercised too), written without torch: the
pickle names exactly the globals torch.save writes, through stand-in modules registered under
torch's names. With `--onnx DIR`, also as a decoder graph of standard ONNX operators in
Hugging Face Optimum's input convention (onnx_llama.py), f32, beside the same config and
tokenizer. Usage:

    derive_smollm2.py MODEL.gguf OUT_DIR [--pytorch DIR] [--onnx DIR]
"""

import io
import json
import pickle
import sys
import types
import zipfile
from collections import OrderedDict
from pathlib import Path

import gguf
import numpy as np
from safetensors.numpy import save_file
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

# GGUF tensor names (after `blk.N.`) to Hugging Face's (after `model.layers.N.`).
LAYER_NAMES = {
    "attn_norm": "input_layernorm",
    "attn_q": "self_attn.q_proj",
    "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj",
    "ffn_norm": "post_attention_layernorm",
    "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
}


def field(reader: gguf.GGUFReader, key: str):
    return reader.fields[key].contents()


def unpermute(w: np.ndarray, heads: int) -> np.ndarray:
    """The inverse of llama.cpp's `permute` (convert_hf_to_gguf.py) for one projection."""
    rows = w.shape[0]
    return w.reshape(heads, rows // heads // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def tensors(reader: gguf.GGUFReader, heads: int, kv_heads: int) -> dict:
    out = {}
    for t in reader.tensors:
        w = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32)
        # GGUF lists dimensions innermost first; numpy and Hugging Face outermost first.
        w = w.reshape(tuple(int(d) for d in reversed(t.shape)))
        if t.name == "token_embd.weight":
            out["model.embed_tokens.weight"] = w
        elif t.name == "output_norm.weight":
            out["model.norm.weight"] = w
        elif t.name == "output.weight":
            out["lm_head.weight"] = w
        else:
            _, layer, kind, _ = t.name.split(".")
            if kind == "attn_q":
                w = unpermute(w, heads)
            elif kind == "attn_k":
                w = unpermute(w, kv_heads)
            out[f"model.layers.{layer}.{LAYER_NAMES[kind]}.weight"] = w
    return {k: np.ascontiguousarray(v) for k, v in out.items()}


def config(reader: gguf.GGUFReader, tied: bool) -> dict:
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": int(field(reader, "llama.embedding_length")),
        "intermediate_size": int(field(reader, "llama.feed_forward_length")),
        "num_hidden_layers": int(field(reader, "llama.block_count")),
        "num_attention_heads": int(field(reader, "llama.attention.head_count")),
        "num_key_value_heads": int(field(reader, "llama.attention.head_count_kv")),
        "rms_norm_eps": float(np.float32(field(reader, "llama.attention.layer_norm_rms_epsilon"))),
        "rope_theta": float(field(reader, "llama.rope.freq_base")),
        "max_position_embeddings": int(field(reader, "llama.context_length")),
        "vocab_size": len(field(reader, "tokenizer.ggml.tokens")),
        "bos_token_id": int(field(reader, "tokenizer.ggml.bos_token_id")),
        "eos_token_id": int(field(reader, "tokenizer.ggml.eos_token_id")),
        "tie_word_embeddings": tied,
        "torch_dtype": "float32",
    }


def tokenizer(reader: gguf.GGUFReader) -> Tokenizer:
    tokens = field(reader, "tokenizer.ggml.tokens")
    kinds = field(reader, "tokenizer.ggml.token_type")
    merges = [tuple(m.split(" ", 1)) for m in field(reader, "tokenizer.ggml.merges")]
    vocab = {t: i for i, t in enumerate(tokens)}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, fuse_unk=False))
    # llama.cpp's `smollm` pre-tokenizer: each digit alone, then GPT-2's byte-level split.
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    # Control tokens (type 3) are special: never split, and skipped when decoding.
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t, k in zip(tokens, kinds) if k == 3])
    return tok


def torch_zip(weights: dict, path: Path) -> None:
    """Writes `weights` (name -> f16 array) as torch.save(state_dict) does: archive/data.pkl
    (protocol 2) referring to one storage per tensor, archive/data/N stored uncompressed."""
    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")

    class HalfStorage:
        pass

    def _rebuild_tensor_v2(*args):
        raise RuntimeError("never called")

    HalfStorage.__module__, HalfStorage.__qualname__ = "torch", "HalfStorage"
    _rebuild_tensor_v2.__module__, _rebuild_tensor_v2.__qualname__ = "torch._utils", "_rebuild_tensor_v2"
    torch.HalfStorage = HalfStorage
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    sys.modules["torch"], sys.modules["torch._utils"] = torch, utils

    class Tensor:
        def __init__(self, key: str, shape: tuple):
            self.key, self.shape = key, shape

        def __reduce__(self):
            stride, acc = [], 1
            for d in reversed(self.shape):
                stride.insert(0, acc)
                acc *= d
            storage = ("storage", HalfStorage, self.key, "cpu", acc)
            return (_rebuild_tensor_v2, (Storage(storage), 0, self.shape, tuple(stride), False, OrderedDict()))

    class Storage:
        def __init__(self, pid):
            self.pid = pid

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            return obj.pid if isinstance(obj, Storage) else None

    state = OrderedDict((name, Tensor(str(i), w.shape)) for i, (name, w) in enumerate(sorted(weights.items())))
    buf = io.BytesIO()
    Pickler(buf, protocol=2).dump(state)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", buf.getvalue())
        z.writestr("archive/byteorder", "little")
        for i, (name, w) in enumerate(sorted(weights.items())):
            z.writestr(f"archive/data/{i}", w.astype("<f2").tobytes())
        z.writestr("archive/version", "3\n")


def main() -> None:
    src, out = Path(sys.argv[1]), Path(sys.argv[2])
    extra = dict(zip(sys.argv[3::2], sys.argv[4::2]))
    pytorch = Path(extra["--pytorch"]) if "--pytorch" in extra else None
    onnx_dir = Path(extra["--onnx"]) if "--onnx" in extra else None
    reader = gguf.GGUFReader(src)
    heads = int(field(reader, "llama.attention.head_count"))
    kv_heads = int(field(reader, "llama.attention.head_count_kv"))
    weights = tensors(reader, heads, kv_heads)
    out.mkdir(parents=True, exist_ok=True)
    save_file(weights, out / "model.safetensors", metadata={"format": "pt"})
    cfg = config(reader, "lm_head.weight" not in weights)
    (out / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    tok = tokenizer(reader)
    tok.save(str(out / "tokenizer.json"))
    tokens = field(reader, "tokenizer.ggml.tokens")
    tok_cfg = {
        "bos_token": tokens[cfg["bos_token_id"]],
        "eos_token": tokens[cfg["eos_token_id"]],
        "chat_template": field(reader, "tokenizer.chat_template"),
    }
    (out / "tokenizer_config.json").write_text(json.dumps(tok_cfg, indent=2) + "\n")
    if pytorch:
        pytorch.mkdir(parents=True, exist_ok=True)
        for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
            (pytorch / name).write_bytes((out / name).read_bytes())
        torch_zip({k: v.astype(np.float16) for k, v in weights.items()}, pytorch / "pytorch_model.bin")
    if onnx_dir:
        sys.path.insert(0, str(Path(__file__).parent))
        import onnx_llama

        onnx_dir.mkdir(parents=True, exist_ok=True)
        for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
            (onnx_dir / name).write_bytes((out / name).read_bytes())
        onnx_llama.build(weights, cfg, str(onnx_dir / "model.onnx"))


if __name__ == "__main__":
    main()
