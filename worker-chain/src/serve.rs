//! The chain worker serving the supervisor. Every request runs on the worker's own async
//! runtime, so a claim waiting for its receipt does not hold up a task read; every failure
//! is answered as an error reply, never a crash.
//!
//! The worker keeps two things between requests: the network its last [`Discover`] found
//! (and that network's endpoints, with failover), and the signing key of one account once
//! [`Unlock`]ed, in locked memory, until [`Lock`] or the worker ends. Transactions are sent
//! one at a time, so two never take the same nonce.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use alloy::primitives::{Address, B256};
use alloy::providers::Provider;
use oarn_protocol::chain::{
    Balances, Claim, Discover, Event, Events, HEALTH_CACHE_SECS, Health, ListTasks, Network, Protocol, Quote,
    ReadReceipt, ReadTask, RegisterValidator, Reply, Request, Submit, Transfer, Unlock, Unlocked,
};
use oarn_protocol::envelope::{ErrorKind, ErrorReply, Info, RequestId};
use oarn_protocol::serve::{Context, Handler, Responder};

use crate::chain::{self, Error};
use crate::discovery::{self, Settings};
use crate::rpc::{Endpoint, Pool};
use crate::signer::Signer;

/// What the worker keeps between requests.
struct State {
    /// The keystore (`{home}/wallet.encrypted`), the one file the profile lets it read.
    keystore: PathBuf,
    network: tokio::sync::Mutex<Option<Session>>,
    signer: Mutex<Option<Signer>>,
    /// Held while a transaction is signed and sent.
    sending: tokio::sync::Mutex<()>,
    /// The last [`Health`] read, and when: answered again for [`HEALTH_CACHE_SECS`].
    health: tokio::sync::Mutex<Option<(std::time::Instant, Health)>>,
}

/// The network found, and its endpoints.
struct Session {
    found: discovery::Network,
    pool: Pool,
    chain_id: u64,
}

/// Answers the supervisor's requests.
pub struct Worker {
    state: Arc<State>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Worker")
    }
}

impl Worker {
    /// The worker of the node home `home`.
    pub fn new(home: &Path) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("chain")
            .enable_all()
            .build();
        if let Err(e) = &runtime {
            tracing::error!("cannot start the async runtime: {e}");
        }
        Self {
            state: Arc::new(State {
                keystore: home.join("wallet.encrypted"),
                network: tokio::sync::Mutex::new(None),
                signer: Mutex::new(None),
                sending: tokio::sync::Mutex::new(()),
                health: tokio::sync::Mutex::new(None),
            }),
            runtime: runtime.ok(),
        }
    }
}

fn settings(d: &Discover) -> Settings {
    Settings {
        chain_id: d.chain_id,
        manual: d.manual,
        rpc_urls: d.rpc_urls.clone(),
        registry: d.registry.map(Address::from),
        ens_name: d.ens_name.clone(),
        ens_rpc_urls: d.ens_rpc_urls.clone(),
        ens_registry: d.ens_registry.map(Address::from),
    }
}

fn locked() -> ErrorReply {
    ErrorReply::new(
        ErrorKind::Locked,
        "the wallet is locked: no signing key is held (unlock it first)",
    )
}

fn undiscovered() -> ErrorReply {
    ErrorReply::new(ErrorKind::Busy, "the network is not discovered yet; try again")
}

impl State {
    /// The endpoint in use and the network, or why there is none.
    async fn session(&self) -> Result<(Endpoint, discovery::Network, u64), ErrorReply> {
        let mut s = self.network.lock().await;
        let s = s.as_mut().ok_or_else(undiscovered)?;
        let endpoint = s.pool.current().await.map_err(Error::from)?.clone();
        Ok((endpoint, s.found.clone(), s.chain_id))
    }

    fn signer(&self) -> Result<Signer, ErrorReply> {
        self.signer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or_else(locked)
    }

    /// The account read for: the held key's, else account 0 as the keystore's header names
    /// it (no passphrase needed to read balances or events).
    fn account(&self) -> Result<Address, ErrorReply> {
        if let Some(a) = self.me() {
            return Ok(a);
        }
        let file = std::fs::read(&self.keystore).map_err(|e| {
            ErrorReply::new(
                ErrorKind::Locked,
                format!(
                    "the wallet is locked, and the chain worker cannot read the keystore ({e}; one created after \
                     the node started is readable once unlocked): unlock it with `oarn wallet unlock`"
                ),
            )
        })?;
        let header = crate::keystore::parse(&file)
            .map_err(|e| ErrorReply::new(ErrorKind::InvalidRequest, format!("the keystore: {e}")))?
            .0;
        header.address.parse().map_err(|_| {
            ErrorReply::new(
                ErrorKind::InvalidRequest,
                "the keystore's header names no valid address",
            )
        })
    }

    fn me(&self) -> Option<Address> {
        self.signer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(Signer::address)
    }

    async fn discover(&self, d: Discover) -> Result<Network, ErrorReply> {
        let (found, mut pool) = discovery::discover(&settings(&d)).await.map_err(Error::from)?;
        let endpoint = pool.current().await.map_err(Error::from)?.clone();
        let head = endpoint.provider().get_block_number().await.map_err(|e| Error::Rpc {
            step: "reading the head block",
            message: e.to_string(),
        })?;
        let network = Network {
            chain_id: d.chain_id,
            registry: found.registry.0.0,
            task_registry: found.core.task_registry.0.0,
            task_registry_v2: found.core.task_registry_v2.0.0,
            governance: found.core.governance.0.0,
            token_reward: found.core.token_reward.0.0,
            gov_token: found.core.gov_token.0.0,
            validator_registry: found.core.validator_registry.0.0,
            rpc_providers: found.rpc_providers.clone(),
            bootstrap: found
                .bootstrap
                .iter()
                .map(|b| (b.peer_id.clone(), b.multiaddr.clone()))
                .collect(),
            validators: found.validators.clone(),
            endpoint: endpoint.url.clone(),
            head,
        };
        *self.network.lock().await = Some(Session {
            found,
            pool,
            chain_id: d.chain_id,
        });
        Ok(network)
    }

    fn unlock(&self, u: Unlock) -> Unlocked {
        use oarn_protocol::exit::WorkerExit;
        let passphrase = crate::secret::Secret::copy_of(&u.passphrase);
        let mut given = u.passphrase;
        zeroize::Zeroize::zeroize(&mut given);
        let signer = match crate::wallet::open_signer(&u.keystore, passphrase, u.index) {
            Ok(s) => s,
            Err(e) => {
                return match e.exit() {
                    WorkerExit::WrongPassphrase => Unlocked::WrongPassphrase,
                    WorkerExit::InvalidKey => Unlocked::NoSuchAccount(e.to_string()),
                    _ => Unlocked::Damaged(e.to_string()),
                };
            }
        };
        let address = signer.address().0.0;
        if !signer.is_locked() {
            tracing::warn!("the signing key's memory could not be locked in RAM (RLIMIT_MEMLOCK)");
        }
        *self.signer.lock().unwrap_or_else(|e| e.into_inner()) = Some(signer);
        tracing::info!(account = %Address::from(address), "signing key unlocked");
        Unlocked::Account(address)
    }

    /// Signs and sends with the held key, one transaction at a time; `pending` gets the hash.
    async fn sending<T, F, Fut>(&self, f: F) -> Result<T, ErrorReply>
    where
        F: FnOnce(Endpoint, discovery::Network, Signer) -> Fut,
        Fut: std::future::Future<Output = Result<T, Error>>,
    {
        let signer = self.signer()?;
        let (endpoint, found, _) = self.session().await?;
        let _one = self.sending.lock().await;
        Ok(f(endpoint, found, signer).await?)
    }

    async fn handle(&self, request: Request, responder: &Responder<Protocol>) -> Result<Reply, ErrorReply> {
        let pending = |tx: B256| {
            let _ = responder.emit(Event::Pending { tx: tx.0 });
        };
        match request {
            Request::GetInfo(_) => Ok(Reply::Info(Info::default())),
            Request::Discover(d) => self.discover(d).await.map(Reply::Network),
            Request::Unlock(u) => Ok(Reply::Unlocked(self.unlock(u))),
            Request::Lock(_) => {
                *self.signer.lock().unwrap_or_else(|e| e.into_inner()) = None;
                Ok(Reply::Done(()))
            }
            Request::ListTasks(ListTasks { last }) => {
                let (endpoint, found, _) = self.session().await?;
                Ok(Reply::Tasks(
                    chain::tasks::list(&endpoint, found.core.task_registry_v2, last).await?,
                ))
            }
            Request::ReadTask(ReadTask { id }) => {
                let (endpoint, found, _) = self.session().await?;
                let detail = chain::tasks::detail(&endpoint, found.core.task_registry_v2, id, self.me()).await?;
                Ok(Reply::Task(detail))
            }
            Request::Claim(Claim { id }) => self
                .sending(
                    |e, n, s| async move { chain::tasks::claim(&e, n.core.task_registry_v2, s, id, pending).await },
                )
                .await
                .map(Reply::Sent),
            Request::Submit(Submit { id, result_hash }) => self
                .sending(|e, n, s| async move {
                    chain::tasks::submit(&e, n.core.task_registry_v2, s, id, result_hash, pending).await
                })
                .await
                .map(Reply::Sent),
            Request::CreateTask(t) => self
                .sending(
                    |e, n, s| async move { chain::tasks::create(&e, n.core.task_registry_v2, s, &t, pending).await },
                )
                .await
                .map(Reply::Created),
            Request::ReadReceipt(ReadReceipt { tx }) => {
                let (endpoint, _, _) = self.session().await?;
                Ok(Reply::Receipt(chain::tasks::receipt(&endpoint, tx).await?))
            }
            Request::Balances(Balances { account }) => {
                let who = match account {
                    Some(a) => Address::from(a),
                    None => self.account()?,
                };
                let (endpoint, found, _) = self.session().await?;
                Ok(Reply::Balances(
                    chain::transfer::holdings(&endpoint, &found, who).await?,
                ))
            }
            Request::Quote(q) => self.quote(&q).await.map(Reply::Quoted),
            Request::Transfer(t) => self.transfer(t, pending).await.map(Reply::Sent),
            Request::RegisterValidator(RegisterValidator { endpoint: url, stake }) => self
                .sending(|e, n, s| async move {
                    chain::validator::register(&e, n.core.validator_registry, s, &url, stake.as_deref(), pending).await
                })
                .await
                .map(Reply::Staked),
            Request::Events(ev) => self.events(ev, responder).await.map(Reply::Cursor),
            Request::GetHealth(_) => self.health().await.map(Reply::Health),
        }
    }

    /// The endpoint in use and its head block, read at most once per [`HEALTH_CACHE_SECS`]
    /// (the lock is held while reading, so callers asking at once share one read).
    async fn health(&self) -> Result<Health, ErrorReply> {
        let mut cached = self.health.lock().await;
        if let Some((at, h)) = cached.as_ref()
            && at.elapsed().as_secs() < HEALTH_CACHE_SECS
        {
            return Ok(h.clone());
        }
        let (endpoint, _, _) = self.session().await?;
        let block = endpoint
            .provider()
            .get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
            .await
            .map_err(|e| Error::Rpc {
                step: "reading the head block",
                message: e.to_string(),
            })?
            .ok_or(Error::Rpc {
                step: "reading the head block",
                message: "the endpoint has no latest block".into(),
            })?;
        let health = Health {
            endpoint: endpoint.url.clone(),
            head: block.header.number,
            head_time: block.header.timestamp,
            switches: crate::rpc::switches(),
        };
        *cached = Some((std::time::Instant::now(), health.clone()));
        Ok(health)
    }

    async fn quote(&self, q: &Quote) -> Result<oarn_protocol::chain::Quoted, ErrorReply> {
        let from = self.signer()?.address();
        let (endpoint, found, _) = self.session().await?;
        Ok(chain::transfer::quote(&endpoint, &found, from, q).await?)
    }

    async fn transfer(
        &self,
        t: Transfer,
        pending: impl FnOnce(B256),
    ) -> Result<oarn_protocol::chain::Sent, ErrorReply> {
        self.sending(|e, n, s| async move { chain::transfer::transfer(&e, &n, s, &t, pending).await })
            .await
    }

    async fn events(
        &self,
        ev: Events,
        responder: &Responder<Protocol>,
    ) -> Result<oarn_protocol::chain::Cursor, ErrorReply> {
        let me = match ev.account {
            Some(a) => Address::from(a),
            None => self.account()?,
        };
        let (endpoint, found, chain_id, pool) = {
            let mut s = self.network.lock().await;
            let s = s.as_mut().ok_or_else(undiscovered)?;
            let endpoint = s.pool.current().await.map_err(Error::from)?.clone();
            // The follower fails over on its own pool of the same endpoints.
            let urls: Vec<String> = std::iter::once(endpoint.connect_url().to_string())
                .chain(s.found.rpc_providers.iter().cloned())
                .collect();
            (
                endpoint,
                s.found.clone(),
                s.chain_id,
                Pool::new(s.chain_id, &urls).map_err(Error::from)?,
            )
        };
        let mode = chain::events::Mode {
            confirmations: ev.confirmations,
            follow: ev.follow,
            poll_only: ev.poll_only,
            poll: std::time::Duration::from_secs(ev.poll_secs.max(1)),
        };
        let emit = |e: Event| responder.emit(e).map_err(|e| Error::Channel(e.to_string()));
        let cursor = chain::events::run(
            &found,
            pool,
            endpoint,
            chain_id,
            me,
            ev.cursor,
            mode,
            emit,
            responder.wait_cancelled(),
        )
        .await?;
        Ok(cursor)
    }
}

impl Handler<Protocol> for Worker {
    fn handle(
        &mut self,
        _id: RequestId,
        request: Request,
        cx: &mut dyn Context<Protocol>,
    ) -> Result<Reply, ErrorReply> {
        let Some(runtime) = &self.runtime else {
            return Err(ErrorReply::new(
                ErrorKind::Internal,
                "the worker's async runtime did not start",
            ));
        };
        if let Request::GetInfo(_) = request {
            return Ok(Reply::Info(Info::default()));
        }
        let responder = cx.defer();
        let state = self.state.clone();
        runtime.spawn(async move {
            let reply = state.handle(request, &responder).await;
            let _ = responder.finish(reply);
        });
        Ok(Reply::Done(()))
    }
}
