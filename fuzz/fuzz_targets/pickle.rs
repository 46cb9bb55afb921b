//! Arbitrary bytes as a PyTorch checkpoint's data.pkl, and as a whole checkpoint: the pickle
//! reader refuses or accepts without panicking, running anything, or growing past its limits
//! (a memo bomb, a claimed length, deep nesting), and the checkpoint reader locates only
//! tensors whose bytes lie inside the file.

#![no_main]

use libfuzzer_sys::fuzz_target;
use oarn_formats::{pickle, pytorch};

fuzz_target!(|data: &[u8]| {
    let _ = pickle::read(data);
    if let Ok(tensors) = pytorch::read(std::io::Cursor::new(data)) {
        for t in tensors {
            assert!(t.offset + t.len <= data.len() as u64, "{t:?}");
        }
    }
});
