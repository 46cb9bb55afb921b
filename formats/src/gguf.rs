//! Reads what the model store needs from a GGUF file's header: architecture, name, context
//! length, quantization, chat template, parameter count, and whether every tensor's data lies
//! inside the file. The file is untrusted: every length is bounded before it is used, nothing
//! is allocated from a length the file claims beyond those bounds, and the strings kept are
//! cleaned of control characters.

use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use oarn_protocol::infer::ModelInfo as Metadata;
use oarn_protocol::text::clean;

const MAGIC: &[u8; 4] = b"GGUF";
/// Longest string read into memory (keys, names, chat templates).
const MAX_STRING: u64 = 1 << 20;
/// Most key/value pairs or tensors a header may declare.
const MAX_ENTRIES: u64 = 1 << 20;
/// Longest architecture or model name kept (they are shown to the operator).
const MAX_NAME: usize = 256;
/// Default alignment of the tensor data section.
const DEFAULT_ALIGNMENT: u64 = 32;

/// Why a file is not a usable GGUF model.
#[derive(Debug, thiserror::Error)]
pub enum GgufError {
    /// Reading the file failed.
    #[error("cannot read the model file: {0}")]
    Io(#[from] io::Error),
    /// The file does not start with the GGUF magic.
    #[error(
        "not a GGUF model file (it does not start with \"GGUF\"); oarn runs GGUF models such as those on Hugging Face"
    )]
    NotGguf,
    /// The header is malformed.
    #[error("corrupt GGUF header: {0}")]
    Corrupt(String),
    /// The file ends before its tensor data does.
    #[error("truncated model file: its tensors need {needed} bytes but it has {actual}; download it again")]
    Truncated { needed: u64, actual: u64 },
}

fn corrupt(what: impl Into<String>) -> GgufError {
    GgufError::Corrupt(what.into())
}

/// Reads and checks the header of the GGUF file at `path`.
pub fn read(path: &Path) -> Result<Metadata, GgufError> {
    let file = std::fs::File::open(path)?;
    let actual = file.metadata()?.len();
    parse(BufReader::new(file), actual)
}

/// Reads and checks the header of a GGUF file of `actual` bytes from `input`.
pub fn parse(input: impl Read + Seek, actual: u64) -> Result<Metadata, GgufError> {
    let mut r = Reader { inner: input };
    let mut magic = [0u8; 4];
    r.inner.read_exact(&mut magic).map_err(|_| GgufError::NotGguf)?;
    if &magic != MAGIC {
        return Err(GgufError::NotGguf);
    }
    let version = r.u32()?;
    if !(2..=3).contains(&version) {
        return Err(corrupt(format!("unsupported GGUF version {version}")));
    }
    let tensors = r.count("tensors")?;
    let kvs = r.count("metadata entries")?;
    let mut m = Metadata {
        gguf_version: version,
        architecture: String::new(),
        name: None,
        context_length: None,
        quantization: None,
        parameters: 0,
        tensors,
        chat_template: false,
        layers: None,
        embedding: None,
        heads: None,
        kv_heads: None,
        ..Metadata::default()
    };
    let mut alignment = DEFAULT_ALIGNMENT;
    let mut sizes = Vec::new();
    for _ in 0..kvs {
        let key = r.string()?;
        let ty = r.u32()?;
        match (key.as_str(), ty) {
            ("general.architecture", 8) => m.architecture = clean(&r.string()?),
            ("general.name", 8) => m.name = Some(clean(&r.string()?)),
            ("general.alignment", 4) => alignment = u64::from(r.u32()?),
            ("general.file_type", 4) => m.quantization = Some(file_type(r.u32()?)),
            ("tokenizer.chat_template", 8) => {
                m.chat_template = true;
                r.skip_value(ty)?;
            }
            (k, 4 | 10)
                if [
                    ".context_length",
                    ".block_count",
                    ".embedding_length",
                    ".attention.head_count",
                    ".attention.head_count_kv",
                ]
                .iter()
                .any(|s| k.ends_with(s)) =>
            {
                let v = if ty == 4 { u64::from(r.u32()?) } else { r.u64()? };
                sizes.push((k.to_string(), v));
            }
            _ => r.skip_value(ty)?,
        }
    }
    if m.architecture.is_empty() {
        return Err(corrupt("no general.architecture"));
    }
    if m.architecture.len() > MAX_NAME || m.name.as_ref().is_some_and(|n| n.len() > MAX_NAME) {
        return Err(corrupt(format!(
            "an architecture or model name longer than {MAX_NAME} bytes"
        )));
    }
    // Keys of the model's own architecture only.
    let of_arch = |suffix: &str| {
        let want = format!("{}.{suffix}", m.architecture);
        sizes.iter().find(|(k, _)| *k == want).map(|&(_, v)| v)
    };
    m.context_length = of_arch("context_length");
    m.layers = of_arch("block_count");
    m.embedding = of_arch("embedding_length");
    m.heads = of_arch("attention.head_count");
    m.kv_heads = of_arch("attention.head_count_kv");
    if alignment == 0 || !alignment.is_power_of_two() {
        return Err(corrupt(format!("alignment {alignment} is not a power of two")));
    }
    let mut data_end = 0u64;
    for _ in 0..tensors {
        let _name = r.string()?;
        let dims = r.u32()?;
        if dims == 0 || dims > 8 {
            return Err(corrupt(format!("a tensor with {dims} dimensions")));
        }
        let mut elements = 1u64;
        for _ in 0..dims {
            elements = elements
                .checked_mul(r.u64()?)
                .ok_or_else(|| corrupt("tensor size overflows"))?;
        }
        let ty = r.u32()?;
        let offset = r.u64()?;
        m.parameters = m.parameters.saturating_add(elements);
        let bytes = tensor_bytes(ty, elements).ok_or_else(|| corrupt(format!("unknown tensor type {ty}")))?;
        data_end = data_end.max(
            offset
                .checked_add(bytes)
                .ok_or_else(|| corrupt("tensor offset overflows"))?,
        );
    }
    let header_end = r.inner.stream_position()?;
    let data_start = header_end.div_ceil(alignment) * alignment;
    let needed = data_start.saturating_add(data_end);
    if needed > actual {
        return Err(GgufError::Truncated { needed, actual });
    }
    Ok(m)
}

struct Reader<R> {
    inner: R,
}

impl<R: Read + Seek> Reader<R> {
    fn bytes<const N: usize>(&mut self) -> Result<[u8; N], GgufError> {
        let mut b = [0u8; N];
        self.inner.read_exact(&mut b).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => corrupt("the header ends early"),
            _ => GgufError::Io(e),
        })?;
        Ok(b)
    }
    fn u32(&mut self) -> Result<u32, GgufError> {
        Ok(u32::from_le_bytes(self.bytes()?))
    }
    fn u64(&mut self) -> Result<u64, GgufError> {
        Ok(u64::from_le_bytes(self.bytes()?))
    }
    fn count(&mut self, what: &str) -> Result<u64, GgufError> {
        let n = self.u64()?;
        if n > MAX_ENTRIES {
            return Err(corrupt(format!("{n} {what} declared")));
        }
        Ok(n)
    }
    fn string(&mut self) -> Result<String, GgufError> {
        let len = self.u64()?;
        if len > MAX_STRING {
            return Err(corrupt(format!("a string of {len} bytes")));
        }
        let mut buf = Vec::new();
        (&mut self.inner).take(len).read_to_end(&mut buf)?;
        if buf.len() as u64 != len {
            return Err(corrupt("the header ends early"));
        }
        String::from_utf8(buf).map_err(|_| corrupt("a string is not UTF-8"))
    }
    fn skip(&mut self, n: u64) -> Result<(), GgufError> {
        self.inner.seek(SeekFrom::Current(
            i64::try_from(n).map_err(|_| corrupt("a value too large to skip"))?,
        ))?;
        Ok(())
    }
    /// Skips one value of type `ty` without keeping it.
    fn skip_value(&mut self, ty: u32) -> Result<(), GgufError> {
        match ty {
            0 | 1 | 7 => self.skip(1),
            2 | 3 => self.skip(2),
            4..=6 => self.skip(4),
            10..=12 => self.skip(8),
            8 => {
                let len = self.u64()?;
                if len > MAX_STRING {
                    return Err(corrupt(format!("a string of {len} bytes")));
                }
                self.skip(len)
            }
            9 => {
                let item = self.u32()?;
                let n = self.count("array items")?;
                match item {
                    8 => (0..n).try_for_each(|_| self.skip_value(8)),
                    9 => Err(corrupt("nested arrays")),
                    _ => {
                        let size = scalar_size(item).ok_or_else(|| corrupt(format!("unknown value type {item}")))?;
                        self.skip(n * size)
                    }
                }
            }
            _ => Err(corrupt(format!("unknown value type {ty}"))),
        }
    }
}

fn scalar_size(ty: u32) -> Option<u64> {
    Some(match ty {
        0 | 1 | 7 => 1,
        2 | 3 => 2,
        4..=6 => 4,
        10..=12 => 8,
        _ => return None,
    })
}

/// Bytes of `elements` values of ggml tensor type `ty`, from its block size and block bytes.
fn tensor_bytes(ty: u32, elements: u64) -> Option<u64> {
    let (block, bytes) = match ty {
        0 => (1, 4),      // F32
        1 => (1, 2),      // F16
        2 => (32, 18),    // Q4_0
        3 => (32, 20),    // Q4_1
        6 => (32, 22),    // Q5_0
        7 => (32, 24),    // Q5_1
        8 => (32, 34),    // Q8_0
        9 => (32, 36),    // Q8_1
        10 => (256, 84),  // Q2_K
        11 => (256, 110), // Q3_K
        12 => (256, 144), // Q4_K
        13 => (256, 176), // Q5_K
        14 => (256, 210), // Q6_K
        15 => (256, 292), // Q8_K
        24 => (1, 1),     // I8
        25 => (1, 2),     // I16
        26 => (1, 4),     // I32
        27 => (1, 8),     // I64
        28 => (1, 8),     // F64
        30 => (1, 2),     // BF16
        _ => return None,
    };
    elements.div_ceil(block).checked_mul(bytes)
}

/// llama.cpp's `general.file_type` values.
fn file_type(v: u32) -> String {
    match v {
        0 => "F32",
        1 => "F16",
        2 => "Q4_0",
        3 => "Q4_1",
        7 => "Q8_0",
        8 => "Q5_0",
        9 => "Q5_1",
        10 => "Q2_K",
        11 => "Q3_K_S",
        12 => "Q3_K_M",
        13 => "Q3_K_L",
        14 => "Q4_K_S",
        15 => "Q4_K_M",
        16 => "Q5_K_S",
        17 => "Q5_K_M",
        18 => "Q6_K",
        32 => "BF16",
        _ => return format!("type {v}"),
    }
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn string(out: &mut Vec<u8>, s: &str) {
        out.extend_from_slice(&(s.len() as u64).to_le_bytes());
        out.extend_from_slice(s.as_bytes());
    }

    /// A small but complete GGUF file: metadata, one F32 tensor of 64 values, its data.
    fn sample() -> Vec<u8> {
        named("llama", None)
    }

    /// [`sample`] with this architecture and, when given, a `general.name`.
    fn named(architecture: &str, name: Option<&str>) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(MAGIC);
        b.extend_from_slice(&3u32.to_le_bytes());
        b.extend_from_slice(&1u64.to_le_bytes()); // tensors
        b.extend_from_slice(&(4u64 + u64::from(name.is_some())).to_le_bytes()); // kvs
        if let Some(n) = name {
            string(&mut b, "general.name");
            b.extend_from_slice(&8u32.to_le_bytes());
            string(&mut b, n);
        }
        string(&mut b, "general.architecture");
        b.extend_from_slice(&8u32.to_le_bytes());
        string(&mut b, architecture);
        string(&mut b, &format!("{architecture}.context_length"));
        b.extend_from_slice(&4u32.to_le_bytes());
        b.extend_from_slice(&2048u32.to_le_bytes());
        string(&mut b, "tokenizer.ggml.tokens");
        b.extend_from_slice(&9u32.to_le_bytes());
        b.extend_from_slice(&8u32.to_le_bytes());
        b.extend_from_slice(&2u64.to_le_bytes());
        string(&mut b, "a");
        string(&mut b, "b");
        string(&mut b, "general.file_type");
        b.extend_from_slice(&4u32.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        string(&mut b, "w");
        b.extend_from_slice(&1u32.to_le_bytes());
        b.extend_from_slice(&64u64.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&0u64.to_le_bytes());
        while b.len() % 32 != 0 {
            b.push(0);
        }
        b.extend_from_slice(&[0u8; 256]);
        b
    }

    fn parse(bytes: &[u8]) -> Result<Metadata, GgufError> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.gguf");
        std::fs::write(&p, bytes).unwrap();
        read(&p)
    }

    #[test]
    fn reads_a_complete_file() {
        let m = parse(&sample()).unwrap();
        assert_eq!(m.architecture, "llama");
        assert_eq!(m.context_length, Some(2048));
        assert_eq!(m.quantization.as_deref(), Some("F32"));
        assert_eq!((m.parameters, m.tensors, m.chat_template), (64, 1, false));
    }

    #[test]
    fn names_from_the_file_reach_nobody_with_escape_sequences_in_them() {
        let m = parse(&named("lla\u{1b}[2Jma", Some("\u{1b}]0;owned\u{7}Evil\nModel"))).unwrap();
        assert_eq!(m.architecture, "lla[2Jma");
        assert_eq!(m.name.as_deref(), Some("]0;ownedEvilModel"));
        let long = "x".repeat(MAX_NAME + 1);
        assert!(matches!(
            parse(&named("llama", Some(&long))),
            Err(GgufError::Corrupt(_))
        ));
    }

    #[test]
    fn truncated_corrupt_and_foreign_files_are_refused() {
        let full = sample();
        assert!(matches!(
            parse(&full[..full.len() - 1]),
            Err(GgufError::Truncated { .. })
        ));
        assert!(matches!(parse(&full[..40]), Err(GgufError::Corrupt(_))));
        assert!(matches!(parse(b"PK\x03\x04 a zip"), Err(GgufError::NotGguf)));
        assert!(matches!(parse(b""), Err(GgufError::NotGguf)));
        let mut huge = full.clone();
        huge[16..24].copy_from_slice(&u64::MAX.to_le_bytes()); // kv count
        assert!(matches!(parse(&huge), Err(GgufError::Corrupt(_))));
        // Every prefix and every single-byte corruption gives an error or metadata, never a panic.
        for cut in 0..full.len() {
            let _ = parse(&full[..cut]);
        }
        for i in 0..200 {
            let mut b = full.clone();
            b[i] ^= 0xa5;
            let _ = parse(&b);
        }
    }
}
