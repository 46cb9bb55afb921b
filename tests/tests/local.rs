//! Offline inference as a user runs it: `oarn local inference` on the real SmolLM2 model,
//! through the sandboxed inference worker: a right answer, identical bytes across runs and
//! thread counts in deterministic mode, and clear errors.

use oarn_tests::{Node, test_model};
use serde_json::Value;

fn node_with_model() -> Node {
    let node = Node::new();
    let out = node.oarn(&[
        "model",
        "import",
        test_model().to_str().unwrap(),
        "--name",
        "smollm2-135m",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    node
}

fn infer(node: &Node, args: &[&str]) -> Value {
    let mut all = vec!["local", "inference"];
    all.extend_from_slice(args);
    all.push("--json");
    node.json(&all)
}

#[test]
fn answers_with_paris() {
    let node = node_with_model();
    let out = node.oarn(&[
        "local",
        "inference",
        "The capital of France is",
        "--max-tokens",
        "8",
        "--temperature",
        "0",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("Paris"), "{text}");
    let stats = String::from_utf8_lossy(&out.stderr);
    assert!(
        stats.contains("smollm2-135m") && stats.contains("generated at"),
        "{stats}"
    );
}

#[test]
fn deterministic_across_runs_and_thread_counts() {
    let node = node_with_model();
    let prompt = "Write one sentence about the sea.";
    let a = infer(&node, &[prompt, "--max-tokens", "24", "--threads", "2"]);
    let b = infer(&node, &[prompt, "--max-tokens", "24", "--threads", "2"]);
    let c = infer(&node, &[prompt, "--max-tokens", "24", "--threads", "1"]);
    assert!(!a["text"].as_str().unwrap().is_empty());
    assert_eq!(a["text"], b["text"], "two runs differ");
    assert_eq!(a["text"], c["text"], "1 and 2 threads differ");
    assert!(a["generation_tokens_per_s"].as_f64().unwrap() > 0.0);
    assert!(a["fingerprint"].as_str().unwrap().contains("flash-attn off"));
    let seeded = infer(
        &node,
        &[prompt, "--max-tokens", "24", "--temperature", "0.9", "--seed", "7"],
    );
    let again = infer(
        &node,
        &[prompt, "--max-tokens", "24", "--temperature", "0.9", "--seed", "7"],
    );
    assert_eq!(seeded["text"], again["text"], "the same seed gives the same text");
}

#[test]
fn clear_errors() {
    let node = Node::new();
    let out = node.oarn(&["local", "inference", "hi"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("oarn model import"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let node = node_with_model();
    let out = node.oarn(&["local", "inference", "hi", "--max-tokens", "100000"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("exceeds the context"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = node.oarn(&["local", "inference", "hi", "--model", "nope"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no model named"));
}
