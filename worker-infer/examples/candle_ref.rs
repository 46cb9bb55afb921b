//! The reference runner `bench/candle` measures the candle backend against: candle used
//! directly, as its own Llama example uses it (weights mapped from `model.safetensors`, the
//! `tokenizers` crate, greedy decoding, threads from `RAYON_NUM_THREADS`), with no
//! supervisor, sandbox, archive or protocol. Prints one JSON line of timings.
//!
//! Usage: candle_ref MODEL_DIR PROMPT GENERATED_TOKENS

use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::generation::{LogitsProcessor, Sampling};
use candle_transformers::models::llama::{Cache, Llama, LlamaConfig};
use tokenizers::Tokenizer;

type Error = Box<dyn std::error::Error + Send + Sync>;

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().collect();
    let [_, dir, prompt, generate] = &args[..] else {
        return Err("usage: candle_ref MODEL_DIR PROMPT GENERATED_TOKENS".into());
    };
    let dir = std::path::Path::new(dir);
    let generate: usize = generate.parse()?;
    let started = Instant::now();
    let config: LlamaConfig = serde_json::from_slice(&std::fs::read(dir.join("config.json"))?)?;
    let mut config = config.into_config(false);
    let tokenizer = Tokenizer::from_file(dir.join("tokenizer.json"))?;
    // SAFETY: the benchmark's model file is not changed while it runs.
    let vb =
        unsafe { VarBuilder::from_mmaped_safetensors(&[dir.join("model.safetensors")], DType::F32, &Device::Cpu)? };
    let model = Llama::load(vb, &config)?;
    let load_ms = started.elapsed().as_secs_f64() * 1e3;
    // The context oarn gives a request by default.
    config.max_position_embeddings = 2048;
    let mut cache = Cache::new(true, DType::F32, &config, &Device::Cpu)?;
    let tokens = tokenizer.encode(prompt.as_str(), true)?.get_ids().to_vec();

    let t = Instant::now();
    let input = Tensor::new(tokens.as_slice(), &Device::Cpu)?.unsqueeze(0)?;
    let mut logits = model.forward(&input, 0, &mut cache)?.squeeze(0)?;
    let prompt_s = t.elapsed().as_secs_f64();
    let mut sampler = LogitsProcessor::from_sampling(0, Sampling::ArgMax);
    let mut ids = Vec::new();
    let t = Instant::now();
    for i in 0..generate {
        let token = sampler.sample(&logits)?;
        ids.push(token);
        let input = Tensor::new(&[token], &Device::Cpu)?.unsqueeze(0)?;
        logits = model.forward(&input, tokens.len() + i, &mut cache)?.squeeze(0)?;
    }
    let generate_s = t.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({
            "load_ms": load_ms,
            "prompt_tokens": tokens.len(),
            "prompt_tokens_per_s": tokens.len() as f64 / prompt_s,
            "generated_tokens": ids.len(),
            "generation_tokens_per_s": ids.len() as f64 / generate_s,
            "text": tokenizer.decode(&ids, true)?,
        })
    );
    Ok(())
}
