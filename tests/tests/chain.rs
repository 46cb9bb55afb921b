//! The chain side against a real local chain (anvil with the OARN contracts): discovery from
//! an ENS name, balances and transfers through `oarn wallet`, RPC failover, and clear errors
//! for bad endpoints and bad input.

use std::future::IntoFuture;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Output, Stdio};

use alloy::primitives::{Address, U256};
use alloy::providers::Provider;
use oarn_tests::Node;
use oarn_tests::devnet::{self, Devnet, Options, TOKEN};
use serde_json::Value;

const PASSPHRASE: &str = "devnet passphrase";

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

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn json(out: &Output) -> Value {
    assert!(out.status.success(), "{}", text(out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(out)))
}

/// Rewrites `key = …` lines of the node's config.toml.
fn configure(node: &Node, settings: &[(&str, String)]) {
    let path = node.home().join("config.toml");
    let mut text = std::fs::read_to_string(&path).unwrap();
    for (key, value) in settings {
        let start = text
            .find(&format!("\n{key} = "))
            .unwrap_or_else(|| panic!("{key} in config.toml"))
            + 1;
        let end = start + text[start..].find('\n').unwrap();
        text.replace_range(start..end, &format!("{key} = {value}"));
    }
    std::fs::write(&path, text).unwrap();
}

/// A node that discovers the devnet through ENS.
fn node_on(devnet: &Devnet) -> Node {
    let node = Node::new();
    configure(
        &node,
        &[
            ("ens_rpc_urls", format!("[\"{}\"]", devnet.rpc_url)),
            ("ens_registry", format!("\"{}\"", devnet.contracts.ens)),
        ],
    );
    node
}

/// Creates a wallet on `node` and returns its address and the passphrase file.
fn wallet(node: &Node) -> (Address, PathBuf) {
    let pass = node.dir.path().join("pass");
    std::fs::write(&pass, PASSPHRASE).unwrap();
    let out = node.oarn(&[
        "wallet",
        "create",
        "--no-confirm",
        "--new-passphrase-file",
        pass.to_str().unwrap(),
        "--json",
    ]);
    (json(&out)["address"].as_str().unwrap().parse().unwrap(), pass)
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
    assert_eq!(rt.block_on(chain.get_balance(friend).into_future()).unwrap(), after);

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
