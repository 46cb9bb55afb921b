//! The chain side's methods, through the node's chain worker and the key it holds
//! ([`crate::chain`]): unlocking, task reads, claims (negotiated with peers first), results,
//! balances, transfers, validator registration, discovery and events (streamed).

use oarn_api::chain::{
    Balance, Claim, Claimed, Cursor, Discover, Discovered, EventNote, Events, GetBalance, ListTasks, Negotiation,
    Quote, Quoted, ReadTask, RegisterValidator, Registered, Submit, Submitted, TaskDetail, TaskList, Transfer,
    Transferred, Unlock,
};
use oarn_api::net::{Claims, GetTasks};
use oarn_api::node::WalletState;
use oarn_api::rpc::Error;
use oarn_api::{Address, TaskId};
use oarn_protocol::WorkerKind;
use tokio::sync::{mpsc, oneshot};

use super::errors;
use crate::chain::{Chain, ChainError};
use crate::passphrase::Passphrase;
use crate::state::Node;

fn chain(node: &Node) -> Result<&Chain, Error> {
    node.chain.as_ref().ok_or_else(|| errors::absent(WorkerKind::Chain))
}

fn rpc(e: ChainError) -> Error {
    e.rpc()
}

pub async fn unlock(node: &Node, p: Unlock) -> Result<WalletState, Error> {
    let chain = chain(node)?;
    if p.index != chain.index {
        return Err(errors::invalid(format!(
            "this node signs as account {}; restart it with `oarn start --index {}` to sign as account {}",
            chain.index, p.index, p.index
        )));
    }
    let passphrase = Passphrase::from_text(&p.passphrase);
    drop(p);
    let account = chain.unlock(passphrase).await.map_err(rpc)?;
    tracing::info!(account = %account.checksummed(), index = chain.index, "wallet unlocked through the API");
    let state = WalletState {
        present: true,
        account: Some(account),
        index: chain.index,
        locked: None,
    };
    crate::discovery::hold(&node.wallet, chain, state.clone());
    Ok(state)
}

pub async fn tasks(node: &Node, p: ListTasks) -> Result<TaskList, Error> {
    chain(node)?.tasks(p.last).await.map_err(rpc)
}

pub async fn task(node: &Node, p: ReadTask) -> Result<TaskDetail, Error> {
    chain(node)?.task(p.id.0).await.map_err(rpc)
}

/// What the node's peers know of task `id`: claims heard of, and (from its announcement) how
/// many it allows. Advice only: the chain stays the authority.
async fn negotiate(node: &Node, id: u64) -> Option<Negotiation> {
    let asked = Claims {
        task_id: TaskId(id),
        record: None,
    };
    let known = super::net::claims(node, asked).await.ok()?.claimers.len() as u64;
    // The contract allows twice the required nodes to claim.
    let allowed = super::net::tasks(node, GetTasks {})
        .await
        .ok()?
        .tasks
        .iter()
        .find(|t| t.id == id)
        .map(|t| 2 * u64::from(t.required_nodes));
    Some(Negotiation {
        known,
        allowed,
        told: None,
    })
}

pub async fn claim(node: &Node, p: Claim) -> Result<Claimed, Error> {
    let chain = chain(node)?;
    let id = p.task_id.0;
    let mut peers = negotiate(node, id).await;
    if let Some(Negotiation {
        known,
        allowed: Some(allowed),
        ..
    }) = peers
        && known >= allowed
        && !p.force
    {
        return Err(rpc(ChainError::HeldBack {
            task: id,
            known,
            allowed,
        }));
    }
    let mut claimed = chain.claim(id).await.map_err(rpc)?;
    if let Some(peers) = &mut peers {
        let told = Claims {
            task_id: p.task_id,
            record: claimed.node.parse::<Address>().ok(),
        };
        peers.told = super::net::claims(node, told).await.ok().map(|c| c.peers_answered);
    }
    claimed.peers = peers;
    Ok(claimed)
}

pub async fn submit(node: &Node, p: Submit) -> Result<Submitted, Error> {
    chain(node)?.submit(p.task_id.0, p.result_hash.0).await.map_err(rpc)
}

pub async fn balance(node: &Node, _: GetBalance) -> Result<Balance, Error> {
    chain(node)?.balance(None).await.map_err(rpc)
}

pub async fn quote(node: &Node, p: Quote) -> Result<Quoted, Error> {
    chain(node)?.quote(&p).await.map_err(rpc)
}

pub async fn transfer(node: &Node, p: Transfer) -> Result<Transferred, Error> {
    chain(node)?.transfer(&p).await.map_err(rpc)
}

pub async fn register_validator(node: &Node, p: RegisterValidator) -> Result<Registered, Error> {
    chain(node)?.register(&p.endpoint, p.stake).await.map_err(rpc)
}

pub async fn discover(node: &Node, _: Discover) -> Result<Discovered, Error> {
    chain(node)?.discover(&node.config()).await.map_err(rpc)
}

pub async fn events(
    node: &Node,
    p: Events,
    notes: mpsc::Sender<EventNote>,
    cancel: oneshot::Receiver<()>,
) -> Result<Cursor, Error> {
    let cancel = async {
        let _ = cancel.await;
    };
    chain(node)?.events(&p, notes, cancel).await.map_err(rpc)
}
