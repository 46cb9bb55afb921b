//! What scraping `/metrics` every second costs the node: a worker node on the devnet (real
//! anvil, a real peer, all three workers) runs idle for a window, then for a window of the same
//! length while this harness scrapes it once a second, as Prometheus would; the CPU time the
//! daemon (the supervisor process) and its workers spent in each window comes from
//! `/proc/<pid>/stat`. The baseline is the idle window, in the same run. Target: the
//! scrapes cost the daemon under 1 % of one core.
//!
//! Run by `bench/metrics [--secs N]` with release binaries (`OARN_TEST_BINS`).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use oarn_tests::fleet;
use serde_json::Value;

const TARGET_PERCENT: f64 = 1.0;

/// CPU seconds (user + system) of process `pid`.
fn cpu(pid: u64) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("the process runs");
    let rest = &stat[stat.rfind(')').unwrap() + 1..];
    let f: Vec<u64> = rest.split_whitespace().map(|x| x.parse().unwrap_or(0)).collect();
    let ticks = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100) as f64;
    (f[11] + f[12]) as f64 / ticks
}

/// The daemon's pid and its workers'.
fn pids(status: &Value) -> (u64, Vec<u64>) {
    let workers = status["workers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["pid"].as_u64().unwrap())
        .collect();
    (status["pid"].as_u64().unwrap(), workers)
}

/// One scrape as Prometheus makes it; the bytes of the answer.
fn scrape(addr: &str) -> usize {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nAccept: application/openmetrics-text;version=1.0.0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut body = Vec::new();
    s.read_to_end(&mut body).unwrap();
    assert!(body.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&body));
    body.len()
}

/// CPU seconds of the daemon and of its workers together over `secs`, scraping every second
/// when `scraping`.
fn window(addr: &str, daemon: u64, workers: &[u64], secs: u64, scraping: bool) -> (f64, f64, usize) {
    let d0 = cpu(daemon);
    let w0: f64 = workers.iter().map(|p| cpu(*p)).sum();
    let start = Instant::now();
    let mut bytes = 0;
    for i in 1..=secs {
        if scraping {
            bytes = scrape(addr);
        }
        let next = start + Duration::from_secs(i);
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    let d = cpu(daemon) - d0;
    let w = workers.iter().map(|p| cpu(*p)).sum::<f64>() - w0;
    (d, w, bytes)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut secs = 120u64;
    while let Some(a) = args.next() {
        if a == "--secs" {
            secs = args.next().and_then(|n| n.parse().ok()).expect("--secs N");
        }
    }
    let (rt, devnet) = fleet::devnet();
    let (mut requester, _) = fleet::requester(&rt, &devnet);
    let (mut worker, _, _) = fleet::worker(&rt, &devnet, &[]);
    let status = worker.json(&["status", "--json"]);
    let addr = status["http"]["listen"].as_str().expect("an HTTP listener").to_string();
    let (daemon, workers) = pids(&status);
    // Let start-up work (discovery, the first peers) settle first.
    std::thread::sleep(Duration::from_secs(10));

    let (idle_d, idle_w, _) = window(&addr, daemon, &workers, secs, false);
    let (busy_d, busy_w, bytes) = window(&addr, daemon, &workers, secs, true);
    let percent = |cpu: f64| cpu / secs as f64 * 100.0;
    println!("{secs} s idle, then {secs} s scraped once a second ({bytes} bytes a scrape); CPU of one core:");
    println!("{:<22} {:>9} {:>9} {:>9}", "", "idle %", "scraped %", "cost %");
    println!(
        "{:<22} {:>9.3} {:>9.3} {:>9.3}",
        "daemon (supervisor)",
        percent(idle_d),
        percent(busy_d),
        percent(busy_d - idle_d)
    );
    println!(
        "{:<22} {:>9.3} {:>9.3} {:>9.3}",
        "workers (net, chain)",
        percent(idle_w),
        percent(busy_w),
        percent(busy_w - idle_w)
    );
    let cost = percent(busy_d - idle_d);
    // CPU time is counted in clock ticks (10 ms): an idle window may count none.
    let against = if idle_d > 0.0 {
        format!("{:.2}x its idle CPU, the baseline", busy_d / idle_d)
    } else {
        "idle, the baseline, counted no tick".into()
    };
    println!(
        "scraping costs the daemon {cost:.3} % of one core ({against}); target < {TARGET_PERCENT} %: {}",
        if cost < TARGET_PERCENT { "met" } else { "MISSED" }
    );
    worker.stop();
    requester.stop();
    if cost >= TARGET_PERCENT {
        std::process::exit(1);
    }
}
