//! Models on this node: the store (`store`), what it reads from model files (`gguf`), and
//! pulling them from the network (`pull`).

pub mod gguf;
pub mod pull;
pub mod store;

pub use store::{Manifest, Store, StoreError};
