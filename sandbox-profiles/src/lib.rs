//! Worker sandboxes: the profile each worker enforces, and the code that applies it.
//!
//! Every worker calls [`worker::main`], which enters the sandbox with [`enter`] before it reads
//! any input or starts a thread, then serves the supervisor. The profiles are the files
//! `worker-infer.toml`, `worker-net.toml` and `worker-chain.toml` beside this crate, embedded at
//! build time ([`profile`]); an operator may point `sandbox.profile_dir` at replacements.
//!
//! One module per layer: [`namespaces`] and the mount table's [`view`], [`rlimits`],
//! [`filesystem`] (Landlock), [`capabilities`], [`seccomp`]; [`syscalls`] names syscalls and
//! constants.

pub mod capabilities;
pub mod enter;
pub mod filesystem;
pub mod launch;
pub mod namespaces;
pub mod probe;
pub mod profile;
pub mod rlimits;
pub mod seccomp;
pub mod syscalls;
pub mod view;
pub mod worker;

pub use enter::enter;
pub use launch::Launch;
