//! What the dashboard shows, built from what it polls (the node's status, tasks, earnings and
//! metrics text through the local socket, and the log's recent warnings), without any I/O:
//! rates from successive counters, sparklines of the last minutes, tasks by stage.

use std::collections::{BTreeMap, VecDeque};

use oarn_api::node::Status;
use oarn_api::tasks::{Earnings, TaskList};

/// Points kept per sparkline (one per poll).
pub const HISTORY: usize = 120;
/// Warnings kept.
pub const WARNINGS: usize = 200;

/// The panes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    Overview,
    Tasks,
    Log,
}

impl Pane {
    pub const ALL: [Pane; 3] = [Pane::Overview, Pane::Tasks, Pane::Log];

    pub fn title(self) -> &'static str {
        match self {
            Pane::Overview => "Overview",
            Pane::Tasks => "Tasks",
            Pane::Log => "Warnings",
        }
    }

    pub fn next(self) -> Self {
        let i = Self::ALL.iter().position(|p| *p == self).unwrap_or(0);
        Self::ALL[(i + 1) % Self::ALL.len()]
    }

    pub fn previous(self) -> Self {
        let i = Self::ALL.iter().position(|p| *p == self).unwrap_or(0);
        Self::ALL[(i + Self::ALL.len() - 1) % Self::ALL.len()]
    }
}

/// One sample of the metrics text: its name, its labels as written, its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: String,
    pub value: f64,
}

/// Reads the samples of metrics text (OpenMetrics or classic): `name{labels} value`, comments
/// skipped, lines that do not read skipped.
pub fn samples(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let value: f64 = value.parse().ok()?;
            let (name, labels) = match series.split_once('{') {
                Some((n, rest)) => (n, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            Some(Sample {
                name: name.to_string(),
                labels: labels.to_string(),
                value,
            })
        })
        .collect()
}

/// The value of the sample named `name` whose labels contain `label` (all of them summed).
pub fn value(samples: &[Sample], name: &str, label: &str) -> Option<f64> {
    let mut found = samples
        .iter()
        .filter(|s| s.name == name && s.labels.contains(label))
        .peekable();
    found.peek()?;
    Some(found.map(|s| s.value).sum())
}

/// A counter's rate between two polls.
#[derive(Debug, Clone, Default)]
pub struct Rate {
    last: Option<(f64, f64)>,
    pub history: VecDeque<u64>,
}

impl Rate {
    /// Records the counter's `value` at `at` seconds; returns the rate per second since the
    /// last one (a counter that went down started again: no rate).
    pub fn push(&mut self, at: f64, value: f64) -> Option<f64> {
        let rate = match self.last {
            Some((t, v)) if at > t && value >= v => Some((value - v) / (at - t)),
            _ => None,
        };
        self.last = Some((at, value));
        if let Some(r) = rate {
            if self.history.len() == HISTORY {
                self.history.pop_front();
            }
            self.history.push_back(r.round() as u64);
        }
        rate
    }

    pub fn latest(&self) -> u64 {
        self.history.back().copied().unwrap_or(0)
    }
}

/// Everything the dashboard shows.
#[derive(Debug)]
pub struct Model {
    pub pane: Pane,
    /// Why the node cannot be reached, while it cannot.
    pub unreachable: Option<String>,
    pub status: Option<Status>,
    pub tasks: Option<TaskList>,
    pub earnings: Option<Earnings>,
    pub metrics: Vec<Sample>,
    pub bytes_in: Rate,
    pub bytes_out: Rate,
    /// Busy share of the machine's CPU, 0..=1, from successive busy and idle counters.
    pub cpu_busy: Option<f64>,
    cpu_last: Option<(f64, f64)>,
    pub warnings: VecDeque<String>,
    /// Polls done.
    pub polls: u64,
}

impl Default for Model {
    fn default() -> Self {
        Model {
            pane: Pane::Overview,
            unreachable: None,
            status: None,
            tasks: None,
            earnings: None,
            metrics: Vec::new(),
            bytes_in: Rate::default(),
            bytes_out: Rate::default(),
            cpu_busy: None,
            cpu_last: None,
            warnings: VecDeque::new(),
            polls: 0,
        }
    }
}

impl Model {
    /// The node answered: its status, and the metrics text, at `at` seconds.
    pub fn reached(&mut self, status: Status, metrics: &str, at: f64) {
        self.unreachable = None;
        self.status = Some(status);
        self.metrics = samples(metrics);
        let all = |dir: &str| {
            value(
                &self.metrics,
                "oarn_network_bytes_total",
                &format!("protocol=\"all\",direction=\"{dir}\""),
            )
        };
        if let Some(v) = all("in") {
            self.bytes_in.push(at, v);
        }
        if let Some(v) = all("out") {
            self.bytes_out.push(at, v);
        }
        let busy = value(&self.metrics, "oarn_machine_cpu_seconds_total", "mode=\"busy\"");
        let idle = value(&self.metrics, "oarn_machine_cpu_seconds_total", "mode=\"idle\"");
        if let (Some(b), Some(i)) = (busy, idle) {
            if let Some((b0, i0)) = self.cpu_last {
                let (db, di) = (b - b0, i - i0);
                if db >= 0.0 && di >= 0.0 && db + di > 0.0 {
                    self.cpu_busy = Some(db / (db + di));
                }
            }
            self.cpu_last = Some((b, i));
        }
        self.polls += 1;
    }

    /// The node did not answer: why. What was shown stays, marked stale.
    pub fn lost(&mut self, why: String) {
        self.unreachable = Some(why);
        self.polls += 1;
    }

    /// New warnings from the log, oldest first.
    pub fn warn(&mut self, lines: impl IntoIterator<Item = String>) {
        for l in lines {
            if self.warnings.len() == WARNINGS {
                self.warnings.pop_front();
            }
            self.warnings.push_back(l);
        }
    }

    /// The tasks being worked on, by stage, and the ended ones by how they ended.
    pub fn stages(&self) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for t in self.tasks.iter().flat_map(|l| &l.tasks) {
            *out.entry(t.stage.clone()).or_default() += 1;
        }
        out
    }

    /// A metric's value, when the node serves it.
    pub fn metric(&self, name: &str, label: &str) -> Option<f64> {
        value(&self.metrics, name, label)
    }
}

/// Wei as ETH with up to 6 decimals.
pub fn eth(wei: &str) -> String {
    let negative = wei.starts_with('-');
    let digits: u128 = wei.trim_start_matches('-').parse().unwrap_or(0);
    let micro = (digits + 500_000_000_000) / 1_000_000_000_000;
    format!(
        "{}{}.{:06} ETH",
        if negative { "-" } else { "" },
        micro / 1_000_000,
        micro % 1_000_000
    )
}

/// Bytes per second in words.
pub fn rate(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{:.1} MiB/s", b as f64 / f64::from(1 << 20)),
        b if b >= 1 << 10 => format!("{:.1} KiB/s", b as f64 / f64::from(1 << 10)),
        b => format!("{b} B/s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# TYPE oarn_network_bytes counter\n\
        oarn_network_bytes_total{protocol=\"all\",direction=\"in\"} 1000.0\n\
        oarn_network_bytes_total{protocol=\"all\",direction=\"out\"} 10\n\
        oarn_network_bytes_total{protocol=\"gossip\",direction=\"in\"} 999\n\
        oarn_machine_cpu_seconds_total{mode=\"busy\"} 10\n\
        oarn_machine_cpu_seconds_total{mode=\"idle\"} 30\n\
        oarn_peers 3.0\n# EOF\n";

    fn status() -> Status {
        serde_json::from_value(serde_json::json!({
            "version": "0.1.0", "pid": 1, "name": "", "mode": "standard", "home": "/h", "config": "/c",
            "uptime_secs": 1, "sandbox_mode": "best-effort",
            "network": {"connected": true, "peer_id": null, "listen": [], "ipfs_api": null, "peers": 0, "announcements": 0, "error": null},
            "chain": {"connected": false, "discovery": "pending"},
            "wallet": {"present": false, "account": null, "locked": null},
            "workers": [], "ollama": {"enabled": false, "address": "", "serve": null}
        }))
        .unwrap()
    }

    #[test]
    fn samples_are_read_by_name_and_labels_and_comments_are_skipped() {
        let s = samples(TEXT);
        assert_eq!(s.len(), 6);
        assert_eq!(value(&s, "oarn_peers", ""), Some(3.0));
        assert_eq!(
            value(&s, "oarn_network_bytes_total", "direction=\"in\""),
            Some(1999.0),
            "summed"
        );
        assert_eq!(value(&s, "oarn_nothing", ""), None);
    }

    #[test]
    fn bandwidth_and_cpu_come_from_successive_counters() {
        let mut m = Model::default();
        m.reached(status(), TEXT, 100.0);
        assert_eq!(m.bytes_in.latest(), 0, "one poll gives no rate");
        assert_eq!(m.cpu_busy, None);
        let later = TEXT
            .replace("\"in\"} 1000.0", "\"in\"} 3000.0")
            .replace("busy\"} 10", "busy\"} 11")
            .replace("idle\"} 30", "idle\"} 33");
        m.reached(status(), &later, 102.0);
        assert_eq!(m.bytes_in.latest(), 1000, "2000 bytes in 2 s");
        assert_eq!(m.cpu_busy, Some(0.25));
        // A daemon that restarted counts from zero again: no negative rate.
        m.reached(status(), TEXT.replace("1000.0", "5.0").as_str(), 104.0);
        assert_eq!(m.bytes_in.history.len(), 1);
    }

    #[test]
    fn a_lost_node_keeps_what_was_shown_and_says_why() {
        let mut m = Model::default();
        m.reached(status(), TEXT, 1.0);
        m.lost("the node is not running".into());
        assert!(m.status.is_some());
        assert_eq!(m.unreachable.as_deref(), Some("the node is not running"));
        m.reached(status(), TEXT, 2.0);
        assert_eq!(m.unreachable, None);
    }

    #[test]
    fn panes_cycle_both_ways() {
        assert_eq!(Pane::Overview.next(), Pane::Tasks);
        assert_eq!(Pane::Log.next(), Pane::Overview);
        assert_eq!(Pane::Overview.previous(), Pane::Log);
    }

    #[test]
    fn wei_reads_as_eth_with_six_decimals() {
        assert_eq!(eth("1000000000000000"), "0.001000 ETH");
        assert_eq!(eth("-5000000000000"), "-0.000005 ETH");
        assert_eq!(eth("0"), "0.000000 ETH");
        assert_eq!(rate(2048), "2.0 KiB/s");
    }
}
