//! `oarn doctor` as an operator runs it: against a healthy worker node on the devnet (real
//! anvil, a real peer, the real model installed) it finds nothing that keeps the node from
//! earning and exits 0; against broken set-ups it names each problem and its fix and exits
//! 30: a node without a wallet, a node whose RPC endpoint went down (anvil killed under it),
//! and a node home on a nearly full filesystem (a 64 MiB tmpfs, root only).

use std::process::Command;
use std::time::Duration;

use oarn_tests::fleet;
use oarn_tests::{Node, wait_for};
use serde_json::Value;

/// `oarn doctor --json` on `node`: its exit status and report.
fn doctor(node: &Node) -> (i32, Value) {
    let out = node.oarn(&["doctor", "--json"]);
    let v: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("no JSON ({e}): {}", fleet::text(&out)));
    (out.status.code().unwrap_or(-1), v)
}

/// The check named `name` in a report.
fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no {name} check: {report}"))
}

#[test]
fn a_healthy_devnet_worker_passes_and_a_dead_rpc_endpoint_is_named_with_its_fix() {
    let (rt, devnet) = fleet::devnet();
    let (mut requester, _) = fleet::requester(&rt, &devnet);
    let (mut worker, account, _) = fleet::worker(&rt, &devnet, &[]);
    let model = oarn_tests::test_model();
    fleet::json(&worker.oarn(&[
        "model",
        "import",
        model.to_str().unwrap(),
        "--name",
        "smollm2",
        "--json",
    ]));
    let peer = wait_for(Duration::from_secs(60), || {
        let s = worker.json(&["status", "--json"]);
        (s["network"]["peers"].as_u64() > Some(0)).then_some(())
    });
    assert!(peer.is_some(), "the worker found no peer: {}", worker.log());

    let (code, report) = doctor(&worker);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["earning"], true);
    for name in ["node", "chain", "wallet", "peers", "ipfs", "models", "gpu"] {
        assert_eq!(check(&report, name)["verdict"], "ok", "{name}: {report:#}");
    }
    // The disk is this machine's: it may be filling up (a warning) but not blocking.
    assert_ne!(check(&report, "disk")["verdict"], "fail", "{report:#}");
    let wallet = check(&report, "wallet")["summary"].as_str().unwrap().to_lowercase();
    assert!(wallet.contains(&account.to_string().to_lowercase()), "{wallet}");
    // Human-readable too.
    let text = fleet::text(&worker.oarn(&["doctor"]));
    assert!(text.starts_with("oarn doctor: "), "{text}");

    // The chain's endpoint goes away under the running node.
    drop(devnet);
    let dead = wait_for(Duration::from_secs(60), || {
        let (code, report) = doctor(&worker);
        (check(&report, "chain")["verdict"] == "fail").then_some((code, report))
    });
    let (code, report) = dead.expect("the chain check fails once anvil is gone");
    assert_eq!(code, 30, "{report:#}");
    assert_eq!(report["earning"], false);
    let chain = check(&report, "chain");
    assert!(chain["summary"].as_str().unwrap().contains("cannot be read"), "{chain}");
    assert!(
        chain["fix"].as_str().unwrap().contains("oarn chain discover"),
        "{chain}"
    );
    worker.stop();
    requester.stop();
}

#[test]
fn a_node_without_a_wallet_is_told_to_create_one() {
    let (_rt, devnet) = fleet::devnet();
    let mut node = fleet::node_on(&devnet);
    node.start();
    let (code, report) = doctor(&node);
    assert_eq!(code, 30, "{report:#}");
    let wallet = check(&report, "wallet");
    assert_eq!(wallet["verdict"], "fail", "{wallet}");
    assert!(wallet["summary"].as_str().unwrap().contains("no wallet"), "{wallet}");
    assert!(
        wallet["fix"].as_str().unwrap().contains("oarn wallet create"),
        "{wallet}"
    );
    // The rest is still checked.
    assert_eq!(check(&report, "node")["verdict"], "ok", "{report:#}");
    assert_eq!(check(&report, "chain")["verdict"], "ok", "{report:#}");
    node.stop();
}

/// A tmpfs mounted at a path for as long as it lives.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(at: &std::path::Path, size: &str) -> Self {
        std::fs::create_dir_all(at).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0700"), "tmpfs"])
            .arg(at)
            .status()
            .unwrap();
        assert!(ok.success(), "mount tmpfs at {}", at.display());
        Tmpfs(at.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn a_node_home_on_a_nearly_full_disk_is_named_with_its_fix() {
    if !oarn_tests::root("the nearly-full-disk test (it mounts a tmpfs)") {
        return;
    }
    let node = Node::uninitialized();
    let _tmpfs = Tmpfs::mount(&node.home(), "64m");
    let init = node.oarn(&["init"]);
    assert!(init.status.success(), "{}", fleet::text(&init));
    // Fill it to 62 of 64 MiB.
    std::fs::write(node.home().join("filler"), vec![0u8; 62 << 20]).unwrap();
    let (code, report) = doctor(&node);
    assert_eq!(code, 30, "{report:#}");
    let disk = check(&report, "disk");
    assert_eq!(disk["verdict"], "fail", "{disk}");
    assert!(disk["summary"].as_str().unwrap().contains("nearly full"), "{disk}");
    assert!(
        disk["fix"].as_str().unwrap().contains("storage.max_cache_size_gb"),
        "{disk}"
    );
    // It says the node is not running, and how to start it.
    let n = check(&report, "node");
    assert_eq!(n["summary"], "not running");
    assert!(n["fix"].as_str().unwrap().contains("oarn start"), "{n}");
}
