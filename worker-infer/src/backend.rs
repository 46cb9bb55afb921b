//! What the worker asks of a model runtime (llama.cpp in this process, or an Ollama server):
//! generate with streamed text, and load and unload models.

use oarn_protocol::envelope::{ErrorKind, ErrorReply};
use oarn_protocol::infer::{Event, Generate, Generated, Loaded, MAX_TEXT, Protocol, Stop};
use oarn_protocol::serve::Context;
use sha3::{Digest, Keccak256};

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

/// A generation's text as it is made: each piece goes to the supervisor as it comes, exactly
/// as generated (the CLI strips control characters before a terminal sees them; results are
/// hashed as they are), and onto the whole text the reply carries with its keccak256.
#[derive(Debug, Default)]
pub struct Output {
    text: String,
}

impl Output {
    /// Streams `piece` and keeps it; a text that would pass [`MAX_TEXT`] is an error, never a
    /// text silently cut short.
    pub fn emit(&mut self, cx: &mut dyn Context<Protocol>, piece: String) -> Result<(), ErrorReply> {
        if piece.is_empty() {
            return Ok(());
        }
        if self.text.len() + piece.len() > MAX_TEXT {
            return Err(crate::text::err(
                ErrorKind::InvalidRequest,
                format!("the generated text passed {} MiB; ask for fewer tokens", MAX_TEXT >> 20),
            ));
        }
        self.text.push_str(&piece);
        cx.emit(Event::Token(piece))
            .map_err(|e| crate::text::err(ErrorKind::Internal, e.to_string()))
    }

    /// Ends a generation that stopped for `stop`: unless a stop string ended it, the text still
    /// undecoded (`rest`) goes through `stops`, and what they held back is released; returns
    /// why the generation stopped (a stop string in `rest` ends it too).
    pub fn flush(
        &mut self,
        cx: &mut dyn Context<Protocol>,
        mut stops: crate::text::Stops<'_>,
        rest: &str,
        stop: Stop,
    ) -> Result<Stop, ErrorReply> {
        if stop == Stop::StopString {
            return Ok(stop);
        }
        let (released, hit) = stops.push(rest);
        self.emit(cx, released)?;
        if hit {
            return Ok(Stop::StopString);
        }
        self.emit(cx, stops.finish())?;
        Ok(stop)
    }

    /// The whole text and its keccak256.
    pub fn finish(self) -> (String, [u8; 32]) {
        let hash = Keccak256::digest(self.text.as_bytes()).into();
        (self.text, hash)
    }
}
