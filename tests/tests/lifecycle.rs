//! The node's life as an operator drives it: init → start → status → stop, restarts of a
//! killed worker, no orphans when the supervisor is killed, refusing a second daemon,
//! recovering from a crash's leftovers, and telling systemd it is ready.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use oarn_tests::{Node, alive, wait_for, worker, workers};

fn pids(status: &serde_json::Value) -> Vec<u32> {
    workers(status)
        .iter()
        .filter_map(|w| w["pid"].as_u64())
        .map(|p| p as u32)
        .collect()
}

fn signal(pid: u32, sig: Signal) {
    kill(Pid::from_raw(pid as i32), sig).expect("signal");
}

#[test]
fn init_start_status_stop() {
    let mut node = Node::new();
    let home = node.home();
    assert_eq!(std::fs::metadata(&home).unwrap().permissions().mode() & 0o777, 0o700);
    let status = node.start();
    assert_eq!(status["running"], true);
    assert_eq!(status["pid"].as_u64().unwrap() as u32, node.daemon_pid());
    let kinds: Vec<String> = workers(&status)
        .iter()
        .map(|w| w["kind"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(kinds, ["infer", "net", "chain"]);
    for w in workers(&status) {
        assert_eq!(w["restarts"], 0);
        assert!(
            w["sandbox"]
                .as_array()
                .unwrap()
                .iter()
                .any(|l| l["layer"] == "no-new-privs" && l["state"] == "active")
        );
        assert!(w["in_flight"].is_number(), "the worker answered its Info request: {w}");
    }
    let socket = home.join("oarn.sock");
    assert_eq!(std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777, 0o600);

    let table = String::from_utf8(node.oarn(&["status"]).stdout).unwrap();
    assert!(
        table.contains("WORKER") && table.contains("infer") && table.contains("running"),
        "{table}"
    );

    let worker_pids = pids(&status);
    let exit = node.stop();
    assert!(exit.success(), "daemon exit {exit:?}");
    assert!(worker_pids.iter().all(|&p| !alive(p)), "workers outlived the daemon");
    assert!(!socket.exists(), "socket removed on stop");
    assert!(!home.join("oarn.pid").exists(), "pid file removed on stop");
    let log = node.log();
    assert!(log.contains("worker stopped"), "workers got a graceful shutdown: {log}");

    let out = node.oarn(&["status"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("oarn start"));
}

#[test]
fn killed_worker_is_restarted_and_shown() {
    let mut node = Node::new();
    let status = node.start();
    let old = worker(&status, "net")["pid"].as_u64().unwrap() as u32;
    signal(old, Signal::SIGKILL);
    let status = node
        .wait_status(|s| {
            let w = worker(s, "net");
            w["state"] == "running" && w["pid"].as_u64() != Some(old.into())
        })
        .expect("net restarted");
    let net = worker(&status, "net");
    assert_eq!(net["restarts"], 1);
    assert_eq!(net["last_exit"], "killed by signal SIGKILL");
    assert_eq!(worker(&status, "infer")["restarts"], 0, "other workers untouched");
    node.stop();
}

#[test]
fn sigkilled_supervisor_leaves_no_orphans() {
    let mut node = Node::new();
    let status = node.start();
    let worker_pids = pids(&status);
    assert_eq!(worker_pids.len(), 3);
    signal(node.daemon_pid(), Signal::SIGKILL);
    let _ = node.daemon.take().unwrap().wait();
    let gone = wait_for(Duration::from_secs(5), || {
        worker_pids.iter().all(|&p| !alive(p)).then_some(())
    });
    assert!(gone.is_some(), "workers survived their supervisor: {worker_pids:?}");

    // The crash left a socket and a pid file behind; a new start recovers from both.
    assert!(node.home().join("oarn.sock").exists());
    let status = node.start();
    assert_eq!(workers(&status).len(), 3);
    node.stop();
}

#[test]
fn sigterm_stops_gracefully() {
    let mut node = Node::new();
    let status = node.start();
    let worker_pids = pids(&status);
    signal(node.daemon_pid(), Signal::SIGTERM);
    let out = node.daemon.take().unwrap().wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}: {}\n{}",
        out.status,
        node.daemon_stderr(),
        node.log()
    );
    assert!(worker_pids.iter().all(|&p| !alive(p)));
    assert!(node.log().contains("SIGTERM received"));
}

#[test]
fn second_daemon_is_refused() {
    let mut node = Node::new();
    node.start();
    let out = node.oarn(&["start"]);
    assert_eq!(out.status.code(), Some(4));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("already running") && err.contains(&node.daemon_pid().to_string()),
        "{err}"
    );
    node.stop();
}

#[test]
fn detach_runs_in_the_background() {
    let node = Node::new();
    let out = node.oarn(&["start", "--detach"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let status = node
        .wait_status(|s| workers(s).iter().all(|w| w["state"] == "running"))
        .expect("running");
    let pid = status["pid"].as_u64().unwrap() as u32;
    let out = node.oarn(&["stop", "--json"]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["stopped"], true);
    assert!(wait_for(Duration::from_secs(5), || (!alive(pid)).then_some(())).is_some());
}

#[test]
fn tells_systemd_when_ready() {
    let node = Node::new();
    let sock_path = node.dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut node = node.with_env("NOTIFY_SOCKET", sock_path.to_str().unwrap());
    node.spawn_daemon();
    let mut buf = [0u8; 4096];
    let mut got = String::new();
    while !got.contains("READY=1") {
        let n = sock.recv(&mut buf).expect("a notification");
        got.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(
        got.contains("STATUS=infer running, net running, chain running"),
        "{got}"
    );
    node.stop();
    let n = sock.recv(&mut buf).expect("stopping notification");
    assert!(String::from_utf8_lossy(&buf[..n]).contains("STOPPING=1"));
}

#[test]
fn local_mode_runs_only_the_inference_worker() {
    let mut node = Node::new().with_env("OARN_NETWORK__MODE", "local");
    let status = node.start();
    let kinds: Vec<String> = workers(&status)
        .iter()
        .map(|w| w["kind"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(kinds, ["infer"]);
    assert_eq!(status["mode"], "local");
    node.stop();
}

#[test]
fn pings_the_systemd_watchdog() {
    let node = Node::new();
    let sock_path = node.dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // WatchdogSec=0.4: the daemon must ping at least every 200 ms.
    let mut node = node
        .with_env("NOTIFY_SOCKET", sock_path.to_str().unwrap())
        .with_env("WATCHDOG_USEC", "400000");
    node.spawn_daemon();
    let mut buf = [0u8; 4096];
    let mut pings = 0;
    let started = std::time::Instant::now();
    while pings < 3 {
        let n = sock.recv(&mut buf).expect("watchdog pings keep coming");
        pings += String::from_utf8_lossy(&buf[..n]).matches("WATCHDOG=1").count();
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "three pings took {:?}",
        started.elapsed()
    );
    node.stop();
}

#[test]
fn logs_follow_shows_new_lines_as_they_come() {
    use std::io::{BufRead, BufReader};
    let mut node = Node::new();
    let status = node.start();
    let mut follow = node
        .command(&["logs", "-f", "-n", "0", "--worker", "chain"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(follow.stdout.take().unwrap()).lines();
    std::thread::sleep(Duration::from_millis(300));
    signal(
        worker(&status, "chain")["pid"].as_u64().unwrap() as u32,
        Signal::SIGKILL,
    );
    let line = lines.next().expect("a line").unwrap();
    assert!(
        line.contains("[chain]") && line.contains("killed by signal SIGKILL"),
        "{line}"
    );
    let _ = follow.kill();
    let _ = follow.wait();
    node.stop();
}
