//! What `/metrics` reads at each scrape: [`gather`] asks the workers for their figures (the
//! network worker's status, the chain worker's health; each bounded by [`ASK`]) and reads
//! the kernel's (`/proc`, `statvfs`) and NVML's; [`Collector`] writes what was gathered.
//! A worker that does not answer in time leaves its figures out of that scrape, and
//! `oarn_worker_up` says why.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use oarn_protocol::{chain, net};
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Unit;

use super::procfs;
use crate::state::Node;

/// Longest a scrape waits for one worker's figures.
pub const ASK: Duration = Duration::from_secs(2);

/// One worker's figures.
#[derive(Debug, Clone, Default)]
pub struct Worker {
    pub kind: &'static str,
    pub up: bool,
    pub restarts: u32,
    pub sandbox_violations: u32,
    pub usage: Option<procfs::Usage>,
}

/// One GPU's figures.
#[derive(Debug, Clone, Default)]
pub struct Gpu {
    /// Its PCI address.
    pub pci: String,
    pub utilization_ratio: Option<f64>,
    pub memory_total_bytes: Option<u64>,
    pub memory_used_bytes: Option<u64>,
}

/// Everything read for one scrape.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub uptime_seconds: f64,
    pub supervisor: Option<procfs::Usage>,
    pub workers: Vec<Worker>,
    pub net: Option<net::Status>,
    pub chain: Option<chain::Health>,
    /// Unix seconds now, for the head's age.
    pub now: u64,
    pub wallet_unlocked: bool,
    pub pipeline_running: bool,
    pub disk_free_bytes: Option<u64>,
    pub disk_size_bytes: Option<u64>,
    pub model_cache_bytes: Option<u64>,
    pub model_cache_limit_bytes: Option<u64>,
    pub memory: Option<crate::hardware::Memory>,
    /// The load averages over 1, 5 and 15 minutes.
    pub load: Option<(f64, f64, f64)>,
    pub cpu: Option<procfs::Cpu>,
    pub gpus: Vec<Gpu>,
}

/// Reads everything for one scrape.
pub async fn gather(node: &Node) -> Snapshot {
    let config = node.config();
    let (net, chain) = tokio::join!(net_status(node, ASK), chain_health(node, ASK));
    let (net, chain) = (net.ok(), chain.ok());
    let workers = node
        .workers
        .statuses()
        .iter()
        .map(|s| Worker {
            kind: s.kind.name(),
            up: s.state == oarn_supervise::State::Running,
            restarts: s.restarts,
            sandbox_violations: s.sandbox_violations,
            usage: s.pid.and_then(procfs::usage),
        })
        .collect();
    let disk = nix::sys::statvfs::statvfs(node.home.root()).ok();
    let fragment = |n: u64, s: &nix::sys::statvfs::Statvfs| n.saturating_mul(s.fragment_size());
    let models = oarn_config::resolve_path(&config.storage.models_dir, node.home.root());
    let cache = oarn_models::store::Store::open(&models).and_then(|s| s.size()).ok();
    Snapshot {
        uptime_seconds: node.started.elapsed().as_secs_f64(),
        supervisor: procfs::usage(std::process::id()),
        workers,
        net,
        chain,
        now: crate::tasks::now_ms() / 1000,
        wallet_unlocked: node.wallet.borrow().state.account.is_some(),
        pipeline_running: node.tasks.get().is_some(),
        disk_free_bytes: disk.as_ref().map(|s| fragment(s.blocks_available(), s)),
        disk_size_bytes: disk.as_ref().map(|s| fragment(s.blocks(), s)),
        model_cache_bytes: cache,
        model_cache_limit_bytes: config.storage.cache_limit(),
        memory: memory(),
        load: nix::sys::sysinfo::sysinfo().ok().map(|i| i.load_average()),
        cpu: procfs::cpu(),
        gpus: crate::hardware::gpu_usage()
            .into_iter()
            .map(|g| Gpu {
                utilization_ratio: g.utilization_percent.map(|p| f64::from(p) / 100.0),
                memory_used_bytes: g
                    .vram_total_bytes
                    .zip(g.vram_free_bytes)
                    .map(|(t, f)| t.saturating_sub(f)),
                memory_total_bytes: g.vram_total_bytes,
                pci: g.pci,
            })
            .collect(),
    }
}

/// The network worker's status, asked now and waited for at most `wait`; why there is none.
pub async fn net_status(node: &Node, wait: Duration) -> Result<net::Status, String> {
    let h = node.workers.net.as_ref().ok_or("no network worker runs (local mode)")?;
    match tokio::time::timeout(wait, h.call(net::GetStatus)).await {
        Ok(reply) => reply.map_err(|e| e.to_string()),
        Err(_) => Err(format!("the network worker did not answer within {} s", wait.as_secs())),
    }
}

/// The chain worker's endpoint and head (cached a few seconds in the worker), asked now and
/// waited for at most `wait`; why there is none.
pub async fn chain_health(node: &Node, wait: Duration) -> Result<chain::Health, String> {
    let h = node.workers.chain.as_ref().ok_or("no chain worker runs (local mode)")?;
    match tokio::time::timeout(wait, h.call(chain::GetHealth)).await {
        Ok(reply) => reply.map_err(|e| e.to_string()),
        Err(_) => Err(format!("the chain worker did not answer within {} s", wait.as_secs())),
    }
}

/// The machine's memory from `/proc/meminfo`, or, where the service's `ProcSubset=pid` hides
/// it, from sysinfo(2) (which knows free memory, not the page cache the kernel would give back).
fn memory() -> Option<crate::hardware::Memory> {
    if let Ok(text) = std::fs::read_to_string("/proc/meminfo") {
        return Some(crate::hardware::memory(&text));
    }
    let info = nix::sys::sysinfo::sysinfo().ok()?;
    Some(crate::hardware::Memory {
        total_bytes: info.ram_total(),
        available_bytes: info.ram_unused(),
    })
}

/// Labels of one sample, as (name, value) pairs.
type Labels = Vec<(&'static str, String)>;

/// Writes one metric family of samples: one sample without labels, or any number with.
fn family(
    out: &mut DescriptorEncoder,
    (name, help, unit): (&str, &str, Option<Unit>),
    kind: MetricType,
    samples: &[(Labels, f64)],
) -> std::fmt::Result {
    if samples.is_empty() {
        return Ok(());
    }
    // Help texts end with a full stop, as the registry writes those of its own metrics.
    let help = format!("{help}.");
    let mut metric = out.encode_descriptor(name, &help, unit.as_ref(), kind)?;
    if let [(labels, value)] = samples
        && labels.is_empty()
    {
        return match kind {
            MetricType::Counter => ConstCounter::new(*value).encode(metric),
            _ => ConstGauge::new(*value).encode(metric),
        };
    }
    for (labels, value) in samples {
        let e = metric.encode_family(labels)?;
        match kind {
            MetricType::Counter => ConstCounter::new(*value).encode(e)?,
            _ => ConstGauge::new(*value).encode(e)?,
        }
    }
    Ok(())
}

fn one(v: f64) -> Vec<(Labels, f64)> {
    vec![(Vec::new(), v)]
}

fn flag(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

/// Writes the last [`Snapshot`] on each scrape.
#[derive(Debug)]
pub struct Collector(pub Arc<Mutex<Snapshot>>);

impl prometheus_client::collector::Collector for Collector {
    fn encode(&self, mut out: DescriptorEncoder) -> std::fmt::Result {
        let s = self.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
        node(&mut out, &s)?;
        workers(&mut out, &s)?;
        if let Some(status) = &s.net {
            network(&mut out, status)?;
        }
        if let Some(h) = &s.chain {
            chain_head(&mut out, h, s.now)?;
        }
        machine(&mut out, &s)
    }
}

fn node(out: &mut DescriptorEncoder, s: &Snapshot) -> std::fmt::Result {
    use MetricType::Gauge;
    let version = vec![(vec![("version", env!("CARGO_PKG_VERSION").to_string())], 1.0)];
    family(
        out,
        ("build_info", "The running build (always 1)", None),
        Gauge,
        &version,
    )?;
    family(
        out,
        ("uptime", "Time since the daemon started", Some(Unit::Seconds)),
        Gauge,
        &one(s.uptime_seconds),
    )?;
    family(
        out,
        ("wallet_unlocked", "1 when the node holds its signing key", None),
        Gauge,
        &one(flag(s.wallet_unlocked)),
    )?;
    family(
        out,
        ("pipeline_running", "1 when the task pipeline runs", None),
        Gauge,
        &one(flag(s.pipeline_running)),
    )
}

fn workers(out: &mut DescriptorEncoder, s: &Snapshot) -> std::fmt::Result {
    use MetricType::{Counter, Gauge};
    let by = |f: &dyn Fn(&Worker) -> Option<f64>| -> Vec<(Labels, f64)> {
        s.workers
            .iter()
            .filter_map(|w| f(w).map(|v| (vec![("worker", w.kind.to_string())], v)))
            .collect()
    };
    family(
        out,
        ("worker_up", "1 when the worker runs and answers, by worker", None),
        Gauge,
        &by(&|w| Some(flag(w.up))),
    )?;
    family(
        out,
        ("worker_restarts", "Times the supervisor restarted the worker", None),
        Counter,
        &by(&|w| Some(f64::from(w.restarts))),
    )?;
    family(
        out,
        (
            "sandbox_violations",
            "Worker processes killed by their sandbox for a forbidden system call",
            None,
        ),
        Counter,
        &by(&|w| Some(f64::from(w.sandbox_violations))),
    )?;
    let mut cpu = by(&|w| w.usage.map(|u| u.cpu_seconds));
    let mut rss = by(&|w| w.usage.map(|u| u.rss_bytes as f64));
    if let Some(u) = s.supervisor {
        cpu.push((vec![("worker", "supervisor".into())], u.cpu_seconds));
        rss.push((vec![("worker", "supervisor".into())], u.rss_bytes as f64));
    }
    family(
        out,
        (
            "process_cpu",
            "CPU time of the supervisor and of each worker's current process",
            Some(Unit::Seconds),
        ),
        Counter,
        &cpu,
    )?;
    family(
        out,
        (
            "process_resident_memory",
            "Resident memory of the supervisor and of each worker",
            Some(Unit::Bytes),
        ),
        Gauge,
        &rss,
    )
}

fn network(out: &mut DescriptorEncoder, status: &net::Status) -> std::fmt::Result {
    use MetricType::{Counter, Gauge};
    let c = &status.counters;
    family(
        out,
        ("peers", "Connected peers", None),
        Gauge,
        &one(status.peers.len() as f64),
    )?;
    family(
        out,
        ("peers_banned", "Peers banned for misbehaving", None),
        Gauge,
        &one(status.banned.len() as f64),
    )?;
    let traffic = |p: &str, d: &str, v: u64| {
        (
            vec![("protocol", p.to_string()), ("direction", d.to_string())],
            v as f64,
        )
    };
    family(
        out,
        (
            "network",
            "Bytes on peer-to-peer streams, by protocol (all: every stream) and direction",
            Some(Unit::Bytes),
        ),
        Counter,
        &[
            traffic("all", "in", c.stream_bytes_in),
            traffic("all", "out", c.stream_bytes_out),
            traffic("gossip", "in", c.gossip_bytes_in),
            traffic("gossip", "out", c.gossip_bytes_out),
            traffic("bitswap", "in", c.bitswap_bytes_received),
            traffic("bitswap", "out", c.bitswap_bytes_served),
        ],
    )?;
    let result = |r: &str, v: u64| (vec![("result", r.to_string())], v as f64);
    family(
        out,
        ("gossip_messages", "Task announcements by what became of them", None),
        Counter,
        &[
            result("accepted", c.accepted),
            result("rejected", c.rejected),
            result("ignored", c.ignored),
            result("published", c.published),
        ],
    )?;
    let direction = |d: &str, v: u64| (vec![("direction", d.to_string())], v as f64);
    family(
        out,
        ("bitswap_blocks", "Blocks served to peers and received from them", None),
        Counter,
        &[direction("out", c.blocks_served), direction("in", c.blocks_received)],
    )?;
    family(
        out,
        (
            "dropped_messages",
            "Events and Bitswap messages dropped because a queue was full",
            None,
        ),
        Counter,
        &[
            (vec![("queue", "events".to_string())], c.dropped_events as f64),
            (vec![("queue", "bitswap".to_string())], c.bitswap_dropped as f64),
        ],
    )
}

fn chain_head(out: &mut DescriptorEncoder, h: &chain::Health, now: u64) -> std::fmt::Result {
    use MetricType::{Counter, Gauge};
    family(
        out,
        (
            "chain_head_block",
            "The chain's head block, as the endpoint in use reports it",
            None,
        ),
        Gauge,
        &one(h.head as f64),
    )?;
    family(
        out,
        (
            "chain_head_lag",
            "Age of the head block: this machine's clock less the block's timestamp",
            Some(Unit::Seconds),
        ),
        Gauge,
        &one(now.saturating_sub(h.head_time) as f64),
    )?;
    family(
        out,
        (
            "chain_endpoint_switches",
            "Times the chain worker switched RPC endpoints (since it started)",
            None,
        ),
        Counter,
        &one(h.switches as f64),
    )
}

fn machine(out: &mut DescriptorEncoder, s: &Snapshot) -> std::fmt::Result {
    use MetricType::{Counter, Gauge};
    let some = |v: Option<u64>| v.map(|v| one(v as f64)).unwrap_or_default();
    family(
        out,
        (
            "disk_free",
            "Free space on the node home's filesystem",
            Some(Unit::Bytes),
        ),
        Gauge,
        &some(s.disk_free_bytes),
    )?;
    family(
        out,
        ("disk_size", "Size of the node home's filesystem", Some(Unit::Bytes)),
        Gauge,
        &some(s.disk_size_bytes),
    )?;
    family(
        out,
        ("model_cache", "Size of the installed models", Some(Unit::Bytes)),
        Gauge,
        &some(s.model_cache_bytes),
    )?;
    family(
        out,
        (
            "model_cache_limit",
            "storage.max_cache_size_gb (absent: no limit)",
            Some(Unit::Bytes),
        ),
        Gauge,
        &some(s.model_cache_limit_bytes),
    )?;
    if let Some(m) = &s.memory {
        let kind = |k: &str, v: u64| (vec![("kind", k.to_string())], v as f64);
        family(
            out,
            ("memory", "The machine's memory: total and available", Some(Unit::Bytes)),
            Gauge,
            &[kind("total", m.total_bytes), kind("available", m.available_bytes)],
        )?;
    }
    if let Some((one_min, five, fifteen)) = s.load {
        let over = |m: &str, v: f64| (vec![("minutes", m.to_string())], v);
        family(
            out,
            (
                "machine_load_average",
                "The machine's load average (runnable tasks)",
                None,
            ),
            Gauge,
            &[over("1", one_min), over("5", five), over("15", fifteen)],
        )?;
    }
    if let Some(c) = &s.cpu {
        let mode = |k: &str, v: f64| (vec![("mode", k.to_string())], v);
        family(
            out,
            (
                "machine_cpu",
                "CPU time of the whole machine, all cores together: busy and idle",
                Some(Unit::Seconds),
            ),
            Counter,
            &[mode("busy", c.busy_seconds), mode("idle", c.idle_seconds)],
        )?;
        family(
            out,
            ("machine_cpus", "CPU cores of the machine", None),
            Gauge,
            &one(c.cores as f64),
        )?;
    }
    let gpu = |f: &dyn Fn(&Gpu) -> Option<f64>| -> Vec<(Labels, f64)> {
        s.gpus
            .iter()
            .filter_map(|g| f(g).map(|v| (vec![("gpu", g.pci.clone())], v)))
            .collect()
    };
    family(
        out,
        ("gpu_utilization_ratio", "GPU busy, 0 to 1, by PCI address", None),
        Gauge,
        &gpu(&|g| g.utilization_ratio),
    )?;
    family(
        out,
        ("gpu_memory_used", "GPU memory in use", Some(Unit::Bytes)),
        Gauge,
        &gpu(&|g| g.memory_used_bytes.map(|v| v as f64)),
    )?;
    family(
        out,
        ("gpu_memory_total", "GPU memory", Some(Unit::Bytes)),
        Gauge,
        &gpu(&|g| g.memory_total_bytes.map(|v| v as f64)),
    )
}

/// The text of `/metrics` with this snapshot and nothing counted yet.
#[cfg(test)]
fn text(s: Snapshot) -> String {
    super::Metrics::new().render(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scrape_writes_what_the_workers_and_the_kernel_reported() {
        let mut status = net::Status::default();
        status.peers.push(net::Peer::default());
        status.peers.push(net::Peer::default());
        status.counters.gossip_bytes_in = 1234;
        let s = Snapshot {
            workers: vec![
                Worker {
                    kind: "net",
                    up: true,
                    restarts: 2,
                    sandbox_violations: 1,
                    usage: Some(procfs::Usage {
                        cpu_seconds: 1.5,
                        rss_bytes: 4096,
                    }),
                },
                Worker {
                    kind: "chain",
                    ..Worker::default()
                },
            ],
            net: Some(status),
            chain: Some(chain::Health {
                endpoint: "http://127.0.0.1:8545/".into(),
                head: 77,
                head_time: 1_000,
                switches: 3,
            }),
            now: 1_004,
            disk_free_bytes: Some(10),
            ..Snapshot::default()
        };
        let t = text(s);
        for want in [
            "oarn_peers 2",
            "oarn_worker_up{worker=\"net\"} 1",
            "oarn_worker_up{worker=\"chain\"} 0",
            "oarn_worker_restarts_total{worker=\"net\"} 2",
            "oarn_sandbox_violations_total{worker=\"net\"} 1",
            "oarn_process_cpu_seconds_total{worker=\"net\"} 1.5",
            "oarn_network_bytes_total{protocol=\"gossip\",direction=\"in\"} 1234",
            "oarn_chain_head_block 77",
            "oarn_chain_head_lag_seconds 4",
            "oarn_chain_endpoint_switches_total 3",
            "oarn_disk_free_bytes 10",
        ] {
            assert!(t.lines().any(|l| l.starts_with(want)), "{want} missing from\n{t}");
        }
        assert!(!t.contains("oarn_gpu"), "no GPU, no GPU figures: {t}");
    }

    #[test]
    fn a_gpu_nvml_reports_is_written_by_its_pci_address() {
        let s = Snapshot {
            gpus: vec![Gpu {
                pci: "0000:01:00.0".into(),
                utilization_ratio: Some(0.25),
                memory_total_bytes: Some(8 << 30),
                memory_used_bytes: Some(1 << 30),
            }],
            ..Snapshot::default()
        };
        let t = text(s);
        for want in [
            "oarn_gpu_utilization_ratio{gpu=\"0000:01:00.0\"} 0.25",
            "oarn_gpu_memory_used_bytes{gpu=\"0000:01:00.0\"} 1073741824",
            "oarn_gpu_memory_total_bytes{gpu=\"0000:01:00.0\"} 8589934592",
        ] {
            assert!(t.lines().any(|l| l.starts_with(want)), "{want} missing from\n{t}");
        }
    }

    #[test]
    fn a_worker_that_did_not_answer_leaves_its_figures_out() {
        let t = text(Snapshot::default());
        assert!(!t.contains("oarn_peers"), "{t}");
        assert!(!t.contains("oarn_chain_head_block"), "{t}");
        assert!(t.contains("oarn_build_info{version="), "{t}");
    }
}
