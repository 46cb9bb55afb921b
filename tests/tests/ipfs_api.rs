//! The Kubo-compatible IPFS API a node serves for the network's SDK: `POST /api/v0/add`
//! (multipart, as the SDK uploads), `POST /api/v0/cat` and `GET /ipfs/CID`, spoken to with
//! plain HTTP/1.1 over loopback; a file added on one node is read through another's gateway.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use oarn_tests::{Node, noise, wait_for};
use serde_json::Value;

/// A started node serving the API on a loopback port of the kernel's choosing, bootstrapping
/// from `peer` when given; its API address.
fn node_with_api(peer: Option<&str>) -> (Node, String) {
    let mut n = Node::new().with_env("OARN_STORAGE__IPFS_API_LISTEN", "127.0.0.1:0");
    if let Some(p) = peer {
        n = n
            .with_env("OARN_NETWORK__DISCOVERY__DISCOVERY_METHOD", "manual")
            .with_env("OARN_NETWORK__DISCOVERY__BOOTSTRAP_PEERS", &format!("[{p:?}]"));
    }
    n.start();
    let status = n
        .wait_status(|s| {
            s["network"]["ipfs_api"].is_string() && !s["network"]["listen"].as_array().is_none_or(Vec::is_empty)
        })
        .unwrap_or_else(|| panic!("the API never listened: {}", n.log()));
    let api = status["network"]["ipfs_api"].as_str().unwrap().to_string();
    (n, api)
}

/// One HTTP/1.1 exchange; the status code and body.
fn http(addr: &str, method: &str, path: &str, headers: &[(&str, String)], body: &[u8]) -> (u16, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a response head");
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let mut body = raw[split + 4..].to_vec();
    if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        body = dechunk(&body);
    }
    (status, body)
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let end = b.windows(2).position(|w| w == b"\r\n").unwrap();
        let len = usize::from_str_radix(std::str::from_utf8(&b[..end]).unwrap().trim(), 16).unwrap();
        if len == 0 {
            return out;
        }
        out.extend_from_slice(&b[end + 2..end + 2 + len]);
        b = &b[end + 2 + len + 2..];
    }
}

/// `POST /api/v0/add` with `bytes` as the multipart field `file`, as the SDK sends it.
fn add(api: &str, name: &str, bytes: &[u8]) -> Value {
    let boundary = "oarn-test-boundary-7f3a";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let ct = format!("multipart/form-data; boundary={boundary}");
    let (status, answer) = http(api, "POST", "/api/v0/add?pin=true", &[("Content-Type", ct)], &body);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    serde_json::from_slice(&answer).unwrap()
}

#[test]
fn the_sdk_adds_and_reads_files_through_the_kubo_compatible_api() {
    let (a, api) = node_with_api(None);
    assert!(api.starts_with("127.0.0.1:"), "loopback: {api}");

    let added = add(&api, "input.txt", b"hello world\n");
    assert_eq!(
        added["Hash"],
        "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"
    );
    assert_eq!(
        (added["Name"].as_str(), added["Size"].as_str()),
        (Some("input.txt"), Some("12"))
    );
    let cid = added["Hash"].as_str().unwrap();
    assert_eq!(
        http(&api, "POST", &format!("/api/v0/cat?arg={cid}"), &[], b""),
        (200, b"hello world\n".to_vec())
    );
    assert_eq!(
        http(&api, "GET", &format!("/ipfs/{cid}"), &[], b""),
        (200, b"hello world\n".to_vec())
    );
    let pins = a.json(&["ipfs", "pin", "ls", "--json"]);
    assert_eq!(pins["pins"][0], cid, "added through the API means pinned");

    // A file over a block becomes a DAG; another node reads it through its own gateway,
    // fetched from the first over Bitswap.
    let big = noise(3 << 20);
    let added = add(&api, "model.bin", &big);
    let big_cid = added["Hash"].as_str().unwrap().to_string();
    assert!(big_cid.starts_with("bafybei"), "{added}");
    let tcp = a.json(&["net", "peers", "--json"])["listen"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|l| l.as_str().filter(|l| l.contains("/tcp/")).map(String::from))
        .unwrap();
    let (b, b_api) = node_with_api(Some(&tcp));
    wait_for(Duration::from_secs(30), || {
        (!b.json(&["net", "peers", "--json"])["peers"].as_array()?.is_empty()).then_some(())
    })
    .expect("B connected to A");
    let (status, body) = http(&b_api, "GET", &format!("/ipfs/{big_cid}"), &[], b"");
    assert_eq!(status, 200);
    assert!(body == big, "the whole file, exactly ({} bytes)", body.len());

    // Wrong method, path or CID: Kubo-style JSON errors.
    let (status, body) = http(&api, "GET", "/api/v0/add", &[], b"");
    assert_eq!(status, 405);
    assert_eq!(serde_json::from_slice::<Value>(&body).unwrap()["Type"], "error");
    assert_eq!(http(&api, "POST", "/api/v0/pin/rm", &[], b"").0, 404);
    assert_eq!(http(&api, "GET", "/ipfs/not-a-cid", &[], b"").0, 400);
    let (status, _) = http(
        &api,
        "POST",
        "/api/v0/add",
        &[("Content-Type", "text/plain".into())],
        b"x",
    );
    assert_eq!(status, 400);
}

#[test]
fn the_api_is_off_unless_configured() {
    let mut n = Node::new();
    n.start();
    let status = n.wait_status(|s| s["network"]["peer_id"].is_string()).unwrap();
    assert!(status["network"]["ipfs_api"].is_null(), "{status}");
    let out = n.oarn(&["config", "set", "storage.ipfs_api_listen", "localhost"]);
    assert!(!out.status.success(), "not host:port");
}

#[test]
fn a_node_pointed_at_an_ipfs_daemon_adds_and_reads_through_its_rpc_api() {
    // A's Kubo-compatible API stands in for the operator's own daemon: a real HTTP server
    // speaking Kubo's add and cat. B's swarm is never connected to A.
    let (a, api) = node_with_api(None);
    let mut b = Node::new().with_env("OARN_STORAGE__IPFS_API", &format!("http://{api}"));
    b.start();
    b.wait_status(|s| s["network"]["peer_id"].is_string()).unwrap();

    let input = b.dir.path().join("input.txt");
    std::fs::write(&input, b"hello world\n").unwrap();
    let added = b.json(&["ipfs", "add", input.to_str().unwrap(), "--json"]);
    assert_eq!(
        added["cid"],
        "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"
    );
    let pins = a.json(&["ipfs", "pin", "ls", "--json"]);
    assert_eq!(pins["pins"][0], added["cid"], "stored and pinned by the daemon");

    let big = noise(2 << 20);
    let path = b.dir.path().join("big.bin");
    std::fs::write(&path, &big).unwrap();
    let big_cid = b.json(&["ipfs", "add", path.to_str().unwrap(), "--json"])["cid"]
        .as_str()
        .unwrap()
        .to_string();
    let out = b.dir.path().join("fetched.bin");
    let got = b.json(&["ipfs", "get", &big_cid, "--out", out.to_str().unwrap(), "--json"]);
    assert_eq!(got["size"], 2 << 20);
    assert!(std::fs::read(&out).unwrap() == big);
    let own = std::fs::read_dir(b.home().join("ipfs/blocks")).map_or(0, |d| d.count());
    assert_eq!(own, 0, "nothing went through B's own store");
    assert!(
        b.json(&["net", "peers", "--json"])["peers"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // A bad setting is refused before it is used.
    let out = b.oarn(&["config", "set", "storage.ipfs_api", "127.0.0.1:5001"]);
    assert!(!out.status.success());
}

/// An HTTP server on loopback that answers every request with 200 and the same wrong bytes.
fn lying_gateway() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(64) {
            let Ok(mut s) = stream else { continue };
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nlies!");
        }
    });
    format!("http://{addr}")
}

#[test]
fn blocks_no_peer_sends_come_from_trustless_gateways_and_each_is_verified() {
    let (_a, api) = node_with_api(None);
    let big = noise(2 << 20);
    let cid = add(&api, "model.bin", &big)["Hash"].as_str().unwrap().to_string();
    let (status, one) = http(&api, "GET", &format!("/ipfs/{cid}?format=raw"), &[], b"");
    assert_eq!(status, 200, "a single block, as trustless gateways serve it");
    assert!(one.len() < 4096, "the root node, not the file");

    // B has no peers, only A's gateway: the DAG arrives block by block, each checked.
    let mut b = Node::new().with_env("OARN_STORAGE__GATEWAYS", &format!("[\"http://{api}\"]"));
    b.start();
    b.wait_status(|s| s["network"]["peer_id"].is_string()).unwrap();
    let out = b.dir.path().join("fetched.bin");
    let got = b.json(&[
        "ipfs",
        "get",
        &cid,
        "--out",
        out.to_str().unwrap(),
        "--timeout",
        "60",
        "--json",
    ]);
    assert_eq!(got["size"], 2 << 20);
    assert!(std::fs::read(&out).unwrap() == big);
    let stored = std::fs::read_dir(b.home().join("ipfs/blocks")).unwrap().count();
    assert_eq!(stored, 8 + 1, "eight leaves and the root, verified and kept");

    // A gateway that answers with other bytes is refused; nothing is kept.
    let mut c = Node::new().with_env("OARN_STORAGE__GATEWAYS", &format!("[{:?}]", lying_gateway()));
    c.start();
    c.wait_status(|s| s["network"]["peer_id"].is_string()).unwrap();
    let out = c.oarn(&["ipfs", "get", &cid, "--timeout", "20", "--json"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("does not match"),
        "{out:?}"
    );
    let stored = std::fs::read_dir(c.home().join("ipfs/blocks")).map_or(0, |d| d.count());
    assert_eq!(stored, 0);
}
