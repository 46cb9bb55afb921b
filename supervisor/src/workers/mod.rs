//! The supervisor's side of its workers: spawning each one in a clean process, the handshake,
//! health pings, restarts with backoff, and the status `oarn status` shows.

pub mod alone;
pub mod backoff;
pub mod proc_status;
pub mod spawn;
pub mod status;
pub mod stderr;
pub mod supervise;

pub use status::{State, WorkerStatus};
pub use supervise::{CallError, Handle, Settings, Supervisor, Workers};
