//! `oarn dashboard` in a real terminal (tmux, driven with send-keys and read with
//! capture-pane): on a worker node of the devnet it shows the workers running, a task going
//! to settled with the node's earnings, switches panes on its keys, says "reconnecting" while
//! the node is stopped and picks the restarted node up again, and quits on q.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use oarn_tests::{fleet, skip, wait_for};

/// A tmux server of the test's own, with one session running a command.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn start(command: &str) -> Self {
        let socket = format!("oarn-test-{}", std::process::id());
        let ok = Command::new("tmux")
            .args([
                "-L",
                &socket,
                "new-session",
                "-d",
                "-x",
                "160",
                "-y",
                "50",
                "-s",
                "dash",
                command,
            ])
            .status()
            .expect("tmux runs");
        assert!(ok.success(), "tmux new-session");
        Tmux { socket }
    }

    fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket, "capture-pane", "-p", "-t", "dash"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    fn keys(&self, keys: &str) {
        let ok = Command::new("tmux")
            .args(["-L", &self.socket, "send-keys", "-t", "dash", keys])
            .status()
            .unwrap();
        assert!(ok.success());
    }

    /// Waits until the screen satisfies `f`; the screen, or a panic showing it.
    fn until(&self, what: &str, secs: u64, f: impl Fn(&str) -> bool) -> String {
        wait_for(Duration::from_secs(secs), || {
            let s = self.screen();
            f(&s).then_some(s)
        })
        .unwrap_or_else(|| panic!("the dashboard never showed {what}:\n{}", self.screen()))
    }

    fn alive(&self) -> bool {
        Command::new("tmux")
            .args(["-L", &self.socket, "has-session", "-t", "dash"])
            .status()
            .is_ok_and(|s| s.success())
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux").args(["-L", &self.socket, "kill-server"]).status();
    }
}

/// The row of a table on screen (inside a box) whose first cell is `first`.
fn row<'a>(screen: &'a str, first: &str) -> Option<&'a str> {
    screen
        .lines()
        .filter_map(|l| l.strip_prefix('│'))
        .find(|l| l.split_whitespace().next() == Some(first))
}

#[test]
fn the_dashboard_follows_a_task_to_settled_switches_panes_and_survives_a_restart() {
    let tmux_found = Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !tmux_found
        && skip(
            "the dashboard test",
            "tmux is not installed (scripts/deps --test installs it)",
        )
    {
        return;
    }
    let (rt, devnet) = fleet::devnet();
    let (mut requester, _) = fleet::requester(&rt, &devnet);
    let (mut w0, account, pass) = fleet::worker(&rt, &devnet, &[]);
    let (mut w1, _, _) = fleet::worker(&rt, &devnet, &[]);
    let (mut w2, _, _) = fleet::worker(&rt, &devnet, &[]);
    let oarn: PathBuf = w0.bins.join("oarn");
    let tmux = Tmux::start(&format!("{} --home {} dashboard", oarn.display(), w0.home().display()));

    // capture-pane can catch a frame half drawn, so every wait asks for all it checks at once.
    tmux.until("the three workers running and the wallet unlocked", 60, |s| {
        s.contains("1 Overview")
            && s.contains("unlocked")
            && ["infer", "net", "chain"]
                .iter()
                .all(|w| row(s, w).is_some_and(|r| r.contains("running")))
    });

    let id = fleet::submit(&requester, "The capital of France is", "0.001")["task_id"]
        .as_u64()
        .unwrap();
    tmux.keys("2");
    tmux.until("the task settled in the Tasks pane with its reward", 300, |s| {
        s.contains("Tasks, newest first")
            && row(s, &id.to_string()).is_some_and(|r| r.contains("settled") && r.contains("0.001000 ETH"))
    });

    tmux.keys("1");
    let screen = tmux.until("the earnings of the settled task", 30, |s| {
        s.contains("Workers") && s.contains("total   1 rewarded of 1") && s.contains("earned 0.001000 ETH")
    });
    assert!(!screen.contains("generation - tok/s"), "a speed is shown: {screen}");

    tmux.keys("3");
    tmux.until("the warnings pane", 10, |s| {
        s.contains("Warnings and errors, newest first")
    });

    // The node stops: the dashboard says so and keeps going; it comes back: shown again.
    w0.stop();
    tmux.until("reconnecting", 20, |s| {
        s.contains("reconnecting: the node is not running")
    });
    fleet::start_signing(&mut w0, account, &pass);
    tmux.until("the restarted node", 60, |s| {
        !s.contains("reconnecting") && s.contains("Warnings and errors")
    });

    tmux.keys("q");
    assert!(
        wait_for(Duration::from_secs(10), || (!tmux.alive()).then_some(())).is_some(),
        "q quits: {}",
        tmux.screen()
    );
    for w in [&mut w0, &mut w1, &mut w2] {
        w.stop();
    }
    requester.stop();
}
