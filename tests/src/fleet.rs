//! A requester and worker nodes on the devnet, for the task pipeline's tests: each node finds
//! the chain through ENS, has a funded wallet and signs once started; the workers bootstrap
//! from the requester, which holds the task's blocks and claims nothing itself.

use std::path::PathBuf;
use std::process::Output;

use alloy::primitives::{Address, B256, U256};
use alloy::providers::Provider;
use alloy::rpc::types::Filter;
use serde_json::Value;

use crate::Node;
use crate::devnet::Devnet;

/// The passphrase of every wallet these helpers create.
pub const PASSPHRASE: &str = "fleet passphrase";

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

/// Rewrites `key = …` lines of the node's config.toml.
pub fn configure(node: &Node, settings: &[(&str, String)]) {
    let path = node.home().join("config.toml");
    let mut text = std::fs::read_to_string(&path).unwrap();
    for (key, value) in settings {
        let start = text
            .find(&format!("\n{key} = "))
            .unwrap_or_else(|| panic!("{key} in config.toml"))
            + 1;
        let end = start + text[start..].find('\n').unwrap();
        text.replace_range(start..end, &format!("{key} = {value}"));
    }
    std::fs::write(&path, text).unwrap();
}

/// A node that finds the devnet through ENS.
pub fn node_on(devnet: &Devnet) -> Node {
    let node = Node::new();
    configure(
        &node,
        &[
            ("ens_rpc_urls", format!("[\"{}\"]", devnet.rpc_url)),
            ("ens_registry", format!("\"{}\"", devnet.contracts.ens)),
        ],
    );
    node
}

/// Creates a wallet on `node`: its address and passphrase file.
pub fn wallet(node: &Node) -> (Address, PathBuf) {
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
    (json(&out)["address"].as_str().unwrap().parse().unwrap(), pass)
}

/// A wallet on `node` funded with 1 ETH: its address and passphrase file.
pub async fn funded_wallet(devnet: &Devnet, node: &Node) -> (Address, PathBuf) {
    let (address, pass) = wallet(node);
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

/// `oarn task submit` on the requester for the test model, 12 tokens: what it printed.
pub fn submit(requester: &Node, prompt: &str, reward_eth: &str) -> Value {
    submit_with(requester, &["--prompt", prompt, "--reward", reward_eth])
}

/// `oarn task submit --json` with `args`; the test model and 12 tokens unless `args` say
/// otherwise.
pub fn submit_with(requester: &Node, args: &[&str]) -> Value {
    let mut all = vec!["task", "submit", "--json"];
    for (flag, default) in [("--model", "smollm2-135m-instruct"), ("--max-tokens", "12")] {
        if !args.contains(&flag) {
            all.extend([flag, default]);
        }
    }
    all.extend(args);
    json(&requester.oarn(&all))
}

/// How many `event`s of the task registry name `task` (its first topic) and `node` (its
/// second), where given.
pub fn events(
    rt: &tokio::runtime::Runtime,
    devnet: &Devnet,
    event: B256,
    task: Option<u64>,
    node: Option<Address>,
) -> usize {
    let chain = crate::devnet::provider_for(&devnet.rpc_url, 9).unwrap();
    let mut filter = Filter::new()
        .address(devnet.contracts.task_registry_v2)
        .event_signature(event)
        .from_block(0);
    if let Some(id) = task {
        filter = filter.topic1(B256::from(U256::from(id)));
    }
    if let Some(node) = node {
        filter = filter.topic2(node.into_word());
    }
    rt.block_on(chain.get_logs(&filter)).unwrap().len()
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
