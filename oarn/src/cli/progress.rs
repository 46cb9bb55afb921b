//! Progress of long transfers on standard error: a bar (bytes, rate, ETA) on a terminal, a
//! plain line at most every few seconds otherwise (logs, pipes), nothing with `--json`.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use super::table::mib;

/// How often the plain form prints a line.
const LINE_EVERY: Duration = Duration::from_secs(2);

/// Shows the progress of one transfer.
#[derive(Debug)]
pub enum Progress {
    Bar(ProgressBar),
    Lines { last: Option<Instant>, what: String },
    Quiet,
}

impl Progress {
    /// The form that fits standard error, for a transfer described as `what`.
    pub fn new(what: &str, json: bool) -> Self {
        if json {
            return Self::Quiet;
        }
        if !std::io::stderr().is_terminal() {
            return Self::Lines {
                last: None,
                what: what.into(),
            };
        }
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template("{bytes}/{total_bytes} {wide_bar} {binary_bytes_per_sec} ETA {eta}")
                .expect("a valid template"),
        );
        Self::Bar(bar)
    }

    /// `done` of `total` bytes (0 when unknown).
    pub fn update(&mut self, done: u64, total: u64) {
        match self {
            Self::Bar(bar) => {
                if total > 0 {
                    bar.set_length(total);
                }
                bar.set_position(done);
            }
            Self::Lines { last, what } => {
                if last.is_none_or(|t| t.elapsed() >= LINE_EVERY) || (total > 0 && done >= total) {
                    *last = Some(Instant::now());
                    let of = if total > 0 {
                        format!(" of {}", mib(total))
                    } else {
                        String::new()
                    };
                    eprintln!("{what}: {}{of}", mib(done));
                }
            }
            Self::Quiet => {}
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Self::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }
}
