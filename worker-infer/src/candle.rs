//! The candle backend: Hugging Face checkpoints (Safetensors or PyTorch weights in a model
//! archive, [`oarn_protocol::archive`]) run in candle on the CPU, in f32, with the model's own tokenizer
//! (`tokenizer.json`) and chat template (`tokenizer_config.json`). Llama (Llama, SmolLM,
//! TinyLlama, …), Mistral, Qwen2 and Phi-3 models run; others are refused by name.
//!
//! Everything in the archive is untrusted and read here, in the sandbox: the archive's index
//! and `config.json` are bounded by `oarn_formats`, and every tensor the architecture will ask
//! for is checked by name and shape before it is built (candle's Llama loader panics on a
//! missing tensor, and a release build aborts on a panic).

use std::fs::File;
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use candle_transformers::models::llama::{self, Llama, LlamaConfig};
use candle_transformers::models::{mistral, phi3, qwen2};
use oarn_formats::archive::Index;
use oarn_formats::hf;
use oarn_protocol::envelope::{ErrorKind, ErrorReply};
use oarn_protocol::infer::{Generate, Generated, Loaded, Protocol};
use oarn_protocol::serve::Context;
use oarn_protocol::task::ModelFormat;

use crate::backend::Backend;
use crate::cache::Cache;
use crate::lm::{self, Forward, Text, invalid};
use crate::text::{self, Deadline, err};

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
    net: Net,
    /// Positions the model takes (its rotary tables' length).
    positions: u32,
    text: Text,
    /// `config.json`'s `model_type`.
    arch: String,
    /// The dtype the checkpoint stores (it runs in f32).
    stored: String,
}

/// The network of each architecture. Llama's keys and values live in a cache of each
/// generation; the others' inside the model, cleared before each generation.
enum Net {
    Llama(Llama, llama::Config),
    Mistral(mistral::Model),
    Qwen2(qwen2::ModelForCausalLM),
    Phi3(phi3::Model),
}

/// The longest rotary tables built: the context a request can get, whatever `config.json`
/// says the model was trained on (the tables are built when the model is).
const MAX_POSITIONS: usize = 32_768;

impl Candle {
    /// candle, keeping up to `budget` bytes of models loaded.
    pub fn new(budget: u64) -> Self {
        Self {
            models: Cache::new(budget),
        }
    }
}

/// Reads the model archive at `path` and builds its model.
fn open(path: &str) -> Result<(Model, u64), ErrorReply> {
    let index = oarn_formats::archive::index(std::path::Path::new(path))
        .map_err(|e| invalid(format!("cannot load model {path}: {e}")))?;
    let mut file = File::open(path).map_err(|e| err(ErrorKind::NotFound, format!("cannot read model {path}: {e}")))?;
    let config_bytes =
        lm::json(&index, &mut file, path, "config.json")?.ok_or_else(|| invalid("the model has no config.json"))?;
    let bounded = hf::Config::parse(&config_bytes).map_err(|e| invalid(e.to_string()))?;
    let arch = bounded.arch().map_err(|e| invalid(e.to_string()))?;
    let text = Text::load(&index, &mut file, path, &config_bytes)?;
    let (vb, bytes, stored) = weights(&mut file, path, &index, &bounded)?;
    let positions = (bounded.max_position_embeddings as usize).min(MAX_POSITIONS);
    let parse = |e: serde_json::Error| invalid(format!("config.json: {e}"));
    let built = |e: candle_core::Error| invalid(format!("cannot build the model: {e}"));
    let net = match arch {
        hf::Arch::Llama => {
            let c: LlamaConfig = serde_json::from_slice(&config_bytes).map_err(parse)?;
            let mut c = c.into_config(false);
            c.max_position_embeddings = positions;
            Net::Llama(Llama::load(vb, &c).map_err(built)?, c)
        }
        hf::Arch::Mistral => {
            let mut c: mistral::Config = serde_json::from_slice(&config_bytes).map_err(parse)?;
            c.max_position_embeddings = positions;
            c.use_flash_attn = false;
            Net::Mistral(mistral::Model::new(&c, vb).map_err(built)?)
        }
        hf::Arch::Qwen2 => {
            let mut c: qwen2::Config = serde_json::from_slice(&config_bytes).map_err(parse)?;
            c.max_position_embeddings = positions;
            Net::Qwen2(qwen2::ModelForCausalLM::new(&c, vb).map_err(built)?)
        }
        hf::Arch::Phi3 => {
            let mut c: phi3::Config = serde_json::from_slice(&config_bytes).map_err(parse)?;
            c.max_position_embeddings = positions;
            Net::Phi3(phi3::Model::new(&c, vb).map_err(built)?)
        }
    };
    Ok((
        Model {
            net,
            positions: positions as u32,
            text,
            arch: bounded.model_type,
            stored,
        },
        bytes,
    ))
}

/// Maps the weights, checks every tensor the model will ask for, and converts them to f32;
/// with the bytes they take in memory and the stored dtype.
fn weights(
    file: &mut File,
    path: &str,
    index: &Index,
    bounded: &hf::Config,
) -> Result<(candle_nn::VarBuilder<'static>, u64, String), ErrorReply> {
    // SAFETY: the store's blobs are written once, before they are named, and never changed
    // in place; the map is read only while this function copies the tensors out of it.
    let map = unsafe { memmap2::Mmap::map(&*file) }.map_err(|e| invalid(format!("cannot map {path}: {e}")))?;
    let located = locate(&map, index)?;
    let (elements, stored) = bounded
        .check_tensors(|n| located.get(n).map(|t| (t.shape.clone(), t.stored.clone())))
        .map_err(|e| invalid(e.to_string()))?;
    let mut tensors = std::collections::HashMap::new();
    for (n, _) in bounded.expected_tensors().map_err(|e| invalid(e.to_string()))? {
        let t = &located[n.as_str()];
        let tensor = Tensor::from_raw_buffer(t.data, t.dtype, &t.shape, &Device::Cpu)
            .and_then(|t| t.to_dtype(DType::F32))
            .map_err(|e| invalid(format!("{}: the tensor {n}: {e}", t.shard)))?;
        tensors.insert(n, tensor);
    }
    let vb = candle_nn::VarBuilder::from_tensors(tensors, DType::F32, &Device::Cpu);
    Ok((vb, elements * 4, stored))
}

/// A tensor's bytes in the mapped archive, as its weights file describes them.
struct Located<'m> {
    shard: &'m str,
    data: &'m [u8],
    dtype: DType,
    /// The stored dtype as Safetensors names it.
    stored: String,
    shape: Vec<usize>,
}

/// Every float tensor of every weights file (shard) of the archive `map`: Safetensors headers
/// by Hugging Face's `safetensors` crate, PyTorch checkpoints by `oarn_formats::pytorch`
/// (whose pickle reader runs nothing). A tensor in two shards is refused.
fn locate<'m>(map: &'m [u8], index: &'m Index) -> Result<std::collections::HashMap<String, Located<'m>>, ErrorReply> {
    let mut out = std::collections::HashMap::new();
    for w in index.weights() {
        let bytes = map
            .get(w.offset as usize..(w.offset + w.size) as usize)
            .ok_or_else(|| invalid(format!("{} lies past the end of the archive", w.name)))?;
        let found: Vec<(String, &[u8], String, Vec<usize>)> = match index.format {
            ModelFormat::Pytorch => oarn_formats::pytorch::read(std::io::Cursor::new(bytes))
                .map_err(|e| invalid(format!("{}: {e}", w.name)))?
                .into_iter()
                // In range: pytorch::read checked every tensor's bytes against its storage's.
                .map(|t| {
                    let data = &bytes[t.offset as usize..(t.offset + t.len) as usize];
                    (t.name, data, t.dtype.name().to_string(), t.shape)
                })
                .collect(),
            _ => safetensors::SafeTensors::deserialize(bytes)
                .map_err(|e| invalid(format!("{}: {e}", w.name)))?
                .tensors()
                .into_iter()
                .map(|(n, v)| (n, v.data(), format!("{:?}", v.dtype()), v.shape().to_vec()))
                .collect(),
        };
        for (name, data, stored, shape) in found {
            let dtype = match stored.as_str() {
                "F16" => DType::F16,
                "BF16" => DType::BF16,
                // check_tensors lets only F32, F16 and BF16 through; others are never built.
                _ => DType::F32,
            };
            let t = Located {
                shard: &w.name,
                data,
                dtype,
                stored,
                shape,
            };
            if let Some(first) = out.insert(name.clone(), t) {
                return Err(invalid(format!(
                    "the tensor {name} is in both {} and {}",
                    first.shard, w.name
                )));
            }
        }
    }
    Ok(out)
}

/// The model at `path`, loading it (after making room) unless it is loaded; with the load time
/// in µs (0 when it was loaded already).
fn load<'a>(models: &'a mut Cache<Model>, path: &str) -> Result<(&'a mut Model, u64), ErrorReply> {
    if models.get(path).is_some() {
        return Ok((models.get_mut(path).expect("present"), 0));
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
    models.insert(path.to_string(), bytes, model);
    Ok((models.get_mut(path).expect("inserted"), us))
}

impl Backend for Candle {
    fn capabilities(&self) -> Vec<String> {
        vec!["candle".into(), "safetensors".into()]
    }

    fn unload(&mut self, model: Option<&str>) -> Result<Vec<String>, ErrorReply> {
        Ok(self.models.remove(model))
    }

    fn loaded(&self) -> Result<Vec<Loaded>, ErrorReply> {
        Ok(self.models.loaded())
    }

    fn generate(&mut self, g: &Generate, cx: &mut dyn Context<Protocol>) -> Result<Generated, ErrorReply> {
        let started = Instant::now();
        let deadline = Deadline::of(g, started);
        text::check(g)?;
        let threads = text::threads(g.threads);
        let (model, load_us) = load(&mut self.models, &g.model)?;
        deadline.check(|| "while loading the model".into())?;
        let tokens = model.text.prompt(g)?;
        let n_ctx = lm::context(g, model.positions, tokens.len())?;
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("candle-{i}"))
            .build()
            .map_err(|e| err(ErrorKind::Internal, format!("cannot start {threads} threads: {e}")))?;
        let cache = match &mut model.net {
            Net::Llama(_, c) => Some(llama::Cache::new(true, DType::F32, c, &Device::Cpu).map_err(internal)?),
            Net::Mistral(m) => {
                m.clear_kv_cache();
                None
            }
            Net::Qwen2(m) => {
                m.clear_kv_cache();
                None
            }
            Net::Phi3(m) => {
                m.clear_kv_cache();
                None
            }
        };
        let mut run = Run {
            net: &mut model.net,
            pool: &pool,
            cache,
        };
        let mut generated = lm::generate(&model.text, &mut run, g, &tokens, cx, &deadline, started)?;
        generated.load_us = load_us;
        generated.fingerprint = fingerprint(g, &model.arch, &model.stored, threads, n_ctx);
        Ok(generated)
    }
}

fn internal(e: candle_core::Error) -> ErrorReply {
    err(ErrorKind::Internal, format!("candle: {e}"))
}

/// One generation's state: the network, its threads and (for Llama) its KV cache.
struct Run<'a> {
    net: &'a mut Net,
    pool: &'a rayon::ThreadPool,
    cache: Option<llama::Cache>,
}

impl Forward for Run<'_> {
    fn forward(&mut self, tokens: &[u32], at: usize) -> Result<Vec<f32>, ErrorReply> {
        let (net, cache) = (&mut *self.net, &mut self.cache);
        self.pool
            .install(|| {
                let input = Tensor::new(tokens, &Device::Cpu)?.unsqueeze(0)?;
                let logits = match (net, cache) {
                    (Net::Llama(m, _), Some(cache)) => m.forward(&input, at, cache)?,
                    (Net::Mistral(m), _) => m.forward(&input, at)?,
                    (Net::Qwen2(m), _) => m.forward(&input, at)?,
                    (Net::Phi3(m), _) => m.forward(&input, at)?,
                    (Net::Llama(..), None) => candle_core::bail!("no KV cache for a Llama model"),
                };
                logits.flatten_all()?.to_vec1::<f32>()
            })
            .map_err(internal)
    }
}

/// What decides the exact output bytes: the candle versions, the CPU vector path gemm picks at
/// run time, the dtype it computes in, the context and threads, and the text side's versions
/// and parameters.
fn fingerprint(g: &Generate, arch: &str, stored: &str, threads: usize, n_ctx: u32) -> String {
    format!(
        "candle-core {}; candle-transformers {}; arch {arch}; backend cpu; {} [{}]; dtype f32 (stored {stored}); ctx {n_ctx}; threads {threads}; {}",
        env!("OARN_CANDLE_CORE_VERSION"),
        env!("OARN_CANDLE_TRANSFORMERS_VERSION"),
        std::env::consts::ARCH,
        crate::onnx::cpu_path(),
        lm::fingerprint(g)
    )
}
