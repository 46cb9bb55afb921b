//! Gossip delivery across 20 nodes on loopback, through the network worker's own swarm loop
//! (validation, peer book, event queue): how long from `Announce` on one node until each of the
//! other 19 passes the announcement on. The baseline, measured in the same run over the same
//! connections, is the loopback ping round trip between directly connected peers.
//!
//! `cargo bench -p oarn-worker-net --bench gossip` (bounded: 20 nodes, 100 announcements).

mod common;

use std::collections::HashMap;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{WAIT, listen_addr, settings};
use oarn_protocol::net::{Announcement, Bootstrap, Event, Reply};
use oarn_worker_net::node::{self, Command, Handle};

const NODES: usize = 20;
const ANNOUNCEMENTS: u64 = 100;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let dirs: Vec<tempfile::TempDir> = (0..NODES).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut nodes: Vec<(Handle, Receiver<Event>)> = Vec::new();
    let mut addrs: Vec<String> = Vec::new();
    for (i, dir) in dirs.iter().enumerate() {
        // Each node dials up to three earlier ones: a connected mesh, not a star.
        let bootstrap = (0..i)
            .rev()
            .step_by(2)
            .take(3)
            .map(|j| Bootstrap {
                peer_id: String::new(),
                multiaddr: addrs[j].clone(),
            })
            .collect();
        let (handle, events) = node::start(dir.path(), settings(bootstrap)).expect("node starts");
        addrs.push(listen_addr(&events));
        nodes.push((handle, events));
    }
    // Let the meshes form (a few gossipsub heartbeats).
    std::thread::sleep(Duration::from_secs(5));

    let mut pings = Vec::new();
    for (h, _) in &nodes {
        if let Ok(Reply::Status(s)) = h.call(Command::Status, WAIT) {
            pings.extend(s.peers.iter().filter_map(|p| p.rtt_us).map(Duration::from_micros));
        }
    }
    let deadline = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() + 3600;
    let mut latencies = Vec::new();
    let mut missed = 0;
    for id in 1..=ANNOUNCEMENTS {
        let from = (id as usize * 7) % NODES;
        let a = Announcement {
            id,
            model_hash: [1; 32],
            input_hash: [2; 32],
            reward: 1,
            required_nodes: 3,
            deadline,
        };
        let sent = Instant::now();
        nodes[from]
            .0
            .call(|r| Command::Announce(a, r), WAIT)
            .expect("published");
        let mut heard: HashMap<usize, Duration> = HashMap::new();
        for (i, (_, events)) in nodes.iter().enumerate() {
            if i == from {
                continue;
            }
            let until = sent + WAIT;
            loop {
                let left = until.saturating_duration_since(Instant::now());
                match events.recv_timeout(left) {
                    Ok(Event::Announcement { announcement, .. }) if announcement.id == id => {
                        heard.insert(i, sent.elapsed());
                        break;
                    }
                    Ok(_) => {}
                    Err(_) => {
                        missed += 1;
                        break;
                    }
                }
            }
        }
        // Events are read node by node, so a later node's time includes reading the earlier
        // ones: the figures are upper bounds.
        latencies.extend(heard.into_values());
    }
    latencies.sort();
    pings.sort();
    let (p50, p99) = (percentile(&latencies, 0.50), percentile(&latencies, 0.99));
    let ping50 = percentile(&pings, 0.50);
    println!(
        "gossip delivery to {} nodes, {} announcements: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms, missed {missed}",
        NODES - 1,
        ANNOUNCEMENTS,
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3,
        latencies.last().unwrap().as_secs_f64() * 1e3
    );
    println!(
        "baseline: loopback ping round trip between connected peers, p50 {:.3} ms ({} samples); p50 delivery = {:.1}x, p99 = {:.1}x",
        ping50.as_secs_f64() * 1e3,
        pings.len(),
        p50.as_secs_f64() / ping50.as_secs_f64(),
        p99.as_secs_f64() / ping50.as_secs_f64()
    );
}
