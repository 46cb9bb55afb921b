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

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Peers {
    pub peer_id: String,
    pub listen: Vec<String>,
    pub peers: Vec<Peer>,
    /// The validators of validator-routed mode (peer ids), connected or not.
    pub validators: Vec<String>,
    pub sla: Sla,
    pub banned: Vec<Banned>,
    pub gossip: Gossip,
    pub streams: Streams,
    pub bitswap: Bitswap,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Peer {
    pub peer_id: String,
    pub addresses: Vec<String>,
    pub agent: String,
    pub rtt_us: Option<u64>,
    pub score: i64,
    pub valid_messages: u64,
    pub invalid_messages: u64,
    pub validator: bool,
}

/// Claim-to-result times of the tasks this node claimed.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Sla {
    pub results: u64,
    pub claim_to_result_p50_ms: u64,
    pub claim_to_result_p99_ms: u64,
    pub claim_to_result_max_ms: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Banned {
    pub peer_id: String,
    pub reason: String,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Gossip {
    pub accepted: u64,
    pub rejected: u64,
    pub ignored: u64,
    pub published: u64,
    pub dropped_events: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Streams {
    pub bytes_in: u64,
    pub bytes_out: u64,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Bitswap {
    pub blocks_served: u64,
    pub blocks_received: u64,
    pub messages_dropped: u64,
    pub bytes_served: u64,
    pub bytes_received: u64,
}

/// `oarn_tasks`: the task announcements heard, validators' first, each oldest first.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct GetTasks {}
method!(GetTasks, "oarn_tasks", Tasks);

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Tasks {
    pub tasks: Vec<Heard>,
}

/// An announcement as heard, in the live format's field names.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Heard {
    pub id: u64,
    pub model_hash: Hash32,
    pub input_hash: Hash32,
    pub reward: u64,
    pub required_nodes: u32,
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
    pub id: u64,
    pub model_hash: Hash32,
    pub input_hash: Hash32,
    /// Reward per node, in wei.
    pub reward: u64,
    pub required_nodes: u32,
    /// Unix seconds.
    pub deadline: u64,
}
method!(Announce, "oarn_announceTask", Published);

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Published {
    pub published: bool,
    pub task: u64,
    pub peers: u32,
}

/// `oarn_claims`: claim negotiation: record that `record` claimed the task (when given), tell
/// connected peers, and answer the accounts known to have claimed it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claims {
    pub task_id: TaskId,
    #[serde(default)]
    pub record: Option<Address>,
}
method!(Claims, "oarn_claims", Claimers);

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claimers {
    pub task_id: u64,
    pub claimers: Vec<Address>,
    pub peers_asked: u32,
    pub peers_answered: u32,
}

/// `oarn_sendResult`: tell the connected validators that the task's result (`result_hash` as
/// submitted on chain) is on IPFS at `cid`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendResult {
    pub task_id: TaskId,
    pub result_hash: Hash32,
    pub cid: String,
}
method!(SendResult, "oarn_sendResult", Delivered);

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Delivered {
    pub task_id: u64,
    pub validators: u32,
    pub acknowledged: u32,
    pub claim_to_result_ms: Option<u64>,
}

/// `oarn_results`: the result notices peers sent this node, oldest first.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct GetResults {}
method!(GetResults, "oarn_results", Results);

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Results {
    pub results: Vec<Told>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Told {
    pub task_id: u64,
    pub result_hash: Hash32,
    pub cid: String,
    pub from: String,
    pub heard_at: u64,
}

/// `oarn_dhtPut`: store a text record in the DHT.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DhtPut {
    pub key: String,
    pub value: String,
}
method!(DhtPut, "oarn_dhtPut", Stored);

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Stored {
    pub stored: bool,
    pub key: String,
}

/// `oarn_dhtGet`: read a record from the DHT.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DhtGet {
    pub key: String,
}
method!(DhtGet, "oarn_dhtGet", Record);

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub found: bool,
    pub key: String,
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
