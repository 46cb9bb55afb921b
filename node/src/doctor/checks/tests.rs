//! Each check's verdicts on facts made up for the case.

use oarn_api::node::{ChainHealth, Health, NetworkHealth, Status};
use serde_json::json;

use super::super::facts::{Facts, NOT_RUNNING, Unit};
use super::super::{Verdict, blocks_earning, check};

/// The status of a running node in standard mode, its workers running with every layer active,
/// signing as 0x…01.
fn status() -> Status {
    let worker = |kind: &str| {
        json!({"kind": kind, "binary": kind, "state": "running", "pid": 10, "started_at": 1, "uptime_secs": 5,
               "restarts": 0, "last_exit": null, "degraded": null, "build_id": "b", "capabilities": [],
               "in_flight": 0, "sandbox": [{"layer": "seccomp", "state": "active"}], "profile_hash": null, "ping_us": 10})
    };
    let mut infer = worker("infer");
    infer["capabilities"] = json!(["llama.cpp", "gguf", "onnxruntime", "onnx"]);
    serde_json::from_value(json!({
        "version": "0.1.0", "pid": 42, "name": "", "mode": "standard", "home": "/h", "config": "/h/config.toml",
        "uptime_secs": 60, "sandbox_mode": "best-effort",
        "network": {"connected": true, "peer_id": "p", "listen": [], "ipfs_api": null, "peers": 3, "announcements": 0, "error": null},
        "chain": {"connected": true, "discovery": "ok"},
        "wallet": {"present": true, "account": "0x0000000000000000000000000000000000000001", "index": 0, "locked": null},
        "workers": [infer, worker("net"), worker("chain")],
        "ollama": {"enabled": false, "address": "127.0.0.1:11434", "serve": null},
    }))
    .unwrap()
}

/// A healthy node: running, chain answering with a head 2 s old, 3 peers, funded, one model
/// that fits, ONNX Runtime loaded, half the disk free.
fn healthy() -> Facts {
    let mut config = oarn_config::Config::default();
    config.compute.onnxruntime = "/opt/onnxruntime/libonnxruntime.so.1.31.1".into();
    Facts {
        config,
        home: std::env::temp_dir(),
        status: Ok(status()),
        health: Some(Health {
            chain: Ok(ChainHealth {
                endpoint: "http://127.0.0.1:8545/".into(),
                head: 100,
                head_time: 1_000,
                switches: 0,
            }),
            network: Ok(NetworkHealth {
                peers: 3,
                nat: "unknown".into(),
                relayed: Vec::new(),
                relays_configured: 0,
            }),
            now: 1_002,
        }),
        balance_wei: Some(Ok(1_000_000_000_000_000_000)),
        kubo: None,
        keystore: true,
        ipfs_store: true,
        models: vec![("smollm2".into(), 100 << 20)],
        memory_total: 16 << 30,
        memory_available: 8 << 30,
        disk: Some((50 << 30, 100 << 30)),
        gpus: Vec::new(),
        nvml: Some("NVML unavailable".into()),
        gas_per_task_wei: Some(5_000_000_000_000),
        unit: None,
    }
}

fn verdict(f: &Facts, name: &str) -> (Verdict, String, Option<String>) {
    let c = check(f).into_iter().find(|c| c.name == name).unwrap();
    (c.verdict, c.summary, c.fix)
}

#[test]
fn a_healthy_node_passes_every_check_it_can_make() {
    let f = healthy();
    let checks = check(&f);
    for c in &checks {
        assert!(matches!(c.verdict, Verdict::Ok | Verdict::Skip), "{c:?}");
    }
    assert!(!blocks_earning(&checks));
    assert_eq!(verdict(&f, "unit").0, Verdict::Skip, "no unit installed");
}

#[test]
fn a_layer_the_kernel_lacks_warns_and_one_no_profile_asks_for_does_not() {
    let mut f = healthy();
    let mut s = status();
    s.workers[1].sandbox = serde_json::from_value(json!([
        {"layer": "pid-namespace", "state": "not-applied", "reason": "the profile does not ask for it"},
    ]))
    .unwrap();
    f.status = Ok(s.clone());
    assert_eq!(verdict(&f, "sandbox").0, Verdict::Ok);
    s.workers[1].sandbox = serde_json::from_value(json!([
        {"layer": "landlock", "state": "unavailable", "reason": "the kernel has no Landlock"},
    ]))
    .unwrap();
    f.status = Ok(s);
    let (v, summary, _) = verdict(&f, "sandbox");
    assert_eq!(v, Verdict::Warn);
    assert!(
        summary.contains("net landlock (the kernel has no Landlock)"),
        "{summary}"
    );
}

#[test]
fn a_node_that_is_not_running_fails_with_how_to_start_it() {
    let mut f = healthy();
    f.status = Err(NOT_RUNNING.into());
    f.health = None;
    let (v, summary, fix) = verdict(&f, "node");
    assert_eq!((v, summary.as_str()), (Verdict::Fail, "not running"));
    assert!(fix.unwrap().contains("oarn start"));
    assert_eq!(verdict(&f, "chain").0, Verdict::Skip);
    assert_eq!(verdict(&f, "peers").0, Verdict::Skip);
}

#[test]
fn no_wallet_fails_and_says_to_create_one() {
    let mut f = healthy();
    f.keystore = false;
    let (v, _, fix) = verdict(&f, "wallet");
    assert_eq!(v, Verdict::Fail);
    assert!(fix.unwrap().contains("oarn wallet create"));
}

#[test]
fn a_locked_wallet_fails_and_says_how_to_unlock() {
    let mut f = healthy();
    let mut s = status();
    s.wallet.account = None;
    s.wallet.locked = Some("no passphrase was given".into());
    f.status = Ok(s);
    let (v, summary, fix) = verdict(&f, "wallet");
    assert_eq!(v, Verdict::Fail);
    assert!(summary.contains("no passphrase was given"), "{summary}");
    assert!(fix.unwrap().contains("oarn wallet unlock"));
}

#[test]
fn an_empty_account_fails_and_a_low_one_warns_in_tasks_of_gas() {
    let mut f = healthy();
    f.balance_wei = Some(Ok(0));
    assert_eq!(verdict(&f, "wallet").0, Verdict::Fail);
    f.balance_wei = Some(Ok(10 * 5_000_000_000_000));
    let (v, summary, _) = verdict(&f, "wallet");
    assert_eq!(v, Verdict::Warn);
    assert!(summary.contains("about 10 tasks' gas"), "{summary}");
    assert!(summary.contains("0.00005 ETH"), "{summary}");
}

#[test]
fn an_rpc_that_does_not_answer_fails_the_chain_and_skips_the_clock() {
    let mut f = healthy();
    f.health.as_mut().unwrap().chain = Err("connection refused".into());
    let (v, summary, fix) = verdict(&f, "chain");
    assert_eq!(v, Verdict::Fail);
    assert!(summary.contains("connection refused"), "{summary}");
    assert!(fix.unwrap().contains("oarn chain discover"));
    assert_eq!(verdict(&f, "clock").0, Verdict::Skip);
    assert!(blocks_earning(&check(&f)));
}

#[test]
fn a_clock_behind_the_chain_fails_and_an_old_head_warns() {
    let mut f = healthy();
    f.health.as_mut().unwrap().now = 900;
    let (v, summary, fix) = verdict(&f, "clock");
    assert_eq!(v, Verdict::Fail);
    assert!(summary.contains("100 s behind"), "{summary}");
    assert!(fix.unwrap().contains("timedatectl"));
    f.health.as_mut().unwrap().now = 1_000 + 3_600;
    assert_eq!(verdict(&f, "clock").0, Verdict::Warn);
}

#[test]
fn no_peers_fails() {
    let mut f = healthy();
    if let Ok(n) = &mut f.health.as_mut().unwrap().network {
        n.peers = 0;
    }
    assert_eq!(verdict(&f, "peers").0, Verdict::Fail);
}

#[test]
fn behind_nat_without_a_relay_warns_with_the_ways_out() {
    let mut f = healthy();
    f.config.network.listen_address = "0.0.0.0".parse().unwrap();
    if let Ok(n) = &mut f.health.as_mut().unwrap().network {
        n.nat = "private".into();
    }
    let (v, _, fix) = verdict(&f, "nat");
    assert_eq!(v, Verdict::Warn);
    assert!(fix.unwrap().contains("network.relays"));
    if let Ok(n) = &mut f.health.as_mut().unwrap().network {
        n.relayed = vec!["/ip4/1.2.3.4/tcp/1/p2p/R/p2p-circuit".into()];
    }
    assert_eq!(verdict(&f, "nat").0, Verdict::Ok);
}

#[test]
fn no_model_warns_and_a_model_too_big_for_memory_is_named() {
    let mut f = healthy();
    f.models.clear();
    let (v, _, fix) = verdict(&f, "models");
    assert_eq!(v, Verdict::Warn, "models named by a CID are still fetched");
    assert!(fix.unwrap().contains("oarn model pull"));
    f.models = vec![("small".into(), 1 << 30), ("huge".into(), 40 << 30)];
    let (v, summary, _) = verdict(&f, "models");
    assert_eq!(v, Verdict::Warn);
    assert!(summary.contains("huge") && !summary.contains("small"), "{summary}");
    f.config.compute.max_ram_gb = 1;
    f.models = vec![("two".into(), 2 << 30)];
    assert_eq!(verdict(&f, "models").0, Verdict::Fail, "over compute.max_ram_gb");
}

#[test]
fn a_nearly_full_disk_fails_and_a_filling_one_warns() {
    let mut f = healthy();
    f.disk = Some((512 << 20, 100 << 30));
    let (v, summary, fix) = verdict(&f, "disk");
    assert_eq!(v, Verdict::Fail);
    assert!(summary.contains("nearly full"), "{summary}");
    assert!(fix.unwrap().contains("storage.max_cache_size_gb"));
    f.disk = Some((8 << 30, 100 << 30));
    assert_eq!(verdict(&f, "disk").0, Verdict::Warn);
    f.disk = Some((5 << 30, 32 << 30));
    assert_eq!(verdict(&f, "disk").0, Verdict::Warn, "a small card with 5 GiB free");
    f.disk = Some((40 << 30, 100 << 30));
    assert_eq!(verdict(&f, "disk").0, Verdict::Ok);
}

#[test]
fn a_large_disk_with_gigabytes_free_is_not_called_full() {
    let mut f = healthy();
    // 9.9 GiB free of 252 GiB is 4%: filling up, but models and blocks still fit.
    f.disk = Some(((99 << 30) / 10, 252 << 30));
    let (v, summary, _) = verdict(&f, "disk");
    assert_eq!(v, Verdict::Warn, "{summary}");
    assert!(summary.contains("filling up"), "{summary}");
}

#[test]
fn an_nvidia_gpu_without_nvml_warns() {
    let mut f = healthy();
    f.gpus = vec![crate::hardware::Gpu {
        pci: "0000:01:00.0".into(),
        vendor: "NVIDIA".into(),
        name: "NVIDIA device 0x2330".into(),
        driver: None,
        vram_total_bytes: None,
        vram_free_bytes: None,
        utilization_percent: None,
    }];
    let (v, _, fix) = verdict(&f, "gpu");
    assert_eq!(v, Verdict::Warn);
    assert!(fix.unwrap().contains("libnvidia-ml"));
}

#[test]
fn a_unit_more_exposed_than_the_shipped_one_warns() {
    let mut f = healthy();
    f.unit = Some(Unit {
        path: "/etc/systemd/system/oarn.service".into(),
        exposure: Ok(5.5),
    });
    assert_eq!(verdict(&f, "unit").0, Verdict::Warn);
    f.unit = Some(Unit {
        path: "/etc/systemd/system/oarn.service".into(),
        exposure: Ok(2.0),
    });
    assert_eq!(verdict(&f, "unit").0, Verdict::Ok);
}

#[test]
fn local_mode_fails_the_node_check() {
    let mut f = healthy();
    let mut s = status();
    s.mode = "local".into();
    f.status = Ok(s);
    assert_eq!(verdict(&f, "node").0, Verdict::Fail);
}

#[test]
fn a_kubo_api_that_does_not_answer_fails() {
    let mut f = healthy();
    f.config.storage.ipfs_api = "http://127.0.0.1:5001".into();
    f.kubo = Some(Err("connection refused".into()));
    assert_eq!(verdict(&f, "ipfs").0, Verdict::Fail);
}

#[test]
fn onnx_runtime_unset_or_not_loaded_warns_with_how_to_get_it() {
    let mut f = healthy();
    assert_eq!(verdict(&f, "onnx").0, Verdict::Ok);
    let mut s = status();
    s.workers[0].capabilities = vec!["llama.cpp".into(), "gguf".into()];
    f.status = Ok(s);
    let (v, summary, fix) = verdict(&f, "onnx");
    assert_eq!(v, Verdict::Warn);
    assert!(summary.contains("did not load ONNX Runtime"), "{summary}");
    assert!(fix.unwrap().contains("oarn logs --worker infer"));
    f.config.compute.onnxruntime = std::path::PathBuf::new();
    let (v, summary, fix) = verdict(&f, "onnx");
    assert_eq!(v, Verdict::Warn);
    assert!(summary.contains("ONNX tasks are skipped"), "{summary}");
    assert!(fix.unwrap().contains("scripts/fetch-onnxruntime"));
    // A warning: the node still earns from its other tasks.
    assert!(!blocks_earning(&check(&f)));
}
