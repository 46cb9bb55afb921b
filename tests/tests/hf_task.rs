//! A Hugging Face checkpoint's task end to end on the devnet (real anvil, real libp2p peers on
//! loopback, candle in the sandboxed inference workers): a requester submits a prompt for the
//! derived SmolLM2 as a PyTorch checkpoint (f16: half the Safetensors model's bytes, and the
//! archive travels the same way for both); its model block is a `model/v1` manifest with
//! `format: pytorch` naming the model archive's CID; three nodes fetch the archive over
//! Bitswap, install it after their own workers check it, generate, and reach consensus on
//! exactly the bytes an offline run gives.

use std::time::Duration;

use oarn_tests::fleet::{self, json, task_status};
use oarn_tests::{Node, test_pytorch_model, wait_for};

#[test]
fn three_nodes_fetch_a_pytorch_model_archive_and_agree_with_an_offline_run() {
    let model = test_pytorch_model();
    let prompt = "What is the capital of France?";
    // The result as a node of no network computes it, offline.
    let offline = Node::new();
    json(&offline.oarn(&[
        "model",
        "import",
        model.to_str().unwrap(),
        "--name",
        "smol-pt",
        "--json",
    ]));
    let local = json(&offline.oarn(&[
        "local",
        "inference",
        prompt,
        "--model",
        "smol-pt",
        "--max-tokens",
        "12",
        "--json",
    ]));
    assert_eq!(local["text"], "The capital of France is Paris.", "{local}");
    let want_hash = local["text_keccak"].as_str().unwrap().to_string();

    let (rt, devnet) = fleet::devnet();
    let (requester, _) = fleet::requester(&rt, &devnet);
    let imported = json(&requester.oarn(&[
        "model",
        "import",
        model.to_str().unwrap(),
        "--name",
        "smol-pt",
        "--json",
    ]));
    let mut workers = Vec::new();
    for _ in 0..3 {
        let (w, _, _) = fleet::worker(&rt, &devnet, &[]);
        workers.push(w);
    }
    let submitted = fleet::submit_with(
        &requester,
        &["--model", "smol-pt", "--prompt", prompt, "--reward", "0.001"],
    );
    let id = submitted["task_id"].as_u64().unwrap();
    assert!(submitted["manifest_cid"].as_str().is_some(), "{submitted}");
    for w in &workers {
        let settled = wait_for(Duration::from_secs(600), || task_status(w, id).filter(fleet::is_final))
            .unwrap_or_else(|| panic!("task {id} did not settle: {:?}\n{}", task_status(w, id), w.log()));
        assert_eq!(settled["outcome"], "rewarded", "{settled}\n{}", w.log());
        assert_eq!(settled["result_hash"], want_hash.as_str(), "{settled}");
        // The node installed the very archive the requester packed.
        let models = w.json(&["model", "list", "--json"]);
        assert!(
            models
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["digest"] == imported["digest"] && m["format"] == "pytorch"),
            "{models}"
        );
    }
}
