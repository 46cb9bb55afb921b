//! Inference routed to Ollama (`ollama.enabled`), and `ollama serve` run by the node
//! (`ollama.serve`).
//!
//! Ollama cannot be installed on the test machine (no internet), so these tests run against
//! `tests/ollama/fake-ollama`, a stand-in that follows the request and answer shapes of
//! Ollama's published API documentation. Everything on our side is real: the CLI, the
//! supervisor, and the infer worker in its Ollama sandbox profile speaking HTTP over loopback.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use oarn_tests::{Node, alive, wait_for, worker};
use serde_json::Value;

fn fake() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("ollama/fake-ollama")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The stand-in server on `address`, logging requests to `log`; killed on drop.
struct Fake(Child);

impl Fake {
    fn start(address: &str, log: &std::path::Path) -> Self {
        let child = Command::new(fake())
            .arg("serve")
            .env("OLLAMA_HOST", address)
            .env("OLLAMA_FAKE_LOG", log)
            .stdout(Stdio::null())
            .spawn()
            .expect("start fake-ollama");
        let port = address.rsplit_once(':').unwrap().1;
        let up = wait_for(Duration::from_secs(10), || {
            std::net::TcpStream::connect(format!("127.0.0.1:{port}")).ok()
        });
        assert!(up.is_some(), "fake-ollama did not listen");
        Self(child)
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn requests(log: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn ollama_node(address: &str) -> Node {
    let node = Node::new();
    for (k, v) in [("ollama.enabled", "true"), ("ollama.address", address)] {
        let out = node.oarn(&["config", "set", k, v]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    node
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn generations_go_to_ollama_with_their_parameters() {
    let address = format!("127.0.0.1:{}", free_port());
    let node = ollama_node(&address);
    let log = node.dir.path().join("requests.jsonl");
    let _fake = Fake::start(&address, &log);

    let v = node.json(&[
        "local",
        "inference",
        "What is the capital of France?",
        "--model",
        "fake:1b",
        "--system",
        "Be brief.",
        "--temperature",
        "0.5",
        "--top-k",
        "40",
        "--seed",
        "9",
        "--json",
    ]);
    assert_eq!(v["text"], "The capital of France is Paris.");
    assert_eq!(v["stop"], "EndOfText");
    assert_eq!(v["prompt_tokens"], 26);
    assert_eq!(v["generated_tokens"], 7);
    assert!(v["fingerprint"].as_str().unwrap().starts_with("ollama 0.5.7"), "{v}");
    let chat = requests(&log)
        .into_iter()
        .find(|r| r["path"] == "/api/chat")
        .expect("a chat request");
    let body = &chat["body"];
    assert_eq!(body["model"], "fake:1b");
    assert_eq!(body["stream"], true);
    assert_eq!(
        body["messages"][0],
        serde_json::json!({"role": "system", "content": "Be brief."})
    );
    assert_eq!(
        body["messages"][1],
        serde_json::json!({"role": "user", "content": "What is the capital of France?"})
    );
    assert_eq!(body["options"]["temperature"], 0.5);
    assert_eq!(body["options"]["top_k"], 40);
    assert_eq!(body["options"]["seed"], 9);

    // max tokens, raw prompts (/api/generate) and stop strings.
    let v = node.json(&[
        "local",
        "inference",
        "x",
        "--model",
        "fake:1b",
        "--max-tokens",
        "3",
        "--raw",
        "--json",
    ]);
    assert_eq!(v["text"], "The capital of");
    assert_eq!(v["stop"], "MaxTokens");
    let raw = requests(&log)
        .into_iter()
        .rfind(|r| r["path"] == "/api/generate")
        .unwrap();
    assert_eq!(raw["body"]["raw"], true);
    assert_eq!(raw["body"]["options"]["num_predict"], 3);
    let v = node.json(&[
        "local",
        "inference",
        "x",
        "--model",
        "fake:1b",
        "--stop",
        " Paris",
        "--json",
    ]);
    assert_eq!(v["text"], "The capital of France is");

    // The text streams to stdout as it does with llama.cpp.
    let out = node.oarn(&["local", "inference", "x", "--model", "fake:1b"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "The capital of France is Paris."
    );
}

#[test]
fn ollama_errors_are_clear() {
    let address = format!("127.0.0.1:{}", free_port());
    let node = ollama_node(&address);
    let out = node.oarn(&["local", "inference", "hi"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("name an Ollama model with --model"),
        "{}",
        stderr(&out)
    );

    // Nothing listens there.
    let out = node.oarn(&["local", "inference", "hi", "--model", "fake:1b"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(&format!("cannot reach Ollama at {address}")) && err.contains("ollama serve"),
        "{err}"
    );

    let log = node.dir.path().join("requests.jsonl");
    let _fake = Fake::start(&address, &log);
    let out = node.oarn(&["local", "inference", "hi", "--model", "nope:7b"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("model \"nope:7b\" not found, try pulling it first"),
        "{err}"
    );

    let out = node.oarn(&["config", "set", "ollama.address", "localhost"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("ollama.address"), "{}", stderr(&out));
}

/// With `ollama.serve`, the node runs `ollama serve` on the configured address, restarts it
/// when it dies, and stops it when the node stops; the infer worker reaches it.
#[test]
fn the_node_runs_and_supervises_ollama_serve() {
    let address = format!("127.0.0.1:{}", free_port());
    let mut node = ollama_node(&address);
    let log = node.dir.path().join("requests.jsonl");
    for (k, v) in [
        ("ollama.serve", "true"),
        ("ollama.binary", fake().to_str().unwrap()),
        ("network.mode", "local"),
    ] {
        let out = node.oarn(&["config", "set", k, v]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    node.env.push(("OLLAMA_FAKE_LOG".into(), log.display().to_string()));
    // Something of the daemon's own environment that `ollama serve` must not see.
    node.env
        .push(("OARN_TEST_PRIVATE".into(), "for the daemon only".into()));
    node.start();
    let status = node
        .wait_status(|s| {
            s["ollama"]["serve"]["pid"].is_u64()
                && worker(s, "infer")["capabilities"]
                    .as_array()
                    .is_some_and(|c| c.iter().any(|c| c == "ollama 0.5.7"))
        })
        .unwrap_or_else(|| panic!("ollama serve not up: {:?}\n{}", node.status(), node.log()));
    assert_eq!(status["ollama"]["address"], address.as_str());
    let pid = status["ollama"]["serve"]["pid"].as_u64().unwrap() as u32;

    let v = node.json(&["local", "inference", "hi", "--model", "fake:1b", "--json"]);
    assert_eq!(v["text"], "The capital of France is Paris.");
    assert_eq!(v["served_by"], "node");
    // Loading and unloading go through Ollama's /api/ps and keep_alive.
    let loaded = node.json(&["model", "loaded", "--json"]);
    assert_eq!(loaded[0]["model"], "fake:1b", "{loaded}");
    let unloaded = node.json(&["model", "unload", "fake:1b", "--json"]);
    assert_eq!(unloaded["unloaded"], serde_json::json!(["fake:1b"]));
    assert_eq!(node.json(&["model", "loaded", "--json"]), serde_json::json!([]));
    assert!(
        requests(&log)
            .iter()
            .any(|r| r["body"]["keep_alive"] == 0 && r["body"]["model"] == "fake:1b")
    );
    // `ollama serve` got Ollama's own variables and none of the daemon's others.
    let env: Vec<String> = requests(&log)
        .iter()
        .find_map(|r| serde_json::from_value(r["env"].clone()).ok())
        .expect("the stand-in logged its environment");
    assert!(
        env.iter().any(|k| k == "OLLAMA_HOST") && env.iter().any(|k| k == "OLLAMA_FAKE_LOG"),
        "{env:?}"
    );
    assert!(
        !env.iter().any(|k| k == "OARN_TEST_PRIVATE"),
        "the daemon's environment leaked: {env:?}"
    );

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let again = node
        .wait_status(|s| s["ollama"]["serve"]["restarts"] == 1 && s["ollama"]["serve"]["pid"].is_u64())
        .expect("ollama serve restarted");
    let new_pid = again["ollama"]["serve"]["pid"].as_u64().unwrap() as u32;
    assert_ne!(new_pid, pid);
    let v = node.json(&["local", "inference", "hi", "--model", "fake:1b", "--json"]);
    assert_eq!(v["text"], "The capital of France is Paris.");

    assert!(node.stop().success());
    assert!(
        wait_for(Duration::from_secs(10), || (!alive(new_pid)).then_some(())).is_some(),
        "ollama serve outlived the node"
    );
}
