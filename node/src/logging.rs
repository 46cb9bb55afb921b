//! The daemon's logging: human-readable lines on stderr and JSON lines in `logs/oarn.log`
//! (what `oarn logs` reads), one level filter for both that `oarn config reload` can change;
//! and a command's own, warnings on stderr ([`terminal`]).

use std::fs::{File, OpenOptions};
use std::io::{self, IsTerminal, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Registry, fmt, reload};

/// The log file is rotated to `oarn.log.1` past this size, so the log stays bounded.
pub const MAX_LOG_BYTES: u64 = 32 << 20;

/// Changes the level of the running daemon's logging.
#[derive(Clone)]
pub struct LevelHandle(reload::Handle<EnvFilter, Registry>);

impl std::fmt::Debug for LevelHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LevelHandle")
    }
}

impl LevelHandle {
    pub fn set(&self, level: &str) {
        let _ = self.0.reload(filter(level));
    }
}

fn filter(level: &str) -> EnvFilter {
    EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info"))
}

/// Installs the daemon's logging; returns the handle that changes its level.
pub fn init(log_file: &Path, level: &str) -> io::Result<LevelHandle> {
    let writer = RotatingFile::open(log_file)?;
    let (filter, handle) = reload::Layer::new(filter(level));
    let file_layer = fmt::layer()
        .json()
        .with_current_span(false)
        .with_span_list(false)
        .with_writer(writer);
    // Colours only for a terminal: journald, `podman logs` and files get plain text.
    let stderr_layer = fmt::layer()
        .with_target(false)
        .with_ansi(io::stderr().is_terminal())
        .with_writer(io::stderr);
    tracing_subscriber::registry()
        .with(filter)
        .with(stderr_layer)
        .with(file_layer)
        .try_init()
        .map_err(io::Error::other)?;
    Ok(LevelHandle(handle))
}

/// Logging for a command that runs a worker of its own (`oarn chain …` without a node):
/// warnings and errors, the worker's among them, as plain lines on stderr. Once per process;
/// a second call does nothing.
pub fn terminal() {
    let _ = tracing_subscriber::registry()
        .with(EnvFilter::new("warn"))
        .with(
            fmt::layer()
                .with_target(false)
                .without_time()
                .with_ansi(io::stderr().is_terminal())
                .with_writer(io::stderr),
        )
        .try_init();
}

/// A log file that rotates to `<name>.1` when it outgrows [`MAX_LOG_BYTES`].
#[derive(Clone, Debug)]
pub struct RotatingFile(Arc<Mutex<Inner>>);

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    file: File,
    len: u64,
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).mode(0o600).open(path)
}

impl RotatingFile {
    pub fn open(path: &Path) -> io::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = open_append(path)?;
        let len = file.metadata()?.len();
        Ok(Self(Arc::new(Mutex::new(Inner {
            path: path.into(),
            file,
            len,
        }))))
    }
}

impl Write for RotatingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut inner = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if inner.len + buf.len() as u64 > MAX_LOG_BYTES {
            let mut old = inner.path.clone().into_os_string();
            old.push(".1");
            std::fs::rename(&inner.path, &old)?;
            inner.file = open_append(&inner.path)?;
            inner.len = 0;
        }
        inner.file.write_all(buf)?;
        inner.len += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> fmt::MakeWriter<'a> for RotatingFile {
    type Writer = RotatingFile;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}
