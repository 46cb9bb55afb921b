//! The command line: argument definitions, dispatch, and exit codes.

mod args;
mod chain;
mod claim;
mod config;
mod hardware;
mod ipfs;
mod local;
mod logs;
mod model;
mod net;
mod node;
mod progress;
mod sandbox;
mod table;
mod wallet;

use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use oarn_api::client::ClientError;
use oarn_config::ConfigError;
use oarn_config::home::Home;
use oarn_node::pidfile::PidFileError;

pub use args::Cli;
use args::Command;

/// Exit status for configuration errors (sysexits EX_CONFIG).
const EXIT_CONFIG: u8 = 78;
/// Exit status when the daemon is not running.
const EXIT_NOT_RUNNING: u8 = 3;
/// Exit status when the daemon is already running.
const EXIT_RUNNING: u8 = 4;

/// Runs the command line and returns the exit status.
pub fn main_exec() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    let home = || Home::resolve(cli.home.clone());
    match cli.command {
        Command::Init { force, json } => node::init(&home()?, force, json),
        Command::Start { detach } => node::start(&home()?, detach, false),
        Command::Stop { timeout, json } => node::stop(&home()?, timeout, json),
        Command::Status { json } => node::status(&home()?, json),
        Command::Config { command } => config::run(&home()?, command),
        Command::Logs(args) => logs::run(&home()?, args),
        Command::Sandbox { command } => sandbox::run(&home()?, command),
        Command::Wallet { command } => wallet::run(&home()?, command),
        Command::Chain { command } => chain::run(&home()?, command),
        Command::Net { command } => net::run(&home()?, command),
        Command::Ipfs { command } => ipfs::run(&home()?, command),
        Command::Model { command } => model::run(&home()?, command),
        Command::Hardware { json } => hardware::run(json),
        Command::Local { command } => local::run(&home()?, command),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "oarn", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
        Command::Man => {
            clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout())?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The exit status for an error.
pub fn exit_code(e: &anyhow::Error) -> u8 {
    if e.downcast_ref::<ConfigError>().is_some() {
        return EXIT_CONFIG;
    }
    if let Some(ClientError::NotRunning { .. }) = e.downcast_ref::<ClientError>() {
        return EXIT_NOT_RUNNING;
    }
    if let Some(PidFileError::Running { .. }) = e.downcast_ref::<PidFileError>() {
        return EXIT_RUNNING;
    }
    if let Some(oarn_node::daemon::DaemonError::PidFile(PidFileError::Running { .. })) = e.downcast_ref() {
        return EXIT_RUNNING;
    }
    1
}
