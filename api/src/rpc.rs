//! JSON-RPC 2.0 messages and the error codes of the OARN node API.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Invalid JSON.
pub const PARSE_ERROR: i64 = -32700;
/// Not a valid request object.
pub const INVALID_REQUEST: i64 = -32600;
/// No such method.
pub const METHOD_NOT_FOUND: i64 = -32601;
/// Wrong or missing parameters.
pub const INVALID_PARAMS: i64 = -32602;
/// Something failed inside the node.
pub const INTERNAL_ERROR: i64 = -32603;
/// The node is not connected to the network.
pub const NOT_CONNECTED: i64 = -32000;
/// No RPC provider is available.
pub const NO_PROVIDERS: i64 = -32001;
/// The configuration on disk is invalid (local extension).
pub const INVALID_CONFIG: i64 = -32010;

/// Longest request line the server reads.
pub const MAX_REQUEST_BYTES: usize = 1 << 20;

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
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            data: None,
        }
    }

    pub fn with_data(mut self, data: Value) -> Self {
        self.data = Some(data);
        self
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
