//! A task's content as `interop/task-format.md` defines it, parsed: the input block
//! (`inference/v1`, or a tensor of the network's ONNX tasks), the model block (a `model/v1` manifest, or the model itself) and the
//! honoured keys of `modelRequirements`. The network worker parses the bytes (crate
//! `oarn-formats`) and sends these; the daemon never parses a task's bytes itself.

use wincode::{SchemaRead, SchemaWrite};

/// An `inference/v1` input block, defaults applied and ranges checked.
#[derive(Debug, Clone, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct TaskInput {
    pub prompt: String,
    pub system: Option<String>,
    pub chat: bool,
    pub max_tokens: u32,
    /// Thousandths (0: greedy).
    pub temperature_milli: u32,
    pub seed: u32,
    pub top_k: u32,
    /// Thousandths (1000: off).
    pub top_p_milli: u32,
    pub stop: Vec<String>,
}

/// A tensor task's input block (the network's ONNX tasks): its bytes, which the inference
/// worker reads again when it runs the model, and the shape the network worker read.
#[derive(Debug, Clone, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct TensorInput {
    pub bytes: Vec<u8>,
    pub shape: Vec<i64>,
}

/// What a task asks to be computed: a generation, or a tensor model run. Which one follows
/// from the model's format (ONNX models run tensor tasks).
#[derive(Debug, Clone, PartialEq, Eq, SchemaWrite, SchemaRead)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Work {
    Inference(TaskInput),
    Tensor(TensorInput),
}

/// A model file's format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, SchemaWrite, SchemaRead)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum ModelFormat {
    #[default]
    Gguf,
    Onnx,
    Safetensors,
    Pytorch,
}

impl ModelFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            ModelFormat::Gguf => "gguf",
            ModelFormat::Onnx => "onnx",
            ModelFormat::Safetensors => "safetensors",
            ModelFormat::Pytorch => "pytorch",
        }
    }

    /// From a format name, case-insensitive.
    pub fn from_name(name: &str) -> Option<Self> {
        [
            ModelFormat::Gguf,
            ModelFormat::Onnx,
            ModelFormat::Safetensors,
            ModelFormat::Pytorch,
        ]
        .into_iter()
        .find(|f| f.as_str().eq_ignore_ascii_case(name))
    }
}

/// What a task's `modelHash` block is.
#[derive(Debug, Clone, PartialEq, Eq, SchemaWrite, SchemaRead)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum ModelBlock {
    /// A `model/v1` manifest.
    Manifest(ModelManifest),
    /// The block is the model file itself, of this format (read from its bytes).
    Model {
        format: ModelFormat,
        size: u64,
        #[cfg_attr(feature = "serde", serde(with = "crate::hex::bytes"))]
        sha256: [u8; 32],
    },
}

/// A `model/v1` manifest.
#[derive(Debug, Clone, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ModelManifest {
    /// For people and `compute.accepted_models`; proves nothing.
    pub name: String,
    pub format: ModelFormat,
    /// The model file's sha256: the only thing that identifies it.
    #[cfg_attr(feature = "serde", serde(with = "crate::hex::bytes"))]
    pub sha256: [u8; 32],
    pub size: u64,
    /// The file as a UnixFS DAG on IPFS.
    pub cid: Option<String>,
    pub license: Option<String>,
}

/// The keys of `modelRequirements` a node honours; anything else in the string is shown and
/// imposes nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Requirements {
    pub framework: Option<ModelFormat>,
    pub min_ram_mib: Option<u64>,
    pub min_vram_mib: Option<u64>,
    pub gpu_required: bool,
    pub context: Option<u32>,
    /// The string was not a JSON object: shown to the operator as it is (made terminal-safe).
    pub label: Option<String>,
}

/// A block as the network worker found it: parsed, refused (with why), or not to be had.
#[derive(Debug, Clone, PartialEq, Eq, SchemaWrite, SchemaRead)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Checked<T> {
    Valid(T),
    /// Fetched, and not what the format allows: the task is not to be claimed.
    Invalid(String),
    /// Not fetched (no peer or gateway had it in time): it may be had later.
    Unavailable(String),
}
