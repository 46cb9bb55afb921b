//! JSON-RPC 2.0 messages, and the error codes of the node's API: every code is defined here,
//! once, with what it means; the daemon and every client take them from here.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Longest request line the server reads.
pub const MAX_REQUEST_BYTES: usize = 1 << 20;

/// What went wrong, as a JSON-RPC error code. The first five are JSON-RPC's own, the next
/// two the live network's node API; the rest are this node's, in the range JSON-RPC leaves to
/// servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    /// The request line is not JSON.
    ParseError,
    /// The JSON is not a JSON-RPC 2.0 request (or is larger than [`MAX_REQUEST_BYTES`]).
    InvalidRequest,
    /// No such method.
    MethodNotFound,
    /// The parameters are missing, malformed or out of range; the message names which.
    InvalidParams,
    /// Something failed inside the node; the message says what.
    InternalError,
    /// The node is not connected to the peer-to-peer network (no network worker, no swarm,
    /// no peer to ask).
    NotConnected,
    /// The node cannot reach the chain (no chain worker, no RPC provider).
    NoProviders,
    /// What was asked for does not exist: a model, a pin, a task.
    NotFound,
    /// The worker that does this is busy, restarting or did not answer in time; try again.
    Busy,
    /// The request was cancelled.
    Cancelled,
    /// The request's own deadline passed.
    DeadlineExceeded,
    /// The contract refused the transaction; the message carries its reason.
    Refused,
    /// The wallet is locked: the node holds no signing key (`oarn wallet unlock`).
    Locked,
    /// The configuration file is invalid; the running configuration was kept.
    InvalidConfig,
}

impl Code {
    /// Every code, for documentation and tests.
    pub const ALL: [Code; 14] = [
        Code::ParseError,
        Code::InvalidRequest,
        Code::MethodNotFound,
        Code::InvalidParams,
        Code::InternalError,
        Code::NotConnected,
        Code::NoProviders,
        Code::NotFound,
        Code::Busy,
        Code::Cancelled,
        Code::DeadlineExceeded,
        Code::Refused,
        Code::Locked,
        Code::InvalidConfig,
    ];

    /// The number on the wire.
    pub const fn number(self) -> i64 {
        match self {
            Code::ParseError => -32700,
            Code::InvalidRequest => -32600,
            Code::MethodNotFound => -32601,
            Code::InvalidParams => -32602,
            Code::InternalError => -32603,
            Code::NotConnected => -32000,
            Code::NoProviders => -32001,
            Code::NotFound => -32002,
            Code::Busy => -32003,
            Code::Cancelled => -32004,
            Code::DeadlineExceeded => -32005,
            Code::Refused => -32006,
            Code::Locked => -32007,
            Code::InvalidConfig => -32010,
        }
    }

    /// The code a number stands for.
    pub fn from_number(n: i64) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.number() == n)
    }
}

/// A request (a notification when `id` is absent).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Request {
    pub jsonrpc: String,
    pub method: String,
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub params: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Value>,
}

impl Request {
    pub fn new(method: &str, params: Value, id: u64) -> Self {
        Self {
            jsonrpc: "2.0".into(),
            method: method.into(),
            params,
            id: Some(id.into()),
        }
    }
}

/// An error object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}{} (code {code})", reason(data.as_ref()))]
pub struct Error {
    pub code: i64,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

/// ": <reason>" when the error's data carries one, so the CLI says why.
fn reason(data: Option<&Value>) -> String {
    data.and_then(|d| d.get("reason"))
        .and_then(Value::as_str)
        .map(|r| format!(": {r}"))
        .unwrap_or_default()
}

impl Error {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code: code.number(),
            message: message.into(),
            data: None,
        }
    }

    /// An error whose message is the code's fixed text (the live network's "Not connected",
    /// "No providers") and whose `data.reason` says why.
    pub fn because(code: Code, message: &str, reason: impl Into<String>) -> Self {
        Self::new(code, message).with_data(serde_json::json!({ "reason": reason.into() }))
    }

    pub fn with_data(mut self, data: Value) -> Self {
        self.data = Some(data);
        self
    }

    /// The code, when it is one of ours.
    pub fn kind(&self) -> Option<Code> {
        Code::from_number(self.code)
    }

    /// The reason in `data`, when there is one.
    pub fn reason(&self) -> Option<&str> {
        self.data.as_ref()?.get("reason")?.as_str()
    }
}

/// A response: exactly one of `result` and `error`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Response {
    pub jsonrpc: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Error>,
    pub id: Value,
}

impl Response {
    pub fn new(id: Value, outcome: Result<Value, Error>) -> Self {
        let (result, error) = match outcome {
            Ok(v) => (Some(v), None),
            Err(e) => (None, Some(e)),
        };
        Self {
            jsonrpc: "2.0".into(),
            result,
            error,
            id,
        }
    }
}

/// A notification (no id) the server streams before a streaming method's result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Notification {
    pub jsonrpc: String,
    pub method: String,
    #[serde(default)]
    pub params: Value,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_its_own_number_in_the_servers_range() {
        for (i, c) in Code::ALL.iter().enumerate() {
            assert_eq!(Code::from_number(c.number()), Some(*c));
            assert!(Code::ALL[..i].iter().all(|o| o.number() != c.number()), "{c:?}");
            assert!((-32768..=-32000).contains(&c.number()), "{c:?}");
        }
        // The live network's codes keep their numbers.
        assert_eq!(Code::NotConnected.number(), -32000);
        assert_eq!(Code::NoProviders.number(), -32001);
        assert_eq!(Code::from_number(-1), None);
    }

    #[test]
    fn readme_documents_every_code() {
        let readme = include_str!("../../README.md");
        let api = readme
            .split("### Local API")
            .nth(1)
            .expect("README has a Local API section");
        let api = api.split("\n### ").next().unwrap_or(api);
        for c in Code::ALL {
            assert!(api.contains(&format!("| {} |", c.number())), "README lacks {c:?}");
        }
    }
}
