//! The network's own DHT records: `/oarn/bootstrap` (peers to start from) and
//! `/oarn/rpc/providers` (chain endpoints). A node that discovered the network from the
//! registry writes them, so that a node that cannot reach the chain, but has one peer (mDNS,
//! a configured peer, a relay), still finds the rest. JSON; what is read is bounded in size
//! and entries, and each entry is checked: a peer must be named by its peer id, an endpoint
//! must be an http(s) or ws(s) URL.

use libp2p::Multiaddr;
use libp2p::multiaddr::Protocol;
use oarn_protocol::net::Bootstrap;
use serde::{Deserialize, Serialize};

/// Where bootstrap peers are kept.
pub const BOOTSTRAP_KEY: &str = "/oarn/bootstrap";
/// Where RPC endpoints are kept.
pub const RPC_PROVIDERS_KEY: &str = "/oarn/rpc/providers";
/// Most entries written or read per record.
pub const MAX_ENTRIES: usize = 64;
/// Largest record read.
pub const MAX_RECORD: usize = 64 * 1024;
/// Longest endpoint URL.
const MAX_URL: usize = 512;

/// Why a record was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    /// Larger than [`MAX_RECORD`].
    #[error("the record is {0} bytes, more than the {MAX_RECORD} allowed")]
    TooLarge(usize),
    /// Not the JSON expected.
    #[error("the record is not the JSON expected: {0}")]
    Json(String),
}

#[derive(Debug, Serialize, Deserialize)]
struct Peer {
    peer_id: String,
    multiaddr: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct BootstrapRecord {
    bootstrap: Vec<Peer>,
}

#[derive(Debug, Serialize, Deserialize)]
struct ProvidersRecord {
    providers: Vec<String>,
}

/// `entry` as a multiaddr ending `/p2p/<peer id>`, when it names its peer one way or the
/// other, consistently.
fn dialable(entry: &Bootstrap) -> Option<Multiaddr> {
    let addr: Multiaddr = entry.multiaddr.parse().ok()?;
    let in_addr = match addr.iter().last() {
        Some(Protocol::P2p(p)) => Some(p),
        _ => None,
    };
    let given = (!entry.peer_id.is_empty())
        .then(|| entry.peer_id.parse().ok())
        .flatten();
    match (in_addr, given) {
        (Some(a), Some(g)) if a != g => None,
        (Some(_), _) => Some(addr),
        (None, Some(g)) => Some(addr.with(Protocol::P2p(g))),
        (None, None) => None,
    }
}

fn endpoint_ok(url: &str) -> bool {
    url.len() <= MAX_URL
        && ["https://", "http://", "wss://", "ws://"]
            .iter()
            .any(|s| url.starts_with(s))
        && !url.chars().any(char::is_control)
}

/// The `/oarn/bootstrap` record for `peers`: those that name their peer id, at most
/// [`MAX_ENTRIES`].
pub fn bootstrap(peers: &[Bootstrap]) -> Vec<u8> {
    let bootstrap = peers
        .iter()
        .filter_map(dialable)
        .take(MAX_ENTRIES)
        .map(|a| Peer {
            peer_id: String::new(),
            multiaddr: a.to_string(),
        })
        .collect();
    serde_json::to_vec(&BootstrapRecord { bootstrap }).unwrap_or_default()
}

/// The `/oarn/rpc/providers` record for `endpoints`.
pub fn providers(endpoints: &[String]) -> Vec<u8> {
    let providers = endpoints
        .iter()
        .filter(|u| endpoint_ok(u))
        .take(MAX_ENTRIES)
        .cloned()
        .collect();
    serde_json::to_vec(&ProvidersRecord { providers }).unwrap_or_default()
}

fn check_size(bytes: &[u8]) -> Result<(), Invalid> {
    if bytes.len() > MAX_RECORD {
        return Err(Invalid::TooLarge(bytes.len()));
    }
    Ok(())
}

/// The peers of a `/oarn/bootstrap` record; entries that do not name a peer id are dropped.
pub fn read_bootstrap(bytes: &[u8]) -> Result<Vec<Bootstrap>, Invalid> {
    check_size(bytes)?;
    let record: BootstrapRecord = serde_json::from_slice(bytes).map_err(|e| Invalid::Json(e.to_string()))?;
    Ok(record
        .bootstrap
        .into_iter()
        .take(MAX_ENTRIES)
        .filter_map(|p| {
            dialable(&Bootstrap {
                peer_id: p.peer_id,
                multiaddr: p.multiaddr,
            })
        })
        .map(|a| Bootstrap {
            peer_id: String::new(),
            multiaddr: a.to_string(),
        })
        .collect())
}

/// The endpoints of a `/oarn/rpc/providers` record; anything but a plain URL is dropped.
pub fn read_providers(bytes: &[u8]) -> Result<Vec<String>, Invalid> {
    check_size(bytes)?;
    let record: ProvidersRecord = serde_json::from_slice(bytes).map_err(|e| Invalid::Json(e.to_string()))?;
    Ok(record
        .providers
        .into_iter()
        .take(MAX_ENTRIES)
        .filter(|u| endpoint_ok(u))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN";

    fn entry(peer_id: &str, multiaddr: &str) -> Bootstrap {
        Bootstrap {
            peer_id: peer_id.into(),
            multiaddr: multiaddr.into(),
        }
    }

    #[test]
    fn bootstrap_peers_round_trip_and_only_authenticated_ones_are_kept() {
        let with_id = format!("/ip4/203.0.113.7/tcp/4001/p2p/{ID}");
        let record = bootstrap(&[
            entry(ID, "/ip4/203.0.113.7/tcp/4001"),
            entry("", &with_id),
            entry("", "/ip4/203.0.113.8/tcp/4001"),
            entry("not-a-peer-id", "/ip4/203.0.113.9/tcp/4001"),
            entry("", "not a multiaddr"),
        ]);
        let read = read_bootstrap(&record).unwrap();
        assert_eq!(read, vec![entry("", &with_id), entry("", &with_id)]);
    }

    #[test]
    fn providers_round_trip_and_odd_endpoints_are_dropped() {
        let record = providers(&[
            "https://rpc.example/arb".into(),
            "wss://rpc.example/ws".into(),
            "file:///etc/passwd".into(),
            "http://bad\u{1b}[2J".into(),
        ]);
        assert_eq!(
            read_providers(&record).unwrap(),
            ["https://rpc.example/arb", "wss://rpc.example/ws"]
        );
    }

    #[test]
    fn bad_records_are_refused_or_bounded() {
        assert!(matches!(read_bootstrap(b"[1,2]"), Err(Invalid::Json(_))));
        assert!(matches!(read_providers(b"{\"providers\": 5}"), Err(Invalid::Json(_))));
        let huge = vec![b' '; MAX_RECORD + 1];
        assert_eq!(read_bootstrap(&huge), Err(Invalid::TooLarge(MAX_RECORD + 1)));
        let many: Vec<String> = (0..MAX_ENTRIES * 2).map(|i| format!("https://h{i}.example")).collect();
        let record = serde_json::to_vec(&ProvidersRecord { providers: many }).unwrap();
        assert_eq!(read_providers(&record).unwrap().len(), MAX_ENTRIES);
    }
}
