//! What the worker asks of a model runtime (llama.cpp in this process, or an Ollama server):
//! generate with streamed text, and load and unload models.

use oarn_protocol::envelope::ErrorReply;
use oarn_protocol::infer::{Event, Generate, Generated, Loaded, Protocol};
use oarn_protocol::serve::Context;

/// A model runtime.
pub trait Backend {
    /// What the worker reports in `Info`.
    fn capabilities(&self) -> Vec<String>;
    /// Runs one generation, streaming its text through `cx` as [`Event::Token`]s.
    fn generate(&mut self, g: &Generate, cx: &mut dyn Context<Protocol>) -> Result<Generated, ErrorReply>;
    /// Unloads `model`, or every model; returns what was unloaded.
    fn unload(&mut self, model: Option<&str>) -> Result<Vec<String>, ErrorReply>;
    /// The models loaded now, most recently used first.
    fn loaded(&self) -> Result<Vec<Loaded>, ErrorReply>;
}

/// Sends a piece of generated text to the supervisor, exactly as generated (the CLI strips
/// control characters before a terminal sees them; results are hashed as they are).
pub fn emit(cx: &mut dyn Context<Protocol>, text: String) -> Result<(), ErrorReply> {
    if text.is_empty() {
        return Ok(());
    }
    cx.emit(Event::Token(text))
        .map_err(|e| crate::text::err(oarn_protocol::envelope::ErrorKind::Internal, e.to_string()))
}
