//! Events that concern this node's account, read with `eth_getLogs` from a persisted cursor up
//! to the confirmed head, so across restarts nothing is missed and nothing is reported twice:
//! new tasks, this account's claims, submissions and rewards, the consensus outcome of tasks it
//! claimed, and COMP/GOV transfers to it. Followed (`--follow`), a scan runs on every new block
//! header the endpoint's websocket announces (`eth_subscribe("newHeads")`), or on a poll timer
//! where it has none; each scan still reads logs only up to the confirmed head.

use std::future::Future;
use std::time::Duration;

use alloy::primitives::{Address, B256, U256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder, WsConnect};
use alloy::pubsub::Subscription;
use alloy::rpc::types::{Filter, Log};
use alloy::sol_types::SolEvent;
use oarn_protocol::chain::{ChainEvent, Cursor, Event, EventKind};

use super::Error;
use crate::contracts::{ERC20, TaskRegistryV2 as T};
use crate::discovery;
use crate::rpc::{self, Endpoint};

/// Blocks per `eth_getLogs` request.
const CHUNK: u64 = 10_000;
/// Most blocks scanned in one run; the cursor keeps the rest for the next.
const MAX_SPAN: u64 = 1_000_000;
/// Without a cursor, how far back the first run looks.
const FIRST_LOOKBACK: u64 = 100_000;
/// Longest pause between two attempts after an RPC failure while following.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

fn rpc(step: &'static str) -> impl FnOnce(String) -> Error {
    move |message| Error::Rpc { step, message }
}

fn topic_address(a: Address) -> B256 {
    a.into_word()
}

fn task_id(v: U256) -> u64 {
    u64::try_from(v).unwrap_or(u64::MAX)
}

/// The event `log` is for `me`, if it is one.
fn describe(log: &Log, me: Address) -> Option<ChainEvent> {
    let topic = *log.topic0()?;
    let data = &log.inner.data;
    let kind = if topic == T::TaskCreated::SIGNATURE_HASH {
        let e = T::TaskCreated::decode_log_data(data).ok()?;
        EventKind::TaskCreated {
            task: task_id(e.taskId),
            requester: e.requester.0.0,
            model_hash: e.modelHash.0,
            reward_per_node_wei: e.rewardPerNode.to_string(),
            required_nodes: task_id(e.requiredNodes),
            ours: e.requester == me,
        }
    } else if topic == T::TaskClaimed::SIGNATURE_HASH {
        let e = T::TaskClaimed::decode_log_data(data).ok()?;
        (e.node == me).then_some(())?;
        EventKind::TaskClaimed {
            task: task_id(e.taskId),
        }
    } else if topic == T::ResultSubmitted::SIGNATURE_HASH {
        let e = T::ResultSubmitted::decode_log_data(data).ok()?;
        (e.node == me).then_some(())?;
        EventKind::ResultSubmitted {
            task: task_id(e.taskId),
            result_hash: e.resultHash.0,
        }
    } else if topic == T::RewardDistributed::SIGNATURE_HASH {
        let e = T::RewardDistributed::decode_log_data(data).ok()?;
        (e.node == me).then_some(())?;
        EventKind::RewardDistributed {
            task: task_id(e.taskId),
            amount_wei: e.amount.to_string(),
            matched_consensus: e.matchedConsensus,
        }
    } else if topic == T::ConsensusReached::SIGNATURE_HASH {
        let e = T::ConsensusReached::decode_log_data(data).ok()?;
        EventKind::ConsensusReached {
            task: task_id(e.taskId),
            consensus_hash: e.consensusHash.0,
            agreeing: task_id(e.agreeingNodes),
            total_nodes: task_id(e.totalNodes),
        }
    } else if topic == T::ConsensusDisputed::SIGNATURE_HASH {
        let e = T::ConsensusDisputed::decode_log_data(data).ok()?;
        EventKind::ConsensusDisputed {
            task: task_id(e.taskId),
            unique_results: task_id(e.uniqueResults),
        }
    } else if topic == ERC20::Transfer::SIGNATURE_HASH {
        let e = ERC20::Transfer::decode_log_data(data).ok()?;
        (e.to == me).then_some(())?;
        EventKind::TokenReceived {
            token: log.address().0.0,
            from: e.from.0.0,
            amount_wei: e.value.to_string(),
        }
    } else {
        return None;
    };
    Some(ChainEvent {
        block: log.block_number.unwrap_or_default(),
        log_index: log.log_index.unwrap_or_default(),
        tx: log.transaction_hash.map(|h| h.0).unwrap_or_default(),
        kind,
    })
}

/// How [`run`] scans.
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
    events: Vec<ChainEvent>,
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
        Some(c) if c.chain_id == chain_id && c.task_registry_v2 == tasks.0.0 => c.block + 1,
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
            let Some(e) = describe(log, me) else { continue };
            // Consensus outcomes matter only for tasks this account claimed.
            if let EventKind::ConsensusReached { task, .. } | EventKind::ConsensusDisputed { task, .. } = e.kind {
                let claimed = T::new(tasks, p)
                    .hasClaimedTask(U256::from(task), me)
                    .call()
                    .await
                    .map_err(|e| rpc("checking a claim")(e.to_string()))?;
                if !claimed {
                    continue;
                }
            }
            events.push(e);
        }
        start = end + 1;
    }
    let next = Cursor {
        chain_id,
        task_registry_v2: tasks.0.0,
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
    if rpc::private() {
        // Websockets would dial on their own, around the anonymity worker (and fail: this
        // worker has no network of its own in privacy mode).
        tracing::info!(endpoint = %endpoint.url, "privacy mode: polling for new blocks");
        return None;
    }
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

/// Scans for `me`'s events after `cursor` and sends each, then the cursor, to `emit`; with
/// `mode.follow`, again on every new block (woken by the endpoint's websocket, else a poll
/// timer) until `cancelled` completes. Returns the last cursor.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    network: &discovery::Network,
    mut pool: rpc::Pool,
    mut endpoint: Endpoint,
    chain_id: u64,
    me: Address,
    mut cursor: Option<Cursor>,
    mode: Mode,
    mut emit: impl FnMut(Event) -> Result<(), Error>,
    cancelled: impl Future<Output = ()>,
) -> Result<Cursor, Error> {
    tokio::pin!(cancelled);
    let mut heads = None;
    let mut backoff = Duration::from_secs(1);
    // How the follower is woken, said whenever it changes.
    let mut said: Option<(&str, String)> = None;
    loop {
        if mode.follow && heads.is_none() && !mode.poll_only {
            heads = subscribe(&endpoint).await;
        }
        let how = if heads.is_some() { "subscription" } else { "polling" };
        if mode.follow && said.as_ref().is_none_or(|(h, url)| *h != how || *url != endpoint.url) {
            emit(Event::Following {
                how: how.into(),
                endpoint: endpoint.url.clone(),
            })?;
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
                for e in batch.events {
                    emit(Event::Chain(e))?;
                }
                emit(Event::Scanned {
                    from_block: batch.from,
                    head: batch.head,
                    cursor: batch.next,
                })?;
                cursor = Some(batch.next);
            }
            Err(e) if mode.follow => {
                // Another endpoint, if the pool has a healthy one; the cursor has not moved.
                tracing::warn!("{e}; trying again in {backoff:?}");
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    () = &mut cancelled => break,
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
                if let Ok(next) = pool.select().await
                    && next.url != endpoint.url
                {
                    endpoint = next.clone();
                    heads = None;
                }
                continue;
            }
            Err(e) => return Err(e),
        }
        if !mode.follow {
            break;
        }
        // Wait for the next block (or the poll timer); a closed subscription falls back to
        // polling until it is made again.
        let next_block = async {
            match &mut heads {
                Some((_, sub)) => {
                    match tokio::time::timeout(mode.poll.max(Duration::from_secs(60)), sub.recv()).await {
                        Ok(Ok(_)) | Err(_) => {}
                        Ok(Err(e)) => {
                            tracing::warn!(endpoint = %endpoint.url, "the block subscription ended ({e}); resubscribing");
                            heads = None;
                            tokio::time::sleep(mode.poll).await;
                        }
                    }
                }
                None => tokio::time::sleep(mode.poll).await,
            }
        };
        tokio::select! {
            () = next_block => {}
            () = &mut cancelled => break,
        }
    }
    cursor.ok_or(Error::Rpc {
        step: "scanning for events",
        message: "cancelled before the first scan ended".into(),
    })
}
