//! TaskRegistryV2 from the operator's side: list and inspect tasks, claim one, submit a
//! result hash. Reverts are decoded into the contract's reason and explained.

use std::os::fd::RawFd;

use alloy::network::{EthereumWallet, TransactionBuilder};
use alloy::primitives::{Address, B256, U256, keccak256};
use alloy::providers::DynProvider;
use alloy::providers::Provider;
use alloy::rpc::types::TransactionRequest;
use alloy::sol_types::SolCall;
use serde_json::{Value, json};

use super::Account;
use crate::account;
use crate::command::{ChainArgs, runtime};
use crate::contracts::TaskRegistryV2;
use crate::discovery;
use crate::rpc::Endpoint;
use crate::signer::Signer;
use crate::wallet::{self, io};

/// Largest result file hashed for submission.
const MAX_RESULT: usize = 256 * 1024 * 1024;
/// How long to wait for a transaction to be mined.
const RECEIPT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// Why a task operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No task with this id.
    #[error("task {0} does not exist (task ids start at 1)")]
    NoSuchTask(u64),
    /// The contract refused; the reason is explained.
    #[error("{what}: {explained}")]
    Refused {
        /// What was refused, e.g. `task 4`.
        what: String,
        /// The contract's reason and what it means.
        explained: String,
    },
    /// An RPC request failed.
    #[error("{step}: {message}")]
    Rpc {
        /// What was being done.
        step: &'static str,
        /// The error.
        message: String,
    },
    /// The result could not be read.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// What a revert reason of TaskRegistryV2 means for the operator.
pub fn explain(reason: &str) -> String {
    let meaning = match reason {
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

fn rpc(step: &'static str) -> impl FnOnce(alloy::contract::Error) -> Error {
    move |e| Error::Rpc {
        step,
        message: e.to_string(),
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

async fn task_json(registry: &TaskRegistryV2::TaskRegistryV2Instance<&DynProvider>, id: u64) -> Result<Value, Error> {
    let t = registry
        .tasks(U256::from(id))
        .call()
        .await
        .map_err(rpc("reading the task"))?;
    if t.id.is_zero() {
        return Err(Error::NoSuchTask(id));
    }
    Ok(json!({
        "id": id,
        "requester": t.requester.to_string(),
        "model_hash": t.modelHash.to_string(),
        "input_hash": t.inputHash.to_string(),
        "model_requirements": t.modelRequirements,
        "reward_per_node_wei": t.rewardPerNode.to_string(),
        "required_nodes": t.requiredNodes.to::<u64>(),
        "claimed": t.claimedCount.to::<u64>(),
        "submitted": t.submittedCount.to::<u64>(),
        "deadline": t.deadline.to::<u64>(),
        "status": STATUS.get(t.status as usize).copied().unwrap_or("unknown"),
        "consensus_type": CONSENSUS.get(t.consensusType as usize).copied().unwrap_or("unknown"),
        "created_at": t.createdAt.to::<u64>(),
        "consensus_result": t.consensusResult.to_string(),
    }))
}

pub(super) async fn connect(chain: &ChainArgs) -> Result<(discovery::Network, Endpoint), super::Error> {
    let (network, mut pool) = discovery::discover(&chain.settings()).await?;
    let endpoint = pool.current().await.map_err(discovery::Error::from)?.clone();
    Ok((network, endpoint))
}

/// `chain tasks`: the newest tasks.
pub(super) fn list(chain: &ChainArgs, last: u64, json: bool) -> Result<(), super::Error> {
    runtime()?.block_on(async {
        let (network, endpoint) = connect(chain).await?;
        let registry = TaskRegistryV2::new(network.core.task_registry_v2, endpoint.provider());
        let count = registry
            .taskCount()
            .call()
            .await
            .map_err(rpc("reading taskCount"))?
            .to::<u64>();
        let mut tasks = Vec::new();
        for id in (count.saturating_sub(last.min(1000)) + 1..=count).rev() {
            tasks.push(task_json(&registry, id).await?);
        }
        if json {
            println!("{}", json!({ "task_count": count, "tasks": tasks }));
        } else {
            println!("{count} tasks on chain {}", chain.chain_id);
            println!(
                "{:>6}  {:<10} {:>9} {:>8} {:>9}  reward/node (wei)",
                "id", "status", "required", "claimed", "submitted"
            );
            for t in &tasks {
                println!(
                    "{:>6}  {:<10} {:>9} {:>8} {:>9}  {}",
                    t["id"],
                    t["status"].as_str().unwrap_or(""),
                    t["required_nodes"],
                    t["claimed"],
                    t["submitted"],
                    t["reward_per_node_wei"].as_str().unwrap_or("")
                );
            }
        }
        Ok(())
    })
}

/// `chain task <id>`: one task, its consensus status and results.
pub(super) fn show(chain: &ChainArgs, id: u64, json: bool) -> Result<(), super::Error> {
    runtime()?.block_on(async {
        let (network, endpoint) = connect(chain).await?;
        let registry = TaskRegistryV2::new(network.core.task_registry_v2, endpoint.provider());
        let mut task = task_json(&registry, id).await?;
        let c = registry
            .getConsensusStatus(U256::from(id))
            .call()
            .await
            .map_err(rpc("reading the consensus status"))?;
        let results = registry
            .getTaskResults(U256::from(id))
            .call()
            .await
            .map_err(rpc("reading the results"))?;
        task["consensus"] = json!({
            "winning_hash": c.winningHash.to_string(), "winning_count": c.winningCount.to::<u64>(),
            "total": c.totalSubmissions.to::<u64>(), "reached": c.reached, "unique_results": c.uniqueResults.to::<u64>(),
        });
        task["results"] = results
            .iter()
            .map(|r| {
                json!({
                    "node": r.node.to_string(), "result_hash": r.resultHash.to_string(),
                    "submitted_at": r.submittedAt.to::<u64>(), "matches_consensus": r.matchesConsensus, "rewarded": r.rewarded,
                })
            })
            .collect();
        if json {
            println!("{task}");
        } else {
            println!("{}", serde_json::to_string_pretty(&task).unwrap_or_default());
        }
        Ok(())
    })
}

/// Sends `call` to `to` signed by `signer`; a revert (at estimation or on chain) is decoded
/// into [`Error::Refused`] about `what`.
pub(super) async fn transact(
    endpoint: &Endpoint,
    to: Address,
    signer: Signer,
    what: &str,
    call: impl SolCall,
) -> Result<B256, Error> {
    let provider = endpoint.signing(EthereumWallet::from(signer));
    let tx = TransactionRequest::default().with_to(to).with_input(call.abi_encode());
    let pending = match provider.send_transaction(tx).await {
        Ok(p) => p,
        Err(e) => {
            let reason = e
                .as_error_resp()
                .and_then(|p| p.as_revert_data())
                .and_then(|d| alloy::sol_types::decode_revert_reason(&d))
                .map(|r| r.strip_prefix("revert: ").map(str::to_string).unwrap_or(r));
            return Err(match reason {
                Some(reason) => Error::Refused {
                    what: what.into(),
                    explained: explain(&reason),
                },
                None => Error::Rpc {
                    step: "sending the transaction",
                    message: e.to_string(),
                },
            });
        }
    };
    let hash = *pending.tx_hash();
    let receipt = pending
        .with_timeout(Some(RECEIPT_TIMEOUT))
        .get_receipt()
        .await
        .map_err(|e| Error::Rpc {
            step: "waiting for the receipt",
            message: e.to_string(),
        })?;
    if !receipt.status() {
        return Err(Error::Refused {
            what: what.into(),
            explained: format!("transaction {hash} reverted"),
        });
    }
    Ok(hash)
}

pub(super) fn signer(account: &Account) -> Result<Signer, super::Error> {
    let (header, secret) = wallet::open_keystore(account.keystore_fd, account.passphrase_fd)?;
    Ok(account::signer(header.kind, &secret, account.index).map_err(wallet::Error::from)?)
}

/// `chain claim <id>`; the claim also goes to `out_fd` as JSON, when given (the supervisor
/// tells peers of it).
pub(super) fn claim(
    chain: &ChainArgs,
    account: &Account,
    id: u64,
    out_fd: Option<RawFd>,
    json: bool,
) -> Result<(), super::Error> {
    let signer = signer(account)?;
    let node = signer.address();
    runtime()?.block_on(async {
        let (network, endpoint) = connect(chain).await?;
        let registry = TaskRegistryV2::new(network.core.task_registry_v2, endpoint.provider());
        task_json(&registry, id).await?;
        let call = TaskRegistryV2::claimTaskCall { taskId: U256::from(id) };
        let hash = transact(
            &endpoint,
            network.core.task_registry_v2,
            signer,
            &format!("task {id}"),
            call,
        )
        .await?;
        let claimed = json!({ "task": id, "node": node.to_string(), "tx": hash.to_string() });
        if let Some(fd) = out_fd {
            io::write(fd, claimed.to_string().as_bytes(), "the claim").map_err(wallet::Error::from)?;
        }
        if json {
            println!("{claimed}");
        } else {
            println!("Claimed task {id} as {node} (transaction {hash})");
        }
        Ok(())
    })
}

/// `chain submit <id>`: keccak256 of the result bytes goes on chain.
pub(super) fn submit(
    chain: &ChainArgs,
    account: &Account,
    id: u64,
    result_fd: RawFd,
    json: bool,
) -> Result<(), super::Error> {
    let bytes = io::read_bytes(result_fd, MAX_RESULT, "the result").map_err(Error::from)?;
    let result_hash = keccak256(&bytes);
    let signer = signer(account)?;
    let node = signer.address();
    runtime()?.block_on(async {
        let (network, endpoint) = connect(chain).await?;
        let registry = TaskRegistryV2::new(network.core.task_registry_v2, endpoint.provider());
        task_json(&registry, id).await?;
        let call = TaskRegistryV2::submitResultCall {
            taskId: U256::from(id),
            resultHash: result_hash,
        };
        let hash = transact(&endpoint, network.core.task_registry_v2, signer, &format!("task {id}"), call).await?;
        if json {
            println!(
                "{}",
                json!({ "task": id, "node": node.to_string(), "result_hash": result_hash.to_string(), "tx": hash.to_string() })
            );
        } else {
            println!("Submitted result {result_hash} for task {id} (transaction {hash})");
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_reasons_are_explained() {
        assert!(explain("Already claimed").starts_with("this account has already claimed it"));
        assert!(explain("Max claims reached").contains("over-claimed"));
        assert_eq!(explain("weird"), "the contract refused: \"weird\"");
    }
}
