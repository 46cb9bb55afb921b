//! One-shot commands the chain worker runs inside its sandbox instead of serving the
//! supervisor (`oarn-worker-chain … -- wallet <op>`): the interactive key operations, whose
//! prompts need the operator's terminal. Everything else the worker does, it does in frames.

use std::ffi::OsString;
use std::process::ExitCode;

/// Logs on stderr as plain lines (the operator's terminal), at `filter`.
fn init_logging(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter).unwrap_or_else(|_| "warn".into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .without_time()
        .with_writer(std::io::stderr)
        .try_init();
}

/// Runs the command in `args` (after `--`).
pub fn run(args: &[OsString], log_filter: &str) -> ExitCode {
    init_logging(log_filter);
    match args.first().and_then(|a| a.to_str()) {
        Some("wallet") => crate::wallet::run(&args[1..]),
        other => {
            eprintln!("oarn-worker-chain: unknown command {other:?}");
            oarn_protocol::exit::WorkerExit::Usage.into()
        }
    }
}
