//! The API methods of validator-routed mode: `oarn_sendResult` (the fast path: tell the
//! connected validators of a task's result) and `oarn_results` (the results peers told this
//! node of). What peers said was checked in the network worker; here it is only shown.

use oarn_protocol::net::{self, Reply, Request};
use serde_json::{Value, json};

use super::net::{call, invalid, unexpected};
use crate::p2p;
use oarn_api::rpc::Error;
use oarn_supervise::Handle;

/// Validators have this long to acknowledge, inside the worker.
const WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// `oarn_sendResult {"task_id", "result_hash", "cid"}`: tells the connected validators that
/// the task's result (`result_hash` as submitted on chain) is on IPFS at `cid`.
pub async fn send(net: Option<&Handle<net::Protocol>>, params: &Value) -> Result<Value, Error> {
    let task_id = params
        .get("task_id")
        .and_then(Value::as_u64)
        .filter(|&t| t > 0)
        .ok_or_else(|| invalid("task_id must be a task id (1 or more)"))?;
    let result_hash = params
        .get("result_hash")
        .and_then(Value::as_str)
        .and_then(p2p::parse_hash)
        .ok_or_else(|| invalid("result_hash must be 0x followed by 64 hex digits (keccak256 of the result)"))?;
    let cid = params
        .get("cid")
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty() && c.len() <= 128)
        .ok_or_else(|| invalid("cid must be the result's CID (e.g. bafkrei…)"))?
        .to_string();
    let request = Request::Result {
        task_id,
        result_hash,
        cid,
    };
    match call(net, request, WAIT).await? {
        Reply::Delivered {
            validators,
            acknowledged,
            claim_to_result_ms,
        } => Ok(json!({
            "task_id": task_id,
            "validators": validators,
            "acknowledged": acknowledged,
            "claim_to_result_ms": claim_to_result_ms,
        })),
        other => Err(unexpected(other)),
    }
}

/// `oarn_results`: the result notices peers sent this node, oldest first.
pub fn heard(shared: &p2p::Shared) -> Value {
    let view = shared.read().unwrap_or_else(|e| e.into_inner());
    json!({ "results": view.results.iter().map(p2p::told_json).collect::<Vec<_>>() })
}
