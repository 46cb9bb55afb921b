//! The envelope every message travels in: health pings, requests with ids, replies and
//! streamed events that carry the id back, cancellation and shutdown.

use wincode::{SchemaRead, SchemaWrite};

use crate::frame::FrameError;

/// Identifies one request; replies and events carry it back. Chosen by the supervisor,
/// unique per worker process.
pub type RequestId = u64;

/// Supervisor → worker.
#[derive(Debug, Clone, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub enum Down<Req> {
    /// Health check; the worker answers [`Up::Pong`] with the same nonce.
    Ping { nonce: u64 },
    /// Work for the worker.
    Request { id: RequestId, body: Req },
    /// Stop working on a request; the worker still answers it (with [`ErrorKind::Cancelled`]
    /// if it had not finished).
    Cancel { id: RequestId },
    /// Finish within `grace_ms` milliseconds and exit; after that the supervisor kills it.
    Shutdown { grace_ms: u32 },
}

/// Worker → supervisor.
#[derive(Debug, Clone, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub enum Up<Rep, Ev> {
    /// Answer to [`Down::Ping`].
    Pong { nonce: u64 },
    /// The final answer to a request.
    Reply {
        id: RequestId,
        body: Result<Rep, ErrorReply>,
    },
    /// Something streamed while a request runs (tokens, progress).
    Event { id: RequestId, body: Ev },
}

/// A request that failed, as the worker reports it.
#[derive(Debug, Clone, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct ErrorReply {
    pub kind: ErrorKind,
    pub message: String,
}

impl ErrorReply {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for ErrorReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

/// What kind of failure an [`ErrorReply`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub enum ErrorKind {
    /// The request was malformed or its arguments invalid.
    InvalidRequest,
    /// This worker build cannot do that.
    Unsupported,
    /// Too many requests in flight.
    Busy,
    /// The thing asked for does not exist.
    NotFound,
    /// The supervisor cancelled the request.
    Cancelled,
    /// The request's deadline passed.
    DeadlineExceeded,
    /// What the request asked for was refused by a party the worker spoke to (a contract's
    /// revert); the message is that party's reason, as it gave it.
    Refused,
    /// The request needs a key the worker does not hold (the wallet is locked).
    Locked,
    /// Anything else went wrong inside the worker.
    Internal,
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::InvalidRequest => "invalid request",
            Self::Unsupported => "unsupported",
            Self::Busy => "busy",
            Self::NotFound => "not found",
            Self::Cancelled => "cancelled",
            Self::DeadlineExceeded => "deadline exceeded",
            Self::Refused => "refused",
            Self::Locked => "locked",
            Self::Internal => "internal error",
        })
    }
}

/// What a worker says about itself when asked (every worker answers an `Info` request).
#[derive(Debug, Clone, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct Info {
    /// What this worker build can do, e.g. `llama.cpp` or `gossipsub`; empty when it only
    /// answers health checks.
    pub capabilities: Vec<String>,
    /// Requests it is working on right now.
    pub in_flight: u32,
}

/// Progress of a long request (downloads, model loads).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct Progress {
    pub done: u64,
    /// Zero when the total is not known yet.
    pub total: u64,
}

/// Ties one worker's request, reply and event types to its kind, so code that supervises or
/// serves any worker is written once.
pub trait Protocol: Send + Sync + 'static {
    const KIND: crate::WorkerKind;
    type Request: Send + Sync + std::fmt::Debug + 'static;
    type Reply: Send + Sync + std::fmt::Debug + 'static;
    type Event: Send + Sync + std::fmt::Debug + 'static;
    /// The request every worker answers with its [`Info`].
    type GetInfo: Call<Protocol = Self, Reply = Info> + Default;

    /// Encodes a supervisor → worker frame into `out`.
    fn encode_down(msg: &Down<Self::Request>, max: u32, out: &mut Vec<u8>) -> Result<(), FrameError>;
    /// Decodes a supervisor → worker payload.
    fn decode_down(payload: &[u8]) -> Result<Down<Self::Request>, FrameError>;
    /// Encodes a worker → supervisor frame into `out`.
    fn encode_up(msg: &Up<Self::Reply, Self::Event>, max: u32, out: &mut Vec<u8>) -> Result<(), FrameError>;
    /// Decodes a worker → supervisor payload.
    fn decode_up(payload: &[u8]) -> Result<Up<Self::Reply, Self::Event>, FrameError>;
}

/// One request of a worker's protocol, which names the type of its reply: callers get that
/// type back, never the whole reply enum, and the supervisor refuses (and kills) a worker that
/// answers a request with a reply of another kind.
pub trait Call: Send + 'static {
    /// The worker it is sent to.
    type Protocol: Protocol;
    /// What the worker answers.
    type Reply: Send + 'static;
    /// The request as it travels.
    fn request(self) -> <Self::Protocol as Protocol>::Request;
    /// True when `reply` is the kind of answer this request takes.
    fn accepts(reply: &<Self::Protocol as Protocol>::Reply) -> bool;
    /// The answer out of a reply [`Call::accepts`].
    fn reply(reply: <Self::Protocol as Protocol>::Reply) -> Option<Self::Reply>;
}

/// Pairs each request of a worker module with its reply: `Name => Variant(Type)` says that
/// `Request::Name(Name)` is answered by `Reply::Variant(Type)`, and implements [`Call`] for
/// `Name`. The module must define `Request`, `Reply` and `Protocol`.
#[macro_export]
macro_rules! calls {
    ($($request:ident => $variant:ident($reply:ty)),* $(,)?) => {
        $(
            impl $crate::envelope::Call for $request {
                type Protocol = Protocol;
                type Reply = $reply;

                fn request(self) -> Request {
                    Request::$request(self)
                }

                fn accepts(reply: &Reply) -> bool {
                    matches!(reply, Reply::$variant(_))
                }

                fn reply(reply: Reply) -> Option<$reply> {
                    match reply {
                        Reply::$variant(v) => Some(v),
                        _ => None,
                    }
                }
            }

            impl From<$request> for Request {
                fn from(r: $request) -> Self {
                    Request::$request(r)
                }
            }
        )*
    };
}

/// Implements [`Protocol`] for the `Protocol` marker of a worker module that defines `Request`,
/// `Reply`, `Event`, `ToWorker`, `FromWorker` and the request `GetInfo`.
#[macro_export]
macro_rules! worker_protocol {
    ($kind:expr) => {
        /// Marker type tying this worker's messages together.
        #[derive(Debug, Clone, Copy)]
        pub struct Protocol;

        impl $crate::envelope::Protocol for Protocol {
            const KIND: $crate::WorkerKind = $kind;
            type Request = Request;
            type Reply = Reply;
            type Event = Event;
            type GetInfo = GetInfo;

            fn encode_down(msg: &ToWorker, max: u32, out: &mut Vec<u8>) -> Result<(), $crate::FrameError> {
                $crate::frame::encode_into(msg, max, out)
            }

            fn decode_down(payload: &[u8]) -> Result<ToWorker, $crate::FrameError> {
                $crate::frame::decode(payload)
            }

            fn encode_up(msg: &FromWorker, max: u32, out: &mut Vec<u8>) -> Result<(), $crate::FrameError> {
                $crate::frame::encode_into(msg, max, out)
            }

            fn decode_up(payload: &[u8]) -> Result<FromWorker, $crate::FrameError> {
                $crate::frame::decode(payload)
            }
        }
    };
}
