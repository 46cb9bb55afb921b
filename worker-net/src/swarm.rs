//! Builds the swarm: QUIC preferred, TCP + Noise + Yamux as the fallback, DNS names resolved,
//! circuits through relays, every direct connection metered ([`crate::meter`]), the node's
//! [`Behaviour`], and its listeners. Must run inside a tokio runtime.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use libp2p::core::muxing::StreamMuxerBox;
use libp2p::core::transport::{Boxed, Transport as _};
use libp2p::core::upgrade::Version;
use libp2p::identity::Keypair;
use libp2p::{Multiaddr, PeerId, Swarm, dns, noise, quic, relay, tcp, yamux};

use crate::behaviour::{Behaviour, Options};
use crate::meter::Meter;

/// Connections with no protocol open are closed after this long.
const IDLE_TIMEOUT: Duration = Duration::from_secs(120);

/// Why the swarm could not start.
#[derive(Debug, thiserror::Error)]
pub enum SwarmError {
    /// The transports could not be built.
    #[error("cannot build the transports: {0}")]
    Transport(String),
    /// The protocols could not be built.
    #[error("cannot build the protocols: {0}")]
    Behaviour(String),
    /// A listen address is not a multiaddr.
    #[error("listen address {0:?} is not a multiaddr: {1}")]
    BadListen(String, String),
    /// A listen address could not be bound.
    #[error("cannot listen on {0}: {1}")]
    Listen(String, String),
}

/// The resolver configuration `/dns` multiaddrs need (the sandbox lets the worker read it).
const RESOLV_CONF: &str = "/etc/resolv.conf";

/// A swarm with the node's identity and protocols, not yet listening, its streams counted and
/// limited by `meter`. It resolves `/dns`, `/dns4` and `/dns6` multiaddrs (as OARNRegistry may
/// list them) with the system's resolver.
pub fn build(
    key: Keypair,
    options: Options,
    meter: Meter,
    shape: crate::shape::Config,
) -> Result<Swarm<Behaviour>, SwarmError> {
    let peer_id = key.public().to_peer_id();
    let (relay_transport, relay_client) = relay::client::new(peer_id);
    let transport = transports(&key, relay_transport, meter, shape)?;
    let behaviour = Behaviour::new(&key, relay_client, options).map_err(|e| SwarmError::Behaviour(e.to_string()))?;
    let config = libp2p::swarm::Config::with_tokio_executor().with_idle_connection_timeout(IDLE_TIMEOUT);
    Ok(Swarm::new(transport, behaviour, peer_id, config))
}

/// Privacy mode: the anonymity worker's socket, and where it hands over inbound streams.
#[derive(Debug)]
struct Private {
    socket: PathBuf,
    inbound: PathBuf,
}

/// Set once at start, in privacy mode only.
static PRIVATE: OnceLock<Private> = OnceLock::new();

/// Makes every swarm of this process dial only through the anonymity worker at `socket`
/// ([`crate::tor`]), with no TCP, QUIC or resolver of its own, and listen only on `inbound`.
pub fn route_through(socket: PathBuf, inbound: PathBuf) {
    let _ = PRIVATE.set(Private { socket, inbound });
}

/// True in privacy mode.
pub fn private() -> bool {
    PRIVATE.get().is_some()
}

/// TCP + Noise + Yamux, QUIC, DNS names where the resolver is readable, and circuits through
/// relays; in privacy mode, Noise + Yamux over streams through the anonymity worker instead
/// of TCP, QUIC and DNS, onion links shaped by `shape`. Direct connections are metered; a
/// relayed one is not, because the connection to the relay that carries it already is.
fn transports(
    key: &Keypair,
    relay_transport: relay::client::Transport,
    meter: Meter,
    shape: crate::shape::Config,
) -> Result<Boxed<(PeerId, StreamMuxerBox)>, SwarmError> {
    let noise = || noise::Config::new(key).map_err(|e| SwarmError::Transport(e.to_string()));
    let relayed = relay_transport
        .upgrade(Version::V1Lazy)
        .authenticate(noise()?)
        .multiplex(yamux::Config::default())
        .map(|(peer, muxer), _| (peer, StreamMuxerBox::new(muxer)));
    if let Some(p) = PRIVATE.get() {
        let tor = crate::tor::Transport::new(p.socket.clone(), shape)
            .upgrade(Version::V1Lazy)
            .authenticate(noise()?)
            .multiplex(yamux::Config::default())
            .map(move |(peer, muxer), _| (peer, meter.wrap(StreamMuxerBox::new(muxer))));
        // The relay client's transport stays: its behaviour must never outlive it, and a
        // circuit through a relay reached over Tor is still reached over Tor.
        return Ok(relayed.or_transport(tor).map(|either, _| either.into_inner()).boxed());
    }
    let tcp = tcp::tokio::Transport::new(tcp::Config::default().nodelay(true))
        .upgrade(Version::V1Lazy)
        .authenticate(noise()?)
        .multiplex(yamux::Config::default())
        .map(|(peer, muxer), _| (peer, StreamMuxerBox::new(muxer)));
    let quic =
        quic::tokio::Transport::new(quic::Config::new(key)).map(|(peer, muxer), _| (peer, StreamMuxerBox::new(muxer)));
    let direct = tcp.or_transport(quic).map(|either, _| either.into_inner());
    let direct = if std::fs::File::open(RESOLV_CONF).is_ok() {
        dns::tokio::Transport::system(direct)
            .map_err(|e| SwarmError::Transport(format!("the resolver ({RESOLV_CONF}): {e}")))?
            .boxed()
    } else {
        tracing::warn!("cannot read {RESOLV_CONF}: peers named by /dns addresses cannot be dialled");
        direct.boxed()
    };
    let direct = direct.map(move |(peer, muxer), _| (peer, meter.wrap(muxer)));
    Ok(relayed
        .or_transport(direct)
        .map(|either, _| either.into_inner())
        .boxed())
}

/// Starts listening on every address in `listen`; in privacy mode, only on the Unix socket the
/// anonymity worker forwards the onion service's streams to.
pub fn listen(swarm: &mut Swarm<Behaviour>, listen: &[String]) -> Result<(), SwarmError> {
    if let Some(Private { inbound, .. }) = PRIVATE.get() {
        let addr = Multiaddr::empty().with(libp2p::multiaddr::Protocol::Unix(inbound.display().to_string().into()));
        swarm
            .listen_on(addr)
            .map_err(|e| SwarmError::Listen(inbound.display().to_string(), e.to_string()))?;
        return Ok(());
    }
    for text in listen {
        let addr: Multiaddr = text
            .parse()
            .map_err(|e: libp2p::multiaddr::Error| SwarmError::BadListen(text.clone(), e.to_string()))?;
        swarm
            .listen_on(addr)
            .map_err(|e| SwarmError::Listen(text.clone(), e.to_string()))?;
    }
    Ok(())
}

/// Reserves a slot on each relay (a multiaddr ending `/p2p/<relay id>`) and listens through
/// it, so peers that cannot reach this node directly dial `<relay>/p2p-circuit/p2p/<us>`.
pub fn listen_via_relays(swarm: &mut Swarm<Behaviour>, relays: &[String]) -> Result<(), SwarmError> {
    for text in relays {
        let bad = |why: String| SwarmError::BadListen(text.clone(), why);
        let addr: Multiaddr = text.parse().map_err(|e: libp2p::multiaddr::Error| bad(e.to_string()))?;
        let Some(libp2p::multiaddr::Protocol::P2p(relay)) = addr.iter().last() else {
            return Err(bad("a relay's address must end with /p2p/<its peer id>".into()));
        };
        swarm.behaviour_mut().kad.add_address(&relay, addr.clone());
        swarm
            .listen_on(addr.with(libp2p::multiaddr::Protocol::P2pCircuit))
            .map_err(|e| SwarmError::Listen(text.clone(), e.to_string()))?;
    }
    Ok(())
}
