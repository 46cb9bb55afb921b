//! The daemon's pid file, held under an exclusive `flock` for as long as the daemon runs: a
//! second daemon is refused, and a file left by a crashed daemon (no lock holder) is stale and
//! taken over.

use std::io::{Read, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

/// The held lock; released when dropped.
#[derive(Debug)]
pub struct PidFile {
    _lock: Flock<std::fs::File>,
    path: PathBuf,
}

/// Why the pid file could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum PidFileError {
    /// Another daemon holds the lock.
    #[error("the node is already running (pid {pid}); stop it with `oarn stop` or use another --home")]
    Running { pid: u32 },
    /// Opening, locking or writing the file failed.
    #[error("cannot use the pid file {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
}

impl PidFile {
    /// Takes the lock and writes our pid.
    pub fn acquire(path: &Path) -> Result<Self, PidFileError> {
        let err = |source| PidFileError::Io {
            path: path.into(),
            source,
        };
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .map_err(err)?;
        let mut lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(l) => l,
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => {
                return Err(PidFileError::Running {
                    pid: running(path).unwrap_or(0),
                });
            }
            Err((_, e)) => return Err(err(e.into())),
        };
        lock.set_len(0).map_err(err)?;
        lock.rewind().map_err(err)?;
        writeln!(lock, "{}", std::process::id()).map_err(err)?;
        lock.sync_all().map_err(err)?;
        Ok(Self {
            _lock: lock,
            path: path.into(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The pid of the daemon holding the lock at `path`, or `None` when no daemon holds it (no
/// file, or a stale one left by a crash).
pub fn running(path: &Path) -> Option<u32> {
    let file = std::fs::File::open(path).ok()?;
    match Flock::lock(file, FlockArg::LockSharedNonblock) {
        Ok(_) => None,
        Err((mut file, _)) => {
            let mut s = String::new();
            file.read_to_string(&mut s).ok()?;
            s.trim().parse().ok()
        }
    }
}

/// Waits, at most `limit`, until no daemon holds the lock at `path`; true when none does.
/// The wait is the kernel's: a shared `flock` granted the moment the daemon's lock goes.
pub fn wait_released(path: &Path, limit: std::time::Duration) -> bool {
    let Ok(file) = std::fs::File::open(path) else {
        return true;
    };
    let (tx, rx) = std::sync::mpsc::channel();
    // A wait that times out leaves this thread blocked until the daemon exits or we do.
    std::thread::spawn(move || {
        let _ = tx.send(Flock::lock(file, FlockArg::LockShared).is_ok());
    });
    rx.recv_timeout(limit).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_is_refused_and_stale_files_are_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("oarn.pid");
        std::fs::write(&path, "999999\n").unwrap();
        assert_eq!(running(&path), None, "an unlocked file is stale");
        let held = PidFile::acquire(&path).unwrap();
        assert_eq!(running(&path), Some(std::process::id()));
        match PidFile::acquire(&path) {
            Err(PidFileError::Running { pid }) => assert_eq!(pid, std::process::id()),
            other => panic!("{other:?}"),
        }
        assert!(
            !wait_released(&path, std::time::Duration::from_millis(50)),
            "still held"
        );
        drop(held);
        assert!(!path.exists());
        assert!(wait_released(&path, std::time::Duration::from_secs(1)));
    }
}
