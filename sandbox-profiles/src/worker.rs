//! The start-up sequence every worker binary runs: parse the command line, enter the sandbox,
//! start logging (JSON lines on stderr, which the supervisor merges into its log), then serve
//! the supervisor on stdin/stdout.

use std::process::ExitCode;

use oarn_protocol::envelope::Protocol;
use oarn_protocol::exit::WorkerExit;
use oarn_protocol::frame::DEFAULT_MAX_FRAME;
use oarn_protocol::serve::{self, Ended, Handler};

use crate::launch::Launch;

/// Package version of the worker build, sent in the handshake.
pub const BUILD_ID: &str = concat!("oarn ", env!("CARGO_PKG_VERSION"));

/// Runs a worker: sandbox first, then the serve loop with the handler `make` builds.
pub fn main<P, H>(make: impl FnOnce(&Launch) -> H) -> ExitCode
where
    P: Protocol,
    H: Handler<P>,
{
    main_with_commands::<P, H>(make, |_| {
        eprintln!("{}: this worker runs no commands", P::KIND.binary());
        WorkerExit::Usage.into()
    })
}

/// [`main`] for a worker that also runs one-shot commands (`-- <command>`), which `run`
/// executes inside the same sandbox instead of serving the supervisor.
pub fn main_with_commands<P, H>(make: impl FnOnce(&Launch) -> H, run: impl FnOnce(&Launch) -> ExitCode) -> ExitCode
where
    P: Protocol,
    H: Handler<P>,
{
    start::<P, H, ()>(|_| (), |launch, ()| make(launch), run)
}

/// [`main`] for a worker that must do something with the process's full rights before the
/// sandbox closes: `prepare` runs first (such as loading a shared library, which needs
/// executable mappings the sandbox then forbids), and `make` gets what it returned.
pub fn main_prepared<P, H, S>(prepare: impl FnOnce(&Launch) -> S, make: impl FnOnce(&Launch, S) -> H) -> ExitCode
where
    P: Protocol,
    H: Handler<P>,
{
    start::<P, H, S>(prepare, make, |_| {
        eprintln!("{}: this worker runs no commands", P::KIND.binary());
        WorkerExit::Usage.into()
    })
}

fn start<P, H, S>(
    prepare: impl FnOnce(&Launch) -> S,
    make: impl FnOnce(&Launch, S) -> H,
    run: impl FnOnce(&Launch) -> ExitCode,
) -> ExitCode
where
    P: Protocol,
    H: Handler<P>,
{
    oarn_protocol::alloc::tune();
    let launch = match Launch::parse(std::env::args_os().skip(1)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{}: {e}", P::KIND.binary());
            return WorkerExit::Usage.into();
        }
    };
    let prepared = prepare(&launch);
    let report = match crate::enter(P::KIND, &launch) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{}: {e}", P::KIND.binary());
            return WorkerExit::Sandbox.into();
        }
    };
    if let Some((tcp, udp)) = launch.probe {
        let all_ok = crate::probe::run(P::KIND, &launch, &report, tcp, udp);
        return if all_ok { WorkerExit::Ok } else { WorkerExit::Failed }.into();
    }
    if !launch.command.is_empty() {
        return run(&launch);
    }
    init_logging(&launch.log_filter);
    let mut handler = make(&launch, prepared);
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    match serve::serve::<P, H, _, _>(&mut handler, BUILD_ID, report, stdin, stdout, DEFAULT_MAX_FRAME) {
        Ok(Ended::Shutdown) => {
            tracing::info!("shutting down at the supervisor's request");
            ExitCode::SUCCESS
        }
        Ok(Ended::Closed) => {
            tracing::info!("supervisor closed the channel; exiting");
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!(error = %e, "stopping");
            WorkerExit::Protocol.into()
        }
    }
}

fn init_logging(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter).unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt()
        .json()
        .with_current_span(false)
        .with_span_list(false)
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
