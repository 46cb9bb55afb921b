//! Finding the network from nothing but configuration: ENS name → OARNRegistry address →
//! core contracts (`getCoreContractsV2`), RPC providers (`getActiveRPCProviders`) and
//! bootstrap peers (`getActiveBootstrapNodes`), then the validators of validator-routed mode
//! (`ValidatorRegistry.getValidators`, where the network lists that registry). With `discovery_method = "manual"` the
//! configured endpoints and registry address are used instead of ENS.

use alloy::primitives::{Address, B256, keccak256};
use alloy::providers::DynProvider;
use serde::Serialize;

use crate::contracts::{ENS, ENSResolver, OARNRegistry, ValidatorRegistry};
use crate::rpc::{self, Pool};

/// What discovery starts from (from the node's configuration).
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// Chain the registry lives on (42161 Arbitrum One).
    pub chain_id: u64,
    /// `manual`: use `rpc_urls` and `registry` as given.
    pub manual: bool,
    /// Endpoints of the registry's chain (manual only).
    pub rpc_urls: Vec<String>,
    /// Registry address (manual only).
    pub registry: Option<Address>,
    /// ENS name of the registry.
    pub ens_name: String,
    /// Endpoints that resolve ENS.
    pub ens_rpc_urls: Vec<String>,
    /// ENS registry contract on those endpoints.
    pub ens_registry: Option<Address>,
}

/// Addresses in JSON output are EIP-55 checksummed, as everywhere else the node prints them.
fn checksummed<S: serde::Serializer>(a: &Address, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&a.to_string())
}

/// Core contract addresses.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Core {
    #[serde(serialize_with = "checksummed")]
    pub task_registry: Address,
    #[serde(serialize_with = "checksummed")]
    pub task_registry_v2: Address,
    #[serde(serialize_with = "checksummed")]
    pub token_reward: Address,
    #[serde(serialize_with = "checksummed")]
    pub validator_registry: Address,
    #[serde(serialize_with = "checksummed")]
    pub governance: Address,
    #[serde(serialize_with = "checksummed")]
    pub gov_token: Address,
}

/// A bootstrap peer from the registry.
#[derive(Debug, Clone, Serialize)]
pub struct Bootstrap {
    pub peer_id: String,
    pub multiaddr: String,
}

/// Everything discovered.
#[derive(Debug, Clone, Serialize)]
pub struct Network {
    #[serde(serialize_with = "checksummed")]
    pub registry: Address,
    pub core: Core,
    pub rpc_providers: Vec<String>,
    pub bootstrap: Vec<Bootstrap>,
    /// Active validators' endpoints (multiaddrs), as the ValidatorRegistry lists them.
    pub validators: Vec<String>,
}

/// Most validators taken from the registry.
pub const MAX_VALIDATORS: usize = 64;

/// Why discovery failed. Each message says which step and what to check.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An endpoint problem.
    #[error(transparent)]
    Rpc(#[from] rpc::Error),
    /// ENS is not configured.
    #[error(
        "ENS discovery needs network.discovery.ens_rpc_urls and network.discovery.ens_registry \
         (or discovery_method = \"manual\" with blockchain.rpc_urls and blockchain.registry_address)"
    )]
    EnsNotConfigured,
    /// The name has no resolver or no address.
    #[error("the ENS name {0:?} does not resolve to an address ({1})")]
    Unresolved(String, &'static str),
    /// No endpoint of the registry's chain is known.
    #[error(
        "no RPC endpoint for chain {0} is known yet: the ENS endpoints serve another chain and the \
         DHT is not reachable; set discovery_method = \"manual\" with blockchain.rpc_urls"
    )]
    NoChainEndpoint(u64),
    /// Manual discovery without a registry address.
    #[error("discovery_method = \"manual\" needs blockchain.registry_address")]
    NoRegistry,
    /// A contract call failed.
    #[error("{step}: {message}")]
    Call {
        /// What was being read.
        step: &'static str,
        /// The error.
        message: String,
    },
}

/// ENS namehash (EIP-137).
pub fn namehash(name: &str) -> B256 {
    let mut node = B256::ZERO;
    for label in name.rsplit('.').filter(|l| !l.is_empty()) {
        node = keccak256([node.as_slice(), keccak256(label.as_bytes()).as_slice()].concat());
    }
    node
}

fn call_error(step: &'static str) -> impl FnOnce(alloy::contract::Error) -> Error {
    move |e| Error::Call {
        step,
        message: e.to_string(),
    }
}

/// Resolves `name` through the ENS registry at `ens` on `provider`.
async fn resolve(provider: &DynProvider, ens: Address, name: &str) -> Result<Address, Error> {
    let node = namehash(name);
    let resolver = ENS::new(ens, provider)
        .resolver(node)
        .call()
        .await
        .map_err(call_error("ENS resolver lookup"))?;
    if resolver.is_zero() {
        return Err(Error::Unresolved(name.into(), "no resolver set"));
    }
    let addr = ENSResolver::new(resolver, provider)
        .addr(node)
        .call()
        .await
        .map_err(call_error("ENS address lookup"))?;
    if addr.is_zero() {
        return Err(Error::Unresolved(name.into(), "no address record"));
    }
    Ok(addr)
}

/// Discovers the network; returns it and a pool of the registry chain's endpoints (the
/// configured or ENS ones first, then the registry's providers).
pub async fn discover(settings: &Settings) -> Result<(Network, Pool), Error> {
    let (registry, mut pool) = if settings.manual {
        let registry = settings.registry.ok_or(Error::NoRegistry)?;
        (registry, Pool::new(settings.chain_id, &settings.rpc_urls)?)
    } else {
        let ens = settings.ens_registry.ok_or(Error::EnsNotConfigured)?;
        if settings.ens_rpc_urls.is_empty() {
            return Err(Error::EnsNotConfigured);
        }
        // ENS answers on whatever chain its endpoints serve; find that chain first.
        let mut ens_pool = Pool::new(0, &settings.ens_rpc_urls)?;
        let ens_chain = ens_pool.discover_chain().await?;
        let endpoint = ens_pool.current().await?.clone();
        let registry = resolve(endpoint.provider(), ens, &settings.ens_name).await?;
        if ens_chain != settings.chain_id {
            return Err(Error::NoChainEndpoint(settings.chain_id));
        }
        // Same chain: the endpoints just checked serve the registry too.
        (registry, ens_pool)
    };
    let endpoint = pool.current().await?.clone();
    let r = OARNRegistry::new(registry, endpoint.provider());
    let core = r
        .getCoreContractsV2()
        .call()
        .await
        .map_err(call_error("OARNRegistry.getCoreContractsV2"))?;
    let providers = r
        .getActiveRPCProviders()
        .call()
        .await
        .map_err(call_error("OARNRegistry.getActiveRPCProviders"))?;
    let bootstrap = r
        .getActiveBootstrapNodes()
        .call()
        .await
        .map_err(call_error("OARNRegistry.getActiveBootstrapNodes"))?;
    let rpc_providers: Vec<String> = providers
        .into_iter()
        .filter(|p| p.isActive && !p.endpoint.is_empty())
        .map(|p| p.endpoint)
        .take(rpc::MAX_ENDPOINTS)
        .collect();
    pool.extend(&rpc_providers);
    let validators = validators(endpoint.provider(), core.validatorRegistry).await;
    let network = Network {
        registry,
        core: Core {
            task_registry: core.taskRegistry,
            task_registry_v2: core.taskRegistryV2,
            token_reward: core.tokenReward,
            validator_registry: core.validatorRegistry,
            governance: core.governance,
            gov_token: core.govToken,
        },
        rpc_providers,
        bootstrap: bootstrap
            .into_iter()
            .filter(|b| b.isActive)
            .map(|b| Bootstrap {
                peer_id: b.peerId,
                multiaddr: b.multiaddr,
            })
            .collect(),
        validators,
    };
    Ok((network, pool))
}

/// The active validators' endpoints. The ValidatorRegistry is not yet published by the
/// network, so a registry that is absent or does not answer means none (and a warning), not
/// a failed discovery.
async fn validators(provider: &DynProvider, registry: Address) -> Vec<String> {
    if registry.is_zero() {
        return Vec::new();
    }
    match ValidatorRegistry::new(registry, provider).getValidators().call().await {
        Ok(list) => list
            .into_iter()
            .filter(|v| v.isActive && !v.endpoint.is_empty())
            .map(|v| v.endpoint)
            .take(MAX_VALIDATORS)
            .collect(),
        Err(e) => {
            tracing::warn!(%registry, "cannot list the validators (ValidatorRegistry.getValidators): {e}");
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namehash_follows_eip_137() {
        assert_eq!(namehash(""), B256::ZERO);
        assert_eq!(
            namehash("eth").to_string(),
            "0x93cdeb708b7545dc668eb9280176169d1c33cfd8ed6f04690a0bcc88a93fc4ae"
        );
        assert_eq!(
            namehash("foo.eth").to_string(),
            "0xde9b09fd7c5f901e23a3f19fecc54828e9c848539801e86591bd9801b019f84f"
        );
    }
}
