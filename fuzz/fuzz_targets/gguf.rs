//! Arbitrary bytes as a GGUF model file: the inference worker's header reader must refuse or
//! accept every input without panicking, allocating from a length the file claims, or
//! letting a control character through in what it keeps.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = oarn_formats::gguf::parse(std::io::Cursor::new(data), data.len() as u64) {
        assert!(!m.architecture.is_empty());
        for s in std::iter::once(&m.architecture).chain(m.name.as_ref()) {
            assert!(!s.chars().any(|c| c.is_control() && c != '\t'), "{s:?}");
        }
    }
});
