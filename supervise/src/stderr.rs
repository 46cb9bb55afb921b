//! Merges a worker's stderr into the supervisor's log: each line (JSON from the worker's
//! tracing, or raw text such as a panic message) is re-emitted tagged with the worker, at the
//! worker's level. Lines are bounded in length and stripped of control characters.

use std::sync::{Arc, Mutex};

use oarn_protocol::WorkerKind;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

use super::status::WorkerStatus;

/// Longest stderr line kept; the rest of a longer line is dropped.
pub const MAX_LINE: usize = 8 << 10;

/// Reads `stderr` until EOF, logging every line and keeping the last ones in `status`.
pub async fn forward(kind: WorkerKind, stderr: impl AsyncRead + Unpin, status: Arc<Mutex<WorkerStatus>>) {
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
        let (level, message) = parse(&text);
        emit(kind, level, &message);
        status.lock().unwrap_or_else(|e| e.into_inner()).push_stderr(message);
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

/// Drops control characters (terminal escapes included) and surrounding whitespace.
pub fn clean(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control() || *c == '\t')
        .collect::<String>()
        .trim()
        .to_string()
}

/// The level and readable message of one line: a tracing JSON object, or raw text.
fn parse(line: &str) -> (tracing::Level, String) {
    let Ok(serde_json::Value::Object(obj)) = serde_json::from_str::<serde_json::Value>(line) else {
        return (tracing::Level::WARN, line.to_string());
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
    (level, clean(&message))
}

fn emit(kind: WorkerKind, level: tracing::Level, message: &str) {
    let worker = kind.name();
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
    fn json_lines_keep_level_and_fields_raw_lines_are_warnings() {
        let (l, m) = parse(r#"{"timestamp":"t","level":"ERROR","fields":{"message":"boom","error":"x"},"target":"w"}"#);
        assert_eq!((l, m.as_str()), (tracing::Level::ERROR, "boom error=x"));
        let (l, m) = parse("thread 'main' panicked at src/main.rs:1");
        assert_eq!(
            (l, m.as_str()),
            (tracing::Level::WARN, "thread 'main' panicked at src/main.rs:1")
        );
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
