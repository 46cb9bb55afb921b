//! SOCKS5 on a Unix socket, for the net and chain workers: each CONNECT request becomes one
//! Tor stream to the host name (resolved at the exit, never here) or onion address it names.
//!
//! The request's username and password are its isolation key (as in Tor's own SOCKS port):
//! streams with different credentials never share a circuit, so a worker keeps unrelated
//! peers, RPC endpoints or epochs apart by naming them differently.
//!
//! The handshake is parsed by `tor-socksproto`, arti's own SOCKS parser; everything about it
//! is bounded: streams at once, the handshake's time and size, the isolation keys kept.

use std::collections::HashMap;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arti_client::config::BoolOrAuto;
use arti_client::{IsolationToken, StreamPrefs, TorClient};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Semaphore;
use tor_rtcompat::PreferredRuntime;
use tor_socksproto::{Handshake as _, NextStep, SocksAddr, SocksAuth, SocksCmd, SocksProxyHandshake, SocksStatus};

/// Streams served at once; further connections wait to be accepted.
pub const MAX_STREAMS: usize = 512;
/// Time a client has to finish its SOCKS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Time Tor has to open a stream.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(60);
/// Isolation keys remembered; past this the table starts afresh (old streams keep theirs).
const MAX_ISOLATION_KEYS: usize = 4096;

/// Streams served, for the status report.
#[derive(Debug, Default)]
pub struct Counters {
    pub open: AtomicU32,
    pub total: AtomicU64,
    pub failed: AtomicU64,
}

/// Binds the socket at `path` (0600), replacing one a previous run left.
pub fn bind(path: &Path) -> io::Result<UnixListener> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// One isolation token per credentials pair.
#[derive(Default)]
struct Isolation(HashMap<Vec<u8>, IsolationToken>);

impl Isolation {
    fn token(&mut self, auth: &SocksAuth) -> IsolationToken {
        let key = match auth {
            SocksAuth::Username(user, pass) => [user.as_slice(), b"\0", pass.as_slice()].concat(),
            _ => Vec::new(),
        };
        if self.0.len() >= MAX_ISOLATION_KEYS && !self.0.contains_key(&key) {
            self.0.clear();
        }
        *self.0.entry(key).or_insert_with(IsolationToken::new)
    }
}

/// Accepts SOCKS clients on `listener` until the runtime stops.
pub async fn serve(listener: UnixListener, client: Arc<TorClient<PreferredRuntime>>, counters: Arc<Counters>) {
    let limit = Arc::new(Semaphore::new(MAX_STREAMS));
    let isolation = Arc::new(Mutex::new(Isolation::default()));
    loop {
        let Ok(permit) = limit.clone().acquire_owned().await else {
            return;
        };
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                tracing::warn!("SOCKS accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let (client, isolation, counters) = (client.clone(), isolation.clone(), counters.clone());
        tokio::spawn(async move {
            counters.open.fetch_add(1, Ordering::Relaxed);
            counters.total.fetch_add(1, Ordering::Relaxed);
            if let Err(e) = relay(stream, &client, &isolation).await {
                counters.failed.fetch_add(1, Ordering::Relaxed);
                tracing::debug!("SOCKS stream refused: {e}");
            }
            counters.open.fetch_sub(1, Ordering::Relaxed);
            drop(permit);
        });
    }
}

/// Serves one client: handshake, Tor stream, then bytes both ways until either side closes.
async fn relay(
    mut stream: UnixStream,
    client: &TorClient<PreferredRuntime>,
    isolation: &Mutex<Isolation>,
) -> Result<(), String> {
    let (request, early) = tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake(&mut stream))
        .await
        .map_err(|_| "the SOCKS handshake took too long".to_string())??;
    let refuse = |status| request.reply(status, None).unwrap_or_default();
    if request.command() != SocksCmd::CONNECT {
        let _ = stream.write_all(&refuse(SocksStatus::COMMAND_NOT_SUPPORTED)).await;
        return Err(format!("SOCKS command {} is not supported", request.command()));
    }
    let host = match request.addr() {
        SocksAddr::Hostname(h) => h.as_ref().to_string(),
        SocksAddr::Ip(ip) => ip.to_string(),
    };
    let port = request.port();
    let mut prefs = StreamPrefs::new();
    prefs.set_isolation(
        isolation
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .token(request.auth()),
    );
    prefs.connect_to_onion_services(BoolOrAuto::Explicit(true));
    let connected = tokio::time::timeout(
        CONNECT_TIMEOUT,
        client.connect_with_prefs((host.as_str(), port), &prefs),
    )
    .await;
    let mut tor = match connected {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            let _ = stream.write_all(&refuse(SocksStatus::HOST_UNREACHABLE)).await;
            return Err(format!("Tor could not reach {host}:{port}: {e}"));
        }
        Err(_) => {
            let _ = stream.write_all(&refuse(SocksStatus::TTL_EXPIRED)).await;
            return Err(format!("Tor took too long to reach {host}:{port}"));
        }
    };
    stream
        .write_all(&refuse(SocksStatus::SUCCEEDED))
        .await
        .map_err(|e| e.to_string())?;
    if !early.is_empty() {
        tor.write_all(&early).await.map_err(|e| e.to_string())?;
        tor.flush().await.map_err(|e| e.to_string())?;
    }
    // A stream the far side ends reports an error ("END cell"): that is its end of file.
    let _ = tokio::io::copy_bidirectional(&mut stream, &mut tor).await;
    Ok(())
}

/// Runs the SOCKS handshake on `stream`: the request, and any bytes the client sent after it.
async fn handshake(stream: &mut UnixStream) -> Result<(tor_socksproto::SocksRequest, Vec<u8>), String> {
    let mut hs = SocksProxyHandshake::new();
    let mut buf = tor_socksproto::Buffer::new();
    loop {
        match hs.step(&mut buf).map_err(|e| format!("bad SOCKS handshake: {e}"))? {
            NextStep::Recv(mut recv) => {
                let n = stream.read(recv.buf()).await.map_err(|e| e.to_string())?;
                if n == 0 {
                    return Err("the client closed during the SOCKS handshake".into());
                }
                recv.note_received(n).map_err(|e| e.to_string())?;
            }
            NextStep::Send(reply) => stream.write_all(&reply).await.map_err(|e| e.to_string())?,
            NextStep::Finished(done) => return Ok(done.into_output_and_vec()),
        }
    }
}
