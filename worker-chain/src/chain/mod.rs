//! `oarn chain …`: the node's chain operations run as one-shot commands in the sandboxed
//! chain worker: discovery, the task registry (list, inspect, claim, submit) and the events
//! that concern this node's account.

mod discover;
mod events;
mod tasks;
mod validator;

use std::ffi::OsString;
use std::os::fd::RawFd;
use std::process::ExitCode;

use clap::Parser;
use oarn_protocol::exit::WorkerExit;

use crate::command::ChainArgs;

#[derive(Debug, Parser)]
#[command(name = "chain", no_binary_name = true)]
struct Args {
    #[command(subcommand)]
    op: Op,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
}

/// The account a command acts as.
#[derive(Debug, Clone, clap::Args)]
struct Account {
    /// Descriptor of the keystore.
    #[arg(long)]
    keystore_fd: RawFd,
    /// Account index.
    #[arg(long, default_value_t = 0)]
    index: u32,
    /// Descriptor carrying the passphrase.
    #[arg(long)]
    passphrase_fd: Option<RawFd>,
}

#[derive(Debug, clap::Subcommand)]
enum Op {
    /// Resolve the registry and list core contracts, RPC providers and bootstrap peers.
    Discover {
        #[command(flatten)]
        chain: ChainArgs,
    },
    /// The most recent tasks.
    Tasks {
        /// How many, newest first.
        #[arg(long, default_value_t = 20)]
        last: u64,
        #[command(flatten)]
        chain: ChainArgs,
    },
    /// One task, its consensus status and results.
    Task {
        id: u64,
        #[command(flatten)]
        chain: ChainArgs,
    },
    /// Claim a task for this account.
    Claim {
        id: u64,
        /// Descriptor the claim (task, account, transaction) is written to as JSON.
        #[arg(long)]
        out_fd: Option<RawFd>,
        #[command(flatten)]
        account: Account,
        #[command(flatten)]
        chain: ChainArgs,
    },
    /// Submit a result: its keccak256 goes on chain.
    Submit {
        id: u64,
        /// Descriptor carrying the result bytes.
        #[arg(long)]
        result_fd: RawFd,
        #[command(flatten)]
        account: Account,
        #[command(flatten)]
        chain: ChainArgs,
    },
    /// Register as a premium (validator-routed) node, staking GOV.
    RegisterValidator {
        /// The endpoint validators route tasks to.
        #[arg(long)]
        endpoint: String,
        /// GOV to stake (default: the registry's minimum).
        #[arg(long)]
        stake: Option<String>,
        #[command(flatten)]
        account: Account,
        #[command(flatten)]
        chain: ChainArgs,
    },
    /// Events for this account since the cursor, up to the confirmed head.
    Events {
        /// Descriptor carrying the cursor (the last block already reported).
        #[arg(long)]
        cursor_fd: Option<RawFd>,
        /// Descriptor the new cursor is written to.
        #[arg(long)]
        out_fd: RawFd,
        /// Blocks an event must be buried under before it is reported.
        #[arg(long, default_value_t = 0)]
        confirmations: u64,
        /// Keep reporting events as new blocks arrive (JSON lines on the out descriptor).
        #[arg(long)]
        follow: bool,
        /// While following, poll instead of subscribing to new blocks over a websocket.
        #[arg(long)]
        poll_only: bool,
        /// Seconds between polls.
        #[arg(long, default_value_t = 5)]
        poll_secs: u64,
        #[command(flatten)]
        account: Account,
        #[command(flatten)]
        chain: ChainArgs,
    },
}

/// Why a chain command failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Discovery or the endpoints.
    #[error(transparent)]
    Discovery(#[from] crate::discovery::Error),
    /// Opening the wallet.
    #[error(transparent)]
    Wallet(#[from] crate::wallet::Error),
    /// A task operation.
    #[error(transparent)]
    Task(#[from] tasks::Error),
    /// Reading events.
    #[error(transparent)]
    Events(#[from] events::Error),
    /// The runtime could not start.
    #[error("cannot start the network runtime: {0}")]
    Runtime(#[from] std::io::Error),
}

impl Error {
    fn exit(&self) -> WorkerExit {
        match self {
            Self::Wallet(e) => e.exit(),
            Self::Task(tasks::Error::Refused { .. }) => WorkerExit::Refused,
            Self::Task(tasks::Error::NoSuchTask(_)) => WorkerExit::NoSuchTask,
            _ => WorkerExit::Failed,
        }
    }
}

/// Runs `chain <op>` (`args` after the word `chain`).
pub fn run(args: &[OsString]) -> ExitCode {
    let args = match Args::try_parse_from(args) {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return WorkerExit::Usage.into();
        }
    };
    let json = args.json;
    let result = match args.op {
        Op::Discover { chain } => discover::run(&chain, json),
        Op::Tasks { last, chain } => tasks::list(&chain, last, json),
        Op::Task { id, chain } => tasks::show(&chain, id, json),
        Op::Claim {
            id,
            out_fd,
            account,
            chain,
        } => tasks::claim(&chain, &account, id, out_fd, json),
        Op::Submit {
            id,
            result_fd,
            account,
            chain,
        } => tasks::submit(&chain, &account, id, result_fd, json),
        Op::RegisterValidator {
            endpoint,
            stake,
            account,
            chain,
        } => validator::register(&chain, &account, &endpoint, stake.as_deref(), json),
        Op::Events {
            cursor_fd,
            out_fd,
            confirmations,
            follow,
            poll_only,
            poll_secs,
            account,
            chain,
        } => {
            let mode = events::Mode {
                confirmations,
                follow,
                poll_only,
                poll: std::time::Duration::from_secs(poll_secs.max(1)),
            };
            events::run(&chain, &account, cursor_fd, out_fd, mode, json)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            e.exit().into()
        }
    }
}
