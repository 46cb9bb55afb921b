//! Privacy mode (`privacy.mode = "tor"`) as an operator runs it, against a private Tor network
//! of Debian's `tor` (3 directory authorities, 4 relays, 2 of them exits) on the loopback of a
//! network namespace the test creates (`tests/fixtures/tornet/up.sh`), so nothing leaves the
//! machine. The node's anonymity worker runs arti against that network; a SOCKS client speaks
//! to the worker's Unix socket and reaches a server only through a Tor exit; the chain worker
//! reaches its RPC endpoint and the net worker its bootstrap peer the same way. `oarn sandbox verify` proves, from inside the net and chain workers,
//! that they cannot open an IPv4 or IPv6 socket at all.
//!
//! What this proves is the mechanism (Tor as the only way out, fail closed); it says nothing
//! of anonymity against an observer of the whole network.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use oarn_tests::tornet::{BASE, TorNet};
use oarn_tests::{Netns, Node, wait_for, worker};

/// A server on the namespace's 127.0.0.1:`port` (0: any free port) that answers each
/// connection's first line with "echo: <line>"; its port, and the count of connections it
/// accepted.
fn echo_server(ns: &Netns, port: u16) -> (u16, Arc<AtomicUsize>) {
    let accepted = Arc::new(AtomicUsize::new(0));
    let listener = ns.run_in(move || TcpListener::bind((Ipv4Addr::LOCALHOST, port)).unwrap());
    let port = listener.local_addr().unwrap().port();
    let count = accepted.clone();
    std::thread::spawn(move || {
        for mut s in listener.incoming().flatten() {
            count.fetch_add(1, Ordering::SeqCst);
            std::thread::spawn(move || {
                let mut buf = [0u8; 256];
                let n = s.read(&mut buf).unwrap_or(0);
                let _ = s.write_all(&[b"echo: ", &buf[..n]].concat());
            });
        }
    });
    (port, accepted)
}

/// A SOCKS5 CONNECT to `host:port` through the socket at `path`, with `user` as the isolation
/// key: the stream, or the reply code the worker refused with.
fn socks_connect(path: &Path, user: &str, host: &str, port: u16) -> Result<UnixStream, u8> {
    let mut s = UnixStream::connect(path).map_err(|_| 0xff)?;
    s.set_read_timeout(Some(Duration::from_secs(90))).unwrap();
    // Greeting: version 5, one method, username/password.
    s.write_all(&[5, 1, 2]).unwrap();
    let mut two = [0u8; 2];
    s.read_exact(&mut two).unwrap();
    assert_eq!(two, [5, 2], "the worker asks for credentials");
    let mut auth = vec![1, user.len() as u8];
    auth.extend_from_slice(user.as_bytes());
    auth.extend_from_slice(&[1, b'x']);
    s.write_all(&auth).unwrap();
    s.read_exact(&mut two).unwrap();
    assert_eq!(two, [1, 0], "credentials accepted");
    let mut req = vec![5, 1, 0, 3, host.len() as u8];
    req.extend_from_slice(host.as_bytes());
    req.extend_from_slice(&port.to_be_bytes());
    s.write_all(&req).unwrap();
    let mut head = [0u8; 4];
    s.read_exact(&mut head).map_err(|_| 0xfe)?;
    let rest = match head[3] {
        1 => 4 + 2,
        4 => 16 + 2,
        _ => {
            let mut len = [0u8; 1];
            s.read_exact(&mut len).unwrap();
            usize::from(len[0]) + 2
        }
    };
    let mut skip = vec![0u8; rest];
    s.read_exact(&mut skip).unwrap();
    if head[1] == 0 { Ok(s) } else { Err(head[1]) }
}

#[test]
fn privacy_mode_reaches_the_world_only_through_tor() {
    let Some(ns) = Netns::new("tor") else { return };
    let work = tempfile::tempdir().unwrap();
    let tor = TorNet::up(&ns, &work.path().join("tornet"));
    let exit_port = BASE + 950;
    let (_, accepted) = echo_server(&ns, exit_port);
    // The "RPC endpoint": reachable from the chain worker only through a Tor exit, since the
    // worker has no network of its own.
    let rpc_port = BASE + 951;
    let (_, rpc_reached) = echo_server(&ns, rpc_port);

    // A peer on clearnet (in the namespace), listening where the exits let streams out.
    let peer_port = BASE + 952;
    let mut peer = Node::new().with_env("OARN_NETWORK__LISTEN_PORT", &peer_port.to_string());
    peer.spawn_daemon_in(&ns);
    let peer_addr = peer.tcp_addr();

    let mut node = Node::new()
        .with_env("OARN_NETWORK__DISCOVERY__BOOTSTRAP_PEERS", &format!("[{peer_addr:?}]"))
        .with_env("OARN_PRIVACY__MODE", "tor")
        .with_env("OARN_PRIVACY__TOR_CONFIG", tor.arti_config().to_str().unwrap())
        .with_env("OARN_NETWORK__DISCOVERY__DISCOVERY_METHOD", "manual")
        .with_env(
            "OARN_BLOCKCHAIN__RPC_URLS",
            &format!("[\"http://127.0.0.1:{rpc_port}\"]"),
        )
        .with_env(
            "OARN_BLOCKCHAIN__REGISTRY_ADDRESS",
            "\"0x00000000000000000000000000000000000000aa\"",
        );

    // The kernel's word first: under privacy mode the net and chain workers cannot open an
    // IPv4 or IPv6 socket, nor reach loopback; the anonymity worker can.
    let out = node.oarn(&["sandbox", "verify", "--json"]);
    let results: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let bad: Vec<_> = results.as_array().unwrap().iter().filter(|o| o["ok"] != true).collect();
    assert!(out.status.success() && bad.is_empty(), "not as expected: {bad:#?}");
    let got = |w: &str, probe: &str| {
        let o = results
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["worker"] == w && o["probe"] == probe);
        o.unwrap_or_else(|| panic!("{w}: {probe} not probed"))["got"]
            .as_str()
            .unwrap()
            .to_string()
    };
    for w in ["net", "chain"] {
        assert_eq!(got(w, "open a TCP socket"), "denied: EAFNOSUPPORT (Unix sockets only)");
        assert!(got(w, "connect to 127.0.0.1").starts_with("denied"), "{w}");
        assert!(got(w, "send UDP to 127.0.0.1").starts_with("denied"), "{w}");
        assert_eq!(got(w, "open a Unix stream socket"), "allowed");
        assert!(got(w, "connect to a routable address").starts_with("denied"), "{w}");
    }
    assert_eq!(got("anon", "connect to 127.0.0.1"), "allowed");
    assert!(got("anon", "send UDP to 127.0.0.1").starts_with("denied"));

    node.spawn_daemon_in(&ns);
    let status = node.wait_status(|s| {
        ["net", "chain", "anon"]
            .iter()
            .all(|w| worker(s, w)["state"] == "running")
    });
    assert!(status.is_some(), "every worker runs in privacy mode: {}", node.log());

    // `oarn status` reports the transport: bootstrapped against the private network.
    let ready = wait_for(Duration::from_secs(180), || {
        node.status().filter(|s| s["privacy"]["ready"] == true)
    });
    assert!(
        ready.is_some(),
        "Tor never bootstrapped: {:?}\n{}",
        node.status(),
        node.log()
    );
    let status = ready.unwrap();
    assert_eq!(status["privacy"]["mode"], "tor");
    assert_eq!(status["privacy"]["percent"], 100);

    // The anonymity worker's socket carries a stream through the private network's exit.
    let socket = node.home().join("anon/socks.sock");
    let mut stream = wait_for(Duration::from_secs(180), || {
        socks_connect(&socket, "test-a", "127.0.0.1", exit_port).ok()
    })
    .unwrap_or_else(|| panic!("no stream through Tor in 180 s: {}", node.log()));
    stream.write_all(b"hello through tor\n").unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    assert_eq!(answer, "echo: hello through tor\n");
    assert!(accepted.load(Ordering::SeqCst) >= 1);

    // The chain worker's RPC requests arrive through the exit.
    let reached = wait_for(Duration::from_secs(120), || {
        (rpc_reached.load(Ordering::SeqCst) > 0).then_some(())
    });
    assert!(
        reached.is_some(),
        "the chain worker never reached its RPC endpoint through Tor: {}",
        node.log()
    );
    assert!(!node.log().contains("seccomp"), "no syscall refused: {}", node.log());

    // The net worker meets its bootstrap peer through Tor: a libp2p connection (Noise,
    // Yamux) over a stream through the anonymity worker; the node listens on nothing.
    let met = wait_for(Duration::from_secs(120), || {
        node.status().filter(|s| s["network"]["peers"].as_u64() >= Some(1))
    });
    let met = met.unwrap_or_else(|| panic!("the net worker never reached its peer through Tor: {}", node.log()));
    let listen = met["network"]["listen"].as_array().unwrap();
    assert!(
        listen.iter().all(|a| a.as_str().unwrap().starts_with("/unix/")),
        "privacy mode listens only on its inbound socket: {met}"
    );
    let seen = wait_for(Duration::from_secs(30), || {
        peer.status().filter(|s| s["network"]["peers"].as_u64() >= Some(1))
    });
    assert!(seen.is_some(), "the peer never saw the privacy node: {}", peer.log());

    // A second privacy-mode node meets the first at its onion service: both ends on Tor,
    // neither with a network of its own, the link between them shaped (fixed-size records,
    // random delays; this node also sends cover traffic, which the first drops).
    let onion = met["privacy"]["onion"].as_str().map(str::to_string);
    let onion = onion.or_else(|| {
        wait_for(Duration::from_secs(30), || {
            node.status()?["privacy"]["onion"].as_str().map(str::to_string)
        })
    });
    let onion = onion.unwrap_or_else(|| panic!("no onion service: {}", node.log()));
    assert!(onion.starts_with("/onion3/") && onion.ends_with(":4001"), "{onion}");
    let node_id = met["network"]["peer_id"].as_str().unwrap().to_string();
    // It advertises its onion service and nothing else: the clearnet peer it reached through
    // an exit learns (identify, pushed once the onion service runs) only the onion address,
    // no IP address and no socket path.
    let told = wait_for(Duration::from_secs(60), || {
        let out = peer.oarn(&["net", "peers", "--json"]);
        let peers: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        let me = peers["peers"]
            .as_array()?
            .iter()
            .find(|p| p["peer_id"] == node_id.as_str())?;
        me["advertised"].as_array().filter(|a| !a.is_empty()).cloned()
    });
    assert_eq!(
        told,
        Some(vec![serde_json::Value::from(onion.clone())]),
        "{}",
        node.log()
    );
    let mut other = Node::new()
        .with_env("OARN_PRIVACY__MODE", "tor")
        .with_env("OARN_PRIVACY__TOR_CONFIG", tor.arti_config().to_str().unwrap())
        .with_env("OARN_NETWORK__DISCOVERY__DISCOVERY_METHOD", "manual")
        .with_env("OARN_PRIVACY__DECOY_TRAFFIC", "true")
        .with_env("OARN_PRIVACY__DECOY_RATE_HZ", "50")
        .with_env(
            "OARN_NETWORK__DISCOVERY__BOOTSTRAP_PEERS",
            &format!("[\"{onion}/p2p/{node_id}\"]"),
        );
    other.spawn_daemon_in(&ns);
    let via_onion = wait_for(Duration::from_secs(240), || {
        // Until the swarm runs the command answers with an error, not JSON: keep asking.
        let out = other.oarn(&["net", "peers", "--json"]);
        let peers: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        peers["peers"]
            .as_array()?
            .iter()
            .any(|p| p["peer_id"] == node_id.as_str() && p["rtt_us"].as_u64().is_some())
            .then_some(())
    });
    assert!(
        via_onion.is_some(),
        "the second node never reached (and pinged) the first's onion service: {}\n{}",
        other.log(),
        node.log()
    );
    other.stop();

    // A port the exits refuse is refused in SOCKS terms, not hung.
    let refused = socks_connect(&socket, "test-b", "127.0.0.1", BASE + 900);
    assert!(refused.is_err(), "a port outside the exit policy is refused");
    node.stop();
    peer.stop();
}

#[test]
fn privacy_mode_without_its_anonymity_worker_reaches_nothing() {
    let Some(ns) = Netns::new("torless") else { return };
    // One listener stands for both a bootstrap peer and an RPC endpoint, on loopback in the
    // node's own namespace: the easiest place there is to leak to.
    let (port, reached) = echo_server(&ns, 0);
    let peer = format!("/ip4/127.0.0.1/tcp/{port}/p2p/12D3KooWPeqCPHpkohMTHHifVqJYXBMNqGtcaieQBcbpM3RioKVC");
    let mut node = Node::new()
        .with_env("OARN_NETWORK__DISCOVERY__DISCOVERY_METHOD", "manual")
        .with_env("OARN_NETWORK__DISCOVERY__BOOTSTRAP_PEERS", &format!("[{peer:?}]"))
        .with_env("OARN_BLOCKCHAIN__RPC_URLS", &format!("[\"http://127.0.0.1:{port}\"]"))
        .with_env(
            "OARN_BLOCKCHAIN__REGISTRY_ADDRESS",
            "\"0x00000000000000000000000000000000000000aa\"",
        )
        .with_env("OARN_PRIVACY__MODE", "tor")
        .with_env("OARN_WORKERS__ANON", "/nonexistent/oarn-worker-anon");
    node.spawn_daemon_in(&ns);
    let status = wait_for(Duration::from_secs(20), || {
        node.status()
            .filter(|s| s["privacy"]["blocked"].is_string() && worker(s, "net")["state"] == "running")
    })
    .unwrap_or_else(|| panic!("privacy mode never said it is down: {}", node.log()));
    assert_eq!(status["privacy"]["ready"], false);
    let out = node.oarn(&["status"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("no network until this clears"), "{text}");
    // The workers keep trying for 15 s, and nothing reaches the listener.
    std::thread::sleep(Duration::from_secs(15));
    assert_eq!(
        reached.load(Ordering::SeqCst),
        0,
        "a privacy-mode worker reached clearnet: {}",
        node.log()
    );
    assert!(!node.log().contains("seccomp"), "no syscall refused: {}", node.log());
    node.stop();

    // The negative control: the same node with privacy mode off reaches the listener, so the
    // count above could have seen a connection.
    node.env.retain(|(k, _)| k != "OARN_PRIVACY__MODE");
    node.spawn_daemon_in(&ns);
    let seen = wait_for(Duration::from_secs(30), || {
        (reached.load(Ordering::SeqCst) > 0).then_some(())
    });
    assert!(
        seen.is_some(),
        "with privacy mode off the node reached nothing: {}",
        node.log()
    );
    node.stop();
}
