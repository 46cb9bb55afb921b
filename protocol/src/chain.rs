//! Messages of the chain worker (`oarn-worker-chain`).

use wincode::{SchemaRead, SchemaWrite};

use crate::envelope::{Down, Info, Progress, Up};

/// Supervisor → chain worker.
#[derive(Debug, Clone, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub enum Request {
    /// What the worker can do and how busy it is.
    Info,
}

/// chain worker → supervisor, final answers.
#[derive(Debug, Clone, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub enum Reply {
    Info(Info),
}

/// chain worker → supervisor, streamed while a request runs.
#[derive(Debug, Clone, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub enum Event {
    Progress(Progress),
}

/// A frame to the chain worker.
pub type ToWorker = Down<Request>;
/// A frame from the chain worker.
pub type FromWorker = Up<Reply, Event>;

crate::worker_protocol!(crate::WorkerKind::Chain);
