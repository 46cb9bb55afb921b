//! What a release of oarn is, read from the signed targets. A release artefact is a target
//! named `oarn-VERSION-TARGET.tar.gz` (TARGET being a Rust target triple) whose signed
//! `custom` object says the same `version` and `target`, and may carry the archive's `cid` on
//! IPFS and its `changelog`. Name and fields are both signed, and a target whose two disagree
//! is refused rather than guessed at: a maintainer's slip is caught before any node installs
//! it. Targets not named `oarn-…` (checksums, signatures of other tools) are not releases.

use semver::Version;
use tough::schema::Target;

use crate::Error;

/// One signed release artefact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    pub version: Version,
    /// The Rust target triple it runs on, e.g. `x86_64-unknown-linux-gnu`.
    pub target: String,
    /// Its name in the repository.
    pub name: String,
    pub sha256: [u8; 32],
    pub length: u64,
    /// The archive's CID, for fetching it over IPFS.
    pub cid: Option<String>,
    pub changelog: String,
}

/// Every release among `targets`, newest first (then by target triple).
pub fn releases<'a>(targets: impl Iterator<Item = (&'a str, &'a Target)>) -> Result<Vec<Release>, Error> {
    let mut out = Vec::new();
    for (name, target) in targets {
        if let Some(r) = read(name, target)? {
            out.push(r);
        }
    }
    out.sort_by(|a, b| b.version.cmp(&a.version).then_with(|| a.target.cmp(&b.target)));
    Ok(out)
}

/// The newest release for `target` newer than `current`, if any.
pub fn newer<'a>(releases: &'a [Release], target: &str, current: &Version) -> Option<&'a Release> {
    releases.iter().find(|r| r.target == target && r.version > *current)
}

/// The release a target describes, `None` for a target that is not a release of oarn.
fn read(name: &str, target: &Target) -> Result<Option<Release>, Error> {
    let Some(rest) = name.strip_prefix("oarn-").and_then(|r| r.strip_suffix(".tar.gz")) else {
        return Ok(None);
    };
    let malformed = |reason: String| Error::Malformed {
        name: name.to_owned(),
        reason,
    };
    let field = |key: &str| target.custom.get(key).and_then(|v| v.as_str());
    let version = field("version").ok_or_else(|| malformed("its custom metadata has no version".into()))?;
    let triple = field("target").ok_or_else(|| malformed("its custom metadata has no target".into()))?;
    if rest != format!("{version}-{triple}") {
        return Err(malformed(format!(
            "its name says {rest}, its signed metadata says version {version} for {triple}"
        )));
    }
    let version = Version::parse(version).map_err(|e| malformed(format!("version {version}: {e}")))?;
    let sha256: [u8; 32] = target
        .hashes
        .sha256
        .as_ref()
        .try_into()
        .map_err(|_| malformed("its sha256 is not 32 bytes".into()))?;
    Ok(Some(Release {
        version,
        target: triple.to_owned(),
        name: name.to_owned(),
        sha256,
        length: target.length,
        cid: field("cid").map(str::to_owned),
        changelog: field("changelog").unwrap_or_default().to_owned(),
    }))
}
