//! A task's blocks as `interop/task-format.md` defines them: the input block
//! (`{"oarn": "inference/v1", …}`), the model block (a `model/v1` manifest, or the model file
//! itself, its format read from its bytes) and `modelRequirements`. Run by the network worker
//! on blocks it fetched; what fails here is a task the node does not claim, with the reason.

use oarn_protocol::task::{ModelBlock, ModelFormat, ModelManifest, Requirements, TaskInput};
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// A block is at most 1 MiB (one Bitswap block).
pub const MAX_BLOCK: usize = 1 << 20;
/// Longest prompt, bytes.
pub const MAX_PROMPT: usize = 64 << 10;
/// `max_tokens` range and default.
pub const MAX_TOKENS: std::ops::RangeInclusive<u32> = 1..=8192;
pub const DEFAULT_MAX_TOKENS: u32 = 256;
/// Most stop strings, and the longest one, bytes.
pub const MAX_STOPS: usize = 8;
pub const MAX_STOP_LEN: usize = 64;
/// Highest temperature accepted (the format names no bound; samplers treat more as noise).
pub const MAX_TEMPERATURE: f64 = 2.0;
/// Longest `modelRequirements` label shown.
const MAX_LABEL: usize = 256;

/// Why a task's block was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    /// Larger than one block.
    #[error("the block is {0} bytes; a task's block is at most 1 MiB")]
    TooLarge(usize),
    /// Not the JSON the format defines.
    #[error("the input block is not valid: {0}")]
    Json(String),
    /// `oarn` names a kind this node does not run.
    #[error("the input block is of kind {0:?}; this node runs inference/v1")]
    Kind(String),
    /// A value outside its range.
    #[error("the input block's {field} {problem}")]
    Range { field: &'static str, problem: String },
    /// A manifest that is not valid.
    #[error("the model manifest is not valid: {0}")]
    Manifest(String),
    /// The model block is neither a manifest nor a model file of a known format.
    #[error("the model block is neither a model/v1 manifest nor a model file of a known format")]
    UnknownModel,
}

/// Outside text for a message: one line, no control characters, at most `max` bytes.
fn short(text: &str, max: usize) -> String {
    let mut t = oarn_protocol::text::clean(text);
    if t.len() > max {
        let mut end = max;
        while !t.is_char_boundary(end) {
            end -= 1;
        }
        t.truncate(end);
        t.push('…');
    }
    t
}

fn range(field: &'static str, problem: impl Into<String>) -> Invalid {
    Invalid::Range {
        field,
        problem: problem.into(),
    }
}

#[derive(Deserialize)]
struct InputWire {
    oarn: String,
    prompt: String,
    system: Option<String>,
    chat: Option<bool>,
    max_tokens: Option<u32>,
    temperature: Option<f64>,
    seed: Option<u32>,
    top_k: Option<u32>,
    top_p: Option<f64>,
    stop: Option<Vec<String>>,
}

/// Parses and checks an input block.
pub fn parse_input(block: &[u8]) -> Result<TaskInput, Invalid> {
    if block.len() > MAX_BLOCK {
        return Err(Invalid::TooLarge(block.len()));
    }
    let w: InputWire = serde_json::from_slice(block).map_err(|e| Invalid::Json(e.to_string()))?;
    if w.oarn != "inference/v1" {
        return Err(Invalid::Kind(short(&w.oarn, 64)));
    }
    if w.prompt.len() > MAX_PROMPT {
        return Err(range("prompt", format!("is {} bytes; at most 64 KiB", w.prompt.len())));
    }
    let max_tokens = w.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS);
    if !MAX_TOKENS.contains(&max_tokens) {
        return Err(range("max_tokens", format!("{max_tokens} is outside 1..=8192")));
    }
    let temperature = w.temperature.unwrap_or(0.0);
    if !(0.0..=MAX_TEMPERATURE).contains(&temperature) {
        return Err(range("temperature", format!("{temperature} is outside 0..=2")));
    }
    let top_p = w.top_p.unwrap_or(1.0);
    if !(top_p > 0.0 && top_p <= 1.0) {
        return Err(range("top_p", format!("{top_p} is outside (0, 1]")));
    }
    let stop = w.stop.unwrap_or_default();
    if stop.len() > MAX_STOPS {
        return Err(range("stop", format!("has {} strings; at most 8", stop.len())));
    }
    if let Some(s) = stop.iter().find(|s| s.is_empty() || s.len() > MAX_STOP_LEN) {
        return Err(range("stop", format!("string of {} bytes is not 1..=64", s.len())));
    }
    Ok(TaskInput {
        prompt: w.prompt,
        system: w.system,
        chat: w.chat.unwrap_or(true),
        max_tokens,
        temperature_milli: (temperature * 1000.0).round() as u32,
        seed: w.seed.unwrap_or(0),
        top_k: w.top_k.unwrap_or(0),
        top_p_milli: (top_p * 1000.0).round() as u32,
        stop,
    })
}

#[derive(Deserialize)]
struct ManifestWire {
    oarn: String,
    #[serde(default)]
    name: String,
    format: String,
    sha256: String,
    size: u64,
    cid: Option<String>,
    license: Option<String>,
}

/// Parses a model block: a `model/v1` manifest, or else the model file itself.
pub fn parse_model_block(block: &[u8]) -> Result<ModelBlock, Invalid> {
    if block.len() > MAX_BLOCK {
        return Err(Invalid::TooLarge(block.len()));
    }
    let looks_json = block
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'{');
    if looks_json
        && let Ok(w) = serde_json::from_slice::<ManifestWire>(block)
        && w.oarn == "model/v1"
    {
        return manifest(w).map(ModelBlock::Manifest);
    }
    if looks_json && serde_json::from_slice::<serde_json::Value>(block).is_ok() {
        // JSON that names itself a manifest but is not a valid one is refused with why.
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(block)
            && v.get("oarn").and_then(|o| o.as_str()) == Some("model/v1")
        {
            let e = serde_json::from_slice::<ManifestWire>(block).err();
            let why = e.map(|e| e.to_string()).unwrap_or_default();
            return Err(Invalid::Manifest(why));
        }
    }
    let format = sniff(block).ok_or(Invalid::UnknownModel)?;
    Ok(ModelBlock::Model {
        format,
        size: block.len() as u64,
        sha256: Sha256::digest(block).into(),
    })
}

fn manifest(w: ManifestWire) -> Result<ModelManifest, Invalid> {
    let bad = |s: String| Invalid::Manifest(s);
    let format = ModelFormat::from_name(&w.format).ok_or_else(|| {
        bad(format!(
            "format {:?} is not gguf, onnx, safetensors or pytorch",
            short(&w.format, 32)
        ))
    })?;
    let mut sha256 = [0u8; 32];
    hex::decode_to_slice(w.sha256.trim_start_matches("0x"), &mut sha256)
        .map_err(|_| bad("sha256 is not 64 hex digits".into()))?;
    if w.size == 0 {
        return Err(bad("size is 0".into()));
    }
    if w.name.len() > 256 {
        return Err(bad("name is longer than 256 bytes".into()));
    }
    Ok(ModelManifest {
        name: w.name,
        format,
        sha256,
        size: w.size,
        cid: w.cid,
        license: w.license,
    })
}

/// A model file's format from its first bytes.
pub fn sniff(b: &[u8]) -> Option<ModelFormat> {
    if b.starts_with(b"GGUF") {
        return Some(ModelFormat::Gguf);
    }
    if b.starts_with(b"PK\x03\x04") || (b.len() > 1 && b[0] == 0x80 && (2..=5).contains(&b[1])) {
        return Some(ModelFormat::Pytorch);
    }
    if b.len() > 9 {
        let header = u64::from_le_bytes(b[..8].try_into().ok()?);
        if header > 1 && header < (100 << 20) && b[8] == b'{' {
            return Some(ModelFormat::Safetensors);
        }
    }
    // ONNX is a protobuf ModelProto: field 1 (ir_version, varint) comes first.
    if b.len() > 2 && b[0] == 0x08 && b[1] < 0x80 {
        return Some(ModelFormat::Onnx);
    }
    None
}

#[derive(Deserialize)]
struct RequirementsWire {
    framework: Option<serde_json::Value>,
    min_ram: Option<serde_json::Value>,
    min_vram: Option<serde_json::Value>,
    gpu_required: Option<serde_json::Value>,
    context: Option<serde_json::Value>,
}

/// Reads `modelRequirements`: a JSON object's honoured keys (values of the wrong type are
/// ignored, as unknown keys are), or a label that imposes nothing.
pub fn parse_requirements(s: &str) -> Requirements {
    let Ok(w) = serde_json::from_str::<RequirementsWire>(s) else {
        let t = s.trim();
        return Requirements {
            label: (!t.is_empty()).then(|| short(t, MAX_LABEL)),
            ..Requirements::default()
        };
    };
    Requirements {
        framework: w.framework.and_then(|v| v.as_str().and_then(ModelFormat::from_name)),
        min_ram_mib: w.min_ram.as_ref().and_then(mib),
        min_vram_mib: w.min_vram.as_ref().and_then(mib),
        gpu_required: w.gpu_required.and_then(|v| v.as_bool()).unwrap_or(false),
        context: w.context.and_then(|v| v.as_u64()).and_then(|c| u32::try_from(c).ok()),
        label: None,
    }
}

/// A number of MiB, or a string such as `"8GB"`, `"4096MB"`, `"2GiB"` (GB read as GiB).
fn mib(v: &serde_json::Value) -> Option<u64> {
    if let Some(n) = v.as_u64() {
        return Some(n);
    }
    let s = v.as_str()?.trim().to_ascii_lowercase();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    let factor = match unit.trim() {
        "" | "m" | "mb" | "mib" => 1,
        "g" | "gb" | "gib" => 1024,
        "t" | "tb" | "tib" => 1024 * 1024,
        _ => return None,
    };
    n.checked_mul(factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_format_files_example_input_reads_with_every_field() {
        let block = br#"{"oarn": "inference/v1", "prompt": "Name three prime numbers.",
            "system": "You are terse.", "chat": true, "max_tokens": 64, "temperature": 0,
            "seed": 0, "top_k": 0, "top_p": 1, "stop": ["\n\n"]}"#;
        let i = parse_input(block).unwrap();
        assert_eq!(i.prompt, "Name three prime numbers.");
        assert_eq!(i.system.as_deref(), Some("You are terse."));
        assert!(i.chat);
        assert_eq!(i.max_tokens, 64);
        assert_eq!((i.temperature_milli, i.top_p_milli, i.top_k), (0, 1000, 0));
        assert_eq!(i.stop, ["\n\n"]);
    }

    #[test]
    fn missing_optional_fields_take_the_formats_defaults_and_unknown_keys_are_ignored() {
        let i = parse_input(br#"{"oarn":"inference/v1","prompt":"hi","extra":[1]}"#).unwrap();
        assert_eq!(i.max_tokens, 256);
        assert!(i.chat && i.system.is_none() && i.stop.is_empty());
        assert_eq!((i.temperature_milli, i.seed, i.top_p_milli), (0, 0, 1000));
    }

    #[test]
    fn inputs_out_of_range_are_refused_with_the_field() {
        let cases = [
            (r#"{"oarn":"inference/v2","prompt":"x"}"#, "kind \"inference/v2\""),
            (r#"{"prompt":"x"}"#, "missing field `oarn`"),
            (r#"{"oarn":"inference/v1"}"#, "missing field `prompt`"),
            (r#"{"oarn":"inference/v1","prompt":5}"#, "invalid type"),
            (r#"{"oarn":"inference/v1","prompt":"x","max_tokens":0}"#, "max_tokens 0"),
            (
                r#"{"oarn":"inference/v1","prompt":"x","max_tokens":8193}"#,
                "max_tokens 8193",
            ),
            (
                r#"{"oarn":"inference/v1","prompt":"x","max_tokens":1.5}"#,
                "invalid type",
            ),
            (
                r#"{"oarn":"inference/v1","prompt":"x","temperature":-1}"#,
                "temperature",
            ),
            (r#"{"oarn":"inference/v1","prompt":"x","top_p":0}"#, "top_p"),
            (
                r#"{"oarn":"inference/v1","prompt":"x","stop":[""]}"#,
                "stop string of 0",
            ),
            (
                r#"{"oarn":"inference/v1","prompt":"x","stop":["a","b","c","d","e","f","g","h","i"]}"#,
                "9 strings",
            ),
            ("not json", "not valid"),
        ];
        for (block, want) in cases {
            let err = parse_input(block.as_bytes()).unwrap_err().to_string();
            assert!(err.contains(want), "{block}: {err} (wanted {want:?})");
        }
        let long = format!(r#"{{"oarn":"inference/v1","prompt":"{}"}}"#, "a".repeat(MAX_PROMPT + 1));
        assert!(parse_input(long.as_bytes()).unwrap_err().to_string().contains("64 KiB"));
        let huge = vec![b' '; MAX_BLOCK + 1];
        assert_eq!(parse_input(&huge), Err(Invalid::TooLarge(MAX_BLOCK + 1)));
    }

    #[test]
    fn a_manifest_reads_and_the_model_itself_is_recognised_by_its_bytes() {
        let m = format!(
            r#"{{"oarn":"model/v1","name":"smollm2-135m-instruct","format":"GGUF","sha256":"{}","size":98362432,"cid":"bafybei","license":"apache-2.0"}}"#,
            "ab".repeat(32)
        );
        let ModelBlock::Manifest(m) = parse_model_block(m.as_bytes()).unwrap() else {
            panic!("not a manifest")
        };
        assert_eq!((m.format, m.size, m.sha256), (ModelFormat::Gguf, 98362432, [0xab; 32]));
        assert_eq!(m.cid.as_deref(), Some("bafybei"));
        let onnx = [0x08u8, 0x07, 0x12, 0x04, b'o', b'a', b'r', b'n'];
        let ModelBlock::Model { format, size, .. } = parse_model_block(&onnx).unwrap() else {
            panic!("not a model")
        };
        assert_eq!((format, size), (ModelFormat::Onnx, 8));
        assert!(matches!(
            parse_model_block(b"GGUF\x03\0\0\0"),
            Ok(ModelBlock::Model {
                format: ModelFormat::Gguf,
                ..
            })
        ));
    }

    #[test]
    fn a_broken_manifest_is_refused_with_why() {
        let no_sha = r#"{"oarn":"model/v1","format":"gguf","size":5}"#;
        assert!(matches!(
            parse_model_block(no_sha.as_bytes()),
            Err(Invalid::Manifest(_))
        ));
        let bad_format = format!(
            r#"{{"oarn":"model/v1","format":"tflite","sha256":"{}","size":5}}"#,
            "00".repeat(32)
        );
        let err = parse_model_block(bad_format.as_bytes()).unwrap_err().to_string();
        assert!(err.contains("tflite"), "{err}");
        assert_eq!(parse_model_block(b"{\"x\":1}"), Err(Invalid::UnknownModel));
        assert_eq!(parse_model_block(b"hello"), Err(Invalid::UnknownModel));
    }

    #[test]
    fn requirements_honour_their_keys_and_anything_else_is_a_label() {
        let r = parse_requirements(
            r#"{"framework":"ONNX","min_ram":"8GB","min_vram":4096,"gpu_required":true,"context":2048,"batch":1}"#,
        );
        assert_eq!(r.framework, Some(ModelFormat::Onnx));
        assert_eq!((r.min_ram_mib, r.min_vram_mib), (Some(8192), Some(4096)));
        assert!(r.gpu_required);
        assert_eq!(r.context, Some(2048));
        assert_eq!(parse_requirements(r#"{"min_ram":"4096MB"}"#).min_ram_mib, Some(4096));
        assert_eq!(parse_requirements(r#"{"min_ram":"lots"}"#).min_ram_mib, None);
        let label = parse_requirements("onnx>=1.14");
        assert_eq!(label.label.as_deref(), Some("onnx>=1.14"));
        assert!(!label.gpu_required);
        assert_eq!(parse_requirements("   "), Requirements::default());
        assert!(!parse_requirements("\u{1b}[31mred").label.unwrap().contains('\u{1b}'));
    }
}
