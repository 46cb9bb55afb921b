//! Checking a release repository against the trusted root, and fetching an artefact from it.
//!
//! The trusted root is the newest root an earlier check verified (kept in the state
//! directory, so a root rotation carries over), else the one the operator configured. The
//! state directory also keeps the timestamp, snapshot and targets versions last trusted: a
//! mirror that later serves older ones is refused as a rollback.

use std::collections::HashMap;
use std::num::NonZeroU64;
use std::path::{Path, PathBuf};

use tough::schema::{RoleType, Root, Signed, Targets};
use tough::{Limits, Prefix, Repository, RepositoryLoader, TargetName, Transport};
use url::Url;

use crate::Error;
use crate::release::{self, Release};

/// Largest trusted root file read.
const MAX_ROOT: u64 = 1 << 20;

/// The root's own field naming each maintainer's key: `{"oarn_maintainers": {KEYID: NAME}}`.
/// It is part of the signed root, so the names are as trusted as the keys.
pub(crate) const MAINTAINERS: &str = "oarn_maintainers";

/// What the node trusts before it reads a mirror.
#[derive(Debug, Clone)]
pub struct Trust {
    /// The root configured by the operator (it ships with oarn), as read from its file.
    pub root: Vec<u8>,
    /// Where this node keeps what it last trusted; created with mode 0700.
    pub state: PathBuf,
}

impl Trust {
    /// The root read from `root` (at most 1 MiB), with `state` as the state directory.
    pub fn read(root: &Path, state: PathBuf) -> Result<Trust, Error> {
        Ok(Trust {
            root: read_root(root)?,
            state,
        })
    }
}

/// Where the repository's files are read from.
#[derive(Debug, Clone)]
pub struct Mirror {
    pub metadata: Url,
    pub targets: Url,
}

/// Who signed the release list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signing {
    pub root_version: u64,
    pub targets_version: u64,
    /// When the release list expires (RFC 3339).
    pub targets_expires: String,
    /// Signatures the targets role needs.
    pub threshold: u64,
    /// Keys the root allows for it.
    pub keys: usize,
    /// The keys whose signature on the release list verifies.
    pub signers: Vec<Signer>,
}

/// One maintainer's key that signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signer {
    /// The TUF key id, hex.
    pub keyid: String,
    /// The maintainer's name, where the root names it.
    pub name: Option<String>,
}

/// A repository that verified, with what it offers.
pub struct Checked {
    repository: Repository,
    pub signing: Signing,
    /// Every release listed, newest first.
    pub releases: Vec<Release>,
}

impl std::fmt::Debug for Checked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checked")
            .field("signing", &self.signing)
            .field("releases", &self.releases)
            .finish_non_exhaustive()
    }
}

/// Reads the mirror's metadata through `transport` and verifies it against `trust`.
pub async fn check<T>(trust: &Trust, mirror: &Mirror, transport: T) -> Result<Checked, Error>
where
    T: Transport + Send + Sync + 'static,
{
    let state_error = |reason: String| Error::State {
        path: trust.state.clone(),
        reason,
    };
    create_private_dir(&trust.state).map_err(|e| state_error(e.to_string()))?;
    let kept = trust.state.join("root.json");
    let root = if kept.exists() {
        read_root(&kept)?
    } else {
        trust.root.clone()
    };
    let repository = RepositoryLoader::new(&root, mirror.metadata.clone(), mirror.targets.clone())
        .transport(transport)
        .datastore(&trust.state)
        // Bounded: 1 MiB for each of root, timestamp and snapshot, 10 MiB for targets, at
        // most 1024 root rotations in one check.
        .limits(Limits::default())
        .load()
        .await
        .map_err(Error::from_tough)?;
    let targets = repository.targets();
    let releases = release::releases(repository.all_targets().map(|(n, t)| (n.raw(), t)))?;
    let signing = signing(&repository.root().signed, targets);
    Ok(Checked {
        repository,
        signing,
        releases,
    })
}

/// Fetches `release` into `dir` (which must exist) and checks its length and sha256 against
/// the signed targets; on any failure nothing of it is left in `dir`. Returns its path.
pub async fn fetch(checked: &Checked, release: &Release, dir: &Path) -> Result<PathBuf, Error> {
    let name = TargetName::new(release.name.as_str()).map_err(|e| Error::Malformed {
        name: release.name.clone(),
        reason: e.to_string(),
    })?;
    let path = dir.join(name.resolved());
    match checked.repository.save_target(&name, dir, Prefix::None).await {
        Ok(()) => Ok(path),
        Err(e) => {
            let _ = std::fs::remove_file(&path);
            Err(Error::from_tough(e))
        }
    }
}

pub(crate) fn read_root(path: &Path) -> Result<Vec<u8>, Error> {
    let error = |reason: String| Error::Root {
        path: path.to_owned(),
        reason,
    };
    let len = std::fs::metadata(path).map_err(|e| error(e.to_string()))?.len();
    if len > MAX_ROOT {
        return Err(error(format!("it is {len} bytes, more than a root's {MAX_ROOT}")));
    }
    std::fs::read(path).map_err(|e| error(e.to_string()))
}

fn create_private_dir(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(path)
}

/// The targets role's signers: each signature is checked on its own against the root (a copy
/// whose targets threshold is one), since tough reports only whether the threshold was met.
fn signing(root: &Root, targets: &Signed<Targets>) -> Signing {
    let role = root.roles.get(&RoleType::Targets);
    let mut one = root.clone();
    if let Some(keys) = one.roles.get_mut(&RoleType::Targets) {
        keys.threshold = NonZeroU64::MIN;
    }
    let names = maintainers(root);
    let signers = targets
        .signatures
        .iter()
        .filter(|s| {
            let alone = Signed {
                signed: targets.signed.clone(),
                signatures: vec![(*s).clone()],
            };
            one.verify_role(&alone).is_ok()
        })
        .map(|s| {
            let keyid = hex::encode(&s.keyid);
            Signer {
                name: names.get(&keyid).cloned(),
                keyid,
            }
        })
        .collect();
    Signing {
        root_version: root.version.get(),
        targets_version: targets.signed.version.get(),
        targets_expires: targets.signed.expires.to_string(),
        threshold: role.map_or(0, |r| r.threshold.get()),
        keys: role.map_or(0, |r| r.keyids.len()),
        signers,
    }
}

/// The maintainers' names the root carries, by lowercase hex key id.
pub(crate) fn maintainers(root: &Root) -> HashMap<String, String> {
    let Some(names) = root._extra.get(MAINTAINERS).and_then(|v| v.as_object()) else {
        return HashMap::new();
    };
    names
        .iter()
        .filter_map(|(k, v)| Some((k.to_ascii_lowercase(), v.as_str()?.to_owned())))
        .collect()
}
