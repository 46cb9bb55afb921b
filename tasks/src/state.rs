//! A task's stage, why it ended, and what it earned.

use serde::{Deserialize, Serialize};

use crate::{Hash, Millis, Offer, TaskId, TxHash};

/// Where a task stands. The order is the pipeline's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "stage")]
pub enum Stage {
    /// Seen; being validated.
    Discovered,
    /// Worth taking; waiting for a free slot.
    Validated,
    /// A claim was decided and may have been sent (`tx` once the chain worker said so).
    Claiming { tx: Option<TxHash> },
    /// Claimed on chain; the input block is being fetched.
    Claimed,
    /// The input is here; the model is being made ready.
    InputFetched,
    /// The model is installed; inference is running.
    ModelReady,
    /// The result is computed (its keccak256); it is being added to IPFS.
    Executed { result_hash: Hash },
    /// The result is pinned at `cid`; the submission comes next.
    ResultUploaded { result_hash: Hash, cid: String },
    /// A submission was decided and may have been sent.
    Submitting {
        result_hash: Hash,
        cid: String,
        tx: Option<TxHash>,
    },
    /// Submitted on chain; waiting for consensus.
    Submitted { result_hash: Hash, cid: String },
    /// Closed: what it earned.
    Settled(Outcome),
    /// Ended without a result from this node after it was claimed, or before.
    Failed(Reason),
    /// Not taken: why.
    Skipped(Reason),
}

impl Stage {
    pub fn name(&self) -> &'static str {
        match self {
            Stage::Discovered => "discovered",
            Stage::Validated => "validated",
            Stage::Claiming { .. } => "claiming",
            Stage::Claimed => "claimed",
            Stage::InputFetched => "input_fetched",
            Stage::ModelReady => "model_ready",
            Stage::Executed { .. } => "executed",
            Stage::ResultUploaded { .. } => "result_uploaded",
            Stage::Submitting { .. } => "submitting",
            Stage::Submitted { .. } => "submitted",
            Stage::Settled(_) => "settled",
            Stage::Failed(_) => "failed",
            Stage::Skipped(_) => "skipped",
        }
    }

    /// Settled, failed or skipped: nothing more happens.
    pub fn is_final(&self) -> bool {
        matches!(self, Stage::Settled(_) | Stage::Failed(_) | Stage::Skipped(_))
    }

    /// Holds a slot: claimed (or claiming) and not yet submitted.
    pub fn holds_slot(&self) -> bool {
        matches!(
            self,
            Stage::Claiming { .. }
                | Stage::Claimed
                | Stage::InputFetched
                | Stage::ModelReady
                | Stage::Executed { .. }
                | Stage::ResultUploaded { .. }
                | Stage::Submitting { .. }
        )
    }

    /// This node's claim is (or may be) on chain.
    pub fn claimed(&self) -> bool {
        self.holds_slot() || matches!(self, Stage::Submitted { .. } | Stage::Settled(_))
    }
}

/// How a task this node submitted to closed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum Outcome {
    /// `RewardDistributed` paid this node `amount_wei`.
    Rewarded {
        #[serde(with = "crate::wei")]
        amount_wei: u128,
    },
    /// Consensus was reached (or the task closed) without paying this node.
    Unrewarded { why: String },
    /// `ConsensusDisputed`: no hash had enough agreeing nodes.
    Disputed { unique_results: u64 },
}

/// Why a task was not taken or ended without a result. The text is what `oarn task status`
/// shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "snake_case", tag = "reason", content = "detail")]
pub enum Reason {
    /// The task is not open (its status, from the chain).
    #[error("the task is {0}, not open for claims")]
    NotOpen(String),
    /// The chain has no such task (yet): an announcement ahead of this node's endpoint, or a
    /// made-up one. The daemon forgets such a task, so a later discovery takes it afresh.
    #[error("the chain has no such task (yet)")]
    NotOnChain,
    /// Every claim slot is taken.
    #[error("every claim slot is taken ({claimed} of {max})")]
    ClaimsFull { claimed: u64, max: u64 },
    /// Enough results are in: a later submission would revert "Task not active".
    #[error("{submitted} of {required} results are in; consensus closes without this node")]
    ResultsFull { submitted: u64, required: u64 },
    /// The reward is under `compute.min_reward`.
    #[error("the reward {reward} ETH is under compute.min_reward ({min} ETH)")]
    RewardTooLow { reward: String, min: String },
    /// The deadline leaves too little time at this node's measured speed.
    #[error("the deadline leaves {left_s} s; this node needs about {need_s} s")]
    DeadlineTooClose { left_s: u64, need_s: u64 },
    /// The deadline passed before this node was done.
    #[error("the deadline passed at stage {0}")]
    DeadlinePassed(String),
    /// The model is not in `compute.accepted_models`.
    #[error("model {0:?} is not in compute.accepted_models")]
    ModelNotAccepted(String),
    /// The model or the task needs more than this machine offers.
    #[error("{0}")]
    DoesNotFit(String),
    /// The input block or model manifest could not be fetched, or is not valid.
    #[error("{0}")]
    BadInput(String),
    /// A step kept failing: which, and the last error.
    #[error("{step} failed: {error}")]
    StepFailed { step: String, error: String },
    /// The chain refused (a revert), with what it said.
    #[error("the chain refused: {0}")]
    Refused(String),
    /// Consensus closed before this node submitted.
    #[error("consensus closed before this node submitted")]
    ClosedBeforeSubmission,
    /// The operator said so, or auto_claim is off.
    #[error("{0}")]
    Operator(String),
}

impl Reason {
    /// The reason's kind in one word, without its details: a label with a bounded set of
    /// values (for metrics), the same as its `reason` tag in JSON.
    pub fn kind(&self) -> &'static str {
        match self {
            Reason::NotOpen(_) => "not_open",
            Reason::NotOnChain => "not_on_chain",
            Reason::ClaimsFull { .. } => "claims_full",
            Reason::ResultsFull { .. } => "results_full",
            Reason::RewardTooLow { .. } => "reward_too_low",
            Reason::DeadlineTooClose { .. } => "deadline_too_close",
            Reason::DeadlinePassed(_) => "deadline_passed",
            Reason::ModelNotAccepted(_) => "model_not_accepted",
            Reason::DoesNotFit(_) => "does_not_fit",
            Reason::BadInput(_) => "bad_input",
            Reason::StepFailed { .. } => "step_failed",
            Reason::Refused(_) => "refused",
            Reason::ClosedBeforeSubmission => "closed_before_submission",
            Reason::Operator(_) => "operator",
        }
    }
}

/// A task the node tracks: what it first saw, its stage, and its retry state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    pub offer: Offer,
    pub stage: Stage,
    /// Failed attempts of the current step (reset when the stage advances).
    pub attempts: u32,
    /// Do nothing before this time (a retry's backoff), when set.
    pub wait_until: Option<Millis>,
    /// When the stage last changed.
    pub since: Millis,
}

impl Task {
    pub fn new(offer: Offer, now: Millis) -> Self {
        Task {
            offer,
            stage: Stage::Discovered,
            attempts: 0,
            wait_until: None,
            since: now,
        }
    }

    pub fn id(&self) -> TaskId {
        self.offer.id
    }

    /// The deadline in milliseconds.
    pub fn deadline_ms(&self) -> Millis {
        self.offer.deadline.saturating_mul(1000)
    }
}

#[cfg(test)]
mod tests {
    use super::Reason;

    #[test]
    fn a_reasons_kind_is_its_json_tag() {
        let all = [
            Reason::NotOpen("completed".into()),
            Reason::NotOnChain,
            Reason::ClaimsFull { claimed: 6, max: 6 },
            Reason::ResultsFull {
                submitted: 3,
                required: 3,
            },
            Reason::RewardTooLow {
                reward: "0".into(),
                min: "1".into(),
            },
            Reason::DeadlineTooClose { left_s: 1, need_s: 2 },
            Reason::DeadlinePassed("claimed".into()),
            Reason::ModelNotAccepted("m".into()),
            Reason::DoesNotFit("too big".into()),
            Reason::BadInput("not json".into()),
            Reason::StepFailed {
                step: "upload".into(),
                error: "e".into(),
            },
            Reason::Refused("Already claimed".into()),
            Reason::ClosedBeforeSubmission,
            Reason::Operator("no".into()),
        ];
        for r in all {
            let v = serde_json::to_value(&r).unwrap();
            assert_eq!(v["reason"], r.kind(), "{r:?}");
        }
    }
}
