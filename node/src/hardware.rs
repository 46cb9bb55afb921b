//! What this machine offers for inference: CPU (model, cores, vector instruction sets), memory,
//! and GPUs. GPUs are listed from the PCI devices in sysfs (display controllers: vendor,
//! driver, and VRAM where the driver reports it), and NVIDIA ones are completed through NVML
//! when its library is installed (name, VRAM total and free, utilization). Nothing here loads
//! a graphics driver. An installed Ollama is reported too (its binary on PATH; whether its
//! server answers is the infer worker's to find out, in `oarn status`).

use std::path::Path;

use serde::Serialize;

/// The machine.
#[derive(Debug, Clone, Serialize)]
pub struct Hardware {
    pub cpu: Cpu,
    pub memory: Memory,
    pub gpus: Vec<Gpu>,
    /// Why NVML gave nothing, when it did not (not installed, no driver).
    pub nvml: Option<String>,
    /// The `ollama` binary on PATH, if one is installed.
    pub ollama: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Cpu {
    pub model: String,
    pub arch: &'static str,
    /// Cores this process may run on.
    pub cores: usize,
    /// Vector instruction sets llama.cpp uses, as this CPU reports them.
    pub features: Vec<&'static str>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Memory {
    pub total_bytes: u64,
    pub available_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Gpu {
    /// PCI address, such as `0000:01:00.0`.
    pub pci: String,
    pub vendor: String,
    pub name: String,
    /// Kernel driver bound to it, if any.
    pub driver: Option<String>,
    pub vram_total_bytes: Option<u64>,
    pub vram_free_bytes: Option<u64>,
    /// GPU busy, in percent, when the driver reports it.
    pub utilization_percent: Option<u32>,
}

/// Detects everything, reading sysfs and procfs under `/`.
pub fn detect() -> Hardware {
    let (gpus, nvml) = gpus();
    Hardware {
        cpu: cpu(),
        memory: memory(&std::fs::read_to_string("/proc/meminfo").unwrap_or_default()),
        gpus,
        nvml,
        ollama: oarn_supervise::ollama::find(Path::new("ollama")),
    }
}

fn cpu() -> Cpu {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = info
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .and_then(|r| r.split_once(':'))
                .map(|(_, v)| v.trim())
        })
        .unwrap_or("unknown")
        .to_string();
    let mut features = Vec::new();
    #[cfg(target_arch = "x86_64")]
    for (name, on) in [
        ("sse3", std::arch::is_x86_feature_detected!("sse3")),
        ("avx", std::arch::is_x86_feature_detected!("avx")),
        ("avx2", std::arch::is_x86_feature_detected!("avx2")),
        ("fma", std::arch::is_x86_feature_detected!("fma")),
        ("f16c", std::arch::is_x86_feature_detected!("f16c")),
        ("avx512f", std::arch::is_x86_feature_detected!("avx512f")),
        ("avx512vnni", std::arch::is_x86_feature_detected!("avx512vnni")),
        ("avx512bf16", std::arch::is_x86_feature_detected!("avx512bf16")),
    ] {
        if on {
            features.push(name);
        }
    }
    #[cfg(target_arch = "aarch64")]
    for (name, on) in [
        ("neon", std::arch::is_aarch64_feature_detected!("neon")),
        ("dotprod", std::arch::is_aarch64_feature_detected!("dotprod")),
        ("sve", std::arch::is_aarch64_feature_detected!("sve")),
    ] {
        if on {
            features.push(name);
        }
    }
    Cpu {
        model,
        arch: std::env::consts::ARCH,
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        features,
    }
}

/// Total and available memory from `/proc/meminfo` text.
pub fn memory(meminfo: &str) -> Memory {
    let kib = |key: &str| {
        meminfo
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .map_or(0, |k| k * 1024)
    };
    Memory {
        total_bytes: kib("MemTotal:"),
        available_bytes: kib("MemAvailable:"),
    }
}

fn vendor_name(id: &str) -> String {
    match id {
        "0x10de" => "NVIDIA".into(),
        "0x1002" => "AMD".into(),
        "0x8086" => "Intel".into(),
        "0x13b5" => "ARM".into(),
        other => other.to_string(),
    }
}

/// Display controllers (PCI class 0x03) under `devices` (`/sys/bus/pci/devices`).
pub fn pci_gpus(devices: &Path) -> Vec<Gpu> {
    let read = |p: &Path| std::fs::read_to_string(p).ok().map(|s| s.trim().to_string());
    let mut out: Vec<Gpu> = std::fs::read_dir(devices)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let dir = e.path();
            let class = read(&dir.join("class"))?;
            if !class.starts_with("0x03") {
                return None;
            }
            let vendor = read(&dir.join("vendor")).unwrap_or_default();
            let device = read(&dir.join("device")).unwrap_or_default();
            let driver = std::fs::read_link(dir.join("driver"))
                .ok()
                .and_then(|l| l.file_name().map(|n| n.to_string_lossy().into_owned()));
            let number = |name: &str| read(&dir.join(name)).and_then(|v| v.parse::<u64>().ok());
            let total = number("mem_info_vram_total");
            Some(Gpu {
                pci: e.file_name().to_string_lossy().into_owned(),
                name: format!("{} device {device}", vendor_name(&vendor)),
                vendor: vendor_name(&vendor),
                driver,
                vram_total_bytes: total,
                vram_free_bytes: total
                    .zip(number("mem_info_vram_used"))
                    .map(|(t, u)| t.saturating_sub(u)),
                utilization_percent: number("gpu_busy_percent").map(|v| v as u32),
            })
        })
        .collect();
    out.sort_by(|a, b| a.pci.cmp(&b.pci));
    out
}

/// The GPUs now (sysfs, completed by NVML), and why NVML gave nothing when it did not.
pub fn gpus() -> (Vec<Gpu>, Option<String>) {
    let mut gpus = pci_gpus(Path::new("/sys/bus/pci/devices"));
    let nvml = nvml(&mut gpus).err();
    (gpus, nvml)
}

/// The GPUs' utilization and memory now, for metrics: [`gpus`] without the reason.
pub fn gpu_usage() -> Vec<Gpu> {
    gpus().0
}

/// NVML, initialised once per process (loading the library and the driver's state is too slow
/// to repeat at every scrape); the error, when it cannot be, is kept too.
fn nvml_handle() -> Result<&'static nvml_wrapper::Nvml, String> {
    static NVML: std::sync::OnceLock<Result<nvml_wrapper::Nvml, String>> = std::sync::OnceLock::new();
    NVML.get_or_init(|| nvml_wrapper::Nvml::init().map_err(|e| format!("NVML unavailable: {e}")))
        .as_ref()
        .map_err(Clone::clone)
}

/// Completes NVIDIA GPUs from NVML (adding any sysfs did not show); an error says why NVML
/// gave nothing.
fn nvml(gpus: &mut Vec<Gpu>) -> Result<(), String> {
    let nvml = nvml_handle()?;
    let count = nvml.device_count().map_err(|e| e.to_string())?;
    for i in 0..count {
        let Ok(device) = nvml.device_by_index(i) else { continue };
        let pci = device
            .pci_info()
            .map(|p| p.bus_id.to_lowercase())
            .unwrap_or_else(|_| format!("nvml:{i}"));
        let memory = device.memory_info().ok();
        let found = gpus.iter().position(|g| pci.ends_with(&g.pci) || g.pci.ends_with(&pci));
        let gpu = match found {
            Some(at) => &mut gpus[at],
            None => {
                gpus.push(Gpu {
                    pci: pci.clone(),
                    vendor: "NVIDIA".into(),
                    name: String::new(),
                    driver: Some("nvidia".into()),
                    vram_total_bytes: None,
                    vram_free_bytes: None,
                    utilization_percent: None,
                });
                gpus.last_mut().expect("pushed")
            }
        };
        if let Ok(name) = device.name() {
            gpu.name = name;
        }
        gpu.vram_total_bytes = memory.as_ref().map(|m| m.total).or(gpu.vram_total_bytes);
        gpu.vram_free_bytes = memory.as_ref().map(|m| m.free).or(gpu.vram_free_bytes);
        gpu.utilization_percent = device
            .utilization_rates()
            .ok()
            .map(|u| u.gpu)
            .or(gpu.utilization_percent);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(root: &Path, addr: &str, class: &str, vendor: &str, extra: &[(&str, &str)]) {
        let d = root.join(addr);
        std::fs::create_dir_all(&d).unwrap();
        for (f, v) in [("class", class), ("vendor", vendor), ("device", "0x1234")]
            .iter()
            .chain(extra)
        {
            std::fs::write(d.join(f), format!("{v}\n")).unwrap();
        }
    }

    #[test]
    fn display_controllers_are_gpus_with_what_their_driver_reports() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        device(root, "0000:00:02.0", "0x020000", "0x1af4", &[]);
        device(
            root,
            "0000:03:00.0",
            "0x030000",
            "0x1002",
            &[
                ("mem_info_vram_total", "17163091968"),
                ("mem_info_vram_used", "1163091968"),
                ("gpu_busy_percent", "7"),
            ],
        );
        device(root, "0000:01:00.0", "0x030200", "0x10de", &[]);
        std::fs::create_dir_all(root.join("drivers/amdgpu")).unwrap();
        std::os::unix::fs::symlink(root.join("drivers/amdgpu"), root.join("0000:03:00.0/driver")).unwrap();
        let gpus = pci_gpus(root);
        assert_eq!(gpus.len(), 2, "{gpus:?}");
        assert_eq!(gpus[0].pci, "0000:01:00.0");
        assert_eq!(gpus[0].vendor, "NVIDIA");
        assert_eq!(gpus[0].vram_total_bytes, None);
        let amd = &gpus[1];
        assert_eq!(amd.vendor, "AMD");
        assert_eq!(amd.driver.as_deref(), Some("amdgpu"));
        assert_eq!(amd.vram_total_bytes, Some(17_163_091_968));
        assert_eq!(amd.vram_free_bytes, Some(16_000_000_000));
        assert_eq!(amd.utilization_percent, Some(7));
        assert!(pci_gpus(&root.join("missing")).is_empty());
    }

    #[test]
    fn memory_from_meminfo() {
        let m = memory("MemTotal:       24000000 kB\nMemFree: 1 kB\nMemAvailable:   12000000 kB\n");
        assert_eq!(m.total_bytes, 24_000_000 * 1024);
        assert_eq!(m.available_bytes, 12_000_000 * 1024);
        assert_eq!(memory("").total_bytes, 0);
    }
}
