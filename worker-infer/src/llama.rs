//! The llama.cpp backend: GGUF models mapped from the model cache and kept loaded within the
//! memory budget, greedy or seeded sampling, and a fingerprint of what decides the output
//! bytes (deterministic mode keeps flash attention off and batch sizes fixed, so the same
//! model, prompt and parameters give the same bytes on every run).

use std::ffi::CStr;
use std::num::NonZeroU32;
use std::time::Instant;

use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::{LlamaChatMessage, LlamaModel};
use llama_cpp_2::sampling::LlamaSampler;
use oarn_protocol::envelope::{ErrorKind, ErrorReply};
use oarn_protocol::infer::{DEFAULT_CONTEXT, Generate, Generated, Loaded, Protocol, Role, Stop};
use oarn_protocol::serve::Context;

use crate::backend::{Backend, Output};
use crate::cache::Cache;
use crate::text::{self, Deadline, Stops, err, utf8_prefix};

/// Prompt tokens evaluated per batch; fixed so results do not depend on it.
const BATCH: u32 = 512;

/// llama.cpp, and the models it holds.
pub struct Llama {
    backend: LlamaBackend,
    models: Cache<LlamaModel>,
}

impl std::fmt::Debug for Llama {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Llama").field("models", &self.models.list()).finish()
    }
}

impl Llama {
    /// llama.cpp with its logs silenced, keeping up to `budget` bytes of models loaded.
    pub fn new(budget: u64) -> Result<Self, ErrorReply> {
        let mut backend = LlamaBackend::init().map_err(|e| err(ErrorKind::Internal, format!("llama.cpp: {e}")))?;
        backend.void_logs();
        Ok(Self {
            backend,
            models: Cache::new(budget),
        })
    }
}

/// The model at `path`, loading it (after making room) unless it is loaded; with the load time
/// in µs (0 when it was loaded already).
fn load<'a>(
    backend: &LlamaBackend,
    models: &'a mut Cache<LlamaModel>,
    path: &str,
) -> Result<(&'a LlamaModel, u64), ErrorReply> {
    if models.get(path).is_some() {
        return Ok((models.get(path).expect("present"), 0));
    }
    let bytes = std::fs::metadata(path)
        .map_err(|e| err(ErrorKind::NotFound, format!("cannot read model {path}: {e}")))?
        .len();
    let unloaded = models.make_room(bytes);
    if !unloaded.is_empty() {
        tracing::info!(?unloaded, "unloaded to stay within the memory budget");
    }
    let t = Instant::now();
    let model = LlamaModel::load_from_file(backend, path, &LlamaModelParams::default())
        .map_err(|e| err(ErrorKind::InvalidRequest, format!("cannot load model {path}: {e}")))?;
    let us = t.elapsed().as_micros() as u64;
    Ok((models.insert(path.to_string(), bytes, model), us))
}

impl Backend for Llama {
    fn capabilities(&self) -> Vec<String> {
        vec!["llama.cpp".into(), "gguf".into()]
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
        let threads = text::threads(g.threads) as i32;
        let (model, load_us) = load(&self.backend, &mut self.models, &g.model)?;
        deadline.check(|| "while loading the model".into())?;
        let n_ctx = if g.context == 0 {
            DEFAULT_CONTEXT.min(model.n_ctx_train().max(1))
        } else {
            g.context
        };

        let text = match (g.chat, model.chat_template(None)) {
            (true, Ok(template)) => {
                let mut chat = Vec::new();
                if let Some(system) = &g.system {
                    chat.push(message(Role::System, system)?);
                }
                for m in &g.history {
                    chat.push(message(m.role, &m.content)?);
                }
                if !g.prompt.is_empty() {
                    chat.push(message(Role::User, &g.prompt)?);
                }
                model
                    .apply_chat_template(&template, &chat, true)
                    .map_err(|e| err(ErrorKind::InvalidRequest, format!("chat template: {e}")))?
            }
            (true, Err(_)) if !g.history.is_empty() => {
                return Err(err(
                    ErrorKind::InvalidRequest,
                    "this model has no chat template, so it cannot take a conversation",
                ));
            }
            _ => g.prompt.clone(),
        };
        let vocab = model.vocab();
        let tokens = vocab.tokenize(text.as_bytes(), true, g.chat);
        if tokens.is_empty() {
            return Err(err(ErrorKind::InvalidRequest, "the prompt is empty"));
        }
        let needed = tokens.len() as u64 + u64::from(g.max_tokens);
        if needed > u64::from(n_ctx) {
            return Err(err(
                ErrorKind::InvalidRequest,
                format!(
                    "the prompt ({} tokens) plus max_tokens ({}) exceeds the context of {n_ctx} tokens",
                    tokens.len(),
                    g.max_tokens
                ),
            ));
        }

        let params = LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(n_ctx))
            .with_n_batch(BATCH)
            .with_n_ubatch(BATCH)
            .with_n_threads(threads)
            .with_n_threads_batch(threads)
            .with_flash_attention_policy(llama_cpp_sys_2::LLAMA_FLASH_ATTN_TYPE_DISABLED);
        let mut ctx = model
            .new_context(&self.backend, params)
            .map_err(|e| err(ErrorKind::Internal, format!("llama.cpp context: {e}")))?;

        let prompt_started = Instant::now();
        let mut batch = LlamaBatch::new(BATCH as usize, 1);
        let last = tokens.len() - 1;
        for (chunk_start, chunk) in tokens
            .chunks(BATCH as usize)
            .enumerate()
            .map(|(i, c)| (i * BATCH as usize, c))
        {
            deadline.check(|| format!("while reading the prompt, at token {chunk_start}"))?;
            batch.clear();
            for (i, &t) in chunk.iter().enumerate() {
                let pos = chunk_start + i;
                batch
                    .add(t, pos as i32, &[0], pos == last)
                    .map_err(|e| err(ErrorKind::Internal, e.to_string()))?;
            }
            ctx.decode(&mut batch)
                .map_err(|e| err(ErrorKind::Internal, format!("decode: {e}")))?;
        }
        let prompt_us = prompt_started.elapsed().as_micros() as u64;

        let mut out = Output::default();
        let mut sampler = sampler(g);
        let generate_started = Instant::now();
        let mut first_token_us = 0;
        let mut pending = Vec::new();
        let mut stops = Stops::new(&g.stop);
        let mut generated = 0u32;
        let mut pos = tokens.len() as i32;
        let mut stop = Stop::MaxTokens;
        while generated < g.max_tokens {
            if cx.cancelled() {
                stop = Stop::Cancelled;
                break;
            }
            deadline.check(|| format!("after {generated} generated tokens"))?;
            let token = sampler.sample(&ctx, batch.n_tokens() - 1);
            sampler.accept(token);
            if vocab.is_eog(token) {
                stop = Stop::EndOfText;
                break;
            }
            generated += 1;
            if first_token_us == 0 {
                first_token_us = started.elapsed().as_micros() as u64;
            }
            pending.extend_from_slice(&vocab.token_to_piece(token, false, None));
            let complete = utf8_prefix(&pending);
            if complete > 0 {
                let piece = String::from_utf8_lossy(&pending[..complete]).into_owned();
                pending.drain(..complete);
                let (released, hit) = stops.push(&piece);
                out.emit(cx, released)?;
                if hit {
                    stop = Stop::StopString;
                    break;
                }
            }
            batch.clear();
            batch
                .add(token, pos, &[0], true)
                .map_err(|e| err(ErrorKind::Internal, e.to_string()))?;
            pos += 1;
            ctx.decode(&mut batch)
                .map_err(|e| err(ErrorKind::Internal, format!("decode: {e}")))?;
        }
        let stop = out.flush(cx, stops, &String::from_utf8_lossy(&pending), stop)?;
        let (text, text_keccak) = out.finish();
        Ok(Generated {
            text,
            text_keccak,
            stop,
            prompt_tokens: tokens.len() as u32,
            generated_tokens: generated,
            load_us,
            prompt_us,
            generate_us: generate_started.elapsed().as_micros() as u64,
            first_token_us,
            fingerprint: fingerprint(g, threads, n_ctx),
        })
    }
}

/// Greedy decoding at temperature 0; else top-k, top-p, temperature and a seeded draw, in
/// llama.cpp's usual order.
fn sampler(g: &Generate) -> LlamaSampler {
    if g.temperature_milli == 0 {
        return LlamaSampler::greedy();
    }
    let mut chain = Vec::new();
    if g.top_k > 0 {
        chain.push(LlamaSampler::top_k(g.top_k as i32));
    }
    if g.top_p_milli > 0 && g.top_p_milli < 1000 {
        chain.push(LlamaSampler::top_p(g.top_p_milli as f32 / 1000.0, 1));
    }
    chain.push(LlamaSampler::temp(g.temperature_milli as f32 / 1000.0));
    chain.push(LlamaSampler::dist(g.seed));
    LlamaSampler::chain_simple(chain)
}

fn message(role: Role, content: &str) -> Result<LlamaChatMessage, ErrorReply> {
    LlamaChatMessage::new(role.name().into(), content.into())
        .map_err(|e| err(ErrorKind::InvalidRequest, format!("the {} message: {e}", role.name())))
}

/// The instruction sets llama.cpp was built with, as it reports them.
fn build_features() -> String {
    // SAFETY: llama_print_system_info returns a pointer to a static NUL-terminated string.
    let info = unsafe { CStr::from_ptr(llama_cpp_sys_2::llama_print_system_info()) };
    info.to_string_lossy()
        .split('|')
        .filter_map(|f| {
            // "CPU : SSE3 = 1 | AVX = 1 | …": the backend's name leads the first item.
            let (name, on) = f.trim().rsplit_once(" = ")?;
            let name = name.rsplit(" : ").next().unwrap_or(name);
            (on.trim() == "1").then(|| name.trim().to_lowercase())
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The version of a C string llama.cpp's ggml reports.
fn ggml(f: unsafe extern "C" fn() -> *const std::ffi::c_char) -> String {
    // SAFETY: ggml_version and ggml_commit return pointers to static NUL-terminated strings.
    unsafe { CStr::from_ptr(f()) }.to_string_lossy().into_owned()
}

/// The GPU backends this build of llama.cpp was compiled with (the worker's cargo features).
fn gpu_features() -> &'static str {
    match (
        cfg!(feature = "cuda"),
        cfg!(feature = "vulkan"),
        cfg!(feature = "metal"),
        cfg!(feature = "rocm"),
    ) {
        (true, ..) => "cuda",
        (_, true, ..) => "vulkan",
        (_, _, true, _) => "metal",
        (.., true) => "rocm",
        _ => "none",
    }
}

/// What decides the exact output bytes of a generation: the binding and llama.cpp versions
/// (the binding's version pins the llama.cpp tree it vendors, as Cargo.lock records it), the
/// compiled CPU vector paths and GPU backends, and every parameter.
fn fingerprint(g: &Generate, threads: i32, n_ctx: u32) -> String {
    format!(
        "llama-cpp-2 {}; llama-cpp-sys-2 {}; ggml {} ({}); gpu {}; backend cpu; {} [{}]; flash-attn off; batch {BATCH}; ctx {n_ctx}; threads {threads}; temp {}; top-k {}; top-p {}; seed {}; chat {}",
        env!("OARN_LLAMA_CPP_2_VERSION"),
        env!("OARN_LLAMA_CPP_SYS_2_VERSION"),
        ggml(llama_cpp_sys_2::ggml_version),
        ggml(llama_cpp_sys_2::ggml_commit),
        gpu_features(),
        std::env::consts::ARCH,
        build_features(),
        f64::from(g.temperature_milli) / 1000.0,
        g.top_k,
        f64::from(g.top_p_milli) / 1000.0,
        g.seed,
        g.chat
    )
}
