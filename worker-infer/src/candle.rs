//! The candle backend: Hugging Face checkpoints (Safetensors or PyTorch weights in a model
//! archive, [`oarn_protocol::archive`]) run in candle on the CPU, in f32, with the model's own tokenizer
//! (`tokenizer.json`) and chat template (`tokenizer_config.json`). Llama-architecture models
//! (Llama, SmolLM, TinyLlama, …) run; others are refused by name.
//!
//! Everything in the archive is untrusted and read here, in the sandbox: the archive's index
//! and `config.json` are bounded by `oarn_formats`, and every tensor candle's Llama will ask
//! for is checked by name and shape before it is built (candle's loader panics on a missing
//! tensor, and a release build aborts on a panic).

use std::fs::File;
use std::time::Instant;

use candle_core::safetensors::SliceSafetensors;
use candle_core::{DType, Device, Tensor};
use candle_transformers::generation::{LogitsProcessor, Sampling};
use candle_transformers::models::llama::{self, Llama, LlamaConfig, LlamaEosToks};
use oarn_formats::archive::Index;
use oarn_formats::hf;
use oarn_protocol::envelope::{ErrorKind, ErrorReply};
use oarn_protocol::infer::{DEFAULT_CONTEXT, Generate, Generated, Loaded, Protocol, Stop};
use oarn_protocol::serve::Context;
use oarn_protocol::task::ModelFormat;
use tokenizers::Tokenizer;

use crate::backend::{Backend, Output};
use crate::cache::Cache;
use crate::chat::Template;
use crate::text::{self, Deadline, Stops, err};

/// candle, and the models it holds.
pub struct Candle {
    models: Cache<Model>,
}

impl std::fmt::Debug for Candle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Candle").field("models", &self.models.list()).finish()
    }
}

/// A loaded model.
struct Model {
    llama: Llama,
    config: llama::Config,
    tokenizer: Tokenizer,
    template: Option<Template>,
    /// The tokens that end a generation.
    eos: Vec<u32>,
    /// The dtype the checkpoint stores (it runs in f32).
    stored: String,
}

impl Candle {
    /// candle, keeping up to `budget` bytes of models loaded.
    pub fn new(budget: u64) -> Self {
        Self {
            models: Cache::new(budget),
        }
    }
}

fn invalid(message: impl Into<String>) -> ErrorReply {
    err(ErrorKind::InvalidRequest, message)
}

/// Whether the file at `path` is a model archive (so this backend runs it).
pub fn runs(path: &str) -> bool {
    let mut head = [0u8; 512];
    let n = File::open(path)
        .and_then(|mut f| std::io::Read::read(&mut f, &mut head))
        .unwrap_or(0);
    oarn_formats::archive::is_archive(&head[..n])
}

/// Reads the model archive at `path` and builds its model.
fn open(path: &str) -> Result<(Model, u64), ErrorReply> {
    let index = oarn_formats::archive::index(std::path::Path::new(path))
        .map_err(|e| invalid(format!("cannot load model {path}: {e}")))?;
    let mut file = File::open(path).map_err(|e| err(ErrorKind::NotFound, format!("cannot read model {path}: {e}")))?;
    let json = |file: &mut File, name: &str| {
        index
            .read_json(file, name)
            .map_err(|e| invalid(format!("cannot read {name} in {path}: {e}")))
    };
    let config_bytes = json(&mut file, "config.json")?.ok_or_else(|| invalid("the model has no config.json"))?;
    let bounded = hf::Config::parse(&config_bytes).map_err(|e| invalid(e.to_string()))?;
    let config: LlamaConfig =
        serde_json::from_slice(&config_bytes).map_err(|e| invalid(format!("config.json: {e}")))?;
    let tokenizer = json(&mut file, "tokenizer.json")?
        .ok_or_else(|| invalid("the model has no tokenizer.json"))
        .and_then(|b| Tokenizer::from_bytes(b).map_err(|e| invalid(format!("tokenizer.json: {e}"))))?;
    let template = match json(&mut file, "tokenizer_config.json")? {
        Some(b) => {
            let v: serde_json::Value =
                serde_json::from_slice(&b).map_err(|e| invalid(format!("tokenizer_config.json: {e}")))?;
            Template::from_config(&v).map_err(invalid)?
        }
        None => None,
    };
    let eos = end_tokens(&config, json(&mut file, "generation_config.json")?.as_deref());
    let config = config.into_config(false);
    let (model, bytes, stored) = build(&mut file, path, &index, &bounded, &config)?;
    Ok((
        Model {
            llama: model,
            config,
            tokenizer,
            template,
            eos,
            stored,
        },
        bytes,
    ))
}

/// The tokens that end a generation: `config.json`'s and `generation_config.json`'s
/// `eos_token_id` (a number or a list).
fn end_tokens(config: &LlamaConfig, generation: Option<&[u8]>) -> Vec<u32> {
    let mut out = match &config.eos_token_id {
        Some(LlamaEosToks::Single(t)) => vec![*t],
        Some(LlamaEosToks::Multiple(ts)) => ts.clone(),
        None => Vec::new(),
    };
    let from_generation = generation
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(b).ok())
        .and_then(|v| v.get("eos_token_id").cloned());
    match from_generation {
        Some(serde_json::Value::Number(n)) => out.extend(n.as_u64().map(|t| t as u32)),
        Some(serde_json::Value::Array(list)) => out.extend(list.iter().filter_map(|t| t.as_u64()).map(|t| t as u32)),
        _ => {}
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Maps the weights, checks every tensor the model will ask for, and builds the model; with
/// the bytes it holds in memory and the stored dtype.
fn build(
    file: &mut File,
    path: &str,
    index: &Index,
    bounded: &hf::Config,
    config: &llama::Config,
) -> Result<(Llama, u64, String), ErrorReply> {
    let weights: Vec<_> = index.weights().collect();
    let [w] = weights[..] else {
        return Err(invalid(hf::HfError::Sharded(weights.len()).to_string()));
    };
    // SAFETY: the store's blobs are written once, before they are named, and never changed
    // in place; the map is read only while this function builds the model from it.
    let map = unsafe { memmap2::Mmap::map(&*file) }.map_err(|e| invalid(format!("cannot map {path}: {e}")))?;
    let bytes = map
        .get(w.offset as usize..(w.offset + w.size) as usize)
        .ok_or_else(|| invalid("the weights lie past the end of the archive"))?;
    let (vb, elements, stored) = match index.format {
        ModelFormat::Pytorch => pytorch_weights(bytes, &w.name, bounded)?,
        _ => {
            let st = SliceSafetensors::new(bytes).map_err(|e| invalid(format!("{}: {e}", w.name)))?;
            let (elements, stored) = bounded
                .check_llama(|name| {
                    let view = st.get(name).ok()?;
                    Some((view.shape().to_vec(), format!("{:?}", view.dtype())))
                })
                .map_err(|e| invalid(e.to_string()))?;
            let vb = candle_nn::VarBuilder::from_slice_safetensors(bytes, DType::F32, &Device::Cpu)
                .map_err(|e| invalid(format!("{}: {e}", w.name)))?;
            (vb, elements, stored)
        }
    };
    let model = Llama::load(vb, config).map_err(|e| invalid(format!("cannot build the model: {e}")))?;
    Ok((model, elements * 4, stored))
}

/// The weights of a PyTorch checkpoint (`bytes`, the member `name`), located by
/// `oarn_formats::pytorch` (whose pickle reader runs nothing), checked against the config, and
/// converted to f32; with the elements they hold and the stored dtype.
fn pytorch_weights<'a>(
    bytes: &[u8],
    name: &str,
    config: &hf::Config,
) -> Result<(candle_nn::VarBuilder<'a>, u64, String), ErrorReply> {
    let refs = oarn_formats::pytorch::read(std::io::Cursor::new(bytes)).map_err(|e| invalid(format!("{name}: {e}")))?;
    let by_name: std::collections::HashMap<&str, &oarn_formats::pytorch::TensorRef> =
        refs.iter().map(|t| (t.name.as_str(), t)).collect();
    let (elements, stored) = config
        .check_llama(|n| by_name.get(n).map(|t| (t.shape.clone(), t.dtype.name().to_string())))
        .map_err(|e| invalid(e.to_string()))?;
    let mut tensors = std::collections::HashMap::new();
    for (n, _) in config.llama_tensors() {
        let t = by_name[n.as_str()];
        let dtype = match t.dtype {
            oarn_formats::pytorch::Dtype::F16 => DType::F16,
            oarn_formats::pytorch::Dtype::BF16 => DType::BF16,
            // check_llama let only F32, F16 and BF16 through.
            _ => DType::F32,
        };
        // In range: pytorch::read checked every tensor's bytes against its storage's.
        let data = &bytes[t.offset as usize..(t.offset + t.len) as usize];
        let tensor = Tensor::from_raw_buffer(data, dtype, &t.shape, &Device::Cpu)
            .and_then(|t| t.to_dtype(DType::F32))
            .map_err(|e| invalid(format!("{name}: the tensor {n}: {e}")))?;
        tensors.insert(n, tensor);
    }
    Ok((
        candle_nn::VarBuilder::from_tensors(tensors, DType::F32, &Device::Cpu),
        elements,
        stored,
    ))
}

/// The model at `path`, loading it (after making room) unless it is loaded; with the load time
/// in µs (0 when it was loaded already).
fn load<'a>(models: &'a mut Cache<Model>, path: &str) -> Result<(&'a Model, u64), ErrorReply> {
    if models.get(path).is_some() {
        return Ok((models.get(path).expect("present"), 0));
    }
    let t = Instant::now();
    let size = std::fs::metadata(path)
        .map_err(|e| err(ErrorKind::NotFound, format!("cannot read model {path}: {e}")))?
        .len();
    let unloaded = models.make_room(size);
    if !unloaded.is_empty() {
        tracing::info!(?unloaded, "unloaded to stay within the memory budget");
    }
    let (model, bytes) = open(path)?;
    let us = t.elapsed().as_micros() as u64;
    Ok((models.insert(path.to_string(), bytes, model), us))
}

/// The prompt's text: the conversation through the model's chat template, or the prompt as it
/// is; and whether the tokenizer should add its own special tokens (a template writes them).
fn prompt_text(model: &Model, g: &Generate) -> Result<(String, bool), ErrorReply> {
    match (g.chat, &model.template) {
        (true, Some(t)) => Ok((t.render(g).map_err(invalid)?, false)),
        (true, None) if !g.history.is_empty() => Err(invalid(
            "this model has no chat template, so it cannot take a conversation",
        )),
        _ => Ok((g.prompt.clone(), true)),
    }
}

/// Greedy decoding at temperature 0; else top-k, then top-p, at the temperature, seeded.
fn sampler(g: &Generate) -> LogitsProcessor {
    let temperature = f64::from(g.temperature_milli) / 1000.0;
    let top_p = f64::from(g.top_p_milli) / 1000.0;
    let (k, p) = (g.top_k as usize, g.top_p_milli > 0 && g.top_p_milli < 1000);
    let sampling = match (g.temperature_milli, k, p) {
        (0, ..) => Sampling::ArgMax,
        (_, 0, false) => Sampling::All { temperature },
        (_, 0, true) => Sampling::TopP { p: top_p, temperature },
        (_, k, false) => Sampling::TopK { k, temperature },
        (_, k, true) => Sampling::TopKThenTopP {
            k,
            p: top_p,
            temperature,
        },
    };
    LogitsProcessor::from_sampling(u64::from(g.seed), sampling)
}

impl Backend for Candle {
    fn capabilities(&self) -> Vec<String> {
        vec!["candle".into(), "safetensors".into()]
    }

    fn unload(&mut self, model: Option<&str>) -> Result<Vec<String>, ErrorReply> {
        Ok(self.models.remove(model))
    }

    fn loaded(&self) -> Result<Vec<Loaded>, ErrorReply> {
        Ok(self
            .models
            .list()
            .into_iter()
            .map(|(model, bytes)| Loaded { model, bytes })
            .collect())
    }

    fn generate(&mut self, g: &Generate, cx: &mut dyn Context<Protocol>) -> Result<Generated, ErrorReply> {
        let started = Instant::now();
        let deadline = Deadline::of(g, started);
        text::check(g)?;
        let threads = if g.threads == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            g.threads as usize
        };
        let (model, load_us) = load(&mut self.models, &g.model)?;
        deadline.check(|| "while loading the model".into())?;
        let trained = model.config.max_position_embeddings as u32;
        let n_ctx = if g.context == 0 {
            DEFAULT_CONTEXT.min(trained)
        } else {
            g.context.min(trained)
        };
        let (text, add_special) = prompt_text(model, g)?;
        let tokens = model
            .tokenizer
            .encode(text, add_special)
            .map_err(|e| invalid(format!("cannot tokenize the prompt: {e}")))?
            .get_ids()
            .to_vec();
        if tokens.is_empty() {
            return Err(invalid("the prompt is empty"));
        }
        if tokens.len() as u64 + u64::from(g.max_tokens) > u64::from(n_ctx) {
            return Err(invalid(format!(
                "the prompt ({} tokens) plus max_tokens ({}) exceeds the context of {n_ctx} tokens",
                tokens.len(),
                g.max_tokens
            )));
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("candle-{i}"))
            .build()
            .map_err(|e| err(ErrorKind::Internal, format!("cannot start {threads} threads: {e}")))?;
        let run = Run {
            model,
            pool: &pool,
            cache: {
                // The rotary tables cover the context asked for, not every position the model
                // was trained on.
                let mut c = model.config.clone();
                c.max_position_embeddings = n_ctx as usize;
                llama::Cache::new(true, DType::F32, &c, &Device::Cpu).map_err(internal)?
            },
        };
        let mut generated = run.generate(g, &tokens, cx, &deadline, started)?;
        generated.load_us = load_us;
        generated.fingerprint = fingerprint(g, &model.stored, threads, n_ctx);
        Ok(generated)
    }
}

fn internal(e: candle_core::Error) -> ErrorReply {
    err(ErrorKind::Internal, format!("candle: {e}"))
}

/// One generation's state: the model, its threads and its KV cache.
struct Run<'a> {
    model: &'a Model,
    pool: &'a rayon::ThreadPool,
    cache: llama::Cache,
}

impl Run<'_> {
    /// The logits after `tokens`, placed from position `at`.
    fn forward(&mut self, tokens: &[u32], at: usize) -> Result<Tensor, ErrorReply> {
        let (llama, cache) = (&self.model.llama, &mut self.cache);
        self.pool
            .install(|| {
                let input = Tensor::new(tokens, &Device::Cpu)?.unsqueeze(0)?;
                llama.forward(&input, at, cache)?.squeeze(0)
            })
            .map_err(internal)
    }

    fn generate(
        mut self,
        g: &Generate,
        tokens: &[u32],
        cx: &mut dyn Context<Protocol>,
        deadline: &Deadline,
        started: Instant,
    ) -> Result<Generated, ErrorReply> {
        let prompt_started = Instant::now();
        deadline.check(|| "before reading the prompt".into())?;
        let mut logits = self.forward(tokens, 0)?;
        let prompt_us = prompt_started.elapsed().as_micros() as u64;

        let generate_started = Instant::now();
        let mut sampler = sampler(g);
        let mut out = Output::default();
        let mut stops = Stops::new(&g.stop);
        let mut ids: Vec<u32> = Vec::new();
        let mut decoded = Decoded::default();
        let mut first_token_us = 0;
        let mut stop = Stop::MaxTokens;
        while (ids.len() as u32) < g.max_tokens {
            if cx.cancelled() {
                stop = Stop::Cancelled;
                break;
            }
            deadline.check(|| format!("after {} generated tokens", ids.len()))?;
            let token = sampler.sample(&logits).map_err(internal)?;
            if self.model.eos.contains(&token) {
                stop = Stop::EndOfText;
                break;
            }
            ids.push(token);
            if first_token_us == 0 {
                first_token_us = started.elapsed().as_micros() as u64;
            }
            let piece = decoded.next(&self.model.tokenizer, &ids)?;
            let (released, hit) = stops.push(&piece);
            out.emit(cx, released)?;
            if hit {
                stop = Stop::StopString;
                break;
            }
            logits = self.forward(&[token], tokens.len() + ids.len() - 1)?;
        }
        if stop != Stop::StopString {
            let (released, hit) = stops.push(&decoded.rest(&self.model.tokenizer, &ids)?);
            out.emit(cx, released)?;
            if hit {
                stop = Stop::StopString;
            } else {
                out.emit(cx, stops.finish())?;
            }
        }
        let (text, text_keccak) = out.finish();
        Ok(Generated {
            text,
            text_keccak,
            stop,
            prompt_tokens: tokens.len() as u32,
            generated_tokens: ids.len() as u32,
            load_us: 0,
            prompt_us,
            generate_us: generate_started.elapsed().as_micros() as u64,
            first_token_us,
            fingerprint: String::new(),
        })
    }
}

/// The generated text, decoded as a whole (a token's text can depend on its neighbours) and
/// released as it grows, holding back an incomplete character.
#[derive(Debug, Default)]
struct Decoded {
    /// Bytes of the decoded text already released.
    released: usize,
}

impl Decoded {
    fn decode(tokenizer: &Tokenizer, ids: &[u32]) -> Result<String, ErrorReply> {
        tokenizer
            .decode(ids, true)
            .map_err(|e| err(ErrorKind::Internal, format!("cannot decode: {e}")))
    }

    /// The text `ids` add to what was released, unless it ends in an incomplete character.
    fn next(&mut self, tokenizer: &Tokenizer, ids: &[u32]) -> Result<String, ErrorReply> {
        let text = Self::decode(tokenizer, ids)?;
        if text.ends_with('\u{FFFD}') {
            return Ok(String::new());
        }
        Ok(self.take(&text))
    }

    /// Whatever is left at the end, incomplete characters included.
    fn rest(&mut self, tokenizer: &Tokenizer, ids: &[u32]) -> Result<String, ErrorReply> {
        let text = Self::decode(tokenizer, ids)?;
        Ok(self.take(&text))
    }

    fn take(&mut self, text: &str) -> String {
        match text.get(self.released..) {
            Some(new) => {
                self.released = text.len();
                new.to_string()
            }
            // The text was decoded differently from what was released; nothing more is added.
            None => String::new(),
        }
    }
}

/// What decides the exact output bytes: the candle, tokenizers and minijinja versions, the
/// CPU vector path gemm picks at run time, the dtype it computes in, and every parameter.
fn fingerprint(g: &Generate, stored: &str, threads: usize, n_ctx: u32) -> String {
    format!(
        "candle-core {}; candle-transformers {}; tokenizers {}; minijinja {}; backend cpu; {} [{}]; dtype f32 (stored {stored}); ctx {n_ctx}; threads {threads}; temp {}; top-k {}; top-p {}; seed {}; chat {}",
        env!("OARN_CANDLE_CORE_VERSION"),
        env!("OARN_CANDLE_TRANSFORMERS_VERSION"),
        env!("OARN_TOKENIZERS_VERSION"),
        env!("OARN_MINIJINJA_VERSION"),
        std::env::consts::ARCH,
        crate::onnx::cpu_path(),
        f64::from(g.temperature_milli) / 1000.0,
        g.top_k,
        f64::from(g.top_p_milli) / 1000.0,
        g.seed,
        g.chat
    )
}
