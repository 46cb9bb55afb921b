//! The CLI's side of the local API: one request, one answer, with errors that say whether the
//! daemon is running.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use super::rpc::{self, Request, Response};

/// Why a call to the daemon failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No daemon listens on the socket.
    #[error("the node is not running (no daemon answers on {}); start it with `oarn start`", path.display())]
    NotRunning { path: PathBuf },
    /// The daemon answered with a JSON-RPC error.
    #[error("{0}")]
    Rpc(rpc::Error),
    /// The connection broke or the answer was not JSON-RPC.
    #[error("talking to the node on {}: {detail}", path.display())]
    Protocol { path: PathBuf, detail: String },
}

/// Calls `method` on the daemon listening at `socket`.
pub fn call(socket: &Path, method: &str, params: Value, wait: Duration) -> Result<Value, ClientError> {
    let broken = |detail: String| ClientError::Protocol {
        path: socket.into(),
        detail,
    };
    let mut stream = UnixStream::connect(socket).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused => {
            ClientError::NotRunning { path: socket.into() }
        }
        _ => broken(e.to_string()),
    })?;
    stream.set_read_timeout(Some(wait)).map_err(|e| broken(e.to_string()))?;
    let mut line = serde_json::to_vec(&Request::new(method, params, 1)).map_err(|e| broken(e.to_string()))?;
    line.push(b'\n');
    stream.write_all(&line).map_err(|e| broken(e.to_string()))?;
    let mut answer = String::new();
    BufReader::new(&stream)
        .take(rpc::MAX_REQUEST_BYTES as u64 * 16)
        .read_line(&mut answer)
        .map_err(|e| broken(e.to_string()))?;
    if answer.is_empty() {
        return Err(broken("the daemon closed the connection without answering".into()));
    }
    let response: Response =
        serde_json::from_str(&answer).map_err(|e| broken(format!("not a JSON-RPC response: {e}")))?;
    match (response.result, response.error) {
        (_, Some(e)) => Err(ClientError::Rpc(e)),
        (Some(v), None) => Ok(v),
        (None, None) => Err(broken("response has neither result nor error".into())),
    }
}

/// Calls a streaming method (`oarn_generate`, or `oarn_ipfsFetch` with progress): `on_note`
/// gets each notification's method and params as it arrives; when `cancel` fires, an
/// `oarn_cancel` is sent and the call still waits for its result.
pub async fn stream(
    socket: &Path,
    method: &str,
    params: Value,
    mut on_note: impl FnMut(&str, &Value),
    mut cancel: tokio::sync::oneshot::Receiver<()>,
) -> Result<Value, ClientError> {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let broken = |detail: String| ClientError::Protocol {
        path: socket.into(),
        detail,
    };
    let stream = tokio::net::UnixStream::connect(socket)
        .await
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused => {
                ClientError::NotRunning { path: socket.into() }
            }
            _ => broken(e.to_string()),
        })?;
    let (read, mut write) = stream.into_split();
    let mut line = serde_json::to_vec(&Request::new(method, params, 1)).map_err(|e| broken(e.to_string()))?;
    line.push(b'\n');
    write.write_all(&line).await.map_err(|e| broken(e.to_string()))?;
    let mut lines = tokio::io::BufReader::new(read).lines();
    let mut cancelling = false;
    loop {
        let next = tokio::select! {
            next = lines.next_line() => next,
            _ = &mut cancel, if !cancelling => {
                cancelling = true;
                let _ = write.write_all(b"{\"jsonrpc\":\"2.0\",\"method\":\"oarn_cancel\"}\n").await;
                continue;
            }
        };
        let line = next
            .map_err(|e| broken(e.to_string()))?
            .ok_or_else(|| broken("the daemon closed the connection without answering".into()))?;
        let v: Value = serde_json::from_str(&line).map_err(|e| broken(format!("not JSON-RPC: {e}")))?;
        if let Some(note) = v.get("method").and_then(Value::as_str) {
            on_note(note, &v["params"]);
            continue;
        }
        let response: Response =
            serde_json::from_value(v).map_err(|e| broken(format!("not a JSON-RPC response: {e}")))?;
        return match (response.result, response.error) {
            (_, Some(e)) => Err(ClientError::Rpc(e)),
            (Some(v), None) => Ok(v),
            (None, None) => Err(broken("response has neither result nor error".into())),
        };
    }
}
