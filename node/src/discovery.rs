//! The network as the chain worker last discovered it (registry, contracts, RPC providers,
//! bootstrap peers), refreshed in the background and shown by `oarn status`. A failure is kept
//! as its message and retried with backoff; it never stops the node. Whoever needs it (the
//! swarm's driver) is told of each change through a watch channel, not by looking.

use std::time::Duration;

use oarn_api::Address;
use oarn_api::node::{Bootstrap, ChainState, Discovery, Network as NetworkView};
use oarn_config::{Config, DiscoveryMethod};
use oarn_protocol::chain::{self, Discover, Network};
use oarn_supervise::Handle;
use tokio::sync::watch;

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

/// Written by the refresher, watched by the swarm's driver, read by the API.
pub type Shared = std::sync::Arc<watch::Sender<State>>;

/// A new shared state, pending.
pub fn shared() -> Shared {
    std::sync::Arc::new(watch::channel(State::Pending).0)
}

/// The discovery request for `config`: the one place the chain worker's discovery settings
/// are built from the configuration.
pub fn request(config: &Config) -> Discover {
    let d = &config.network.discovery;
    let manual = d.discovery_method == DiscoveryMethod::Manual;
    let address = |s: &str| s.parse::<Address>().ok().map(|a| a.0);
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
        let outcome = tokio::time::timeout(WAIT, chain.call(request.clone())).await;
        let state = match outcome {
            Ok(Ok(n)) => State::Found(n),
            Ok(Err(e)) => State::Failed(e.to_string()),
            Err(_) => State::Failed(format!("no answer within {}s", WAIT.as_secs())),
        };
        let wait = match &state {
            State::Found(n) => {
                tracing::info!(registry = %oarn_protocol::hex::encode(&n.registry), endpoint = %n.endpoint, head = n.head,
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
        shared.send_replace(state);
        tokio::time::sleep(wait).await;
    }
}

/// The `chain` part of `oarn status`.
pub fn state(state: &State) -> ChainState {
    match state {
        State::Pending => ChainState {
            connected: false,
            discovery: Discovery::Pending,
            error: None,
            network: None,
        },
        State::Failed(e) => ChainState {
            connected: false,
            discovery: Discovery::Failed,
            error: Some(e.clone()),
            network: None,
        },
        State::Found(n) => ChainState {
            connected: true,
            discovery: Discovery::Ok,
            error: None,
            network: Some(NetworkView {
                registry: Address(n.registry),
                task_registry_v2: Address(n.task_registry_v2),
                token_reward: Address(n.token_reward),
                gov_token: Address(n.gov_token),
                validator_registry: Address(n.validator_registry),
                endpoint: n.endpoint.clone(),
                head: n.head,
                rpc_providers: n.rpc_providers.clone(),
                bootstrap: n
                    .bootstrap
                    .iter()
                    .map(|(p, a)| Bootstrap {
                        peer_id: p.clone(),
                        multiaddr: a.clone(),
                    })
                    .collect(),
                validators: n.validators.clone(),
            }),
        },
    }
}
