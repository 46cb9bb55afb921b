//! A worker that misbehaves (garbage, oversized frames, hangs, crash loops, lies about its
//! sandbox, a wrong protocol version) is killed and restarted; the supervisor survives and
//! says what happened.

use oarn_tests::{Node, rogue, worker};

/// A node whose infer worker is the rogue in `mode`, with fast health checks.
fn node(mode: &str) -> Node {
    let node = Node::new()
        .with_env("OARN_WORKERS__PING_INTERVAL_SECS", "1")
        .with_env("OARN_WORKERS__PING_TIMEOUT_SECS", "2");
    let (k, v) = rogue(node.dir.path(), mode);
    node.with_env(&k, &v)
}

/// Starts the node and waits until the rogue infer worker has failed at least `n` times.
fn failed(mode: &str, n: u64) -> (Node, serde_json::Value) {
    let mut node = node(mode);
    node.spawn_daemon();
    let status = node
        .wait_status(|s| worker(s, "infer")["restarts"].as_u64() >= Some(n))
        .unwrap_or_else(|| panic!("the {mode} worker was not restarted; log:\n{}", node.log()));
    (node, status)
}

fn last_exit(status: &serde_json::Value) -> String {
    worker(status, "infer")["last_exit"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn assert_survived(node: &mut Node, status: &serde_json::Value) {
    assert_eq!(status["running"], true, "the supervisor still answers");
    assert_eq!(worker(status, "net")["state"], "running", "other workers unaffected");
    assert_eq!(worker(status, "net")["restarts"], 0);
    let exit = node.stop();
    assert!(exit.success());
}

#[test]
fn garbage_frame_kills_the_worker_not_the_supervisor() {
    let (mut node, status) = failed("garbage", 2);
    assert!(last_exit(&status).contains("bad frame"), "{}", last_exit(&status));
    assert_survived(&mut node, &status);
}

#[test]
fn oversized_frame_is_refused_before_allocation() {
    let (mut node, status) = failed("oversized", 1);
    let exit = last_exit(&status);
    assert!(
        exit.contains("1073741824 bytes exceeds") && exit.contains("16777216"),
        "{exit}"
    );
    assert_survived(&mut node, &status);
}

#[test]
fn hung_worker_is_detected_by_ping() {
    let (mut node, status) = failed("hang", 1);
    assert!(
        last_exit(&status).contains("no answer to a ping for 2 s"),
        "{}",
        last_exit(&status)
    );
    assert_survived(&mut node, &status);
}

#[test]
fn reply_to_unknown_request_is_a_violation() {
    let (mut node, status) = failed("unknownid", 1);
    assert!(
        last_exit(&status).contains("unknown request 4242"),
        "{}",
        last_exit(&status)
    );
    assert_survived(&mut node, &status);
}

#[test]
fn silent_worker_fails_its_handshake() {
    let mut node = node("silent");
    // Shorten nothing: the handshake limit is 10 s.
    node.spawn_daemon();
    let status = node
        .wait_status(|s| worker(s, "infer")["restarts"].as_u64() >= Some(1))
        .expect("silent worker restarted");
    assert!(
        last_exit(&status).contains("no handshake within 10 s"),
        "{}",
        last_exit(&status)
    );
    assert_survived(&mut node, &status);
}

#[test]
fn version_mismatch_names_both_versions() {
    let (mut node, status) = failed("badversion", 1);
    let exit = last_exit(&status);
    let ours = format!("version {}", oarn_protocol::PROTOCOL_VERSION);
    assert!(exit.contains(&ours) && exit.contains("version 99"), "{exit}");
    assert_survived(&mut node, &status);
}

#[test]
fn sandbox_lies_are_caught_in_proc_status() {
    let (mut node, status) = failed("liar", 1);
    let exit = last_exit(&status);
    assert!(
        exit.contains("contradicted by the kernel") && exit.contains("Seccomp"),
        "{exit}"
    );
    assert_survived(&mut node, &status);
}

#[test]
fn crash_loop_is_marked_degraded_with_the_reason() {
    let mut node = node("crash");
    node.spawn_daemon();
    let status = node
        .wait_status(|s| worker(s, "infer")["degraded"].is_string())
        .unwrap_or_else(|| panic!("never degraded; log:\n{}", node.log()));
    let degraded = worker(&status, "infer")["degraded"].as_str().unwrap().to_string();
    assert!(degraded.contains("exited with status 3"), "{degraded}");
    assert!(
        degraded.contains("rogue: crashing on purpose"),
        "stderr tail in the reason: {degraded}"
    );
    let table = String::from_utf8(node.oarn(&["status"]).stdout).unwrap();
    assert!(table.contains("degraded"), "{table}");
    // Worker stderr is merged into the supervisor log, tagged with the worker.
    let logs = String::from_utf8(node.oarn(&["logs", "--worker", "infer", "-n", "200"]).stdout).unwrap();
    assert!(logs.contains("[infer] rogue: crashing on purpose"), "{logs}");
    assert_survived(&mut node, &status);
}

#[test]
fn missing_worker_binary_is_reported() {
    let mut node = Node::new().with_env("OARN_WORKERS__CHAIN", "/nonexistent/oarn-worker-chain");
    node.spawn_daemon();
    let status = node
        .wait_status(|s| worker(s, "chain")["restarts"].as_u64() >= Some(1))
        .expect("chain failed");
    let exit = worker(&status, "chain")["last_exit"].as_str().unwrap().to_string();
    assert!(exit.contains("cannot start /nonexistent/oarn-worker-chain"), "{exit}");
    node.stop();
}

#[test]
fn strict_sandbox_mode_runs_fully_sandboxed_workers() {
    let mut node = Node::new().with_env("OARN_SANDBOX__MODE", "strict");
    let status = node.start();
    for w in oarn_tests::workers(&status) {
        assert_eq!(w["restarts"], 0, "{w}");
        assert!(
            w["sandbox"]
                .as_array()
                .unwrap()
                .iter()
                .all(|l| l["state"] != "unavailable"),
            "{w}"
        );
    }
    node.stop();
}

#[test]
fn strict_sandbox_mode_refuses_a_worker_missing_a_layer() {
    let (mut node, status) = {
        let node = Node::new().with_env("OARN_SANDBOX__MODE", "strict");
        let (k, v) = rogue(node.dir.path(), "weak");
        let mut node = node.with_env(&k, &v);
        node.spawn_daemon();
        let status = node
            .wait_status(|s| worker(s, "infer")["restarts"].as_u64() >= Some(1))
            .expect("refused");
        (node, status)
    };
    let exit = last_exit(&status);
    assert!(
        exit.contains("sandbox mode is strict") && exit.contains("landlock (kernel too old)"),
        "{exit}"
    );
    node.stop();

    // Best effort runs it and says what is missing.
    let (k, v) = rogue(node.dir.path(), "weak");
    let mut node = Node::new().with_env(&k, &v);
    let status = node.start();
    let infer = worker(&status, "infer");
    assert!(
        infer["sandbox"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["layer"] == "landlock" && l["state"] == "unavailable")
    );
    assert!(
        node.log()
            .contains("sandbox layers unavailable: landlock (kernel too old)")
    );
    node.stop();
}

#[test]
fn busy_worker_dies_with_a_sigkilled_supervisor() {
    // The hung worker never reads its stdin, so pipe EOF cannot stop it: only
    // PR_SET_PDEATHSIG can.
    let mut node = Node::new();
    let (k, v) = rogue(node.dir.path(), "hang");
    node.env.push((k, v));
    node.spawn_daemon();
    let status = node
        .wait_status(|s| worker(s, "infer")["state"] == "running")
        .expect("running");
    let pid = worker(&status, "infer")["pid"].as_u64().unwrap() as u32;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(node.daemon_pid() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let _ = node.daemon.take().unwrap().wait();
    let gone = oarn_tests::wait_for(std::time::Duration::from_secs(5), || {
        (!oarn_tests::alive(pid)).then_some(())
    });
    assert!(gone.is_some(), "worker {pid} outlived its supervisor");
}
