//! The supervisor daemon (`oarn start`): takes the pid file, starts logging, the workers and
//! the local API, tells systemd when it is ready, and runs until SIGTERM, SIGINT or
//! `oarn stop`. SIGHUP and `oarn config reload` re-read the configuration.

use std::sync::Arc;
use std::time::{Duration, Instant};

use oarn_protocol::WorkerKind;
use sd_notify::NotifyState;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, watch};

use crate::api::server;
use crate::logging::{self, LevelHandle};
use crate::pidfile::{PidFile, PidFileError};
use crate::state::{Control, Node};
use oarn_config::home::{Home, HomeError};
use oarn_config::live::{self, Change};
use oarn_config::{self as config, ConfigError, Loaded, Mode};
use oarn_supervise::Supervisor;

/// How long start-up waits for the workers' first handshakes before telling systemd it is up.
const SETTLE: Duration = Duration::from_secs(15);

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// Another daemon runs on this home.
    #[error(transparent)]
    PidFile(#[from] PidFileError),
    /// The node home is unusable.
    #[error(transparent)]
    Home(#[from] HomeError),
    /// The API socket could not be served.
    #[error(transparent)]
    Api(#[from] server::ServeError),
    /// Logging or the async runtime could not start.
    #[error("cannot start the daemon: {0}")]
    Io(#[from] std::io::Error),
}

/// Starts the task pipeline on the journal in the node home, when the node has the chain and
/// network workers it needs; a journal that cannot be opened leaves the node running without
/// it (the error is logged and `oarn task` says so).
fn start_pipeline(node: &Arc<Node>) -> Option<crate::tasks::pipeline::Handle> {
    if node.workers.chain.is_none() || node.workers.net.is_none() {
        return None;
    }
    let path = node.home.root().join("tasks.db");
    let journal = match crate::tasks::Journal::open(&path) {
        Ok(j) => j,
        Err(e) => {
            tracing::error!("{e}; the node runs no tasks");
            return None;
        }
    };
    let ctx = Arc::new(crate::tasks::effects::Ctx::new(node.clone()));
    let handle = crate::tasks::pipeline::start(ctx.clone(), journal);
    tokio::spawn(crate::tasks::pipeline::follow(ctx.clone(), handle.clone()));
    tokio::spawn(crate::tasks::retention::drive(ctx));
    let _ = node.tasks.set(handle.clone());
    Some(handle)
}

/// Starts the HTTP listener (metrics, JSON API) when `[metrics]` enables it; a listener that
/// cannot start leaves the node running without it (logged, and shown by `oarn status`).
async fn start_http(node: &Arc<Node>, config: &oarn_config::Metrics) {
    if !config.enabled {
        let _ = node.http.set(Err("metrics.enabled is false".into()));
        return;
    }
    let Some(addr) = config.addr() else {
        return;
    };
    let outcome = crate::http::start(node.clone(), addr).await.map_err(|e| e.to_string());
    match &outcome {
        Ok(bound) => {
            tracing::info!(%bound, "metrics at http://{bound}/metrics; JSON API under /api/v1/ (token in api.token)")
        }
        Err(e) => tracing::error!("{e}; the node runs without metrics"),
    }
    let _ = node.http.set(outcome);
}

/// Runs the daemon in the foreground until it is stopped. When `ready` is given (by
/// `oarn start --detach`), a line is written to it once the node is up, and it is closed.
/// `unlock` says where the wallet's passphrase comes from.
pub fn run(
    home: Home,
    loaded: Loaded,
    ready: Option<std::fs::File>,
    unlock: crate::discovery::Unlock,
) -> Result<(), DaemonError> {
    home.check_socket_path()?;
    let pid = PidFile::acquire(&home.pid_file())?;
    // One thread: workers are spawned from the main thread, so their PR_SET_PDEATHSIG (which
    // follows the spawning thread) fires exactly when the daemon dies.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let result = runtime.block_on(serve(home, loaded, ready, unlock));
    drop(pid);
    result
}

async fn serve(
    home: Home,
    loaded: Loaded,
    mut ready: Option<std::fs::File>,
    unlock: crate::discovery::Unlock,
) -> Result<(), DaemonError> {
    let level = logging::init(&home.log_file(), &loaded.config.node.log_level)?;
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        pid = std::process::id(),
        "oarn starting; home {}, config {}",
        home.root().display(),
        loaded.path.display()
    );
    for (key, var) in &loaded.overrides {
        tracing::info!("{key} set by environment variable {var}");
    }
    for (key, why) in loaded.config.retired() {
        tracing::warn!(
            "{key} in {} does nothing in this build ({why}); remove it",
            loaded.path.display()
        );
    }
    // Signals are ours before anything can see the daemon, so a SIGTERM sent as soon as the
    // API answers stops it gracefully instead of killing it.
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    let listener = server::bind(&home.socket()).await?;
    let kinds = match loaded.config.network.mode {
        Mode::Local => vec![WorkerKind::Infer],
        _ => oarn_supervise::with_anon(&loaded.config, &[WorkerKind::Infer, WorkerKind::Net, WorkerKind::Chain]),
    };
    home.ensure_worker_dirs()?;
    // The inference worker's sandbox grants the model cache as it exists at spawn: it must
    // exist already, so a model the pipeline installs later is readable.
    {
        use std::os::unix::fs::DirBuilderExt;
        let models = oarn_config::resolve_path(&loaded.config.storage.models_dir, home.root());
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&models)?;
    }
    let ollama = if loaded.config.ollama.serve {
        match oarn_supervise::ollama::Served::start(&loaded.config.ollama) {
            Ok(s) => Some(Arc::new(s)),
            Err(e) => {
                tracing::error!("{e}");
                None
            }
        }
    } else {
        None
    };
    let supervisor = Supervisor::start(&loaded.config, &home, &kinds);
    let (control_tx, mut control) = mpsc::channel(8);
    let running = Arc::new(watch::channel(loaded.config.clone()).0);
    let discovery = crate::discovery::shared();
    let p2p = crate::p2p::Shared::default();
    let wallet: crate::discovery::Wallet = Arc::new(watch::channel(Default::default()).0);
    let chain = supervisor.workers().chain.clone().map(|handle| crate::chain::Chain {
        handle,
        home: home.clone(),
        chain_id: loaded.config.blockchain.chain_id,
        index: unlock.index,
    });
    let node = Arc::new(Node {
        home: home.clone(),
        config_path: loaded.path.clone(),
        config: running.clone(),
        workers: supervisor.workers().clone(),
        started: Instant::now(),
        control: control_tx,
        discovery: discovery.clone(),
        p2p: p2p.clone(),
        chain: chain.clone(),
        wallet: wallet.clone(),
        tasks: std::sync::OnceLock::new(),
        ollama: ollama.clone(),
        metrics: Arc::new(crate::metrics::Metrics::new()),
        http: std::sync::OnceLock::new(),
    });
    start_http(&node, &loaded.config.metrics).await;
    let pipeline = start_pipeline(&node);
    let api = tokio::spawn(server::serve(listener, node));

    let stop_early = tokio::select! {
        _ = supervisor.settled(SETTLE) => false,
        _ = term.recv() => { tracing::info!("SIGTERM received during start-up; stopping"); true }
        _ = int.recv() => { tracing::info!("SIGINT received during start-up; stopping"); true }
    };
    let refresher = chain.map(|chain| {
        tokio::spawn(crate::discovery::drive(
            chain,
            crate::discovery::request(&loaded.config),
            discovery.clone(),
            unlock,
            wallet,
        ))
    });
    let anon = supervisor.workers().anon.clone();
    let swarm = supervisor.workers().net.clone().map(|net| {
        tokio::spawn(crate::p2p::drive(
            net,
            anon,
            running.subscribe(),
            discovery.subscribe(),
            p2p.clone(),
            pipeline.clone(),
        ))
    });
    if !stop_early {
        let summary = summary(&supervisor);
        tracing::info!("ready: {summary}");
        notify(&[NotifyState::Ready, NotifyState::Status(&summary)]);
        if let Some(mut r) = ready.take() {
            use std::io::Write;
            let _ = writeln!(r, "{summary}");
        }
    }

    let watchdog = sd_notify::watchdog_enabled();
    let mut watchdog_tick = tokio::time::interval(watchdog.map_or(Duration::from_secs(3600), |d| d / 2));
    let reloader = Reloader {
        path: loaded.path.clone(),
        running,
        level,
        supervisor: &supervisor,
    };
    loop {
        if stop_early {
            break;
        }
        tokio::select! {
            _ = term.recv() => { tracing::info!("SIGTERM received; stopping"); break; }
            _ = int.recv() => { tracing::info!("SIGINT received; stopping"); break; }
            _ = hup.recv() => { let _ = reloader.reload(); }
            msg = control.recv() => match msg {
                Some(Control::Reload(reply)) => { let _ = reply.send(reloader.reload()); }
                Some(Control::Shutdown) => { tracing::info!("stop requested through the API; stopping"); break; }
                None => break,
            },
            _ = watchdog_tick.tick(), if watchdog.is_some() => notify(&[NotifyState::Watchdog]),
        }
    }
    notify(&[NotifyState::Stopping]);
    api.abort();
    for task in [refresher, swarm].into_iter().flatten() {
        task.abort();
    }
    supervisor.shutdown().await;
    if let Some(served) = ollama {
        served.stop().await;
    }
    let _ = std::fs::remove_file(home.socket());
    tracing::info!("oarn stopped");
    Ok(())
}

/// Re-reads the configuration and applies its live keys.
struct Reloader<'a> {
    path: std::path::PathBuf,
    running: Arc<watch::Sender<config::Config>>,
    level: LevelHandle,
    supervisor: &'a Supervisor,
}

impl Reloader<'_> {
    fn reload(&self) -> Result<Change, ConfigError> {
        notify(&[NotifyState::Reloading]);
        let outcome = self.apply();
        notify(&[NotifyState::Ready]);
        outcome
    }

    fn apply(&self) -> Result<Change, ConfigError> {
        let new = match config::load::load(&self.path) {
            Ok(l) => l.config,
            Err(e) => {
                tracing::error!("reload refused, keeping the running configuration: {e}");
                return Err(e);
            }
        };
        let change = live::diff(&self.running.borrow(), &new);
        self.running.send_if_modified(|running| {
            live::apply(running, &new);
            !change.applied.is_empty()
        });
        let running = self.running.borrow();
        self.level.set(&running.node.log_level);
        self.supervisor.update(&running);
        if !change.applied.is_empty() {
            tracing::info!("configuration reloaded; applied: {}", change.applied.join(", "));
        }
        if !change.needs_restart.is_empty() {
            tracing::warn!(
                "changed but needs a restart to take effect: {}",
                change.needs_restart.join(", ")
            );
        }
        if change == Change::default() {
            tracing::info!("configuration reloaded; nothing changed");
        }
        Ok(change)
    }
}

fn summary(supervisor: &Supervisor) -> String {
    supervisor
        .workers()
        .statuses()
        .iter()
        .map(|s| {
            format!(
                "{} {}",
                s.kind,
                serde_json::to_value(s.state)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from))
                    .unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Tells systemd about our state; a no-op when not run by systemd.
fn notify(state: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(state) {
        tracing::debug!("sd_notify failed: {e}");
    }
}
