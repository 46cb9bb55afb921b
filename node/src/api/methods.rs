//! What each JSON-RPC method answers. Methods that need parts of the node this build does not
//! run yet (task submission) answer with the API's own error codes rather than invented data.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

use oarn_api::rpc::{self, Error};
use oarn_config::home::Home;
use oarn_config::live::Change;
use oarn_config::{Config, ConfigError};
use oarn_supervise::Workers;

/// How long `oarn_status` waits for each worker's own answer.
const INFO_WAIT: Duration = Duration::from_secs(2);

/// Requests the API hands to the daemon's main loop.
#[derive(Debug)]
pub enum Control {
    /// Re-read the configuration file and apply what can change live.
    Reload(oneshot::Sender<Result<Change, ConfigError>>),
    /// Stop the node.
    Shutdown,
}

/// The running node as the API sees it.
#[derive(Debug)]
pub struct Node {
    pub home: Home,
    pub config_path: std::path::PathBuf,
    pub config: Arc<RwLock<Config>>,
    pub workers: Workers,
    pub started: Instant,
    pub control: mpsc::Sender<Control>,
    /// What the chain worker last discovered.
    pub discovery: crate::discovery::Shared,
    /// What the network worker's swarm last reported.
    pub p2p: crate::p2p::Shared,
    /// The `ollama serve` the node runs, if it does.
    pub ollama: Option<Arc<oarn_supervise::ollama::Served>>,
}

impl Node {
    /// Runs `method` with `params`.
    pub async fn call(&self, method: &str, params: Value) -> Result<Value, Error> {
        match method {
            "oarn_version" => Ok(version()),
            "oarn_status" => Ok(self.status().await),
            "oarn_workers" => Ok(json!(self.workers.statuses_with_info(INFO_WAIT).await)),
            "oarn_modelsLoaded" => super::infer::loaded(self).await,
            "oarn_unload" => super::infer::unload(self, &params).await,
            "oarn_peers" => super::net::peers(self.workers.net.as_ref()).await,
            "oarn_tasks" => Ok(super::net::tasks(&self.p2p)),
            "oarn_announceTask" => super::net::announce(self.workers.net.as_ref(), &params).await,
            "oarn_dhtPut" => super::net::dht_put(self.workers.net.as_ref(), &params).await,
            "oarn_claims" => super::net::claims(self.workers.net.as_ref(), &params).await,
            "oarn_sendResult" => super::routed::send(self.workers.net.as_ref(), &params).await,
            "oarn_results" => Ok(super::routed::heard(&self.p2p)),
            "oarn_dhtGet" => super::net::dht_get(self.workers.net.as_ref(), &params).await,
            "oarn_ipfsAdd" => super::net::ipfs_add(self.workers.net.as_ref(), &params).await,
            "oarn_ipfsFetch" => super::net::ipfs_fetch(self.workers.net.as_ref(), &params).await,
            "oarn_ipfsPin" => super::net::ipfs_pin(self.workers.net.as_ref(), &params).await,
            "oarn_ipfsPins" => super::net::ipfs_pins(self.workers.net.as_ref()).await,
            "oarn_ipfsGc" => super::net::ipfs_gc(self.workers.net.as_ref()).await,
            "oarn_submitTask" | "oarn_getResult" => {
                if method == "oarn_getResult" && task_id(&params).is_none() {
                    return Err(Error::new(
                        rpc::INVALID_PARAMS,
                        "oarn_getResult needs params {\"task_id\": <number>}",
                    ));
                }
                Err(Error::new(rpc::NO_PROVIDERS, "No providers")
                    .with_data(json!({"reason": "this build's chain worker has no RPC providers yet"})))
            }
            "oarn_reloadConfig" => self.reload().await,
            "oarn_shutdown" => {
                self.control.send(Control::Shutdown).await.map_err(|_| stopping())?;
                Ok(json!({"stopping": true, "pid": std::process::id()}))
            }
            _ => Err(Error::new(rpc::METHOD_NOT_FOUND, format!("method not found: {method}"))),
        }
    }

    async fn status(&self) -> Value {
        let config = self.config.read().unwrap_or_else(|e| e.into_inner()).clone();
        json!({
            "version": env!("CARGO_PKG_VERSION"),
            "pid": std::process::id(),
            "name": config.node.name,
            "mode": config.network.mode,
            "home": self.home.root(),
            "config": self.config_path,
            "uptime_secs": self.started.elapsed().as_secs(),
            "sandbox_mode": config.sandbox.mode,
            "network": crate::p2p::to_json(&self.p2p.read().unwrap_or_else(|e| e.into_inner())),
            "chain": crate::discovery::to_json(&self.discovery.read().unwrap_or_else(|e| e.into_inner())),
            "workers": self.workers.statuses_with_info(INFO_WAIT).await,
            "ollama": {
                "enabled": config.ollama.enabled,
                "address": config.ollama.address,
                "serve": self.ollama.as_ref().map(|s| s.status()),
            },
        })
    }

    async fn reload(&self) -> Result<Value, Error> {
        let (tx, rx) = oneshot::channel();
        self.control.send(Control::Reload(tx)).await.map_err(|_| stopping())?;
        match rx.await.map_err(|_| stopping())? {
            Ok(change) => Ok(json!(change)),
            Err(ConfigError::Invalid { problems }) => {
                let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
                Err(Error::new(
                    rpc::INVALID_CONFIG,
                    "the configuration file is invalid; the running configuration was kept",
                )
                .with_data(json!({"problems": list})))
            }
            Err(e) => Err(Error::new(rpc::INVALID_CONFIG, e.to_string())),
        }
    }
}

fn stopping() -> Error {
    Error::new(rpc::INTERNAL_ERROR, "the node is stopping")
}

fn task_id(params: &Value) -> Option<u64> {
    params
        .get("task_id")
        .and_then(Value::as_u64)
        .or_else(|| params.get(0).and_then(Value::as_u64))
}

/// The answer of `oarn_version`.
pub fn version() -> Value {
    json!({
        "version": env!("CARGO_PKG_VERSION"),
        "protocol": oarn_protocol::PROTOCOL_VERSION,
        "build": oarn_supervise::supervise::BUILD_ID,
    })
}
