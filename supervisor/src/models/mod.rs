//! Models on this node: the store (`store`) and what it reads from model files (`gguf`).

pub mod gguf;
pub mod store;

pub use store::{Manifest, Store, StoreError};
