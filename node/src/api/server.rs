//! Serves the JSON-RPC API on the node's Unix socket: bounded connections, bounded request
//! lines, and a clear JSON-RPC error for anything malformed.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Semaphore;

use super::methods::Node;
use oarn_api::rpc::{self, Error, Request, Response};

/// Connections served at once; more wait for a slot.
const MAX_CONNECTIONS: usize = 32;
/// A connection idle this long is closed.
const IDLE: Duration = Duration::from_secs(300);

/// Why the socket could not be served.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Another live daemon answers on the socket.
    #[error("another oarn daemon answers on {}", path.display())]
    InUse { path: PathBuf },
    /// Binding or setting the mode failed.
    #[error("cannot listen on {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
}

/// Binds the socket, replacing a stale one left by a crashed daemon, with mode 0600.
pub async fn bind(path: &Path) -> Result<UnixListener, ServeError> {
    let io = |source| ServeError::Io {
        path: path.into(),
        source,
    };
    if path.exists() {
        if UnixStream::connect(path).await.is_ok() {
            return Err(ServeError::InUse { path: path.into() });
        }
        std::fs::remove_file(path).map_err(io)?;
    }
    let listener = UnixListener::bind(path).map_err(io)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
    Ok(listener)
}

/// Accepts connections until the task is dropped.
pub async fn serve(listener: UnixListener, node: Arc<Node>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        match listener.accept().await {
            Ok((stream, _)) => {
                let node = node.clone();
                tokio::spawn(async move {
                    let _permit = permit;
                    if let Err(e) = connection(stream, &node).await {
                        tracing::debug!("api connection ended: {e}");
                    }
                });
            }
            Err(e) => {
                tracing::warn!("api accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn connection(stream: UnixStream, node: &Node) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = tokio::time::timeout(
            IDLE,
            (&mut reader)
                .take(rpc::MAX_REQUEST_BYTES as u64 + 1)
                .read_until(b'\n', &mut line),
        )
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "idle"))??;
        if n == 0 {
            return Ok(());
        }
        let response = if line.len() > rpc::MAX_REQUEST_BYTES {
            let r = Response::new(
                Value::Null,
                Err(Error::new(rpc::INVALID_REQUEST, "request larger than 1 MiB")),
            );
            write_line(&mut write, &r).await?;
            return Ok(());
        } else if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        } else if let Some(request) = streaming(&line) {
            super::stream::serve(request, node, &mut reader, &mut write).await?;
            continue;
        } else {
            answer(&line, node).await
        };
        if let Some(r) = response {
            write_line(&mut write, &r).await?;
        }
    }
}

async fn write_line(w: &mut tokio::net::unix::OwnedWriteHalf, r: &Response) -> std::io::Result<()> {
    let mut bytes = serde_json::to_vec(r).map_err(std::io::Error::other)?;
    bytes.push(b'\n');
    w.write_all(&bytes).await
}

/// The request on `line` when it calls the streaming method (with an id to answer).
fn streaming(line: &[u8]) -> Option<Request> {
    let request: Request = serde_json::from_slice(line).ok()?;
    (super::stream::streams(&request.method, &request.params) && request.jsonrpc == "2.0" && request.id.is_some())
        .then_some(request)
}

/// The response to one request line; `None` for a notification.
async fn answer(line: &[u8], node: &Node) -> Option<Response> {
    let value: Value = match serde_json::from_slice(line) {
        Ok(v) => v,
        Err(e) => {
            return Some(Response::new(
                Value::Null,
                Err(Error::new(rpc::PARSE_ERROR, format!("parse error: {e}"))),
            ));
        }
    };
    let id = value.get("id").cloned().unwrap_or(Value::Null);
    let request: Request = match serde_json::from_value(value) {
        Ok(r) => r,
        Err(e) => {
            return Some(Response::new(
                id,
                Err(Error::new(rpc::INVALID_REQUEST, format!("invalid request: {e}"))),
            ));
        }
    };
    if request.jsonrpc != "2.0" {
        return Some(Response::new(
            id,
            Err(Error::new(rpc::INVALID_REQUEST, "jsonrpc must be \"2.0\"")),
        ));
    }
    let outcome = node.call(&request.method, request.params).await;
    request.id.map(|id| Response::new(id, outcome))
}
