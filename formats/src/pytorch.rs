//! A PyTorch checkpoint in `torch.save`'s zip format (`pytorch_model.bin`), read without
//! Python and without running anything (run by the inference worker): the zip's central
//! directory by the `zip` crate, its `data.pkl` by [`crate::pickle`] (data only, globals
//! allowed only from a state dict's vocabulary), and each tensor's storage located in the zip
//! and checked against its dtype, shape and strides. Nothing is loaded here: the result says
//! where each tensor's bytes lie, for a backend to map.
//!
//! Legacy checkpoints (before PyTorch 1.6: a bare pickle stream followed by raw storages) are
//! refused: their storages are found by running the pickle's layout logic, which this reader
//! does not do.

use std::io::{Read, Seek};

use crate::pickle::{self, Value};

/// Most tensors one checkpoint may hold.
pub const MAX_TENSORS: usize = 100_000;

/// Why a file is not a PyTorch checkpoint this reader accepts.
#[derive(Debug, thiserror::Error)]
pub enum PytorchError {
    /// A bare pickle: the format before PyTorch 1.6.
    #[error(
        "a legacy PyTorch checkpoint (a bare pickle, before PyTorch 1.6); re-save it with torch.save in a current PyTorch, or convert it to Safetensors"
    )]
    Legacy,
    /// Not a zip file.
    #[error("not a PyTorch checkpoint (neither a zip file nor a pickle)")]
    NotZip,
    /// The zip's structure is wrong.
    #[error("the checkpoint's zip is not valid: {0}")]
    Zip(String),
    /// No data.pkl, or more than one.
    #[error("the checkpoint holds {0} data.pkl files; torch.save writes exactly one")]
    Pickles(usize),
    /// The pickle was refused.
    #[error("data.pkl: {0}")]
    Pickle(#[from] pickle::PickleError),
    /// The pickle is not a state dict.
    #[error("data.pkl holds no state dict (a dict of names to tensors): save model.state_dict(), not the model")]
    NotAStateDict,
    /// A tensor's record is not the one `torch._utils._rebuild_tensor_v2` takes.
    #[error("the tensor {name}: {what}")]
    Tensor { name: String, what: String },
    /// Too many tensors.
    #[error("the checkpoint holds more than {MAX_TENSORS} tensors")]
    TooMany,
}

/// A tensor's element type, as its storage class names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dtype {
    F32,
    F16,
    BF16,
    F64,
    I64,
    I32,
    I16,
    I8,
    U8,
    Bool,
}

impl Dtype {
    fn of_storage(class: &str) -> Option<Self> {
        Some(match class {
            "FloatStorage" => Dtype::F32,
            "HalfStorage" => Dtype::F16,
            "BFloat16Storage" => Dtype::BF16,
            "DoubleStorage" => Dtype::F64,
            "LongStorage" => Dtype::I64,
            "IntStorage" => Dtype::I32,
            "ShortStorage" => Dtype::I16,
            "CharStorage" => Dtype::I8,
            "ByteStorage" => Dtype::U8,
            "BoolStorage" => Dtype::Bool,
            _ => return None,
        })
    }

    /// Bytes per element.
    pub fn size(self) -> u64 {
        match self {
            Dtype::F64 | Dtype::I64 => 8,
            Dtype::F32 | Dtype::I32 => 4,
            Dtype::F16 | Dtype::BF16 | Dtype::I16 => 2,
            Dtype::I8 | Dtype::U8 | Dtype::Bool => 1,
        }
    }

    /// As Safetensors names it (`F32`, `BF16`, …).
    pub fn name(self) -> &'static str {
        match self {
            Dtype::F32 => "F32",
            Dtype::F16 => "F16",
            Dtype::BF16 => "BF16",
            Dtype::F64 => "F64",
            Dtype::I64 => "I64",
            Dtype::I32 => "I32",
            Dtype::I16 => "I16",
            Dtype::I8 => "I8",
            Dtype::U8 => "U8",
            Dtype::Bool => "BOOL",
        }
    }
}

/// A tensor of the state dict and where its bytes lie in the checkpoint file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorRef {
    pub name: String,
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    /// Byte offset in the checkpoint file (not the zip entry) of its first element.
    pub offset: u64,
    /// Bytes it spans (row-major, contiguous).
    pub len: u64,
}

/// Reads the checkpoint `input` (the `pytorch_model.bin` bytes, seekable).
pub fn read(mut input: impl Read + Seek) -> Result<Vec<TensorRef>, PytorchError> {
    let mut magic = [0u8; 4];
    let n = input.read(&mut magic).map_err(|e| PytorchError::Zip(e.to_string()))?;
    input.rewind().map_err(|e| PytorchError::Zip(e.to_string()))?;
    match &magic[..n] {
        [b'P', b'K', 3, 4] => {}
        [0x80, ..] => return Err(PytorchError::Legacy),
        _ => return Err(PytorchError::NotZip),
    }
    let mut zip = zip::ZipArchive::new(input).map_err(|e| PytorchError::Zip(e.to_string()))?;
    let pickles: Vec<String> = zip
        .file_names()
        .filter_map(|n| n.ok())
        .filter(|n| n.ends_with("/data.pkl") && n.matches('/').count() == 1)
        .map(|n| n.into_owned())
        .collect();
    let [pkl] = &pickles[..] else {
        return Err(PytorchError::Pickles(pickles.len()));
    };
    let prefix = pkl.trim_end_matches("data.pkl").to_string();
    let bytes = {
        let entry = zip.by_name(pkl).map_err(|e| PytorchError::Zip(e.to_string()))?;
        if entry.size() > pickle::MAX_PICKLE as u64 {
            return Err(pickle::PickleError::TooLarge(entry.size() as usize).into());
        }
        let mut bytes = Vec::with_capacity(entry.size() as usize);
        entry
            .take(pickle::MAX_PICKLE as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| PytorchError::Zip(e.to_string()))?;
        bytes
    };
    let dict = match pickle::read(&bytes)? {
        // A state dict's `_metadata` attribute comes as BUILD state over the dict.
        Value::Build(b) => b.0.clone(),
        v => v,
    };
    let Value::Dict(items) = dict else {
        return Err(PytorchError::NotAStateDict);
    };
    let items = items.borrow();
    if items.len() > MAX_TENSORS {
        return Err(PytorchError::TooMany);
    }
    let mut out = Vec::new();
    for (k, v) in items.iter() {
        let Some(name) = k.str() else { continue };
        let Some(record) = tensor_record(v) else { continue };
        let fail = |what: String| PytorchError::Tensor {
            name: name.to_string(),
            what,
        };
        let (dtype, key, offset, shape) = record.map_err(|w| fail(w.to_string()))?;
        let entry = zip
            .by_name(&format!("{prefix}data/{key}"))
            .map_err(|e| fail(format!("its storage {key:?}: {e}")))?;
        if entry.compression() != zip::CompressionMethod::Stored {
            return Err(fail(
                "its storage is compressed; torch.save stores storages uncompressed".into(),
            ));
        }
        let start = entry
            .data_start()
            .ok_or_else(|| fail("its storage has no data".into()))?;
        let numel = shape.iter().try_fold(1u64, |acc, d| acc.checked_mul(*d as u64));
        let bytes = numel
            .and_then(|n| n.checked_mul(dtype.size()))
            .ok_or_else(|| fail("its shape overflows".into()))?;
        let at = offset
            .checked_mul(dtype.size())
            .ok_or_else(|| fail("its offset overflows".into()))?;
        if at.checked_add(bytes).is_none_or(|end| end > entry.size()) {
            return Err(fail(format!(
                "its {bytes} bytes at offset {at} pass the end of its storage of {} bytes",
                entry.size()
            )));
        }
        out.push(TensorRef {
            name: name.to_string(),
            dtype,
            shape,
            offset: start + at,
            len: bytes,
        });
    }
    Ok(out)
}

type Record = (Dtype, String, u64, Vec<usize>);

/// A state dict value's tensor record, when it is a tensor (`None` for other values):
/// `_rebuild_tensor_v2(storage, offset, size, stride, …)`, maybe inside `_rebuild_parameter`.
fn tensor_record(v: &Value) -> Option<Result<Record, &'static str>> {
    let Value::Call(call) = v else { return None };
    let (Value::Global(f), args) = (&call.0, &call.1) else {
        return None;
    };
    match (f.0.as_str(), f.1.as_str()) {
        ("torch._utils", "_rebuild_parameter") => tensor_record(args.tuple()?.first()?),
        ("torch._utils", "_rebuild_tensor_v2") => Some(rebuild_args(args)),
        _ => None,
    }
}

fn rebuild_args(args: &Value) -> Result<Record, &'static str> {
    let args = args.tuple().ok_or("its arguments are not a tuple")?;
    let [storage, offset, size, stride, ..] = args else {
        return Err("it has fewer than four arguments");
    };
    let Value::Persistent(id) = storage else {
        return Err("its storage is not a persistent reference");
    };
    let id = id.tuple().ok_or("its storage reference is not a tuple")?;
    let [kind, class, key, _location, _numel] = id else {
        return Err("its storage reference is not (storage, type, key, location, size)");
    };
    if kind.str() != Some("storage") {
        return Err("its persistent reference is not a storage");
    }
    let Value::Global(class) = class else {
        return Err("its storage type is not a class");
    };
    let dtype = Dtype::of_storage(&class.1).ok_or("its storage type is unknown")?;
    let key = key.str().ok_or("its storage key is not a string")?;
    if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err("its storage key is not a plain name");
    }
    let offset = offset.int().filter(|o| *o >= 0).ok_or("its offset is not a count")? as u64;
    let dims = |v: &Value| -> Option<Vec<usize>> {
        v.tuple()?
            .iter()
            .map(|d| d.int().filter(|d| *d >= 0).map(|d| d as usize))
            .collect()
    };
    let shape = dims(size).ok_or("its size is not a tuple of counts")?;
    let stride = dims(stride).ok_or("its stride is not a tuple of counts")?;
    if shape.len() != stride.len() || shape.len() > 8 {
        return Err("its size and stride do not match");
    }
    // Row-major and contiguous, as a saved state dict's tensors are.
    let mut want = 1usize;
    for (d, s) in shape.iter().zip(&stride).rev() {
        if *d > 1 && *s != want {
            return Err("it is not contiguous");
        }
        want = want.saturating_mul(*d);
    }
    Ok((dtype, key.to_string(), offset, shape))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_pickle_is_legacy_and_other_bytes_are_not_a_checkpoint() {
        assert!(matches!(
            read(std::io::Cursor::new(b"\x80\x02}q\x00.")),
            Err(PytorchError::Legacy)
        ));
        assert!(matches!(
            read(std::io::Cursor::new(b"GGUF....")),
            Err(PytorchError::NotZip)
        ));
        let e = read(std::io::Cursor::new(b"PK\x03\x04 cut")).unwrap_err();
        assert!(matches!(e, PytorchError::Zip(_)), "{e}");
    }

    #[test]
    fn a_tensor_record_is_checked_before_it_is_trusted() {
        let g = |m: &str, n: &str| Value::Global(std::rc::Rc::new((m.to_string(), n.to_string())));
        let t = |v: Vec<Value>| Value::Tuple(v.into());
        let storage = |class: &str| {
            Value::Persistent(std::rc::Rc::new(t(vec![
                Value::Str("storage".into()),
                g("torch", class),
                Value::Str("0".into()),
                Value::Str("cpu".into()),
                Value::Int(6),
            ])))
        };
        let call = |args: Vec<Value>| Value::Call(std::rc::Rc::new((g("torch._utils", "_rebuild_tensor_v2"), t(args))));
        let ok = call(vec![
            storage("HalfStorage"),
            Value::Int(0),
            t(vec![Value::Int(2), Value::Int(3)]),
            t(vec![Value::Int(3), Value::Int(1)]),
        ]);
        assert_eq!(tensor_record(&ok), Some(Ok((Dtype::F16, "0".into(), 0, vec![2, 3]))));
        let transposed = call(vec![
            storage("HalfStorage"),
            Value::Int(0),
            t(vec![Value::Int(2), Value::Int(3)]),
            t(vec![Value::Int(1), Value::Int(2)]),
        ]);
        assert_eq!(tensor_record(&transposed), Some(Err("it is not contiguous")));
        let short = call(vec![storage("FloatStorage")]);
        assert_eq!(tensor_record(&short), Some(Err("it has fewer than four arguments")));
        assert_eq!(tensor_record(&Value::Int(3)), None);
    }

    #[test]
    fn a_state_dict_pickled_as_torch_save_does_gives_its_tensor_records() {
        // {"w": a 2x2 f16 tensor in storage "0"}, as torch.save pickles a state dict.
        let p = b"\x80\x02ccollections\nOrderedDict\nq\x00)Rq\x01X\x01\x00\x00\x00wq\x02ctorch._utils\n_rebuild_tensor_v2\nq\x03((X\x07\x00\x00\x00storageq\x04ctorch\nHalfStorage\nq\x05X\x01\x00\x00\x000q\x06X\x03\x00\x00\x00cpuq\x07K\x04tq\x08QK\x00K\x02K\x02\x86K\x02K\x01\x86\x89ccollections\nOrderedDict\nq\t)Rq\ntq\x0bRq\x0cs.";
        let Value::Dict(d) = pickle::read(p).unwrap() else {
            panic!("not a dict")
        };
        let d = d.borrow();
        assert_eq!(d[0].0.str(), Some("w"));
        assert_eq!(
            tensor_record(&d[0].1),
            Some(Ok((Dtype::F16, "0".into(), 0, vec![2, 2])))
        );
    }
}
