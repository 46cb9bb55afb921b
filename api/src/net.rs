//! The peer-to-peer side: `oarn_peers`, `oarn_tasks`, `oarn_announceTask`, `oarn_claims`,
//! `oarn_sendResult`, `oarn_results`, `oarn_dhtPut`, `oarn_dhtGet`. What these report came
//! from the network and was checked in the network worker; a client still cleans its text
//! before a terminal shows it.

use serde::{Deserialize, Serialize};

use crate::{Address, Hash32, TaskId, method};

/// `oarn_peers`: this node's identity and addresses, its peers, bans and counters.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct GetPeers {}
method!(GetPeers, "oarn_peers", Peers);

/// This node on the peer-to-peer network.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Peers {
    /// This node's peer id.
    pub peer_id: String,
    /// Its listen addresses, each ending `/p2p/<peer id>`.
    pub listen: Vec<String>,
    /// The connected peers.
    pub peers: Vec<Peer>,
    /// The validators of validator-routed mode (peer ids), connected or not.
    pub validators: Vec<String>,
    /// Claim-to-result times of this node's tasks.
    pub sla: Sla,
    /// Peers banned for misbehaving.
    pub banned: Vec<Banned>,
    /// What happened to gossip messages since the swarm started.
    pub gossip: Gossip,
    /// Bytes of every protocol stream.
    pub streams: Streams,
    /// Bitswap's blocks and bytes.
    pub bitswap: Bitswap,
}

/// One connected peer.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Peer {
    /// Its peer id.
    pub peer_id: String,
    /// Remote addresses of this node's connections to it.
    pub addresses: Vec<String>,
    /// What it says it runs (identify's agent version); empty until identified.
    pub agent: String,
    /// Last ping round trip, in microseconds.
    pub rtt_us: Option<u64>,
    /// This node's reliability score of it: good messages raise it, bad ones lower it ten times as much.
    pub score: i64,
    /// Messages from it that passed validation.
    pub valid_messages: u64,
    /// Messages from it that failed validation.
    pub invalid_messages: u64,
    /// One of the validators of validator-routed mode.
    pub validator: bool,
    /// Where it says it is reached (identify's listen addresses): a privacy-mode node names
    /// only its onion service.
    #[serde(default)]
    pub advertised: Vec<String>,
}

/// Claim-to-result times of the tasks this node claimed.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Sla {
    /// Results delivered to the validators for tasks this node claimed.
    pub results: u64,
    /// Median time from claim to delivered result, of the recent ones.
    pub claim_to_result_p50_ms: u64,
    /// 99th percentile of that time.
    pub claim_to_result_p99_ms: u64,
    /// The longest.
    pub claim_to_result_max_ms: u64,
}

/// A peer banned for misbehaving.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Banned {
    /// Its peer id.
    pub peer_id: String,
    /// Why it was banned.
    pub reason: String,
}

/// Gossip counters since the swarm started.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Gossip {
    /// Valid announcements passed on to the node.
    pub accepted: u64,
    /// Messages that failed to parse or validate (they count against the sender).
    pub rejected: u64,
    /// Valid announcements dropped early: expired, or for a model this node does not run.
    pub ignored: u64,
    /// Announcements this node published.
    pub published: u64,
    /// Events dropped because the node read them too slowly.
    pub dropped_events: u64,
    /// Gossip payload bytes received, every message, valid or not.
    pub bytes_in: u64,
    /// Gossip payload bytes published.
    pub bytes_out: u64,
}

/// Bytes of every protocol stream (their framing included; not the encryption or the muxer's), relayed circuits included.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Streams {
    /// Received.
    pub bytes_in: u64,
    /// Sent.
    pub bytes_out: u64,
}

/// Bitswap counters since the swarm started.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Bitswap {
    /// Blocks served to peers.
    pub blocks_served: u64,
    /// Blocks received from peers, each verified against its CID.
    pub blocks_received: u64,
    /// Messages dropped because a peer's send queue was full.
    pub messages_dropped: u64,
    /// Block bytes served.
    pub bytes_served: u64,
    /// Block bytes received (verified).
    pub bytes_received: u64,
}

/// `oarn_tasks`: the task announcements heard, validators' first, each oldest first.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct GetTasks {}
method!(GetTasks, "oarn_tasks", Tasks);

/// The announcements heard.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Tasks {
    /// Validators' first, each oldest first.
    pub tasks: Vec<Heard>,
}

/// An announcement as heard, in the live format's field names.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Heard {
    /// TaskRegistryV2 task id.
    pub id: u64,
    /// sha2-256 digest of the model's CIDv1 (raw).
    pub model_hash: Hash32,
    /// sha2-256 digest of the input's CIDv1 (raw).
    pub input_hash: Hash32,
    /// Reward per node, in wei.
    pub reward: u64,
    /// Nodes whose results must agree.
    pub required_nodes: u32,
    /// Unix seconds after which the task cannot be claimed.
    pub deadline: u64,
    /// The peer it was first heard from.
    pub from: String,
    /// Published by a validator of validator-routed mode.
    pub routed: bool,
    /// Unix seconds.
    pub heard_at: u64,
}

/// `oarn_announceTask`: publish an announcement in the live format on `oarn/tasks/v1`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Announce {
    /// TaskRegistryV2 task id.
    pub id: u64,
    /// sha2-256 digest of the model's CIDv1 (raw).
    pub model_hash: Hash32,
    /// sha2-256 digest of the input's CIDv1 (raw).
    pub input_hash: Hash32,
    /// Reward per node, in wei.
    pub reward: u64,
    /// Nodes whose results must agree (3 to 100).
    pub required_nodes: u32,
    /// Unix seconds.
    pub deadline: u64,
}
method!(Announce, "oarn_announceTask", Published);

/// What publishing an announcement did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Published {
    /// It was published.
    pub published: bool,
    /// The task id announced.
    pub task: u64,
    /// Peers it reached.
    pub peers: u32,
}

/// `oarn_claims`: claim negotiation: record that `record` claimed the task (when given), tell
/// connected peers, and answer the accounts known to have claimed it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claims {
    /// The task.
    pub task_id: TaskId,
    /// An account that claimed it, to record and tell peers.
    #[serde(default)]
    pub record: Option<Address>,
}
method!(Claims, "oarn_claims", Claimers);

/// Who is known to have claimed a task.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claimers {
    /// The task.
    pub task_id: u64,
    /// Accounts known to have claimed it.
    pub claimers: Vec<Address>,
    /// Peers asked.
    pub peers_asked: u32,
    /// Peers that answered.
    pub peers_answered: u32,
}

/// `oarn_sendResult`: tell the connected validators that the task's result (`result_hash` as
/// submitted on chain) is on IPFS at `cid`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendResult {
    /// The task.
    pub task_id: TaskId,
    /// The result hash as submitted on chain.
    pub result_hash: Hash32,
    /// Where the result is on IPFS.
    pub cid: String,
}
method!(SendResult, "oarn_sendResult", Delivered);

/// Who a result notice reached.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Delivered {
    /// The task.
    pub task_id: u64,
    /// Validators it was sent to.
    pub validators: u32,
    /// Validators that acknowledged it.
    pub acknowledged: u32,
    /// Milliseconds from this node's claim to this delivery, when the claim was recorded.
    pub claim_to_result_ms: Option<u64>,
}

/// `oarn_results`: the result notices peers sent this node, oldest first.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct GetResults {}
method!(GetResults, "oarn_results", Results);

/// The result notices received.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Results {
    /// Oldest first.
    pub results: Vec<Told>,
}

/// A result notice a peer sent.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Told {
    /// The task.
    pub task_id: u64,
    /// The result hash it says was submitted on chain.
    pub result_hash: Hash32,
    /// Where it says the result is on IPFS.
    pub cid: String,
    /// The peer that sent it.
    pub from: String,
    /// Unix seconds it arrived.
    pub heard_at: u64,
}

/// `oarn_dhtPut`: store a text record in the DHT.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DhtPut {
    /// The key: 1 to 256 bytes, e.g. `/oarn/bootstrap`.
    pub key: String,
    /// The text to store.
    pub value: String,
}
method!(DhtPut, "oarn_dhtPut", Stored);

/// What a DHT put did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Stored {
    /// Always `true`: a put that fails answers an error instead.
    pub stored: bool,
    /// The key.
    pub key: String,
}

/// `oarn_dhtGet`: read a record from the DHT.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DhtGet {
    /// The key: 1 to 256 bytes.
    pub key: String,
}
method!(DhtGet, "oarn_dhtGet", Record);

/// A DHT record, or its absence.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    /// A peer had a record under the key.
    pub found: bool,
    /// The key.
    pub key: String,
    /// The record's text, when found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// A DHT key: 1 to 256 bytes, e.g. `/oarn/bootstrap`.
pub fn check_key(key: &str) -> Result<(), String> {
    if key.is_empty() || key.len() > 256 {
        return Err("key must be a string of 1 to 256 bytes, e.g. /oarn/bootstrap".into());
    }
    Ok(())
}
