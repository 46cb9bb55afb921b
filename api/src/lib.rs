//! `oarn-api`: the node's local management API, as both sides speak it: JSON-RPC 2.0, one
//! request per line, on a Unix socket only the node's owner can open (mode 0600 inside the
//! 0700 node home). The daemon serves it (`oarn-node`); the `oarn` command, and the Python
//! bindings, call it through [`client::Client`]. This crate is light on purpose: serde, and
//! tokio's socket for the client, nothing of the node itself.
//!
//! Every method is a type: its value is the method's params, [`Method::NAME`] its name on
//! the wire and [`Method::Result`] the type of its answer, so neither side writes or reads
//! JSON by hand.
//!
//! - [`rpc`]: the JSON-RPC envelope and the error codes ([`rpc::Code`]), defined once.
//! - [`types`]: hashes, accounts and task ids, checked when read.
//! - [`node`]: the node and its workers (version, status, reload, shutdown).
//! - [`infer`]: generations and the models the node holds loaded.
//! - [`net`]: peers, task announcements, claim negotiation, results, the DHT.
//! - [`ipfs`]: files on IPFS through the node.
//! - [`tasks`]: the task pipeline (list, status, claim, history) and tasks for requesters.
//! - [`chain`]: the chain through the node's key: tasks, claims, submissions, balances,
//!   transfers, events.

pub mod chain;
pub mod client;
pub mod infer;
pub mod ipfs;
pub mod net;
pub mod node;
pub mod rpc;
pub mod tasks;
pub mod types;

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use client::{Client, ClientError};
pub use rpc::Code;
pub use types::{Address, Hash32, TaskId};

/// A method of the API: its params are this type's value.
pub trait Method: Serialize + DeserializeOwned + Send + 'static {
    /// Its name on the wire, e.g. `oarn_status`.
    const NAME: &'static str;
    /// What it answers.
    type Result: Serialize + DeserializeOwned + Send + 'static;
}

/// A method that streams notifications on the caller's connection before its result, and
/// that the caller may cancel (an `oarn_cancel` line, or closing the connection).
pub trait Streaming: Method {
    /// The notification's method name, e.g. `oarn_text`.
    const NOTE: &'static str;
    /// What each notification carries.
    type Note: Serialize + DeserializeOwned + Send + 'static;
    /// Whether this call streams (a method may stream only when asked to).
    fn streams(&self) -> bool {
        true
    }
}

/// The line a caller sends to cancel the streaming call it is waiting for.
pub const CANCEL: &str = "oarn_cancel";

/// Declares a method's params type and its name and result in one place.
macro_rules! method {
    ($params:ty, $name:literal, $result:ty) => {
        impl $crate::Method for $params {
            const NAME: &'static str = $name;
            type Result = $result;
        }
    };
}
pub(crate) use method;
