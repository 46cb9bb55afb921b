//! Host names, as operators write them (an RPC provider's URL, their own IPFS daemon's),
//! resolve inside the workers' sandboxes. Each test runs its nodes in a network namespace of
//! its own whose resolv.conf (`ip netns exec` mounts `/etc/netns/NAME/resolv.conf`) names a
//! DNS server the test answers on that namespace's loopback, every name resolving to
//! 127.0.0.1: a real UDP lookup, as on an operator's machine.
//!
//! The bug these catch: the workers resolved through the C library's getaddrinfo, whose
//! ioctl(FIONREAD) on the DNS reply the net worker's seccomp filter refused (the worker was
//! killed, status 159), and whose UDP socket and resolv.conf the chain worker was refused, so
//! an RPC endpoint named by host name could never be reached.

use std::net::{TcpListener, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use oarn_tests::{Netns, Node, wait_for};

/// The namespace's resolver configuration, removed (with its directory) when dropped.
struct ResolvConf(std::path::PathBuf);

impl ResolvConf {
    fn for_netns(ns: &Netns) -> Self {
        let dir = std::path::PathBuf::from("/etc/netns").join(&ns.0);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("resolv.conf"), "nameserver 127.0.0.1\n").unwrap();
        Self(dir)
    }
}

impl Drop for ResolvConf {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A DNS server on the namespace's 127.0.0.1:53 answering every A question with 127.0.0.1
/// and every other with no records; the count of questions it answered.
fn dns_server(ns: &Netns) -> Arc<AtomicUsize> {
    let asked = Arc::new(AtomicUsize::new(0));
    let count = asked.clone();
    let socket = ns.run_in(|| UdpSocket::bind("127.0.0.1:53").expect("bind 127.0.0.1:53"));
    std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        while let Ok((n, from)) = socket.recv_from(&mut buf) {
            if let Some(reply) = answer(&buf[..n]) {
                count.fetch_add(1, Ordering::SeqCst);
                let _ = socket.send_to(&reply, from);
            }
        }
    });
    asked
}

/// The reply to one DNS query (RFC 1035 §4): its question echoed, and for type A one record
/// 127.0.0.1, TTL 60.
fn answer(query: &[u8]) -> Option<Vec<u8>> {
    if query.len() < 12 {
        return None;
    }
    // The question's name ends at its zero length byte; then type and class.
    let mut end = 12;
    while *query.get(end)? != 0 {
        end += 1 + usize::from(query[end]);
    }
    let question = query.get(12..end + 5)?;
    let is_a = question[question.len() - 4..question.len() - 2] == [0, 1];
    let mut reply = Vec::with_capacity(64);
    reply.extend_from_slice(&query[0..2]); // the query's id
    reply.extend_from_slice(&[0x81, 0x80]); // a response, recursion desired and available
    reply.extend_from_slice(&[0, 1, 0, u8::from(is_a), 0, 0, 0, 0]);
    reply.extend_from_slice(question);
    if is_a {
        // A pointer to the name at offset 12, type A, class IN, TTL 60, 4 bytes: 127.0.0.1.
        reply.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 1]);
    }
    Some(reply)
}

#[test]
fn the_net_worker_reaches_an_ipfs_daemon_named_by_host_name() {
    let Some(ns) = Netns::new("dnsnet") else { return };
    let _conf = ResolvConf::for_netns(&ns);
    let asked = dns_server(&ns);
    // A's Kubo-compatible API stands in for the operator's IPFS daemon.
    let mut a = Node::new().with_env("OARN_STORAGE__IPFS_API_LISTEN", "127.0.0.1:0");
    a.spawn_daemon_in(&ns);
    let status = a
        .wait_status(|s| s["network"]["ipfs_api"].is_string())
        .unwrap_or_else(|| panic!("A's API never listened: {}", a.log()));
    let port = status["network"]["ipfs_api"]
        .as_str()
        .unwrap()
        .rsplit(':')
        .next()
        .unwrap()
        .to_string();
    let mut b = Node::new().with_env("OARN_STORAGE__IPFS_API", &format!("http://ipfs.oarn.test:{port}"));
    b.spawn_daemon_in(&ns);
    b.wait_status(|s| s["network"]["peer_id"].is_string()).unwrap();

    let input = b.dir.path().join("input.txt");
    std::fs::write(&input, b"hello world\n").unwrap();
    let out = b.oarn(&["ipfs", "add", input.to_str().unwrap(), "--json"]);
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        b.log()
    );
    assert!(asked.load(Ordering::SeqCst) > 0, "the name was looked up over DNS");
    assert!(!b.log().contains("seccomp"), "no syscall refused: {}", b.log());
    a.stop();
    b.stop();
}

#[test]
fn the_chain_worker_reaches_an_rpc_endpoint_named_by_host_name() {
    let Some(ns) = Netns::new("dnschain") else { return };
    let _conf = ResolvConf::for_netns(&ns);
    let asked = dns_server(&ns);
    // The "RPC endpoint": a listener in the namespace that counts the connections reaching it.
    let listener = ns.run_in(|| TcpListener::bind("127.0.0.1:0").unwrap());
    let port = listener.local_addr().unwrap().port();
    let reached = Arc::new(AtomicUsize::new(0));
    let count = reached.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            count.fetch_add(1, Ordering::SeqCst);
            drop(stream);
        }
    });
    let mut n = Node::new()
        .with_env("OARN_NETWORK__DISCOVERY__DISCOVERY_METHOD", "manual")
        .with_env(
            "OARN_BLOCKCHAIN__RPC_URLS",
            &format!("[\"http://rpc.oarn.test:{port}\"]"),
        )
        .with_env(
            "OARN_BLOCKCHAIN__REGISTRY_ADDRESS",
            "\"0x00000000000000000000000000000000000000aa\"",
        );
    n.spawn_daemon_in(&ns);
    let connected = wait_for(Duration::from_secs(30), || {
        (reached.load(Ordering::SeqCst) > 0).then_some(())
    });
    assert!(
        connected.is_some(),
        "the chain worker never connected to rpc.oarn.test:{port} ({} DNS questions): {}",
        asked.load(Ordering::SeqCst),
        n.log()
    );
    assert!(!n.log().contains("seccomp"), "no syscall refused: {}", n.log());
    n.stop();
}
