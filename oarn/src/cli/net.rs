//! `oarn net …`: the running node's peers, the task announcements it heard, publishing an
//! announcement, claim negotiation, results, and DHT records; each a typed call to the
//! node's API. Text that came from the network is stripped of control characters before it
//! reaches the terminal.

use std::fmt::Write as _;
use std::time::Duration;

use oarn_api::net::{
    Announce, Claimers, Claims, Delivered, DhtGet, DhtPut, GetPeers, GetResults, GetTasks, Peers, Results, SendResult,
    Tasks,
};
use oarn_api::{Address, Hash32, TaskId};
use oarn_config::home::Home;

use super::Exit;
use super::args::{DhtCommand, NetCommand};
use super::table::{mib, s};

/// DHT queries take up to 10 s inside the worker.
const DHT_WAIT: Duration = Duration::from_secs(25);
/// Validators have 5 s to acknowledge a result, inside the worker.
const RESULT_WAIT: Duration = Duration::from_secs(20);

pub(super) fn print<T: serde::Serialize>(v: &T, json: bool, text: impl FnOnce(&T) -> String) -> anyhow::Result<Exit> {
    if json {
        println!("{}", serde_json::to_string_pretty(v)?);
    } else {
        print!("{}", text(v));
    }
    Ok(Exit::Success)
}

fn peers_text(v: &Peers) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "peer id  {}", s(&v.peer_id));
    for a in &v.listen {
        let _ = writeln!(out, "listen   {}", s(a));
    }
    let g = &v.gossip;
    let _ = writeln!(
        out,
        "gossip   {} accepted, {} rejected, {} ignored, {} published",
        g.accepted, g.rejected, g.ignored, g.published
    );
    let _ = writeln!(
        out,
        "traffic  {} in, {} out; Bitswap {} served, {} received; gossip {} in, {} out",
        mib(v.streams.bytes_in),
        mib(v.streams.bytes_out),
        mib(v.bitswap.bytes_served),
        mib(v.bitswap.bytes_received),
        mib(g.bytes_in),
        mib(g.bytes_out),
    );
    if !v.validators.is_empty() {
        let up = v.peers.iter().filter(|p| p.validator).count();
        let sla = &v.sla;
        let _ = writeln!(
            out,
            "routed   {} validators, {up} connected; {} results delivered, claim to result p50 {} ms, p99 {} ms, max {} ms",
            v.validators.len(),
            sla.results,
            sla.claim_to_result_p50_ms,
            sla.claim_to_result_p99_ms,
            sla.claim_to_result_max_ms,
        );
    }
    let _ = writeln!(out, "\n{} peers", v.peers.len());
    if !v.peers.is_empty() {
        let _ = writeln!(
            out,
            "{:<54} {:>9} {:>6} {:>7}  ADDRESS",
            "PEER", "RTT", "SCORE", "INVALID"
        );
    }
    for p in &v.peers {
        let rtt = p
            .rtt_us
            .map_or("-".into(), |us| format!("{:.1} ms", us as f64 / 1000.0));
        let addr = p.addresses.first().map(|a| s(a)).unwrap_or_default();
        let _ = writeln!(
            out,
            "{:<54} {:>9} {:>6} {:>7}  {addr}",
            s(&p.peer_id),
            rtt,
            p.score,
            p.invalid_messages
        );
    }
    for b in &v.banned {
        let _ = writeln!(out, "banned   {}: {}", s(&b.peer_id), s(&b.reason));
    }
    out
}

fn tasks_text(v: &Tasks) -> String {
    if v.tasks.is_empty() {
        return "no task announcements heard yet\n".into();
    }
    let mut out = format!(
        "{:>8} {:>6} {:>24} {:>12}  {:<6}  MODEL\n",
        "TASK", "NODES", "REWARD (wei)", "DEADLINE", "ROUTED"
    );
    for t in &v.tasks {
        let _ = writeln!(
            out,
            "{:>8} {:>6} {:>24} {:>12}  {:<6}  {}",
            t.id,
            t.required_nodes,
            t.reward,
            t.deadline,
            if t.routed { "yes" } else { "" },
            t.model_hash
        );
    }
    out
}

fn results_text(v: &Results) -> String {
    if v.results.is_empty() {
        return "no result notices heard yet\n".into();
    }
    let mut out = format!("{:>8}  {:<66}  {:<60}  FROM\n", "TASK", "RESULT HASH", "CID");
    for r in &v.results {
        let _ = writeln!(
            out,
            "{:>8}  {:<66}  {:<60}  {}",
            r.task_id,
            r.result_hash,
            s(&r.cid),
            s(&r.from)
        );
    }
    out
}

fn claims_text(v: &Claimers) -> String {
    let claimers: Vec<String> = v.claimers.iter().map(ToString::to_string).collect();
    format!(
        "task {}: {} known claimer(s){}{} ({} of {} peers answered)\n",
        v.task_id,
        claimers.len(),
        if claimers.is_empty() { "" } else { ": " },
        claimers.join(", "),
        v.peers_answered,
        v.peers_asked
    )
}

fn delivered_text(v: &Delivered) -> String {
    let sla = v
        .claim_to_result_ms
        .map_or(String::new(), |ms| format!("; {ms} ms after this node's claim"));
    format!(
        "task {}: {} of {} validators acknowledged the result{sla}\n",
        v.task_id, v.acknowledged, v.validators
    )
}

/// A task id from the command line, as the API reads it.
pub(super) fn task(id: u64) -> anyhow::Result<TaskId> {
    if id == 0 {
        anyhow::bail!("task_id must be a task id (1 or more)");
    }
    Ok(TaskId(id))
}

/// A 0x value from the command line, read as the API reads it ("<what> must be …").
fn parsed<T: std::str::FromStr<Err = String>>(what: &str, text: &str) -> anyhow::Result<T> {
    text.parse().map_err(|e| anyhow::anyhow!("{what} {e}"))
}

pub fn run(home: &Home, command: NetCommand) -> anyhow::Result<Exit> {
    let client = super::client(home);
    let wait = super::node::CALL_WAIT;
    match command {
        NetCommand::Peers { json } => print(&client.call(&GetPeers {}, wait)?, json, peers_text),
        NetCommand::Tasks { json } => print(&client.call(&GetTasks {}, wait)?, json, tasks_text),
        NetCommand::Announce {
            id,
            model_hash,
            input_hash,
            reward,
            required_nodes,
            deadline,
            json,
        } => {
            let params = Announce {
                id,
                model_hash: parsed::<Hash32>("model_hash", &model_hash)?,
                input_hash: parsed::<Hash32>("input_hash", &input_hash)?,
                reward,
                required_nodes,
                deadline,
            };
            print(&client.call(&params, wait)?, json, |v| {
                format!("announced task {} to {} peers\n", v.task, v.peers)
            })
        }
        NetCommand::Claims { task_id, record, json } => {
            let params = Claims {
                task_id: task(task_id)?,
                record: record.as_deref().map(|r| parsed::<Address>("record", r)).transpose()?,
            };
            print(&client.call(&params, DHT_WAIT)?, json, claims_text)
        }
        NetCommand::Result {
            task_id,
            hash,
            cid,
            json,
        } => {
            let params = SendResult {
                task_id: task(task_id)?,
                result_hash: parsed::<Hash32>("result_hash", &hash)?,
                cid,
            };
            let v = client.call(&params, RESULT_WAIT)?;
            let exit = if v.validators == 0 {
                eprintln!("no validator is connected: is network.validators set, and are they up?");
                Exit::Failure
            } else {
                Exit::Success
            };
            print(&v, json, delivered_text)?;
            Ok(exit)
        }
        NetCommand::Results { json } => print(&client.call(&GetResults {}, wait)?, json, results_text),
        NetCommand::Dht { command } => match command {
            DhtCommand::Put { key, value, json } => {
                let v = client.call(&DhtPut { key, value }, DHT_WAIT)?;
                print(&v, json, |v| format!("stored {}\n", s(&v.key)))
            }
            DhtCommand::Get { key, json } => {
                let v = client.call(&DhtGet { key }, DHT_WAIT)?;
                let found = v.found;
                print(&v, json, |v| match &v.value {
                    Some(value) => format!("{}\n", s(value)),
                    None => format!("no record under {}\n", s(&v.key)),
                })?;
                Ok(if found { Exit::Success } else { Exit::Failure })
            }
        },
    }
}
