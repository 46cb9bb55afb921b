//! The caller's side of the API: one typed request, one typed answer, with errors that say
//! whether the node is running at all.

use std::future::Future;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::rpc::{self, Request, Response};
use crate::{Method, Streaming};

/// Why a call to the node failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No node answers on the socket.
    #[error("the node is not running (no daemon answers on {}); start it with `oarn start`", path.display())]
    NotRunning { path: PathBuf },
    /// The node answered with an error.
    #[error("{0}")]
    Rpc(rpc::Error),
    /// The node did not answer in time.
    #[error("the node did not answer within {} s", wait.as_secs())]
    Timeout { wait: Duration },
    /// The connection broke or the answer was not what the method answers.
    #[error("talking to the node on {}: {detail}", path.display())]
    Protocol { path: PathBuf, detail: String },
}

impl ClientError {
    /// The API's error code, when the node answered with an error.
    pub fn code(&self) -> Option<rpc::Code> {
        match self {
            Self::Rpc(e) => e.kind(),
            _ => None,
        }
    }
}

/// A client of the node whose socket is at `socket`.
#[derive(Debug, Clone)]
pub struct Client {
    socket: PathBuf,
}

fn request_line<M: Method>(params: &M) -> Result<Vec<u8>, String> {
    let params = serde_json::to_value(params).map_err(|e| e.to_string())?;
    let mut line = serde_json::to_vec(&Request::new(M::NAME, params, 1)).map_err(|e| e.to_string())?;
    line.push(b'\n');
    Ok(line)
}

impl Client {
    pub fn new(socket: impl Into<PathBuf>) -> Self {
        Self { socket: socket.into() }
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    fn broken(&self, detail: impl Into<String>) -> ClientError {
        ClientError::Protocol {
            path: self.socket.clone(),
            detail: detail.into(),
        }
    }

    fn refused(&self, e: std::io::Error) -> ClientError {
        match e.kind() {
            std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused => ClientError::NotRunning {
                path: self.socket.clone(),
            },
            _ => self.broken(e.to_string()),
        }
    }

    /// The result of a response line, as `M` answers it.
    fn result<M: Method>(&self, response: Response) -> Result<M::Result, ClientError> {
        match (response.result, response.error) {
            (_, Some(e)) => Err(ClientError::Rpc(e)),
            (Some(v), None) => serde_json::from_value(v)
                .map_err(|e| self.broken(format!("the answer to {} is not what it answers: {e}", M::NAME))),
            (None, None) => Err(self.broken("response has neither result nor error")),
        }
    }

    /// Calls `params`'s method and waits at most `wait` for the answer.
    pub fn call<M: Method>(&self, params: &M, wait: Duration) -> Result<M::Result, ClientError> {
        let mut stream = UnixStream::connect(&self.socket).map_err(|e| self.refused(e))?;
        stream
            .set_read_timeout(Some(wait))
            .map_err(|e| self.broken(e.to_string()))?;
        let line = request_line(params).map_err(|e| self.broken(e))?;
        stream.write_all(&line).map_err(|e| self.broken(e.to_string()))?;
        let mut answer = String::new();
        BufReader::new(&stream)
            .take(rpc::MAX_REQUEST_BYTES as u64 * 16)
            .read_line(&mut answer)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => ClientError::Timeout { wait },
                _ => self.broken(e.to_string()),
            })?;
        if answer.is_empty() {
            return Err(self.broken("the daemon closed the connection without answering"));
        }
        let response: Response =
            serde_json::from_str(&answer).map_err(|e| self.broken(format!("not a JSON-RPC response: {e}")))?;
        self.result::<M>(response)
    }

    /// Calls a streaming method: `on_note` gets each notification as it arrives; when
    /// `cancel` completes, an `oarn_cancel` is sent and the call still waits for its result.
    pub async fn stream<M: Streaming>(
        &self,
        params: &M,
        mut on_note: impl FnMut(M::Note),
        cancel: impl Future<Output = ()>,
    ) -> Result<M::Result, ClientError> {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
        let stream = tokio::net::UnixStream::connect(&self.socket)
            .await
            .map_err(|e| self.refused(e))?;
        let (read, mut write) = stream.into_split();
        let line = request_line(params).map_err(|e| self.broken(e))?;
        write.write_all(&line).await.map_err(|e| self.broken(e.to_string()))?;
        let mut lines = tokio::io::BufReader::new(read).lines();
        let mut cancelling = false;
        tokio::pin!(cancel);
        loop {
            let next = tokio::select! {
                next = lines.next_line() => next,
                () = &mut cancel, if !cancelling => {
                    cancelling = true;
                    let cancel = format!("{{\"jsonrpc\":\"2.0\",\"method\":\"{}\"}}\n", crate::CANCEL);
                    let _ = write.write_all(cancel.as_bytes()).await;
                    continue;
                }
            };
            let line = next
                .map_err(|e| self.broken(e.to_string()))?
                .ok_or_else(|| self.broken("the daemon closed the connection without answering"))?;
            let v: Value = serde_json::from_str(&line).map_err(|e| self.broken(format!("not JSON-RPC: {e}")))?;
            if let Some(method) = v.get("method").and_then(Value::as_str) {
                if method == M::NOTE {
                    let note = serde_json::from_value(v["params"].clone())
                        .map_err(|e| self.broken(format!("a {method} notification that is not one: {e}")))?;
                    on_note(note);
                }
                continue;
            }
            let response: Response =
                serde_json::from_value(v).map_err(|e| self.broken(format!("not a JSON-RPC response: {e}")))?;
            return self.result::<M>(response);
        }
    }
}
