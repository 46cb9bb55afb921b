//! The network as the chain worker last discovered it (registry, contracts, RPC providers,
//! bootstrap peers), refreshed in the background and shown by `oarn status`. A failure is kept
//! as its message and retried with backoff; it never stops the node.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use oarn_protocol::chain::{self, Discover, Network, Reply};
use serde_json::{Value, json};

use oarn_config::{Config, DiscoveryMethod};
use oarn_supervise::Handle;

/// Longest wait for one discovery.
const WAIT: Duration = Duration::from_secs(60);
/// Refresh interval once discovery works.
const REFRESH: Duration = Duration::from_secs(600);
/// First retry after a failure; doubles up to [`REFRESH`].
const RETRY: Duration = Duration::from_secs(15);

/// The last outcome.
#[derive(Debug, Clone, Default)]
pub enum State {
    /// Not asked yet (or no chain worker in this mode).
    #[default]
    Pending,
    /// Found.
    Found(Network),
    /// Failed, with the reason.
    Failed(String),
}

/// Shared between the refresher and the API.
pub type Shared = Arc<RwLock<State>>;

fn address(s: &str) -> Option<[u8; 20]> {
    let hex = s.strip_prefix("0x")?;
    let mut out = [0u8; 20];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    (hex.len() == 40).then_some(out)
}

/// The discovery request for `config`.
pub fn request(config: &Config) -> Discover {
    let d = &config.network.discovery;
    let manual = d.discovery_method == DiscoveryMethod::Manual;
    Discover {
        chain_id: config.blockchain.chain_id,
        manual,
        rpc_urls: if manual {
            config.blockchain.rpc_urls.clone()
        } else {
            Vec::new()
        },
        registry: address(&config.blockchain.registry_address).filter(|_| manual),
        ens_name: d.ens_name.clone(),
        ens_rpc_urls: d.ens_rpc_urls.clone(),
        ens_registry: address(&d.ens_registry),
    }
}

/// Asks the chain worker now and then, forever (the daemon aborts it at shutdown).
pub async fn refresh(chain: Handle<chain::Protocol>, request: Discover, shared: Shared) {
    let mut retry = RETRY;
    loop {
        let outcome = tokio::time::timeout(WAIT, chain.call(chain::Request::Discover(request.clone()), None)).await;
        let state = match outcome {
            Ok(Ok(Reply::Network(n))) => State::Found(n),
            Ok(Ok(other)) => State::Failed(format!("unexpected answer {other:?}")),
            Ok(Err(e)) => State::Failed(e.to_string()),
            Err(_) => State::Failed(format!("no answer within {}s", WAIT.as_secs())),
        };
        let wait = match &state {
            State::Found(n) => {
                tracing::info!(registry = %crate::p2p::hex(&n.registry), endpoint = %n.endpoint, head = n.head,
                    "network discovered: {} RPC providers, {} bootstrap peers", n.rpc_providers.len(), n.bootstrap.len());
                retry = RETRY;
                REFRESH
            }
            State::Failed(e) => {
                tracing::warn!("discovery failed (retrying in {}s): {e}", retry.as_secs());
                let w = retry;
                retry = (retry * 2).min(REFRESH);
                w
            }
            State::Pending => REFRESH,
        };
        *shared.write().unwrap_or_else(|e| e.into_inner()) = state;
        tokio::time::sleep(wait).await;
    }
}

/// The `chain` part of `oarn status`.
pub fn to_json(state: &State) -> Value {
    match state {
        State::Pending => json!({ "connected": false, "discovery": "pending" }),
        State::Failed(e) => json!({ "connected": false, "discovery": "failed", "error": e }),
        State::Found(n) => json!({
            "connected": true,
            "discovery": "ok",
            "registry": crate::p2p::hex(&n.registry),
            "task_registry_v2": crate::p2p::hex(&n.task_registry_v2),
            "token_reward": crate::p2p::hex(&n.token_reward),
            "gov_token": crate::p2p::hex(&n.gov_token),
            "validator_registry": crate::p2p::hex(&n.validator_registry),
            "endpoint": n.endpoint,
            "head": n.head,
            "rpc_providers": n.rpc_providers,
            "bootstrap": n.bootstrap.iter().map(|(p, a)| json!({"peer_id": p, "multiaddr": a})).collect::<Vec<_>>(),
            "validators": n.validators,
        }),
    }
}
