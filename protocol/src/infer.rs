//! Messages of the inference worker (`oarn-worker-infer`).

use wincode::{SchemaRead, SchemaWrite};

use crate::envelope::{Down, Info, Progress, Up};

/// Supervisor → infer worker.
#[derive(Debug, Clone, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub enum Request {
    /// What the worker can do and how busy it is.
    Info,
}

/// infer worker → supervisor, final answers.
#[derive(Debug, Clone, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub enum Reply {
    Info(Info),
}

/// infer worker → supervisor, streamed while a request runs.
#[derive(Debug, Clone, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub enum Event {
    Progress(Progress),
}

/// A frame to the infer worker.
pub type ToWorker = Down<Request>;
/// A frame from the infer worker.
pub type FromWorker = Up<Reply, Event>;

crate::worker_protocol!(crate::WorkerKind::Infer);
