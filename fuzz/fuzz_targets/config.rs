//! Arbitrary text as `config.toml` (and as an environment override): loading must answer a
//! configuration or a list of located problems, never panic.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = std::path::Path::new("config.toml");
    let _ = oarn_config::load::parse(text, path, Vec::new());
    // The same text as an override of a key, and of a key it names.
    let (key, value) = text.split_once('=').unwrap_or(("OARN_NETWORK__MAX_PEERS", text));
    let env = vec![(format!("OARN_{}", key.trim()), value.to_string())];
    let _ = oarn_config::load::parse("[network]\nmax_peers = 5\n", path, env);
});
