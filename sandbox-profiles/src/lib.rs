//! Worker sandboxes: the profile each worker enforces, and the code that applies it.
//!
//! Every worker calls [`worker::main`], which enters the sandbox with [`enter`] before it reads
//! any input or starts a thread, then serves the supervisor. The full per-worker profiles
//! (namespaces, Landlock, capabilities, seccomp) are not enforced by this build yet: [`enter`]
//! applies the layers it can and reports every other layer as not applied, with the reason, so
//! the supervisor and `oarn status` show exactly what is in force.

pub mod enter;
pub mod launch;
pub mod worker;

pub use enter::enter;
pub use launch::Launch;
