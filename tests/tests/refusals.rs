//! What the task pipeline refuses, on the devnet (real anvil, real libp2p peers on loopback,
//! the real SmolLM2 model), counted from the chain. Four worker nodes that want at least
//! 0.002 ETH and only `smollm2-*` models see a task whose input block is on no peer, one for a
//! model they do not accept, one paying too little and one whose deadline is too close for
//! them: none is ever claimed, and each node keeps the reason. Then a task all four claim:
//! one of them is paused (SIGSTOP, as a slow machine would be) while the other three reach
//! consensus; resumed, it ends "consensus closed before this node submitted" without sending
//! a submission. Every node's account sent exactly the claims and submissions the chain shows.

use std::future::IntoFuture;
use std::time::Duration;

use alloy::primitives::{Address, U256, keccak256};
use alloy::providers::Provider;
use alloy::sol_types::SolEvent;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use oarn_tests::devnet::bindings::TaskRegistryV2::{ResultSubmitted, TaskClaimed};
use oarn_tests::devnet::{self, Submitted};
use oarn_tests::fleet::{self, is_final, json, task_status, text};
use oarn_tests::{Node, wait_for};
use serde_json::Value;

/// The workers' policy: this reward at least, these models only.
const POLICY: [(&str, &str); 2] = [
    ("OARN_COMPUTE__MIN_REWARD", "\"0.002\""),
    ("OARN_COMPUTE__ACCEPTED_MODELS", "[\"smollm2-*\"]"),
];

/// A node's view of `id` once it is final.
fn final_status(node: &Node, id: u64, within: Duration) -> Value {
    wait_for(within, || task_status(node, id).filter(is_final))
        .unwrap_or_else(|| panic!("task {id} did not end: {:?}\n{}", task_status(node, id), node.log()))
}

#[test]
fn refused_tasks_are_never_claimed_and_a_task_closed_before_submission_costs_no_transaction() {
    let (rt, devnet) = fleet::devnet();
    let (requester, _) = fleet::requester(&rt, &devnet);
    // The same file under a name the workers do not accept.
    let model = oarn_tests::test_model();
    json(&requester.oarn(&[
        "model",
        "import",
        model.to_str().unwrap(),
        "--name",
        "tinychat-135m",
        "--json",
    ]));
    let mut workers: Vec<(Node, Address)> = (0..4)
        .map(|_| {
            let (w, account, _) = fleet::worker(&rt, &devnet, &POLICY);
            (w, account)
        })
        .collect();

    let low = fleet::submit(&requester, "The capital of France is", "0.001");
    let refused_model = fleet::submit_with(
        &requester,
        &[
            "--prompt",
            "The capital of France is",
            "--reward",
            "0.003",
            "--model",
            "tinychat-135m",
        ],
    );
    // 45 s: less than a node that has not yet measured itself budgets for a model download,
    // its load and two transactions.
    let close = fleet::submit_with(
        &requester,
        &[
            "--prompt",
            "The capital of France is",
            "--reward",
            "0.003",
            "--open-secs",
            "45",
        ],
    );
    // The model is real, the input block is on no peer. 100 s bounds the node's retries.
    let unfetchable = Submitted {
        model_hash: low["model_hash"].as_str().unwrap().parse().unwrap(),
        input_hash: keccak256(b"an input block nobody holds"),
        requirements: r#"{"framework":"gguf"}"#.into(),
        reward_per_node: U256::from(3 * 10u64.pow(15)),
        required: 3,
        open_secs: 100,
    };
    let unfetchable = rt.block_on(devnet.submit(9, &unfetchable)).unwrap();
    let id = |v: &Value| v["task_id"].as_u64().unwrap();
    let refusals = [
        (id(&low), "under compute.min_reward"),
        (
            id(&refused_model),
            "\"tinychat-135m\" is not in compute.accepted_models",
        ),
        (id(&close), "the deadline leaves"),
    ];
    for (w, _) in &workers {
        for (task, why) in refusals {
            let s = final_status(w, task, Duration::from_secs(120));
            assert_eq!(s["stage"], "skipped", "task {task}: {s}");
            assert!(s["why"].as_str().unwrap().contains(why), "task {task}: {s}");
        }
    }

    // The task that closes without one of its claimers. The refusals above were decided
    // before any node measured itself: its speed does not change them.
    let task = id(&fleet::submit(&requester, "The capital of France is", "0.003"));
    let (slow, slow_account) = workers.pop().unwrap();
    let claimed = wait_for(Duration::from_secs(120), || {
        task_status(&slow, task)
            .filter(|s| s["stage"] != "discovered" && s["stage"] != "validated" && s["stage"] != "claiming")
    })
    .unwrap_or_else(|| panic!("the slow node never claimed task {task}: {}", slow.log()));
    let paused = Pid::from_raw(slow.daemon_pid() as i32);
    kill(paused, Signal::SIGSTOP).unwrap();
    assert!(
        ["claimed", "input_fetched", "model_ready"].contains(&claimed["stage"].as_str().unwrap()),
        "the slow node was paused too late to test anything: {claimed}"
    );
    for (w, _) in &workers {
        let s = final_status(w, task, Duration::from_secs(300));
        assert_eq!(s["outcome"], "rewarded", "{s}\n{}", w.log());
    }
    kill(paused, Signal::SIGCONT).unwrap();
    let s = final_status(&slow, task, Duration::from_secs(120));
    assert_eq!(s["stage"], "failed", "{s}");
    assert_eq!(s["why"], "consensus closed before this node submitted", "{s}");

    // The unfetchable input ends each node's retries, before the deadline, with the reason:
    // skipped, as it was never claimed.
    for w in workers.iter().map(|(w, _)| w).chain([&slow]) {
        let s = final_status(w, unfetchable, Duration::from_secs(240));
        assert_eq!(s["stage"], "skipped", "{s}");
        assert!(
            s["why"].as_str().unwrap().contains("input block could not be fetched"),
            "{s}"
        );
    }

    // From the chain: no refused task was claimed by anyone; each account sent one
    // transaction per claim and per submission; the slow node submitted nothing.
    for task in refusals.iter().map(|(t, _)| *t).chain([unfetchable]) {
        let claims = fleet::events(&rt, &devnet, TaskClaimed::SIGNATURE_HASH, Some(task), None);
        assert_eq!(claims, 0, "task {task} was claimed");
    }
    let chain = devnet::provider_for(&devnet.rpc_url, 9).unwrap();
    let sent = |a: Address| rt.block_on(chain.get_transaction_count(a).into_future()).unwrap();
    for (_, account) in &workers {
        assert_eq!(sent(*account), 2, "{account}: one claim and one submission");
    }
    let submitted = fleet::events(
        &rt,
        &devnet,
        ResultSubmitted::SIGNATURE_HASH,
        Some(task),
        Some(slow_account),
    );
    assert_eq!(submitted, 0);
    assert_eq!(sent(slow_account), 1, "the slow node sent its claim and nothing else");
    let list = slow.oarn(&["task", "list", "--limit", "10"]);
    assert!(text(&list).contains("compute.min_reward"), "{}", text(&list));
    drop(requester);
}
