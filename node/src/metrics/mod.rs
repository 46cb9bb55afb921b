//! The node's figures in Prometheus' text format, served at `/metrics` by [`crate::http`].
//!
//! Two kinds, one registry:
//! - what the node counts as it happens ([`Metrics`]): tasks discovered and ended, the time
//!   tasks spend in each stage, rewards and gas, generations and model loads; the task
//!   pipeline and the inference paths update them;
//! - what is read at each scrape ([`scrape`]): workers (up, restarts, sandbox violations, CPU
//!   and memory), peers and traffic from the network worker's status frame, the chain's head
//!   from the chain worker, the wallet, disk and model cache, the machine's memory, GPUs
//!   through NVML. Workers report through frames; the supervisor opens no connection.
//!
//! Names follow Prometheus' conventions: the `oarn_` prefix, base units in the name (seconds,
//! bytes, wei), `_total` on counters, and labels whose values come from short fixed lists
//! (stages, outcomes, reasons, worker kinds, protocols), never ids or addresses. Counters
//! start at zero when the daemon starts; `oarn task history` has the totals of all time.

pub mod procfs;
pub mod scrape;
pub mod text;

use std::sync::Mutex;
use std::sync::atomic::AtomicU64;

use oarn_tasks::{Outcome, Stage};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

/// A counter of a quantity too large for `u64` over a node's life (wei), or fractional
/// (seconds). Prometheus' values are `f64` anyway.
pub type FloatCounter = Counter<f64, AtomicU64>;
/// A gauge of a fractional value.
pub type FloatGauge = Gauge<f64, AtomicU64>;

/// A stage of the task pipeline.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StageLabel {
    pub stage: &'static str,
}

/// How a task ended, and why when it was not settled.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndLabel {
    /// rewarded, unrewarded, disputed, failed or skipped.
    pub outcome: &'static str,
    /// The reason's kind for failed and skipped tasks; empty otherwise.
    pub reason: &'static str,
}

/// Where a task was first seen.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SourceLabel {
    pub source: &'static str,
}

/// The transaction gas was paid for.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TxLabel {
    /// claim or submit.
    pub tx: &'static str,
}

/// The two phases of a generation.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PhaseLabel {
    /// prompt or generation.
    pub phase: &'static str,
}

/// What the node counts as it happens.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    tasks_discovered: Family<SourceLabel, Counter>,
    tasks_ended: Family<EndLabel, Counter>,
    tasks_in_stage: Family<StageLabel, Gauge>,
    stage_seconds: Family<StageLabel, Histogram>,
    rewards_wei: FloatCounter,
    gas_wei: Family<TxLabel, FloatCounter>,
    generations: Counter,
    tokens: Family<PhaseLabel, Counter>,
    inference_seconds: Family<PhaseLabel, FloatCounter>,
    tokens_per_second: Family<PhaseLabel, FloatGauge>,
    model_loads: Counter,
    model_load_seconds: FloatCounter,
    /// What the last scrape read, encoded by the registry's collector.
    snapshot: std::sync::Arc<Mutex<scrape::Snapshot>>,
}

/// The stages a task is in before it ends, as [`Stage::name`] writes them.
pub const OPEN_STAGES: [&str; 10] = [
    "discovered",
    "validated",
    "claiming",
    "claimed",
    "input_fetched",
    "model_ready",
    "executed",
    "result_uploaded",
    "submitting",
    "submitted",
];

/// Buckets of the stage durations: 50 ms to about 27 minutes, doubling.
fn stage_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.05, 2.0, 16))
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Every metric, registered under `oarn_`.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("oarn");
        let m = Metrics {
            tasks_discovered: Family::default(),
            tasks_ended: Family::default(),
            tasks_in_stage: Family::default(),
            stage_seconds: Family::new_with_constructor(stage_buckets),
            rewards_wei: FloatCounter::default(),
            gas_wei: Family::default(),
            generations: Counter::default(),
            tokens: Family::default(),
            inference_seconds: Family::default(),
            tokens_per_second: Family::default(),
            model_loads: Counter::default(),
            model_load_seconds: FloatCounter::default(),
            snapshot: Default::default(),
            registry: Registry::default(),
        };
        registry.register(
            "tasks_discovered",
            "Tasks seen for the first time, by where they were seen",
            m.tasks_discovered.clone(),
        );
        registry.register(
            "tasks_ended",
            "Tasks that reached a final stage, by outcome and, for failed and skipped ones, the reason's kind",
            m.tasks_ended.clone(),
        );
        registry.register(
            "tasks_in_stage",
            "Tasks the pipeline is working on, by stage",
            m.tasks_in_stage.clone(),
        );
        registry.register_with_unit(
            "task_stage_duration",
            "Time tasks spent in a stage before leaving it",
            Unit::Seconds,
            m.stage_seconds.clone(),
        );
        registry.register(
            "rewards_wei",
            "Rewards paid to this node's account for tasks (RewardDistributed), in wei",
            m.rewards_wei.clone(),
        );
        registry.register(
            "gas_wei",
            "Gas paid for task transactions (gas used times its effective price), in wei",
            m.gas_wei.clone(),
        );
        registry.register(
            "generations",
            "Generations run by the inference worker",
            m.generations.clone(),
        );
        registry.register(
            "inference_tokens",
            "Tokens of generations, by phase (prompt evaluated, tokens generated)",
            m.tokens.clone(),
        );
        registry.register_with_unit(
            "inference",
            "Time generations spent, by phase",
            Unit::Seconds,
            m.inference_seconds.clone(),
        );
        registry.register(
            "inference_tokens_per_second",
            "Speed of the last generation, by phase",
            m.tokens_per_second.clone(),
        );
        registry.register("model_loads", "Models loaded into memory", m.model_loads.clone());
        registry.register_with_unit(
            "model_load",
            "Time spent loading models",
            Unit::Seconds,
            m.model_load_seconds.clone(),
        );
        registry.register_collector(Box::new(scrape::Collector(m.snapshot.clone())));
        m.in_stage([]);
        Metrics { registry, ..m }
    }

    /// A task was seen for the first time.
    pub fn discovered(&self, source: &'static str) {
        self.tasks_discovered.get_or_create(&SourceLabel { source }).inc();
    }

    /// A task left stage `from` (where it spent `seconds`) for `to`.
    pub fn moved(&self, from: &Stage, seconds: f64, to: &Stage) {
        self.stage_seconds
            .get_or_create(&StageLabel { stage: from.name() })
            .observe(seconds);
        if to.is_final() {
            self.tasks_ended.get_or_create(&ended(to)).inc();
        }
        if let Stage::Settled(Outcome::Rewarded { amount_wei }) = to {
            self.rewards_wei.inc_by(*amount_wei as f64);
        }
    }

    /// Gas paid for a mined claim (`tx` = "claim") or submission ("submit").
    pub fn gas(&self, tx: &'static str, wei: u128) {
        self.gas_wei.get_or_create(&TxLabel { tx }).inc_by(wei as f64);
    }

    /// How many tasks are in each stage now; every stage before the final ones is written,
    /// 0 when no task is in it, so its series never vanishes.
    pub fn in_stage<'a>(&self, stages: impl IntoIterator<Item = &'a Stage>) {
        let mut counts: std::collections::BTreeMap<&'static str, i64> = OPEN_STAGES.iter().map(|s| (*s, 0)).collect();
        for s in stages.into_iter().filter(|s| !s.is_final()) {
            *counts.entry(s.name()).or_default() += 1;
        }
        for (stage, n) in counts {
            self.tasks_in_stage.get_or_create(&StageLabel { stage }).set(n);
        }
    }

    /// A generation ended: its tokens and times.
    pub fn generated(&self, g: &oarn_protocol::infer::Generated) {
        self.generations.inc();
        if g.load_us > 0 {
            self.model_loads.inc();
            self.model_load_seconds.inc_by(g.load_us as f64 / 1e6);
        }
        for (phase, tokens, us) in [
            ("prompt", g.prompt_tokens, g.prompt_us),
            ("generation", g.generated_tokens, g.generate_us),
        ] {
            let label = PhaseLabel { phase };
            self.tokens.get_or_create(&label).inc_by(u64::from(tokens));
            self.inference_seconds.get_or_create(&label).inc_by(us as f64 / 1e6);
            if us > 0 && tokens > 0 {
                self.tokens_per_second
                    .get_or_create(&label)
                    .set(f64::from(tokens) / (us as f64 / 1e6));
            }
        }
    }

    /// The text of `/metrics` with `snapshot` as what was read for this scrape.
    pub fn render(&self, snapshot: scrape::Snapshot) -> String {
        *self.snapshot.lock().unwrap_or_else(|e| e.into_inner()) = snapshot;
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

/// The label of a final stage.
fn ended(stage: &Stage) -> EndLabel {
    let (outcome, reason) = match stage {
        Stage::Settled(Outcome::Rewarded { .. }) => ("rewarded", ""),
        Stage::Settled(Outcome::Unrewarded { .. }) => ("unrewarded", ""),
        Stage::Settled(Outcome::Disputed { .. }) => ("disputed", ""),
        Stage::Failed(r) => ("failed", r.kind()),
        Stage::Skipped(r) => ("skipped", r.kind()),
        _ => ("", ""),
    };
    EndLabel { outcome, reason }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oarn_tasks::Reason;

    fn line<'a>(text: &'a str, start: &str) -> Option<&'a str> {
        text.lines().find(|l| l.starts_with(start))
    }

    #[test]
    fn a_rewarded_task_counts_its_reward_outcome_and_time_in_stage() {
        let m = Metrics::new();
        m.discovered("gossip");
        m.moved(&Stage::Validated, 0.2, &Stage::Claimed);
        let rewarded = Stage::Settled(Outcome::Rewarded {
            amount_wei: 1_000_000_000_000_000,
        });
        let submitted = Stage::Submitted {
            result_hash: [1; 32],
            cid: "bafk".into(),
        };
        m.moved(&submitted, 3.0, &rewarded);
        m.gas("claim", 2_500);
        let text = m.render(scrape::Snapshot::default());
        assert_eq!(
            line(&text, "oarn_tasks_discovered_total"),
            Some("oarn_tasks_discovered_total{source=\"gossip\"} 1")
        );
        assert_eq!(
            line(&text, "oarn_tasks_ended_total"),
            Some("oarn_tasks_ended_total{outcome=\"rewarded\",reason=\"\"} 1")
        );
        assert_eq!(
            line(&text, "oarn_rewards_wei_total"),
            Some("oarn_rewards_wei_total 1000000000000000.0")
        );
        assert_eq!(
            line(&text, "oarn_gas_wei_total"),
            Some("oarn_gas_wei_total{tx=\"claim\"} 2500.0")
        );
        assert!(
            text.contains("oarn_task_stage_duration_seconds_count{stage=\"submitted\"} 1"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[test]
    fn a_skipped_task_is_counted_by_the_kind_of_its_reason_not_its_details() {
        let m = Metrics::new();
        for min in ["1", "2"] {
            let why = Reason::RewardTooLow {
                reward: "0".into(),
                min: min.into(),
            };
            m.moved(&Stage::Discovered, 0.1, &Stage::Skipped(why));
        }
        let text = m.render(scrape::Snapshot::default());
        assert!(
            text.contains("oarn_tasks_ended_total{outcome=\"skipped\",reason=\"reward_too_low\"} 2"),
            "{text}"
        );
    }

    #[test]
    fn a_stage_no_task_is_in_reads_zero_and_stays() {
        let m = Metrics::new();
        let text = m.render(scrape::Snapshot::default());
        assert!(text.contains("oarn_tasks_in_stage{stage=\"claimed\"} 0"), "{text}");
        m.in_stage(&[Stage::Claimed, Stage::Claimed, Stage::Validated]);
        let text = m.render(scrape::Snapshot::default());
        assert!(text.contains("oarn_tasks_in_stage{stage=\"claimed\"} 2"), "{text}");
        m.in_stage(&[Stage::Validated, Stage::Failed(Reason::NotOnChain)]);
        let text = m.render(scrape::Snapshot::default());
        assert!(text.contains("oarn_tasks_in_stage{stage=\"claimed\"} 0"), "{text}");
        assert!(text.contains("oarn_tasks_in_stage{stage=\"validated\"} 1"), "{text}");
        assert!(
            !text.contains("stage=\"failed\""),
            "ended tasks are counted apart: {text}"
        );
        let names: Vec<&str> = OPEN_STAGES.to_vec();
        let all = [
            Stage::Discovered,
            Stage::Validated,
            Stage::Claiming { tx: None },
            Stage::Claimed,
            Stage::InputFetched,
            Stage::ModelReady,
            Stage::Executed { result_hash: [0; 32] },
            Stage::ResultUploaded {
                result_hash: [0; 32],
                cid: String::new(),
            },
            Stage::Submitting {
                result_hash: [0; 32],
                cid: String::new(),
                tx: None,
            },
            Stage::Submitted {
                result_hash: [0; 32],
                cid: String::new(),
            },
        ];
        assert_eq!(all.iter().map(Stage::name).collect::<Vec<_>>(), names);
    }

    #[test]
    fn a_generation_gives_tokens_speed_and_a_model_load() {
        let m = Metrics::new();
        let g = oarn_protocol::infer::Generated {
            text: "Paris".into(),
            text_keccak: [0; 32],
            stop: oarn_protocol::infer::Stop::EndOfText,
            prompt_tokens: 10,
            generated_tokens: 20,
            load_us: 500_000,
            prompt_us: 100_000,
            generate_us: 2_000_000,
            first_token_us: 0,
            fingerprint: String::new(),
        };
        m.generated(&g);
        let text = m.render(scrape::Snapshot::default());
        assert!(
            text.contains("oarn_inference_tokens_total{phase=\"generation\"} 20"),
            "{text}"
        );
        assert!(
            text.contains("oarn_inference_tokens_per_second{phase=\"prompt\"} 100.0"),
            "{text}"
        );
        assert!(
            text.contains("oarn_inference_tokens_per_second{phase=\"generation\"} 10.0"),
            "{text}"
        );
        assert!(text.contains("oarn_model_loads_total 1"), "{text}");
        assert!(text.contains("oarn_model_load_seconds_total 0.5"), "{text}");
    }
}
