//! What the backends of Hugging Face language models (candle, and ONNX Runtime for decoder
//! graphs) share: a model archive's text side (its tokenizer, chat template and end tokens),
//! the prompt's tokens, sampling, and the generation loop over a backend's forward pass, so
//! both stream, stop, sample and account for time identically.

use std::fs::File;
use std::time::Instant;

use candle_core::{Device, Tensor};
use candle_transformers::generation::{LogitsProcessor, Sampling};
use oarn_formats::archive::Index;
use oarn_protocol::envelope::{ErrorKind, ErrorReply};
use oarn_protocol::infer::{Generate, Generated, Protocol, Stop};
use oarn_protocol::serve::Context;
use tokenizers::Tokenizer;

use crate::backend::Output;
use crate::chat::Template;
use crate::text::{Deadline, Stops, err};

pub fn invalid(message: impl Into<String>) -> ErrorReply {
    err(ErrorKind::InvalidRequest, message)
}

/// The weights' format when the file at `path` is a model archive (`None` for any other file):
/// ONNX Runtime runs a graph, candle the rest. An archive that does not index is candle's,
/// whose load says what is wrong with it.
pub fn archive_format(path: &str) -> Option<oarn_protocol::task::ModelFormat> {
    let mut head = [0u8; 512];
    let n = File::open(path)
        .and_then(|mut f| std::io::Read::read(&mut f, &mut head))
        .unwrap_or(0);
    if !oarn_formats::archive::is_archive(&head[..n]) {
        return None;
    }
    let index = oarn_formats::archive::index(std::path::Path::new(path));
    Some(index.map_or(oarn_protocol::task::ModelFormat::Safetensors, |i| i.format))
}

/// A model archive's JSON member `name`, if it has one.
pub fn json(index: &Index, file: &mut File, path: &str, name: &str) -> Result<Option<Vec<u8>>, ErrorReply> {
    index
        .read_json(file, name)
        .map_err(|e| invalid(format!("cannot read {name} in {path}: {e}")))
}

/// A model's text side: how its text becomes tokens and back, its chat template, and the
/// tokens that end a generation.
pub struct Text {
    pub tokenizer: Tokenizer,
    pub template: Option<Template>,
    pub eos: Vec<u32>,
}

impl Text {
    /// Reads `tokenizer.json`, `tokenizer_config.json` and the end tokens of `config.json` and
    /// `generation_config.json` from the archive at `path`.
    pub fn load(index: &Index, file: &mut File, path: &str, config: &[u8]) -> Result<Self, ErrorReply> {
        let tokenizer = json(index, file, path, "tokenizer.json")?
            .ok_or_else(|| invalid("the model has no tokenizer.json"))
            .and_then(|b| Tokenizer::from_bytes(b).map_err(|e| invalid(format!("tokenizer.json: {e}"))))?;
        let template = match json(index, file, path, "tokenizer_config.json")? {
            Some(b) => {
                let v: serde_json::Value =
                    serde_json::from_slice(&b).map_err(|e| invalid(format!("tokenizer_config.json: {e}")))?;
                Template::from_config(&v).map_err(invalid)?
            }
            None => None,
        };
        let mut eos = end_tokens(config);
        if let Some(b) = json(index, file, path, "generation_config.json")? {
            eos.extend(end_tokens(&b));
        }
        eos.sort_unstable();
        eos.dedup();
        Ok(Self {
            tokenizer,
            template,
            eos,
        })
    }

    /// The tokens of `g`'s prompt: the conversation through the chat template, or the prompt
    /// as it is (with the tokenizer's own special tokens: a template writes them itself).
    pub fn prompt(&self, g: &Generate) -> Result<Vec<u32>, ErrorReply> {
        let (text, add_special) = match (g.chat, &self.template) {
            (true, Some(t)) => (t.render(g).map_err(invalid)?, false),
            (true, None) if !g.history.is_empty() => {
                return Err(invalid(
                    "this model has no chat template, so it cannot take a conversation",
                ));
            }
            _ => (g.prompt.clone(), true),
        };
        let tokens = self
            .tokenizer
            .encode(text, add_special)
            .map_err(|e| invalid(format!("cannot tokenize the prompt: {e}")))?
            .get_ids()
            .to_vec();
        if tokens.is_empty() {
            return Err(invalid("the prompt is empty"));
        }
        Ok(tokens)
    }
}

/// `eos_token_id` of a JSON config (a number or a list).
fn end_tokens(json: &[u8]) -> Vec<u32> {
    let v = serde_json::from_slice::<serde_json::Value>(json).ok();
    match v.as_ref().and_then(|v| v.get("eos_token_id")) {
        Some(serde_json::Value::Number(n)) => n.as_u64().map(|t| t as u32).into_iter().collect(),
        Some(serde_json::Value::Array(list)) => list.iter().filter_map(|t| t.as_u64()).map(|t| t as u32).collect(),
        _ => Vec::new(),
    }
}

/// The context a request gets: what it asks for, or the default, within what the model was
/// trained on; refused when the prompt and `max_tokens` do not fit.
pub fn context(g: &Generate, trained: u32, prompt: usize) -> Result<u32, ErrorReply> {
    let n_ctx = if g.context == 0 {
        oarn_protocol::infer::DEFAULT_CONTEXT.min(trained)
    } else {
        g.context.min(trained)
    };
    if prompt as u64 + u64::from(g.max_tokens) > u64::from(n_ctx) {
        return Err(invalid(format!(
            "the prompt ({prompt} tokens) plus max_tokens ({}) exceeds the context of {n_ctx} tokens",
            g.max_tokens
        )));
    }
    Ok(n_ctx)
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

/// A backend's forward pass: the logits after `tokens`, placed from position `at` (the
/// tokens before are in the backend's own cache).
pub trait Forward {
    fn forward(&mut self, tokens: &[u32], at: usize) -> Result<Vec<f32>, ErrorReply>;
}

/// Generates for `g` from the prompt `tokens`: sampling, end tokens, stop strings, the
/// deadline and cancellation, the text streamed through `cx` as it is made. The caller fills
/// in `load_us` and the fingerprint.
pub fn generate(
    text: &Text,
    model: &mut dyn Forward,
    g: &Generate,
    tokens: &[u32],
    cx: &mut dyn Context<Protocol>,
    deadline: &Deadline,
    started: Instant,
) -> Result<Generated, ErrorReply> {
    let prompt_started = Instant::now();
    deadline.check(|| "before reading the prompt".into())?;
    let mut logits = model.forward(tokens, 0)?;
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
        let n = logits.len();
        let row = Tensor::from_vec(logits, n, &Device::Cpu).map_err(|e| err(ErrorKind::Internal, e.to_string()))?;
        let token = sampler
            .sample(&row)
            .map_err(|e| err(ErrorKind::Internal, format!("sampling: {e}")))?;
        if text.eos.contains(&token) {
            stop = Stop::EndOfText;
            break;
        }
        ids.push(token);
        if first_token_us == 0 {
            first_token_us = started.elapsed().as_micros() as u64;
        }
        let piece = decoded.next(&text.tokenizer, &ids)?;
        let (released, hit) = stops.push(&piece);
        out.emit(cx, released)?;
        if hit {
            stop = Stop::StopString;
            break;
        }
        logits = model.forward(&[token], tokens.len() + ids.len() - 1)?;
    }
    let stop = out.flush(cx, stops, &decoded.rest(&text.tokenizer, &ids)?, stop)?;
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

/// What the text side adds to a fingerprint: the tokenizer and template engine versions and
/// every sampling parameter.
pub fn fingerprint(g: &Generate) -> String {
    format!(
        "tokenizers {}; minijinja {}; temp {}; top-k {}; top-p {}; seed {}; chat {}",
        env!("OARN_TOKENIZERS_VERSION"),
        env!("OARN_MINIJINJA_VERSION"),
        f64::from(g.temperature_milli) / 1000.0,
        g.top_k,
        f64::from(g.top_p_milli) / 1000.0,
        g.seed,
        g.chat
    )
}
