//! A worker process as supervision sees it: three pipes, a pid, and a way to wait for it and
//! kill it. [`Binary`] starts the real worker binary through [`crate::spawn`]; tests start
//! an in-memory worker behind the same [`Launcher`], so supervision itself (restarts, bad
//! frames, hangs, cancellation) is tested without processes.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::process::ExitStatus;

use oarn_sandbox::Launch;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::proc_status::{self, Observed};
use crate::spawn::Spawn;

/// A boxed future, for the object-safe traits below.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A running worker's end that supervision waits on and kills.
pub trait Child: Send {
    /// Waits for the process to end.
    fn wait(&mut self) -> BoxFuture<'_, std::io::Result<ExitStatus>>;
    /// Asks the kernel to kill it (SIGKILL); does not wait.
    fn start_kill(&mut self);
}

/// A started worker.
pub struct Process {
    pub pid: u32,
    pub stdin: Pin<Box<dyn AsyncWrite + Send>>,
    pub stdout: Pin<Box<dyn AsyncRead + Send>>,
    pub stderr: Pin<Box<dyn AsyncRead + Send>>,
    pub child: Box<dyn Child>,
}

impl std::fmt::Debug for Process {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Process({})", self.pid)
    }
}

/// How supervision starts a worker, each time it starts it.
pub trait Launcher: Send + Sync + 'static {
    /// What `oarn status` shows as the worker's binary.
    fn describe(&self) -> String;
    /// Starts a new process of the worker.
    fn launch(&self) -> std::io::Result<Process>;
    /// What the kernel says of the process's sandbox, to hold its own report against.
    fn observe(&self, pid: u32) -> std::io::Result<Observed>;
}

/// The real worker binary, started with its command line.
#[derive(Debug, Clone)]
pub struct Binary {
    pub program: PathBuf,
    pub launch: Launch,
}

impl Child for tokio::process::Child {
    fn wait(&mut self) -> BoxFuture<'_, std::io::Result<ExitStatus>> {
        Box::pin(tokio::process::Child::wait(self))
    }

    fn start_kill(&mut self) {
        let _ = tokio::process::Child::start_kill(self);
    }
}

impl Launcher for Binary {
    fn describe(&self) -> String {
        self.program.display().to_string()
    }

    fn launch(&self) -> std::io::Result<Process> {
        let mut child = Spawn::worker(&self.program, &self.launch).start()?;
        let pid = child.id().unwrap_or(0);
        let missing = || std::io::Error::other("spawned without pipes");
        let stdin = child.stdin.take().ok_or_else(missing)?;
        let stdout = child.stdout.take().ok_or_else(missing)?;
        let stderr = child.stderr.take().ok_or_else(missing)?;
        if !(oarn_protocol::pipe::grow(&stdin) && oarn_protocol::pipe::grow(&stdout)) {
            tracing::debug!(pid, "pipe buffers keep their default size");
        }
        Ok(Process {
            pid,
            stdin: Box::pin(stdin),
            stdout: Box::pin(stdout),
            stderr: Box::pin(stderr),
            child: Box::new(child),
        })
    }

    fn observe(&self, pid: u32) -> std::io::Result<Observed> {
        proc_status::observe(pid)
    }
}
