//! A model archive ([`oarn_protocol::archive`]) read and checked (run by the inference
//! worker): its members are listed with where their bytes lie, so each is read in place (the
//! weights mapped, never copied). Member names, types, counts and sizes are checked before
//! anything is read; the ustar headers themselves are read by the `tar` crate.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use oarn_protocol::archive::{self, MAGIC, MAGIC_AT, Member};
use oarn_protocol::task::ModelFormat;

/// Why a file is not a valid model archive.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The file could not be read.
    #[error("cannot read the archive: {0}")]
    Io(#[from] std::io::Error),
    /// The archive holds something that is not a model file.
    #[error("the archive holds {0:?}, which is not a model file (config.json, tokenizer.json, *.safetensors, …)")]
    Stranger(String),
    /// A member is not a regular file.
    #[error("the archive member {0:?} is not a regular file")]
    NotAFile(String),
    /// A member appears twice.
    #[error("the archive holds {0:?} twice")]
    Duplicate(String),
    /// Too many members.
    #[error("the archive holds more than {} members", archive::MAX_MEMBERS)]
    TooMany,
    /// A member's bytes lie past the end of the file.
    #[error("the archive is truncated: {name:?} needs {needs} bytes, the file has {size}")]
    Truncated { name: String, needs: u64, size: u64 },
    /// A JSON member is larger than any model needs.
    #[error("{name:?} is {size} bytes; a model's JSON files are at most {} MiB", archive::MAX_JSON >> 20)]
    JsonTooLarge { name: String, size: u64 },
    /// No config.json, or no weights.
    #[error("the archive has no {0}")]
    Missing(&'static str),
    /// Weights of two formats.
    #[error("the archive holds both Safetensors and PyTorch weights; keep one")]
    Mixed,
}

/// A member: its name, what it is, and where its bytes lie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub member: Member,
    pub offset: u64,
    pub size: u64,
}

/// A checked archive's members, in archive order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Index {
    pub entries: Vec<Entry>,
    /// The weights' format.
    pub format: ModelFormat,
}

impl Index {
    /// The member named `name`.
    pub fn get(&self, name: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.name == name)
    }

    /// The weights files, in name order (a sharded checkpoint's shards in order).
    pub fn weights(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter().filter(|e| matches!(e.member, Member::Weights(_)))
    }

    /// The JSON member `name`, read whole (bounded by [`archive::MAX_JSON`], checked when
    /// indexing), or `None` when the archive lacks it.
    pub fn read_json(&self, file: &mut File, name: &str) -> Result<Option<Vec<u8>>, std::io::Error> {
        let Some(e) = self.get(name) else { return Ok(None) };
        file.seek(SeekFrom::Start(e.offset))?;
        let mut bytes = vec![0u8; e.size as usize];
        file.read_exact(&mut bytes)?;
        Ok(Some(bytes))
    }
}

/// A member's bytes as a file of their own: reads and seeks within `[start, start + len)`.
#[derive(Debug)]
pub struct Window<R> {
    inner: R,
    start: u64,
    len: u64,
    pos: u64,
}

impl<R: Seek> Window<R> {
    /// The member `e` of the archive `inner`.
    pub fn new(inner: R, e: &Entry) -> Self {
        Self {
            inner,
            start: e.offset,
            len: e.size,
            pos: 0,
        }
    }
}

impl<R: Read + Seek> Read for Window<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self.len.saturating_sub(self.pos);
        let n = (buf.len() as u64).min(left) as usize;
        if n == 0 {
            return Ok(0);
        }
        self.inner.seek(SeekFrom::Start(self.start + self.pos))?;
        let n = self.inner.read(&mut buf[..n])?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl<R: Seek> Seek for Window<R> {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let pos = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = pos.ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "seek before the start"))?;
        Ok(self.pos)
    }
}

/// Whether `head` (the file's first block, or more) starts a ustar archive.
pub fn is_archive(head: &[u8]) -> bool {
    head.get(MAGIC_AT..MAGIC_AT + MAGIC.len()) == Some(&MAGIC[..])
}

/// Lists and checks the archive at `path`.
pub fn index(path: &Path) -> Result<Index, ArchiveError> {
    let file = File::open(path)?;
    let size = file.metadata()?.len();
    index_of(file, size)
}

/// Lists and checks an archive of `size` bytes.
pub fn index_of(input: impl Read + Seek, size: u64) -> Result<Index, ArchiveError> {
    let mut tar = tar::Archive::new(input);
    let mut entries: Vec<Entry> = Vec::new();
    for entry in tar.entries_with_seek()? {
        let entry = entry?;
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let member = archive::member(&name).ok_or_else(|| ArchiveError::Stranger(name.clone()))?;
        if entry.header().entry_type() != tar::EntryType::Regular {
            return Err(ArchiveError::NotAFile(name));
        }
        if entries.iter().any(|e| e.name == name) {
            return Err(ArchiveError::Duplicate(name));
        }
        if entries.len() == archive::MAX_MEMBERS {
            return Err(ArchiveError::TooMany);
        }
        let (offset, len) = (entry.raw_file_position(), entry.size());
        let needs = offset.saturating_add(len);
        if needs > size {
            return Err(ArchiveError::Truncated { name, needs, size });
        }
        if member.is_json() && len > archive::MAX_JSON {
            return Err(ArchiveError::JsonTooLarge { name, size: len });
        }
        entries.push(Entry {
            name,
            member,
            offset,
            size: len,
        });
    }
    if !entries.iter().any(|e| e.member == Member::Config) {
        return Err(ArchiveError::Missing("config.json"));
    }
    let formats: Vec<ModelFormat> = entries
        .iter()
        .filter_map(|e| match e.member {
            Member::Weights(f) => Some(f),
            _ => None,
        })
        .collect();
    let format = *formats.first().ok_or(ArchiveError::Missing("weights"))?;
    if formats.iter().any(|f| *f != format) {
        return Err(ArchiveError::Mixed);
    }
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Index { entries, format })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ustar archive of `files`, as the store packs one.
    fn tar(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, bytes) in files {
            let mut h = tar::Header::new_ustar();
            h.set_path(name).unwrap();
            h.set_size(bytes.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append(&h, *bytes).unwrap();
        }
        b.into_inner().unwrap()
    }

    fn index_bytes(bytes: &[u8]) -> Result<Index, ArchiveError> {
        index_of(std::io::Cursor::new(bytes), bytes.len() as u64)
    }

    #[test]
    fn members_are_found_where_their_bytes_lie() {
        let bytes = tar(&[("config.json", b"{\"a\":1}"), ("model.safetensors", b"weights")]);
        assert!(is_archive(&bytes));
        let index = index_bytes(&bytes).unwrap();
        assert_eq!(index.format, ModelFormat::Safetensors);
        let w = index.weights().next().unwrap();
        assert_eq!(&bytes[w.offset as usize..(w.offset + w.size) as usize], b"weights");
    }

    #[test]
    fn a_stranger_a_duplicate_or_missing_weights_are_refused() {
        let e = index_bytes(&tar(&[("config.json", b"{}"), ("run.sh", b"rm -rf /")])).unwrap_err();
        assert!(matches!(e, ArchiveError::Stranger(ref n) if n == "run.sh"), "{e}");
        let e = index_bytes(&tar(&[("config.json", b"{}"), ("config.json", b"{}")])).unwrap_err();
        assert!(matches!(e, ArchiveError::Duplicate(_)), "{e}");
        let e = index_bytes(&tar(&[("config.json", b"{}")])).unwrap_err();
        assert!(e.to_string().contains("no weights"), "{e}");
        let e = index_bytes(&tar(&[("model.safetensors", b"x")])).unwrap_err();
        assert!(e.to_string().contains("no config.json"), "{e}");
        let e = index_bytes(&tar(&[
            ("config.json", b"{}"),
            ("model.safetensors", b"x"),
            ("pytorch_model.bin", b"x"),
        ]))
        .unwrap_err();
        assert!(matches!(e, ArchiveError::Mixed), "{e}");
    }

    #[test]
    fn a_truncated_archive_is_refused_naming_the_member() {
        let bytes = tar(&[("config.json", b"{}"), ("model.safetensors", &[1u8; 4096])]);
        let cut = &bytes[..512 * 4];
        let e = index_bytes(cut).unwrap_err();
        assert!(
            matches!(e, ArchiveError::Truncated { ref name, needs: 5632, size: 2048 } if name == "model.safetensors"),
            "{e}"
        );
    }

    #[test]
    fn a_path_outside_the_top_level_is_a_stranger() {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        // set_path refuses "..", so the name is written raw, as a hostile archive would.
        h.as_old_mut().name[..14].copy_from_slice(b"../config.json");
        h.set_size(2);
        h.set_cksum();
        b.append(&h, &b"{}"[..]).unwrap();
        let e = index_bytes(&b.into_inner().unwrap()).unwrap_err();
        assert!(matches!(e, ArchiveError::Stranger(_)), "{e}");
    }
}
