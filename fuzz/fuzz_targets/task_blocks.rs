//! Arbitrary bytes as a task's input block (`inference/v1`, and a tensor task's input), model
//! block and `modelRequirements`: each parser refuses or accepts without panicking, and what it
//! accepts stays inside the format's limits; a tensor's result bytes are JSON.

#![no_main]

use libfuzzer_sys::fuzz_target;
use oarn_formats::{task, tensor};
use oarn_protocol::task::ModelBlock;

fuzz_target!(|data: &[u8]| {
    if let Ok(input) = task::parse_input(data) {
        assert!(task::MAX_TOKENS.contains(&input.max_tokens));
        assert!(input.prompt.len() <= task::MAX_PROMPT);
        assert!(input.stop.len() <= task::MAX_STOPS);
        assert!(input.temperature_milli <= 2000 && input.top_p_milli <= 1000);
    }
    if let Ok(t) = tensor::parse_input(data) {
        let n: i64 = t.shape.iter().product();
        assert_eq!(n as usize, t.values.len());
        assert!(!t.values.is_empty() && t.values.iter().all(|v| v.is_finite()));
        let out = tensor::output_bytes(&t.shape, &t.values);
        assert!(serde_json::from_slice::<serde_json::Value>(&out).is_ok());
    }
    if let Ok(ModelBlock::Model { size, .. }) = task::parse_model_block(data) {
        assert_eq!(size, data.len() as u64);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let r = task::parse_requirements(text);
        assert!(r.label.is_none_or(|l| !l.chars().any(|c| c.is_control() && c != '\t')));
    }
});
