//! The local API on the daemon's side: [`server`] answers on the socket, [`methods`]
//! implements each method ([`net`] those of the peer-to-peer side, [`routed`] those of
//! validator-routed mode, [`infer`] the inference worker's), and [`stream`] the methods that
//! stream notifications before their result.

pub mod infer;
pub mod methods;
pub mod net;
pub mod routed;
pub mod server;
pub mod stream;
