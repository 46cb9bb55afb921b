//! Files on IPFS through the node: `oarn_ipfsAdd`, `oarn_ipfsFetch` (streams `oarn_progress`
//! when asked), `oarn_ipfsPin`, `oarn_ipfsPins`, `oarn_ipfsGc`. File contents travel as files
//! in the node's staging directory (`~/.oarn/downloads`), named here, never through the API.

use serde::{Deserialize, Serialize};

use crate::{Hash32, Streaming, method};

/// A file name in the node's staging directory: no path, not hidden.
pub fn check_file(file: &str) -> Result<(), String> {
    if file.is_empty() || file.contains('/') || file.starts_with('.') {
        return Err("file must name a file in the node's downloads directory".into());
    }
    Ok(())
}

/// `oarn_ipfsAdd`: store a staged file (one raw block, or a UnixFS DAG when larger than a MiB)
/// and pin it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Add {
    /// A file name in the node's staging directory (`{home}/downloads`); `oarn ipfs add` copies
    /// the file there first.
    pub file: String,
}
method!(Add, "oarn_ipfsAdd", Added);

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Added {
    /// The file's CID (CIDv1): a raw block up to 1 MiB, else a UnixFS DAG of 256 KiB leaves.
    pub cid: String,
    /// The file's sha256 (for one raw block, the bytes32 the chain takes).
    pub hash: Hash32,
}

/// `oarn_ipfsFetch`: fetch a file (a CID, or a 0x hash as the chain stores it) into a staged
/// file, every block checked against its CID.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fetch {
    /// A CID, or a 0x-prefixed 32-byte hash as the chain stores a single raw block's.
    pub cid: String,
    /// The file name to write in the node's staging directory (`{home}/downloads`).
    pub file: String,
    /// Seconds to wait for a peer that has it (1 to 600; default 60).
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// Stream `oarn_progress` notifications.
    #[serde(default)]
    pub progress: bool,
}

fn default_timeout() -> u64 {
    60
}

method!(Fetch, "oarn_ipfsFetch", Fetched);

impl Streaming for Fetch {
    const NOTE: &'static str = "oarn_progress";
    type Note = Progress;
    fn streams(&self) -> bool {
        self.progress
    }
}

/// Bytes fetched so far, of the total when known (0 when not yet).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Progress {
    /// Bytes fetched and verified.
    pub done: u64,
    /// The file's size, once the root block says it; 0 before.
    pub total: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Fetched {
    /// The file's CID (a 0x hash asked for comes back as its raw-block CID).
    pub cid: String,
    /// The file's sha256.
    pub hash: Hash32,
    /// The file's size in bytes.
    pub size: u64,
}

/// `oarn_ipfsPin`: pin (the default) or unpin a file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pin {
    /// The file's CID.
    pub cid: String,
    /// True pins (its blocks survive collection), false unpins.
    #[serde(default = "pin_default")]
    pub pin: bool,
}

fn pin_default() -> bool {
    true
}

method!(Pin, "oarn_ipfsPin", Pinned);

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pinned {
    /// The file's CID.
    pub cid: String,
    /// Whether it is pinned now.
    pub pinned: bool,
}

/// `oarn_ipfsPins`: the pinned files.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ListPins {}
method!(ListPins, "oarn_ipfsPins", Pins);

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Pins {
    /// The CIDs of the pinned files.
    pub pins: Vec<String>,
}

/// `oarn_ipfsGc`: remove every unpinned block but the most recent.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Gc {}
method!(Gc, "oarn_ipfsGc", Collected);

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Collected {
    /// Unpinned blocks removed.
    pub blocks_removed: u64,
    /// Bytes those blocks held.
    pub bytes_freed: u64,
    /// Bytes the store still holds (pinned blocks and the most recent unpinned ones).
    pub bytes_kept: u64,
}
