//! The node's chain side, through the chain worker's frames: task and consensus reads,
//! claims, submissions, balances, transfers, validator registration, events, discovery and
//! unlocking the key. The daemon's API and the `oarn` command (with a chain worker of its own
//! when no node runs) both go through here, and get the API's types back.
//!
//! What the worker hands back came from an RPC endpoint: it is shaped here (checksummed
//! addresses, status names, whole units) and its text is cleaned before anyone shows it.

use std::future::Future;

use oarn_api::chain as api;
use oarn_api::rpc::{Code, Error as RpcError};
use oarn_api::{Address, Hash32};
use oarn_config::Config;
use oarn_config::home::Home;
use oarn_protocol::WorkerKind;
use oarn_protocol::chain::{self, Unlocked};
use oarn_protocol::envelope::{Call, ErrorKind};
use oarn_supervise::{CallError, Handle, Supervisor, alone};
use tokio::sync::mpsc;

use crate::passphrase::Passphrase;

/// Why a chain operation did not happen; nothing was spent unless it says so.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The chain cannot be reached: no worker, no network discovered yet, no endpoint.
    #[error("{0}")]
    Unreachable(String),
    /// No signing key is held.
    #[error("the wallet is locked: {0}")]
    Locked(String),
    /// The passphrase does not open the keystore.
    #[error("wrong passphrase; nothing was changed")]
    WrongPassphrase,
    /// The keystore is missing, modified, truncated or damaged.
    #[error("{0}")]
    Keystore(String),
    /// The keystore has no such account.
    #[error("{0}")]
    NoSuchAccount(String),
    /// No task with that id.
    #[error("task {0} does not exist (task ids start at 1)")]
    NoSuchTask(u64),
    /// The contract refused.
    #[error("{what}: {explained}")]
    Refused { what: String, explained: String },
    /// Peers know the task to be fully claimed; nothing was sent.
    #[error(
        "peers know of {known} claim(s) of task {task} (it allows {allowed}): it is fully claimed as far as they \
         know, so a claim now would most likely be refused or come too late; nothing was sent. Use --force to \
         claim anyway."
    )]
    HeldBack { task: u64, known: u64, allowed: u64 },
    /// The account cannot pay for it; nothing was sent.
    #[error("{0}")]
    InsufficientFunds(String),
    /// The request is unusable.
    #[error("{0}")]
    Invalid(String),
    /// Anything else.
    #[error("{0}")]
    Failed(String),
}

impl ChainError {
    /// The `data.kind` of the error on the local API, so a client tells them apart.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Unreachable(_) => "unreachable",
            Self::Locked(_) => "locked",
            Self::WrongPassphrase => "wrong-passphrase",
            Self::Keystore(_) => "keystore",
            Self::NoSuchAccount(_) => "no-such-account",
            Self::NoSuchTask(_) => "no-such-task",
            Self::Refused { .. } => "refused",
            Self::HeldBack { .. } => "held-back",
            Self::InsufficientFunds(_) => "insufficient-funds",
            Self::Invalid(_) => "invalid",
            Self::Failed(_) => "failed",
        }
    }

    /// The error as the local API answers it.
    pub fn rpc(&self) -> RpcError {
        let code = match self {
            Self::Unreachable(_) => Code::NoProviders,
            Self::Locked(_) => Code::Locked,
            Self::NoSuchTask(_) => Code::NotFound,
            Self::Refused { .. } | Self::HeldBack { .. } | Self::InsufficientFunds(_) | Self::WrongPassphrase => {
                Code::Refused
            }
            Self::Invalid(_) | Self::NoSuchAccount(_) => Code::InvalidParams,
            Self::Keystore(_) | Self::Failed(_) => Code::InternalError,
        };
        let task = match self {
            Self::NoSuchTask(id) | Self::HeldBack { task: id, .. } => Some(*id),
            _ => None,
        };
        RpcError::new(code, self.to_string()).with_data(serde_json::json!({ "kind": self.kind(), "task": task }))
    }
}

/// What a revert reason of TaskRegistryV2 means for the operator.
pub fn explain(reason: &str) -> String {
    let reason = oarn_protocol::text::clean(reason);
    let meaning = match reason.as_str() {
        "Already claimed" => "this account has already claimed it",
        "Task expired" => "its deadline has passed",
        "Max claims reached" => "it already has twice its required nodes claiming it (over-claimed)",
        "Not claimed" => "claim it before submitting a result",
        "Already submitted" => "this account has already submitted a result",
        "Task not open" | "Task not active" => "it is no longer accepting work",
        "Task not found" => "it does not exist",
        _ => "",
    };
    if meaning.is_empty() {
        format!("the contract refused: {reason:?}")
    } else {
        format!("{meaning} (contract: {reason:?})")
    }
}

/// A call that failed, as a [`ChainError`]; `what` names what was refused.
fn failed(e: CallError, what: &str) -> ChainError {
    match e {
        CallError::Worker(_, r) => match r.kind {
            ErrorKind::Refused => ChainError::Refused {
                what: what.into(),
                explained: explain(&r.message),
            },
            ErrorKind::Locked => ChainError::Locked(oarn_protocol::text::clean(&r.message)),
            ErrorKind::Busy => ChainError::Unreachable(oarn_protocol::text::clean(&r.message)),
            ErrorKind::InvalidRequest => ChainError::Invalid(oarn_protocol::text::clean(&r.message)),
            _ => ChainError::Failed(oarn_protocol::text::clean(&r.message)),
        },
        CallError::NotRunning(_) | CallError::Lost(_) => ChainError::Unreachable(e.to_string()),
        e => ChainError::Failed(e.to_string()),
    }
}

const STATUS: [&str; 7] = [
    "pending",
    "active",
    "consensus",
    "completed",
    "disputed",
    "cancelled",
    "expired",
];
const CONSENSUS: [&str; 3] = ["majority", "super-majority", "unanimous"];

fn account(a: [u8; 20]) -> String {
    Address(a).checksummed()
}

/// Whole units of an 18-decimal amount given as decimal wei ("1.5", "1000"); exact for any
/// size. Text that is not digits (an endpoint's nonsense) shows as it is, cleaned.
pub fn units(wei: &str) -> String {
    if wei.is_empty() || !wei.bytes().all(|b| b.is_ascii_digit()) {
        return oarn_protocol::text::clean(wei);
    }
    let digits = format!("{wei:0>19}");
    let (whole, frac) = digits.split_at(digits.len() - 18);
    let whole = whole.trim_start_matches('0');
    let whole = if whole.is_empty() { "0" } else { whole };
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() {
        whole.to_string()
    } else {
        format!("{whole}.{frac}")
    }
}

/// The decimal wei text of a `u128`.
fn wei(n: u128) -> String {
    n.to_string()
}

fn task(t: chain::TaskView) -> api::Task {
    api::Task {
        id: t.id,
        requester: account(t.requester),
        model_hash: Hash32(t.model_hash),
        input_hash: Hash32(t.input_hash),
        model_requirements: t.model_requirements,
        reward_per_node_wei: t.reward_per_node_wei,
        required_nodes: t.required_nodes,
        claimed: t.claimed,
        submitted: t.submitted,
        deadline: t.deadline,
        status: STATUS.get(usize::from(t.status)).copied().unwrap_or("unknown").into(),
        consensus_type: CONSENSUS
            .get(usize::from(t.consensus_type))
            .copied()
            .unwrap_or("unknown")
            .into(),
        created_at: t.created_at,
        consensus_result: Hash32(t.consensus_result),
    }
}

fn event(e: chain::ChainEvent) -> api::ChainEvent {
    use chain::EventKind as K;
    let kind = match e.kind {
        K::TaskCreated {
            task,
            requester,
            model_hash,
            reward_per_node_wei,
            required_nodes,
            ours,
        } => api::EventKind::TaskCreated {
            task,
            requester: account(requester),
            model_hash: Hash32(model_hash),
            reward_per_node_wei,
            required_nodes,
            ours,
        },
        K::TaskClaimed { task } => api::EventKind::TaskClaimed { task },
        K::ResultSubmitted { task, result_hash } => api::EventKind::ResultSubmitted {
            task,
            result_hash: Hash32(result_hash),
        },
        K::RewardDistributed {
            task,
            amount_wei,
            matched_consensus,
        } => api::EventKind::RewardDistributed {
            task,
            amount_wei,
            matched_consensus,
        },
        K::ConsensusReached {
            task,
            consensus_hash,
            agreeing,
            total_nodes,
        } => api::EventKind::ConsensusReached {
            task,
            consensus_hash: Hash32(consensus_hash),
            agreeing,
            total: total_nodes,
        },
        K::ConsensusDisputed { task, unique_results } => api::EventKind::ConsensusDisputed { task, unique_results },
        K::TokenReceived {
            token,
            from,
            amount_wei,
        } => api::EventKind::TokenReceived {
            token: account(token),
            from: account(from),
            amount_wei,
        },
    };
    api::ChainEvent {
        kind,
        block: e.block,
        log_index: e.log_index,
        tx: Hash32(e.tx),
    }
}

fn cursor_out(c: chain::Cursor) -> api::Cursor {
    api::Cursor {
        chain_id: c.chain_id,
        task_registry_v2: account(c.task_registry_v2),
        block: c.block,
    }
}

fn cursor_in(c: &api::Cursor) -> Option<chain::Cursor> {
    Some(chain::Cursor {
        chain_id: c.chain_id,
        task_registry_v2: oarn_protocol::hex::decode(&c.task_registry_v2)?,
        block: c.block,
    })
}

fn token(t: api::Token) -> chain::Token {
    match t {
        api::Token::Eth => chain::Token::Eth,
        api::Token::Comp => chain::Token::Comp,
        api::Token::Gov => chain::Token::Gov,
    }
}

/// Largest keystore read (the worker refuses larger ones anyway).
const MAX_KEYSTORE: u64 = 16 * 1024;

/// The keystore's bytes, bounded, for the worker to parse.
async fn read_keystore(path: &std::path::Path) -> Result<Vec<u8>, ChainError> {
    use tokio::io::AsyncReadExt;
    let missing = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::NotFound => ChainError::Keystore(format!(
            "no wallet at {}: create one with `oarn wallet create` or import one with `oarn wallet import`",
            path.display()
        )),
        _ => ChainError::Keystore(format!("cannot read the keystore {}: {e}", path.display())),
    };
    let file = tokio::fs::File::open(path).await.map_err(missing)?;
    let mut bytes = Vec::new();
    file.take(MAX_KEYSTORE + 1)
        .read_to_end(&mut bytes)
        .await
        .map_err(missing)?;
    if bytes.len() as u64 > MAX_KEYSTORE {
        return Err(ChainError::Keystore(format!(
            "{} is larger than any keystore; it is not one",
            path.display()
        )));
    }
    Ok(bytes)
}

/// The chain worker of a node home, signing as account `index` once unlocked.
#[derive(Debug, Clone)]
pub struct Chain {
    pub handle: Handle<chain::Protocol>,
    pub home: Home,
    pub chain_id: u64,
    pub index: u32,
}

impl Chain {
    async fn call<C: Call<Protocol = chain::Protocol>>(&self, request: C, what: &str) -> Result<C::Reply, ChainError> {
        self.handle.call(request).await.map_err(|e| failed(e, what))
    }

    /// Runs `f` holding the node home's transaction lock, so no other command of this home
    /// signs at the same time (nonces).
    pub(crate) async fn signing<T>(&self, f: impl Future<Output = Result<T, ChainError>>) -> Result<T, ChainError> {
        let root = self.home.root().to_path_buf();
        let lock = tokio::task::spawn_blocking(move || crate::wallet::TxLock::acquire(&root))
            .await
            .map_err(|e| ChainError::Failed(e.to_string()))?
            .map_err(|e| ChainError::Failed(format!("cannot take the transaction lock: {e}")))?;
        let out = f.await;
        drop(lock);
        out
    }

    /// Discovery from `config`, now.
    pub async fn discover(&self, config: &Config) -> Result<api::Discovered, ChainError> {
        let n = self
            .handle
            .call(crate::discovery::request(config))
            .await
            .map_err(|e| match e {
                CallError::Worker(_, r) => ChainError::Unreachable(oarn_protocol::text::clean(&r.message)),
                e => ChainError::Unreachable(e.to_string()),
            })?;
        Ok(api::Discovered {
            chain_id: n.chain_id,
            registry: account(n.registry),
            core: api::Core {
                task_registry: account(n.task_registry),
                task_registry_v2: account(n.task_registry_v2),
                token_reward: account(n.token_reward),
                validator_registry: account(n.validator_registry),
                governance: account(n.governance),
                gov_token: account(n.gov_token),
            },
            rpc_providers: n.rpc_providers,
            bootstrap: n
                .bootstrap
                .into_iter()
                .map(|(peer_id, multiaddr)| oarn_api::node::Bootstrap { peer_id, multiaddr })
                .collect(),
            validators: n.validators,
            endpoint: n.endpoint,
            head: n.head,
        })
    }

    /// Unlocks the key of account `self.index` with `passphrase` (wiped once sent).
    pub async fn unlock(&self, passphrase: Passphrase) -> Result<Address, ChainError> {
        let keystore = read_keystore(&self.home.keystore()).await?;
        let request = chain::Unlock {
            keystore,
            passphrase: passphrase.expose().to_vec(),
            index: self.index,
        };
        drop(passphrase);
        match self.call(request, "unlocking the wallet").await? {
            Unlocked::Account(a) => Ok(Address(a)),
            Unlocked::WrongPassphrase => Err(ChainError::WrongPassphrase),
            Unlocked::Damaged(why) => Err(ChainError::Keystore(oarn_protocol::text::clean(&why))),
            Unlocked::NoSuchAccount(why) => Err(ChainError::NoSuchAccount(oarn_protocol::text::clean(&why))),
        }
    }

    pub async fn tasks(&self, last: u64) -> Result<api::TaskList, ChainError> {
        let list = self.call(chain::ListTasks { last }, "listing tasks").await?;
        Ok(api::TaskList {
            task_count: list.task_count,
            tasks: list.tasks.into_iter().map(task).collect(),
        })
    }

    pub async fn task(&self, id: u64) -> Result<api::TaskDetail, ChainError> {
        let d = self
            .handle
            .call(chain::ReadTask { id })
            .await
            .map_err(|e| match e.kind() {
                Some(ErrorKind::NotFound) => ChainError::NoSuchTask(id),
                _ => failed(e, &format!("task {id}")),
            })?;
        Ok(api::TaskDetail {
            task: task(d.task),
            consensus: api::Consensus {
                winning_hash: Hash32(d.winning_hash),
                winning_count: d.winning_count,
                total: d.total_submissions,
                reached: d.reached,
                unique_results: d.unique_results,
            },
            results: d
                .results
                .into_iter()
                .map(|r| api::NodeResult {
                    node: account(r.node),
                    result_hash: Hash32(r.result_hash),
                    submitted_at: r.submitted_at,
                    matches_consensus: r.matches_consensus,
                    rewarded: r.rewarded,
                })
                .collect(),
            claimed_by_us: d.claimed_by_us,
            submitted_by_us: d.submitted_by_us,
        })
    }

    fn task_error(id: u64) -> impl Fn(CallError) -> ChainError {
        move |e| match e.kind() {
            Some(ErrorKind::NotFound) => ChainError::NoSuchTask(id),
            _ => failed(e, &format!("task {id}")),
        }
    }

    /// Claims task `id` (no negotiation: see the API's `oarn_claim` for that).
    pub async fn claim(&self, id: u64) -> Result<api::Claimed, ChainError> {
        let sent = self
            .signing(async {
                self.handle
                    .call(chain::Claim { id })
                    .await
                    .map_err(Self::task_error(id))
            })
            .await?;
        Ok(api::Claimed {
            task: id,
            node: account(sent.from),
            tx: Hash32(sent.tx),
            peers: None,
        })
    }

    /// Submits `result_hash` for task `id`.
    pub async fn submit(&self, id: u64, result_hash: [u8; 32]) -> Result<api::Submitted, ChainError> {
        let sent = self
            .signing(async {
                self.handle
                    .call(chain::Submit { id, result_hash })
                    .await
                    .map_err(Self::task_error(id))
            })
            .await?;
        Ok(api::Submitted {
            task: id,
            node: account(sent.from),
            result_hash: Hash32(result_hash),
            tx: Hash32(sent.tx),
        })
    }

    /// What the held key's account (or `of`) holds.
    pub async fn balance(&self, of: Option<[u8; 20]>) -> Result<api::Balance, ChainError> {
        let h = self.call(chain::Balances { account: of }, "reading balances").await?;
        Ok(api::Balance {
            address: account(h.account),
            index: self.index,
            chain_id: self.chain_id,
            eth: units(&h.eth),
            comp: units(&h.comp),
            gov: units(&h.gov),
            wei: api::Amounts {
                eth: h.eth,
                comp: h.comp,
                gov: h.gov,
            },
            tokens: api::Tokens {
                comp: account(h.comp_token),
                gov: account(h.gov_token),
            },
        })
    }

    fn quote_request(q: &api::Quote) -> chain::Quote {
        chain::Quote {
            to: q.to.0,
            amount: q.amount.clone(),
            token: token(q.token),
        }
    }

    /// What a transfer would take; refused when the account cannot pay for it.
    pub async fn quote(&self, q: &api::Quote) -> Result<api::Quoted, ChainError> {
        let quoted = self.call(Self::quote_request(q), "quoting the transfer").await?;
        if let Some(short) = quoted.insufficient {
            return Err(ChainError::InsufficientFunds(oarn_protocol::text::clean(&short)));
        }
        Ok(api::Quoted {
            from: account(quoted.from),
            to: q.to.checksummed(),
            token: q.token,
            amount: units(&quoted.value_wei),
            chain_id: self.chain_id,
            gas: quoted.gas,
            max_fee_per_gas: quoted.max_fee_per_gas,
            max_priority_fee_per_gas: quoted.max_priority_fee_per_gas,
            max_fee_eth: units(&quoted.max_fee_wei),
            l1_gas: quoted.l1_gas,
        })
    }

    /// Sends the transfer the operator agreed to.
    pub async fn transfer(&self, t: &api::Transfer) -> Result<api::Transferred, ChainError> {
        let quote = api::Quote {
            to: t.to,
            amount: t.amount.clone(),
            token: t.token,
        };
        let request = chain::Transfer {
            quote: Self::quote_request(&quote),
            gas: t.gas,
            max_fee_per_gas: t.max_fee_per_gas,
            max_priority_fee_per_gas: t.max_priority_fee_per_gas,
        };
        let sent = self
            .signing(async {
                self.handle.call(request).await.map_err(|e| match e.kind() {
                    Some(ErrorKind::InvalidRequest) if e.to_string().contains("insufficient funds") => {
                        ChainError::InsufficientFunds(e.to_string())
                    }
                    _ => failed(e, "the transfer"),
                })
            })
            .await?;
        let fee = u128::from(sent.gas_used).saturating_mul(sent.effective_gas_price);
        Ok(api::Transferred {
            hash: Hash32(sent.tx),
            from: account(sent.from),
            to: t.to.checksummed(),
            token: token(t.token).symbol().into(),
            amount: t.amount.clone(),
            block: sent.block,
            gas_used: sent.gas_used,
            fee_eth: units(&wei(fee)),
            status: "success".into(),
        })
    }

    /// Registers the held key as a premium node.
    pub async fn register(&self, endpoint: &str, stake: Option<String>) -> Result<api::Registered, ChainError> {
        let request = chain::RegisterValidator {
            endpoint: endpoint.into(),
            stake,
        };
        let sent = self
            .signing(async {
                self.handle
                    .call(request)
                    .await
                    .map_err(|e| failed(e, "registering as a validator"))
            })
            .await?;
        Ok(api::Registered {
            node: account(sent.sent.from),
            endpoint: endpoint.into(),
            stake_gov: units(&sent.stake_wei),
            tx: Hash32(sent.sent.tx),
        })
    }

    /// The account's events, each sent to `notes` as it comes (a slow reader slows the scan
    /// down; nothing is dropped); `cancel` ends a follow. The result is the last cursor.
    pub async fn events(
        &self,
        e: &api::Events,
        notes: mpsc::Sender<api::EventNote>,
        cancel: impl Future<Output = ()>,
    ) -> Result<api::Cursor, ChainError> {
        let request = chain::Events {
            account: None,
            cursor: e.cursor.as_ref().and_then(cursor_in),
            confirmations: e.confirmations,
            follow: e.follow,
            poll_only: e.poll_only,
            poll_secs: e.poll_secs,
        };
        let (tx, mut rx) = mpsc::channel(256);
        let call = self.handle.stream_cancellable(request, Some(tx), cancel);
        tokio::pin!(call);
        let done = loop {
            tokio::select! {
                done = &mut call => break done,
                Some(ev) = rx.recv() => {
                    if let Some(n) = note(ev) {
                        let _ = notes.send(n).await;
                    }
                }
            }
        };
        while let Ok(ev) = rx.try_recv() {
            if let Some(n) = note(ev) {
                let _ = notes.send(n).await;
            }
        }
        Ok(cursor_out(done.map_err(|e| failed(e, "reading events"))?))
    }
}

/// What the worker streamed, as the API's notification (a pending hash is not one).
fn note(ev: chain::Event) -> Option<api::EventNote> {
    Some(match ev {
        chain::Event::Chain(c) => api::EventNote::Event(event(c)),
        chain::Event::Scanned {
            from_block,
            head,
            cursor,
        } => api::EventNote::Scanned {
            from_block,
            head,
            cursor: cursor_out(cursor),
        },
        chain::Event::Following { how, endpoint } => api::EventNote::Following {
            how: oarn_protocol::text::clean(&how),
            endpoint: oarn_protocol::text::clean(&endpoint),
        },
        chain::Event::Progress(_) | chain::Event::Pending { .. } => return None,
    })
}

/// A chain worker of one command's own, when no node runs: started, pointed at the network
/// (discovery from `config`), and unlocked when a passphrase is given.
#[derive(Debug)]
pub struct Own {
    supervisor: Supervisor,
    pub chain: Chain,
    /// What discovery found.
    pub found: api::Discovered,
}

impl Own {
    pub async fn start(config: &Config, home: &Home, index: u32) -> Result<Self, ChainError> {
        let supervisor = alone::start(config, home, WorkerKind::Chain)
            .await
            .map_err(|e| ChainError::Failed(format!("the chain worker did not start: {e}")))?;
        let handle = supervisor
            .workers()
            .chain
            .clone()
            .expect("started with the chain worker");
        let chain = Chain {
            handle,
            home: home.clone(),
            chain_id: config.blockchain.chain_id,
            index,
        };
        match chain.discover(config).await {
            Ok(found) => Ok(Self {
                supervisor,
                chain,
                found,
            }),
            Err(e) => {
                supervisor.shutdown().await;
                Err(e)
            }
        }
    }

    /// Stops the worker (its key wiped with it).
    pub async fn stop(self) {
        self.supervisor.shutdown().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wei_reads_as_whole_units_exactly() {
        assert_eq!(units("0"), "0");
        assert_eq!(units("1250000000000000000"), "1.25");
        assert_eq!(units("1000000000000000000000"), "1000");
        assert_eq!(units("1"), "0.000000000000000001");
        assert_eq!(
            units("115792089237316195423570985008687907853269984665640564039457584007913129639935").len(),
            79
        );
        assert_eq!(units("12e3\u{1b}"), "12e3");
    }

    #[test]
    fn known_reasons_are_explained_and_others_quoted_clean() {
        assert!(explain("Already claimed").starts_with("this account has already claimed it"));
        assert!(explain("Max claims reached").contains("over-claimed"));
        assert_eq!(explain("weird\u{1b}[2J"), "the contract refused: \"weird[2J\"");
    }
}
