//! Which configuration keys a running node applies on reload, and which need a restart.

use super::Config;

/// Keys the running node picks up on `oarn config reload` or SIGHUP.
pub const LIVE_KEYS: &[&str] = &[
    "node.log_level",
    "network.max_peers",
    "network.max_peers_per_ip",
    "network.max_upload_kib_s",
    "network.max_download_kib_s",
    "storage.max_cache_size_gb",
    "storage.result_retention_hours",
    "compute.max_concurrent_tasks",
    "compute.min_reward",
    "compute.auto_claim",
    "compute.accepted_models",
    "update.mirror",
    "update.root",
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

/// Copies the values of [`LIVE_KEYS`] from `new` into the running configuration.
pub fn apply(running: &mut Config, new: &Config) {
    running.node.log_level = new.node.log_level.clone();
    running.network.max_peers = new.network.max_peers;
    running.network.max_peers_per_ip = new.network.max_peers_per_ip;
    running.network.max_upload_kib_s = new.network.max_upload_kib_s;
    running.network.max_download_kib_s = new.network.max_download_kib_s;
    running.storage.max_cache_size_gb = new.storage.max_cache_size_gb;
    running.storage.result_retention_hours = new.storage.result_retention_hours;
    running.workers.ping_interval_secs = new.workers.ping_interval_secs;
    running.workers.ping_timeout_secs = new.workers.ping_timeout_secs;
    running.compute.max_concurrent_tasks = new.compute.max_concurrent_tasks;
    running.compute.min_reward = new.compute.min_reward.clone();
    running.compute.auto_claim = new.compute.auto_claim;
    running.compute.accepted_models = new.compute.accepted_models.clone();
    // The daemon never reads these; each `oarn update` does.
    running.update = new.update.clone();
}

#[cfg(test)]
mod apply_tests {
    use super::*;

    #[test]
    fn apply_copies_exactly_the_live_keys() {
        let old = Config::default();
        let mut new = old.clone();
        new.node.log_level = "debug".into();
        new.network.max_peers = 2;
        new.network.max_peers_per_ip = 5;
        new.network.max_upload_kib_s = 100;
        new.network.max_download_kib_s = 200;
        new.storage.max_cache_size_gb = 4.0;
        new.storage.result_retention_hours = 1;
        new.workers.ping_interval_secs = 6;
        new.workers.ping_timeout_secs = 60;
        new.compute.max_concurrent_tasks = 3;
        new.compute.min_reward = "0.5".into();
        new.compute.auto_claim = false;
        new.compute.accepted_models = vec!["smollm2-*".into()];
        new.update.mirror = "https://releases.example".into();
        new.update.root = "root.json".into();
        new.network.listen_port = 1234;
        assert_eq!(
            diff(&old, &new).applied.len(),
            LIVE_KEYS.len(),
            "the test changes every live key"
        );
        let mut running = old.clone();
        apply(&mut running, &new);
        let after = diff(&running, &new);
        assert!(after.applied.is_empty(), "{after:?}");
        assert_eq!(after.needs_restart, vec!["network.listen_port"]);
    }
}
