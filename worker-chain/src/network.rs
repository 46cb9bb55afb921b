//! `oarn chain discover`: what the node finds on the network from its configuration, so an
//! operator can check discovery before starting the node.

use std::ffi::OsString;
use std::process::ExitCode;

use alloy::providers::Provider;
use clap::Parser;
use serde_json::json;

use crate::command::{ChainArgs, runtime};
use crate::discovery;

#[derive(Debug, Parser)]
#[command(name = "chain", no_binary_name = true)]
struct Args {
    #[command(subcommand)]
    op: Op,
}

#[derive(Debug, clap::Subcommand)]
enum Op {
    /// Resolve the registry and list core contracts, RPC providers and bootstrap peers.
    Discover {
        #[command(flatten)]
        chain: ChainArgs,
        #[arg(long)]
        json: bool,
    },
}

/// Runs `chain <op>`.
pub fn run(args: &[OsString]) -> ExitCode {
    let args = match Args::try_parse_from(args) {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(2);
        }
    };
    let Op::Discover { chain, json } = args.op;
    let result = runtime().map_err(|e| e.to_string()).and_then(|rt| {
        rt.block_on(async {
            let (network, mut pool) = discovery::discover(&chain.settings())
                .await
                .map_err(|e| e.to_string())?;
            let endpoint = pool.current().await.map_err(|e| e.to_string())?.clone();
            let head = endpoint
                .provider()
                .get_block_number()
                .await
                .map_err(|e| e.to_string())?;
            Ok::<_, String>((network, endpoint.url, head))
        })
    });
    match result {
        Ok((network, url, head)) => {
            if json {
                let mut v = serde_json::to_value(&network).unwrap_or_default();
                v["endpoint"] = json!(url);
                v["head"] = json!(head);
                v["chain_id"] = json!(chain.chain_id);
                println!("{v}");
            } else {
                println!("Chain {} via {url} (head block {head})", chain.chain_id);
                println!("OARNRegistry        {}", network.registry);
                let c = network.core;
                println!("TaskRegistryV2      {}", c.task_registry_v2);
                println!("TaskRegistry        {}", c.task_registry);
                println!("Reward token (COMP) {}", c.token_reward);
                println!("GOV token           {}", c.gov_token);
                println!("ValidatorRegistry   {}", c.validator_registry);
                println!("Governance          {}", c.governance);
                println!("RPC providers       {}", network.rpc_providers.len());
                for p in &network.rpc_providers {
                    println!("  {p}");
                }
                println!("Bootstrap peers     {}", network.bootstrap.len());
                for b in &network.bootstrap {
                    println!("  {} {}", b.peer_id, b.multiaddr);
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
