//! How the net and chain workers reach the world in privacy mode: every connection is a SOCKS5
//! CONNECT through the anonymity worker's Unix socket, naming a host (resolved at the Tor exit,
//! never here) or an onion address, with an isolation key as its username so unrelated
//! destinations never share a circuit. These workers run in an empty network namespace: there
//! is no other way out, and a dial that cannot go through the socket fails.
//!
//! - [`connect`]: one stream to `host:port`.
//! - [`Relays`]: for clients that can only be pointed at a Unix socket path (reqwest's
//!   `unix_socket`), one abstract-namespace listener per destination inside the worker's own
//!   network namespace, each accepted connection relayed through [`connect`]. The abstract
//!   namespace belongs to the network namespace, so no other process can reach these.

use std::collections::HashMap;
use std::os::linux::net::SocketAddrExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::net::UnixStream;

/// Longest a SOCKS handshake, Tor's circuit included, may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(90);
/// Destinations one worker relays at most (RPC endpoints are bounded far below this).
pub const MAX_RELAYS: usize = 64;

/// Why a connection through the anonymity worker failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The anonymity worker's socket did not answer: it is not running (yet).
    #[error(
        "the anonymity worker's socket {path} does not answer ({source}); privacy mode has no network until it runs"
    )]
    Socket { path: PathBuf, source: std::io::Error },
    /// The worker answered, but Tor could not reach the destination.
    #[error("Tor could not reach {target}: {reason}")]
    Unreachable { target: String, reason: String },
    /// Tor took too long.
    #[error("Tor took more than {}s to reach {target}", CONNECT_TIMEOUT.as_secs())]
    Timeout { target: String },
    /// More destinations than [`MAX_RELAYS`].
    #[error("more than {MAX_RELAYS} destinations to relay; refusing {target}")]
    TooMany { target: String },
    /// The relay's listener could not be made.
    #[error("cannot listen for {target}: {source}")]
    Listen { target: String, source: std::io::Error },
}

/// Where the net worker listens, in privacy mode, for the streams the anonymity worker
/// forwards from the node's onion service.
pub fn inbound_socket(home: &Path) -> PathBuf {
    home.join("ipfs").join("inbound.sock")
}

/// Seconds per rotation epoch; 0: no rotation.
static ROTATION_SECS: AtomicU64 = AtomicU64::new(0);

/// Rotates circuits every `secs` seconds (0: never): a connection opened in a later epoch
/// shares no circuit with one opened in an earlier one, whatever its isolation key.
pub fn rotate_every(secs: u64) {
    ROTATION_SECS.store(secs, Ordering::Relaxed);
}

/// The SOCKS username for `isolation` at `now` (Unix seconds) with epochs of `every` seconds:
/// the key itself, and with rotation its epoch's number, so each epoch gets new circuits.
pub fn isolation_key(isolation: &str, now: u64, every: u64) -> String {
    match every {
        0 => isolation.to_string(),
        every => format!("{isolation} epoch {}", now / every),
    }
}

/// A stream to `host:port` through the anonymity worker at `socket`, on circuits kept apart
/// from those of every other `isolation` key (and, with rotation, of every other epoch).
pub async fn connect(socket: &Path, host: &str, port: u16, isolation: &str) -> Result<UnixStream, Error> {
    let target = format!("{host}:{port}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let isolation = isolation_key(isolation, now, ROTATION_SECS.load(Ordering::Relaxed));
    let isolation = isolation.as_str();
    let dial = async {
        let stream = UnixStream::connect(socket).await.map_err(|source| Error::Socket {
            path: socket.to_path_buf(),
            source,
        })?;
        // The password is unused: arti keys isolation on the pair, and the username is ours.
        tokio_socks::tcp::Socks5Stream::connect_with_password_and_socket(stream, (host, port), isolation, "oarn")
            .await
            .map(tokio_socks::tcp::Socks5Stream::into_inner)
            .map_err(|e| Error::Unreachable {
                target: target.clone(),
                reason: e.to_string(),
            })
    };
    tokio::time::timeout(CONNECT_TIMEOUT, dial)
        .await
        .map_err(|_| Error::Timeout { target: target.clone() })?
}

/// Abstract-namespace listeners relaying to destinations through the anonymity worker.
#[derive(Debug)]
pub struct Relays {
    socket: PathBuf,
    names: Mutex<HashMap<(String, u16), PathBuf>>,
}

impl Relays {
    /// Relays through the anonymity worker at `socket`.
    pub fn new(socket: PathBuf) -> Self {
        Self {
            socket,
            names: Mutex::new(HashMap::new()),
        }
    }

    /// The path (an abstract name, starting with a NUL byte, as tokio and reqwest accept it)
    /// whose connections reach `host:port`, its listener started on the current tokio runtime
    /// the first time. Connections to one destination share one isolation key.
    pub fn path(&self, host: &str, port: u16) -> Result<PathBuf, Error> {
        let target = format!("{host}:{port}");
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(Error::Listen {
                target,
                source: std::io::Error::other("no async runtime to relay on"),
            });
        }
        let mut names = self.names.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = names.get(&(host.to_string(), port)) {
            return Ok(p.clone());
        }
        if names.len() >= MAX_RELAYS {
            return Err(Error::TooMany { target });
        }
        let name = format!("oarn-relay-{}-{}", std::process::id(), names.len());
        let listen = |source| Error::Listen {
            target: target.clone(),
            source,
        };
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).map_err(listen)?;
        let std_listener = std::os::unix::net::UnixListener::bind_addr(&addr).map_err(listen)?;
        std_listener.set_nonblocking(true).map_err(listen)?;
        let listener = tokio::net::UnixListener::from_std(std_listener).map_err(listen)?;
        let (socket, host_owned) = (self.socket.clone(), host.to_string());
        tokio::spawn(async move {
            let isolation = format!("relay {host_owned}:{port}");
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                };
                let (socket, host, isolation) = (socket.clone(), host_owned.clone(), isolation.clone());
                tokio::spawn(async move {
                    match connect(&socket, &host, port, &isolation).await {
                        Ok(mut outbound) => {
                            let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        }
                        Err(e) => tracing::warn!("{e}"),
                    }
                });
            }
        });
        let path = PathBuf::from(std::ffi::OsString::from(format!("\0{name}")));
        names.insert((host.to_string(), port), path.clone());
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_missing_anonymity_worker_is_named_not_bypassed() {
        let dir = std::env::temp_dir().join(format!("oarn-anon-dial-{}", std::process::id()));
        let err = connect(&dir.join("socks.sock"), "example.org", 443, "t")
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Socket { .. }), "{err}");
        assert!(err.to_string().contains("privacy mode has no network"), "{err}");
    }

    #[test]
    fn isolation_credentials_change_every_epoch() {
        // Epochs of 2 s: the same key within one, a new one in the next.
        assert_eq!(isolation_key("p2p a:1", 100, 2), isolation_key("p2p a:1", 101, 2));
        assert_ne!(isolation_key("p2p a:1", 101, 2), isolation_key("p2p a:1", 102, 2));
        assert_ne!(isolation_key("p2p a:1", 100, 2), isolation_key("p2p b:1", 100, 2));
        assert_eq!(
            isolation_key("p2p a:1", 100, 0),
            "p2p a:1",
            "no rotation: the key alone"
        );
    }

    #[tokio::test]
    async fn one_destination_keeps_one_relay_path() {
        let relays = Relays::new("/nonexistent/socks.sock".into());
        let a = relays.path("rpc.example", 443).unwrap();
        assert_eq!(relays.path("rpc.example", 443).unwrap(), a);
        let b = relays.path("rpc.example", 8545).unwrap();
        assert_ne!(a, b);
        assert!(a.as_os_str().as_encoded_bytes().starts_with(b"\0"));
        // A connection to the relay whose destination is unreachable is closed, not hung.
        let mut s = UnixStream::connect(&a).await.unwrap();
        let mut buf = [0u8; 1];
        let n = tokio::time::timeout(Duration::from_secs(5), tokio::io::AsyncReadExt::read(&mut s, &mut buf))
            .await
            .unwrap()
            .unwrap_or(0);
        assert_eq!(n, 0);
    }
}
