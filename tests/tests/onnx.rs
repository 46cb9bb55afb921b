//! ONNX tensor models as a user runs them: the iris classifier of the network's tensor tasks
//! imported with `oarn model import` and run with `oarn local run` through the sandboxed
//! inference worker and real ONNX Runtime. Every input form of task-format.md gives exactly
//! the bytes computed independently by `tests/onnx/make_iris.py` (onnxruntime's own Python
//! API, formatted in Python), on every run and thread count; hostile model files are refused
//! with nothing installed; a node without ONNX Runtime says how to get it.

use oarn_tests::{Node, onnxruntime, test_onnx};
use serde_json::Value;

/// Every input form the format file lists, as make_iris.py writes them.
const INPUTS: [&str; 6] = [
    "array.json",
    "input.json",
    "data.json",
    "params.json",
    "object.json",
    "raw.f32",
];

fn node() -> Node {
    Node::new().with_env("OARN_COMPUTE__ONNXRUNTIME", onnxruntime().to_str().unwrap())
}

fn node_with_iris() -> Node {
    let node = node();
    let m = node.json(&["model", "import", test_onnx("iris.onnx").to_str().unwrap(), "--json"]);
    assert_eq!(m["name"], "iris", "{m}");
    node
}

fn run(node: &Node, input: &str, threads: &str) -> Value {
    node.json(&[
        "local",
        "run",
        test_onnx(input).to_str().unwrap(),
        "--threads",
        threads,
        "--json",
    ])
}

fn blobs(node: &Node) -> usize {
    std::fs::read_dir(node.home().join("models/blobs")).map_or(0, |d| d.count())
}

#[test]
fn every_input_form_gives_the_reference_bytes() {
    let node = node_with_iris();
    for input in INPUTS {
        let expected = std::fs::read(test_onnx(&format!("{input}.expected"))).unwrap();
        let out = node.oarn(&["local", "run", test_onnx(input).to_str().unwrap()]);
        assert!(
            out.status.success(),
            "{input}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // The result bytes exactly, then one newline.
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("{}\n", String::from_utf8_lossy(&expected)),
            "{input}"
        );
        let v = run(&node, input, "1");
        assert_eq!(v["result"].as_str().unwrap().as_bytes(), &expected[..], "{input}");
        assert_eq!(v["input_shape"], serde_json::json!([1, 4]));
        assert_eq!(v["output_shape"], serde_json::json!([1, 3]));
        let keccak = oarn_protocol::hex::encode(&keccak(&expected));
        assert_eq!(v["result_keccak"], keccak, "{input}");
    }
}

#[test]
fn identical_bytes_across_runs_and_thread_counts_with_a_fingerprint_naming_the_runtime() {
    let node = node_with_iris();
    let a = run(&node, "params.json", "1");
    let b = run(&node, "params.json", "1");
    let c = run(&node, "params.json", "2");
    assert_eq!(a["result"], b["result"]);
    assert_eq!(a["result"], c["result"]);
    let fp = a["fingerprint"].as_str().unwrap();
    for part in [
        "ort 2.0.0-rc.15",
        "onnxruntime ",
        "library sha256 fc44112fbe06d7d6",
        "graph-opt basic",
        "threads 1",
    ] {
        assert!(fp.contains(part), "{part} not in {fp}");
    }
    assert!(c["fingerprint"].as_str().unwrap().contains("threads 2"));
}

#[test]
fn model_info_shows_the_graphs_inputs_and_outputs() {
    let node = node_with_iris();
    let info = node.json(&["model", "info", "iris", "--json"]);
    assert_eq!(info["format"], "onnx", "{info}");
    assert_eq!(info["metadata"]["inputs"], serde_json::json!(["float_input: f32[1,4]"]));
    assert_eq!(
        info["metadata"]["outputs"],
        serde_json::json!(["probabilities: f32[1,3]"])
    );
    let table = String::from_utf8(node.oarn(&["model", "info", "iris"]).stdout).unwrap();
    assert!(table.contains("format        onnx"), "{table}");
    assert!(!table.contains("chat template"), "{table}");
}

#[test]
fn hostile_model_files_are_refused_and_nothing_is_installed() {
    let node = node();
    for (file, why) in [
        ("truncated.onnx", "Protobuf parsing failed"),
        ("garbage.onnx", "Protobuf parsing failed"),
        ("oversized.onnx", "Protobuf parsing failed"),
        // A weight "stored" in /etc/passwd: the worker cannot resolve or read the path.
        ("external.onnx", "External data"),
    ] {
        let out = node.oarn(&["model", "import", test_onnx(file).to_str().unwrap()]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{file} was installed");
        assert!(
            err.contains("not a model ONNX Runtime can run") && err.contains(why),
            "{file}: {err}"
        );
        assert!(err.contains("nothing was installed"), "{file}: {err}");
        // Refused by ONNX Runtime in the worker, not by the sandbox ending the worker.
        assert!(!err.contains("sandbox refused"), "{file}: {err}");
    }
    assert_eq!(node.json(&["model", "list", "--json"]), Value::Array(vec![]));
    assert_eq!(blobs(&node), 0);
}

#[test]
fn bad_inputs_and_the_wrong_kind_of_model_get_clear_errors() {
    let node = node_with_iris();
    let dir = node.dir.path();
    let write = |name: &str, bytes: &[u8]| {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p.display().to_string()
    };
    let cases = [
        (
            write("five.json", b"[1, 2, 3, 4, 5]"),
            "takes f32[1, 4], but the task's input has shape [1, 5]",
        ),
        (write("text.txt", b"hello"), "the input is not a tensor"),
        (
            write("shape.json", br#"{"input": [1, 2, 3, 4], "shape": [3, 3]}"#),
            "holds 9 values, but the input has 4",
        ),
        (write("big.bin", &vec![0u8; (1 << 20) + 4]), "larger than 1 MiB"),
    ];
    for (path, want) in cases {
        let out = node.oarn(&["local", "run", &path]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(want), "{path}: {err}");
    }
    let out = node.oarn(&["local", "inference", "hi", "--model", "iris"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("iris is an ONNX tensor model") && err.contains("oarn local run"),
        "{err}"
    );
}

#[test]
fn a_node_without_onnx_runtime_says_how_to_get_it() {
    let node = node_with_iris();
    // The same home with compute.onnxruntime unset.
    let out = node
        .command(&["local", "run", test_onnx("array.json").to_str().unwrap()])
        .env("OARN_COMPUTE__ONNXRUNTIME", "")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("compute.onnxruntime is not set") && err.contains("scripts/fetch-onnxruntime"),
        "{err}"
    );
}

fn keccak(bytes: &[u8]) -> [u8; 32] {
    alloy::primitives::keccak256(bytes).0
}

#[test]
fn a_running_node_serves_runs_and_keeps_the_model_loaded() {
    let mut node = node_with_iris();
    node.start();
    let expected = std::fs::read(test_onnx("data.json.expected")).unwrap();
    let first = run(&node, "data.json", "1");
    assert_eq!(first["served_by"], "node", "{first}");
    assert_eq!(first["result"].as_str().unwrap().as_bytes(), &expected[..]);
    let loaded = node.json(&["model", "loaded", "--json"]);
    assert!(loaded.to_string().contains("\"iris\""), "{loaded}");
    // Loaded once: the second run reuses the session.
    let second = run(&node, "data.json", "1");
    assert_eq!(second["result"], first["result"]);
    assert_eq!(second["load_ms"].as_f64(), Some(0.0), "{second}");
    node.stop();
}

#[test]
fn a_run_past_its_deadline_is_stopped_inside_onnx_runtime() {
    let mut node = node();
    let slow = test_onnx("slow.onnx");
    node.json(&["model", "import", slow.to_str().unwrap(), "--name", "slow", "--json"]);
    // The running node keeps the session a first run loaded, so the short deadline below
    // falls in the run itself: a load slowed by a busy machine once took the half second.
    node.start();
    let input = test_onnx("array.json");
    let slow_run = |extra: &[&str]| {
        let mut args = vec!["local", "run", input.to_str().unwrap(), "--model", "slow", "--timeout"];
        args.extend_from_slice(extra);
        node.oarn(&args)
    };
    let warm = slow_run(&["120", "--json"]);
    assert!(warm.status.success(), "{}", String::from_utf8_lossy(&warm.stderr));
    let warm: Value = serde_json::from_slice(&warm.stdout).unwrap();
    assert_eq!(warm["served_by"], "node", "{warm}");
    // About three seconds of work on this machine; half a second allowed.
    let out = slow_run(&["0.5"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    // The node's API error DeadlineExceeded (-32005), raised inside the run.
    assert!(
        err.contains("-32005") && err.contains("the deadline passed while the model ran"),
        "{err}"
    );
    node.stop();
}

/// ONNX Runtime's environment, with its telemetry on, started a thread before the sandbox:
/// that thread ran outside Landlock and seccomp, and the worker could no longer enter its user
/// namespace. Every layer must hold, on every thread, with ONNX Runtime loaded.
#[test]
fn onnx_runtime_starts_no_thread_outside_the_sandbox() {
    let mut node = node_with_iris();
    let status = node.start();
    // A session's threads exist once a model ran.
    run(&node, "array.json", "2");
    let infer = oarn_tests::worker(&status, "infer");
    assert!(
        infer["capabilities"].as_array().unwrap().iter().any(|c| c == "onnx"),
        "{infer}"
    );
    for layer in infer["sandbox"].as_array().unwrap() {
        assert_ne!(layer["state"], "unavailable", "{layer}");
    }
    assert!(
        infer["sandbox"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["layer"] == "user-namespace" && l["state"] == "active"),
        "{infer}"
    );
    let pid = infer["pid"].as_u64().unwrap();
    let tasks: Vec<_> = std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
        .collect();
    assert!(tasks.len() > 1, "the session's threads run");
    for task in tasks {
        let text = std::fs::read_to_string(task.path().join("status")).unwrap();
        assert!(
            text.contains("Seccomp:\t2"),
            "thread {:?} runs without seccomp",
            task.file_name()
        );
        assert!(text.contains("NoNewPrivs:\t1"), "{:?}", task.file_name());
    }
    node.stop();
}
