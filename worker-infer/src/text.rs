//! What every backend does to a generation's text and limits: checking the request, cutting
//! the output at stop strings (holding back what may be the start of one), whole UTF-8
//! characters only, and the request's deadline.

use std::time::{Duration, Instant};

use oarn_protocol::envelope::{ErrorKind, ErrorReply};
use oarn_protocol::infer::{Generate, Role};

/// Longest prompt (with its history and system message) accepted, in bytes.
pub const MAX_PROMPT_BYTES: usize = 1 << 20;
/// Most tokens one request may ask for.
pub const MAX_TOKENS: u32 = 32_768;
/// Most stop strings, and the longest one in bytes.
pub const MAX_STOPS: usize = 16;
const MAX_STOP_BYTES: usize = 256;

/// An error reply of `kind`.
pub fn err(kind: ErrorKind, message: impl Into<String>) -> ErrorReply {
    ErrorReply::new(kind, message)
}

/// The threads a request runs on: as many as it asks for, or (0) as many as this machine has.
pub fn threads(requested: u32) -> usize {
    match requested {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n as usize,
    }
}

/// Refuses a request no backend should run, naming what is wrong.
pub fn check(g: &Generate) -> Result<(), ErrorReply> {
    let invalid = |m: String| Err(err(ErrorKind::InvalidRequest, m));
    let bytes = g.prompt.len()
        + g.system.as_ref().map_or(0, String::len)
        + g.history.iter().map(|m| m.content.len()).sum::<usize>();
    if bytes > MAX_PROMPT_BYTES {
        return invalid(format!(
            "the prompt is {bytes} bytes; at most {MAX_PROMPT_BYTES} are accepted"
        ));
    }
    if g.prompt.is_empty() && g.history.is_empty() {
        return invalid("the prompt is empty".into());
    }
    if g.max_tokens == 0 || g.max_tokens > MAX_TOKENS {
        return invalid(format!("max_tokens must be 1 to {MAX_TOKENS}, not {}", g.max_tokens));
    }
    if g.temperature_milli > 5000 {
        return invalid("the temperature must be between 0 and 5".into());
    }
    if g.top_p_milli > 1000 {
        return invalid("top_p must be between 0 and 1".into());
    }
    if g.stop.len() > MAX_STOPS || g.stop.iter().any(|s| s.is_empty() || s.len() > MAX_STOP_BYTES) {
        return invalid(format!(
            "at most {MAX_STOPS} stop strings of 1 to {MAX_STOP_BYTES} bytes"
        ));
    }
    if g.history.iter().any(|m| m.role == Role::System) && g.system.is_some() {
        return invalid("give the system message once: in `system` or in the history".into());
    }
    Ok(())
}

/// Cuts generated text at the first stop string, releasing only text that cannot be the
/// start of one.
#[derive(Debug)]
pub struct Stops<'a> {
    stops: &'a [String],
    held: String,
}

impl<'a> Stops<'a> {
    pub fn new(stops: &'a [String]) -> Self {
        Self {
            stops,
            held: String::new(),
        }
    }

    /// Adds `piece`; returns the text now safe to release, and whether a stop string ended
    /// the generation (the returned text then ends just before it).
    pub fn push(&mut self, piece: &str) -> (String, bool) {
        self.held.push_str(piece);
        if let Some(at) = self.stops.iter().filter_map(|s| self.held.find(s.as_str())).min() {
            let out = self.held[..at].to_string();
            self.held.clear();
            return (out, true);
        }
        let keep = self
            .stops
            .iter()
            .map(|s| longest_suffix_prefix(&self.held, s))
            .max()
            .unwrap_or(0);
        let out = self.held[..self.held.len() - keep].to_string();
        self.held.drain(..self.held.len() - keep);
        (out, false)
    }

    /// What is still held back, when the generation ends without a stop string.
    pub fn finish(self) -> String {
        self.held
    }
}

/// Length of the longest suffix of `text` that is a proper prefix of `stop`, on a character
/// boundary.
fn longest_suffix_prefix(text: &str, stop: &str) -> usize {
    (1..stop.len().min(text.len() + 1))
        .rev()
        .find(|&n| text.is_char_boundary(text.len() - n) && stop.starts_with(&text[text.len() - n..]))
        .unwrap_or(0)
}

/// Length of the longest prefix of `bytes` that is complete UTF-8.
pub fn utf8_prefix(bytes: &[u8]) -> usize {
    match std::str::from_utf8(bytes) {
        Ok(_) => bytes.len(),
        Err(e) if e.error_len().is_none() => e.valid_up_to(),
        // Invalid (not just incomplete) bytes: pass them on; they are shown lossily.
        Err(_) => bytes.len(),
    }
}

/// When a request must be finished by.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    at: Option<Instant>,
    ms: u64,
}

impl Deadline {
    /// The deadline of `g`, counted from `started`.
    pub fn of(g: &Generate, started: Instant) -> Self {
        Self {
            at: (g.deadline_ms > 0).then(|| started + Duration::from_millis(g.deadline_ms)),
            ms: g.deadline_ms,
        }
    }

    /// Time left, if there is a deadline.
    pub fn left(&self) -> Option<Duration> {
        self.at.map(|at| at.saturating_duration_since(Instant::now()))
    }

    /// An error once the deadline has passed; `done` says how far the request got.
    pub fn check(&self, done: impl FnOnce() -> String) -> Result<(), ErrorReply> {
        match self.at {
            Some(at) if Instant::now() >= at => Err(err(
                ErrorKind::DeadlineExceeded,
                format!("the request's deadline of {} ms passed {}", self.ms, done()),
            )),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_strings_cut_the_text_and_hold_back_partial_matches() {
        let stops = ["\nUser:".to_string(), "END".to_string()];
        let mut s = Stops::new(&stops);
        assert_eq!(s.push("Paris is"), ("Paris is".into(), false));
        assert_eq!(s.push(" nice.\nUs"), (" nice.".into(), false));
        assert_eq!(s.push("e"), ("".into(), false));
        assert_eq!(s.push("d to be"), ("\nUsed to be".into(), false));
        assert_eq!(s.push(" E"), (" ".into(), false));
        assert_eq!(s.push("NDless"), ("".into(), true));
        let mut s = Stops::new(&stops);
        assert_eq!(s.push("ok EN"), ("ok ".into(), false));
        assert_eq!(s.finish(), "EN");
        let none: [String; 0] = [];
        assert_eq!(Stops::new(&none).push("é"), ("é".into(), false));
    }

    #[test]
    fn partial_matches_respect_character_boundaries() {
        let stops = ["éx".to_string()];
        let mut s = Stops::new(&stops);
        assert_eq!(s.push("aé"), ("a".into(), false));
        assert_eq!(s.push("y"), ("éy".into(), false));
    }

    #[test]
    fn requests_are_checked() {
        let ok = Generate::new("m", "hi", 8);
        assert!(check(&ok).is_ok());
        let mut g = ok.clone();
        g.max_tokens = 0;
        assert!(check(&g).unwrap_err().message.contains("max_tokens"));
        let mut g = ok.clone();
        g.prompt = "x".repeat(MAX_PROMPT_BYTES + 1);
        assert!(check(&g).unwrap_err().message.contains("at most"));
        let mut g = ok.clone();
        g.stop = vec![String::new()];
        assert!(check(&g).unwrap_err().message.contains("stop strings"));
        let mut g = ok;
        g.top_p_milli = 1001;
        assert!(check(&g).unwrap_err().message.contains("top_p"));
    }

    #[test]
    fn utf8_prefix_waits_for_whole_characters() {
        let e = "é".as_bytes();
        assert_eq!(utf8_prefix(&e[..1]), 0);
        assert_eq!(utf8_prefix(e), 2);
        assert_eq!(utf8_prefix(&[b'a', 0xff]), 2);
    }
}
