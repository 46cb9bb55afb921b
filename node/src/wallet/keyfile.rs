//! Writing the sealed keystore (and the other files wallet and chain commands keep): a new
//! file is created mode 0600 beside the old one, synced, then renamed over it, so a crash
//! leaves either the old file or the new one, never half.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Why the keystore could not be written.
#[derive(Debug, thiserror::Error)]
pub enum KeyfileError {
    /// `create` or `import` would replace a wallet.
    #[error(
        "a wallet already exists at {0}; nothing was changed. Back it up (`oarn wallet export`), \
         move it away, then run this again"
    )]
    Exists(PathBuf),
    /// The filesystem refused.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

fn write(path: &Path, bytes: &[u8], replace: bool) -> Result<(), KeyfileError> {
    let io = |source| KeyfileError::Io {
        path: path.to_path_buf(),
        source,
    };
    if !replace && path.symlink_metadata().is_ok() {
        return Err(KeyfileError::Exists(path.to_path_buf()));
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.new"));
    let _ = std::fs::remove_file(&tmp);
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&tmp)
        .map_err(io)?;
    let result = (|| {
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        f.write_all(bytes)?;
        f.sync_all()?;
        if !replace && path.symlink_metadata().is_ok() {
            return Err(std::io::Error::from(std::io::ErrorKind::AlreadyExists));
        }
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            return Err(KeyfileError::Exists(path.to_path_buf()));
        }
        return Err(io(e));
    }
    Ok(())
}

/// Writes a new keystore; refuses to replace one.
pub fn write_new(path: &Path, bytes: &[u8]) -> Result<(), KeyfileError> {
    write(path, bytes, false)
}

/// Replaces a keystore (a changed passphrase) atomically.
pub fn write_replacing(path: &Path, bytes: &[u8]) -> Result<(), KeyfileError> {
    write(path, bytes, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn new_files_are_private_and_never_replace() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wallet.encrypted");
        write_new(&path, b"one").unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
        assert!(matches!(write_new(&path, b"two"), Err(KeyfileError::Exists(_))));
        assert_eq!(std::fs::read(&path).unwrap(), b"one");
        write_replacing(&path, b"three").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"three");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary file left"
        );
    }
}
