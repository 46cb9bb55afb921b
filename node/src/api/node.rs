//! The node's own methods: `oarn_version`, `oarn_status`, `oarn_workers`,
//! `oarn_reloadConfig`, `oarn_shutdown`.

use std::time::Duration;

use oarn_api::node::{
    Change, GetStatus, Layer, OllamaServe, OllamaState, ReloadConfig, Shutdown, Status, Stopping, Version, VersionInfo,
    WalletState, Worker, WorkerState, Workers,
};
use oarn_api::rpc::{Code, Error};
use oarn_config::ConfigError;
use oarn_supervise::{State, WorkerStatus};
use tokio::sync::oneshot;

use crate::state::{Control, Node};

/// How long `oarn_status` waits for each worker's own answer.
const INFO_WAIT: Duration = Duration::from_secs(2);

/// What `oarn_version` answers.
pub fn version_info() -> VersionInfo {
    VersionInfo {
        version: env!("CARGO_PKG_VERSION").into(),
        protocol: oarn_protocol::PROTOCOL_VERSION,
        build: oarn_supervise::supervise::BUILD_ID.into(),
    }
}

pub async fn version(_: &Node, _: Version) -> Result<VersionInfo, Error> {
    Ok(version_info())
}

/// A worker's status as the API shows it.
pub fn worker(s: &WorkerStatus) -> Worker {
    Worker {
        kind: s.kind.name().into(),
        binary: s.binary.clone(),
        state: match s.state {
            State::Starting => WorkerState::Starting,
            State::Running => WorkerState::Running,
            State::Restarting => WorkerState::Restarting,
            State::Stopped => WorkerState::Stopped,
        },
        pid: s.pid,
        started_at: s.started_at,
        uptime_secs: s.uptime_secs,
        restarts: s.restarts,
        last_exit: s.last_exit.clone(),
        degraded: s.degraded.clone(),
        build_id: s.build_id.clone(),
        capabilities: s.capabilities.clone(),
        in_flight: s.in_flight,
        sandbox: s
            .sandbox
            .iter()
            .map(|l| Layer {
                layer: l.layer.into(),
                state: l.state.into(),
                reason: l.reason.clone(),
            })
            .collect(),
        profile_hash: s.profile_hash.clone(),
        ping_us: s.ping_us,
    }
}

pub async fn workers(node: &Node, _: Workers) -> Result<Vec<Worker>, Error> {
    Ok(node
        .workers
        .statuses_with_info(INFO_WAIT)
        .await
        .iter()
        .map(worker)
        .collect())
}

/// Whether the node can sign.
fn wallet(node: &Node) -> WalletState {
    let pid = node.chain.as_ref().and_then(|c| c.handle.status().pid);
    let mut w = node.wallet.borrow().now(pid);
    w.index = node.chain.as_ref().map_or(0, |c| c.index);
    w
}

pub async fn status(node: &Node, _: GetStatus) -> Result<Status, Error> {
    let config = node.config();
    let workers = node
        .workers
        .statuses_with_info(INFO_WAIT)
        .await
        .iter()
        .map(worker)
        .collect();
    let network = crate::p2p::state(&node.p2p.read().unwrap_or_else(|e| e.into_inner()));
    let chain = crate::discovery::state(&node.discovery.borrow());
    Ok(Status {
        version: env!("CARGO_PKG_VERSION").into(),
        pid: std::process::id(),
        name: config.node.name.clone(),
        mode: name(&config.network.mode),
        home: node.home.root().display().to_string(),
        config: node.config_path.display().to_string(),
        uptime_secs: node.started.elapsed().as_secs(),
        sandbox_mode: name(&config.sandbox.mode),
        network,
        chain,
        wallet: wallet(node),
        workers,
        ollama: OllamaState {
            enabled: config.ollama.enabled,
            address: config.ollama.address.clone(),
            serve: node.ollama.as_ref().map(|s| {
                let s = s.status();
                OllamaServe {
                    binary: s.binary.display().to_string(),
                    address: s.address,
                    pid: s.pid,
                    restarts: s.restarts,
                    last_exit: s.last_exit,
                }
            }),
        },
        privacy: privacy(node, &config).await,
        http: match node.http.get() {
            Some(Ok(addr)) => oarn_api::node::HttpState {
                listen: Some(addr.to_string()),
                error: None,
            },
            Some(Err(e)) => oarn_api::node::HttpState {
                listen: None,
                error: Some(e.clone()),
            },
            None => oarn_api::node::HttpState::default(),
        },
    })
}

/// Privacy mode, and the anonymity worker's own report of its transport.
async fn privacy(node: &Node, config: &oarn_config::Config) -> oarn_api::node::PrivacyState {
    let mut state = oarn_api::node::PrivacyState {
        mode: name(&config.privacy.mode),
        ..Default::default()
    };
    if !config.privacy.mode.anonymous() {
        return state;
    }
    state.transport = Some("tor".into());
    let Some(anon) = &node.workers.anon else {
        state.blocked = Some("no anonymity worker runs: the node has no network".into());
        return state;
    };
    match tokio::time::timeout(INFO_WAIT, anon.call(oarn_protocol::anon::GetStatus)).await {
        Ok(Ok(s)) => {
            state.ready = s.ready;
            state.percent = s.percent;
            state.blocked = s.blocked;
            state.streams_open = s.streams_open;
            state.streams_total = s.streams_total;
            state.streams_failed = s.streams_failed;
            state.onion = s.onion;
        }
        Ok(Err(e)) => state.blocked = Some(format!("the anonymity worker does not answer: {e}")),
        Err(_) => state.blocked = Some("the anonymity worker does not answer".into()),
    }
    state
}

/// The text a unit enum of the configuration is written as (`standard`, `best-effort`).
fn name(v: &impl serde::Serialize) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}

fn stopping() -> Error {
    Error::new(Code::InternalError, "the node is stopping")
}

pub async fn reload(node: &Node, _: ReloadConfig) -> Result<Change, Error> {
    let (tx, rx) = oneshot::channel();
    node.control.send(Control::Reload(tx)).await.map_err(|_| stopping())?;
    match rx.await.map_err(|_| stopping())? {
        Ok(change) => Ok(Change {
            applied: change.applied,
            needs_restart: change.needs_restart,
        }),
        Err(ConfigError::Invalid { problems }) => {
            let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
            Err(Error::new(
                Code::InvalidConfig,
                "the configuration file is invalid; the running configuration was kept",
            )
            .with_data(serde_json::json!({"problems": list})))
        }
        Err(e) => Err(Error::new(Code::InvalidConfig, e.to_string())),
    }
}

pub async fn shutdown(node: &Node, _: Shutdown) -> Result<Stopping, Error> {
    node.control.send(Control::Shutdown).await.map_err(|_| stopping())?;
    Ok(Stopping {
        stopping: true,
        pid: std::process::id(),
    })
}

/// Longest `oarn_health` waits for each worker.
const HEALTH_WAIT: std::time::Duration = std::time::Duration::from_secs(15);

pub async fn health(node: &Node, _: oarn_api::node::GetHealth) -> Result<oarn_api::node::Health, Error> {
    use crate::metrics::scrape::{chain_health, net_status};
    use oarn_api::node::{ChainHealth, Health, NetworkHealth};
    let (chain, network) = tokio::join!(chain_health(node, HEALTH_WAIT), net_status(node, HEALTH_WAIT));
    Ok(Health {
        chain: chain.map(|r| ChainHealth {
            endpoint: r.endpoint,
            head: r.head,
            head_time: r.head_time,
            switches: r.switches,
        }),
        network: network.map(|s| NetworkHealth {
            peers: s.peers.len() as u64,
            nat: s.nat,
            relayed: s.listen.into_iter().filter(|a| a.contains("/p2p-circuit")).collect(),
            relays_configured: node.config().network.relays.len() as u64,
        }),
        now: crate::tasks::now_ms() / 1000,
    })
}

pub async fn metrics(node: &Node, _: oarn_api::node::GetMetrics) -> Result<oarn_api::node::MetricsText, Error> {
    let snapshot = crate::metrics::scrape::gather(node).await;
    Ok(oarn_api::node::MetricsText {
        text: node.metrics.render(snapshot),
    })
}
