//! The sandbox as an operator checks it: `oarn sandbox verify` proves from inside each worker
//! that forbidden operations fail (and for the right reason) while its job still works;
//! `oarn sandbox show` prints the profile a running worker enforces; a refused syscall is
//! named; a weakened or broken profile is caught.

use std::path::Path;

use oarn_tests::{Node, worker};
use serde_json::Value;

fn outcomes(node: &Node, extra: &[&str]) -> (bool, Vec<Value>) {
    let mut args = vec!["sandbox", "verify", "--json"];
    args.extend_from_slice(extra);
    let out = node.oarn(&args);
    let v: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.success(), v.as_array().unwrap().clone())
}

/// A copy of the built-in profiles in `dir`, with `edit` applied to one worker's.
fn override_profiles(dir: &Path, worker: &str, edit: impl Fn(String) -> String) -> String {
    let profiles = dir.join("profiles");
    std::fs::create_dir_all(&profiles).unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sandbox-profiles");
    for w in [
        "infer",
        "net",
        "chain",
        "anon",
        "infer-ollama",
        "net-private",
        "chain-private",
    ] {
        let text = std::fs::read_to_string(src.join(format!("worker-{w}.toml"))).unwrap();
        let text = if w == worker { edit(text) } else { text };
        std::fs::write(profiles.join(format!("worker-{w}.toml")), text).unwrap();
    }
    profiles.display().to_string()
}

#[test]
fn verify_proves_every_worker_sandbox() {
    let node = Node::new();
    let (ok, results) = outcomes(&node, &[]);
    let bad: Vec<&Value> = results.iter().filter(|o| o["ok"] != true).collect();
    assert!(ok && bad.is_empty(), "not as expected: {bad:#?}");
    for kind in ["infer", "net", "chain"] {
        let mine: Vec<&Value> = results.iter().filter(|o| o["worker"] == kind).collect();
        let denied = mine.iter().filter(|o| o["expected"] == "denied").count();
        assert!(denied >= 30, "{kind}: only {denied} forbidden operations probed");
        assert!(
            mine.iter().any(|o| o["expected"] == "allowed"),
            "{kind}: its job is probed too"
        );
        let layers: Vec<&str> = mine
            .iter()
            .filter(|o| o["expected"] == "active")
            .map(|o| o["probe"].as_str().unwrap())
            .collect();
        for layer in ["user-namespace", "mount-namespace", "landlock", "seccomp"] {
            assert!(
                layers.contains(&format!("sandbox layer {layer}").as_str()),
                "{kind}: the {layer} layer is checked: {layers:?}"
            );
        }
    }
    let got = |kind: &str, probe: &str| -> String {
        results
            .iter()
            .find(|o| o["worker"] == kind && o["probe"] == probe)
            .unwrap()["got"]
            .as_str()
            .unwrap()
            .to_string()
    };
    // Denied for the right reason, not by accident.
    assert_eq!(got("chain", "read the keystore"), "allowed");
    assert_eq!(
        got("infer", "read the keystore"),
        "denied: ENOENT (not in its mount table)"
    );
    assert_eq!(got("infer", "write into the model cache"), "denied: EACCES (Landlock)");
    assert_eq!(got("infer", "open a TCP socket"), "denied: seccomp refused socket");
    assert_eq!(got("net", "execve /bin/sh"), "denied: seccomp refused execve");
    assert_eq!(got("infer", "send UDP to 127.0.0.1"), "denied: seccomp refused socket");
    assert_eq!(got("chain", "send UDP to 127.0.0.1"), "allowed", "DNS queries");
    assert_eq!(got("infer", "fork a process"), "denied: seccomp refused clone");
    assert_eq!(got("infer", "start a thread"), "allowed");
}

#[test]
fn verify_catches_a_weakened_profile() {
    let node = Node::new();
    let dir = override_profiles(node.dir.path(), "infer", |t| {
        t.replace(r#"read = ["{models}"]"#, r#"read = ["{models}", "/etc"]"#)
    });
    let node = node.with_env("OARN_SANDBOX__PROFILE_DIR", &dir);
    let (ok, results) = outcomes(&node, &["--worker", "infer"]);
    assert!(!ok, "verify must fail");
    let bad: Vec<&Value> = results.iter().filter(|o| o["ok"] != true).collect();
    let names: Vec<&str> = bad.iter().map(|o| o["probe"].as_str().unwrap()).collect();
    assert!(names.contains(&"read /etc/passwd"), "{names:?}");
    let table = String::from_utf8(node.oarn(&["sandbox", "verify", "--worker", "infer"]).stdout).unwrap();
    assert!(table.contains("NOT AS EXPECTED"), "{table}");
}

/// Landlock does not govern connect() to a Unix socket named by a path, so before each worker
/// got a mount table holding only its profile's paths, the net worker (which may open Unix
/// sockets) could connect to the node's API socket.
#[test]
fn a_worker_that_may_open_unix_sockets_cannot_reach_the_api_socket() {
    let node = Node::new();
    let (_, results) = outcomes(&node, &["--worker", "net"]);
    let api = |results: &[Value]| {
        results
            .iter()
            .find(|o| o["probe"] == "connect to the node's API socket")
            .map(|o| o["got"].as_str().unwrap().to_string())
    };
    assert_eq!(
        api(&results).as_deref(),
        Some("denied: ENOENT (not in its mount table)")
    );
    let opened = results
        .iter()
        .find(|o| o["probe"] == "open a Unix stream socket")
        .unwrap();
    assert_eq!(opened["got"], "allowed", "the net worker may open Unix sockets");
    // A profile that puts the whole home in the view lets it through, and verify says so.
    let dir = override_profiles(node.dir.path(), "net", |t| {
        t.replace("[capabilities]", "[mount]\nsockets = [\"{home}\"]\n\n[capabilities]")
    });
    let node = node.with_env("OARN_SANDBOX__PROFILE_DIR", &dir);
    let (ok, results) = outcomes(&node, &["--worker", "net"]);
    assert!(!ok, "verify must fail");
    assert_eq!(api(&results).as_deref(), Some("allowed"));
}

#[test]
fn show_prints_the_profile_running_workers_enforce() {
    let mut node = Node::new();
    let status = node.start();
    let show = String::from_utf8(node.oarn(&["sandbox", "show", "infer"]).stdout).unwrap();
    let hash = worker(&status, "infer")["profile_hash"].as_str().unwrap().to_string();
    assert!(show.contains(&format!("sha256 {hash}")), "{show}");
    assert!(show.contains("[seccomp]") && show.contains("no network at all"));
    node.stop();
}

#[test]
fn a_refused_syscall_is_named() {
    let node = Node::new();
    // Without `read`, the worker's first read of its pipe is refused.
    let dir = override_profiles(node.dir.path(), "infer", |t| t.replace("    \"read\",", ""));
    let mut node = node.with_env("OARN_SANDBOX__PROFILE_DIR", &dir);
    node.spawn_daemon();
    let status = node
        .wait_status(|s| worker(s, "infer")["restarts"].as_u64() >= Some(1))
        .expect("infer failed");
    let exit = worker(&status, "infer")["last_exit"].as_str().unwrap().to_string();
    assert!(
        exit.contains("status 159") && exit.contains("sandbox refused a syscall"),
        "{exit}"
    );
    let logs = String::from_utf8(node.oarn(&["logs", "--worker", "infer", "-n", "100"]).stdout).unwrap();
    assert!(logs.contains("seccomp: the sandbox refused syscall read (0)"), "{logs}");
    assert_eq!(worker(&status, "net")["restarts"], 0);
    // Operators see it in their monitoring: a sandbox violation of the infer worker, none of
    // the net worker's.
    let metrics = node.metrics();
    let count = |w: &str| {
        let series = format!("oarn_sandbox_violations_total{{worker=\"{w}\"}} ");
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&series))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or_else(|| panic!("{series} missing:\n{metrics}"))
    };
    assert!(count("infer") >= 1.0, "{metrics}");
    assert_eq!(count("net"), 0.0);
    node.stop();
}

#[test]
fn a_broken_profile_is_reported_not_ignored() {
    let node = Node::new();
    let dir = override_profiles(node.dir.path(), "chain", |t| {
        t.replace("[capabilities]", "[capabilitiez]")
    });
    let mut node = node.with_env("OARN_SANDBOX__PROFILE_DIR", &dir);
    node.spawn_daemon();
    let status = node
        .wait_status(|s| worker(s, "chain")["restarts"].as_u64() >= Some(1))
        .expect("chain failed");
    assert_eq!(
        worker(&status, "chain")["last_exit"],
        "exited with status 72 (its sandbox profile is unusable or the sandbox could not be entered)"
    );
    let logs = String::from_utf8(node.oarn(&["logs", "--worker", "chain", "-n", "50"]).stdout).unwrap();
    assert!(
        logs.contains("invalid sandbox profile") && logs.contains("worker-chain.toml"),
        "{logs}"
    );
    let out = node.oarn(&["sandbox", "show", "chain"]);
    assert!(!out.status.success());
    node.stop();
}
