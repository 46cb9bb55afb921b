//! Messages of the network worker (`oarn-worker-net`).
//!
//! The supervisor starts the swarm with [`Request::Run`], a request that lasts as long as the
//! worker: its events (peers, listen addresses, validated task announcements) stream back with
//! that request's id while other requests are answered alongside. Everything in these
//! messages was parsed and validated inside the sandboxed worker; the supervisor still treats
//! it as untrusted data and never parses network bytes itself.

use wincode::{SchemaRead, SchemaWrite};

use crate::envelope::{Down, Info, Progress, Up};

/// Supervisor → net worker.
#[derive(Debug, Clone, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub enum Request {
    GetInfo(GetInfo),
    Run(Run),
    Dial(Dial),
    Announce(Announce),
    Accept(Accept),
    Advertise(Advertise),
    FindBootstrap(FindBootstrap),
    Validators(Validators),
    Limits(Limits),
    GetStatus(GetStatus),
    PutRecord(PutRecord),
    GetRecord(GetRecord),
    Add(Add),
    Pin(Pin),
    ListPins(ListPins),
    Collect(Collect),
    Fetch(Fetch),
    Download(Download),
    Claims(Claims),
    Notify(Notify),
    Inspect(Inspect),
    Release(Release),
    Reachable(Reachable),
}

crate::calls! {
    GetInfo => Info(Info),
    Run => Stopped(()),
    Dial => Done(()),
    Announce => Published(u32),
    Accept => Done(()),
    Advertise => Done(()),
    FindBootstrap => Bootstrap(Vec<Bootstrap>),
    Validators => Done(()),
    Limits => Done(()),
    GetStatus => Status(Status),
    PutRecord => Done(()),
    GetRecord => Record(Option<Vec<u8>>),
    Add => Added(Added),
    Pin => Done(()),
    ListPins => Pins(Vec<String>),
    Collect => Collected(Collected),
    Fetch => Fetched(Fetched),
    Download => Downloaded(Downloaded),
    Claims => Claimers(Claimers),
    Notify => Delivered(Delivered),
    Inspect => Inspected(Inspected),
    Release => Releases(Releases),
    Reachable => Done(()),
}

/// What the worker can do and how busy it is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct GetInfo;

/// Start the swarm and stream its [`Event`]s until the worker ends; one per worker. Answered
/// with [`Reply::Stopped`] when the swarm stops.
#[derive(Debug, Clone, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct Run(pub Settings);

/// Dial these peers and add them to the DHT routing table.
#[derive(Debug, Clone, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct Dial(pub Vec<Bootstrap>);

/// Publish a task announcement on `oarn/tasks/v1`; answered with the peers it reached.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct Announce(pub Announcement);

/// Pass on only announcements for these model hashes (empty: every model).
#[derive(Debug, Clone, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct Accept(pub Vec<[u8; 32]>);

/// Write the network's DHT records (`/oarn/bootstrap`, `/oarn/rpc/providers`) from what the
/// registry lists, for nodes that cannot reach the chain.
#[derive(Debug, Clone, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct Advertise {
    pub bootstrap: Vec<Bootstrap>,
    pub rpc_providers: Vec<String>,
}

/// Read `/oarn/bootstrap` from the DHT and dial the peers it names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct FindBootstrap;

/// Keep these validators connected too (validator-routed mode; found by discovery after the
/// swarm started).
#[derive(Debug, Clone, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct Validators(pub Vec<Bootstrap>);

/// New connection and rate limits (they are live settings); rates in bytes per second, 0 for
/// no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct Limits {
    pub max_peers: u32,
    pub max_per_ip: u32,
    pub upload_limit: u64,
    pub download_limit: u64,
}

/// Privacy mode: the node is reached at these addresses (its onion service, `/onion3/…`, as
/// the anonymity worker reports it): identify tells them to peers, and so the DHT learns
/// them, in place of any listen address.
#[derive(Debug, Clone, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct Reachable(pub Vec<String>);

/// Our peer id, listen addresses, peers and counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct GetStatus;

/// Store a record in the DHT under `key`.
#[derive(Debug, Clone, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct PutRecord {
    pub key: String,
    pub value: Vec<u8>,
}

/// Find a record in the DHT.
#[derive(Debug, Clone, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct GetRecord {
    pub key: String,
}

/// Store a file of the staging directory (one raw block, or a UnixFS DAG) and pin it.
#[derive(Debug, Clone, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct Add {
    pub file: String,
}

/// Pin (`pin`) or unpin a root whose DAG is in the store.
#[derive(Debug, Clone, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct Pin {
    pub cid: String,
    pub pin: bool,
}

/// The pinned roots.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct ListPins;

/// Remove unpinned blocks, oldest first, until the store holds at most `limit` bytes (0: every
/// unpinned block); blocks stored in the last minutes are spared.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct Collect {
    pub limit: u64,
}

/// Fetch a file (CID or 0x hash; one raw block or a UnixFS DAG) from this node's store or its
/// peers over Bitswap, into a file of the staging directory; [`Event::Progress`] streams while
/// it runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct Fetch {
    pub cid: String,
    pub file: String,
    pub timeout_secs: u32,
}

/// Claim negotiation (`/oarn/claim/1.0.0`): record that `record` (an account) claimed
/// `task_id`, when given, tell connected peers, and ask them which accounts they know to have
/// claimed it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct Claims {
    pub task_id: u64,
    pub record: Option<[u8; 20]>,
}

/// The fast path for results (`/oarn/result/1.0.0`): tell the connected validators that
/// `task_id`'s result, `result_hash` on chain, is on IPFS at `cid`; with `node`, publish the
/// result notice on `oarn/network/v1` too.
#[derive(Debug, Clone, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct Notify {
    pub task_id: u64,
    pub result_hash: [u8; 32],
    pub cid: String,
    /// The submitting account and the engine's fingerprint: with them, the notice is also
    /// published on `oarn/network/v1` for requesters and every other peer.
    pub node: Option<[u8; 20]>,
    pub engine: String,
}

/// Fetch a task's input block and model block by their `bytes32` digests (CIDv1 raw, from the
/// store, peers, gateways or the operator's IPFS daemon), parse both (task-format.md), and read
/// its `modelRequirements`: everything of a task that is untrusted bytes, handled here.
#[derive(Debug, Clone, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct Inspect {
    pub input_hash: [u8; 32],
    pub model_hash: [u8; 32],
    pub requirements: String,
    pub timeout_secs: u32,
}

/// What [`Inspect`] found. The bytes of each block stay in the worker's store (pinned by
/// whoever needs them); the input's sha256, as fetched, is `input_hash` by construction.
#[derive(Debug, Clone, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct Inspected {
    /// The input block, read as the model's format asks: a tensor for an ONNX model, else
    /// `inference/v1`.
    pub input: crate::task::Checked<crate::task::Work>,
    pub model: crate::task::Checked<crate::task::ModelBlock>,
    pub requirements: crate::task::Requirements,
}

/// A file stored: its CIDv1 (raw for one block, whose digest is the network's `bytes32`;
/// dag-pb for a UnixFS DAG) and its sha256.
#[derive(Debug, Clone, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct Added {
    pub cid: String,
    pub hash: [u8; 32],
}

/// A collection: blocks and bytes removed, bytes kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct Collected {
    pub blocks: u64,
    pub bytes: u64,
    pub kept: u64,
}

/// A file fetched into the staging file: its CID, sha256 and size.
#[derive(Debug, Clone, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct Fetched {
    pub cid: String,
    pub hash: [u8; 32],
    pub size: u64,
}

/// The accounts known to have claimed a task (ours and the peers'), and how many peers were
/// asked and answered.
#[derive(Debug, Clone, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct Claimers {
    pub claimers: Vec<[u8; 20]>,
    pub asked: u32,
    pub answered: u32,
}

/// A result notice went to this many connected validators, and this many acknowledged it; the
/// claim-to-result time when this node's claim of the task was recorded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct Delivered {
    pub validators: u32,
    pub acknowledged: u32,
    pub claim_to_result_ms: Option<u64>,
}

/// Download a file over HTTP(S) into `{home}/downloads`, resuming a partial download of the
/// same name; [`Event::Progress`] streams while it runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct Download {
    /// `http://` or `https://`.
    pub url: String,
    /// File name inside the staging directory (no path); `<file>.part` while it runs.
    pub file: String,
    /// The sha256 the file must have; refused (and removed) when it differs.
    pub sha256: Option<[u8; 32]>,
    /// Largest size accepted.
    pub max_bytes: u64,
    /// The download is a zip archive (a wheel): take this member out of it into `file`
    /// (deflate or stored, at most `max_bytes`) and report the member's size and sha256; the
    /// archive itself is removed. `sha256` is then the archive's.
    pub extract: Option<String>,
}

/// A finished download.
#[derive(Debug, Clone, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct Downloaded {
    /// File name inside the staging directory.
    pub file: String,
    /// Size and sha256 of that file (the extracted member, for [`Download::extract`]): the
    /// worker's claim, which the installing side checks by hashing the file itself.
    pub size: u64,
    pub sha256: [u8; 32],
    /// Bytes already there from an earlier, interrupted download (0: from the start).
    pub resumed_from: u64,
}

/// Check oarn's release repository at `mirror` against the trusted `root` (TUF: signature
/// thresholds, expiry, rollback against what the worker kept in `{home}/update`), and, when
/// `fetch` names a release the check verified, download it into `{home}/downloads` with its
/// signed length and sha256 checked.
#[derive(Debug, Clone, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct Release {
    /// The repository's base URL (`http://` or `https://`): metadata under `metadata/`,
    /// archives under `targets/`.
    pub mirror: String,
    /// The trusted root the operator configured (its bytes, read by the supervisor, which
    /// does not parse them).
    pub root: Vec<u8>,
    /// The name of a release to download after the check, e.g. `oarn-0.2.0-x86_64-unknown-linux-gnu.tar.gz`.
    pub fetch: Option<String>,
}

/// What a release repository offers, as verified by the worker.
#[derive(Debug, Clone, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct Releases {
    pub root_version: u64,
    /// The version of the signed release list.
    pub targets_version: u64,
    /// When the release list expires (RFC 3339).
    pub targets_expires: String,
    /// Maintainer signatures the release list needs, and how many keys may give them.
    pub threshold: u64,
    pub keys: u32,
    /// The maintainers whose signature on the release list verifies.
    pub signers: Vec<Signer>,
    /// Every release listed, newest first.
    pub releases: Vec<ReleaseInfo>,
    /// The release downloaded, when [`Release::fetch`] asked for one: the worker's claim,
    /// which the supervisor checks by hashing the file itself.
    pub fetched: Option<Downloaded>,
}

/// A maintainer's key whose signature verified.
#[derive(Debug, Clone, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct Signer {
    /// The TUF key id, hex.
    pub keyid: String,
    /// The maintainer's name, as the signed root gives it.
    pub name: Option<String>,
}

/// One signed release archive: `oarn_update::Release` as the wire carries it (the protocol
/// crate links no TUF client).
#[derive(Debug, Clone, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct ReleaseInfo {
    /// Semantic version, e.g. `0.2.0`.
    pub version: String,
    /// The Rust target triple it runs on.
    pub target: String,
    /// Its name in the repository.
    pub name: String,
    pub sha256: [u8; 32],
    pub length: u64,
    /// Its CID on IPFS, when the release names one.
    pub cid: Option<String>,
    pub changelog: String,
}

/// How the swarm runs, from the node's configuration and discovery.
#[derive(Debug, Clone, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct Settings {
    /// Multiaddrs to listen on, e.g. `/ip4/127.0.0.1/tcp/0` and `/ip4/127.0.0.1/udp/0/quic-v1`.
    pub listen: Vec<String>,
    /// Peers to dial at start.
    pub bootstrap: Vec<Bootstrap>,
    /// Most connected peers.
    pub max_peers: u32,
    /// Most connections from one IP address (loopback is exempt: it is this machine).
    pub max_per_ip: u32,
    /// Pad published announcements with trailing whitespace so sizes leak less.
    pub padding: bool,
    /// Pass on only announcements for these model hashes (empty: every model).
    pub accept_models: Vec<[u8; 32]>,
    /// The block store's size limit: unpinned blocks beyond it are collected after each add
    /// or fetch (0: no limit).
    pub ipfs_cache_bytes: u64,
    /// Where to serve the Kubo-compatible IPFS API (`host:port`; empty: not served).
    pub ipfs_api: String,
    /// The Kubo RPC API of the operator's own IPFS daemon (`http://host:port`): files are
    /// added to and read from it instead of this node's store. Empty: the node's own store.
    pub kubo_api: String,
    /// Trustless HTTP gateways asked for blocks no connected peer sends (each block verified).
    pub gateways: Vec<String>,
    /// Find and dial peers on the local network with mDNS.
    pub mdns: bool,
    /// Serve as a circuit relay (v2) for other peers.
    pub relay_service: bool,
    /// Relays (multiaddrs ending `/p2p/<relay id>`) to reserve a slot on: the node is then
    /// also reachable at `<relay>/p2p-circuit`.
    pub relays: Vec<String>,
    /// Most bytes per second sent and received over every connection together (0: no limit).
    pub upload_limit: u64,
    pub download_limit: u64,
    /// Validator-routed mode: validators to keep connected (each dialled again whenever it
    /// drops), whose task announcements come first and who are told of results directly.
    pub validators: Vec<Bootstrap>,
    /// Privacy mode: how links between privacy-mode nodes (onion links) are shaped.
    pub shape: Shape,
}

/// Traffic shaping on onion links: fixed-size records always; these say when they leave.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct Shape {
    /// Each record waits a random delay between these, in milliseconds.
    pub min_delay_ms: u32,
    pub max_delay_ms: u32,
    /// Cover traffic: ticks per second of a Poisson clock that sends a fixed batch of
    /// records, real or cover (0: off).
    pub cover_hz: u32,
}

/// A peer to dial, as configured or as OARNRegistry lists it: the worker parses both.
#[derive(Debug, Clone, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct Bootstrap {
    /// Its peer id; empty when the multiaddr ends with `/p2p/<peer id>`.
    pub peer_id: String,
    pub multiaddr: String,
}

/// A task announcement of the live network (`oarn/tasks/v1`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, SchemaWrite, SchemaRead)]
pub struct Announcement {
    /// TaskRegistryV2 task id (from 1).
    pub id: u64,
    /// sha2-256 digest of the model's CIDv1 (raw).
    pub model_hash: [u8; 32],
    /// sha2-256 digest of the input's CIDv1 (raw).
    pub input_hash: [u8; 32],
    /// Reward per node, in wei.
    pub reward: u64,
    /// Nodes whose results must agree (3 to 100).
    pub required_nodes: u32,
    /// Unix time, in seconds, after which the task cannot be claimed.
    pub deadline: u64,
}

/// One connected peer.
#[derive(Debug, Clone, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct Peer {
    pub peer_id: String,
    /// Remote addresses of our connections to it.
    pub addresses: Vec<String>,
    /// What it says it runs (identify's agent version); empty until identified.
    pub agent: String,
    /// Last ping round trip, in microseconds.
    pub rtt_us: Option<u64>,
    /// Our reliability score: good messages raise it, bad ones lower it ten times as much.
    pub score: i64,
    /// Messages from it that passed validation.
    pub valid: u64,
    /// Messages from it that failed validation.
    pub invalid: u64,
    /// One of the validators of validator-routed mode.
    pub validator: bool,
    /// Where it says it is reached (identify's listen addresses; at most 16).
    pub advertised: Vec<String>,
}

/// Service figures: the time from this node's claim of a task (recorded through claim
/// negotiation) to the delivery of its result to the validators.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct Sla {
    /// Results delivered for tasks this node claimed.
    pub results: u64,
    /// Median, 99th percentile and worst claim-to-result time of the recent ones.
    pub p50_ms: u64,
    pub p99_ms: u64,
    pub max_ms: u64,
}

/// What happened to gossip messages since the swarm started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct Counters {
    /// Valid announcements passed on to the supervisor.
    pub accepted: u64,
    /// Messages that failed to parse or validate (they count against the sender).
    pub rejected: u64,
    /// Valid announcements dropped early: expired, or for a model this node does not run.
    pub ignored: u64,
    /// Announcements this node published.
    pub published: u64,
    /// Events dropped because the supervisor read them too slowly.
    pub dropped_events: u64,
    /// Blocks served to peers over Bitswap.
    pub blocks_served: u64,
    /// Blocks received from peers over Bitswap (each verified).
    pub blocks_received: u64,
    /// Bitswap messages dropped because a peer's send queue was full.
    pub bitswap_dropped: u64,
    /// Gossip payload bytes received (every message, valid or not) and published.
    pub gossip_bytes_in: u64,
    pub gossip_bytes_out: u64,
    /// Bitswap block bytes served to peers and received (verified) from them.
    pub bitswap_bytes_served: u64,
    pub bitswap_bytes_received: u64,
    /// Bytes of every protocol stream (all protocols, their framing included; not the
    /// encryption or the muxer's framing), received and sent, relayed circuits included.
    pub stream_bytes_in: u64,
    pub stream_bytes_out: u64,
}

/// The swarm's state.
#[derive(Debug, Clone, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct Status {
    pub peer_id: String,
    /// Listen addresses, each ending `/p2p/<our peer id>`.
    pub listen: Vec<String>,
    pub peers: Vec<Peer>,
    /// Peers banned for misbehaving, with the reason.
    pub banned: Vec<(String, String)>,
    pub counters: Counters,
    /// The validators of validator-routed mode (peer ids), connected or not.
    pub validators: Vec<String>,
    pub sla: Sla,
    /// What AutoNAT found: `public` (peers dialled back this node), `private` (they could
    /// not: behind NAT or a firewall) or `unknown` (not probed yet).
    pub nat: String,
}

/// net worker → supervisor, final answers.
#[derive(Debug, Clone, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub enum Reply {
    Info(Info),
    /// The swarm stopped (the worker is shutting down).
    Stopped(()),
    /// Done; nothing to report.
    Done(()),
    /// A publication reached this many peers.
    Published(u32),
    Status(Status),
    /// A DHT record, or `None` when no peer had one.
    Record(Option<Vec<u8>>),
    Downloaded(Downloaded),
    Added(Added),
    /// The pinned roots.
    Pins(Vec<String>),
    Collected(Collected),
    Fetched(Fetched),
    Claimers(Claimers),
    /// The peers a `/oarn/bootstrap` record named (checked; dialled).
    Bootstrap(Vec<Bootstrap>),
    Delivered(Delivered),
    Inspected(Inspected),
    Releases(Releases),
}

/// net worker → supervisor, streamed while [`Run`], [`Fetch`] or [`Download`] lasts.
#[derive(Debug, Clone, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub enum Event {
    /// Bytes downloaded so far, of the total when known.
    Progress(Progress),
    /// The swarm is up under this peer id.
    Started { peer_id: String },
    /// A new listen address, ending `/p2p/<our peer id>`.
    Listening(String),
    /// The Kubo-compatible IPFS API listens at this `host:port`.
    Api(String),
    /// A peer connected.
    Connected(String),
    /// A peer's last connection closed.
    Disconnected(String),
    /// A validated announcement for a model this node accepts, first heard from `from`;
    /// `routed` when a validator of validator-routed mode published it.
    Announcement {
        from: String,
        announcement: Announcement,
        routed: bool,
    },
    /// A peer told this node of a task's result (`/oarn/result/1.0.0`, or a result notice on
    /// `oarn/network/v1`), checked.
    Result {
        from: String,
        task_id: u64,
        result_hash: [u8; 32],
        cid: String,
    },
    /// A peer was banned for misbehaving.
    Banned { peer_id: String, reason: String },
}

/// A frame to the net worker.
pub type ToWorker = Down<Request>;
/// A frame from the net worker.
pub type FromWorker = Up<Reply, Event>;

crate::worker_protocol!(crate::WorkerKind::Net);
