//! Arbitrary bytes as a Safetensors checkpoint: the header reader refuses or accepts without
//! panicking or allocating past the file, and what it accepts has no more parameters than
//! the file has room for (at least 4 bits each).

#![no_main]

use libfuzzer_sys::fuzz_target;
use oarn_formats::safetensors;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = safetensors::parse(data, data.len() as u64) {
        assert!(s.parameters <= 2 * data.len() as u64, "{s:?}");
        assert!(!s.dtype.is_empty());
    }
});
