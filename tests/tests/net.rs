//! The peer-to-peer side, with real nodes (`oarn start`, each with its sandboxed network
//! worker) on loopback: they find each other from configured bootstrap peers over TCP and
//! QUIC, pass task announcements in the live format, share DHT records, keep their identity,
//! and ban a real libp2p peer that floods them with malformed gossip.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use oarn_tests::{Netns, Node, noise, wait_for, worker};
use serde_json::Value;

const MODEL: &str = "0x1111111111111111111111111111111111111111111111111111111111111111";
const INPUT: &str = "0x2222222222222222222222222222222222222222222222222222222222222222";

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// A started node, its swarm listening, that bootstraps from `peers` (manual discovery).
fn node(peers: &[&str]) -> Node {
    let mut n = Node::new();
    if !peers.is_empty() {
        let list: Vec<String> = peers.iter().map(|p| format!("{p:?}")).collect();
        n = n
            .with_env("OARN_NETWORK__DISCOVERY__DISCOVERY_METHOD", "manual")
            .with_env(
                "OARN_NETWORK__DISCOVERY__BOOTSTRAP_PEERS",
                &format!("[{}]", list.join(",")),
            );
    }
    n.start();
    listen(&n);
    n
}

/// The node's listen addresses (TCP, QUIC), once the swarm reports both.
fn listen(n: &Node) -> (String, String) {
    let status = n
        .wait_status(|s| s["network"]["listen"].as_array().is_some_and(|l| l.len() == 2))
        .unwrap_or_else(|| panic!("the swarm never listened: {}", n.log()));
    let addrs: Vec<String> = status["network"]["listen"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    let tcp = addrs.iter().find(|a| a.contains("/tcp/")).unwrap().clone();
    let quic = addrs.iter().find(|a| a.contains("/quic-v1")).unwrap().clone();
    (tcp, quic)
}

/// A and B on their own, and C bootstrapped from both and connected to them.
fn three_nodes() -> (Node, Node, Node) {
    let a = node(&[]);
    let (a_tcp, _) = listen(&a);
    let b = node(&[]);
    let (b_tcp, _) = listen(&b);
    let c = node(&[a_tcp.as_str(), b_tcp.as_str()]);
    wait_for(Duration::from_secs(30), || {
        (peers(&c)["peers"].as_array()?.len() == 2).then_some(())
    })
    .expect("C connected to A and B");
    (a, b, c)
}

fn peers(n: &Node) -> Value {
    n.json(&["net", "peers", "--json"])
}

/// Waits until `n` has a peer.
fn wait_connected(n: &Node) {
    wait_for(Duration::from_secs(30), || {
        peers(n)["peers"]
            .as_array()
            .is_some_and(|p| !p.is_empty())
            .then_some(())
    })
    .unwrap_or_else(|| panic!("no peer connected: {}", n.log()));
}

/// The node's peer id, once its swarm runs.
fn swarm_id(n: &Node) -> String {
    n.wait_status(|s| s["network"]["listen"].as_array().is_some_and(|l| !l.is_empty()))
        .unwrap_or_else(|| panic!("the swarm never listened: {}", n.log()));
    peers(n)["peer_id"].as_str().unwrap().to_string()
}

fn task_ids(n: &Node) -> Vec<u64> {
    n.json(&["net", "tasks", "--json"])["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_u64().unwrap())
        .collect()
}

/// Publishes an announcement from `n`, retrying until gossipsub has a peer subscribed.
fn announce(n: &Node, id: u64, deadline: u64) -> Value {
    let (id, deadline) = (id.to_string(), deadline.to_string());
    let args = [
        "net",
        "announce",
        &id,
        "--model-hash",
        MODEL,
        "--input-hash",
        INPUT,
        "--reward",
        "1000000000000000",
        "--required-nodes",
        "3",
        "--deadline",
        &deadline,
        "--json",
    ];
    wait_for(Duration::from_secs(20), || {
        let out = n.oarn(&args);
        out.status
            .success()
            .then(|| serde_json::from_slice(&out.stdout).unwrap())
    })
    .unwrap_or_else(|| {
        let out = n.oarn(&args);
        panic!("announce failed: {}", String::from_utf8_lossy(&out.stderr))
    })
}

#[test]
fn ten_nodes_pass_announcements_over_tcp_and_quic() {
    let hub = node(&[]);
    let (tcp, quic) = listen(&hub);
    let hub_id = hub.status().unwrap()["network"]["peer_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(tcp.ends_with(&format!("/p2p/{hub_id}")) && tcp.starts_with("/ip4/127.0.0.1/tcp/"));
    assert!(quic.starts_with("/ip4/127.0.0.1/udp/") && quic.contains("/quic-v1/p2p/"));

    // Odd nodes reach the hub over TCP, even ones over QUIC.
    let nodes: Vec<Node> = (1..10)
        .map(|i| node(&[if i % 2 == 1 { tcp.as_str() } else { quic.as_str() }]))
        .collect();
    for (i, n) in nodes.iter().enumerate() {
        let connected = wait_for(Duration::from_secs(30), || {
            let v = peers(n);
            (v["peers"].as_array().is_some_and(|p| !p.is_empty())).then_some(v)
        });
        assert!(connected.is_some(), "node {} found no peer: {}", i + 1, n.log());
    }
    let hub_peers = wait_for(Duration::from_secs(30), || {
        let v = peers(&hub);
        (v["peers"].as_array().is_some_and(|p| p.len() >= 9)).then_some(v)
    })
    .expect("the hub sees all nine nodes");
    let addrs: Vec<String> = hub_peers["peers"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["addresses"].as_array().unwrap().clone())
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    assert!(
        addrs.iter().any(|a| a.contains("/quic-v1")),
        "a QUIC connection: {addrs:?}"
    );
    assert!(addrs.iter().any(|a| a.contains("/tcp/")), "a TCP connection: {addrs:?}");
    // Identify ran: each peer says what it runs.
    let identified = wait_for(Duration::from_secs(20), || {
        let v = peers(&hub);
        v["peers"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["agent"].as_str().is_some_and(|a| a.starts_with("oarn/")))
            .then_some(())
    });
    assert!(identified.is_some(), "every peer identified: {}", peers(&hub));

    // A leaf announces; every other node hears it, once, with the fields intact.
    let published = announce(&nodes[4], 41, now() + 3600);
    assert_eq!(published["published"], true);
    let mut all: Vec<&Node> = vec![&hub];
    all.extend(nodes.iter().enumerate().filter(|(i, _)| *i != 4).map(|(_, n)| n));
    for (i, n) in all.iter().enumerate() {
        let heard = wait_for(Duration::from_secs(30), || task_ids(n).contains(&41).then_some(()));
        assert!(heard.is_some(), "node {i} did not hear task 41: {}", n.log());
    }
    let tasks = nodes[8].json(&["net", "tasks", "--json"]);
    let t = &tasks["tasks"][0];
    assert_eq!((t["id"].as_u64(), t["required_nodes"].as_u64()), (Some(41), Some(3)));
    assert_eq!(t["model_hash"], MODEL);
    assert_eq!(t["input_hash"], INPUT);
    assert_eq!(t["reward"].as_u64(), Some(1_000_000_000_000_000));
    assert_eq!(tasks["tasks"].as_array().unwrap().len(), 1, "heard once");
    let text = nodes[8].oarn(&["net", "tasks"]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("41"));

    // An expired announcement is valid but stale: nobody passes it on.
    announce(&hub, 42, now() - 10);
    let later = announce(&hub, 43, now() + 3600);
    assert_eq!(later["published"], true);
    for n in &nodes {
        let heard = wait_for(Duration::from_secs(30), || task_ids(n).contains(&43).then_some(()));
        assert!(heard.is_some(), "task 43 reached every node");
        assert!(!task_ids(n).contains(&42), "the expired task 42 was dropped");
    }
    assert!(peers(&nodes[0])["gossip"]["ignored"].as_u64().unwrap() >= 1);

    // A DHT record stored by one node is found by another.
    let out = nodes[2].oarn(&["net", "dht", "put", "/oarn/bootstrap", "hello from node 3"]);
    assert!(
        out.status.success(),
        "dht put: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = nodes[7].json(&["net", "dht", "get", "/oarn/bootstrap", "--json"]);
    assert_eq!(got["found"], true, "{got}");
    assert_eq!(got["value"], "hello from node 3");
    let missing = nodes[7].oarn(&["net", "dht", "get", "/oarn/rpc/providers"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stdout).contains("no record"));
}

#[test]
fn a_peer_flooding_malformed_gossip_is_banned_and_the_node_keeps_working() {
    let target = node(&[]);
    let (tcp, _) = listen(&target);
    let friend = node(&[tcp.as_str()]);
    wait_connected(&friend);

    let rogue = Command::new(target.bins.join("oarn-peer-rogue"))
        .args(["--target", &tcp, "--count", "10000", "--seconds", "60"])
        .output()
        .unwrap();
    assert!(rogue.status.success(), "{}", String::from_utf8_lossy(&rogue.stderr));
    let report: Value = serde_json::from_slice(&rogue.stdout).unwrap();
    assert_eq!(report["subscribed"], true, "{report}");
    assert_eq!(report["cut_off"], true, "the node cut the flood off: {report}");

    let v = peers(&target);
    eprintln!("rogue: {report}; target: {}", v["gossip"]);
    let rejected = v["gossip"]["rejected"].as_u64().unwrap();
    assert!(rejected >= 8, "malformed messages were rejected: {v}");
    let banned = v["banned"].as_array().unwrap();
    assert_eq!(banned.len(), 1, "{v}");
    assert!(
        banned[0]["reason"].as_str().unwrap().contains("invalid messages"),
        "{v}"
    );
    assert!(
        v["peers"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["peer_id"] != banned[0]["peer_id"]),
        "the banned peer is disconnected"
    );

    // The node still works: a valid announcement from an honest peer arrives.
    announce(&friend, 7, now() + 3600);
    let heard = wait_for(Duration::from_secs(30), || task_ids(&target).contains(&7).then_some(()));
    assert!(heard.is_some(), "the node kept working: {}", target.log());
    let status = target.status().unwrap();
    assert_eq!(
        worker(&status, "net")["restarts"],
        0,
        "the network worker never crashed"
    );
    assert!(target.log().contains("peer banned"), "the ban is logged");
}

#[test]
fn identity_is_kept_private_across_restarts_and_never_replaced_when_damaged() {
    let mut n = node(&[]);
    listen(&n);
    let first = n.status().unwrap()["network"]["peer_id"].clone();
    let key = n.home().join("ipfs/identity.key");
    assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    n.stop();
    n.start();
    listen(&n);
    assert_eq!(
        n.status().unwrap()["network"]["peer_id"],
        first,
        "same peer id after a restart"
    );
    n.stop();

    std::fs::write(&key, b"damaged").unwrap();
    n.start();
    let status = n
        .wait_status(|s| s["network"]["error"].is_string())
        .expect("the swarm reports why it is not running");
    let error = status["network"]["error"].as_str().unwrap();
    assert!(error.contains("identity.key is damaged"), "{error}");
    assert_eq!(
        std::fs::read(&key).unwrap(),
        b"damaged",
        "the key file is left for the operator"
    );
    let out = n.oarn(&["net", "peers"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Not connected"));
    assert_eq!(worker(&status, "net")["state"], "running", "the worker itself stays up");
}

#[test]
fn a_local_node_has_no_swarm_and_says_so() {
    let mut n = Node::new().with_env("OARN_NETWORK__MODE", "local");
    n.start();
    let out = n.oarn(&["net", "peers"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Not connected") && err.contains("local"), "{err}");
}

#[test]
fn listening_on_every_interface_works_inside_the_sandbox() {
    // A network namespace of the test's own, holding only loopback: "every interface" is
    // 127.0.0.1 there, and the node must read the interface list (netlink) to find it.
    let Some(ns) = Netns::new("any") else { return };
    let mut n = Node::new().with_env("OARN_NETWORK__LISTEN_ADDRESS", "0.0.0.0");
    n.spawn_daemon_in(&ns);
    let (tcp, quic) = listen(&n);
    assert!(tcp.starts_with("/ip4/127.0.0.1/tcp/"), "{tcp}");
    assert!(quic.starts_with("/ip4/127.0.0.1/udp/"), "{quic}");
    assert!(!n.log().contains("seccomp"), "no syscall refused: {}", n.log());
    n.stop();
}

#[test]
fn blocks_move_between_nodes_over_bitswap_by_cid_or_chain_hash() {
    let a = node(&[]);
    let (tcp, _) = listen(&a);
    let b = node(&[tcp.as_str()]);
    wait_connected(&b);

    let input = a.dir.path().join("input.txt");
    std::fs::write(&input, b"hello world\n").unwrap();
    let added = a.json(&["ipfs", "add", input.to_str().unwrap(), "--json"]);
    // The CID `ipfs add --cid-version 1 --raw-leaves` gives these bytes, and its digest.
    assert_eq!(
        added["cid"],
        "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"
    );
    let hash = added["hash"].as_str().unwrap();
    assert_eq!(
        hash,
        "0xa948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a447"
    );

    let out = b.dir.path().join("fetched.txt");
    let got = b.json(&["ipfs", "get", hash, "--out", out.to_str().unwrap(), "--json"]);
    assert_eq!(got["size"], 12);
    assert_eq!(std::fs::read(&out).unwrap(), b"hello world\n");
    // Now B has it too, and serves it: fetched by CID from B's own store at once.
    let again = b.oarn(&["ipfs", "get", added["cid"].as_str().unwrap()]);
    assert_eq!(again.stdout, b"hello world\n");
    assert!(peers(&a)["bitswap"]["blocks_served"].as_u64().unwrap() >= 1);
    assert_eq!(peers(&b)["bitswap"]["blocks_received"], 1);
    let staged: Vec<_> = std::fs::read_dir(b.home().join("downloads")).unwrap().collect();
    assert!(staged.is_empty(), "staging files are cleaned up");

    // A block nobody has: a clear error once the wait is over.
    let missing = format!("0x{}", "77".repeat(32));
    let out = b.oarn(&["ipfs", "get", &missing, "--timeout", "2", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no connected peer had"),
        "{out:?}"
    );
    let out = b.oarn(&["ipfs", "get", "bafy-not-a-cid", "--json"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a CID"));
}

/// `0x` and the sha256 of `bytes` in hex, as the node shows it.
fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(bytes);
    format!("0x{}", digest.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

#[test]
fn a_256_mib_file_moves_as_a_unixfs_dag_fetched_from_two_peers_and_verified() {
    let (a, b, c) = three_nodes();

    // A and B split the same file into the same DAG: 1024 leaves of 256 KiB under 6 nodes
    // of up to 174 links and a root.
    let len = 256 << 20;
    let bytes = noise(len);
    let sha = sha256_hex(&bytes);
    let file = a.dir.path().join("model.bin");
    std::fs::write(&file, &bytes).unwrap();
    drop(bytes);
    let added = a.json(&["ipfs", "add", file.to_str().unwrap(), "--json"]);
    let cid = added["cid"].as_str().unwrap().to_string();
    assert!(cid.starts_with("bafybei"), "a dag-pb CIDv1: {added}");
    assert_eq!(added["hash"], sha.as_str(), "the file's sha256");
    assert_eq!(
        b.json(&["ipfs", "add", file.to_str().unwrap(), "--json"])["cid"],
        cid.as_str()
    );

    let out = c.dir.path().join("fetched.bin");
    let got = c.oarn(&["ipfs", "get", &cid, "--out", out.to_str().unwrap(), "--timeout", "300"]);
    let err = String::from_utf8_lossy(&got.stderr);
    assert!(got.status.success(), "{err}");
    // Progress streamed from the node as it fetched (plain lines: stderr is no terminal).
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("fetching ")).collect();
    assert!(
        lines.last().is_some_and(|l| l.ends_with("256.0 MiB of 256.0 MiB")),
        "{err}"
    );
    let fetched = std::fs::read(&out).unwrap();
    assert_eq!(fetched.len(), len);
    assert_eq!(sha256_hex(&fetched), sha);
    assert_eq!(peers(&c)["bitswap"]["blocks_received"], 1024 + 6 + 1);
    // Accounting per protocol: the block bytes C received are the file's leaves and nodes,
    // and what A and B served between them is hardly more: each block is asked of one peer
    // (only a stall asks again, so at most a few blocks cross twice).
    let received = peers(&c)["bitswap"]["bytes_received"].as_u64().unwrap();
    assert!(
        received >= len as u64 && received < len as u64 + (1 << 20),
        "{received}"
    );
    let served: u64 = [&a, &b]
        .iter()
        .map(|n| peers(n)["bitswap"]["bytes_served"].as_u64().unwrap())
        .sum();
    assert!(
        served >= received && served <= received + received / 10,
        "{served} block bytes served for {received} received"
    );
    for (name, n) in [("A", &a), ("B", &b)] {
        let served = peers(n)["bitswap"]["blocks_served"].as_u64().unwrap();
        assert!(served > 0, "{name} served blocks of the file");
    }
    // Fetched again, the file comes from C's own store at once.
    let again = c.json(&["ipfs", "get", &cid, "--out", out.to_str().unwrap(), "--json"]);
    assert_eq!(again["hash"], sha.as_str());
}

/// Adds `len` bytes of noise (each byte plus `salt`, so no block is shared with another
/// salt's) at `from`, fetches them at `to`, and returns how long that took.
fn timed_transfer(from: &Node, to: &Node, len: usize, salt: u8) -> Duration {
    let name = format!("noise-{salt}.bin");
    let file = from.dir.path().join(&name);
    let bytes: Vec<u8> = noise(len).iter().map(|b| b.wrapping_add(salt)).collect();
    std::fs::write(&file, bytes).unwrap();
    let cid = from.json(&["ipfs", "add", file.to_str().unwrap(), "--json"])["cid"]
        .as_str()
        .unwrap()
        .to_string();
    let out = to.dir.path().join(&name);
    let started = std::time::Instant::now();
    let got = to.oarn(&["ipfs", "get", &cid, "--out", out.to_str().unwrap(), "--timeout", "60"]);
    assert!(got.status.success(), "{}", String::from_utf8_lossy(&got.stderr));
    assert_eq!(std::fs::metadata(&out).unwrap().len(), len as u64);
    started.elapsed()
}

#[test]
fn rate_limits_slow_transfers_down_and_apply_live() {
    // B may receive 1 MiB/s; A has no limit yet.
    let a = node(&[]);
    let (tcp, _) = listen(&a);
    let mut b = Node::new()
        .with_env("OARN_NETWORK__DISCOVERY__DISCOVERY_METHOD", "manual")
        .with_env("OARN_NETWORK__DISCOVERY__BOOTSTRAP_PEERS", &format!("[{tcp:?}]"));
    assert!(
        b.oarn(&["config", "set", "network.max_download_kib_s", "1024"])
            .status
            .success()
    );
    b.start();
    wait_connected(&b);

    // 4 MiB at 1 MiB/s, the first MiB a burst: at least 3 s less one read's worth.
    let took = timed_transfer(&a, &b, 4 << 20, 1);
    assert!(took >= Duration::from_millis(2500), "B's download limit held: {took:?}");

    // Now the limit moves to A's uploads, both changed on a running node.
    let applied = |n: &Node| {
        let change = n.json(&["config", "reload", "--json"]);
        assert_eq!(change["needs_restart"], serde_json::json!([]), "{change}");
        wait_for(Duration::from_secs(15), || {
            n.log().contains("rate limits applied").then_some(())
        })
        .unwrap_or_else(|| panic!("limits never applied: {}", n.log()));
    };
    assert!(
        b.oarn(&["config", "set", "network.max_download_kib_s", "0"])
            .status
            .success()
    );
    applied(&b);
    assert!(
        a.oarn(&["config", "set", "network.max_upload_kib_s", "1024"])
            .status
            .success()
    );
    applied(&a);
    let took = timed_transfer(&a, &b, 4 << 20, 2);
    assert!(took >= Duration::from_millis(2500), "A's upload limit held: {took:?}");

    // Every stream byte is counted: the two files went out of A and into B.
    let (sent, got) = (
        peers(&a)["streams"]["bytes_out"].as_u64().unwrap(),
        peers(&b)["streams"]["bytes_in"].as_u64().unwrap(),
    );
    assert!(sent >= 8 << 20 && got >= 8 << 20, "A sent {sent}, B received {got}");
}

/// A bootstrap peer that was down when the node started stayed unreached until the DHT's
/// five-minute refresh (in privacy mode, a first dial made before Tor was ready did too): a
/// node with no peer now dials its bootstrap peers again.
#[test]
fn a_node_whose_bootstrap_peer_was_down_at_start_reaches_it_once_it_is_up() {
    // B on a fixed port, so it comes back at the same address with the same identity.
    let (mut b, b_tcp) = on_fixed_port();
    b.stop();
    let a = node(&[b_tcp.as_str()]);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(peers(&a)["peers"].as_array().map(Vec::len), Some(0), "B is down");
    b.start();
    let b_id = swarm_id(&b);
    let met = wait_for(Duration::from_secs(45), || {
        peers(&a)["peers"]
            .as_array()?
            .iter()
            .any(|p| p["peer_id"] == b_id.as_str())
            .then_some(())
    });
    assert!(met.is_some(), "A never dialled B again: {}", a.log());
}

#[test]
fn a_bootstrap_peer_named_by_dns_is_resolved_and_dialled() {
    // Both nodes in a namespace of the test's own: a name that /etc/hosts does not answer
    // could only go to an unreachable name server, never off this machine.
    let Some(ns) = Netns::new("dns") else { return };
    let mut a = Node::new();
    a.spawn_daemon_in(&ns);
    let (tcp, _) = listen(&a);
    let by_name = tcp.replacen("/ip4/127.0.0.1/", "/dns4/localhost/", 1);
    let mut b = Node::new()
        .with_env("OARN_NETWORK__DISCOVERY__DISCOVERY_METHOD", "manual")
        .with_env("OARN_NETWORK__DISCOVERY__BOOTSTRAP_PEERS", &format!("[{by_name:?}]"));
    b.spawn_daemon_in(&ns);
    listen(&b);
    let a_id = a.status().unwrap()["network"]["peer_id"].clone();
    let found = wait_for(Duration::from_secs(30), || {
        peers(&b)["peers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["peer_id"] == a_id)
            .then_some(())
    });
    assert!(found.is_some(), "{by_name} was resolved and dialled: {}", b.log());
    assert!(!b.log().contains("seccomp"), "{}", b.log());
}

#[test]
fn a_model_is_pulled_over_ipfs_from_a_peer_and_installed_verified() {
    const SHA256: &str = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53";
    let a = node(&[]);
    let (tcp, _) = listen(&a);
    let added = a.json(&["ipfs", "add", oarn_tests::test_model().to_str().unwrap(), "--json"]);
    let cid = added["cid"].as_str().unwrap().to_string();
    assert_eq!(added["hash"], format!("0x{SHA256}"));

    // Not running: a clear error naming what to do.
    let b = node(&[tcp.as_str()]);
    let idle = Node::new();
    let out = idle.oarn(&["model", "pull", &format!("ipfs://{cid}")]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("oarn start"), "{out:?}");

    // A wrong --sha256 installs nothing.
    let source = format!("ipfs://{cid}");
    let wrong = "11".repeat(32);
    let out = b.oarn(&["model", "pull", &source, "--name", "smol", "--sha256", &wrong]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("but --sha256 said"),
        "{out:?}"
    );
    assert_eq!(b.json(&["model", "list", "--json"]), serde_json::json!([]));

    let pulled = b.json(&["model", "pull", &source, "--name", "smol", "--sha256", SHA256, "--json"]);
    assert_eq!(pulled["model"]["digest"], format!("sha256:{SHA256}"));
    assert_eq!(pulled["model"]["source"], source.as_str());
    assert_eq!(
        b.json(&["model", "info", "smol", "--json"])["metadata"]["architecture"],
        "llama"
    );
    let staged: Vec<_> = std::fs::read_dir(b.home().join("downloads")).unwrap().collect();
    assert!(staged.is_empty(), "staging files are cleaned up");
}

/// Makes every stored block look an hour old, past the window in which blocks are spared.
fn age_blocks(n: &Node) {
    let old = SystemTime::now() - Duration::from_secs(3600);
    for entry in std::fs::read_dir(n.home().join("ipfs/blocks")).unwrap() {
        let f = std::fs::File::options()
            .write(true)
            .open(entry.unwrap().path())
            .unwrap();
        f.set_modified(old).unwrap();
    }
}

#[test]
fn pinned_files_survive_garbage_collection_and_unpinned_ones_go() {
    let a = node(&[]);
    let big = a.dir.path().join("big.bin");
    std::fs::write(&big, noise(2 << 20)).unwrap();
    let big_cid = a.json(&["ipfs", "add", big.to_str().unwrap(), "--json"])["cid"]
        .as_str()
        .unwrap()
        .to_string();
    let small = a.dir.path().join("small.txt");
    std::fs::write(&small, b"cache only\n").unwrap();
    let small_cid = a.json(&["ipfs", "add", small.to_str().unwrap(), "--json"])["cid"]
        .as_str()
        .unwrap()
        .to_string();
    let pins = a.json(&["ipfs", "pin", "ls", "--json"]);
    assert_eq!(
        pins["pins"].as_array().unwrap().len(),
        2,
        "added files are pinned: {pins}"
    );
    a.json(&["ipfs", "pin", "rm", &small_cid, "--json"]);

    // Fresh blocks are spared; an hour later the unpinned one goes and the pinned DAG stays.
    assert_eq!(a.json(&["ipfs", "gc", "--json"])["blocks_removed"], 0);
    age_blocks(&a);
    let gc = a.json(&["ipfs", "gc", "--json"]);
    assert_eq!(
        (gc["blocks_removed"].as_u64(), gc["bytes_freed"].as_u64()),
        (Some(1), Some(11)),
        "{gc}"
    );
    let out = a.dir.path().join("again.bin");
    let got = a.json(&["ipfs", "get", &big_cid, "--out", out.to_str().unwrap(), "--json"]);
    assert_eq!(got["size"], 2 << 20);
    let gone = a.oarn(&["ipfs", "get", &small_cid, "--timeout", "1"]);
    assert!(!gone.status.success());

    // Unpinned, the whole DAG goes; it cannot be pinned again without its blocks.
    a.json(&["ipfs", "pin", "rm", &big_cid, "--json"]);
    let gc = a.json(&["ipfs", "gc", "--json"]);
    assert_eq!(
        (gc["blocks_removed"].as_u64(), gc["bytes_kept"].as_u64()),
        (Some(9), Some(0)),
        "{gc}"
    );
    let out = a.oarn(&["ipfs", "pin", "add", &big_cid]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("not complete"), "{out:?}");
}

/// Claim negotiation (`/oarn/claim/1.0.0`): A and B each record the account that claimed
/// task 7; C, connected to both, learns both accounts by asking; a bad query is refused.
#[test]
fn peers_tell_each_other_who_claimed_a_task() {
    let (a, b, c) = three_nodes();
    let x = format!("0x{}", "aa".repeat(20));
    let y = format!("0x{}", "bb".repeat(20));
    let ra = a.json(&["net", "claims", "7", "--record", &x, "--json"]);
    assert_eq!(ra["claimers"], serde_json::json!([x]));
    let rb = b.json(&["net", "claims", "7", "--record", &y, "--json"]);
    assert!(rb["claimers"].as_array().unwrap().contains(&y.clone().into()));

    let rc = c.json(&["net", "claims", "7", "--json"]);
    assert_eq!(rc["claimers"], serde_json::json!([x, y]), "{rc}");
    assert_eq!(rc["peers_asked"], 2);
    assert_eq!(rc["peers_answered"], 2);
    let other = c.json(&["net", "claims", "8", "--json"]);
    assert_eq!(other["claimers"], serde_json::json!([]));
    let text = c.oarn(&["net", "claims", "7"]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("2 known claimer(s)"));

    let out = c.oarn(&["net", "claims", "7", "--record", "0x1234"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("record must be an account"));
    let out = c.oarn(&["net", "claims", "0"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("task_id must be"));
}

/// mDNS (`network.mdns`): two nodes on one LAN, with no bootstrap peer at all, find and
/// connect to each other. The LAN is a veth pair between two network namespaces of the test's
/// own (mDNS does not run on loopback), so nothing leaves this machine.
#[test]
fn nodes_on_one_lan_find_each_other_with_mdns() {
    let Some(ns_a) = Netns::new("mdns-a") else { return };
    let ns_b = Netns::new("mdns-b").expect("root");
    let tag = std::process::id() % 100_000;
    let (va, vb) = (format!("oma{tag}"), format!("omb{tag}"));
    wire((&ns_a, &va, "10.77.0.1/24"), (&ns_b, &vb, "10.77.0.2/24"));
    let start = |ns: &Netns, addr: &str| {
        let mut n = Node::new()
            .with_env("OARN_NETWORK__LISTEN_ADDRESS", addr)
            .with_env("OARN_NETWORK__MDNS", "true")
            .with_env("OARN_NETWORK__DISCOVERY__DISCOVERY_METHOD", "manual");
        n.spawn_daemon_in(ns);
        n
    };
    let a = start(&ns_a, "10.77.0.1");
    let b = start(&ns_b, "10.77.0.2");
    let b_id = swarm_id(&b);
    swarm_id(&a);
    let connected = wait_for(Duration::from_secs(60), || {
        let pa = peers(&a)["peers"].as_array()?.len();
        let pb = peers(&b)["peers"].as_array()?.len();
        (pa == 1 && pb == 1).then_some(())
    });
    assert!(connected.is_some(), "no mDNS discovery: {}\n{}", peers(&a), a.log());
    assert_eq!(peers(&a)["peers"][0]["peer_id"], b_id.as_str());
}

/// NAT traversal through a circuit relay (v2): A and B sit in network namespaces that cannot
/// reach each other; both reach R, which serves as a relay (`network.relay_service`). A
/// reserves a slot on R (`network.relays`) and listens through it; B, knowing only R and A's
/// relayed address, connects to A through R. With no route between A and B, the connection
/// stays relayed and A hears B's task announcement through R. Behind two NATs that share a
/// network with R, DCUtR (hole punching) upgrades it to a direct one.
/// R, a relay; A and B, which cannot reach each other. A listens through R; B knows R and
/// A's address through R, and reaches A that way.
struct Relayed {
    a: Node,
    b: Node,
    a_id: String,
    b_id: String,
    r_id: String,
    // Dropped last: the nodes stop before their namespaces go.
    _r: Node,
    _ns: Vec<Netns>,
}

fn run_ok(program: &str, args: &[&str]) {
    let ok = Command::new(program).args(args).status().is_ok_and(|s| s.success());
    assert!(ok, "{program} {args:?}");
}

/// A veth pair between two namespaces, each end addressed (`ip/24`) and up.
fn wire(from: (&Netns, &str, &str), to: (&Netns, &str, &str)) {
    run_ok(
        "ip",
        &[
            "link", "add", from.1, "netns", &from.0.0, "type", "veth", "peer", "name", to.1, "netns", &to.0.0,
        ],
    );
    for (ns, link, addr) in [from, to] {
        if !addr.is_empty() {
            run_ok("ip", &["-n", &ns.0, "addr", "add", addr, "dev", link]);
        }
        run_ok("ip", &["-n", &ns.0, "link", "set", link, "up"]);
    }
}

/// Makes `ns` a home router: it forwards what its LAN sends out of `wan`, masquerading it,
/// lets in only the replies, and drops (rather than refuses) whatever else arrives on `wan`.
fn home_router(ns: &Netns, lan: &str, wan: &str, lan_net: &str) {
    run_ok(
        "ip",
        &["netns", "exec", &ns.0, "sysctl", "-qw", "net.ipv4.ip_forward=1"],
    );
    let rules = format!(
        "table ip oarn {{
           chain outbound {{ type nat hook postrouting priority 100; ip saddr {lan_net} oifname \"{wan}\" masquerade; }}
           chain through {{ type filter hook forward priority 0; policy drop;
             ct state established,related accept
             iifname \"{lan}\" oifname \"{wan}\" accept; }}
           chain inbound {{ type filter hook input priority 0; iifname \"{wan}\" ct state new drop; }}
         }}"
    );
    let path = std::env::temp_dir().join(format!("oarn-{}.nft", ns.0));
    std::fs::write(&path, rules).unwrap();
    run_ok("ip", &["netns", "exec", &ns.0, "nft", "-f", path.to_str().unwrap()]);
    let _ = std::fs::remove_file(&path);
}

/// The namespaces and nodes. Without `nats`, R sits on two links, A's 10.78.1.0/24 and B's
/// 10.78.2.0/24, and routes nothing between them. With `nats`, A and B are each behind a
/// home router (a masquerading NAT) whose public side shares 10.77.0.0/24 with R: each can
/// reach R and the other's router, and neither can be dialled from outside. `None` when not
/// root.
fn relayed(tag: &str, nats: bool) -> Option<Relayed> {
    let ns_r = Netns::new(&format!("{tag}-r"))?;
    let ns_a = Netns::new(&format!("{tag}-a")).expect("root");
    let ns_b = Netns::new(&format!("{tag}-b")).expect("root");
    let ids = std::process::id() % 100_000;
    let name = |what: &str, k: u8| format!("o{what}{k}{ids}");
    let mut spaces = vec![];
    let r_ip = |k: u8| {
        if nats {
            "10.77.0.1".to_string()
        } else {
            format!("10.78.{k}.1")
        }
    };
    if nats {
        run_ok("ip", &["-n", &ns_r.0, "link", "add", "br0", "type", "bridge"]);
        run_ok("ip", &["-n", &ns_r.0, "addr", "add", "10.77.0.1/24", "dev", "br0"]);
        run_ok("ip", &["-n", &ns_r.0, "link", "set", "br0", "up"]);
        for (host, k) in [(&ns_a, 1u8), (&ns_b, 2u8)] {
            let router = Netns::new(&format!("{tag}-nat{k}")).expect("root");
            let (port, wan, lan, eth) = (name("p", k), name("w", k), name("l", k), name("e", k));
            wire((&ns_r, &port, ""), (&router, &wan, &format!("10.77.0.{}/24", k + 1)));
            run_ok("ip", &["-n", &ns_r.0, "link", "set", &port, "master", "br0"]);
            let lan_net = format!("10.78.{k}.0/24");
            wire(
                (&router, &lan, &format!("10.78.{k}.1/24")),
                (host, &eth, &format!("10.78.{k}.2/24")),
            );
            run_ok(
                "ip",
                &["-n", &host.0, "route", "add", "default", "via", &format!("10.78.{k}.1")],
            );
            home_router(&router, &lan, &wan, &lan_net);
            spaces.push(router);
        }
    } else {
        for (host, k) in [(&ns_a, 1u8), (&ns_b, 2u8)] {
            let (here, there) = (name("r", k), name("x", k));
            wire(
                (&ns_r, &here, &format!("10.78.{k}.1/24")),
                (host, &there, &format!("10.78.{k}.2/24")),
            );
        }
    }
    let manual = |n: Node| n.with_env("OARN_NETWORK__DISCOVERY__DISCOVERY_METHOD", "manual");
    let mut r = manual(Node::new())
        .with_env("OARN_NETWORK__LISTEN_ADDRESS", "0.0.0.0")
        .with_env("OARN_NETWORK__RELAY_SERVICE", "true");
    r.spawn_daemon_in(&ns_r);
    let r_id = swarm_id(&r);
    let r_tcp = |k: u8| {
        let prefix = format!("/ip4/{}/tcp/", r_ip(k));
        let status = r
            .wait_status(|s| s["network"]["listen"].to_string().contains(&prefix))
            .expect("R listens on every link");
        status["network"]["listen"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|a| a.as_str())
            .find(|a| a.starts_with(&prefix))
            .unwrap()
            .to_string()
    };
    let (r_for_a, r_for_b) = (r_tcp(1), r_tcp(2));
    assert!(r_for_a.ends_with(&r_id));

    let mut a = manual(Node::new())
        .with_env("OARN_NETWORK__LISTEN_ADDRESS", "10.78.1.2")
        .with_env("OARN_NETWORK__RELAYS", &format!("[{r_for_a:?}]"));
    a.spawn_daemon_in(&ns_a);
    let a_id = swarm_id(&a);
    let relayed = a
        .wait_status(|s| s["network"]["listen"].to_string().contains("/p2p-circuit"))
        .unwrap_or_else(|| panic!("A never listened through R: {}", a.log()));
    assert!(relayed["network"]["listen"].to_string().contains(&r_id), "{relayed}");

    // B knows R (on its own link) and A's address through R.
    let a_via_r = format!("{r_for_b}/p2p-circuit/p2p/{a_id}");
    let mut b = manual(Node::new())
        .with_env("OARN_NETWORK__LISTEN_ADDRESS", "10.78.2.2")
        .with_env(
            "OARN_NETWORK__DISCOVERY__BOOTSTRAP_PEERS",
            &format!("[{r_for_b:?}, {a_via_r:?}]"),
        );
    b.spawn_daemon_in(&ns_b);
    let b_id = swarm_id(&b);
    let connected = wait_for(Duration::from_secs(60), || {
        peers(&a)["peers"]
            .as_array()?
            .iter()
            .any(|p| p["peer_id"] == b_id.as_str())
            .then_some(())
    });
    assert!(connected.is_some(), "B never reached A: {}\n{}", peers(&a), b.log());
    Some(Relayed {
        a,
        b,
        a_id,
        b_id,
        r_id,
        _r: r,
        _ns: [ns_r, ns_a, ns_b].into_iter().chain(spaces).collect(),
    })
}

/// The addresses `n` has for its connections to `peer`.
fn addresses_of(n: &Node, peer: &str) -> String {
    peers(n)["peers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["peer_id"] == peer)
        .map(|p| p["addresses"].to_string())
        .unwrap_or_default()
}

#[test]
fn nodes_that_cannot_reach_each_other_connect_through_a_relay() {
    let Some(net) = relayed("relay", false) else { return };
    let Relayed { a, b, a_id, r_id, .. } = &net;
    let via = addresses_of(b, a_id);
    assert!(
        via.contains("/p2p-circuit") && via.contains(r_id.as_str()),
        "B reached A through R: {via}"
    );

    let id = 4242;
    announce(b, id, now() + 3600);
    let heard = wait_for(Duration::from_secs(30), || task_ids(a).contains(&id).then_some(()));
    assert!(
        heard.is_some(),
        "A did not hear B's announcement over the relayed connection"
    );
    let out = peers(b)["gossip"]["bytes_out"].as_u64().unwrap();
    assert!(out > 0 && peers(a)["gossip"]["bytes_in"].as_u64().unwrap() >= out);
}

#[test]
fn a_relayed_connection_is_upgraded_to_a_direct_one_through_two_nats() {
    // A and B are each behind a NAT: neither can dial the other, so B reaches A through R.
    // DCUtR then has both dial each other at once at the addresses R saw them at, each dial
    // opening its own NAT for the other's, and the two end up directly connected.
    let Some(net) = relayed("dcutr", true) else { return };
    let Relayed { a, b, a_id, b_id, .. } = &net;
    let upgraded = "relayed connection upgraded to a direct one (DCUtR)";
    let direct = wait_for(Duration::from_secs(60), || {
        (a.log().contains(upgraded) || b.log().contains(upgraded)).then_some(())
    });
    assert!(direct.is_some(), "no DCUtR upgrade:\nA: {}\nB: {}", a.log(), b.log());
    // Each now has a connection to the other at the other's NAT, not through R.
    let direct_to = |n: &Node, peer: &str, router: &str| addresses_of(n, peer).contains(&format!("/ip4/{router}/"));
    let both = wait_for(Duration::from_secs(10), || {
        (direct_to(a, b_id, "10.77.0.3") && direct_to(b, a_id, "10.77.0.2")).then_some(())
    });
    assert!(
        both.is_some(),
        "A sees B at {}; B sees A at {}",
        addresses_of(a, b_id),
        addresses_of(b, a_id)
    );
}

/// A TCP port on loopback that was free a moment ago.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A started node listening on a fixed TCP port only (so a restart brings it back at the same
/// address), and that address.
fn on_fixed_port() -> (Node, String) {
    let mut n = Node::new()
        .with_env("OARN_NETWORK__LISTEN_PORT", &free_port().to_string())
        .with_env("OARN_NETWORK__QUIC", "false");
    n.start();
    let tcp = n.tcp_addr();
    (n, tcp)
}

#[test]
fn validator_routed_mode_keeps_validators_connected_lists_their_tasks_first_and_tells_them_results() {
    // V is a validator on a fixed TCP port (so it comes back at the same address, and a
    // dial to it while it is down is refused at once), O an ordinary peer; P runs in
    // validator-routed mode with V as its validator.
    let (mut v, v_tcp) = on_fixed_port();
    let o = node(&[]);
    let (o_tcp, _) = listen(&o);
    let mut p = Node::new()
        .with_env("OARN_NETWORK__DISCOVERY__DISCOVERY_METHOD", "manual")
        .with_env("OARN_NETWORK__DISCOVERY__BOOTSTRAP_PEERS", &format!("[{o_tcp:?}]"))
        .with_env("OARN_NETWORK__VALIDATORS", &format!("[{v_tcp:?}]"));
    p.start();
    let v_id = swarm_id(&v);
    let validator_up = |p: &Node| {
        peers(p)["peers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["peer_id"] == v_id.as_str() && x["validator"] == true)
    };
    wait_for(Duration::from_secs(30), || validator_up(&p).then_some(())).expect("P keeps V connected");
    assert_eq!(peers(&p)["validators"], serde_json::json!([v_id]));

    // O's task is heard first, V's later; V's is listed first, marked routed.
    announce(&o, 11, now() + 600);
    wait_for(Duration::from_secs(20), || task_ids(&p).contains(&11).then_some(())).expect("O's task");
    announce(&v, 12, now() + 600);
    wait_for(Duration::from_secs(20), || task_ids(&p).contains(&12).then_some(())).expect("V's task");
    let tasks = p.json(&["net", "tasks", "--json"])["tasks"].clone();
    assert_eq!(
        (tasks[0]["id"].as_u64(), tasks[0]["routed"].as_bool()),
        (Some(12), Some(true)),
        "{tasks}"
    );
    assert_eq!(
        (tasks[1]["id"].as_u64(), tasks[1]["routed"].as_bool()),
        (Some(11), Some(false)),
        "{tasks}"
    );
    let text = String::from_utf8(p.oarn(&["net", "tasks"]).stdout).unwrap();
    assert!(text.contains("ROUTED"), "{text}");

    // P claims task 12 (told through claim negotiation), then its result goes to V directly.
    let claimed = p.oarn(&[
        "net",
        "claims",
        "12",
        "--record",
        "0x00000000000000000000000000000000000000aa",
    ]);
    assert!(claimed.status.success());
    let hash = format!("0x{}", "ab".repeat(32));
    let cid = "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4";
    let sent = p.json(&["net", "result", "12", "--hash", &hash, "--cid", cid, "--json"]);
    assert_eq!(
        (sent["validators"].as_u64(), sent["acknowledged"].as_u64()),
        (Some(1), Some(1)),
        "{sent}"
    );
    assert!(sent["claim_to_result_ms"].as_u64().is_some(), "{sent}");
    let heard = v.json(&["net", "results", "--json"])["results"].clone();
    assert_eq!(heard.as_array().unwrap().len(), 1, "{heard}");
    assert_eq!(heard[0]["task_id"], 12);
    assert_eq!(heard[0]["result_hash"], hash.as_str());
    assert_eq!(heard[0]["cid"], cid);
    assert_eq!(heard[0]["from"], swarm_id(&p).as_str());
    let sla = peers(&p)["sla"].clone();
    assert_eq!(sla["results"], 1, "{sla}");
    assert!(sla["claim_to_result_max_ms"].as_u64() >= sla["claim_to_result_p50_ms"].as_u64());

    // Bad input is refused, naming what is wrong; a node without validators says so.
    let bad = p.oarn(&["net", "result", "0", "--hash", &hash, "--cid", cid]);
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("task_id must be"),
        "{bad:?}"
    );
    let bad = p.oarn(&["net", "result", "12", "--hash", &hash, "--cid", "bafy-not-a-cid"]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("is not a CID"), "{bad:?}");
    let none = o.oarn(&["net", "result", "12", "--hash", &hash, "--cid", cid]);
    assert_eq!(none.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&none.stderr).contains("no validator is connected"),
        "{none:?}"
    );
    let refused = p.oarn(&["config", "set", "network.validators", "[\"/ip4/127.0.0.1/tcp/1\"]"]);
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("ending /p2p/"),
        "{refused:?}"
    );

    // V goes away and comes back at the same address: P dials it again on its own.
    v.stop();
    wait_for(Duration::from_secs(20), || (!validator_up(&p)).then_some(())).expect("V gone");
    // Down long enough for P's first redials to fail: it must keep trying, backing off.
    std::thread::sleep(Duration::from_secs(3));
    v.start();
    wait_for(Duration::from_secs(60), || validator_up(&p).then_some(()))
        .unwrap_or_else(|| panic!("P never reconnected to V: {}", p.log()));
}
