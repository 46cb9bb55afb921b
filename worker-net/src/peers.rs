//! Our own view of each peer, next to gossipsub's score: what it told us (agent, round trip),
//! how many of its messages were good or bad, and whether it is banned. A peer whose invalid
//! messages reach [`BAN_AFTER`] is banned for [`BAN_FOR`]. The book is bounded: it forgets
//! the least useful disconnected peers first.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use libp2p::PeerId;
use oarn_protocol::net;

/// Invalid messages after which a peer is banned: one fewer than puts it below gossipsub's
/// graylist threshold (see `behaviour::score_params`), after which gossipsub would drop its
/// messages before they are counted here.
pub const BAN_AFTER: u64 = 8;
/// How long a ban lasts.
pub const BAN_FOR: Duration = Duration::from_secs(600);
/// Most peers remembered.
pub const MAX_TRACKED: usize = 4096;
/// Most addresses kept of what a peer advertises.
pub const MAX_ADVERTISED: usize = 16;
/// Most bans remembered.
pub const MAX_BANNED: usize = 1024;
/// Good messages count towards the score up to this many.
const VALID_CAP: u64 = 1000;
/// One bad message outweighs this many good ones.
const INVALID_WEIGHT: i64 = 10;

#[derive(Debug, Default)]
struct Record {
    valid: u64,
    invalid: u64,
    rtt: Option<Duration>,
    agent: String,
    addresses: Vec<String>,
    advertised: Vec<String>,
}

impl Record {
    fn score(&self) -> i64 {
        self.valid.min(VALID_CAP) as i64 - INVALID_WEIGHT * self.invalid.min(i64::MAX as u64 / 16) as i64
    }
}

/// What the node knows of its peers.
#[derive(Debug, Default)]
pub struct Book {
    peers: HashMap<PeerId, Record>,
    banned: HashMap<PeerId, (Instant, String)>,
}

impl Book {
    fn entry(&mut self, peer: PeerId) -> &mut Record {
        if !self.peers.contains_key(&peer) && self.peers.len() >= MAX_TRACKED {
            let forget = self
                .peers
                .iter()
                .filter(|(_, r)| r.addresses.is_empty())
                .min_by_key(|(_, r)| r.valid + r.invalid)
                .map(|(p, _)| *p);
            if let Some(p) = forget {
                self.peers.remove(&p);
            }
        }
        self.peers.entry(peer).or_default()
    }

    /// A connection to `peer` at `address` opened.
    pub fn connected(&mut self, peer: PeerId, address: String) {
        let r = self.entry(peer);
        if !r.addresses.contains(&address) {
            r.addresses.push(address);
        }
    }

    /// A connection closed; `remaining` connections to the peer are left.
    pub fn disconnected(&mut self, peer: PeerId, address: &str, remaining: u32) {
        if let Some(r) = self.peers.get_mut(&peer) {
            if remaining == 0 {
                r.addresses.clear();
            } else {
                r.addresses.retain(|a| a != address);
            }
        }
    }

    /// What identify told of `peer`: its agent, and where it says it is reached (bounded:
    /// 16 addresses).
    pub fn identified(&mut self, peer: PeerId, agent: String, advertised: &[libp2p::Multiaddr]) {
        let r = self.entry(peer);
        r.agent = agent.chars().take(128).collect();
        r.advertised = advertised
            .iter()
            .take(MAX_ADVERTISED)
            .map(ToString::to_string)
            .collect();
    }

    pub fn pinged(&mut self, peer: PeerId, rtt: Duration) {
        self.entry(peer).rtt = Some(rtt);
    }

    pub fn valid(&mut self, peer: PeerId) {
        let r = self.entry(peer);
        r.valid = r.valid.saturating_add(1);
    }

    /// Counts a bad message; returns the ban reason when this one crosses [`BAN_AFTER`].
    pub fn invalid(&mut self, peer: PeerId, why: &str) -> Option<String> {
        let r = self.entry(peer);
        r.invalid = r.invalid.saturating_add(1);
        if r.invalid < BAN_AFTER || self.banned.contains_key(&peer) {
            return None;
        }
        let reason = format!("{BAN_AFTER} invalid messages; the last: {why}");
        if self.banned.len() >= MAX_BANNED
            && let Some(oldest) = self.banned.iter().min_by_key(|(_, (t, _))| *t).map(|(p, _)| *p)
        {
            self.banned.remove(&oldest);
        }
        self.banned.insert(peer, (Instant::now() + BAN_FOR, reason.clone()));
        Some(reason)
    }

    /// Bans that ran out by `now`; they are forgotten, with the peer's invalid count.
    pub fn expire(&mut self, now: Instant) -> Vec<PeerId> {
        let over: Vec<PeerId> = self
            .banned
            .iter()
            .filter(|(_, (until, _))| *until <= now)
            .map(|(p, _)| *p)
            .collect();
        for p in &over {
            self.banned.remove(p);
            if let Some(r) = self.peers.get_mut(p) {
                r.invalid = 0;
            }
        }
        over
    }

    pub fn is_banned(&self, peer: &PeerId) -> bool {
        self.banned.contains_key(peer)
    }

    /// Ids of the connected peers.
    pub fn connected_ids(&self) -> Vec<PeerId> {
        self.peers
            .iter()
            .filter(|(_, r)| !r.addresses.is_empty())
            .map(|(p, _)| *p)
            .collect()
    }

    /// The connected peers, best score first.
    pub fn connected_peers(&self) -> Vec<net::Peer> {
        let mut out: Vec<net::Peer> = self
            .peers
            .iter()
            .filter(|(_, r)| !r.addresses.is_empty())
            .map(|(p, r)| net::Peer {
                peer_id: p.to_string(),
                addresses: r.addresses.clone(),
                agent: r.agent.clone(),
                rtt_us: r.rtt.map(|d| d.as_micros().try_into().unwrap_or(u64::MAX)),
                score: r.score(),
                valid: r.valid,
                invalid: r.invalid,
                validator: false,
                advertised: r.advertised.clone(),
            })
            .collect();
        out.sort_by(|a, b| b.score.cmp(&a.score).then_with(|| a.peer_id.cmp(&b.peer_id)));
        out
    }

    /// Banned peers with the reason.
    pub fn banned(&self) -> Vec<(String, String)> {
        let mut out: Vec<_> = self
            .banned
            .iter()
            .map(|(p, (_, why))| (p.to_string(), why.clone()))
            .collect();
        out.sort();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_messages_weigh_more_than_good_ones_and_end_in_a_ban() {
        let mut book = Book::default();
        let p = PeerId::random();
        book.connected(p, "/ip4/127.0.0.1/tcp/1".into());
        for _ in 0..20 {
            book.valid(p);
        }
        assert_eq!(book.connected_peers()[0].score, 20);
        book.invalid(p, "x");
        assert_eq!(book.connected_peers()[0].score, 10);
        let mut banned = None;
        for i in 2..=BAN_AFTER {
            let r = book.invalid(p, "not an announcement");
            if i < BAN_AFTER {
                assert!(r.is_none());
            } else {
                banned = r;
            }
        }
        assert!(banned.unwrap().contains("not an announcement"));
        assert!(book.is_banned(&p));
        assert!(book.invalid(p, "again").is_none(), "a ban is reported once");
        assert!(book.expire(Instant::now()).is_empty());
        assert_eq!(book.expire(Instant::now() + BAN_FOR), vec![p]);
        assert!(!book.is_banned(&p));
        assert_eq!(book.connected_peers()[0].invalid, 0);
    }

    #[test]
    fn only_connected_peers_are_listed_and_the_book_stays_bounded() {
        let mut book = Book::default();
        let p = PeerId::random();
        book.connected(p, "/ip4/127.0.0.1/tcp/1".into());
        book.connected(p, "/ip4/127.0.0.1/udp/1/quic-v1".into());
        book.disconnected(p, "/ip4/127.0.0.1/tcp/1", 1);
        assert_eq!(
            book.connected_peers()[0].addresses,
            vec!["/ip4/127.0.0.1/udp/1/quic-v1"]
        );
        book.disconnected(p, "/ip4/127.0.0.1/udp/1/quic-v1", 0);
        assert!(book.connected_peers().is_empty());
        for _ in 0..MAX_TRACKED + 10 {
            book.valid(PeerId::random());
        }
        assert!(book.peers.len() <= MAX_TRACKED);
    }
}
