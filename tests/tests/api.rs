//! The local JSON-RPC API on the node's Unix socket, spoken raw as any client would.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;

use oarn_tests::Node;
use serde_json::{Value, json};

fn ask(stream: &mut UnixStream, line: &str) -> Value {
    stream.write_all(line.as_bytes()).unwrap();
    stream.write_all(b"\n").unwrap();
    let mut answer = String::new();
    BufReader::new(&*stream).read_line(&mut answer).unwrap();
    serde_json::from_str(&answer).unwrap()
}

#[test]
fn methods_and_error_codes() {
    let mut node = Node::new();
    node.start();
    let mut s = UnixStream::connect(node.home().join("oarn.sock")).unwrap();

    let v = ask(&mut s, r#"{"jsonrpc":"2.0","id":1,"method":"oarn_version"}"#);
    assert_eq!(v["id"], 1);
    assert_eq!(v["result"]["protocol"], oarn_protocol::PROTOCOL_VERSION);

    let v = ask(&mut s, r#"{"jsonrpc":"2.0","id":"a","method":"oarn_status"}"#);
    assert_eq!(v["result"]["workers"].as_array().unwrap().len(), 3);

    node.wait_status(|s| s["network"]["listen"].as_array().is_some_and(|l| !l.is_empty()))
        .expect("the swarm listens");
    let v = ask(&mut s, r#"{"jsonrpc":"2.0","id":2,"method":"oarn_peers"}"#);
    assert!(v["result"]["peer_id"].as_str().unwrap().starts_with("12D3Koo"), "{v}");
    assert_eq!(v["result"]["peers"], json!([]));
    // Announcing with nobody to hear it is "Not connected", and says why.
    let hash = format!("0x{}", "ab".repeat(32));
    let announce = json!({"jsonrpc":"2.0","id":21,"method":"oarn_announceTask","params":{
        "id": 1, "model_hash": hash, "input_hash": hash, "reward": 1, "required_nodes": 3, "deadline": 4102444800u64}});
    let v = ask(&mut s, &announce.to_string());
    assert_eq!(v["error"]["code"], -32000, "{v}");
    assert_eq!(v["error"]["message"], "Not connected");
    assert!(
        v["error"]["data"]["reason"]
            .as_str()
            .unwrap()
            .contains("no peer is subscribed")
    );
    let mut bad = announce.clone();
    bad["params"]["model_hash"] = json!("0x12");
    let v = ask(&mut s, &bad.to_string());
    assert_eq!(v["error"]["code"], -32602);
    assert!(v["error"]["message"].as_str().unwrap().contains("model_hash"));
    bad = announce.clone();
    bad["params"]["required_nodes"] = json!(2);
    let v = ask(&mut s, &bad.to_string());
    assert_eq!(
        v["error"]["code"], -32602,
        "the worker's own check reaches the caller: {v}"
    );
    let v = ask(
        &mut s,
        r#"{"jsonrpc":"2.0","id":22,"method":"oarn_dhtGet","params":{}}"#,
    );
    assert_eq!(v["error"]["code"], -32602);

    let v = ask(
        &mut s,
        r#"{"jsonrpc":"2.0","id":3,"method":"oarn_submitTask","params":{}}"#,
    );
    assert_eq!(v["error"]["code"], -32602, "{v}");
    // The prompt is optional (a tensor task has none); the model never is.
    assert!(v["error"]["message"].as_str().unwrap().contains("model"), "{v}");
    let v = ask(&mut s, r#"{"jsonrpc":"2.0","id":4,"method":"oarn_getResult"}"#);
    assert_eq!(v["error"]["code"], -32602);
    let v = ask(&mut s, r#"{"jsonrpc":"2.0","id":5,"method":"oarn_tasks"}"#);
    assert_eq!(v["result"], json!({"tasks": []}));

    let v = ask(&mut s, r#"{"jsonrpc":"2.0","id":6,"method":"nope"}"#);
    assert_eq!(v["error"]["code"], -32601);
    let v = ask(&mut s, "{not json");
    assert_eq!(
        (v["error"]["code"].clone(), v["id"].clone()),
        (json!(-32700), Value::Null)
    );
    let v = ask(&mut s, r#"{"jsonrpc":"1.0","id":7,"method":"oarn_version"}"#);
    assert_eq!(v["error"]["code"], -32600);
    let v = ask(&mut s, r#"{"id":8}"#);
    assert_eq!(v["error"]["code"], -32600);

    // A notification gets no answer; the next request still does.
    s.write_all(b"{\"jsonrpc\":\"2.0\",\"method\":\"oarn_version\"}\n")
        .unwrap();
    let v = ask(&mut s, r#"{"jsonrpc":"2.0","id":9,"method":"oarn_version"}"#);
    assert_eq!(v["id"], 9);

    // An oversized request is refused and the connection closed; the daemon lives on.
    let mut big = UnixStream::connect(node.home().join("oarn.sock")).unwrap();
    let huge = format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"{}\"}}",
        "x".repeat(2 << 20)
    );
    let _ = big.write_all(huge.as_bytes());
    let mut answer = String::new();
    let _ = BufReader::new(&big).read_line(&mut answer);
    assert!(answer.contains("-32600"), "{answer}");
    assert_eq!(node.status().unwrap()["running"], true);
    node.stop();
}
