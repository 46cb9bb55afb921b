//! The node's local management API: JSON-RPC 2.0, one request per line, on a Unix socket that
//! only the node's owner can open (mode 0600 inside the 0700 node home).
//!
//! [`rpc`] holds the wire types and error codes, [`server`] answers on the daemon side,
//! [`methods`] implements each method ([`net`] those of the peer-to-peer side, [`routed`]
//! those of validator-routed mode), and [`client`]
//! is what the CLI uses.

pub mod client;
pub mod infer;
pub mod methods;
pub mod net;
pub mod routed;
pub mod rpc;
pub mod server;
pub mod stream;
