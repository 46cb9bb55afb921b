//! `oarn update check | apply | rollback`: updating oarn only with the operator's consent, and
//! only to a release enough maintainers signed.
//!
//! A network worker of its own (started for this command, never joining the swarm) reads the
//! release repository from `update.mirror` and verifies it against `update.root` (TUF: k-of-n
//! maintainer signatures, expiry, rollback; see crate `oarn-update`). The supervisor reads the
//! root file's bytes without parsing them and gets typed facts back. To apply, the operator
//! says yes (or gave `--yes`); the running node's IPFS fetches the archive by its signed CID
//! (else the worker downloads it from the mirror) into the staging directory, and the
//! supervisor hashes it itself against the signed sha256 before unpacking it beside
//! the installed versions and switching the `current` link ([`layout`]). Nothing else
//! changes: the running node keeps its version until the operator restarts it.

pub mod archive;
pub mod layout;

use std::path::{Path, PathBuf};

use oarn_config::home::Home;
use oarn_config::{Config, resolve_path};
use oarn_protocol::envelope::ErrorKind;
use oarn_protocol::net::{Release, ReleaseInfo, Releases};
use oarn_supervise::{CallError, alone};
use serde::Serialize;
use sha2::{Digest, Sha256};

pub use archive::ArchiveError;
pub use layout::{Layout, LayoutError, Switched};

/// This build's version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Largest trusted root read (the same bound the verifier applies).
const MAX_ROOT: u64 = 1 << 20;

/// Why an update did not happen; nothing was installed.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    /// `update.mirror` or `update.root` is not set.
    #[error(
        "no release repository is configured: set update.mirror (its URL) and update.root (its root.json, naming the maintainers' keys), e.g. `oarn config set update.mirror https://…`"
    )]
    NotConfigured,
    /// The trusted root cannot be read.
    #[error("the trusted release root {} cannot be read: {reason}; update.root names it", path.display())]
    Root { path: PathBuf, reason: String },
    /// The network worker did not start or stopped.
    #[error("the network worker failed: {0}")]
    Worker(String),
    /// The repository or the archive failed verification.
    #[error("{0}")]
    Refused(String),
    /// The mirror could not be read.
    #[error("{0}")]
    Mirror(String),
    /// No such release for this machine in the signed list.
    #[error("the signed release list has no oarn {version} for {target}; `oarn update check` lists what it has")]
    NoSuchRelease { version: String, target: String },
    /// The signed list changed between what the operator saw and the download.
    #[error(
        "the signed release list changed after you confirmed ({name} is no longer what you were shown): nothing was installed; run `oarn update apply` again"
    )]
    Changed { name: String },
    /// The downloaded archive is not what was signed.
    #[error("{name} hashes to {got} here, not the sha256 the maintainers signed: refused and removed")]
    Digest { name: String, got: String },
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error(transparent)]
    Layout(#[from] LayoutError),
}

/// The Rust target triple this build runs on, as release archives name it.
pub fn target() -> String {
    let arch = std::env::consts::ARCH;
    if cfg!(target_os = "macos") {
        format!("{arch}-apple-darwin")
    } else if cfg!(target_env = "musl") {
        format!("{arch}-unknown-linux-musl")
    } else {
        format!("{arch}-unknown-linux-gnu")
    }
}

/// What the release repository offers this machine, verified.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The version running this command.
    pub current: String,
    /// This machine's target triple.
    pub target: String,
    pub mirror: String,
    pub signing: Signing,
    /// The releases for this target, newest first.
    pub releases: Vec<Offer>,
    /// The newest release newer than `current`, if any.
    pub newer: Option<Offer>,
}

/// Who signed the release list.
#[derive(Debug, Clone, Serialize)]
pub struct Signing {
    pub root_version: u64,
    pub list_version: u64,
    /// When the signed list expires (RFC 3339).
    pub expires: String,
    /// Signatures needed, of how many maintainers' keys.
    pub threshold: u64,
    pub keys: u32,
    /// The maintainers whose signatures verify: their names where the root gives them, else
    /// their key ids.
    pub signed_by: Vec<String>,
}

/// One release on offer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Offer {
    pub version: String,
    /// The archive's name in the repository.
    pub name: String,
    pub size: u64,
    /// The signed sha256, hex.
    pub sha256: String,
    pub cid: Option<String>,
    pub changelog: String,
}

impl Offer {
    fn of(r: &ReleaseInfo) -> Offer {
        Offer {
            version: r.version.clone(),
            name: r.name.clone(),
            size: r.length,
            sha256: hex::encode(r.sha256),
            cid: r.cid.clone(),
            changelog: r.changelog.clone(),
        }
    }
}

fn report(config: &Config, r: &Releases) -> Report {
    let target = target();
    let current = semver::Version::parse(VERSION).ok();
    let releases: Vec<Offer> = r
        .releases
        .iter()
        .filter(|x| x.target == target)
        .map(Offer::of)
        .collect();
    // The worker reports only versions that parsed as semver; releases come newest first.
    let newer = releases
        .iter()
        .find(|o| semver::Version::parse(&o.version).ok() > current)
        .cloned();
    Report {
        current: VERSION.into(),
        target,
        mirror: config.update.mirror.clone(),
        signing: Signing {
            root_version: r.root_version,
            list_version: r.targets_version,
            expires: r.targets_expires.clone(),
            threshold: r.threshold,
            keys: r.keys,
            signed_by: r
                .signers
                .iter()
                .map(|s| s.name.clone().unwrap_or_else(|| format!("key {}", s.keyid)))
                .collect(),
        },
        releases,
        newer,
    }
}

/// The root's bytes, bounded; the worker parses them.
fn root_bytes(config: &Config, home: &Home) -> Result<Vec<u8>, UpdateError> {
    if config.update.mirror.trim().is_empty() || config.update.root.as_os_str().is_empty() {
        return Err(UpdateError::NotConfigured);
    }
    let path = resolve_path(&config.update.root, home.root());
    let error = |reason: String| UpdateError::Root {
        path: path.clone(),
        reason,
    };
    let len = std::fs::metadata(&path).map_err(|e| error(e.to_string()))?.len();
    if len > MAX_ROOT {
        return Err(error(format!("it is {len} bytes, more than a root's {MAX_ROOT}")));
    }
    std::fs::read(&path).map_err(|e| error(e.to_string()))
}

/// Asks a network worker of its own to check the repository (and download `fetch`).
async fn ask(config: &Config, home: &Home, fetch: Option<String>) -> Result<Releases, UpdateError> {
    let request = Release {
        mirror: config.update.mirror.trim().to_owned(),
        root: root_bytes(config, home)?,
        fetch,
    };
    let (supervisor, net) = alone::start_net(config, home).await.map_err(UpdateError::Worker)?;
    let reply = net.call(request).await;
    let reply = match reply {
        Ok(r) => Ok(r),
        Err(CallError::Lost(_)) => Err(UpdateError::Worker(alone::lost(&net).await)),
        Err(CallError::Worker(_, e)) if matches!(e.kind, ErrorKind::Refused | ErrorKind::NotFound) => {
            Err(UpdateError::Refused(e.message))
        }
        Err(CallError::Worker(_, e)) => Err(UpdateError::Mirror(e.message)),
        Err(e) => Err(UpdateError::Worker(e.to_string())),
    };
    supervisor.shutdown().await;
    reply
}

/// `oarn update check`: what the repository offers, verified.
pub async fn check(config: &Config, home: &Home) -> Result<Report, UpdateError> {
    let releases = ask(config, home, None).await?;
    Ok(report(config, &releases))
}

/// What `oarn update apply` did.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Applied {
    /// Nothing newer is signed for this machine.
    UpToDate { report: Report },
    /// The operator did not say yes; nothing was downloaded or changed.
    Declined { report: Report, offer: Offer },
    /// The release was installed beside the others and made current.
    Installed {
        report: Report,
        offer: Offer,
        switched: Switched,
        /// Where it was installed.
        dir: PathBuf,
        /// Where the archive came from.
        from: Source,
        /// Why the running node's IPFS did not deliver it, when it was asked.
        ipfs_failed: Option<String>,
    },
}

/// `oarn update apply`: for the installation of `exe`, verifies the repository, picks
/// `version` (else the newest newer one), asks `consent`, then downloads, checks, unpacks and
/// switches. Refused before any network access when `exe` is not an installation it manages.
pub async fn apply(
    config: &Config,
    home: &Home,
    exe: &Path,
    version: Option<&str>,
    consent: impl FnOnce(&Report, &Offer) -> bool,
) -> Result<Applied, UpdateError> {
    let layout = Layout::of(exe)?;
    let report = check(config, home).await?;
    let offer = match version {
        Some(v) => report
            .releases
            .iter()
            .find(|o| o.version == v)
            .cloned()
            .ok_or_else(|| UpdateError::NoSuchRelease {
                version: v.into(),
                target: report.target.clone(),
            })?,
        None => match &report.newer {
            Some(o) => o.clone(),
            None => return Ok(Applied::UpToDate { report }),
        },
    };
    // What the worker reported names a directory and a file here: it must be what a release
    // of this target is called.
    if semver::Version::parse(&offer.version).is_err()
        || offer.name != format!("oarn-{}-{}.tar.gz", offer.version, report.target)
    {
        return Err(UpdateError::Refused(format!(
            "the network worker named release {:?} as version {:?}, which is not a release's name",
            offer.name, offer.version
        )));
    }
    if layout.pointed("current")?.as_deref() == Some(offer.version.as_str()) {
        return Err(LayoutError::Current(offer.version).into());
    }
    if !consent(&report, &offer) {
        return Ok(Applied::Declined { report, offer });
    }
    let staged = home.root().join("downloads").join(&offer.name);
    let ipfs = from_ipfs(home, &offer).await;
    let from = if ipfs == Ok(true) {
        Source::Ipfs
    } else {
        from_mirror(config, home, &offer).await?;
        Source::Mirror
    };
    let result = install(&layout, &offer, &staged);
    let _ = std::fs::remove_file(&staged);
    let dir = result?;
    let switched = layout.switch_to(&offer.version)?;
    Ok(Applied::Installed {
        report,
        offer,
        switched,
        dir,
        from,
        ipfs_failed: ipfs.err(),
    })
}

/// Where an archive came from; either way the supervisor hashes it against the signed sha256.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// The running node's IPFS, by the release's signed CID (verified block by block).
    Ipfs,
    /// The mirror, through a network worker of its own.
    Mirror,
}

/// How long the running node may look for the archive's blocks before the mirror is used.
const IPFS_WAIT: u64 = 120;

/// Fetches the archive by its signed CID through the running node into the staging directory:
/// `Ok(false)` without a CID or a running node, `Err` (why) when the node could not get it.
async fn from_ipfs(home: &Home, offer: &Offer) -> Result<bool, String> {
    let Some(cid) = offer.cid.clone() else {
        return Ok(false);
    };
    let params = oarn_api::ipfs::Fetch {
        cid: cid.clone(),
        file: offer.name.clone(),
        timeout_secs: IPFS_WAIT,
        progress: false,
    };
    let client = oarn_api::Client::new(home.socket());
    let wait = std::time::Duration::from_secs(IPFS_WAIT + 15);
    match tokio::task::spawn_blocking(move || client.call(&params, wait)).await {
        Ok(Ok(_)) => Ok(true),
        Ok(Err(oarn_api::ClientError::NotRunning { .. })) => Ok(false),
        Ok(Err(e)) => Err(format!("the running node could not fetch {cid}: {e}")),
        Err(e) => Err(e.to_string()),
    }
}

/// Has a network worker re-check the repository and download the archive from the mirror;
/// the list must still say what the operator was shown.
async fn from_mirror(config: &Config, home: &Home, offer: &Offer) -> Result<(), UpdateError> {
    let releases = ask(config, home, Some(offer.name.clone())).await?;
    let changed = || UpdateError::Changed {
        name: offer.name.clone(),
    };
    let now = releases
        .releases
        .iter()
        .find(|r| r.name == offer.name)
        .ok_or_else(changed)?;
    if Offer::of(now) != *offer {
        return Err(changed());
    }
    Ok(())
}

/// Checks the staged archive against the offer by hashing it here, and unpacks it as
/// `versions/VERSION` (replacing an earlier unpacking of the same version, which is not current).
fn install(layout: &Layout, offer: &Offer, staged: &Path) -> Result<PathBuf, UpdateError> {
    let read = |e: std::io::Error| UpdateError::Worker(format!("the staged {} cannot be read: {e}", staged.display()));
    let mut file = std::fs::File::open(staged).map_err(read)?;
    let mut hasher = Sha256::new();
    let size = std::io::copy(&mut file, &mut hasher).map_err(read)?;
    let got = hex::encode(hasher.finalize());
    if got != offer.sha256 || size != offer.size {
        return Err(UpdateError::Digest {
            name: offer.name.clone(),
            got,
        });
    }
    let dir = layout.version_dir(&offer.version);
    let partial = layout
        .prefix
        .join("versions")
        .join(format!(".{}.partial", offer.version));
    let _ = std::fs::remove_dir_all(&partial);
    let top = offer.name.trim_end_matches(".tar.gz");
    archive::unpack(staged, top, &partial)?;
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| LayoutError::Io { path, source }
    };
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(io(&dir))?;
    }
    std::fs::rename(&partial, &dir).map_err(io(&dir))?;
    Ok(dir)
}

/// `oarn update rollback`: makes the previous version current again.
pub fn rollback(exe: &Path) -> Result<Switched, UpdateError> {
    Ok(Layout::of(exe)?.rollback()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_target_names_this_machine_as_release_archives_do() {
        let t = target();
        assert!(t.starts_with(std::env::consts::ARCH), "{t}");
        assert!(t.contains("-linux-") || t.ends_with("-darwin"), "{t}");
    }
}
