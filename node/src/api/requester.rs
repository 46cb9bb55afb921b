//! The requester's side of a task on the local API: `oarn_submitTask` writes the task's
//! blocks as task-format.md defines them, adds them to IPFS through the network worker
//! (checking the digests it reports against this side's own), and creates the task with the
//! node's key; `oarn_getResult` fetches the consensus result by the CID of a result notice
//! and accepts it only when its keccak256 is the hash consensus was reached on.

use std::path::PathBuf;
use std::time::Duration;

use oarn_api::rpc::{Code, Error};
use oarn_api::tasks::{GetResult, SubmitTask, Submitted, TaskResult};
use oarn_api::{Hash32, TaskId};
use oarn_protocol::{chain, net};
use sha2::Digest;

use super::errors;
use crate::state::Node;

/// Longest a result fetch waits for the bytes.
const FETCH_SECS: u32 = 60;

fn invalid(m: impl Into<String>) -> Error {
    errors::invalid(m)
}

/// A file in the network worker's staging directory, removed when dropped.
struct Staged(PathBuf);

impl Drop for Staged {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn stage(node: &Node, name: &str) -> Staged {
    Staged(node.home.root().join("downloads").join(name))
}

/// Adds a staged file through the network worker; its CID, once the digest it reports is the
/// one computed here.
async fn add(node: &Node, staged: &Staged, sha256: [u8; 32]) -> Result<String, Error> {
    let net = node
        .workers
        .net
        .as_ref()
        .ok_or_else(|| errors::absent(oarn_protocol::WorkerKind::Net))?;
    let file = staged
        .0
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let added = net.call(net::Add { file }).await.map_err(errors::call)?;
    if added.hash != sha256 {
        return Err(Error::new(
            Code::InternalError,
            "the network worker stored other bytes than those given",
        ));
    }
    Ok(oarn_protocol::text::clean(&added.cid))
}

/// The input block's bytes: the fields task-format.md defines, in its order.
fn input_block(p: &SubmitTask) -> Result<Vec<u8>, Error> {
    let max_tokens = p.max_tokens.unwrap_or(256);
    if !(1..=8192).contains(&max_tokens) {
        return Err(invalid(format!("max_tokens {max_tokens} is outside 1..=8192")));
    }
    if p.prompt.is_empty() {
        return Err(invalid("a language model's task needs a prompt (--prompt)"));
    }
    if p.prompt.len() > 64 << 10 {
        return Err(invalid("prompt is longer than 64 KiB"));
    }
    if p.stop.len() > 8 || p.stop.iter().any(|s| s.is_empty() || s.len() > 64) {
        return Err(invalid("stop takes at most 8 strings of 1 to 64 bytes"));
    }
    let mut block = serde_json::Map::new();
    block.insert("oarn".into(), "inference/v1".into());
    block.insert("prompt".into(), p.prompt.clone().into());
    if let Some(s) = &p.system {
        block.insert("system".into(), s.clone().into());
    }
    block.insert("chat".into(), p.chat.unwrap_or(true).into());
    block.insert("max_tokens".into(), max_tokens.into());
    block.insert("temperature".into(), 0.into());
    block.insert("stop".into(), p.stop.clone().into());
    serde_json::to_vec(&block).map_err(|e| Error::new(Code::InternalError, e.to_string()))
}

/// Stages `bytes` and adds them through the network worker: their CID and sha256.
async fn add_block(node: &Node, what: &str, bytes: &[u8], nonce: u64) -> Result<(String, [u8; 32]), Error> {
    let staged = stage(node, &format!("submit-{what}-{nonce:016x}"));
    std::fs::write(&staged.0, bytes)
        .map_err(|e| Error::new(Code::InternalError, format!("cannot stage the {what}: {e}")))?;
    let sha: [u8; 32] = sha2::Sha256::digest(bytes).into();
    Ok((add(node, &staged, sha).await?, sha))
}

/// A block is at most 1 MiB (task-format.md).
const MAX_BLOCK: u64 = 1 << 20;

/// A tensor task's input block: the bytes given, which the workers read (this side parses
/// nothing of them: the node's own workers check them when they take the task).
fn tensor_block(p: &SubmitTask) -> Result<Vec<u8>, Error> {
    let hex = p
        .input_hex
        .as_deref()
        .ok_or_else(|| invalid("an ONNX model's task needs its input (input_hex; --input FILE)"))?;
    let bytes = hex::decode(hex.trim_start_matches("0x")).map_err(|e| invalid(format!("input_hex: {e}")))?;
    if bytes.is_empty() || bytes.len() as u64 > MAX_BLOCK {
        return Err(invalid("the input must be 1 byte to 1 MiB"));
    }
    Ok(bytes)
}

pub async fn submit(node: &Node, p: SubmitTask) -> Result<Submitted, Error> {
    let chain_worker = node
        .workers
        .chain
        .as_ref()
        .ok_or_else(|| errors::absent(oarn_protocol::WorkerKind::Chain))?;
    let reward = oarn_tasks::policy::parse_eth(&p.reward).map_err(|e| invalid(format!("reward: {e}")))?;
    let required = p.required_nodes.unwrap_or(3);
    if !(3..=100).contains(&required) {
        return Err(invalid(format!("required_nodes {required} is outside 3..=100")));
    }
    let config = node.config();
    let store = crate::local::store(&config, &node.home).map_err(|e| Error::new(Code::InternalError, e.to_string()))?;
    let model = store
        .get(&p.model)
        .map_err(|e| Error::new(Code::NotFound, e.to_string()))?;
    let tensor = match model.format.as_str() {
        "gguf" | "safetensors" | "pytorch" => false,
        "onnx" => !model.metadata.generates_text(),
        other => {
            return Err(invalid(format!(
                "model {} is {other}; tasks run GGUF, Safetensors, PyTorch and ONNX models",
                p.model
            )));
        }
    };
    let digest = model.digest.strip_prefix("sha256:").unwrap_or_default().to_string();
    let model_sha = oarn_protocol::hex::decode(&digest)
        .ok_or_else(|| Error::new(Code::InternalError, "the model's digest is unreadable"))?;
    let nonce = fastrand::u64(..);

    // The model file, by a hard link into the staging directory (a copy across filesystems).
    let staged_model = stage(node, &format!("submit-model-{nonce:016x}"));
    let blob = store.blob(&model);
    if std::fs::hard_link(&blob, &staged_model.0).is_err() {
        std::fs::copy(&blob, &staged_model.0)
            .map_err(|e| Error::new(Code::InternalError, format!("cannot stage the model: {e}")))?;
    }
    let model_cid = add(node, &staged_model, model_sha).await?;

    let input = if tensor { tensor_block(&p)? } else { input_block(&p)? };
    let (input_cid, input_hash) = add_block(node, "input", &input, nonce).await?;
    // A tensor model that fits one block is the model block itself, as the network addresses
    // its ONNX models today; anything else gets a model/v1 manifest.
    let (manifest_cid, model_hash) = if tensor && model.size <= MAX_BLOCK {
        (model_cid.clone(), model_sha)
    } else {
        let manifest = serde_json::json!({
            "oarn": "model/v1",
            "name": model.name,
            "format": model.format,
            "sha256": digest,
            "size": model.size,
            "cid": model_cid,
        });
        let manifest = serde_json::to_vec(&manifest).map_err(|e| Error::new(Code::InternalError, e.to_string()))?;
        add_block(node, "manifest", &manifest, nonce).await?
    };
    let deadline = crate::tasks::now_ms() / 1000 + p.open_secs.unwrap_or(3600);
    let create = chain::CreateTask {
        model_hash,
        input_hash,
        model_requirements: format!(
            r#"{{"framework":"{}","min_ram":{}}}"#,
            model.format,
            model.size.div_ceil(1 << 20)
        ),
        reward_per_node_wei: reward.to_string(),
        required_nodes: required,
        deadline,
    };
    let signing = match &node.chain {
        Some(c) => {
            c.signing(async { Ok::<_, crate::chain::ChainError>(chain_worker.call(create).await) })
                .await
        }
        None => return Err(errors::absent(oarn_protocol::WorkerKind::Chain)),
    };
    let created = signing.map_err(|e| e.rpc())?.map_err(errors::call)?;
    // Announced on gossip for nodes that do not follow the chain's events.
    let announcement = net::Announcement {
        id: created.id,
        model_hash,
        input_hash,
        reward: u64::try_from(reward).unwrap_or(u64::MAX),
        required_nodes: required as u32,
        deadline,
    };
    let announced_to = match &node.workers.net {
        Some(n) => n.call(net::Announce(announcement)).await.unwrap_or(0),
        None => 0,
    };
    tracing::info!(task = created.id, "task submitted");
    Ok(Submitted {
        task_id: TaskId(created.id),
        tx: Hash32(created.sent.tx),
        input_hash: Hash32(input_hash),
        model_hash: Hash32(model_hash),
        input_cid,
        manifest_cid,
        model_cid,
        paid_wei: (reward * u128::from(required)).to_string(),
        announced_to,
    })
}

pub async fn result(node: &Node, p: GetResult) -> Result<TaskResult, Error> {
    let id = p.task_id.0;
    let chain_worker = node
        .workers
        .chain
        .as_ref()
        .ok_or_else(|| errors::absent(oarn_protocol::WorkerKind::Chain))?;
    let d = chain_worker.call(chain::ReadTask { id }).await.map_err(errors::call)?;
    if !d.reached {
        return Err(Error::new(
            Code::NotFound,
            format!(
                "task {id} has no consensus yet ({} of {} results in)",
                d.total_submissions, d.task.required_nodes
            ),
        ));
    }
    let want = d.winning_hash;
    let cids: Vec<String> = {
        let view = node.p2p.read().unwrap_or_else(|e| e.into_inner());
        let mut c: Vec<String> = view
            .results
            .iter()
            .filter(|t| t.task_id == id && t.result_hash == want)
            .map(|t| t.cid.clone())
            .collect();
        c.dedup();
        c
    };
    if cids.is_empty() {
        return Err(Error::new(
            Code::NotFound,
            format!("no result notice for task {id} has reached this node; its nodes publish one on oarn/network/v1"),
        ));
    }
    let net = node
        .workers
        .net
        .as_ref()
        .ok_or_else(|| errors::absent(oarn_protocol::WorkerKind::Net))?;
    let mut last = String::new();
    for cid in cids {
        let staged = stage(node, &format!("result-{id}-{:016x}", fastrand::u64(..)));
        let file = staged
            .0
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let fetch = net::Fetch {
            cid: cid.clone(),
            file,
            timeout_secs: FETCH_SECS,
        };
        let fetched = tokio::time::timeout(Duration::from_secs(u64::from(FETCH_SECS) + 10), net.call(fetch)).await;
        let bytes = match fetched {
            Ok(Ok(_)) => std::fs::read(&staged.0).unwrap_or_default(),
            Ok(Err(e)) => {
                last = e.to_string();
                continue;
            }
            Err(_) => {
                last = "timed out".into();
                continue;
            }
        };
        let got: [u8; 32] = sha3::Keccak256::digest(&bytes).into();
        if got != want {
            last = format!("{cid} holds bytes whose keccak256 is not the consensus hash");
            continue;
        }
        return Ok(TaskResult {
            task_id: p.task_id,
            result_hash: Hash32(want),
            cid,
            text: String::from_utf8_lossy(&bytes).into_owned(),
            bytes: bytes.len() as u64,
            agreeing: d.winning_count,
        });
    }
    Err(Error::new(
        Code::NotFound,
        format!("the result of task {id} could not be fetched and checked: {last}"),
    ))
}
