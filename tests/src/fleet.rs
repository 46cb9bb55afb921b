//! A requester and worker nodes on the devnet, for the task pipeline's tests: each node finds
//! the chain through ENS, has a funded wallet and signs once started; the workers bootstrap
//! from the requester, which holds the task's blocks and claims nothing itself.

use std::path::PathBuf;
use std::process::Output;

use alloy::primitives::{Address, U256};
use serde_json::Value;

use crate::Node;
use crate::devnet::Devnet;

const PASSPHRASE: &str = "fleet passphrase";

pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The JSON a successful command printed.
pub fn json(out: &Output) -> Value {
    assert!(out.status.success(), "{}", text(out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(out)))
}

/// A runtime for the test's chain calls, and a devnet on a free port.
pub fn devnet() -> (tokio::runtime::Runtime, Devnet) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let devnet = rt
        .block_on(Devnet::start(crate::devnet::Options {
            port: 0,
            ..crate::devnet::Options::default()
        }))
        .expect("devnet starts");
    (rt, devnet)
}

/// A node that finds the devnet through ENS.
pub fn node_on(devnet: &Devnet) -> Node {
    let node = Node::new();
    let path = node.home().join("config.toml");
    let mut config = std::fs::read_to_string(&path).unwrap();
    for (key, value) in [
        ("ens_rpc_urls", format!("[\"{}\"]", devnet.rpc_url)),
        ("ens_registry", format!("\"{}\"", devnet.contracts.ens)),
    ] {
        let start = config.find(&format!("\n{key} = ")).unwrap() + 1;
        let end = start + config[start..].find('\n').unwrap();
        config.replace_range(start..end, &format!("{key} = {value}"));
    }
    std::fs::write(&path, config).unwrap();
    node
}

/// A wallet on `node` funded with 1 ETH: its address and passphrase file.
pub async fn funded_wallet(devnet: &Devnet, node: &Node) -> (Address, PathBuf) {
    let pass = node.dir.path().join("pass");
    std::fs::write(&pass, PASSPHRASE).unwrap();
    let out = node.oarn(&[
        "wallet",
        "create",
        "--no-confirm",
        "--new-passphrase-file",
        pass.to_str().unwrap(),
        "--json",
    ]);
    let address: Address = json(&out)["address"].as_str().unwrap().parse().unwrap();
    devnet
        .fund(address, U256::from(10u64.pow(18)), U256::ZERO, U256::ZERO)
        .await
        .unwrap();
    (address, pass)
}

/// Starts `node` with its passphrase file and waits until it signs as `account`.
pub fn start_signing(node: &mut Node, account: Address, pass: &std::path::Path) {
    node.start_with(&["--passphrase-file", pass.to_str().unwrap()]);
    let mine = account.to_string().to_lowercase();
    node.wait_status(|s| s["wallet"]["account"].as_str().map(str::to_lowercase) == Some(mine.clone()))
        .unwrap_or_else(|| panic!("the node never unlocked: {}", node.log()));
}

/// The requester: the test model installed, its wallet unlocked, auto_claim off, and
/// registered as the bootstrap peer of the nodes that start after it.
pub fn requester(rt: &tokio::runtime::Runtime, devnet: &Devnet) -> (Node, Address) {
    let mut r = node_on(devnet).with_env("OARN_COMPUTE__AUTO_CLAIM", "false");
    let (payer, pass) = rt.block_on(funded_wallet(devnet, &r));
    let model = crate::test_model();
    json(&r.oarn(&[
        "model",
        "import",
        model.to_str().unwrap(),
        "--name",
        "smollm2-135m-instruct",
        "--json",
    ]));
    start_signing(&mut r, payer, &pass);
    let peer = r.tcp_addr();
    let peer_id = peer.rsplit("/p2p/").next().unwrap().to_string();
    rt.block_on(devnet.register_bootstrap(2, &peer_id, &peer)).unwrap();
    (r, payer)
}

/// A worker node, started, signing; its account and passphrase file.
pub fn worker(rt: &tokio::runtime::Runtime, devnet: &Devnet, env: &[(&str, &str)]) -> (Node, Address, PathBuf) {
    let mut w = node_on(devnet);
    for (k, v) in env {
        w = w.with_env(k, v);
    }
    let (account, pass) = rt.block_on(funded_wallet(devnet, &w));
    start_signing(&mut w, account, &pass);
    (w, account, pass)
}

/// `oarn task submit` on the requester: the new task's id.
pub fn submit(requester: &Node, prompt: &str, reward_eth: &str) -> Value {
    json(&requester.oarn(&[
        "task",
        "submit",
        "--prompt",
        prompt,
        "--model",
        "smollm2-135m-instruct",
        "--reward",
        reward_eth,
        "--max-tokens",
        "12",
        "--json",
    ]))
}

/// `oarn task status ID --json`, when the node answers and knows the task.
pub fn task_status(node: &Node, id: u64) -> Option<Value> {
    let out = node.oarn(&["task", "status", &id.to_string(), "--json"]);
    out.status
        .success()
        .then(|| serde_json::from_slice(&out.stdout).ok())
        .flatten()
}

/// Whether a task status is final.
pub fn is_final(s: &Value) -> bool {
    matches!(s["stage"].as_str(), Some("settled" | "failed" | "skipped"))
}
