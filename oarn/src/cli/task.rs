//! `oarn task`: the running node's task pipeline: the tasks it sees and why it takes them or
//! not, one task's timeline, an operator's claim, and the history of earnings.

use std::fmt::Write;
use std::time::Duration;

use oarn_api::tasks::{
    ClaimTask, GetResult, History, Ledger, ListTasks, Settled, SubmitTask, Submitted, TaskList, TaskReport, TaskResult,
    TaskStatus,
};
use oarn_config::home::Home;
use oarn_node::chain::units;

use super::Exit;
use super::args::TaskCommand;
use super::net::{print, task};
use super::table::s;

/// A submission adds the model file to IPFS and waits for the transaction.
const SUBMIT_WAIT: Duration = Duration::from_secs(600);
/// A result is fetched within a minute.
const RESULT_WAIT: Duration = Duration::from_secs(90);

/// A claim waits for validation (the blocks fetched) and the claim mined.
const CLAIM_WAIT: Duration = Duration::from_secs(620);

/// Wei as ETH, signed.
fn eth(wei: &str) -> String {
    match wei.strip_prefix('-') {
        Some(w) => format!("-{}", units(w)),
        None => units(wei),
    }
}

/// Milliseconds since the epoch as UTC `YYYY-MM-DD HH:MM:SS`.
fn when(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm): no date crate for
    // one line of output.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

fn list_text(v: &TaskList) -> String {
    let mut out = String::new();
    let p = &v.pipeline;
    let _ = writeln!(
        out,
        "pipeline: {}; {} slot(s){}",
        if p.auto_claim {
            "claiming on its own"
        } else if p.running {
            "claiming on request only"
        } else {
            "not running"
        },
        p.max_concurrent_tasks,
        p.why_not.as_ref().map_or(String::new(), |w| format!(" ({})", s(w)))
    );
    if v.tasks.is_empty() {
        out.push_str("no tasks seen yet\n");
        return out;
    }
    let _ = writeln!(
        out,
        "{:>8}  {:<16} {:<9} {:>14} {:>5}  WHY",
        "TASK", "STAGE", "SOURCE", "REWARD (ETH)", "TAKES"
    );
    for t in &v.tasks {
        let _ = writeln!(
            out,
            "{:>8}  {:<16} {:<9} {:>14} {:>5}  {}",
            t.id,
            t.stage,
            t.source,
            eth(&t.reward_wei),
            if t.takes { "yes" } else { "no" },
            t.why.as_deref().map(s).unwrap_or_default()
        );
    }
    out
}

fn ledger_text(out: &mut String, l: &Ledger) {
    let _ = writeln!(
        out,
        "reward {} ETH, gas {} ETH (claim) + {} ETH (submission), net {} ETH",
        eth(&l.reward_wei),
        eth(&l.claim_gas_wei),
        eth(&l.submit_gas_wei),
        eth(&l.net_wei)
    );
}

fn report_text(r: &TaskReport) -> String {
    let mut out = String::new();
    let t = &r.row;
    let _ = writeln!(out, "task {}: {}", t.id, r.outcome.as_deref().unwrap_or(&t.stage));
    if let Some(w) = &t.why {
        let _ = writeln!(out, "why      {}", s(w));
    }
    let _ = writeln!(
        out,
        "reward   {} ETH per node, {} nodes, deadline {}",
        eth(&t.reward_wei),
        t.required_nodes,
        when(t.deadline.saturating_mul(1000))
    );
    for (label, v) in [
        ("claim", r.claim_tx.map(|h| h.to_string())),
        ("submit", r.submit_tx.map(|h| h.to_string())),
    ] {
        if let Some(v) = v {
            let _ = writeln!(out, "{label:<8} {v}");
        }
    }
    if let Some(h) = &r.result_hash {
        let _ = writeln!(out, "result   {h}");
    }
    if let Some(c) = &r.result_cid {
        let _ = writeln!(out, "cid      {}", s(c));
    }
    ledger_text(&mut out, &r.ledger);
    if let Some(t) = &r.timings {
        let _ = writeln!(
            out,
            "time     {} ms to submission: {} node, {} generation, {} blocks, {} waiting for a slot",
            t.total_ms, t.overhead_ms, t.generation_ms, t.chain_wait_ms, t.queued_ms
        );
    }
    out.push_str("timeline\n");
    for e in &r.timeline {
        let detail = e.detail.as_deref().map_or(String::new(), |d| format!("  ({})", s(d)));
        let _ = writeln!(out, "  {}  {:<16} → {}{detail}", when(e.at_ms), e.event, e.stage);
    }
    out
}

fn history_text(v: &Settled) -> String {
    let mut out = String::new();
    if v.tasks.is_empty() {
        out.push_str("no settled tasks yet\n");
        return out;
    }
    let _ = writeln!(
        out,
        "{:>8}  {:<10} {:>14} {:>14} {:>14}  SETTLED",
        "TASK", "OUTCOME", "REWARD (ETH)", "GAS (ETH)", "NET (ETH)"
    );
    for t in &v.tasks {
        let gas =
            t.ledger.claim_gas_wei.parse::<u128>().unwrap_or(0) + t.ledger.submit_gas_wei.parse::<u128>().unwrap_or(0);
        let _ = writeln!(
            out,
            "{:>8}  {:<10} {:>14} {:>14} {:>14}  {}",
            t.id,
            t.outcome,
            eth(&t.ledger.reward_wei),
            eth(&gas.to_string()),
            eth(&t.ledger.net_wei),
            when(t.settled_ms)
        );
    }
    out.push_str("total: ");
    ledger_text(&mut out, &v.total);
    out
}

fn history_csv(v: &Settled) -> String {
    let mut out = String::from("task,outcome,reward_wei,claim_gas_wei,submit_gas_wei,net_wei,settled_ms\n");
    for t in &v.tasks {
        let l = &t.ledger;
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{}",
            t.id, t.outcome, l.reward_wei, l.claim_gas_wei, l.submit_gas_wei, l.net_wei, t.settled_ms
        );
    }
    out
}

fn submitted_text(v: &Submitted) -> String {
    format!(
        "task {} submitted (tx {}), paying {} ETH; announced to {} peer(s)\ninput  {} ({})\nmodel  {} ({}), file {}\n",
        v.task_id,
        v.tx,
        eth(&v.paid_wei),
        v.announced_to,
        v.input_hash,
        s(&v.input_cid),
        v.model_hash,
        s(&v.manifest_cid),
        s(&v.model_cid)
    )
}

fn result_text(v: &TaskResult) -> String {
    // The text is a peer's bytes: shown without control characters but newlines and tabs.
    let mut text = oarn_protocol::text::printable(&v.text);
    if !text.ends_with('\n') {
        text.push('\n');
    }
    eprintln!(
        "task {}: {} node(s) agreed on {} ({} bytes from {}, keccak256 checked)",
        v.task_id,
        v.agreeing,
        v.result_hash,
        v.bytes,
        s(&v.cid)
    );
    text
}

pub fn run(home: &Home, command: TaskCommand) -> anyhow::Result<Exit> {
    let client = super::client(home);
    let wait = super::node::CALL_WAIT;
    match command {
        TaskCommand::List { limit, json } => {
            print(&client.call(&ListTasks { limit: Some(limit) }, wait)?, json, list_text)
        }
        TaskCommand::Status { id, json } => print(
            &client.call(&TaskStatus { task_id: task(id)? }, wait)?,
            json,
            report_text,
        ),
        TaskCommand::Claim { id, json } => {
            if !json {
                eprintln!("validating task {id} and claiming it…");
            }
            print(
                &client.call(&ClaimTask { task_id: task(id)? }, CLAIM_WAIT)?,
                json,
                report_text,
            )
        }
        TaskCommand::Submit {
            prompt,
            input,
            model,
            reward,
            nodes,
            system,
            max_tokens,
            stop,
            open_secs,
            json,
        } => {
            let input_hex = match input {
                Some(path) => {
                    let why = format!(
                        "{} KiB, the most a task's input can be through the local API (its requests are at most 1 MiB, and hex doubles the bytes)",
                        oarn_api::infer::MAX_HEX_INPUT >> 10
                    );
                    let bytes = super::local::read_input(&path, oarn_api::infer::MAX_HEX_INPUT as u64, &why)?;
                    Some(oarn_protocol::hex::encode(&bytes))
                }
                None => None,
            };
            let params = SubmitTask {
                prompt,
                input_hex,
                system,
                max_tokens: Some(max_tokens),
                stop,
                chat: None,
                model,
                reward,
                required_nodes: Some(nodes),
                open_secs: Some(open_secs),
            };
            print(&client.call(&params, SUBMIT_WAIT)?, json, submitted_text)
        }
        TaskCommand::Result { id, json } => print(
            &client.call(&GetResult { task_id: task(id)? }, RESULT_WAIT)?,
            json,
            result_text,
        ),
        TaskCommand::History { limit, csv, json } => {
            let v = client.call(&History { limit: Some(limit) }, wait)?;
            if csv {
                print!("{}", history_csv(&v));
                return Ok(Exit::Success);
            }
            print(&v, json, history_text)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_utc_dates() {
        assert_eq!(when(0), "1970-01-01 00:00:00");
        assert_eq!(when(1_764_720_000_000), "2025-12-03 00:00:00");
        assert_eq!(when(951_782_400_000 + 3_723_000), "2000-02-29 01:02:03");
    }

    #[test]
    fn signed_amounts_read_in_eth() {
        assert_eq!(eth("1500000000000000"), "0.0015");
        assert_eq!(eth("-21000"), "-0.000000000000021");
    }
}
