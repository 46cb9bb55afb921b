//! `oarn net …`: the running node's peers, the task announcements it heard, publishing an
//! announcement, and DHT records; each a call to the daemon's API. Text that came from the
//! network is stripped of control characters before it reaches the terminal.

use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use oarn_api::client;
use oarn_config::home::Home;
use oarn_supervise::stderr::clean;
use serde_json::{Value, json};

use super::args::{DhtCommand, NetCommand};
use super::table::{mib, s};

/// DHT queries take up to 10 s inside the worker.
const DHT_WAIT: Duration = Duration::from_secs(25);
/// Validators have 5 s to acknowledge a result, inside the worker.
const RESULT_WAIT: Duration = Duration::from_secs(20);

fn print(v: &Value, json: bool, text: impl FnOnce(&Value) -> String) -> anyhow::Result<ExitCode> {
    if json {
        println!("{}", serde_json::to_string_pretty(v)?);
    } else {
        print!("{}", text(v));
    }
    Ok(ExitCode::SUCCESS)
}

fn peers_text(v: &Value) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "peer id  {}", s(v, "peer_id"));
    for a in v["listen"].as_array().into_iter().flatten() {
        let _ = writeln!(out, "listen   {}", a.as_str().map(clean).unwrap_or_default());
    }
    let g = &v["gossip"];
    let _ = writeln!(
        out,
        "gossip   {} accepted, {} rejected, {} ignored, {} published",
        s(g, "accepted"),
        s(g, "rejected"),
        s(g, "ignored"),
        s(g, "published")
    );
    let bytes = |v: &Value, key: &str| mib(v[key].as_u64().unwrap_or(0));
    let _ = writeln!(
        out,
        "traffic  {} in, {} out; Bitswap {} served, {} received; gossip {} in, {} out",
        bytes(&v["streams"], "bytes_in"),
        bytes(&v["streams"], "bytes_out"),
        bytes(&v["bitswap"], "bytes_served"),
        bytes(&v["bitswap"], "bytes_received"),
        bytes(g, "bytes_in"),
        bytes(g, "bytes_out"),
    );
    let peers = v["peers"].as_array().cloned().unwrap_or_default();
    let validators = v["validators"].as_array().map_or(0, Vec::len);
    if validators > 0 {
        let up = peers.iter().filter(|p| p["validator"] == true).count();
        let sla = &v["sla"];
        let _ = writeln!(
            out,
            "routed   {validators} validators, {up} connected; {} results delivered, claim to result p50 {} ms, p99 {} ms, max {} ms",
            s(sla, "results"),
            s(sla, "claim_to_result_p50_ms"),
            s(sla, "claim_to_result_p99_ms"),
            s(sla, "claim_to_result_max_ms"),
        );
    }
    let _ = writeln!(out, "\n{} peers", peers.len());
    if !peers.is_empty() {
        let _ = writeln!(
            out,
            "{:<54} {:>9} {:>6} {:>7}  ADDRESS",
            "PEER", "RTT", "SCORE", "INVALID"
        );
    }
    for p in &peers {
        let rtt = p["rtt_us"]
            .as_u64()
            .map_or("-".into(), |us| format!("{:.1} ms", us as f64 / 1000.0));
        let addr = p["addresses"]
            .get(0)
            .and_then(Value::as_str)
            .map(clean)
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{:<54} {:>9} {:>6} {:>7}  {addr}",
            s(p, "peer_id"),
            rtt,
            s(p, "score"),
            s(p, "invalid_messages")
        );
    }
    for b in v["banned"].as_array().into_iter().flatten() {
        let _ = writeln!(out, "banned   {}: {}", s(b, "peer_id"), s(b, "reason"));
    }
    out
}

fn tasks_text(v: &Value) -> String {
    let tasks = v["tasks"].as_array().cloned().unwrap_or_default();
    if tasks.is_empty() {
        return "no task announcements heard yet\n".into();
    }
    let mut out = format!(
        "{:>8} {:>6} {:>24} {:>12}  {:<6}  MODEL\n",
        "TASK", "NODES", "REWARD (wei)", "DEADLINE", "ROUTED"
    );
    for t in &tasks {
        let _ = writeln!(
            out,
            "{:>8} {:>6} {:>24} {:>12}  {:<6}  {}",
            s(t, "id"),
            s(t, "required_nodes"),
            s(t, "reward"),
            s(t, "deadline"),
            if t["routed"] == true { "yes" } else { "" },
            s(t, "model_hash")
        );
    }
    out
}

fn results_text(v: &Value) -> String {
    let results = v["results"].as_array().cloned().unwrap_or_default();
    if results.is_empty() {
        return "no result notices heard yet\n".into();
    }
    let mut out = format!("{:>8}  {:<66}  {:<60}  FROM\n", "TASK", "RESULT HASH", "CID");
    for r in &results {
        let _ = writeln!(
            out,
            "{:>8}  {:<66}  {:<60}  {}",
            s(r, "task_id"),
            s(r, "result_hash"),
            s(r, "cid"),
            s(r, "from")
        );
    }
    out
}

pub fn run(home: &Home, command: NetCommand) -> anyhow::Result<ExitCode> {
    let call = |method: &str, params: Value, wait: Duration| client::call(&home.socket(), method, params, wait);
    let wait = super::node::CALL_WAIT;
    match command {
        NetCommand::Peers { json } => print(&call("oarn_peers", Value::Null, wait)?, json, peers_text),
        NetCommand::Tasks { json } => print(&call("oarn_tasks", Value::Null, wait)?, json, tasks_text),
        NetCommand::Announce {
            id,
            model_hash,
            input_hash,
            reward,
            required_nodes,
            deadline,
            json,
        } => {
            let params = json!({
                "id": id, "model_hash": model_hash, "input_hash": input_hash,
                "reward": reward, "required_nodes": required_nodes, "deadline": deadline,
            });
            print(&call("oarn_announceTask", params, wait)?, json, |v| {
                format!("announced task {} to {} peers\n", s(v, "task"), s(v, "peers"))
            })
        }
        NetCommand::Claims { task_id, record, json } => {
            let v = call("oarn_claims", json!({"task_id": task_id, "record": record}), DHT_WAIT)?;
            print(&v, json, |v| {
                let claimers: Vec<&str> = v["claimers"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                format!(
                    "task {task_id}: {} known claimer(s){}{} ({} of {} peers answered)\n",
                    claimers.len(),
                    if claimers.is_empty() { "" } else { ": " },
                    claimers.join(", "),
                    v["peers_answered"],
                    v["peers_asked"]
                )
            })
        }
        NetCommand::Result {
            task_id,
            hash,
            cid,
            json,
        } => {
            let params = json!({"task_id": task_id, "result_hash": hash, "cid": cid});
            let v = call("oarn_sendResult", params, RESULT_WAIT)?;
            let code = if v["validators"].as_u64() == Some(0) {
                eprintln!("no validator is connected: is network.validators set, and are they up?");
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            };
            print(&v, json, |v| {
                let sla = v["claim_to_result_ms"]
                    .as_u64()
                    .map_or(String::new(), |ms| format!("; {ms} ms after this node's claim"));
                format!(
                    "task {task_id}: {} of {} validators acknowledged the result{sla}\n",
                    v["acknowledged"], v["validators"]
                )
            })?;
            Ok(code)
        }
        NetCommand::Results { json } => print(&call("oarn_results", Value::Null, wait)?, json, results_text),
        NetCommand::Dht { command } => match command {
            DhtCommand::Put { key, value, json } => {
                let v = call("oarn_dhtPut", json!({"key": key, "value": value}), DHT_WAIT)?;
                print(&v, json, |v| format!("stored {}\n", s(v, "key")))
            }
            DhtCommand::Get { key, json } => {
                let v = call("oarn_dhtGet", json!({"key": key}), DHT_WAIT)?;
                let found = v["found"].as_bool().unwrap_or(false);
                print(&v, json, |v| {
                    if found {
                        format!("{}\n", s(v, "value"))
                    } else {
                        format!("no record under {}\n", s(v, "key"))
                    }
                })?;
                Ok(if found { ExitCode::SUCCESS } else { ExitCode::from(1) })
            }
        },
    }
}
