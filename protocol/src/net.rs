//! Messages of the network worker (`oarn-worker-net`).

use wincode::{SchemaRead, SchemaWrite};

use crate::envelope::{Down, Info, Progress, Up};

/// Supervisor → net worker.
#[derive(Debug, Clone, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub enum Request {
    /// What the worker can do and how busy it is.
    Info,
}

/// net worker → supervisor, final answers.
#[derive(Debug, Clone, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub enum Reply {
    Info(Info),
}

/// net worker → supervisor, streamed while a request runs.
#[derive(Debug, Clone, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub enum Event {
    Progress(Progress),
}

/// A frame to the net worker.
pub type ToWorker = Down<Request>;
/// A frame from the net worker.
pub type FromWorker = Up<Reply, Event>;

crate::worker_protocol!(crate::WorkerKind::Net);
