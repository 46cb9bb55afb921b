//! One transaction at a time per node home: commands that sign (send, claim, submit,
//! register) hold an exclusive `flock` while the chain worker picks a nonce and sends, so two
//! commands run at once never take the same nonce. A second command waits for the first.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use nix::fcntl::{Flock, FlockArg};

/// Held while a signing command runs; released when dropped.
#[derive(Debug)]
pub struct TxLock {
    _lock: Flock<File>,
}

impl TxLock {
    /// Waits for and takes the lock of the node home at `root`.
    pub fn acquire(root: &Path) -> std::io::Result<Self> {
        let dir = root.join("chain");
        std::fs::create_dir_all(&dir)?;
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(dir.join("tx.lock"))?;
        let lock = Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, e)| std::io::Error::from(e))?;
        Ok(Self { _lock: lock })
    }
}
