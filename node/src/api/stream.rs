//! The API calls that stream: `oarn_generate`, whose generated text arrives as `oarn_text`
//! notifications (`{"text": …}`) on the caller's connection before the result, and
//! `oarn_ipfsFetch` with `"progress": true`, which sends `oarn_progress` (`{"done", "total"}`).
//! An `oarn_cancel` line sent on the same connection while it runs, or the connection
//! closing, cancels the work in the worker; the result (with what was done) still comes.

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, oneshot};

use oarn_protocol::envelope::Protocol;
use oarn_protocol::{infer, net};

use super::methods::Node;
use oarn_api::rpc::{self, Error, Request, Response};
use oarn_supervise::{CallError, Handle};

/// The method name.
pub const METHOD: &str = "oarn_generate";
/// Text pieces buffered between the worker and a slow caller.
const BUFFER: usize = 1024;

async fn write(w: &mut OwnedWriteHalf, v: &impl serde::Serialize) -> std::io::Result<()> {
    let mut bytes = serde_json::to_vec(v).map_err(std::io::Error::other)?;
    bytes.push(b'\n');
    w.write_all(&bytes).await
}

/// Whether a call of `method` with `params` streams (and so is served by [`serve`]).
pub fn streams(method: &str, params: &Value) -> bool {
    method == METHOD || (method == FETCH && params.get("progress").and_then(Value::as_bool) == Some(true))
}

/// `oarn_ipfsFetch` with `"progress": true`: `oarn_progress` notifications (`{"done",
/// "total"}` bytes) until the file is fetched.
pub const FETCH: &str = "oarn_ipfsFetch";

/// Runs a streaming call on the connection.
pub async fn serve(
    request: Request,
    node: &Node,
    reader: &mut BufReader<OwnedReadHalf>,
    writer: &mut OwnedWriteHalf,
) -> std::io::Result<()> {
    let id = request.id.clone().unwrap_or(Value::Null);
    let outcome = if request.method == METHOD {
        generate(request, node, reader, writer).await
    } else {
        fetch(request, node, reader, writer).await
    };
    write(writer, &Response::new(id, outcome)).await
}

/// Relays `body`'s events to the caller as notifications (`note` says which and how), and
/// cancels the call when the caller sends `oarn_cancel` or goes away; returns the reply.
async fn relay<P: Protocol>(
    handle: &Handle<P>,
    body: P::Request,
    reader: &mut BufReader<OwnedReadHalf>,
    writer: &mut OwnedWriteHalf,
    note: impl Fn(P::Event) -> Option<Value>,
) -> Result<P::Reply, CallError> {
    let (events, mut rx) = mpsc::channel(BUFFER);
    let (cancel, cancelled) = oneshot::channel();
    let mut cancel = Some(cancel);
    let call = handle.call_cancellable(body, Some(events), cancelled);
    tokio::pin!(call);
    let mut line = Vec::new();
    // What the caller may send while it waits (an `oarn_cancel`), bounded in all.
    let mut from_caller = (&mut *reader).take(rpc::MAX_REQUEST_BYTES as u64);
    let mut caller_gone = false;
    let reply = loop {
        tokio::select! {
            reply = &mut call => break reply,
            Some(event) = rx.recv() => {
                if let Some(n) = note(event)
                    && !caller_gone
                    && write(writer, &n).await.is_err()
                {
                    caller_gone = true;
                    cancel.take().map(|c| c.send(()));
                }
            }
            read = from_caller.read_until(b'\n', &mut line), if !caller_gone => {
                let asked = serde_json::from_slice::<Value>(&line)
                    .is_ok_and(|v| v.get("method").and_then(Value::as_str) == Some("oarn_cancel"));
                line.clear();
                if matches!(read, Ok(0) | Err(_)) {
                    caller_gone = true;
                }
                if asked || caller_gone {
                    cancel.take().map(|c| c.send(()));
                }
            }
        }
    };
    // Events that arrived with the reply.
    while let Ok(event) = rx.try_recv() {
        if let Some(n) = note(event) {
            let _ = write(writer, &n).await;
        }
    }
    reply
}

fn notification(method: &str, params: Value) -> Value {
    json!({"jsonrpc": "2.0", "method": method, "params": params})
}

fn call_error(e: CallError) -> Error {
    match e {
        CallError::Worker(_, e) => Error::new(rpc::INTERNAL_ERROR, e.message),
        e => Error::new(rpc::INTERNAL_ERROR, e.to_string()),
    }
}

async fn generate(
    request: Request,
    node: &Node,
    reader: &mut BufReader<OwnedReadHalf>,
    writer: &mut OwnedWriteHalf,
) -> Result<Value, Error> {
    let invalid = |m: String| Error::new(rpc::INVALID_PARAMS, m);
    let (name, mut g) = crate::generate::request_from_json(&request.params).map_err(invalid)?;
    let Some(infer) = node.workers.infer.clone() else {
        return Err(Error::new(rpc::INTERNAL_ERROR, "this node runs no inference worker"));
    };
    let config = node.config.read().unwrap_or_else(|e| e.into_inner()).clone();
    let chosen = crate::local::resolve(&config, &node.home, name.as_deref()).map_err(|e| invalid(e.to_string()))?;
    g.model = chosen.model.clone();
    if g.threads == 0 {
        g.threads = config.compute.threads;
    }
    let note = |e| match e {
        infer::Event::Token(t) => Some(notification("oarn_text", json!({"text": t}))),
        infer::Event::Progress(_) => None,
    };
    let reply = relay(&infer, infer::Request::Generate(g), reader, writer, note).await;
    match reply.map_err(call_error)? {
        infer::Reply::Generated(done) => Ok(crate::generate::result_json(&done, &chosen.name)),
        other => Err(Error::new(rpc::INTERNAL_ERROR, format!("unexpected reply {other:?}"))),
    }
}

async fn fetch(
    request: Request,
    node: &Node,
    reader: &mut BufReader<OwnedReadHalf>,
    writer: &mut OwnedWriteHalf,
) -> Result<Value, Error> {
    let (body, _) = super::net::fetch_request(&request.params)?;
    let Some(net_worker) = node.workers.net.clone() else {
        return Err(super::net::not_connected(
            "this node runs no network worker (network.mode = \"local\")",
        ));
    };
    let note = |e| match e {
        net::Event::Progress(p) => Some(notification("oarn_progress", json!({"done": p.done, "total": p.total}))),
        _ => None,
    };
    let reply = relay(&net_worker, body, reader, writer, note).await;
    super::net::fetched(reply.map_err(call_error)?)
}
