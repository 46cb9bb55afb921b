//! Pins and garbage collection of the block store. A pinned root keeps its whole DAG; every
//! other block is cache, removed oldest first when the store grows past its limit or when
//! the operator collects garbage, sparing blocks stored in the last ten minutes (a fetch in
//! progress owns them).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use cid::Cid;

use crate::blocks::{BlockError, Store};
use crate::unixfs;

/// Blocks younger than this are never collected.
pub const SPARE_RECENT: Duration = Duration::from_secs(600);
/// Most pins kept.
pub const MAX_PINS: usize = 100_000;

/// Why pinning failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The DAG is not all here.
    #[error("{0} is not complete in this node's store; fetch it first (`oarn ipfs get`)")]
    Incomplete(String),
    /// Too many pins.
    #[error("{MAX_PINS} roots are pinned already; unpin some first")]
    TooMany,
    /// A block or pin could not be read or written.
    #[error(transparent)]
    Block(#[from] BlockError),
    /// A node of the DAG is unreadable.
    #[error(transparent)]
    Dag(#[from] unixfs::Error),
    /// The pin directory failed.
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
}

/// The pinned roots, one empty file each under `{ipfs}/pins`.
#[derive(Debug, Clone)]
pub struct Pins {
    dir: PathBuf,
}

/// What a collection did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Collected {
    /// Blocks removed and their bytes.
    pub blocks: u64,
    pub bytes: u64,
    /// Bytes the store holds afterwards.
    pub kept: u64,
}

/// Every CID of the DAG under `root` that is in the store, and whether any is missing.
fn dag(store: &Store, root: &Cid) -> Result<(Vec<Cid>, bool), Error> {
    let mut out = Vec::new();
    let mut missing = false;
    let mut stack = vec![(*root, 0usize)];
    while let Some((cid, depth)) = stack.pop() {
        if depth > unixfs::MAX_DEPTH {
            return Err(unixfs::Error::TooLarge(root.to_string()).into());
        }
        if !store.has(&cid) {
            missing = true;
            continue;
        }
        out.push(cid);
        if cid.codec() != crate::blocks::RAW {
            stack.extend(unixfs::stored(store, &cid)?.links.into_iter().map(|c| (c, depth + 1)));
        }
    }
    Ok((out, missing))
}

impl Pins {
    /// Opens (and creates) the pins of the store under `ipfs`.
    pub fn open(ipfs: &Path) -> Result<Self, Error> {
        let dir = ipfs.join("pins");
        std::fs::create_dir_all(&dir).map_err(|source| Error::Io {
            path: dir.clone(),
            source,
        })?;
        Ok(Self { dir })
    }

    /// Pins `root`, whose whole DAG must be in `store`.
    pub fn pin(&self, store: &Store, root: &Cid) -> Result<(), Error> {
        if dag(store, root)?.1 {
            return Err(Error::Incomplete(root.to_string()));
        }
        let path = self.dir.join(root.to_string());
        if !path.exists() && self.list()?.len() >= MAX_PINS {
            return Err(Error::TooMany);
        }
        std::fs::write(&path, b"").map_err(|source| Error::Io { path, source })
    }

    /// Unpins `root`; false when it was not pinned.
    pub fn unpin(&self, root: &Cid) -> Result<bool, Error> {
        let path = self.dir.join(root.to_string());
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(source) => Err(Error::Io { path, source }),
        }
    }

    /// The pinned roots.
    pub fn list(&self) -> Result<Vec<Cid>, Error> {
        let io = |source| Error::Io {
            path: self.dir.clone(),
            source,
        };
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.dir).map_err(io)? {
            if let Ok(cid) = Cid::try_from(&*entry.map_err(io)?.file_name().to_string_lossy()) {
                out.push(cid);
            }
        }
        out.sort_by_key(Cid::to_string);
        Ok(out)
    }

    /// Removes unpinned blocks, oldest first, until the store holds at most `limit` bytes
    /// (0: every unpinned block), sparing those stored since `now - SPARE_RECENT`.
    pub fn collect(&self, store: &Store, limit: u64, now: SystemTime) -> Result<Collected, Error> {
        let mut live = HashSet::new();
        for root in self.list()? {
            live.extend(dag(store, &root)?.0);
        }
        let mut entries = store.entries()?;
        let mut kept: u64 = entries.iter().map(|e| e.1).sum();
        entries.sort_by_key(|e| e.2);
        let mut done = Collected::default();
        for (cid, size, stored) in entries {
            if kept <= limit {
                break;
            }
            let recent = now.duration_since(stored).unwrap_or_default() < SPARE_RECENT;
            if live.contains(&cid) || recent {
                continue;
            }
            store.remove(&cid)?;
            kept -= size;
            done.blocks += 1;
            done.bytes += size;
        }
        done.kept = kept;
        Ok(done)
    }
}

impl Pins {
    /// Keeps the store under `limit` bytes (0: no limit) after an add or a fetch, logging what
    /// went; a failure is logged, since the add or fetch itself succeeded.
    pub fn trim(&self, store: &Store, limit: u64) {
        if limit == 0 {
            return;
        }
        match self.collect(store, limit, SystemTime::now()) {
            Ok(done) if done.blocks > 0 => {
                tracing::info!(
                    blocks = done.blocks,
                    bytes = done.bytes,
                    kept = done.kept,
                    "block store trimmed to its limit"
                );
            }
            Ok(_) => {}
            Err(e) => tracing::warn!("cannot trim the block store: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinned_dags_survive_collection_and_the_rest_goes_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let pins = Pins::open(dir.path()).unwrap();
        let file = dir.path().join("f");
        let data: Vec<u8> = (0..5 * unixfs::CHUNK).map(|i| (i * 31 + i / 977) as u8).collect();
        std::fs::write(&file, &data).unwrap();
        let big = unixfs::add(&store, &file).unwrap();
        let loose = store.put_raw(b"cache").unwrap();
        let missing = crate::blocks::cid_of_hash([9; 32]);
        assert!(matches!(pins.pin(&store, &missing), Err(Error::Incomplete(_))));
        pins.pin(&store, &big.cid).unwrap();
        assert_eq!(pins.list().unwrap(), vec![big.cid]);

        // Everything is recent: nothing goes.
        let now = SystemTime::now();
        assert_eq!(pins.collect(&store, 0, now).unwrap().blocks, 0);
        // Later, only the unpinned block goes; the pinned DAG reads back whole.
        let later = now + SPARE_RECENT * 2;
        let done = pins.collect(&store, 0, later).unwrap();
        assert_eq!((done.blocks, done.bytes), (1, 5));
        assert!(!store.has(&loose));
        assert!(unixfs::assemble(&store, &big.cid, &mut Vec::new()).is_ok());
        // A limit the store is under removes nothing; unpinned, the DAG goes too.
        assert!(pins.unpin(&big.cid).unwrap());
        assert_eq!(pins.collect(&store, u64::MAX, later).unwrap().blocks, 0);
        let done = pins.collect(&store, 0, later).unwrap();
        assert_eq!(done.blocks, big.blocks);
        assert_eq!(done.kept, 0);
        assert!(!pins.unpin(&big.cid).unwrap());
    }
}
