//! A Kubo RPC client for operators who run their own IPFS daemon (`storage.ipfs_api`): files
//! are added to it (pinned, CIDv1 with raw leaves, so a small file's CID is the network's
//! bytes32 form) and read from it with `cat`, in place of the node's own store. Bytes read
//! under a raw CID are checked against its digest; a multi-block file read this way is as
//! trustworthy as the operator's own daemon.

use std::path::Path;
use std::time::Duration;

use futures::StreamExt;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::blocks::{self, RAW};

/// Longest wait to connect to the daemon.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest file read back.
const MAX_FILE: u64 = crate::unixfs::MAX_FILE;

/// Why the daemon could not be used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Not an http(s) URL.
    #[error("storage.ipfs_api {0:?} is not an http:// or https:// URL")]
    BadUrl(String),
    /// The request failed or the daemon refused it.
    #[error("the IPFS daemon at {api}: {detail}")]
    Daemon { api: String, detail: String },
    /// The daemon sent bytes that do not match the raw CID asked for.
    #[error("the IPFS daemon at {0} sent bytes that do not match {1}; nothing was kept")]
    Mismatch(String, String),
    /// A local file failed.
    #[error("{0}")]
    Io(String),
}

/// What was added.
#[derive(Debug, Clone)]
pub struct Added {
    pub cid: String,
    /// The file's sha256.
    pub hash: [u8; 32],
}

fn base(api: &str) -> Result<String, Error> {
    if !(api.starts_with("http://") || api.starts_with("https://")) {
        return Err(Error::BadUrl(api.into()));
    }
    Ok(api.trim_end_matches('/').to_string())
}

fn block_on<T>(work: impl Future<Output = Result<T, Error>>) -> Result<T, Error> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Io(format!("cannot start the async runtime: {e}")))?
        .block_on(work)
}

fn client(wait: Duration) -> Result<reqwest::Client, Error> {
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(wait)
        .user_agent(concat!("oarn/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Error::Io(e.to_string()))
}

/// Adds the file at `path` to the daemon at `api`, pinned.
pub fn add(api: &str, path: &Path, wait: Duration) -> Result<Added, Error> {
    let base = base(api)?;
    let daemon = |detail: String| Error::Daemon {
        api: base.clone(),
        detail,
    };
    let mut hasher = Sha256::new();
    let mut f = std::fs::File::open(path).map_err(|e| Error::Io(format!("{}: {e}", path.display())))?;
    std::io::copy(&mut f, &mut hasher).map_err(|e| Error::Io(format!("{}: {e}", path.display())))?;
    let hash: [u8; 32] = hasher.finalize().into();
    block_on(async {
        let file = tokio::fs::File::open(path)
            .await
            .map_err(|e| Error::Io(format!("{}: {e}", path.display())))?;
        let len = file.metadata().await.map_err(|e| Error::Io(e.to_string()))?.len();
        let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::new(file));
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::stream_with_length(body, len).file_name(name),
        );
        let url = format!("{base}/api/v0/add?pin=true&cid-version=1&raw-leaves=true");
        let response = client(wait)?
            .post(url)
            .multipart(form)
            .send()
            .await
            .map_err(|e| daemon(e.to_string()))?;
        let status = response.status();
        let text = response.text().await.map_err(|e| daemon(e.to_string()))?;
        if !status.is_success() {
            return Err(daemon(format!(
                "{status}: {}",
                text.chars().take(300).collect::<String>()
            )));
        }
        // Kubo may stream progress lines; the last names the file.
        let last: serde_json::Value = text
            .lines()
            .rev()
            .find_map(|l| serde_json::from_str(l).ok())
            .ok_or_else(|| daemon("the answer is not JSON".into()))?;
        let cid = last["Hash"]
            .as_str()
            .ok_or_else(|| daemon("the answer has no Hash".into()))?;
        let cid = blocks::parse(cid).map_err(|e| daemon(e.to_string()))?;
        Ok(Added {
            cid: cid.to_string(),
            hash,
        })
    })
}

/// Reads `cid` from the daemon at `api` into `out`; returns the size and sha256.
pub fn cat(api: &str, cid: &str, out: &Path, wait: Duration) -> Result<(u64, [u8; 32]), Error> {
    let base = base(api)?;
    let daemon = |detail: String| Error::Daemon {
        api: base.clone(),
        detail,
    };
    let parsed = blocks::parse(cid).map_err(|e| Error::Io(e.to_string()))?;
    let result = block_on(async {
        let url = format!("{base}/api/v0/cat?arg={parsed}");
        let response = client(wait)?
            .post(url)
            .send()
            .await
            .map_err(|e| daemon(e.to_string()))?;
        let status = response.status();
        if !status.is_success() {
            let text = response.text().await.unwrap_or_default();
            return Err(daemon(format!(
                "{status}: {}",
                text.chars().take(300).collect::<String>()
            )));
        }
        let mut file = tokio::fs::File::create(out)
            .await
            .map_err(|e| Error::Io(format!("{}: {e}", out.display())))?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut body = response.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| daemon(e.to_string()))?;
            size += chunk.len() as u64;
            if size > MAX_FILE {
                return Err(daemon(format!("the file is larger than {MAX_FILE} bytes")));
            }
            hasher.update(&chunk);
            file.write_all(&chunk).await.map_err(|e| Error::Io(e.to_string()))?;
        }
        file.flush().await.map_err(|e| Error::Io(e.to_string()))?;
        let hash: [u8; 32] = hasher.finalize().into();
        if parsed.codec() == RAW && blocks::hash_of_cid(&parsed).ok() != Some(hash) {
            return Err(Error::Mismatch(base.clone(), parsed.to_string()));
        }
        Ok((size, hash))
    });
    if result.is_err() {
        let _ = std::fs::remove_file(out);
    }
    result
}
