//! What the node learned about a task when it first saw it, and where it saw it.

use serde::{Deserialize, Serialize};

use crate::{Hash, TaskId};

/// Where a task was first seen. Routed announcements (from a validator, in validator-routed
/// mode) are worked on first, then the rest in the order they came.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// Announced by a validator this node routes through.
    Routed,
    /// Announced on `oarn/tasks/v1`.
    Gossip,
    /// A `TaskCreated` event.
    Chain,
    /// The scan of active tasks at start.
    Scan,
    /// The operator asked for it (`oarn task claim ID`).
    Operator,
}

impl Source {
    /// Lower runs first.
    pub fn priority(self) -> u8 {
        match self {
            Source::Operator => 0,
            Source::Routed => 1,
            Source::Gossip | Source::Chain | Source::Scan => 2,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Source::Routed => "routed",
            Source::Gossip => "gossip",
            Source::Chain => "chain",
            Source::Scan => "scan",
            Source::Operator => "operator",
        }
    }
}

/// A task as first seen. Announcements are claims by peers; validation reads the task from the
/// chain before anything is paid, and the chain's word replaces these fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offer {
    pub id: TaskId,
    pub model_hash: Hash,
    pub input_hash: Hash,
    /// Reward per node, wei.
    #[serde(with = "crate::wei")]
    pub reward_wei: u128,
    pub required_nodes: u64,
    /// Unix seconds.
    pub deadline: u64,
    pub source: Source,
}
