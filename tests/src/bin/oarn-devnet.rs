//! `oarn-devnet`: a local OARN chain for development and tests. Starts anvil on loopback,
//! deploys the contracts of `tests/contracts/`, points ENS at the registry, registers an RPC
//! provider, funds the addresses given, prints the node configuration, and runs until Ctrl-C
//! or SIGTERM; anvil never outlives it.
//!
//! `cargo run -p oarn-tests --bin oarn-devnet -- --fund 0xYourNodeAddress`

use std::process::ExitCode;

use alloy::primitives::{Address, U256};
use clap::Parser;
use oarn_tests::devnet::{Devnet, Options, TOKEN};
use serde_json::json;

#[derive(Debug, Parser)]
#[command(
    name = "oarn-devnet",
    about = "A local OARN chain: anvil with the OARN contracts deployed"
)]
struct Args {
    /// Loopback port for the RPC endpoint (0 picks a free one).
    #[arg(long, default_value_t = 8545)]
    port: u16,
    /// Chain id (42161 is Arbitrum One's).
    #[arg(long, default_value_t = 42161)]
    chain_id: u64,
    /// Give this address 10 ETH, 1,000 COMP and 2,000 GOV (repeatable).
    #[arg(long)]
    fund: Vec<Address>,
    /// Register a bootstrap node: PEER_ID=MULTIADDR (repeatable; staked by test accounts 2, 3, …).
    #[arg(long)]
    bootstrap: Vec<String>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match main_exec(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("oarn-devnet: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn main_exec(args: Args) -> anyhow::Result<()> {
    let devnet = Devnet::start(Options {
        port: args.port,
        chain_id: args.chain_id,
        ..Options::default()
    })
    .await?;
    for (i, entry) in args.bootstrap.iter().enumerate() {
        let (peer, addr) = entry
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("--bootstrap {entry:?}: expected PEER_ID=MULTIADDR"))?;
        devnet.register_bootstrap(2 + i as u32, peer, addr).await?;
    }
    for to in &args.fund {
        devnet
            .fund(
                *to,
                U256::from(10 * TOKEN),
                U256::from(1_000 * TOKEN),
                U256::from(2_000 * TOKEN),
            )
            .await?;
    }
    let c = devnet.contracts;
    if args.json {
        let out = json!({
            "rpc_url": devnet.rpc_url,
            "chain_id": devnet.chain_id,
            "ens_name": devnet.ens_name,
            "contracts": {
                "OARNRegistry": c.registry, "TaskRegistryV2": c.task_registry_v2, "COMPToken": c.comp,
                "GOVToken": c.gov, "ValidatorRegistry": c.validators, "ENSRegistry": c.ens, "AddrResolver": c.resolver,
            },
            "config": devnet.config_toml(),
        });
        println!("{out}");
    } else {
        println!("OARN devnet on {} (chain id {})\n", devnet.rpc_url, devnet.chain_id);
        println!("  OARNRegistry       {}  ({})", c.registry, devnet.ens_name);
        println!("  TaskRegistryV2     {}", c.task_registry_v2);
        println!("  COMPToken          {}", c.comp);
        println!("  GOVToken           {}", c.gov);
        println!("  ValidatorRegistry  {}", c.validators);
        println!("  ENSRegistry        {}\n", c.ens);
        println!("Add this to the node's config.toml:\n\n{}", devnet.config_toml());
        println!("Ctrl-C stops the chain.");
    }
    // Ctrl-C or SIGTERM: the devnet is dropped, which stops anvil (which would die with this
    // process anyway).
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r?,
        _ = term.recv() => {}
    }
    drop(devnet);
    Ok(())
}
