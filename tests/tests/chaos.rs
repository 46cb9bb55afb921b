//! Chaos on the task pipeline: three worker nodes work through 50 tasks on the devnet while
//! each kind of worker (inference, network, chain) and the supervisor itself are killed with
//! SIGKILL at random points (bounded in count and time; the supervisor is started again, the
//! workers are restarted by it). Afterwards, counted from the chain: every node's account sent
//! exactly one transaction per claim and per submission it made (no second claim or
//! submission, not even one that reverted), and every node's journal ends every task settled
//! or with a reason: none is lost.

use std::future::IntoFuture;
use std::time::{Duration, Instant};

use alloy::primitives::{Address, B256, U256};
use alloy::providers::Provider;
use alloy::sol_types::SolEvent;
use oarn_tests::devnet::bindings::TaskRegistryV2;
use oarn_tests::devnet::{self, Submitted};
use oarn_tests::fleet::{self, is_final, task_status};
use oarn_tests::{Node, wait_for};

const TASKS: u64 = 50;
/// Kills, at most, and the time they may take.
const KILLS: usize = 16;
const CHAOS_FOR: Duration = Duration::from_secs(240);
/// How long all tasks together may take to end on every node, after the chaos.
const SETTLE_FOR: Duration = Duration::from_secs(300);

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn pid_of(node: &Node, worker: &str) -> Option<i32> {
    let status = node.status()?;
    oarn_tests::worker(&status, worker)["pid"].as_u64().map(|p| p as i32)
}

fn kill9(pid: i32) {
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
}

#[test]
fn killing_workers_and_the_supervisor_loses_no_task_and_sends_no_transaction_twice() {
    let (rt, devnet) = fleet::devnet();
    let (requester, _) = fleet::requester(&rt, &devnet);
    let slots = [("OARN_COMPUTE__MAX_CONCURRENT_TASKS", "2")];
    let mut workers: Vec<(Node, Address, std::path::PathBuf)> =
        (0..3).map(|_| fleet::worker(&rt, &devnet, &slots)).collect();

    // The first task through the requester's node puts the blocks on IPFS; the others reuse
    // its hashes, submitted straight to the chain.
    let first = fleet::submit(&requester, "The capital of France is", "0.001");
    let hash = |k: &str| first[k].as_str().unwrap().parse::<B256>().unwrap();
    let more = Submitted {
        model_hash: hash("model_hash"),
        input_hash: hash("input_hash"),
        requirements: r#"{"framework":"gguf"}"#.into(),
        reward_per_node: U256::from(10u64.pow(15)),
        required: 3,
        open_secs: 3600,
    };
    for _ in 1..TASKS {
        rt.block_on(devnet.submit(9, &more)).unwrap();
    }

    let mut rng = Rng(0x5eed_c4a0_5eed_c4a0);
    let started = Instant::now();
    let mut kills = Vec::new();
    while kills.len() < KILLS && started.elapsed() < CHAOS_FOR {
        std::thread::sleep(Duration::from_millis(2_000 + rng.next() % 6_000));
        let n = (rng.next() % 3) as usize;
        let what = ["infer", "net", "chain", "supervisor"][(rng.next() % 4) as usize];
        let (node, account, pass) = &mut workers[n];
        if what == "supervisor" {
            kill9(node.daemon_pid() as i32);
            if let Some(mut child) = node.daemon.take() {
                let _ = child.wait();
            }
            fleet::start_signing(node, *account, pass);
        } else if let Some(pid) = pid_of(node, what) {
            kill9(pid);
        }
        kills.push(format!("node {n}: {what}"));
        let done = (1..=TASKS).all(|id| {
            workers
                .iter()
                .all(|(w, _, _)| task_status(w, id).is_some_and(|s| is_final(&s)))
        });
        if done {
            break;
        }
    }
    assert!(kills.len() >= 4, "too few kills happened: {kills:?}");

    let settle_by = Instant::now() + SETTLE_FOR;
    for (i, (w, _, _)) in workers.iter().enumerate() {
        for id in 1..=TASKS {
            let left = settle_by
                .saturating_duration_since(Instant::now())
                .max(Duration::from_secs(1));
            let s = wait_for(left, || task_status(w, id).filter(is_final)).unwrap_or_else(|| {
                let log = w.log();
                let tail: Vec<&str> = log.lines().rev().take(80).collect();
                panic!(
                    "node {i} lost task {id}: {}\n{}\nkills {kills:?}\n{}",
                    fleet::text(&w.oarn(&["task", "status", &id.to_string()])),
                    fleet::text(&w.oarn(&["task", "list", "--limit", "60"])),
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                )
            });
            if s["stage"] != "settled" {
                assert!(
                    s["why"].as_str().is_some_and(|w| !w.is_empty()),
                    "task {id} ended without a reason: {s}"
                );
            }
        }
    }

    // From the chain: one transaction per claim and per submission, none sent twice.
    let chain = devnet::provider_for(&devnet.rpc_url, 9).unwrap();
    let count = |sig: B256, who: Address| fleet::events(&rt, &devnet, sig, None, Some(who)) as u64;
    let mut rewarded = 0;
    for (i, (w, account, _)) in workers.iter().enumerate() {
        let claims = count(TaskRegistryV2::TaskClaimed::SIGNATURE_HASH, *account);
        let submissions = count(TaskRegistryV2::ResultSubmitted::SIGNATURE_HASH, *account);
        let sent = rt
            .block_on(chain.get_transaction_count(*account).into_future())
            .unwrap();
        assert_eq!(
            sent,
            claims + submissions,
            "node {i} sent {sent} transactions for {claims} claims and {submissions} submissions (kills {kills:?})"
        );
        assert!(submissions <= claims);
        let h = fleet::json(&w.oarn(&["task", "history", "--json"]));
        rewarded += h["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["outcome"] == "rewarded")
            .count();
    }
    assert!(
        rewarded >= TASKS as usize,
        "only {rewarded} rewards for {TASKS} tasks (kills {kills:?})"
    );
    eprintln!("{TASKS} tasks, {rewarded} rewards, kills: {kills:?}");
}
