//! Verifying oarn's releases before `oarn update` installs one.
//!
//! A release repository is TUF metadata: a root that names the maintainers' keys and how many
//! of them each role needs, a targets role listing every artefact with its length and sha256,
//! and the snapshot and timestamp roles that keep a mirror from mixing old and new files or
//! replaying stale ones. [`tough`] is the TUF client: it checks signature thresholds, expiry,
//! rollback against the state kept from the previous check, root rotation, and the length and
//! hashes of everything it fetches. This crate adds what oarn's releases are
//! ([`release::Release`]), who signed them ([`check::Signing`]) and errors that say what was
//! refused and why ([`Error`]).
//!
//! It reads a repository through any of tough's transports: a directory (a mirror copied by
//! hand, or what the network worker staged) or HTTP.

pub mod check;
#[cfg(feature = "publish")]
pub mod publish;
pub mod release;

use std::path::PathBuf;

pub use check::{Checked, Mirror, Signer, Signing, Trust, check, fetch};
pub use release::Release;

/// Why a release repository, or an artefact from it, was refused. Every variant but `Fetch`,
/// `Root` and `State` means the mirror served something the maintainers did not sign as it
/// is: nothing from it is installed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The trusted root cannot be read.
    #[error(
        "the trusted release root {path} cannot be read: {reason}. It names the maintainers' keys and ships with oarn; set update.root to it"
    )]
    Root { path: PathBuf, reason: String },
    /// The directory that keeps what the last check trusted cannot be used.
    #[error("the update state directory {path} cannot be used: {reason}")]
    State { path: PathBuf, reason: String },
    /// Too few of the keys the role needs signed it.
    #[error(
        "the {role} metadata is signed by {valid} of the {threshold} maintainers it needs: refused. The mirror serves metadata the maintainers did not sign"
    )]
    Threshold { role: String, threshold: u64, valid: u64 },
    /// A signature does not verify, or the metadata is not what the root describes.
    #[error("the {role} metadata does not verify against the trusted root: {reason}; refused")]
    Signature { role: String, reason: String },
    /// The metadata's expiry has passed.
    #[error(
        "the {role} metadata has expired: the mirror is stale, or replays old metadata; refused. Try another mirror, or check this machine's clock"
    )]
    Expired { role: String },
    /// Metadata older than what an earlier check trusted.
    #[error(
        "the mirror serves {role} metadata version {offered}, older than version {trusted} this node trusted before: a rollback; refused"
    )]
    Rollback { role: String, trusted: u64, offered: u64 },
    /// Bytes that do not match their signed length or sha256.
    #[error("{what} does not match its signed length and sha256: refused, and nothing of it kept")]
    Tampered { what: String },
    /// The mirror could not be read.
    #[error("the mirror could not be read at {url}: {reason}")]
    Fetch { url: String, reason: String },
    /// A signed target named as a release of oarn does not describe one.
    #[error("the signed target {name} is not a valid release of oarn: {reason}")]
    Malformed { name: String, reason: String },
    /// The repository is not one this client accepts, for a reason tough names.
    #[error("the release repository was refused: {0}")]
    Refused(String),
}

impl Error {
    /// Reads tough's error as one of ours: the cases an operator acts on differently get their
    /// own variant, the rest keep tough's words.
    fn from_tough(e: tough::error::Error) -> Self {
        use tough::error::Error as T;
        use tough::schema::Error as S;
        let signature = |role: String, source: &S| match source {
            S::SignatureThreshold { threshold, valid, .. } => Error::Threshold {
                role: role.clone(),
                threshold: *threshold,
                valid: *valid,
            },
            other => Error::Signature {
                role: role.clone(),
                reason: other.to_string(),
            },
        };
        match &e {
            T::ExpiredMetadata { role, .. } => Error::Expired { role: role.to_string() },
            T::OlderMetadata {
                role,
                current_version,
                new_version,
                ..
            } => Error::Rollback {
                role: role.to_string(),
                trusted: *current_version,
                offered: *new_version,
            },
            T::SnapshotRoleRollback {
                role,
                old_role_version,
                new_role_version,
                ..
            } => Error::Rollback {
                role: role.clone(),
                trusted: *old_role_version,
                offered: *new_role_version,
            },
            T::VerifyMetadata { role, source, .. } => signature(role.to_string(), source),
            T::VerifyRoleMetadata { role, source, .. } => signature(role.clone(), source),
            T::VerifyTrustedMetadata { source, .. } => signature("trusted root".into(), source),
            T::HashMismatch { .. } | T::MaxSizeExceeded { .. } => {
                Error::tampered(&e).unwrap_or_else(|| Error::Refused(e.to_string()))
            }
            // A download that turns out not to be what was signed ends as a transport error
            // whose cause is the mismatch.
            T::Transport { url, source, .. } => {
                let mut cause = std::error::Error::source(source);
                while let Some(c) = cause {
                    if let Some(t) = c.downcast_ref::<tough::error::Error>().and_then(Error::tampered) {
                        return t;
                    }
                    cause = c.source();
                }
                Error::Fetch {
                    url: url.to_string(),
                    reason: source.to_string(),
                }
            }
            _ => Error::Refused(e.to_string()),
        }
    }

    /// The error for bytes that are not what was signed, if `e` says so.
    fn tampered(e: &tough::error::Error) -> Option<Self> {
        use tough::error::Error as T;
        match e {
            T::HashMismatch { context, .. } => Some(Error::Tampered { what: context.clone() }),
            T::MaxSizeExceeded { specifier, .. } => Some(Error::Tampered {
                what: format!("a file larger than {specifier} allows"),
            }),
            _ => None,
        }
    }
}
