//! `oarn-models`: the models on this node. Used by the `oarn` command and the daemon on the
//! supervisor side; the inference worker only ever reads the blobs.
//!
//! - [`store`]: content-addressed blobs and one manifest per model name, installed atomically.
//! - [`catalog`]: the models `oarn model pull NAME` knows by name, with their size and sha256.
//! - [`gguf`]: what the store reads from a GGUF file's header.

pub mod catalog;
pub mod gguf;
pub mod store;

pub use store::{Manifest, Store, StoreError};
