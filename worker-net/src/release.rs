//! oarn's own releases for `oarn update`: the worker reads the release repository from the
//! operator's mirror, verifies it with [`oarn_update`] (TUF through tough: k-of-n maintainer
//! signatures, expiry, rollback against `{home}/update`, where tough keeps what it trusted) and
//! downloads a verified release archive into the staging directory, its signed length and
//! sha256 checked as it arrives. The mirror's bytes are parsed here, inside the sandbox; the
//! supervisor gets typed facts and hashes the archive itself.

use std::path::Path;

use oarn_protocol::net::{Downloaded, Release, ReleaseInfo, Releases, Signer};
use oarn_update::{Checked, Mirror, Trust};
use tough::{Transport, TransportError, TransportErrorKind, TransportStream};
use url::Url;

use crate::download::{CONNECT_TIMEOUT, READ_TIMEOUT, plain_name};

/// Why a release check or download failed.
#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    /// The request itself is unusable.
    #[error("{0}")]
    Invalid(String),
    /// The repository or the archive was refused, or could not be read.
    #[error(transparent)]
    Update(#[from] oarn_update::Error),
    /// The release asked for is not in the verified list.
    #[error("the release list the maintainers signed has no {0}")]
    Unknown(String),
}

/// Reads tough's files over HTTP(S) with the worker's own client settings.
///
/// tough's `http` feature brings another TLS verifier stack and retry policy; this transport
/// keeps the worker on the one reqwest client configuration its downloads use (the same
/// timeouts, CA files and user agent) and maps "not found" the way TUF needs it (a missing
/// next root version ends the root rotation, any other failure is an error).
#[derive(Debug, Clone)]
struct Http(reqwest::Client);

#[async_trait::async_trait]
impl Transport for Http {
    async fn fetch(&self, url: Url) -> Result<TransportStream, TransportError> {
        use futures::TryStreamExt;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(TransportError::new(TransportErrorKind::UnsupportedUrlScheme, url));
        }
        let response = self
            .0
            .get(url.clone())
            .send()
            .await
            .map_err(|e| TransportError::new_with_cause(TransportErrorKind::Other, url.clone(), e))?;
        let status = response.status();
        if matches!(status.as_u16(), 403 | 404 | 410) {
            return Err(TransportError::new(TransportErrorKind::FileNotFound, url));
        }
        if !status.is_success() {
            let e = std::io::Error::other(format!("HTTP {status}"));
            return Err(TransportError::new_with_cause(TransportErrorKind::Other, url, e));
        }
        let stream = response
            .bytes_stream()
            .map_err(move |e| TransportError::new_with_cause(TransportErrorKind::Other, url.clone(), e));
        Ok(Box::pin(stream))
    }
}

/// The mirror's metadata and targets URLs under its base URL.
fn mirror(base: &str) -> Result<Mirror, ReleaseError> {
    let invalid = |why: String| ReleaseError::Invalid(format!("update.mirror {base:?} {why}"));
    let mut url = Url::parse(base).map_err(|e| invalid(format!("is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("must be an http:// or https:// URL".into()));
    }
    if !url.path().ends_with('/') {
        url.set_path(&format!("{}/", url.path()));
    }
    let join = |sub: &str| url.join(sub).map_err(|e| invalid(e.to_string()));
    Ok(Mirror {
        metadata: join("metadata/")?,
        targets: join("targets/")?,
    })
}

/// Runs `request`: the check, then the download it asks for into `downloads`.
pub fn run(home: &Path, downloads: &Path, request: &Release) -> Result<Releases, ReleaseError> {
    let mirror = mirror(&request.mirror)?;
    if let Some(name) = &request.fetch
        && !plain_name(name)
    {
        return Err(ReleaseError::Invalid(format!("{name:?} is not a plain file name")));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ReleaseError::Invalid(format!("cannot start the async runtime: {e}")))?;
    let client = reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(READ_TIMEOUT)
        .user_agent(concat!("oarn/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| ReleaseError::Invalid(format!("cannot build the HTTP client: {e}")))?;
    let trust = Trust {
        root: request.root.clone(),
        state: home.join("update"),
    };
    runtime.block_on(async {
        let checked = oarn_update::check(&trust, &mirror, Http(client)).await?;
        let fetched = match &request.fetch {
            Some(name) => Some(fetch(&checked, name, downloads).await?),
            None => None,
        };
        Ok(releases(&checked, fetched))
    })
}

/// Downloads the release `name` into `dir`, verified against the signed list.
async fn fetch(checked: &Checked, name: &str, dir: &Path) -> Result<Downloaded, ReleaseError> {
    let release = checked
        .releases
        .iter()
        .find(|r| r.name == name)
        .ok_or_else(|| ReleaseError::Unknown(name.to_owned()))?;
    // tough checked the signed length and sha256 as the bytes arrived (and kept nothing on a
    // mismatch), so those are what the file holds; the supervisor hashes it again itself.
    oarn_update::fetch(checked, release, dir).await?;
    Ok(Downloaded {
        file: name.to_owned(),
        size: release.length,
        sha256: release.sha256,
        resumed_from: 0,
    })
}

/// The verified facts, as the protocol carries them.
fn releases(checked: &Checked, fetched: Option<Downloaded>) -> Releases {
    let s = &checked.signing;
    Releases {
        root_version: s.root_version,
        targets_version: s.targets_version,
        targets_expires: s.targets_expires.clone(),
        threshold: s.threshold,
        keys: u32::try_from(s.keys).unwrap_or(u32::MAX),
        signers: s
            .signers
            .iter()
            .map(|k| Signer {
                keyid: k.keyid.clone(),
                name: k.name.clone(),
            })
            .collect(),
        releases: checked
            .releases
            .iter()
            .map(|r| ReleaseInfo {
                version: r.version.to_string(),
                target: r.target.clone(),
                name: r.name.clone(),
                sha256: r.sha256,
                length: r.length,
                cid: r.cid.clone(),
                changelog: r.changelog.clone(),
            })
            .collect(),
        fetched,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mirror_base_url_gets_metadata_and_targets_under_it() {
        let m = mirror("https://releases.example/oarn").unwrap();
        assert_eq!(m.metadata.as_str(), "https://releases.example/oarn/metadata/");
        assert_eq!(m.targets.as_str(), "https://releases.example/oarn/targets/");
        let m = mirror("http://127.0.0.1:8080/").unwrap();
        assert_eq!(m.targets.as_str(), "http://127.0.0.1:8080/targets/");
    }

    #[test]
    fn a_mirror_that_is_no_http_url_is_refused_before_any_request() {
        for bad in ["file:///srv/oarn", "releases.example", ""] {
            let e = mirror(bad).unwrap_err().to_string();
            assert!(e.contains("update.mirror"), "{bad}: {e}");
        }
    }
}
