//! One task per worker: start it, check its handshake and sandbox, ping it, route requests to
//! it, and restart it with backoff when it exits, hangs or misbehaves. The supervisor never
//! trusts what a worker sends: a malformed frame, an unknown request id, a reply of the wrong
//! kind or a silent pipe ends that worker, never the supervisor.

use std::collections::HashMap;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use oarn_config::home::Home;
use oarn_config::{Config, SandboxMode, resolve_path};
use oarn_protocol::envelope::{Down, Protocol, RequestId, Up};
use oarn_protocol::frame::{DEFAULT_MAX_FRAME, FrameError};
use oarn_protocol::handshake::{HandshakeError, Hello, Role};
use oarn_protocol::sandbox::{LayerState, SandboxReport};
use oarn_protocol::{WorkerKind, anon, chain, channel, frame, infer, net};
use oarn_sandbox::Launch;
use tokio::io::AsyncWrite;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinSet;
use tokio::time::{sleep, timeout};

use crate::handle::Pending;
pub use crate::handle::{CallError, Handle};
use crate::process::{Binary, Launcher, Process};
use crate::status::{State, WorkerStatus};
use crate::stderr::{self, Source};
use crate::{backoff, spawn};

/// How long a new worker has to send its hello.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Requests in flight per worker; further calls wait.
const MAX_IN_FLIGHT: usize = 64;
/// Calls queued per worker before callers are told it is busy.
const CALL_QUEUE: usize = 64;
/// Longest a caller may take to make room for one more streamed event before its request is
/// cancelled (frames of one worker arrive in order, so a stalled caller would stall them all).
const EVENT_WAIT: Duration = Duration::from_secs(2);

/// Build id the supervisor sends in its hello.
pub const BUILD_ID: &str = concat!("oarn ", env!("CARGO_PKG_VERSION"));

/// The supervision settings that can change while workers run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub ping_interval: Duration,
    pub ping_timeout: Duration,
    pub shutdown_grace: Duration,
    pub strict: bool,
}

impl Settings {
    pub fn from_config(c: &Config) -> Self {
        Self {
            ping_interval: Duration::from_secs(c.workers.ping_interval_secs.into()),
            ping_timeout: Duration::from_secs(c.workers.ping_timeout_secs.into()),
            shutdown_grace: Duration::from_millis(c.workers.shutdown_grace_ms.into()),
            strict: c.sandbox.mode == SandboxMode::Strict,
        }
    }
}

/// The command line every worker gets: paths and amounts its sandbox profile refers to.
pub fn launch(config: &Config, home: &Home) -> Launch {
    let dir = |p: &std::path::Path| (!p.as_os_str().is_empty()).then(|| resolve_path(p, home.root()));
    Launch {
        home: home.root().to_path_buf(),
        log_filter: config.node.log_level.clone(),
        models: resolve_path(&config.storage.models_dir, home.root()),
        memory_mb: u64::from(config.compute.max_ram_gb) * 1024,
        profiles: dir(&config.sandbox.profile_dir),
        probe: None,
        ollama: config.ollama.enabled.then(|| config.ollama.addr()).flatten(),
        onnxruntime: dir(&config.compute.onnxruntime),
        anon_socket: config.privacy.mode.anonymous().then(|| anon_socket(home)),
        tor_config: dir(&config.privacy.tor_config),
        rotation_secs: if config.privacy.mode.anonymous() && config.privacy.rotate_peers {
            u64::from(config.privacy.rotation_interval_mins) * 60
        } else {
            0
        },
        command: Vec::new(),
    }
}

/// The anonymity worker's SOCKS socket, in its own directory.
pub fn anon_socket(home: &Home) -> std::path::PathBuf {
    home.root().join("anon").join("socks.sock")
}

/// `kinds` with the anonymity worker first when privacy mode sends the net or chain worker's
/// traffic through it: without it they have no network at all.
pub fn with_anon(config: &Config, kinds: &[WorkerKind]) -> Vec<WorkerKind> {
    let needs = config.privacy.mode.anonymous()
        && kinds.iter().any(|k| matches!(k, WorkerKind::Net | WorkerKind::Chain))
        && !kinds.contains(&WorkerKind::Anon);
    let mut out = Vec::with_capacity(kinds.len() + 1);
    if needs {
        out.push(WorkerKind::Anon);
    }
    out.extend_from_slice(kinds);
    out
}

/// Handles to the node's running workers; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Workers {
    pub infer: Option<Handle<infer::Protocol>>,
    pub net: Option<Handle<net::Protocol>>,
    pub chain: Option<Handle<chain::Protocol>>,
    /// Only in privacy mode.
    pub anon: Option<Handle<anon::Protocol>>,
}

impl Workers {
    /// Snapshots of every worker's status, in infer, net, chain, anon order.
    pub fn statuses(&self) -> Vec<WorkerStatus> {
        let mut out = Vec::new();
        out.extend(self.infer.as_ref().map(Handle::status));
        out.extend(self.net.as_ref().map(Handle::status));
        out.extend(self.chain.as_ref().map(Handle::status));
        out.extend(self.anon.as_ref().map(Handle::status));
        out
    }

    /// Statuses with each running worker's own `Info` (capabilities, load) asked for now.
    pub async fn statuses_with_info(&self, wait: Duration) -> Vec<WorkerStatus> {
        let (a, b, c, d) = tokio::join!(
            with_info(self.infer.as_ref(), wait),
            with_info(self.net.as_ref(), wait),
            with_info(self.chain.as_ref(), wait),
            with_info(self.anon.as_ref(), wait)
        );
        [a, b, c, d].into_iter().flatten().collect()
    }

    /// Waits until every worker has either completed its handshake or failed at least once.
    pub async fn settled(&self) {
        let settled = |s: &WorkerStatus| s.state == State::Running || s.last_exit.is_some();
        tokio::join!(
            wait(self.infer.as_ref(), settled),
            wait(self.net.as_ref(), settled),
            wait(self.chain.as_ref(), settled),
            wait(self.anon.as_ref(), settled)
        );
    }
}

async fn wait<P: Protocol>(handle: Option<&Handle<P>>, pred: impl FnMut(&WorkerStatus) -> bool) {
    if let Some(h) = handle {
        h.wait_for(pred).await;
    }
}

async fn with_info<P: Protocol>(handle: Option<&Handle<P>>, wait: Duration) -> Option<WorkerStatus> {
    let handle = handle?;
    let reply = timeout(wait, handle.call(P::GetInfo::default())).await;
    let mut status = handle.status();
    if let Ok(Ok(info)) = reply {
        status.capabilities = info.capabilities;
        status.in_flight = Some(info.in_flight);
    }
    Some(status)
}

/// Supervises all of the node's workers.
#[derive(Debug)]
pub struct Supervisor {
    workers: Workers,
    settings: watch::Sender<Settings>,
    shutdown: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl Supervisor {
    /// Starts one supervising task per kind in `kinds`, each running its worker binary.
    pub fn start(config: &Config, home: &Home, kinds: &[WorkerKind]) -> Self {
        let launch = launch(config, home);
        let launchers = kinds.iter().map(|&kind| {
            let program = spawn::binary(kind, config, home.root());
            let launcher: Arc<dyn Launcher> = Arc::new(Binary {
                program,
                launch: launch.clone(),
            });
            (kind, launcher)
        });
        Self::start_with(Settings::from_config(config), launchers)
    }

    /// Starts one supervising task per worker, each starting its processes with its launcher.
    pub fn start_with(
        settings: Settings,
        launchers: impl IntoIterator<Item = (WorkerKind, Arc<dyn Launcher>)>,
    ) -> Self {
        let (settings, settings_rx) = watch::channel(settings);
        let (shutdown, shutdown_rx) = watch::channel(false);
        let mut tasks = JoinSet::new();
        let mut workers = Workers::default();
        for (kind, launcher) in launchers {
            let (status, status_rx) = watch::channel(WorkerStatus::new(kind, launcher.describe()));
            let ctx = Ctx {
                kind,
                launcher,
                status: Arc::new(status),
                settings: settings_rx.clone(),
                shutdown: shutdown_rx.clone(),
            };
            match kind {
                WorkerKind::Infer => workers.infer = Some(ctx.start(status_rx, &mut tasks)),
                WorkerKind::Net => workers.net = Some(ctx.start(status_rx, &mut tasks)),
                WorkerKind::Chain => workers.chain = Some(ctx.start(status_rx, &mut tasks)),
                WorkerKind::Anon => workers.anon = Some(ctx.start(status_rx, &mut tasks)),
            }
        }
        Self {
            workers,
            settings,
            shutdown,
            tasks,
        }
    }

    /// Handles to the workers.
    pub fn workers(&self) -> &Workers {
        &self.workers
    }

    /// Waits, at most `limit`, until every worker has either completed its handshake or
    /// failed at least once.
    pub async fn settled(&self, limit: Duration) {
        let _ = timeout(limit, self.workers.settled()).await;
    }

    /// Applies new live settings to every worker's supervision.
    pub fn update(&self, config: &Config) {
        self.settings.send_replace(Settings::from_config(config));
    }

    /// Asks every worker to shut down, kills those that outlive the grace period, and waits.
    pub async fn shutdown(mut self) {
        self.shutdown.send_replace(true);
        while self.tasks.join_next().await.is_some() {}
    }
}

/// What one supervising task needs.
struct Ctx {
    kind: WorkerKind,
    launcher: Arc<dyn Launcher>,
    status: Arc<watch::Sender<WorkerStatus>>,
    settings: watch::Receiver<Settings>,
    shutdown: watch::Receiver<bool>,
}

/// How one worker process ended.
enum Outcome {
    Shutdown,
    Failed(String),
}

impl Ctx {
    fn start<P: Protocol>(self, status: watch::Receiver<WorkerStatus>, tasks: &mut JoinSet<()>) -> Handle<P> {
        let (calls, rx) = mpsc::channel(CALL_QUEUE);
        tasks.spawn(self.supervise::<P>(rx));
        Handle { calls, status }
    }

    fn set(&self, f: impl FnOnce(&mut WorkerStatus)) {
        self.status.send_modify(f);
    }

    fn settings(&self) -> Settings {
        self.settings.borrow().clone()
    }

    async fn supervise<P: Protocol>(mut self, mut calls: mpsc::Receiver<Pending<P>>) {
        let worker = self.kind.name();
        let mut failures = 0u32;
        while !*self.shutdown.borrow() {
            self.set(|s| s.state = State::Starting);
            let started = Instant::now();
            match self.run_once::<P>(&mut calls).await {
                Outcome::Shutdown => break,
                Outcome::Failed(reason) => {
                    if started.elapsed() >= backoff::STABLE_AFTER {
                        failures = 0;
                    }
                    failures += 1;
                    let delay = backoff::delay(failures);
                    tracing::warn!(
                        worker,
                        "worker failed: {reason}; restarting in {} ms",
                        delay.as_millis()
                    );
                    self.set(|s| {
                        s.restarts += 1;
                        s.state = State::Restarting;
                        if failures >= backoff::DEGRADED_AFTER {
                            let tail: Vec<&str> =
                                s.stderr_tail.iter().rev().take(5).rev().map(String::as_str).collect();
                            let mut why = format!("{failures} failures in a row; last: {reason}");
                            if !tail.is_empty() {
                                why.push_str(&format!("; last stderr: {}", tail.join(" | ")));
                            }
                            s.degraded = Some(why);
                        }
                        s.ended(reason);
                    });
                    tokio::select! {
                        _ = sleep(delay) => {}
                        _ = self.shutdown.changed() => {}
                    }
                }
            }
        }
        self.set(|s| {
            s.state = State::Stopped;
            s.pid = None;
            s.since = None;
        });
        calls.close();
        while let Some(call) = calls.recv().await {
            let _ = call.reply.send(Err(CallError::NotRunning(self.kind)));
        }
    }

    async fn run_once<P: Protocol>(&mut self, calls: &mut mpsc::Receiver<Pending<P>>) -> Outcome {
        let worker = self.kind.name();
        let Process {
            pid,
            stdin,
            stdout,
            stderr,
            mut child,
        } = match self.launcher.launch() {
            Ok(p) => p,
            Err(e) => return Outcome::Failed(format!("cannot start {}: {e}", self.launcher.describe())),
        };
        self.set(|s| s.pid = Some(pid));
        let source = Source {
            name: worker,
            raw_level: tracing::Level::WARN,
        };
        let status = self.status.clone();
        let mut stderr_task = tokio::spawn(stderr::forward(source, stderr, move |line| {
            status.send_modify(|s| s.push_stderr(line));
        }));
        let mut conn = Conn::<P> {
            writer: channel::Writer::new(stdin, DEFAULT_MAX_FRAME),
            write_timeout: self.settings().ping_timeout,
            pending: HashMap::new(),
            next_id: 1,
        };
        let mut reader = channel::Reader::new(stdout, DEFAULT_MAX_FRAME);

        let outcome = match self.handshake::<P>(&mut reader, &mut conn, pid).await {
            // A worker that already exited explains itself better by its exit status.
            Err(reason) => exit_or(&mut *child, reason, Duration::from_millis(500)).await,
            Ok(()) => {
                tracing::info!(worker, pid, "worker ready");
                let (up_tx, up_rx) = mpsc::channel(64);
                let reader_task = tokio::spawn(async move {
                    loop {
                        let msg = reader.read_payload().await.and_then(P::decode_up);
                        let end = msg.is_err();
                        if up_tx.send(msg).await.is_err() || end {
                            break;
                        }
                    }
                });
                let outcome = self.serve(&mut *child, &mut conn, up_rx, calls).await;
                reader_task.abort();
                outcome
            }
        };
        if let Outcome::Failed(_) = outcome {
            child.start_kill();
        }
        let _ = timeout(Duration::from_secs(5), child.wait()).await;
        // Let stderr drain so the last lines (a panic message) reach the log and the status.
        if timeout(Duration::from_secs(1), &mut stderr_task).await.is_err() {
            stderr_task.abort();
        }
        for (_, p) in conn.pending.drain() {
            let _ = p.reply.send(Err(CallError::Lost(self.kind)));
        }
        outcome
    }

    /// Reads and checks the worker's hello, answers it, and checks the sandbox it claims.
    async fn handshake<P: Protocol>(
        &self,
        reader: &mut channel::Reader<std::pin::Pin<Box<dyn tokio::io::AsyncRead + Send>>>,
        conn: &mut Conn<P>,
        pid: u32,
    ) -> Result<(), String> {
        let hello = timeout(HANDSHAKE_TIMEOUT, async {
            let payload = reader.read_payload().await.map_err(HandshakeError::from)?;
            Hello::decode(payload, Role::Worker(P::KIND))
        })
        .await
        .map_err(|_| format!("no handshake within {} s", HANDSHAKE_TIMEOUT.as_secs()))?
        .map_err(|e| format!("handshake failed: {e}"))?;
        let ours = Hello::new(Role::Supervisor, BUILD_ID, SandboxReport::default());
        conn.send_with(|max, out| frame::encode_into(&ours, max, out)).await?;

        let seen = self
            .launcher
            .observe(pid)
            .map_err(|e| format!("cannot read /proc/{pid}/status: {e}"))?;
        if !seen.unverified.is_empty() {
            tracing::debug!(
                worker = self.kind.name(),
                "cannot compare the {} namespaces of a non-dumpable worker without CAP_SYS_PTRACE",
                seen.unverified.join(", ")
            );
        }
        let lies = crate::proc_status::contradictions(&hello.sandbox, &seen);
        if !lies.is_empty() {
            return Err(format!(
                "sandbox report contradicted by the kernel: {}",
                lies.join("; ")
            ));
        }
        let missing: Vec<String> = hello
            .sandbox
            .layers
            .iter()
            .filter_map(|l| match &l.state {
                LayerState::Unavailable { reason } => Some(format!("{} ({reason})", l.layer.name())),
                _ => None,
            })
            .collect();
        if !missing.is_empty() {
            if self.settings().strict {
                return Err(format!(
                    "sandbox mode is strict and these layers are unavailable: {}; set sandbox.mode = \"best-effort\" to run anyway",
                    missing.join(", ")
                ));
            }
            tracing::warn!(
                worker = self.kind.name(),
                "sandbox layers unavailable: {}",
                missing.join(", ")
            );
        }
        self.set(|s| s.running(pid, hello.build_id.clone(), &hello.sandbox));
        Ok(())
    }

    /// Runs a handshaken worker until it fails or shutdown is asked for.
    async fn serve<P: Protocol>(
        &mut self,
        child: &mut dyn crate::process::Child,
        conn: &mut Conn<P>,
        mut up: Inbound<P>,
        calls: &mut mpsc::Receiver<Pending<P>>,
    ) -> Outcome {
        let mut settings = self.settings();
        let mut ping = tokio::time::interval(settings.ping_interval);
        let mut outstanding: Option<(u64, Instant)> = None;
        let mut calls_open = true;
        // One future per request in flight, resolving with its id when its caller cancels or
        // goes away.
        let mut cancels = FuturesUnordered::new();
        loop {
            tokio::select! {
                msg = up.recv() => match msg {
                    None | Some(Err(FrameError::Closed)) => return exit_or(child, "closed its output".into(), Duration::from_secs(2)).await,
                    Some(Err(e)) => return Outcome::Failed(format!("sent a bad frame ({e}); killed")),
                    Some(Ok(Up::Pong { nonce })) => {
                        if let Some((n, at)) = outstanding
                            && n == nonce
                        {
                            let us = at.elapsed().as_micros() as u64;
                            self.set(|s| s.ping_us = Some(us));
                            outstanding = None;
                        }
                    }
                    Some(Ok(Up::Reply { id, body })) => {
                        if let Err(why) = conn.answer(id, body, self.kind) {
                            return Outcome::Failed(why);
                        }
                    }
                    Some(Ok(Up::Event { id, body })) => {
                        let Some(p) = conn.pending.get_mut(&id) else {
                            return Outcome::Failed(format!("sent an event for unknown request {id}; killed"));
                        };
                        // A caller too slow for its events has the request cancelled, once.
                        if p.deliver(body).await == Delivery::Overrun && !p.cancelled {
                            p.cancelled = true;
                            if let Err(e) = conn.send(&Down::Cancel { id }).await {
                                return exit_or(child, e, Duration::from_secs(2)).await;
                            }
                        }
                    }
                },
                status = child.wait() => {
                    return Outcome::Failed(match status {
                        Ok(s) => describe(s),
                        Err(e) => format!("could not be waited for: {e}"),
                    });
                }
                Some(id) = cancels.next(), if !cancels.is_empty() => {
                    if let Some(p) = conn.pending.get_mut(&id)
                        && !p.cancelled
                    {
                        p.cancelled = true;
                        if let Err(e) = conn.send(&Down::Cancel { id }).await {
                            return exit_or(child, e, Duration::from_secs(2)).await;
                        }
                    }
                }
                _ = ping.tick() => {
                    if let Some((_, at)) = outstanding {
                        if at.elapsed() >= settings.ping_timeout {
                            return Outcome::Failed(format!(
                                "hung: no answer to a ping for {} s; killed",
                                settings.ping_timeout.as_secs()
                            ));
                        }
                    } else {
                        let nonce = fastrand::u64(..);
                        if let Err(e) = conn.send(&Down::Ping { nonce }).await {
                            return exit_or(child, e, Duration::from_secs(2)).await;
                        }
                        outstanding = Some((nonce, Instant::now()));
                    }
                    let stable = self.status.borrow().since
                        .is_some_and(|t| t.elapsed() >= backoff::STABLE_AFTER);
                    if stable {
                        self.set(|s| s.degraded = None);
                    }
                }
                call = calls.recv(), if calls_open && conn.pending.len() < MAX_IN_FLIGHT => match call {
                    // A caller that already went away is not worth a request.
                    Some(call) if call.reply.is_closed() => {}
                    Some(call) => {
                        let id = conn.next_id;
                        conn.next_id += 1;
                        let Pending { body, accepts, reply, events, cancel } = call;
                        if let Err(e) = conn.send(&Down::Request { id, body }).await {
                            let _ = reply.send(Err(CallError::Lost(self.kind)));
                            return exit_or(child, e, Duration::from_secs(2)).await;
                        }
                        conn.pending.insert(id, InFlight { accepts, reply, events, cancelled: false, overrun: false });
                        cancels.push(async move {
                            let _ = cancel.await;
                            id
                        });
                    }
                    None => calls_open = false,
                },
                changed = self.settings.changed() => {
                    if changed.is_ok() {
                        settings = self.settings();
                        conn.write_timeout = settings.ping_timeout;
                        ping = tokio::time::interval(settings.ping_interval);
                    }
                }
                _ = self.shutdown.changed() => {
                    let grace = settings.shutdown_grace;
                    let grace_ms = u32::try_from(grace.as_millis()).unwrap_or(u32::MAX);
                    let _ = conn.send(&Down::Shutdown { grace_ms }).await;
                    match timeout(grace, child.wait()).await {
                        Ok(_) => tracing::info!(worker = self.kind.name(), "worker stopped"),
                        Err(_) => {
                            tracing::warn!(worker = self.kind.name(), "worker did not stop within {} ms; killing it", grace.as_millis());
                            child.start_kill();
                        }
                    }
                    return Outcome::Shutdown;
                }
            }
        }
    }
}

/// Frames decoded by a worker's reader task.
type Inbound<P> = mpsc::Receiver<Result<Up<<P as Protocol>::Reply, <P as Protocol>::Event>, FrameError>>;

/// A request sent to the worker and not answered yet.
struct InFlight<P: Protocol> {
    accepts: fn(&P::Reply) -> bool,
    reply: oneshot::Sender<Result<P::Reply, CallError>>,
    events: Option<mpsc::Sender<P::Event>>,
    /// A cancel was sent for it.
    cancelled: bool,
    /// Its caller did not read its events in time.
    overrun: bool,
}

/// What became of a streamed event.
#[derive(Debug, PartialEq, Eq)]
enum Delivery {
    /// Handed to the caller (or the caller does not listen).
    Done,
    /// The caller did not make room within [`EVENT_WAIT`].
    Overrun,
}

impl<P: Protocol> InFlight<P> {
    /// Hands an event to the caller, waiting (a bounded time) for room.
    async fn deliver(&mut self, event: P::Event) -> Delivery {
        let Some(events) = &self.events else {
            return Delivery::Done;
        };
        if self.overrun {
            return Delivery::Overrun;
        }
        let sent = match events.try_send(event) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(false),
            Err(mpsc::error::TrySendError::Full(event)) => match timeout(EVENT_WAIT, events.send(event)).await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(_)) => Err(false),
                Err(_) => Err(true),
            },
        };
        match sent {
            Ok(()) => Delivery::Done,
            // The caller stopped listening: its choice, the reply still comes.
            Err(false) => {
                self.events = None;
                Delivery::Done
            }
            Err(true) => {
                self.overrun = true;
                Delivery::Overrun
            }
        }
    }
}

/// The write side of a connected worker and its requests in flight.
struct Conn<P: Protocol> {
    writer: channel::Writer<std::pin::Pin<Box<dyn AsyncWrite + Send>>>,
    /// A worker that stops reading its stdin must not block the supervisor.
    write_timeout: Duration,
    pending: HashMap<RequestId, InFlight<P>>,
    next_id: RequestId,
}

impl<P: Protocol> Conn<P> {
    async fn send(&mut self, msg: &Down<P::Request>) -> Result<(), String> {
        self.send_with(|max, out| P::encode_down(msg, max, out)).await
    }

    async fn send_with(
        &mut self,
        encode: impl FnOnce(u32, &mut Vec<u8>) -> Result<(), FrameError>,
    ) -> Result<(), String> {
        match timeout(self.write_timeout, self.writer.send_with(encode)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(format!("cannot write to it: {e}")),
            Err(_) => Err(format!(
                "stopped reading its input for {} s; killed",
                self.write_timeout.as_secs()
            )),
        }
    }

    /// Hands a reply to its caller; an error says why the worker must be killed.
    fn answer(
        &mut self,
        id: RequestId,
        body: Result<P::Reply, oarn_protocol::ErrorReply>,
        kind: WorkerKind,
    ) -> Result<(), String> {
        let Some(p) = self.pending.remove(&id) else {
            return Err(format!("replied to unknown request {id}; killed"));
        };
        if let Ok(reply) = &body
            && !(p.accepts)(reply)
        {
            let _ = p.reply.send(Err(CallError::Lost(kind)));
            return Err(format!(
                "answered request {id} with a reply of the wrong kind ({}); killed",
                variant(reply)
            ));
        }
        let outcome = match body {
            _ if p.overrun => Err(CallError::Overrun(kind)),
            Ok(reply) => Ok(reply),
            Err(e) => Err(CallError::Worker(kind, e)),
        };
        let _ = p.reply.send(outcome);
        Ok(())
    }
}

/// The name of a reply's variant, for the log (never its contents).
fn variant(reply: &impl std::fmt::Debug) -> String {
    let text = format!("{reply:?}");
    text.split(['(', ' ', '{']).next().unwrap_or_default().to_string()
}

/// A worker whose pipe broke has usually exited: its exit status says more than the pipe.
async fn exit_or(child: &mut dyn crate::process::Child, reason: String, wait: Duration) -> Outcome {
    match timeout(wait, child.wait()).await {
        Ok(Ok(status)) => Outcome::Failed(describe(status)),
        _ => Outcome::Failed(reason),
    }
}

/// Whether an exit, as [`describe`] tells it, is the sandbox ending the worker for a forbidden
/// system call: seccomp's SIGSYS, or the worker's own status for it after catching SIGSYS.
pub fn violation(described: &str) -> bool {
    let status = format!(
        "exited with status {} ",
        oarn_protocol::exit::WorkerExit::Seccomp.code()
    );
    described.starts_with(&status) || described == "killed by signal SIGSYS"
}

/// "exited with status 3", "exited with status 159 (its sandbox refused a syscall; …)" or
/// "killed by signal SIGSEGV".
pub fn describe(status: ExitStatus) -> String {
    use oarn_protocol::exit::WorkerExit;
    match status.code().map(|c| (c, WorkerExit::from_code(c))) {
        // A worker's own statuses say what they mean; 1 and others are told by its stderr.
        Some((c, Some(e))) if e.code() >= 64 => return format!("exited with status {c} ({})", e.meaning()),
        Some((c, _)) => return format!("exited with status {c}"),
        None => {}
    }
    match status.signal() {
        Some(sig) => match nix::sys::signal::Signal::try_from(sig) {
            Ok(s) => format!("killed by signal {}", s.as_str()),
            Err(_) => format!("killed by signal {sig}"),
        },
        None => format!("ended ({status})"),
    }
}

#[cfg(test)]
mod tests {
    use super::{describe, violation};
    use std::os::unix::process::ExitStatusExt;
    use std::process::ExitStatus;

    #[test]
    fn a_seccomp_kill_or_status_counts_as_a_sandbox_violation_and_a_crash_does_not() {
        let code = |c: i32| ExitStatus::from_raw(c << 8);
        let signal = |s: i32| ExitStatus::from_raw(s);
        let seccomp = i32::from(oarn_protocol::exit::WorkerExit::Seccomp.code());
        assert!(violation(&describe(code(seccomp))), "{}", describe(code(seccomp)));
        assert!(violation(&describe(signal(libc::SIGSYS))));
        assert!(!violation(&describe(signal(libc::SIGSEGV))));
        assert!(!violation(&describe(code(1))));
        assert!(!violation(&describe(code(15))), "status 15 is not 159");
    }
}
