//! A Hugging Face model in a model archive, described for the store (run by the inference
//! worker): `config.json` gives the architecture and its sizes, each weights member's
//! Safetensors header is read and checked ([`crate::safetensors`]), `tokenizer_config.json`
//! says whether there is a chat template. Sizes a model file claims are bounded here, before
//! any backend allocates by them.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use oarn_protocol::infer::ModelInfo;
use oarn_protocol::task::ModelFormat;
use serde::Deserialize;

use crate::archive::{ArchiveError, Index};
use crate::safetensors::SafetensorsError;

/// Bounds on what `config.json` may claim: far above any model a node can run, far below
/// what would overflow a size computed from them.
pub const MAX_DIM: u64 = 1 << 20;
pub const MAX_LAYERS: u64 = 1 << 10;
pub const MAX_VOCAB: u64 = 1 << 22;
pub const MAX_POSITIONS: u64 = 1 << 22;

/// The architectures candle runs here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    Llama,
    Mistral,
    Qwen2,
    Phi3,
}

/// Why an archive is not a model this node can describe.
#[derive(Debug, thiserror::Error)]
pub enum HfError {
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    /// `config.json` is not the JSON a model's configuration is.
    #[error("config.json is not valid: {0}")]
    Config(String),
    /// A size in `config.json` is out of bounds.
    #[error("config.json says {key} = {value}, beyond what any model has (at most {max})")]
    OutOfBounds { key: &'static str, value: u64, max: u64 },
    /// A weights member is not a valid Safetensors file.
    #[error("{name}: {source}")]
    Weights { name: String, source: SafetensorsError },
    /// An architecture no backend here runs.
    #[error("a {0:?} model; this build runs llama (Llama, SmolLM, TinyLlama), mistral, qwen2 and phi3 checkpoints")]
    Architecture(String),
    /// A tensor the architecture needs is missing.
    #[error("the checkpoint lacks the tensor {0}, which a model of this config.json needs")]
    MissingTensor(String),
    /// A tensor's shape is not the one config.json gives it.
    #[error("the tensor {name} has shape {got:?}; config.json makes it {want:?}")]
    Shape {
        name: String,
        got: Vec<usize>,
        want: Vec<usize>,
    },
    /// A tensor's dtype is not one the backend computes from.
    #[error("the tensor {name} is {dtype}; Llama checkpoints of F32, F16 or BF16 weights run")]
    Dtype { name: String, dtype: String },
    /// A tensor is in two shards.
    #[error("the tensor {name} is in both {first} and {second}")]
    Duplicate {
        name: String,
        first: String,
        second: String,
    },
    /// A PyTorch checkpoint was refused.
    #[error("{name}: {source}")]
    Pytorch {
        name: String,
        source: crate::pytorch::PytorchError,
    },
    /// The file could not be read.
    #[error("cannot read the archive: {0}")]
    Io(#[from] std::io::Error),
}

/// The part of `config.json` every decoder language model in Hugging Face's layout shares.
#[derive(Debug, Clone, Deserialize)]
pub struct Config {
    pub model_type: String,
    pub hidden_size: u64,
    pub intermediate_size: u64,
    pub num_hidden_layers: u64,
    pub num_attention_heads: u64,
    pub num_key_value_heads: Option<u64>,
    pub vocab_size: u64,
    pub max_position_embeddings: u64,
    #[serde(default)]
    pub tie_word_embeddings: Option<bool>,
}

impl Config {
    /// Reads `config.json` and checks its sizes.
    pub fn parse(bytes: &[u8]) -> Result<Self, HfError> {
        let c: Config = serde_json::from_slice(bytes).map_err(|e| HfError::Config(e.to_string()))?;
        for (key, value, max) in [
            ("hidden_size", c.hidden_size, MAX_DIM),
            ("intermediate_size", c.intermediate_size, MAX_DIM),
            ("num_hidden_layers", c.num_hidden_layers, MAX_LAYERS),
            ("num_attention_heads", c.num_attention_heads, MAX_DIM),
            ("num_key_value_heads", c.kv_heads(), c.num_attention_heads),
            ("vocab_size", c.vocab_size, MAX_VOCAB),
            ("max_position_embeddings", c.max_position_embeddings, MAX_POSITIONS),
        ] {
            if value > max || value == 0 {
                return Err(HfError::OutOfBounds { key, value, max });
            }
        }
        if !c.hidden_size.is_multiple_of(c.num_attention_heads) || !c.num_attention_heads.is_multiple_of(c.kv_heads()) {
            return Err(HfError::Config(format!(
                "{} heads do not divide hidden_size {} or are not a multiple of {} key/value heads",
                c.num_attention_heads,
                c.hidden_size,
                c.kv_heads()
            )));
        }
        Ok(c)
    }

    pub fn kv_heads(&self) -> u64 {
        self.num_key_value_heads.unwrap_or(self.num_attention_heads)
    }

    /// The architecture `model_type` names, when a backend here runs it.
    pub fn arch(&self) -> Result<Arch, HfError> {
        match self.model_type.as_str() {
            "llama" => Ok(Arch::Llama),
            "mistral" => Ok(Arch::Mistral),
            "qwen2" => Ok(Arch::Qwen2),
            "phi3" => Ok(Arch::Phi3),
            other => Err(HfError::Architecture(other.to_string())),
        }
    }

    /// The name and shape of every tensor a model of this configuration loads (the names
    /// `transformers` and candle use): Llama's; Mistral's, whose output projection is never
    /// tied to the embedding; Qwen2's, with biases on the query, key and value projections;
    /// Phi-3's, whose query, key and value projections are one, as are gate and up.
    pub fn expected_tensors(&self) -> Result<Vec<(String, Vec<usize>)>, HfError> {
        let arch = self.arch()?;
        let (h, i, v) = (
            self.hidden_size as usize,
            self.intermediate_size as usize,
            self.vocab_size as usize,
        );
        let kv = (self.kv_heads() * (self.hidden_size / self.num_attention_heads)) as usize;
        let mut out = vec![
            ("model.embed_tokens.weight".to_string(), vec![v, h]),
            ("model.norm.weight".to_string(), vec![h]),
        ];
        if arch == Arch::Mistral || !self.tie_word_embeddings.unwrap_or(false) {
            out.push(("lm_head.weight".into(), vec![v, h]));
        }
        for l in 0..self.num_hidden_layers {
            let p = format!("model.layers.{l}");
            out.extend([
                (format!("{p}.input_layernorm.weight"), vec![h]),
                (format!("{p}.post_attention_layernorm.weight"), vec![h]),
            ]);
            if arch == Arch::Phi3 {
                out.extend([
                    (format!("{p}.self_attn.qkv_proj.weight"), vec![h + 2 * kv, h]),
                    (format!("{p}.self_attn.o_proj.weight"), vec![h, h]),
                    (format!("{p}.mlp.gate_up_proj.weight"), vec![2 * i, h]),
                    (format!("{p}.mlp.down_proj.weight"), vec![h, i]),
                ]);
                continue;
            }
            out.extend([
                (format!("{p}.self_attn.q_proj.weight"), vec![h, h]),
                (format!("{p}.self_attn.k_proj.weight"), vec![kv, h]),
                (format!("{p}.self_attn.v_proj.weight"), vec![kv, h]),
                (format!("{p}.self_attn.o_proj.weight"), vec![h, h]),
                (format!("{p}.mlp.gate_proj.weight"), vec![i, h]),
                (format!("{p}.mlp.up_proj.weight"), vec![i, h]),
                (format!("{p}.mlp.down_proj.weight"), vec![h, i]),
            ]);
            if arch == Arch::Qwen2 {
                out.extend([
                    (format!("{p}.self_attn.q_proj.bias"), vec![h]),
                    (format!("{p}.self_attn.k_proj.bias"), vec![kv]),
                    (format!("{p}.self_attn.v_proj.bias"), vec![kv]),
                ]);
            }
        }
        Ok(out)
    }

    /// Checks that every tensor a model of this configuration loads is in the checkpoint
    /// (`lookup` gives a tensor's shape and dtype by name), of its shape and a float dtype;
    /// returns the elements they hold and the dtype holding most of them.
    pub fn check_tensors(
        &self,
        lookup: impl Fn(&str) -> Option<(Vec<usize>, String)>,
    ) -> Result<(u64, String), HfError> {
        let mut elements = 0u64;
        let mut by_dtype: std::collections::BTreeMap<String, u64> = Default::default();
        for (name, want) in self.expected_tensors()? {
            let (got, dtype) = lookup(&name).ok_or_else(|| HfError::MissingTensor(name.clone()))?;
            if got != want {
                return Err(HfError::Shape { name, got, want });
            }
            if !matches!(dtype.as_str(), "F32" | "F16" | "BF16") {
                return Err(HfError::Dtype { name, dtype });
            }
            // Bounded: every dimension is at most MAX_DIM or MAX_VOCAB, checked in parse.
            let n = want.iter().map(|d| *d as u64).product::<u64>();
            elements += n;
            *by_dtype.entry(dtype).or_default() += n;
        }
        let stored = by_dtype
            .into_iter()
            .max_by_key(|(_, n)| *n)
            .map(|(d, _)| d)
            .unwrap_or_default();
        Ok((elements, stored))
    }
}

/// A tensor of a checkpoint, as its weights file's header says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    /// The weights file (shard) that holds it.
    pub shard: String,
    pub shape: Vec<usize>,
    /// As Safetensors names it: `F32`, `BF16`, …
    pub dtype: String,
    pub elements: u64,
}

/// Every tensor of the checkpoint in the archive `file`, over all its weights files (shards);
/// a tensor in two shards is refused, since which one a backend would load is unclear.
pub fn tensors(file: &mut File, index: &Index) -> Result<std::collections::HashMap<String, TensorInfo>, HfError> {
    let mut out: std::collections::HashMap<String, TensorInfo> = Default::default();
    for w in index.weights() {
        let found: Vec<(String, Vec<usize>, String)> = match index.format {
            ModelFormat::Pytorch => crate::pytorch::read(crate::archive::Window::new(&mut *file, w))
                .map_err(|source| HfError::Pytorch {
                    name: w.name.clone(),
                    source,
                })?
                .into_iter()
                .map(|t| (t.name, t.shape, t.dtype.name().to_string()))
                .collect(),
            _ => {
                file.seek(SeekFrom::Start(w.offset))?;
                let (_, metadata) =
                    crate::safetensors::parse_metadata((&mut *file).take(w.size), w.size).map_err(|source| {
                        HfError::Weights {
                            name: w.name.clone(),
                            source,
                        }
                    })?;
                metadata
                    .tensors()
                    .into_iter()
                    .map(|(name, t)| (name, t.shape.clone(), format!("{:?}", t.dtype)))
                    .collect()
            }
        };
        for (name, shape, dtype) in found {
            let elements = shape.iter().fold(1u64, |acc, d| acc.saturating_mul(*d as u64));
            let info = TensorInfo {
                shard: w.name.clone(),
                shape,
                dtype,
                elements,
            };
            if let Some(first) = out.insert(name.clone(), info) {
                return Err(HfError::Duplicate {
                    name,
                    first: first.shard,
                    second: w.name.clone(),
                });
            }
        }
    }
    Ok(out)
}

/// Describes the model in the archive at `path`, whose members `index` lists.
pub fn describe(path: &Path, index: &Index) -> Result<ModelInfo, HfError> {
    let mut file = File::open(path)?;
    let config = index
        .read_json(&mut file, "config.json")?
        .ok_or(ArchiveError::Missing("config.json"))?;
    let config = Config::parse(&config)?;
    let summary = match index.format {
        // The graph is ONNX Runtime's to read, in the worker; its inputs are checked there.
        ModelFormat::Onnx => None,
        _ => {
            let tensors = tensors(&mut file, index)?;
            let (_, dtype) =
                config.check_tensors(|name| tensors.get(name).map(|t| (t.shape.clone(), t.dtype.clone())))?;
            Some(crate::safetensors::Summary {
                tensors: tensors.len() as u64,
                parameters: tensors.values().map(|t| t.elements).sum(),
                dtype,
            })
        }
    };
    let chat_template = match index.read_json(&mut file, "tokenizer_config.json")? {
        Some(bytes) => serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .is_some_and(|v| v.get("chat_template").is_some_and(|t| !t.is_null())),
        None => false,
    };
    Ok(ModelInfo {
        format: index.format,
        architecture: config.model_type.clone(),
        context_length: Some(config.max_position_embeddings),
        quantization: summary.as_ref().map(|s| s.dtype.clone()),
        parameters: summary.as_ref().map_or(0, |s| s.parameters),
        tensors: summary.as_ref().map_or(0, |s| s.tensors),
        chat_template,
        layers: Some(config.num_hidden_layers),
        embedding: Some(config.hidden_size),
        heads: Some(config.num_attention_heads),
        kv_heads: Some(config.kv_heads()),
        ..ModelInfo::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMOL: &str = r#"{"model_type":"llama","hidden_size":576,"intermediate_size":1536,"num_hidden_layers":30,"num_attention_heads":9,"num_key_value_heads":3,"vocab_size":49152,"max_position_embeddings":8192}"#;

    #[test]
    fn a_config_is_read_and_its_sizes_bounded() {
        let c = Config::parse(SMOL.as_bytes()).unwrap();
        assert_eq!((c.model_type.as_str(), c.kv_heads()), ("llama", 3));
        let huge = SMOL.replace("8192", "1099511627776");
        let e = Config::parse(huge.as_bytes()).unwrap_err();
        assert!(e.to_string().contains("max_position_embeddings"), "{e}");
        let uneven = SMOL.replace("\"num_key_value_heads\":3", "\"num_key_value_heads\":4");
        assert!(Config::parse(uneven.as_bytes()).is_err());
        let zero = SMOL.replace("\"num_hidden_layers\":30", "\"num_hidden_layers\":0");
        assert!(Config::parse(zero.as_bytes()).is_err());
        assert!(Config::parse(b"[1,2]").is_err());
    }

    #[test]
    fn every_tensor_a_llama_needs_is_checked_by_name_shape_and_dtype() {
        let tiny = r#"{"model_type":"llama","hidden_size":8,"intermediate_size":16,"num_hidden_layers":2,"num_attention_heads":2,"num_key_value_heads":1,"vocab_size":10,"max_position_embeddings":64,"tie_word_embeddings":true}"#;
        let c = Config::parse(tiny.as_bytes()).unwrap();
        let all: std::collections::HashMap<String, Vec<usize>> = c.expected_tensors().unwrap().into_iter().collect();
        assert_eq!(all.len(), 2 + 2 * 9, "tied: no lm_head");
        assert_eq!(all["model.layers.1.self_attn.k_proj.weight"], [4, 8]);
        let f32 = |n: &str| all.get(n).map(|s| (s.clone(), "F32".to_string()));
        let (elements, dtype) = c.check_tensors(f32).unwrap();
        assert_eq!(
            (elements, dtype.as_str()),
            (all.values().map(|s| s.iter().product::<usize>() as u64).sum(), "F32")
        );
        let missing = c.check_tensors(|n| if n.contains("layers.1.mlp") { None } else { f32(n) });
        assert!(matches!(missing, Err(HfError::MissingTensor(ref n)) if n == "model.layers.1.mlp.gate_proj.weight"));
        let wrong = c.check_tensors(|n| f32(n).map(|(s, d)| (s.iter().map(|x| x + 1).collect(), d)));
        assert!(matches!(wrong, Err(HfError::Shape { .. })));
        let ints = c.check_tensors(|n| all.get(n).map(|s| (s.clone(), "I8".to_string())));
        assert!(matches!(ints, Err(HfError::Dtype { .. })));
        let gemma = Config::parse(tiny.replace("llama", "gemma").as_bytes()).unwrap();
        let e = gemma.check_tensors(f32).unwrap_err().to_string();
        assert!(e.contains("\"gemma\" model"), "{e}");
        let phi = Config::parse(tiny.replace("llama", "phi3").as_bytes()).unwrap();
        let names: Vec<(String, Vec<usize>)> = phi.expected_tensors().unwrap();
        assert!(names.contains(&("model.layers.0.self_attn.qkv_proj.weight".to_string(), vec![16, 8])));
        // Qwen2 adds query, key and value biases; Mistral never ties its output projection.
        let qwen = Config::parse(tiny.replace("llama", "qwen2").as_bytes()).unwrap();
        let names: Vec<String> = qwen.expected_tensors().unwrap().into_iter().map(|(n, _)| n).collect();
        assert!(names.contains(&"model.layers.1.self_attn.k_proj.bias".to_string()));
        let mistral = Config::parse(tiny.replace("llama", "mistral").as_bytes()).unwrap();
        let names: Vec<String> = mistral
            .expected_tensors()
            .unwrap()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert!(names.contains(&"lm_head.weight".to_string()));
    }
}
