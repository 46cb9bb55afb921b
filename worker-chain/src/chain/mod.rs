//! The node's chain operations, as the chain worker serves them in frames ([`crate::serve`]):
//! the task registry ([`tasks`]), the account's events ([`events`]), balances and transfers
//! ([`transfer`]), and validator registration ([`validator`]). Each returns the protocol's
//! own types; a contract's refusal is its reason, verbatim.

pub mod events;
pub mod tasks;
pub mod transfer;
pub mod validator;

use oarn_protocol::envelope::{ErrorKind, ErrorReply};

/// Why a chain operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No task with this id.
    #[error("task {0} does not exist (task ids start at 1)")]
    NoSuchTask(u64),
    /// The contract (or the registry's rules) refused; the reason as given.
    #[error("{0}")]
    Refused(String),
    /// The account cannot pay for it.
    #[error("{0}")]
    InsufficientFunds(String),
    /// The request itself is unusable.
    #[error("{0}")]
    Invalid(String),
    /// An RPC request failed.
    #[error("{step}: {message}")]
    Rpc {
        /// What was being done.
        step: &'static str,
        /// The error.
        message: String,
    },
    /// Discovery or the endpoints.
    #[error(transparent)]
    Discovery(#[from] crate::discovery::Error),
    /// The supervisor's channel broke while streaming.
    #[error("the channel to the supervisor failed: {0}")]
    Channel(String),
}

impl From<crate::rpc::Error> for Error {
    fn from(e: crate::rpc::Error) -> Self {
        Self::Discovery(e.into())
    }
}

impl From<Error> for ErrorReply {
    fn from(e: Error) -> Self {
        let kind = match &e {
            Error::NoSuchTask(_) => ErrorKind::NotFound,
            Error::Refused(_) => ErrorKind::Refused,
            Error::InsufficientFunds(_) | Error::Invalid(_) => ErrorKind::InvalidRequest,
            Error::Rpc { .. } | Error::Discovery(_) | Error::Channel(_) => ErrorKind::Internal,
        };
        ErrorReply::new(kind, e.to_string())
    }
}
