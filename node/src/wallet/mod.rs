//! `oarn wallet`: every key operation runs in the sandboxed chain worker. This side opens the
//! files the operator names, hands them to the worker as descriptors ([`oarn_supervise::command`]),
//! relays its output, and writes the sealed keystore it sends back; it never sees a key.

mod keyfile;
mod txlock;

pub use keyfile::{KeyfileError, write_new, write_replacing};
pub use oarn_supervise::command::{Input, Outcome, Results, RunError, run};
pub use txlock::TxLock;
