//! Where a task's time went, from its journal: from discovery to its submission mined, less
//! the wait for a free slot, the model's own work (prompt and generation) and the waits for
//! blocks, is the node's own overhead (validation and block fetches, claim and submission
//! round trips, model preparation and load, result storage, upload and notices, the journal).

use oarn_tasks::{Input, Millis};

use super::journal::Entry;

/// A task's time, ms.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timings {
    /// From discovery to the submission mined.
    pub total_ms: Millis,
    /// Validated, waiting for a free slot (or the operator).
    pub queued_ms: Millis,
    /// The model over the prompt and the generation.
    pub generation_ms: Millis,
    /// Transactions from broadcast to receipt.
    pub chain_wait_ms: Millis,
    /// The rest: the node's own.
    pub overhead_ms: Millis,
}

impl Timings {
    /// The task's timings once its submission is mined (`None` before), seen first at
    /// `seen_ms`.
    pub fn of(seen_ms: Millis, entries: &[Entry]) -> Option<Self> {
        let mut t = Timings::default();
        let mut validated_at = None;
        let mut mined_at = None;
        for e in entries {
            match &e.input {
                Input::Validated { .. } => validated_at = Some(e.at_ms),
                Input::Begin => {
                    if let Some(v) = validated_at.take() {
                        t.queued_ms += e.at_ms.saturating_sub(v);
                    }
                }
                Input::ClaimMined { wait_ms, .. } => t.chain_wait_ms += wait_ms,
                Input::Executed { generation_ms, .. } => t.generation_ms += generation_ms,
                Input::SubmitMined { wait_ms, .. } => {
                    t.chain_wait_ms += wait_ms;
                    mined_at = Some(e.at_ms);
                }
                _ => {}
            }
        }
        t.total_ms = mined_at?.saturating_sub(seen_ms);
        t.overhead_ms = t
            .total_ms
            .saturating_sub(t.queued_ms)
            .saturating_sub(t.generation_ms)
            .saturating_sub(t.chain_wait_ms);
        Some(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oarn_tasks::{Offer, Source};

    fn at(at_ms: Millis, input: Input) -> Entry {
        Entry {
            at_ms,
            input,
            stage: String::new(),
        }
    }

    fn run() -> Vec<Entry> {
        let offer = Offer {
            id: 1,
            model_hash: [1; 32],
            input_hash: [2; 32],
            reward_wei: 1,
            required_nodes: 3,
            deadline: 4_000_000_000,
            source: Source::Chain,
        };
        vec![
            at(1_100, Input::Validated { offer }),
            at(1_600, Input::Begin),
            at(
                2_700,
                Input::ClaimMined {
                    tx: [3; 32],
                    gas_wei: 1,
                    wait_ms: 1_000,
                },
            ),
            at(2_750, Input::InputFetched),
            at(2_800, Input::ModelReady),
            at(
                4_900,
                Input::Executed {
                    result_hash: [4; 32],
                    generation_ms: 2_000,
                },
            ),
            at(5_000, Input::Uploaded { cid: "bafk".into() }),
            at(
                6_200,
                Input::SubmitMined {
                    tx: [5; 32],
                    gas_wei: 1,
                    wait_ms: 1_000,
                },
            ),
        ]
    }

    #[test]
    fn overhead_is_the_total_less_the_slot_wait_generation_and_blocks() {
        let t = Timings::of(1_000, &run()).unwrap();
        assert_eq!(
            t,
            Timings {
                total_ms: 5_200,
                queued_ms: 500,
                generation_ms: 2_000,
                chain_wait_ms: 2_000,
                overhead_ms: 700,
            }
        );
    }

    #[test]
    fn a_task_not_yet_submitted_has_no_timings() {
        let mut entries = run();
        entries.pop();
        assert_eq!(Timings::of(1_000, &entries), None);
    }
}
