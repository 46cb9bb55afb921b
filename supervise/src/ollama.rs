//! Ollama on this machine: finding its binary, and running `ollama serve` as a supervised
//! subprocess of the node (restarted with backoff when it stops, stopped with the node). The
//! supervisor never talks to the server: the infer worker does, in its Ollama profile.
//!
//! `ollama serve` starts through [`crate::spawn`] like every child: it dies with the node,
//! inherits no descriptor, and gets only the environment Ollama itself reads (`HOME`, where it
//! keeps its models, `PATH`, the `OLLAMA_*` settings and the GPU selection variables), not the
//! daemon's whole environment. Its log lines are cleaned and bounded like a worker's.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use oarn_config::Ollama;
use serde::Serialize;
use tokio::process::Child;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::backoff;
use crate::spawn::Spawn;
use crate::stderr::{self, Source};

/// Environment variables `ollama serve` is given from the node's own environment: where it
/// keeps its files, and its own and the GPU runtimes' settings.
fn passed(key: &str) -> bool {
    [
        "HOME",
        "PATH",
        "LD_LIBRARY_PATH",
        "CUDA_VISIBLE_DEVICES",
        "HIP_VISIBLE_DEVICES",
        "ROCR_VISIBLE_DEVICES",
    ]
    .contains(&key)
        || key.starts_with("OLLAMA_")
}

/// How long `ollama serve` gets to stop after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// The `ollama` binary `binary` names: a path as given, or the first match on PATH.
pub fn find(binary: &Path) -> Option<PathBuf> {
    let executable = |p: &Path| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if binary.components().count() > 1 {
        return executable(binary).then(|| binary.to_path_buf());
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(binary))
        .find(|p| executable(p))
}

/// What `oarn status` shows of a supervised `ollama serve`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Status {
    pub binary: PathBuf,
    pub address: String,
    pub pid: Option<u32>,
    pub restarts: u32,
    /// Why it last stopped, if it did.
    pub last_exit: Option<String>,
}

/// A supervised `ollama serve`.
#[derive(Debug)]
pub struct Served {
    status: Arc<Mutex<Status>>,
    stop: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
}

/// Why `ollama serve` cannot be run.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The binary is not there.
    #[error(
        "ollama.serve is set but {0:?} is not an executable file or on PATH; install Ollama (https://ollama.com) or set ollama.binary"
    )]
    NotFound(PathBuf),
}

impl Served {
    /// Starts `ollama serve` on `config.address` and keeps it running.
    pub fn start(config: &Ollama) -> Result<Self, ServeError> {
        let binary = find(&config.binary).ok_or_else(|| ServeError::NotFound(config.binary.clone()))?;
        let status = Arc::new(Mutex::new(Status {
            binary: binary.clone(),
            address: config.address.clone(),
            ..Status::default()
        }));
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(supervise(binary, config.address.clone(), status.clone(), stopped));
        Ok(Self {
            status,
            stop,
            task: Mutex::new(Some(task)),
        })
    }

    /// A snapshot of its status.
    pub fn status(&self) -> Status {
        self.status.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Stops it (SIGTERM, then SIGKILL after a grace period) and waits.
    pub async fn stop(&self) {
        let _ = self.stop.send(true);
        let task = self.task.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

fn spawn(binary: &Path, address: &str) -> std::io::Result<Child> {
    let mut spawn = Spawn::new(binary)
        .args(["serve"])
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    for (key, value) in std::env::vars_os() {
        if key.to_str().is_some_and(|k| passed(k) && k != "OLLAMA_HOST") {
            spawn = spawn.env(key, value);
        }
    }
    let mut child = spawn.env("OLLAMA_HOST", OsString::from(address)).start()?;
    if let Some(err) = child.stderr.take() {
        let source = Source {
            name: "ollama",
            raw_level: tracing::Level::INFO,
        };
        tokio::spawn(stderr::forward(source, err, drop));
    }
    Ok(child)
}

async fn supervise(binary: PathBuf, address: String, status: Arc<Mutex<Status>>, mut stopped: watch::Receiver<bool>) {
    let set = |f: &dyn Fn(&mut Status)| f(&mut status.lock().unwrap_or_else(|e| e.into_inner()));
    let mut failures = 0u32;
    loop {
        let started = Instant::now();
        let mut child = match spawn(&binary, &address) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!("cannot start {} serve: {e}", binary.display());
                set(&|s| s.last_exit = Some(format!("cannot start: {e}")));
                failures += 1;
                tokio::select! {
                    _ = tokio::time::sleep(backoff::delay(failures)) => continue,
                    _ = stopped.changed() => return,
                }
            }
        };
        let pid = child.id();
        tracing::info!(pid, "ollama serve started on {address}");
        set(&|s| s.pid = pid);
        tokio::select! {
            exit = child.wait() => {
                let why = match exit {
                    Ok(s) => s.to_string(),
                    Err(e) => e.to_string(),
                };
                tracing::warn!("ollama serve stopped ({why}); restarting");
                set(&|s| {
                    s.pid = None;
                    s.restarts += 1;
                    s.last_exit = Some(why.clone());
                });
                failures = if started.elapsed() >= backoff::STABLE_AFTER { 1 } else { failures + 1 };
                tokio::select! {
                    _ = tokio::time::sleep(backoff::delay(failures)) => {}
                    _ = stopped.changed() => return,
                }
            }
            _ = stopped.changed() => {
                terminate(&mut child).await;
                set(&|s| s.pid = None);
                return;
            }
        }
    }
}

/// SIGTERM, then SIGKILL if it has not stopped within [`STOP_GRACE`].
async fn terminate(child: &mut Child) {
    if let Some(pid) = child.id() {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        if tokio::time::timeout(STOP_GRACE, child.wait()).await.is_ok() {
            tracing::info!("ollama serve stopped");
            return;
        }
    }
    let _ = child.kill().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_binaries_by_path_or_on_path() {
        assert_eq!(find(Path::new("/bin/sh")), Some(PathBuf::from("/bin/sh")));
        assert!(find(Path::new("sh")).is_some());
        assert_eq!(find(Path::new("/nonexistent/ollama")), None);
        assert_eq!(find(Path::new("surely-no-such-ollama-binary")), None);
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("ollama");
        std::fs::write(&plain, "#!/bin/sh\n").unwrap();
        assert_eq!(find(&plain), None, "not executable");
        assert_eq!(find(dir.path()), None, "a directory");
    }
}
