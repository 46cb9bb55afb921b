//! Drawing the dashboard's model with ratatui: a header with the panes, then the pane.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Gauge, Paragraph, Row, Sparkline, Table, Tabs};

use super::model::{Model, Pane, eth, rate};

/// Everything shown on the node's terminal is its own text, but what came from the network
/// (task reasons, warnings) passes through here: no escape sequence reaches the terminal.
fn clean(s: &str) -> String {
    oarn_protocol::text::clean(s)
}

fn gib(bytes: f64) -> String {
    format!("{:.1} GiB", bytes / f64::from(1u32 << 30))
}

pub fn draw(f: &mut Frame, m: &Model) {
    let [header, tabs, body, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(0),
        Constraint::Length(1),
    ])
    .areas(f.area());
    f.render_widget(Paragraph::new(title(m)), header);
    let titles: Vec<String> = Pane::ALL
        .iter()
        .enumerate()
        .map(|(i, p)| format!("{} {}", i + 1, p.title()))
        .collect();
    let selected = Pane::ALL.iter().position(|p| *p == m.pane).unwrap_or(0);
    f.render_widget(
        Tabs::new(titles)
            .select(selected)
            .highlight_style(Style::new().add_modifier(Modifier::REVERSED)),
        tabs,
    );
    match m.pane {
        Pane::Overview => overview(f, m, body),
        Pane::Tasks => tasks(f, m, body),
        Pane::Log => log(f, m, body),
    }
    f.render_widget(
        Paragraph::new("1-3 or Tab: switch pane · q: quit").style(Style::new().fg(Color::DarkGray)),
        footer,
    );
}

fn title(m: &Model) -> Line<'static> {
    let mut spans = vec![Span::styled(
        "oarn dashboard",
        Style::new().add_modifier(Modifier::BOLD),
    )];
    if let Some(s) = &m.status {
        let name = if s.name.is_empty() {
            String::new()
        } else {
            format!(" {}", clean(&s.name))
        };
        spans.push(Span::raw(format!(
            " · node{name} pid {} · {} mode · up {} s",
            s.pid, s.mode, s.uptime_secs
        )));
    }
    if let Some(why) = &m.unreachable {
        spans.push(Span::styled(
            format!(" · reconnecting: {}", clean(why)),
            Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        ));
    }
    Line::from(spans)
}

fn overview(f: &mut Frame, m: &Model, area: Rect) {
    let [left, right] = Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(area);
    let [workers_area, money_area, machine_area] =
        Layout::vertical([Constraint::Length(6), Constraint::Length(7), Constraint::Min(4)]).areas(left);
    let [net_area, stages_area, warn_area] =
        Layout::vertical([Constraint::Length(8), Constraint::Length(7), Constraint::Min(3)]).areas(right);
    workers(f, m, workers_area);
    money(f, m, money_area);
    machine(f, m, machine_area);
    network(f, m, net_area);
    stages(f, m, stages_area);
    let recent: Vec<Line> = m
        .warnings
        .iter()
        .rev()
        .take(usize::from(warn_area.height.saturating_sub(2)))
        .map(|w| Line::raw(clean(w)))
        .collect();
    f.render_widget(
        Paragraph::new(recent).block(Block::bordered().title("Recent warnings")),
        warn_area,
    );
}

fn workers(f: &mut Frame, m: &Model, area: Rect) {
    let rows: Vec<Row> = m
        .status
        .iter()
        .flat_map(|s| &s.workers)
        .map(|w| {
            let state = serde_json::to_value(w.state)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default();
            let color = if state == "running" { Color::Green } else { Color::Red };
            let cpu = m
                .metric("oarn_process_cpu_seconds_total", &format!("worker=\"{}\"", w.kind))
                .map_or("-".into(), |v| format!("{v:.1} s"));
            let rss = m
                .metric("oarn_process_resident_memory_bytes", &format!("worker=\"{}\"", w.kind))
                .map_or("-".into(), |v| format!("{:.0} MiB", v / f64::from(1 << 20)));
            Row::new(vec![
                Cell::from(w.kind.clone()),
                Cell::from(state).style(Style::new().fg(color)),
                Cell::from(w.pid.map_or("-".into(), |p| p.to_string())),
                Cell::from(w.restarts.to_string()),
                Cell::from(cpu),
                Cell::from(rss),
            ])
        })
        .collect();
    let widths = [
        Constraint::Length(7),
        Constraint::Length(11),
        Constraint::Length(8),
        Constraint::Length(9),
        Constraint::Length(9),
        Constraint::Length(9),
    ];
    let header = Row::new(["WORKER", "STATE", "PID", "RESTARTS", "CPU", "MEMORY"])
        .style(Style::new().add_modifier(Modifier::BOLD));
    f.render_widget(
        Table::new(rows, widths)
            .header(header)
            .block(Block::bordered().title("Workers")),
        area,
    );
}

fn money(f: &mut Frame, m: &Model, area: Rect) {
    let mut lines = Vec::new();
    if let Some(e) = &m.earnings {
        for (label, p) in [("24 h", &e.last_24h), ("7 days", &e.last_7d), ("total", &e.total)] {
            lines.push(Line::raw(format!(
                "{label:<7} {} rewarded of {} · earned {} · gas {} · net {}",
                p.rewarded,
                p.tasks,
                eth(&p.ledger.reward_wei),
                eth(&(p.ledger.claim_gas_wei.parse::<u128>().unwrap_or(0)
                    + p.ledger.submit_gas_wei.parse::<u128>().unwrap_or(0))
                .to_string()),
                eth(&p.ledger.net_wei)
            )));
        }
    } else {
        lines.push(Line::raw("no task journal yet"));
    }
    let speed = |phase: &str| {
        m.metric("oarn_inference_tokens_per_second", &format!("phase=\"{phase}\""))
            .map_or("-".into(), |v| format!("{v:.1}"))
    };
    lines.push(Line::raw(format!(
        "inference: prompt {} tok/s · generation {} tok/s (last generation)",
        speed("prompt"),
        speed("generation")
    )));
    if let Some(s) = &m.status {
        let wallet = match &s.wallet.account {
            Some(a) => format!("wallet {a} unlocked"),
            None => "wallet locked: oarn wallet unlock".into(),
        };
        lines.push(Line::raw(wallet));
    }
    f.render_widget(Paragraph::new(lines).block(Block::bordered().title("Earnings")), area);
}

fn machine(f: &mut Frame, m: &Model, area: Rect) {
    let block = Block::bordered().title("Machine");
    let inner = block.inner(area);
    f.render_widget(block, area);
    let [cpu_area, ram_area, gpu_area] =
        Layout::vertical([Constraint::Length(1), Constraint::Length(1), Constraint::Min(0)]).areas(inner);
    let busy = m.cpu_busy.unwrap_or(0.0).clamp(0.0, 1.0);
    f.render_widget(
        Gauge::default().ratio(busy).label(format!("CPU {:.0}%", busy * 100.0)),
        cpu_area,
    );
    let total = m.metric("oarn_memory_bytes", "kind=\"total\"").unwrap_or(0.0);
    let available = m.metric("oarn_memory_bytes", "kind=\"available\"").unwrap_or(0.0);
    let used = (total - available).max(0.0);
    let ratio = if total > 0.0 {
        (used / total).clamp(0.0, 1.0)
    } else {
        0.0
    };
    f.render_widget(
        Gauge::default()
            .ratio(ratio)
            .label(format!("RAM {} of {}", gib(used), gib(total))),
        ram_area,
    );
    let gpus: Vec<Line> = m
        .metrics
        .iter()
        .filter(|s| s.name == "oarn_gpu_utilization_ratio")
        .map(|s| Line::raw(format!("GPU {} {:.0}% busy", clean(&s.labels), s.value * 100.0)))
        .collect();
    let gpus = if gpus.is_empty() {
        vec![Line::raw("no GPU reported")]
    } else {
        gpus
    };
    f.render_widget(Paragraph::new(gpus), gpu_area);
}

fn network(f: &mut Frame, m: &Model, area: Rect) {
    let peers = m.metric("oarn_peers", "").map_or("-".into(), |p| format!("{p:.0}"));
    let block = Block::bordered().title(format!(
        "Peers {peers} · in {} · out {}",
        rate(m.bytes_in.latest()),
        rate(m.bytes_out.latest())
    ));
    let inner = block.inner(area);
    f.render_widget(block, area);
    let [down, up] = Layout::vertical([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(inner);
    let series = |r: &super::model::Rate| -> Vec<u64> { r.history.iter().copied().collect() };
    f.render_widget(
        Sparkline::default()
            .data(series(&m.bytes_in))
            .style(Style::new().fg(Color::Cyan)),
        down,
    );
    f.render_widget(
        Sparkline::default()
            .data(series(&m.bytes_out))
            .style(Style::new().fg(Color::Yellow)),
        up,
    );
}

fn stages(f: &mut Frame, m: &Model, area: Rect) {
    let mut lines: Vec<Line> = m
        .stages()
        .iter()
        .map(|(stage, n)| Line::raw(format!("{stage:<16} {n}")))
        .collect();
    if lines.is_empty() {
        lines.push(Line::raw("no task seen yet"));
    }
    if let Some(p) = m.tasks.as_ref().map(|t| &t.pipeline)
        && let Some(why) = &p.why_not
    {
        lines.insert(0, Line::styled(clean(why), Style::new().fg(Color::Yellow)));
    }
    f.render_widget(
        Paragraph::new(lines).block(Block::bordered().title("Tasks by stage")),
        area,
    );
}

fn tasks(f: &mut Frame, m: &Model, area: Rect) {
    let rows: Vec<Row> = m
        .tasks
        .iter()
        .flat_map(|l| &l.tasks)
        .map(|t| {
            let color = match t.stage.as_str() {
                "settled" => Color::Green,
                "failed" => Color::Red,
                "skipped" => Color::DarkGray,
                _ => Color::Yellow,
            };
            Row::new(vec![
                Cell::from(t.id.0.to_string()),
                Cell::from(t.stage.clone()).style(Style::new().fg(color)),
                Cell::from(t.source.clone()),
                Cell::from(eth(&t.reward_wei)),
                Cell::from(clean(t.why.as_deref().unwrap_or(""))),
            ])
        })
        .collect();
    let widths = [
        Constraint::Length(8),
        Constraint::Length(16),
        Constraint::Length(9),
        Constraint::Length(16),
        Constraint::Min(10),
    ];
    let header =
        Row::new(["TASK", "STAGE", "SOURCE", "REWARD", "WHY"]).style(Style::new().add_modifier(Modifier::BOLD));
    f.render_widget(
        Table::new(rows, widths)
            .header(header)
            .block(Block::bordered().title("Tasks, newest first")),
        area,
    );
}

fn log(f: &mut Frame, m: &Model, area: Rect) {
    let lines: Vec<Line> = m
        .warnings
        .iter()
        .rev()
        .take(usize::from(area.height.saturating_sub(2)))
        .map(|w| Line::raw(clean(w)))
        .collect();
    let lines = if lines.is_empty() {
        vec![Line::raw("no warning logged")]
    } else {
        lines
    };
    f.render_widget(
        Paragraph::new(lines).block(Block::bordered().title("Warnings and errors, newest first")),
        area,
    );
}
