//! The node's HTTP listener (`[metrics]` in the configuration; `127.0.0.1:9730` by default):
//! Prometheus metrics at `GET /metrics` (OpenMetrics for Prometheus, the classic text format for
//! other clients), open to whoever reaches the listener, and the local
//! API's read methods as JSON under `GET /api/v1/`, each answered only for a request that
//! carries `Authorization: Bearer <token>` with the token kept 0600 in the node home
//! (`api.token`). A request without it, or with another, gets 401 and an empty body, whatever
//! its path: nothing tells a caller without the token which routes exist.
//!
//! [`ROUTES`] lists each route and the method of the local API it answers with (the API
//! reference in `docs/` is generated from it).
//!
//! Bounded like the local socket: at most [`MAX_CONNECTIONS`] at once, request headers within
//! [`HEADER_WAIT`], bodies never read (every route is `GET`). hyper serves HTTP/1.1.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, WWW_AUTHENTICATE};
use hyper::{Method, Request, Response, StatusCode};
use oarn_api::rpc::{Code, Error};
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use crate::state::Node;

/// Connections served at once; more wait for a slot.
pub const MAX_CONNECTIONS: usize = 16;
/// Longest wait for a request's headers.
pub const HEADER_WAIT: Duration = Duration::from_secs(10);

/// Why the listener could not start.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// Binding the address failed (in use, not this machine's, or a privileged port).
    #[error("cannot listen on {addr} (metrics.listen): {source}; set another address, or metrics.enabled = false")]
    Bind { addr: SocketAddr, source: std::io::Error },
    /// The token could not be read or written.
    #[error("the API token: {0}")]
    Token(#[from] oarn_config::home::HomeError),
}

/// Binds `addr` and serves until the task is dropped; returns the bound address.
pub async fn start(node: Arc<Node>, addr: SocketAddr) -> Result<SocketAddr, HttpError> {
    let token = node.home.token()?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| HttpError::Bind { addr, source })?;
    let bound = listener
        .local_addr()
        .map_err(|source| HttpError::Bind { addr, source })?;
    if !bound.ip().is_loopback() {
        tracing::warn!(%bound, "metrics and the JSON API listen beyond loopback, as configured: anyone who reaches it reads /metrics");
    }
    let token: Arc<[u8]> = token.into_bytes().into();
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    tokio::spawn(async move {
        loop {
            let Ok(permit) = slots.clone().acquire_owned().await else {
                return;
            };
            let stream = match listener.accept().await {
                Ok((s, _)) => s,
                Err(e) => {
                    tracing::debug!("http accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let (node, token) = (node.clone(), token.clone());
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let (node, token) = (node.clone(), token.clone());
                    async move { Ok::<_, std::convert::Infallible>(answer(&node, &token, req).await) }
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(HEADER_WAIT)
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
                if let Err(e) = conn.await {
                    tracing::debug!("http connection ended: {e}");
                }
                drop(permit);
            });
        }
    });
    Ok(bound)
}

/// Whether `req` carries the token, compared in constant time.
pub fn authorized<B>(req: &Request<B>, token: &[u8]) -> bool {
    let Some(given) = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "))
    else {
        return false;
    };
    given.len() == token.len() && bool::from(given.ct_eq(token))
}

fn response(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    if !content_type.is_empty() {
        r.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    }
    r
}

fn error(status: StatusCode, code: i64, message: impl Into<String>) -> Response<Full<Bytes>> {
    let body = json!({"error": {"code": code, "message": message.into()}});
    response(status, "application/json", body.to_string())
}

async fn answer<B>(node: &Node, token: &[u8], req: Request<B>) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_string();
    if path == "/metrics" {
        if req.method() != Method::GET && req.method() != Method::HEAD {
            return error(
                StatusCode::METHOD_NOT_ALLOWED,
                Code::InvalidRequest.number(),
                "GET only",
            );
        }
        use crate::metrics::text;
        let accept = req.headers().get(hyper::header::ACCEPT).and_then(|v| v.to_str().ok());
        let snapshot = crate::metrics::scrape::gather(node).await;
        let open = node.metrics.render(snapshot);
        return if text::wants_openmetrics(accept) {
            response(StatusCode::OK, text::OPENMETRICS, open)
        } else {
            response(StatusCode::OK, text::CLASSIC, text::classic(&open))
        };
    }
    if !authorized(&req, token) {
        let mut r = response(StatusCode::UNAUTHORIZED, "", Bytes::new());
        r.headers_mut()
            .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return r;
    }
    if req.method() != Method::GET {
        return error(
            StatusCode::METHOD_NOT_ALLOWED,
            Code::InvalidRequest.number(),
            "GET only",
        );
    }
    let Some((method, params)) = route(&path, req.uri().query()) else {
        return error(
            StatusCode::NOT_FOUND,
            Code::NotFound.number(),
            format!(
                "{path} is not served: /metrics, and under /api/v1/: status, workers, peers, tasks, tasks/ID, history, earnings, models"
            ),
        );
    };
    match crate::api::server::call(node, method, params).await {
        Ok(v) => response(StatusCode::OK, "application/json", v.to_string()),
        Err(e) => failed(&e),
    }
}

/// One route of the JSON API.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    /// Its path under `/api/v1/`; `{id}` stands for a task id.
    pub path: &'static str,
    /// The method of the local API it answers with.
    pub method: &'static str,
    /// Whether it takes `?limit=N` (the newest N).
    pub limit: bool,
}

/// Every route, each a read method: no route changes anything.
pub const ROUTES: [Route; 8] = {
    use oarn_api::Method as _;
    use oarn_api::{infer, net, node as n, tasks};
    const fn r(path: &'static str, method: &'static str, limit: bool) -> Route {
        Route { path, method, limit }
    }
    [
        r("status", n::GetStatus::NAME, false),
        r("workers", n::Workers::NAME, false),
        r("peers", net::GetPeers::NAME, false),
        r("tasks", tasks::ListTasks::NAME, true),
        r("tasks/{id}", tasks::TaskStatus::NAME, false),
        r("history", tasks::History::NAME, true),
        r("earnings", tasks::GetEarnings::NAME, false),
        r("models", infer::Models::NAME, false),
    ]
};

/// The API method and params a path stands for.
pub fn route(path: &str, query: Option<&str>) -> Option<(&'static str, Value)> {
    let limit = || {
        let n = query?
            .split('&')
            .find_map(|kv| kv.strip_prefix("limit="))?
            .parse::<u32>()
            .ok()?;
        Some(json!({ "limit": n }))
    };
    let rest = path.strip_prefix("/api/v1/")?.trim_end_matches('/');
    ROUTES.iter().find_map(|r| match r.path.strip_suffix("{id}") {
        Some(prefix) => {
            let id: u64 = rest.strip_prefix(prefix)?.parse().ok()?;
            Some((r.method, json!({ "task_id": id })))
        }
        None if rest == r.path => Some((
            r.method,
            if r.limit {
                limit().unwrap_or(Value::Null)
            } else {
                Value::Null
            },
        )),
        None => None,
    })
}

/// An API error as an HTTP answer: the status its code stands for, and the error as JSON.
fn failed(e: &Error) -> Response<Full<Bytes>> {
    let status = match Code::from_number(e.code) {
        Some(Code::NotFound) => StatusCode::NOT_FOUND,
        Some(Code::InvalidParams | Code::InvalidRequest) => StatusCode::BAD_REQUEST,
        Some(Code::NotConnected | Code::NoProviders | Code::Busy) => StatusCode::SERVICE_UNAVAILABLE,
        Some(Code::DeadlineExceeded) => StatusCode::GATEWAY_TIMEOUT,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let mut body = json!({"error": {"code": e.code, "message": e.message}});
    if let Some(data) = &e.data {
        body["error"]["data"] = data.clone();
    }
    response(status, "application/json", body.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(header: Option<&str>) -> Request<()> {
        let mut b = Request::builder().uri("/api/v1/status");
        if let Some(h) = header {
            b = b.header(AUTHORIZATION, h);
        }
        b.body(()).unwrap()
    }

    #[test]
    fn only_the_exact_bearer_token_is_authorized() {
        let token = b"0123456789abcdef";
        assert!(authorized(&with(Some("Bearer 0123456789abcdef")), token));
        assert!(!authorized(&with(None), token));
        assert!(!authorized(&with(Some("Bearer 0123456789abcdeX")), token));
        assert!(!authorized(&with(Some("Bearer 0123456789abcde")), token), "a prefix");
        assert!(!authorized(&with(Some("Bearer 0123456789abcdef0")), token), "longer");
        assert!(!authorized(&with(Some("Basic 0123456789abcdef")), token));
        assert!(!authorized(&with(Some("0123456789abcdef")), token));
    }

    #[test]
    fn routes_name_their_api_methods() {
        assert_eq!(route("/api/v1/status", None), Some(("oarn_status", Value::Null)));
        assert_eq!(
            route("/api/v1/tasks/42", None),
            Some(("oarn_taskStatus", json!({"task_id": 42})))
        );
        assert_eq!(
            route("/api/v1/history", Some("limit=5")),
            Some(("oarn_taskHistory", json!({"limit": 5})))
        );
        assert_eq!(route("/api/v1/earnings/", None).unwrap().0, "oarn_earnings");
        assert_eq!(route("/api/v1/tasks/x", None), None);
        assert_eq!(route("/api/v1/shutdown", None), None, "no method that changes anything");
        assert_eq!(route("/api/v2/status", None), None);
    }
}
