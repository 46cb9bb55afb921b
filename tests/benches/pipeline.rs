//! The node's own overhead per task, on the devnet (real anvil, real libp2p peers on loopback,
//! the real SmolLM2 model): a requester submits tasks one after another, each with its own
//! input block, and three worker nodes take each one to consensus. For every task and node,
//! the node's journal splits the time from discovery to its submission mined into the wait
//! for a slot, the model's prompt and generation, the waits for blocks, and the rest, the
//! node's own overhead (target: p50 ≤ 300 ms). The generation time of the same tasks, in the
//! same run, is the baseline the overhead is given against. A first task, whose model every
//! node downloads, is run before and not counted.
//!
//! Run by `bench/pipeline [--tasks N]` with release binaries (`OARN_TEST_BINS`).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use oarn_tests::fleet::{self, task_status};
use oarn_tests::{Node, wait_for};
use serde_json::Value;

const TARGET_P50_MS: u64 = 300;

/// The `q` quantile of `v` (nearest rank), sorted in place.
fn quantile(v: &mut [u64], q: f64) -> u64 {
    v.sort_unstable();
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}

/// Submits one task and waits until every worker settled it; each worker's report.
fn one(requester: &Node, workers: &[Node], n: usize) -> Vec<Value> {
    let prompt = format!("Question {n}: the capital of France is");
    let id = fleet::submit(requester, &prompt, "0.001")["task_id"].as_u64().unwrap();
    let reports: Vec<Option<Value>> = workers
        .iter()
        .map(|w| {
            wait_for(Duration::from_secs(180), || task_status(w, id).filter(fleet::is_final))
                .filter(|s| s["stage"] == "settled")
        })
        .collect();
    if reports.iter().any(Option::is_none) {
        for (i, w) in workers.iter().enumerate() {
            eprintln!("node {i}: {:?}\n{}", task_status(w, id), w.daemon_stderr());
        }
        let chain = requester.oarn(&["chain", "task", &id.to_string(), "--json"]);
        panic!("task {id} did not settle on every node: {}", fleet::text(&chain));
    }
    reports.into_iter().flatten().collect()
}

/// Time between each transition and the one before it, by the later one's event, up to the
/// submission mined.
fn steps(report: &Value, into: &mut BTreeMap<String, Vec<u64>>) {
    let timeline = report["timeline"].as_array().unwrap();
    for pair in timeline.windows(2) {
        let at = |t: &Value| t["at_ms"].as_u64().unwrap();
        let event = pair[1]["event"].as_str().unwrap().to_string();
        into.entry(event.clone()).or_default().push(at(&pair[1]) - at(&pair[0]));
        if event == "submit_mined" {
            break;
        }
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut tasks = 100usize;
    while let Some(a) = args.next() {
        if a == "--tasks" {
            tasks = args.next().and_then(|n| n.parse().ok()).expect("--tasks N");
        }
    }
    let (rt, devnet) = fleet::devnet();
    let (mut requester, _) = fleet::requester(&rt, &devnet);
    let mut workers: Vec<Node> = (0..3).map(|_| fleet::worker(&rt, &devnet, &[]).0).collect();

    let started = Instant::now();
    let warm = one(&requester, &workers, 0);
    eprintln!(
        "warm-up task (model downloaded by each node): total {} ms",
        warm[0]["timings"]["total_ms"]
    );
    let mut by: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    let mut step: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for n in 1..=tasks {
        for report in one(&requester, &workers, n) {
            let t = &report["timings"];
            for k in ["total_ms", "queued_ms", "generation_ms", "chain_wait_ms", "overhead_ms"] {
                by.entry(k).or_default().push(t[k].as_u64().unwrap());
            }
            steps(&report, &mut step);
        }
        if n % 10 == 0 {
            eprintln!("{n}/{tasks} tasks in {:.0} s", started.elapsed().as_secs_f64());
        }
    }

    let samples = by["overhead_ms"].len();
    println!("{tasks} tasks x 3 nodes = {samples} samples, discovery to submission mined, ms");
    println!("{:<16} {:>8} {:>8} {:>8}", "", "p50", "p99", "max");
    for (k, v) in &mut by {
        let (p50, p99, max) = (quantile(v, 0.5), quantile(v, 0.99), quantile(v, 1.0));
        println!("{k:<16} {p50:>8} {p99:>8} {max:>8}");
    }
    println!(
        "by step (time since the previous transition; claim_mined and submit_mined include the wait for a block, executed the generation):"
    );
    for (k, v) in &mut step {
        let (p50, p99) = (quantile(v, 0.5), quantile(v, 0.99));
        println!("  {k:<14} {p50:>8} {p99:>8}");
    }
    let overhead = quantile(by.get_mut("overhead_ms").unwrap(), 0.5);
    let generation = quantile(by.get_mut("generation_ms").unwrap(), 0.5);
    println!(
        "overhead p50 {overhead} ms = {:.2}x the generation p50 ({generation} ms, the baseline); target p50 <= {TARGET_P50_MS} ms: {}",
        overhead as f64 / generation.max(1) as f64,
        if overhead <= TARGET_P50_MS { "met" } else { "MISSED" }
    );
    for w in &mut workers {
        w.stop();
    }
    requester.stop();
    if overhead > TARGET_P50_MS {
        std::process::exit(1);
    }
}
