//! Reconciliation: what the chain says about a task decides where a task whose claim or
//! submission may have gone out stands, so that nothing is claimed or submitted twice (the
//! chain's `hasClaimedTask` and `hasSubmittedResult` are the truth, not the journal) and
//! nothing is lost (every task the node may hold a claim on continues or ends with a reason).

use serde::{Deserialize, Serialize};

use crate::machine::{Effect, advance, end, watch, work};
use crate::state::{Outcome, Reason, Stage, Task};
use crate::{Hash, Millis};

/// TaskRegistryV2's `TaskStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChainStatus {
    Pending,
    Active,
    Consensus,
    Completed,
    Disputed,
    Cancelled,
    Expired,
}

impl ChainStatus {
    /// From the contract's `uint8`.
    pub fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            0 => ChainStatus::Pending,
            1 => ChainStatus::Active,
            2 => ChainStatus::Consensus,
            3 => ChainStatus::Completed,
            4 => ChainStatus::Disputed,
            5 => ChainStatus::Cancelled,
            6 => ChainStatus::Expired,
            _ => return None,
        })
    }

    pub fn is_open(self) -> bool {
        matches!(self, ChainStatus::Pending | ChainStatus::Active)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ChainStatus::Pending => "pending",
            ChainStatus::Active => "active",
            ChainStatus::Consensus => "in consensus",
            ChainStatus::Completed => "completed",
            ChainStatus::Disputed => "disputed",
            ChainStatus::Cancelled => "cancelled",
            ChainStatus::Expired => "expired",
        }
    }
}

/// This node's result on chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OurResult {
    pub result_hash: Hash,
    pub matches_consensus: bool,
    pub rewarded: bool,
}

/// A task as the chain holds it now, and this node's part in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainFacts {
    pub status: ChainStatus,
    pub required_nodes: u64,
    pub claimed: u64,
    pub submitted: u64,
    /// Reward per node, wei.
    #[serde(with = "crate::wei")]
    pub reward_wei: u128,
    pub claimed_by_us: bool,
    pub submitted_by_us: bool,
    /// The account has sent transactions that are not yet mined (its pending nonce is ahead
    /// of its mined one): a claim or submission may be among them, so wait rather than send
    /// another. This does not depend on the journal having recorded the transaction's hash.
    pub tx_pending: bool,
    pub our_result: Option<OurResult>,
    /// Distinct result hashes submitted.
    pub unique_results: u64,
}

impl ChainFacts {
    /// Why a claim would not be taken now, if it would not.
    fn closed_to_claims(&self) -> Option<Reason> {
        if !self.status.is_open() {
            return Some(Reason::NotOpen(self.status.as_str().into()));
        }
        let max = self.required_nodes.saturating_mul(2);
        if self.claimed >= max {
            return Some(Reason::ClaimsFull {
                claimed: self.claimed,
                max,
            });
        }
        self.closed_to_results()
    }

    /// Why a submission would revert now, if it would.
    fn closed_to_results(&self) -> Option<Reason> {
        if !self.status.is_open() || self.submitted >= self.required_nodes {
            return Some(Reason::ClosedBeforeSubmission);
        }
        None
    }
}

/// Applies the chain's facts to `task` at `now`: the stage the chain proves, and what to do.
pub fn reconcile(task: &mut Task, facts: &ChainFacts, now: Millis) -> Vec<Effect> {
    task.wait_until = None;
    match task.stage.clone() {
        Stage::Discovered | Stage::Validated => unclaimed(task, facts, now),
        Stage::Claiming { .. } => claiming(task, facts, now),
        Stage::Submitting { .. } => submitting(task, facts, now),
        Stage::Submitted { .. } => submitted(task, facts, now),
        Stage::Settled(_) | Stage::Failed(_) | Stage::Skipped(_) => Vec::new(),
        _ => working(task, facts, now),
    }
}

fn wait(task: &mut Task, now: Millis) -> Vec<Effect> {
    let at = now.saturating_add(crate::machine::FIRST_BACKOFF_MS * 2);
    task.wait_until = Some(at);
    vec![Effect::WakeAt(at)]
}

fn unclaimed(task: &mut Task, facts: &ChainFacts, now: Millis) -> Vec<Effect> {
    if facts.claimed_by_us {
        // Claimed by this account without a journal entry (another install of the same key,
        // or a lost journal): the chain's word wins, and the pipeline runs.
        advance(task, Stage::Claimed, now);
        return working(task, facts, now);
    }
    match facts.closed_to_claims() {
        Some(reason) => end(task, reason, now),
        None => Vec::new(),
    }
}

fn claiming(task: &mut Task, facts: &ChainFacts, now: Millis) -> Vec<Effect> {
    if facts.claimed_by_us {
        advance(task, Stage::Claimed, now);
        return working(task, facts, now);
    }
    if facts.tx_pending {
        return wait(task, now);
    }
    if let Some(reason) = facts.closed_to_claims() {
        return end(task, reason, now);
    }
    if now >= task.deadline_ms() {
        return end(task, Reason::DeadlinePassed("claiming".into()), now);
    }
    // Not claimed, nothing pending: the earlier claim never went out. Claim (once) again.
    task.stage = Stage::Claiming { tx: None };
    vec![Effect::Claim]
}

/// Claimed, and the result not yet submitted.
fn working(task: &mut Task, facts: &ChainFacts, now: Millis) -> Vec<Effect> {
    if facts.submitted_by_us {
        return already_submitted(task, facts, now);
    }
    if !facts.claimed_by_us {
        // The claim the journal holds is not on chain (a reorganisation dropped it).
        advance(task, Stage::Claiming { tx: None }, now);
        return claiming(task, facts, now);
    }
    if let Some(reason) = facts.closed_to_results() {
        return end(task, reason, now);
    }
    if now >= task.deadline_ms() {
        let at = task.stage.name().to_string();
        return end(task, Reason::DeadlinePassed(at), now);
    }
    match task.stage.clone() {
        // Checked just before the submission: open, so submit.
        Stage::ResultUploaded { result_hash, cid } => {
            let tx = None;
            advance(task, Stage::Submitting { result_hash, cid, tx }, now);
            vec![Effect::Submit { result_hash }]
        }
        _ => work(task),
    }
}

fn submitting(task: &mut Task, facts: &ChainFacts, now: Millis) -> Vec<Effect> {
    let Stage::Submitting { result_hash, cid, .. } = task.stage.clone() else {
        return Vec::new();
    };
    if facts.submitted_by_us {
        return already_submitted(task, facts, now);
    }
    if facts.tx_pending {
        return wait(task, now);
    }
    if !facts.claimed_by_us {
        advance(task, Stage::Claiming { tx: None }, now);
        return claiming(task, facts, now);
    }
    if let Some(reason) = facts.closed_to_results() {
        return end(task, reason, now);
    }
    if now >= task.deadline_ms() {
        return end(task, Reason::DeadlinePassed("submitting".into()), now);
    }
    task.stage = Stage::Submitting {
        result_hash,
        cid,
        tx: None,
    };
    vec![Effect::Submit { result_hash }]
}

/// The chain holds this node's submission: the task is submitted, whatever the journal said.
fn already_submitted(task: &mut Task, facts: &ChainFacts, now: Millis) -> Vec<Effect> {
    let (result_hash, cid) = match &task.stage {
        Stage::Executed { result_hash } => (*result_hash, String::new()),
        Stage::ResultUploaded { result_hash, cid }
        | Stage::Submitting { result_hash, cid, .. }
        | Stage::Submitted { result_hash, cid } => (*result_hash, cid.clone()),
        _ => (
            facts.our_result.map(|r| r.result_hash).unwrap_or_default(),
            String::new(),
        ),
    };
    advance(task, Stage::Submitted { result_hash, cid }, now);
    submitted(task, facts, now)
}

fn submitted(task: &mut Task, facts: &ChainFacts, now: Millis) -> Vec<Effect> {
    let outcome = match facts.status {
        ChainStatus::Completed | ChainStatus::Consensus => match facts.our_result {
            Some(r) if r.rewarded => Some(Outcome::Rewarded {
                amount_wei: facts.reward_wei,
            }),
            Some(r) if !r.matches_consensus => Some(Outcome::Unrewarded {
                why: "this node's result did not match consensus".into(),
            }),
            // Matched but not yet paid (consensus still being counted): wait.
            _ if facts.status == ChainStatus::Consensus => None,
            _ => Some(Outcome::Unrewarded {
                why: "the task completed without paying this node".into(),
            }),
        },
        ChainStatus::Disputed => Some(Outcome::Disputed {
            unique_results: facts.unique_results,
        }),
        ChainStatus::Cancelled | ChainStatus::Expired => Some(Outcome::Unrewarded {
            why: format!("the task was {}", facts.status.as_str()),
        }),
        ChainStatus::Pending | ChainStatus::Active => {
            let last = task.deadline_ms().saturating_add(crate::machine::SETTLE_GRACE_MS);
            (now >= last).then(|| Outcome::Unrewarded {
                why: format!(
                    "no consensus by the deadline ({} of {} results)",
                    facts.submitted, facts.required_nodes
                ),
            })
        }
    };
    match outcome {
        Some(outcome) => {
            advance(task, Stage::Settled(outcome), now);
            Vec::new()
        }
        None => watch(task, now),
    }
}
