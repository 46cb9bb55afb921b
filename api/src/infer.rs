//! Generations and the models the node holds: `oarn_generate` (streams `oarn_text`),
//! `oarn_modelsLoaded`, `oarn_unload`, and tensor runs of ONNX models (`oarn_runTensor`).

use serde::{Deserialize, Serialize};

use crate::{Streaming, method};

/// `oarn_generate`: one generation by the node's inference worker. The text streams as
/// `oarn_text` notifications, and comes whole in the result with its keccak256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Generate {
    /// A model of the store (or an Ollama model, with `ollama.enabled`); default: the only
    /// one installed.
    #[serde(default)]
    pub model: Option<String>,
    pub prompt: String,
    #[serde(default)]
    pub system: Option<String>,
    /// Apply the model's chat template.
    #[serde(default = "yes")]
    pub chat: bool,
    #[serde(default = "default_max_tokens")]
    pub max_tokens: u32,
    /// Temperature in thousandths; 0 is greedy (deterministic) decoding.
    #[serde(default)]
    pub temperature_milli: u32,
    #[serde(default)]
    pub top_k: u32,
    /// Nucleus sampling in thousandths; 0 leaves it off.
    #[serde(default)]
    pub top_p_milli: u32,
    #[serde(default)]
    pub seed: u32,
    #[serde(default)]
    pub stop: Vec<String>,
    /// 0: the node's `compute.threads`.
    #[serde(default)]
    pub threads: u32,
    /// Milliseconds the whole request may take; 0: no limit.
    #[serde(default)]
    pub deadline_ms: u64,
    /// Earlier turns of the conversation, before `prompt`.
    #[serde(default)]
    pub messages: Vec<Message>,
}

fn yes() -> bool {
    true
}

fn default_max_tokens() -> u32 {
    256
}

/// One earlier turn of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Who said it.
    pub role: Role,
    /// What was said.
    pub content: String,
}

/// Who said a turn of a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions for the model.
    System,
    /// The person asking.
    User,
    /// The model.
    Assistant,
}

impl Generate {
    /// A greedy, chat-templated request for `max_tokens` tokens answering `prompt`.
    pub fn new(prompt: impl Into<String>, max_tokens: u32) -> Self {
        Self {
            model: None,
            prompt: prompt.into(),
            system: None,
            chat: true,
            max_tokens,
            temperature_milli: 0,
            top_k: 0,
            top_p_milli: 0,
            seed: 0,
            stop: Vec::new(),
            threads: 0,
            deadline_ms: 0,
            messages: Vec::new(),
        }
    }
}

method!(Generate, "oarn_generate", Generated);

impl Streaming for Generate {
    const NOTE: &'static str = "oarn_text";
    type Note = Text;
}

/// A piece of generated text, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Text {
    /// The next piece; the pieces joined are the whole text.
    pub text: String,
}

/// How a generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Stop {
    /// The model produced its end-of-generation token.
    EndOfText,
    /// `max_tokens` were generated.
    MaxTokens,
    /// It was cancelled.
    Cancelled,
    /// The text reached one of the stop strings.
    StopString,
}

/// A finished generation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Generated {
    /// The model, by its store (or Ollama) name.
    pub model: String,
    /// The whole text, exactly as generated.
    pub text: String,
    /// keccak256 of the text's bytes, which the node checked.
    pub text_keccak: crate::Hash32,
    /// How it ended.
    pub stop: Stop,
    /// Tokens of the prompt, as the model's template formatted it.
    pub prompt_tokens: u32,
    /// Tokens generated.
    pub generated_tokens: u32,
    /// Microseconds loading the model (0 when it was already loaded).
    pub load_us: u64,
    /// Microseconds evaluating the prompt.
    pub prompt_us: u64,
    /// Microseconds generating, after the prompt.
    pub generate_us: u64,
    /// Microseconds from the request to the first generated token.
    pub first_token_us: u64,
    /// What decides the exact bytes: backend and its version, build features, parameters.
    pub fingerprint: String,
}

/// `oarn_modelsLoaded`: the models the inference worker holds in memory, most recently used
/// first.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ModelsLoaded {}
method!(ModelsLoaded, "oarn_modelsLoaded", Vec<LoadedModel>);

/// A model the inference worker holds in memory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadedModel {
    /// Its name in the store.
    pub model: String,
    /// Bytes of its file.
    pub bytes: u64,
}

/// `oarn_models`: the models installed in the node's store, and whether the inference worker
/// holds each loaded.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Models {}
method!(Models, "oarn_models", Vec<InstalledModel>);

/// One installed model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstalledModel {
    /// Its name in the store.
    pub name: String,
    /// gguf, …
    pub format: String,
    /// Bytes of its file.
    pub size: u64,
    /// `sha256:<hex>` of the file.
    pub digest: String,
    /// Unix seconds it was installed.
    pub added_at: u64,
    /// Unix seconds it was last loaded (0: never).
    pub last_used: u64,
    /// Held in memory by the inference worker now.
    pub loaded: bool,
}

/// `oarn_unload`: free one model from memory, or every model.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Unload {
    /// The model to free; every model when absent.
    #[serde(default)]
    pub model: Option<String>,
}
method!(Unload, "oarn_unload", Unloaded);

/// What an unload freed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unloaded {
    /// The models freed from memory.
    pub unloaded: Vec<String>,
}

/// Largest input that goes through the API as hex: a request is at most 1 MiB, and hex
/// doubles the bytes.
pub const MAX_HEX_INPUT: usize = 500 << 10;

/// `oarn_runTensor`: run an installed ONNX model on a tensor task's input in the node's
/// inference worker, which keeps the model loaded between runs; answers the result bytes a
/// task would submit.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunTensor {
    /// An installed ONNX model by name; the only one when absent.
    #[serde(default)]
    pub model: Option<String>,
    /// The input block, hex (at most [`MAX_HEX_INPUT`] bytes): a JSON array of numbers, an object with
    /// "input", "data", "values" or "params", or raw little-endian f32.
    pub input_hex: String,
    /// Threads; 0 uses compute.threads.
    #[serde(default)]
    pub threads: u32,
    /// Milliseconds the run may take; 0 means no limit.
    #[serde(default)]
    pub deadline_ms: u64,
}
method!(RunTensor, "oarn_runTensor", TensorResult);

/// A tensor run's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TensorResult {
    /// The model that ran.
    pub model: String,
    /// The result bytes (compact JSON of the output tensor), what a task's result is.
    pub result: String,
    /// keccak256 of the result's bytes, which the node checked.
    pub result_keccak: crate::Hash32,
    /// The shape of the input tensor the block was read as.
    pub input_shape: Vec<i64>,
    /// The shape of the output tensor.
    pub output_shape: Vec<i64>,
    /// Microseconds loading the model (0 when it was already loaded).
    pub load_us: u64,
    /// Microseconds running it.
    pub run_us: u64,
    /// What decides the exact bytes: runtime build, library, CPU path, options.
    pub fingerprint: String,
}
