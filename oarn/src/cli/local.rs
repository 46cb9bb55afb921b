//! `oarn local start | inference`: a local-only node, and one generation on this machine,
//! offline.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, bail};
use oarn_config::home::Home;
use oarn_config::load;
use oarn_node::local;
use oarn_protocol::infer::{Generate, Stop};
use serde_json::json;
use tokio::sync::oneshot;

use super::args::{InferenceArgs, LocalCommand};

/// Text as it may reach a terminal: no control or escape characters but newline and tab.
fn printable(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .collect()
}

pub fn run(home: &Home, command: LocalCommand) -> anyhow::Result<ExitCode> {
    match command {
        LocalCommand::Start { detach } => super::node::start(home, detach, true),
        LocalCommand::Inference(args) => inference(home, args),
    }
}

fn inference(home: &Home, args: InferenceArgs) -> anyhow::Result<ExitCode> {
    let InferenceArgs {
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
    } = args;
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
    // A running node serves the generation (its worker keeps models loaded); otherwise a
    // worker of our own is started for it.
    let daemon = oarn_node::pidfile::running(&home.pid_file()).is_some();
    let chosen = if daemon {
        None
    } else {
        Some(local::resolve(&config, home, model.as_deref())?)
    };
    let mut name = chosen
        .as_ref()
        .map_or_else(|| model.clone().unwrap_or_default(), |c| c.name.clone());
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
        ..Generate::new(chosen.as_ref().map_or("", |c| &c.model), prompt, max_tokens)
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
        let stats = if daemon {
            let params = oarn_node::generate::request_json(&request, model.as_deref());
            let mut on_text = on_text;
            let on_note = |method: &str, params: &serde_json::Value| {
                if method == "oarn_text" {
                    on_text(params["text"].as_str().unwrap_or_default());
                }
            };
            let v = oarn_api::client::stream(&home.socket(), "oarn_generate", params, on_note, cancelled).await;
            v.map_err(anyhow::Error::from).and_then(|v| {
                name = v["model"].as_str().unwrap_or_default().to_string();
                oarn_node::generate::result_from_json(&v).context("the node's answer lacks the generation's figures")
            })
        } else {
            local::infer(&config, home, request, on_text, cancelled)
                .await
                .map_err(anyhow::Error::from)
        };
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
            "served_by": if daemon { "node" } else { "own worker" },
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
