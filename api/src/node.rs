//! The node and its workers: `oarn_version`, `oarn_status`, `oarn_workers`,
//! `oarn_reloadConfig`, `oarn_shutdown`.

use serde::{Deserialize, Serialize};

use crate::method;

/// `oarn_version`: the node's version, the worker protocol's version and the build.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Version {}
method!(Version, "oarn_version", VersionInfo);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionInfo {
    pub version: String,
    pub protocol: u32,
    pub build: String,
}

/// `oarn_status`: the node, its network and chain, and each worker.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct GetStatus {}
method!(GetStatus, "oarn_status", Status);

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Status {
    pub version: String,
    pub pid: u32,
    /// The operator's label for this node (`node.name`).
    pub name: String,
    /// `standard` or `local`.
    pub mode: String,
    pub home: String,
    pub config: String,
    pub uptime_secs: u64,
    /// `strict` or `best-effort`.
    pub sandbox_mode: String,
    pub network: NetworkState,
    pub chain: ChainState,
    pub wallet: WalletState,
    pub workers: Vec<Worker>,
    pub ollama: OllamaState,
    /// The HTTP listener: metrics and the JSON API.
    #[serde(default)]
    pub http: HttpState,
}

/// `oarn_metrics`: what `/metrics` serves, through the local socket (for `oarn dashboard`,
/// and where the HTTP listener is off): OpenMetrics text.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GetMetrics {}
method!(GetMetrics, "oarn_metrics", MetricsText);

/// The metrics' text.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MetricsText {
    pub text: String,
}

/// `oarn_health`: what the node's workers find now, for `oarn doctor`: the chain's head
/// through the endpoint in use, and the peer-to-peer side's peers, NAT status and relays.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GetHealth {}
method!(GetHealth, "oarn_health", Health);

/// What the workers found.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Health {
    /// The chain as the chain worker reads it now, or why it could not.
    pub chain: Result<ChainHealth, String>,
    /// The swarm as the network worker reports it now, or why it could not.
    pub network: Result<NetworkHealth, String>,
    /// This machine's clock, Unix seconds, when the node answered.
    pub now: u64,
}

/// The chain worker's endpoint and head.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ChainHealth {
    pub endpoint: String,
    pub head: u64,
    /// The head block's timestamp, Unix seconds.
    pub head_time: u64,
    /// Times it switched endpoints since it started.
    pub switches: u64,
}

/// The network worker's peers and reachability.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NetworkHealth {
    pub peers: u64,
    /// `public`, `private` or `unknown` (AutoNAT).
    pub nat: String,
    /// Listen addresses through relays (`…/p2p-circuit`): reservations held.
    pub relayed: Vec<String>,
    /// `network.relays` configured.
    pub relays_configured: u64,
}

/// Where the HTTP listener (`/metrics`, `/api/v1/`) listens, or why it does not.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HttpState {
    /// `ip:port`, once it listens.
    pub listen: Option<String>,
    /// Why it does not (disabled, or the address could not be bound).
    pub error: Option<String>,
}

/// The peer-to-peer side as the node last heard from its swarm.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NetworkState {
    pub connected: bool,
    pub peer_id: Option<String>,
    pub listen: Vec<String>,
    /// Where the Kubo-compatible IPFS API listens.
    pub ipfs_api: Option<String>,
    pub peers: u64,
    /// Task announcements kept.
    pub announcements: u64,
    /// Why the swarm is not running, when it is not.
    pub error: Option<String>,
}

/// How far discovery of the network got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Discovery {
    /// Not asked yet (or no chain worker in this mode).
    Pending,
    Failed,
    Ok,
}

/// The chain side: what discovery found.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChainState {
    pub connected: bool,
    pub discovery: Discovery,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, flatten, skip_serializing_if = "Option::is_none")]
    pub network: Option<Network>,
}

/// The network discovery found.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Network {
    pub registry: crate::Address,
    pub task_registry_v2: crate::Address,
    pub token_reward: crate::Address,
    pub gov_token: crate::Address,
    pub validator_registry: crate::Address,
    /// The endpoint in use (credentials removed).
    pub endpoint: String,
    /// Its head block.
    pub head: u64,
    pub rpc_providers: Vec<String>,
    pub bootstrap: Vec<Bootstrap>,
    pub validators: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Bootstrap {
    pub peer_id: String,
    pub multiaddr: String,
}

/// Whether the node can sign (claim, submit).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WalletState {
    /// A keystore exists in the node home.
    pub present: bool,
    /// The chain worker holds the signing key, for this account.
    pub account: Option<crate::Address>,
    /// The account index the node signs as (m/44'/60'/0'/0/<index>).
    #[serde(default)]
    pub index: u32,
    /// Why it is locked, when it is.
    pub locked: Option<String>,
}

/// One worker as the supervisor sees it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Worker {
    /// `infer`, `net` or `chain`.
    pub kind: String,
    pub binary: String,
    pub state: WorkerState,
    pub pid: Option<u32>,
    /// Unix time the current process completed its handshake.
    pub started_at: Option<u64>,
    pub uptime_secs: Option<u64>,
    pub restarts: u32,
    /// Why the last process ended, e.g. "exited with status 3" or "killed by signal SIGSEGV".
    pub last_exit: Option<String>,
    /// Set while the worker is crash-looping: the reason and its last stderr lines.
    pub degraded: Option<String>,
    pub build_id: Option<String>,
    pub capabilities: Vec<String>,
    /// Requests the worker says it is working on.
    pub in_flight: Option<u32>,
    pub sandbox: Vec<Layer>,
    pub profile_hash: Option<String>,
    /// Round trip of the last answered ping, in microseconds.
    pub ping_us: Option<u64>,
}

/// Where a worker is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WorkerState {
    /// Spawned; handshake not finished.
    Starting,
    /// Handshake done, answering pings.
    Running,
    /// Failed; waiting out the backoff before the next start.
    Restarting,
    /// Shut down on request.
    Stopped,
}

/// One sandbox layer as the worker reported it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layer {
    pub layer: String,
    /// `active`, `unavailable` or `not-applied`.
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Ollama routing, and the `ollama serve` the node runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OllamaState {
    pub enabled: bool,
    pub address: String,
    pub serve: Option<OllamaServe>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OllamaServe {
    pub binary: String,
    pub address: String,
    pub pid: Option<u32>,
    pub restarts: u32,
    pub last_exit: Option<String>,
}

/// `oarn_workers`: each worker, with what it says of itself.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Workers {}
method!(Workers, "oarn_workers", Vec<Worker>);

/// `oarn_reloadConfig`: re-read config.toml and apply what can change live.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ReloadConfig {}
method!(ReloadConfig, "oarn_reloadConfig", Change);

/// What a reload changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// Changed keys the running node applied.
    pub applied: Vec<String>,
    /// Changed keys that take effect only after a restart.
    pub needs_restart: Vec<String>,
}

/// `oarn_shutdown`: stop the node.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Shutdown {}
method!(Shutdown, "oarn_shutdown", Stopping);

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Stopping {
    pub stopping: bool,
    pub pid: u32,
}
