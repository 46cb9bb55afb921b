//! Messages of the chain worker (`oarn-worker-chain`): discovery, the signing key (unlocked
//! once, kept in the worker's locked memory), task and consensus reads, claims, submissions,
//! receipts, balances, transfers, validator registration and the account's events.
//!
//! Every chain operation but [`Discover`] runs against the network the last `Discover`
//! found; every one that signs needs a key [`Unlock`]ed first. Amounts of wei travel as
//! decimal strings (a `uint256` may be any size), addresses and hashes as bytes; all of it is
//! what an RPC endpoint said, and the supervisor treats it as untrusted.

use wincode::{SchemaRead, SchemaWrite};

use crate::envelope::{Down, Info, Progress, Up};

/// Supervisor → chain worker.
#[derive(Debug, Clone, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub enum Request {
    GetInfo(GetInfo),
    Discover(Discover),
    Unlock(Unlock),
    Lock(Lock),
    ListTasks(ListTasks),
    ReadTask(ReadTask),
    Claim(Claim),
    Submit(Submit),
    CreateTask(CreateTask),
    ReadReceipt(ReadReceipt),
    Balances(Balances),
    Quote(Quote),
    Transfer(Transfer),
    RegisterValidator(RegisterValidator),
    Events(Events),
    GetHealth(GetHealth),
}

crate::calls! {
    GetInfo => Info(Info),
    Discover => Network(Network),
    Unlock => Unlocked(Unlocked),
    Lock => Done(()),
    ListTasks => Tasks(TaskList),
    ReadTask => Task(TaskDetail),
    Claim => Sent(Sent),
    Submit => Sent(Sent),
    CreateTask => Created(Created),
    ReadReceipt => Receipt(Option<Sent>),
    Balances => Balances(Holdings),
    Quote => Quoted(Quoted),
    Transfer => Sent(Sent),
    RegisterValidator => Staked(Staked),
    Events => Cursor(Cursor),
    GetHealth => Health(Health),
}

/// What the worker can do and how busy it is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct GetInfo;

/// The endpoint in use and the chain's head, for monitoring. The worker reads the head at most
/// once per [`HEALTH_CACHE_SECS`], however often it is asked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct GetHealth;

/// How long the worker answers [`GetHealth`] from what it last read.
pub const HEALTH_CACHE_SECS: u64 = 5;

/// The chain as the worker sees it ([`GetHealth`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct Health {
    /// The endpoint in use (credentials removed).
    pub endpoint: String,
    /// The head block's number and its timestamp (Unix seconds).
    pub head: u64,
    pub head_time: u64,
    /// Times the worker switched from one endpoint to another since it started.
    pub switches: u64,
}

/// chain worker → supervisor, final answers.
#[derive(Debug, Clone, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub enum Reply {
    Info(Info),
    Network(Network),
    Unlocked(Unlocked),
    Done(()),
    Tasks(TaskList),
    Task(TaskDetail),
    Sent(Sent),
    Created(Created),
    Receipt(Option<Sent>),
    Balances(Holdings),
    Quoted(Quoted),
    Staked(Staked),
    /// Where an event scan ended.
    Cursor(Cursor),
    Health(Health),
}

/// Open `keystore` (the bytes of `{home}/wallet.encrypted` as the supervisor read them, so a
/// wallet created after the worker started opens too; the worker parses them) with
/// `passphrase`, and keep the signer of account `index` in locked memory until [`Lock`] or
/// the worker ends. The worker wipes the passphrase once read.
#[derive(Clone, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct Unlock {
    pub keystore: Vec<u8>,
    pub passphrase: Vec<u8>,
    pub index: u32,
}

impl std::fmt::Debug for Unlock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Unlock {{ index: {}, passphrase: <redacted> }}", self.index)
    }
}

/// What an [`Unlock`] did.
#[derive(Debug, Clone, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub enum Unlocked {
    /// The key of this account is now held.
    Account([u8; 20]),
    /// The passphrase does not open the keystore.
    WrongPassphrase,
    /// The keystore is missing, modified, truncated or damaged.
    Damaged(String),
    /// The keystore has no such account (a private key has only account 0).
    NoSuchAccount(String),
}

/// Drop the signing key (wiped).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct Lock;

/// The newest `last` tasks of TaskRegistryV2 (at most 1000), newest first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct ListTasks {
    pub last: u64,
}

/// One task, its consensus status and results, and this node's part in it when a key is held.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct ReadTask {
    pub id: u64,
}

/// Claim a task with the held key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct Claim {
    pub id: u64,
}

/// Submit `result_hash` (keccak256 of the result bytes, computed by the supervisor) for a task
/// the held key claimed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct Submit {
    pub id: u64,
    pub result_hash: [u8; 32],
}

/// Submit a task as a requester (`submitTask`, majority consensus), paying
/// `reward_per_node_wei × required_nodes` with the held key.
#[derive(Debug, Clone, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct CreateTask {
    pub model_hash: [u8; 32],
    pub input_hash: [u8; 32],
    pub model_requirements: String,
    /// Wei, decimal.
    pub reward_per_node_wei: String,
    pub required_nodes: u64,
    /// Unix seconds.
    pub deadline: u64,
}

/// A task created: its id (from the receipt's `TaskCreated`) and the transaction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct Created {
    pub id: u64,
    pub sent: Sent,
}

/// The receipt of a transaction, `None` while it is not mined.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct ReadReceipt {
    pub tx: [u8; 32],
}

/// ETH, COMP and GOV held by `account` (default: the held key's).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct Balances {
    pub account: Option<[u8; 20]>,
}

/// What a token transfer moves.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub enum Token {
    #[default]
    Eth,
    /// The reward token discovery found (OARNRegistry's tokenReward).
    Comp,
    /// The governance token discovery found.
    Gov,
}

impl Token {
    pub fn symbol(self) -> &'static str {
        match self {
            Token::Eth => "ETH",
            Token::Comp => "COMP",
            Token::Gov => "GOV",
        }
    }
}

/// What sending `amount` (a decimal number of whole units, up to 18 decimals) of `token`
/// from the held key to `to` would take; nothing is signed.
#[derive(Debug, Clone, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct Quote {
    pub to: [u8; 20],
    pub amount: String,
    pub token: Token,
}

/// The transfer a [`Quoted`] describes, which the operator agreed to: sent with at most the
/// fees quoted.
#[derive(Debug, Clone, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct Transfer {
    pub quote: Quote,
    pub gas: u64,
    pub max_fee_per_gas: u128,
    pub max_priority_fee_per_gas: u128,
}

/// What a transfer takes, checked against what the account holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct Quoted {
    pub from: [u8; 20],
    /// The amount in wei (decimal).
    pub value_wei: String,
    pub gas: u64,
    pub max_fee_per_gas: u128,
    pub max_priority_fee_per_gas: u128,
    /// The most the network fee can be, in wei (decimal).
    pub max_fee_wei: String,
    /// The L1 data-posting part of the gas, where the endpoint is an Arbitrum node.
    pub l1_gas: Option<u64>,
    /// Why the account cannot pay for it, when it cannot: nothing may then be sent.
    pub insufficient: Option<String>,
}

/// Register the held key as a premium (validator-routed) node in the ValidatorRegistry,
/// staking `stake` GOV (whole units; default the registry's minimum).
#[derive(Debug, Clone, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct RegisterValidator {
    pub endpoint: String,
    pub stake: Option<String>,
}

/// The held key's account's events after `cursor`, up to the head less `confirmations`; with
/// `follow`, scan after scan as blocks arrive (woken by the endpoint's websocket, else every
/// `poll_secs`) until cancelled. Events and cursors stream as [`Event`]s; the reply is the
/// last cursor.
#[derive(Debug, Clone, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct Events {
    pub account: Option<[u8; 20]>,
    pub cursor: Option<Cursor>,
    pub confirmations: u64,
    pub follow: bool,
    pub poll_only: bool,
    pub poll_secs: u64,
}

/// Where an event scan stopped: the next one starts after `block`, on the same chain and
/// registry (otherwise it starts again from recent blocks).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct Cursor {
    pub chain_id: u64,
    pub task_registry_v2: [u8; 20],
    pub block: u64,
}

/// A task as TaskRegistryV2 holds it.
#[derive(Debug, Clone, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct TaskView {
    pub id: u64,
    pub requester: [u8; 20],
    pub model_hash: [u8; 32],
    pub input_hash: [u8; 32],
    pub model_requirements: String,
    pub reward_per_node_wei: String,
    pub required_nodes: u64,
    pub claimed: u64,
    pub submitted: u64,
    pub deadline: u64,
    /// 0 Pending, 1 Active, 2 Consensus, 3 Completed, 4 Disputed, 5 Cancelled, 6 Expired.
    pub status: u8,
    /// 0 Majority, 1 SuperMajority, 2 Unanimous.
    pub consensus_type: u8,
    pub created_at: u64,
    pub consensus_result: [u8; 32],
}

/// The newest tasks.
#[derive(Debug, Clone, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct TaskList {
    pub task_count: u64,
    pub tasks: Vec<TaskView>,
}

/// One task with its consensus status and results.
#[derive(Debug, Clone, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct TaskDetail {
    pub task: TaskView,
    pub winning_hash: [u8; 32],
    pub winning_count: u64,
    pub total_submissions: u64,
    pub reached: bool,
    pub unique_results: u64,
    pub results: Vec<NodeResult>,
    /// Whether the held key's account claimed it and submitted to it (`None` without a key).
    pub claimed_by_us: Option<bool>,
    pub submitted_by_us: Option<bool>,
    /// Whether the held key's account has sent transactions not yet mined (its pending nonce
    /// is ahead of its mined one): a claim or submission may still land.
    pub unmined: Option<bool>,
    /// The held key's account's own result, when it submitted one.
    pub ours: Option<NodeResult>,
}

/// One node's result on chain.
#[derive(Debug, Clone, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct NodeResult {
    pub node: [u8; 20],
    pub result_hash: [u8; 32],
    pub submitted_at: u64,
    pub matches_consensus: bool,
    pub rewarded: bool,
}

/// A mined transaction of the held key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct Sent {
    pub from: [u8; 20],
    pub tx: [u8; 32],
    pub block: u64,
    pub gas_used: u64,
    pub effective_gas_price: u128,
    /// The L1 data-posting part of `gas_used`, where the endpoint reports it (on Arbitrum,
    /// `gas_used` already includes it; this is the split).
    pub l1_gas: Option<u64>,
    /// From its broadcast until its receipt, ms: how long it waited for a block.
    pub wait_ms: u64,
}

/// A validator registration sent: the registering transaction, and the GOV staked (wei,
/// decimal).
#[derive(Debug, Clone, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct Staked {
    pub sent: Sent,
    pub stake_wei: String,
}

/// What an account holds, in wei (decimal).
#[derive(Debug, Clone, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct Holdings {
    pub account: [u8; 20],
    pub eth: String,
    pub comp: String,
    pub gov: String,
    pub comp_token: [u8; 20],
    pub gov_token: [u8; 20],
}

/// One event of the account, as the chain logged it.
#[derive(Debug, Clone, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct ChainEvent {
    pub block: u64,
    pub log_index: u64,
    pub tx: [u8; 32],
    pub kind: EventKind,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub enum EventKind {
    TaskCreated {
        task: u64,
        requester: [u8; 20],
        model_hash: [u8; 32],
        reward_per_node_wei: String,
        required_nodes: u64,
        /// Created by this account.
        ours: bool,
    },
    TaskClaimed {
        task: u64,
    },
    ResultSubmitted {
        task: u64,
        result_hash: [u8; 32],
    },
    RewardDistributed {
        task: u64,
        amount_wei: String,
        matched_consensus: bool,
    },
    /// For a task this account claimed.
    ConsensusReached {
        task: u64,
        consensus_hash: [u8; 32],
        agreeing: u64,
        total_nodes: u64,
    },
    /// For a task this account claimed.
    ConsensusDisputed {
        task: u64,
        unique_results: u64,
    },
    TokenReceived {
        token: [u8; 20],
        from: [u8; 20],
        amount_wei: String,
    },
}

/// Find the network from the node's configuration (ENS → OARNRegistry, or manual): where
/// discovery starts.
#[derive(Debug, Clone, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct Discover {
    /// Chain the registry lives on.
    pub chain_id: u64,
    /// Use `rpc_urls` and `registry` as given instead of ENS.
    pub manual: bool,
    /// Endpoints of the registry's chain (manual).
    pub rpc_urls: Vec<String>,
    /// OARNRegistry address (manual).
    pub registry: Option<[u8; 20]>,
    /// ENS name of the registry.
    pub ens_name: String,
    /// Endpoints that resolve ENS.
    pub ens_rpc_urls: Vec<String>,
    /// ENS registry address.
    pub ens_registry: Option<[u8; 20]>,
}

/// What discovery found.
#[derive(Debug, Clone, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct Network {
    /// The chain's id, as its endpoint says.
    pub chain_id: u64,
    /// OARNRegistry.
    pub registry: [u8; 20],
    /// TaskRegistry (v1).
    pub task_registry: [u8; 20],
    /// TaskRegistryV2.
    pub task_registry_v2: [u8; 20],
    /// Governance.
    pub governance: [u8; 20],
    /// The reward token (COMP).
    pub token_reward: [u8; 20],
    /// The governance token.
    pub gov_token: [u8; 20],
    /// The ValidatorRegistry (zero where the network has none).
    pub validator_registry: [u8; 20],
    /// Active RPC providers' endpoints.
    pub rpc_providers: Vec<String>,
    /// Active bootstrap peers: (peer id, multiaddr), for the network worker.
    pub bootstrap: Vec<(String, String)>,
    /// Active validators' endpoints (multiaddrs) from the ValidatorRegistry, for
    /// validator-routed mode.
    pub validators: Vec<String>,
    /// The endpoint in use (credentials removed).
    pub endpoint: String,
    /// Its head block.
    pub head: u64,
}

/// chain worker → supervisor, streamed while a request runs.
#[derive(Debug, Clone, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub enum Event {
    Progress(Progress),
    /// An event of the account ([`Events`]).
    Chain(ChainEvent),
    /// Every event before this was sent: a scan may resume after it.
    Scanned {
        from_block: u64,
        head: u64,
        cursor: Cursor,
    },
    /// How a following scan is woken: `subscription` (the endpoint's websocket) or `polling`.
    Following {
        how: String,
        endpoint: String,
    },
    /// A transaction was sent and is waiting to be mined (its hash, to look it up).
    Pending {
        tx: [u8; 32],
    },
}

/// A frame to the chain worker.
pub type ToWorker = Down<Request>;
/// A frame from the chain worker.
pub type FromWorker = Up<Reply, Event>;

crate::worker_protocol!(crate::WorkerKind::Chain);
