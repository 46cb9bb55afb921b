//! What `oarn doctor` looks at: the running node (through the local API: its status, what its
//! workers find now, the account's balance), and this machine (the node home's disk, the
//! model store's manifests, GPUs, the journal's gas figures, the systemd unit's exposure).
//! Nothing here judges; [`super::check`] does.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use oarn_api::node::{GetHealth, GetStatus, Health, Status};
use oarn_api::{Client, ClientError};
use oarn_config::Config;
use oarn_config::home::Home;

/// Longest wait for one call to the node.
const WAIT: Duration = Duration::from_secs(30);
/// Longest wait for a node that just started to finish discovering the network.
const DISCOVERY_WAIT: Duration = Duration::from_secs(30);

/// Where a systemd unit of the node may be installed.
pub const UNIT_PATHS: [&str; 3] = [
    "/etc/systemd/system/oarn.service",
    "/usr/lib/systemd/system/oarn.service",
    "/lib/systemd/system/oarn.service",
];

/// The systemd unit found, and its exposure score.
#[derive(Debug, Clone, PartialEq)]
pub struct Unit {
    pub path: PathBuf,
    /// `systemd-analyze security --offline=true`'s score, or why there is none.
    pub exposure: Result<f64, String>,
}

/// Everything the checks look at.
#[derive(Debug, Clone)]
pub struct Facts {
    pub config: Config,
    pub home: PathBuf,
    /// The running node's status, or why there is none (not running: [`NOT_RUNNING`]).
    pub status: Result<Status, String>,
    /// What its workers find now.
    pub health: Option<Health>,
    /// The ETH balance (wei) of the account the node signs as, or why it is not known.
    pub balance_wei: Option<Result<u128, String>>,
    /// The Kubo API the operator configured answers (`storage.ipfs_api`), or why not.
    pub kubo: Option<Result<(), String>>,
    pub keystore: bool,
    /// The built-in IPFS store's directory exists.
    pub ipfs_store: bool,
    /// Installed models: name and size.
    pub models: Vec<(String, u64)>,
    pub memory_total: u64,
    pub memory_available: u64,
    /// Free and total bytes of the node home's filesystem.
    pub disk: Option<(u64, u64)>,
    pub gpus: Vec<crate::hardware::Gpu>,
    pub nvml: Option<String>,
    /// Average gas of the node's task transactions per task (wei), from the journal.
    pub gas_per_task_wei: Option<u128>,
    pub unit: Option<Unit>,
}

/// The status error when no node runs on the home.
pub const NOT_RUNNING: &str = "not running";

/// Reads the facts for the node home `home` run with `config`.
pub fn gather(home: &Home, config: &Config) -> Facts {
    let client = Client::new(home.socket());
    let ask = || match client.call(&GetStatus {}, WAIT) {
        Ok(s) => Ok(s),
        Err(ClientError::NotRunning { .. }) => Err(NOT_RUNNING.to_string()),
        Err(e) => Err(e.to_string()),
    };
    // A node that just started is still finding the network: its verdict comes once it has.
    let started = std::time::Instant::now();
    let mut status = ask();
    while let Ok(s) = &status
        && s.chain.discovery == oarn_api::node::Discovery::Pending
        && s.mode != "local"
        && started.elapsed() < DISCOVERY_WAIT
    {
        std::thread::sleep(Duration::from_millis(250));
        status = ask();
    }
    let running = status.is_ok();
    let health = running.then(|| client.call(&GetHealth {}, WAIT).ok()).flatten();
    let signing = status.as_ref().is_ok_and(|s| s.wallet.account.is_some());
    let balance_wei = signing.then(|| {
        client
            .call(&oarn_api::chain::GetBalance {}, WAIT)
            .map_err(|e| e.to_string())
            .and_then(|b| b.wei.eth.parse::<u128>().map_err(|e| e.to_string()))
    });
    let kubo = (running && !config.storage.ipfs_api.is_empty()).then(|| {
        client
            .call(&oarn_api::ipfs::ListPins {}, WAIT)
            .map(|_| ())
            .map_err(|e| e.to_string())
    });
    let models = crate::local::store(config, home)
        .and_then(|s| s.list())
        .map(|l| l.into_iter().map(|m| (m.name, m.size)).collect())
        .unwrap_or_default();
    let memory = crate::hardware::memory(&std::fs::read_to_string("/proc/meminfo").unwrap_or_default());
    let (gpus, nvml) = crate::hardware::gpus();
    Facts {
        config: config.clone(),
        home: home.root().to_path_buf(),
        status,
        health,
        balance_wei,
        kubo,
        keystore: home.keystore().exists(),
        ipfs_store: home.root().join("ipfs").is_dir(),
        models,
        memory_total: memory.total_bytes,
        memory_available: memory.available_bytes,
        disk: disk(home.root()),
        gpus,
        nvml,
        gas_per_task_wei: gas_per_task(&home.root().join("tasks.db")),
        unit: unit(),
    }
}

/// Free and total bytes of the filesystem holding `path` (or its nearest existing parent).
fn disk(path: &Path) -> Option<(u64, u64)> {
    let at = path.ancestors().find(|p| p.exists())?;
    let s = nix::sys::statvfs::statvfs(at).ok()?;
    let bytes = |n: u64| n.saturating_mul(s.fragment_size());
    Some((bytes(s.blocks_available()), bytes(s.blocks())))
}

/// The average gas per task this node paid for, over its last 100 tasks that spent any.
fn gas_per_task(journal: &Path) -> Option<u128> {
    if !journal.exists() {
        return None;
    }
    let j = crate::tasks::Journal::open(journal).ok()?;
    let ids = j.spent_since(0).ok()?;
    let gas: Vec<u128> = ids
        .iter()
        .take(100)
        .filter_map(|id| {
            let (task, entries) = j.task(*id).ok()??;
            let l = crate::tasks::Ledger::of(&entries, &task.stage);
            Some(l.claim_gas_wei + l.submit_gas_wei).filter(|g| *g > 0)
        })
        .collect();
    (!gas.is_empty()).then(|| gas.iter().sum::<u128>() / gas.len() as u128)
}

/// The installed unit and its exposure, when one is installed.
fn unit() -> Option<Unit> {
    let path = UNIT_PATHS.iter().map(PathBuf::from).find(|p| p.exists())?;
    let exposure = Command::new("systemd-analyze")
        .args(["security", "--offline=true"])
        .arg(&path)
        .output()
        .map_err(|e| format!("systemd-analyze cannot run: {e}"))
        .and_then(|out| {
            exposure(&String::from_utf8_lossy(&out.stdout)).ok_or_else(|| {
                format!(
                    "systemd-analyze gave no score: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                )
            })
        });
    Some(Unit { path, exposure })
}

/// The score in `systemd-analyze security` output ("→ Overall exposure level for x: 2.0 OK").
pub fn exposure(text: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.split("Overall exposure level for ").nth(1))
        .and_then(|rest| rest.split(": ").nth(1))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_exposure_score_is_read_from_systemd_analyze() {
        let text = "  ✓ SystemCallArchitectures=  Service may execute system calls only with native ABI\n\n→ Overall exposure level for oarn.service: 2.0 OK 🙂\n";
        assert_eq!(super::exposure(text), Some(2.0));
        assert_eq!(super::exposure("nothing"), None);
    }
}
