//! The local chain every chain test and the `oarn-devnet` command use: anvil (npm
//! `@foundry-rs/anvil`, offline) with the contracts of `tests/contracts/` deployed, ENS
//! pointing at the registry, an RPC provider registered, and the configuration a node needs.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use alloy::network::EthereumWallet;
use alloy::primitives::{Address, B256, U256, keccak256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::signers::local::{MnemonicBuilder, PrivateKeySigner, coins_bip39::English};
use anyhow::{Context, bail};
use sha2::Digest;

/// The mnemonic anvil derives its funded accounts from (public: test funds only).
pub const TEST_MNEMONIC: &str = "test test test test test test test test test test test junk";
/// Account indexes with roles on the devnet.
pub const DEPLOYER: u32 = 0;
/// Account that stakes as the registered RPC provider.
pub const PROVIDER: u32 = 1;
/// One GOV or COMP, in base units.
pub const TOKEN: u128 = 1_000_000_000_000_000_000;

/// Bindings generated from the compiled artifacts (they deploy the test contracts).
#[allow(clippy::too_many_arguments, missing_docs)]
pub mod bindings {
    use alloy::sol;

    sol!(
        #[sol(rpc)]
        GOVToken,
        "contracts/artifacts/GOVToken.json"
    );
    sol!(
        #[sol(rpc)]
        COMPToken,
        "contracts/artifacts/COMPToken.json"
    );
    sol!(
        #[sol(rpc)]
        TaskRegistryV2,
        "contracts/artifacts/TaskRegistryV2.json"
    );
    sol!(
        #[sol(rpc)]
        ValidatorRegistry,
        "contracts/artifacts/ValidatorRegistry.json"
    );
    sol!(
        #[sol(rpc)]
        OARNRegistry,
        "contracts/artifacts/OARNRegistry.json"
    );
    sol!(
        #[sol(rpc)]
        ENSRegistry,
        "contracts/artifacts/ENSRegistry.json"
    );
    sol!(
        #[sol(rpc)]
        AddrResolver,
        "contracts/artifacts/AddrResolver.json"
    );
    sol!(
        #[sol(rpc)]
        NodeInterfaceMock,
        "contracts/artifacts/NodeInterfaceMock.json"
    );
}

use bindings::*;

/// What to start.
#[derive(Debug, Clone)]
pub struct Options {
    /// Loopback port; 0 picks a free one.
    pub port: u16,
    /// Chain id (Arbitrum One's by default).
    pub chain_id: u64,
    /// ENS name set for the registry.
    pub ens_name: String,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            port: 0,
            chain_id: 42161,
            ens_name: "oarn-registry.eth".into(),
        }
    }
}

/// Deployed contract addresses.
#[derive(Debug, Clone, Copy)]
pub struct Contracts {
    pub registry: Address,
    pub task_registry_v2: Address,
    pub comp: Address,
    pub gov: Address,
    pub validators: Address,
    pub ens: Address,
    pub resolver: Address,
}

/// A running devnet; anvil stops when this is dropped.
#[derive(Debug)]
pub struct Devnet {
    anvil: Child,
    pub rpc_url: String,
    pub chain_id: u64,
    pub ens_name: String,
    pub contracts: Contracts,
}

/// The anvil binary: `$OARN_ANVIL`, else the one `npm ci` put under `tests/contracts/`.
pub fn anvil_binary() -> PathBuf {
    std::env::var_os("OARN_ANVIL").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("contracts/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil")
    })
}

/// The signer of test account `index`.
pub fn account(index: u32) -> PrivateKeySigner {
    MnemonicBuilder::<English>::default()
        .phrase(TEST_MNEMONIC)
        .index(index)
        .and_then(|b| b.build())
        .expect("the test mnemonic derives")
}

pub use oarn_worker_chain::discovery::namehash;

/// Starts anvil and waits for the port it listens on.
fn start_anvil(opts: &Options) -> anyhow::Result<(Child, String)> {
    let bin = anvil_binary();
    if !bin.exists() {
        bail!(
            "anvil not found at {}: run `npm ci --prefix tests/contracts` (scripts/deps does) or set OARN_ANVIL",
            bin.display()
        );
    }
    let mut command = Command::new(&bin);
    command
        .args(["--host", "127.0.0.1", "--port", &opts.port.to_string()])
        .args(["--chain-id", &opts.chain_id.to_string(), "--mnemonic", TEST_MNEMONIC]);
    // anvil dies with whoever started it, however that ends (SIGKILL included), so no chain
    // is left holding the port.
    // SAFETY: prctl is async-signal-safe and touches only the child's own state.
    unsafe {
        use std::os::unix::process::CommandExt;
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let Some(Ok(line)) = lines.next() else { break };
        if let Some(addr) = line.strip_prefix("Listening on ") {
            let url = format!("http://{}", addr.trim());
            // Keep draining anvil's output so it never blocks on a full pipe.
            std::thread::spawn(move || lines.for_each(drop));
            return Ok((child, url));
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    bail!(
        "anvil did not say where it listens: is port {} taken (another devnet still running)? Use --port 0 for a free one",
        opts.port
    )
}

/// A provider that signs as test account `index`.
pub fn provider_for(url: &str, index: u32) -> anyhow::Result<DynProvider> {
    let wallet = EthereumWallet::from(account(index));
    Ok(ProviderBuilder::new()
        .wallet(wallet)
        .connect_http(url.parse()?)
        .erased())
}

impl Devnet {
    /// Starts anvil and deploys and wires everything.
    pub async fn start(opts: Options) -> anyhow::Result<Self> {
        let (anvil, rpc_url) = start_anvil(&opts)?;
        let mut devnet = Self {
            anvil,
            rpc_url,
            chain_id: opts.chain_id,
            ens_name: opts.ens_name.clone(),
            contracts: Contracts {
                registry: Address::ZERO,
                task_registry_v2: Address::ZERO,
                comp: Address::ZERO,
                gov: Address::ZERO,
                validators: Address::ZERO,
                ens: Address::ZERO,
                resolver: Address::ZERO,
            },
        };
        devnet.deploy().await?;
        Ok(devnet)
    }

    async fn deploy(&mut self) -> anyhow::Result<()> {
        let p = provider_for(&self.rpc_url, DEPLOYER)?;
        let deployer = account(DEPLOYER).address();
        let gov = GOVToken::deploy(&p, deployer, U256::from(1_000_000_000u128 * TOKEN)).await?;
        let comp = COMPToken::deploy(&p).await?;
        let tasks = TaskRegistryV2::deploy(&p).await?;
        let validators = ValidatorRegistry::deploy(&p, *gov.address(), U256::from(100 * TOKEN)).await?;
        let registry = OARNRegistry::deploy(
            &p,
            Address::ZERO,
            *tasks.address(),
            *comp.address(),
            *validators.address(),
            deployer,
            *gov.address(),
        )
        .await?;
        // ENS: eth → <name>, resolved by an address resolver to the registry.
        let ens = ENSRegistry::deploy(&p).await?;
        let resolver = AddrResolver::deploy(&p, *ens.address()).await?;
        let mut parent = B256::ZERO;
        for label in self.ens_name.rsplit('.') {
            ens.setSubnodeOwner(parent, keccak256(label.as_bytes()), deployer)
                .send()
                .await?
                .get_receipt()
                .await?;
            parent = keccak256([parent.as_slice(), keccak256(label.as_bytes()).as_slice()].concat());
        }
        let node = namehash(&self.ens_name);
        ens.setResolver(node, *resolver.address())
            .send()
            .await?
            .get_receipt()
            .await?;
        resolver
            .setAddr(node, *registry.address())
            .send()
            .await?
            .get_receipt()
            .await?;
        self.contracts = Contracts {
            registry: *registry.address(),
            task_registry_v2: *tasks.address(),
            comp: *comp.address(),
            gov: *gov.address(),
            validators: *validators.address(),
            ens: *ens.address(),
            resolver: *resolver.address(),
        };
        // The RPC provider stakes 5,000 GOV and registers this chain's endpoint.
        let provider_account = account(PROVIDER).address();
        gov.transfer(provider_account, U256::from(10_000 * TOKEN))
            .send()
            .await?
            .get_receipt()
            .await?;
        let pp = provider_for(&self.rpc_url, PROVIDER)?;
        let gov_p = GOVToken::new(self.contracts.gov, &pp);
        gov_p
            .approve(self.contracts.registry, U256::from(5_000 * TOKEN))
            .send()
            .await?
            .get_receipt()
            .await?;
        OARNRegistry::new(self.contracts.registry, &pp)
            .registerRPCProvider(self.rpc_url.clone(), String::new())
            .send()
            .await?
            .get_receipt()
            .await?;
        Ok(())
    }

    /// Registers a bootstrap node (staking 1,000 GOV from test account `index`).
    pub async fn register_bootstrap(&self, index: u32, peer_id: &str, multiaddr: &str) -> anyhow::Result<()> {
        let p = self
            .stake(index, self.contracts.registry, U256::from(1_000 * TOKEN))
            .await?;
        OARNRegistry::new(self.contracts.registry, &p)
            .registerBootstrapNode(peer_id.into(), multiaddr.into(), String::new(), String::new())
            .send()
            .await?
            .get_receipt()
            .await?;
        Ok(())
    }

    /// Sends `amount` GOV from the deployer to account `index` and has it approve `spender`
    /// for that much; returns a provider signing as `index`.
    async fn stake(&self, index: u32, spender: Address, amount: U256) -> anyhow::Result<DynProvider> {
        let p = provider_for(&self.rpc_url, DEPLOYER)?;
        GOVToken::new(self.contracts.gov, &p)
            .transfer(account(index).address(), amount)
            .send()
            .await?
            .get_receipt()
            .await?;
        let p = provider_for(&self.rpc_url, index)?;
        GOVToken::new(self.contracts.gov, &p)
            .approve(spender, amount)
            .send()
            .await?
            .get_receipt()
            .await?;
        Ok(p)
    }

    /// Registers account `index` in the ValidatorRegistry with `endpoint`, staking the
    /// minimum (100 GOV, sent from the deployer first).
    pub async fn register_validator(&self, index: u32, endpoint: &str) -> anyhow::Result<()> {
        let stake = U256::from(100 * TOKEN);
        let p = self.stake(index, self.contracts.validators, stake).await?;
        ValidatorRegistry::new(self.contracts.validators, &p)
            .registerValidator(endpoint.into(), stake)
            .send()
            .await?
            .get_receipt()
            .await?;
        Ok(())
    }

    /// Sends `eth` wei, `comp` and `gov` base units from the deployer to `to`.
    pub async fn fund(&self, to: Address, eth: U256, comp: U256, gov: U256) -> anyhow::Result<()> {
        let p = provider_for(&self.rpc_url, DEPLOYER)?;
        if !eth.is_zero() {
            let tx = alloy::rpc::types::TransactionRequest::default().to(to).value(eth);
            p.send_transaction(tx).await?.get_receipt().await?;
        }
        if !comp.is_zero() {
            COMPToken::new(self.contracts.comp, &p)
                .mint(to, comp)
                .send()
                .await?
                .get_receipt()
                .await?;
        }
        if !gov.is_zero() {
            GOVToken::new(self.contracts.gov, &p)
                .transfer(to, gov)
                .send()
                .await?
                .get_receipt()
                .await?;
        }
        Ok(())
    }

    /// Submits a task from test account `requester` paying `reward_per_node` wei to each of
    /// `required` nodes, open for `open_secs`; returns its id.
    pub async fn submit_task(
        &self,
        requester: u32,
        input: &[u8],
        reward_per_node: U256,
        required: u64,
        open_secs: u64,
    ) -> anyhow::Result<u64> {
        let task = Submitted {
            model_hash: keccak256(b"model"),
            input_hash: B256::from_slice(&sha2::Sha256::digest(input)),
            requirements: r#"{"framework":"llama.cpp"}"#.into(),
            reward_per_node,
            required,
            open_secs,
        };
        self.submit(requester, &task).await
    }

    /// Submits `task` from test account `requester`; returns its id.
    pub async fn submit(&self, requester: u32, task: &Submitted) -> anyhow::Result<u64> {
        let Submitted {
            model_hash,
            input_hash,
            requirements,
            reward_per_node,
            required,
            open_secs,
        } = task.clone();
        let p = provider_for(&self.rpc_url, requester)?;
        let registry = TaskRegistryV2::new(self.contracts.task_registry_v2, &p);
        let now = p
            .get_block(alloy::eips::BlockNumberOrTag::Latest.into())
            .await?
            .map_or(0, |b| b.header.timestamp);
        registry
            .submitTask_1(
                model_hash,
                input_hash,
                requirements,
                reward_per_node,
                U256::from(required),
                U256::from(now + open_secs),
            )
            .value(reward_per_node * U256::from(required))
            .send()
            .await?
            .get_receipt()
            .await?;
        Ok(registry.taskCount().call().await?.to::<u64>())
    }

    /// Places a stand-in for Arbitrum's NodeInterface precompile at its address (anvil has no
    /// such precompile; the stand-in answers fixed figures).
    pub async fn arbitrum_node_interface(&self) -> anyhow::Result<()> {
        let p = provider_for(&self.rpc_url, DEPLOYER)?;
        let mock = NodeInterfaceMock::deploy(&p).await?;
        let code = p.get_code_at(*mock.address()).await?;
        let at = Address::with_last_byte(0xc8);
        p.raw_request::<_, serde_json::Value>("anvil_setCode".into(), (at, code))
            .await?;
        Ok(())
    }

    /// The configuration a node needs to discover everything from ENS on this devnet.
    pub fn config_toml(&self) -> String {
        format!(
            "[network.discovery]\n\
             discovery_method = \"auto\"\n\
             ens_name = \"{}\"\n\
             ens_rpc_urls = [\"{}\"]\n\
             ens_registry = \"{}\"\n\n\
             [blockchain]\n\
             chain_id = {}\n",
            self.ens_name, self.rpc_url, self.contracts.ens, self.chain_id
        )
    }
}

/// A task to submit: its hashes (sha256 of its blocks), requirements and reward.
#[derive(Debug, Clone)]
pub struct Submitted {
    pub model_hash: B256,
    pub input_hash: B256,
    pub requirements: String,
    pub reward_per_node: U256,
    pub required: u64,
    pub open_secs: u64,
}

impl Drop for Devnet {
    fn drop(&mut self) {
        let _ = self.anvil.kill();
        let _ = self.anvil.wait();
    }
}
