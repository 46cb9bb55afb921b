//! A pool of RPC endpoints for one chain. Every endpoint is checked (chain id, head block)
//! before use; the pool prefers the first healthy one in order, skips endpoints that fail,
//! serve another chain or lag the best head, and logs every switch with its reason. Each
//! request is bounded by a timeout.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::rpc::client::RpcClient;
use alloy::transports::http::reqwest;

/// Longest wait for one RPC answer.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// An endpoint whose head is more than this many blocks behind the best is stale.
pub const MAX_LAG: u64 = 20;
/// Most endpoints kept in a pool.
pub const MAX_ENDPOINTS: usize = 16;

/// Privacy mode: every endpoint is reached through the anonymity worker (set once at start).
static RELAYS: OnceLock<oarn_anon_dial::Relays> = OnceLock::new();

/// Sends every RPC request of this process through the anonymity worker at `socket`: each
/// endpoint's host and port go to Tor in a SOCKS request (resolved at the exit, isolated per
/// endpoint), and TLS still runs from here to the endpoint.
pub fn route_through(socket: PathBuf) {
    let _ = RELAYS.set(oarn_anon_dial::Relays::new(socket));
}

/// True in privacy mode.
pub fn private() -> bool {
    RELAYS.get().is_some()
}

/// An HTTP client for `url`, with a request timeout; in privacy mode, one whose connections
/// go through the anonymity worker.
fn http_client(url: &reqwest::Url) -> Result<reqwest::Client, Error> {
    let mut builder = reqwest::Client::builder().timeout(TIMEOUT);
    if let Some(relays) = RELAYS.get() {
        let host = url.host_str().ok_or_else(|| Error::BadUrl(url.to_string()))?;
        let port = url
            .port_or_known_default()
            .ok_or_else(|| Error::BadUrl(url.to_string()))?;
        let path = relays.path(host, port).map_err(|e| Error::Client(e.to_string()))?;
        builder = builder.unix_socket(path.as_path());
    }
    builder.build().map_err(|e| Error::Client(e.to_string()))
}

/// Switches from one endpoint to another, in every pool of this process (a pool is made anew
/// at each discovery, the count is the worker's).
static SWITCHES: AtomicU64 = AtomicU64::new(0);

/// Switches from one endpoint to another since the worker started.
pub fn switches() -> u64 {
    SWITCHES.load(Ordering::Relaxed)
}

/// Why no endpoint could be used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Not a usable URL.
    #[error("{0:?} is not an http(s) RPC URL")]
    BadUrl(String),
    /// The HTTP client could not be built (TLS trust roots unreadable, for instance).
    #[error("cannot set up the HTTP client: {0}")]
    Client(String),
    /// No URL at all.
    #[error("no RPC endpoint for chain {0}: {1}")]
    NoEndpoints(u64, &'static str),
    /// Every endpoint failed its check; each reason is listed.
    #[error("no healthy RPC endpoint for chain {chain_id}: {}", reasons.join("; "))]
    NoneHealthy {
        /// The chain wanted.
        chain_id: u64,
        /// `url: reason` for each endpoint.
        reasons: Vec<String>,
    },
}

/// One endpoint.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Its URL (shown in logs; a URL with credentials is shown without them).
    pub url: String,
    connect: reqwest::Url,
    /// The HTTP client its providers share (in privacy mode, one that goes through Tor).
    http: reqwest::Client,
    provider: DynProvider,
}

impl Endpoint {
    /// A read-only provider for `url`, with a request timeout.
    pub fn new(url: &str) -> Result<Self, Error> {
        let parsed: reqwest::Url = url.parse().map_err(|_| Error::BadUrl(url.into()))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(Error::BadUrl(url.into()));
        }
        let http = http_client(&parsed)?;
        let client = RpcClient::new_http_with_client(http.clone(), parsed.clone());
        let provider = ProviderBuilder::new().connect_client(client).erased();
        let connect = parsed.clone();
        let mut shown = parsed;
        let _ = shown.set_password(None);
        let _ = shown.set_username("");
        Ok(Self {
            url: shown.to_string(),
            connect,
            http,
            provider,
        })
    }

    /// A provider on this endpoint that signs with `wallet` (nonce, gas and EIP-1559 fees
    /// filled in by alloy).
    pub fn signing(&self, wallet: alloy::network::EthereumWallet) -> DynProvider {
        let client = RpcClient::new_http_with_client(self.http.clone(), self.connect.clone());
        ProviderBuilder::new().wallet(wallet).connect_client(client).erased()
    }

    /// The URL requests go to, credentials included (never log it: log `url`).
    pub fn connect_url(&self) -> &str {
        self.connect.as_str()
    }

    /// The provider.
    pub fn provider(&self) -> &DynProvider {
        &self.provider
    }
}

/// Endpoints for one chain, in order of preference.
#[derive(Debug)]
pub struct Pool {
    chain_id: u64,
    endpoints: Vec<Endpoint>,
    current: Option<usize>,
}

impl Pool {
    /// A pool of `urls` (duplicates dropped, at most [`MAX_ENDPOINTS`]) for `chain_id`.
    pub fn new(chain_id: u64, urls: &[String]) -> Result<Self, Error> {
        let mut endpoints: Vec<Endpoint> = Vec::new();
        for url in urls {
            let e = Endpoint::new(url)?;
            if !endpoints.iter().any(|x| x.url == e.url) && endpoints.len() < MAX_ENDPOINTS {
                endpoints.push(e);
            }
        }
        if endpoints.is_empty() {
            return Err(Error::NoEndpoints(chain_id, "none configured or discovered"));
        }
        Ok(Self {
            chain_id,
            endpoints,
            current: None,
        })
    }

    /// For a pool made with chain id 0 ("any"): asks the first answering endpoint which chain
    /// it serves, and keeps only that chain from now on.
    pub async fn discover_chain(&mut self) -> Result<u64, Error> {
        let mut reasons = Vec::new();
        for e in &self.endpoints {
            match e.provider.get_chain_id().await {
                Ok(id) => {
                    self.chain_id = id;
                    self.select().await?;
                    return Ok(id);
                }
                Err(err) => reasons.push(format!("{}: {err}", e.url)),
            }
        }
        Err(Error::NoneHealthy {
            chain_id: self.chain_id,
            reasons,
        })
    }

    /// Adds endpoints (discovered ones) after the existing ones.
    pub fn extend(&mut self, urls: &[String]) {
        for url in urls {
            match Endpoint::new(url) {
                Ok(e) if !self.endpoints.iter().any(|x| x.url == e.url) && self.endpoints.len() < MAX_ENDPOINTS => {
                    self.endpoints.push(e)
                }
                Ok(_) => {}
                Err(e) => tracing::warn!("ignoring a discovered RPC endpoint: {e}"),
            }
        }
    }

    /// Checks every endpoint and picks the first healthy one in order: right chain, answering,
    /// and at most [`MAX_LAG`] blocks behind the best head seen.
    pub async fn select(&mut self) -> Result<&Endpoint, Error> {
        let checks = self.endpoints.iter().map(|e| async move {
            let chain = e.provider.get_chain_id().await.map_err(|err| err.to_string())?;
            let head = e.provider.get_block_number().await.map_err(|err| err.to_string())?;
            Ok::<_, String>((chain, head))
        });
        let results = futures::future::join_all(checks).await;
        let best = results
            .iter()
            .filter_map(|r| r.as_ref().ok())
            .filter(|(c, _)| *c == self.chain_id)
            .map(|(_, h)| *h)
            .max()
            .unwrap_or(0);
        let mut reasons = Vec::new();
        let mut chosen = None;
        for (i, r) in results.into_iter().enumerate() {
            let url = &self.endpoints[i].url;
            match r {
                Ok((c, _)) if c != self.chain_id => reasons.push(format!("{url}: serves chain {c}")),
                Ok((_, h)) if best.saturating_sub(h) > MAX_LAG => {
                    reasons.push(format!("{url}: stale head {h}, best is {best}"))
                }
                Ok(_) => {
                    chosen.get_or_insert(i);
                }
                Err(e) => reasons.push(format!("{url}: {e}")),
            }
        }
        let Some(i) = chosen else {
            return Err(Error::NoneHealthy {
                chain_id: self.chain_id,
                reasons,
            });
        };
        // Any endpoint passed over is a switch away from the preferred one: say why.
        if !reasons.is_empty() {
            tracing::warn!(to = %self.endpoints[i].url, "RPC endpoint switched ({})", reasons.join("; "));
        }
        if self.current.is_some_and(|was| was != i) {
            SWITCHES.fetch_add(1, Ordering::Relaxed);
        }
        self.current = Some(i);
        Ok(&self.endpoints[i])
    }

    /// The endpoint in use, selecting one first if needed.
    pub async fn current(&mut self) -> Result<&Endpoint, Error> {
        match self.current {
            Some(i) => Ok(&self.endpoints[i]),
            None => self.select().await,
        }
    }
}
