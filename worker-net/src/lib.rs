//! The network worker's library: the node's peer-to-peer side, run inside the
//! `oarn-worker-net` sandbox. Everything here handles bytes from the network, which is why it
//! lives in this worker and never in the supervisor.
//!
//! - [`blocks`]: CIDs (raw CIDv1 ⇄ the network's bytes32) and the verified block store.
//! - [`bitswap`]: Bitswap 1.2.0, to exchange blocks with IPFS nodes.
//! - [`unixfs`]: files larger than a block as UnixFS DAGs of 256 KiB leaves.
//! - [`fetch`]: a file by CID, its DAG fetched in bounded batches with progress.
//! - [`pins`]: pinned DAGs, and garbage collection of the rest of the block store.
//! - [`gateway`]: the Kubo-compatible HTTP API (add, cat, `/ipfs/CID`) for the network's SDK.
//! - [`kubo`]: a Kubo RPC client, for an IPFS daemon the operator runs.
//! - [`trustless`]: blocks from trustless HTTP gateways, each verified, when peers lack them.
//! - [`announce`]: the live network's task announcement format (parse, validate, write).
//! - [`inspect`]: a task's input and model blocks, fetched and parsed for the supervisor.
//! - [`download`]: HTTP(S) downloads into the staging directory, resumed and verified.
//! - [`release`]: oarn's own release repository, verified (k-of-n signed) for `oarn update`.
//! - [`wheel`]: one file taken out of a downloaded wheel (zip archive).
//! - [`identity`]: the node's libp2p key, persisted 0600 in its IPFS store.
//! - [`behaviour`]: the protocols the swarm speaks (gossipsub, Kademlia, identify, ping).
//! - [`meter`]: bytes per direction on every connection, under the upload and download limits.
//! - [`swarm`]: building the swarm (QUIC, TCP + Noise + Yamux) from [`oarn_protocol::net::Settings`].
//! - [`tor`]: in privacy mode, the swarm's only transport: streams through the anonymity worker.
//! - [`peers`]: our own reliability score per peer, and bans.
//! - [`fanout`]: one question put to several peers, answered once all have answered.
//! - [`claims`]: claim negotiation (`/oarn/claim/1.0.0`): who claimed which task.
//! - [`records`]: the network's DHT records, `/oarn/bootstrap` and `/oarn/rpc/providers`.
//! - [`results`]: results told to validators directly (`/oarn/result/1.0.0`), SLA figures.
//! - [`keep`]: connections to the validators, held open and redialled.
//! - [`node`]: the swarm's event loop and the commands it takes.
//! - [`serve`]: the supervisor's requests, answered through [`node`].

pub use libp2p;

pub use oarn_formats::announce;
pub mod behaviour;
pub mod bitswap;
pub mod blocks;
pub mod claims;
pub mod download;
pub mod fanout;
pub mod fetch;
pub mod gateway;
pub mod identity;
pub mod inspect;
pub mod keep;
pub mod kubo;
pub mod meter;
pub mod node;
pub mod peers;
pub mod pins;
pub mod records;
pub mod release;
pub mod results;
pub mod serve;
pub mod shape;
pub mod shaped;
pub mod swarm;
pub mod tor;
pub mod trustless;
pub mod unixfs;
pub mod wheel;
