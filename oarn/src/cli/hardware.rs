//! `oarn hardware`: the CPU, memory and GPUs inference can use.

use super::Exit;

fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / f64::from(1u32 << 30))
}

pub fn run(json: bool) -> anyhow::Result<Exit> {
    let hw = oarn_node::hardware::detect();
    if json {
        println!("{}", serde_json::to_string_pretty(&hw)?);
        return Ok(Exit::Success);
    }
    println!("cpu      {} ({}, {} cores)", hw.cpu.model, hw.cpu.arch, hw.cpu.cores);
    println!("features {}", hw.cpu.features.join(" "));
    println!(
        "memory   {} total, {} available",
        gib(hw.memory.total_bytes),
        gib(hw.memory.available_bytes)
    );
    if hw.gpus.is_empty() {
        println!("gpus     none");
    }
    for g in &hw.gpus {
        let vram = match (g.vram_total_bytes, g.vram_free_bytes) {
            (Some(t), Some(f)) => format!("{} VRAM, {} free", gib(t), gib(f)),
            (Some(t), None) => format!("{} VRAM", gib(t)),
            _ => "VRAM unknown".into(),
        };
        let busy = g
            .utilization_percent
            .map(|u| format!(", {u}% busy"))
            .unwrap_or_default();
        let driver = g.driver.as_deref().unwrap_or("no driver");
        println!("gpu      {} {} ({driver}): {vram}{busy}", g.pci, g.name);
    }
    if let Some(why) = &hw.nvml {
        println!("nvml     {why}");
    }
    match &hw.ollama {
        Some(p) => println!("ollama   {} (route inference to it with ollama.enabled)", p.display()),
        None => println!("ollama   not installed"),
    }
    Ok(Exit::Success)
}
