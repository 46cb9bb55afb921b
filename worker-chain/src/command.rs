//! One-shot commands the chain worker runs inside its sandbox instead of serving the
//! supervisor (`oarn-worker-chain … -- <command>`): `wallet …` and `chain discover`.

use std::ffi::OsString;
use std::process::ExitCode;

use alloy::primitives::Address;
use clap::Args;

use crate::discovery::Settings;

/// Where the network is found, as the `oarn` CLI passes it from the node's configuration.
#[derive(Debug, Clone, Args)]
pub struct ChainArgs {
    /// Chain id of the registry's chain.
    #[arg(long, default_value_t = 42161)]
    pub chain_id: u64,
    /// Use `--rpc` and `--registry` as given instead of ENS.
    #[arg(long)]
    pub manual: bool,
    /// RPC endpoint of the registry's chain (manual; repeatable).
    #[arg(long = "rpc")]
    pub rpc_urls: Vec<String>,
    /// OARNRegistry address (manual).
    #[arg(long)]
    pub registry: Option<Address>,
    /// ENS name of the registry.
    #[arg(long, default_value = "oarn-registry.eth")]
    pub ens_name: String,
    /// Endpoint that resolves ENS (repeatable).
    #[arg(long = "ens-rpc")]
    pub ens_rpc_urls: Vec<String>,
    /// ENS registry address.
    #[arg(long)]
    pub ens_registry: Option<Address>,
}

impl ChainArgs {
    /// Discovery settings.
    pub fn settings(&self) -> Settings {
        Settings {
            chain_id: self.chain_id,
            manual: self.manual,
            rpc_urls: self.rpc_urls.clone(),
            registry: self.registry,
            ens_name: self.ens_name.clone(),
            ens_rpc_urls: self.ens_rpc_urls.clone(),
            ens_registry: self.ens_registry,
        }
    }
}

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

/// A current-thread runtime for the network calls of one command.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build()
}

/// Runs the command in `args` (after `--`).
pub fn run(args: &[OsString], log_filter: &str) -> ExitCode {
    init_logging(log_filter);
    match args.first().and_then(|a| a.to_str()) {
        Some("wallet") => crate::wallet::run(&args[1..]),
        Some("chain") => crate::chain::run(&args[1..]),
        other => {
            eprintln!("oarn-worker-chain: unknown command {other:?}");
            oarn_protocol::exit::WorkerExit::Usage.into()
        }
    }
}
