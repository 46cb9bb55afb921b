//! `oarn local inference`: one generation on this machine, offline.

use std::io::Write;
use std::process::ExitCode;

use anyhow::bail;
use oarn::config::load;
use oarn::home::Home;
use oarn::local;
use oarn_protocol::infer::{Generate, Stop};
use serde_json::json;
use tokio::sync::oneshot;

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
        top_k,
        top_p,
        seed,
        stop,
        timeout,
        system,
        threads,
        raw,
        json,
    } = command;
    if !(0.0..=5.0).contains(&temperature) {
        bail!("--temperature must be between 0 and 5");
    }
    if !(0.0..=1.0).contains(&top_p) {
        bail!("--top-p must be between 0 and 1");
    }
    if !(0.0..=86_400.0).contains(&timeout) {
        bail!("--timeout must be between 0 (no limit) and 86400 seconds");
    }
    let config = load::load_or_default(&home.config())?;
    let mut _in_use = None;
    let (name, model) = if config.ollama.enabled {
        let Some(m) = model else {
            bail!("ollama.enabled is set: name an Ollama model with --model (see `ollama list`)");
        };
        (m.clone(), m)
    } else {
        let store = local::store(&config, home)?;
        let manifest = local::choose_model(&store, model.as_deref())?;
        // Eviction spares recently used models and never takes one in use.
        if let Err(e) = store.touch(&manifest.name) {
            tracing::warn!("cannot record the model's use: {e}");
        }
        _in_use = Some(store.in_use(&manifest)?);
        (manifest.name.clone(), store.blob(&manifest).display().to_string())
    };
    let request = Generate {
        system,
        chat: !raw,
        temperature_milli: (temperature * 1000.0).round() as u32,
        top_k,
        top_p_milli: if top_p >= 1.0 {
            0
        } else {
            (top_p * 1000.0).round() as u32
        },
        seed,
        stop,
        threads: if threads == 0 { config.compute.threads } else { threads },
        deadline_ms: (timeout * 1000.0).round() as u64,
        ..Generate::new(model, prompt, max_tokens)
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let mut text = String::new();
    let mut stdout = std::io::stdout();
    let stats = runtime.block_on(async {
        // Ctrl-C stops the generation; what was generated so far is kept and reported.
        let (cancel, cancelled) = oneshot::channel();
        let on_signal = tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                let _ = cancel.send(());
            }
        });
        let on_text = |piece: &str| {
            text.push_str(piece);
            if !json {
                let _ = write!(stdout, "{}", printable(piece));
                let _ = stdout.flush();
            }
        };
        let stats = local::infer(&config, home, request, on_text, cancelled).await;
        on_signal.abort();
        stats
    })?;
    let secs = |us: u64| us as f64 / 1e6;
    let rate = |n: u32, us: u64| if us == 0 { 0.0 } else { f64::from(n) / secs(us) };
    let prompt_tps = rate(stats.prompt_tokens, stats.prompt_us);
    let gen_tps = rate(stats.generated_tokens, stats.generate_us);
    if json {
        let v = json!({
            "model": name,
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
            Stop::StopString => "a stop string",
        };
        eprintln!(
            "[{}: {} prompt tokens at {prompt_tps:.0}/s, {} generated at {gen_tps:.0}/s; load {:.0} ms, first token {:.0} ms; stopped at {stop}]",
            name,
            stats.prompt_tokens,
            stats.generated_tokens,
            stats.load_us as f64 / 1e3,
            stats.first_token_us as f64 / 1e3
        );
    }
    // Like a shell, report an interrupted run as 128 + SIGINT.
    Ok(if stats.stop == Stop::Cancelled {
        ExitCode::from(130)
    } else {
        ExitCode::SUCCESS
    })
}
