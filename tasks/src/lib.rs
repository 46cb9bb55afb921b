//! `oarn-tasks`: the task manager as a state machine with no I/O, run by the daemon
//! (`oarn-node`), which journals every [`Input`] before it performs the [`Effect`]s that input
//! asks for, and the outcome after.
//!
//! A task goes Discovered → Validated → Claiming → Claimed → InputFetched → ModelReady →
//! Executed → ResultUploaded → Submitting → Submitted → Settled (rewarded, unrewarded,
//! disputed), or ends Failed or Skipped with a [`Reason`]. Everything here is a pure function
//! of a task and what happened to it:
//!
//! - [`on`]: apply one input at a time, get the effects to perform;
//! - [`resume`]: after a restart (the task rebuilt by replaying its journal), what to do next;
//!   a task whose claim or submission may have gone out asks for the chain's facts first;
//! - [`reconcile`]: apply the chain's facts (`hasClaimedTask`, `hasSubmittedResult`, status,
//!   counts, results) so nothing is claimed or submitted twice and nothing is lost;
//! - [`policy::check`]: the checks made before any gas is spent.

pub mod machine;
pub mod offer;
pub mod policy;
pub mod reconcile;
pub mod state;
mod wei;

pub use machine::{Effect, GasFor, Input, on, resume};
pub use offer::{Offer, Source};
pub use reconcile::{ChainFacts, ChainStatus, reconcile};
pub use state::{Outcome, Reason, Stage, Task};

/// A task's id on TaskRegistryV2 (ids start at 1).
pub type TaskId = u64;
/// Milliseconds since the Unix epoch: the machine's clock, always passed in.
pub type Millis = u64;
/// 32 bytes: a content hash or a result hash.
pub type Hash = [u8; 32];
/// An Ethereum transaction hash.
pub type TxHash = [u8; 32];
