//! The transitions: [`on`] applies one [`Input`] to a task and returns the [`Effect`]s it asks
//! for; [`resume`] says what a task rebuilt from its journal does first. The daemon journals
//! each input before it performs the effects, so the journal always holds the intent of every
//! side effect (a claim or submission decided) before it happens.

use serde::{Deserialize, Serialize};

use crate::reconcile::{self, ChainFacts};
use crate::state::{Outcome, Reason, Stage, Task};
use crate::{Hash, Millis, Offer, TxHash};

/// Most failed attempts of one step before the task fails with the last error.
pub const MAX_ATTEMPTS: u32 = 6;
/// First retry delay; it doubles per attempt up to [`MAX_BACKOFF_MS`].
pub const FIRST_BACKOFF_MS: Millis = 1_000;
pub const MAX_BACKOFF_MS: Millis = 60_000;
/// How long after the deadline a submitted task waits for consensus before the chain is read
/// one last time and the task settles as it stands.
pub const SETTLE_GRACE_MS: Millis = 10 * 60 * 1000;
/// How often a submitted task re-reads the chain while it waits for consensus (events
/// usually settle it first).
pub const WATCH_EVERY_MS: Millis = 30_000;

/// A step of the pipeline that can fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    Validate,
    Claim,
    FetchInput,
    PrepareModel,
    Execute,
    Upload,
    Submit,
    ReadChain,
}

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Validate => "validation",
            Step::Claim => "the claim",
            Step::FetchInput => "fetching the input",
            Step::PrepareModel => "preparing the model",
            Step::Execute => "inference",
            Step::Upload => "adding the result to IPFS",
            Step::Submit => "the submission",
            Step::ReadChain => "reading the task from the chain",
        }
    }
}

/// What happened to a task: the daemon's report, journaled before its effects run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "input")]
pub enum Input {
    /// Validation passed; `offer` is the task as the chain holds it.
    Validated {
        offer: Offer,
    },
    /// Validation refused the task.
    Refused {
        reason: Reason,
    },
    /// A slot is free and the node (auto_claim, or the operator) takes the task.
    Begin,
    /// The chain worker sent the claim (it is pending under this hash).
    ClaimSent {
        tx: TxHash,
    },
    /// The claim was mined; the gas it cost, wei, and how long it waited to be mined, ms.
    ClaimMined {
        tx: TxHash,
        #[serde(with = "crate::wei")]
        gas_wei: u128,
        #[serde(default)]
        wait_ms: u64,
    },
    InputFetched,
    ModelReady,
    /// Inference finished: keccak256 of the result bytes (stored by the daemon), and how long
    /// the model took over the prompt and the generation, ms.
    Executed {
        result_hash: Hash,
        #[serde(default)]
        generation_ms: u64,
    },
    /// The result bytes are pinned at `cid`.
    Uploaded {
        cid: String,
    },
    SubmitSent {
        tx: TxHash,
    },
    /// The submission was mined: its gas, wei, and how long it waited to be mined, ms.
    SubmitMined {
        tx: TxHash,
        #[serde(with = "crate::wei")]
        gas_wei: u128,
        #[serde(default)]
        wait_ms: u64,
    },
    /// A step failed. `transient`: it may work if tried again (for a claim or submission:
    /// whether it went out is unknown, so the chain is read before anything is sent again).
    Failed {
        step: Step,
        error: String,
        transient: bool,
    },
    /// The chain refused a claim or submission with this revert message; nothing was mined.
    Reverted {
        step: Step,
        message: String,
    },
    /// What the chain says now.
    Facts(ChainFacts),
    /// `RewardDistributed` to this node.
    Rewarded {
        #[serde(with = "crate::wei")]
        amount_wei: u128,
    },
    /// `ConsensusReached` on `hash`.
    ConsensusReached {
        hash: Hash,
    },
    /// `ConsensusDisputed`.
    ConsensusDisputed {
        unique_results: u64,
    },
    /// The clock moved (a wake-up the daemon scheduled, or its periodic tick).
    Tick,
    /// The operator gave the task up.
    Abandon {
        why: String,
    },
}

/// Which of a task's transactions gas was paid for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GasFor {
    Claim,
    Submit,
}

impl GasFor {
    pub fn as_str(self) -> &'static str {
        match self {
            GasFor::Claim => "claim",
            GasFor::Submit => "submit",
        }
    }
}

impl Input {
    /// The gas a mined claim or submission cost, wei; `None` for every other input.
    pub fn gas(&self) -> Option<(GasFor, u128)> {
        match self {
            Input::ClaimMined { gas_wei, .. } => Some((GasFor::Claim, *gas_wei)),
            Input::SubmitMined { gas_wei, .. } => Some((GasFor::Submit, *gas_wei)),
            _ => None,
        }
    }
}

/// What the daemon is asked to do for a task. Each ends in an [`Input`] (or none, for
/// [`Effect::Announce`] and [`Effect::WakeAt`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "effect")]
pub enum Effect {
    /// Read the task from the chain, fetch and check its input block and model manifest, apply
    /// the policy: ends in [`Input::Validated`] or [`Input::Refused`].
    Validate,
    /// Send `claimTask`.
    Claim,
    /// Fetch the input block (again, if validation's copy is gone).
    FetchInput,
    /// Find the model in the store by sha256, or fetch it by the manifest's CID, verified.
    PrepareModel,
    /// Run the model on the input within the deadline, in the inference worker.
    Execute,
    /// Add the result bytes with this keccak256 to IPFS and pin them.
    Upload { result_hash: Hash },
    /// Publish the result notice on gossip and to validators.
    Announce { result_hash: Hash, cid: String },
    /// Send `submitResult(result_hash)`.
    Submit { result_hash: Hash },
    /// Read the task's facts from the chain: ends in [`Input::Facts`].
    ReadChain,
    /// Send [`Input::Tick`] at this time.
    WakeAt(Millis),
}

/// Applies `input` to `task` at `now`, returning what to do next. Inputs that do not fit the
/// task's stage (a late report of a step already replaced) change nothing.
pub fn on(task: &mut Task, input: Input, now: Millis) -> Vec<Effect> {
    if task.stage.is_final() {
        return Vec::new();
    }
    match input {
        Input::Validated { offer } => validated(task, offer, now),
        Input::Refused { reason } => refused(task, reason, now),
        Input::Begin => begin(task, now),
        Input::ClaimSent { tx } => sent(task, tx),
        Input::ClaimMined { .. } => claim_mined(task, now),
        Input::InputFetched => step_done(task, Stage::Claimed, Stage::InputFetched, now),
        Input::ModelReady => step_done(task, Stage::InputFetched, Stage::ModelReady, now),
        Input::Executed { result_hash, .. } => step_done(task, Stage::ModelReady, Stage::Executed { result_hash }, now),
        Input::Uploaded { cid } => uploaded(task, cid, now),
        Input::SubmitSent { tx } => sent(task, tx),
        Input::SubmitMined { .. } => submit_mined(task, now),
        Input::Failed { step, error, transient } => failed(task, step, error, transient, now),
        Input::Reverted { step, message } => reverted(task, step, &message, now),
        Input::Facts(facts) => reconcile::reconcile(task, &facts, now),
        Input::Rewarded { amount_wei } => rewarded(task, amount_wei, now),
        Input::ConsensusReached { hash } => consensus(task, Some(hash), now),
        Input::ConsensusDisputed { unique_results } => disputed(task, unique_results, now),
        Input::Tick => tick(task, now),
        Input::Abandon { why } => abandon(task, why, now),
    }
}

/// What a task rebuilt from its journal does first: validation again before a claim, and for
/// every task that may hold a claim, the chain's facts before anything else.
pub fn resume(task: &Task) -> Vec<Effect> {
    match task.stage {
        Stage::Discovered => vec![Effect::Validate],
        Stage::Validated => Vec::new(),
        _ if task.stage.is_final() => Vec::new(),
        _ => vec![Effect::ReadChain],
    }
}

/// The effect that performs the work of the task's current stage (a retry's, or the first).
pub(crate) fn work(task: &Task) -> Vec<Effect> {
    match &task.stage {
        Stage::Discovered => vec![Effect::Validate],
        Stage::Claimed => vec![Effect::FetchInput],
        Stage::InputFetched => vec![Effect::PrepareModel],
        Stage::ModelReady => vec![Effect::Execute],
        Stage::Executed { result_hash } => vec![Effect::Upload {
            result_hash: *result_hash,
        }],
        Stage::Claiming { .. } | Stage::ResultUploaded { .. } | Stage::Submitting { .. } | Stage::Submitted { .. } => {
            vec![Effect::ReadChain]
        }
        Stage::Validated | Stage::Settled(_) | Stage::Failed(_) | Stage::Skipped(_) => Vec::new(),
    }
}

/// Moves to `stage`, resetting the retry state.
pub(crate) fn advance(task: &mut Task, stage: Stage, now: Millis) {
    task.stage = stage;
    task.attempts = 0;
    task.wait_until = None;
    task.since = now;
}

/// Ends the task: skipped while this node holds no claim, failed once it may.
pub(crate) fn end(task: &mut Task, reason: Reason, now: Millis) -> Vec<Effect> {
    let stage = if task.stage.claimed() {
        Stage::Failed(reason)
    } else {
        Stage::Skipped(reason)
    };
    advance(task, stage, now);
    Vec::new()
}

fn validated(task: &mut Task, offer: Offer, now: Millis) -> Vec<Effect> {
    if task.stage != Stage::Discovered || offer.id != task.id() {
        return Vec::new();
    }
    task.offer = Offer {
        source: task.offer.source,
        ..offer
    };
    advance(task, Stage::Validated, now);
    Vec::new()
}

fn refused(task: &mut Task, reason: Reason, now: Millis) -> Vec<Effect> {
    match task.stage {
        Stage::Discovered | Stage::Validated => end(task, reason, now),
        _ => Vec::new(),
    }
}

fn begin(task: &mut Task, now: Millis) -> Vec<Effect> {
    if task.stage != Stage::Validated {
        return Vec::new();
    }
    if now >= task.deadline_ms() {
        return end(task, Reason::DeadlinePassed("validated".into()), now);
    }
    advance(task, Stage::Claiming { tx: None }, now);
    vec![Effect::Claim]
}

fn sent(task: &mut Task, sent: TxHash) -> Vec<Effect> {
    match &mut task.stage {
        Stage::Claiming { tx } | Stage::Submitting { tx, .. } => *tx = Some(sent),
        _ => {}
    }
    Vec::new()
}

fn claim_mined(task: &mut Task, now: Millis) -> Vec<Effect> {
    if !matches!(task.stage, Stage::Claiming { .. }) {
        return Vec::new();
    }
    advance(task, Stage::Claimed, now);
    work(task)
}

fn step_done(task: &mut Task, from: Stage, to: Stage, now: Millis) -> Vec<Effect> {
    if task.stage != from {
        return Vec::new();
    }
    advance(task, to, now);
    work(task)
}

fn uploaded(task: &mut Task, cid: String, now: Millis) -> Vec<Effect> {
    let Stage::Executed { result_hash } = task.stage else {
        return Vec::new();
    };
    advance(
        task,
        Stage::ResultUploaded {
            result_hash,
            cid: cid.clone(),
        },
        now,
    );
    // The chain is read before the submission: a task whose consensus closed meanwhile ends
    // without a transaction that would only revert.
    vec![Effect::Announce { result_hash, cid }, Effect::ReadChain]
}

fn submit_mined(task: &mut Task, now: Millis) -> Vec<Effect> {
    let Stage::Submitting { result_hash, cid, .. } = &task.stage else {
        return Vec::new();
    };
    let stage = Stage::Submitted {
        result_hash: *result_hash,
        cid: cid.clone(),
    };
    advance(task, stage, now);
    watch(task, now)
}

/// A submitted task waits for consensus, and reads the chain every [`WATCH_EVERY_MS`] until
/// the deadline's grace ends.
pub(crate) fn watch(task: &mut Task, now: Millis) -> Vec<Effect> {
    let last = task.deadline_ms().saturating_add(SETTLE_GRACE_MS);
    let at = now.saturating_add(WATCH_EVERY_MS).min(last.max(now + 1));
    task.wait_until = Some(at);
    vec![Effect::WakeAt(at)]
}

/// The step whose work the stage is doing.
fn step_of(stage: &Stage) -> Option<Step> {
    Some(match stage {
        Stage::Discovered => Step::Validate,
        Stage::Claiming { .. } => Step::Claim,
        Stage::Claimed => Step::FetchInput,
        Stage::InputFetched => Step::PrepareModel,
        Stage::ModelReady => Step::Execute,
        Stage::Executed { .. } => Step::Upload,
        Stage::Submitting { .. } => Step::Submit,
        _ => return None,
    })
}

fn backoff(attempts: u32) -> Millis {
    FIRST_BACKOFF_MS
        .saturating_mul(1 << attempts.min(16))
        .min(MAX_BACKOFF_MS)
}

fn failed(task: &mut Task, step: Step, error: String, transient: bool, now: Millis) -> Vec<Effect> {
    let current = step_of(&task.stage);
    if current != Some(step) && step != Step::ReadChain {
        return Vec::new();
    }
    let retry_at = now.saturating_add(backoff(task.attempts));
    let in_time = retry_at < task.deadline_ms() || matches!(task.stage, Stage::Submitted { .. });
    if transient && task.attempts + 1 < MAX_ATTEMPTS && in_time {
        task.attempts += 1;
        task.wait_until = Some(retry_at);
        return vec![Effect::WakeAt(retry_at)];
    }
    // A claim or submission whose fate is unknown ends only once the chain says so: the
    // chain is read (again, later, if reading is what failed).
    if matches!(step, Step::Claim | Step::Submit) && transient {
        return vec![Effect::ReadChain];
    }
    if step == Step::ReadChain {
        task.wait_until = Some(retry_at);
        return vec![Effect::WakeAt(retry_at)];
    }
    let step = step.as_str().to_string();
    end(task, Reason::StepFailed { step, error }, now)
}

fn reverted(task: &mut Task, step: Step, message: &str, now: Millis) -> Vec<Effect> {
    match (&task.stage, step) {
        (Stage::Claiming { .. }, Step::Claim) => {
            if message.contains("Already claimed") {
                // An earlier claim of ours went through: the chain's facts take it from here.
                return vec![Effect::ReadChain];
            }
            let reason = if message.contains("Max claims") {
                Reason::ClaimsFull {
                    claimed: task.offer.required_nodes * 2,
                    max: task.offer.required_nodes * 2,
                }
            } else if message.contains("expired") || message.contains("not active") {
                Reason::NotOpen(message.to_string())
            } else {
                Reason::Refused(message.to_string())
            };
            // Nothing was claimed: the task is skipped, not failed.
            advance(task, Stage::Skipped(reason), now);
            Vec::new()
        }
        (Stage::Submitting { .. }, Step::Submit) => {
            if message.contains("Already submitted") {
                return vec![Effect::ReadChain];
            }
            let reason = if message.contains("not active") {
                Reason::ClosedBeforeSubmission
            } else {
                Reason::Refused(message.to_string())
            };
            end(task, reason, now)
        }
        _ => Vec::new(),
    }
}

fn rewarded(task: &mut Task, amount_wei: u128, now: Millis) -> Vec<Effect> {
    match task.stage {
        Stage::Submitted { .. } => {
            advance(task, Stage::Settled(Outcome::Rewarded { amount_wei }), now);
            Vec::new()
        }
        // Our submission completed consensus before its receipt was journaled.
        Stage::Submitting { .. } => vec![Effect::ReadChain],
        _ => Vec::new(),
    }
}

fn consensus(task: &mut Task, hash: Option<Hash>, now: Millis) -> Vec<Effect> {
    match &task.stage {
        // Whether this node is paid is in the same transaction's RewardDistributed, or in the
        // task's results.
        Stage::Submitted { result_hash, .. } if Some(*result_hash) == hash => {
            vec![Effect::ReadChain]
        }
        Stage::Submitted { .. } => {
            let why = "consensus was reached on another result".to_string();
            advance(task, Stage::Settled(Outcome::Unrewarded { why }), now);
            Vec::new()
        }
        Stage::Submitting { .. } => vec![Effect::ReadChain],
        stage if stage.holds_slot() => end(task, Reason::ClosedBeforeSubmission, now),
        Stage::Discovered | Stage::Validated => end(task, Reason::NotOpen("closed by consensus".into()), now),
        _ => Vec::new(),
    }
}

fn disputed(task: &mut Task, unique_results: u64, now: Millis) -> Vec<Effect> {
    match &task.stage {
        Stage::Submitted { .. } => {
            advance(task, Stage::Settled(Outcome::Disputed { unique_results }), now);
            Vec::new()
        }
        _ => consensus(task, None, now),
    }
}

fn tick(task: &mut Task, now: Millis) -> Vec<Effect> {
    if let Some(at) = task.wait_until {
        if now < at {
            return Vec::new();
        }
        task.wait_until = None;
        return work(task);
    }
    if now < task.deadline_ms() {
        return Vec::new();
    }
    match &task.stage {
        Stage::Discovered | Stage::Validated => end(task, Reason::DeadlinePassed(task.stage.name().into()), now),
        // A claim or submission may be in a block already: the chain decides.
        Stage::Claiming { .. } | Stage::Submitting { .. } | Stage::Submitted { .. } => {
            vec![Effect::ReadChain]
        }
        stage => {
            let at = stage.name().to_string();
            end(task, Reason::DeadlinePassed(at), now)
        }
    }
}

fn abandon(task: &mut Task, why: String, now: Millis) -> Vec<Effect> {
    match task.stage {
        Stage::Submitting { .. } | Stage::Submitted { .. } => Vec::new(),
        _ => end(task, Reason::Operator(why), now),
    }
}
