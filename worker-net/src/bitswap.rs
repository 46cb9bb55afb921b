//! Bitswap 1.2.0 (`/ipfs/bitswap/1.2.0`), the block exchange of IPFS, so the node fetches
//! blocks from and serves them to real IPFS nodes (Kubo, Helia) over the same swarm.
//!
//! Bitswap messages travel one way, length-prefixed protobuf; the answer comes later on a
//! stream the other side opens. [`send`] opens a stream per message; [`receive`] reads every
//! message of an inbound stream (Kubo keeps one open, Helia opens one per message), both over
//! `libp2p-stream`. [`Engine`] holds no I/O: it turns incoming messages into blocks to
//! send, presences to report and wants fulfilled, each block verified against the CID it
//! was wanted under before it is stored.

use std::collections::HashMap;
use std::io;
use std::time::{Duration, Instant};

use cid::Cid;
use futures::{AsyncReadExt, AsyncWriteExt};
use libp2p::{PeerId, StreamProtocol};
use prost::Message as _;

use crate::blocks::{self, MAX_BLOCK, Store};

/// The protocol spoken.
pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/ipfs/bitswap/1.2.0");
/// Largest message read.
pub const MAX_MESSAGE: usize = 4 << 20;
/// Most blocks wanted at once.
pub const MAX_WANTS: usize = 1024;
/// Most entries honoured from one peer's message.
const MAX_ENTRIES: usize = 512;
/// An inbound stream silent this long is dropped.
const STREAM_IDLE: Duration = Duration::from_secs(120);
/// How long a want waits for its block before it is asked for again.
pub const REBROADCAST: Duration = Duration::from_secs(2);

/// The wire message (bitswap.proto).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Message {
    #[prost(message, optional, tag = "1")]
    pub wantlist: Option<Wantlist>,
    /// Bitswap 1.0 blocks (CIDv0); read, never sent.
    #[prost(bytes = "vec", repeated, tag = "2")]
    pub blocks: Vec<Vec<u8>>,
    #[prost(message, repeated, tag = "3")]
    pub payload: Vec<Block>,
    #[prost(message, repeated, tag = "4")]
    pub block_presences: Vec<BlockPresence>,
    #[prost(int32, tag = "5")]
    pub pending_bytes: i32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Wantlist {
    #[prost(message, repeated, tag = "1")]
    pub entries: Vec<Entry>,
    #[prost(bool, tag = "2")]
    pub full: bool,
}

/// `want_type`: the block itself.
pub const WANT_BLOCK: i32 = 0;
/// `want_type`: only whether the peer has it.
pub const WANT_HAVE: i32 = 1;
/// `BlockPresence.type`.
pub const HAVE: i32 = 0;
/// `BlockPresence.type`.
pub const DONT_HAVE: i32 = 1;

#[derive(Clone, PartialEq, prost::Message)]
pub struct Entry {
    /// The CID, in binary.
    #[prost(bytes = "vec", tag = "1")]
    pub block: Vec<u8>,
    #[prost(int32, tag = "2")]
    pub priority: i32,
    #[prost(bool, tag = "3")]
    pub cancel: bool,
    #[prost(int32, tag = "4")]
    pub want_type: i32,
    #[prost(bool, tag = "5")]
    pub send_dont_have: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Block {
    /// CID version, codec, multihash code and length, as varints.
    #[prost(bytes = "vec", tag = "1")]
    pub prefix: Vec<u8>,
    /// A slice of the message it came in, not a copy.
    #[prost(bytes = "bytes", tag = "2")]
    pub data: bytes::Bytes,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct BlockPresence {
    #[prost(bytes = "vec", tag = "1")]
    pub cid: Vec<u8>,
    #[prost(int32, tag = "2")]
    pub r#type: i32,
}

fn varint(mut n: u64, out: &mut Vec<u8>) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// The prefix of a CID: version, codec, hash code, digest length.
pub fn prefix(cid: &Cid) -> Vec<u8> {
    let mut out = Vec::with_capacity(8);
    varint(cid.version().into(), &mut out);
    varint(cid.codec(), &mut out);
    varint(cid.hash().code(), &mut out);
    varint(cid.hash().size().into(), &mut out);
    out
}

/// Reads one varint-length-prefixed message, refusing lengths over [`MAX_MESSAGE`].
async fn read_message<T: futures::AsyncRead + Unpin>(io: &mut T) -> io::Result<Message> {
    let mut len: u64 = 0;
    for shift in (0..64).step_by(7) {
        let mut b = [0u8; 1];
        io.read_exact(&mut b).await?;
        len |= u64::from(b[0] & 0x7f) << shift;
        if b[0] & 0x80 == 0 {
            break;
        }
    }
    if len > MAX_MESSAGE as u64 {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "bitswap message too large"));
    }
    let mut buf = vec![0u8; len as usize];
    io.read_exact(&mut buf).await?;
    Message::decode(bytes::Bytes::from(buf)).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Writes one varint-length-prefixed message.
async fn write_message<T: futures::AsyncWrite + Unpin>(io: &mut T, msg: &Message) -> io::Result<()> {
    io.write_all(&msg.encode_length_delimited_to_vec()).await?;
    io.flush().await
}

/// Messages queued for one peer before more are dropped (a want not answered is asked
/// again); with messages of at most [`MAX_MESSAGE`], 128 MiB.
pub const OUTBOX: usize = 32;

/// Sends the messages queued for `peer` in order, on one stream kept open while there is
/// traffic (as Kubo does), so blocks arrive in the order they were asked for and the peer
/// accepts one stream instead of one per message. A write that fails is tried once more on
/// a new stream; a quiet stream is closed after [`STREAM_IDLE`]. Ends when the queue closes.
pub async fn outbox(
    mut control: libp2p_stream::Control,
    peer: PeerId,
    mut queue: tokio::sync::mpsc::Receiver<Message>,
) {
    let mut stream: Option<libp2p::Stream> = None;
    loop {
        let next = match stream {
            Some(_) => tokio::time::timeout(STREAM_IDLE, queue.recv()).await.ok(),
            None => Some(queue.recv().await),
        };
        let msg = match next {
            None => {
                if let Some(mut s) = stream.take() {
                    let _ = s.close().await;
                }
                continue;
            }
            Some(None) => break,
            Some(Some(m)) => m,
        };
        for _attempt in 0..2 {
            let s = match &mut stream {
                Some(s) => s,
                None => match control.open_stream(peer, PROTOCOL).await {
                    Ok(s) => stream.insert(s),
                    Err(e) => {
                        tracing::debug!(%peer, "cannot open a bitswap stream: {e}");
                        break;
                    }
                },
            };
            match write_message(s, &msg).await {
                Ok(()) => break,
                Err(e) => {
                    tracing::debug!(%peer, "bitswap message not delivered: {e}");
                    stream = None;
                }
            }
        }
    }
    if let Some(mut s) = stream {
        let _ = s.close().await;
    }
}

/// Reads the messages of one inbound stream until it ends, errs or idles, handing each to
/// the swarm loop. A peer may send many messages on one stream (Kubo does) or one (Helia).
pub async fn receive(peer: PeerId, mut stream: libp2p::Stream, to_node: tokio::sync::mpsc::Sender<(PeerId, Message)>) {
    loop {
        match tokio::time::timeout(STREAM_IDLE, read_message(&mut stream)).await {
            Ok(Ok(msg)) => {
                if to_node.send((peer, msg)).await.is_err() {
                    return;
                }
            }
            Ok(Err(e)) => {
                if e.kind() != io::ErrorKind::UnexpectedEof {
                    tracing::debug!(%peer, "bitswap stream ended: {e}");
                }
                return;
            }
            Err(_) => return,
        }
    }
}

/// One wanted block.
#[derive(Debug, Clone)]
struct Want {
    until: Instant,
    asked: Instant,
    /// Peers asked since the last rebroadcast (at most [`MAX_TRIED`]): a DONT_HAVE passes
    /// the want on to a peer not among them.
    tried: Vec<PeerId>,
}

/// Peers one want is passed along to before only rebroadcasts ask again.
const MAX_TRIED: usize = 64;

/// What the swarm should do after the engine saw something.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Messages to send.
    pub send: Vec<(PeerId, Message)>,
    /// Wants fulfilled (the block is in the store now).
    pub got: Vec<Cid>,
    /// Blocks that failed verification, by sender.
    pub bad: Vec<(PeerId, String)>,
}

/// Bitswap's state: what we want, from the store what we can give.
#[derive(Debug)]
pub struct Engine {
    pub store: Store,
    /// Wanted blocks: until when, and when they were last asked for.
    wants: HashMap<Cid, Want>,
    /// When a wanted block last arrived.
    last_block: Instant,
    /// Blocks served and received, and their bytes, for status.
    pub served: u64,
    pub received: u64,
    pub served_bytes: u64,
    pub received_bytes: u64,
}

fn want_message(cids: &[Cid], cancel: bool) -> Message {
    Message {
        wantlist: Some(Wantlist {
            entries: cids
                .iter()
                .map(|c| Entry {
                    block: c.to_bytes(),
                    priority: 1,
                    cancel,
                    want_type: WANT_BLOCK,
                    send_dont_have: !cancel,
                })
                .collect(),
            full: false,
        }),
        ..Default::default()
    }
}

impl Engine {
    pub fn new(store: Store) -> Self {
        Self {
            store,
            wants: HashMap::new(),
            last_block: Instant::now(),
            served: 0,
            served_bytes: 0,
            received_bytes: 0,
            received: 0,
        }
    }

    /// Starts wanting `cids` until `deadline`; returns the wants to send to `peers` (each
    /// block asked of one of them), or `None` when every block is here already.
    pub fn want(&mut self, cids: &[Cid], deadline: Instant, peers: &[PeerId]) -> Result<Option<Outcome>, String> {
        let missing: Vec<Cid> = cids.iter().filter(|c| !self.store.has(c)).copied().collect();
        if missing.is_empty() {
            return Ok(None);
        }
        let new = missing.iter().filter(|c| !self.wants.contains_key(c)).count();
        if self.wants.len() + new > MAX_WANTS {
            return Err(format!("{MAX_WANTS} blocks are wanted already; try again later"));
        }
        let now = Instant::now();
        let n = peers.len().max(1);
        for (i, cid) in missing.iter().enumerate() {
            let want = self.wants.entry(*cid).or_insert(Want {
                until: deadline,
                asked: now,
                tried: Vec::new(),
            });
            want.until = want.until.max(deadline);
            want.asked = now;
            want.tried.clear();
            want.tried.extend(peers.get(i % n));
        }
        // Each block is asked of one peer, in turn, so no block crosses the wire twice; a peer
        // that lacks its share answers DONT_HAVE, and a stall asks every peer again (see
        // [`Engine::rebroadcast`]).
        let send = peers
            .iter()
            .enumerate()
            .filter_map(|(i, p)| {
                let share: Vec<Cid> = missing.iter().skip(i).step_by(n).copied().collect();
                (!share.is_empty()).then(|| (*p, want_message(&share, false)))
            })
            .collect();
        Ok(Some(Outcome {
            send,
            ..Default::default()
        }))
    }

    /// The current wants, for a peer that just connected.
    pub fn wantlist(&self) -> Option<Message> {
        let cids: Vec<Cid> = self.wants.keys().copied().collect();
        (!cids.is_empty()).then(|| want_message(&cids, false))
    }

    /// Wants past their deadline, forgotten.
    pub fn expire(&mut self, now: Instant) -> Vec<Cid> {
        let over: Vec<Cid> = self
            .wants
            .iter()
            .filter(|(_, w)| w.until <= now)
            .map(|(c, _)| *c)
            .collect();
        for c in &over {
            self.wants.remove(c);
        }
        over
    }

    /// When no wanted block has arrived for `every`, the wants asked more than `every` ago,
    /// asked again: a peer may have lost them, or its answer may have been dropped (a node
    /// that opens a stream per message, as Kubo does, can outrun the inbound stream queue).
    /// While blocks flow, nothing is asked twice.
    pub fn rebroadcast(&mut self, now: Instant, every: Duration) -> Option<Message> {
        if now.saturating_duration_since(self.last_block) < every {
            return None;
        }
        let mut again = Vec::new();
        for (cid, w) in &mut self.wants {
            if again.len() < MAX_ENTRIES && now.saturating_duration_since(w.asked) >= every {
                w.asked = now;
                w.tried.clear();
                again.push(*cid);
            }
        }
        (!again.is_empty()).then(|| want_message(&again, false))
    }

    /// Handles a message from `from`.
    pub fn on_message(&mut self, from: PeerId, msg: Message, peers: &[PeerId]) -> Outcome {
        let mut out = Outcome::default();
        let mut reply = Message::default();
        let mut reply_bytes = 0;
        for e in msg
            .wantlist
            .map(|w| w.entries)
            .unwrap_or_default()
            .into_iter()
            .take(MAX_ENTRIES)
        {
            if e.cancel {
                continue;
            }
            let Ok(cid) = Cid::try_from(e.block.as_slice()) else {
                continue;
            };
            match self.store.get(&cid) {
                Ok(Some(data)) if e.want_type == WANT_BLOCK => {
                    if reply_bytes + data.len() > MAX_MESSAGE - 64 * 1024 {
                        out.send.push((from, std::mem::take(&mut reply)));
                        reply_bytes = 0;
                    }
                    reply_bytes += data.len();
                    self.served += 1;
                    self.served_bytes += data.len() as u64;
                    reply.payload.push(Block {
                        prefix: prefix(&cid),
                        data: data.into(),
                    });
                }
                Ok(Some(_)) => reply.block_presences.push(BlockPresence {
                    cid: cid.to_bytes(),
                    r#type: HAVE,
                }),
                _ if e.send_dont_have => reply.block_presences.push(BlockPresence {
                    cid: cid.to_bytes(),
                    r#type: DONT_HAVE,
                }),
                _ => {}
            }
        }
        if reply != Message::default() {
            out.send.push((from, reply));
        }
        for b in msg.payload {
            let Ok(cid) = cid_of(&b.prefix, &b.data) else {
                out.bad.push((from, "a block with an unreadable CID prefix".into()));
                continue;
            };
            if !self.wants.contains_key(&cid) || b.data.len() > MAX_BLOCK {
                continue; // unasked for: not stored
            }
            // `cid_of` hashed the block to find its CID: it is verified.
            match self.store.put_hashed(&cid, &b.data) {
                Ok(()) => {
                    self.wants.remove(&cid);
                    self.last_block = Instant::now();
                    self.received += 1;
                    self.received_bytes += b.data.len() as u64;
                    out.got.push(cid);
                }
                Err(e) => out.bad.push((from, e.to_string())),
            }
        }
        if !out.got.is_empty() {
            let cancel = want_message(&out.got, true);
            out.send
                .extend(peers.iter().filter(|p| **p != from).map(|p| (*p, cancel.clone())));
        }
        self.pass_on(from, &msg.block_presences, peers, &mut out);
        out
    }

    /// A peer that lacks a block we want said so: the want goes to the next connected peer
    /// not yet asked, at once, instead of waiting for a rebroadcast. (A want stays open for
    /// every peer until its deadline: a late block from anyone is still taken.)
    fn pass_on(&mut self, from: PeerId, presences: &[BlockPresence], peers: &[PeerId], out: &mut Outcome) {
        let mut next: HashMap<PeerId, Vec<Cid>> = HashMap::new();
        for p in presences.iter().filter(|p| p.r#type == DONT_HAVE).take(MAX_ENTRIES) {
            let Ok(cid) = Cid::try_from(p.cid.as_slice()) else {
                continue;
            };
            let Some(want) = self.wants.get_mut(&cid) else {
                continue;
            };
            if !want.tried.contains(&from) {
                want.tried.push(from);
            }
            if want.tried.len() >= MAX_TRIED {
                continue;
            }
            if let Some(peer) = peers.iter().find(|p| !want.tried.contains(p)) {
                want.tried.push(*peer);
                next.entry(*peer).or_default().push(cid);
            }
        }
        out.send
            .extend(next.into_iter().map(|(peer, cids)| (peer, want_message(&cids, false))));
    }
}

/// The CID a block has, from the sender's prefix and the block's own bytes (sha2-256 only;
/// CIDv1 of any codec, or CIDv0).
fn cid_of(prefix: &[u8], data: &[u8]) -> Result<Cid, blocks::BlockError> {
    let bad = || blocks::BlockError::BadCid(hex::encode(prefix));
    let mut fields = [0u64; 4];
    let mut i = 0;
    for f in &mut fields {
        let mut shift = 0;
        loop {
            let b = *prefix.get(i).ok_or_else(bad)?;
            i += 1;
            *f |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                break;
            }
            shift += 7;
            if shift > 63 {
                return Err(bad());
            }
        }
    }
    let [version, codec, code, len] = fields;
    if code != blocks::SHA2_256 || len != 32 {
        return Err(bad());
    }
    use sha2::Digest;
    let digest = sha2::Sha256::digest(data);
    let mh = cid::multihash::Multihash::<64>::wrap(code, &digest).map_err(|_| bad())?;
    match (version, codec) {
        // CIDv0 (`Qm…`, Kubo's default for files): always dag-pb.
        (0, blocks::DAG_PB) => Cid::new_v0(mh).map_err(|_| bad()),
        (1, _) => Ok(Cid::new_v1(codec, mh)),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine() -> (tempfile::TempDir, Engine) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        (dir, Engine::new(store))
    }

    #[test]
    fn serves_what_it_has_and_says_what_it_lacks() {
        let (_d, mut e) = engine();
        let have = e.store.put_raw(b"input").unwrap();
        let lack = blocks::cid_of_hash([9; 32]);
        let peer = PeerId::random();
        let mut ask = want_message(&[have, lack], false);
        ask.wantlist.as_mut().unwrap().entries[0].send_dont_have = true;
        let out = e.on_message(peer, ask, &[peer]);
        assert_eq!(out.send.len(), 1);
        let reply = &out.send[0].1;
        assert_eq!(reply.payload.len(), 1);
        assert_eq!(reply.payload[0].data, &b"input"[..]);
        assert_eq!(cid_of(&reply.payload[0].prefix, &reply.payload[0].data).unwrap(), have);
        assert_eq!(reply.block_presences.len(), 1);
        assert_eq!(reply.block_presences[0].r#type, DONT_HAVE);
        assert_eq!(e.served, 1);
    }

    /// Regression: a want asked of a peer without the block waited for the rebroadcast (2 s,
    /// or longer while other blocks flowed) before another peer was asked; a task's input
    /// block took seconds to arrive in a network of a few nodes.
    #[test]
    fn a_dont_have_passes_the_want_to_the_next_peer_at_once() {
        let (_d, mut e) = engine();
        let cid = blocks::cid_of_hash([5; 32]);
        let peers = [PeerId::random(), PeerId::random(), PeerId::random()];
        let first = e
            .want(&[cid], Instant::now() + Duration::from_secs(60), &peers)
            .unwrap()
            .unwrap();
        let asked: Vec<PeerId> = first.send.iter().map(|(p, _)| *p).collect();
        assert_eq!(asked, [peers[0]]);
        let lacks = |cid: Cid| Message {
            block_presences: vec![BlockPresence {
                cid: cid.to_bytes(),
                r#type: DONT_HAVE,
            }],
            ..Default::default()
        };
        let mut order = vec![peers[0]];
        for _ in 0..2 {
            let out = e.on_message(*order.last().unwrap(), lacks(cid), &peers);
            assert_eq!(out.send.len(), 1, "{out:?}");
            let (next, msg) = &out.send[0];
            assert!(!order.contains(next), "{next} asked twice");
            assert_eq!(msg.wantlist.as_ref().unwrap().entries[0].block, cid.to_bytes());
            order.push(*next);
        }
        let out = e.on_message(order[2], lacks(cid), &peers);
        assert!(out.send.is_empty(), "every peer was asked: {out:?}");
        // A DONT_HAVE for what nobody wants asks nobody.
        let other = blocks::cid_of_hash([6; 32]);
        assert!(e.on_message(peers[0], lacks(other), &peers).send.is_empty());
    }

    #[test]
    fn unanswered_wants_are_asked_again_and_answered_ones_are_not() {
        let (_d, mut e) = engine();
        let (x, y) = (blocks::cid_of_hash([1; 32]), blocks::cid_of_hash([2; 32]));
        let peer = PeerId::random();
        e.want(&[x, y], Instant::now() + Duration::from_secs(60), &[peer])
            .unwrap()
            .unwrap();
        let t0 = Instant::now();
        assert!(e.rebroadcast(t0, REBROADCAST).is_none(), "just asked");
        let again = e.rebroadcast(t0 + REBROADCAST, REBROADCAST).unwrap();
        assert_eq!(again.wantlist.unwrap().entries.len(), 2);
        assert!(
            e.rebroadcast(t0 + REBROADCAST, REBROADCAST).is_none(),
            "asked again just now"
        );
        assert_eq!(e.expire(t0 + Duration::from_secs(60)).len(), 2);
        assert!(
            e.rebroadcast(t0 + Duration::from_secs(99), REBROADCAST).is_none(),
            "expired wants are gone"
        );
    }

    #[test]
    fn stores_only_wanted_blocks_that_match_and_cancels_elsewhere() {
        let (_d, mut e) = engine();
        let data = b"result";
        let cid =
            blocks::cid_of_hash(sha2::Digest::finalize(<sha2::Sha256 as sha2::Digest>::new_with_prefix(data)).into());
        let (a, b) = (PeerId::random(), PeerId::random());
        // Unwanted: ignored.
        let block = Message {
            payload: vec![Block {
                prefix: prefix(&cid),
                data: bytes::Bytes::copy_from_slice(data),
            }],
            ..Default::default()
        };
        assert!(e.on_message(a, block.clone(), &[a, b]).got.is_empty());
        assert!(!e.store.has(&cid));
        let other = blocks::cid_of_hash([9; 32]);
        let sent = e
            .want(&[cid, other], Instant::now() + Duration::from_secs(5), &[a, b])
            .unwrap()
            .unwrap();
        // One block asked of each peer: none is sent twice.
        let asked = |i: usize| sent.send[i].1.wantlist.as_ref().unwrap().entries.len();
        assert_eq!(sent.send.len(), 2);
        assert_eq!((sent.send[0].0, asked(0)), (a, 1));
        assert_eq!((sent.send[1].0, asked(1)), (b, 1));
        // Wanted, but the bytes belong to another CID: not stored.
        let mut wrong = block.clone();
        wrong.payload[0].data = bytes::Bytes::from_static(b"other");
        let out = e.on_message(a, wrong, &[a, b]);
        assert!(out.got.is_empty() && !e.store.has(&cid));
        // Wanted and right: stored, and the other peer told to cancel.
        let out = e.on_message(a, block, &[a, b]);
        assert_eq!(out.got, vec![cid]);
        assert!(e.store.has(&cid));
        assert_eq!(out.send.len(), 1);
        assert_eq!(out.send[0].0, b);
        assert!(out.send[0].1.wantlist.as_ref().unwrap().entries[0].cancel);
    }

    #[test]
    fn cid_v0_blocks_from_kubo_are_recognised() {
        let data = b"a dag-pb node";
        let digest = <sha2::Sha256 as sha2::Digest>::digest(data);
        let v0 = Cid::new_v0(cid::multihash::Multihash::<64>::wrap(blocks::SHA2_256, &digest).unwrap()).unwrap();
        assert!(v0.to_string().starts_with("Qm"));
        assert_eq!(prefix(&v0), vec![0, 0x70, 0x12, 32]);
        assert_eq!(cid_of(&prefix(&v0), data).unwrap(), v0);
        assert!(cid_of(&[0, 0x55, 0x12, 32], data).is_err(), "a CIDv0 is always dag-pb");
        assert!(
            cid_of(&[1, 0x55, 0x13, 64], data).is_err(),
            "sha2-512 is not verified here"
        );
        assert!(cid_of(&[1, 0x55], data).is_err());
    }

    #[test]
    fn messages_round_trip_and_oversized_or_broken_ones_are_refused() {
        futures::executor::block_on(async {
            let msg = want_message(&[blocks::cid_of_hash([1; 32])], false);
            let mut buf = Vec::new();
            write_message(&mut buf, &msg).await.unwrap();
            write_message(&mut buf, &msg).await.unwrap();
            let mut r = futures::io::Cursor::new(buf);
            assert_eq!(read_message(&mut r).await.unwrap(), msg);
            assert_eq!(
                read_message(&mut r).await.unwrap(),
                msg,
                "several messages on one stream"
            );
            assert_eq!(
                read_message(&mut r).await.unwrap_err().kind(),
                io::ErrorKind::UnexpectedEof
            );
            let mut huge = Vec::new();
            varint(MAX_MESSAGE as u64 + 1, &mut huge);
            let mut r = futures::io::Cursor::new(huge);
            assert!(read_message(&mut r).await.is_err());
            let mut r = futures::io::Cursor::new(vec![3u8, 0xff, 0xff]);
            assert!(read_message(&mut r).await.is_err());
        });
    }
}
