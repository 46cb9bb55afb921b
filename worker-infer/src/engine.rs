//! llama.cpp behind the infer protocol: one loaded model kept between requests, greedy or
//! seeded sampling, tokens streamed as whole UTF-8 characters, and a fingerprint of what
//! decides the output bytes (deterministic mode keeps flash attention off and batch sizes
//! fixed, so the same model, prompt and parameters give the same bytes on every run).

use std::num::NonZeroU32;
use std::time::Instant;

use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::{LlamaChatMessage, LlamaModel};
use llama_cpp_2::sampling::LlamaSampler;
use oarn_protocol::envelope::{ErrorKind, ErrorReply};
use oarn_protocol::infer::{DEFAULT_CONTEXT, Event, Generate, Generated, Protocol, Stop};
use oarn_protocol::serve::Context;

/// Prompt tokens evaluated per batch; fixed so results do not depend on it.
const BATCH: u32 = 512;
/// Longest prompt accepted, in bytes.
const MAX_PROMPT_BYTES: usize = 1 << 20;

/// The backend and the model currently loaded.
#[derive(Default)]
pub struct Engine {
    backend: Option<LlamaBackend>,
    loaded: Option<(String, LlamaModel)>,
}

fn err(kind: ErrorKind, message: impl Into<String>) -> ErrorReply {
    ErrorReply::new(kind, message)
}

impl Engine {
    fn backend(&mut self) -> Result<&LlamaBackend, ErrorReply> {
        if self.backend.is_none() {
            let mut b = LlamaBackend::init().map_err(|e| err(ErrorKind::Internal, format!("llama.cpp: {e}")))?;
            b.void_logs();
            self.backend = Some(b);
        }
        Ok(self.backend.as_ref().expect("set above"))
    }

    /// Loads `path` unless it is the model already loaded; returns the load time in µs.
    fn load(&mut self, path: &str) -> Result<u64, ErrorReply> {
        if self.loaded.as_ref().is_some_and(|(p, _)| p == path) {
            return Ok(0);
        }
        self.loaded = None;
        let t = Instant::now();
        let backend = self.backend()?;
        let model = LlamaModel::load_from_file(backend, path, &LlamaModelParams::default())
            .map_err(|e| err(ErrorKind::InvalidRequest, format!("cannot load model {path}: {e}")))?;
        self.loaded = Some((path.to_string(), model));
        Ok(t.elapsed().as_micros() as u64)
    }

    /// Runs one generation, streaming tokens through `cx`.
    pub fn generate(&mut self, g: &Generate, cx: &mut dyn Context<Protocol>) -> Result<Generated, ErrorReply> {
        let started = Instant::now();
        if g.prompt.len() > MAX_PROMPT_BYTES {
            return Err(err(
                ErrorKind::InvalidRequest,
                format!("prompt longer than {MAX_PROMPT_BYTES} bytes"),
            ));
        }
        let load_us = self.load(&g.model)?;
        let threads = if g.threads == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get() as i32)
        } else {
            g.threads as i32
        };
        let (_, model) = self.loaded.as_ref().expect("loaded above");
        let backend = self.backend.as_ref().expect("initialized by load");
        let n_ctx = if g.context == 0 {
            DEFAULT_CONTEXT.min(model.n_ctx_train().max(1))
        } else {
            g.context
        };

        let text = match (g.chat, model.chat_template(None)) {
            (true, Ok(template)) => {
                let mut chat = Vec::new();
                if let Some(system) = &g.system {
                    chat.push(message("system", system)?);
                }
                chat.push(message("user", &g.prompt)?);
                model
                    .apply_chat_template(&template, &chat, true)
                    .map_err(|e| err(ErrorKind::InvalidRequest, format!("chat template: {e}")))?
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
            .new_context(backend, params)
            .map_err(|e| err(ErrorKind::Internal, format!("llama.cpp context: {e}")))?;

        let prompt_started = Instant::now();
        let mut batch = LlamaBatch::new(BATCH as usize, 1);
        let last = tokens.len() - 1;
        for (chunk_start, chunk) in tokens
            .chunks(BATCH as usize)
            .enumerate()
            .map(|(i, c)| (i * BATCH as usize, c))
        {
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

        let mut sampler = if g.temperature_milli == 0 {
            LlamaSampler::greedy()
        } else {
            LlamaSampler::chain_simple([
                LlamaSampler::temp(g.temperature_milli as f32 / 1000.0),
                LlamaSampler::dist(g.seed),
            ])
        };
        let generate_started = Instant::now();
        let mut first_token_us = 0;
        let mut pending = Vec::new();
        let mut generated = 0u32;
        let mut pos = tokens.len() as i32;
        let mut stop = Stop::MaxTokens;
        while generated < g.max_tokens {
            if cx.cancelled() {
                stop = Stop::Cancelled;
                break;
            }
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
                cx.emit(Event::Token(piece))
                    .map_err(|e| err(ErrorKind::Internal, e.to_string()))?;
            }
            batch.clear();
            batch
                .add(token, pos, &[0], true)
                .map_err(|e| err(ErrorKind::Internal, e.to_string()))?;
            pos += 1;
            ctx.decode(&mut batch)
                .map_err(|e| err(ErrorKind::Internal, format!("decode: {e}")))?;
        }
        if !pending.is_empty() {
            let _ = cx.emit(Event::Token(String::from_utf8_lossy(&pending).into_owned()));
        }
        Ok(Generated {
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

fn message(role: &str, content: &str) -> Result<LlamaChatMessage, ErrorReply> {
    LlamaChatMessage::new(role.into(), content.into())
        .map_err(|e| err(ErrorKind::InvalidRequest, format!("the {role} message: {e}")))
}

/// Length of the longest prefix of `bytes` that is complete UTF-8.
fn utf8_prefix(bytes: &[u8]) -> usize {
    match std::str::from_utf8(bytes) {
        Ok(_) => bytes.len(),
        Err(e) if e.error_len().is_none() => e.valid_up_to(),
        // Invalid (not just incomplete) bytes: pass them on; they are shown lossily.
        Err(_) => bytes.len(),
    }
}

/// What decides the exact output bytes of a generation.
fn fingerprint(g: &Generate, threads: i32, n_ctx: u32) -> String {
    let mut features = Vec::new();
    #[cfg(target_arch = "x86_64")]
    for (name, on) in [
        ("avx", std::arch::is_x86_feature_detected!("avx")),
        ("avx2", std::arch::is_x86_feature_detected!("avx2")),
        ("fma", std::arch::is_x86_feature_detected!("fma")),
        ("f16c", std::arch::is_x86_feature_detected!("f16c")),
        ("avx512f", std::arch::is_x86_feature_detected!("avx512f")),
    ] {
        if on {
            features.push(name);
        }
    }
    format!(
        "llama-cpp-2 0.1.160; backend cpu; {} [{}]; flash-attn off; batch {BATCH}; ctx {n_ctx}; threads {threads}; temp {}; seed {}; chat {}",
        std::env::consts::ARCH,
        features.join(","),
        f64::from(g.temperature_milli) / 1000.0,
        g.seed,
        g.chat
    )
}
