//! `oarn chain …`, and where every chain command runs: through the running node (its chain
//! worker and the key it holds), or, when no node runs, a chain worker of the command's own,
//! started for this one command and unlocked with the passphrase (file, credential or
//! prompt) when it signs. Either way the operation is a chain-worker frame; the command only
//! renders the answer.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use oarn_api::chain::{self as api, Claim, Cursor, EventNote, Events, ListTasks, ReadTask, RegisterValidator, Submit};
use oarn_api::node::GetStatus;
use oarn_api::{Client, ClientError, Hash32, Method, TaskId};
use oarn_config::home::Home;
use oarn_config::{Config, load};
use oarn_node::chain::{Chain, ChainError, Own};
use oarn_node::passphrase::{self, PassphraseError};

use super::args::ChainCommand;
use super::{Exit, table};

/// Longest wait for a read through the node.
pub(super) const READ: Duration = Duration::from_secs(60);
/// Longest wait for a transaction through the node (it waits for the receipt).
pub(super) const SEND: Duration = Duration::from_secs(300);
/// Longest wait for the node's status, to learn whether it runs.
const STATUS: Duration = Duration::from_secs(10);

/// A chain command that did not happen, with the exit status it means; nothing was spent
/// unless the message says so.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Failed {
    pub exit: Exit,
    pub message: String,
}

/// The exit status of each kind of chain error (the API's `data.kind`).
fn exit_of_kind(kind: &str) -> Exit {
    match kind {
        "wrong-passphrase" => Exit::WrongPassphrase,
        "keystore" => Exit::DamagedKeystore,
        "no-such-account" => Exit::InvalidKey,
        "insufficient-funds" => Exit::InsufficientFunds,
        "refused" | "held-back" => Exit::Refused,
        "no-such-task" => Exit::NoSuchTask,
        _ => Exit::Failure,
    }
}

impl From<ChainError> for Failed {
    fn from(e: ChainError) -> Self {
        Self {
            exit: exit_of_kind(e.kind()),
            message: e.to_string(),
        }
    }
}

/// An error from the node's API: a chain error by its kind, anything else as it is.
pub(super) fn from_client(e: ClientError) -> anyhow::Error {
    match e {
        ClientError::Rpc(r) => {
            let kind = r.data.as_ref().and_then(|d| d.get("kind")).and_then(|k| k.as_str());
            match kind {
                Some(kind) => Failed {
                    exit: exit_of_kind(kind),
                    message: oarn_protocol::text::clean(&r.message),
                }
                .into(),
                None => ClientError::Rpc(r).into(),
            }
        }
        e => e.into(),
    }
}

/// What a command needs of the wallet.
#[derive(Debug, Default)]
pub(super) struct Need {
    /// The account, when the command is about one.
    pub index: Option<u32>,
    /// It signs: the key must be unlocked.
    pub signs: bool,
    pub passphrase_file: Option<PathBuf>,
}

/// Where a chain command runs.
pub(super) enum Via {
    /// The running node.
    Node(Client),
    /// A chain worker of this command's own.
    Own(Box<(tokio::runtime::Runtime, Own)>),
}

fn no_wallet(home: &Home) -> anyhow::Error {
    anyhow::anyhow!(
        "no wallet at {}: create one with `oarn wallet create` or import one with `oarn wallet import`",
        home.keystore().display()
    )
}

/// The passphrase for `need`, from the file named, systemd's credential or the terminal.
fn passphrase_for(need: &Need) -> anyhow::Result<passphrase::Passphrase> {
    let source = passphrase::source(need.passphrase_file.clone()).ok_or(PassphraseError::None)?;
    Ok(passphrase::read(&source, "Wallet passphrase: ")?)
}

/// Where to run a command that needs `need`: the running node when there is one (unlocking
/// its wallet first when the command signs and the node's is locked), else a worker of the
/// command's own.
pub(super) fn reach(home: &Home, config: &Config, need: &Need) -> anyhow::Result<Via> {
    let client = super::client(home);
    let wants_key = need.index.is_some();
    if wants_key && !home.keystore().exists() {
        return Err(no_wallet(home));
    }
    match client.call(&GetStatus {}, STATUS) {
        Ok(status) => {
            let wallet = status.wallet;
            if let Some(index) = need.index
                && index != wallet.index
            {
                anyhow::bail!(
                    "the running node signs as account {}; give --index {} (or restart it with `oarn start --index {index}`)",
                    wallet.index,
                    wallet.index
                );
            }
            if need.signs && wants_key && wallet.account.is_none() {
                let passphrase = passphrase_for(need).with_context(|| {
                    format!(
                        "the running node's wallet is locked ({}); unlock it",
                        wallet.locked.as_deref().map(table::s).unwrap_or_default()
                    )
                })?;
                let text = passphrase
                    .text()
                    .ok_or_else(|| anyhow::anyhow!("the passphrase is not UTF-8 text"))?;
                let unlock = api::Unlock {
                    passphrase: text.to_string(),
                    index: wallet.index,
                };
                let state = client.call(&unlock, READ).map_err(from_client)?;
                if let Some(a) = state.account {
                    eprintln!("unlocked the running node's wallet: it signs as {}", a.checksummed());
                }
            }
            Ok(Via::Node(client))
        }
        Err(ClientError::NotRunning { .. }) => {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            oarn_node::logging::terminal();
            let index = need.index.unwrap_or(0);
            let own = runtime
                .block_on(Own::start(config, home, index))
                .map_err(Failed::from)?;
            // Account 0's address is in the keystore's header; any other, and signing, take the
            // passphrase.
            let unlocks = wants_key && (need.signs || index != 0 || need.passphrase_file.is_some());
            if unlocks {
                let unlocked = passphrase_for(need).and_then(|p| Ok(runtime.block_on(own.chain.unlock(p))?));
                if let Err(e) = unlocked {
                    runtime.block_on(own.stop());
                    return Err(e);
                }
            }
            Ok(Via::Own(Box::new((runtime, own))))
        }
        Err(e) => Err(e.into()),
    }
}

impl Via {
    /// Runs `m`: through the node's API, or with `own` on the command's own worker.
    pub(super) fn call<M: Method>(
        &self,
        m: &M,
        wait: Duration,
        own: impl AsyncFnOnce(&Chain) -> Result<M::Result, ChainError>,
    ) -> anyhow::Result<M::Result> {
        match self {
            Via::Node(client) => client.call(m, wait).map_err(from_client),
            Via::Own(o) => Ok(o.0.block_on(own(&o.1.chain)).map_err(Failed::from)?),
        }
    }

    /// Stops the command's own worker.
    pub(super) fn finish(self) {
        if let Via::Own(o) = self {
            let (runtime, own) = *o;
            runtime.block_on(own.stop());
        }
    }
}

/// Prints `v` as JSON.
pub(super) fn print_json(v: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string(v)?);
    Ok(())
}

pub fn run(home: &Home, command: ChainCommand) -> anyhow::Result<Exit> {
    let config = load::load_or_default(&home.config())?;
    match command {
        ChainCommand::Discover { json } => discover(home, &config, json),
        ChainCommand::Tasks { last, json } => {
            let via = reach(home, &config, &Need::default())?;
            let list = via.call(&ListTasks { last }, READ, async |c| c.tasks(last).await);
            via.finish();
            render_tasks(&list?, config.blockchain.chain_id, json)
        }
        ChainCommand::Task { id, json } => {
            let via = reach(home, &config, &Need::default())?;
            let detail = via.call(&ReadTask { id: task_id(id)? }, READ, async |c| c.task(id).await);
            via.finish();
            let detail = detail?;
            if json {
                print_json(&detail)?;
            } else {
                println!("{}", serde_json::to_string_pretty(&detail)?);
            }
            Ok(Exit::Success)
        }
        ChainCommand::Claim {
            id,
            index,
            passphrase_file,
            force,
            json,
        } => claim(home, &config, id, signing(index, passphrase_file), force, json),
        ChainCommand::Submit {
            id,
            result_file,
            index,
            passphrase_file,
            json,
        } => submit(home, &config, id, &result_file, signing(index, passphrase_file), json),
        ChainCommand::RegisterValidator {
            endpoint,
            stake,
            index,
            passphrase_file,
            json,
        } => {
            let via = reach(home, &config, &signing(index, passphrase_file))?;
            let request = RegisterValidator { endpoint, stake };
            let done = via.call(&request, SEND, async |c| {
                c.register(&request.endpoint, request.stake.clone()).await
            });
            via.finish();
            let done = done?;
            if json {
                print_json(&done)?;
            } else {
                println!(
                    "Registered {} as a premium node at {}, staking {} GOV (transaction {})",
                    done.node,
                    table::s(&done.endpoint),
                    done.stake_gov,
                    done.tx
                );
            }
            Ok(Exit::Success)
        }
        ChainCommand::Events {
            confirmations,
            follow,
            poll,
            poll_secs,
            index,
            passphrase_file,
            json,
        } => {
            let need = Need {
                index: Some(index),
                signs: false,
                passphrase_file,
            };
            let request = Events {
                cursor: None,
                confirmations,
                follow,
                poll_only: poll,
                poll_secs,
            };
            super::events::run(home, &config, &need, request, json)
        }
    }
}

fn signing(index: u32, passphrase_file: Option<PathBuf>) -> Need {
    Need {
        index: Some(index),
        signs: true,
        passphrase_file,
    }
}

fn task_id(id: u64) -> anyhow::Result<TaskId> {
    (id > 0)
        .then_some(TaskId(id))
        .ok_or_else(|| anyhow::anyhow!("task ids start at 1"))
}

fn discover(home: &Home, config: &Config, json: bool) -> anyhow::Result<Exit> {
    let via = reach(home, config, &Need::default())?;
    let found = match &via {
        Via::Own(o) => Ok(o.1.found.clone()),
        Via::Node(_) => via.call(&api::Discover {}, READ, async |c| c.discover(config).await),
    };
    via.finish();
    let n = found?;
    if json {
        return print_json(&n).map(|()| Exit::Success);
    }
    println!(
        "Chain {} via {} (head block {})",
        n.chain_id,
        table::s(&n.endpoint),
        n.head
    );
    println!("OARNRegistry        {}", n.registry);
    let c = &n.core;
    println!("TaskRegistryV2      {}", c.task_registry_v2);
    println!("TaskRegistry        {}", c.task_registry);
    println!("Reward token (COMP) {}", c.token_reward);
    println!("GOV token           {}", c.gov_token);
    println!("ValidatorRegistry   {}", c.validator_registry);
    println!("Governance          {}", c.governance);
    println!("RPC providers       {}", n.rpc_providers.len());
    for p in &n.rpc_providers {
        println!("  {}", table::s(p));
    }
    println!("Bootstrap peers     {}", n.bootstrap.len());
    for b in &n.bootstrap {
        println!("  {} {}", table::s(&b.peer_id), table::s(&b.multiaddr));
    }
    println!("Validators          {}", n.validators.len());
    for v in &n.validators {
        println!("  {}", table::s(v));
    }
    Ok(Exit::Success)
}

fn render_tasks(list: &api::TaskList, chain_id: u64, json: bool) -> anyhow::Result<Exit> {
    if json {
        return print_json(list).map(|()| Exit::Success);
    }
    println!("{} tasks on chain {chain_id}", list.task_count);
    println!(
        "{:>6}  {:<10} {:>9} {:>8} {:>9}  reward/node (wei)",
        "id", "status", "required", "claimed", "submitted"
    );
    for t in &list.tasks {
        println!(
            "{:>6}  {:<10} {:>9} {:>8} {:>9}  {}",
            t.id,
            t.status,
            t.required_nodes,
            t.claimed,
            t.submitted,
            table::s(&t.reward_per_node_wei)
        );
    }
    Ok(Exit::Success)
}

fn claim(home: &Home, config: &Config, id: u64, need: Need, force: bool, json: bool) -> anyhow::Result<Exit> {
    let via = reach(home, config, &need)?;
    if !json && matches!(via, Via::Own(_)) {
        eprintln!("peers not asked about task {id}: no node runs on this home");
    }
    let request = Claim {
        task_id: task_id(id)?,
        force,
    };
    let claimed = via.call(&request, SEND, async |c| c.claim(id).await);
    via.finish();
    let claimed = claimed?;
    if json {
        return print_json(&claimed).map(|()| Exit::Success);
    }
    if let Some(p) = &claimed.peers {
        eprintln!(
            "peers know of {} claim(s) of task {id}{}",
            p.known,
            p.allowed.map_or(String::new(), |max| format!(" (it allows {max})"))
        );
    }
    println!("Claimed task {id} as {} (transaction {})", claimed.node, claimed.tx);
    if let Some(told) = claimed.peers.as_ref().and_then(|p| p.told) {
        eprintln!("told the node's peers of the claim ({told} answered)");
    }
    Ok(Exit::Success)
}

/// keccak256 of the result file, what goes on chain.
fn result_hash(path: &Path) -> anyhow::Result<Hash32> {
    use sha3::{Digest, Keccak256};
    let mut file =
        std::fs::File::open(path).with_context(|| format!("cannot open the result file {}", path.display()))?;
    let mut hasher = Keccak256::new();
    std::io::copy(&mut file, &mut hasher).with_context(|| format!("cannot read the result file {}", path.display()))?;
    Ok(Hash32(hasher.finalize().into()))
}

fn submit(home: &Home, config: &Config, id: u64, result: &Path, need: Need, json: bool) -> anyhow::Result<Exit> {
    let request = Submit {
        task_id: task_id(id)?,
        result_hash: result_hash(result)?,
    };
    let via = reach(home, config, &need)?;
    let sent = via.call(&request, SEND, async |c| c.submit(id, request.result_hash.0).await);
    via.finish();
    let sent = sent?;
    if json {
        print_json(&sent)?;
    } else {
        println!(
            "Submitted result {} for task {id} (transaction {})",
            sent.result_hash, sent.tx
        );
    }
    Ok(Exit::Success)
}

/// Where the event cursor of account `index` is kept.
pub(super) fn cursor_path(home: &Home, index: u32) -> PathBuf {
    home.root().join("chain").join(format!("events-{index}.cursor"))
}

/// The saved cursor, if any; one that does not read is named and ignored (the scan starts
/// again from the registry's deployment, reporting events again rather than losing any).
pub(super) fn saved_cursor(path: &Path) -> Option<Cursor> {
    let bytes = std::fs::read(path).ok()?;
    match serde_json::from_slice(&bytes) {
        Ok(c) => Some(c),
        Err(e) => {
            eprintln!("warning: ignoring the event cursor {}: {e}", path.display());
            None
        }
    }
}

/// Saves `cursor` (after everything before it was printed).
pub(super) fn save_cursor(path: &Path, cursor: &Cursor) -> anyhow::Result<()> {
    std::io::stdout().flush()?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    oarn_node::wallet::write_replacing(path, serde_json::to_string(cursor)?.as_bytes())?;
    Ok(())
}

/// How an event note prints.
pub(super) fn print_note(note: &EventNote, json: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match note {
        EventNote::Event(e) if json => writeln!(out, "{}", serde_json::to_string(e)?)?,
        EventNote::Event(e) => writeln!(out, "{}", describe(e))?,
        EventNote::Following { how, endpoint } if json => {
            writeln!(out, "{}", serde_json::json!({ "following": how, "endpoint": endpoint }))?
        }
        EventNote::Following { how, endpoint } => {
            let by = match how.as_str() {
                "subscription" => "new blocks announced over its websocket (eth_subscribe)",
                _ => "polling for new blocks",
            };
            eprintln!(
                "Following events on {}: {by}. Ctrl-C stops; the next run resumes where this one stopped.",
                table::s(endpoint)
            );
        }
        EventNote::Scanned { .. } => {}
    }
    out.flush()?;
    Ok(())
}

/// One event as a line of text.
fn describe(e: &api::ChainEvent) -> String {
    use api::EventKind as K;
    let what = match &e.kind {
        K::TaskCreated {
            task,
            reward_per_node_wei,
            required_nodes,
            ours,
            ..
        } => format!(
            "task {task} created{}: {required_nodes} nodes, {} wei each",
            if *ours { " by this account" } else { "" },
            table::s(reward_per_node_wei)
        ),
        K::TaskClaimed { task } => format!("task {task} claimed by this account"),
        K::ResultSubmitted { task, result_hash } => format!("result {result_hash} submitted for task {task}"),
        K::RewardDistributed {
            task,
            amount_wei,
            matched_consensus,
        } => format!(
            "reward of {} wei for task {task}{}",
            table::s(amount_wei),
            if *matched_consensus {
                ""
            } else {
                " (not matching consensus)"
            }
        ),
        K::ConsensusReached {
            task, agreeing, total, ..
        } => format!("consensus on task {task}: {agreeing} of {total} agree"),
        K::ConsensusDisputed { task, unique_results } => {
            format!("consensus disputed on task {task}: {unique_results} different results")
        }
        K::TokenReceived {
            token,
            from,
            amount_wei,
            ..
        } => format!("received {} wei of token {token} from {from}", table::s(amount_wei)),
    };
    format!("block {:>8}  {what}  (tx {})", e.block, e.tx)
}
