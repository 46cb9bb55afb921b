//! The API methods of the peer-to-peer side: `oarn_peers`, `oarn_tasks` (announcements heard),
//! `oarn_announceTask`, `oarn_dhtPut`, `oarn_dhtGet`, `oarn_ipfsAdd`, `oarn_ipfsFetch`,
//! `oarn_ipfsPin`, `oarn_ipfsPins`, `oarn_ipfsGc` and `oarn_claims`. Each
//! asks the network worker, and answers "Not connected" (-32000) when this node runs no swarm.
//! Block contents travel as files in the node's staging directory, never through the API.

use std::time::Duration;

use oarn_protocol::envelope::ErrorKind;
use oarn_protocol::net::{self, Announcement, Reply, Request};
use serde_json::{Value, json};

use crate::p2p;
use oarn_api::rpc::{self, Error};
use oarn_supervise::{CallError, Handle};

/// Longest wait for a DHT query (the worker bounds its own at 10 s).
const DHT_WAIT: Duration = Duration::from_secs(20);
/// Longest wait for anything else.
const WAIT: Duration = Duration::from_secs(5);
/// Longest wait for a file to be split and stored (a large model is many blocks).
const ADD_WAIT: Duration = Duration::from_secs(600);

pub fn not_connected(reason: impl Into<String>) -> Error {
    Error::new(rpc::NOT_CONNECTED, "Not connected").with_data(json!({ "reason": reason.into() }))
}

pub fn invalid(message: impl Into<String>) -> Error {
    Error::new(rpc::INVALID_PARAMS, message)
}

/// Sends `request` to the network worker.
pub async fn call(net: Option<&Handle<net::Protocol>>, request: Request, wait: Duration) -> Result<Reply, Error> {
    let net = net.ok_or_else(|| not_connected("this node runs no network worker (network.mode = \"local\")"))?;
    match tokio::time::timeout(wait, net.call(request, None)).await {
        Err(_) => Err(Error::new(
            rpc::INTERNAL_ERROR,
            format!("the network worker did not answer within {} s", wait.as_secs()),
        )),
        Ok(Ok(reply)) => Ok(reply),
        Ok(Err(CallError::Worker(_, e))) => Err(match e.kind {
            ErrorKind::InvalidRequest => invalid(e.message),
            ErrorKind::NotFound => not_connected(e.message),
            _ => Error::new(rpc::INTERNAL_ERROR, e.message),
        }),
        Ok(Err(e)) => Err(not_connected(e.to_string())),
    }
}

pub fn unexpected(reply: Reply) -> Error {
    Error::new(
        rpc::INTERNAL_ERROR,
        format!("unexpected answer from the network worker: {reply:?}"),
    )
}

/// `oarn_peers`: our identity, listen addresses, peers, bans and gossip counters.
pub async fn peers(net: Option<&Handle<net::Protocol>>) -> Result<Value, Error> {
    match call(net, Request::Status, WAIT).await? {
        Reply::Status(s) => Ok(json!({
            "peer_id": s.peer_id,
            "listen": s.listen,
            "peers": s.peers.iter().map(|p| json!({
                "peer_id": p.peer_id,
                "addresses": p.addresses,
                "agent": p.agent,
                "rtt_us": p.rtt_us,
                "score": p.score,
                "valid_messages": p.valid,
                "invalid_messages": p.invalid,
                "validator": p.validator,
            })).collect::<Vec<_>>(),
            "validators": s.validators,
            "sla": {
                "results": s.sla.results,
                "claim_to_result_p50_ms": s.sla.p50_ms,
                "claim_to_result_p99_ms": s.sla.p99_ms,
                "claim_to_result_max_ms": s.sla.max_ms,
            },
            "banned": s.banned.iter().map(|(p, why)| json!({"peer_id": p, "reason": why})).collect::<Vec<_>>(),
            "gossip": {
                "accepted": s.counters.accepted,
                "rejected": s.counters.rejected,
                "ignored": s.counters.ignored,
                "published": s.counters.published,
                "dropped_events": s.counters.dropped_events,
                "bytes_in": s.counters.gossip_bytes_in,
                "bytes_out": s.counters.gossip_bytes_out,
            },
            "streams": {
                "bytes_in": s.counters.stream_bytes_in,
                "bytes_out": s.counters.stream_bytes_out,
            },
            "bitswap": {
                "blocks_served": s.counters.blocks_served,
                "blocks_received": s.counters.blocks_received,
                "messages_dropped": s.counters.bitswap_dropped,
                "bytes_served": s.counters.bitswap_bytes_served,
                "bytes_received": s.counters.bitswap_bytes_received,
            },
        })),
        other => Err(unexpected(other)),
    }
}

/// `oarn_tasks`: the task announcements heard: those validators published first (the
/// priority of validator-routed mode), then the others, each oldest first.
pub fn tasks(shared: &p2p::Shared) -> Value {
    let view = shared.read().unwrap_or_else(|e| e.into_inner());
    let (routed, others): (Vec<&p2p::Heard>, Vec<&p2p::Heard>) = view.recent.iter().partition(|h| h.routed);
    let tasks: Vec<Value> = routed.into_iter().chain(others).map(p2p::heard_json).collect();
    json!({ "tasks": tasks })
}

fn hash(params: &Value, key: &str) -> Result<[u8; 32], Error> {
    params
        .get(key)
        .and_then(Value::as_str)
        .and_then(p2p::parse_hash)
        .ok_or_else(|| invalid(format!("{key} must be 0x followed by 64 hex digits")))
}

fn number(params: &Value, key: &str) -> Result<u64, Error> {
    params
        .get(key)
        .and_then(Value::as_u64)
        .ok_or_else(|| invalid(format!("{key} must be a non-negative whole number")))
}

/// `oarn_announceTask`: publishes an announcement in the live format.
pub async fn announce(net: Option<&Handle<net::Protocol>>, params: &Value) -> Result<Value, Error> {
    let a = Announcement {
        id: number(params, "id")?,
        model_hash: hash(params, "model_hash")?,
        input_hash: hash(params, "input_hash")?,
        reward: number(params, "reward")?,
        required_nodes: u32::try_from(number(params, "required_nodes")?)
            .map_err(|_| invalid("required_nodes is out of range; use 3 to 100"))?,
        deadline: number(params, "deadline")?,
    };
    match call(net, Request::Announce(a), WAIT).await? {
        Reply::Published { peers } => Ok(json!({ "published": true, "task": a.id, "peers": peers })),
        other => Err(unexpected(other)),
    }
}

fn key(params: &Value) -> Result<String, Error> {
    match params.get("key").and_then(Value::as_str) {
        Some(k) if !k.is_empty() && k.len() <= 256 => Ok(k.to_string()),
        _ => Err(invalid("key must be a string of 1 to 256 bytes, e.g. /oarn/bootstrap")),
    }
}

/// `oarn_dhtPut`: stores a text record in the DHT.
pub async fn dht_put(net: Option<&Handle<net::Protocol>>, params: &Value) -> Result<Value, Error> {
    let key = key(params)?;
    let value = params
        .get("value")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("value must be a string"))?
        .as_bytes()
        .to_vec();
    match call(
        net,
        Request::PutRecord {
            key: key.clone(),
            value,
        },
        DHT_WAIT,
    )
    .await?
    {
        Reply::Done => Ok(json!({ "stored": true, "key": key })),
        other => Err(unexpected(other)),
    }
}

fn staging_file(params: &Value) -> Result<String, Error> {
    params
        .get("file")
        .and_then(Value::as_str)
        .filter(|f| !f.is_empty() && !f.contains('/') && !f.starts_with('.'))
        .map(String::from)
        .ok_or_else(|| invalid("file must name a file in the node's downloads directory"))
}

/// `oarn_ipfsAdd`: stores a staged file (one raw block, or a UnixFS DAG when larger than a
/// MiB); answers its CID and sha256.
pub async fn ipfs_add(net: Option<&Handle<net::Protocol>>, params: &Value) -> Result<Value, Error> {
    match call(
        net,
        Request::Add {
            file: staging_file(params)?,
        },
        ADD_WAIT,
    )
    .await?
    {
        Reply::Added { cid, hash } => Ok(json!({ "cid": cid, "hash": p2p::hex(&hash) })),
        other => Err(unexpected(other)),
    }
}

/// `oarn_ipfsFetch`: fetches a file (CID or 0x hash; a raw block or a UnixFS DAG) into a staged
/// file.
pub async fn ipfs_fetch(net: Option<&Handle<net::Protocol>>, params: &Value) -> Result<Value, Error> {
    let (request, wait) = fetch_request(params)?;
    fetched(call(net, request, wait + WAIT).await?)
}

/// The worker request of an `oarn_ipfsFetch` call, and how long the worker may take.
pub fn fetch_request(params: &Value) -> Result<(Request, Duration), Error> {
    let cid = params
        .get("cid")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("cid must be a CID (bafkrei…) or a 0x-prefixed 32-byte hash"))?
        .to_string();
    let timeout_secs = params
        .get("timeout_secs")
        .and_then(Value::as_u64)
        .unwrap_or(60)
        .clamp(1, 600);
    let request = Request::Fetch {
        cid,
        file: staging_file(params)?,
        timeout_secs: timeout_secs as u32,
    };
    Ok((request, Duration::from_secs(timeout_secs)))
}

/// The answer to an `oarn_ipfsFetch` call from the worker's reply.
pub fn fetched(reply: Reply) -> Result<Value, Error> {
    match reply {
        Reply::Fetched { cid, hash, size } => Ok(json!({ "cid": cid, "hash": p2p::hex(&hash), "size": size })),
        other => Err(unexpected(other)),
    }
}

/// `oarn_ipfsPin`: pins (`"pin": true`, the default) or unpins a CID.
pub async fn ipfs_pin(net: Option<&Handle<net::Protocol>>, params: &Value) -> Result<Value, Error> {
    let cid = params
        .get("cid")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("cid must be a CID"))?
        .to_string();
    let pin = params.get("pin").and_then(Value::as_bool).unwrap_or(true);
    match call(net, Request::Pin { cid: cid.clone(), pin }, WAIT).await? {
        Reply::Done => Ok(json!({ "cid": cid, "pinned": pin })),
        other => Err(unexpected(other)),
    }
}

/// `oarn_ipfsPins`: the pinned CIDs.
pub async fn ipfs_pins(net: Option<&Handle<net::Protocol>>) -> Result<Value, Error> {
    match call(net, Request::Pins, WAIT).await? {
        Reply::Pins(p) => Ok(json!({ "pins": p })),
        other => Err(unexpected(other)),
    }
}

/// `oarn_ipfsGc`: removes every unpinned block but the most recent.
pub async fn ipfs_gc(net: Option<&Handle<net::Protocol>>) -> Result<Value, Error> {
    match call(net, Request::Collect { limit: 0 }, ADD_WAIT).await? {
        Reply::Collected { blocks, bytes, kept } => {
            Ok(json!({ "blocks_removed": blocks, "bytes_freed": bytes, "bytes_kept": kept }))
        }
        other => Err(unexpected(other)),
    }
}

/// `oarn_dhtGet`: reads a record from the DHT.
pub async fn dht_get(net: Option<&Handle<net::Protocol>>, params: &Value) -> Result<Value, Error> {
    let key = key(params)?;
    match call(net, Request::GetRecord { key: key.clone() }, DHT_WAIT).await? {
        Reply::Record(Some(v)) => Ok(json!({
            "found": true,
            "key": key,
            "value": String::from_utf8_lossy(&v),
        })),
        Reply::Record(None) => Ok(json!({ "found": false, "key": key })),
        other => Err(unexpected(other)),
    }
}

/// `oarn_claims {"task_id", "record"?}`: claim negotiation. Records that the account
/// `record` claimed the task (when given), tells connected peers, and answers the accounts
/// known to have claimed it: `{"task_id", "claimers": ["0x…"], "peers_asked", "peers_answered"}`.
pub async fn claims(net: Option<&Handle<net::Protocol>>, params: &Value) -> Result<Value, Error> {
    let task_id = params
        .get("task_id")
        .and_then(Value::as_u64)
        .filter(|&t| t > 0)
        .ok_or_else(|| invalid("task_id must be a task id (1 or more)"))?;
    let record = match params.get("record") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_str()
                .and_then(p2p::parse_address)
                .ok_or_else(|| invalid("record must be an account: 0x and 40 hex digits"))?,
        ),
    };
    match call(net, Request::Claims { task_id, record }, DHT_WAIT).await? {
        Reply::Claims {
            claimers,
            asked,
            answered,
        } => Ok(json!({
            "task_id": task_id,
            "claimers": claimers.iter().map(|c| p2p::hex(c)).collect::<Vec<_>>(),
            "peers_asked": asked,
            "peers_answered": answered,
        })),
        other => Err(unexpected(other)),
    }
}
