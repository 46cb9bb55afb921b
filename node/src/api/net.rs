//! The peer-to-peer side's methods: each asks the network worker, which answers
//! "Not connected" (-32000) when this node runs no swarm. What the worker reports was checked
//! there; here it is only reshaped for the API.

use std::time::Duration;

use oarn_api::net::{
    self as api, Announce, Banned, Bitswap, Claimers, Claims, Delivered, DhtGet, DhtPut, GetPeers, GetResults,
    GetTasks, Gossip, Peer, Peers, Published, Record, Results, SendResult, Sla, Stored, Streams, Tasks,
};
use oarn_api::rpc::Error;
use oarn_api::{Address, Hash32};
use oarn_protocol::WorkerKind;
use oarn_protocol::envelope::Call;
use oarn_protocol::net;

use super::errors;
use crate::state::Node;

/// Longest wait for a DHT query (the worker bounds its own at 10 s).
pub const DHT_WAIT: Duration = Duration::from_secs(20);
/// Longest wait for anything else.
pub const WAIT: Duration = Duration::from_secs(5);
/// Validators have this long to acknowledge, inside the worker.
const RESULT_WAIT: Duration = Duration::from_secs(10);

/// Calls the network worker, waiting at most `wait`.
pub async fn call<C: Call<Protocol = net::Protocol>>(
    node: &Node,
    request: C,
    wait: Duration,
) -> Result<C::Reply, Error> {
    let net = node
        .workers
        .net
        .as_ref()
        .ok_or_else(|| errors::absent(WorkerKind::Net))?;
    match tokio::time::timeout(wait, net.call(request)).await {
        Err(_) => Err(errors::too_slow(WorkerKind::Net, wait.as_secs())),
        Ok(reply) => reply.map_err(errors::call),
    }
}

pub async fn peers(node: &Node, _: GetPeers) -> Result<Peers, Error> {
    let s = call(node, net::GetStatus, WAIT).await?;
    let c = s.counters;
    Ok(Peers {
        peer_id: s.peer_id,
        listen: s.listen,
        peers: s
            .peers
            .into_iter()
            .map(|p| Peer {
                peer_id: p.peer_id,
                addresses: p.addresses,
                agent: p.agent,
                rtt_us: p.rtt_us,
                score: p.score,
                valid_messages: p.valid,
                invalid_messages: p.invalid,
                validator: p.validator,
                advertised: p.advertised,
            })
            .collect(),
        validators: s.validators,
        sla: Sla {
            results: s.sla.results,
            claim_to_result_p50_ms: s.sla.p50_ms,
            claim_to_result_p99_ms: s.sla.p99_ms,
            claim_to_result_max_ms: s.sla.max_ms,
        },
        banned: s
            .banned
            .into_iter()
            .map(|(peer_id, reason)| Banned { peer_id, reason })
            .collect(),
        gossip: Gossip {
            accepted: c.accepted,
            rejected: c.rejected,
            ignored: c.ignored,
            published: c.published,
            dropped_events: c.dropped_events,
            bytes_in: c.gossip_bytes_in,
            bytes_out: c.gossip_bytes_out,
        },
        streams: Streams {
            bytes_in: c.stream_bytes_in,
            bytes_out: c.stream_bytes_out,
        },
        bitswap: Bitswap {
            blocks_served: c.blocks_served,
            blocks_received: c.blocks_received,
            messages_dropped: c.bitswap_dropped,
            bytes_served: c.bitswap_bytes_served,
            bytes_received: c.bitswap_bytes_received,
        },
    })
}

/// The task announcements heard: those validators published first (the priority of
/// validator-routed mode), then the others, each oldest first.
pub async fn tasks(node: &Node, _: GetTasks) -> Result<Tasks, Error> {
    let view = node.p2p.read().unwrap_or_else(|e| e.into_inner());
    let (routed, others): (Vec<_>, Vec<_>) = view.recent.iter().partition(|h| h.routed);
    Ok(Tasks {
        tasks: routed.into_iter().chain(others).map(crate::p2p::heard).collect(),
    })
}

pub async fn announce(node: &Node, p: Announce) -> Result<Published, Error> {
    let a = net::Announcement {
        id: p.id,
        model_hash: p.model_hash.0,
        input_hash: p.input_hash.0,
        reward: p.reward,
        required_nodes: p.required_nodes,
        deadline: p.deadline,
    };
    let peers = call(node, net::Announce(a), WAIT).await?;
    Ok(Published {
        published: true,
        task: p.id,
        peers,
    })
}

pub async fn claims(node: &Node, p: Claims) -> Result<Claimers, Error> {
    let request = net::Claims {
        task_id: p.task_id.0,
        record: p.record.map(|a| a.0),
    };
    let c = call(node, request, DHT_WAIT).await?;
    Ok(Claimers {
        task_id: p.task_id.0,
        claimers: c.claimers.into_iter().map(Address).collect(),
        peers_asked: c.asked,
        peers_answered: c.answered,
    })
}

pub async fn send_result(node: &Node, p: SendResult) -> Result<Delivered, Error> {
    if p.cid.is_empty() || p.cid.len() > 128 {
        return Err(errors::invalid("cid must be the result's CID (e.g. bafkrei…)"));
    }
    let request = net::Notify {
        task_id: p.task_id.0,
        result_hash: p.result_hash.0,
        cid: p.cid,
        node: None,
        engine: String::new(),
    };
    let d = call(node, request, RESULT_WAIT).await?;
    Ok(Delivered {
        task_id: p.task_id.0,
        validators: d.validators,
        acknowledged: d.acknowledged,
        claim_to_result_ms: d.claim_to_result_ms,
    })
}

pub async fn results(node: &Node, _: GetResults) -> Result<Results, Error> {
    let view = node.p2p.read().unwrap_or_else(|e| e.into_inner());
    Ok(Results {
        results: view
            .results
            .iter()
            .map(|t| api::Told {
                task_id: t.task_id,
                result_hash: Hash32(t.result_hash),
                cid: t.cid.clone(),
                from: t.from.clone(),
                heard_at: t.at,
            })
            .collect(),
    })
}

pub async fn dht_put(node: &Node, p: DhtPut) -> Result<Stored, Error> {
    api::check_key(&p.key).map_err(errors::invalid)?;
    let request = net::PutRecord {
        key: p.key.clone(),
        value: p.value.into_bytes(),
    };
    call(node, request, DHT_WAIT).await?;
    Ok(Stored {
        stored: true,
        key: p.key,
    })
}

pub async fn dht_get(node: &Node, p: DhtGet) -> Result<Record, Error> {
    api::check_key(&p.key).map_err(errors::invalid)?;
    let value = call(node, net::GetRecord { key: p.key.clone() }, DHT_WAIT).await?;
    Ok(Record {
        found: value.is_some(),
        key: p.key,
        value: value.map(|v| String::from_utf8_lossy(&v).into_owned()),
    })
}
