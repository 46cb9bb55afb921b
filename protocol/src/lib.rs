//! The wire contract between the `oarn` supervisor and its worker processes.
//!
//! A worker talks to the supervisor over its stdin/stdout pipes. Every message is a *frame*: a
//! `u32` little-endian payload length followed by the payload in the bincode wire format.
//!
//! # Why wincode
//! The `bincode` crate is unmaintained (its 3.0.0 release is a `compile_error!` tombstone). The
//! maintained [`wincode`] crate writes the same bytes as bincode's default configuration
//! (fixed-width little-endian integers, `u64` lengths, `u32` enum tags) and, unlike bincode,
//! refuses to preallocate more than a configured limit, so a hostile length prefix inside a
//! payload cannot make the reader allocate. Every message here derives wincode's schema traits;
//! nothing needed bincode 2.0.1.
//!
//! # Layout
//! - [`frame`]: the frame codec, limits, and blocking reader/writer.
//! - [`channel`] (feature `tokio`): the same codec over `AsyncRead`/`AsyncWrite`.
//! - [`handshake`]: the first frame each way.
//! - [`envelope`]: ping/pong, requests with ids, replies, streamed events, shutdown.
//! - [`infer`], [`net`], [`chain`], [`anon`]: the typed requests, replies and events of each
//!   worker.
//! - [`task`]: a task's input block, model manifest and requirements, parsed.
//! - [`archive`]: which files a model archive (a model of several files) holds.
//! - [`sandbox`]: a worker's own report of the sandbox layers it entered.
//! - [`serve`]: the blocking request loop a worker runs after its handshake.
//! - [`exit`]: every worker's exit statuses.
//! - [`pipe`]: pipe buffer tuning for the spawning side.
//! - [`hex`]: hashes and addresses as `0x…` text; [`text`]: outside text made terminal-safe.
//!
//! # Typed calls
//! Each request of a worker is a type that names the type of its reply ([`envelope::Call`]),
//! so a caller gets that type back and a worker that answers with another kind of reply is a
//! protocol violation, caught where the reply arrives.
//!
//! # Feature `serde`
//! The types the local API and the model store carry on (generations, model headers,
//! announcements) also derive serde's traits, hashes as `0x…` hex.

pub mod alloc;
pub mod anon;
pub mod archive;
pub mod chain;
#[cfg(feature = "tokio")]
pub mod channel;
pub mod envelope;
pub mod exit;
pub mod frame;
pub mod handshake;
pub mod hex;
pub mod infer;
pub mod net;
pub mod pipe;
pub mod sandbox;
pub mod serve;
pub mod task;
pub mod text;

pub use envelope::{Down, ErrorKind, ErrorReply, RequestId, Up};
pub use frame::{DEFAULT_MAX_FRAME, FrameError};
pub use handshake::{Hello, PROTOCOL_VERSION, Role, WorkerKind};
