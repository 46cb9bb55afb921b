//! TaskRegistryV2 through frames: list and read tasks (with their consensus status and
//! results), claim one, submit a result hash, look a receipt up. A contract's refusal (a
//! revert, at estimation or on chain) comes back as its reason, as the contract gave it.

use alloy::network::{EthereumWallet, TransactionBuilder};
use alloy::primitives::{Address, B256, U256};
use alloy::providers::Provider;
use alloy::rpc::types::TransactionRequest;
use alloy::sol_types::{SolCall, SolEvent};
use oarn_protocol::chain::{NodeResult, Sent, TaskDetail, TaskList, TaskView};

use super::Error;
use crate::contracts::TaskRegistryV2;
use crate::rpc::Endpoint;
use crate::signer::Signer;

/// How long to wait for a transaction to be mined.
const RECEIPT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);
/// Most tasks one listing reads.
const MAX_LISTED: u64 = 1000;

fn rpc(step: &'static str) -> impl FnOnce(alloy::contract::Error) -> Error {
    move |e| Error::Rpc {
        step,
        message: e.to_string(),
    }
}

/// A `uint256` that should be small (counts, times): its value, saturated.
fn small(v: U256) -> u64 {
    u64::try_from(v).unwrap_or(u64::MAX)
}

async fn view(
    registry: &TaskRegistryV2::TaskRegistryV2Instance<&alloy::providers::DynProvider>,
    id: u64,
) -> Result<TaskView, Error> {
    let t = registry
        .tasks(U256::from(id))
        .call()
        .await
        .map_err(rpc("reading the task"))?;
    if t.id.is_zero() {
        return Err(Error::NoSuchTask(id));
    }
    Ok(TaskView {
        id,
        requester: t.requester.0.0,
        model_hash: t.modelHash.0,
        input_hash: t.inputHash.0,
        model_requirements: t.modelRequirements,
        reward_per_node_wei: t.rewardPerNode.to_string(),
        required_nodes: small(t.requiredNodes),
        claimed: small(t.claimedCount),
        submitted: small(t.submittedCount),
        deadline: small(t.deadline),
        status: t.status as u8,
        consensus_type: t.consensusType as u8,
        created_at: small(t.createdAt),
        consensus_result: t.consensusResult.0,
    })
}

/// The newest `last` tasks, newest first.
pub async fn list(endpoint: &Endpoint, registry: Address, last: u64) -> Result<TaskList, Error> {
    let registry = TaskRegistryV2::new(registry, endpoint.provider());
    let count = small(registry.taskCount().call().await.map_err(rpc("reading taskCount"))?);
    let mut tasks = Vec::new();
    for id in (count.saturating_sub(last.min(MAX_LISTED)) + 1..=count).rev() {
        tasks.push(view(&registry, id).await?);
    }
    Ok(TaskList {
        task_count: count,
        tasks,
    })
}

/// One task, its consensus status and results, and `me`'s part in it.
pub async fn detail(endpoint: &Endpoint, registry: Address, id: u64, me: Option<Address>) -> Result<TaskDetail, Error> {
    let registry = TaskRegistryV2::new(registry, endpoint.provider());
    let task = view(&registry, id).await?;
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
    let (mut claimed_by_us, mut submitted_by_us, mut unmined) = (None, None, None);
    if let Some(me) = me {
        use alloy::providers::Provider;
        let provider = endpoint.provider();
        let pending = provider.get_transaction_count(me).pending().await;
        let mined = provider.get_transaction_count(me).latest().await;
        let nonce = |step| {
            move |e: alloy::transports::TransportError| Error::Rpc {
                step,
                message: e.to_string(),
            }
        };
        let pending = pending.map_err(nonce("reading the account's pending nonce"))?;
        let mined = mined.map_err(nonce("reading the account's nonce"))?;
        unmined = Some(pending > mined);
        let claimed = registry.hasClaimedTask(U256::from(id), me).call().await;
        claimed_by_us = Some(claimed.map_err(rpc("reading hasClaimedTask"))?);
        let submitted = registry.hasSubmittedResult(U256::from(id), me).call().await;
        submitted_by_us = Some(submitted.map_err(rpc("reading hasSubmittedResult"))?);
    }
    let ours = me
        .and_then(|me| results.iter().find(|r| r.node == me))
        .map(|r| NodeResult {
            node: r.node.0.0,
            result_hash: r.resultHash.0,
            submitted_at: small(r.submittedAt),
            matches_consensus: r.matchesConsensus,
            rewarded: r.rewarded,
        });
    Ok(TaskDetail {
        task,
        ours,
        winning_hash: c.winningHash.0,
        winning_count: small(c.winningCount),
        total_submissions: small(c.totalSubmissions),
        reached: c.reached,
        unique_results: small(c.uniqueResults),
        results: results
            .iter()
            .map(|r| NodeResult {
                node: r.node.0.0,
                result_hash: r.resultHash.0,
                submitted_at: small(r.submittedAt),
                matches_consensus: r.matchesConsensus,
                rewarded: r.rewarded,
            })
            .collect(),
        claimed_by_us,
        submitted_by_us,
        unmined,
    })
}

/// The revert reason of a failed send, when the endpoint gave one.
fn revert_reason(e: &alloy::transports::TransportError) -> Option<String> {
    let reason = e
        .as_error_resp()
        .and_then(|p| p.as_revert_data())
        .and_then(|d| alloy::sol_types::decode_revert_reason(&d))?;
    Some(reason.strip_prefix("revert: ").map(str::to_string).unwrap_or(reason))
}

/// What a mined receipt says.
fn sent(from: Address, tx: B256, r: &alloy::rpc::types::TransactionReceipt) -> Sent {
    Sent {
        from: from.0.0,
        tx: tx.0,
        block: r.block_number.unwrap_or_default(),
        gas_used: r.gas_used,
        effective_gas_price: r.effective_gas_price,
        // On Arbitrum gasUsed already includes the L1 part, so gas_used × price is the whole
        // fee; the split (gasUsedForL1) is in Arbitrum's own receipt fields, which this
        // Ethereum-typed provider does not read.
        l1_gas: None,
        wait_ms: 0,
    }
}

/// Sends `tx` signed by `signer` and waits for it to be mined; `pending` hears its hash as
/// soon as it is sent. A revert, at estimation or on chain, is [`Error::Refused`].
pub async fn send(
    endpoint: &Endpoint,
    signer: Signer,
    tx: TransactionRequest,
    pending: impl FnOnce(B256),
) -> Result<Sent, Error> {
    let from = signer.address();
    let provider = endpoint.signing(EthereumWallet::from(signer));
    let sending = match provider.send_transaction(tx).await {
        Ok(p) => p,
        Err(e) => {
            return Err(match revert_reason(&e) {
                Some(reason) => Error::Refused(reason),
                None => Error::Rpc {
                    step: "sending the transaction",
                    message: e.to_string(),
                },
            });
        }
    };
    let hash = *sending.tx_hash();
    pending(hash);
    let broadcast = std::time::Instant::now();
    let receipt = sending
        .with_timeout(Some(RECEIPT_TIMEOUT))
        .get_receipt()
        .await
        .map_err(|e| Error::Rpc {
            step: "waiting for the receipt",
            message: e.to_string(),
        })?;
    if !receipt.status() {
        return Err(Error::Refused(format!("transaction {hash} reverted")));
    }
    Ok(Sent {
        wait_ms: u64::try_from(broadcast.elapsed().as_millis()).unwrap_or(u64::MAX),
        ..sent(from, hash, &receipt)
    })
}

/// Sends `call` to `to`, signed by `signer`.
pub async fn transact(
    endpoint: &Endpoint,
    to: Address,
    signer: Signer,
    call: impl SolCall,
    pending: impl FnOnce(B256),
) -> Result<Sent, Error> {
    let tx = TransactionRequest::default().with_to(to).with_input(call.abi_encode());
    send(endpoint, signer, tx, pending).await
}

/// Claims task `id`.
pub async fn claim(
    endpoint: &Endpoint,
    registry: Address,
    signer: Signer,
    id: u64,
    pending: impl FnOnce(B256),
) -> Result<Sent, Error> {
    view(&TaskRegistryV2::new(registry, endpoint.provider()), id).await?;
    let call = TaskRegistryV2::claimTaskCall { taskId: U256::from(id) };
    transact(endpoint, registry, signer, call, pending).await
}

/// Submits `result_hash` for task `id`.
pub async fn submit(
    endpoint: &Endpoint,
    registry: Address,
    signer: Signer,
    id: u64,
    result_hash: [u8; 32],
    pending: impl FnOnce(B256),
) -> Result<Sent, Error> {
    let task = view(&TaskRegistryV2::new(registry, endpoint.provider()), id).await?;
    let call = TaskRegistryV2::submitResultCall {
        taskId: U256::from(id),
        resultHash: B256::from(result_hash),
    };
    let tx = TransactionRequest::default()
        .with_to(registry)
        .with_input(call.abi_encode());
    let estimate = endpoint
        .provider()
        .estimate_gas(tx.clone().with_from(signer.address()))
        .await
        .map_err(|e| match revert_reason(&e) {
            Some(reason) => Error::Refused(reason),
            None => Error::Rpc {
                step: "estimating the submission's gas",
                message: e.to_string(),
            },
        })?;
    let limit = estimate.saturating_add(consensus_gas(task.required_nodes));
    send(endpoint, signer, tx.with_gas_limit(limit), pending).await
}

/// Gas a submission may need beyond its estimate, for `required` nodes: the submission that
/// completes the results runs the consensus (every result compared with every other) and pays
/// every matching node. Whether this one completes them is known only when it is mined (the
/// other nodes submit at the same time), so every submission carries the room; gas not used
/// is not paid.
///
/// Regression: a submission estimated while another node's was still pending became the
/// last one when mined, ran out of gas in the consensus and reverted; the task then waited
/// for a result that never came, and the other nodes' rewards with it.
pub fn consensus_gas(required: u64) -> u64 {
    // Per node: its result read (cold), two flags written, the payment and its event. Per
    // pair: a warm read of a result in the comparison. Plus the consensus's own writes.
    const PER_NODE: u64 = 60_000;
    const PER_PAIR: u64 = 200;
    const BASE: u64 = 100_000;
    let n = required.min(1_000);
    BASE + PER_NODE * n + PER_PAIR * n * n
}

/// Submits a task as a requester, paying its rewards; its id is read from the receipt's
/// `TaskCreated` log.
pub async fn create(
    endpoint: &Endpoint,
    registry: Address,
    signer: Signer,
    t: &oarn_protocol::chain::CreateTask,
    pending: impl FnOnce(B256),
) -> Result<oarn_protocol::chain::Created, Error> {
    let bad = |m: String| Error::Invalid(m);
    let reward: U256 = t
        .reward_per_node_wei
        .parse()
        .map_err(|_| bad(format!("{:?} is not an amount of wei", t.reward_per_node_wei)))?;
    if !(3..=100).contains(&t.required_nodes) {
        return Err(bad(format!("required nodes {} is outside 3..=100", t.required_nodes)));
    }
    let value = reward
        .checked_mul(U256::from(t.required_nodes))
        .ok_or_else(|| bad("the rewards overflow".into()))?;
    let call = TaskRegistryV2::submitTask_1Call {
        modelHash: B256::from(t.model_hash),
        inputHash: B256::from(t.input_hash),
        modelRequirements: t.model_requirements.clone(),
        rewardPerNode: reward,
        requiredNodes: U256::from(t.required_nodes),
        deadline: U256::from(t.deadline),
    };
    let tx = TransactionRequest::default()
        .with_to(registry)
        .with_input(call.abi_encode())
        .with_value(value);
    let sent = send(endpoint, signer, tx, pending).await?;
    let receipt = endpoint
        .provider()
        .get_transaction_receipt(B256::from(sent.tx))
        .await
        .map_err(|e| Error::Rpc {
            step: "reading the receipt",
            message: e.to_string(),
        })?;
    let id = receipt
        .iter()
        .flat_map(|r| r.inner.logs())
        .filter(|l| l.address() == registry)
        .find_map(|l| TaskRegistryV2::TaskCreated::decode_log_data(l.data()).ok())
        .map(|e| small(e.taskId))
        .ok_or_else(|| Error::Rpc {
            step: "reading the new task's id",
            message: "the receipt has no TaskCreated event".into(),
        })?;
    Ok(oarn_protocol::chain::Created { id, sent })
}

/// The receipt of `tx`, `None` while it is not mined.
pub async fn receipt(endpoint: &Endpoint, tx: [u8; 32]) -> Result<Option<Sent>, Error> {
    let hash = B256::from(tx);
    let p = endpoint.provider();
    let Some(r) = p.get_transaction_receipt(hash).await.map_err(|e| Error::Rpc {
        step: "reading the receipt",
        message: e.to_string(),
    })?
    else {
        return Ok(None);
    };
    Ok(Some(sent(r.from, hash, &r)))
}
