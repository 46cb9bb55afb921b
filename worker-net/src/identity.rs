//! The node's libp2p identity: an Ed25519 key kept in the network worker's own store
//! (`~/.oarn/ipfs/identity.key`, mode 0600, as Kubo keeps its key in its repository), so the
//! node keeps its peer id across restarts. A damaged file is an error naming the file, never
//! silently replaced: the peer id is what other nodes and validators know this node by.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use libp2p::identity::Keypair;
use zeroize::Zeroizing;

/// File name of the key inside the store.
pub const FILE: &str = "identity.key";

/// Why the identity could not be loaded or created.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The file exists but cannot be read.
    #[error("cannot read the node identity {0}: {1}")]
    Read(PathBuf, std::io::Error),
    /// The file is not a libp2p key.
    #[error(
        "the node identity {0} is damaged ({1}); restore it from a backup, or delete it to start under a new peer id"
    )]
    Damaged(PathBuf, String),
    /// A new key could not be written.
    #[error("cannot write the node identity {0}: {1}")]
    Write(PathBuf, std::io::Error),
}

/// Loads the key in `dir`, or creates one (0600, written atomically) when there is none.
pub fn load_or_create(dir: &Path) -> Result<Keypair, IdentityError> {
    let path = dir.join(FILE);
    match std::fs::read(&path) {
        Ok(bytes) => {
            let bytes = Zeroizing::new(bytes);
            Keypair::from_protobuf_encoding(&bytes).map_err(|e| IdentityError::Damaged(path, e.to_string()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = Keypair::generate_ed25519();
            let bytes = Zeroizing::new(
                key.to_protobuf_encoding()
                    .map_err(|e| IdentityError::Damaged(path.clone(), e.to_string()))?,
            );
            write_private(&path, &bytes).map_err(|e| IdentityError::Write(path, e))?;
            Ok(key)
        }
        Err(e) => Err(IdentityError::Read(path, e)),
    }
}

/// Writes `bytes` to `path` through a 0600 temporary file renamed over it.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn created_once_private_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create(dir.path()).unwrap();
        let mode = std::fs::metadata(dir.path().join(FILE)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let again = load_or_create(dir.path()).unwrap();
        assert_eq!(first.public().to_peer_id(), again.public().to_peer_id());
    }

    #[test]
    fn a_damaged_key_is_an_error_and_left_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE);
        std::fs::write(&path, b"not a key").unwrap();
        let err = load_or_create(dir.path()).unwrap_err().to_string();
        assert!(err.contains("is damaged") && err.contains("delete it"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), b"not a key");
    }
}
