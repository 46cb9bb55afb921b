//! Content addressing and the block store. The network names inputs and results by the
//! 32-byte sha2-256 digest of a CIDv1 **raw** (codec 0x55) CID, text form `bafkrei…`; this
//! module converts between the two, and keeps blocks on disk under `{ipfs}/blocks`, each
//! verified against its CID before it is stored, written atomically, and bounded in size.

use std::path::{Path, PathBuf};

use cid::Cid;
use sha2::{Digest, Sha256};

/// Multicodec of raw bytes.
pub const RAW: u64 = 0x55;
/// Multicodec of dag-pb (UnixFS) nodes.
pub const DAG_PB: u64 = 0x70;
/// Multihash code of sha2-256.
pub const SHA2_256: u64 = 0x12;
/// Largest block stored or served (Bitswap peers cap blocks at 2 MiB).
pub const MAX_BLOCK: usize = 2 << 20;

/// Why a block or CID was refused.
#[derive(Debug, thiserror::Error)]
pub enum BlockError {
    /// Not a CID nor a 0x-prefixed 32-byte hash.
    #[error("{0:?} is not a CID (bafkrei…) or a 0x-prefixed 32-byte hash")]
    BadCid(String),
    /// A hash function other than sha2-256.
    #[error("{0} uses a hash other than sha2-256 with 32 bytes, which this node does not verify")]
    UnsupportedHash(String),
    /// The block's bytes do not hash to its CID.
    #[error("the block does not match its CID {0}")]
    Mismatch(String),
    /// Over [`MAX_BLOCK`].
    #[error("{0} bytes is larger than a block may be ({MAX_BLOCK}); split it first")]
    TooLarge(usize),
    /// The store could not be read or written.
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
}

/// The raw CIDv1 of a network `bytes32` hash.
pub fn cid_of_hash(hash: [u8; 32]) -> Cid {
    let mh = cid::multihash::Multihash::<64>::wrap(SHA2_256, &hash).expect("32 bytes fit");
    Cid::new_v1(RAW, mh)
}

/// The `bytes32` of a CID: its sha2-256 digest; any other digest is refused.
pub fn hash_of_cid(cid: &Cid) -> Result<[u8; 32], BlockError> {
    let mh = cid.hash();
    if mh.code() != SHA2_256 {
        return Err(BlockError::UnsupportedHash(cid.to_string()));
    }
    mh.digest()
        .try_into()
        .map_err(|_| BlockError::UnsupportedHash(cid.to_string()))
}

/// A CID in text form, or a 0x hash (read as a raw CIDv1).
pub fn parse(text: &str) -> Result<Cid, BlockError> {
    let bad = || BlockError::BadCid(text.chars().take(100).collect());
    if let Some(hex) = text.strip_prefix("0x") {
        let mut h = [0u8; 32];
        hex::decode_to_slice(hex, &mut h).map_err(|_| bad())?;
        return Ok(cid_of_hash(h));
    }
    let cid = Cid::try_from(text).map_err(|_| bad())?;
    hash_of_cid(&cid)?;
    Ok(cid)
}

/// The CID `cid` would have with `data`'s digest: the same version, codec and hash function.
pub fn verify(cid: &Cid, data: &[u8]) -> Result<(), BlockError> {
    let want = hash_of_cid(cid)?;
    if <[u8; 32]>::from(Sha256::digest(data)) == want {
        Ok(())
    } else {
        Err(BlockError::Mismatch(cid.to_string()))
    }
}

/// Blocks on disk, one file per CID.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    /// Opens (and creates) the store under `ipfs` (the worker's own directory).
    pub fn open(ipfs: &Path) -> Result<Self, BlockError> {
        let dir = ipfs.join("blocks");
        std::fs::create_dir_all(&dir).map_err(|source| BlockError::Io {
            path: dir.clone(),
            source,
        })?;
        Ok(Self { dir })
    }

    fn path(&self, cid: &Cid) -> PathBuf {
        // CIDv1 in base32: lower case, file-name safe, the form IPFS tools print.
        self.dir.join(cid.to_string())
    }

    pub fn has(&self, cid: &Cid) -> bool {
        self.path(cid).exists()
    }

    /// Every stored block: its CID, size and when it was stored.
    pub fn entries(&self) -> Result<Vec<(Cid, u64, std::time::SystemTime)>, BlockError> {
        let io = |source| BlockError::Io {
            path: self.dir.clone(),
            source,
        };
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.dir).map_err(io)? {
            let entry = entry.map_err(io)?;
            let Ok(cid) = Cid::try_from(&*entry.file_name().to_string_lossy()) else {
                continue; // a partial write, or a stranger
            };
            let meta = entry.metadata().map_err(io)?;
            out.push((cid, meta.len(), meta.modified().map_err(io)?));
        }
        Ok(out)
    }

    /// Removes a block (gone already is fine).
    pub fn remove(&self, cid: &Cid) -> Result<(), BlockError> {
        let path = self.path(cid);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(BlockError::Io { path, source: e }),
            _ => Ok(()),
        }
    }

    /// The size of a stored block.
    pub fn size(&self, cid: &Cid) -> Result<u64, BlockError> {
        let path = self.path(cid);
        std::fs::metadata(&path)
            .map(|m| m.len())
            .map_err(|source| BlockError::Io { path, source })
    }

    /// The block, if stored.
    pub fn get(&self, cid: &Cid) -> Result<Option<Vec<u8>>, BlockError> {
        let path = self.path(cid);
        match std::fs::read(&path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(BlockError::Io { path, source }),
        }
    }

    /// Reads the block into `buf` (its old contents replaced; a reused buffer spares an
    /// allocation per block); false when it is not stored.
    pub fn read_into(&self, cid: &Cid, buf: &mut Vec<u8>) -> Result<bool, BlockError> {
        use std::io::Read;
        let path = self.path(cid);
        buf.clear();
        let read = std::fs::File::open(&path).and_then(|mut f| f.read_to_end(buf));
        match read {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(source) => Err(BlockError::Io { path, source }),
        }
    }

    /// Stores `data` under `cid` after checking it hashes to `cid`.
    pub fn put(&self, cid: &Cid, data: &[u8]) -> Result<(), BlockError> {
        verify(cid, data)?;
        self.put_hashed(cid, data)
    }

    /// Stores `data` under `cid`, which was computed from `data`'s own hash (as Bitswap's
    /// [`crate::bitswap`] does for every block it receives), so it is not hashed again.
    pub(crate) fn put_hashed(&self, cid: &Cid, data: &[u8]) -> Result<(), BlockError> {
        if data.len() > MAX_BLOCK {
            return Err(BlockError::TooLarge(data.len()));
        }
        let path = self.path(cid);
        if path.exists() {
            return Ok(());
        }
        let tmp = self.dir.join(format!(".partial-{}", cid));
        let io = |source| BlockError::Io {
            path: path.clone(),
            source,
        };
        std::fs::write(&tmp, data).map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)
    }

    /// Stores `data` as a raw block and returns its CIDv1.
    pub fn put_raw(&self, data: &[u8]) -> Result<Cid, BlockError> {
        let cid = cid_of_hash(Sha256::digest(data).into());
        self.put(&cid, data)?;
        Ok(cid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes32_and_raw_cids_convert_both_ways() {
        // sha256("hello world\n"), as `ipfs add --raw-leaves --cid-version 1` names it.
        let digest: [u8; 32] = Sha256::digest(b"hello world\n").into();
        let cid = cid_of_hash(digest);
        let text = cid.to_string();
        assert!(text.starts_with("bafkrei"), "{text}");
        assert_eq!(text, "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4");
        assert_eq!(hash_of_cid(&parse(&text).unwrap()).unwrap(), digest);
        assert_eq!(parse(&format!("0x{}", hex::encode(digest))).unwrap(), cid);
        for bad in ["bafy", "0x12", "", "Qm"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        // A CID whose multihash is not sha2-256 (identity, code 0) is refused.
        let id = Cid::new_v1(RAW, cid::multihash::Multihash::<64>::wrap(0, b"abc").unwrap());
        assert!(matches!(parse(&id.to_string()), Err(BlockError::UnsupportedHash(_))));
    }

    #[test]
    fn the_store_keeps_only_blocks_that_match_their_cid() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let cid = store.put_raw(b"result bytes").unwrap();
        assert!(store.has(&cid));
        assert_eq!(store.get(&cid).unwrap().unwrap(), b"result bytes");
        let other = cid_of_hash([7; 32]);
        assert!(matches!(
            store.put(&other, b"result bytes"),
            Err(BlockError::Mismatch(_))
        ));
        assert!(!store.has(&other));
        assert!(matches!(
            store.put_raw(&vec![0; MAX_BLOCK + 1]),
            Err(BlockError::TooLarge(_))
        ));
    }
}
