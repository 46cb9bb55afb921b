//! `oarn hardware` reports this machine as the kernel sees it: cores, memory, GPUs (none on
//! the CI machine, which has no GPU and no NVML library, and says so).

use oarn_tests::Node;

#[test]
fn reports_cores_memory_and_gpus() {
    let node = Node::new();
    let hw = node.json(&["hardware", "--json"]);
    let cores = std::thread::available_parallelism().unwrap().get();
    assert_eq!(hw["cpu"]["cores"], cores);
    assert_eq!(hw["cpu"]["arch"], std::env::consts::ARCH);
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
    let total_kib: u64 = meminfo
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(hw["memory"]["total_bytes"], total_kib * 1024);
    let available = hw["memory"]["available_bytes"].as_u64().unwrap();
    assert!(available > 0 && available <= total_kib * 1024);
    let gpus = hw["gpus"].as_array().unwrap();
    let display_controllers = std::fs::read_dir("/sys/bus/pci/devices")
        .unwrap()
        .flatten()
        .filter(|d| std::fs::read_to_string(d.path().join("class")).is_ok_and(|c| c.starts_with("0x03")))
        .count();
    assert!(gpus.len() >= display_controllers, "{hw}");
    let nvml_installed = [
        "/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1",
        "/usr/lib64/libnvidia-ml.so.1",
    ]
    .iter()
    .any(|p| std::path::Path::new(p).exists());
    if !nvml_installed {
        assert!(hw["nvml"].as_str().unwrap().contains("NVML unavailable"), "{hw}");
    }
    let text = node.oarn(&["hardware"]);
    assert!(String::from_utf8_lossy(&text.stdout).contains(&format!("{cores} cores")));
}

/// An `ollama` binary on PATH is reported (this one is a stand-in script: Ollama cannot be
/// installed on the test machine).
#[test]
fn finds_ollama_on_the_path() {
    use std::os::unix::fs::PermissionsExt;
    let bin = tempfile::tempdir().unwrap();
    let ollama = bin.path().join("ollama");
    std::fs::write(&ollama, "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(&ollama, std::fs::Permissions::from_mode(0o755)).unwrap();
    let node = Node::new().with_env("PATH", &format!("{}:/usr/bin:/bin", bin.path().display()));
    let hw = node.json(&["hardware", "--json"]);
    assert_eq!(hw["ollama"], ollama.to_str().unwrap());
    let none = Node::new().with_env("PATH", "/nonexistent");
    assert!(none.json(&["hardware", "--json"])["ollama"].is_null());
}
