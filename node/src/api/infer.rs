//! The inference side's methods: `oarn_generate` (streamed through [`super::stream`]),
//! `oarn_runTensor` (an ONNX model on a tensor task's input),
//! `oarn_modelsLoaded` (what the worker holds in memory) and `oarn_unload` (free one model,
//! or all). Models are named as the store (or Ollama) names them; the worker knows them by
//! their blob's path.

use std::time::Duration;

use oarn_api::infer::{
    Generate, Generated, InstalledModel, LoadedModel, Models, ModelsLoaded, RunTensor, TensorResult, Text, Unload,
    Unloaded,
};
use oarn_api::rpc::Error;
use oarn_protocol::WorkerKind;
use oarn_protocol::infer::{self, ListLoaded};
use oarn_supervise::Handle;
use tokio::sync::{mpsc, oneshot};

use super::errors;
use crate::state::Node;

/// Longest wait for the worker (it answers between generations).
const WAIT: Duration = Duration::from_secs(30);

fn worker(node: &Node) -> Result<&Handle<infer::Protocol>, Error> {
    node.workers
        .infer
        .as_ref()
        .ok_or_else(|| errors::absent(WorkerKind::Infer))
}

/// Calls the inference worker, waiting at most [`WAIT`].
async fn call<C: oarn_protocol::envelope::Call<Protocol = infer::Protocol>>(
    node: &Node,
    request: C,
) -> Result<C::Reply, Error> {
    match tokio::time::timeout(WAIT, worker(node)?.call(request)).await {
        Err(_) => Err(errors::too_slow(WorkerKind::Infer, WAIT.as_secs())),
        Ok(reply) => reply.map_err(errors::call),
    }
}

/// Store names by blob path, to name what the worker reports by path.
fn names(node: &Node) -> Vec<(String, String)> {
    let Ok(store) = crate::local::store(&node.config(), &node.home) else {
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

pub async fn loaded(node: &Node, _: ModelsLoaded) -> Result<Vec<LoadedModel>, Error> {
    let list = call(node, ListLoaded).await?;
    let names = names(node);
    Ok(list
        .iter()
        .map(|l| LoadedModel {
            model: name_of(&names, &l.model),
            bytes: l.bytes,
        })
        .collect())
}

/// The installed models; whether each is loaded is asked of the inference worker, and left
/// false when it does not answer in time.
pub async fn models(node: &Node, _: Models) -> Result<Vec<InstalledModel>, Error> {
    let internal = |e: oarn_models::store::StoreError| Error::new(oarn_api::Code::InternalError, e.to_string());
    let store = crate::local::store(&node.config(), &node.home).map_err(internal)?;
    let list = store.list().map_err(internal)?;
    let loaded: Vec<String> = tokio::time::timeout(std::time::Duration::from_secs(2), call(node, ListLoaded))
        .await
        .ok()
        .and_then(Result::ok)
        .map(|l| l.into_iter().map(|m| m.model).collect())
        .unwrap_or_default();
    Ok(list
        .into_iter()
        .map(|m| InstalledModel {
            loaded: loaded.contains(&store.blob(&m).display().to_string()),
            name: m.name,
            format: m.format,
            size: m.size,
            digest: m.digest,
            added_at: m.added_at,
            last_used: m.last_used,
        })
        .collect())
}

pub async fn unload(node: &Node, p: Unload) -> Result<Unloaded, Error> {
    let names = names(node);
    let model = match p.model {
        None => None,
        Some(n) if node.config().ollama.enabled => Some(n),
        Some(n) => Some(
            names
                .iter()
                .find(|(_, m)| *m == n)
                .map(|(path, _)| path.clone())
                .ok_or_else(|| errors::invalid(format!("no model named {n:?} is installed")))?,
        ),
    };
    let list = call(node, infer::Unload { model }).await?;
    Ok(Unloaded {
        unloaded: list.iter().map(|m| name_of(&names, m)).collect(),
    })
}

/// One generation by the node's worker: its text goes to `notes` as it comes; `cancel`
/// cancels it in the worker (the result, with what was generated, still comes).
pub async fn generate(
    node: &Node,
    p: Generate,
    notes: mpsc::Sender<Text>,
    cancel: oneshot::Receiver<()>,
) -> Result<Generated, Error> {
    let infer = worker(node)?.clone();
    let config = node.config();
    let chosen =
        crate::local::resolve(&config, &node.home, p.model.as_deref()).map_err(|e| errors::invalid(e.to_string()))?;
    let request = crate::local::request(&p, &chosen.model, config.compute.threads);
    let (events, mut rx) = mpsc::channel(64);
    let call = infer.stream_cancellable(request, Some(events), async {
        let _ = cancel.await;
    });
    tokio::pin!(call);
    let forward = |event| {
        let notes = notes.clone();
        async move {
            if let infer::Event::Token(text) = event {
                // A caller that left no longer reads; the generation goes on to its result.
                let _ = notes.send(Text { text }).await;
            }
        }
    };
    let reply = loop {
        tokio::select! {
            reply = &mut call => break reply,
            Some(event) = rx.recv() => forward(event).await,
        }
    };
    while let Ok(event) = rx.try_recv() {
        forward(event).await;
    }
    let done = reply.map_err(errors::call)?;
    node.metrics.generated(&done);
    crate::local::checked(done, &chosen.name).map_err(|e| Error::new(oarn_api::Code::InternalError, e.to_string()))
}

/// `oarn_generate` sent as a notification (no id): nobody reads the text, so it is not
/// streamed; the generation still runs.
pub async fn generate_whole(node: &Node, p: Generate) -> Result<Generated, Error> {
    let (notes, unread) = mpsc::channel(1);
    drop(unread);
    let (_never, cancel) = oneshot::channel();
    generate(node, p, notes, cancel).await
}

/// Largest tensor input: one block.
const MAX_INPUT: usize = 1 << 20;

/// One tensor run by the node's worker, which keeps the model loaded.
pub async fn run_tensor(node: &Node, p: RunTensor) -> Result<TensorResult, Error> {
    let input =
        hex::decode(p.input_hex.trim_start_matches("0x")).map_err(|e| errors::invalid(format!("input_hex: {e}")))?;
    if input.is_empty() || input.len() > MAX_INPUT {
        return Err(errors::invalid("the input must be 1 byte to 1 MiB"));
    }
    let infer = worker(node)?.clone();
    let config = node.config();
    let chosen = crate::local::resolve_for(&config, &node.home, p.model.as_deref(), crate::local::Use::Tensor)
        .map_err(|e| errors::invalid(e.to_string()))?;
    let request = crate::local::run_request(&config, &chosen, input, p.threads, p.deadline_ms);
    let ran = infer.call(request).await.map_err(errors::call)?;
    crate::local::checked_run(ran, &chosen.name).map_err(|e| Error::new(oarn_api::Code::InternalError, e.to_string()))
}
