//! Fetching a file by CID into the staging directory: the root block, then the UnixFS DAG
//! under it level by level in bounded batches (blocks already stored are not asked for again,
//! so a fetch that stopped resumes), with progress; then the file assembled from the store,
//! every block having been verified against its CID on arrival.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cid::Cid;
use oarn_protocol::envelope::{ErrorKind, ErrorReply, Progress};
use oarn_protocol::net::Reply;

use crate::blocks::{self, Store};
use crate::node::{Command, Handle};
use crate::unixfs;

/// Blocks asked for in one batch (16 MiB of 256 KiB leaves).
pub const BATCH: usize = 64;
/// Batches in flight at once; `BATCH * LANES` stays below the engine's want limit.
pub const LANES: usize = 4;
/// With gateways configured, how long peers have to send a batch before the gateways are
/// asked.
pub const PEERS_FIRST: Duration = Duration::from_secs(5);
/// Extra wait for the swarm to answer, beyond the fetch's own deadline.
const SLACK: Duration = Duration::from_secs(5);

/// What a lane fetched: for each of its batches, the batch's index and the links under it.
type Found = Vec<(usize, Vec<Cid>)>;

fn invalid(e: impl std::fmt::Display) -> ErrorReply {
    ErrorReply::new(ErrorKind::InvalidRequest, e.to_string())
}

fn internal(e: impl std::fmt::Display) -> ErrorReply {
    ErrorReply::new(ErrorKind::Internal, e.to_string())
}

/// Gets `cids` into the store from peers, waiting until `deadline`.
fn want(swarm: &Handle, cids: &[Cid], deadline: Instant, need_peers: bool) -> Result<(), ErrorReply> {
    let wait = deadline.saturating_duration_since(Instant::now());
    if wait.is_zero() {
        return Err(ErrorReply::new(
            ErrorKind::DeadlineExceeded,
            "the fetch ran out of time",
        ));
    }
    let cids = cids.to_vec();
    swarm
        .call(
            |answer| Command::Want {
                cids,
                wait,
                need_peers,
                answer,
            },
            wait + SLACK,
        )
        .map(|_| ())
}

/// Gets `cids` into the store: from peers, and where gateways are configured, from them for
/// what peers do not send within [`PEERS_FIRST`].
fn get(swarm: &Handle, store: &Store, job: &Job, cids: &[Cid], deadline: Instant) -> Result<(), ErrorReply> {
    if job.gateways.is_empty() {
        return want(swarm, cids, deadline, false);
    }
    let peers_until = deadline.min(Instant::now() + PEERS_FIRST);
    if want(swarm, cids, peers_until, true).is_ok() {
        return Ok(());
    }
    for cid in cids.iter().filter(|c| !store.has(c)) {
        let wait = deadline.saturating_duration_since(Instant::now());
        crate::trustless::fetch(&job.gateways, store, cid, wait).map_err(|why| {
            ErrorReply::new(
                ErrorKind::NotFound,
                format!("no peer sent {cid}, and no gateway gave it: {why}"),
            )
        })?;
    }
    Ok(())
}

/// What to fetch, and where to.
#[derive(Debug, Clone)]
pub struct Job {
    /// CID text or 0x hash.
    pub cid: String,
    /// Plain file name in the staging directory.
    pub file: String,
    /// How long the whole fetch may take.
    pub wait: Duration,
    /// Trustless gateways for blocks peers do not send (empty: peers only).
    pub gateways: Vec<String>,
}

/// Fetches `job.cid` into `staging/job.file`, reporting to `progress` the bytes of file data
/// fetched against the file's size; `cancelled` is asked between batches.
pub fn run(
    swarm: &Handle,
    store: &Store,
    staging: &Path,
    job: &Job,
    progress: &(dyn Fn(Progress) + Sync),
    cancelled: &(dyn Fn() -> bool + Sync),
) -> Result<Reply, ErrorReply> {
    let (cid, file, wait) = (job.cid.as_str(), job.file.as_str(), job.wait);
    if !crate::download::plain_name(file) {
        return Err(invalid(format!("{file:?} is not a plain file name")));
    }
    let root = blocks::parse(cid).map_err(invalid)?;
    let deadline = Instant::now() + wait;
    get(swarm, store, job, &[root], deadline)?;
    let top = unixfs::stored(store, &root).map_err(invalid)?;
    let total = top.filesize.unwrap_or(0);
    let done = top.data.len() as u64;
    progress(Progress { done, total });
    let done = AtomicU64::new(done);
    let mut level = top.links;
    let mut depth = 0;
    while !level.is_empty() {
        depth += 1;
        if depth > unixfs::MAX_DEPTH {
            return Err(invalid(unixfs::Error::TooLarge(root.to_string())));
        }
        let batches: Vec<&[Cid]> = level.chunks(BATCH).collect();
        // Each lane fetches every LANES-th batch, so LANES batches are in flight at once
        // and the peers never wait for us to ask for more.
        let lane = |first: usize| -> Result<Found, ErrorReply> {
            let mut found = Vec::new();
            for (i, batch) in batches.iter().enumerate().skip(first).step_by(LANES) {
                if cancelled() {
                    return Err(ErrorReply::new(
                        ErrorKind::Cancelled,
                        "the fetch was cancelled; the blocks fetched so far are kept",
                    ));
                }
                get(swarm, store, job, batch, deadline)?;
                let mut links = Vec::new();
                for cid in *batch {
                    let bytes = if cid.codec() == blocks::RAW {
                        store.size(cid).map_err(invalid)?
                    } else {
                        let node = unixfs::stored(store, cid).map_err(invalid)?;
                        links.extend(node.links);
                        node.data.len() as u64
                    };
                    let now = done.fetch_add(bytes, Ordering::Relaxed) + bytes;
                    if cid == batch.last().unwrap_or(cid) {
                        progress(Progress { done: now, total });
                    }
                }
                found.push((i, links));
            }
            Ok(found)
        };
        let lanes: Vec<Result<Found, ErrorReply>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..LANES.min(batches.len()))
                .map(|l| s.spawn(move || lane(l)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Err(internal("a fetch lane panicked"))))
                .collect()
        });
        let mut found = Vec::new();
        for l in lanes {
            found.extend(l?);
        }
        found.sort_by_key(|(i, _)| *i);
        level = found.into_iter().flat_map(|(_, links)| links).collect();
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
        Ok((size, hash)) => Ok(Reply::Fetched(oarn_protocol::net::Fetched {
            cid: root.to_string(),
            hash,
            size,
        })),
        Err(e) => {
            let _ = std::fs::remove_file(&path);
            Err(invalid(e))
        }
    }
}
