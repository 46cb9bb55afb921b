//! The API calls that stream ([`oarn_api::Streaming`]): `oarn_generate`, whose text arrives
//! as `oarn_text` notifications before the result, and `oarn_ipfsFetch` with
//! `"progress": true`, which sends `oarn_progress`. An `oarn_cancel` line sent on the same
//! connection while it runs, or the connection closing, cancels the work in the worker; the
//! result (with what was done) still comes. A caller that reads its notifications too slowly
//! slows the work down to its pace, and past a bound has it cancelled: nothing is dropped.

use std::future::Future;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, oneshot};

use oarn_api::Streaming;
use oarn_api::rpc::{self, Error, Notification, Response};

/// Notifications buffered between the work and the caller's socket.
const BUFFER: usize = 256;

async fn write(w: &mut OwnedWriteHalf, v: &impl serde::Serialize) -> std::io::Result<()> {
    let mut bytes = serde_json::to_vec(v).map_err(std::io::Error::other)?;
    bytes.push(b'\n');
    w.write_all(&bytes).await
}

/// Runs `work` for the call `id` on the connection: relays what it sends on its notes channel
/// as notifications, fires its cancel when the caller asks or goes away, and writes its
/// result.
pub async fn serve<M, F, Fut>(
    id: Value,
    params: M,
    reader: &mut BufReader<OwnedReadHalf>,
    writer: &mut OwnedWriteHalf,
    work: F,
) -> std::io::Result<()>
where
    M: Streaming,
    F: FnOnce(M, mpsc::Sender<M::Note>, oneshot::Receiver<()>) -> Fut,
    Fut: Future<Output = Result<M::Result, Error>>,
{
    let (notes, mut rx) = mpsc::channel(BUFFER);
    let (cancel, cancelled) = oneshot::channel();
    let mut cancel = Some(cancel);
    let work = work(params, notes, cancelled);
    tokio::pin!(work);
    let mut line = Vec::new();
    // What the caller may send while it waits (an `oarn_cancel`), bounded in all.
    let mut from_caller = (&mut *reader).take(rpc::MAX_REQUEST_BYTES as u64);
    let mut caller_gone = false;
    let outcome = loop {
        tokio::select! {
            outcome = &mut work => break outcome,
            Some(note) = rx.recv() => {
                if !caller_gone && write(writer, &notification::<M>(note)).await.is_err() {
                    caller_gone = true;
                    cancel.take().map(|c| c.send(()));
                }
            }
            read = from_caller.read_until(b'\n', &mut line), if !caller_gone => {
                let asked = serde_json::from_slice::<Value>(&line)
                    .is_ok_and(|v| v.get("method").and_then(Value::as_str) == Some(oarn_api::CANCEL));
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
    // Notifications sent just before the result.
    while let Ok(note) = rx.try_recv() {
        if !caller_gone {
            write(writer, &notification::<M>(note)).await?;
        }
    }
    let outcome = outcome
        .and_then(|r| serde_json::to_value(r).map_err(|e| Error::new(oarn_api::Code::InternalError, e.to_string())));
    write(writer, &Response::new(id, outcome)).await
}

fn notification<M: Streaming>(note: M::Note) -> Notification {
    Notification {
        jsonrpc: "2.0".into(),
        method: M::NOTE.into(),
        params: serde_json::to_value(note).unwrap_or(Value::Null),
    }
}
