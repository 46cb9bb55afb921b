//! One function per check of `oarn doctor`: facts in, a verdict with its plain fix out.

use oarn_api::node::{Discovery, WorkerState};

use super::facts::NOT_RUNNING;
use super::{Check, Facts};

const GIB: u64 = 1 << 30;
/// A head block older than this means a lagging endpoint or a clock running ahead.
const STALE_HEAD_SECS: u64 = 600;
/// A head block this far in the future means this machine's clock is behind.
const FUTURE_HEAD_SECS: u64 = 30;
/// Tasks' worth of gas below which the balance is low.
const LOW_GAS_TASKS: u128 = 20;
/// The balance below which gas is low when the node has no history of its own (0.0001 ETH:
/// a few hundred tasks on Arbitrum at its usual gas price).
const LOW_GAS_WEI: u128 = 100_000_000_000_000;
/// The exposure score of the shipped unit.
const SHIPPED_EXPOSURE: f64 = 2.0;

fn eth(wei: u128) -> String {
    let whole = wei / 1_000_000_000_000_000_000;
    let frac = wei % 1_000_000_000_000_000_000;
    let frac = format!("{frac:018}");
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() {
        format!("{whole} ETH")
    } else {
        format!("{whole}.{frac} ETH")
    }
}

fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / GIB as f64)
}

pub fn node(f: &Facts) -> Check {
    match &f.status {
        Ok(s) if s.mode == "local" => Check::fail(
            "node",
            format!(
                "running in local mode (pid {}): it runs no network and earns nothing",
                s.pid
            ),
            "set network.mode = \"standard\" in config.toml and restart the node",
        ),
        Ok(s) => {
            let down: Vec<&str> = s
                .workers
                .iter()
                .filter(|w| w.state != WorkerState::Running)
                .map(|w| w.kind.as_str())
                .collect();
            if down.is_empty() {
                Check::ok(
                    "node",
                    format!("running, pid {}, up {} s, every worker running", s.pid, s.uptime_secs),
                )
            } else {
                Check::fail(
                    "node",
                    format!("running, but the {} worker(s) are not", down.join(", ")),
                    "`oarn status` shows each worker's last exit; `oarn logs --worker NAME` its log",
                )
            }
        }
        Err(e) if e == NOT_RUNNING => Check::fail(
            "node",
            "not running",
            "start it: `oarn start --detach`, or `systemctl start oarn` where it is a service",
        ),
        Err(e) => Check::fail(
            "node",
            format!("does not answer: {e}"),
            "`oarn logs` says why; restart it with `oarn stop` then `oarn start --detach`",
        ),
    }
}

pub fn sandbox(f: &Facts) -> Check {
    let Ok(s) = &f.status else {
        return Check::skip(
            "sandbox",
            "the node is not running; `oarn sandbox verify` proves each worker's sandbox",
        );
    };
    let missing: Vec<String> = s
        .workers
        .iter()
        .flat_map(|w| {
            w.sandbox
                .iter()
                // Layers a profile does not ask for are "not-applied"; only what the kernel
                // lacks is a problem.
                .filter(|l| l.state == "unavailable")
                .map(move |l| format!("{} {} ({})", w.kind, l.layer, l.reason.as_deref().unwrap_or(&l.state)))
        })
        .collect();
    if missing.is_empty() {
        Check::ok("sandbox", "every sandbox layer is active in every worker")
    } else {
        Check::warn(
            "sandbox",
            format!("layers not active: {}", missing.join("; ")),
            "run a kernel that offers them (Landlock needs Linux 5.13 or later, user namespaces must be allowed); `oarn sandbox verify` shows what is enforced",
        )
    }
}

pub fn chain(f: &Facts) -> Check {
    let Ok(s) = &f.status else {
        return Check::skip("chain", "the node is not running");
    };
    let discovery_fix = "check network.discovery.ens_rpc_urls and ens_registry (or discovery_method = \"manual\" with blockchain.rpc_urls and registry_address), and that those endpoints answer; `oarn chain discover` shows each step";
    if s.chain.discovery == Discovery::Pending {
        return Check::warn(
            "chain",
            "the node has not finished discovering the network",
            "run `oarn doctor` again in a minute; `oarn status` shows discovery's progress",
        );
    }
    if s.chain.discovery == Discovery::Failed {
        return Check::fail(
            "chain",
            format!(
                "discovery failed: {}",
                s.chain.error.as_deref().unwrap_or("no reason given")
            ),
            discovery_fix,
        );
    }
    match f.health.as_ref().map(|h| &h.chain) {
        Some(Ok(c)) => {
            let switched = if c.switches > 0 {
                format!("; switched endpoints {} times", c.switches)
            } else {
                String::new()
            };
            Check::ok(
                "chain",
                format!("{} answers, head block {}{switched}", c.endpoint, c.head),
            )
        }
        Some(Err(e)) => Check::fail("chain", format!("the chain cannot be read: {e}"), discovery_fix),
        None => Check::skip("chain", "the node did not say what its chain worker finds"),
    }
}

pub fn clock(f: &Facts) -> Check {
    let Some(h) = &f.health else {
        return Check::skip("clock", "the node is not running");
    };
    let Ok(c) = &h.chain else {
        return Check::skip("clock", "the chain cannot be read");
    };
    let fix_clock = "turn on time synchronisation (`timedatectl set-ntp true`, or chrony)";
    if c.head_time > h.now + FUTURE_HEAD_SECS {
        Check::fail(
            "clock",
            format!(
                "this machine's clock is {} s behind the chain's head block: deadlines are misjudged",
                c.head_time - h.now
            ),
            fix_clock,
        )
    } else if h.now.saturating_sub(c.head_time) > STALE_HEAD_SECS {
        Check::warn(
            "clock",
            format!(
                "the head block is {} s old: the endpoint lags, or this machine's clock is ahead (a chain that mines only on demand, such as a devnet, also looks so)",
                h.now - c.head_time
            ),
            format!("{fix_clock}; if the clock is right, the endpoint lags: add another RPC endpoint"),
        )
    } else {
        Check::ok(
            "clock",
            format!("within {} s of the chain head", h.now.abs_diff(c.head_time)),
        )
    }
}

pub fn wallet(f: &Facts) -> Check {
    if !f.keystore {
        return Check::fail(
            "wallet",
            "no wallet: the node cannot claim tasks or be paid",
            "create one with `oarn wallet create` (or `oarn wallet import`), fund it with ETH for gas, and start the node with its passphrase",
        );
    }
    let Ok(s) = &f.status else {
        return Check::skip(
            "wallet",
            "a wallet exists; whether it is unlocked and funded needs the running node",
        );
    };
    let Some(account) = &s.wallet.account else {
        return Check::fail(
            "wallet",
            format!(
                "locked: {}",
                s.wallet.locked.as_deref().unwrap_or("the node holds no signing key")
            ),
            "`oarn wallet unlock`, or start the node with --passphrase-file (or the systemd credential oarn-wallet-passphrase)",
        );
    };
    match &f.balance_wei {
        Some(Ok(0)) => Check::fail(
            "wallet",
            format!("{account} holds no ETH: no claim can pay its gas"),
            format!(
                "send ETH for gas to {account} on chain {}",
                f.config.blockchain.chain_id
            ),
        ),
        Some(Ok(wei)) => {
            let low = f.gas_per_task_wei.map_or(LOW_GAS_WEI, |g| g * LOW_GAS_TASKS);
            let tasks = f
                .gas_per_task_wei
                .map(|g| format!(", about {} tasks' gas", wei / g.max(1)));
            if *wei < low {
                Check::warn(
                    "wallet",
                    format!(
                        "{account} holds {}{}: gas runs out soon",
                        eth(*wei),
                        tasks.unwrap_or_default()
                    ),
                    format!("send ETH for gas to {account}"),
                )
            } else {
                Check::ok(
                    "wallet",
                    format!("{account} unlocked, {}{}", eth(*wei), tasks.unwrap_or_default()),
                )
            }
        }
        Some(Err(e)) => Check::warn(
            "wallet",
            format!("{account} unlocked; its balance cannot be read: {e}"),
            "see the chain check",
        ),
        None => Check::skip("wallet", "the balance was not read"),
    }
}

pub fn peers(f: &Facts) -> Check {
    let Some(h) = &f.health else {
        return Check::skip("peers", "the node is not running");
    };
    match &h.network {
        Ok(n) if n.peers == 0 => Check::fail(
            "peers",
            "no peers: no task announcements or blocks can arrive",
            "check that discovery found bootstrap peers (`oarn status`), that this machine reaches them (firewall, proxy), or list some in network.discovery.bootstrap_peers with discovery_method = \"manual\"",
        ),
        Ok(n) => Check::ok("peers", format!("{} peers connected", n.peers)),
        Err(e) => Check::fail(
            "peers",
            format!("the network worker does not answer: {e}"),
            "`oarn status` and `oarn logs --worker net`",
        ),
    }
}

pub fn nat(f: &Facts) -> Check {
    let Some(Ok(n)) = f.health.as_ref().map(|h| &h.network) else {
        return Check::skip("nat", "the network worker's state is not known");
    };
    let loopback = f.config.network.listen_address.is_loopback();
    if !n.relayed.is_empty() {
        return Check::ok(
            "nat",
            format!("reachable through {} relay reservation(s)", n.relayed.len()),
        );
    }
    if n.relays_configured > 0 {
        return Check::warn(
            "nat",
            "network.relays are set but no relay granted a reservation",
            "check the relays' multiaddrs (ending /p2p/<peer id>) and that they run a relay service",
        );
    }
    match n.nat.as_str() {
        "public" => Check::ok("nat", "peers can dial this node (AutoNAT: public)"),
        "private" => Check::warn(
            "nat",
            "behind NAT or a firewall (AutoNAT: private): peers cannot dial this node, only it them",
            "forward network.listen_port on the router and set network.listen_address = \"0.0.0.0\", or set network.relays",
        ),
        _ if loopback => Check::ok(
            "nat",
            "listening on loopback only (the default): the node dials out; peers elsewhere cannot dial it",
        ),
        _ => Check::ok("nat", "not probed yet (AutoNAT needs a few peers to ask)"),
    }
}

pub fn ipfs(f: &Facts) -> Check {
    let store = f.home.join("ipfs");
    if !f.ipfs_store && f.status.is_ok() {
        return Check::fail(
            "ipfs",
            format!("the IPFS store {} is missing", store.display()),
            "restart the node: it creates it",
        );
    }
    if let Some(Err(e)) = &f.kubo {
        return Check::fail(
            "ipfs",
            format!(
                "the Kubo API storage.ipfs_api = {} does not answer: {e}",
                f.config.storage.ipfs_api
            ),
            "start that IPFS daemon, or set storage.ipfs_api = \"\" to use the built-in store",
        );
    }
    if let Ok(s) = &f.status
        && !f.config.storage.ipfs_api_listen.is_empty()
        && s.network.ipfs_api.is_none()
    {
        return Check::warn(
            "ipfs",
            format!(
                "storage.ipfs_api_listen = {} is set but the node does not serve it",
                f.config.storage.ipfs_api_listen
            ),
            "`oarn logs --worker net` says why (the port may be taken)",
        );
    }
    let via = if f.config.storage.ipfs_api.is_empty() {
        format!("built-in store at {}", store.display())
    } else {
        format!("Kubo at {}", f.config.storage.ipfs_api)
    };
    Check::ok("ipfs", via)
}

pub fn models(f: &Facts) -> Check {
    if f.models.is_empty() {
        return Check::warn(
            "models",
            "no model installed: the node takes only tasks whose model manifest names a CID to fetch it by",
            "`oarn model pull smollm2-135m`, or `oarn model import FILE --name NAME`",
        );
    }
    let limit = match f.config.compute.max_ram_gb {
        0 => f.memory_available,
        gb => (u64::from(gb) * GIB).min(f.memory_total),
    };
    let too_big: Vec<String> = f
        .models
        .iter()
        .filter(|(_, size)| *size > limit)
        .map(|(name, size)| format!("{name} ({})", gib(*size)))
        .collect();
    if too_big.len() == f.models.len() {
        Check::fail(
            "models",
            format!(
                "no installed model fits in {} of memory: {}",
                gib(limit),
                too_big.join(", ")
            ),
            "install a smaller model, free memory, or raise compute.max_ram_gb",
        )
    } else if !too_big.is_empty() {
        Check::warn(
            "models",
            format!("do not fit in {} of memory: {}", gib(limit), too_big.join(", ")),
            "remove them (`oarn model remove NAME`) or raise compute.max_ram_gb",
        )
    } else {
        Check::ok(
            "models",
            format!("{} installed, each fits in {} of memory", f.models.len(), gib(limit)),
        )
    }
}

/// ONNX Runtime, which the network's ONNX tasks need: configured, and loaded by the running
/// node's inference worker.
pub fn onnx(f: &Facts) -> Check {
    let lib = &f.config.compute.onnxruntime;
    let fetch = "run scripts/fetch-onnxruntime, then `oarn config set compute.onnxruntime PATH` and restart the node";
    if lib.as_os_str().is_empty() {
        return Check::warn("onnx", "no ONNX Runtime: the network's ONNX tasks are skipped", fetch);
    }
    if f.config.ollama.enabled {
        return Check::warn(
            "onnx",
            "ollama.enabled routes inference to Ollama: ONNX tasks are skipped",
            "set ollama.enabled = false to run GGUF and ONNX models in the node",
        );
    }
    let path = oarn_config::resolve_path(lib, &f.home);
    let infer = f
        .status
        .as_ref()
        .ok()
        .and_then(|s| s.workers.iter().find(|w| w.kind == "infer"));
    match infer {
        Some(w) if w.capabilities.iter().any(|c| c == "onnx") => {
            Check::ok("onnx", format!("ONNX Runtime loaded from {}", path.display()))
        }
        Some(w) if w.state == WorkerState::Running => Check::warn(
            "onnx",
            format!("the inference worker did not load ONNX Runtime from {}", path.display()),
            "name a libonnxruntime.so of 1.17 or later; `oarn logs --worker infer` says why it failed",
        ),
        _ if path.is_file() => Check::ok("onnx", format!("ONNX Runtime at {}", path.display())),
        _ => Check::warn(
            "onnx",
            format!("compute.onnxruntime names {}, which is not a file", path.display()),
            fetch,
        ),
    }
}

pub fn gpu(f: &Facts) -> Check {
    let nvidia = f.gpus.iter().any(|g| g.vendor == "NVIDIA");
    match (&f.nvml, nvidia) {
        (Some(why), true) if f.gpus.iter().all(|g| g.vram_total_bytes.is_none()) => Check::warn(
            "gpu",
            format!("an NVIDIA GPU is installed but NVML does not report it ({why})"),
            "install the NVIDIA driver with its NVML library (libnvidia-ml.so.1)",
        ),
        _ if f.gpus.is_empty() => Check::ok("gpu", "no GPU: inference runs on the CPU"),
        _ => Check::ok(
            "gpu",
            f.gpus
                .iter()
                .map(|g| match g.vram_total_bytes {
                    Some(v) => format!("{} {} ({})", g.vendor, g.name, gib(v)),
                    None => format!("{} {}", g.vendor, g.name),
                })
                .collect::<Vec<_>>()
                .join(", "),
        ),
    }
}

pub fn disk(f: &Facts) -> Check {
    let Some((free, size)) = f.disk else {
        return Check::skip("disk", "the node home's filesystem cannot be read");
    };
    let share = free as f64 / size.max(1) as f64;
    let summary = format!(
        "{} free of {} ({:.0}%) at {}",
        gib(free),
        gib(size),
        share * 100.0,
        f.home.display()
    );
    let fix = format!(
        "free space, or lower storage.max_cache_size_gb (now {}) and storage.ipfs_cache_gb (now {})",
        f.config.storage.max_cache_size_gb, f.config.storage.ipfs_cache_gb
    );
    // Failing is absolute: under a gibibyte no model fits and blocks soon stop fitting. A share
    // alone is no measure of full: 5% of a 252 GiB disk is still 12 GiB (the CI machine's case).
    if free < GIB {
        Check::fail(
            "disk",
            format!("nearly full: {summary}; models and blocks cannot be stored"),
            fix,
        )
    } else if share < 0.10 || free < 10 * GIB {
        Check::warn("disk", format!("filling up: {summary}"), fix)
    } else {
        Check::ok("disk", summary)
    }
}

pub fn unit(f: &Facts) -> Check {
    let Some(u) = &f.unit else {
        return Check::skip(
            "unit",
            "no systemd unit of oarn is installed (packaging/systemd/oarn.service)",
        );
    };
    match u.exposure {
        Ok(score) if score > SHIPPED_EXPOSURE => Check::warn(
            "unit",
            format!(
                "{} has exposure {score} (the shipped unit has {SHIPPED_EXPOSURE})",
                u.path.display()
            ),
            "compare it with packaging/systemd/oarn.service; `systemd-analyze security oarn.service` lists what is open",
        ),
        Ok(score) => Check::ok("unit", format!("{} has exposure {score}", u.path.display())),
        Err(ref e) => Check::skip("unit", format!("{}: {e}", u.path.display())),
    }
}

#[cfg(test)]
mod tests;
