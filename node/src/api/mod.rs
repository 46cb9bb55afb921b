//! The local API on the daemon's side: [`server`] answers on the socket and routes each
//! method to the function that answers it ([`node`], [`infer`], [`net`], [`ipfs`],
//! [`chain`], [`tasks`], [`requester`]); [`stream`] relays the methods that stream notifications before their result;
//! [`errors`] is how the node's failures become the API's error codes.

pub mod chain;
pub mod errors;
pub mod infer;
pub mod ipfs;
pub mod net;
pub mod node;
pub mod requester;
pub mod server;
pub mod stream;
pub mod tasks;
