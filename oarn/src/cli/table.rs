//! Renders `oarn status` for a terminal.

use std::fmt::Write;

use serde_json::Value;

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

/// A field as text (`-` when absent), with control characters removed: some fields (peer ids,
/// addresses, DHT values) came from the network.
pub fn s(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(s)) => oarn_supervise::stderr::clean(s),
        Some(Value::Null) | None => "-".into(),
        Some(other) => other.to_string(),
    }
}

/// The status answer as a table.
pub fn status(v: &Value) -> String {
    let mut out = String::new();
    let uptime = v
        .get("uptime_secs")
        .and_then(Value::as_u64)
        .map(duration)
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "oarn {} · running · pid {} · up {uptime}",
        s(v, "version"),
        s(v, "pid")
    );
    let name = s(v, "name");
    if !name.is_empty() && name != "-" {
        let _ = writeln!(out, "name     {name}");
    }
    let _ = writeln!(out, "home     {}", s(v, "home"));
    let _ = writeln!(out, "config   {}", s(v, "config"));
    let _ = writeln!(out, "mode     {}   sandbox mode {}", s(v, "mode"), s(v, "sandbox_mode"));
    let connected = |k: &str| {
        v.get(k)
            .and_then(|n| n.get("connected"))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    };
    let word = |b: bool| if b { "connected" } else { "not connected" };
    let _ = writeln!(
        out,
        "network  {}   chain {}",
        word(connected("network")),
        word(connected("chain"))
    );
    let network = v.get("network").cloned().unwrap_or_default();
    if let Some(id) = network.get("peer_id").and_then(Value::as_str) {
        let _ = writeln!(out, "network  peer {id}, {} peers", s(&network, "peers"));
        for a in network["listen"].as_array().into_iter().flatten() {
            let _ = writeln!(
                out,
                "         listening on {}",
                a.as_str().map(oarn_supervise::stderr::clean).unwrap_or_default()
            );
        }
    }
    if let Some(e) = network.get("error").and_then(Value::as_str) {
        let _ = writeln!(out, "network  swarm not running: {e}");
    }
    let chain = v.get("chain").cloned().unwrap_or_default();
    match chain.get("discovery").and_then(Value::as_str) {
        Some("ok") => {
            let _ = writeln!(
                out,
                "chain    registry {} via {} (head {})",
                s(&chain, "registry"),
                s(&chain, "endpoint"),
                s(&chain, "head")
            );
        }
        Some("failed") => {
            let _ = writeln!(out, "chain    discovery failed: {}", s(&chain, "error"));
        }
        _ => {}
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:<7} {:<11} {:>7} {:>8} {:>8} {:>9}  SANDBOX",
        "WORKER", "STATE", "PID", "UPTIME", "RESTARTS", "PING"
    );
    for w in v.get("workers").and_then(Value::as_array).into_iter().flatten() {
        let layers = w.get("sandbox").and_then(Value::as_array).cloned().unwrap_or_default();
        let active = layers
            .iter()
            .filter(|l| l.get("state").and_then(Value::as_str) == Some("active"))
            .count();
        let state = if w.get("degraded").is_some_and(|d| !d.is_null()) {
            "degraded".to_string()
        } else {
            s(w, "state")
        };
        let ping = w
            .get("ping_us")
            .and_then(Value::as_u64)
            .map_or("-".into(), |us| format!("{us} µs"));
        let uptime = w
            .get("uptime_secs")
            .and_then(Value::as_u64)
            .map_or("-".into(), duration);
        let sandbox = if layers.is_empty() {
            "-".to_string()
        } else {
            format!("{active}/{} layers active", layers.len())
        };
        let _ = writeln!(
            out,
            "{:<7} {:<11} {:>7} {:>8} {:>8} {:>9}  {sandbox}",
            s(w, "kind"),
            state,
            s(w, "pid"),
            uptime,
            s(w, "restarts"),
            ping
        );
        if let Some(d) = w.get("degraded").and_then(Value::as_str) {
            let _ = writeln!(out, "        degraded: {d}");
        } else if let Some(e) = w.get("last_exit").and_then(Value::as_str) {
            let _ = writeln!(out, "        last exit: {e}");
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
