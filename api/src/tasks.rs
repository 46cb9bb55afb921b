//! The task pipeline: what the node sees and works on (`oarn task list|status|claim|history`),
//! and for requesters `oarn_submitTask` and `oarn_getResult`, the live network's node API
//! methods.

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
    /// Newest first.
    pub tasks: Vec<TaskRow>,
}

/// Whether the node works on tasks.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pipeline {
    /// The task pipeline runs (not in local mode, with the chain and network workers and the
    /// journal open).
    pub running: bool,
    /// Claims on its own (`compute.auto_claim`, and the wallet unlocked).
    pub auto_claim: bool,
    /// Why not, when it does not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why_not: Option<String>,
    /// Tasks worked on at once (`compute.max_concurrent_tasks`).
    pub max_concurrent_tasks: u32,
}

/// One task as the node sees it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskRow {
    /// TaskRegistryV2 task id.
    pub id: TaskId,
    /// discovered, validated, claiming, claimed, input_fetched, model_ready, executed,
    /// result_uploaded, submitting, submitted, settled, failed, skipped.
    pub stage: String,
    /// Where it was first seen: routed, gossip, chain, scan, operator.
    pub source: String,
    /// Reward per node, wei (decimal).
    pub reward_wei: String,
    /// Nodes whose results must agree.
    pub required_nodes: u64,
    /// Unix seconds after which the task cannot be claimed.
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
    /// The task.
    pub task_id: TaskId,
}
method!(TaskStatus, "oarn_taskStatus", TaskReport);

/// `oarn_taskClaim`: run the pipeline for one task now (validation first: a task it would
/// not take is refused with why), answered once it is claimed or refused.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClaimTask {
    /// The task.
    pub task_id: TaskId,
}
method!(ClaimTask, "oarn_taskClaim", TaskReport);

/// One task in full.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskReport {
    /// Its row, as in `oarn_taskList`; the fields appear inline.
    #[serde(flatten)]
    pub row: TaskRow,
    /// Every transition, oldest first.
    pub timeline: Vec<Transition>,
    /// The claim transaction, once sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim_tx: Option<Hash32>,
    /// The result submission transaction, once sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submit_tx: Option<Hash32>,
    /// keccak256 of the result bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_hash: Option<Hash32>,
    /// Where the result is on IPFS, once uploaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_cid: Option<String>,
    /// How it settled, once it has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// Its money so far.
    pub ledger: Ledger,
    /// Where its time went, once its submission is mined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timings: Option<Timings>,
}

/// A task's time, ms, from discovery to its submission mined: `overhead_ms` is the node's own,
/// what is left after the wait for a slot, the model's prompt and generation, and the waits
/// for blocks.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Timings {
    /// From discovery to the submission mined.
    pub total_ms: u64,
    /// Waiting for a free slot.
    pub queued_ms: u64,
    /// The model's prompt and generation.
    pub generation_ms: u64,
    /// Transactions, from broadcast to receipt.
    pub chain_wait_ms: u64,
    /// The rest: the node's own.
    pub overhead_ms: u64,
}

/// One journaled input and the stage it led to.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Transition {
    /// When, ms since the Unix epoch.
    pub at_ms: u64,
    /// What happened (the input's name, e.g. claim_mined).
    pub event: String,
    /// The stage it led to.
    pub stage: String,
    /// The error, for a failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// A task's money, wei (decimal strings; `net_wei` may be negative).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Ledger {
    /// Reward received.
    pub reward_wei: String,
    /// Gas paid for the claim.
    pub claim_gas_wei: String,
    /// Gas paid for the submission.
    pub submit_gas_wei: String,
    /// Reward less gas.
    pub net_wei: String,
}

/// `oarn_taskHistory`: settled tasks, newest first.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct History {
    /// At most this many (default 100).
    #[serde(default)]
    pub limit: Option<u32>,
}
method!(History, "oarn_taskHistory", Settled);

/// Settled tasks and their totals.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Settled {
    /// Newest first.
    pub tasks: Vec<SettledTask>,
    /// Their sums.
    pub total: Ledger,
}

/// One settled task and its money.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SettledTask {
    /// The task.
    pub id: TaskId,
    /// rewarded, unrewarded, disputed.
    pub outcome: String,
    /// Why it was not rewarded, when it was not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
    /// When it settled, ms since the Unix epoch.
    pub settled_ms: u64,
    /// Its money; the fields appear inline.
    #[serde(flatten)]
    pub ledger: Ledger,
}

/// `oarn_earnings`: what this node earned, from the journal: rewards, the gas of every claim
/// and submission (of failed tasks too) and net, over the last 24 hours, the last 7 days and
/// all time.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GetEarnings {}
method!(GetEarnings, "oarn_earnings", Earnings);

/// Earnings over three periods.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Earnings {
    /// The last 24 hours.
    pub last_24h: Period,
    /// The last 7 days.
    pub last_7d: Period,
    /// All time.
    pub total: Period,
}

/// Earnings over one period: tasks that ended in it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Period {
    /// Start of the period, ms since the Unix epoch (0: all time).
    pub since_ms: u64,
    /// Tasks this node spent gas on that ended in the period.
    pub tasks: u64,
    /// Of those, the rewarded.
    pub rewarded: u64,
    /// Their money; the fields appear inline.
    #[serde(flatten)]
    pub ledger: Ledger,
}

/// `oarn_submitTask`: submit a task as a requester: the node writes the input block and the
/// model manifest (task-format.md), adds them and the model file to IPFS (pinned), sends
/// `submitTask` paying `reward × required_nodes` with its key, and announces the task.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmitTask {
    /// The prompt (language models; ignored for a tensor task).
    #[serde(default)]
    pub prompt: String,
    /// A tensor task's input block (ONNX models), hex (at most
    /// [`crate::infer::MAX_HEX_INPUT`] bytes): a JSON array of numbers, an object with
    /// "input", "data", "values" or "params", or raw little-endian f32.
    #[serde(default)]
    pub input_hex: Option<String>,
    /// A system prompt (language models).
    #[serde(default)]
    pub system: Option<String>,
    /// 1..=8192 (default 256).
    #[serde(default)]
    pub max_tokens: Option<u32>,
    /// Strings that end the generation.
    #[serde(default)]
    pub stop: Vec<String>,
    /// Apply the model's chat template (default true).
    #[serde(default)]
    pub chat: Option<bool>,
    /// An installed model, by name.
    pub model: String,
    /// Reward per node, ETH (decimal string).
    pub reward: String,
    /// 3..=100 (default 3).
    #[serde(default)]
    pub required_nodes: Option<u64>,
    /// Seconds the task stays open (default 3600).
    #[serde(default)]
    pub open_secs: Option<u64>,
}
method!(SubmitTask, "oarn_submitTask", Submitted);

/// A task submitted.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Submitted {
    /// The new task's id.
    pub task_id: TaskId,
    /// The `submitTask` transaction.
    pub tx: Hash32,
    /// The sha256 of the input block (the task's input hash).
    pub input_hash: Hash32,
    /// The sha256 of the model manifest (the task's model hash).
    pub model_hash: Hash32,
    /// The input block on IPFS.
    pub input_cid: String,
    /// The model manifest on IPFS.
    pub manifest_cid: String,
    /// The model file on IPFS.
    pub model_cid: String,
    /// Wei paid (rewards), decimal.
    pub paid_wei: String,
    /// Peers the announcement reached (0 when none was connected).
    pub announced_to: u32,
}

/// `oarn_getResult`: the consensus result of a task, fetched by the CID its nodes' result
/// notices name and checked: its keccak256 is the hash consensus was reached on.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GetResult {
    /// The task.
    pub task_id: TaskId,
}
method!(GetResult, "oarn_getResult", TaskResult);

/// A task's result, checked.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskResult {
    /// The task.
    pub task_id: TaskId,
    /// keccak256 of the result bytes: the hash consensus was reached on.
    pub result_hash: Hash32,
    /// Where the result was fetched from on IPFS.
    pub cid: String,
    /// The result bytes as text (UTF-8, invalid sequences replaced).
    pub text: String,
    /// Length of the result bytes.
    pub bytes: u64,
    /// Nodes whose results matched.
    pub agreeing: u64,
}
