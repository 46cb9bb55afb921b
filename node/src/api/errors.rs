//! How the node's failures become the API's errors, in one place: a worker's own error by
//! its kind, a worker that is not there or not answering by which worker it is, bad params by
//! the field they name.

use oarn_api::rpc::{Code, Error};
use oarn_protocol::WorkerKind;
use oarn_protocol::envelope::ErrorKind;
use oarn_supervise::CallError;

/// The live network's messages for its two codes.
pub const NOT_CONNECTED: &str = "Not connected";
pub const NO_PROVIDERS: &str = "No providers";

/// "Not connected", and why.
pub fn not_connected(reason: impl Into<String>) -> Error {
    Error::because(Code::NotConnected, NOT_CONNECTED, reason)
}

/// "No providers", and why.
pub fn no_providers(reason: impl Into<String>) -> Error {
    Error::because(Code::NoProviders, NO_PROVIDERS, reason)
}

/// Bad params, the message naming what is wrong.
pub fn invalid(message: impl Into<String>) -> Error {
    Error::new(Code::InvalidParams, message)
}

/// The error for a worker of `kind` that this node does not run at all.
pub fn absent(kind: WorkerKind) -> Error {
    match kind {
        WorkerKind::Net => not_connected("this node runs no network worker (network.mode = \"local\")"),
        WorkerKind::Chain => no_providers("this node runs no chain worker (network.mode = \"local\")"),
        WorkerKind::Infer => Error::new(Code::InternalError, "this node runs no inference worker"),
        WorkerKind::Anon => not_connected("this node runs no anonymity worker (privacy.mode = \"off\")"),
    }
}

/// A call that got no answer, or the worker's own error.
pub fn call(e: CallError) -> Error {
    match e {
        CallError::Worker(kind, reply) => {
            let code = match reply.kind {
                ErrorKind::InvalidRequest | ErrorKind::Unsupported => Code::InvalidParams,
                ErrorKind::Busy => Code::Busy,
                ErrorKind::Cancelled => Code::Cancelled,
                ErrorKind::DeadlineExceeded => Code::DeadlineExceeded,
                ErrorKind::Refused => Code::Refused,
                ErrorKind::Locked => Code::Locked,
                // What the network lacks (no peer, no such record) is "Not connected" only for
                // the network worker; elsewhere it is the thing asked for that is missing.
                ErrorKind::NotFound if kind == WorkerKind::Net => {
                    return not_connected(reply.message);
                }
                ErrorKind::NotFound => Code::NotFound,
                ErrorKind::Internal => Code::InternalError,
            };
            Error::new(code, reply.message)
        }
        CallError::NotRunning(WorkerKind::Net) | CallError::Lost(WorkerKind::Net) => not_connected(e.to_string()),
        CallError::NotRunning(WorkerKind::Chain) | CallError::Lost(WorkerKind::Chain) => no_providers(e.to_string()),
        CallError::NotRunning(_) | CallError::Lost(_) | CallError::Busy(_) | CallError::Overrun(_) => {
            Error::new(Code::Busy, e.to_string())
        }
    }
}

/// A worker that did not answer within `secs`.
pub fn too_slow(kind: WorkerKind, secs: u64) -> Error {
    Error::new(
        Code::Busy,
        format!("the {kind} worker did not answer within {secs} s; try again"),
    )
}

/// Params that do not deserialize: "<field> must be …" or "<field>: <what serde said>".
pub fn params(e: &serde_path_to_error::Error<serde_json::Error>) -> Error {
    let path = e.path().to_string();
    let inner = e.inner().to_string();
    // serde_json appends " at line L column C", which means nothing for a JSON value.
    let inner = inner.split(" at line ").next().unwrap_or(&inner).to_string();
    invalid(match path.as_str() {
        "." | "" => inner,
        _ if inner.starts_with("must ") => format!("{path} {inner}"),
        _ => format!("{path}: {inner}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use oarn_protocol::envelope::ErrorReply;

    fn code(e: CallError) -> i64 {
        call(e).code
    }

    #[test]
    fn worker_errors_map_to_the_codes_the_api_documents() {
        let reply = |kind| ErrorReply::new(kind, "x");
        assert_eq!(
            code(CallError::Worker(WorkerKind::Infer, reply(ErrorKind::InvalidRequest))),
            -32602
        );
        // A pin that does not exist is not a connectivity problem of the chain or inference.
        assert_eq!(
            code(CallError::Worker(WorkerKind::Infer, reply(ErrorKind::NotFound))),
            -32002
        );
        assert_eq!(
            code(CallError::Worker(WorkerKind::Net, reply(ErrorKind::NotFound))),
            -32000
        );
        assert_eq!(
            code(CallError::Worker(WorkerKind::Infer, reply(ErrorKind::DeadlineExceeded))),
            -32005
        );
        assert_eq!(
            code(CallError::Worker(WorkerKind::Infer, reply(ErrorKind::Internal))),
            -32603
        );
        assert_eq!(code(CallError::NotRunning(WorkerKind::Net)), -32000);
        assert_eq!(code(CallError::NotRunning(WorkerKind::Chain)), -32001);
        assert_eq!(code(CallError::NotRunning(WorkerKind::Infer)), -32003);
        assert_eq!(code(CallError::Overrun(WorkerKind::Infer)), -32003);
    }

    #[test]
    fn bad_params_name_their_field() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct P {
            task_id: oarn_api::TaskId,
            max_tokens: u32,
        }
        let err = |v: serde_json::Value| {
            let e = serde_path_to_error::deserialize::<_, P>(v).unwrap_err();
            params(&e).message
        };
        assert_eq!(
            err(serde_json::json!({"task_id": 0, "max_tokens": 1})),
            "task_id must be a task id (1 or more)"
        );
        assert_eq!(
            err(serde_json::json!({"task_id": 1, "max_tokens": -1})),
            "max_tokens: invalid value: integer `-1`, expected u32"
        );
        assert_eq!(err(serde_json::json!({"task_id": 1})), "missing field `max_tokens`");
    }
}
