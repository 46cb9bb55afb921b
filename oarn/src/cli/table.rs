//! Renders `oarn status` for a terminal, and the small formats other commands share. Every
//! string that came from outside (peers, model files, endpoints) is cleaned before it is
//! shown ([`s`]).

use std::fmt::Write;

use oarn_api::node::{Discovery, Status, WorkerState};

/// `3h 4m`, `5m 3s`, `12s`.
pub fn duration(secs: u64) -> String {
    match secs {
        s if s >= 86_400 => format!("{}d {}h", s / 86_400, s % 86_400 / 3600),
        s if s >= 3600 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        s if s >= 60 => format!("{}m {}s", s / 60, s % 60),
        s => format!("{s}s"),
    }
}

/// Bytes in MiB, one decimal.
pub fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20))
}

/// Text from outside, safe for a terminal: no control characters (escapes included).
pub fn s(text: &str) -> String {
    oarn_protocol::text::clean(text)
}

/// An optional value as text, `-` when absent.
pub fn opt(v: Option<impl ToString>) -> String {
    v.map_or_else(|| "-".into(), |v| s(&v.to_string()))
}

/// The status answer as a table.
pub fn status(v: &Status) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "oarn {} · running · pid {} · up {}",
        s(&v.version),
        v.pid,
        duration(v.uptime_secs)
    );
    if !v.name.is_empty() {
        let _ = writeln!(out, "name     {}", s(&v.name));
    }
    let _ = writeln!(out, "home     {}", s(&v.home));
    let _ = writeln!(out, "config   {}", s(&v.config));
    let _ = writeln!(out, "mode     {}   sandbox mode {}", s(&v.mode), s(&v.sandbox_mode));
    let word = |b: bool| if b { "connected" } else { "not connected" };
    let _ = writeln!(
        out,
        "network  {}   chain {}",
        word(v.network.connected),
        word(v.chain.connected)
    );
    if v.privacy.transport.is_some() {
        let state = if v.privacy.ready {
            format!("ready, {} streams open", v.privacy.streams_open)
        } else {
            format!("bootstrapping {}%", v.privacy.percent)
        };
        let _ = writeln!(out, "privacy  {}: {state}", s(&v.privacy.mode));
        if let Some(o) = &v.privacy.onion {
            let _ = writeln!(out, "         reachable at {}", s(o));
        }
        if let Some(b) = &v.privacy.blocked {
            let _ = writeln!(out, "         no network until this clears: {}", s(b));
        }
    }
    if let Some(id) = &v.network.peer_id {
        let _ = writeln!(out, "network  peer {}, {} peers", s(id), v.network.peers);
        for a in &v.network.listen {
            let _ = writeln!(out, "         listening on {}", s(a));
        }
    }
    if let Some(e) = &v.network.error {
        let _ = writeln!(out, "network  swarm not running: {}", s(e));
    }
    match (&v.chain.discovery, &v.chain.network) {
        (Discovery::Ok, Some(n)) => {
            let _ = writeln!(
                out,
                "chain    registry {} via {} (head {})",
                n.registry,
                s(&n.endpoint),
                n.head
            );
        }
        (Discovery::Failed, _) => {
            let _ = writeln!(out, "chain    discovery failed: {}", opt(v.chain.error.as_ref()));
        }
        _ => {}
    }
    match (&v.http.listen, &v.http.error) {
        (Some(addr), _) => {
            let _ = writeln!(
                out,
                "http     metrics at http://{0}/metrics; JSON API at http://{0}/api/v1/ (token in api.token)",
                s(addr)
            );
        }
        (None, Some(e)) => {
            let _ = writeln!(out, "http     not served: {}", s(e));
        }
        _ => {}
    }
    match (&v.wallet.account, &v.wallet.locked) {
        (Some(a), _) => {
            let _ = writeln!(out, "wallet   {a} (unlocked: the node signs claims and submissions)");
        }
        (None, Some(why)) if v.wallet.present => {
            let _ = writeln!(out, "wallet   locked: {}", s(why));
        }
        _ => {}
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:<7} {:<11} {:>7} {:>8} {:>8} {:>9}  SANDBOX",
        "WORKER", "STATE", "PID", "UPTIME", "RESTARTS", "PING"
    );
    for w in &v.workers {
        let active = w.sandbox.iter().filter(|l| l.state == "active").count();
        let state = if w.degraded.is_some() {
            "degraded"
        } else {
            match w.state {
                WorkerState::Starting => "starting",
                WorkerState::Running => "running",
                WorkerState::Restarting => "restarting",
                WorkerState::Stopped => "stopped",
            }
        };
        let ping = w.ping_us.map_or("-".into(), |us| format!("{us} µs"));
        let uptime = w.uptime_secs.map_or("-".into(), duration);
        let sandbox = if w.sandbox.is_empty() {
            "-".to_string()
        } else {
            format!("{active}/{} layers active", w.sandbox.len())
        };
        let _ = writeln!(
            out,
            "{:<7} {:<11} {:>7} {:>8} {:>8} {:>9}  {sandbox}",
            s(&w.kind),
            state,
            opt(w.pid),
            uptime,
            w.restarts,
            ping
        );
        if let Some(d) = &w.degraded {
            let _ = writeln!(out, "        degraded: {}", s(d));
        } else if let Some(e) = &w.last_exit {
            let _ = writeln!(out, "        last exit: {}", s(e));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(12), "12s");
        assert_eq!(duration(303), "5m 3s");
        assert_eq!(duration(3 * 3600 + 240), "3h 4m");
        assert_eq!(duration(90_000), "1d 1h");
    }
}
