//! The chain side, through the node's chain worker and the key it holds: `oarn_unlock`,
//! `oarn_chainTasks`, `oarn_chainTask`, `oarn_claim`, `oarn_submit`, `oarn_balance`,
//! `oarn_quote`, `oarn_transfer`, `oarn_registerValidator` and `oarn_events` (streams
//! `oarn_event`). Addresses are EIP-55 checksummed text, amounts of wei decimal text (a
//! `uint256` may be any size), as the chain's own tools write them.

use serde::{Deserialize, Serialize};

use crate::{Hash32, Streaming, TaskId, method};

/// `oarn_unlock`: unlock the node's wallet (account `index`) so the node can sign. The
/// passphrase travels over the 0600 socket and is wiped by the node once handed on.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Unlock {
    /// The keystore's passphrase; never logged, wiped once handed to the chain worker.
    pub passphrase: String,
    /// The HD account to sign with (0 unless the operator chose another).
    #[serde(default)]
    pub index: u32,
}

impl std::fmt::Debug for Unlock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Unlock {{ index: {}, passphrase: <redacted> }}", self.index)
    }
}

method!(Unlock, "oarn_unlock", crate::node::WalletState);

/// `oarn_chainTasks`: the newest tasks of TaskRegistryV2.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListTasks {
    /// How many of the newest tasks (default 20).
    #[serde(default = "twenty")]
    pub last: u64,
}

fn twenty() -> u64 {
    20
}

method!(ListTasks, "oarn_chainTasks", TaskList);

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskList {
    /// How many tasks the registry holds in all.
    pub task_count: u64,
    /// The newest of them, newest first.
    pub tasks: Vec<Task>,
}

/// A task as TaskRegistryV2 holds it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Task {
    /// The registry's task id.
    pub id: u64,
    /// The account that submitted and funded it.
    pub requester: String,
    /// The model's hash: its GGUF file's sha256, or as `task-format.md` defines it.
    pub model_hash: Hash32,
    /// The input's hash: the raw IPFS block holding the task input.
    pub input_hash: Hash32,
    /// Free text from the requester (clean it before showing it).
    pub model_requirements: String,
    /// What each node whose result matches consensus earns, in wei.
    pub reward_per_node_wei: String,
    /// How many nodes must submit before consensus is checked.
    pub required_nodes: u64,
    /// Nodes that claimed it so far.
    pub claimed: u64,
    /// Nodes that submitted a result so far.
    pub submitted: u64,
    /// Unix time after which results are no longer accepted.
    pub deadline: u64,
    /// pending, active, consensus, completed, disputed, cancelled, expired.
    pub status: String,
    /// majority, super-majority, unanimous.
    pub consensus_type: String,
    /// Unix time of submission.
    pub created_at: u64,
    /// The result consensus settled on (zero until it has).
    pub consensus_result: Hash32,
}

/// `oarn_chainTask`: one task, its consensus status and results.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadTask {
    /// The registry's task id.
    pub id: TaskId,
}
method!(ReadTask, "oarn_chainTask", TaskDetail);

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskDetail {
    #[serde(flatten)]
    pub task: Task,
    /// Where its consensus stands.
    pub consensus: Consensus,
    /// Every result submitted, in order.
    pub results: Vec<NodeResult>,
    /// Whether the node's account claimed it and submitted to it (when a key is held).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed_by_us: Option<bool>,
    /// Whether the node's account submitted a result to it (when a key is held).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submitted_by_us: Option<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Consensus {
    /// The result hash submitted most often so far.
    pub winning_hash: Hash32,
    /// How many nodes submitted it.
    pub winning_count: u64,
    /// Results submitted in all.
    pub total: u64,
    /// Whether the task's consensus rule is met.
    pub reached: bool,
    /// How many different results were submitted.
    pub unique_results: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeResult {
    /// The submitting node's account.
    pub node: String,
    /// The hash it submitted: the raw IPFS block of its result.
    pub result_hash: Hash32,
    /// Unix time of submission.
    pub submitted_at: u64,
    /// Whether it equals the consensus result.
    pub matches_consensus: bool,
    /// Whether its reward was paid.
    pub rewarded: bool,
}

/// `oarn_claim`: claim a task with the node's key. The node's peers are asked first (claim
/// negotiation): a task they know to be fully claimed is refused (-32006) unless `force`;
/// after the claim they are told of it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claim {
    /// The registry's task id.
    pub task_id: TaskId,
    /// Claim even when peers say the task is fully claimed.
    #[serde(default)]
    pub force: bool,
}
method!(Claim, "oarn_claim", Claimed);

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claimed {
    /// The task claimed.
    pub task: u64,
    /// The account that claimed it.
    pub node: String,
    /// The claim's transaction hash.
    pub tx: Hash32,
    /// What the node's peers said, when they were asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peers: Option<Negotiation>,
}

/// What claim negotiation found.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Negotiation {
    /// Claims of the task peers know of.
    pub known: u64,
    /// Claims the task allows (twice its required nodes), when its announcement was heard.
    pub allowed: Option<u64>,
    /// Peers that answered when told of this claim.
    pub told: Option<u32>,
}

/// `oarn_submit`: submit `result_hash` (keccak256 of the result bytes) for a claimed task.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Submit {
    /// The registry's task id.
    pub task_id: TaskId,
    /// The result's hash, as `task-format.md` defines it.
    pub result_hash: Hash32,
}
method!(Submit, "oarn_submit", Submitted);

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Submitted {
    /// The task submitted to.
    pub task: u64,
    /// The account that submitted.
    pub node: String,
    /// The hash submitted.
    pub result_hash: Hash32,
    /// The submission's transaction hash.
    pub tx: Hash32,
}

/// `oarn_balance`: ETH, COMP and GOV of the node's account.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct GetBalance {}
method!(GetBalance, "oarn_balance", Balance);

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Balance {
    /// The account, EIP-55 checksummed.
    pub address: String,
    /// Its HD account index.
    pub index: u32,
    /// The chain the balances are on.
    pub chain_id: u64,
    /// Whole units.
    pub eth: String,
    /// COMP, whole units.
    pub comp: String,
    /// GOV, whole units.
    pub gov: String,
    /// The same balances in the smallest units (wei; the tokens' 18 decimals).
    pub wei: Amounts,
    /// The token contracts read, as discovery found them.
    pub tokens: Tokens,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Amounts {
    /// ETH in wei.
    pub eth: String,
    /// COMP in its smallest unit.
    pub comp: String,
    /// GOV in its smallest unit.
    pub gov: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tokens {
    /// The COMP token contract's address.
    pub comp: String,
    /// The GOV token contract's address.
    pub gov: String,
}

/// What a transfer moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Token {
    /// Ether, the chain's native coin.
    Eth,
    /// COMP, OARN's compute token (TokenReward pays it).
    Comp,
    /// GOV, OARN's governance token.
    Gov,
}

/// `oarn_quote`: what sending `amount` (whole units) of `token` to `to` would take; nothing is
/// signed.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quote {
    /// The recipient.
    pub to: crate::Address,
    /// Whole units, as decimal text.
    pub amount: String,
    /// What to send.
    pub token: Token,
}
method!(Quote, "oarn_quote", Quoted);

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Quoted {
    /// The node's account, which would send.
    pub from: String,
    /// The recipient.
    pub to: String,
    /// What would be sent.
    pub token: Token,
    /// Whole units.
    pub amount: String,
    /// The chain it would be sent on.
    pub chain_id: u64,
    /// The gas limit the transfer would carry.
    pub gas: u64,
    /// The most it would pay per gas, in wei (EIP-1559).
    pub max_fee_per_gas: u128,
    /// The most of that going to the block producer, in wei.
    pub max_priority_fee_per_gas: u128,
    /// The most the network fee can be, in whole ETH.
    pub max_fee_eth: String,
    /// The L1 data-posting part of the gas, on Arbitrum.
    pub l1_gas: Option<u64>,
}

/// `oarn_transfer`: send what a quote described, which the operator agreed to, at most at
/// its fees.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transfer {
    /// The recipient, as quoted.
    pub to: crate::Address,
    /// Whole units, as quoted.
    pub amount: String,
    /// What to send, as quoted.
    pub token: Token,
    /// The quote's gas limit.
    pub gas: u64,
    /// The quote's most per gas, in wei; never exceeded.
    pub max_fee_per_gas: u128,
    /// The quote's most priority fee per gas, in wei.
    pub max_priority_fee_per_gas: u128,
}
method!(Transfer, "oarn_transfer", Transferred);

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Transferred {
    /// The transaction hash.
    pub hash: Hash32,
    /// The node's account.
    pub from: String,
    /// The recipient.
    pub to: String,
    /// ETH, COMP or GOV.
    pub token: String,
    /// Whole units sent.
    pub amount: String,
    /// The block it was mined in.
    pub block: u64,
    /// Gas it used.
    pub gas_used: u64,
    /// The network fee paid, in whole ETH.
    pub fee_eth: String,
    /// `success`: a transfer that reverted is an error, not a result.
    pub status: String,
}

/// `oarn_registerValidator`: register the node's account as a premium (validator-routed)
/// node, staking GOV (default: the registry's minimum).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterValidator {
    /// Where peers reach this validator (a multiaddr ending `/p2p/<peer id>`).
    pub endpoint: String,
    /// GOV to stake, whole units; the registry's minimum when absent.
    #[serde(default)]
    pub stake: Option<String>,
}
method!(RegisterValidator, "oarn_registerValidator", Registered);

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Registered {
    /// The account registered.
    pub node: String,
    /// The endpoint registered.
    pub endpoint: String,
    /// GOV staked, whole units.
    pub stake_gov: String,
    /// The registration's transaction hash.
    pub tx: Hash32,
}

/// `oarn_events`: the node's account's events after `cursor`, up to the head less
/// `confirmations`; with `follow`, as blocks arrive until cancelled. Each event, each cursor
/// and how the follower is woken stream as `oarn_event` notifications; the result is the
/// last cursor.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Events {
    /// Where the last scan stopped; absent: from the registry's deployment.
    #[serde(default)]
    pub cursor: Option<Cursor>,
    /// Blocks to stay behind the head, so a reorganisation cannot take back what was sent.
    #[serde(default)]
    pub confirmations: u64,
    /// Keep streaming new events as blocks arrive, until cancelled.
    #[serde(default)]
    pub follow: bool,
    /// Follow by polling even where the endpoint offers subscriptions.
    #[serde(default)]
    pub poll_only: bool,
    /// Seconds between polls when following by polling (default 5).
    #[serde(default = "five")]
    pub poll_secs: u64,
}

fn five() -> u64 {
    5
}

method!(Events, "oarn_events", Cursor);

impl Streaming for Events {
    const NOTE: &'static str = "oarn_event";
    type Note = EventNote;
}

/// Where an event scan stopped; kept by the caller between runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// The chain scanned.
    pub chain_id: u64,
    /// The TaskRegistryV2 address scanned (a cursor of another registry is refused).
    pub task_registry_v2: String,
    /// The last block whose events were reported.
    pub block: u64,
}

/// One notification of `oarn_events`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventNote {
    Event(ChainEvent),
    /// Every event up to `cursor.block` was sent.
    Scanned {
        from_block: u64,
        head: u64,
        cursor: Cursor,
    },
    /// How a follower is woken: `subscription` or `polling`.
    Following {
        how: String,
        endpoint: String,
    },
}

/// An event of the account.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChainEvent {
    #[serde(flatten)]
    pub kind: EventKind,
    /// The block it was logged in.
    pub block: u64,
    /// Its position among the block's logs.
    pub log_index: u64,
    /// The transaction that logged it.
    pub tx: Hash32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "event")]
pub enum EventKind {
    TaskCreated {
        task: u64,
        requester: String,
        model_hash: Hash32,
        reward_per_node_wei: String,
        required_nodes: u64,
        ours: bool,
    },
    TaskClaimed {
        task: u64,
    },
    ResultSubmitted {
        task: u64,
        result_hash: Hash32,
    },
    RewardDistributed {
        task: u64,
        amount_wei: String,
        matched_consensus: bool,
    },
    ConsensusReached {
        task: u64,
        consensus_hash: Hash32,
        agreeing: u64,
        total: u64,
    },
    ConsensusDisputed {
        task: u64,
        unique_results: u64,
    },
    TokenReceived {
        token: String,
        from: String,
        amount_wei: String,
    },
}

/// `oarn_discover`: discovery run now by the node's chain worker, as configured.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Discover {}
method!(Discover, "oarn_discover", Discovered);

/// What discovery found.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Discovered {
    /// The chain the endpoint serves.
    pub chain_id: u64,
    /// The OARNRegistry address, from ENS or the configuration.
    pub registry: String,
    /// The core contracts the registry names.
    pub core: Core,
    /// The RPC providers the registry lists.
    pub rpc_providers: Vec<String>,
    /// The bootstrap peers the registry lists.
    pub bootstrap: Vec<crate::node::Bootstrap>,
    /// The premium (validator-routed) nodes the registry lists, as multiaddrs.
    pub validators: Vec<String>,
    /// The RPC endpoint discovery used.
    pub endpoint: String,
    /// The chain's head block when it asked.
    pub head: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Core {
    /// TaskRegistry (v1).
    pub task_registry: String,
    /// TaskRegistryV2, where the node claims and submits.
    pub task_registry_v2: String,
    /// TokenReward, which pays COMP.
    pub token_reward: String,
    /// ValidatorRegistry, for premium nodes.
    pub validator_registry: String,
    /// The governance contract.
    pub governance: String,
    /// The GOV token.
    pub gov_token: String,
}
