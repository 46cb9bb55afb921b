//! The network's ONNX tensor tasks end to end on the devnet (real anvil, real libp2p peers on
//! loopback, real ONNX Runtime): a requester submits the iris classifier's task with
//! `oarn task submit --input`, the model block being the ONNX file itself as the network
//! addresses its small models; three nodes with ONNX Runtime fetch the model by that hash,
//! run it in their sandboxed inference workers and reach consensus on the result bytes that
//! `tests/onnx/make_iris.py` computed independently (onnxruntime's Python API). A node without
//! ONNX Runtime leaves the task alone and says why.

use std::time::Duration;

use alloy::primitives::keccak256;
use oarn_tests::fleet::{self, json, task_status, text};
use oarn_tests::{onnxruntime, test_onnx, wait_for};
use sha2::Digest;

#[test]
fn three_nodes_agree_on_the_reference_bytes_of_an_onnx_tensor_task() {
    let (rt, devnet) = fleet::devnet();
    let (requester, _) = fleet::requester(&rt, &devnet);
    let iris = test_onnx("iris.onnx");
    let lib = onnxruntime();
    // Importing checks the file in an inference worker, which needs ONNX Runtime; the
    // requester's daemon itself runs nothing.
    let import = requester
        .command(&["model", "import", iris.to_str().unwrap(), "--json"])
        .env("OARN_COMPUTE__ONNXRUNTIME", &lib)
        .output()
        .unwrap();
    json(&import);

    let mut workers = Vec::new();
    for _ in 0..3 {
        let (w, _, _) = fleet::worker(&rt, &devnet, &[("OARN_COMPUTE__ONNXRUNTIME", lib.to_str().unwrap())]);
        workers.push(w);
    }
    let (without, _, _) = fleet::worker(&rt, &devnet, &[]);

    let input = test_onnx("params.json");
    let submitted = fleet::submit_with(
        &requester,
        &[
            "--model",
            "iris",
            "--input",
            input.to_str().unwrap(),
            "--reward",
            "0.001",
        ],
    );
    let id = submitted["task_id"].as_u64().unwrap();
    // The model block is the model file itself.
    let model_sha = hex(&sha2::Sha256::digest(std::fs::read(&iris).unwrap()));
    assert_eq!(submitted["model_hash"], model_sha, "{submitted}");

    let expected = std::fs::read(test_onnx("params.json.expected")).unwrap();
    let want_hash = keccak256(&expected).to_string();
    for w in &workers {
        let settled = wait_for(Duration::from_secs(300), || task_status(w, id).filter(fleet::is_final))
            .unwrap_or_else(|| panic!("task {id} did not settle: {:?}\n{}", task_status(w, id), w.log()));
        assert_eq!(settled["outcome"], "rewarded", "{settled}\n{}", w.log());
        assert_eq!(settled["result_hash"], want_hash.as_str(), "{settled}");
        let cid = settled["result_cid"].as_str().unwrap();
        let out = requester.oarn(&["ipfs", "get", cid]);
        assert!(out.status.success(), "{}", text(&out));
        assert_eq!(out.stdout, expected);
    }
    let on_chain = json(&requester.oarn(&["chain", "task", &id.to_string(), "--json"]));
    assert_eq!(on_chain["consensus"]["winning_hash"], want_hash.as_str(), "{on_chain}");
    assert_eq!(on_chain["consensus"]["winning_count"], 3);

    let result = wait_for(Duration::from_secs(60), || {
        let out = requester.oarn(&["task", "result", &id.to_string(), "--json"]);
        out.status.success().then(|| json(&out))
    })
    .expect("the requester gets the result");
    assert_eq!(result["text"].as_str().unwrap().as_bytes(), &expected[..]);

    // The node without ONNX Runtime never claimed it, and says why.
    let s = wait_for(Duration::from_secs(120), || {
        task_status(&without, id).filter(fleet::is_final)
    })
    .unwrap_or_else(|| panic!("{:?}", task_status(&without, id)));
    assert_eq!(s["stage"], "skipped", "{s}");
    assert!(s["why"].as_str().unwrap().contains("no ONNX Runtime"), "{s}");
}

#[test]
fn a_tensor_model_larger_than_a_block_goes_by_its_manifest_and_the_nodes_agree() {
    let (rt, devnet) = fleet::devnet();
    let (requester, _) = fleet::requester(&rt, &devnet);
    let slow = test_onnx("slow.onnx");
    let lib = onnxruntime();
    let with_lib = |args: &[&str]| {
        requester
            .command(args)
            .env("OARN_COMPUTE__ONNXRUNTIME", &lib)
            .output()
            .unwrap()
    };
    json(&with_lib(&[
        "model",
        "import",
        slow.to_str().unwrap(),
        "--name",
        "slow",
        "--json",
    ]));
    // The result as a node of no network computes it, offline.
    let input = test_onnx("array.json");
    let offline = oarn_tests::Node::new().with_env("OARN_COMPUTE__ONNXRUNTIME", lib.to_str().unwrap());
    json(&offline.oarn(&["model", "import", slow.to_str().unwrap(), "--name", "slow", "--json"]));
    let local = json(&offline.oarn(&["local", "run", input.to_str().unwrap(), "--model", "slow", "--json"]));
    assert_eq!(local["served_by"], "own worker");
    let want_hash = local["result_keccak"].as_str().unwrap().to_string();

    let mut workers = Vec::new();
    for _ in 0..3 {
        let (w, _, _) = fleet::worker(&rt, &devnet, &[("OARN_COMPUTE__ONNXRUNTIME", lib.to_str().unwrap())]);
        workers.push(w);
    }
    let submitted = fleet::submit_with(
        &requester,
        &[
            "--model",
            "slow",
            "--input",
            input.to_str().unwrap(),
            "--reward",
            "0.001",
        ],
    );
    let id = submitted["task_id"].as_u64().unwrap();
    // Over one block: the model block is a model/v1 manifest naming the file's CID.
    assert_ne!(
        submitted["model_hash"],
        hex(&sha2::Sha256::digest(std::fs::read(&slow).unwrap()))
    );
    assert!(
        submitted["manifest_cid"].as_str().unwrap().starts_with("bafkrei"),
        "{submitted}"
    );
    for w in &workers {
        let settled = wait_for(Duration::from_secs(300), || task_status(w, id).filter(fleet::is_final))
            .unwrap_or_else(|| panic!("task {id} did not settle: {:?}\n{}", task_status(w, id), w.log()));
        assert_eq!(settled["outcome"], "rewarded", "{settled}\n{}", w.log());
        assert_eq!(settled["result_hash"], want_hash.as_str(), "{settled}");
    }
}

fn hex(bytes: &[u8]) -> String {
    format!("0x{}", bytes.iter().map(|b| format!("{b:02x}")).collect::<String>())
}
