//! Messages of the chain worker (`oarn-worker-chain`).

use wincode::{SchemaRead, SchemaWrite};

use crate::envelope::{Down, Info, Progress, Up};

/// Supervisor → chain worker.
#[derive(Debug, Clone, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub enum Request {
    GetInfo(GetInfo),
    Discover(Discover),
}

crate::calls! {
    GetInfo => Info(Info),
    Discover => Network(Network),
}

/// What the worker can do and how busy it is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct GetInfo;

/// chain worker → supervisor, final answers.
#[derive(Debug, Clone, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub enum Reply {
    Info(Info),
    Network(Network),
}

/// Find the network from the node's configuration (ENS → OARNRegistry, or manual): where
/// discovery starts.
#[derive(Debug, Clone, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct Discover {
    /// Chain the registry lives on.
    pub chain_id: u64,
    /// Use `rpc_urls` and `registry` as given instead of ENS.
    pub manual: bool,
    /// Endpoints of the registry's chain (manual).
    pub rpc_urls: Vec<String>,
    /// OARNRegistry address (manual).
    pub registry: Option<[u8; 20]>,
    /// ENS name of the registry.
    pub ens_name: String,
    /// Endpoints that resolve ENS.
    pub ens_rpc_urls: Vec<String>,
    /// ENS registry address.
    pub ens_registry: Option<[u8; 20]>,
}

/// What discovery found.
#[derive(Debug, Clone, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct Network {
    /// OARNRegistry.
    pub registry: [u8; 20],
    /// TaskRegistryV2.
    pub task_registry_v2: [u8; 20],
    /// The reward token (COMP).
    pub token_reward: [u8; 20],
    /// The governance token.
    pub gov_token: [u8; 20],
    /// The ValidatorRegistry (zero where the network has none).
    pub validator_registry: [u8; 20],
    /// Active RPC providers' endpoints.
    pub rpc_providers: Vec<String>,
    /// Active bootstrap peers: (peer id, multiaddr), for the network worker.
    pub bootstrap: Vec<(String, String)>,
    /// Active validators' endpoints (multiaddrs) from the ValidatorRegistry, for
    /// validator-routed mode.
    pub validators: Vec<String>,
    /// The endpoint in use (credentials removed).
    pub endpoint: String,
    /// Its head block.
    pub head: u64,
}

/// chain worker → supervisor, streamed while a request runs.
#[derive(Debug, Clone, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub enum Event {
    Progress(Progress),
}

/// A frame to the chain worker.
pub type ToWorker = Down<Request>;
/// A frame from the chain worker.
pub type FromWorker = Up<Reply, Event>;

crate::worker_protocol!(crate::WorkerKind::Chain);
