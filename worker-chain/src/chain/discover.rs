//! `oarn chain discover`: what the node finds on the network from its configuration, so an
//! operator can check discovery before starting the node.

use alloy::providers::Provider;
use serde_json::json;

use crate::command::{ChainArgs, runtime};
use crate::discovery;

/// Prints what discovery finds.
pub(super) fn run(chain: &ChainArgs, json: bool) -> Result<(), super::Error> {
    let rt = runtime()?;
    let result = rt.block_on(async {
        let (network, mut pool) = discovery::discover(&chain.settings()).await?;
        let endpoint = pool.current().await.map_err(discovery::Error::from)?.clone();
        let head = endpoint
            .provider()
            .get_block_number()
            .await
            .map_err(|e| discovery::Error::Call {
                step: "reading the head block",
                message: e.to_string(),
            })?;
        Ok::<_, discovery::Error>((network, endpoint.url, head))
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
                println!("Validators          {}", network.validators.len());
                for v in &network.validators {
                    println!("  {v}");
                }
            }
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}
