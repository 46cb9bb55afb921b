//! `oarn-devnet` as a user runs it: stopped with SIGTERM, or killed outright, it leaves no
//! anvil behind, and the next devnet starts on the same port.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Starts `oarn-devnet` on `port` and waits until it printed its JSON.
fn devnet(port: u16) -> Child {
    let mut child = Command::new(oarn_tests::bin_dir().join("oarn-devnet"))
        .args(["--port", &port.to_string(), "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| {
        let mut err = String::new();
        let _ = std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err);
        panic!("{e}: {line:?} {err}")
    });
    assert_eq!(v["rpc_url"], format!("http://127.0.0.1:{port}"));
    child
}

fn port_free(port: u16) -> bool {
    oarn_tests::wait_for(Duration::from_secs(10), || TcpListener::bind(("127.0.0.1", port)).ok()).is_some()
}

#[test]
fn a_devnet_stopped_with_sigterm_or_killed_leaves_no_anvil_on_its_port() {
    let port = free_port();
    for signal in [Signal::SIGTERM, Signal::SIGKILL] {
        let mut d = devnet(port);
        kill(Pid::from_raw(d.id() as i32), signal).unwrap();
        let _ = d.wait();
        assert!(port_free(port), "anvil still holds port {port} after {signal}");
    }
    let mut again = devnet(port);
    kill(Pid::from_raw(again.id() as i32), Signal::SIGTERM).unwrap();
    assert!(again.wait().unwrap().success());
}
