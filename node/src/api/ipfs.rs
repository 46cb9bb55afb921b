//! Files on IPFS through the network worker. File contents travel as files in the node's
//! staging directory, where the worker may read and write; the API carries only names,
//! CIDs and hashes.

use std::time::Duration;

use oarn_api::Hash32;
use oarn_api::ipfs::{Add, Added, Collected, Fetch, Fetched, Gc, ListPins, Pin, Pinned, Pins, Progress, check_file};
use oarn_api::rpc::Error;
use oarn_protocol::WorkerKind;
use oarn_protocol::net;
use tokio::sync::{mpsc, oneshot};

use super::errors;
use super::net::{WAIT, call};
use crate::state::Node;

/// Longest wait for a file to be split and stored (a large model is many blocks).
const ADD_WAIT: Duration = Duration::from_secs(600);

pub async fn add(node: &Node, p: Add) -> Result<Added, Error> {
    check_file(&p.file).map_err(errors::invalid)?;
    let a = call(node, net::Add { file: p.file }, ADD_WAIT).await?;
    Ok(Added {
        cid: a.cid,
        hash: Hash32(a.hash),
    })
}

/// The worker's request for `p`, and how long the worker may take.
fn fetch_request(p: &Fetch) -> Result<(net::Fetch, Duration), Error> {
    check_file(&p.file).map_err(errors::invalid)?;
    let secs = p.timeout_secs.clamp(1, 600);
    let request = net::Fetch {
        cid: p.cid.clone(),
        file: p.file.clone(),
        timeout_secs: secs as u32,
    };
    Ok((request, Duration::from_secs(secs)))
}

fn fetched(f: net::Fetched) -> Fetched {
    Fetched {
        cid: f.cid,
        hash: Hash32(f.hash),
        size: f.size,
    }
}

pub async fn fetch(node: &Node, p: Fetch) -> Result<Fetched, Error> {
    let (request, wait) = fetch_request(&p)?;
    Ok(fetched(call(node, request, wait + WAIT).await?))
}

/// `oarn_ipfsFetch` with progress: [`Progress`] notes while it runs; `cancel` stops it in the
/// worker (the blocks it has are kept, so a new fetch resumes).
pub async fn fetch_streamed(
    node: &Node,
    p: Fetch,
    notes: mpsc::Sender<Progress>,
    cancel: oneshot::Receiver<()>,
) -> Result<Fetched, Error> {
    let (request, _) = fetch_request(&p)?;
    let worker = node
        .workers
        .net
        .clone()
        .ok_or_else(|| errors::absent(WorkerKind::Net))?;
    let (events, mut rx) = mpsc::channel(64);
    let call = worker.stream_cancellable(request, Some(events), async {
        let _ = cancel.await;
    });
    tokio::pin!(call);
    let forward = |event| {
        let notes = notes.clone();
        async move {
            if let net::Event::Progress(p) = event {
                let _ = notes
                    .send(Progress {
                        done: p.done,
                        total: p.total,
                    })
                    .await;
            }
        }
    };
    let reply = loop {
        tokio::select! {
            reply = &mut call => break reply,
            Some(event) = rx.recv() => forward(event).await,
        }
    };
    while let Ok(event) = rx.try_recv() {
        forward(event).await;
    }
    Ok(fetched(reply.map_err(errors::call)?))
}

pub async fn pin(node: &Node, p: Pin) -> Result<Pinned, Error> {
    call(
        node,
        net::Pin {
            cid: p.cid.clone(),
            pin: p.pin,
        },
        WAIT,
    )
    .await?;
    Ok(Pinned {
        cid: p.cid,
        pinned: p.pin,
    })
}

pub async fn pins(node: &Node, _: ListPins) -> Result<Pins, Error> {
    Ok(Pins {
        pins: call(node, net::ListPins, WAIT).await?,
    })
}

pub async fn gc(node: &Node, _: Gc) -> Result<Collected, Error> {
    let c = call(node, net::Collect { limit: 0 }, ADD_WAIT).await?;
    Ok(Collected {
        blocks_removed: c.blocks,
        bytes_freed: c.bytes,
        bytes_kept: c.kept,
    })
}
