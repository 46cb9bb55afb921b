//! `oarn-config`: the node's configuration and its home directory. Read by every process on
//! the supervisor side: the `oarn` command and the daemon (`oarn start`); workers never read
//! it, they get what they need on their command line or in frames.
//!
//! The schema of `config.toml` and its defaults are here; loading (with file/line errors and `OARN_<SECTION>__<KEY>` overrides) is in [`load`];
//! refusing key material is in [`secrets`]; the commented file `oarn init` writes is in
//! [`template`]; `oarn config set` is in [`edit`]; reload decisions are in [`live`]; where
//! each of the node's files lives, and `oarn init`, is in [`home`].

pub mod edit;
pub mod home;
pub mod live;
pub mod load;
pub mod secrets;
pub mod template;

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use load::{ConfigError, Loaded, Location, Problem};

/// Everything in `config.toml`. Unknown keys are errors; every key has a default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub node: Node,
    pub network: Network,
    pub privacy: Privacy,
    pub compute: Compute,
    pub ollama: Ollama,
    pub storage: Storage,
    pub blockchain: Blockchain,
    pub sandbox: Sandbox,
    pub workers: Workers,
    pub metrics: Metrics,
    pub update: Update,
}

/// `[node]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Node {
    /// A label for this node in `oarn status`; never sent to the network.
    pub name: String,
    /// Log level: trace, debug, info, warn or error.
    pub log_level: String,
}

impl Default for Node {
    fn default() -> Self {
        Self {
            name: String::new(),
            log_level: "info".into(),
        }
    }
}

/// How the node takes part in the network. (Validator-routed mode is not a mode of its own:
/// it is on whenever `network.validators` lists validators or discovery finds some.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Peer-to-peer network and chain.
    Standard,
    /// Offline: inference only, no network or chain worker.
    Local,
}

/// `[network]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Network {
    pub mode: Mode,
    /// Address the peer-to-peer listener binds; loopback unless the operator opens it.
    pub listen_address: IpAddr,
    /// Port of the peer-to-peer listener; 0 picks a free one.
    pub listen_port: u16,
    /// Listen on QUIC (UDP) as well as TCP.
    pub quic: bool,
    /// Find peers on the local network with mDNS (multicast on every non-loopback interface).
    pub mdns: bool,
    /// Serve as a circuit relay (v2) for peers behind NAT.
    pub relay_service: bool,
    /// Relays to be reachable through (multiaddrs ending `/p2p/<relay id>`).
    pub relays: Vec<String>,
    /// Validator-routed mode: validators to keep connected (multiaddrs ending `/p2p/<id>`);
    /// their tasks come first and results go to them directly.
    pub validators: Vec<String>,
    pub max_peers: u32,
    /// Most connections from one IP address; loopback is exempt.
    pub max_peers_per_ip: u32,
    /// Most KiB per second sent over every connection together; 0: no limit.
    pub max_upload_kib_s: u64,
    /// Most KiB per second received over every connection together; 0: no limit.
    pub max_download_kib_s: u64,
    pub discovery: Discovery,
}

impl Default for Network {
    fn default() -> Self {
        Self {
            mode: Mode::Standard,
            listen_address: IpAddr::from([127, 0, 0, 1]),
            listen_port: 0,
            quic: true,
            mdns: false,
            relay_service: false,
            relays: Vec::new(),
            validators: Vec::new(),
            max_peers: 50,
            max_peers_per_ip: 8,
            max_upload_kib_s: 0,
            max_download_kib_s: 0,
            discovery: Discovery::default(),
        }
    }
}

/// Where RPC endpoints, bootstrap peers and contract addresses come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DiscoveryMethod {
    /// ENS → OARNRegistry; when the chain cannot be reached, the DHT's `/oarn/bootstrap`.
    Auto,
    /// Only what this file lists (tests and private networks).
    Manual,
}

/// `[network.discovery]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Discovery {
    pub discovery_method: DiscoveryMethod,
    /// ENS name of the OARNRegistry contract.
    pub ens_name: String,
    /// Ethereum endpoints used only to resolve `ens_name` (ENS lives on mainnet).
    pub ens_rpc_urls: Vec<String>,
    /// Address of the ENS registry contract those endpoints serve.
    pub ens_registry: String,
    /// Multiaddrs of bootstrap peers; only with `discovery_method = "manual"`.
    pub bootstrap_peers: Vec<String>,
}

impl Default for Discovery {
    fn default() -> Self {
        Self {
            discovery_method: DiscoveryMethod::Auto,
            ens_name: "oarn-registry.eth".into(),
            ens_rpc_urls: Vec::new(),
            ens_registry: String::new(),
            bootstrap_peers: Vec::new(),
        }
    }
}

/// A key that earlier versions wrote into `config.toml` and that nothing reads in this build:
/// still accepted, so an existing file loads, but never written, and warned of at load.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(transparent)]
pub struct Retired(pub Option<toml::Value>);

impl Retired {
    fn set(&self) -> bool {
        self.0.is_some()
    }
}

/// How the node reaches the internet (`privacy.mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PrivacyMode {
    /// The network and chain workers reach peers and RPC endpoints directly.
    Off,
    /// Only the anonymity worker reaches the internet, through Tor. The network and chain
    /// workers run in an empty network namespace and reach it through a Unix socket: if Tor
    /// is down the node is offline, never exposed.
    Tor,
}

impl PrivacyMode {
    /// True when the workers must reach the world through the anonymity worker.
    pub fn anonymous(self) -> bool {
        self != Self::Off
    }
}

/// `[privacy]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Privacy {
    /// Pad published announcements with trailing whitespace so sizes leak less.
    pub padding_enabled: bool,
    /// How the node reaches the internet.
    pub mode: PrivacyMode,
    /// An arti configuration file (TOML: bridges, a private Tor network) read by the anonymity
    /// worker; empty uses the public Tor network with arti's defaults.
    pub tor_config: PathBuf,
    #[serde(default, skip_serializing)]
    pub tor_enabled: Retired,
    #[serde(default, skip_serializing)]
    pub ephemeral_addresses: Retired,
    /// In privacy mode, move to new Tor circuits every `rotation_interval_mins`: connections
    /// opened after an epoch ends share no circuit with those opened before it.
    pub rotate_peers: bool,
    /// The length of a rotation epoch, in minutes.
    pub rotation_interval_mins: u32,
    /// On links between privacy-mode nodes, each fixed-size record waits a random delay
    /// between these, in milliseconds.
    pub min_delay_ms: u32,
    pub max_delay_ms: u32,
    /// On those links, send on a random (Poisson) clock, real data or cover, so when and how
    /// much the node sends does not show whether it is working.
    pub decoy_traffic: bool,
    /// Ticks per second of that clock; each sends 8 records (about 4 KB), which also caps
    /// each link at `decoy_rate_hz × 4` KB/s.
    pub decoy_rate_hz: u32,
}

impl Default for Privacy {
    fn default() -> Self {
        Self {
            padding_enabled: true,
            mode: PrivacyMode::Off,
            tor_config: PathBuf::new(),
            tor_enabled: Retired::default(),
            ephemeral_addresses: Retired::default(),
            rotate_peers: true,
            rotation_interval_mins: 60,
            min_delay_ms: 0,
            max_delay_ms: 50,
            decoy_traffic: false,
            decoy_rate_hz: 25,
        }
    }
}

/// `[compute]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Compute {
    /// Inference threads; 0 uses every core.
    pub threads: u32,
    /// Memory the node may use for models, in GiB; 0 means no limit beyond free memory.
    pub max_ram_gb: u32,
    /// Model names (globs) this node accepts tasks for; empty accepts every model.
    pub accepted_models: Vec<String>,
    /// Tasks worked on at once (claimed and not yet submitted); applies live.
    pub max_concurrent_tasks: u32,
    /// The smallest reward per node worth claiming, in ETH (a decimal string, e.g. "0.001").
    pub min_reward: String,
    /// Claim tasks on its own when the wallet is unlocked and the network is up; off, the node
    /// claims only what `oarn task claim` asks for.
    pub auto_claim: bool,
    /// ONNX Runtime's shared library (`libonnxruntime.so.1.*`), which runs ONNX models; empty
    /// runs GGUF models only. Relative paths are under the node home.
    pub onnxruntime: PathBuf,
    #[serde(default, skip_serializing)]
    pub max_vram_gb: Retired,
}

impl Default for Compute {
    fn default() -> Self {
        Self {
            threads: 0,
            max_ram_gb: 0,
            accepted_models: Vec::new(),
            max_concurrent_tasks: 1,
            min_reward: "0".into(),
            auto_claim: true,
            onnxruntime: PathBuf::new(),
            max_vram_gb: Retired::default(),
        }
    }
}

/// `[ollama]`: routing inference to an Ollama server instead of llama.cpp.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Ollama {
    /// Send every generation to Ollama; model names are then Ollama's (`llama3.2:1b`).
    pub enabled: bool,
    /// The server's `ip:port`.
    pub address: String,
    /// Run `ollama serve` on that address as a supervised subprocess of the node.
    pub serve: bool,
    /// The `ollama` binary (looked up on PATH unless it is a path).
    pub binary: PathBuf,
}

impl Default for Ollama {
    fn default() -> Self {
        Self {
            enabled: false,
            address: "127.0.0.1:11434".into(),
            serve: false,
            binary: PathBuf::from("ollama"),
        }
    }
}

impl Ollama {
    /// The server's address (checked when the configuration is loaded).
    pub fn addr(&self) -> Option<std::net::SocketAddr> {
        self.address.parse().ok()
    }

    fn check(&self, bad: &mut impl FnMut(&str, String)) {
        if self.addr().is_none() {
            bad(
                "ollama.address",
                format!("{:?} is not ip:port (e.g. \"127.0.0.1:11434\")", self.address),
            );
        }
        if self.binary.as_os_str().is_empty() {
            bad("ollama.binary", "must not be empty; the default is \"ollama\"".into());
        }
    }
}

/// `[storage]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Storage {
    /// Model cache; relative paths are under the node home, `~` is expanded.
    pub models_dir: PathBuf,
    /// Largest total size of the model cache in GiB (fractions allowed); 0 is no limit.
    pub max_cache_size_gb: f64,
    /// Largest size of the IPFS block store in GiB; unpinned blocks beyond it are collected.
    /// 0 is no limit.
    pub ipfs_cache_gb: f64,
    /// Kubo RPC API of an IPFS daemon the operator runs; empty uses the built-in node.
    pub ipfs_api: String,
    /// Where the node serves its own Kubo-compatible API (`host:port`); empty: not served.
    pub ipfs_api_listen: String,
    /// Trustless HTTP gateways for blocks no peer sends; none by default.
    pub gateways: Vec<String>,
    /// A mirror serving the catalog's files under the same paths (`http(s)://host[/prefix]`);
    /// empty fetches them from their origin.
    pub model_mirror: String,
    /// Hours a task's result stays pinned (and kept in the node home) after the task ends, so
    /// the requester can fetch it; 0 releases it at once.
    pub result_retention_hours: u32,
}

impl Storage {
    /// The model cache limit in bytes, `None` for no limit.
    pub fn cache_limit(&self) -> Option<u64> {
        gib(self.max_cache_size_gb)
    }

    /// The IPFS block store limit in bytes, `None` for no limit.
    pub fn ipfs_cache_limit(&self) -> Option<u64> {
        gib(self.ipfs_cache_gb)
    }
}

/// Longest `storage.result_retention_hours`: a year.
pub const MAX_RETENTION_HOURS: u32 = 24 * 366;

fn gib(n: f64) -> Option<u64> {
    (n > 0.0).then(|| (n * f64::from(1u32 << 30)) as u64)
}

impl Storage {
    /// Problems with the sizes, as `(key, message)`.
    fn check(&self, bad: &mut impl FnMut(&str, String)) {
        for (key, v) in [
            ("storage.max_cache_size_gb", self.max_cache_size_gb),
            ("storage.ipfs_cache_gb", self.ipfs_cache_gb),
        ] {
            if !v.is_finite() || !(0.0..=1_000_000.0).contains(&v) {
                bad(key, format!("{v} is out of range; use 0 (no limit) to 1000000 GiB"));
            }
        }
        if self.result_retention_hours > MAX_RETENTION_HOURS {
            bad(
                "storage.result_retention_hours",
                format!(
                    "{} is out of range; use 0 (release at once) to {MAX_RETENTION_HOURS} (a year)",
                    self.result_retention_hours
                ),
            );
        }
        let http = |u: &str| ["http://", "https://"].iter().any(|p| u.starts_with(p));
        for g in self.gateways.iter().filter(|g| !http(g)) {
            bad("storage.gateways", format!("{g:?} is not an http:// or https:// URL"));
        }
        if !self.model_mirror.is_empty() && !http(&self.model_mirror) {
            bad(
                "storage.model_mirror",
                format!("{:?} is not an http:// or https:// URL", self.model_mirror),
            );
        }
        let url = http(&self.ipfs_api);
        if !self.ipfs_api.is_empty() && !url {
            bad(
                "storage.ipfs_api",
                format!(
                    "{:?} is not an http:// or https:// URL (e.g. \"http://127.0.0.1:5001\")",
                    self.ipfs_api
                ),
            );
        }
        if !self.ipfs_api_listen.is_empty() && self.ipfs_api_listen.parse::<std::net::SocketAddr>().is_err() {
            bad(
                "storage.ipfs_api_listen",
                format!("{:?} is not host:port (e.g. \"127.0.0.1:5001\")", self.ipfs_api_listen),
            );
        }
    }
}

impl Default for Storage {
    fn default() -> Self {
        Self {
            models_dir: PathBuf::from("models"),
            max_cache_size_gb: 50.0,
            ipfs_cache_gb: 20.0,
            ipfs_api: String::new(),
            ipfs_api_listen: String::new(),
            gateways: Vec::new(),
            model_mirror: String::new(),
            result_retention_hours: 168,
        }
    }
}

/// `[blockchain]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Blockchain {
    /// 42161 Arbitrum One, 421614 Arbitrum Sepolia.
    pub chain_id: u64,
    /// RPC endpoints; only with `discovery_method = "manual"`.
    pub rpc_urls: Vec<String>,
    /// OARNRegistry address; only with `discovery_method = "manual"`.
    pub registry_address: String,
}

impl Default for Blockchain {
    fn default() -> Self {
        Self {
            chain_id: 42161,
            rpc_urls: Vec::new(),
            registry_address: String::new(),
        }
    }
}

/// `[metrics]`: the node's HTTP listener: Prometheus metrics at `/metrics`, and the read-only
/// JSON API under `/api/v1/` behind the bearer token in the node home (`api.token`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Metrics {
    /// Serve the listener at all.
    pub enabled: bool,
    /// `ip:port` it binds; loopback unless the operator opens it. Port 0 picks a free one
    /// (`oarn status` shows which).
    pub listen: String,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: "127.0.0.1:9730".into(),
        }
    }
}

impl Metrics {
    /// The address to bind (checked when the configuration is loaded).
    pub fn addr(&self) -> Option<std::net::SocketAddr> {
        self.listen.parse().ok()
    }

    fn check(&self, bad: &mut impl FnMut(&str, String)) {
        if self.addr().is_none() {
            bad(
                "metrics.listen",
                format!("{:?} is not ip:port (e.g. \"127.0.0.1:9730\")", self.listen),
            );
        }
    }
}

/// `[update]`: where `oarn update` reads oarn's releases and the root that says who must sign
/// them. Only `oarn update` reads it; the running node never updates itself.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Update {
    /// The release repository's base URL (`http(s)://host[/prefix]`, serving `metadata/` and
    /// `targets/`); empty: no update source.
    pub mirror: String,
    /// The trusted root of the release repository (TUF `root.json`); relative paths are under
    /// the node home, `~` is expanded. Empty: none.
    pub root: PathBuf,
}

impl Update {
    fn check(&self, bad: &mut impl FnMut(&str, String)) {
        let m = self.mirror.trim();
        if !(m.is_empty() || m.starts_with("https://") || m.starts_with("http://")) {
            bad(
                "update.mirror",
                format!("{:?} is not an http:// or https:// URL", self.mirror),
            );
        }
    }
}

/// What to do when the kernel lacks a sandbox layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SandboxMode {
    /// Refuse to start a worker without every layer.
    Strict,
    /// Run, and show the missing layers in status and logs.
    BestEffort,
}

/// `[sandbox]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Sandbox {
    pub mode: SandboxMode,
    /// A directory of profile files that replace the built-in ones; empty uses the built-in.
    pub profile_dir: PathBuf,
}

impl Default for Sandbox {
    fn default() -> Self {
        Self {
            mode: SandboxMode::BestEffort,
            profile_dir: PathBuf::new(),
        }
    }
}

/// `[workers]`: how the supervisor runs its workers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Workers {
    /// Directory holding the worker binaries; empty means next to the `oarn` binary.
    pub dir: PathBuf,
    /// Path of one worker's binary, overriding `dir` (empty: not overridden).
    pub infer: PathBuf,
    pub net: PathBuf,
    pub chain: PathBuf,
    pub anon: PathBuf,
    pub ping_interval_secs: u32,
    /// A worker that does not answer a ping within this time is killed and restarted.
    pub ping_timeout_secs: u32,
    /// Time a worker gets to exit after a shutdown request before it is killed.
    pub shutdown_grace_ms: u32,
}

impl Default for Workers {
    fn default() -> Self {
        Self {
            dir: PathBuf::new(),
            infer: PathBuf::new(),
            net: PathBuf::new(),
            chain: PathBuf::new(),
            anon: PathBuf::new(),
            ping_interval_secs: 5,
            ping_timeout_secs: 10,
            shutdown_grace_ms: 3000,
        }
    }
}

/// True for a 0x-prefixed 20-byte hex address.
fn is_address(s: &str) -> bool {
    s.len() == 42 && s.starts_with("0x") && s[2..].chars().all(|c| c.is_ascii_hexdigit())
}

/// Expands `~` and makes a relative path relative to `base`.
pub fn resolve_path(path: &Path, base: &Path) -> PathBuf {
    let expanded = match path.strip_prefix("~") {
        Ok(rest) => std::env::var_os("HOME").map(PathBuf::from).map(|h| h.join(rest)),
        Err(_) => None,
    }
    .unwrap_or_else(|| path.to_path_buf());
    if expanded.is_absolute() {
        expanded
    } else {
        base.join(expanded)
    }
}

impl Config {
    /// Checks what serde cannot: ranges and combinations. Each problem names its key.
    pub fn validate(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut bad = |key: &str, msg: String| out.push((key.to_string(), msg));
        if !["trace", "debug", "info", "warn", "error"].contains(&self.node.log_level.as_str()) {
            bad(
                "node.log_level",
                format!(
                    "{:?} is not a level; use trace, debug, info, warn or error",
                    self.node.log_level
                ),
            );
        }
        if !(1..=10_000).contains(&self.network.max_peers) {
            bad(
                "network.max_peers",
                format!("{} is out of range; use 1 to 10000", self.network.max_peers),
            );
        }
        for (key, list, what) in [
            ("network.relays", &self.network.relays, "a relay's"),
            ("network.validators", &self.network.validators, "a validator's"),
        ] {
            for r in list.iter().filter(|r| !r.starts_with('/') || !r.contains("/p2p/")) {
                bad(key, format!("{r:?} is not {what} multiaddr ending /p2p/<its peer id>"));
            }
        }
        if !(1..=1000).contains(&self.network.max_peers_per_ip) {
            bad(
                "network.max_peers_per_ip",
                format!("{} is out of range; use 1 to 1000", self.network.max_peers_per_ip),
            );
        }
        self.storage.check(&mut bad);
        self.ollama.check(&mut bad);
        self.metrics.check(&mut bad);
        self.update.check(&mut bad);
        if !(1..=64).contains(&self.compute.max_concurrent_tasks) {
            bad(
                "compute.max_concurrent_tasks",
                format!("{} is out of range; use 1 to 64", self.compute.max_concurrent_tasks),
            );
        }
        if let Err(e) = oarn_tasks::policy::parse_eth(&self.compute.min_reward) {
            bad("compute.min_reward", e.to_string());
        }
        if self.blockchain.chain_id == 0 {
            bad(
                "blockchain.chain_id",
                "must not be 0; use 42161 (Arbitrum One) or 421614 (Arbitrum Sepolia)".into(),
            );
        }
        if self.network.discovery.ens_name.trim().is_empty() {
            bad("network.discovery.ens_name", "must not be empty".into());
        }
        let manual = self.network.discovery.discovery_method == DiscoveryMethod::Manual;
        let manual_only = [
            (
                "network.discovery.bootstrap_peers",
                !self.network.discovery.bootstrap_peers.is_empty(),
            ),
            ("blockchain.rpc_urls", !self.blockchain.rpc_urls.is_empty()),
            (
                "blockchain.registry_address",
                !self.blockchain.registry_address.is_empty(),
            ),
        ];
        for (key, set) in manual_only {
            if set && !manual {
                bad(key, "is only used with network.discovery.discovery_method = \"manual\"; remove it or set discovery_method = \"manual\"".into());
            }
        }
        let urls = [
            ("blockchain.rpc_urls", &self.blockchain.rpc_urls),
            ("network.discovery.ens_rpc_urls", &self.network.discovery.ens_rpc_urls),
        ];
        for (key, list) in urls {
            for url in list {
                if !["http://", "https://", "ws://", "wss://"]
                    .iter()
                    .any(|s| url.starts_with(s))
                {
                    bad(key, format!("{url:?} is not an http(s):// or ws(s):// URL"));
                }
            }
        }
        let ens = &self.network.discovery.ens_registry;
        if !ens.is_empty() && !is_address(ens) {
            bad(
                "network.discovery.ens_registry",
                format!("{ens:?} is not a 0x-prefixed 20-byte hex address"),
            );
        }
        for peer in &self.network.discovery.bootstrap_peers {
            if !peer.starts_with('/') {
                bad(
                    "network.discovery.bootstrap_peers",
                    format!("{peer:?} is not a multiaddr (e.g. /ip4/127.0.0.1/tcp/4001/p2p/12D3Koo…)"),
                );
            }
        }
        let addr = &self.blockchain.registry_address;
        if !addr.is_empty() && !is_address(addr) {
            bad(
                "blockchain.registry_address",
                format!("{addr:?} is not a 0x-prefixed 20-byte hex address"),
            );
        }
        if self.privacy.rotation_interval_mins == 0 {
            bad("privacy.rotation_interval_mins", "must be at least 1".into());
        }
        let p = &self.privacy;
        if p.max_delay_ms > 10_000 {
            bad("privacy.max_delay_ms", "must be at most 10000 (10 s)".into());
        }
        if p.min_delay_ms > p.max_delay_ms {
            bad(
                "privacy.min_delay_ms",
                format!("must not exceed privacy.max_delay_ms ({})", p.max_delay_ms),
            );
        }
        if !(1..=1000).contains(&p.decoy_rate_hz) {
            bad("privacy.decoy_rate_hz", "must be between 1 and 1000".into());
        }
        if self.workers.ping_interval_secs == 0 {
            bad("workers.ping_interval_secs", "must be at least 1".into());
        }
        if self.workers.ping_timeout_secs <= self.workers.ping_interval_secs {
            bad(
                "workers.ping_timeout_secs",
                format!(
                    "must be longer than workers.ping_interval_secs ({})",
                    self.workers.ping_interval_secs
                ),
            );
        }
        out
    }

    /// The retired keys this configuration sets, with what will read them: they do nothing.
    pub fn retired(&self) -> Vec<(&'static str, &'static str)> {
        let privacy = "the privacy feature that will read it is not built yet";
        let tasks = "GPU memory is read from the device, not configured";
        [
            (
                "privacy.tor_enabled",
                self.privacy.tor_enabled.set(),
                "privacy.mode = \"tor\" replaces it",
            ),
            (
                "privacy.ephemeral_addresses",
                self.privacy.ephemeral_addresses.set(),
                privacy,
            ),
            ("compute.max_vram_gb", self.compute.max_vram_gb.set(), tasks),
        ]
        .into_iter()
        .filter(|(_, set, _)| *set)
        .map(|(key, _, why)| (key, why))
        .collect()
    }

    /// The value at a dotted key (`network.max_peers`), as TOML.
    pub fn get(&self, key: &str) -> Option<toml::Value> {
        let mut value = toml::Value::try_from(self).ok()?;
        for part in key.split('.') {
            value = value.as_table()?.get(part)?.clone();
        }
        Some(value)
    }

    /// Every leaf key of the schema with its value, flattened to dotted names.
    pub fn flatten(&self) -> Vec<(String, toml::Value)> {
        fn walk(prefix: &str, v: &toml::Value, out: &mut Vec<(String, toml::Value)>) {
            match v.as_table() {
                Some(t) => {
                    for (k, v) in t {
                        let key = if prefix.is_empty() {
                            k.clone()
                        } else {
                            format!("{prefix}.{k}")
                        };
                        walk(&key, v, out);
                    }
                }
                None => out.push((prefix.to_string(), v.clone())),
            }
        }
        let mut out = Vec::new();
        if let Ok(v) = toml::Value::try_from(self) {
            walk("", &v, &mut out);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_expand_tilde_and_resolve_relative_to_the_home() {
        let home = Path::new("/var/lib/oarn");
        assert_eq!(
            resolve_path(Path::new("models"), home),
            PathBuf::from("/var/lib/oarn/models")
        );
        assert_eq!(resolve_path(Path::new("/srv/m"), home), PathBuf::from("/srv/m"));
        if let Some(h) = std::env::var_os("HOME") {
            assert_eq!(resolve_path(Path::new("~/m"), home), PathBuf::from(h).join("m"));
        }
    }

    #[test]
    fn an_update_mirror_that_is_no_http_url_is_named_with_the_key() {
        let mut c = Config::default();
        assert!(c.validate().is_empty(), "no mirror is valid: updates are off");
        c.update.mirror = "https://releases.example/oarn".into();
        assert!(c.validate().is_empty());
        c.update.mirror = "ftp://releases.example".into();
        let problems = c.validate();
        assert!(
            problems
                .iter()
                .any(|(k, m)| k == "update.mirror" && m.contains("ftp://")),
            "{problems:?}"
        );
    }

    #[test]
    fn delays_out_of_order_and_a_decoy_rate_out_of_range_are_named_with_their_keys() {
        let mut c = Config::default();
        c.privacy.min_delay_ms = 100;
        c.privacy.max_delay_ms = 50;
        c.privacy.decoy_rate_hz = 0;
        let keys: Vec<String> = c.validate().into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["privacy.min_delay_ms", "privacy.decoy_rate_hz"]);
        c.privacy.max_delay_ms = 20_000;
        c.privacy.min_delay_ms = 0;
        c.privacy.decoy_rate_hz = 25;
        let keys: Vec<String> = c.validate().into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["privacy.max_delay_ms"]);
    }
}
