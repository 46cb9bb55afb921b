//! The task pipeline: what the node sees and works on (`oarn task list|status|claim|history`),
//! and for requesters `oarn_submitTask` and `oarn_getResult`, the live network's node API
//! methods (answered "No providers" until the requester side is built).

use serde::{Deserialize, Serialize};

use crate::{Hash32, TaskId, method};

/// `oarn_taskList`: the tasks this node has seen, newest first, each with whether it takes it
/// and why not.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ListTasks {
    /// At most this many (default 100).
    #[serde(default)]
    pub limit: Option<u32>,
}
method!(ListTasks, "oarn_taskList", TaskList);

/// The tasks seen.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskList {
    /// Whether the pipeline runs, and claims on its own.
    pub pipeline: Pipeline,
    pub tasks: Vec<TaskRow>,
}

/// Whether the node works on tasks.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pipeline {
    pub running: bool,
    /// Claims on its own (`compute.auto_claim`, and the wallet unlocked).
    pub auto_claim: bool,
    /// Why not, when it does not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why_not: Option<String>,
    pub max_concurrent_tasks: u32,
}

/// One task as the node sees it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskRow {
    pub id: TaskId,
    /// discovered, validated, claiming, claimed, input_fetched, model_ready, executed,
    /// result_uploaded, submitting, submitted, settled, failed, skipped.
    pub stage: String,
    /// Where it was first seen: routed, gossip, chain, scan, operator.
    pub source: String,
    /// Reward per node, wei (decimal).
    pub reward_wei: String,
    pub required_nodes: u64,
    /// Unix seconds.
    pub deadline: u64,
    /// The node takes it (it is worked on, or would be once a slot is free).
    pub takes: bool,
    /// Why the task ended or was not taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
    /// When its stage last changed, ms since the Unix epoch.
    pub updated_ms: u64,
}

/// `oarn_taskStatus`: one task: its stage, timeline, transactions, result and money.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskStatus {
    pub task_id: TaskId,
}
method!(TaskStatus, "oarn_taskStatus", TaskReport);

/// `oarn_taskClaim`: run the pipeline for one task now (validation first: a task it would
/// not take is refused with why), answered once it is claimed or refused.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClaimTask {
    pub task_id: TaskId,
}
method!(ClaimTask, "oarn_taskClaim", TaskReport);

/// One task in full.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskReport {
    #[serde(flatten)]
    pub row: TaskRow,
    /// Every transition, oldest first.
    pub timeline: Vec<Transition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim_tx: Option<Hash32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submit_tx: Option<Hash32>,
    /// keccak256 of the result bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_hash: Option<Hash32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_cid: Option<String>,
    /// How it settled, once it has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    pub ledger: Ledger,
}

/// One journaled input and the stage it led to.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Transition {
    pub at_ms: u64,
    /// What happened (the input's name, e.g. claim_mined).
    pub event: String,
    pub stage: String,
    /// The error, for a failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// A task's money, wei (decimal strings; `net_wei` may be negative).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Ledger {
    pub reward_wei: String,
    pub claim_gas_wei: String,
    pub submit_gas_wei: String,
    pub net_wei: String,
}

/// `oarn_taskHistory`: settled tasks, newest first.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct History {
    #[serde(default)]
    pub limit: Option<u32>,
}
method!(History, "oarn_taskHistory", Settled);

/// Settled tasks and their totals.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Settled {
    pub tasks: Vec<SettledTask>,
    pub total: Ledger,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SettledTask {
    pub id: TaskId,
    /// rewarded, unrewarded, disputed.
    pub outcome: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
    pub settled_ms: u64,
    #[serde(flatten)]
    pub ledger: Ledger,
}

/// `oarn_submitTask`: whatever its params, answered "No providers" until the requester side
/// exists.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SubmitTask {
    #[serde(flatten)]
    pub params: serde_json::Map<String, serde_json::Value>,
}
method!(SubmitTask, "oarn_submitTask", serde_json::Value);

/// `oarn_getResult`: the consensus result of a task.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GetResult {
    pub task_id: TaskId,
}
method!(GetResult, "oarn_getResult", serde_json::Value);
