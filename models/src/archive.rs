//! Packs a model directory (Hugging Face's layout) into a model archive
//! ([`oarn_protocol::archive`]), hashing it on the way: the store then keeps, verifies and sends
//! it as one file. Only the directory's listing and file sizes are read here; the files'
//! contents are copied, never parsed (the inference worker reads them, in its sandbox).
//!
//! The ustar headers come from the `tar` crate; what is fixed here is what makes the bytes
//! reproducible (order, modes, owners, times), which the crate leaves to its caller.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use oarn_protocol::archive::{self, Member};
use sha2::{Digest, Sha256};

use crate::store::StoreError;

/// What went into an archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packed {
    /// The members, in archive order.
    pub members: Vec<String>,
    /// The directory's files left out (not read by any backend).
    pub skipped: Vec<String>,
    pub sha256: [u8; 32],
    pub size: u64,
}

/// A file of a model directory that goes into its archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub name: String,
    pub path: PathBuf,
    pub size: u64,
}

/// The members of the model directory `dir`, in archive order, with the files left out.
pub fn members(dir: &Path) -> Result<(Vec<Source>, Vec<String>), StoreError> {
    let bad = |detail: String| StoreError::NotAModelDir {
        path: dir.into(),
        detail,
    };
    let mut members = Vec::new();
    let mut skipped = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|source| StoreError::Io {
        what: "cannot list",
        path: dir.into(),
        source,
    })?;
    for entry in entries {
        let entry = entry.map_err(|source| StoreError::Io {
            what: "cannot list",
            path: dir.into(),
            source,
        })?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        // Followed: a Hugging Face cache snapshot is links into its blob directory.
        let meta = std::fs::metadata(&path).map_err(|source| StoreError::Io {
            what: "cannot read",
            path: path.clone(),
            source,
        })?;
        match archive::member(&name) {
            Some(kind) if meta.is_file() => {
                if kind.is_json() && meta.len() > archive::MAX_JSON {
                    return Err(bad(format!(
                        "{name} is {} bytes; a model's JSON files are at most {} MiB",
                        meta.len(),
                        archive::MAX_JSON >> 20
                    )));
                }
                members.push(Source {
                    name,
                    path,
                    size: meta.len(),
                });
            }
            _ => skipped.push(name),
        }
    }
    members.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
    skipped.sort();
    let has = |want: fn(Member) -> bool| members.iter().any(|m| archive::member(&m.name).is_some_and(want));
    if !has(|m| m == Member::Config) {
        return Err(bad("it has no config.json".into()));
    }
    if !has(|m| matches!(m, Member::Weights(_))) {
        return Err(bad(
            "it has no weights (model.safetensors, model-00001-of-0000N.safetensors or pytorch_model.bin)".into(),
        ));
    }
    if members.len() > archive::MAX_MEMBERS {
        return Err(bad(format!("it has more than {} model files", archive::MAX_MEMBERS)));
    }
    Ok((members, skipped))
}

/// Packs the model directory `dir` into a new file at `to` (mode 0600), hashing it.
pub fn pack(dir: &Path, to: &Path) -> Result<Packed, StoreError> {
    let (members, skipped) = members(dir)?;
    let packed = (|| {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(to)
            .map_err(io("cannot create", to))?;
        let mut builder = tar::Builder::new(Hashing::new(std::io::BufWriter::with_capacity(1 << 20, file)));
        for Source { name, path, size } in &members {
            let mut header = tar::Header::new_ustar();
            header.set_path(name).map_err(io("cannot pack", path))?;
            header.set_size(*size);
            header.set_mode(0o644);
            header.set_uid(0);
            header.set_gid(0);
            header.set_mtime(0);
            header.set_entry_type(tar::EntryType::Regular);
            header.set_cksum();
            let src = std::fs::File::open(path).map_err(io("cannot read", path))?;
            // Exactly the size listed: a file that grew or shrank while packing is an error.
            let mut exact = std::io::Read::take(src, *size);
            builder.append(&header, &mut exact).map_err(io("cannot pack", path))?;
            if exact.limit() != 0 {
                return Err(io("cannot pack", path)(std::io::Error::other(
                    "the file shrank while it was packed",
                )));
            }
        }
        let hashing = builder.into_inner().map_err(io("cannot write", to))?;
        let (writer, sha256, size) = hashing.finish();
        let file = writer
            .into_inner()
            .map_err(|e| io("cannot write", to)(e.into_error()))?;
        file.sync_all().map_err(io("cannot write", to))?;
        Ok(Packed {
            members: members.iter().map(|m| m.name.clone()).collect(),
            skipped,
            sha256,
            size,
        })
    })();
    if packed.is_err() {
        let _ = std::fs::remove_file(to);
    }
    packed
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> StoreError + 'a {
    move |source| StoreError::Io {
        what,
        path: path.into(),
        source,
    }
}

/// A writer that hashes and counts what passes through it.
struct Hashing<W> {
    inner: W,
    hasher: Sha256,
    size: u64,
}

impl<W: Write> Hashing<W> {
    fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            size: 0,
        }
    }

    fn finish(self) -> (W, [u8; 32], u64) {
        (self.inner, self.hasher.finalize().into(), self.size)
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(files: &[(&str, &[u8])]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        for (name, bytes) in files {
            std::fs::write(d.path().join(name), bytes).unwrap();
        }
        d
    }

    #[test]
    fn the_same_files_pack_to_the_same_bytes_whatever_their_times_and_modes() {
        let files: &[(&str, &[u8])] = &[
            ("tokenizer.json", b"{}"),
            ("config.json", b"{\"model_type\":\"llama\"}"),
            ("model.safetensors", &[7u8; 1000]),
            ("README.md", b"not a member"),
        ];
        let (a, b) = (dir(files), dir(files));
        std::fs::set_permissions(
            b.path().join("config.json"),
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )
        .unwrap();
        let out = tempfile::tempdir().unwrap();
        let pa = pack(a.path(), &out.path().join("a.tar")).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let pb = pack(b.path(), &out.path().join("b.tar")).unwrap();
        assert_eq!(pa.sha256, pb.sha256);
        assert_eq!(pa.members, ["config.json", "model.safetensors", "tokenizer.json"]);
        assert_eq!(pa.skipped, ["README.md"]);
        let bytes = std::fs::read(out.path().join("a.tar")).unwrap();
        assert_eq!(bytes.len() as u64, pa.size);
        assert_eq!(&bytes[archive::MAGIC_AT..archive::MAGIC_AT + 8], archive::MAGIC);
        // Three headers, four data blocks (the 1000 bytes take two), two zero blocks.
        assert_eq!(bytes.len(), 512 * (3 + 4 + 2));
        let mut read = tar::Archive::new(&bytes[..]);
        for entry in read.entries().unwrap() {
            let h = entry.unwrap().header().clone();
            assert_eq!((h.mode().unwrap(), h.mtime().unwrap(), h.uid().unwrap()), (0o644, 0, 0));
        }
    }

    #[test]
    fn a_directory_without_config_or_weights_is_refused_and_nothing_is_left() {
        let out = tempfile::tempdir().unwrap();
        let to = out.path().join("x.tar");
        let e = pack(dir(&[("model.safetensors", b"x")]).path(), &to).unwrap_err();
        assert!(e.to_string().contains("no config.json"), "{e}");
        let e = pack(dir(&[("config.json", b"{}")]).path(), &to).unwrap_err();
        assert!(e.to_string().contains("no weights"), "{e}");
        assert!(!to.exists());
    }
}
