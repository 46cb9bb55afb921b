//! `oarn-api`: the node's local management API, as both sides speak it: JSON-RPC 2.0, one
//! request per line, on a Unix socket only the node's owner can open (mode 0600 inside the
//! 0700 node home). The daemon serves it (`oarn-node`); the `oarn` command, and later the
//! Python bindings, call it through [`client`].
//!
//! [`rpc`] holds the wire types and the error codes.

pub mod client;
pub mod rpc;
