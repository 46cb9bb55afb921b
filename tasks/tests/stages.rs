//! One behaviour per test: the pipeline's happy path, and each way a task ends early.

use oarn_tasks::machine::Step;
use oarn_tasks::reconcile::OurResult;
use oarn_tasks::{ChainFacts, ChainStatus, Effect, Input, Offer, Outcome, Reason, Source, Stage, Task, on};

const H: [u8; 32] = [5; 32];

fn task() -> Task {
    let offer = Offer {
        id: 4,
        model_hash: [1; 32],
        input_hash: [2; 32],
        reward_wei: 100,
        required_nodes: 3,
        deadline: 10_000,
        source: Source::Gossip,
    };
    Task::new(offer, 0)
}

fn open() -> ChainFacts {
    ChainFacts {
        status: ChainStatus::Active,
        required_nodes: 3,
        claimed: 1,
        submitted: 0,
        reward_wei: 100,
        claimed_by_us: true,
        submitted_by_us: false,
        tx_pending: false,
        our_result: None,
        unique_results: 0,
    }
}

/// Drives a task to ResultUploaded.
fn uploaded() -> Task {
    let mut t = task();
    let offer = t.offer.clone();
    on(&mut t, Input::Validated { offer }, 1);
    assert_eq!(on(&mut t, Input::Begin, 2), [Effect::Claim]);
    on(&mut t, Input::ClaimSent { tx: [1; 32] }, 3);
    let mined = Input::ClaimMined {
        tx: [1; 32],
        gas_wei: 7,
        wait_ms: 1,
    };
    assert_eq!(on(&mut t, mined, 4), [Effect::FetchInput]);
    assert_eq!(on(&mut t, Input::InputFetched, 5), [Effect::PrepareModel]);
    assert_eq!(on(&mut t, Input::ModelReady, 6), [Effect::Execute]);
    let done = Input::Executed {
        result_hash: H,
        generation_ms: 1,
    };
    assert_eq!(on(&mut t, done, 7), [Effect::Upload { result_hash: H }]);
    let cid = "bafkreiabc".to_string();
    let effects = on(&mut t, Input::Uploaded { cid: cid.clone() }, 8);
    assert_eq!(effects, [Effect::Announce { result_hash: H, cid }, Effect::ReadChain]);
    t
}

#[test]
fn a_task_runs_from_discovery_to_its_reward() {
    let mut t = uploaded();
    assert_eq!(on(&mut t, Input::Facts(open()), 9), [Effect::Submit { result_hash: H }]);
    let mined = Input::SubmitMined {
        tx: [2; 32],
        gas_wei: 9,
        wait_ms: 1,
    };
    assert!(matches!(on(&mut t, mined, 10)[..], [Effect::WakeAt(_)]));
    assert_eq!(t.stage.name(), "submitted");
    on(&mut t, Input::ConsensusReached { hash: H }, 11);
    on(&mut t, Input::Rewarded { amount_wei: 100 }, 11);
    assert_eq!(t.stage, Stage::Settled(Outcome::Rewarded { amount_wei: 100 }));
}

#[test]
fn consensus_closed_before_submission_ends_without_a_transaction() {
    let mut t = uploaded();
    let mut facts = open();
    facts.submitted = 3;
    facts.status = ChainStatus::Completed;
    assert_eq!(on(&mut t, Input::Facts(facts), 9), []);
    assert_eq!(t.stage, Stage::Failed(Reason::ClosedBeforeSubmission));
}

#[test]
fn a_submission_reverted_task_not_active_ends_as_closed() {
    let mut t = uploaded();
    on(&mut t, Input::Facts(open()), 9);
    let revert = Input::Reverted {
        step: Step::Submit,
        message: "Task not active".into(),
    };
    assert_eq!(on(&mut t, revert, 10), []);
    assert_eq!(t.stage, Stage::Failed(Reason::ClosedBeforeSubmission));
}

#[test]
fn a_claim_reverted_already_claimed_asks_the_chain_and_goes_on() {
    let mut t = task();
    let offer = t.offer.clone();
    on(&mut t, Input::Validated { offer }, 1);
    on(&mut t, Input::Begin, 2);
    let revert = Input::Reverted {
        step: Step::Claim,
        message: "Already claimed".into(),
    };
    assert_eq!(on(&mut t, revert, 3), [Effect::ReadChain]);
    assert_eq!(on(&mut t, Input::Facts(open()), 4), [Effect::FetchInput]);
}

#[test]
fn a_claim_reverted_max_claims_is_skipped_not_failed() {
    let mut t = task();
    let offer = t.offer.clone();
    on(&mut t, Input::Validated { offer }, 1);
    on(&mut t, Input::Begin, 2);
    let revert = Input::Reverted {
        step: Step::Claim,
        message: "Max claims reached".into(),
    };
    on(&mut t, revert, 3);
    assert!(matches!(t.stage, Stage::Skipped(Reason::ClaimsFull { .. })));
}

#[test]
fn a_lost_claim_reply_waits_for_a_pending_transaction_instead_of_claiming_again() {
    let mut t = task();
    let offer = t.offer.clone();
    on(&mut t, Input::Validated { offer }, 1);
    on(&mut t, Input::Begin, 2);
    let lost = Input::Failed {
        step: Step::Claim,
        error: "reset".into(),
        transient: true,
    };
    let wake = on(&mut t, lost, 3);
    assert!(matches!(wake[..], [Effect::WakeAt(_)]));
    let Effect::WakeAt(at) = wake[0] else { unreachable!() };
    assert_eq!(on(&mut t, Input::Tick, at), [Effect::ReadChain]);
    let mut pending = open();
    pending.claimed_by_us = false;
    pending.tx_pending = true;
    assert!(matches!(
        on(&mut t, Input::Facts(pending.clone()), at + 1)[..],
        [Effect::WakeAt(_)]
    ));
    pending.tx_pending = false;
    assert_eq!(on(&mut t, Input::Facts(pending), at + 5_000), [Effect::Claim]);
}

#[test]
fn a_step_that_keeps_failing_fails_the_task_with_its_last_error() {
    let mut t = uploaded();
    t.stage = Stage::Claimed;
    let mut now = 100;
    for _ in 0..10 {
        let fail = Input::Failed {
            step: Step::FetchInput,
            error: "no provider has the block".into(),
            transient: true,
        };
        for e in on(&mut t, fail, now) {
            if let Effect::WakeAt(at) = e {
                now = at;
                on(&mut t, Input::Tick, now);
            }
        }
    }
    assert_eq!(
        t.stage.clone(),
        Stage::Failed(Reason::StepFailed {
            step: "fetching the input".into(),
            error: "no provider has the block".into()
        })
    );
}

#[test]
fn the_deadline_passing_before_a_claim_skips_the_task() {
    let mut t = task();
    assert_eq!(on(&mut t, Input::Tick, 10_000_000), []);
    assert!(matches!(t.stage, Stage::Skipped(Reason::DeadlinePassed(_))));
}

#[test]
fn a_submitted_task_settles_from_chain_facts_when_events_are_missed() {
    let mut t = uploaded();
    on(&mut t, Input::Facts(open()), 9);
    let mut facts = open();
    facts.submitted_by_us = true;
    facts.submitted = 3;
    facts.status = ChainStatus::Completed;
    facts.our_result = Some(OurResult {
        result_hash: H,
        matches_consensus: false,
        rewarded: false,
    });
    on(&mut t, Input::Facts(facts), 20);
    assert!(matches!(
        t.stage,
        Stage::Settled(Outcome::Unrewarded { ref why }) if why.contains("did not match")
    ));
}

#[test]
fn inputs_that_do_not_fit_the_stage_change_nothing() {
    let mut t = task();
    let before = t.clone();
    assert_eq!(on(&mut t, Input::InputFetched, 1), []);
    assert_eq!(on(&mut t, Input::Rewarded { amount_wei: 5 }, 1), []);
    assert_eq!(t, before);
}

#[test]
fn journal_records_read_back_as_the_same_inputs() {
    let input = Input::Facts(open());
    let text = serde_json::to_string(&input).unwrap();
    assert_eq!(serde_json::from_str::<Input>(&text).unwrap(), input);
    let big = Input::Rewarded { amount_wei: u128::MAX };
    let text = serde_json::to_string(&big).unwrap();
    assert_eq!(serde_json::from_str::<Input>(&text).unwrap(), big);
}
