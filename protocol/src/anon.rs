//! Messages of the anonymity worker (`oarn-worker-anon`): in privacy mode the only process of
//! the node that reaches the internet. It serves SOCKS5 on a Unix socket to the network and
//! chain workers, which run in an empty network namespace, and reports how its transport is
//! doing. Everything it reports comes from the Tor network and is shown, never acted on.

use wincode::{SchemaRead, SchemaWrite};

use crate::envelope::{Down, Info, Up};

/// Supervisor → anonymity worker.
#[derive(Debug, Clone, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub enum Request {
    GetInfo(GetInfo),
    GetStatus(GetStatus),
}

crate::calls! {
    GetInfo => Info(Info),
    GetStatus => Status(Status),
}

/// What the worker can do and how busy it is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct GetInfo;

/// The transport's state now ([`Status`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct GetStatus;

/// The privacy transport as the worker sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct Status {
    /// `tor`.
    pub transport: String,
    /// The client has a usable directory and circuits: streams can be opened.
    pub ready: bool,
    /// Bootstrap progress, 0 to 100.
    pub percent: u8,
    /// What holds the bootstrap up, if anything (arti's own words).
    pub blocked: Option<String>,
    /// Streams open now, opened in all, and refused or failed in all.
    pub streams_open: u32,
    pub streams_total: u64,
    pub streams_failed: u64,
    /// The node's onion service, as a multiaddr (`/onion3/<address>:<port>`), once launched.
    pub onion: Option<String>,
}

/// Anonymity worker → supervisor.
#[derive(Debug, Clone, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub enum Reply {
    Info(Info),
    Status(Status),
}

/// Anonymity worker → supervisor, streamed while a request runs (none yet).
#[derive(Debug, Clone, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub enum Event {
    /// Bootstrap progress, 0 to 100.
    Bootstrap { percent: u8 },
}

/// A frame to the anonymity worker.
pub type ToWorker = Down<Request>;
/// A frame from the anonymity worker.
pub type FromWorker = Up<Reply, Event>;

crate::worker_protocol!(crate::WorkerKind::Anon);
