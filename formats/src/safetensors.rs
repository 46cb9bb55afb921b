//! A Safetensors checkpoint's header, read and checked without loading its tensors (run by
//! the inference worker): the header's length is checked against the file before anything is
//! allocated, and the header is parsed by Hugging Face's `safetensors` crate, which checks
//! that the tensors' offsets tile their data, each tensor's size matching its dtype and shape.
//!
//! Whether the data is all there needs the file's size: the crate checks it only over the
//! whole file in memory (`read_metadata`), and a checkpoint of many GiB would need a mapping
//! that large in a worker whose address space is limited to its memory budget. So that one
//! check is made here, with the header and the file's size.

use std::io::Read;
use std::path::Path;

use oarn_protocol::infer::ModelInfo;
use oarn_protocol::task::ModelFormat;
use safetensors::tensor::Metadata;

/// The format's own limit on the header's length.
pub const MAX_HEADER: u64 = 100_000_000;

/// Why a file is not a valid Safetensors checkpoint.
#[derive(Debug, thiserror::Error)]
pub enum SafetensorsError {
    /// The file could not be read.
    #[error("cannot read the file: {0}")]
    Io(#[from] std::io::Error),
    /// Shorter than its 8-byte header length.
    #[error("not a Safetensors file: {0} bytes, shorter than the header's length field")]
    TooSmall(u64),
    /// The header length is impossible for this file.
    #[error(
        "the header claims {claimed} bytes, but the file has {available} after the length field (at most {MAX_HEADER})"
    )]
    HeaderLength { claimed: u64, available: u64 },
    /// The header is not the JSON the format defines.
    #[error("the header is not valid: {0}")]
    Header(String),
    /// The tensors do not cover the data exactly.
    #[error("the tensors cover {covered} bytes, but the file holds {data} bytes of data")]
    Data { covered: u64, data: u64 },
}

/// What the header says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub tensors: u64,
    pub parameters: u64,
    /// The dtype holding the most bytes, e.g. `BF16`.
    pub dtype: String,
}

impl Summary {
    /// As the model store records a model file's header.
    pub fn info(&self) -> ModelInfo {
        ModelInfo {
            format: ModelFormat::Safetensors,
            architecture: "safetensors".into(),
            parameters: self.parameters,
            tensors: self.tensors,
            quantization: Some(self.dtype.clone()),
            ..ModelInfo::default()
        }
    }
}

/// Reads and checks the header of the file at `path`.
pub fn read(path: &Path) -> Result<Summary, SafetensorsError> {
    let file = std::fs::File::open(path)?;
    let size = file.metadata()?.len();
    parse(file, size)
}

/// Reads and checks a header from `input`, a file of `size` bytes.
pub fn parse(input: impl Read, size: u64) -> Result<Summary, SafetensorsError> {
    parse_metadata(input, size).map(|(summary, _)| summary)
}

/// Reads and checks a header from `input`, a file of `size` bytes; with its tensors' names,
/// dtypes and shapes.
pub fn parse_metadata(mut input: impl Read, size: u64) -> Result<(Summary, Metadata), SafetensorsError> {
    let mut len = [0u8; 8];
    if size < 8 {
        return Err(SafetensorsError::TooSmall(size));
    }
    input.read_exact(&mut len)?;
    let claimed = u64::from_le_bytes(len);
    let available = size - 8;
    if claimed > available || !(2..=MAX_HEADER).contains(&claimed) {
        return Err(SafetensorsError::HeaderLength { claimed, available });
    }
    // Bounded by the file's size and the format's limit, both checked above.
    let mut header = vec![0u8; claimed as usize];
    input.read_exact(&mut header)?;
    let metadata: Metadata = serde_json::from_slice(&header).map_err(|e| SafetensorsError::Header(e.to_string()))?;
    let summary = check(&metadata, available - claimed)?;
    Ok((summary, metadata))
}

/// The tensors (whose offsets and sizes the crate checked) cover `data` bytes exactly.
fn check(metadata: &Metadata, data: u64) -> Result<Summary, SafetensorsError> {
    let tensors = metadata.tensors();
    let mut covered = 0u64;
    let mut parameters = 0u64;
    let mut by_dtype: Vec<(String, u64)> = Vec::new();
    for info in tensors.values() {
        let (start, stop) = (info.data_offsets.0 as u64, info.data_offsets.1 as u64);
        covered = covered.max(stop);
        let elements = info.shape.iter().fold(1u64, |acc, d| acc.saturating_mul(*d as u64));
        parameters = parameters.saturating_add(elements);
        let dtype = format!("{:?}", info.dtype);
        match by_dtype.iter_mut().find(|(d, _)| *d == dtype) {
            Some((_, bytes)) => *bytes += stop.saturating_sub(start),
            None => by_dtype.push((dtype, stop.saturating_sub(start))),
        }
    }
    if covered != data {
        return Err(SafetensorsError::Data { covered, data });
    }
    // Ties go to the dtype named first in alphabetical order, so the summary is stable.
    by_dtype.sort();
    let dtype = by_dtype
        .into_iter()
        .rev()
        .max_by_key(|(_, bytes)| *bytes)
        .map_or_else(|| "none".into(), |(d, _)| d);
    Ok(Summary {
        tensors: tensors.len() as u64,
        parameters,
        dtype,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file of `header` and `data` bytes of data.
    fn file(header: &str, data: usize) -> Vec<u8> {
        let mut b = (header.len() as u64).to_le_bytes().to_vec();
        b.extend_from_slice(header.as_bytes());
        b.extend(std::iter::repeat_n(0u8, data));
        b
    }

    fn parsed(bytes: &[u8]) -> Result<Summary, SafetensorsError> {
        parse(bytes, bytes.len() as u64)
    }

    const TWO: &str = r#"{"__metadata__":{"format":"pt"},"b":{"dtype":"BF16","shape":[2,3],"data_offsets":[16,28]},"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#;

    #[test]
    fn a_valid_header_is_summed_up() {
        let s = parsed(&file(TWO, 28)).unwrap();
        assert_eq!(
            s,
            Summary {
                tensors: 2,
                parameters: 10,
                dtype: "F32".into()
            }
        );
        assert_eq!(s.info().format, ModelFormat::Safetensors);
    }

    #[test]
    fn a_header_longer_than_the_file_is_refused_before_allocating() {
        let mut b = file(TWO, 28);
        b[..8].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(parsed(&b), Err(SafetensorsError::HeaderLength { .. })));
        assert!(matches!(parsed(&b[..5]), Err(SafetensorsError::TooSmall(5))));
    }

    #[test]
    fn truncated_data_and_trailing_bytes_are_refused() {
        assert!(matches!(parsed(&file(TWO, 20)), Err(SafetensorsError::Data { .. })));
        assert!(matches!(parsed(&file(TWO, 40)), Err(SafetensorsError::Data { .. })));
    }

    #[test]
    fn gaps_overlaps_and_wrong_sizes_are_refused() {
        let gap = r#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[1],"data_offsets":[20,24]}}"#;
        let gap = parsed(&file(gap, 24)).unwrap_err().to_string();
        assert!(gap.contains("invalid offset for tensor `b`"), "{gap}");
        let size = r#"{"a":{"dtype":"F32","shape":[5],"data_offsets":[0,16]}}"#;
        assert!(matches!(parsed(&file(size, 16)), Err(SafetensorsError::Header(_))));
        let huge = r#"{"a":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,16]}}"#;
        assert!(matches!(parsed(&file(huge, 16)), Err(SafetensorsError::Header(_))));
    }

    #[test]
    fn a_header_that_is_not_the_formats_json_is_refused() {
        assert!(matches!(
            parsed(&file("{\"a\": 1}", 0)),
            Err(SafetensorsError::Header(_))
        ));
        assert!(matches!(parsed(&file("not json", 0)), Err(SafetensorsError::Header(_))));
    }
}
