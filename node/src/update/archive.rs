//! Unpacking a release archive that `oarn update` verified: its sha256, hashed here, equals the
//! one the maintainers signed, so these bytes are the maintainers' and not the mirror's. The
//! archive is still read defensively, since a maintainer's slip must not write outside the
//! new version's directory: `oarn-VERSION-TARGET/` holding plain files only (no links, devices
//! or nested paths), bounded in count and size, and it must hold the supervisor and every worker.

use std::io::Read;
use std::path::{Path, PathBuf};

/// The executables a release must carry; they are installed with mode 0755, the rest 0644.
pub const EXECUTABLES: [&str; 5] = [
    "oarn",
    "oarn-worker-infer",
    "oarn-worker-net",
    "oarn-worker-chain",
    "oarn-worker-anon",
];

/// Most entries in an archive.
const MAX_ENTRIES: usize = 64;
/// Most bytes unpacked in all.
const MAX_UNPACKED: u64 = 2 << 30;

/// Why an archive was not unpacked; nothing of it is kept.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// An entry is not a plain file directly under the release's directory.
    #[error("the release archive holds {entry:?}, which is not a plain file under {top}/: refused")]
    Entry { entry: String, top: String },
    /// Too many entries, or too many bytes.
    #[error("the release archive unpacks to more than {MAX_ENTRIES} files or {MAX_UNPACKED} bytes: refused")]
    TooLarge,
    /// An executable the node needs is missing.
    #[error("the release archive lacks {0}: refused")]
    Missing(&'static str),
    /// Reading the archive or writing a file failed.
    #[error("unpacking the release archive into {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
}

/// Unpacks the gzip-compressed tar at `archive`, whose files sit under `top/`, into `dir`
/// (which must not exist; created with mode 0755). On failure `dir` is removed.
pub fn unpack(archive: &Path, top: &str, dir: &Path) -> Result<(), ArchiveError> {
    let result = unpack_into(archive, top, dir);
    if result.is_err() {
        let _ = std::fs::remove_dir_all(dir);
    }
    result
}

fn unpack_into(archive: &Path, top: &str, dir: &Path) -> Result<(), ArchiveError> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ArchiveError::Io { path, source }
    };
    std::fs::DirBuilder::new().mode(0o755).create(dir).map_err(io(dir))?;
    let file = std::fs::File::open(archive).map_err(io(archive))?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut count = 0;
    let mut total: u64 = 0;
    for entry in tar.entries().map_err(io(archive))? {
        let mut entry = entry.map_err(io(archive))?;
        count += 1;
        if count > MAX_ENTRIES {
            return Err(ArchiveError::TooLarge);
        }
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let refused = || ArchiveError::Entry {
            entry: raw.clone(),
            top: top.to_owned(),
        };
        let kind = entry.header().entry_type();
        let name = raw.trim_end_matches('/').strip_prefix(top);
        match name {
            // The release's own directory.
            Some("") if kind.is_dir() => continue,
            Some(rest) if kind.is_file() => {
                let name = rest
                    .strip_prefix('/')
                    .filter(|n| crate::pull::plain(n))
                    .ok_or_else(refused)?;
                total = total.saturating_add(entry.size());
                if total > MAX_UNPACKED {
                    return Err(ArchiveError::TooLarge);
                }
                let mode = if EXECUTABLES.contains(&name) { 0o755 } else { 0o644 };
                let path = dir.join(name);
                let mut out = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(mode)
                    .open(&path)
                    .map_err(io(&path))?;
                // At most what the header says, so a lying header cannot grow the file.
                let size = entry.size();
                std::io::copy(&mut (&mut entry).take(size), &mut out).map_err(io(&path))?;
                out.sync_all().map_err(io(&path))?;
            }
            _ => return Err(refused()),
        }
    }
    for exe in EXECUTABLES {
        if !dir.join(exe).is_file() {
            return Err(ArchiveError::Missing(exe));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A gzip-compressed tar of `entries` (path, bytes; a `None` body makes a symlink to
    /// `/etc/passwd`).
    fn archive(dir: &Path, entries: &[(&str, Option<&[u8]>)]) -> PathBuf {
        let path = dir.join("a.tar.gz");
        let gz = flate2::write::GzEncoder::new(std::fs::File::create(&path).unwrap(), flate2::Compression::fast());
        let mut tar = tar::Builder::new(gz);
        for (name, body) in entries {
            let mut h = tar::Header::new_gnu();
            // Written raw: the tar crate's own path setter refuses `..`, which the test needs.
            h.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name.as_bytes());
            h.set_mode(0o755);
            let data: &[u8] = match body {
                Some(b) => {
                    h.set_entry_type(tar::EntryType::Regular);
                    b
                }
                None => {
                    h.set_entry_type(tar::EntryType::Symlink);
                    h.set_link_name("/etc/passwd").unwrap();
                    &[]
                }
            };
            h.set_size(data.len() as u64);
            h.set_cksum();
            tar.append(&h, data).unwrap();
        }
        tar.into_inner().unwrap().finish().unwrap();
        path
    }

    fn release(extra: &[(&'static str, Option<&'static [u8]>)]) -> Vec<(&'static str, Option<&'static [u8]>)> {
        let mut v: Vec<(&str, Option<&[u8]>)> = vec![
            ("oarn-1.0.0-x/oarn", Some(b"supervisor")),
            ("oarn-1.0.0-x/oarn-worker-infer", Some(b"infer")),
            ("oarn-1.0.0-x/oarn-worker-net", Some(b"net")),
            ("oarn-1.0.0-x/oarn-worker-chain", Some(b"chain")),
            ("oarn-1.0.0-x/oarn-worker-anon", Some(b"anon")),
            ("oarn-1.0.0-x/README.md", Some(b"readme")),
        ];
        v.extend_from_slice(extra);
        v
    }

    #[test]
    fn a_release_unpacks_its_files_with_executables_marked() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let a = archive(tmp.path(), &release(&[]));
        let out = tmp.path().join("v");
        unpack(&a, "oarn-1.0.0-x", &out).unwrap();
        assert_eq!(std::fs::read(out.join("oarn-worker-net")).unwrap(), b"net");
        let mode = |n: &str| std::fs::metadata(out.join(n)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode("oarn"), 0o755);
        assert_eq!(mode("README.md"), 0o644);
    }

    #[test]
    fn links_nested_paths_and_other_tops_are_refused_and_nothing_is_kept() {
        let tmp = tempfile::tempdir().unwrap();
        for bad in [
            ("oarn-1.0.0-x/evil", None),
            ("oarn-1.0.0-x/sub/oarn", Some(&b"x"[..])),
            ("oarn-1.0.0-x/../escape", Some(&b"x"[..])),
            ("elsewhere/oarn", Some(&b"x"[..])),
            ("oarn-1.0.0-x/.hidden", Some(&b"x"[..])),
        ] {
            let a = archive(tmp.path(), &release(&[bad]));
            let out = tmp.path().join("v");
            let e = unpack(&a, "oarn-1.0.0-x", &out).unwrap_err();
            assert!(matches!(e, ArchiveError::Entry { .. }), "{bad:?}: {e}");
            assert!(!out.exists(), "{bad:?}: nothing kept");
        }
    }

    #[test]
    fn a_release_without_a_worker_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let mut entries = release(&[]);
        entries.retain(|(n, _)| !n.ends_with("oarn-worker-chain"));
        let a = archive(tmp.path(), &entries);
        let e = unpack(&a, "oarn-1.0.0-x", &tmp.path().join("v")).unwrap_err();
        assert!(matches!(e, ArchiveError::Missing("oarn-worker-chain")), "{e}");
    }
}
