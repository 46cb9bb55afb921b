//! Messages of the inference worker (`oarn-worker-infer`).

#[cfg(feature = "serde")]
use serde::{Deserialize, Serialize};
use wincode::{SchemaRead, SchemaWrite};

use crate::envelope::{Down, Info, Progress, Up};

/// Supervisor → infer worker.
#[derive(Debug, Clone, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub enum Request {
    GetInfo(GetInfo),
    Generate(Generate),
    Unload(Unload),
    ListLoaded(ListLoaded),
    Inspect(Inspect),
    Run(Run),
}

crate::calls! {
    GetInfo => Info(Info),
    Generate => Generated(Generated),
    Unload => Unloaded(Vec<String>),
    ListLoaded => Loaded(Vec<Loaded>),
    Inspect => Inspected(ModelInfo),
    Run => Ran(Ran),
}

/// What the worker can do and how busy it is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct GetInfo;

/// Unload one model (by the path or name it was loaded with), or every model with `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct Unload {
    pub model: Option<String>,
}

/// The models loaded now, most recently used first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct ListLoaded;

/// Read the header of the model file at `path` (inside the model cache the worker may read)
/// and check it: a model file is untrusted input, so it is parsed here and nowhere else.
#[derive(Debug, Clone, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct Inspect {
    pub path: String,
}

/// What a model file's header says, as the worker read and checked it. Every string came from
/// the file: it is clean of control characters, and still only the file's claim.
#[derive(Debug, Clone, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
pub struct ModelInfo {
    /// The file's format, read from its bytes.
    #[cfg_attr(feature = "serde", serde(default))]
    pub format: crate::task::ModelFormat,
    /// The GGUF version (0 for other formats).
    pub gguf_version: u32,
    pub architecture: String,
    pub name: Option<String>,
    pub context_length: Option<u64>,
    /// llama.cpp's `general.file_type` as a name, e.g. `Q4_1`.
    pub quantization: Option<String>,
    pub parameters: u64,
    pub tensors: u64,
    pub chat_template: bool,
    /// Transformer blocks (`{arch}.block_count`), for the KV cache estimate.
    #[cfg_attr(feature = "serde", serde(default))]
    pub layers: Option<u64>,
    /// Embedding width (`{arch}.embedding_length`).
    #[cfg_attr(feature = "serde", serde(default))]
    pub embedding: Option<u64>,
    /// Attention heads (`{arch}.attention.head_count`).
    #[cfg_attr(feature = "serde", serde(default))]
    pub heads: Option<u64>,
    /// Key/value heads (`{arch}.attention.head_count_kv`; the heads when absent).
    #[cfg_attr(feature = "serde", serde(default))]
    pub kv_heads: Option<u64>,
    /// A tensor model's inputs and outputs, such as `float_input: f32[1,4]` (ONNX).
    #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "Vec::is_empty"))]
    pub inputs: Vec<String>,
    #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "Vec::is_empty"))]
    pub outputs: Vec<String>,
}

impl ModelInfo {
    /// Whether the model generates text (every format but a lone ONNX graph, which is a tensor
    /// model; an ONNX decoder comes in a model archive with its config, which gives it layers).
    pub fn generates_text(&self) -> bool {
        self.format != crate::task::ModelFormat::Onnx || self.layers.is_some()
    }

    /// Bytes of llama.cpp's KV cache (f16 keys and values) for a context of `ctx` tokens, when
    /// the file says enough to tell.
    pub fn kv_cache_bytes(&self, ctx: u64) -> Option<u64> {
        let (layers, embedding, heads) = (self.layers?, self.embedding?, self.heads?);
        let kv_heads = self.kv_heads.unwrap_or(heads);
        let head_dim = embedding.checked_div(heads)?;
        [2, layers, ctx, kv_heads, head_dim, 2]
            .iter()
            .try_fold(1u64, |acc, n| acc.checked_mul(*n))
    }
}

/// Who said a message of a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, SchemaWrite, SchemaRead)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize), serde(rename_all = "lowercase"))]
pub enum Role {
    System,
    User,
    Assistant,
}

impl Role {
    /// The role's name in chat templates and Ollama's API.
    pub fn name(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

/// One earlier message of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, SchemaWrite, SchemaRead)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
pub struct Message {
    pub role: Role,
    pub content: String,
}

/// Context length used when a request leaves it at 0 (or the model's training length, when
/// smaller).
pub const DEFAULT_CONTEXT: u32 = 2048;

/// Generate text from a prompt; the text streams back as [`Event::Token`]s, and comes whole in
/// [`Generated::text`].
#[derive(Debug, Clone, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct Generate {
    /// The GGUF file, inside the model cache the worker's profile lets it read.
    pub model: String,
    pub prompt: String,
    /// A system message, used with the model's chat template.
    pub system: Option<String>,
    /// Wrap the prompt in the model's chat template (when it has one).
    pub chat: bool,
    pub max_tokens: u32,
    /// Temperature in thousandths; 0 is greedy (deterministic) decoding.
    pub temperature_milli: u32,
    pub seed: u32,
    /// Threads; 0 uses every core.
    pub threads: u32,
    /// Context length; 0 uses [`DEFAULT_CONTEXT`] or the model's training length, whichever
    /// is smaller.
    pub context: u32,
    /// Earlier turns of the conversation, before `prompt` (chat only).
    pub history: Vec<Message>,
    /// Sample only from the `top_k` likeliest tokens; 0 leaves it off.
    pub top_k: u32,
    /// Nucleus sampling in thousandths (950 is 0.95); 0 or 1000 leaves it off.
    pub top_p_milli: u32,
    /// Generation ends before any of these strings; it is not part of the text.
    pub stop: Vec<String>,
    /// Milliseconds the whole request may take; past it, the request ends with
    /// [`crate::envelope::ErrorKind::DeadlineExceeded`]. 0 means no deadline.
    pub deadline_ms: u64,
}

impl Generate {
    /// A greedy, chat-templated request for `max_tokens` tokens of `model` answering `prompt`.
    pub fn new(model: impl Into<String>, prompt: impl Into<String>, max_tokens: u32) -> Self {
        Self {
            model: model.into(),
            prompt: prompt.into(),
            system: None,
            chat: true,
            max_tokens,
            temperature_milli: 0,
            seed: 0,
            threads: 0,
            context: 0,
            history: Vec::new(),
            top_k: 0,
            top_p_milli: 0,
            stop: Vec::new(),
            deadline_ms: 0,
        }
    }
}

/// How a generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, SchemaWrite, SchemaRead)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
pub enum Stop {
    /// The model produced its end-of-generation token.
    EndOfText,
    /// `max_tokens` were generated.
    MaxTokens,
    /// The supervisor cancelled it.
    Cancelled,
    /// The text reached one of the request's stop strings.
    StopString,
}

/// Longest text one generation may return, in bytes: a generation that reaches it ends with
/// an error rather than a text cut short.
pub const MAX_TEXT: usize = 4 << 20;

/// What a finished generation reports.
#[derive(Debug, Clone, PartialEq, Eq, SchemaWrite, SchemaRead)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
pub struct Generated {
    /// The whole generated text, exactly as generated (at most [`MAX_TEXT`] bytes): what a
    /// task's result is. The streamed [`Event::Token`]s are this text in pieces.
    pub text: String,
    /// keccak256 of `text`'s bytes, as the worker computed it (the node checks it).
    #[cfg_attr(feature = "serde", serde(with = "crate::hex::bytes"))]
    pub text_keccak: [u8; 32],
    pub stop: Stop,
    pub prompt_tokens: u32,
    pub generated_tokens: u32,
    /// Loading the model (0 when it was already loaded).
    pub load_us: u64,
    /// Evaluating the prompt.
    pub prompt_us: u64,
    /// Generating after the prompt.
    pub generate_us: u64,
    /// From the request to the first generated token.
    pub first_token_us: u64,
    /// What decides the exact output bytes: build, backend, CPU features, parameters.
    pub fingerprint: String,
}

/// Run a tensor model (ONNX) on an input block of the network's tensor tasks
/// (`interop/task-format.md`, last section): the worker reads `input` as an f32 tensor, feeds it
/// to the model's first input, and answers with the result bytes of its first output.
#[derive(Debug, Clone, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct Run {
    /// The model file, inside the model cache the worker's profile lets it read.
    pub model: String,
    /// The input block's bytes, untrusted: parsed by the worker (at most 1 MiB).
    pub input: Vec<u8>,
    /// Threads; 0 uses every core.
    pub threads: u32,
    /// Milliseconds the whole request may take; 0 means no deadline.
    pub deadline_ms: u64,
}

/// Longest result one tensor run may return, in bytes.
pub const MAX_RESULT: usize = 4 << 20;

/// What a finished tensor run reports.
#[derive(Debug, Clone, PartialEq, Eq, SchemaWrite, SchemaRead)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
pub struct Ran {
    /// The result bytes (compact JSON of the output tensor), what a task's result is.
    #[cfg_attr(feature = "serde", serde(skip))]
    pub result: Vec<u8>,
    /// keccak256 of `result`, as the worker computed it (the node checks it).
    #[cfg_attr(feature = "serde", serde(with = "crate::hex::bytes"))]
    pub result_keccak: [u8; 32],
    /// The input's shape as the worker read it, and the output's.
    pub input_shape: Vec<i64>,
    pub output_shape: Vec<i64>,
    /// Loading the model (0 when it was already loaded).
    pub load_us: u64,
    /// Running it.
    pub run_us: u64,
    /// What decides the exact output bytes: runtime build, CPU path, options.
    pub fingerprint: String,
}

/// infer worker → supervisor, final answers.
#[derive(Debug, Clone, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub enum Reply {
    Info(Info),
    Generated(Generated),
    /// What [`Request::Unload`] unloaded.
    Unloaded(Vec<String>),
    Loaded(Vec<Loaded>),
    Inspected(ModelInfo),
    Ran(Ran),
}

/// A model held in memory by the worker.
#[derive(Debug, Clone, PartialEq, Eq, SchemaWrite, SchemaRead)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
pub struct Loaded {
    pub model: String,
    /// Bytes it counts against the memory budget.
    pub bytes: u64,
}

/// infer worker → supervisor, streamed while a request runs.
#[derive(Debug, Clone, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub enum Event {
    Progress(Progress),
    /// Generated text, in order (whole UTF-8 characters).
    Token(String),
}

/// A frame to the infer worker.
pub type ToWorker = Down<Request>;
/// A frame from the infer worker.
pub type FromWorker = Up<Reply, Event>;

crate::worker_protocol!(crate::WorkerKind::Infer);
