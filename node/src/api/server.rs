//! Serves the JSON-RPC API on the node's Unix socket: bounded connections, bounded request
//! lines, a clear JSON-RPC error for anything malformed, and each method routed to the
//! function that answers it, with its params read into the method's own type.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Semaphore;

use oarn_api::Method;
use oarn_api::rpc::{self, Code, Error, Request, Response};

use super::errors;
use crate::state::Node;

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
                Err(Error::new(Code::InvalidRequest, "request larger than 1 MiB")),
            );
            write_line(&mut write, &r).await?;
            return Ok(());
        } else if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        } else {
            match parse(&line) {
                Err(r) => Some(*r),
                Ok(request) if request.id.is_some() && streams(&request) => {
                    streamed(request, node, &mut reader, &mut write).await?;
                    continue;
                }
                Ok(request) => {
                    let outcome = call(node, &request.method, request.params).await;
                    request.id.map(|id| Response::new(id, outcome))
                }
            }
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

/// The request on `line`, or the error response to send instead.
fn parse(line: &[u8]) -> Result<Request, Box<Response>> {
    let value: Value = serde_json::from_slice(line).map_err(|e| {
        Response::new(
            Value::Null,
            Err(Error::new(Code::ParseError, format!("parse error: {e}"))),
        )
    })?;
    let id = value.get("id").cloned().unwrap_or(Value::Null);
    let request: Request = serde_json::from_value(value).map_err(|e| {
        Box::new(Response::new(
            id.clone(),
            Err(Error::new(Code::InvalidRequest, format!("invalid request: {e}"))),
        ))
    })?;
    if request.jsonrpc != "2.0" {
        return Err(Box::new(Response::new(
            id,
            Err(Error::new(Code::InvalidRequest, "jsonrpc must be \"2.0\"")),
        )));
    }
    Ok(request)
}

/// Reads params into the method's type; absent params are `{}`.
fn read<M: Method>(params: Value) -> Result<M, Error> {
    let params = if params.is_null() {
        serde_json::json!({})
    } else {
        params
    };
    serde_path_to_error::deserialize(params).map_err(|e| errors::params(&e))
}

/// Answers a call of `M` with `f`.
async fn typed<M, F, Fut>(params: Value, f: F) -> Result<Value, Error>
where
    M: Method,
    F: FnOnce(M) -> Fut,
    Fut: std::future::Future<Output = Result<M::Result, Error>>,
{
    let result = f(read::<M>(params)?).await?;
    serde_json::to_value(result).map_err(|e| Error::new(Code::InternalError, e.to_string()))
}

/// Whether the call streams notifications before its result.
fn streams(request: &Request) -> bool {
    use oarn_api::{chain, infer, ipfs};
    match request.method.as_str() {
        infer::Generate::NAME | chain::Events::NAME => true,
        ipfs::Fetch::NAME => request.params.get("progress").and_then(Value::as_bool) == Some(true),
        _ => false,
    }
}

/// Runs a streaming call on the connection; its notifications and result go to `writer`.
async fn streamed(
    request: Request,
    node: &Node,
    reader: &mut BufReader<tokio::net::unix::OwnedReadHalf>,
    writer: &mut tokio::net::unix::OwnedWriteHalf,
) -> std::io::Result<()> {
    use oarn_api::{chain, infer, ipfs};
    let id = request.id.clone().unwrap_or(Value::Null);
    macro_rules! relay {
        ($m:ty, $f:path) => {
            match read::<$m>(request.params) {
                Ok(params) => {
                    super::stream::serve(id, params, reader, writer, |p, notes, cancel| {
                        $f(node, p, notes, cancel)
                    })
                    .await
                }
                Err(e) => write_line(writer, &Response::new(id, Err(e))).await,
            }
        };
    }
    match request.method.as_str() {
        infer::Generate::NAME => relay!(infer::Generate, super::infer::generate),
        chain::Events::NAME => relay!(chain::Events, super::chain::events),
        _ => relay!(ipfs::Fetch, super::ipfs::fetch_streamed),
    }
}

/// Answers one call that does not stream.
pub async fn call(node: &Node, method: &str, params: Value) -> Result<Value, Error> {
    use oarn_api::{chain, infer, ipfs, net, node as n, tasks};
    macro_rules! route {
        ($($m:ty => $f:path),* $(,)?) => {
            match method {
                $(<$m as Method>::NAME => typed::<$m, _, _>(params, |p| $f(node, p)).await,)*
                _ => Err(Error::new(Code::MethodNotFound, format!("method not found: {method}"))),
            }
        };
    }
    route! {
        n::Version => super::node::version,
        n::GetStatus => super::node::status,
        n::Workers => super::node::workers,
        n::ReloadConfig => super::node::reload,
        n::Shutdown => super::node::shutdown,
        n::GetHealth => super::node::health,
        n::GetMetrics => super::node::metrics,
        infer::ModelsLoaded => super::infer::loaded,
        infer::Unload => super::infer::unload,
        infer::Models => super::infer::models,
        infer::Generate => super::infer::generate_whole,
        infer::RunTensor => super::infer::run_tensor,
        net::GetPeers => super::net::peers,
        net::GetTasks => super::net::tasks,
        net::Announce => super::net::announce,
        net::Claims => super::net::claims,
        net::SendResult => super::net::send_result,
        net::GetResults => super::net::results,
        net::DhtPut => super::net::dht_put,
        net::DhtGet => super::net::dht_get,
        ipfs::Add => super::ipfs::add,
        ipfs::Fetch => super::ipfs::fetch,
        ipfs::Pin => super::ipfs::pin,
        ipfs::ListPins => super::ipfs::pins,
        ipfs::Gc => super::ipfs::gc,
        chain::Unlock => super::chain::unlock,
        chain::ListTasks => super::chain::tasks,
        chain::ReadTask => super::chain::task,
        chain::Claim => super::chain::claim,
        chain::Submit => super::chain::submit,
        chain::GetBalance => super::chain::balance,
        chain::Quote => super::chain::quote,
        chain::Transfer => super::chain::transfer,
        chain::RegisterValidator => super::chain::register_validator,
        chain::Discover => super::chain::discover,
        tasks::ListTasks => super::tasks::list,
        tasks::TaskStatus => super::tasks::status,
        tasks::ClaimTask => super::tasks::claim,
        tasks::History => super::tasks::history,
        tasks::GetEarnings => super::tasks::earnings,
        tasks::SubmitTask => super::requester::submit,
        tasks::GetResult => super::requester::result,
    }
}
