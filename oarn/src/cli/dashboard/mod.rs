//! `oarn dashboard`: a live terminal view of the running node over its local socket: workers,
//! peers and bandwidth, tasks by stage, earnings, inference speed, CPU, RAM and GPUs, and
//! recent warnings from its log. It polls once a second; while the node does not answer
//! (stopped, restarting) it says "reconnecting" and keeps polling, so it survives a restart.
//! Keys: 1-3 or Tab/Shift-Tab (or arrows) switch panes, q or Esc or Ctrl-C quit.

mod model;
mod view;

use std::time::{Duration, Instant};

use oarn_api::ClientError;
use oarn_api::node::{GetMetrics, GetStatus};
use oarn_api::tasks::{GetEarnings, ListTasks};
use oarn_config::home::Home;
use oarn_node::logs::{self, Level};
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};

use super::Exit;
use model::{Model, Pane};

/// Time between polls of the node.
const POLL: Duration = Duration::from_secs(1);
/// Longest wait for one answer; a node slower than this is shown as not answering.
const WAIT: Duration = Duration::from_secs(3);
/// Earnings are read from the journal every this many polls.
const EARNINGS_EVERY: u64 = 10;
/// Bytes of the log before its end read at start, for the recent warnings.
const LOG_CHUNK: u64 = 256 << 10;

pub fn run(home: &Home) -> anyhow::Result<Exit> {
    let mut terminal = ratatui::try_init()?;
    let outcome = run_loop(home, &mut terminal);
    ratatui::restore();
    outcome
}

fn run_loop(home: &Home, terminal: &mut ratatui::DefaultTerminal) -> anyhow::Result<Exit> {
    let client = super::client(home);
    let started = Instant::now();
    let mut m = Model::default();
    let mut log = LogTail::new(home.log_file());
    let mut next_poll = Instant::now();
    loop {
        if Instant::now() >= next_poll {
            poll(&client, &mut m, started.elapsed().as_secs_f64());
            m.warn(log.read());
            next_poll = Instant::now() + POLL;
        }
        terminal.draw(|f| view::draw(f, &m))?;
        let wait = next_poll.saturating_duration_since(Instant::now());
        if event::poll(wait)?
            && let Event::Key(k) = event::read()?
            && k.kind == KeyEventKind::Press
        {
            match k.code {
                KeyCode::Char('q') | KeyCode::Esc => return Ok(Exit::Success),
                KeyCode::Char('c') if k.modifiers.contains(KeyModifiers::CONTROL) => return Ok(Exit::Interrupted),
                KeyCode::Char(c @ '1'..='3') => m.pane = Pane::ALL[usize::from(c as u8 - b'1')],
                KeyCode::Tab | KeyCode::Right => m.pane = m.pane.next(),
                KeyCode::BackTab | KeyCode::Left => m.pane = m.pane.previous(),
                _ => {}
            }
        }
    }
}

/// Asks the node for what the dashboard shows.
fn poll(client: &oarn_api::Client, m: &mut Model, at: f64) {
    let status = match client.call(&GetStatus {}, WAIT) {
        Ok(s) => s,
        Err(ClientError::NotRunning { .. }) => return m.lost("the node is not running".into()),
        Err(e) => return m.lost(e.to_string()),
    };
    let metrics = client.call(&GetMetrics {}, WAIT).map(|t| t.text).unwrap_or_default();
    m.reached(status, &metrics, at);
    if let Ok(t) = client.call(&ListTasks { limit: Some(200) }, WAIT) {
        m.tasks = Some(t);
    }
    if (m.polls - 1).is_multiple_of(EARNINGS_EVERY)
        && let Ok(e) = client.call(&GetEarnings {}, WAIT)
    {
        m.earnings = Some(e);
    }
}

/// Follows the daemon's log from near its end, for warnings and errors.
struct LogTail {
    path: std::path::PathBuf,
    follower: logs::Follower,
}

impl LogTail {
    /// Starts [`LOG_CHUNK`] bytes before the log's end, so the last warnings show at once (a
    /// line cut at that point does not parse and is skipped).
    fn new(path: std::path::PathBuf) -> Self {
        let len = std::fs::metadata(&path).map_or(0, |m| m.len());
        LogTail {
            follower: logs::Follower::from(len.saturating_sub(LOG_CHUNK)),
            path,
        }
    }

    /// Warnings and errors written since the last read.
    fn read(&mut self) -> Vec<String> {
        self.follower
            .read(&self.path)
            .unwrap_or_default()
            .iter()
            .filter_map(|l| logs::parse(l))
            .filter(|r| r.level >= Level::Warn)
            .map(|r| short(&r))
            .collect()
    }
}

/// A record in one short line: the time of day (UTC), level, who, message.
fn short(r: &logs::Record) -> String {
    let time = r
        .timestamp
        .split_once('T')
        .map_or(r.timestamp.as_str(), |(_, t)| t.split('.').next().unwrap_or(t));
    let who = r.worker.as_deref().unwrap_or("supervisor");
    format!("{time} {} [{who}] {}", r.level.as_str(), r.message)
}
