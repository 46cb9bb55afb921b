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
    /// The node's version (the `oarn` package's).
    pub version: String,
    /// The version of the protocol between the supervisor and its workers.
    pub protocol: u32,
    /// The build id the supervisor sends its workers, e.g. `oarn 0.1.0`.
    pub build: String,
}

/// `oarn_status`: the node, its network and chain, and each worker.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct GetStatus {}
method!(GetStatus, "oarn_status", Status);

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Status {
    /// The node's version.
    pub version: String,
    /// The supervisor's process id.
    pub pid: u32,
    /// The operator's label for this node (`node.name`).
    pub name: String,
    /// `standard` or `local`.
    pub mode: String,
    /// The node home.
    pub home: String,
    /// The configuration file in use.
    pub config: String,
    /// Seconds since the node started.
    pub uptime_secs: u64,
    /// `strict` or `best-effort`.
    pub sandbox_mode: String,
    /// The peer-to-peer side.
    pub network: NetworkState,
    /// The chain side: discovery and the contracts found.
    pub chain: ChainState,
    /// Whether the node can sign.
    pub wallet: WalletState,
    /// Each worker, as in `oarn_workers`.
    pub workers: Vec<Worker>,
    /// Ollama routing (`[ollama]`).
    pub ollama: OllamaState,
    /// The HTTP listener: metrics and the JSON API.
    #[serde(default)]
    pub http: HttpState,
    /// Privacy mode and its transport.
    #[serde(default)]
    pub privacy: PrivacyState,
}

/// Privacy mode (`privacy.mode`) and, when on, its transport as the anonymity worker reports it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PrivacyState {
    /// `off` or `tor`.
    pub mode: String,
    /// `tor`, when privacy mode is on.
    pub transport: Option<String>,
    /// Streams can be opened: the Tor client has a directory and circuits.
    pub ready: bool,
    /// Bootstrap progress, 0 to 100.
    pub percent: u8,
    /// What holds the transport up, or why the anonymity worker does not answer; with
    /// privacy mode on and this set, the node has no network at all.
    pub blocked: Option<String>,
    /// Streams open now, and opened and failed since the worker started.
    pub streams_open: u32,
    pub streams_total: u64,
    pub streams_failed: u64,
    /// The node's onion service, where peers reach it (`/onion3/<address>:<port>`).
    #[serde(default)]
    pub onion: Option<String>,
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
    /// The OpenMetrics exposition, as `/metrics` serves it.
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
    /// The RPC endpoint in use (credentials removed).
    pub endpoint: String,
    /// Its head block number.
    pub head: u64,
    /// The head block's timestamp, Unix seconds.
    pub head_time: u64,
    /// Times it switched endpoints since it started.
    pub switches: u64,
}

/// The network worker's peers and reachability.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NetworkHealth {
    /// Connected peers.
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
    /// At least one peer is connected.
    pub connected: bool,
    /// This node's peer id, once the swarm started.
    pub peer_id: Option<String>,
    /// Its listen addresses, each ending `/p2p/<peer id>`.
    pub listen: Vec<String>,
    /// Where the Kubo-compatible IPFS API listens.
    pub ipfs_api: Option<String>,
    /// Connected peers.
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
    /// It failed; `ChainState.error` says why. It is tried again with backoff.
    Failed,
    /// It found the network: the contracts, endpoints and peers below.
    Ok,
}

/// The chain side: what discovery found.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChainState {
    /// Discovery succeeded (the same as `discovery` being `ok`).
    pub connected: bool,
    /// How far discovery got.
    pub discovery: Discovery,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Why discovery or the chain failed, when it did.
    pub error: Option<String>,
    #[serde(default, flatten, skip_serializing_if = "Option::is_none")]
    /// What discovery found; its fields appear inline.
    pub network: Option<Network>,
}

/// The network discovery found.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Network {
    /// The OARNRegistry contract.
    pub registry: crate::Address,
    /// The TaskRegistryV2 contract, where tasks are submitted, claimed and settled.
    pub task_registry_v2: crate::Address,
    /// The TokenReward contract (COMP rewards).
    pub token_reward: crate::Address,
    /// The GOVToken contract.
    pub gov_token: crate::Address,
    /// The ValidatorRegistry contract.
    pub validator_registry: crate::Address,
    /// The endpoint in use (credentials removed).
    pub endpoint: String,
    /// Its head block.
    pub head: u64,
    /// Active RPC providers' endpoints, from the registry.
    pub rpc_providers: Vec<String>,
    /// Active bootstrap peers, from the registry.
    pub bootstrap: Vec<Bootstrap>,
    /// Active validators' multiaddrs, from the ValidatorRegistry.
    pub validators: Vec<String>,
}

/// A bootstrap peer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Bootstrap {
    /// Its peer id.
    pub peer_id: String,
    /// Where to dial it.
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
    /// The worker's executable.
    pub binary: String,
    /// Where it is in its life.
    pub state: WorkerState,
    /// Its process id, while a process runs.
    pub pid: Option<u32>,
    /// Unix time the current process completed its handshake.
    pub started_at: Option<u64>,
    /// Seconds since that handshake.
    pub uptime_secs: Option<u64>,
    /// Times it was restarted since the node started.
    pub restarts: u32,
    /// Why the last process ended, e.g. "exited with status 3" or "killed by signal SIGSEGV".
    pub last_exit: Option<String>,
    /// Set while the worker is crash-looping: the reason and its last stderr lines.
    pub degraded: Option<String>,
    /// The build id the worker sent in its handshake.
    pub build_id: Option<String>,
    /// What the worker says it can do, e.g. `onnx` or `bitswap`.
    pub capabilities: Vec<String>,
    /// Requests the worker says it is working on.
    pub in_flight: Option<u32>,
    /// Each sandbox layer, as the worker reported it and the supervisor checked it.
    pub sandbox: Vec<Layer>,
    /// sha256 (hex) of the sandbox profile the worker enforces.
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
    /// The layer, e.g. `seccomp` or `landlock`.
    pub layer: String,
    /// `active`, `unavailable` or `not-applied`.
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Why it is not active, when it is not.
    pub reason: Option<String>,
}

/// Ollama routing, and the `ollama serve` the node runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OllamaState {
    /// Generations go to an Ollama server (`ollama.enabled`).
    pub enabled: bool,
    /// That server's `ip:port`.
    pub address: String,
    /// The `ollama serve` the node runs, with `ollama.serve`.
    pub serve: Option<OllamaServe>,
}

/// The `ollama serve` process the node runs and restarts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OllamaServe {
    /// The ollama binary.
    pub binary: String,
    /// The address it serves on.
    pub address: String,
    /// Its process id, while it runs.
    pub pid: Option<u32>,
    /// Times it was restarted.
    pub restarts: u32,
    /// Why it last ended, when it did.
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

/// The node acknowledges the shutdown; it stops its workers, then exits.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Stopping {
    /// Always `true`.
    pub stopping: bool,
    /// The supervisor's process id, to wait for.
    pub pid: u32,
}
