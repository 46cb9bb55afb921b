//! Arbitrary bytes as a model archive: the index refuses or accepts without panicking, every
//! member it accepts lies inside the file, and the model description (`config.json` bounded,
//! the weights' header, every tensor a Llama needs) refuses or accepts without panicking.

#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use oarn_formats::{archive, hf};

fuzz_target!(|data: &[u8]| {
    let Ok(index) = archive::index_of(Cursor::new(data), data.len() as u64) else {
        return;
    };
    for e in &index.entries {
        assert!(e.offset + e.size <= data.len() as u64, "{e:?}");
    }
    // The description reads from a file; the fuzzer's bytes are written to one per input.
    let file = std::env::temp_dir().join(format!("oarn-fuzz-archive-{}", std::process::id()));
    if std::fs::write(&file, data).is_ok() {
        let _ = hf::describe(&file, &index);
    }
});
