//! The model store under `storage.models_dir`: content-addressed blobs (`blobs/sha256-<hex>`)
//! and one manifest per model name (`manifests/<name>.json`).
//!
//! Installing is two steps. [`Store::stage`] copies a file into `staging/`, hashing it on the
//! way: the bytes installed are exactly the bytes this side hashed, in a directory no worker
//! may write (a network worker that wrote the source cannot change them afterwards). The
//! caller has the inference worker read the staged file's header (model files are parsed only
//! in that sandbox), then [`Store::install`] renames it into place under its digest and writes
//! the manifest atomically, so a failed or interrupted install leaves nothing half-visible.

use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use oarn_protocol::infer::ModelInfo as Metadata;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// One model the node has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub name: String,
    pub format: String,
    pub size: u64,
    /// `sha256:<hex>` of the blob.
    pub digest: String,
    /// Where it came from (a path for an import).
    pub source: String,
    /// Unix time of the import.
    pub added_at: u64,
    /// Unix time it was last loaded for inference (0: never).
    #[serde(default)]
    pub last_used: u64,
    pub metadata: Metadata,
}

impl Manifest {
    /// When it was last used, or installed if never used: the eviction order.
    fn recency(&self) -> u64 {
        self.last_used.max(self.added_at)
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No model has that name.
    #[error("no model named {name:?}; `oarn model list` shows the installed ones")]
    NotFound { name: String },
    /// The name is taken.
    #[error("a model named {name:?} exists; choose another --name or pass --force to replace it")]
    Exists { name: String },
    /// The name has characters a file name cannot safely carry.
    #[error("{name:?} is not a model name: use 1 to 64 of a-z, 0-9, '.', '_', '-', starting with a letter or digit")]
    BadName { name: String },
    /// A manifest is unreadable.
    #[error("the manifest {} is corrupt: {detail}", path.display())]
    Manifest { path: PathBuf, detail: String },
    /// A directory given as a model is not one.
    #[error("{} is not a model directory: {detail}", path.display())]
    NotAModelDir { path: PathBuf, detail: String },
    /// The filesystem failed.
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> StoreError + 'a {
    move |source| StoreError::Io {
        what,
        path: path.into(),
        source,
    }
}

/// The store at a directory.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// Opens (and creates, mode 0700) the store at `root`.
    pub fn open(root: &Path) -> Result<Self, StoreError> {
        for dir in [
            root.to_path_buf(),
            root.join("blobs"),
            root.join("manifests"),
            root.join("staging"),
        ] {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&dir)
                .map_err(io("cannot create", &dir))?;
        }
        Ok(Self { root: root.into() })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where a model's weights are.
    pub fn blob(&self, m: &Manifest) -> PathBuf {
        self.root.join("blobs").join(m.digest.replace(':', "-"))
    }

    fn manifest_path(&self, name: &str) -> PathBuf {
        self.root.join("manifests").join(format!("{name}.json"))
    }

    /// Refuses early what [`Store::install`] would refuse: a bad name, or one taken without
    /// `force`.
    pub fn check_new(&self, name: &str, force: bool) -> Result<(), StoreError> {
        let name = check_name(name)?;
        if !force && self.manifest_path(&name).exists() {
            return Err(StoreError::Exists { name });
        }
        Ok(())
    }

    /// Copies `from` into the staging directory, hashing it on the way; a directory is packed
    /// into a model archive ([`crate::archive`]).
    pub fn stage(&self, from: &Path) -> Result<Staged, StoreError> {
        let path = self
            .root
            .join("staging")
            .join(format!("{:016x}.partial", fastrand::u64(..)));
        if from.is_dir() {
            let packed = crate::archive::pack(from, &path)?;
            if !packed.skipped.is_empty() {
                tracing::info!(skipped = ?packed.skipped, "files no backend reads were left out of the model archive");
            }
            return Ok(Staged {
                path,
                sha256: packed.sha256,
                size: packed.size,
            });
        }
        let (sha256, size) = copy_hashed(from, &path)?;
        Ok(Staged { path, sha256, size })
    }

    /// Installs `staged` under `name`, with the header the inference worker read from it;
    /// `source` says where it came from.
    pub fn install(
        &self,
        staged: Staged,
        name: &str,
        force: bool,
        source: &str,
        metadata: Metadata,
    ) -> Result<Manifest, StoreError> {
        self.check_new(name, force)?;
        let manifest = Manifest {
            name: name.to_string(),
            format: metadata.format.as_str().into(),
            size: staged.size,
            digest: format!("sha256:{}", hex(&staged.sha256)),
            source: source.to_string(),
            added_at: unix_now(),
            last_used: 0,
            metadata,
        };
        let blob = self.blob(&manifest);
        if !blob.exists() {
            std::fs::rename(&staged.path, &blob).map_err(io("cannot store", &blob))?;
        }
        drop(staged);
        self.write_manifest(&manifest)?;
        Ok(manifest)
    }

    fn write_manifest(&self, manifest: &Manifest) -> Result<(), StoreError> {
        let json = serde_json::to_vec_pretty(manifest).expect("a manifest serializes");
        let mpath = self.manifest_path(&manifest.name);
        oarn_config::edit::write_atomic(&mpath, &json).map_err(io("cannot write", &mpath))
    }

    /// Records that `name` was just loaded for inference (eviction spares recent models).
    pub fn touch(&self, name: &str) -> Result<(), StoreError> {
        let mut m = self.get(name)?;
        m.last_used = unix_now();
        self.write_manifest(&m)
    }

    /// Bytes the cache holds: each blob once, however many names share it.
    pub fn size(&self) -> Result<u64, StoreError> {
        let mut seen = std::collections::HashSet::new();
        Ok(self
            .list()?
            .into_iter()
            .filter(|m| seen.insert(m.digest.clone()))
            .map(|m| m.size)
            .sum())
    }

    /// Marks `m` in use for as long as the returned lock lives (a shared `flock` on its blob):
    /// eviction passes over it.
    pub fn in_use(&self, m: &Manifest) -> Result<nix::fcntl::Flock<std::fs::File>, StoreError> {
        let blob = self.blob(m);
        let file = std::fs::File::open(&blob).map_err(io("cannot open", &blob))?;
        nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockShared).map_err(|(_, e)| StoreError::Io {
            what: "cannot lock",
            path: blob,
            source: e.into(),
        })
    }

    /// Whether some process holds `m` [`Store::in_use`].
    fn used_now(&self, m: &Manifest) -> bool {
        let Ok(file) = std::fs::File::open(self.blob(m)) else {
            return false;
        };
        nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock).is_err()
    }

    /// Removes the least recently used models, never `keep` and never one in use, until the
    /// cache holds at most `limit` bytes (or nothing else can go); returns what it removed,
    /// oldest first.
    pub fn evict(&self, limit: u64, keep: &str) -> Result<Vec<Manifest>, StoreError> {
        let mut others: Vec<Manifest> = self.list()?.into_iter().filter(|m| m.name != keep).collect();
        others.sort_by_key(|m| (m.recency(), m.name.clone()));
        let mut evicted = Vec::new();
        for m in others {
            if self.size()? <= limit {
                break;
            }
            if self.used_now(&m) {
                continue;
            }
            self.remove(&m.name)?;
            evicted.push(m);
        }
        Ok(evicted)
    }

    /// Every installed model, sorted by name.
    pub fn list(&self) -> Result<Vec<Manifest>, StoreError> {
        let dir = self.root.join("manifests");
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(io("cannot list", &dir))? {
            let path = entry.map_err(io("cannot list", &dir))?.path();
            if path.extension().is_some_and(|e| e == "json") {
                out.push(read_manifest(&path)?);
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// The model called `name`.
    pub fn get(&self, name: &str) -> Result<Manifest, StoreError> {
        let path = self.manifest_path(&check_name(name)?);
        if !path.exists() {
            return Err(StoreError::NotFound { name: name.into() });
        }
        read_manifest(&path)
    }

    /// Removes `name`; its blob goes too when no other model shares it. Returns whether it did.
    pub fn remove(&self, name: &str) -> Result<bool, StoreError> {
        let m = self.get(name)?;
        let path = self.manifest_path(&m.name);
        std::fs::remove_file(&path).map_err(io("cannot remove", &path))?;
        let shared = self.list()?.iter().any(|o| o.digest == m.digest);
        if !shared {
            let blob = self.blob(&m);
            std::fs::remove_file(&blob).map_err(io("cannot remove", &blob))?;
        }
        Ok(!shared)
    }
}

/// A file in the store's staging directory, hashed as it was copied there; removed when
/// dropped unless [`Store::install`] moved it into place.
#[derive(Debug)]
pub struct Staged {
    path: PathBuf,
    sha256: [u8; 32],
    size: u64,
}

impl Staged {
    /// Where it is (inside the model cache, so the inference worker can read it).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Its sha256, as this side computed it.
    pub fn sha256(&self) -> [u8; 32] {
        self.sha256
    }

    pub fn size(&self) -> u64 {
        self.size
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Copies `from` to `to` (a new file, mode 0600, synced), returning its sha256 and size; a
/// failed copy leaves nothing at `to`.
fn copy_hashed(from: &Path, to: &Path) -> Result<([u8; 32], u64), StoreError> {
    let copied = (|| {
        let mut src = std::fs::File::open(from).map_err(io("cannot read", from))?;
        let mut dst = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(to)
            .map_err(io("cannot create", to))?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut size = 0u64;
        loop {
            let n = src.read(&mut buf).map_err(io("cannot read", from))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            dst.write_all(&buf[..n]).map_err(io("cannot write", to))?;
            size += n as u64;
        }
        dst.sync_all().map_err(io("cannot write", to))?;
        Ok((hasher.finalize().into(), size))
    })();
    if copied.is_err() {
        let _ = std::fs::remove_file(to);
    }
    copied
}

fn read_manifest(path: &Path) -> Result<Manifest, StoreError> {
    let bytes = std::fs::read(path).map_err(io("cannot read", path))?;
    serde_json::from_slice(&bytes).map_err(|e| StoreError::Manifest {
        path: path.into(),
        detail: e.to_string(),
    })
}

/// Checks a model name: 1–64 of `a-z0-9._-`, starting with a letter or digit.
pub fn check_name(name: &str) -> Result<String, StoreError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
        && name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    if ok {
        Ok(name.to_string())
    } else {
        Err(StoreError::BadName { name: name.into() })
    }
}

/// A name from a file name: its stem, lowercased, with other characters turned into '-'.
pub fn default_name(path: &Path) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let mut name: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    if check_name(&name).is_err() {
        name = format!(
            "model-{}",
            name.trim_start_matches(|c: char| !c.is_ascii_alphanumeric())
        );
        name.truncate(64);
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata() -> Metadata {
        Metadata {
            gguf_version: 3,
            architecture: "llama".into(),
            ..Metadata::default()
        }
    }

    /// Stages `bytes` from a file called `file` and installs it under its default name or
    /// `name`.
    fn add(store: &Store, dir: &Path, file: &str, bytes: &[u8], name: Option<&str>) -> Result<Manifest, StoreError> {
        let src = dir.join(file);
        std::fs::write(&src, bytes).unwrap();
        let name = name.map_or_else(|| default_name(&src), str::to_string);
        store.check_new(&name, false)?;
        let staged = store.stage(&src)?;
        assert_eq!(staged.sha256(), <[u8; 32]>::from(Sha256::digest(bytes)));
        store.install(staged, &name, false, &src.display().to_string(), metadata())
    }

    #[test]
    fn install_list_get_remove() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("models")).unwrap();
        let m = add(&store, dir.path(), "Tiny-Model.F32.gguf", b"weights", None).unwrap();
        assert_eq!(m.name, "tiny-model.f32");
        assert_eq!(std::fs::read(store.blob(&m)).unwrap(), b"weights");
        assert!(matches!(
            add(&store, dir.path(), "Tiny-Model.F32.gguf", b"weights", None),
            Err(StoreError::Exists { .. })
        ));
        let twin = add(&store, dir.path(), "t.gguf", b"weights", Some("twin")).unwrap();
        assert_eq!(twin.digest, m.digest, "same content, same blob");
        assert_eq!(store.list().unwrap().len(), 2);
        assert!(!store.remove("twin").unwrap(), "the blob is still used");
        assert!(store.blob(&m).exists());
        assert!(store.remove("tiny-model.f32").unwrap());
        assert!(!store.blob(&m).exists());
        assert!(matches!(store.get("tiny-model.f32"), Err(StoreError::NotFound { .. })));
        assert!(matches!(
            add(&store, dir.path(), "x.gguf", b"w", Some("../etc")),
            Err(StoreError::BadName { .. })
        ));
        assert_eq!(
            std::fs::read_dir(store.root().join("staging")).unwrap().count(),
            0,
            "nothing is left staged"
        );
    }

    #[test]
    fn a_staged_file_not_installed_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("models")).unwrap();
        let src = dir.path().join("m.gguf");
        std::fs::write(&src, b"w").unwrap();
        let staged = store.stage(&src).unwrap();
        assert!(staged.path().starts_with(store.root()));
        drop(staged);
        assert!(store.stage(&dir.path().join("missing")).is_err());
        assert_eq!(std::fs::read_dir(store.root().join("staging")).unwrap().count(), 0);
        assert_eq!(std::fs::read_dir(store.root().join("blobs")).unwrap().count(), 0);
    }

    #[test]
    fn eviction_removes_least_recently_used_models_and_spares_the_new_one() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("models")).unwrap();
        let mut models = Vec::new();
        for (i, name) in ["old", "used", "new"].iter().enumerate() {
            let bytes = format!("weights of {i}");
            let mut m = add(&store, dir.path(), &format!("{name}.gguf"), bytes.as_bytes(), None).unwrap();
            // Installed a second apart, oldest first.
            m.added_at = 1_000 + i as u64;
            store.write_manifest(&m).unwrap();
            models.push(m);
        }
        let one = models[0].size;
        assert_eq!(store.size().unwrap(), 3 * one);
        store.touch("old").unwrap(); // used just now: the most recent
        let evicted = store.evict(2 * one, "new").unwrap();
        assert_eq!(evicted.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(), ["used"]);
        assert!(!store.blob(&models[1]).exists(), "its blob went too");
        // A model in use is passed over while the lock lives.
        let using = store.in_use(&store.get("old").unwrap()).unwrap();
        assert!(store.evict(0, "new").unwrap().is_empty());
        drop(using);
        // A limit below the new model alone leaves just it.
        let evicted = store.evict(0, "new").unwrap();
        assert_eq!(evicted.len(), 1);
        assert_eq!(
            store
                .list()
                .unwrap()
                .iter()
                .map(|m| m.name.as_str())
                .collect::<Vec<_>>(),
            ["new"]
        );
        assert!(store.evict(0, "new").unwrap().is_empty());
    }
}
