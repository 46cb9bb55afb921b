//! The protocols the node speaks with its peers, as the live network's first Rust node does:
//! gossipsub (signed messages, strict validation, peer scoring), Kademlia, identify
//! (`/oarn/id/1.0.0`) and ping, plus IPFS's Bitswap and our claim negotiation
//! (`/oarn/claim/1.0.0`), the fast path for results to validators (`/oarn/result/1.0.0`)
//! and kept connections to them, NAT traversal (AutoNAT, circuit relay v2 client and, when
//! configured, relay service, DCUtR hole punching) and, when configured, mDNS, behind
//! connection limits and a block list for banned peers.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use libp2p::identity::Keypair;
use libp2p::swarm::NetworkBehaviour;
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::{
    StreamProtocol, allow_block_list, autonat, connection_limits, dcutr, gossipsub, identify, kad, mdns, ping, relay,
    request_response,
};

/// Task announcements.
pub const TASKS_TOPIC: &str = "oarn/tasks/v1";
/// Network coordination.
pub const NETWORK_TOPIC: &str = "oarn/network/v1";
/// The identify protocol version of the live network.
pub const IDENTIFY_PROTOCOL: &str = "/oarn/id/1.0.0";
/// Largest gossip message on any topic.
pub const MAX_MESSAGE: usize = 64 * 1024;
/// Longest a peer may take to answer a claim query.
pub const CLAIM_TIMEOUT: Duration = Duration::from_secs(3);
/// Longest a validator may take to acknowledge a result.
pub const RESULT_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest a DHT query may run.
pub const DHT_QUERY_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the behaviour could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A gossipsub parameter was refused (a bug here, not an operator error).
    #[error("gossipsub: {0}")]
    Gossipsub(String),
    /// mDNS could not start (its socket or the interface list).
    #[error("mDNS: {0}")]
    Mdns(String),
}

/// Everything the swarm runs.
#[derive(NetworkBehaviour)]
pub struct Behaviour {
    pub limits: connection_limits::Behaviour,
    pub blocked: allow_block_list::Behaviour<allow_block_list::BlockedPeers>,
    pub identify: identify::Behaviour,
    pub ping: ping::Behaviour,
    pub kad: kad::Behaviour<kad::store::MemoryStore>,
    pub gossipsub: gossipsub::Behaviour,
    pub bitswap: libp2p_stream::Behaviour,
    pub claims: crate::claims::Behaviour,
    /// The fast path for results to validators.
    pub results: crate::results::Behaviour,
    /// Connections to the validators, held open and redialled.
    pub keep: crate::keep::Behaviour,
    /// mDNS, when `network.mdns` is on.
    pub mdns: Toggle<mdns::tokio::Behaviour>,
    /// Circuit relay v2, client side: reachable through a relay when behind NAT.
    pub relay_client: relay::client::Behaviour,
    /// Circuit relay v2, relay side, when `network.relay_service` is on.
    pub relay: Toggle<relay::Behaviour>,
    /// Hole punching: a relayed connection upgraded to a direct one where the NATs allow.
    pub dcutr: dcutr::Behaviour,
    /// Whether this node is reachable from outside, as peers see it.
    pub autonat: autonat::Behaviour,
}

/// What the behaviour is built with.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub max_peers: u32,
    pub mdns: bool,
    pub relay_service: bool,
    /// Privacy mode: identify tells peers no listen address (the only one is a local socket
    /// path); peers learn the node's onion address, never an IP address or a path.
    pub private: bool,
}

impl std::fmt::Debug for Behaviour {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Behaviour")
    }
}

impl Behaviour {
    /// Builds the behaviour for `key` with `relay_client` (from the swarm builder).
    pub fn new(key: &Keypair, relay_client: relay::client::Behaviour, o: Options) -> Result<Self, BuildError> {
        let Options {
            max_peers,
            mdns,
            relay_service,
            private,
        } = o;
        let peer_id = key.public().to_peer_id();

        let identify = identify::Behaviour::new(
            identify::Config::new(IDENTIFY_PROTOCOL.into(), key.public())
                .with_agent_version(format!("oarn/{}", env!("CARGO_PKG_VERSION")))
                .with_hide_listen_addrs(private),
        );

        let mut kad_config = kad::Config::new(StreamProtocol::new("/ipfs/kad/1.0.0"));
        kad_config.set_query_timeout(DHT_QUERY_TIMEOUT);
        let mut kad = kad::Behaviour::with_config(peer_id, kad::store::MemoryStore::new(peer_id), kad_config);
        // Every node serves the DHT: records like `/oarn/bootstrap` live on the nodes themselves.
        kad.set_mode(Some(kad::Mode::Server));

        let gossip_config = gossipsub::ConfigBuilder::default()
            .validation_mode(gossipsub::ValidationMode::Strict)
            .validate_messages()
            .max_transmit_size(MAX_MESSAGE)
            .heartbeat_interval(Duration::from_millis(700))
            .build()
            .map_err(|e| BuildError::Gossipsub(e.to_string()))?;
        let mut gossipsub =
            gossipsub::Behaviour::new(gossipsub::MessageAuthenticity::Signed(key.clone()), gossip_config)
                .map_err(|e| BuildError::Gossipsub(e.into()))?;
        gossipsub
            .with_peer_score(score_params(), gossipsub::PeerScoreThresholds::default())
            .map_err(BuildError::Gossipsub)?;
        for topic in [TASKS_TOPIC, NETWORK_TOPIC] {
            gossipsub
                .subscribe(&gossipsub::IdentTopic::new(topic))
                .map_err(|e| BuildError::Gossipsub(e.to_string()))?;
        }

        Ok(Self {
            limits: connection_limits::Behaviour::new(limits(max_peers)),
            blocked: allow_block_list::Behaviour::default(),
            identify,
            ping: ping::Behaviour::new(ping::Config::new().with_interval(Duration::from_secs(10))),
            kad,
            gossipsub,
            bitswap: libp2p_stream::Behaviour::new(),
            claims: crate::claims::Behaviour::new(
                [(
                    StreamProtocol::new(crate::claims::PROTOCOL),
                    request_response::ProtocolSupport::Full,
                )],
                request_response::Config::default().with_request_timeout(CLAIM_TIMEOUT),
            ),
            results: crate::results::Behaviour::new(
                [(
                    StreamProtocol::new(crate::results::PROTOCOL),
                    request_response::ProtocolSupport::Full,
                )],
                request_response::Config::default().with_request_timeout(RESULT_TIMEOUT),
            ),
            keep: crate::keep::Behaviour::default(),
            mdns: Toggle::from(
                mdns.then(|| mdns::tokio::Behaviour::new(mdns::Config::default(), peer_id))
                    .transpose()
                    .map_err(|e| BuildError::Mdns(e.to_string()))?,
            ),
            relay_client,
            relay: Toggle::from(relay_service.then(|| {
                let mut relay = relay::Behaviour::new(peer_id, relay::Config::default());
                // Configured to serve: serve, without waiting for AutoNAT to confirm an address.
                relay.set_status(Some(relay::Status::Enable));
                relay
            })),
            dcutr: dcutr::Behaviour::new(peer_id),
            autonat: autonat::Behaviour::new(peer_id, autonat::Config::default()),
        })
    }
}

/// At most `max_peers` connections (so never more peers), two per peer, and bounded
/// handshakes in progress.
pub fn limits(max_peers: u32) -> connection_limits::ConnectionLimits {
    connection_limits::ConnectionLimits::default()
        .with_max_established(Some(max_peers))
        .with_max_established_per_peer(Some(2))
        .with_max_pending_incoming(Some(64))
        .with_max_pending_outgoing(Some(64))
}

/// Peer scoring: invalid messages cost a peer their count squared (nine put it below the
/// graylist threshold of -80, where its gossip is ignored; the peer book bans it at eight), and
/// the penalty fades over minutes, not seconds.
/// Sparse topics must not punish honest peers for silence, so mesh delivery rates are not
/// scored. Loopback is exempt from the same-IP penalty: it is this machine.
fn score_params() -> gossipsub::PeerScoreParams {
    let topic = gossipsub::TopicScoreParams {
        topic_weight: 1.0,
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        invalid_message_deliveries_weight: -1.0,
        invalid_message_deliveries_decay: 0.99,
        ..Default::default()
    };
    let mut params = gossipsub::PeerScoreParams::default();
    for name in [TASKS_TOPIC, NETWORK_TOPIC] {
        params
            .topics
            .insert(gossipsub::IdentTopic::new(name).hash(), topic.clone());
    }
    params
        .ip_colocation_factor_whitelist
        .extend([IpAddr::V4(Ipv4Addr::LOCALHOST), IpAddr::V6(Ipv6Addr::LOCALHOST)]);
    params
}
