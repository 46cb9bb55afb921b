//! Merges a child's stderr into the supervisor's log: each line (JSON from a worker's
//! tracing, or raw text such as a panic message or a helper's own log line) is re-emitted
//! tagged with where it came from, at its level. Lines are bounded in length and stripped of
//! control characters ([`oarn_protocol::text::clean`]).

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

pub use oarn_protocol::text::clean;

/// Longest stderr line kept; the rest of a longer line is dropped.
pub const MAX_LINE: usize = 8 << 10;

/// Where lines come from: the tag they are logged with, and the level of a line that is not
/// a worker's JSON (a worker's panic is a warning; a helper's own log line is information).
#[derive(Debug, Clone, Copy)]
pub struct Source {
    pub name: &'static str,
    pub raw_level: tracing::Level,
}

/// Reads `stderr` until EOF, logging every line and handing each (cleaned) to `keep`.
pub async fn forward(source: Source, stderr: impl AsyncRead + Unpin, mut keep: impl FnMut(String)) {
    let mut reader = BufReader::with_capacity(MAX_LINE, stderr);
    let mut line = Vec::with_capacity(256);
    loop {
        line.clear();
        match read_bounded_line(&mut reader, &mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let text = clean(&String::from_utf8_lossy(&line));
        if text.is_empty() {
            continue;
        }
        let (level, message) = parse(&text).unwrap_or((source.raw_level, text));
        emit(source.name, level, &message);
        keep(message);
    }
}

/// Reads one line into `out`, keeping at most [`MAX_LINE`] bytes of it; returns bytes consumed.
async fn read_bounded_line<R: AsyncBufReadExt + Unpin>(r: &mut R, out: &mut Vec<u8>) -> std::io::Result<usize> {
    let mut consumed = 0;
    loop {
        let buf = r.fill_buf().await?;
        if buf.is_empty() {
            return Ok(consumed);
        }
        let (chunk, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (&buf[..=i], true),
            None => (buf, false),
        };
        let room = MAX_LINE.saturating_sub(out.len());
        out.extend_from_slice(&chunk[..chunk.len().min(room)]);
        let n = chunk.len();
        r.consume(n);
        consumed += n;
        if done {
            return Ok(consumed);
        }
    }
}

/// The level and readable message of a line that is a worker's tracing JSON object.
fn parse(line: &str) -> Option<(tracing::Level, String)> {
    let Ok(serde_json::Value::Object(obj)) = serde_json::from_str::<serde_json::Value>(line) else {
        return None;
    };
    let level = match obj.get("level").and_then(|l| l.as_str()) {
        Some("ERROR") => tracing::Level::ERROR,
        Some("WARN") => tracing::Level::WARN,
        Some("DEBUG") => tracing::Level::DEBUG,
        Some("TRACE") => tracing::Level::TRACE,
        _ => tracing::Level::INFO,
    };
    let mut message = String::new();
    if let Some(serde_json::Value::Object(fields)) = obj.get("fields") {
        if let Some(m) = fields.get("message").and_then(|m| m.as_str()) {
            message.push_str(m);
        }
        for (k, v) in fields.iter().filter(|(k, _)| *k != "message") {
            let v = v.as_str().map_or_else(|| v.to_string(), str::to_string);
            message.push_str(&format!(" {k}={v}"));
        }
    }
    Some((level, clean(&message)))
}

fn emit(worker: &str, level: tracing::Level, message: &str) {
    match level {
        tracing::Level::ERROR => tracing::error!(target: "worker", worker, "{message}"),
        tracing::Level::WARN => tracing::warn!(target: "worker", worker, "{message}"),
        tracing::Level::INFO => tracing::info!(target: "worker", worker, "{message}"),
        tracing::Level::DEBUG => tracing::debug!(target: "worker", worker, "{message}"),
        tracing::Level::TRACE => tracing::trace!(target: "worker", worker, "{message}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_keep_level_and_fields_raw_lines_take_the_sources_level() {
        let (l, m) =
            parse(r#"{"timestamp":"t","level":"ERROR","fields":{"message":"boom","error":"x"},"target":"w"}"#).unwrap();
        assert_eq!((l, m.as_str()), (tracing::Level::ERROR, "boom error=x"));
        assert_eq!(parse("thread 'main' panicked at src/main.rs:1"), None);
        assert_eq!(clean("\u{1b}[31mred\u{1b}[0m\r"), "[31mred[0m");
    }

    #[tokio::test]
    async fn long_lines_are_cut_not_buffered() {
        let mut input = vec![b'a'; MAX_LINE * 3];
        input.extend_from_slice(b"\nnext\n");
        let mut r = BufReader::new(&input[..]);
        let mut line = Vec::new();
        read_bounded_line(&mut r, &mut line).await.unwrap();
        assert_eq!(line.len(), MAX_LINE);
        line.clear();
        read_bounded_line(&mut r, &mut line).await.unwrap();
        assert_eq!(line, b"next\n");
    }
}
