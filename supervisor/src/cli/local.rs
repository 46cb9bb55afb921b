//! `oarn local inference`: one generation on this machine, offline.

use std::io::Write;
use std::process::ExitCode;

use anyhow::bail;
use oarn::config::load;
use oarn::home::Home;
use oarn::local;
use oarn_protocol::infer::{Generate, Stop};
use serde_json::json;

use super::args::LocalCommand;

/// Text as it may reach a terminal: no control or escape characters but newline and tab.
fn printable(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .collect()
}

pub fn run(home: &Home, command: LocalCommand) -> anyhow::Result<ExitCode> {
    let LocalCommand::Inference {
        prompt,
        model,
        max_tokens,
        temperature,
        seed,
        system,
        threads,
        raw,
        json,
    } = command;
    if !(0.0..=5.0).contains(&temperature) {
        bail!("--temperature must be between 0 and 5");
    }
    let config = load::load_or_default(&home.config())?;
    let store = local::store(&config, home)?;
    let manifest = local::choose_model(&store, model.as_deref())?;
    // Eviction spares recently used models and never takes one in use.
    if let Err(e) = store.touch(&manifest.name) {
        tracing::warn!("cannot record the model's use: {e}");
    }
    let _in_use = store.in_use(&manifest)?;
    let request = Generate {
        model: store.blob(&manifest).display().to_string(),
        prompt,
        system,
        chat: !raw,
        max_tokens,
        temperature_milli: (temperature * 1000.0).round() as u32,
        seed,
        threads: if threads == 0 { config.compute.threads } else { threads },
        context: 0,
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let mut text = String::new();
    let mut stdout = std::io::stdout();
    let stats = runtime.block_on(local::infer(&config, home, request, |piece| {
        text.push_str(piece);
        if !json {
            let _ = write!(stdout, "{}", printable(piece));
            let _ = stdout.flush();
        }
    }))?;
    let secs = |us: u64| us as f64 / 1e6;
    let rate = |n: u32, us: u64| if us == 0 { 0.0 } else { f64::from(n) / secs(us) };
    let prompt_tps = rate(stats.prompt_tokens, stats.prompt_us);
    let gen_tps = rate(stats.generated_tokens, stats.generate_us);
    if json {
        let v = json!({
            "model": manifest.name,
            "text": text,
            "stop": format!("{:?}", stats.stop),
            "prompt_tokens": stats.prompt_tokens,
            "generated_tokens": stats.generated_tokens,
            "load_ms": stats.load_us as f64 / 1e3,
            "time_to_first_token_ms": stats.first_token_us as f64 / 1e3,
            "prompt_tokens_per_s": prompt_tps,
            "generation_tokens_per_s": gen_tps,
            "fingerprint": stats.fingerprint,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!();
        let stop = match stats.stop {
            Stop::EndOfText => "end of text",
            Stop::MaxTokens => "max tokens",
            Stop::Cancelled => "cancelled",
        };
        eprintln!(
            "[{}: {} prompt tokens at {prompt_tps:.0}/s, {} generated at {gen_tps:.0}/s; load {:.0} ms, first token {:.0} ms; stopped at {stop}]",
            manifest.name,
            stats.prompt_tokens,
            stats.generated_tokens,
            stats.load_us as f64 / 1e3,
            stats.first_token_us as f64 / 1e3
        );
    }
    Ok(ExitCode::SUCCESS)
}
