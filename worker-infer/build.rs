//! Records the versions of the llama.cpp and ONNX Runtime bindings, candle, tokenizers and
//! minijinja this build links, as
//! Cargo.lock pins them, so a generation's fingerprint names the real ones (the llama.cpp
//! binding's version also pins the llama.cpp tree it vendors).

fn main() {
    let lock = concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.lock");
    println!("cargo:rerun-if-changed={lock}");
    let text = std::fs::read_to_string(lock).unwrap_or_default();
    for (name, var) in [
        ("llama-cpp-2", "OARN_LLAMA_CPP_2_VERSION"),
        ("llama-cpp-sys-2", "OARN_LLAMA_CPP_SYS_2_VERSION"),
        ("ort", "OARN_ORT_VERSION"),
        ("candle-core", "OARN_CANDLE_CORE_VERSION"),
        ("candle-transformers", "OARN_CANDLE_TRANSFORMERS_VERSION"),
        ("tokenizers", "OARN_TOKENIZERS_VERSION"),
        ("minijinja", "OARN_MINIJINJA_VERSION"),
    ] {
        println!("cargo:rustc-env={var}={}", version(&text, name).unwrap_or("unknown"));
    }
}

/// The version Cargo.lock records for package `name`.
fn version<'a>(lock: &'a str, name: &str) -> Option<&'a str> {
    let want = format!("name = \"{name}\"");
    lock.split("[[package]]").find_map(|block| {
        let mut lines = block.lines().map(str::trim);
        lines.find(|l| *l == want)?;
        lines.find_map(|l| l.strip_prefix("version = \"")?.strip_suffix('"'))
    })
}
