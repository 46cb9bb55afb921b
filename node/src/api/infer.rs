//! The API methods of the inference side besides `oarn_generate` ([`super::stream`]):
//! `oarn_modelsLoaded` (what the worker holds in memory) and `oarn_unload` (free one model,
//! or all). Models are named as the store (or Ollama) names them.

use std::time::Duration;

use oarn_protocol::infer::{Reply, Request};
use serde_json::{Value, json};

use super::methods::Node;
use oarn_api::rpc::{self, Error};

/// Longest wait for the worker (it answers between generations).
const WAIT: Duration = Duration::from_secs(30);

async fn call(node: &Node, request: Request) -> Result<Reply, Error> {
    let infer = node
        .workers
        .infer
        .as_ref()
        .ok_or_else(|| Error::new(rpc::INTERNAL_ERROR, "this node runs no inference worker"))?;
    match tokio::time::timeout(WAIT, infer.call(request, None)).await {
        Err(_) => Err(Error::new(
            rpc::INTERNAL_ERROR,
            "the inference worker is busy; try again",
        )),
        Ok(Err(e)) => Err(Error::new(rpc::INTERNAL_ERROR, e.to_string())),
        Ok(Ok(reply)) => Ok(reply),
    }
}

/// Store names by blob path, to name what the worker reports by path.
fn names(node: &Node) -> Vec<(String, String)> {
    let config = node.config.read().unwrap_or_else(|e| e.into_inner()).clone();
    let Ok(store) = crate::local::store(&config, &node.home) else {
        return Vec::new();
    };
    store
        .list()
        .unwrap_or_default()
        .into_iter()
        .map(|m| (store.blob(&m).display().to_string(), m.name))
        .collect()
}

fn name_of(names: &[(String, String)], model: &str) -> String {
    names
        .iter()
        .find(|(path, _)| path == model)
        .map_or_else(|| model.to_string(), |(_, n)| n.clone())
}

/// `oarn_modelsLoaded`: `[{"model", "bytes"}]`, most recently used first.
pub async fn loaded(node: &Node) -> Result<Value, Error> {
    let Reply::Loaded(list) = call(node, Request::Loaded).await? else {
        return Err(Error::new(rpc::INTERNAL_ERROR, "unexpected reply"));
    };
    let names = names(node);
    Ok(json!(
        list.iter()
            .map(|l| json!({"model": name_of(&names, &l.model), "bytes": l.bytes}))
            .collect::<Vec<_>>()
    ))
}

/// `oarn_unload {"model"?}`: `{"unloaded": [names]}`.
pub async fn unload(node: &Node, params: &Value) -> Result<Value, Error> {
    let name = params.get("model").and_then(Value::as_str);
    let names = names(node);
    let config = node.config.read().unwrap_or_else(|e| e.into_inner()).clone();
    let target = match name {
        None => None,
        Some(n) if config.ollama.enabled => Some(n.to_string()),
        Some(n) => Some(
            names
                .iter()
                .find(|(_, m)| m == n)
                .map(|(path, _)| path.clone())
                .ok_or_else(|| Error::new(rpc::INVALID_PARAMS, format!("no model named {n:?} is installed")))?,
        ),
    };
    let Reply::Unloaded(list) = call(node, Request::Unload(target)).await? else {
        return Err(Error::new(rpc::INTERNAL_ERROR, "unexpected reply"));
    };
    Ok(json!({"unloaded": list.iter().map(|m| name_of(&names, m)).collect::<Vec<_>>()}))
}
