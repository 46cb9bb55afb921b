//! Hugging Face models as a user runs them: the SmolLM2 test model in Safetensors layout, as a
//! PyTorch checkpoint and as an ONNX decoder graph (all derived from the GGUF by
//! `scripts/fetch-test-model`) imported as a directory with
//! `oarn model import`, described by `oarn model info`, and answering through `oarn local
//! inference` in the sandboxed inference worker (candle, or ONNX Runtime for the graph): the
//! right answer greedily, the same
//! bytes on every run and thread count, and hostile archives, configs and pickles refused
//! with nothing installed.

use std::path::Path;

use oarn_tests::{Node, onnxruntime, test_onnx, test_onnx_lm_model, test_pytorch_model, test_safetensors_model};
use serde_json::Value;

fn import(node: &Node, dir: &Path, name: &str) -> std::process::Output {
    node.oarn(&["model", "import", dir.to_str().unwrap(), "--name", name, "--json"])
}

fn node_with_model() -> Node {
    let node = Node::new();
    let out = import(&node, &test_safetensors_model(), "smollm2-st");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    node
}

fn infer(node: &Node, args: &[&str]) -> Value {
    let mut all = vec!["local", "inference", "--model", "smollm2-st", "--json"];
    all.extend_from_slice(args);
    node.json(&all)
}

/// The capital of France, greedily in at most 12 tokens, from `model` on `threads` threads (0:
/// as many as the machine has), through `oarn local inference --json`.
fn ask(node: &Node, model: &str, threads: &str) -> Value {
    node.json(&[
        "local",
        "inference",
        "--model",
        model,
        "What is the capital of France?",
        "--max-tokens",
        "12",
        "--threads",
        threads,
        "--json",
    ])
}

/// A copy of the test model's directory with `edit` applied, under the node's directory.
fn edited(node: &Node, name: &str, edit: impl FnOnce(&Path)) -> std::path::PathBuf {
    let dir = node.dir.path().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["config.json", "tokenizer.json", "tokenizer_config.json"] {
        std::fs::copy(test_safetensors_model().join(f), dir.join(f)).unwrap();
    }
    // The weights are linked, not copied (half a gigabyte), as a Hugging Face cache does.
    std::os::unix::fs::symlink(
        test_safetensors_model().join("model.safetensors"),
        dir.join("model.safetensors"),
    )
    .unwrap();
    edit(&dir);
    dir
}

#[test]
fn a_safetensors_directory_imports_as_one_archive_and_model_info_describes_it() {
    let node = Node::new();
    let dir = edited(&node, "smol", |d| {
        std::fs::write(d.join("README.md"), "not a member").unwrap()
    });
    let out = import(&node, &dir, "smol");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let m: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(m["format"], "safetensors", "{m}");
    // The same files give the same archive, wherever they are and whatever else is there.
    let again = import(&node, &test_safetensors_model(), "smol2");
    let again: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(m["digest"], again["digest"]);
    let info = node.json(&["model", "info", "smol", "--json"]);
    let meta = &info["metadata"];
    assert_eq!(meta["architecture"], "llama", "{info}");
    assert_eq!(meta["quantization"], "F32", "{info}");
    assert_eq!(meta["layers"], 30, "{info}");
    assert_eq!(meta["kv_heads"], 3, "{info}");
    assert_eq!(meta["chat_template"], true, "{info}");
    let params = meta["parameters"].as_u64().unwrap();
    assert!((134_000_000..136_000_000).contains(&params), "{params}");
}

#[test]
fn the_derived_model_answers_paris_with_the_same_bytes_on_every_run_and_thread_count() {
    let node = node_with_model();
    let prompt = "What is the capital of France?";
    let one = infer(&node, &[prompt, "--max-tokens", "12", "--threads", "1"]);
    assert!(one["text"].as_str().unwrap().contains("Paris"), "{one}");
    assert!(
        one["fingerprint"].as_str().unwrap().starts_with("candle-core "),
        "{one}"
    );
    assert!(
        one["fingerprint"].as_str().unwrap().contains("dtype f32 (stored F32)"),
        "{one}"
    );
    let two = infer(&node, &[prompt, "--max-tokens", "12", "--threads", "2"]);
    let again = infer(&node, &[prompt, "--max-tokens", "12", "--threads", "2"]);
    assert_eq!(one["text"], two["text"]);
    assert_eq!(two["text_keccak"], again["text_keccak"]);
    // Raw, without the chat template: the model continues the text.
    let raw = infer(&node, &["The capital of France is", "--max-tokens", "8", "--raw"]);
    assert!(raw["text"].as_str().unwrap().contains("Paris"), "{raw}");
}

/// A change made to a copy of the model directory.
type Edit = Box<dyn FnOnce(&Path)>;

#[test]
fn a_hostile_config_or_archive_is_refused_by_the_worker_and_nothing_is_installed() {
    let node = Node::new();
    let cases: [(&str, Edit, &str); 4] = [
        (
            "huge",
            Box::new(|d| {
                let c = std::fs::read_to_string(d.join("config.json")).unwrap();
                std::fs::write(
                    d.join("config.json"),
                    c.replace(
                        "\"max_position_embeddings\": 8192",
                        "\"max_position_embeddings\": 1099511627776",
                    ),
                )
                .unwrap();
            }),
            "max_position_embeddings",
        ),
        (
            "lying",
            Box::new(|d| {
                let c = std::fs::read_to_string(d.join("config.json")).unwrap();
                std::fs::write(
                    d.join("config.json"),
                    c.replace("\"num_hidden_layers\": 30", "\"num_hidden_layers\": 31"),
                )
                .unwrap();
            }),
            "lacks the tensor model.layers.30",
        ),
        (
            "notjson",
            Box::new(|d| std::fs::write(d.join("config.json"), b"{\"model_type\": ").unwrap()),
            "config.json is not valid",
        ),
        (
            "cut",
            Box::new(|d| {
                std::fs::remove_file(d.join("model.safetensors")).unwrap();
                let mut f = std::fs::File::open(test_safetensors_model().join("model.safetensors")).unwrap();
                let mut head = vec![0u8; 1 << 20];
                std::io::Read::read_exact(&mut f, &mut head).unwrap();
                std::fs::write(d.join("model.safetensors"), head).unwrap();
            }),
            "model.safetensors: the tensors cover",
        ),
    ];
    for (name, edit, want) in cases {
        let dir = edited(&node, name, edit);
        let out = import(&node, &dir, name);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name} was installed");
        assert!(
            err.contains(want) && err.contains("nothing was installed"),
            "{name}: {err}"
        );
    }
    // An archive holding something that is not a model file (made with tar, as anyone could).
    let evil = node.dir.path().join("evil");
    std::fs::create_dir_all(&evil).unwrap();
    std::fs::copy(test_safetensors_model().join("config.json"), evil.join("config.json")).unwrap();
    std::fs::write(evil.join("run.sh"), "#!/bin/sh\n").unwrap();
    let tar = node.dir.path().join("evil.tar");
    let made = std::process::Command::new("tar")
        .args(["--format=ustar", "-cf"])
        .arg(&tar)
        .arg("-C")
        .arg(&evil)
        .args(["config.json", "run.sh"])
        .status()
        .unwrap();
    assert!(made.success());
    let out = node.oarn(&["model", "import", tar.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && err.contains("\"run.sh\", which is not a model file")
            && err.contains("nothing was installed"),
        "{err}"
    );
    let list = node.json(&["model", "list", "--json"]);
    assert_eq!(list.as_array().map(Vec::len), Some(0), "{list}");
}

/// A directory of the PyTorch test model's config and tokenizer with `bin` as its
/// `pytorch_model.bin`.
fn pytorch_dir(node: &Node, name: &str, bin: &[u8]) -> std::path::PathBuf {
    let dir = node.dir.path().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["config.json", "tokenizer.json", "tokenizer_config.json"] {
        std::fs::copy(test_pytorch_model().join(f), dir.join(f)).unwrap();
    }
    std::fs::write(dir.join("pytorch_model.bin"), bin).unwrap();
    dir
}

/// A torch.save-style zip holding `pickle` as its data.pkl (Python's zipfile, as anyone could).
fn zip_with_pickle(node: &Node, pickle: &[u8]) -> Vec<u8> {
    let pkl = node.dir.path().join("data.pkl");
    std::fs::write(&pkl, pickle).unwrap();
    let out = node.dir.path().join("made.zip");
    let made = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys, zipfile; z = zipfile.ZipFile(sys.argv[2], 'w'); z.write(sys.argv[1], 'archive/data.pkl'); z.writestr('archive/version', '3\\n'); z.close()",
        ])
        .arg(&pkl)
        .arg(&out)
        .status()
        .unwrap();
    assert!(made.success());
    std::fs::read(out).unwrap()
}

#[test]
fn a_pytorch_checkpoint_answers_paris_and_is_read_without_running_its_pickle() {
    let node = Node::new();
    let m = node.json(&[
        "model",
        "import",
        test_pytorch_model().to_str().unwrap(),
        "--name",
        "smol-pt",
        "--json",
    ]);
    assert_eq!(m["format"], "pytorch", "{m}");
    assert_eq!(m["metadata"]["quantization"], "F16", "{m}");
    let run = |threads: &str| ask(&node, "smol-pt", threads);
    let one = run("1");
    assert_eq!(one["text"], "The capital of France is Paris.", "{one}");
    assert!(
        one["fingerprint"].as_str().unwrap().contains("dtype f32 (stored F16)"),
        "{one}"
    );
    assert_eq!(one["text_keccak"], run("2")["text_keccak"]);
}

#[test]
fn legacy_and_malicious_pickles_are_refused_and_nothing_is_installed() {
    let node = Node::new();
    let cases: [(&str, Vec<u8>, &str); 4] = [
        // A bare pickle stream: torch.save before PyTorch 1.6.
        ("legacy", b"\x80\x02}q\x00.".to_vec(), "a legacy PyTorch checkpoint"),
        // What pickle.dumps writes for an object whose __reduce__ is (os.system, ("ls",)).
        (
            "system",
            zip_with_pickle(
                &node,
                b"\x80\x02cposix\nsystem\nq\x00X\x02\x00\x00\x00lsq\x01\x85q\x02Rq\x03.",
            ),
            "the pickle names posix.system",
        ),
        // A string claiming 4 GiB in a pickle of a few bytes.
        (
            "claims",
            zip_with_pickle(&node, b"\x80\x02X\xff\xff\xff\xffabc."),
            "the pickle ends early",
        ),
        // The whole model pickled instead of its state dict.
        (
            "model",
            zip_with_pickle(&node, b"\x80\x02]q\x00."),
            "holds no state dict",
        ),
    ];
    for (name, bin, want) in cases {
        let dir = pytorch_dir(&node, name, &bin);
        let out = import(&node, &dir, name);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name} was installed");
        assert!(
            err.contains(want) && err.contains("nothing was installed"),
            "{name}: {err}"
        );
    }
    let list = node.json(&["model", "list", "--json"]);
    assert_eq!(list.as_array().map(Vec::len), Some(0), "{list}");
}

#[test]
fn an_onnx_decoder_answers_paris_with_the_same_bytes_across_threads() {
    let node = Node::new().with_env("OARN_COMPUTE__ONNXRUNTIME", onnxruntime().to_str().unwrap());
    let m = node.json(&[
        "model",
        "import",
        test_onnx_lm_model().to_str().unwrap(),
        "--name",
        "smol-onnx",
        "--json",
    ]);
    assert_eq!(m["format"], "onnx", "{m}");
    assert_eq!(m["metadata"]["architecture"], "llama", "{m}");
    let run = |threads: &str| ask(&node, "smol-onnx", threads);
    let one = run("1");
    assert_eq!(one["text"], "The capital of France is Paris.", "{one}");
    let fingerprint = one["fingerprint"].as_str().unwrap();
    assert!(
        fingerprint.starts_with("ort ") && fingerprint.contains("tokenizers "),
        "{one}"
    );
    assert_eq!(one["text_keccak"], run("2")["text_keccak"]);
    // A decoder is a language model: `local run` (tensor tasks) says which command to use.
    let out = node.oarn(&["local", "run", "-", "--model", "smol-onnx"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("oarn local inference"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn an_onnx_graph_that_is_not_a_decoder_or_a_node_without_onnx_runtime_is_refused() {
    let node = Node::new().with_env("OARN_COMPUTE__ONNXRUNTIME", onnxruntime().to_str().unwrap());
    // The iris classifier where a decoder belongs.
    let dir = node.dir.path().join("iris-lm");
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["config.json", "tokenizer.json"] {
        std::fs::copy(test_onnx_lm_model().join(f), dir.join(f)).unwrap();
    }
    std::fs::copy(test_onnx("iris.onnx"), dir.join("model.onnx")).unwrap();
    let out = import(&node, &dir, "iris-lm");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("does not take a decoder's tensors"),
        "{err}"
    );
    assert!(err.contains("it takes float_input"), "{err}");
    // Without ONNX Runtime, the decoder is refused with how to get it.
    let bare = Node::new();
    let out = import(&bare, &test_onnx_lm_model(), "smol-onnx");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("compute.onnxruntime"), "{err}");
}

/// The test model's weights split into two shards (by Hugging Face's `safetensors` for numpy,
/// in the venv `scripts/fetch-test-model` made), with `duplicate` also putting the first
/// tensor in the second shard; config and tokenizer beside them.
fn sharded(node: &Node, name: &str, duplicate: bool) -> std::path::PathBuf {
    let dir = node.dir.path().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["config.json", "tokenizer.json", "tokenizer_config.json"] {
        std::fs::copy(test_safetensors_model().join(f), dir.join(f)).unwrap();
    }
    let python = oarn_tests::bin_dir().parent().unwrap().join("derive-venv/bin/python");
    let script = r#"
import json, sys
from safetensors.numpy import load_file, save_file
src, out, dup = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
w = load_file(src + "/model.safetensors")
names = sorted(w)
parts = [names[: len(names) // 2], names[len(names) // 2 :] + (names[:1] if dup else [])]
index = {}
for i, part in enumerate(parts):
    shard = f"model-{i + 1:05}-of-00002.safetensors"
    save_file({k: w[k] for k in part}, f"{out}/{shard}", metadata={"format": "pt"})
    index.update({k: shard for k in part})
json.dump({"weight_map": index}, open(f"{out}/model.safetensors.index.json", "w"))
"#;
    let made = std::process::Command::new(python)
        .args(["-c", script])
        .arg(test_safetensors_model())
        .arg(&dir)
        .arg(if duplicate { "1" } else { "0" })
        .status()
        .unwrap();
    assert!(made.success());
    dir
}

#[test]
fn a_sharded_checkpoint_gives_the_bytes_of_the_single_file_one() {
    let node = Node::new();
    for (name, dir) in [
        ("single", test_safetensors_model()),
        ("sharded", sharded(&node, "sharded", false)),
    ] {
        let out = import(&node, &dir, name);
        assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let (one, two) = (ask(&node, "single", "0"), ask(&node, "sharded", "0"));
    assert_eq!(two["text"], "The capital of France is Paris.", "{two}");
    assert_eq!(one["text_keccak"], two["text_keccak"]);
    // A tensor in both shards: which one would load is unclear, so the checkpoint is refused.
    let dup = sharded(&node, "dup", true);
    let out = import(&node, &dup, "dup");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && err.contains("is in both model-00001-of-00002.safetensors and model-00002-of-00002.safetensors"),
        "{err}"
    );
}

/// The test model as another architecture's checkpoint, f16 (half the bytes): `mistral` (the
/// same network; its output projection is never tied, so it is written out), `qwen2` (the
/// same network with zero query, key and value biases) or `phi3` (query, key and value
/// projections fused into one, gate and up into one). Made by Hugging Face's `safetensors`
/// for numpy in the venv `scripts/fetch-test-model` made.
fn as_arch(node: &Node, arch: &str) -> std::path::PathBuf {
    let dir = node.dir.path().join(arch);
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["tokenizer.json", "tokenizer_config.json", "config.json"] {
        std::fs::copy(test_safetensors_model().join(f), dir.join(f)).unwrap();
    }
    let python = oarn_tests::bin_dir().parent().unwrap().join("derive-venv/bin/python");
    let script = r#"
import json, sys
import numpy as np
from safetensors.numpy import load_file, save_file
src, out, arch = sys.argv[1], sys.argv[2], sys.argv[3]
w = {k: v.astype(np.float16) for k, v in load_file(src + "/model.safetensors").items()}
cfg = json.load(open(src + "/config.json"))
cfg.update(model_type=arch, hidden_act="silu", torch_dtype="float16")
if arch == "mistral":
    cfg.update(sliding_window=None, tie_word_embeddings=False, architectures=["MistralForCausalLM"])
    w["lm_head.weight"] = w["model.embed_tokens.weight"].copy()
elif arch == "phi3":
    cfg.update(architectures=["Phi3ForCausalLM"])
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}"
        a = [w.pop(f"{p}.self_attn.{x}_proj.weight") for x in "qkv"]
        w[f"{p}.self_attn.qkv_proj.weight"] = np.concatenate(a)
        m = [w.pop(f"{p}.mlp.{x}_proj.weight") for x in ("gate", "up")]
        w[f"{p}.mlp.gate_up_proj.weight"] = np.concatenate(m)
else:
    cfg.update(sliding_window=cfg["max_position_embeddings"], max_window_layers=cfg["num_hidden_layers"],
               use_sliding_window=False, architectures=["Qwen2ForCausalLM"])
    for k in [k for k in w if k.endswith(("q_proj.weight", "k_proj.weight", "v_proj.weight"))]:
        w[k.replace(".weight", ".bias")] = np.zeros(w[k].shape[0], np.float16)
save_file(w, out + "/model.safetensors", metadata={"format": "pt"})
json.dump(cfg, open(out + "/config.json", "w"), indent=2)
"#;
    let made = std::process::Command::new(python)
        .args(["-c", script])
        .arg(test_safetensors_model())
        .arg(&dir)
        .arg(arch)
        .status()
        .unwrap();
    assert!(made.success());
    dir
}

#[test]
fn mistral_qwen2_and_phi3_checkpoints_run_and_other_architectures_are_refused_by_name() {
    let node = Node::new();
    for arch in ["mistral", "qwen2", "phi3"] {
        let dir = as_arch(&node, arch);
        let out = import(&node, &dir, arch);
        assert!(out.status.success(), "{arch}: {}", String::from_utf8_lossy(&out.stderr));
        let v = ask(&node, arch, "0");
        assert!(v["text"].as_str().unwrap().contains("Paris"), "{arch}: {v}");
        assert!(
            v["fingerprint"].as_str().unwrap().contains(&format!("arch {arch}")),
            "{v}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
    // A Qwen2 checkpoint without its biases is refused naming the first missing tensor.
    let dir = edited(&node, "nobias", |d| {
        let c = std::fs::read_to_string(d.join("config.json")).unwrap();
        std::fs::write(d.join("config.json"), c.replace("\"llama\"", "\"qwen2\"")).unwrap();
    });
    let out = import(&node, &dir, "nobias");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("lacks the tensor model.layers.0.self_attn.q_proj.bias"),
        "{err}"
    );
    let dir = edited(&node, "gemma", |d| {
        let c = std::fs::read_to_string(d.join("config.json")).unwrap();
        std::fs::write(d.join("config.json"), c.replace("\"llama\"", "\"gemma\"")).unwrap();
    });
    let out = import(&node, &dir, "gemma");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("a \"gemma\" model; this build runs llama") && err.contains("nothing was installed"),
        "{err}"
    );
}
