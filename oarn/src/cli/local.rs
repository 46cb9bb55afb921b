//! `oarn local start | inference | run`: a local-only node, one generation on this machine,
//! and one tensor run, offline.

use std::io::Write;

use anyhow::bail;
use oarn_api::infer::{Generate, RunTensor, Stop};
use oarn_config::home::Home;
use oarn_config::load;
use oarn_node::local;
use oarn_protocol::text::printable;
use serde_json::json;
use tokio::sync::oneshot;

use super::Exit;
use super::args::{InferenceArgs, LocalCommand, RunArgs};

pub fn run(home: &Home, command: LocalCommand) -> anyhow::Result<Exit> {
    match command {
        LocalCommand::Start { detach } => super::node::start(home, detach, true, Default::default()),
        LocalCommand::Inference(args) => inference(home, args),
        LocalCommand::Run(args) => tensor(home, args),
    }
}

/// Largest input `oarn local run` reads: one block.
const MAX_INPUT: u64 = 1 << 20;
/// Longest a running node may take for a tensor run (loading the model included).
const RUN_WAIT: std::time::Duration = std::time::Duration::from_secs(600);

fn tensor(home: &Home, args: RunArgs) -> anyhow::Result<Exit> {
    if !(0.0..=86_400.0).contains(&args.timeout) {
        bail!("--timeout must be between 0 (no limit) and 86400 seconds");
    }
    let input = read_input(&args.input, MAX_INPUT, "1 MiB, the most a task's input block holds")?;
    let config = load::load_or_default(&home.config())?;
    let deadline_ms = (args.timeout * 1000.0).round() as u64;
    // A running node serves the run (its worker keeps the model loaded); otherwise, or when
    // the input is too large for one API request as hex, a worker of our own is started.
    let daemon =
        oarn_node::pidfile::running(&home.pid_file()).is_some() && input.len() <= oarn_api::infer::MAX_HEX_INPUT;
    let ran = if daemon {
        let request = RunTensor {
            model: args.model.clone(),
            input_hex: oarn_protocol::hex::encode(&input),
            threads: args.threads,
            deadline_ms,
        };
        super::client(home).call(&request, RUN_WAIT)?
    } else {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        runtime.block_on(local::run_tensor(
            &config,
            home,
            args.model.as_deref(),
            input,
            args.threads,
            deadline_ms,
        ))?
    };
    let result = ran.result.as_bytes();
    if args.json {
        let v = json!({
            "model": ran.model,
            "served_by": if daemon { "node" } else { "own worker" },
            "result": ran.result,
            "result_keccak": ran.result_keccak,
            "input_shape": ran.input_shape,
            "output_shape": ran.output_shape,
            "load_ms": ran.load_us as f64 / 1e3,
            "run_ms": ran.run_us as f64 / 1e3,
            "fingerprint": ran.fingerprint,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        // The result bytes exactly (compact JSON, printable by construction), then a newline.
        let mut stdout = std::io::stdout();
        stdout.write_all(result)?;
        writeln!(stdout)?;
        eprintln!(
            "[{}: input {:?}, output {:?}; load {:.1} ms, run {:.1} ms; keccak256 {}]",
            printable(&ran.model),
            ran.input_shape,
            ran.output_shape,
            ran.load_us as f64 / 1e3,
            ran.run_us as f64 / 1e3,
            ran.result_keccak
        );
    }
    Ok(Exit::Success)
}

/// A task input's bytes from `path` (or stdin for `-`), refused past `max` bytes (`why` says
/// what the limit is); never read past it.
pub fn read_input(path: &std::path::Path, max: u64, why: &str) -> anyhow::Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    let read = if path.as_os_str() == "-" {
        std::io::stdin().take(max + 1).read_to_end(&mut bytes)
    } else {
        let file = std::fs::File::open(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
        file.take(max + 1).read_to_end(&mut bytes)
    };
    read.map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    if bytes.len() as u64 > max {
        bail!("{} is larger than {why}", path.display());
    }
    Ok(bytes)
}

fn inference(home: &Home, args: InferenceArgs) -> anyhow::Result<Exit> {
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
    let request = Generate {
        model,
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
        threads,
        deadline_ms: (timeout * 1000.0).round() as u64,
        ..Generate::new(prompt, max_tokens)
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let mut stdout = std::io::stdout();
    let done = runtime.block_on(async {
        // Ctrl-C stops the generation; what was generated so far is kept and reported.
        let (cancel, cancelled) = oneshot::channel();
        let on_signal = tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                let _ = cancel.send(());
            }
        });
        let cancelled = async {
            let _ = cancelled.await;
        };
        let mut on_text = |piece: &str| {
            if !json {
                let _ = write!(stdout, "{}", printable(piece));
                let _ = stdout.flush();
            }
        };
        let done = if daemon {
            super::client(home)
                .stream(&request, |t| on_text(&t.text), cancelled)
                .await
                .map_err(anyhow::Error::from)
        } else {
            local::infer(&config, home, &request, on_text, cancelled)
                .await
                .map_err(anyhow::Error::from)
        };
        on_signal.abort();
        done
    })?;
    let secs = |us: u64| us as f64 / 1e6;
    let rate = |n: u32, us: u64| if us == 0 { 0.0 } else { f64::from(n) / secs(us) };
    let prompt_tps = rate(done.prompt_tokens, done.prompt_us);
    let gen_tps = rate(done.generated_tokens, done.generate_us);
    if json {
        let v = json!({
            "model": done.model,
            "served_by": if daemon { "node" } else { "own worker" },
            "text": done.text,
            "text_keccak": done.text_keccak,
            "stop": done.stop,
            "prompt_tokens": done.prompt_tokens,
            "generated_tokens": done.generated_tokens,
            "load_ms": done.load_us as f64 / 1e3,
            "time_to_first_token_ms": done.first_token_us as f64 / 1e3,
            "prompt_tokens_per_s": prompt_tps,
            "generation_tokens_per_s": gen_tps,
            "fingerprint": done.fingerprint,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!();
        let stop = match done.stop {
            Stop::EndOfText => "end of text",
            Stop::MaxTokens => "max tokens",
            Stop::Cancelled => "cancelled",
            Stop::StopString => "a stop string",
        };
        eprintln!(
            "[{}: {} prompt tokens at {prompt_tps:.0}/s, {} generated at {gen_tps:.0}/s; load {:.0} ms, first token {:.0} ms; stopped at {stop}]",
            printable(&done.model),
            done.prompt_tokens,
            done.generated_tokens,
            done.load_us as f64 / 1e3,
            done.first_token_us as f64 / 1e3
        );
    }
    // Like a shell, report an interrupted run as 128 + SIGINT.
    Ok(if done.stop == Stop::Cancelled {
        Exit::Interrupted
    } else {
        Exit::Success
    })
}
