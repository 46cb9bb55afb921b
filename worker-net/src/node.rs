//! The swarm's event loop, on a thread of its own with a single-threaded tokio runtime. It
//! validates every gossip message before gossipsub forwards it, keeps the peer book, enforces
//! the per-IP limit and bans, runs Bitswap's engine (serving the block store, fetching wanted
//! blocks), answers [`Command`]s from the request loop, and pushes
//! [`Event`]s into a bounded queue for the supervisor (dropping, and counting, what does not
//! fit rather than stalling the swarm).

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use libp2p::gossipsub::{self, IdentTopic, MessageAcceptance, TopicHash};
use libp2p::multiaddr::Protocol as Part;
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, Swarm, dcutr, identify, kad, mdns, ping};
use oarn_protocol::envelope::{ErrorKind, ErrorReply};
use oarn_protocol::net::{Announcement, Bootstrap, Counters, Event, Reply, Settings, Status};

use cid::Cid;

use crate::announce;
use crate::behaviour::{Behaviour, BehaviourEvent, NETWORK_TOPIC, TASKS_TOPIC};
use crate::bitswap::{self, Engine};
use crate::peers::Book;

/// Bitswap messages read but not yet handled; readers wait beyond this.
const BITSWAP_QUEUE: usize = 256;
/// Events queued for the supervisor before new ones are dropped.
pub const EVENT_QUEUE: usize = 1024;
/// Commands queued for the swarm before callers are told it is busy.
const COMMAND_QUEUE: usize = 64;
/// Announcements remembered to pass each task on once.
const SEEN: usize = 4096;
/// How often bans are expired and the DHT refreshed.
const HOUSEKEEPING: Duration = Duration::from_secs(30);
/// How often the DHT routing table is refreshed.
const DHT_REFRESH: Duration = Duration::from_secs(300);
/// While no peer is connected, the bootstrap peers are dialled again this often (a peer that
/// was down at start, or a first dial through Tor made before Tor was ready).
const ALONE_REDIAL: Duration = Duration::from_secs(15);
/// Most peers dialled per mDNS announcement.
const MDNS_DIALS: usize = 16;
/// Threads that run the connections (encryption, multiplexing, protocol streams) while the
/// swarm's own loop runs on the thread that started it.
const SWARM_THREADS: usize = 2;
/// How long start-up may take.
const START_WAIT: Duration = Duration::from_secs(15);

/// Where an answer to a [`Command`] goes.
pub type Answer = SyncSender<Result<Reply, ErrorReply>>;

/// What the request loop asks of the swarm.
#[derive(Debug)]
pub enum Command {
    Dial(Vec<Bootstrap>, Answer),
    Announce(Announcement, Answer),
    Accept(Vec<[u8; 32]>, Answer),
    /// New connection limits, and rate limits in bytes per second (0: none).
    Limits {
        max_peers: u32,
        max_per_ip: u32,
        upload: u64,
        download: u64,
        answer: Answer,
    },
    Status(Answer),
    PutRecord(String, Vec<u8>, Answer),
    GetRecord(String, Answer),
    /// Get these blocks into the store from connected peers, waiting at most this long;
    /// answered [`Reply::Done(())`] once all are there.
    Want {
        cids: Vec<Cid>,
        wait: Duration,
        /// Fail at once, rather than wait, when no peer is connected (another source waits).
        need_peers: bool,
        answer: Answer,
    },
    /// Claim negotiation: record `record`'s claim of `task_id`, and ask peers who claimed it.
    Claims {
        task_id: u64,
        record: Option<[u8; 20]>,
        answer: Answer,
    },
    /// Keep these validators connected too.
    Validators(Vec<Bootstrap>, Answer),
    /// Tell the connected validators of a result.
    Result(crate::results::Notice, Answer),
    /// The node is reached at these onion addresses.
    Reachable(Vec<String>, Answer),
}

/// Sends commands to a running swarm.
#[derive(Debug, Clone)]
pub struct Handle {
    commands: tokio::sync::mpsc::Sender<Command>,
}

fn internal(e: impl std::fmt::Display) -> ErrorReply {
    ErrorReply::new(ErrorKind::Internal, e.to_string())
}

impl Handle {
    /// True once the swarm's thread has ended (stopped, or failed).
    pub fn stopped(&self) -> bool {
        self.commands.is_closed()
    }

    /// Sends the command `make` builds and waits up to `wait` for its answer.
    pub fn call(&self, make: impl FnOnce(Answer) -> Command, wait: Duration) -> Result<Reply, ErrorReply> {
        let (tx, rx) = sync_channel(1);
        self.commands.try_send(make(tx)).map_err(|e| match e {
            tokio::sync::mpsc::error::TrySendError::Full(_) => {
                ErrorReply::new(ErrorKind::Busy, "the swarm is busy; try again")
            }
            tokio::sync::mpsc::error::TrySendError::Closed(_) => internal("the swarm has stopped"),
        })?;
        rx.recv_timeout(wait).map_err(|_| {
            ErrorReply::new(
                ErrorKind::DeadlineExceeded,
                format!("the swarm did not answer within {} s", wait.as_secs()),
            )
        })?
    }
}

/// Starts the swarm on its own thread with the identity and blocks kept in `store`; its
/// events go to the returned receiver. Returns once it listens, or
/// with the reason it could not start.
pub fn start(store: &Path, settings: Settings) -> Result<(Handle, Receiver<Event>), ErrorReply> {
    let (commands, commands_rx) = tokio::sync::mpsc::channel(COMMAND_QUEUE);
    let (events, events_rx) = sync_channel(EVENT_QUEUE);
    let (ready, ready_rx) = sync_channel(1);
    let store: PathBuf = store.to_path_buf();
    std::thread::Builder::new()
        .name("swarm".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(SWARM_THREADS)
                .thread_name("swarm-io")
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => {
                    let _ = ready.send(Err(internal(format!("cannot start the async runtime: {e}"))));
                    return;
                }
            };
            runtime.block_on(async move {
                let node = match Node::new(&store, settings, events) {
                    Ok(n) => n,
                    Err(e) => {
                        let _ = ready.send(Err(e));
                        return;
                    }
                };
                let _ = ready.send(Ok(()));
                node.run(commands_rx).await;
            });
        })
        .map_err(|e| internal(format!("cannot start the swarm thread: {e}")))?;
    match ready_rx.recv_timeout(START_WAIT) {
        Ok(Ok(())) => Ok((Handle { commands }, events_rx)),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(internal(format!(
            "the swarm did not start within {} s",
            START_WAIT.as_secs()
        ))),
    }
}

struct Node {
    swarm: Swarm<Behaviour>,
    book: Book,
    settings: Settings,
    accept: HashSet<[u8; 32]>,
    counters: Counters,
    /// Bytes on every stream, and the rate limits.
    meter: crate::meter::Meter,
    events: SyncSender<Event>,
    per_ip: HashMap<IpAddr, u32>,
    listen: Vec<String>,
    seen: (HashSet<Announcement>, VecDeque<Announcement>),
    gets: HashMap<kad::QueryId, Answer>,
    puts: HashMap<kad::QueryId, Answer>,
    bitswap: Engine,
    bitswap_control: libp2p_stream::Control,
    /// Messages read from inbound Bitswap streams.
    bitswap_in: tokio::sync::mpsc::Receiver<(PeerId, bitswap::Message)>,
    /// Each connected peer's queue of Bitswap messages (see [`bitswap::outbox`]).
    outboxes: HashMap<PeerId, tokio::sync::mpsc::Sender<bitswap::Message>>,
    /// Bitswap messages dropped because a peer's queue was full.
    dropped_bitswap: u64,
    /// Wants being waited for: the blocks still missing, until when, and the answer.
    batches: Vec<(HashSet<Cid>, Instant, Answer)>,
    tasks: TopicHash,
    network: TopicHash,
    claims: crate::claims::Negotiator,
    results: crate::results::Courier,
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// `addrs` parsed, each a bare `/onion3/…` address (at most [`crate::peers::MAX_ADVERTISED`]);
/// the first that is anything else is named in the error.
fn onion_addresses(addrs: &[String]) -> Result<Vec<Multiaddr>, String> {
    let mut out = Vec::new();
    for text in addrs.iter().take(crate::peers::MAX_ADVERTISED) {
        let addr: Multiaddr = text.parse().map_err(|e| format!("{text:?}: {e}"))?;
        let onion = addr.iter().count() == 1 && matches!(addr.iter().next(), Some(Part::Onion3(_)));
        if !onion {
            return Err(format!("{text}: only an /onion3 address is advertised in privacy mode"));
        }
        out.push(addr);
    }
    Ok(out)
}

/// The IP address a multiaddr starts with.
fn ip_of(addr: &Multiaddr) -> Option<IpAddr> {
    addr.iter().find_map(|p| match p {
        Part::Ip4(ip) => Some(IpAddr::V4(ip)),
        Part::Ip6(ip) => Some(IpAddr::V6(ip)),
        _ => None,
    })
}

/// A bootstrap entry as a dialable address and its peer id.
fn bootstrap_addr(b: &Bootstrap) -> Result<(PeerId, Multiaddr), String> {
    let mut addr: Multiaddr = b
        .multiaddr
        .parse()
        .map_err(|e| format!("{:?} is not a multiaddr: {e}", b.multiaddr))?;
    let in_addr = match addr.iter().last() {
        Some(Part::P2p(p)) => Some(p),
        _ => None,
    };
    let given = if b.peer_id.is_empty() {
        None
    } else {
        Some(
            b.peer_id
                .parse::<PeerId>()
                .map_err(|e| format!("{:?} is not a peer id: {e}", b.peer_id))?,
        )
    };
    let peer = match (in_addr, given) {
        (Some(a), Some(g)) if a != g => {
            return Err(format!("{} names peer {a}, but its entry says {g}", b.multiaddr));
        }
        (Some(a), _) => a,
        (None, Some(g)) => {
            addr.push(Part::P2p(g));
            g
        }
        (None, None) => {
            return Err(format!(
                "{} has no /p2p/<peer id> and no peer id was given",
                b.multiaddr
            ));
        }
    };
    Ok((peer, addr))
}

impl Node {
    fn new(store: &Path, settings: Settings, events: SyncSender<Event>) -> Result<Self, ErrorReply> {
        let key = crate::identity::load_or_create(store).map_err(internal)?;
        let blocks = crate::blocks::Store::open(store).map_err(internal)?;
        let meter = crate::meter::Meter::new(settings.upload_limit, settings.download_limit);
        let mut swarm = crate::swarm::build(
            key,
            crate::behaviour::Options {
                max_peers: settings.max_peers,
                mdns: settings.mdns,
                relay_service: settings.relay_service,
                private: crate::swarm::private(),
            },
            meter.clone(),
            crate::shape::Config::from(settings.shape),
        )
        .map_err(internal)?;
        let mut bitswap_control = swarm.behaviour().bitswap.new_control();
        let mut incoming = bitswap_control.accept(bitswap::PROTOCOL).map_err(internal)?;
        let (to_node, bitswap_in) = tokio::sync::mpsc::channel(BITSWAP_QUEUE);
        tokio::spawn(async move {
            while let Some((peer, stream)) = incoming.next().await {
                tokio::spawn(bitswap::receive(peer, stream, to_node.clone()));
            }
        });
        crate::swarm::listen(&mut swarm, &settings.listen)
            .map_err(|e| ErrorReply::new(ErrorKind::InvalidRequest, e.to_string()))?;
        crate::swarm::listen_via_relays(&mut swarm, &settings.relays)
            .map_err(|e| ErrorReply::new(ErrorKind::InvalidRequest, e.to_string()))?;
        let mut node = Self {
            swarm,
            book: Book::default(),
            accept: settings.accept_models.iter().copied().collect(),
            settings,
            counters: Counters::default(),
            meter,
            events,
            per_ip: HashMap::new(),
            listen: Vec::new(),
            seen: Default::default(),
            gets: HashMap::new(),
            puts: HashMap::new(),
            bitswap: Engine::new(blocks),
            bitswap_control,
            bitswap_in,
            outboxes: HashMap::new(),
            dropped_bitswap: 0,
            batches: Vec::new(),
            tasks: IdentTopic::new(TASKS_TOPIC).hash(),
            network: IdentTopic::new(NETWORK_TOPIC).hash(),
            claims: crate::claims::Negotiator::default(),
            results: crate::results::Courier::default(),
        };
        let validators = node.settings.validators.clone();
        for problem in node.keep_validators(&validators) {
            tracing::warn!("validator skipped: {problem}");
        }
        let peer_id = node.swarm.local_peer_id().to_string();
        tracing::info!(%peer_id, "swarm started");
        node.emit(Event::Started { peer_id });
        let bootstrap = node.settings.bootstrap.clone();
        for problem in node.dial(&bootstrap) {
            tracing::warn!("bootstrap peer skipped: {problem}");
        }
        Ok(node)
    }

    fn emit(&mut self, event: Event) {
        match self.events.try_send(event) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => self.counters.dropped_events += 1,
            Err(TrySendError::Disconnected(_)) => {}
        }
    }

    async fn run(mut self, mut commands: tokio::sync::mpsc::Receiver<Command>) {
        let mut housekeeping = tokio::time::interval(HOUSEKEEPING);
        let mut fetch_timer = tokio::time::interval(Duration::from_millis(500));
        let mut alone = tokio::time::interval_at(tokio::time::Instant::now() + ALONE_REDIAL, ALONE_REDIAL);
        let mut last_refresh = Instant::now();
        loop {
            tokio::select! {
                event = self.swarm.select_next_some() => self.on_swarm(event),
                command = commands.recv() => match command {
                    Some(c) => self.on_command(c),
                    None => return,
                },
                Some((peer, msg)) = self.bitswap_in.recv() => self.on_bitswap(peer, msg),
                _ = fetch_timer.tick() => self.expire_fetches(),
                _ = alone.tick() => self.redial_if_alone(),
                _ = housekeeping.tick() => {
                    for peer in self.book.expire(Instant::now()) {
                        self.swarm.behaviour_mut().blocked.unblock_peer(peer);
                        tracing::info!(%peer, "ban expired");
                    }
                    if last_refresh.elapsed() >= DHT_REFRESH {
                        last_refresh = Instant::now();
                        let _ = self.swarm.behaviour_mut().kad.bootstrap();
                    }
                }
            }
        }
    }

    /// Validator-routed mode: keeps each configured validator connected, and exchanges every
    /// gossip message with it directly (a gossipsub explicit peer), outside the mesh.
    /// A validator must be named by its peer id (`…/p2p/<id>`): results go only to the peer
    /// that proves it holds that key. Returns what was wrong with the entries it skipped.
    fn keep_validators(&mut self, validators: &[Bootstrap]) -> Vec<String> {
        let mut problems = Vec::new();
        for v in validators {
            match bootstrap_addr(v) {
                Ok((peer, _)) if peer == *self.swarm.local_peer_id() => {}
                Ok((peer, addr)) => {
                    tracing::info!(%addr, "validator-routed mode: keeping this validator connected");
                    let behaviour = self.swarm.behaviour_mut();
                    behaviour.kad.add_address(&peer, addr.clone());
                    behaviour.gossipsub.add_explicit_peer(&peer);
                    behaviour.keep.keep(peer, addr);
                }
                Err(e) => problems.push(e),
            }
        }
        problems
    }

    /// Makes `addrs` the node's external addresses, which identify tells peers (pushed to
    /// those connected now) and the DHT spreads. Only onion addresses: the node must never
    /// advertise an address that leads to its machine.
    fn reachable(&mut self, addrs: &[String]) -> Result<Reply, ErrorReply> {
        let parsed = onion_addresses(addrs).map_err(|e| ErrorReply::new(ErrorKind::InvalidRequest, e))?;
        let mut changed = false;
        for addr in parsed {
            if !self.swarm.external_addresses().any(|a| *a == addr) {
                tracing::info!(address = %addr, "advertising the onion service");
                self.swarm.add_external_address(addr);
                changed = true;
            }
        }
        if changed {
            let connected: Vec<PeerId> = self.swarm.connected_peers().copied().collect();
            self.swarm.behaviour_mut().identify.push(connected);
        }
        Ok(Reply::Done(()))
    }

    /// With no peer connected, dials the bootstrap peers again and asks the DHT for the
    /// peers it knows (the bootstrap peers discovery handed over later among them).
    fn redial_if_alone(&mut self) {
        if self.swarm.connected_peers().next().is_some() || self.settings.bootstrap.is_empty() {
            return;
        }
        tracing::info!("no peer connected: dialing the bootstrap peers again");
        let bootstrap = self.settings.bootstrap.clone();
        for problem in self.dial(&bootstrap) {
            tracing::debug!("bootstrap peer skipped: {problem}");
        }
        let _ = self.swarm.behaviour_mut().kad.bootstrap();
    }

    /// Dials every entry it can parse; returns what was wrong with the others.
    fn dial(&mut self, peers: &[Bootstrap]) -> Vec<String> {
        let mut problems = Vec::new();
        for b in peers {
            match bootstrap_addr(b) {
                Ok((peer, addr)) if peer == *self.swarm.local_peer_id() => {
                    tracing::debug!(%addr, "not dialing ourselves");
                }
                Ok((peer, addr)) => {
                    self.swarm.behaviour_mut().kad.add_address(&peer, addr.clone());
                    if let Err(e) = self.swarm.dial(addr.clone()) {
                        problems.push(format!("cannot dial {addr}: {e}"));
                    }
                }
                Err(e) => problems.push(e),
            }
        }
        problems
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Dial(peers, answer) => {
                let problems = self.dial(&peers);
                let _ = answer.send(if problems.is_empty() || problems.len() < peers.len() {
                    for p in &problems {
                        tracing::warn!("peer skipped: {p}");
                    }
                    Ok(Reply::Done(()))
                } else {
                    Err(ErrorReply::new(ErrorKind::InvalidRequest, problems.join("; ")))
                });
            }
            Command::Validators(validators, answer) => {
                let problems = self.keep_validators(&validators);
                for p in &problems {
                    tracing::warn!("validator skipped: {p}");
                }
                let _ = answer.send(if problems.len() < validators.len() {
                    Ok(Reply::Done(()))
                } else {
                    Err(ErrorReply::new(ErrorKind::InvalidRequest, problems.join("; ")))
                });
            }
            Command::Announce(a, answer) => {
                let _ = answer.send(self.announce(&a));
            }
            Command::Reachable(addrs, answer) => {
                let _ = answer.send(self.reachable(&addrs));
            }
            Command::Accept(models, answer) => {
                self.accept = models.into_iter().collect();
                let _ = answer.send(Ok(Reply::Done(())));
            }
            Command::Limits {
                max_peers,
                max_per_ip,
                upload,
                download,
                answer,
            } => {
                *self.swarm.behaviour_mut().limits.limits_mut() = crate::behaviour::limits(max_peers);
                self.settings.max_peers = max_peers;
                self.settings.max_per_ip = max_per_ip;
                self.meter.set_limits(upload, download);
                (self.settings.upload_limit, self.settings.download_limit) = (upload, download);
                let _ = answer.send(Ok(Reply::Done(())));
            }
            Command::Status(answer) => {
                let (stream_bytes_in, stream_bytes_out) = self.meter.totals();
                let keep = &self.swarm.behaviour().keep;
                let mut peers = self.book.connected_peers();
                for p in &mut peers {
                    p.validator = p.peer_id.parse().is_ok_and(|id| keep.is_kept(&id));
                }
                let mut validators: Vec<String> = keep.peers().map(PeerId::to_string).collect();
                validators.sort();
                let _ = answer.send(Ok(Reply::Status(Status {
                    peer_id: self.swarm.local_peer_id().to_string(),
                    listen: self.listen.clone(),
                    peers,
                    validators,
                    nat: match self.swarm.behaviour().autonat.nat_status() {
                        libp2p::autonat::NatStatus::Public(_) => "public",
                        libp2p::autonat::NatStatus::Private => "private",
                        libp2p::autonat::NatStatus::Unknown => "unknown",
                    }
                    .into(),
                    sla: self.results.figures.sla(),
                    banned: self.book.banned(),
                    counters: Counters {
                        blocks_served: self.bitswap.served,
                        blocks_received: self.bitswap.received,
                        bitswap_bytes_served: self.bitswap.served_bytes,
                        bitswap_bytes_received: self.bitswap.received_bytes,
                        bitswap_dropped: self.dropped_bitswap,
                        stream_bytes_in,
                        stream_bytes_out,
                        ..self.counters
                    },
                })));
            }
            Command::PutRecord(key, value, answer) => {
                let record = kad::Record::new(kad::RecordKey::new(&key), value);
                match self.swarm.behaviour_mut().kad.put_record(record, kad::Quorum::One) {
                    Ok(id) => {
                        self.puts.insert(id, answer);
                    }
                    Err(e) => {
                        let _ = answer.send(Err(ErrorReply::new(
                            ErrorKind::InvalidRequest,
                            format!("cannot store the record: {e:?}"),
                        )));
                    }
                }
            }
            Command::Want {
                cids,
                wait,
                need_peers,
                answer,
            } => self.want(cids, wait, need_peers, answer),
            Command::Claims {
                task_id,
                record,
                answer,
            } => {
                if record.is_some() {
                    self.results.figures.claimed(task_id);
                }
                let peers: Vec<PeerId> = self.swarm.connected_peers().copied().collect();
                let rr = &mut self.swarm.behaviour_mut().claims;
                self.claims.ask(rr, peers, task_id, record, answer);
            }
            Command::Result(notice, answer) => {
                if notice.node.is_some() {
                    self.publish_notice(&notice);
                }
                let validators: Vec<PeerId> = (self.swarm.behaviour().keep.peers())
                    .filter(|p| self.swarm.is_connected(p))
                    .copied()
                    .collect();
                let rr = &mut self.swarm.behaviour_mut().results;
                self.results.send(rr, validators, notice, answer);
            }
            Command::GetRecord(key, answer) => {
                let id = self.swarm.behaviour_mut().kad.get_record(kad::RecordKey::new(&key));
                self.gets.insert(id, answer);
            }
        }
    }

    fn want(&mut self, cids: Vec<Cid>, wait: Duration, need_peers: bool, answer: Answer) {
        let peers = self.book.connected_ids();
        if need_peers && peers.is_empty() && cids.iter().any(|c| !self.bitswap.store.has(c)) {
            let _ = answer.send(Err(ErrorReply::new(ErrorKind::NotFound, "no peer is connected")));
            return;
        }
        let until = Instant::now() + wait;
        match self.bitswap.want(&cids, until, &peers) {
            Ok(None) => {
                let _ = answer.send(Ok(Reply::Done(())));
            }
            Ok(Some(out)) => {
                let missing = cids.into_iter().filter(|c| !self.bitswap.store.has(c)).collect();
                self.batches.push((missing, until, answer));
                self.send_bitswap(out.send);
            }
            Err(e) => {
                let _ = answer.send(Err(ErrorReply::new(ErrorKind::Busy, e)));
            }
        }
    }

    fn send_bitswap(&mut self, messages: Vec<(PeerId, bitswap::Message)>) {
        for (peer, msg) in messages {
            let queue = self.outboxes.entry(peer).or_insert_with(|| {
                let (tx, rx) = tokio::sync::mpsc::channel(bitswap::OUTBOX);
                tokio::spawn(bitswap::outbox(self.bitswap_control.clone(), peer, rx));
                tx
            });
            if let Err(e) = queue.try_send(msg) {
                self.dropped_bitswap += 1;
                tracing::debug!(%peer, "bitswap message dropped: {e}");
            }
        }
    }

    fn expire_fetches(&mut self) {
        let now = Instant::now();
        self.bitswap.expire(now);
        if let Some(again) = self.bitswap.rebroadcast(now, bitswap::REBROADCAST) {
            let peers = self.book.connected_ids();
            self.send_bitswap(peers.into_iter().map(|p| (p, again.clone())).collect());
        }
        self.batches.retain_mut(|(missing, until, answer)| {
            if *until > now {
                return true;
            }
            let first = missing.iter().next().map(Cid::to_string).unwrap_or_default();
            let more = match missing.len() {
                0 | 1 => String::new(),
                n => format!(" (nor {} more blocks)", n - 1),
            };
            let _ = answer.send(Err(ErrorReply::new(
                ErrorKind::NotFound,
                format!("no connected peer had {first}{more} in time"),
            )));
            false
        });
    }

    fn on_bitswap(&mut self, from: PeerId, msg: bitswap::Message) {
        tracing::debug!(
            peer = %from,
            wants = msg.wantlist.as_ref().map_or(0, |w| w.entries.len()),
            want_have = msg.wantlist.as_ref().map_or(0, |w| w.entries.iter().filter(|e| e.want_type == bitswap::WANT_HAVE).count()),
            blocks = msg.payload.len(),
            presences = msg.block_presences.len(),
            "bitswap message"
        );
        let peers = self.book.connected_ids();
        let out = self.bitswap.on_message(from, msg, &peers);
        if !out.got.is_empty() {
            self.batches.retain_mut(|(missing, _, answer)| {
                for cid in &out.got {
                    missing.remove(cid);
                }
                if missing.is_empty() {
                    let _ = answer.send(Ok(Reply::Done(())));
                }
                !missing.is_empty()
            });
        }
        for (peer, why) in out.bad {
            if let Some(reason) = self.book.invalid(peer, &why) {
                self.ban(peer, reason);
            }
        }
        self.send_bitswap(out.send);
    }

    fn ban(&mut self, peer: PeerId, reason: String) {
        tracing::warn!(%peer, "banned for {}s: {reason}", crate::peers::BAN_FOR.as_secs());
        self.swarm.behaviour_mut().blocked.block_peer(peer);
        self.emit(Event::Banned {
            peer_id: peer.to_string(),
            reason,
        });
    }

    fn announce(&mut self, a: &Announcement) -> Result<Reply, ErrorReply> {
        let bytes = announce::write(a, self.settings.padding)
            .map_err(|e| ErrorReply::new(ErrorKind::InvalidRequest, e.to_string()))?;
        let gossip = &mut self.swarm.behaviour_mut().gossipsub;
        let peers = gossip
            .all_peers()
            .filter(|(_, topics)| topics.contains(&&self.tasks))
            .count();
        let len = bytes.len() as u64;
        match gossip.publish(self.tasks.clone(), bytes) {
            Ok(_) => {
                self.counters.published += 1;
                self.counters.gossip_bytes_out += len;
                self.remember(*a);
                Ok(Reply::Published(peers.try_into().unwrap_or(u32::MAX)))
            }
            Err(gossipsub::PublishError::NoPeersSubscribedToTopic) => Err(ErrorReply::new(
                ErrorKind::NotFound,
                format!("no peer is subscribed to {TASKS_TOPIC} yet; wait for peers (see `oarn net peers`)"),
            )),
            Err(e) => Err(internal(format!("cannot publish: {e}"))),
        }
    }

    /// Publishes a result notice on `oarn/network/v1` (no peer subscribed yet is no error:
    /// the validators still get it directly).
    fn publish_notice(&mut self, notice: &crate::results::Notice) {
        let Ok(bytes) = serde_json::to_vec(notice) else { return };
        let len = bytes.len() as u64;
        match self
            .swarm
            .behaviour_mut()
            .gossipsub
            .publish(self.network.clone(), bytes)
        {
            Ok(_) => self.counters.gossip_bytes_out += len,
            Err(e) => tracing::debug!(task = notice.task_id, "the result notice was not published: {e}"),
        }
    }

    /// Remembers an announcement; false when it was seen before.
    fn remember(&mut self, a: Announcement) -> bool {
        let (set, order) = &mut self.seen;
        if !set.insert(a) {
            return false;
        }
        order.push_back(a);
        if order.len() > SEEN
            && let Some(old) = order.pop_front()
        {
            set.remove(&old);
        }
        true
    }

    fn on_swarm(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                let full = address
                    .clone()
                    .with_p2p(*self.swarm.local_peer_id())
                    .unwrap_or_else(|a| a);
                tracing::info!(address = %full, "listening");
                // A relay must tell the peers it serves where it is reached: an operator who
                // runs one says its listen addresses are public (loopback excepted).
                let relayed = address.iter().any(|p| matches!(p, Part::P2pCircuit));
                if self.settings.relay_service && !relayed && !ip_of(&address).is_some_and(|ip| ip.is_loopback()) {
                    self.swarm.add_external_address(address.clone());
                }
                self.listen.push(full.to_string());
                self.emit(Event::Listening(full.to_string()));
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => {
                let full = address.with_p2p(*self.swarm.local_peer_id()).unwrap_or_else(|a| a);
                self.listen.retain(|a| *a != full.to_string());
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                endpoint,
                num_established,
                ..
            } => {
                let remote = endpoint.get_remote_address();
                if let Some(ip) = ip_of(remote) {
                    let n = self.per_ip.entry(ip).or_insert(0);
                    *n += 1;
                    if !ip.is_loopback() && *n > self.settings.max_per_ip {
                        tracing::debug!(%peer_id, %ip, "over the per-IP connection limit; closing");
                        self.swarm.close_connection(connection_id);
                        return;
                    }
                }
                self.book.connected(peer_id, remote.to_string());
                if num_established.get() == 1 {
                    tracing::debug!(%peer_id, %remote, "peer connected");
                    self.emit(Event::Connected(peer_id.to_string()));
                    if let Some(wants) = self.bitswap.wantlist() {
                        self.send_bitswap(vec![(peer_id, wants)]);
                    }
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                endpoint,
                num_established,
                ..
            } => {
                let remote = endpoint.get_remote_address();
                if let Some(ip) = ip_of(remote)
                    && let Some(n) = self.per_ip.get_mut(&ip)
                {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        self.per_ip.remove(&ip);
                    }
                }
                self.book.disconnected(peer_id, &remote.to_string(), num_established);
                if num_established == 0 {
                    // Its queue closes, and the sending task with it.
                    self.outboxes.remove(&peer_id);
                    self.emit(Event::Disconnected(peer_id.to_string()));
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            })) => self.on_message(propagation_source, &message_id, &message),
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. })) => {
                self.book.identified(peer_id, info.agent_version, &info.listen_addrs);
                for addr in info.listen_addrs.into_iter().take(crate::peers::MAX_ADVERTISED) {
                    self.swarm.behaviour_mut().kad.add_address(&peer_id, addr);
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Ping(ping::Event {
                peer, result: Ok(rtt), ..
            })) => self.book.pinged(peer, rtt),
            SwarmEvent::Behaviour(BehaviourEvent::Kad(kad::Event::OutboundQueryProgressed { id, result, .. })) => {
                self.on_query(id, result)
            }
            SwarmEvent::Behaviour(BehaviourEvent::Mdns(mdns::Event::Discovered(found))) => {
                // Bounded: a LAN shouting thousands of peers gets a few dials per announcement.
                for (peer, addr) in found.into_iter().take(MDNS_DIALS) {
                    if peer == *self.swarm.local_peer_id() || self.swarm.is_connected(&peer) {
                        continue;
                    }
                    tracing::debug!(%peer, %addr, "found on the local network");
                    self.swarm.behaviour_mut().kad.add_address(&peer, addr.clone());
                    let _ = self.swarm.dial(addr);
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Dcutr(dcutr::Event { remote_peer_id, result })) => match result {
                Ok(_) => tracing::info!(peer = %remote_peer_id, "relayed connection upgraded to a direct one (DCUtR)"),
                Err(e) => tracing::info!(peer = %remote_peer_id, "no direct connection, staying relayed: {e}"),
            },
            SwarmEvent::Behaviour(BehaviourEvent::Results(event)) => {
                let rr = &mut self.swarm.behaviour_mut().results;
                match self.results.on_event(rr, event) {
                    Some(crate::results::Outcome::Heard(peer, r)) => {
                        tracing::debug!(%peer, task = r.task_id, cid = %r.cid, "result notice");
                        self.emit(Event::Result {
                            from: peer.to_string(),
                            task_id: r.task_id,
                            result_hash: r.result_hash,
                            cid: r.cid,
                        });
                    }
                    Some(crate::results::Outcome::Invalid(peer, why)) => {
                        if let Some(reason) = self.book.invalid(peer, &why) {
                            self.ban(peer, reason);
                        }
                    }
                    None => {}
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Claims(event)) => {
                let rr = &mut self.swarm.behaviour_mut().claims;
                if let Some((peer, why)) = self.claims.on_event(rr, event)
                    && let Some(reason) = self.book.invalid(peer, &why)
                {
                    self.ban(peer, reason);
                }
            }
            _ => {}
        }
    }

    fn on_message(&mut self, from: PeerId, id: &gossipsub::MessageId, message: &gossipsub::Message) {
        self.counters.gossip_bytes_in += message.data.len() as u64;
        let verdict = if message.topic == self.tasks {
            announce::parse(&message.data).map(Some).map_err(|e| e.to_string())
        } else if message.topic == self.network {
            // Result notices are the one coordination message defined; another JSON object is
            // let through, anything else refused.
            match serde_json::from_slice::<serde_json::Value>(&message.data) {
                Ok(v) if v.get("task_id").is_some() => {
                    match serde_json::from_value::<crate::results::Notice>(v)
                        .map_err(|e| e.to_string())
                        .and_then(|n| n.check().map_err(|e| e.to_string()))
                    {
                        Ok(c) => {
                            let publisher = message.source.unwrap_or(from);
                            self.emit(Event::Result {
                                from: publisher.to_string(),
                                task_id: c.task_id,
                                result_hash: c.result_hash,
                                cid: c.cid,
                            });
                            Ok(None)
                        }
                        Err(why) => Err(format!("not a result notice: {why}")),
                    }
                }
                Ok(v) if v.is_object() => Ok(None),
                _ => Err("not a JSON object".to_string()),
            }
        } else {
            Err(format!("unexpected topic {}", message.topic))
        };
        let acceptance = match verdict {
            Ok(announcement) => {
                self.book.valid(from);
                match announcement {
                    Some(a) if a.deadline <= unix_now() => {
                        // Stale, not malicious: neither forwarded nor held against the sender.
                        self.counters.ignored += 1;
                        MessageAcceptance::Ignore
                    }
                    Some(a) => {
                        if !self.accept.is_empty() && !self.accept.contains(&a.model_hash) {
                            self.counters.ignored += 1;
                        } else if self.remember(a) {
                            self.counters.accepted += 1;
                            let publisher = message.source.unwrap_or(from);
                            let routed = self.swarm.behaviour().keep.is_kept(&publisher);
                            self.emit(Event::Announcement {
                                from: publisher.to_string(),
                                announcement: a,
                                routed,
                            });
                        }
                        MessageAcceptance::Accept
                    }
                    None => MessageAcceptance::Accept,
                }
            }
            Err(why) => {
                self.counters.rejected += 1;
                tracing::debug!(peer = %from, "rejected a gossip message: {why}");
                if let Some(reason) = self.book.invalid(from, &why) {
                    self.ban(from, reason);
                }
                MessageAcceptance::Reject
            }
        };
        self.swarm
            .behaviour_mut()
            .gossipsub
            .report_message_validation_result(id, &from, acceptance);
    }

    fn on_query(&mut self, id: kad::QueryId, result: kad::QueryResult) {
        match result {
            kad::QueryResult::GetRecord(r) => {
                let Some(answer) = self.gets.remove(&id) else { return };
                let value = match r {
                    Ok(kad::GetRecordOk::FoundRecord(found)) => Some(found.record.value),
                    _ => None,
                };
                let _ = answer.send(Ok(Reply::Record(value)));
                if let Some(mut q) = self.swarm.behaviour_mut().kad.query_mut(&id) {
                    q.finish();
                }
            }
            kad::QueryResult::PutRecord(r) => {
                let Some(answer) = self.puts.remove(&id) else { return };
                let _ = answer.send(match r {
                    Ok(_) => Ok(Reply::Done(())),
                    Err(kad::PutRecordError::QuorumFailed { .. }) => Err(ErrorReply::new(
                        ErrorKind::NotFound,
                        "stored on this node only: no peer took the record (is the node connected?)",
                    )),
                    Err(e) => Err(internal(format!("the DHT did not store the record: {e}"))),
                });
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_bare_onion_address_is_advertised() {
        let onion = "/onion3/vww6ybal4bd7szmgncyruucpgfkqahzddi37ktceo3ah7ngmcopnpyyd:4001".to_string();
        assert_eq!(onion_addresses(std::slice::from_ref(&onion)).unwrap().len(), 1);
        for leak in [
            "/ip4/203.0.113.9/tcp/4001",
            "/unix/%2Fhome%2Falice%2F.oarn%2Fipfs%2Finbound.sock",
            "/dns4/node.example/tcp/4001",
        ] {
            let err = onion_addresses(&[onion.clone(), leak.into()]).unwrap_err();
            assert!(err.contains("only an /onion3 address"), "{leak}: {err}");
        }
        assert!(onion_addresses(&["not a multiaddr".into()]).is_err());
    }
}
