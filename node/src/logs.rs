//! Reading the daemon's JSON log for `oarn logs`: parsing each line, filtering by worker and
//! level, and rendering it for a terminal.

use serde_json::Value;

/// One log record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub timestamp: String,
    pub level: Level,
    /// The worker that logged it, or `None` for the supervisor itself.
    pub worker: Option<String>,
    pub message: String,
}

/// Log levels, least to most severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

impl Level {
    /// Parses `info`, `INFO`, `warning`, ….
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.to_ascii_lowercase().as_str() {
            "trace" => Self::Trace,
            "debug" => Self::Debug,
            "info" => Self::Info,
            "warn" | "warning" => Self::Warn,
            "error" => Self::Error,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Trace => "TRACE",
            Self::Debug => "DEBUG",
            Self::Info => "INFO",
            Self::Warn => "WARN",
            Self::Error => "ERROR",
        }
    }
}

/// What `oarn logs` shows.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only this worker (`infer`, `net`, `chain`) or `supervisor`.
    pub worker: Option<String>,
    /// Only this level and more severe.
    pub level: Option<Level>,
}

impl Filter {
    pub fn matches(&self, r: &Record) -> bool {
        let worker_ok = match self.worker.as_deref() {
            None => true,
            Some("supervisor") => r.worker.is_none(),
            Some(w) => r.worker.as_deref() == Some(w),
        };
        worker_ok && self.level.is_none_or(|l| r.level >= l)
    }
}

/// Parses one line of the log; `None` for a line that is not a record.
pub fn parse(line: &str) -> Option<Record> {
    let v: Value = serde_json::from_str(line).ok()?;
    let fields = v.get("fields")?;
    let mut message = fields
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if let Some(obj) = fields.as_object() {
        for (k, val) in obj.iter().filter(|(k, _)| !matches!(k.as_str(), "message" | "worker")) {
            let val = val.as_str().map_or_else(|| val.to_string(), str::to_string);
            message.push_str(&format!(" {k}={val}"));
        }
    }
    Some(Record {
        timestamp: v
            .get("timestamp")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        level: v.get("level").and_then(Value::as_str).and_then(Level::parse)?,
        worker: fields.get("worker").and_then(Value::as_str).map(str::to_string),
        message,
    })
}

/// One record as a terminal line, control characters removed.
pub fn render(r: &Record) -> String {
    let who = r.worker.as_deref().unwrap_or("supervisor");
    let line = format!("{} {:<5} [{who}] {}", r.timestamp, r.level.as_str(), r.message);
    line.chars().filter(|c| !c.is_control()).collect()
}

/// The last `n` records of `text` that pass `filter`, as `(raw line, record)`.
pub fn tail<'a>(text: &'a str, filter: &Filter, n: usize) -> Vec<(&'a str, Record)> {
    let mut out: Vec<(&str, Record)> = text
        .lines()
        .filter_map(|l| parse(l).map(|r| (l, r)))
        .filter(|(_, r)| filter.matches(r))
        .collect();
    let skip = out.len().saturating_sub(n);
    out.drain(..skip);
    out
}

/// Most bytes one [`Follower::read`] takes in.
pub const FOLLOW_CHUNK: u64 = 1 << 20;

/// Follows the log as it grows (`oarn logs -f`, `oarn dashboard`): each read gives the
/// complete lines written since the last one, at most [`FOLLOW_CHUNK`] bytes at a time; a log
/// that shrank (rotated or truncated) is read again from its start.
#[derive(Debug, Clone, Default)]
pub struct Follower {
    offset: u64,
    partial: String,
}

impl Follower {
    /// A follower that starts reading at byte `offset`.
    pub fn from(offset: u64) -> Self {
        Follower {
            offset,
            partial: String::new(),
        }
    }

    /// The lines completed since the last read, without their newline.
    pub fn read(&mut self, path: &std::path::Path) -> std::io::Result<Vec<String>> {
        use std::io::{Read, Seek, SeekFrom};
        let mut file = std::fs::File::open(path)?;
        let len = file.metadata()?.len();
        if len < self.offset {
            self.offset = 0;
            self.partial.clear();
        }
        file.seek(SeekFrom::Start(self.offset))?;
        let mut chunk = Vec::new();
        file.take(FOLLOW_CHUNK).read_to_end(&mut chunk)?;
        self.offset += chunk.len() as u64;
        self.partial.push_str(&String::from_utf8_lossy(&chunk));
        let complete = self.partial.rfind('\n').map_or(0, |i| i + 1);
        Ok(self
            .partial
            .drain(..complete)
            .collect::<String>()
            .lines()
            .map(str::to_string)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_follower_gives_each_complete_line_once_and_starts_over_after_a_rotation() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("oarn.log");
        std::fs::write(&path, "old\n").unwrap();
        let mut f = Follower::from(4);
        assert!(f.read(&path).unwrap().is_empty());
        let mut file = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
        write!(file, "one\ntw").unwrap();
        assert_eq!(f.read(&path).unwrap(), ["one"]);
        writeln!(file, "o").unwrap();
        assert_eq!(f.read(&path).unwrap(), ["two"], "a line is given once it is whole");
        std::fs::write(&path, "new\n").unwrap();
        assert_eq!(f.read(&path).unwrap(), ["new"], "rotated: from the start");
    }

    const LOG: &str = concat!(
        r#"{"timestamp":"t1","level":"INFO","fields":{"message":"oarn starting"},"target":"oarn"}"#,
        "\n",
        r#"{"timestamp":"t2","level":"WARN","fields":{"message":"boom","worker":"infer"},"target":"worker"}"#,
        "\n",
        "not json\n",
        r#"{"timestamp":"t3","level":"DEBUG","fields":{"message":"ping","worker":"net","us":5},"target":"worker"}"#,
        "\n",
    );

    #[test]
    fn filters_by_worker_level_and_count() {
        let all = tail(LOG, &Filter::default(), 10);
        assert_eq!(all.len(), 3);
        assert_eq!(all[2].1.message, "ping us=5");
        let infer = tail(
            LOG,
            &Filter {
                worker: Some("infer".into()),
                level: None,
            },
            10,
        );
        assert_eq!(infer.len(), 1);
        let sup = tail(
            LOG,
            &Filter {
                worker: Some("supervisor".into()),
                level: None,
            },
            10,
        );
        assert_eq!(sup[0].1.message, "oarn starting");
        let warn = tail(
            LOG,
            &Filter {
                worker: None,
                level: Some(Level::Warn),
            },
            10,
        );
        assert_eq!(warn.len(), 1);
        assert_eq!(tail(LOG, &Filter::default(), 1)[0].1.timestamp, "t3");
        assert_eq!(render(&warn[0].1), "t2 WARN  [infer] boom");
    }
}
