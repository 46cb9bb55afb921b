//! Decoder language models as ONNX graphs, run by ONNX Runtime: Hugging Face Optimum's layout
//! (`model.onnx` with `config.json`, `tokenizer.json` and `tokenizer_config.json`, in a model
//! archive, [`oarn_protocol::archive`]). The graph takes `input_ids`, `attention_mask`,
//! `position_ids` and `past_key_values.N.key`/`.value`, and gives `logits` and
//! `present.N.key`/`.value`, which become the next step's past without being copied. Tokens,
//! chat template, sampling and streaming are those of the candle backend ([`crate::lm`]).

use std::borrow::Cow;
use std::fs::File;
use std::time::Instant;

use oarn_formats::archive::Index;
use oarn_formats::hf;
use oarn_protocol::envelope::{ErrorKind, ErrorReply};
use oarn_protocol::infer::{Generate, Generated, ModelInfo, Protocol};
use oarn_protocol::serve::Context;
use ort::session::{Session, SessionInputValue};
use ort::value::{DynValue, Tensor};

use crate::lm::{self, Forward, Text, invalid};
use crate::onnx::Onnx;
use crate::text::{self, Deadline, err};

/// A loaded decoder graph and its text side.
pub struct Lm {
    session: Session,
    text: Text,
    shape: Shape,
    /// The thread count the session was made with.
    threads: usize,
}

/// What the graph's inputs are, from `config.json`.
#[derive(Debug, Clone, Copy)]
struct Shape {
    layers: usize,
    kv_heads: usize,
    head_dim: usize,
    trained: u32,
    positions: bool,
}

/// The archive at `path`: its index, config and the graph's bytes, mapped.
fn read(path: &str) -> Result<(Index, hf::Config, Vec<u8>, File, memmap2::Mmap), ErrorReply> {
    let index = oarn_formats::archive::index(std::path::Path::new(path))
        .map_err(|e| invalid(format!("cannot load model {path}: {e}")))?;
    let mut file = File::open(path).map_err(|e| err(ErrorKind::NotFound, format!("cannot read model {path}: {e}")))?;
    let config_bytes =
        lm::json(&index, &mut file, path, "config.json")?.ok_or_else(|| invalid("the model has no config.json"))?;
    let config = hf::Config::parse(&config_bytes).map_err(|e| invalid(e.to_string()))?;
    // SAFETY: the store's blobs are written once, before they are named, and never changed in
    // place; ONNX Runtime copies the graph out of the map while the session is made.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| invalid(format!("cannot map {path}: {e}")))?;
    Ok((index, config, config_bytes, file, map))
}

/// The graph member's bytes.
fn graph<'m>(index: &Index, map: &'m memmap2::Mmap) -> Result<&'m [u8], ErrorReply> {
    let w = index
        .weights()
        .next()
        .ok_or_else(|| invalid("the archive has no model.onnx"))?;
    map.get(w.offset as usize..(w.offset + w.size) as usize)
        .ok_or_else(|| invalid("model.onnx lies past the end of the archive"))
}

/// Checks that `session` takes and gives a decoder's tensors in Optimum's convention for a
/// model of `config`.
fn check(session: &Session, config: &hf::Config) -> Result<Shape, ErrorReply> {
    let inputs: Vec<&str> = session.inputs().iter().map(|i| i.name()).collect();
    let outputs: Vec<&str> = session.outputs().iter().map(|o| o.name()).collect();
    let layers = config.num_hidden_layers as usize;
    let mut want: Vec<String> = vec!["input_ids".into(), "attention_mask".into()];
    let positions = inputs.contains(&"position_ids");
    if positions {
        want.push("position_ids".into());
    }
    let mut want_out = vec!["logits".to_string()];
    for i in 0..layers {
        for kind in ["key", "value"] {
            want.push(format!("past_key_values.{i}.{kind}"));
            want_out.push(format!("present.{i}.{kind}"));
        }
    }
    let same = |a: &[&str], b: &[String]| a.len() == b.len() && b.iter().all(|n| a.contains(&n.as_str()));
    if !same(&inputs, &want) || !want_out.iter().all(|n| outputs.contains(&n.as_str())) {
        return Err(invalid(format!(
            "the ONNX graph does not take a decoder's tensors in Optimum's convention for {layers} layers (input_ids, attention_mask, position_ids, past_key_values.N.key/value; logits, present.N.key/value): it takes {}",
            inputs.join(", ")
        )));
    }
    Ok(Shape {
        layers,
        kv_heads: config.kv_heads() as usize,
        head_dim: (config.hidden_size / config.num_attention_heads) as usize,
        trained: config.max_position_embeddings.min(u64::from(u32::MAX)) as u32,
        positions,
    })
}

impl Onnx {
    /// Describes the decoder graph in the archive at `path` (ONNX Runtime parses it).
    pub fn inspect_lm(&self, path: &str) -> Result<ModelInfo, ErrorReply> {
        let (index, config, _, _, map) = read(path)?;
        let mut info = hf::describe(std::path::Path::new(path), &index).map_err(|e| invalid(e.to_string()))?;
        let session = self.session_from(graph(&index, &map)?, 1)?;
        let shape = check(&session, &config)?;
        info.inputs = ["input_ids", "attention_mask", "position_ids"][..if shape.positions { 3 } else { 2 }]
            .iter()
            .map(|n| n.to_string())
            .chain([format!("past_key_values.{{0..{}}}.key/value", shape.layers - 1)])
            .collect();
        info.outputs = vec![
            "logits".into(),
            format!("present.{{0..{}}}.key/value", shape.layers - 1),
        ];
        Ok(info)
    }

    /// Loads the archive at `path` with a session of `threads`, unless it is loaded so.
    fn load_lm(&mut self, path: &str, threads: usize) -> Result<u64, ErrorReply> {
        if self.lms.get(path).is_some_and(|l| l.threads == threads) {
            return Ok(0);
        }
        self.lms.remove(Some(path));
        let t = Instant::now();
        let (index, config, config_bytes, mut file, map) = read(path)?;
        let bytes = graph(&index, &map)?;
        let unloaded = self.lms.make_room(bytes.len() as u64);
        if !unloaded.is_empty() {
            tracing::info!(?unloaded, "unloaded to stay within the memory budget");
        }
        let session = self.session_from(bytes, threads)?;
        let shape = check(&session, &config)?;
        let text = Text::load(&index, &mut file, path, &config_bytes)?;
        let size = bytes.len() as u64;
        self.lms.insert(
            path.to_string(),
            size,
            Lm {
                session,
                text,
                shape,
                threads,
            },
        );
        Ok(t.elapsed().as_micros() as u64)
    }

    /// Runs one generation of `g` on the decoder graph archive `g.model`.
    pub fn generate(&mut self, g: &Generate, cx: &mut dyn Context<Protocol>) -> Result<Generated, ErrorReply> {
        let started = Instant::now();
        let deadline = Deadline::of(g, started);
        text::check(g)?;
        let threads = text::threads(g.threads);
        let load_us = self.load_lm(&g.model, threads)?;
        deadline.check(|| "while loading the model".into())?;
        let fingerprint = self.fingerprint(threads);
        let lm = self.lms.get_mut(&g.model).expect("loaded above");
        let tokens = lm.text.prompt(g)?;
        let n_ctx = lm::context(g, lm.shape.trained, tokens.len())?;
        let mut step = Step {
            session: &mut lm.session,
            shape: lm.shape,
            past: Vec::new(),
        };
        let mut generated = lm::generate(&lm.text, &mut step, g, &tokens, cx, &deadline, started)?;
        generated.load_us = load_us;
        generated.fingerprint = format!("{fingerprint}; ctx {n_ctx}; {}", lm::fingerprint(g));
        Ok(generated)
    }
}

/// One generation's state: the session and the keys and values so far.
struct Step<'a> {
    session: &'a mut Session,
    shape: Shape,
    /// `present.N.key`/`.value` of the last step, in input order; empty before the first.
    past: Vec<DynValue>,
}

fn internal(what: &str, e: impl std::fmt::Display) -> ErrorReply {
    err(ErrorKind::Internal, format!("{what}: {e}"))
}

impl Forward for Step<'_> {
    fn forward(&mut self, tokens: &[u32], at: usize) -> Result<Vec<f32>, ErrorReply> {
        let n = tokens.len();
        let i64s = |v: Vec<i64>, shape: Vec<usize>| {
            Tensor::from_array((shape, v))
                .map(SessionInputValue::from)
                .map_err(|e| internal("input tensor", e))
        };
        let mut inputs: Vec<(Cow<'static, str>, SessionInputValue<'static>)> = vec![
            (
                "input_ids".into(),
                i64s(tokens.iter().map(|t| i64::from(*t)).collect(), vec![1, n])?,
            ),
            ("attention_mask".into(), i64s(vec![1; at + n], vec![1, at + n])?),
        ];
        if self.shape.positions {
            inputs.push((
                "position_ids".into(),
                i64s((at..at + n).map(|p| p as i64).collect(), vec![1, n])?,
            ));
        }
        let Shape {
            layers,
            kv_heads,
            head_dim,
            ..
        } = self.shape;
        let mut past = std::mem::take(&mut self.past).into_iter();
        for i in 0..layers {
            for kind in ["key", "value"] {
                let value = match past.next() {
                    Some(v) => SessionInputValue::from(v),
                    // Before the first step: no keys or values yet.
                    None => SessionInputValue::from(
                        Tensor::<f32>::from_array((vec![1, kv_heads, 0, head_dim], Vec::<f32>::new()))
                            .map_err(|e| internal("past tensor", e))?,
                    ),
                };
                inputs.push((format!("past_key_values.{i}.{kind}").into(), value));
            }
        }
        let mut outputs = self
            .session
            .run(inputs)
            .map_err(|e| invalid(format!("the model failed: {}", e.message())))?;
        let logits = {
            let (shape, values) = outputs["logits"]
                .try_extract_tensor::<f32>()
                .map_err(|e| invalid(format!("the model's logits: {e}")))?;
            let vocab = shape.last().copied().unwrap_or(0).max(0) as usize;
            if shape.len() != 3 || vocab == 0 || values.len() != n * vocab {
                return Err(invalid(format!(
                    "the model's logits have shape {shape:?}, not [1, {n}, vocab]"
                )));
            }
            values[(n - 1) * vocab..].to_vec()
        };
        for i in 0..layers {
            for kind in ["key", "value"] {
                let name = format!("present.{i}.{kind}");
                let v = outputs
                    .remove(&name)
                    .ok_or_else(|| invalid(format!("the model gave no {name}")))?;
                self.past.push(v);
            }
        }
        Ok(logits)
    }
}
