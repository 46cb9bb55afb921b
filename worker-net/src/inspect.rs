//! A task's blocks, read for the supervisor ([`oarn_protocol::net::Inspect`]): the input block
//! and the model block are fetched by their `bytes32` digests (from the store, peers and
//! gateways, or the operator's IPFS daemon), checked against their CIDs on arrival, and parsed
//! here with `oarn-formats`; `modelRequirements` is read too. The supervisor gets typed values
//! and never the bytes.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use oarn_formats::{task, tensor};
use oarn_protocol::net::{Inspect, Inspected, Reply};
use oarn_protocol::task::{Checked, ModelBlock, ModelFormat, TensorInput, Work};

use crate::blocks::Store;
use crate::node::Handle;

/// Where blocks come from.
#[derive(Debug, Clone)]
pub enum From {
    /// This node's store, its peers and gateways.
    Swarm {
        swarm: Handle,
        store: Store,
        gateways: Vec<String>,
    },
    /// The operator's IPFS daemon (`storage.ipfs_api`).
    Kubo(String),
}

/// Staging file names of concurrent inspections differ.
static SEQ: AtomicU64 = AtomicU64::new(0);

/// Fetches `hash`'s block into the staging directory and reads it back; at most one block.
fn block(from: &From, staging: &Path, hash: &[u8; 32], wait: Duration) -> Result<Vec<u8>, String> {
    let cid = format!("0x{}", hex::encode(hash));
    let name = format!(
        "inspect-{}-{}",
        hex::encode(&hash[..8]),
        SEQ.fetch_add(1, Ordering::Relaxed)
    );
    let path: PathBuf = staging.join(&name);
    let fetched = match from {
        From::Kubo(api) => crate::kubo::cat(api, &cid, &path, wait)
            .map(|_| ())
            .map_err(|e| e.to_string()),
        From::Swarm { swarm, store, gateways } => {
            let job = crate::fetch::Job {
                cid,
                file: name,
                wait,
                gateways: gateways.clone(),
            };
            crate::fetch::run(swarm, store, staging, &job, &|_| {}, &|| false)
                .map(|_| ())
                .map_err(|e| e.message)
        }
    };
    let read = fetched.and_then(|()| {
        let len = std::fs::metadata(&path).map_err(|e| e.to_string())?.len();
        if len > task::MAX_BLOCK as u64 {
            return Err(format!("it is {len} bytes; a task's block is at most 1 MiB"));
        }
        std::fs::read(&path).map_err(|e| e.to_string())
    });
    let _ = std::fs::remove_file(&path);
    read
}

fn checked<T, E: std::fmt::Display>(
    what: &str,
    bytes: Result<Vec<u8>, String>,
    parse: impl FnOnce(&[u8]) -> Result<T, E>,
) -> Checked<T> {
    match bytes {
        Err(e) => Checked::Unavailable(format!("the {what} could not be fetched: {e}")),
        Ok(b) => match parse(&b) {
            Ok(v) => Checked::Valid(v),
            Err(e) => Checked::Invalid(e.to_string()),
        },
    }
}

/// Fetches and parses both blocks: the model block first, since an ONNX model makes the
/// input a tensor (the network's tensor tasks) rather than `inference/v1`.
pub fn run(from: &From, staging: &Path, req: &Inspect) -> Reply {
    let wait = Duration::from_secs(req.timeout_secs.clamp(1, 600).into());
    let model = checked(
        "model block",
        block(from, staging, &req.model_hash, wait),
        task::parse_model_block,
    );
    let tensor = match &model {
        Checked::Valid(ModelBlock::Manifest(m)) => m.format == ModelFormat::Onnx,
        Checked::Valid(ModelBlock::Model { format, .. }) => *format == ModelFormat::Onnx,
        _ => false,
    };
    let input = checked("input block", block(from, staging, &req.input_hash, wait), |b| {
        // An ONNX model may be a decoder (a model archive) taking inference/v1 like any
        // language model; its input says which it is.
        if tensor && task::parse_input(b).is_err() {
            tensor::parse_input(b)
                .map(|t| {
                    Work::Tensor(TensorInput {
                        bytes: b.to_vec(),
                        shape: t.shape,
                    })
                })
                .map_err(|e| e.to_string())
        } else {
            task::parse_input(b).map(Work::Inference).map_err(|e| e.to_string())
        }
    });
    Reply::Inspected(Inspected {
        input,
        model,
        requirements: task::parse_requirements(&req.requirements),
    })
}
