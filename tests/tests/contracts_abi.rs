//! The test contracts expose the live OARN ABI exactly (every function with the same inputs,
//! outputs and mutability; every event with the same indexed fields), and the chain worker's
//! bindings call exactly those functions.

use std::collections::BTreeSet;

use alloy::json_abi::JsonAbi;
use alloy::primitives::{FixedBytes, Selector};
use oarn_tests::live_abi::LIVE;
use oarn_worker_chain::contracts;

fn artifact(name: &str) -> JsonAbi {
    let path = format!("{}/contracts/artifacts/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    serde_json::from_value(json["abi"].clone()).unwrap()
}

fn live(name: &str) -> JsonAbi {
    let (_, lines) = LIVE.iter().find(|(n, _)| *n == name).unwrap();
    JsonAbi::parse(lines.iter().copied()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn test_contracts_expose_the_live_abi() {
    for (name, _) in LIVE {
        let live = live(name);
        let ours = artifact(name);
        for f in live.functions() {
            let found = ours
                .functions()
                .find(|g| g.selector() == f.selector())
                .unwrap_or_else(|| panic!("{name} lacks {}", f.signature()));
            let outs = |x: &alloy::json_abi::Function| {
                x.outputs
                    .iter()
                    .map(|p| p.selector_type().into_owned())
                    .collect::<Vec<_>>()
            };
            assert_eq!(outs(found), outs(f), "{name}.{} returns other types", f.name);
            assert_eq!(
                found.state_mutability, f.state_mutability,
                "{name}.{} mutability",
                f.name
            );
        }
        for e in live.events() {
            let found = ours
                .events()
                .find(|g| g.selector() == e.selector())
                .unwrap_or_else(|| panic!("{name} lacks event {}", e.signature()));
            let indexed = |x: &alloy::json_abi::Event| x.inputs.iter().map(|p| p.indexed).collect::<Vec<_>>();
            assert_eq!(indexed(found), indexed(e), "{name}.{} indexed fields", e.name);
        }
    }
}

fn selectors(abi: &JsonAbi) -> BTreeSet<Selector> {
    abi.functions().map(|f| f.selector()).collect()
}

fn topics(abi: &JsonAbi) -> BTreeSet<FixedBytes<32>> {
    abi.events().map(|e| e.selector()).collect()
}

#[test]
fn worker_bindings_match_the_live_abi() {
    let registry = live("OARNRegistry");
    let bound: BTreeSet<Selector> = contracts::OARNRegistry::OARNRegistryCalls::SELECTORS
        .iter()
        .map(|s| Selector::from(*s))
        .collect();
    assert_eq!(bound, selectors(&registry));
    let bound: BTreeSet<FixedBytes<32>> = contracts::OARNRegistry::OARNRegistryEvents::SELECTORS
        .iter()
        .map(|s| FixedBytes::from(*s))
        .collect();
    assert_eq!(bound, topics(&registry));

    let tasks = live("TaskRegistryV2");
    let bound: BTreeSet<Selector> = contracts::TaskRegistryV2::TaskRegistryV2Calls::SELECTORS
        .iter()
        .map(|s| Selector::from(*s))
        .collect();
    assert_eq!(bound, selectors(&tasks));
    let bound: BTreeSet<FixedBytes<32>> = contracts::TaskRegistryV2::TaskRegistryV2Events::SELECTORS
        .iter()
        .map(|s| FixedBytes::from(*s))
        .collect();
    assert_eq!(bound, topics(&tasks));
}
