//! Bitswap with a real IPFS implementation: Helia (JavaScript, from npm) on loopback fetches a
//! block from an oarn node and serves one to it, both named the way the chain names inputs
//! (the raw CIDv1 and its bytes32 digest).

use std::time::Duration;

use oarn_tests::{Helia, Node, wait_for};
use serde_json::json;

fn node_with(env: &[(&str, &str)]) -> Node {
    let mut n = Node::new();
    for (k, v) in env {
        n = n.with_env(k, v);
    }
    n.start();
    n
}

fn tcp_addr(n: &Node) -> String {
    let s = n
        .wait_status(|s| s["network"]["listen"].as_array().is_some_and(|l| !l.is_empty()))
        .expect("listening");
    s["network"]["listen"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .find(|a| a.contains("/tcp/"))
        .unwrap()
}

#[test]
fn helia_and_oarn_exchange_blocks_over_bitswap() {
    let mut helia = Helia::start();
    let node = node_with(&[
        ("OARN_NETWORK__DISCOVERY__DISCOVERY_METHOD", "manual"),
        (
            "OARN_NETWORK__DISCOVERY__BOOTSTRAP_PEERS",
            &format!("[{:?}]", helia.addr),
        ),
    ]);
    tcp_addr(&node); // the swarm is up
    let connected = wait_for(Duration::from_secs(30), || {
        let v = node.json(&["net", "peers", "--json"]);
        v["peers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["peer_id"] == helia.peer_id.as_str())
            .then_some(())
    });
    assert!(connected.is_some(), "the node dialled Helia: {}", node.log());

    // Helia → oarn: a block only Helia has, asked for by the on-chain hash.
    let from_helia = helia.call(json!({"op": "add", "hex": hex(b"an input held by helia\n")}));
    let cid = from_helia["cid"].as_str().unwrap().to_string();
    assert!(cid.starts_with("bafkrei"), "{from_helia}");
    let out = node.dir.path().join("from-helia.txt");
    let got = node.json(&[
        "ipfs",
        "get",
        &cid,
        "--out",
        out.to_str().unwrap(),
        "--timeout",
        "20",
        "--json",
    ]);
    assert_eq!(got["cid"], cid.as_str());
    assert_eq!(std::fs::read(&out).unwrap(), b"an input held by helia\n");

    // oarn → Helia: a result only the node has.
    let result = node.dir.path().join("result.txt");
    std::fs::write(&result, b"a result held by oarn\n").unwrap();
    let added = node.json(&["ipfs", "add", result.to_str().unwrap(), "--json"]);
    let answer = helia.call(json!({"op": "get", "cid": added["cid"], "timeout_ms": 20000}));
    assert_eq!(answer["hex"], hex(b"a result held by oarn\n"), "{answer}");
    let served = node.json(&["net", "peers", "--json"])["bitswap"]["blocks_served"].clone();
    assert!(served.as_u64().unwrap() >= 1, "{served}");
}

#[test]
fn helia_dials_an_oarn_node_and_fetches_from_it() {
    let node = node_with(&[]);
    let mut helia = Helia::start();
    let data = node.dir.path().join("d.bin");
    std::fs::write(&data, [0u8, 1, 2, 255]).unwrap();
    let added = node.json(&["ipfs", "add", data.to_str().unwrap(), "--json"]);
    let dial = helia.call(json!({"op": "dial", "addr": tcp_addr(&node)}));
    assert_eq!(dial["ok"], true, "{dial}");
    let answer = helia.call(json!({"op": "get", "cid": added["cid"], "timeout_ms": 20000}));
    assert_eq!(answer["hex"], "000102ff", "{answer}");
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
