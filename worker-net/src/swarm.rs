//! Builds the swarm: QUIC preferred, TCP + Noise + Yamux as the fallback, DNS names resolved,
//! the node's [`Behaviour`], and its listeners. Must run inside a tokio runtime.

use std::time::Duration;

use libp2p::identity::Keypair;
use libp2p::{Multiaddr, Swarm, noise, tcp, yamux};

use crate::behaviour::{Behaviour, Options};

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

/// A swarm with the node's identity and protocols, not yet listening. It resolves `/dns`,
/// `/dns4` and `/dns6` multiaddrs (as OARNRegistry may list them) with the system's resolver.
pub fn build(key: Keypair, options: Options) -> Result<Swarm<Behaviour>, SwarmError> {
    let base = libp2p::SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| SwarmError::Transport(e.to_string()))?
        .with_quic();
    let behaviour = |key: &Keypair, relay| Behaviour::new(key, relay, options).map_err(Box::from);
    let bad = |e: libp2p::BehaviourBuilderError| SwarmError::Behaviour(e.to_string());
    if std::fs::File::open(RESOLV_CONF).is_err() {
        tracing::warn!("cannot read {RESOLV_CONF}: peers named by /dns addresses cannot be dialled");
        return Ok(base
            .with_relay_client(noise::Config::new, yamux::Config::default)
            .map_err(|e| SwarmError::Transport(e.to_string()))?
            .with_behaviour(behaviour)
            .map_err(bad)?
            .with_swarm_config(|c| c.with_idle_connection_timeout(IDLE_TIMEOUT))
            .build());
    }
    Ok(base
        .with_dns()
        .map_err(|e| SwarmError::Transport(format!("the resolver ({RESOLV_CONF}): {e}")))?
        .with_relay_client(noise::Config::new, yamux::Config::default)
        .map_err(|e| SwarmError::Transport(e.to_string()))?
        .with_behaviour(behaviour)
        .map_err(bad)?
        .with_swarm_config(|c| c.with_idle_connection_timeout(IDLE_TIMEOUT))
        .build())
}

/// Starts listening on every address in `listen`.
pub fn listen(swarm: &mut Swarm<Behaviour>, listen: &[String]) -> Result<(), SwarmError> {
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
