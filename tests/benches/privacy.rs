//! What privacy mode costs a transfer: a file fetched over Bitswap from the same peer by a
//! clearnet node (libp2p over TCP on loopback, the baseline) and by a privacy-mode node (libp2p
//! over a stream through its anonymity worker, a 3-hop circuit of the private Tor network and
//! its exit), in the same run and the same network namespace. Each round the peer adds a fresh
//! file and both nodes fetch it, alternating which goes first. Reported: the median time per
//! fetch and throughput on each path, and their ratio. A loopback Tor network has no link
//! latency: the ratio is Tor's own cost (crypto, cells, flow control), a lower bound on what
//! the real network adds.
//!
//! Run by `bench/privacy [--rounds N] [--mib M]` with release binaries (`OARN_TEST_BINS`).

use std::time::{Duration, Instant};

use oarn_tests::tornet::{BASE, TorNet};
use oarn_tests::{Netns, Node, wait_for};

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn fetch(node: &Node, cid: &str) -> f64 {
    let started = Instant::now();
    let out = node.oarn(&["ipfs", "get", cid, "-o", "/dev/null", "--timeout", "300"]);
    assert!(
        out.status.success(),
        "ipfs get: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    started.elapsed().as_secs_f64()
}

fn peers(node: &Node) -> u64 {
    node.status().and_then(|s| s["network"]["peers"].as_u64()).unwrap_or(0)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut rounds, mut mib) = (5usize, 4usize);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--rounds" => rounds = args.next().and_then(|n| n.parse().ok()).expect("--rounds N"),
            "--mib" => mib = args.next().and_then(|n| n.parse().ok()).expect("--mib M"),
            _ => {}
        }
    }
    let ns = Netns::new("torbench").expect("the benchmark needs root (network namespaces)");
    let work = tempfile::tempdir().unwrap();
    let tor = TorNet::up(&ns, &work.path().join("tornet"));

    let mut peer = Node::new().with_env("OARN_NETWORK__LISTEN_PORT", &(BASE + 952).to_string());
    peer.spawn_daemon_in(&ns);
    let addr = peer.tcp_addr();
    let manual = |n: Node| {
        n.with_env("OARN_NETWORK__DISCOVERY__DISCOVERY_METHOD", "manual")
            .with_env("OARN_NETWORK__DISCOVERY__BOOTSTRAP_PEERS", &format!("[{addr:?}]"))
    };
    let mut clear = manual(Node::new());
    clear.spawn_daemon_in(&ns);
    let mut private = manual(Node::new())
        .with_env("OARN_PRIVACY__MODE", "tor")
        .with_env("OARN_PRIVACY__TOR_CONFIG", tor.arti_config().to_str().unwrap());
    private.spawn_daemon_in(&ns);
    for (name, n) in [("clearnet", &clear), ("privacy", &private)] {
        wait_for(Duration::from_secs(180), || (peers(n) >= 1).then_some(()))
            .unwrap_or_else(|| panic!("the {name} node never reached the peer: {}", n.log()));
    }

    let (mut tcp, mut via_tor) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let file = work.path().join(format!("file-{round}"));
        // Fresh bytes each round (noise is the same sequence every call), so no node has
        // any block of it yet.
        let mut bytes = oarn_tests::noise(mib << 20);
        for (i, b) in bytes.iter_mut().enumerate().step_by(4096) {
            *b ^= (round as u8).wrapping_add(1).wrapping_mul(i as u8 | 1);
        }
        std::fs::write(&file, bytes).unwrap();
        let added = peer.json(&["ipfs", "add", file.to_str().unwrap(), "--json"]);
        let cid = added["cid"].as_str().expect("a CID").to_string();
        if round % 2 == 0 {
            tcp.push(fetch(&clear, &cid));
            via_tor.push(fetch(&private, &cid));
        } else {
            via_tor.push(fetch(&private, &cid));
            tcp.push(fetch(&clear, &cid));
        }
        eprintln!("round {round}: tcp {:.2} s, tor {:.2} s", tcp[round], via_tor[round]);
    }
    let (t, p) = (median(&mut tcp), median(&mut via_tor));
    println!("privacy: Bitswap fetch of {mib} MiB from one peer, median of {rounds} rounds");
    println!(
        "  clearnet (libp2p over TCP):   {t:.2} s  ({:.1} MiB/s)",
        mib as f64 / t
    );
    println!(
        "  privacy  (libp2p over Tor):   {p:.2} s  ({:.1} MiB/s)",
        mib as f64 / p
    );
    println!("  ratio privacy / clearnet:     {:.1}x", p / t);
    private.stop();
    clear.stop();
    peer.stop();
}
