//! What the supervisor knows about each worker, as shown by `oarn status` and the local API.

use std::collections::VecDeque;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use oarn_protocol::WorkerKind;
use oarn_protocol::sandbox::{LayerState, SandboxReport};
use serde::Serialize;

/// Last stderr lines kept per worker, for the degraded reason.
pub const STDERR_LINES: usize = 20;

/// Where a worker is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    /// Spawned; handshake not finished.
    Starting,
    /// Handshake done, answering pings.
    Running,
    /// Failed; waiting out the backoff before the next start.
    Restarting,
    /// Shut down on request.
    Stopped,
}

/// One sandbox layer as reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LayerView {
    pub layer: &'static str,
    /// `active`, `unavailable` or `not-applied`.
    pub state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Everything known about one worker.
#[derive(Debug, Clone, Serialize)]
pub struct WorkerStatus {
    #[serde(serialize_with = "kind_name")]
    pub kind: WorkerKind,
    pub binary: String,
    pub state: State,
    pub pid: Option<u32>,
    /// Unix time the current process completed its handshake.
    pub started_at: Option<u64>,
    pub uptime_secs: Option<u64>,
    pub restarts: u32,
    /// Processes ended by their sandbox for a forbidden system call (seccomp).
    pub sandbox_violations: u32,
    /// Why the last process ended, e.g. "exited with status 3" or "killed by signal SIGSEGV".
    pub last_exit: Option<String>,
    /// Set while the worker is crash-looping: the reason and its last stderr lines.
    pub degraded: Option<String>,
    pub build_id: Option<String>,
    pub capabilities: Vec<String>,
    /// Requests the worker says it is working on (asked for by `oarn status`).
    pub in_flight: Option<u32>,
    pub sandbox: Vec<LayerView>,
    pub profile_hash: Option<String>,
    /// Round trip of the last answered ping, in microseconds.
    pub ping_us: Option<u64>,
    #[serde(skip)]
    pub since: Option<Instant>,
    #[serde(skip)]
    pub stderr_tail: VecDeque<String>,
}

impl WorkerStatus {
    pub fn new(kind: WorkerKind, binary: String) -> Self {
        Self {
            kind,
            binary,
            state: State::Starting,
            pid: None,
            started_at: None,
            uptime_secs: None,
            restarts: 0,
            sandbox_violations: 0,
            last_exit: None,
            degraded: None,
            build_id: None,
            capabilities: Vec::new(),
            in_flight: None,
            sandbox: Vec::new(),
            profile_hash: None,
            ping_us: None,
            since: None,
            stderr_tail: VecDeque::with_capacity(STDERR_LINES),
        }
    }

    /// A copy with the uptime filled in for display.
    pub fn snapshot(&self) -> Self {
        let mut s = self.clone();
        s.uptime_secs = self.since.map(|t| t.elapsed().as_secs());
        s
    }

    /// Records the handshake of a new process.
    pub fn running(&mut self, pid: u32, build_id: String, report: &SandboxReport) {
        self.state = State::Running;
        self.pid = Some(pid);
        self.since = Some(Instant::now());
        self.started_at = SystemTime::now().duration_since(UNIX_EPOCH).ok().map(|d| d.as_secs());
        self.build_id = Some(build_id);
        self.profile_hash = Some(report.profile_hash.clone()).filter(|h| !h.is_empty());
        self.sandbox = report
            .layers
            .iter()
            .map(|l| {
                let (state, reason) = match &l.state {
                    LayerState::Active => ("active", None),
                    LayerState::Unavailable { reason } => ("unavailable", Some(reason.clone())),
                    LayerState::NotApplied { reason } => ("not-applied", Some(reason.clone())),
                };
                LayerView {
                    layer: l.layer.name(),
                    state,
                    reason,
                }
            })
            .collect();
    }

    /// Records that the current process is gone.
    pub fn ended(&mut self, reason: String) {
        self.pid = None;
        self.since = None;
        self.started_at = None;
        self.ping_us = None;
        if crate::supervise::violation(&reason) {
            self.sandbox_violations += 1;
        }
        self.last_exit = Some(reason);
    }

    pub fn push_stderr(&mut self, line: String) {
        if self.stderr_tail.len() == STDERR_LINES {
            self.stderr_tail.pop_front();
        }
        self.stderr_tail.push_back(line);
    }
}

fn kind_name<S: serde::Serializer>(kind: &WorkerKind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(kind.name())
}
