//! The worker: a tokio runtime running the Tor client and the SOCKS server, and the
//! supervisor's requests answered from what they report.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use oarn_protocol::anon::{Protocol, Reply, Request, Status};
use oarn_protocol::envelope::{ErrorReply, Info, RequestId};
use oarn_protocol::serve::{Context, Handler};
use oarn_sandbox::Launch;

use crate::socks::{self, Counters};
use crate::tor::{self, Prepared, Progress};

/// The anonymity worker's state.
#[derive(Debug)]
pub struct Worker {
    progress: Arc<Mutex<Progress>>,
    counters: Arc<Counters>,
    _runtime: Option<tokio::runtime::Runtime>,
}

impl Worker {
    /// Starts the Tor client and the SOCKS server; a failure is kept and reported by status
    /// (and in the log), so the supervisor shows why privacy mode has no network.
    pub fn new(launch: &Launch, prepared: Prepared) -> Self {
        let progress = Arc::new(Mutex::new(Progress::default()));
        let counters = Arc::new(Counters::default());
        let runtime = match start(launch, prepared, progress.clone(), counters.clone()) {
            Ok(rt) => Some(rt),
            Err(e) => {
                tracing::error!("{e}");
                progress.lock().unwrap_or_else(|e| e.into_inner()).failed = Some(e);
                None
            }
        };
        Self {
            progress,
            counters,
            _runtime: runtime,
        }
    }

    fn status(&self) -> Status {
        let p = self.progress.lock().unwrap_or_else(|e| e.into_inner()).clone();
        Status {
            transport: "tor".into(),
            ready: p.ready && p.failed.is_none(),
            percent: p.percent,
            blocked: p.failed.or(p.blocked),
            onion: p.onion,
            streams_open: self.counters.open.load(Ordering::Relaxed),
            streams_total: self.counters.total.load(Ordering::Relaxed),
            streams_failed: self.counters.failed.load(Ordering::Relaxed),
        }
    }
}

fn start(
    launch: &Launch,
    prepared: Prepared,
    progress: Arc<Mutex<Progress>>,
    counters: Arc<Counters>,
) -> Result<tokio::runtime::Runtime, String> {
    let config = prepared?;
    let socket = launch
        .anon_socket
        .clone()
        .ok_or("started without --anon-socket: nowhere to serve SOCKS")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let (client, listener) = runtime.block_on(async {
        let client = tor::create(config).map_err(|e| e.to_string())?;
        let listener = socks::bind(&socket).map_err(|e| format!("cannot listen on {}: {e}", socket.display()))?;
        Ok::<_, String>((client, listener))
    })?;
    tracing::info!(socket = %socket.display(), "serving SOCKS5 through Tor");
    runtime.spawn(tor::bootstrap(client.clone(), progress.clone()));
    runtime.spawn(crate::onion::serve(
        client.clone(),
        oarn_anon_dial::inbound_socket(&launch.home),
        progress,
    ));
    runtime.spawn(socks::serve(listener, client, counters));
    Ok(runtime)
}

impl Handler<Protocol> for Worker {
    fn handle(
        &mut self,
        _id: RequestId,
        request: Request,
        _cx: &mut dyn Context<Protocol>,
    ) -> Result<Reply, ErrorReply> {
        match request {
            Request::GetInfo(_) => Ok(Reply::Info(Info {
                capabilities: vec!["tor".into(), "socks5".into()],
                in_flight: self.counters.open.load(Ordering::Relaxed),
            })),
            Request::GetStatus(_) => Ok(Reply::Status(self.status())),
        }
    }
}
