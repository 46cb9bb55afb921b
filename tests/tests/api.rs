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
    assert_eq!(v["result"]["protocol"], 1);

    let v = ask(&mut s, r#"{"jsonrpc":"2.0","id":"a","method":"oarn_status"}"#);
    assert_eq!(v["result"]["workers"].as_array().unwrap().len(), 3);

    let v = ask(&mut s, r#"{"jsonrpc":"2.0","id":2,"method":"oarn_peers"}"#);
    assert_eq!(v["error"]["code"], -32000);
    assert_eq!(v["error"]["message"], "Not connected");

    let v = ask(
        &mut s,
        r#"{"jsonrpc":"2.0","id":3,"method":"oarn_submitTask","params":{}}"#,
    );
    assert_eq!(v["error"]["code"], -32001);
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
