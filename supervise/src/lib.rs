//! `oarn-supervise`: the supervisor's side of its workers, run by the daemon (`oarn start`)
//! and by the `oarn` command for work of one command (a local generation, a pull, a wallet
//! operation, `oarn sandbox verify`).
//!
//! - [`spawn`]: starting a worker or helper process: clean environment, only the descriptors
//!   it needs, its own process group, death with the supervisor.
//! - [`supervise`]: one task per worker: handshake, sandbox cross-check, pings, requests with
//!   ids, restarts with [`backoff`]; [`status`] is what `oarn status` shows of it.
//! - [`handle`]: typed calls to a worker, cancelled in it when the caller cancels or leaves.
//! - [`process`]: a worker process as supervision sees it, and the [`process::Launcher`] that
//!   starts it (the real binary, or an in-memory worker in tests).
//! - [`proc_status`]: what the kernel says of a worker's sandbox in `/proc/<pid>/status`.
//! - [`stderr`]: a worker's stderr merged into the node's log, cleaned.
//! - [`alone`]: one worker for one command, without a daemon.
//! - [`command`]: a one-shot command of the chain worker (`oarn wallet`'s key operations).
//! - [`probe`]: `oarn sandbox verify`: each worker run in probe mode under its real profile.
//! - [`ollama`]: `ollama serve` as a supervised helper process.

pub mod alone;
pub mod backoff;
pub mod command;
pub mod handle;
pub mod ollama;
pub mod probe;
pub mod proc_status;
pub mod process;
pub mod spawn;
pub mod status;
pub mod stderr;
pub mod supervise;

pub use status::{State, WorkerStatus};
pub use supervise::{CallError, Handle, Settings, Supervisor, Workers, anon_socket, with_anon};
