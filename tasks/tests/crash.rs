//! Crash at any point, replay the journal, reconcile with the chain: never a second claim or
//! submission, never a lost task. A simulated world (chain, workers, other nodes) performs the
//! machine's effects with random failures; the driver journals each input before performing
//! the effects it produced, exactly as the daemon does, and at random points loses everything
//! but the journal (before an effect, or after it took effect and before its outcome was
//! journaled).

use std::collections::VecDeque;

use oarn_tasks::machine::Step;
use oarn_tasks::reconcile::OurResult;
use oarn_tasks::{ChainFacts, ChainStatus, Effect, Input, Millis, Offer, Outcome, Source, Stage, Task, on, resume};
use proptest::prelude::*;

const TRUE_HASH: [u8; 32] = [7; 32];
const REWARD: u128 = 1_000_000_000_000_000;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Tx {
    Claim,
    Submit,
}

/// The chain as TaskRegistryV2 would hold it, and what this node sent to it.
struct Chain {
    status: ChainStatus,
    required: u64,
    deadline_ms: Millis,
    claimed: u64,
    submitted: u64,
    claimed_by_us: bool,
    submitted_by_us: bool,
    our_hash: Option<[u8; 32]>,
    /// Hashes submitted by every node.
    hashes: Vec<[u8; 32]>,
    rewarded_us: bool,
    matched_us: bool,
    /// Our transaction sent but not mined.
    pending: Option<(Tx, [u8; 32])>,
    claims_sent: u32,
    submits_sent: u32,
    double_claims: u32,
    double_submits: u32,
    failed_txs: u32,
}

impl Chain {
    fn facts(&self) -> ChainFacts {
        ChainFacts {
            status: self.status,
            required_nodes: self.required,
            claimed: self.claimed,
            submitted: self.submitted,
            reward_wei: REWARD,
            claimed_by_us: self.claimed_by_us,
            submitted_by_us: self.submitted_by_us,
            tx_pending: self.pending.is_some(),
            our_result: self.our_hash.map(|h| OurResult {
                result_hash: h,
                matches_consensus: self.matched_us,
                rewarded: self.rewarded_us,
            }),
            unique_results: 1,
        }
    }

    fn open(&self, now: Millis) -> bool {
        self.status.is_open() && now < self.deadline_ms
    }

    /// A transaction of ours reaches a block: the contract's checks, then its effect.
    fn mine(&mut self, tx: Tx, hash: [u8; 32], now: Millis) -> Result<(), String> {
        match tx {
            Tx::Claim => {
                self.claims_sent += 1;
                if self.claimed_by_us {
                    self.double_claims += 1;
                    return Err("Already claimed".into());
                }
                if !self.open(now) {
                    return Err("Task not active".into());
                }
                if self.claimed >= 2 * self.required {
                    return Err("Max claims reached".into());
                }
                self.claimed_by_us = true;
                self.claimed += 1;
            }
            Tx::Submit => {
                self.submits_sent += 1;
                if self.submitted_by_us {
                    self.double_submits += 1;
                    return Err("Already submitted".into());
                }
                if !self.claimed_by_us {
                    return Err("Not claimed".into());
                }
                if !self.open(now) || self.submitted >= self.required {
                    return Err("Task not active".into());
                }
                self.submitted_by_us = true;
                self.our_hash = Some(hash);
                self.submit(hash);
            }
        }
        Ok(())
    }

    fn submit(&mut self, hash: [u8; 32]) {
        self.submitted += 1;
        self.hashes.push(hash);
        if self.submitted >= self.required {
            let agreeing = self.hashes.iter().filter(|h| **h == TRUE_HASH).count() as u64;
            if agreeing * 2 > self.required {
                self.status = ChainStatus::Completed;
                self.matched_us = self.our_hash == Some(TRUE_HASH);
                self.rewarded_us = self.matched_us;
            } else {
                self.status = ChainStatus::Disputed;
            }
        }
    }

    /// Other nodes claim and submit now and then.
    fn others(&mut self, rng: &mut Rng, now: Millis) -> Vec<Input> {
        if !self.open(now) {
            return Vec::new();
        }
        if rng.chance(10) && self.claimed < 2 * self.required {
            self.claimed += 1;
        }
        let others_submitted = self.submitted - u64::from(self.submitted_by_us);
        let others_claimed = self.claimed - u64::from(self.claimed_by_us);
        if rng.chance(5) && others_submitted < others_claimed && self.submitted < self.required {
            let hash = if rng.chance(10) { [9; 32] } else { TRUE_HASH };
            self.submit(hash);
            if !self.status.is_open() {
                return self.settlement_events(rng);
            }
        }
        Vec::new()
    }

    /// The events of consensus, as the daemon's event stream would deliver them (or not: it
    /// may miss them, and the watch must settle the task anyway).
    fn settlement_events(&self, rng: &mut Rng) -> Vec<Input> {
        if rng.chance(30) {
            return Vec::new();
        }
        match self.status {
            ChainStatus::Completed if self.submitted_by_us => {
                let mut v = vec![Input::ConsensusReached { hash: TRUE_HASH }];
                if self.rewarded_us {
                    v.push(Input::Rewarded { amount_wei: REWARD });
                }
                v
            }
            ChainStatus::Completed => vec![Input::ConsensusReached { hash: TRUE_HASH }],
            ChainStatus::Disputed => vec![Input::ConsensusDisputed { unique_results: 2 }],
            _ => Vec::new(),
        }
    }
}

/// How a crash strikes.
#[derive(Clone, Copy, PartialEq)]
enum Crash {
    None,
    /// Before the effect runs.
    Before,
    /// The effect took place; its outcome was not journaled.
    After,
}

struct World {
    rng: Rng,
    chain: Chain,
    now: Millis,
    tx_seq: u8,
    computed: bool,
}

impl World {
    /// Performs one effect; the inputs it ends in.
    fn perform(&mut self, effect: &Effect) -> Vec<Input> {
        let rng = &mut self.rng;
        match effect {
            Effect::Validate => {
                if rng.chance(10) {
                    return vec![Input::Failed {
                        step: Step::Validate,
                        error: "IPFS timed out".into(),
                        transient: true,
                    }];
                }
                if rng.chance(5) {
                    return vec![Input::Refused {
                        reason: oarn_tasks::Reason::BadInput("not inference/v1".into()),
                    }];
                }
                vec![Input::Validated {
                    offer: offer(self.chain.deadline_ms / 1000),
                }]
            }
            Effect::Claim => self.send(Tx::Claim, [0; 32]),
            Effect::Submit { result_hash } => {
                assert!(self.computed, "submitted a hash it did not compute");
                assert_eq!(*result_hash, TRUE_HASH, "submitted another hash");
                self.send(Tx::Submit, *result_hash)
            }
            Effect::FetchInput | Effect::PrepareModel | Effect::Execute | Effect::Upload { .. } => {
                let step = match effect {
                    Effect::FetchInput => Step::FetchInput,
                    Effect::PrepareModel => Step::PrepareModel,
                    Effect::Execute => Step::Execute,
                    _ => Step::Upload,
                };
                if rng.chance(8) {
                    let transient = !rng.chance(10);
                    return vec![Input::Failed {
                        step,
                        error: "failed".into(),
                        transient,
                    }];
                }
                vec![match effect {
                    Effect::FetchInput => Input::InputFetched,
                    Effect::PrepareModel => Input::ModelReady,
                    Effect::Execute => {
                        self.computed = true;
                        Input::Executed {
                            result_hash: TRUE_HASH,
                            generation_ms: 1,
                        }
                    }
                    _ => Input::Uploaded {
                        cid: "bafkreiresult".into(),
                    },
                }]
            }
            Effect::ReadChain => {
                if rng.chance(5) {
                    return vec![Input::Failed {
                        step: Step::ReadChain,
                        error: "endpoint down".into(),
                        transient: true,
                    }];
                }
                vec![Input::Facts(self.chain.facts())]
            }
            Effect::Announce { .. } | Effect::WakeAt(_) => Vec::new(),
        }
    }

    /// Sends a transaction: mined at once, refused by the contract, lost before it left, lost
    /// after it was mined, or left pending (mined later by [`World::mine_pending`]).
    fn send(&mut self, tx: Tx, hash: [u8; 32]) -> Vec<Input> {
        assert!(self.chain.pending.is_none(), "sent while a transaction is pending");
        self.tx_seq = self.tx_seq.wrapping_add(1);
        let id = [self.tx_seq; 32];
        let step = if tx == Tx::Claim { Step::Claim } else { Step::Submit };
        let (sent, mined) = match tx {
            Tx::Claim => (
                Input::ClaimSent { tx: id },
                Input::ClaimMined {
                    tx: id,
                    gas_wei: 1,
                    wait_ms: 1,
                },
            ),
            Tx::Submit => (
                Input::SubmitSent { tx: id },
                Input::SubmitMined {
                    tx: id,
                    gas_wei: 1,
                    wait_ms: 1,
                },
            ),
        };
        let lost = Input::Failed {
            step,
            error: "connection reset".into(),
            transient: true,
        };
        match self.rng.next() % 10 {
            0 => vec![lost],
            1 => {
                self.chain.pending = Some((tx, hash));
                vec![sent, lost]
            }
            2 => {
                let _ = self.chain.mine(tx, hash, self.now);
                vec![sent, lost]
            }
            _ => match self.chain.mine(tx, hash, self.now) {
                Ok(()) => vec![sent, mined],
                Err(message) => {
                    self.chain.failed_txs += 1;
                    vec![Input::Reverted { step, message }]
                }
            },
        }
    }

    fn mine_pending(&mut self) {
        if self.rng.chance(30)
            && let Some((tx, hash)) = self.chain.pending.take()
        {
            let _ = self.chain.mine(tx, hash, self.now);
        }
    }
}

fn offer(deadline: u64) -> Offer {
    Offer {
        id: 1,
        model_hash: [1; 32],
        input_hash: [2; 32],
        reward_wei: REWARD,
        required_nodes: 3,
        deadline,
        source: Source::Gossip,
    }
}

/// Rebuilds the task from its journal, as the daemon does at start.
fn replay(first: &Offer, seen: Millis, journal: &[(Input, Millis)]) -> Task {
    let mut task = Task::new(first.clone(), seen);
    for (input, at) in journal {
        let _ = on(&mut task, input.clone(), *at);
    }
    task
}

struct Run {
    task: Task,
    chain: Chain,
    crashes: u32,
}

fn run(seed: u64, crash_percent: u64, deadline_s: u64) -> Run {
    let start: Millis = 1_000_000;
    let mut world = World {
        rng: Rng(seed | 1),
        chain: Chain {
            status: ChainStatus::Active,
            required: 3,
            deadline_ms: start + deadline_s * 1000,
            claimed: 0,
            submitted: 0,
            claimed_by_us: false,
            submitted_by_us: false,
            our_hash: None,
            hashes: Vec::new(),
            rewarded_us: false,
            matched_us: false,
            pending: None,
            claims_sent: 0,
            submits_sent: 0,
            double_claims: 0,
            double_submits: 0,
            failed_txs: 0,
        },
        now: start,
        tx_seq: 0,
        computed: false,
    };
    let first = offer(start / 1000 + deadline_s);
    let mut journal: Vec<(Input, Millis)> = Vec::new();
    let mut task = Task::new(first.clone(), start);
    let mut queue: VecDeque<Effect> = VecDeque::from([Effect::Validate]);
    let mut crashes = 0;
    for _ in 0..5_000 {
        if task.stage.is_final() {
            break;
        }
        world.now += world.rng.next() % 3_000;
        world.mine_pending();
        let mut inputs = world.chain.others(&mut world.rng, world.now);
        if task.stage == Stage::Validated {
            inputs.push(Input::Begin);
        }
        let crash = match world.rng.next() % 100 {
            n if n < crash_percent / 2 => Crash::Before,
            n if n < crash_percent => Crash::After,
            _ => Crash::None,
        };
        match queue.pop_front() {
            Some(Effect::WakeAt(at)) => {
                world.now = world.now.max(at);
                inputs.push(Input::Tick);
            }
            Some(effect) if crash == Crash::Before => drop(effect),
            Some(effect) => {
                let outcome = world.perform(&effect);
                if crash == Crash::None {
                    inputs.extend(outcome);
                }
            }
            None => inputs.push(Input::Tick),
        }
        if crash != Crash::None {
            // Everything in memory is gone: the task comes back from the journal alone.
            crashes += 1;
            task = replay(&first, start, &journal);
            queue = resume(&task).into();
            continue;
        }
        for input in inputs {
            journal.push((input.clone(), world.now));
            queue.extend(on(&mut task, input, world.now));
        }
        if queue.is_empty() && !task.stage.is_final() {
            // Nothing to do until the clock moves: a periodic tick.
            world.now += 5_000;
            queue.push_back(Effect::WakeAt(world.now));
        }
        assert_eq!(task, replay(&first, start, &journal), "the journal rebuilds the task");
    }
    Run {
        task,
        chain: world.chain,
        crashes,
    }
}

fn check(r: &Run) {
    let c = &r.chain;
    assert_eq!(c.double_claims, 0, "a second claim");
    assert_eq!(c.double_submits, 0, "a second submission");
    assert!(r.task.stage.is_final(), "lost: {:?}", r.task.stage);
    match &r.task.stage {
        Stage::Skipped(_) => assert!(!c.claimed_by_us, "skipped a task it claimed"),
        Stage::Settled(Outcome::Rewarded { amount_wei }) => {
            assert!(c.rewarded_us);
            assert_eq!(*amount_wei, REWARD);
        }
        Stage::Settled(_) => {
            assert!(c.submitted_by_us, "settled without a submission");
            assert!(!c.rewarded_us, "missed its reward");
        }
        Stage::Failed(_) => assert!(!c.submitted_by_us, "failed a task it submitted to"),
        _ => unreachable!(),
    }
    if c.rewarded_us {
        assert!(
            matches!(r.task.stage, Stage::Settled(Outcome::Rewarded { .. })),
            "rewarded on chain but {:?}",
            r.task.stage
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn crashes_anywhere_never_claim_or_submit_twice_nor_lose_a_task(
        seed in any::<u64>(),
        crash_percent in 0u64..40,
        deadline_s in 30u64..3_600,
    ) {
        check(&run(seed, crash_percent, deadline_s));
    }
}

#[test]
fn without_crashes_most_tasks_are_rewarded() {
    let rewarded = (1..=300)
        .filter(|seed| {
            let r = run(*seed, 0, 3_600);
            check(&r);
            matches!(r.task.stage, Stage::Settled(Outcome::Rewarded { .. }))
        })
        .count();
    assert!(rewarded > 150, "{rewarded} of 300");
}

#[test]
fn with_many_crashes_tasks_still_settle_and_crashes_happen() {
    let mut crashes = 0;
    let mut rewarded = 0;
    for seed in 1..=300 {
        let r = run(seed, 30, 3_600);
        check(&r);
        crashes += r.crashes;
        rewarded += u32::from(matches!(r.task.stage, Stage::Settled(Outcome::Rewarded { .. })));
    }
    assert!(crashes > 1_000, "{crashes}");
    assert!(rewarded > 100, "{rewarded} of 300");
}
