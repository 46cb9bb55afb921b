//! Generations on this machine: the model a request runs on, the request as the inference
//! worker takes it, and what it hands back, checked (its text hashed again here). Without a
//! daemon (`oarn local inference`), [`infer`] starts a supervisor with only the inference
//! worker: the same spawn, sandbox and protocol path the daemon uses. Tensor models (ONNX)
//! run the same way through [`run_tensor`] (`oarn local run`).

use std::future::Future;

use oarn_api::infer as api;
use oarn_config::home::Home;
use oarn_config::{Config, resolve_path};
use oarn_models::{Manifest, Store, StoreError};
use oarn_protocol::WorkerKind;
use oarn_protocol::infer::{self, Event, Message, Role};
use oarn_supervise::{CallError, alone};
use sha3::{Digest, Keccak256};
use tokio::sync::mpsc;

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
    /// No tensor model is installed.
    #[error(
        "no ONNX model is installed; add one with `oarn model import FILE.onnx` (compute.onnxruntime must name ONNX Runtime)"
    )]
    NoTensorModel,
    /// The model is not of the kind the command runs.
    #[error("{name} is {what}; {instead}")]
    WrongKind {
        name: String,
        what: &'static str,
        instead: &'static str,
    },
    /// The store could not be read, or the model is unknown.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The worker did not start or stopped.
    #[error("the inference worker failed: {0}")]
    Worker(String),
    /// The worker refused or failed the request.
    #[error(transparent)]
    Call(#[from] CallError),
    /// What the worker handed back does not hold together.
    #[error("the inference worker's answer is inconsistent: {0}; its result was not used")]
    Inconsistent(String),
}

/// What a model is run for: generating text (GGUF, through llama.cpp or Ollama), or a
/// tensor task (ONNX).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    Generate,
    Tensor,
}

impl Use {
    fn fits(self, m: &Manifest) -> bool {
        m.metadata.generates_text() == (self == Use::Generate)
    }

    fn wrong(self, m: &Manifest) -> LocalError {
        let (what, instead) = match self {
            Use::Generate => (
                "an ONNX tensor model",
                "run it on a tensor input with `oarn local run --model NAME INPUT`",
            ),
            Use::Tensor => (
                "a language model",
                "generate text with it with `oarn local inference --model NAME PROMPT`",
            ),
        };
        LocalError::WrongKind {
            name: m.name.clone(),
            what,
            instead,
        }
    }
}

/// Picks the model for `use_`: the one named, else the only one of that kind installed.
pub fn choose_model(store: &Store, name: Option<&str>, use_: Use) -> Result<Manifest, LocalError> {
    if let Some(n) = name {
        let m = store.get(n)?;
        return if use_.fits(&m) { Ok(m) } else { Err(use_.wrong(&m)) };
    }
    let mut all: Vec<Manifest> = store.list()?.into_iter().filter(|m| use_.fits(m)).collect();
    match all.len() {
        0 if use_ == Use::Tensor => Err(LocalError::NoTensorModel),
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
    resolve_for(config, home, name, Use::Generate)
}

/// Resolves `name` (or the only installed model of the kind) for `use_`.
pub fn resolve_for(config: &Config, home: &Home, name: Option<&str>, use_: Use) -> Result<Chosen, LocalError> {
    if config.ollama.enabled && use_ == Use::Generate {
        let name = name.ok_or(LocalError::OllamaModel)?;
        return Ok(Chosen {
            name: name.into(),
            model: name.into(),
            in_use: None,
        });
    }
    let store = store(config, home)?;
    let manifest = choose_model(&store, name, use_)?;
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

/// The worker's request for the API's `p`, on `model` (a blob's path or an Ollama name);
/// `threads` is used when the request leaves it at 0.
pub fn request(p: &api::Generate, model: &str, threads: u32) -> infer::Generate {
    infer::Generate {
        system: p.system.clone(),
        chat: p.chat,
        temperature_milli: p.temperature_milli,
        top_k: p.top_k,
        top_p_milli: p.top_p_milli,
        seed: p.seed,
        stop: p.stop.clone(),
        threads: if p.threads == 0 { threads } else { p.threads },
        deadline_ms: p.deadline_ms,
        history: p
            .messages
            .iter()
            .map(|m| Message {
                role: match m.role {
                    api::Role::System => Role::System,
                    api::Role::User => Role::User,
                    api::Role::Assistant => Role::Assistant,
                },
                content: m.content.clone(),
            })
            .collect(),
        ..infer::Generate::new(model, p.prompt.clone(), p.max_tokens)
    }
}

/// The worker's answer as the API gives it, once its text's keccak256 has been computed here
/// and found equal to the one the worker gave (a result's hash rests on this side's).
pub fn checked(done: infer::Generated, model: &str) -> Result<api::Generated, LocalError> {
    let ours: [u8; 32] = Keccak256::digest(done.text.as_bytes()).into();
    if ours != done.text_keccak {
        return Err(LocalError::Inconsistent(format!(
            "the text hashes to {}, not to the {} it came with",
            oarn_protocol::hex::encode(&ours),
            oarn_protocol::hex::encode(&done.text_keccak)
        )));
    }
    Ok(api::Generated {
        model: model.to_string(),
        text: done.text,
        text_keccak: oarn_api::Hash32(ours),
        stop: match done.stop {
            infer::Stop::EndOfText => api::Stop::EndOfText,
            infer::Stop::MaxTokens => api::Stop::MaxTokens,
            infer::Stop::Cancelled => api::Stop::Cancelled,
            infer::Stop::StopString => api::Stop::StopString,
        },
        prompt_tokens: done.prompt_tokens,
        generated_tokens: done.generated_tokens,
        load_us: done.load_us,
        prompt_us: done.prompt_us,
        generate_us: done.generate_us,
        first_token_us: done.first_token_us,
        fingerprint: done.fingerprint,
    })
}

/// Runs `p` on a freshly started inference worker, calling `on_text` as text arrives;
/// `cancel` stops the generation (its answer, with what was generated, is still returned).
pub async fn infer(
    config: &Config,
    home: &Home,
    p: &api::Generate,
    mut on_text: impl FnMut(&str),
    cancel: impl Future<Output = ()>,
) -> Result<api::Generated, LocalError> {
    let chosen = resolve(config, home, p.model.as_deref())?;
    let request = request(p, &chosen.model, config.compute.threads);
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
        let call = handle.stream_cancellable(request, Some(tx), cancel);
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
        match reply {
            Err(CallError::Lost(_)) => Err(LocalError::Worker(alone::lost(&handle).await)),
            other => checked(other?, &chosen.name),
        }
    }
    .await;
    supervisor.shutdown().await;
    if let Some(served) = ollama {
        served.stop().await;
    }
    result
}

/// Runs the tensor model `name` (or the only ONNX model) on `input` (an input block's bytes,
/// parsed by the worker) in a freshly started inference worker.
pub async fn run_tensor(
    config: &Config,
    home: &Home,
    name: Option<&str>,
    input: Vec<u8>,
    threads: u32,
    deadline_ms: u64,
) -> Result<api::TensorResult, LocalError> {
    let chosen = resolve_for(config, home, name, Use::Tensor)?;
    let request = run_request(config, &chosen, input, threads, deadline_ms);
    let mut config = config.clone();
    config.ollama.enabled = false;
    let supervisor = alone::start(&config, home, WorkerKind::Infer)
        .await
        .map_err(LocalError::Worker)?;
    let handle = supervisor
        .workers()
        .infer
        .clone()
        .expect("started with the infer worker");
    let result = match handle.call(request).await {
        Err(CallError::Lost(_)) => Err(LocalError::Worker(alone::lost(&handle).await)),
        other => other
            .map_err(LocalError::from)
            .and_then(|ran| checked_run(ran, &chosen.name)),
    };
    supervisor.shutdown().await;
    result
}

/// The worker's request for a tensor run on `chosen`; `threads` 0 uses compute.threads.
pub fn run_request(config: &Config, chosen: &Chosen, input: Vec<u8>, threads: u32, deadline_ms: u64) -> infer::Run {
    infer::Run {
        model: chosen.model.clone(),
        input,
        threads: if threads == 0 { config.compute.threads } else { threads },
        deadline_ms,
    }
}

/// `ran` as the API gives it, once its result's keccak256 has been computed here and found
/// equal to the worker's.
pub fn checked_run(ran: infer::Ran, model: &str) -> Result<api::TensorResult, LocalError> {
    let ours: [u8; 32] = Keccak256::digest(&ran.result).into();
    if ours != ran.result_keccak {
        return Err(LocalError::Inconsistent(format!(
            "the result hashes to {}, not to the {} it came with",
            oarn_protocol::hex::encode(&ours),
            oarn_protocol::hex::encode(&ran.result_keccak)
        )));
    }
    Ok(api::TensorResult {
        model: model.to_string(),
        // The worker writes JSON: UTF-8 by construction, so nothing is replaced here.
        result: String::from_utf8_lossy(&ran.result).into_owned(),
        result_keccak: oarn_api::Hash32(ours),
        input_shape: ran.input_shape,
        output_shape: ran.output_shape,
        load_us: ran.load_us,
        run_us: ran.run_us,
        fingerprint: ran.fingerprint,
    })
}
