//! The task pipeline end to end on the devnet (real anvil, real libp2p peers on loopback, the
//! real SmolLM2 model): a requester submits a task with `oarn task submit` (its input block,
//! model manifest and model file go to IPFS); three worker nodes discover it from the chain, validate it,
//! fetch the input and the model from the requester over Bitswap, run it, upload and submit
//! the result; consensus is reached on three identical hashes and each node's balance rises
//! by exactly its reward less the gas its claim and submission cost, and `oarn task result`
//! gives the requester the text whose keccak256 is on chain. A worker whose result retention
//! is 0 unpins its result and removes its copy once the task settled; the others keep theirs.

use std::future::IntoFuture;
use std::time::Duration;

use alloy::primitives::{U256, keccak256};
use alloy::providers::Provider;
use oarn_tests::devnet;
use oarn_tests::fleet::{self, json, task_status, text};
use oarn_tests::wait_for;
use serde_json::Value;

fn wei(v: &Value) -> U256 {
    v.as_str().unwrap().parse().unwrap()
}

#[test]
fn three_nodes_take_a_task_to_consensus_and_earn_exactly_their_reward_less_gas() {
    let (rt, devnet) = fleet::devnet();

    // The requester's node holds the blocks and is every worker's bootstrap peer; it claims
    // nothing itself.
    let (mut requester, _) = fleet::requester(&rt, &devnet);

    let mut workers = Vec::new();
    for i in 0..3 {
        let retention = if i == 0 { "0" } else { "168" };
        let (w, account, _) = fleet::worker(&rt, &devnet, &[("OARN_STORAGE__RESULT_RETENTION_HOURS", retention)]);
        workers.push((w, account));
    }
    let chain = devnet::provider_for(&devnet.rpc_url, 9).unwrap();
    let before: Vec<U256> = workers
        .iter()
        .map(|(_, a)| rt.block_on(chain.get_balance(*a).into_future()).unwrap())
        .collect();

    let reward = U256::from(10u64.pow(15));
    let submitted = fleet::submit(&requester, "The capital of France is", "0.001");
    let id = submitted["task_id"].as_u64().unwrap();
    assert_eq!(submitted["paid_wei"], (reward * U256::from(3)).to_string());

    let mut hashes = Vec::new();
    for (w, account) in &workers {
        let settled = wait_for(Duration::from_secs(400), || {
            task_status(w, id).filter(|s| s["stage"] == "settled" || s["stage"] == "failed" || s["stage"] == "skipped")
        })
        .unwrap_or_else(|| panic!("task {id} did not settle: {:?}\n{}", task_status(w, id), w.log()));
        assert_eq!(settled["outcome"], "rewarded", "{settled}\n{}", w.log());
        let ledger = &settled["ledger"];
        assert_eq!(wei(&ledger["reward_wei"]), reward);
        let gas = wei(&ledger["claim_gas_wei"]) + wei(&ledger["submit_gas_wei"]);
        assert!(gas > U256::ZERO, "{settled}");
        let i = workers.iter().position(|(_, a)| a == account).unwrap();
        let after = rt.block_on(chain.get_balance(*account).into_future()).unwrap();
        assert_eq!(after, before[i] + reward - gas, "balance of {account}: {settled}");
        let stages: Vec<&str> = settled["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["stage"].as_str().unwrap())
            .collect();
        for want in [
            "validated",
            "claimed",
            "input_fetched",
            "model_ready",
            "executed",
            "result_uploaded",
            "submitted",
            "settled",
        ] {
            assert!(stages.contains(&want), "{want} missing from {stages:?}");
        }
        // Where its time went: the model's work and the node's own are told apart.
        let t = &settled["timings"];
        assert!(t["generation_ms"].as_u64().unwrap() > 0, "{t}");
        let parts: u64 = ["queued_ms", "generation_ms", "chain_wait_ms", "overhead_ms"]
            .iter()
            .map(|k| t[k].as_u64().unwrap())
            .sum();
        assert_eq!(parts, t["total_ms"].as_u64().unwrap(), "{t}");
        hashes.push(settled["result_hash"].as_str().unwrap().to_string());
        // The result the node uploaded is on IPFS, and its keccak256 is the hash on chain.
        let cid = settled["result_cid"].as_str().unwrap();
        let out = requester.oarn(&["ipfs", "get", cid]);
        assert!(out.status.success(), "{}", text(&out));
        assert_eq!(
            keccak256(&out.stdout).to_string(),
            settled["result_hash"].as_str().unwrap()
        );
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Paris"),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    assert!(hashes.windows(2).all(|w| w[0] == w[1]), "{hashes:?}");
    let on_chain = json(&requester.oarn(&["chain", "task", &id.to_string(), "--json"]));
    assert_eq!(on_chain["status"], "completed", "{on_chain}");
    assert_eq!(on_chain["consensus"]["winning_hash"], hashes[0].as_str());
    assert_eq!(on_chain["consensus"]["winning_count"], 3);

    // The requester gets the text by its nodes' result notices; its keccak256 is on chain.
    let result = wait_for(Duration::from_secs(60), || {
        let out = requester.oarn(&["task", "result", &id.to_string(), "--json"]);
        out.status.success().then(|| json(&out))
    })
    .unwrap_or_else(|| {
        panic!(
            "no result: {}",
            text(&requester.oarn(&["task", "result", &id.to_string()]))
        )
    });
    assert_eq!(result["result_hash"], hashes[0].as_str());
    let words = result["text"].as_str().unwrap();
    assert_eq!(keccak256(words.as_bytes()).to_string(), hashes[0]);
    assert!(words.contains("Paris"), "{words}");

    // Retention: the first worker released its result at once, the others keep it pinned
    // with its copy in the node home.
    let cid = task_status(&workers[0].0, id).unwrap()["result_cid"]
        .as_str()
        .unwrap()
        .to_string();
    let kept = |w: &oarn_tests::Node| {
        let pins = json(&w.oarn(&["ipfs", "pin", "ls", "--json"]));
        let pinned = pins["pins"].as_array().unwrap().iter().any(|p| p == cid.as_str());
        let copy = w.home().join("tasks/results").join(id.to_string()).exists();
        (pinned, copy)
    };
    let released = wait_for(Duration::from_secs(30), || {
        (kept(&workers[0].0) == (false, false)).then_some(())
    });
    assert!(released.is_some(), "{:?}\n{}", kept(&workers[0].0), workers[0].0.log());
    for (w, _) in &workers[1..] {
        assert_eq!(kept(w), (true, true), "a retention of 168 hours keeps the result");
    }

    // The history lists it with the same money.
    for (w, _) in &workers {
        let h = json(&w.oarn(&["task", "history", "--json"]));
        assert_eq!(h["tasks"][0]["id"], id);
        assert_eq!(h["tasks"][0]["outcome"], "rewarded");
        let csv = w.oarn(&["task", "history", "--csv"]);
        assert!(text(&csv).starts_with("task,outcome,reward_wei"), "{}", text(&csv));
    }
    for (mut w, _) in workers {
        w.stop();
    }
    requester.stop();
}
