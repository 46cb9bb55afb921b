//! One task per worker: start it, check its handshake and sandbox, ping it, route requests to
//! it, and restart it with backoff when it exits, hangs or misbehaves. The supervisor never
//! trusts what a worker sends: a malformed frame, an unknown request id or a silent pipe ends
//! that worker, never the supervisor.

use std::collections::HashMap;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use oarn_protocol::channel;
use oarn_protocol::envelope::{Down, ErrorReply, Protocol, RequestId, Up};
use oarn_protocol::frame;
use oarn_protocol::frame::{DEFAULT_MAX_FRAME, FrameError};
use oarn_protocol::handshake::{HandshakeError, Hello, Role};
use oarn_protocol::sandbox::{LayerState, SandboxReport};
use oarn_protocol::{WorkerKind, chain, infer, net};
use oarn_sandbox::Launch;
use tokio::process::{Child, ChildStdin};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinSet;
use tokio::time::{sleep, timeout};

use super::status::{State, WorkerStatus};
use super::{backoff, proc_status, spawn, stderr};
use oarn_config::home::Home;
use oarn_config::{Config, SandboxMode, resolve_path};

/// How long a new worker has to send its hello.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Requests in flight per worker; further calls wait.
const MAX_IN_FLIGHT: usize = 64;
/// Calls queued per worker before callers are told it is busy.
const CALL_QUEUE: usize = 64;

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

/// Why a call to a worker got no answer from it.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The worker is not running (starting, restarting or stopped).
    #[error("the {0} worker is not running")]
    NotRunning(WorkerKind),
    /// The worker's queue is full.
    #[error("the {0} worker is busy; try again")]
    Busy(WorkerKind),
    /// The worker ended before it answered.
    #[error("the {0} worker stopped before answering")]
    Lost(WorkerKind),
    /// The worker answered with an error.
    #[error("the {0} worker answered: {1}")]
    Worker(WorkerKind, ErrorReply),
}

struct Call<P: Protocol> {
    body: P::Request,
    reply: oneshot::Sender<Result<P::Reply, CallError>>,
    events: Option<mpsc::Sender<P::Event>>,
    cancel: Option<oneshot::Receiver<()>>,
}

/// How often requests whose caller gave up or asked to cancel are looked for.
const CANCEL_SWEEP: Duration = Duration::from_millis(100);

/// Sends requests to one worker, whichever process currently runs it.
pub struct Handle<P: Protocol> {
    calls: mpsc::Sender<Call<P>>,
    status: Arc<Mutex<WorkerStatus>>,
}

impl<P: Protocol> std::fmt::Debug for Handle<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Handle({})", P::KIND)
    }
}

impl<P: Protocol> Clone for Handle<P> {
    fn clone(&self) -> Self {
        Self {
            calls: self.calls.clone(),
            status: self.status.clone(),
        }
    }
}

impl<P: Protocol> Handle<P> {
    /// Sends `body` and waits for the reply; `events` receives what the worker streams.
    /// Dropping the returned future before it finishes cancels the request in the worker.
    pub async fn call(&self, body: P::Request, events: Option<mpsc::Sender<P::Event>>) -> Result<P::Reply, CallError> {
        self.send(body, events, None).await
    }

    /// [`Handle::call`], cancelled in the worker when `cancel` fires (or its sender is
    /// dropped); the worker's answer to the cancelled request is still returned.
    pub async fn call_cancellable(
        &self,
        body: P::Request,
        events: Option<mpsc::Sender<P::Event>>,
        cancel: oneshot::Receiver<()>,
    ) -> Result<P::Reply, CallError> {
        self.send(body, events, Some(cancel)).await
    }

    async fn send(
        &self,
        body: P::Request,
        events: Option<mpsc::Sender<P::Event>>,
        cancel: Option<oneshot::Receiver<()>>,
    ) -> Result<P::Reply, CallError> {
        if self.status.lock().unwrap_or_else(|e| e.into_inner()).state != State::Running {
            return Err(CallError::NotRunning(P::KIND));
        }
        let (reply, rx) = oneshot::channel();
        self.calls
            .try_send(Call {
                body,
                reply,
                events,
                cancel,
            })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => CallError::Busy(P::KIND),
                mpsc::error::TrySendError::Closed(_) => CallError::NotRunning(P::KIND),
            })?;
        rx.await.unwrap_or(Err(CallError::Lost(P::KIND)))
    }

    /// A snapshot of the worker's status.
    pub fn status(&self) -> WorkerStatus {
        self.status.lock().unwrap_or_else(|e| e.into_inner()).snapshot()
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
        command: Vec::new(),
    }
}

/// Handles to the node's running workers; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Workers {
    pub infer: Option<Handle<infer::Protocol>>,
    pub net: Option<Handle<net::Protocol>>,
    pub chain: Option<Handle<chain::Protocol>>,
}

impl Workers {
    /// Snapshots of every worker's status, in infer, net, chain order.
    pub fn statuses(&self) -> Vec<WorkerStatus> {
        let mut out = Vec::new();
        out.extend(self.infer.as_ref().map(Handle::status));
        out.extend(self.net.as_ref().map(Handle::status));
        out.extend(self.chain.as_ref().map(Handle::status));
        out
    }

    /// Statuses with each running worker's own `Info` (capabilities, load) asked for now.
    pub async fn statuses_with_info(&self, wait: Duration) -> Vec<WorkerStatus> {
        let (a, b, c) = tokio::join!(
            with_info(self.infer.as_ref(), wait),
            with_info(self.net.as_ref(), wait),
            with_info(self.chain.as_ref(), wait)
        );
        [a, b, c].into_iter().flatten().collect()
    }
}

async fn with_info<P: Protocol>(handle: Option<&Handle<P>>, wait: Duration) -> Option<WorkerStatus> {
    let handle = handle?;
    let reply = timeout(wait, handle.call(P::info_request(), None)).await;
    let mut status = handle.status();
    if let Ok(Ok(reply)) = reply
        && let Some(info) = P::info_reply(&reply)
    {
        status.capabilities = info.capabilities.clone();
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
    /// Starts one supervising task per kind in `kinds`.
    pub fn start(config: &Config, home: &Home, kinds: &[WorkerKind]) -> Self {
        let (settings, settings_rx) = watch::channel(Settings::from_config(config));
        let (shutdown, shutdown_rx) = watch::channel(false);
        let launch = launch(config, home);
        let mut tasks = JoinSet::new();
        let mut workers = Workers::default();
        for &kind in kinds {
            let binary = spawn::binary(kind, config, home.root());
            let ctx = Ctx {
                kind,
                status: Arc::new(Mutex::new(WorkerStatus::new(kind, binary.display().to_string()))),
                binary,
                launch: launch.clone(),
                settings: settings_rx.clone(),
                shutdown: shutdown_rx.clone(),
            };
            match kind {
                WorkerKind::Infer => workers.infer = Some(ctx.start(&mut tasks)),
                WorkerKind::Net => workers.net = Some(ctx.start(&mut tasks)),
                WorkerKind::Chain => workers.chain = Some(ctx.start(&mut tasks)),
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

    /// Waits until every worker has either completed its handshake or failed at least once.
    pub async fn settled(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if self
                .workers
                .statuses()
                .iter()
                .all(|s| s.state == State::Running || s.last_exit.is_some())
            {
                return;
            }
            sleep(Duration::from_millis(20)).await;
        }
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
    binary: PathBuf,
    launch: Launch,
    status: Arc<Mutex<WorkerStatus>>,
    settings: watch::Receiver<Settings>,
    shutdown: watch::Receiver<bool>,
}

/// How one worker process ended.
enum Outcome {
    Shutdown,
    Failed(String),
}

impl Ctx {
    fn start<P: Protocol>(self, tasks: &mut JoinSet<()>) -> Handle<P> {
        let (calls, rx) = mpsc::channel(CALL_QUEUE);
        let handle = Handle {
            calls,
            status: self.status.clone(),
        };
        tasks.spawn(self.supervise::<P>(rx));
        handle
    }

    fn set(&self, f: impl FnOnce(&mut WorkerStatus)) {
        f(&mut self.status.lock().unwrap_or_else(|e| e.into_inner()));
    }

    fn settings(&self) -> Settings {
        self.settings.borrow().clone()
    }

    async fn supervise<P: Protocol>(mut self, mut calls: mpsc::Receiver<Call<P>>) {
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

    async fn run_once<P: Protocol>(&mut self, calls: &mut mpsc::Receiver<Call<P>>) -> Outcome {
        let worker = self.kind.name();
        let mut child = match spawn::spawn(&self.binary, &self.launch) {
            Ok(c) => c,
            Err(e) => {
                return Outcome::Failed(format!("cannot start {}: {e}", self.binary.display()));
            }
        };
        let pid = child.id().unwrap_or(0);
        self.set(|s| s.pid = Some(pid));
        let (Some(stdin), Some(stdout), Some(stderr)) = (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Outcome::Failed("spawned without pipes".into());
        };
        if !(oarn_protocol::pipe::grow(&stdin) && oarn_protocol::pipe::grow(&stdout)) {
            tracing::debug!(worker, "pipe buffers keep their default size");
        }
        let mut stderr_task = tokio::spawn(stderr::forward(self.kind, stderr, self.status.clone()));
        let mut conn = Conn::<P> {
            writer: channel::Writer::new(stdin, DEFAULT_MAX_FRAME),
            write_timeout: self.settings().ping_timeout,
            pending: HashMap::new(),
            next_id: 1,
        };
        let mut reader = channel::Reader::new(stdout, DEFAULT_MAX_FRAME);

        let outcome = match self.handshake::<P>(&mut reader, &mut conn, pid).await {
            // A worker that already exited explains itself better by its exit status.
            Err(reason) => exit_or(&mut child, reason, Duration::from_millis(500)).await,
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
                let outcome = self.serve(&mut child, &mut conn, up_rx, calls).await;
                reader_task.abort();
                outcome
            }
        };
        if let Outcome::Failed(_) = outcome {
            let _ = child.start_kill();
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
        reader: &mut channel::Reader<tokio::process::ChildStdout>,
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

        let seen = proc_status::observe(pid).map_err(|e| format!("cannot read /proc/{pid}/status: {e}"))?;
        if !seen.unverified.is_empty() {
            tracing::debug!(
                worker = self.kind.name(),
                "cannot compare the {} namespaces of a non-dumpable worker without CAP_SYS_PTRACE",
                seen.unverified.join(", ")
            );
        }
        let lies = proc_status::contradictions(&hello.sandbox, &seen);
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
        child: &mut Child,
        conn: &mut Conn<P>,
        mut up: Inbound<P>,
        calls: &mut mpsc::Receiver<Call<P>>,
    ) -> Outcome {
        let mut settings = self.settings();
        let mut ping = tokio::time::interval(settings.ping_interval);
        let mut sweep = tokio::time::interval(CANCEL_SWEEP);
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut outstanding: Option<(u64, Instant)> = None;
        let mut calls_open = true;
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
                    Some(Ok(Up::Reply { id, body })) => match conn.pending.remove(&id) {
                        Some(p) => {
                            let _ = p.reply.send(body.map_err(|e| CallError::Worker(self.kind, e)));
                        }
                        None => return Outcome::Failed(format!("replied to unknown request {id}; killed")),
                    },
                    Some(Ok(Up::Event { id, body })) => match conn.pending.get(&id) {
                        Some(p) => {
                            if let Some(events) = &p.events {
                                let _ = events.try_send(body);
                            }
                        }
                        None => return Outcome::Failed(format!("sent an event for unknown request {id}; killed")),
                    },
                },
                status = child.wait() => {
                    return Outcome::Failed(match status {
                        Ok(s) => describe(s),
                        Err(e) => format!("could not be waited for: {e}"),
                    });
                }
                _ = sweep.tick(), if !conn.pending.is_empty() => {
                    let ids: Vec<u64> = conn.pending.iter_mut().filter_map(|(id, p)| p.wants_cancel().then_some(*id)).collect();
                    for id in ids {
                        if let Some(p) = conn.pending.get_mut(&id) {
                            p.cancelled = true;
                        }
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
                    let stable = self.status.lock().unwrap_or_else(|e| e.into_inner()).since
                        .is_some_and(|t| t.elapsed() >= backoff::STABLE_AFTER);
                    if stable {
                        self.set(|s| s.degraded = None);
                    }
                }
                call = calls.recv(), if calls_open && conn.pending.len() < MAX_IN_FLIGHT => match call {
                    Some(call) => {
                        let id = conn.next_id;
                        conn.next_id += 1;
                        let Call { body, reply, events, cancel } = call;
                        if let Err(e) = conn.send(&Down::Request { id, body }).await {
                            let _ = reply.send(Err(CallError::Lost(self.kind)));
                            return exit_or(child, e, Duration::from_secs(2)).await;
                        }
                        conn.pending.insert(id, Pending { reply, events, cancel, cancelled: false });
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
                            let _ = child.start_kill();
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

struct Pending<P: Protocol> {
    reply: oneshot::Sender<Result<P::Reply, CallError>>,
    events: Option<mpsc::Sender<P::Event>>,
    cancel: Option<oneshot::Receiver<()>>,
    /// A cancel was sent for it.
    cancelled: bool,
}

impl<P: Protocol> Pending<P> {
    /// True once the caller gave up (dropped its future) or asked to cancel.
    fn wants_cancel(&mut self) -> bool {
        let asked = self
            .cancel
            .as_mut()
            .is_some_and(|c| !matches!(c.try_recv(), Err(oneshot::error::TryRecvError::Empty)));
        !self.cancelled && (asked || self.reply.is_closed())
    }
}

/// The write side of a connected worker and its requests in flight.
struct Conn<P: Protocol> {
    writer: channel::Writer<ChildStdin>,
    /// A worker that stops reading its stdin must not block the supervisor.
    write_timeout: Duration,
    pending: HashMap<RequestId, Pending<P>>,
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
}

/// A worker whose pipe broke has usually exited: its exit status says more than the pipe.
async fn exit_or(child: &mut Child, reason: String, wait: Duration) -> Outcome {
    match timeout(wait, child.wait()).await {
        Ok(Ok(status)) => Outcome::Failed(describe(status)),
        _ => Outcome::Failed(reason),
    }
}

/// "exited with status 3" or "killed by signal SIGSEGV".
pub fn describe(status: ExitStatus) -> String {
    if status.code() == Some(oarn_sandbox::seccomp::EXIT_SECCOMP) {
        return format!(
            "exited with status {} (its sandbox refused a syscall; `oarn logs` names it)",
            oarn_sandbox::seccomp::EXIT_SECCOMP
        );
    }
    if let Some(code) = status.code() {
        return format!("exited with status {code}");
    }
    match status.signal() {
        Some(sig) => match nix::sys::signal::Signal::try_from(sig) {
            Ok(s) => format!("killed by signal {}", s.as_str()),
            Err(_) => format!("killed by signal {sig}"),
        },
        None => format!("ended ({status})"),
    }
}
