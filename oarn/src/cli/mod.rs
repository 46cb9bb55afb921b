//! The command line: argument definitions, dispatch, rendering, and exit statuses.

mod args;
mod chain;
mod config;
mod consent;
mod dashboard;
mod doctor;
mod events;
mod exit;
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
mod task;
mod update;
mod wallet;

use clap::{CommandFactory, Parser};
use oarn_api::ClientError;
use oarn_config::ConfigError;
use oarn_config::home::Home;
use oarn_node::pidfile::PidFileError;

pub use args::Cli;
use args::Command;
pub use exit::Exit;

/// Runs the command line and returns the exit status.
pub fn main_exec() -> anyhow::Result<Exit> {
    let cli = Cli::parse();
    let home = || Home::resolve(cli.home.clone());
    match cli.command {
        Command::Init {
            force,
            if_missing,
            json,
        } => node::init(&home()?, force, if_missing, json),
        Command::Start {
            detach,
            passphrase_file,
            index,
            init,
        } => {
            let home = home()?;
            if init && !home.config().exists() {
                node::init(&home, false, false, false)?;
            }
            node::start(&home, detach, false, node::Unlocking { passphrase_file, index })
        }
        Command::Stop { timeout, json } => node::stop(&home()?, timeout, json),
        Command::Status { json } => node::status(&home()?, json),
        Command::Config { command } => config::run(&home()?, command),
        Command::Logs(args) => logs::run(&home()?, args),
        Command::Sandbox { command } => sandbox::run(&home()?, command),
        Command::Wallet { command } => wallet::run(&home()?, command),
        Command::Chain { command } => chain::run(&home()?, command),
        Command::Net { command } => net::run(&home()?, command),
        Command::Task { command } => task::run(&home()?, command),
        Command::Ipfs { command } => ipfs::run(&home()?, command),
        Command::Model { command } => model::run(&home()?, command),
        Command::Hardware { json } => hardware::run(json),
        Command::Doctor { json } => doctor::run(&home()?, json),
        Command::Dashboard => dashboard::run(&home()?),
        Command::Local { command } => local::run(&home()?, command),
        Command::Update { command } => update::run(&home()?, command),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "oarn", &mut std::io::stdout());
            Ok(Exit::Success)
        }
        Command::Man => {
            clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout())?;
            Ok(Exit::Success)
        }
    }
}

/// The exit status for an error.
pub fn exit_of(e: &anyhow::Error) -> Exit {
    if let Some(f) = e.downcast_ref::<chain::Failed>() {
        return f.exit;
    }
    if e.downcast_ref::<ConfigError>().is_some() {
        return Exit::Config;
    }
    if let Some(u) = e.downcast_ref::<oarn_node::update::UpdateError>() {
        return update::exit(u);
    }
    if let Some(ClientError::NotRunning { .. }) = e.downcast_ref::<ClientError>() {
        return Exit::NotRunning;
    }
    if let Some(PidFileError::Running { .. }) = e.downcast_ref::<PidFileError>() {
        return Exit::AlreadyRunning;
    }
    if let Some(oarn_node::daemon::DaemonError::PidFile(PidFileError::Running { .. })) = e.downcast_ref() {
        return Exit::AlreadyRunning;
    }
    Exit::Failure
}

/// A client of the node whose home is `home`.
pub fn client(home: &Home) -> oarn_api::Client {
    oarn_api::Client::new(home.socket())
}
