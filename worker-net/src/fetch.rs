//! Fetching a file by CID into the staging directory: the root block, then the UnixFS DAG
//! under it level by level in bounded batches (blocks already stored are not asked for again,
//! so a fetch that stopped resumes), with progress; then the file assembled from the store,
//! every block having been verified against its CID on arrival.

use std::path::Path;
use std::time::{Duration, Instant};

use cid::Cid;
use oarn_protocol::envelope::{ErrorKind, ErrorReply, Progress};
use oarn_protocol::net::{Event, Protocol, Reply};
use oarn_protocol::serve::Responder;

use crate::blocks::{self, Store};
use crate::node::{Command, Handle};
use crate::unixfs;

/// Blocks asked for in one batch (64 MiB of 256 KiB leaves); below the engine's want limit.
pub const BATCH: usize = 256;
/// Extra wait for the swarm to answer, beyond the fetch's own deadline.
const SLACK: Duration = Duration::from_secs(5);

fn invalid(e: impl std::fmt::Display) -> ErrorReply {
    ErrorReply::new(ErrorKind::InvalidRequest, e.to_string())
}

fn internal(e: impl std::fmt::Display) -> ErrorReply {
    ErrorReply::new(ErrorKind::Internal, e.to_string())
}

/// Gets `cids` into the store, waiting until `deadline`.
fn want(swarm: &Handle, cids: &[Cid], deadline: Instant) -> Result<(), ErrorReply> {
    let wait = deadline.saturating_duration_since(Instant::now());
    if wait.is_zero() {
        return Err(ErrorReply::new(
            ErrorKind::DeadlineExceeded,
            "the fetch ran out of time",
        ));
    }
    let cids = cids.to_vec();
    swarm
        .call(|answer| Command::Want { cids, wait, answer }, wait + SLACK)
        .map(|_| ())
}

/// Fetches `cid` (text or 0x hash) into `staging/file` within `wait`, streaming to
/// `responder` the bytes of file data fetched against the file's size; a cancel is seen
/// between batches.
pub fn run(
    swarm: &Handle,
    store: &Store,
    staging: &Path,
    cid: &str,
    file: &str,
    wait: Duration,
    responder: &Responder<Protocol>,
) -> Result<Reply, ErrorReply> {
    let progress = |p: Progress| {
        let _ = responder.emit(Event::Progress(p));
    };
    if !crate::download::plain_name(file) {
        return Err(invalid(format!("{file:?} is not a plain file name")));
    }
    let root = blocks::parse(cid).map_err(invalid)?;
    let deadline = Instant::now() + wait;
    want(swarm, &[root], deadline)?;
    let top = unixfs::stored(store, &root).map_err(invalid)?;
    let total = top.filesize.unwrap_or(0);
    let mut done = top.data.len() as u64;
    progress(Progress { done, total });
    let mut level = top.links;
    let mut depth = 0;
    while !level.is_empty() {
        depth += 1;
        if depth > unixfs::MAX_DEPTH {
            return Err(invalid(unixfs::Error::TooLarge(root.to_string())));
        }
        let mut next = Vec::new();
        for batch in level.chunks(BATCH) {
            if responder.cancelled() {
                return Err(ErrorReply::new(
                    ErrorKind::Cancelled,
                    "the fetch was cancelled; the blocks fetched so far are kept",
                ));
            }
            want(swarm, batch, deadline)?;
            for cid in batch {
                let node = unixfs::stored(store, cid).map_err(invalid)?;
                done += node.data.len() as u64;
                next.extend(node.links);
            }
            progress(Progress { done, total });
        }
        level = next;
    }
    let path = staging.join(file);
    let mut out = std::io::BufWriter::new(
        std::fs::File::create(&path).map_err(|e| internal(format!("{}: {e}", path.display())))?,
    );
    let assembled = unixfs::assemble(store, &root, &mut out).and_then(|r| {
        use std::io::Write;
        out.flush().map_err(|source| unixfs::Error::Io {
            what: path.display().to_string(),
            source,
        })?;
        Ok(r)
    });
    match assembled {
        Ok((size, hash)) => Ok(Reply::Fetched {
            cid: root.to_string(),
            hash,
            size,
        }),
        Err(e) => {
            let _ = std::fs::remove_file(&path);
            Err(invalid(e))
        }
    }
}
