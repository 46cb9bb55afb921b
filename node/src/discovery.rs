//! The network as the chain worker last discovered it (registry, contracts, RPC providers,
//! bootstrap peers), refreshed in the background and shown by `oarn status`. A failure is kept
//! as its message and retried with backoff; it never stops the node. Whoever needs it (the
//! swarm's driver) is told of each change through a watch channel, not by looking.

use std::time::Duration;

use oarn_api::Address;
use oarn_api::node::{Bootstrap, ChainState, Discovery, Network as NetworkView};
use oarn_config::{Config, DiscoveryMethod};
use oarn_protocol::chain::{Discover, Network};
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
    Found(Box<Network>),
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

/// How the daemon unlocks its key in the chain worker.
#[derive(Debug, Default)]
pub struct Unlock {
    /// Where the passphrase comes from, when anywhere.
    pub source: Option<crate::passphrase::Source>,
    /// The passphrase already read (typed at start), used once.
    pub first: Option<crate::passphrase::Passphrase>,
    /// The account signed with.
    pub index: u32,
}

/// Whether the node can sign, and in which chain worker process the key is held: a key
/// unlocked in a worker that has since died is held by nobody.
#[derive(Debug, Clone, Default)]
pub struct Held {
    pub state: oarn_api::node::WalletState,
    pub pid: Option<u32>,
}

impl Held {
    /// The state as `oarn status` shows it while chain worker `pid` runs.
    pub fn now(&self, pid: Option<u32>) -> oarn_api::node::WalletState {
        let mut state = self.state.clone();
        if state.account.is_some() && pid != self.pid {
            state.account = None;
            state.locked = Some("the chain worker restarted; the node is unlocking it again".into());
        }
        state
    }
}

/// Whether the node can sign, as `oarn status` shows it.
pub type Wallet = std::sync::Arc<watch::Sender<Held>>;

/// Records `state` for the chain worker running now.
pub fn hold(wallet: &Wallet, chain: &crate::chain::Chain, state: oarn_api::node::WalletState) {
    wallet.send_replace(Held {
        state,
        pid: chain.handle.status().pid,
    });
}

/// Drives the chain worker for as long as the node runs (the daemon aborts it at shutdown):
/// whenever a worker process starts, it is pointed at the network (discovery, retried with
/// backoff) and its key unlocked (from the passphrase file or credential, which can be read
/// again; a typed passphrase only the first time); discovery is refreshed now and then.
pub async fn drive(chain: crate::chain::Chain, request: Discover, shared: Shared, mut unlock: Unlock, wallet: Wallet) {
    loop {
        if !chain.handle.running().await {
            return;
        }
        let pid = chain.handle.status().pid;
        let restarted = chain
            .handle
            .wait_for(|s| s.pid != pid || s.state != oarn_supervise::State::Running);
        tokio::pin!(restarted);
        let mut retry = RETRY;
        let mut unlocked = false;
        loop {
            let outcome = tokio::time::timeout(WAIT, chain.handle.call(request.clone())).await;
            let state = match outcome {
                Ok(Ok(n)) => State::Found(Box::new(n)),
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
            if !unlocked {
                unlocked = true;
                unlock_key(&chain, &mut unlock, &wallet).await;
            }
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = &mut restarted => break,
            }
        }
        tracing::info!("the chain worker restarted; discovering and unlocking again");
    }
}

/// Unlocks the key in a freshly started chain worker, and says so in `wallet`.
async fn unlock_key(chain: &crate::chain::Chain, unlock: &mut Unlock, wallet: &Wallet) {
    use crate::passphrase::Source;
    let present = chain.home.keystore().exists();
    let locked = |why: String| oarn_api::node::WalletState {
        present,
        account: None,
        index: chain.index,
        locked: Some(why),
    };
    if !present {
        hold(
            wallet,
            chain,
            locked("no wallet: create one with `oarn wallet create`".into()),
        );
        return;
    }
    let passphrase = match (unlock.first.take(), &unlock.source) {
        (Some(p), _) => p,
        (None, Some(source @ Source::File(_))) => match crate::passphrase::read(source, "") {
            Ok(p) => p,
            Err(e) => {
                tracing::error!("the wallet stays locked: {e}");
                hold(wallet, chain, locked(e.to_string()));
                return;
            }
        },
        _ => {
            hold(
                wallet,
                chain,
                locked("the node was started without its passphrase; unlock it with `oarn wallet unlock`".into()),
            );
            return;
        }
    };
    match chain.unlock(passphrase).await {
        Ok(a) => {
            tracing::info!(account = %a.checksummed(), index = chain.index, "the node signs as this account");
            hold(
                wallet,
                chain,
                oarn_api::node::WalletState {
                    present,
                    account: Some(a),
                    index: chain.index,
                    locked: None,
                },
            );
        }
        Err(e) => {
            tracing::error!("the wallet stays locked: {e}");
            hold(wallet, chain, locked(e.to_string()));
        }
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
