//! The task pipeline's daemon side: the journal the state machine of `oarn-tasks` is recorded
//! in, the effects performed through the workers, and the loop that runs them.
//!
//! - [`journal`]: SQLite, each input committed before its effects run.
//! - [`effects`]: validation, claim, fetch, model, inference, upload, notice, submission.
//! - [`pipeline`]: discovery, slots, timers, settlement events; the loop.
//! - [`results`]: result bytes kept until the task ends and its retention passes.
//! - [`retention`]: releasing results (unpin, remove) once their retention passed.
//! - [`timings`]: where a task's time went, and the node's own overhead.

pub mod effects;
pub mod journal;
pub mod pipeline;
pub mod results;
pub mod retention;
pub mod timings;

pub use journal::{Journal, JournalError, Ledger};
pub use timings::Timings;

/// The machine's clock: milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
