//! Which configuration keys a running node applies on reload, and which need a restart.

use super::Config;

/// Keys the running node picks up on `oarn config reload` or SIGHUP.
pub const LIVE_KEYS: &[&str] = &[
    "node.log_level",
    "network.max_peers",
    "compute.max_concurrent_tasks",
    "storage.max_cache_size_gb",
    "workers.ping_interval_secs",
    "workers.ping_timeout_secs",
];

/// What changed between two configurations.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Change {
    /// Changed keys the running node applied.
    pub applied: Vec<String>,
    /// Changed keys that take effect only after a restart.
    pub needs_restart: Vec<String>,
}

/// Splits the keys that differ between `old` and `new` into live and restart-only.
pub fn diff(old: &Config, new: &Config) -> Change {
    let before = old.flatten();
    let after = new.flatten();
    let mut change = Change::default();
    for ((key, a), (_, b)) in before.iter().zip(after.iter()) {
        if a != b {
            if LIVE_KEYS.contains(&key.as_str()) {
                change.applied.push(key.clone());
            } else {
                change.needs_restart.push(key.clone());
            }
        }
    }
    change
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_and_restart_keys_are_told_apart() {
        let old = Config::default();
        let mut new = old.clone();
        new.network.max_peers = 9;
        new.network.listen_port = 4001;
        let c = diff(&old, &new);
        assert_eq!(c.applied, vec!["network.max_peers"]);
        assert_eq!(c.needs_restart, vec!["network.listen_port"]);
        assert_eq!(diff(&old, &old), Change::default());
        let keys: Vec<String> = old.flatten().into_iter().map(|(k, _)| k).collect();
        for k in LIVE_KEYS {
            assert!(keys.iter().any(|x| x == k), "{k} is not a key");
        }
    }
}
