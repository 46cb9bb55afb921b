//! The Kubo-compatible HTTP API, so the network's SDK can use a node as its IPFS daemon:
//! `POST /api/v0/add` (multipart, the file stored and pinned; answers `{"Name","Hash","Size"}`),
//! `POST /api/v0/cat?arg=CID` and the gateway's `GET /ipfs/CID` (the file, fetched from peers
//! when this node lacks it, every block verified; with `?format=raw` one block, as a trustless
//! gateway answers). It binds where the operator configured
//! (loopback by default), bounds connections, uploads and waits, and streams bodies through
//! the staging directory rather than memory.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::TryStreamExt;
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use oarn_protocol::net::Reply;
use tokio::io::AsyncWriteExt;

use crate::blocks::Store;
use crate::fetch;
use crate::node::Handle;
use crate::pins::Pins;

/// Connections served at once; more wait.
pub const MAX_CONNECTIONS: usize = 64;
/// Largest upload.
pub const MAX_UPLOAD: u64 = 64 << 30;
/// How long a client may take to send its request head.
pub const HEADER_WAIT: Duration = Duration::from_secs(30);
/// How long `cat` and the gateway wait for peers.
pub const FETCH_WAIT: Duration = Duration::from_secs(120);

type Body = BoxBody<Bytes, std::io::Error>;

/// What the API serves from.
#[derive(Debug, Clone)]
pub struct Context {
    pub swarm: Handle,
    pub store: Store,
    pub pins: Pins,
    /// The staging directory.
    pub staging: PathBuf,
    /// Trustless gateways for what peers do not send.
    pub gateways: Vec<String>,
    /// The block store's size limit (0: none), kept after each fetch.
    pub cache_limit: u64,
}

fn full(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Full::new(body.into()).map_err(|never| match never {}).boxed())
        .expect("a valid response")
}

/// An error as Kubo writes it.
fn error(status: StatusCode, message: impl std::fmt::Display) -> Response<Body> {
    let body = serde_json::json!({ "Message": message.to_string(), "Code": 0, "Type": "error" });
    full(status, "application/json", body.to_string())
}

/// A staging file that is removed when dropped.
struct Staged(PathBuf);

impl Drop for Staged {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn staged(dir: &Path, kind: &str) -> (String, Staged) {
    let name = format!("api-{kind}-{:016x}", rand_u64());
    let path = dir.join(&name);
    (name, Staged(path))
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now())
}

/// The value of query parameter `key`.
fn query<'a>(req: &'a Request<Incoming>, key: &str) -> Option<&'a str> {
    req.uri()
        .query()?
        .split('&')
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
}

async fn add(cx: Arc<Context>, req: Request<Incoming>) -> Response<Body> {
    let pin = query(&req, "pin") != Some("false");
    let Some(boundary) = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| multer::parse_boundary(ct).ok())
    else {
        return error(
            StatusCode::BAD_REQUEST,
            "add needs a multipart/form-data body with the file",
        );
    };
    let stream = req.into_body().into_data_stream();
    let mut multipart = multer::Multipart::with_constraints(
        stream,
        boundary,
        multer::Constraints::new().size_limit(multer::SizeLimit::new().whole_stream(MAX_UPLOAD)),
    );
    let mut field = match multipart.next_field().await {
        Ok(Some(f)) => f,
        Ok(None) => return error(StatusCode::BAD_REQUEST, "the multipart body has no file"),
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let name = field.file_name().unwrap_or_default().to_string();
    let (_file, guard) = staged(&cx.staging, "add");
    let written: Result<u64, String> = async {
        let mut out = tokio::fs::File::create(&guard.0).await.map_err(|e| e.to_string())?;
        let mut size = 0u64;
        while let Some(chunk) = field.chunk().await.map_err(|e| e.to_string())? {
            size += chunk.len() as u64;
            out.write_all(&chunk).await.map_err(|e| e.to_string())?;
        }
        out.flush().await.map_err(|e| e.to_string())?;
        Ok(size)
    }
    .await;
    let size = match written {
        Ok(s) => s,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("reading the upload: {e}")),
    };
    let (store, pins, path, limit) = (cx.store.clone(), cx.pins.clone(), guard.0.clone(), cx.cache_limit);
    let added = tokio::task::spawn_blocking(move || {
        let added = crate::unixfs::add(&store, &path).map_err(|e| e.to_string())?;
        if pin {
            pins.pin(&store, &added.cid).map_err(|e| e.to_string())?;
        }
        pins.trim(&store, limit);
        Ok::<_, String>(added)
    })
    .await
    .unwrap_or_else(|e| Err(e.to_string()));
    drop(guard);
    match added {
        Ok(a) => {
            let body = serde_json::json!({ "Name": if name.is_empty() { a.cid.to_string() } else { name }, "Hash": a.cid.to_string(), "Size": size.to_string() });
            full(StatusCode::OK, "application/json", format!("{body}\n"))
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

/// The file under `cid`, streamed from a staging copy.
async fn cat(cx: Arc<Context>, cid: &str) -> Response<Body> {
    if crate::blocks::parse(cid).is_err() {
        return error(StatusCode::BAD_REQUEST, format!("{cid:?} is not a CID"));
    }
    let (file, guard) = staged(&cx.staging, "cat");
    let job = fetch::Job {
        cid: cid.to_string(),
        file,
        wait: FETCH_WAIT,
        gateways: cx.gateways.clone(),
    };
    let cx2 = cx.clone();
    let fetched =
        tokio::task::spawn_blocking(move || fetch::run(&cx2.swarm, &cx2.store, &cx2.staging, &job, &|_| {}, &|| false))
            .await;
    match fetched {
        Ok(Ok(Reply::Fetched(oarn_protocol::net::Fetched { size, .. }))) => {
            let file = match tokio::fs::File::open(&guard.0).await {
                Ok(f) => f,
                Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e),
            };
            // The open file outlives the staging name: unlinking it now loses nothing.
            drop(guard);
            let frames = tokio_util::io::ReaderStream::new(file).map_ok(Frame::data);
            Response::builder()
                .status(StatusCode::OK)
                .header("content-type", "application/octet-stream")
                .header("content-length", size)
                .header("x-content-type-options", "nosniff")
                .body(BodyExt::boxed(StreamBody::new(frames)))
                .expect("a valid response")
        }
        Ok(Ok(other)) => error(StatusCode::INTERNAL_SERVER_ERROR, format!("unexpected {other:?}")),
        Ok(Err(e)) if e.kind == oarn_protocol::envelope::ErrorKind::NotFound => error(StatusCode::NOT_FOUND, e.message),
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, e.message),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

/// One block from the store, as a trustless gateway answers `?format=raw`.
fn block(cx: &Context, cid: &str) -> Response<Body> {
    let Ok(parsed) = crate::blocks::parse(cid) else {
        return error(StatusCode::BAD_REQUEST, format!("{cid:?} is not a CID"));
    };
    match cx.store.get(&parsed) {
        Ok(Some(bytes)) => full(StatusCode::OK, "application/vnd.ipld.raw", bytes),
        Ok(None) => error(StatusCode::NOT_FOUND, format!("{parsed} is not in this node's store")),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

async fn route(cx: Arc<Context>, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let path = req.uri().path().to_string();
    let response = match (req.method().clone(), path.as_str()) {
        (Method::POST, "/api/v0/add") => add(cx, req).await,
        (Method::POST, "/api/v0/cat") => match query(&req, "arg") {
            Some(cid) => {
                let cid = cid.trim_start_matches("/ipfs/").to_string();
                cat(cx, &cid).await
            }
            None => error(StatusCode::BAD_REQUEST, "argument \"ipfs-path\" is required"),
        },
        (_, "/api/v0/add" | "/api/v0/cat") => error(StatusCode::METHOD_NOT_ALLOWED, "use POST"),
        (Method::GET | Method::HEAD, p) if p.starts_with("/ipfs/") => {
            let cid = p.trim_start_matches("/ipfs/").trim_end_matches('/');
            let raw = query(&req, "format") == Some("raw")
                || req
                    .headers()
                    .get("accept")
                    .and_then(|a| a.to_str().ok())
                    .is_some_and(|a| a.contains("application/vnd.ipld.raw"));
            if raw {
                block(&cx, cid)
            } else if cid.contains('/') {
                error(StatusCode::NOT_IMPLEMENTED, "paths inside directories are not served")
            } else {
                cat(cx, cid).await
            }
        }
        _ => error(
            StatusCode::NOT_FOUND,
            format!("{path} is not served here: /api/v0/add, /api/v0/cat, /ipfs/CID"),
        ),
    };
    Ok(response)
}

/// Binds `addr` and serves until the process ends; returns the bound address.
pub async fn start(addr: SocketAddr, cx: Context) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    if !bound.ip().is_loopback() {
        tracing::warn!(%bound, "the IPFS API listens beyond loopback, as configured: anyone who reaches it can add and read files");
    }
    let cx = Arc::new(cx);
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    tokio::spawn(async move {
        loop {
            let Ok(permit) = slots.clone().acquire_owned().await else {
                return;
            };
            let (stream, _) = match listener.accept().await {
                Ok(s) => s,
                Err(e) => {
                    tracing::debug!("IPFS API accept failed: {e}");
                    continue;
                }
            };
            let cx = cx.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| route(cx.clone(), req));
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(HEADER_WAIT)
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
                if let Err(e) = conn.await {
                    tracing::debug!("IPFS API connection ended: {e}");
                }
                drop(permit);
            });
        }
    });
    Ok(bound)
}
