//! The chain side against a real local chain (anvil with the OARN contracts): discovery from
//! an ENS name, balances and transfers through `oarn wallet`, RPC failover, and clear errors
//! for bad endpoints and bad input.

use std::future::IntoFuture;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Stdio;

use alloy::primitives::{Address, U256};
use alloy::providers::Provider;
use oarn_tests::Node;
use oarn_tests::devnet::{self, Devnet, Options, TOKEN};
use oarn_tests::fleet::{configure, json, node_on, text, wallet};
use serde_json::Value;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn start(rt: &tokio::runtime::Runtime) -> Devnet {
    rt.block_on(Devnet::start(Options {
        port: 0,
        ..Options::default()
    }))
    .expect("devnet starts")
}

#[test]
fn discovery_follows_ens_to_the_registry() {
    let rt = runtime();
    let devnet = start(&rt);
    rt.block_on(devnet.register_bootstrap(2, "12D3KooWDevnetBootstrap", "/ip4/127.0.0.1/tcp/4001"))
        .unwrap();
    let node = node_on(&devnet);
    let found = json(&node.oarn(&["chain", "discover", "--json"]));
    let c = devnet.contracts;
    assert_eq!(found["registry"], c.registry.to_string());
    assert_eq!(found["core"]["task_registry_v2"], c.task_registry_v2.to_string());
    assert_eq!(found["core"]["token_reward"], c.comp.to_string());
    assert_eq!(found["core"]["gov_token"], c.gov.to_string());
    assert_eq!(found["core"]["validator_registry"], c.validators.to_string());
    assert_eq!(found["rpc_providers"], serde_json::json!([devnet.rpc_url]));
    assert_eq!(found["bootstrap"][0]["peer_id"], "12D3KooWDevnetBootstrap");
    assert_eq!(found["bootstrap"][0]["multiaddr"], "/ip4/127.0.0.1/tcp/4001");
    assert_eq!(found["chain_id"], 42161);

    // A name that does not resolve, and a node without ENS settings, are named as such.
    configure(&node, &[("ens_name", "\"nobody.eth\"".into())]);
    let out = node.oarn(&["chain", "discover"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("\"nobody.eth\" does not resolve"), "{}", text(&out));
    let bare = Node::new();
    let out = bare.oarn(&["chain", "discover"]);
    assert!(text(&out).contains("ens_rpc_urls"), "{}", text(&out));
}

#[test]
fn balances_and_transfers_on_the_devnet() {
    let rt = runtime();
    let devnet = start(&rt);
    let node = node_on(&devnet);
    let (me, pass) = wallet(&node);
    let pass = pass.to_str().unwrap();
    rt.block_on(devnet.fund(
        me,
        U256::from(10 * TOKEN),
        U256::from(1_000 * TOKEN),
        U256::from(2_000 * TOKEN),
    ))
    .unwrap();
    let balance = json(&node.oarn(&["wallet", "balance", "--json"]));
    assert_eq!(balance["address"], me.to_string());
    assert_eq!(
        (
            balance["eth"].as_str(),
            balance["comp"].as_str(),
            balance["gov"].as_str()
        ),
        (Some("10"), Some("1000"), Some("2000"))
    );

    let friend = devnet::account(7).address();
    let chain = devnet::provider_for(&devnet.rpc_url, 7).unwrap();
    let before = rt.block_on(chain.get_balance(friend).into_future()).unwrap();
    let sent = json(&node.oarn(&[
        "wallet",
        "send",
        "--to",
        &friend.to_string(),
        "--amount",
        "1.25",
        "--yes",
        "--passphrase-file",
        pass,
        "--json",
    ]));
    assert_eq!(sent["status"], "success");
    let after = rt.block_on(chain.get_balance(friend).into_future()).unwrap();
    assert_eq!(after - before, U256::from(1_250_000_000_000_000_000u128));

    let sent = json(&node.oarn(&[
        "wallet",
        "send",
        "--to",
        &friend.to_string(),
        "--amount",
        "100",
        "--token",
        "comp",
        "--yes",
        "--passphrase-file",
        pass,
        "--json",
    ]));
    assert_eq!(sent["token"], "COMP");
    let balance = json(&node.oarn(&["wallet", "balance", "--json"]));
    assert_eq!(balance["comp"], "900");

    // More than it holds: refused before signing, nothing sent.
    let out = node.oarn(&[
        "wallet",
        "send",
        "--to",
        &friend.to_string(),
        "--amount",
        "5000",
        "--token",
        "gov",
        "--yes",
        "--passphrase-file",
        pass,
    ]);
    assert_eq!(out.status.code(), Some(13), "{}", text(&out));
    assert!(text(&out).contains("insufficient funds: 2000 GOV"), "{}", text(&out));

    // Declined at the confirmation: nothing sent.
    let mut child = node
        .command(&[
            "wallet",
            "send",
            "--to",
            &friend.to_string(),
            "--amount",
            "1",
            "--passphrase-file",
            pass,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"n\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(14), "{}", text(&out));
    assert!(
        text(&out).contains("at most") && text(&out).contains("Proceed?"),
        "{}",
        text(&out)
    );
    assert!(!text(&out).contains("L1 data"), "not an Arbitrum node: {}", text(&out));
    assert_eq!(rt.block_on(chain.get_balance(friend).into_future()).unwrap(), after);

    // Where the endpoint answers Arbitrum's NodeInterface, the L1 part of the gas is shown.
    rt.block_on(devnet.arbitrum_node_interface()).unwrap();
    let out = node.oarn_with_input(
        &[
            "wallet",
            "send",
            "--to",
            &friend.to_string(),
            "--amount",
            "1",
            "--passphrase-file",
            pass,
        ],
        "n\n",
    );
    assert_eq!(out.status.code(), Some(14), "{}", text(&out));
    assert!(
        text(&out).contains("of which L1 data posting: 1234 gas"),
        "{}",
        text(&out)
    );

    // Nonsense amounts and recipients.
    for (amount, to) in [
        ("-1", friend.to_string()),
        ("lots", friend.to_string()),
        ("1", Address::ZERO.to_string()),
    ] {
        let out = node.oarn(&[
            "wallet",
            "send",
            "--to",
            &to,
            "--amount",
            amount,
            "--yes",
            "--passphrase-file",
            pass,
        ]);
        assert!(!out.status.success(), "{amount} to {to}");
    }
}

/// A loopback server that answers every request with a malformed JSON-RPC body.
fn garbage_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().take(64) {
            let Ok(mut s) = stream else { continue };
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let body = "{\"jsonrpc\":\"2.0\",\"id\":";
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
}

#[test]
fn failover_between_endpoints() {
    let rt = runtime();
    // Two chains deployed identically: the same contracts at the same addresses.
    let a = start(&rt);
    let b = start(&rt);
    assert_eq!(a.contracts.registry, b.contracts.registry);
    let garbage = garbage_server();
    let node = Node::new();
    configure(
        &node,
        &[
            ("discovery_method", "\"manual\"".into()),
            (
                "rpc_urls",
                format!("[\"{garbage}\", \"{}\", \"{}\"]", a.rpc_url, b.rpc_url),
            ),
            ("registry_address", format!("\"{}\"", a.contracts.registry)),
        ],
    );
    let found = json(&node.oarn(&["chain", "discover", "--json"]));
    assert_eq!(
        found["endpoint"].as_str().unwrap().trim_end_matches('/'),
        a.rpc_url,
        "the malformed endpoint is skipped"
    );

    drop(a);
    let out = node.oarn(&["chain", "discover", "--json"]);
    assert!(
        text(&out).contains("RPC endpoint switched"),
        "the switch is logged: {}",
        text(&out)
    );
    let found = json(&out);
    assert_eq!(
        found["endpoint"].as_str().unwrap().trim_end_matches('/'),
        b.rpc_url,
        "fails over to the live one"
    );

    drop(b);
    let out = node.oarn(&["chain", "discover"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("no healthy RPC endpoint for chain 42161"),
        "{}",
        text(&out)
    );
    assert!(
        text(&out).contains(&garbage),
        "each endpoint's reason is listed: {}",
        text(&out)
    );
}

fn events(node: &Node) -> Vec<Value> {
    let out = json(&node.oarn(&["chain", "events", "--confirmations", "0", "--json"]));
    out["events"].as_array().unwrap().clone()
}

#[test]
fn three_nodes_claim_submit_reach_consensus_and_are_paid() {
    let rt = runtime();
    let devnet = start(&rt);
    let reward = U256::from(10_000_000_000_000_000u128); // 0.01 ETH per node
    let nodes: Vec<(Node, Address, PathBuf)> = (0..3)
        .map(|_| {
            let node = node_on(&devnet);
            let (address, pass) = wallet(&node);
            rt.block_on(devnet.fund(address, U256::from(TOKEN), U256::ZERO, U256::ZERO))
                .unwrap();
            (node, address, pass)
        })
        .collect();
    let id = rt
        .block_on(devnet.submit_task(9, b"What is the capital of France?", reward, 3, 3600))
        .unwrap();
    let (first, _, first_pass) = &nodes[0];
    let listed = json(&first.oarn(&["chain", "tasks", "--json"]));
    assert_eq!(listed["tasks"][0]["id"], id);
    assert_eq!(listed["tasks"][0]["status"], "pending");

    // Submitting before claiming is refused with the contract's reason explained.
    let result = first.dir.path().join("result.txt");
    std::fs::write(&result, "Paris").unwrap();
    let submit = |node: &Node, pass: &PathBuf| {
        node.oarn(&[
            "chain",
            "submit",
            &id.to_string(),
            "--result-file",
            result.to_str().unwrap(),
            "--passphrase-file",
            pass.to_str().unwrap(),
            "--json",
        ])
    };
    let out = submit(first, first_pass);
    assert_eq!(out.status.code(), Some(20), "{}", text(&out));
    assert!(text(&out).contains("claim it before submitting"), "{}", text(&out));

    let claim = |node: &Node, pass: &PathBuf| {
        node.oarn(&[
            "chain",
            "claim",
            &id.to_string(),
            "--passphrase-file",
            pass.to_str().unwrap(),
            "--json",
        ])
    };
    for (node, _, pass) in &nodes {
        json(&claim(node, pass));
    }
    let out = claim(first, first_pass);
    assert_eq!(out.status.code(), Some(20), "{}", text(&out));
    assert!(text(&out).contains("already claimed"), "{}", text(&out));

    let chain = devnet::provider_for(&devnet.rpc_url, 9).unwrap();
    let before: Vec<U256> = nodes
        .iter()
        .map(|(_, a, _)| rt.block_on(chain.get_balance(*a).into_future()).unwrap())
        .collect();
    let mut fees = Vec::new();
    let (mut limits, mut used) = (Vec::new(), Vec::new());
    for (node, address, pass) in &nodes {
        let sent = json(&submit(node, pass));
        assert_eq!(sent["result_hash"], alloy::primitives::keccak256(b"Paris").to_string());
        let hash: alloy::primitives::B256 = sent["tx"].as_str().unwrap().parse().unwrap();
        let receipt = rt.block_on(chain.get_transaction_receipt(hash)).unwrap().unwrap();
        assert_eq!(receipt.from, *address);
        fees.push(U256::from(receipt.gas_used) * U256::from(receipt.effective_gas_price));
        let tx = rt.block_on(chain.get_transaction_by_hash(hash)).unwrap().unwrap();
        limits.push(alloy::consensus::Transaction::gas_limit(&tx));
        used.push(receipt.gas_used);
    }
    // Regression: a submission carried only its own estimate; one estimated while the others
    // were in flight and mined last ran out of gas in the consensus. Each carries enough for
    // the submission that completes the results (here the third).
    let most = *used.iter().max().unwrap();
    assert!(
        limits.iter().all(|l| *l >= most),
        "gas limits {limits:?} against gas used {used:?}"
    );
    let task = json(&first.oarn(&["chain", "task", &id.to_string(), "--json"]));
    assert_eq!(task["status"], "completed");
    assert_eq!(task["consensus"]["reached"], true);
    assert_eq!(task["consensus"]["winning_count"], 3);
    for r in task["results"].as_array().unwrap() {
        assert_eq!(
            (r["matches_consensus"].as_bool(), r["rewarded"].as_bool()),
            (Some(true), Some(true))
        );
    }
    // Each node got exactly the reward, net of the fee it paid to submit.
    for (i, (_, address, _)) in nodes.iter().enumerate() {
        let after = rt.block_on(chain.get_balance(*address).into_future()).unwrap();
        assert_eq!(after + fees[i], before[i] + reward, "node {i}");
    }

    // Events for the first node: each once, across runs (the cursor persists between them).
    let seen = events(first);
    let kinds: Vec<&str> = seen
        .iter()
        .filter(|e| e["task"] == id)
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    for kind in [
        "TaskCreated",
        "TaskClaimed",
        "ResultSubmitted",
        "ConsensusReached",
        "RewardDistributed",
    ] {
        assert_eq!(
            kinds.iter().filter(|k| **k == kind).count(),
            1,
            "{kind} once in {kinds:?}"
        );
    }
    let reward_event = seen.iter().find(|e| e["event"] == "RewardDistributed").unwrap();
    assert_eq!(reward_event["amount_wei"], reward.to_string());
    assert!(events(first).is_empty(), "nothing is reported twice");
    rt.block_on(devnet.fund(nodes[0].1, U256::ZERO, U256::from(5 * TOKEN), U256::ZERO))
        .unwrap();
    let new = events(first);
    assert_eq!(new.len(), 1, "{new:?}");
    assert_eq!(new[0]["event"], "TokenReceived");
    assert_eq!(new[0]["token"], devnet.contracts.comp.to_string());
    assert!(events(first).is_empty());

    // A task past its deadline cannot be claimed.
    let late = rt.block_on(devnet.submit_task(9, b"late", reward, 3, 60)).unwrap();
    rt.block_on(chain.raw_request::<_, Value>("evm_increaseTime".into(), (120,)))
        .unwrap();
    rt.block_on(chain.raw_request::<_, Value>("evm_mine".into(), ()))
        .unwrap();
    let out = first.oarn(&[
        "chain",
        "claim",
        &late.to_string(),
        "--passphrase-file",
        first_pass.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(20), "{}", text(&out));
    assert!(text(&out).contains("deadline has passed"), "{}", text(&out));
    let out = first.oarn(&["chain", "task", "999"]);
    assert_eq!(out.status.code(), Some(21), "{}", text(&out));
}

/// A running `oarn chain events --follow --json`, its output lines read as they come.
struct Follower {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<Value>,
}

impl Follower {
    fn start(node: &Node, extra: &[&str]) -> Self {
        let mut args = vec!["chain", "events", "--follow", "--confirmations", "0", "--json"];
        args.extend(extra);
        let mut child = node
            .command(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in stdout.lines().map_while(Result::ok) {
                let v = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
                if tx.send(v).is_err() {
                    return;
                }
            }
        });
        Self { child, lines }
    }

    /// The next line, within `secs` seconds.
    fn next(&self, secs: u64) -> Value {
        self.lines
            .recv_timeout(std::time::Duration::from_secs(secs))
            .expect("a line from the follower in time")
    }

    /// Stops it once `cursor` (the node's saved event cursor) has reached `block`.
    fn stop_after(self, cursor: &std::path::Path, block: u64) {
        let saved = oarn_tests::wait_for(std::time::Duration::from_secs(20), || {
            let c: Value = serde_json::from_slice(&std::fs::read(cursor).ok()?).ok()?;
            (c["block"].as_u64()? >= block).then_some(())
        });
        assert!(saved.is_some(), "the cursor reaches block {block}");
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn followed_events_arrive_by_subscription_or_polling_and_once_across_restarts() {
    let rt = runtime();
    let devnet = start(&rt);
    let node = node_on(&devnet);
    let (address, _) = wallet(&node);
    let cursor = node.home().join("chain").join("events-0.cursor");

    // anvil serves websockets on its http port: new blocks wake the scan at once, though the
    // poll timer is ten minutes.
    let follower = Follower::start(&node, &["--poll-secs", "600"]);
    let first = follower.next(30);
    assert_eq!(first["following"], "subscription", "{first}");
    let id = rt
        .block_on(devnet.submit_task(9, b"followed", U256::from(1u64), 3, 3600))
        .unwrap();
    let created = follower.next(20);
    assert_eq!(
        (created["event"].as_str(), created["task"].as_u64()),
        (Some("TaskCreated"), Some(id))
    );
    follower.stop_after(&cursor, created["block"].as_u64().unwrap());

    // While nobody follows, COMP arrives; the next run (polling) reports it, and only it.
    rt.block_on(devnet.fund(address, U256::ZERO, U256::from(TOKEN), U256::ZERO))
        .unwrap();
    let follower = Follower::start(&node, &["--poll", "--poll-secs", "1"]);
    assert_eq!(follower.next(30)["following"], "polling");
    let received = follower.next(20);
    assert_eq!(received["event"], "TokenReceived", "{received}");
    let id = rt
        .block_on(devnet.submit_task(9, b"polled", U256::from(1u64), 3, 3600))
        .unwrap();
    let created = follower.next(20);
    assert_eq!(
        (created["event"].as_str(), created["task"].as_u64()),
        (Some("TaskCreated"), Some(id))
    );
    follower.stop_after(&cursor, created["block"].as_u64().unwrap());

    // Everything was reported: a one-shot run finds nothing new.
    assert!(events(&node).is_empty());
}

#[test]
fn registers_as_a_premium_node() {
    let rt = runtime();
    let devnet = start(&rt);
    let node = node_on(&devnet);
    let (me, pass) = wallet(&node);
    let pass = pass.to_str().unwrap();
    let register = |stake: &str| {
        node.oarn(&[
            "chain",
            "register-validator",
            "--endpoint",
            "/ip4/127.0.0.1/udp/4001/quic-v1",
            "--stake",
            stake,
            "--passphrase-file",
            pass,
            "--json",
        ])
    };
    rt.block_on(devnet.fund(me, U256::from(TOKEN), U256::ZERO, U256::ZERO))
        .unwrap();
    let out = register("150");
    assert_eq!(out.status.code(), Some(20), "{}", text(&out));
    assert!(text(&out).contains("holds 0 GOV"), "{}", text(&out));
    let out = register("50");
    assert!(text(&out).contains("at least 100 GOV"), "{}", text(&out));

    rt.block_on(devnet.fund(me, U256::ZERO, U256::ZERO, U256::from(500 * TOKEN)))
        .unwrap();
    let done = json(&register("150"));
    assert_eq!(done["stake_gov"], "150");
    let p = devnet::provider_for(&devnet.rpc_url, 0).unwrap();
    let registry = devnet::bindings::ValidatorRegistry::new(devnet.contracts.validators, &p);
    assert!(rt.block_on(registry.isValidator(me).call().into_future()).unwrap());
    let gov = devnet::bindings::GOVToken::new(devnet.contracts.gov, &p);
    assert_eq!(
        rt.block_on(gov.balanceOf(me).call().into_future()).unwrap(),
        U256::from(350 * TOKEN)
    );
    let out = register("150");
    assert!(text(&out).contains("already registered"), "{}", text(&out));
}

#[test]
fn concurrent_claims_from_one_wallet_never_share_a_nonce() {
    let rt = runtime();
    let devnet = start(&rt);
    let node = node_on(&devnet);
    let (me, pass) = wallet(&node);
    rt.block_on(devnet.fund(me, U256::from(TOKEN), U256::ZERO, U256::ZERO))
        .unwrap();
    let ids: Vec<u64> = (0..4)
        .map(|_| {
            rt.block_on(devnet.submit_task(9, b"input", U256::from(1_000u64), 3, 3600))
                .unwrap()
        })
        .collect();
    let children: Vec<_> = ids
        .iter()
        .map(|id| {
            node.command(&[
                "chain",
                "claim",
                &id.to_string(),
                "--passphrase-file",
                pass.to_str().unwrap(),
                "--json",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
        })
        .collect();
    let mut nonces = Vec::new();
    let chain = devnet::provider_for(&devnet.rpc_url, 9).unwrap();
    for child in children {
        let out = child.wait_with_output().unwrap();
        let claimed = json(&out);
        let hash: alloy::primitives::B256 = claimed["tx"].as_str().unwrap().parse().unwrap();
        let tx = rt.block_on(chain.get_transaction_by_hash(hash)).unwrap().unwrap();
        nonces.push(alloy::consensus::Transaction::nonce(&tx));
    }
    nonces.sort();
    assert_eq!(nonces, vec![0, 1, 2, 3]);
}

#[test]
fn the_running_node_discovers_the_network_and_survives_failure() {
    let rt = runtime();
    let devnet = start(&rt);
    rt.block_on(devnet.register_bootstrap(2, "12D3KooWDevnetBootstrap", "/ip4/127.0.0.1/tcp/4001"))
        .unwrap();
    let mut node = node_on(&devnet);
    node.start();
    let status = node
        .wait_status(|s| s["chain"]["discovery"] != "pending")
        .expect("discovery finishes");
    let chain = &status["chain"];
    assert_eq!(chain["connected"], true, "{chain}");
    assert_eq!(chain["registry"], devnet.contracts.registry.to_string().to_lowercase());
    assert_eq!(
        chain["task_registry_v2"],
        devnet.contracts.task_registry_v2.to_string().to_lowercase()
    );
    assert_eq!(chain["bootstrap"][0]["peer_id"], "12D3KooWDevnetBootstrap");
    assert!(chain["head"].as_u64().unwrap() > 0);
    node.stop();

    // Nothing to discover from: the reason is shown, the node keeps running.
    let mut bare = Node::new();
    bare.start();
    let status = bare
        .wait_status(|s| s["chain"]["discovery"] == "failed")
        .expect("discovery fails");
    assert!(
        status["chain"]["error"].as_str().unwrap().contains("ens_rpc_urls"),
        "{status}"
    );
    assert!(
        status["workers"]
            .as_array()
            .unwrap()
            .iter()
            .all(|w| w["state"] == "running"),
        "{status}"
    );
    bare.stop();
}

#[test]
fn a_node_keeps_the_validators_the_registry_lists_connected() {
    let rt = runtime();
    let devnet = start(&rt);
    // V, a validator the ValidatorRegistry lists by its multiaddr and peer id; and an entry
    // without a peer id, which cannot be authenticated and is skipped.
    let mut v = Node::new();
    v.start();
    let v_addr = v.tcp_addr();
    rt.block_on(devnet.register_validator(3, &v_addr)).unwrap();
    rt.block_on(devnet.register_validator(4, "/ip4/127.0.0.1/tcp/9"))
        .unwrap();

    let mut p = node_on(&devnet);
    p.start();
    let status = p
        .wait_status(|s| s["chain"]["discovery"] == "ok")
        .expect("discovery finishes");
    assert_eq!(
        status["chain"]["validators"],
        serde_json::json!([v_addr, "/ip4/127.0.0.1/tcp/9"]),
        "{status}"
    );
    let v_id = v_addr.rsplit('/').next().unwrap().to_string();
    let kept = oarn_tests::wait_for(std::time::Duration::from_secs(30), || {
        let peers = p.json(&["net", "peers", "--json"]);
        peers["peers"]
            .as_array()?
            .iter()
            .any(|x| x["peer_id"] == v_id.as_str() && x["validator"] == true)
            .then_some(peers)
    })
    .unwrap_or_else(|| panic!("P never kept V connected: {}", p.log()));
    assert_eq!(kept["validators"], serde_json::json!([v_id]));
    assert!(p.log().contains("validator skipped"), "{}", p.log());
    p.stop();
    v.stop();
}

#[test]
fn a_node_without_the_chain_finds_the_registrys_peers_through_the_dht() {
    let rt = runtime();
    let devnet = start(&rt);
    // B is the bootstrap peer the registry lists; A discovers the network and writes the
    // DHT records; C has no way to the chain, only A as a peer.
    let mut b = Node::new();
    b.start();
    let b_addr = b.tcp_addr();
    let (b_plain, b_id) = b_addr.rsplit_once("/p2p/").unwrap();
    rt.block_on(devnet.register_bootstrap(2, b_id, b_plain)).unwrap();
    let mut a = node_on(&devnet);
    a.start();
    oarn_tests::wait_for(std::time::Duration::from_secs(60), || {
        a.log().contains("/oarn/rpc/providers written").then_some(())
    })
    .unwrap_or_else(|| panic!("A never wrote the records: {}", a.log()));
    let a_addr = a.tcp_addr();

    let mut c = Node::new()
        .with_env("OARN_NETWORK__DISCOVERY__DISCOVERY_METHOD", "manual")
        .with_env("OARN_NETWORK__DISCOVERY__BOOTSTRAP_PEERS", &format!("[{a_addr:?}]"));
    c.start();
    let connected_to_b = oarn_tests::wait_for(std::time::Duration::from_secs(60), || {
        let peers = c.json(&["net", "peers", "--json"]);
        peers["peers"]
            .as_array()?
            .iter()
            .any(|p| p["peer_id"] == b_id)
            .then_some(())
    });
    connected_to_b.unwrap_or_else(|| panic!("C never found B: {}", c.log()));
    // C found B through A's routing table already; it also read the record, which names B
    // (the record is what reaches peers no routing table holds).
    oarn_tests::wait_for(std::time::Duration::from_secs(30), || {
        c.log().contains("1 bootstrap peers from the DHT").then_some(())
    })
    .unwrap_or_else(|| panic!("C never read /oarn/bootstrap: {}", c.log()));
    let status = c.status().unwrap();
    assert_eq!(status["chain"]["discovery"], "failed", "C had no chain: {status}");
    let record = c.json(&["net", "dht", "get", "/oarn/bootstrap", "--json"]);
    assert!(
        record["value"].as_str().is_some_and(|v| v.contains(&b_addr)),
        "{record}"
    );
    // The RPC endpoints are there too, as the registry lists them.
    let providers = c.json(&["net", "dht", "get", "/oarn/rpc/providers", "--json"]);
    assert!(
        providers["value"].as_str().is_some_and(|v| v.contains("\"providers\"")),
        "{providers}"
    );
    for n in [&mut a, &mut b, &mut c] {
        n.stop();
    }
}

#[test]
fn claiming_asks_peers_first_and_tells_them_after() {
    let rt = runtime();
    let devnet = start(&rt);
    let mut p = node_on(&devnet);
    p.start();
    let p_addr = p.tcp_addr();
    let mut q = Node::new()
        .with_env("OARN_NETWORK__DISCOVERY__DISCOVERY_METHOD", "manual")
        .with_env("OARN_NETWORK__DISCOVERY__BOOTSTRAP_PEERS", &format!("[{p_addr:?}]"));
    q.start();
    let (me, pass) = wallet(&p);
    rt.block_on(devnet.fund(me, U256::from(TOKEN), U256::ZERO, U256::ZERO))
        .unwrap();
    let id = rt
        .block_on(devnet.submit_task(9, b"input", U256::from(1_000u64), 3, 3600))
        .unwrap();
    let task = id.to_string();

    // Q announces the task (3 required nodes: 6 may claim) and knows of 6 claims already.
    let deadline = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 600)
        .to_string();
    let hash = format!("0x{}", "11".repeat(32));
    let announce = [
        "net",
        "announce",
        &task,
        "--model-hash",
        &hash,
        "--input-hash",
        &hash,
        "--reward",
        "1000",
        "--required-nodes",
        "3",
        "--deadline",
        &deadline,
    ];
    oarn_tests::wait_for(std::time::Duration::from_secs(30), || {
        q.oarn(&announce);
        let heard = p.json(&["net", "tasks", "--json"]);
        heard["tasks"].as_array()?.iter().any(|t| t["id"] == id).then_some(())
    })
    .expect("P heard the announcement");
    for n in 1..=6 {
        let account = format!("0x{n:040x}");
        assert!(q.oarn(&["net", "claims", &task, "--record", &account]).status.success());
    }

    // P's claim is held back: nothing is sent, the chain never sees it.
    let claim = |extra: &[&str]| {
        let mut args = vec!["chain", "claim", &task, "--passphrase-file", pass.to_str().unwrap()];
        args.extend_from_slice(extra);
        p.oarn(&args)
    };
    let out = claim(&[]);
    assert_eq!(out.status.code(), Some(20), "{}", text(&out));
    assert!(
        text(&out).contains("peers know of 6 claim(s)") && text(&out).contains("it allows 6"),
        "{}",
        text(&out)
    );
    assert!(text(&out).contains("nothing was sent"), "{}", text(&out));
    let registry = devnet::bindings::TaskRegistryV2::new(
        devnet.contracts.task_registry_v2,
        devnet::provider_for(&devnet.rpc_url, 0).unwrap(),
    );
    let claimed = || {
        rt.block_on(registry.hasClaimedTask(U256::from(id), me).call().into_future())
            .unwrap()
    };
    assert!(!claimed());

    // Forced, it goes through, and Q hears of it.
    let out = claim(&["--force"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("told the node's peers of the claim (1 answered)"),
        "{}",
        text(&out)
    );
    assert!(claimed());
    let known = q.json(&["net", "claims", &task, "--json"]);
    let mine = me.to_string().to_lowercase();
    assert!(
        known["claimers"].as_array().unwrap().iter().any(|c| c == mine.as_str()),
        "{known}"
    );
    p.stop();
    q.stop();
}

#[test]
fn a_running_node_claims_and_submits_through_chain_worker_frames() {
    let rt = runtime();
    let devnet = start(&rt);
    let mut node = node_on(&devnet);
    let (me, pass) = wallet(&node);
    let pass = pass.to_str().unwrap();
    rt.block_on(devnet.fund(me, U256::from(TOKEN), U256::ZERO, U256::ZERO))
        .unwrap();
    let reward = U256::from(1_000u64);
    let first = rt.block_on(devnet.submit_task(9, b"first", reward, 3, 3600)).unwrap();
    let second = rt.block_on(devnet.submit_task(9, b"second", reward, 3, 3600)).unwrap();
    let mine = me.to_string().to_lowercase();
    let signs_as_me = |s: &Value| s["wallet"]["account"].as_str().map(str::to_lowercase) == Some(mine.clone());

    // `oarn chain claim` and `submit` run here with neither a passphrase file nor a terminal
    // (the harness gives no stdin): only a running node whose key is unlocked can sign them.
    let through_the_node = |node: &Node, args: &[&str]| node.oarn(args);

    // Started with its passphrase file, the node unlocks its key in the chain worker.
    node.start_with(&["--passphrase-file", pass]);
    node.wait_status(signs_as_me)
        .unwrap_or_else(|| panic!("the node never unlocked its wallet: {}", node.log()));
    let out = through_the_node(&node, &["chain", "claim", &first.to_string(), "--json"]);
    let claimed = json(&out);
    assert_eq!(claimed["node"], me.to_string());
    let result = node.dir.path().join("result.txt");
    std::fs::write(&result, "first answer").unwrap();
    let result = result.to_str().unwrap();
    let submit = |id: u64| {
        through_the_node(
            &node,
            &["chain", "submit", &id.to_string(), "--result-file", result, "--json"],
        )
    };
    let sent = json(&submit(first));
    assert_eq!(
        sent["result_hash"],
        alloy::primitives::keccak256(b"first answer").to_string()
    );
    let task = json(&node.oarn(&["chain", "task", &first.to_string(), "--json"]));
    assert_eq!(
        (task["claimed_by_us"].as_bool(), task["submitted_by_us"].as_bool()),
        (Some(true), Some(true))
    );
    assert_eq!(task["submitted"], 1, "{task}");

    // A chain worker that dies is restarted and unlocked again from the file.
    let pid = oarn_tests::worker(&node.status().unwrap(), "chain")["pid"]
        .as_u64()
        .unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    node.wait_status(|s| oarn_tests::worker(s, "chain")["pid"].as_u64().is_some_and(|p| p != pid) && signs_as_me(s))
        .unwrap_or_else(|| panic!("the restarted chain worker was not unlocked: {}", node.log()));
    let out = through_the_node(&node, &["chain", "claim", &second.to_string(), "--json"]);
    assert!(out.status.success(), "{}\n{}", text(&out), node.log());
    node.stop();

    // Started without it, the node's wallet is locked: nothing signs until it is unlocked.
    let third = rt.block_on(devnet.submit_task(9, b"third", reward, 3, 3600)).unwrap();
    node.start();
    let status = node
        .wait_status(|s| s["wallet"]["locked"].is_string())
        .expect("the wallet state is known");
    assert!(
        status["wallet"]["locked"]
            .as_str()
            .unwrap()
            .contains("oarn wallet unlock"),
        "{status}"
    );
    let out = through_the_node(&node, &["chain", "claim", &third.to_string()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("wallet is locked"), "{}", text(&out));
    let wrong = node.dir.path().join("wrong");
    std::fs::write(&wrong, "not the passphrase").unwrap();
    let out = node.oarn(&["wallet", "unlock", "--passphrase-file", wrong.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(10), "{}", text(&out));
    let unlocked = json(&node.oarn(&["wallet", "unlock", "--passphrase-file", pass, "--json"]));
    assert_eq!(unlocked["account"].as_str().map(str::to_lowercase), Some(mine.clone()));
    assert!(signs_as_me(&node.status().unwrap()));
    json(&through_the_node(
        &node,
        &["chain", "claim", &third.to_string(), "--json"],
    ));
    // Through the node, the contract's refusal keeps its meaning and exit status.
    let out = through_the_node(&node, &["chain", "claim", &third.to_string()]);
    assert_eq!(out.status.code(), Some(20), "{}", text(&out));
    assert!(text(&out).contains("already claimed"), "{}", text(&out));
    let balance = json(&node.oarn(&["wallet", "balance", "--json"]));
    assert_eq!(balance["address"], me.to_string());
    node.stop();
}
