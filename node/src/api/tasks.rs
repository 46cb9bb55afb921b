//! The task pipeline on the local API: what the journal holds (list, status, history), and
//! the operator's claim, which the pipeline runs. The requester's side is in
//! [`super::requester`].

use std::time::Duration;

use oarn_api::rpc::{Code, Error};
use oarn_api::tasks::{
    ClaimTask, Earnings, GetEarnings, History, Ledger, ListTasks, Period, Pipeline, Settled, SettledTask, TaskList,
    TaskReport, TaskRow, TaskStatus, Timings, Transition,
};
use oarn_api::{Hash32, TaskId};
use oarn_tasks::{Input, Outcome, Source, Stage, Task};

use super::errors;
use crate::state::Node;
use crate::tasks::journal::Entry;
use crate::tasks::{Journal, pipeline};

/// Longest an operator's claim waits for validation and the claim to be mined.
const CLAIM_WAIT: Duration = Duration::from_secs(600);
/// Most tasks one listing returns.
const MAX_LIST: u32 = 1000;

fn journal(node: &Node) -> Result<Journal, Error> {
    Journal::open(&node.home.root().join("tasks.db")).map_err(|e| Error::new(Code::InternalError, e.to_string()))
}

fn internal(e: impl ToString) -> Error {
    Error::new(Code::InternalError, e.to_string())
}

fn pipeline_state(node: &Node) -> Pipeline {
    let config = node.config();
    let running = node.tasks.get().is_some();
    let signing = node.wallet.borrow().state.account.is_some();
    let why_not = if !running {
        Some("the task pipeline is not running (local mode, no chain or network worker, or the journal could not be opened; see oarn logs)".into())
    } else if !config.compute.auto_claim {
        Some("compute.auto_claim is off: only `oarn task claim ID` claims".into())
    } else if !signing {
        Some("the wallet is locked: start the node with --passphrase-file, or run oarn wallet unlock".into())
    } else {
        None
    };
    Pipeline {
        running,
        auto_claim: running && config.compute.auto_claim && signing,
        why_not,
        max_concurrent_tasks: config.compute.max_concurrent_tasks,
    }
}

/// Why a task ended or is not taken, in words.
fn why(stage: &Stage) -> Option<String> {
    match stage {
        Stage::Skipped(r) | Stage::Failed(r) => Some(r.to_string()),
        Stage::Settled(Outcome::Unrewarded { why }) => Some(why.clone()),
        Stage::Settled(Outcome::Disputed { unique_results }) => {
            Some(format!("consensus was disputed ({unique_results} different results)"))
        }
        _ => None,
    }
}

fn row(task: &Task, updated_ms: u64) -> TaskRow {
    let takes = !matches!(task.stage, Stage::Skipped(_) | Stage::Failed(_));
    TaskRow {
        id: TaskId(task.id()),
        stage: task.stage.name().into(),
        source: task.offer.source.as_str().into(),
        reward_wei: task.offer.reward_wei.to_string(),
        required_nodes: task.offer.required_nodes,
        deadline: task.offer.deadline,
        takes,
        why: why(&task.stage),
        updated_ms,
    }
}

fn ledger(l: &crate::tasks::Ledger) -> Ledger {
    Ledger {
        reward_wei: l.reward_wei.to_string(),
        claim_gas_wei: l.claim_gas_wei.to_string(),
        submit_gas_wei: l.submit_gas_wei.to_string(),
        net_wei: l.net_wei().to_string(),
    }
}

fn timings(t: crate::tasks::Timings) -> Timings {
    Timings {
        total_ms: t.total_ms,
        queued_ms: t.queued_ms,
        generation_ms: t.generation_ms,
        chain_wait_ms: t.chain_wait_ms,
        overhead_ms: t.overhead_ms,
    }
}

fn event_name(input: &Input) -> (String, Option<String>) {
    let name = serde_json::to_value(input)
        .ok()
        .and_then(|v| v.get("input").and_then(|n| n.as_str()).map(String::from))
        .unwrap_or_default();
    let detail = match input {
        Input::Failed { step, error, .. } => Some(format!("{}: {error}", step.as_str())),
        Input::Reverted { message, .. } => Some(message.clone()),
        Input::Refused { reason } => Some(reason.to_string()),
        _ => None,
    };
    (name, detail)
}

fn report(task: &Task, seen_ms: u64, entries: &[Entry]) -> TaskReport {
    let updated = entries.last().map_or(task.since, |e| e.at_ms);
    let mut r = TaskReport {
        row: row(task, updated),
        timeline: Vec::with_capacity(entries.len()),
        claim_tx: None,
        submit_tx: None,
        result_hash: None,
        result_cid: None,
        outcome: None,
        ledger: ledger(&crate::tasks::Ledger::of(entries, &task.stage)),
        timings: crate::tasks::Timings::of(seen_ms, entries).map(timings),
    };
    for e in entries {
        match &e.input {
            Input::ClaimSent { tx } | Input::ClaimMined { tx, .. } => r.claim_tx = Some(Hash32(*tx)),
            Input::SubmitSent { tx } | Input::SubmitMined { tx, .. } => r.submit_tx = Some(Hash32(*tx)),
            Input::Executed { result_hash, .. } => r.result_hash = Some(Hash32(*result_hash)),
            Input::Uploaded { cid } => r.result_cid = Some(cid.clone()),
            _ => {}
        }
        // Ticks and facts that changed nothing are not transitions.
        let quiet = matches!(e.input, Input::Tick | Input::Facts(_));
        if quiet && r.timeline.last().is_some_and(|t| t.stage == e.stage) {
            continue;
        }
        let (event, detail) = event_name(&e.input);
        r.timeline.push(Transition {
            at_ms: e.at_ms,
            event,
            stage: e.stage.clone(),
            detail,
        });
    }
    if let Stage::Settled(o) = &task.stage {
        r.outcome = Some(outcome_name(o).into());
    }
    r
}

fn outcome_name(o: &Outcome) -> &'static str {
    match o {
        Outcome::Rewarded { .. } => "rewarded",
        Outcome::Unrewarded { .. } => "unrewarded",
        Outcome::Disputed { .. } => "disputed",
    }
}

pub async fn list(node: &Node, p: ListTasks) -> Result<TaskList, Error> {
    let j = journal(node)?;
    let limit = p.limit.unwrap_or(100).min(MAX_LIST) as usize;
    let mut tasks = Vec::new();
    for (id, _) in j.list(limit).map_err(internal)? {
        if let Some((task, entries)) = j.task(id).map_err(internal)? {
            tasks.push(row(&task, entries.last().map_or(task.since, |e| e.at_ms)));
        }
    }
    Ok(TaskList {
        pipeline: pipeline_state(node),
        tasks,
    })
}

pub async fn status(node: &Node, p: TaskStatus) -> Result<TaskReport, Error> {
    let j = journal(node)?;
    match j.task(p.task_id.0).map_err(internal)? {
        Some((task, entries)) => {
            let seen = j.seen(p.task_id.0).map_err(internal)?.unwrap_or(task.since);
            Ok(report(&task, seen, &entries))
        }
        None => Err(Error::new(
            Code::NotFound,
            format!(
                "this node has not seen task {}; `oarn task claim {}` takes it now",
                p.task_id, p.task_id
            ),
        )),
    }
}

pub async fn claim(node: &Node, p: ClaimTask) -> Result<TaskReport, Error> {
    let Some(handle) = node.tasks.get() else {
        let why = pipeline_state(node).why_not.unwrap_or_default();
        return Err(errors::no_providers(why));
    };
    let Some(chain) = &node.workers.chain else {
        return Err(errors::absent(oarn_protocol::WorkerKind::Chain));
    };
    let id = p.task_id.0;
    let detail = chain
        .call(oarn_protocol::chain::ReadTask { id })
        .await
        .map_err(|e| match e.kind() {
            Some(oarn_protocol::envelope::ErrorKind::NotFound) => Error::new(
                Code::NotFound,
                format!("task {id} does not exist (task ids start at 1)"),
            ),
            _ => errors::call(e),
        })?;
    let offer = crate::tasks::effects::offer_of(&detail.task, Source::Operator);
    let (tx, rx) = tokio::sync::oneshot::channel();
    if !handle.send(pipeline::Msg::Claim { offer, reply: tx }).await {
        return Err(internal("the task pipeline stopped"));
    }
    let stage = tokio::time::timeout(CLAIM_WAIT, rx)
        .await
        .map_err(|_| {
            Error::new(
                Code::DeadlineExceeded,
                format!("task {id} was not claimed within 10 minutes; see oarn task status {id}"),
            )
        })?
        .map_err(|_| internal("the task pipeline stopped"))?;
    let report = status(node, TaskStatus { task_id: p.task_id }).await?;
    match stage {
        Stage::Skipped(r) => Err(Error::new(Code::Refused, format!("task {id} was not claimed: {r}"))
            .with_data(serde_json::json!({ "kind": "skipped", "task": id }))),
        _ => Ok(report),
    }
}

pub async fn history(node: &Node, p: History) -> Result<Settled, Error> {
    let j = journal(node)?;
    let limit = p.limit.unwrap_or(100).min(MAX_LIST) as usize;
    let mut total = crate::tasks::Ledger::default();
    let mut net: i128 = 0;
    let mut tasks = Vec::new();
    for id in j.settled(limit).map_err(internal)? {
        let Some((task, entries)) = j.task(id).map_err(internal)? else {
            continue;
        };
        let Stage::Settled(o) = &task.stage else { continue };
        let l = crate::tasks::Ledger::of(&entries, &task.stage);
        total.reward_wei += l.reward_wei;
        total.claim_gas_wei += l.claim_gas_wei;
        total.submit_gas_wei += l.submit_gas_wei;
        net += l.net_wei();
        tasks.push(SettledTask {
            id: TaskId(id),
            outcome: outcome_name(o).into(),
            why: why(&task.stage),
            settled_ms: entries.last().map_or(task.since, |e| e.at_ms),
            ledger: ledger(&l),
        });
    }
    let mut total = ledger(&total);
    total.net_wei = net.to_string();
    Ok(Settled { tasks, total })
}

/// Adds up a period's tasks.
#[derive(Default)]
struct Sum {
    since_ms: u64,
    tasks: u64,
    rewarded: u64,
    ledger: crate::tasks::Ledger,
    net: i128,
}

impl Sum {
    fn add(&mut self, l: &crate::tasks::Ledger) {
        self.tasks += 1;
        self.rewarded += u64::from(l.reward_wei > 0);
        self.ledger.reward_wei += l.reward_wei;
        self.ledger.claim_gas_wei += l.claim_gas_wei;
        self.ledger.submit_gas_wei += l.submit_gas_wei;
        self.net += l.net_wei();
    }

    fn period(&self) -> Period {
        let mut ledger = ledger(&self.ledger);
        ledger.net_wei = self.net.to_string();
        Period {
            since_ms: self.since_ms,
            tasks: self.tasks,
            rewarded: self.rewarded,
            ledger,
        }
    }
}

pub async fn earnings(node: &Node, _: GetEarnings) -> Result<Earnings, Error> {
    const DAY_MS: u64 = 24 * 3600 * 1000;
    let j = journal(node)?;
    let now = crate::tasks::now_ms();
    let mut sums = [
        Sum {
            since_ms: now.saturating_sub(DAY_MS),
            ..Sum::default()
        },
        Sum {
            since_ms: now.saturating_sub(7 * DAY_MS),
            ..Sum::default()
        },
        Sum::default(),
    ];
    for id in j.spent_since(0).map_err(internal)? {
        let Some((task, entries)) = j.task(id).map_err(internal)? else {
            continue;
        };
        let l = crate::tasks::Ledger::of(&entries, &task.stage);
        let ended = entries.last().map_or(task.since, |e| e.at_ms);
        for s in sums.iter_mut().filter(|s| ended >= s.since_ms) {
            s.add(&l);
        }
    }
    let [day, week, total] = sums;
    Ok(Earnings {
        last_24h: day.period(),
        last_7d: week.period(),
        total: total.period(),
    })
}
