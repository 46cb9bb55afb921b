//! `oarn wallet`: every key operation runs in the sandboxed chain worker. This side opens the
//! files the operator names, hands them to the worker as descriptors, relays its output, and
//! writes the sealed keystore it sends back; it never sees a key.

mod keyfile;
mod txlock;
mod worker;

pub use keyfile::{KeyfileError, write_new, write_replacing};
pub use txlock::TxLock;
pub use worker::{Input, Outcome, Results, RunError, run};
