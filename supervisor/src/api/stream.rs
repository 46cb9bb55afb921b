//! `oarn_generate`, the one API method that streams: the generated text arrives as
//! `oarn_text` notifications (`{"text": …}`) on the caller's connection, then the result. An
//! `oarn_cancel` line sent on the same connection while it runs, or the connection closing,
//! cancels the generation in the worker; the result (with what was generated) still comes.

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, oneshot};

use super::methods::Node;
use super::rpc::{self, Error, Request, Response};
use crate::workers::CallError;
use oarn_protocol::infer::{Event, Reply, Request as InferRequest};

/// The method name.
pub const METHOD: &str = "oarn_generate";
/// Text pieces buffered between the worker and a slow caller.
const BUFFER: usize = 1024;

async fn write(w: &mut OwnedWriteHalf, v: &impl serde::Serialize) -> std::io::Result<()> {
    let mut bytes = serde_json::to_vec(v).map_err(std::io::Error::other)?;
    bytes.push(b'\n');
    w.write_all(&bytes).await
}

/// Runs `request` (an `oarn_generate` call) on the connection, streaming its text.
pub async fn serve(
    request: Request,
    node: &Node,
    reader: &mut BufReader<OwnedReadHalf>,
    writer: &mut OwnedWriteHalf,
) -> std::io::Result<()> {
    let id = request.id.clone().unwrap_or(Value::Null);
    let outcome = run(request, node, reader, writer).await;
    write(writer, &Response::new(id, outcome)).await
}

async fn run(
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
    let model_name = chosen.name.clone();
    if g.threads == 0 {
        g.threads = config.compute.threads;
    }
    let (events, mut text) = mpsc::channel(BUFFER);
    let (cancel, cancelled) = oneshot::channel();
    let mut cancel = Some(cancel);
    let call = infer.call_cancellable(InferRequest::Generate(g), Some(events), cancelled);
    tokio::pin!(call);
    let mut line = Vec::new();
    // What the caller may send while it waits (an `oarn_cancel`), bounded in all.
    let mut from_caller = (&mut *reader).take(rpc::MAX_REQUEST_BYTES as u64);
    let mut caller_gone = false;
    let reply = loop {
        tokio::select! {
            reply = &mut call => break reply,
            Some(Event::Token(t)) = text.recv() => {
                let note = json!({"jsonrpc": "2.0", "method": "oarn_text", "params": {"text": t}});
                if !caller_gone && write(writer, &note).await.is_err() {
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
    // Text that arrived with the reply.
    while let Ok(Event::Token(t)) = text.try_recv() {
        let note = json!({"jsonrpc": "2.0", "method": "oarn_text", "params": {"text": t}});
        let _ = write(writer, &note).await;
    }
    drop(chosen);
    match reply {
        Ok(Reply::Generated(done)) => Ok(crate::generate::result_json(&done, &model_name)),
        Ok(other) => Err(Error::new(rpc::INTERNAL_ERROR, format!("unexpected reply {other:?}"))),
        Err(CallError::Worker(_, e)) => Err(Error::new(rpc::INTERNAL_ERROR, e.message)),
        Err(e) => Err(Error::new(rpc::INTERNAL_ERROR, e.to_string())),
    }
}
