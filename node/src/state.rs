//! The running node's state, as the API and the drivers share it: its home and
//! configuration, its workers, and what the drivers last heard from them.

use std::sync::Arc;
use std::time::Instant;

use oarn_config::home::Home;
use oarn_config::live::Change;
use oarn_config::{Config, ConfigError};
use oarn_supervise::Workers;
use tokio::sync::{mpsc, oneshot, watch};

/// Requests the API hands to the daemon's main loop.
#[derive(Debug)]
pub enum Control {
    /// Re-read the configuration file and apply what can change live.
    Reload(oneshot::Sender<Result<Change, ConfigError>>),
    /// Stop the node.
    Shutdown,
}

/// The running node.
#[derive(Debug)]
pub struct Node {
    pub home: Home,
    pub config_path: std::path::PathBuf,
    /// The running configuration; reloads send on it, drivers watch it.
    pub config: Arc<watch::Sender<Config>>,
    pub workers: Workers,
    pub started: Instant,
    pub control: mpsc::Sender<Control>,
    /// What the chain worker last discovered.
    pub discovery: crate::discovery::Shared,
    /// The chain worker, and the account it signs as; `None` in local mode.
    pub chain: Option<crate::chain::Chain>,
    /// Whether the node can sign.
    pub wallet: crate::discovery::Wallet,
    /// What the network worker's swarm last reported.
    pub p2p: crate::p2p::Shared,
    /// The task pipeline, once started (not in local mode, nor without a journal).
    pub tasks: std::sync::OnceLock<crate::tasks::pipeline::Handle>,
    /// The `ollama serve` the node runs, if it does.
    pub ollama: Option<Arc<oarn_supervise::ollama::Served>>,
    /// What the node counts, for `/metrics`.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Where the HTTP listener (metrics, JSON API) listens, once it does; or why it does not.
    pub http: std::sync::OnceLock<Result<std::net::SocketAddr, String>>,
}

impl Node {
    /// A snapshot of the running configuration.
    pub fn config(&self) -> Config {
        self.config.borrow().clone()
    }
}
