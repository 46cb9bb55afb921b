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

/// Marker type tying the chain worker's messages together.
#[derive(Debug, Clone, Copy)]
pub struct Protocol;

impl crate::envelope::Protocol for Protocol {
    const KIND: crate::WorkerKind = crate::WorkerKind::Chain;
    type Request = Request;
    type Reply = Reply;
    type Event = Event;

    fn info_request() -> Request {
        Request::Info
    }

    fn info_reply(reply: &Reply) -> Option<&Info> {
        match reply {
            Reply::Info(info) => Some(info),
        }
    }
}
