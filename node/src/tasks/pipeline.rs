//! The loop that runs tasks: offers come in (gossip announcements, the chain's `TaskCreated`
//! events, the scan at start, the operator), are journaled once, validated, and — while a slot
//! is free (`compute.max_concurrent_tasks`, live) and `compute.auto_claim` is on, or the
//! operator asked — claimed and worked through. Each task runs one effect at a time; every
//! input is journaled before its effects start. Settlement events close submitted tasks. At
//! start every unsettled task of the journal resumes through the chain's facts.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use oarn_protocol::chain as wire;
use oarn_tasks::{Effect, Input, Millis, Offer, Reason, Source, Stage, Task, TaskId};
use tokio::sync::{mpsc, oneshot};

use super::effects::{self, Ctx};
use super::{Journal, now_ms};

/// Offers and reports queued for the loop.
pub const QUEUE: usize = 1024;
/// Tasks tracked at once (not final); offers beyond it wait for the next announcement.
pub const MAX_TRACKED: usize = 512;
/// Tasks of the newest ones read from the chain at start.
pub const SCAN: u64 = 64;
/// Pause before the chain's event stream is followed again after it ended.
const EVENTS_PAUSE: Duration = Duration::from_secs(2);

/// What the loop is told.
#[derive(Debug)]
pub enum Msg {
    /// A task seen somewhere.
    Offer(Offer),
    /// An effect of `id` ended in these inputs.
    Done { id: TaskId, inputs: Vec<Input> },
    /// One of the account's chain events.
    Chain(wire::EventKind),
    /// The operator wants `id` worked on now (`oarn task claim`); answered once it is
    /// validated and claimed, or refused, with its stage.
    Claim {
        offer: Offer,
        reply: oneshot::Sender<Stage>,
    },
}

/// How the API and the drivers reach the loop.
#[derive(Debug, Clone)]
pub struct Handle {
    tx: mpsc::Sender<Msg>,
}

impl Handle {
    /// Hands the loop an offer; dropped (and logged) when the loop is this busy.
    pub fn offer(&self, offer: Offer) {
        if let Err(e) = self.tx.try_send(Msg::Offer(offer)) {
            tracing::debug!("an offer was dropped: {e}");
        }
    }

    pub async fn send(&self, msg: Msg) -> bool {
        self.tx.send(msg).await.is_ok()
    }
}

struct Running {
    task: Task,
    queue: VecDeque<Effect>,
    busy: bool,
    /// The operator asked for it: it is claimed whatever auto_claim says, and told when.
    operator: Option<oneshot::Sender<Stage>>,
}

struct Loop {
    ctx: Arc<Ctx>,
    journal: Journal,
    tx: mpsc::Sender<Msg>,
    tasks: HashMap<TaskId, Running>,
    timers: BTreeSet<(Millis, TaskId)>,
}

/// Starts the loop on `journal`; it runs for as long as the node does.
pub fn start(ctx: Arc<Ctx>, journal: Journal) -> Handle {
    let (tx, rx) = mpsc::channel(QUEUE);
    let handle = Handle { tx: tx.clone() };
    let mut l = Loop {
        ctx,
        journal,
        tx,
        tasks: HashMap::new(),
        timers: BTreeSet::new(),
    };
    tokio::spawn(async move {
        l.resume();
        l.run(rx).await;
    });
    handle
}

impl Loop {
    /// Every unsettled task of the journal, back with the chain's facts first.
    fn resume(&mut self) {
        let open = match self.journal.unsettled() {
            Ok(t) => t,
            Err(e) => {
                tracing::error!("{e}");
                return;
            }
        };
        if !open.is_empty() {
            tracing::info!(tasks = open.len(), "resuming unsettled tasks from the journal");
        }
        for task in open {
            let queue = oarn_tasks::resume(&task).into();
            self.track(task, queue, None);
        }
    }

    fn track(&mut self, task: Task, queue: VecDeque<Effect>, operator: Option<oneshot::Sender<Stage>>) {
        if task.stage == Stage::Validated {
            self.timers.insert((task.deadline_ms(), task.id()));
        }
        self.tasks.insert(
            task.id(),
            Running {
                task,
                queue,
                busy: false,
                operator,
            },
        );
    }

    async fn run(&mut self, mut rx: mpsc::Receiver<Msg>) {
        loop {
            self.begin();
            self.dispatch();
            let next = self.timers.first().map(|(at, _)| *at);
            let sleep = async {
                match next {
                    Some(at) => tokio::time::sleep(Duration::from_millis(at.saturating_sub(now_ms()))).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                msg = rx.recv() => match msg {
                    Some(msg) => self.on(msg),
                    None => return,
                },
                () = sleep => self.due(),
            }
            self.ctx
                .node
                .metrics
                .in_stage(self.tasks.values().map(|r| &r.task.stage));
        }
    }

    fn on(&mut self, msg: Msg) {
        match msg {
            Msg::Offer(offer) => self.offered(offer, None),
            Msg::Claim { offer, reply } => self.offered(offer, Some(reply)),
            Msg::Done { id, inputs } => {
                if let Some(r) = self.tasks.get_mut(&id) {
                    r.busy = false;
                }
                for input in inputs {
                    self.apply(id, input);
                }
            }
            Msg::Chain(event) => self.chain_event(event),
        }
    }

    fn offered(&mut self, offer: Offer, operator: Option<oneshot::Sender<Stage>>) {
        let id = offer.id;
        if let Some(r) = self.tasks.get_mut(&id) {
            if let Some(reply) = operator {
                if r.task.stage.claimed() {
                    let _ = reply.send(r.task.stage.clone());
                } else {
                    r.operator = Some(reply);
                }
            }
            return;
        }
        if self.tasks.len() >= MAX_TRACKED && operator.is_none() {
            tracing::debug!(
                task = id,
                "too many tasks in flight; the offer waits for another announcement"
            );
            return;
        }
        match self.journal.discover(&offer, now_ms()) {
            Ok(Some(task)) => {
                tracing::info!(task = id, source = offer.source.as_str(), "task discovered");
                self.ctx.node.metrics.discovered(offer.source.as_str());
                self.track(task, VecDeque::from([Effect::Validate]), operator);
            }
            Ok(None) => {
                // Known from before: final (nothing to do) or already tracked.
                if let Some(reply) = operator {
                    let stage = self.journal.task(id).ok().flatten().map(|(t, _)| t.stage);
                    let _ = reply.send(stage.unwrap_or(Stage::Discovered));
                }
            }
            Err(e) => tracing::error!(task = id, "{e}"),
        }
    }

    /// Applies `input` to task `id` (journaled first) and queues its effects.
    fn apply(&mut self, id: TaskId, input: Input) {
        let Some(r) = self.tasks.get_mut(&id) else {
            return;
        };
        let before = r.task.stage.clone();
        let since = r.task.since;
        let now = now_ms();
        let gas = input.gas();
        let effects = match self.journal.apply(&mut r.task, input, now) {
            Ok(e) => e,
            Err(e) => {
                // Nothing is performed that the journal does not hold; the chain decides later.
                tracing::error!(task = id, "{e}; the task waits and reads the chain again");
                self.timers.insert((now_ms() + 30_000, id));
                r.task.wait_until = Some(now_ms() + 30_000);
                return;
            }
        };
        let metrics = &self.ctx.node.metrics;
        if let Some((tx, wei)) = gas {
            metrics.gas(tx.as_str(), wei);
        }
        let (from, to) = (before.name(), r.task.stage.name());
        if from != to {
            tracing::info!(task = id, from, to, "task {}", describe(&r.task.stage));
            metrics.moved(&before, now.saturating_sub(since) as f64 / 1000.0, &r.task.stage);
        }
        r.queue.extend(effects);
        if r.task.stage == Stage::Validated {
            self.timers.insert((r.task.deadline_ms(), id));
        }
        let operator_done = r.task.stage.claimed() || r.task.stage.is_final();
        if operator_done && let Some(reply) = r.operator.take() {
            let _ = reply.send(r.task.stage.clone());
        }
        if r.task.stage.is_final() && !r.busy {
            let unknown = r.task.stage == Stage::Skipped(Reason::NotOnChain);
            self.tasks.remove(&id);
            self.ctx.forget(id);
            // An announcement ahead of the chain (or made up) must not make the node skip
            // the real task when it comes: nothing of it is kept.
            if unknown && let Err(e) = self.journal.forget(id) {
                tracing::error!(task = id, "{e}");
            }
        }
    }

    /// Claims validated tasks while slots are free: the operator's first, then routed, then
    /// the rest, oldest first.
    fn begin(&mut self) {
        let config = self.ctx.node.config();
        let slots = config.compute.max_concurrent_tasks.max(1) as usize;
        let held = self.tasks.values().filter(|r| r.task.stage.holds_slot()).count();
        let signing = self.ctx.node.wallet.borrow().state.account.is_some();
        let mut ready: Vec<(u8, Millis, TaskId)> = self
            .tasks
            .values()
            .filter(|r| r.task.stage == Stage::Validated && !r.busy && r.queue.is_empty())
            .filter(|r| r.operator.is_some() || (config.compute.auto_claim && signing))
            .map(|r| {
                let p = if r.operator.is_some() {
                    0
                } else {
                    r.task.offer.source.priority()
                };
                (p, r.task.since, r.task.id())
            })
            .collect();
        ready.sort_unstable();
        for (_, _, id) in ready.into_iter().take(slots.saturating_sub(held)) {
            self.apply(id, Input::Begin);
        }
    }

    /// Starts the next effect of every idle task.
    fn dispatch(&mut self) {
        for (id, r) in self.tasks.iter_mut() {
            if r.busy {
                continue;
            }
            while let Some(effect) = r.queue.pop_front() {
                if let Effect::WakeAt(at) = effect {
                    self.timers.insert((at, *id));
                    continue;
                }
                r.busy = true;
                let (ctx, tx, task, id) = (self.ctx.clone(), self.tx.clone(), r.task.clone(), *id);
                tokio::spawn(async move {
                    let inputs = ctx.perform(&task, &effect).await;
                    let _ = tx.send(Msg::Done { id, inputs }).await;
                });
                break;
            }
        }
    }

    /// Wakes the tasks whose timers are due.
    fn due(&mut self) {
        let now = now_ms();
        while let Some(&(at, id)) = self.timers.first() {
            if at > now {
                break;
            }
            self.timers.pop_first();
            if self.tasks.get(&id).is_some_and(|r| !r.busy) {
                self.apply(id, Input::Tick);
            }
        }
    }

    fn chain_event(&mut self, event: wire::EventKind) {
        use wire::EventKind as E;
        let (id, input) = match event {
            E::RewardDistributed { task, amount_wei, .. } => (
                task,
                Input::Rewarded {
                    amount_wei: amount_wei.parse().unwrap_or(0),
                },
            ),
            E::ConsensusReached {
                task, consensus_hash, ..
            } => (task, Input::ConsensusReached { hash: consensus_hash }),
            E::ConsensusDisputed { task, unique_results } => (task, Input::ConsensusDisputed { unique_results }),
            E::TaskCreated { task, ours: false, .. } => {
                self.read_offer(task);
                return;
            }
            _ => return,
        };
        if self.tasks.get(&id).is_some_and(|r| !r.busy) {
            self.apply(id, input);
        } else if let Some(r) = self.tasks.get_mut(&id) {
            // Busy: the settlement is applied after the current effect.
            r.queue.push_back(Effect::ReadChain);
        }
    }

    /// Reads a task announced by a `TaskCreated` event and offers it.
    fn read_offer(&self, id: TaskId) {
        let (ctx, tx) = (self.ctx.clone(), self.tx.clone());
        tokio::spawn(async move {
            if let Some(offer) = read(&ctx, id, Source::Chain).await {
                let _ = tx.send(Msg::Offer(offer)).await;
            }
        });
    }
}

/// A task read from the chain, as an offer from `source`.
pub async fn read(ctx: &Ctx, id: TaskId, source: Source) -> Option<Offer> {
    let h = ctx.node.workers.chain.as_ref()?;
    match h.call(wire::ReadTask { id }).await {
        Ok(d) => Some(effects::offer_of(&d.task, source)),
        Err(e) => {
            tracing::debug!(task = id, "cannot read the task: {e}");
            None
        }
    }
}

/// The stage in words, for the log.
fn describe(stage: &Stage) -> String {
    match stage {
        Stage::Skipped(r) => format!("skipped: {r}"),
        Stage::Failed(r) => format!("failed: {r}"),
        Stage::Settled(o) => format!("settled: {o:?}"),
        s => s.name().replace('_', " "),
    }
}

/// Follows the account's chain events into the loop, and scans the newest tasks once, for as
/// long as the node runs; waits for the key to be unlocked first.
pub async fn follow(ctx: Arc<Ctx>, handle: Handle) {
    let Some(chain) = ctx.node.workers.chain.clone() else {
        return;
    };
    let mut wallet = ctx.node.wallet.subscribe();
    let mut scanned = false;
    loop {
        if wallet.borrow_and_update().state.account.is_none() {
            if wallet.changed().await.is_err() {
                return;
            }
            continue;
        }
        if !scanned && let Ok(list) = chain.call(wire::ListTasks { last: SCAN }).await {
            scanned = true;
            for t in list.tasks.iter().filter(|t| t.status <= 1) {
                handle.offer(effects::offer_of(t, Source::Scan));
            }
        }
        let (tx, mut rx) = mpsc::channel(256);
        let request = wire::Events {
            account: None,
            cursor: None,
            confirmations: 0,
            follow: true,
            poll_only: false,
            poll_secs: 2,
        };
        let stream = chain.stream(request, tx);
        tokio::pin!(stream);
        loop {
            tokio::select! {
                _ = &mut stream => break,
                Some(event) = rx.recv() => {
                    if let wire::Event::Chain(e) = event {
                        let _ = handle.send(Msg::Chain(e.kind)).await;
                    }
                }
            }
        }
        while let Ok(wire::Event::Chain(e)) = rx.try_recv() {
            let _ = handle.send(Msg::Chain(e.kind)).await;
        }
        tokio::time::sleep(EVENTS_PAUSE).await;
    }
}
