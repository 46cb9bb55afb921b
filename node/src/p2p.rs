//! The node's peer-to-peer side as the supervisor sees it: starts the network worker's swarm
//! from the configuration (listen addresses, limits) and discovery (bootstrap peers), starts
//! it again whenever the worker was restarted, hands it newly discovered peers, and keeps what
//! it reports (peer id, listen addresses, peers, recent task announcements) for `oarn status`,
//! `oarn net` and the API. What the worker reports was validated there; here it is only kept.

use std::collections::{BTreeSet, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use oarn_api::Hash32;
use oarn_api::node::NetworkState;
use oarn_config::{Config, DiscoveryMethod};
use oarn_protocol::anon;
use oarn_protocol::net::{self, Announcement, Bootstrap, Event, Settings};
use oarn_supervise::Handle;
use tokio::sync::{mpsc, watch};

use crate::discovery::State as Discovery;

/// Announcements kept for `oarn net tasks`, newest last.
pub const RECENT: usize = 256;
/// Events buffered between the worker and this task.
const EVENT_BUFFER: usize = 1024;
/// Pause before starting the swarm again after it ended, so a swarm that cannot start (its
/// port taken) is not restarted in a tight loop.
const RESTART_PAUSE: Duration = Duration::from_secs(1);

/// An announcement as heard.
#[derive(Debug, Clone)]
pub struct Heard {
    pub from: String,
    pub announcement: Announcement,
    /// Published by a validator of validator-routed mode.
    pub routed: bool,
    /// Unix seconds.
    pub at: u64,
}

/// A result a peer told this node of (`/oarn/result/1.0.0`).
#[derive(Debug, Clone)]
pub struct Told {
    pub from: String,
    pub task_id: u64,
    pub result_hash: [u8; 32],
    pub cid: String,
    /// Unix seconds.
    pub at: u64,
}

/// What the swarm last reported.
#[derive(Debug, Default)]
pub struct View {
    pub peer_id: Option<String>,
    pub listen: Vec<String>,
    /// Where the Kubo-compatible IPFS API listens.
    pub ipfs_api: Option<String>,
    pub connected: BTreeSet<String>,
    pub recent: VecDeque<Heard>,
    /// Results peers told this node of, newest last.
    pub results: VecDeque<Told>,
    /// Why the swarm is not running, when it is not.
    pub error: Option<String>,
}

/// Shared between the driver and the API.
pub type Shared = Arc<RwLock<View>>;

/// The listen multiaddrs for `config`: TCP always, QUIC when enabled, on one address.
pub fn listen_addrs(config: &Config) -> Vec<String> {
    let n = &config.network;
    let ip = match n.listen_address {
        IpAddr::V4(a) => format!("/ip4/{a}"),
        IpAddr::V6(a) => format!("/ip6/{a}"),
    };
    let mut out = vec![format!("{ip}/tcp/{}", n.listen_port)];
    if n.quic {
        out.push(format!("{ip}/udp/{}/quic-v1", n.listen_port));
    }
    out
}

/// The swarm settings for `config`, with the bootstrap peers known so far. In privacy mode the
/// worker has no network of its own: it listens on nothing, serves no local API and
/// announces nothing on the LAN (mDNS), and what it dials fails until it dials through Tor.
pub fn settings(config: &Config, bootstrap: Vec<Bootstrap>) -> Settings {
    let private = config.privacy.mode.anonymous();
    Settings {
        listen: if private { Vec::new() } else { listen_addrs(config) },
        bootstrap,
        max_peers: config.network.max_peers,
        max_per_ip: config.network.max_peers_per_ip,
        padding: config.privacy.padding_enabled,
        // Every announcement reaches the task pipeline: a task's modelHash is usually its
        // model manifest's sha256, which no installed file's digest matches; the pipeline
        // reads the manifest (in this worker) and applies compute.accepted_models to its
        // name, keeping the reason for each task it skips.
        accept_models: Vec::new(),
        ipfs_cache_bytes: config.storage.ipfs_cache_limit().unwrap_or(0),
        ipfs_api: if private {
            String::new()
        } else {
            config.storage.ipfs_api_listen.clone()
        },
        kubo_api: config.storage.ipfs_api.clone(),
        gateways: config.storage.gateways.clone(),
        mdns: config.network.mdns && !private,
        relay_service: config.network.relay_service && !private,
        relays: if private {
            Vec::new()
        } else {
            config.network.relays.clone()
        },
        upload_limit: kib(config.network.max_upload_kib_s),
        download_limit: kib(config.network.max_download_kib_s),
        validators: Vec::new(),
        shape: net::Shape {
            min_delay_ms: config.privacy.min_delay_ms,
            max_delay_ms: config.privacy.max_delay_ms,
            cover_hz: if config.privacy.decoy_traffic {
                config.privacy.decoy_rate_hz
            } else {
                0
            },
        },
    }
}

/// How often the anonymity worker is asked for the onion address until it has one.
const ONION_ASK_EVERY: Duration = Duration::from_secs(5);

/// Tells the swarm the onion address `anon` serves; true once the swarm took it. The address
/// is passed on as the anonymity worker wrote it: the net worker parses it (and takes only
/// `/onion3`).
async fn advertise_onion(net: &Handle<net::Protocol>, anon: &Handle<anon::Protocol>) -> bool {
    let Ok(Ok(status)) = tokio::time::timeout(ONION_ASK_EVERY, anon.call(anon::GetStatus)).await else {
        return false;
    };
    let Some(onion) = status.onion else { return false };
    match net.call(net::Reachable(vec![onion])).await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!("cannot advertise the onion service: {e}");
            // An address refused will not change by asking again; a swarm not yet running will.
            e.kind() == Some(oarn_protocol::envelope::ErrorKind::InvalidRequest)
        }
    }
}

/// KiB per second as bytes per second.
fn kib(n: u64) -> u64 {
    n.saturating_mul(1024)
}

/// The live limits of `network`, as the worker takes them.
fn limits(network: &oarn_config::Network) -> net::Limits {
    net::Limits {
        max_peers: network.max_peers,
        max_per_ip: network.max_peers_per_ip,
        upload_limit: kib(network.max_upload_kib_s),
        download_limit: kib(network.max_download_kib_s),
    }
}

/// Validators of validator-routed mode: the configured ones, then those discovery found.
pub fn validators(config: &Config, found: &Discovery) -> Vec<Bootstrap> {
    let discovered = match found {
        Discovery::Found(n) => n.validators.as_slice(),
        _ => &[],
    };
    let mut out: Vec<Bootstrap> = Vec::new();
    for m in config.network.validators.iter().chain(discovered) {
        if !out.iter().any(|b| b.multiaddr == *m) {
            out.push(Bootstrap {
                peer_id: String::new(),
                multiaddr: m.clone(),
            });
        }
    }
    out
}

/// Bootstrap peers from the configuration (manual discovery) or from what discovery found.
pub fn bootstrap(config: &Config, found: &Discovery) -> Vec<Bootstrap> {
    let mut out: Vec<Bootstrap> = Vec::new();
    if config.network.discovery.discovery_method == DiscoveryMethod::Manual {
        out.extend(config.network.discovery.bootstrap_peers.iter().map(|m| Bootstrap {
            peer_id: String::new(),
            multiaddr: m.clone(),
        }));
    }
    if let Discovery::Found(n) = found {
        out.extend(n.bootstrap.iter().map(|(peer_id, multiaddr)| Bootstrap {
            peer_id: peer_id.clone(),
            multiaddr: multiaddr.clone(),
        }));
    }
    out
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn set(shared: &Shared, f: impl FnOnce(&mut View)) {
    f(&mut shared.write().unwrap_or_else(|e| e.into_inner()));
}

fn apply(shared: &Shared, event: Event) {
    set(shared, |v| match event {
        Event::Progress(_) => {}
        Event::Started { peer_id } => {
            v.peer_id = Some(peer_id);
            v.listen.clear();
            v.connected.clear();
            v.error = None;
        }
        Event::Listening(a) => v.listen.push(a),
        Event::Api(a) => v.ipfs_api = Some(a),
        Event::Connected(p) => {
            v.connected.insert(p);
        }
        Event::Disconnected(p) => {
            v.connected.remove(&p);
        }
        Event::Announcement {
            from,
            announcement,
            routed,
        } => {
            tracing::info!(task = announcement.id, %from, routed, "task announced");
            v.recent.push_back(Heard {
                from,
                announcement,
                routed,
                at: unix_now(),
            });
            while v.recent.len() > RECENT {
                // Validators' tasks have priority: the others make room first.
                let oldest = v.recent.iter().position(|h| !h.routed).unwrap_or(0);
                v.recent.remove(oldest);
            }
        }
        Event::Result {
            from,
            task_id,
            result_hash,
            cid,
        } => {
            tracing::info!(task = task_id, %from, %cid, "result notice");
            v.results.push_back(Told {
                from,
                task_id,
                result_hash,
                cid,
                at: unix_now(),
            });
            while v.results.len() > RECENT {
                v.results.pop_front();
            }
        }
        Event::Banned { peer_id, reason } => {
            tracing::warn!(peer = %peer_id, "peer banned: {reason}");
        }
    });
}

/// Runs the swarm for as long as the node runs (the daemon aborts it at shutdown): starts it
/// whenever the worker (re)starts, applies live limits when the configuration changes, hands
/// the swarm what discovery finds when it finds it, and in privacy mode tells it the onion
/// address the anonymity worker (`anon`) serves, once it has one.
pub async fn drive(
    net: Handle<net::Protocol>,
    anon: Option<Handle<anon::Protocol>>,
    mut config: watch::Receiver<Config>,
    mut found: watch::Receiver<Discovery>,
    shared: Shared,
    offers: Option<crate::tasks::pipeline::Handle>,
) {
    let mut records = crate::records::Records::default();
    loop {
        if !net.running().await {
            return;
        }
        let config_now = config.borrow_and_update().clone();
        let found_now = found.borrow_and_update().clone();
        let mut known = bootstrap(&config_now, &found_now);
        let mut kept = validators(&config_now, &found_now);
        let settings = Settings {
            validators: kept.clone(),
            ..settings(&config_now, known.clone())
        };
        let (tx, mut events) = mpsc::channel(EVENT_BUFFER);
        let run = net.stream(net::Run(settings), tx);
        tokio::pin!(run);
        let mut applied = limits(&config_now.network);
        // The DHT's bootstrap record is read again now and then while discovery has nothing.
        let mut lookups = tokio::time::interval(crate::records::LOOKUP_EVERY);
        // Privacy mode: asked until the swarm advertises the node's onion service.
        let mut onion = tokio::time::interval(ONION_ASK_EVERY);
        let mut advertised = anon.is_none();
        let ended = loop {
            tokio::select! {
                ended = &mut run => break ended,
                _ = onion.tick(), if !advertised => {
                    if let Some(anon) = &anon {
                        advertised = advertise_onion(&net, anon).await;
                    }
                }
                Some(event) = events.recv() => {
                    let first_peer = matches!(event, Event::Connected(_));
                    if let (Some(o), Event::Announcement { announcement: a, routed, .. }) = (&offers, &event) {
                        o.offer(offer(a, *routed));
                    }
                    apply(&shared, event);
                    if first_peer {
                        records.tick(&net, &found.borrow(), true);
                    }
                }
                Ok(()) = config.changed() => {
                    let live = config.borrow_and_update().network.clone();
                    let now = limits(&live);
                    if now != applied {
                        applied = now;
                        match net.call(now).await {
                            Ok(()) => tracing::info!(
                                max_peers = live.max_peers,
                                max_per_ip = live.max_peers_per_ip,
                                max_upload_kib_s = live.max_upload_kib_s,
                                max_download_kib_s = live.max_download_kib_s,
                                "connection and rate limits applied"
                            ),
                            Err(e) => tracing::warn!("cannot apply the new connection and rate limits: {e}"),
                        }
                    }
                }
                Ok(()) = found.changed() => {
                    let found_now = found.borrow_and_update().clone();
                    let connected = !shared.read().unwrap_or_else(|e| e.into_inner()).connected.is_empty();
                    records.tick(&net, &found_now, connected);
                    let new: Vec<Bootstrap> =
                        bootstrap(&config_now, &found_now).into_iter().filter(|b| !known.contains(b)).collect();
                    if !new.is_empty() {
                        known.extend(new.iter().cloned());
                        if let Err(e) = net.call(net::Dial(new)).await {
                            tracing::warn!("cannot dial the discovered bootstrap peers: {e}");
                        }
                    }
                    let new: Vec<Bootstrap> =
                        validators(&config_now, &found_now).into_iter().filter(|b| !kept.contains(b)).collect();
                    if !new.is_empty() {
                        kept.extend(new.iter().cloned());
                        if let Err(e) = net.call(net::Validators(new)).await {
                            tracing::warn!("cannot keep the discovered validators: {e}");
                        }
                    }
                }
                _ = lookups.tick() => {
                    let connected = !shared.read().unwrap_or_else(|e| e.into_inner()).connected.is_empty();
                    records.tick(&net, &found.borrow(), connected);
                }
            }
        };
        while let Ok(event) = events.try_recv() {
            apply(&shared, event);
        }
        let why = match ended {
            Ok(()) => "the swarm stopped".to_string(),
            Err(e) => e.to_string(),
        };
        tracing::warn!("peer-to-peer swarm not running: {why}");
        set(&shared, |v| {
            v.error = Some(why);
            v.connected.clear();
            v.listen.clear();
            v.ipfs_api = None;
        });
        tokio::time::sleep(RESTART_PAUSE).await;
    }
}

/// An announcement as an offer to the task pipeline.
fn offer(a: &Announcement, routed: bool) -> oarn_tasks::Offer {
    oarn_tasks::Offer {
        id: a.id,
        model_hash: a.model_hash,
        input_hash: a.input_hash,
        reward_wei: u128::from(a.reward),
        required_nodes: u64::from(a.required_nodes),
        deadline: a.deadline,
        source: if routed {
            oarn_tasks::Source::Routed
        } else {
            oarn_tasks::Source::Gossip
        },
    }
}

/// An announcement as the API shows it, in the live format's field names.
pub fn heard(h: &Heard) -> oarn_api::net::Heard {
    let a = &h.announcement;
    oarn_api::net::Heard {
        id: a.id,
        model_hash: Hash32(a.model_hash),
        input_hash: Hash32(a.input_hash),
        reward: a.reward,
        required_nodes: a.required_nodes,
        deadline: a.deadline,
        from: h.from.clone(),
        routed: h.routed,
        heard_at: h.at,
    }
}

/// The `network` part of `oarn status`.
pub fn state(view: &View) -> NetworkState {
    NetworkState {
        connected: !view.connected.is_empty(),
        peer_id: view.peer_id.clone(),
        listen: view.listen.clone(),
        ipfs_api: view.ipfs_api.clone(),
        peers: view.connected.len() as u64,
        announcements: view.recent.len() as u64,
        error: view.error.clone(),
    }
}
