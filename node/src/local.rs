//! `oarn local inference` without a daemon: starts a supervisor with only the inference worker
//! (the same spawn, sandbox and protocol path the daemon uses), runs one generation, streams
//! its text, and stops the worker.

use oarn_protocol::WorkerKind;
use oarn_protocol::infer::{Event, Generate, Generated, Reply, Request};
use tokio::sync::{mpsc, oneshot};

use oarn_config::home::Home;
use oarn_config::{Config, resolve_path};
use oarn_models::{Manifest, Store, StoreError};
use oarn_supervise::{CallError, alone};

/// Why a local generation failed.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// No model is installed.
    #[error(
        "no model is installed; install a small one with `oarn model pull smollm2-135m` (`oarn model catalog` lists more), or add a GGUF file with `oarn model import PATH`"
    )]
    NoModel,
    /// Ollama is enabled and no model was named.
    #[error("ollama.enabled is set: name an Ollama model with --model (see `ollama list`)")]
    OllamaModel,
    /// Several models and none chosen.
    #[error("several models are installed ({0}); choose one with --model")]
    Ambiguous(String),
    /// The store could not be read, or the model is unknown.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The worker did not start or stopped.
    #[error("the inference worker failed: {0}")]
    Worker(String),
    /// The worker refused or failed the request.
    #[error(transparent)]
    Call(#[from] CallError),
}

/// Picks the model: the one named, else the only one installed.
pub fn choose_model(store: &Store, name: Option<&str>) -> Result<Manifest, LocalError> {
    if let Some(n) = name {
        return Ok(store.get(n)?);
    }
    let mut all = store.list()?;
    match all.len() {
        0 => Err(LocalError::NoModel),
        1 => Ok(all.remove(0)),
        _ => Err(LocalError::Ambiguous(
            all.iter().map(|m| m.name.as_str()).collect::<Vec<_>>().join(", "),
        )),
    }
}

/// The model a generation runs on: its name, what the worker is given (the blob's path, or
/// the Ollama model name), and, for a model of the store, a shared lock that keeps it from
/// being evicted while it runs (its use is recorded too).
#[derive(Debug)]
pub struct Chosen {
    pub name: String,
    pub model: String,
    pub in_use: Option<nix::fcntl::Flock<std::fs::File>>,
}

/// Resolves `name` (or the only installed model) for a generation under `config`.
pub fn resolve(config: &Config, home: &Home, name: Option<&str>) -> Result<Chosen, LocalError> {
    if config.ollama.enabled {
        let name = name.ok_or(LocalError::OllamaModel)?;
        return Ok(Chosen {
            name: name.into(),
            model: name.into(),
            in_use: None,
        });
    }
    let store = store(config, home)?;
    let manifest = choose_model(&store, name)?;
    // Eviction spares recently used models and never takes one in use.
    if let Err(e) = store.touch(&manifest.name) {
        tracing::warn!("cannot record the model's use: {e}");
    }
    Ok(Chosen {
        in_use: Some(store.in_use(&manifest)?),
        model: store.blob(&manifest).display().to_string(),
        name: manifest.name,
    })
}

/// Opens the store of `config` in `home`.
pub fn store(config: &Config, home: &Home) -> Result<Store, StoreError> {
    Store::open(&resolve_path(&config.storage.models_dir, home.root()))
}

/// Runs `request` on a freshly started inference worker, calling `on_text` as text arrives;
/// `cancel` stops the generation (its answer, with what was generated, is still returned).
pub async fn infer(
    config: &Config,
    home: &Home,
    request: Generate,
    mut on_text: impl FnMut(&str),
    cancel: oneshot::Receiver<()>,
) -> Result<Generated, LocalError> {
    // ollama.serve without a running node: run `ollama serve` for this generation only.
    let daemon = crate::pidfile::running(&home.pid_file()).is_some();
    let ollama = match (config.ollama.enabled && config.ollama.serve, daemon) {
        (true, false) => {
            Some(oarn_supervise::ollama::Served::start(&config.ollama).map_err(|e| LocalError::Worker(e.to_string()))?)
        }
        _ => None,
    };
    let supervisor = alone::start(config, home, WorkerKind::Infer)
        .await
        .map_err(LocalError::Worker)?;
    let result = async {
        let handle = supervisor
            .workers()
            .infer
            .clone()
            .expect("started with the infer worker");
        let (tx, mut rx) = mpsc::channel(1024);
        let call = handle.call_cancellable(Request::Generate(request), Some(tx), cancel);
        tokio::pin!(call);
        let reply = loop {
            tokio::select! {
                reply = &mut call => break reply,
                Some(Event::Token(text)) = rx.recv() => on_text(&text),
            }
        };
        while let Ok(Event::Token(text)) = rx.try_recv() {
            on_text(&text);
        }
        let reply = match reply {
            Err(CallError::Lost(_)) => return Err(LocalError::Worker(alone::lost(|| handle.status()).await)),
            other => other?,
        };
        match reply {
            Reply::Generated(g) => Ok(g),
            other => Err(LocalError::Worker(format!("unexpected reply {other:?}"))),
        }
    }
    .await;
    supervisor.shutdown().await;
    if let Some(served) = ollama {
        served.stop().await;
    }
    result
}
