//! `oarn-models`: the models on this node. Used by the `oarn` command and the daemon on the
//! supervisor side; the inference worker only ever reads the blobs.
//!
//! - [`store`]: content-addressed blobs and one manifest per model name, installed atomically.
//! - [`archive`]: a model directory (weights, config, tokenizer) packed into one file.
//! - [`catalog`]: the models `oarn model pull NAME` knows by name, with their size and sha256.
//!
//! Nothing here parses a model file: the inference worker reads their headers, in its
//! sandbox, and the store records what it said.

pub mod archive;
pub mod catalog;
pub mod store;

pub use store::{Manifest, Staged, Store, StoreError};
