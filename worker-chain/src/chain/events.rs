//! Events that concern this node's account, read with `eth_getLogs` from a persisted cursor up
//! to the confirmed head, so across restarts nothing is missed and nothing is reported twice:
//! new tasks, this account's claims, submissions and rewards, the consensus outcome of tasks it
//! claimed, and COMP/GOV transfers to it. Followed (`--follow`), a scan runs on every new block
//! header the endpoint's websocket announces (`eth_subscribe("newHeads")`), or on a poll timer
//! where it has none; each scan still reads logs only up to the confirmed head.

use std::os::fd::RawFd;
use std::time::Duration;

use alloy::primitives::{Address, B256, U256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder, WsConnect};
use alloy::pubsub::Subscription;
use alloy::rpc::types::{Filter, Log};
use alloy::sol_types::SolEvent;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::Account;
use crate::command::{ChainArgs, runtime};
use crate::contracts::{ERC20, TaskRegistryV2 as T};
use crate::discovery;
use crate::rpc::{self, Endpoint};
use crate::wallet::{self, io};

/// Blocks per `eth_getLogs` request.
const CHUNK: u64 = 10_000;
/// Most blocks scanned in one run; the cursor keeps the rest for the next.
const MAX_SPAN: u64 = 1_000_000;
/// Without a cursor, how far back the first run looks.
const FIRST_LOOKBACK: u64 = 100_000;

/// Why events could not be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An RPC request failed.
    #[error("{step}: {message}")]
    Rpc {
        /// What was being done.
        step: &'static str,
        /// The error.
        message: String,
    },
    /// The cursor could not be read or written.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Where the last run stopped.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Cursor {
    chain_id: u64,
    task_registry_v2: Address,
    /// The last block whose events were reported.
    block: u64,
}

fn rpc(step: &'static str) -> impl FnOnce(String) -> Error {
    move |message| Error::Rpc { step, message }
}

fn topic_address(a: Address) -> B256 {
    a.into_word()
}

fn describe(log: &Log, me: Address) -> Option<Value> {
    let topic = *log.topic0()?;
    let data = &log.inner.data;
    let (kind, fields) = if topic == T::TaskCreated::SIGNATURE_HASH {
        let e = T::TaskCreated::decode_log_data(data).ok()?;
        (
            "TaskCreated",
            json!({ "task": e.taskId.to::<u64>(), "requester": e.requester.to_string(),
            "model_hash": e.modelHash.to_string(), "reward_per_node_wei": e.rewardPerNode.to_string(),
            "required_nodes": e.requiredNodes.to::<u64>(), "ours": e.requester == me }),
        )
    } else if topic == T::TaskClaimed::SIGNATURE_HASH {
        let e = T::TaskClaimed::decode_log_data(data).ok()?;
        (e.node == me).then_some(())?;
        ("TaskClaimed", json!({ "task": e.taskId.to::<u64>() }))
    } else if topic == T::ResultSubmitted::SIGNATURE_HASH {
        let e = T::ResultSubmitted::decode_log_data(data).ok()?;
        (e.node == me).then_some(())?;
        (
            "ResultSubmitted",
            json!({ "task": e.taskId.to::<u64>(), "result_hash": e.resultHash.to_string() }),
        )
    } else if topic == T::RewardDistributed::SIGNATURE_HASH {
        let e = T::RewardDistributed::decode_log_data(data).ok()?;
        (e.node == me).then_some(())?;
        (
            "RewardDistributed",
            json!({ "task": e.taskId.to::<u64>(), "amount_wei": e.amount.to_string(),
            "matched_consensus": e.matchedConsensus }),
        )
    } else if topic == T::ConsensusReached::SIGNATURE_HASH {
        let e = T::ConsensusReached::decode_log_data(data).ok()?;
        (
            "ConsensusReached",
            json!({ "task": e.taskId.to::<u64>(), "consensus_hash": e.consensusHash.to_string(),
            "agreeing": e.agreeingNodes.to::<u64>(), "total": e.totalNodes.to::<u64>() }),
        )
    } else if topic == T::ConsensusDisputed::SIGNATURE_HASH {
        let e = T::ConsensusDisputed::decode_log_data(data).ok()?;
        (
            "ConsensusDisputed",
            json!({ "task": e.taskId.to::<u64>(), "unique_results": e.uniqueResults.to::<u64>() }),
        )
    } else if topic == ERC20::Transfer::SIGNATURE_HASH {
        let e = ERC20::Transfer::decode_log_data(data).ok()?;
        (e.to == me).then_some(())?;
        (
            "TokenReceived",
            json!({ "token": log.address().to_string(), "from": e.from.to_string(),
            "amount_wei": e.value.to_string() }),
        )
    } else {
        return None;
    };
    let mut v = json!({ "event": kind, "block": log.block_number, "log_index": log.log_index,
        "tx": log.transaction_hash.map(|h| h.to_string()) });
    if let (Value::Object(a), Value::Object(b)) = (&mut v, fields) {
        a.extend(b);
    }
    Some(v)
}

/// How `chain events` runs.
#[derive(Debug, Clone, Copy)]
pub struct Mode {
    /// Blocks an event must be buried under before it is reported.
    pub confirmations: u64,
    /// Keep going: report new events as blocks arrive.
    pub follow: bool,
    /// While following, never use a websocket subscription; poll every `poll` instead.
    pub poll_only: bool,
    /// Polling interval (and, with a subscription, the longest wait between two scans).
    pub poll: Duration,
}

/// What the scan of a block range found.
struct Batch {
    from: u64,
    head: u64,
    events: Vec<Value>,
    next: Cursor,
}

/// Events for `me` in the blocks after the cursor, up to the confirmed head.
async fn scan(
    p: &DynProvider,
    network: &discovery::Network,
    chain_id: u64,
    me: Address,
    cursor: Option<&Cursor>,
    confirmations: u64,
) -> Result<Batch, Error> {
    let tasks = network.core.task_registry_v2;
    let head = p
        .get_block_number()
        .await
        .map_err(|e| rpc("reading the head block")(e.to_string()))?;
    let to_confirmed = head.saturating_sub(confirmations);
    let from = match cursor {
        Some(c) if c.chain_id == chain_id && c.task_registry_v2 == tasks => c.block + 1,
        Some(_) => {
            tracing::warn!("the event cursor belongs to another chain or registry; starting again");
            to_confirmed.saturating_sub(FIRST_LOOKBACK)
        }
        None => to_confirmed.saturating_sub(FIRST_LOOKBACK),
    };
    let to = to_confirmed.min(from.saturating_add(MAX_SPAN - 1));
    let mut events = Vec::new();
    let mut start = from;
    while start <= to {
        let end = (start + CHUNK - 1).min(to);
        let registry_logs = p
            .get_logs(&Filter::new().address(tasks).from_block(start).to_block(end))
            .await
            .map_err(|e| rpc("reading task registry events")(e.to_string()))?;
        let transfers = p
            .get_logs(
                &Filter::new()
                    .address(vec![network.core.token_reward, network.core.gov_token])
                    .event_signature(ERC20::Transfer::SIGNATURE_HASH)
                    .topic2(topic_address(me))
                    .from_block(start)
                    .to_block(end),
            )
            .await
            .map_err(|e| rpc("reading token transfers")(e.to_string()))?;
        let mut logs: Vec<Log> = registry_logs.into_iter().chain(transfers).collect();
        logs.sort_by_key(|l| (l.block_number, l.log_index));
        for log in &logs {
            let Some(v) = describe(log, me) else { continue };
            // Consensus outcomes matter only for tasks this account claimed.
            if matches!(v["event"].as_str(), Some("ConsensusReached" | "ConsensusDisputed")) {
                let id = U256::from(v["task"].as_u64().unwrap_or_default());
                let claimed = T::new(tasks, p)
                    .hasClaimedTask(id, me)
                    .call()
                    .await
                    .map_err(|e| rpc("checking a claim")(e.to_string()))?;
                if !claimed {
                    continue;
                }
            }
            events.push(v);
        }
        start = end + 1;
    }
    let next = Cursor {
        chain_id,
        task_registry_v2: tasks,
        block: if to >= from { to } else { from.saturating_sub(1) },
    };
    Ok(Batch {
        from,
        head,
        events,
        next,
    })
}

/// The websocket address of an http(s) endpoint: same host, port and path (as geth, nitro
/// and anvil serve both).
fn websocket_url(http: &str) -> Option<String> {
    let rest = http.strip_prefix("http://").map(|r| format!("ws://{r}"));
    rest.or_else(|| http.strip_prefix("https://").map(|r| format!("wss://{r}")))
}

/// New block headers from the endpoint's websocket, or `None` (with the reason logged)
/// where it has none.
async fn subscribe(endpoint: &Endpoint) -> Option<(DynProvider, Subscription<alloy::rpc::types::Header>)> {
    let url = websocket_url(endpoint.connect_url())?;
    let connect = tokio::time::timeout(rpc::TIMEOUT, ProviderBuilder::new().connect_ws(WsConnect::new(url))).await;
    let provider = match connect {
        Ok(Ok(p)) => p.erased(),
        Ok(Err(e)) => {
            tracing::info!(endpoint = %endpoint.url, "no websocket ({e}); polling for new blocks");
            return None;
        }
        Err(_) => {
            tracing::info!(endpoint = %endpoint.url, "the websocket did not answer; polling for new blocks");
            return None;
        }
    };
    match provider.subscribe_blocks().await {
        Ok(sub) => Some((provider, sub)),
        Err(e) => {
            tracing::info!(endpoint = %endpoint.url, "eth_subscribe refused ({e}); polling for new blocks");
            None
        }
    }
}

/// One line on the result descriptor while following.
fn line(out: &mut std::fs::File, v: &Value) -> Result<(), Error> {
    use std::io::Write;
    let mut bytes = serde_json::to_vec(v).unwrap_or_default();
    bytes.push(b'\n');
    out.write_all(&bytes).map_err(|source| {
        Error::Io(io::Error::Io {
            what: "the event stream",
            source,
        })
    })
}

/// `chain events`: one scan whose cursor is written to `out_fd`; or, following, one JSON line
/// per event and then one per new cursor on `out_fd`, scan after scan, woken by new block
/// headers over the endpoint's websocket (`eth_subscribe`) or by a poll timer.
pub(super) fn run(
    chain: &ChainArgs,
    account: &Account,
    cursor_fd: Option<RawFd>,
    out_fd: RawFd,
    mode: Mode,
    json: bool,
) -> Result<(), super::Error> {
    let me: Address = wallet::account_address(account.keystore_fd, account.index, account.passphrase_fd)?
        .parse()
        .map_err(|_| wallet::Error::KeyFormat)?;
    let mut cursor: Option<Cursor> = match cursor_fd {
        Some(fd) => {
            let bytes = io::read_bytes(fd, 4096, "the event cursor").map_err(Error::from)?;
            match serde_json::from_slice(&bytes) {
                Ok(c) => Some(c),
                Err(e) => {
                    tracing::warn!("the event cursor is unreadable ({e}); starting again from recent blocks");
                    None
                }
            }
        }
        None => None,
    };
    runtime()?.block_on(async {
        let (network, mut pool) = discovery::discover(&chain.settings()).await?;
        let endpoint = pool.current().await.map_err(discovery::Error::from)?.clone();
        if !mode.follow {
            let batch = scan(
                endpoint.provider(),
                &network,
                chain.chain_id,
                me,
                cursor.as_ref(),
                mode.confirmations,
            )
            .await?;
            io::write(
                out_fd,
                &serde_json::to_vec(&batch.next).unwrap_or_default(),
                "the event cursor",
            )
            .map_err(Error::from)?;
            print(me, &batch, json);
            return Ok(());
        }
        let mut out = io::take(out_fd).map_err(Error::from)?;
        follow(
            &network,
            pool,
            endpoint,
            chain.chain_id,
            me,
            &mut cursor,
            mode,
            &mut out,
        )
        .await
    })
}

fn print(me: Address, batch: &Batch, json: bool) {
    let (from, head, events) = (batch.from, batch.head, &batch.events);
    if json {
        println!(
            "{}",
            json!({ "account": me.to_string(), "from_block": from, "to_block": batch.next.block,
            "head": head, "events": events })
        );
    } else {
        println!(
            "{} events for {me} in blocks {from}..={} (head {head})",
            events.len(),
            batch.next.block
        );
        for e in events {
            println!("{e}");
        }
    }
}

/// Longest pause between two attempts after an RPC failure while following.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

#[allow(clippy::too_many_arguments)]
async fn follow(
    network: &discovery::Network,
    mut pool: rpc::Pool,
    mut endpoint: Endpoint,
    chain_id: u64,
    me: Address,
    cursor: &mut Option<Cursor>,
    mode: Mode,
    out: &mut std::fs::File,
) -> Result<(), super::Error> {
    let mut heads = None;
    let mut backoff = Duration::from_secs(1);
    // How the follower is woken, said whenever it changes.
    let mut said: Option<(&str, String)> = None;
    loop {
        if heads.is_none() && !mode.poll_only {
            heads = subscribe(&endpoint).await;
        }
        let how = if heads.is_some() { "subscription" } else { "polling" };
        if said.as_ref().is_none_or(|(h, url)| *h != how || *url != endpoint.url) {
            line(out, &json!({ "following": how, "endpoint": endpoint.url }))?;
            said = Some((how, endpoint.url.clone()));
        }
        match scan(
            endpoint.provider(),
            network,
            chain_id,
            me,
            cursor.as_ref(),
            mode.confirmations,
        )
        .await
        {
            Ok(batch) => {
                backoff = Duration::from_secs(1);
                for e in &batch.events {
                    line(out, &json!({ "event": e }))?;
                }
                line(out, &json!({ "cursor": batch.next }))?;
                *cursor = Some(batch.next);
            }
            Err(e) => {
                // Another endpoint, if the pool has a healthy one; the cursor has not moved.
                tracing::warn!("{e}; trying again in {backoff:?}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                if let Ok(next) = pool.select().await
                    && next.url != endpoint.url
                {
                    endpoint = next.clone();
                    heads = None;
                }
                continue;
            }
        }
        // Wait for the next block (or the poll timer); a closed subscription falls back to
        // polling until it is made again.
        match &mut heads {
            Some((_, sub)) => match tokio::time::timeout(mode.poll.max(Duration::from_secs(60)), sub.recv()).await {
                Ok(Ok(_)) | Err(_) => {}
                Ok(Err(e)) => {
                    tracing::warn!(endpoint = %endpoint.url, "the block subscription ended ({e}); resubscribing");
                    heads = None;
                    tokio::time::sleep(mode.poll).await;
                }
            },
            None => tokio::time::sleep(mode.poll).await,
        }
    }
}
