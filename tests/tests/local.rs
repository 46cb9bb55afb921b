//! Offline inference as a user runs it: `oarn local inference` on the real SmolLM2 model,
//! through the sandboxed inference worker: a right answer, identical bytes across runs and
//! thread counts in deterministic mode, and clear errors.

use std::io::Read;
use std::process::Stdio;
use std::time::Duration;

use oarn_tests::{Node, test_model, wait_for};
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
        String::from_utf8_lossy(&out.stderr).contains("oarn model pull smollm2-135m"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let node = node_with_model();
    let out = node.oarn(&["local", "inference", "hi", "--max-tokens", "4000"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("exceeds the context"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = node.oarn(&["local", "inference", "hi", "--model", "nope"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no model named"));
}

#[test]
fn stop_strings_end_the_answer_before_them() {
    let node = node_with_model();
    let prompt = "The capital of France is";
    let full = infer(&node, &[prompt, "--max-tokens", "8"]);
    let text = full["text"].as_str().unwrap();
    let at = text.find("Paris").expect("the greedy answer names Paris");
    let cut = infer(
        &node,
        &[prompt, "--max-tokens", "8", "--stop", "Paris", "--stop", "Berlin"],
    );
    assert_eq!(cut["text"].as_str().unwrap(), &text[..at]);
    assert_eq!(cut["stop"], "StopString");
    assert_ne!(full["stop"], "StopString");
}

#[test]
fn a_passed_deadline_is_a_clear_error() {
    let node = node_with_model();
    let out = node.oarn(&[
        "local",
        "inference",
        "1, 2, 3, 4, 5,",
        "--raw",
        "--max-tokens",
        "1500",
        "--timeout",
        "0.3",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("deadline of 300 ms passed"), "{err}");
}

/// Ctrl-C cancels the generation in the worker, which answers with what it generated: the
/// stop reason printed comes from the worker, so it proves the cancel reached it.
#[test]
fn ctrl_c_cancels_in_the_worker_and_keeps_the_text() {
    let node = node_with_model();
    interrupt_a_long_answer(&node);
}

/// `oarn local start` runs a local-only node (the inference worker alone); `oarn local
/// inference` then goes through it, whose worker keeps the model loaded, gives the same bytes
/// as a worker of its own, and is cancelled by Ctrl-C without being restarted.
#[test]
fn a_local_node_serves_inference_and_keeps_the_model_loaded() {
    let mut node = node_with_model();
    let prompt = "The capital of France is";
    let alone = infer(&node, &[prompt, "--max-tokens", "8"]);
    assert_eq!(alone["served_by"], "own worker");

    let child = node
        .command(&["local", "start"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    node.daemon = Some(child);
    let status = node
        .wait_status(|s| oarn_tests::workers(s).first().is_some_and(|w| w["state"] == "running"))
        .expect("the local node runs");
    assert_eq!(status["mode"], "local");
    let kinds: Vec<_> = oarn_tests::workers(&status).iter().map(|w| w["kind"].clone()).collect();
    assert_eq!(kinds, ["infer"], "{status}");

    let first = infer(&node, &[prompt, "--max-tokens", "8"]);
    assert_eq!(first["served_by"], "node");
    assert_eq!(
        first["text"], alone["text"],
        "the node's worker and a worker of its own differ"
    );
    assert!(first["text"].as_str().unwrap().contains("Paris"));
    let second = infer(&node, &[prompt, "--max-tokens", "8"]);
    assert_eq!(second["load_ms"], 0.0, "the model was loaded again: {second}");
    assert_eq!(second["text"], first["text"]);

    interrupt_a_long_answer(&node);
    let after = node.status().unwrap();
    let infer_worker = &oarn_tests::workers(&after)[0];
    assert_eq!(infer_worker["restarts"], 0, "{after}");
    let third = infer(&node, &[prompt, "--max-tokens", "8"]);
    assert_eq!(third["text"], first["text"]);

    let loaded = node.json(&["model", "loaded", "--json"]);
    assert_eq!(loaded[0]["model"], "smollm2-135m", "{loaded}");
    assert!(loaded[0]["bytes"].as_u64().unwrap() > 90_000_000);
    let unloaded = node.json(&["model", "unload", "--json"]);
    assert_eq!(unloaded["unloaded"], serde_json::json!(["smollm2-135m"]));
    assert_eq!(node.json(&["model", "loaded", "--json"]), serde_json::json!([]));
    let reloaded = infer(&node, &[prompt, "--max-tokens", "8"]);
    assert!(reloaded["load_ms"].as_f64().unwrap() > 0.0, "{reloaded}");
    let out = node.oarn(&["model", "unload", "nope"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no model named \"nope\""));
    assert!(node.stop().success());
}

/// Starts a long generation, waits for its first text, sends Ctrl-C (SIGINT), and checks that
/// it stopped as cancelled by the worker (the stop reason comes from the worker), exit 130.
fn interrupt_a_long_answer(node: &Node) {
    let mut child = node
        .command(&["local", "inference", "1, 2, 3, 4, 5,", "--raw", "--max-tokens", "1500"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    assert!(
        stdout.read(&mut [0u8; 16]).unwrap() > 0,
        "no text streamed before the interrupt"
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let exit = wait_for(Duration::from_secs(60), || child.try_wait().unwrap()).expect("oarn did not stop");
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert_eq!(exit.code(), Some(130), "{err}");
    assert!(err.contains("stopped at cancelled"), "{err}");
}
