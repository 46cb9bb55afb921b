//! Kept connections: the node holds its connections to chosen peers (the validators of
//! validator-routed mode) open even when no protocol is using them, where the swarm would
//! close them after its idle timeout, and dials such a peer again, with backoff, whenever its
//! last connection drops or a dial fails. It speaks no protocol of its own.

use std::collections::HashMap;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::Future;
use libp2p::PeerId;
use libp2p::core::transport::PortUse;
use libp2p::core::upgrade::DeniedUpgrade;
use libp2p::core::{Endpoint, Multiaddr};
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::handler::{ConnectionEvent, FullyNegotiatedInbound, FullyNegotiatedOutbound};
use libp2p::swarm::{
    ConnectionDenied, ConnectionHandlerEvent, ConnectionId, FromSwarm, NetworkBehaviour, SubstreamProtocol, THandler,
    THandlerInEvent, THandlerOutEvent, ToSwarm,
};

/// First pause before dialling a kept peer again.
const FIRST_RETRY: Duration = Duration::from_secs(1);
/// Longest pause between dials (the backoff doubles up to it).
const LAST_RETRY: Duration = Duration::from_secs(60);

#[derive(Debug)]
struct Kept {
    addr: Multiaddr,
    connections: u32,
    backoff: Duration,
    /// When to dial next; `None` while connected or dialling.
    due: Option<Instant>,
}

impl Kept {
    fn retry_later(&mut self) {
        if self.connections == 0 {
            self.due = Some(Instant::now() + self.backoff);
            self.backoff = (self.backoff * 2).min(LAST_RETRY);
        }
    }
}

/// The kept peers and the timer of the next dial.
#[derive(Default)]
pub struct Behaviour {
    kept: HashMap<PeerId, Kept>,
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl std::fmt::Debug for Behaviour {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("keep::Behaviour").field("kept", &self.kept).finish()
    }
}

impl Behaviour {
    /// Keeps `peer`, reached at `addr`, connected from now on (dialled at once).
    pub fn keep(&mut self, peer: PeerId, addr: Multiaddr) {
        self.kept.insert(
            peer,
            Kept {
                addr,
                connections: 0,
                backoff: FIRST_RETRY,
                due: Some(Instant::now()),
            },
        );
    }

    /// Whether `peer` is kept.
    pub fn is_kept(&self, peer: &PeerId) -> bool {
        self.kept.contains_key(peer)
    }

    /// The kept peers.
    pub fn peers(&self) -> impl Iterator<Item = &PeerId> {
        self.kept.keys()
    }

    fn handler(&self, peer: &PeerId) -> Handler {
        Handler {
            keep_alive: self.kept.contains_key(peer),
        }
    }
}

impl NetworkBehaviour for Behaviour {
    type ConnectionHandler = Handler;
    type ToSwarm = Infallible;

    fn handle_established_inbound_connection(
        &mut self,
        _: ConnectionId,
        peer: PeerId,
        _: &Multiaddr,
        _: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(self.handler(&peer))
    }

    fn handle_established_outbound_connection(
        &mut self,
        _: ConnectionId,
        peer: PeerId,
        _: &Multiaddr,
        _: Endpoint,
        _: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(self.handler(&peer))
    }

    fn on_connection_handler_event(&mut self, _: PeerId, _: ConnectionId, event: THandlerOutEvent<Self>) {
        match event {}
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        match event {
            FromSwarm::ConnectionEstablished(e) => {
                if let Some(k) = self.kept.get_mut(&e.peer_id) {
                    k.connections += 1;
                    k.backoff = FIRST_RETRY;
                    k.due = None;
                }
            }
            FromSwarm::ConnectionClosed(e) => {
                if let Some(k) = self.kept.get_mut(&e.peer_id) {
                    k.connections = k.connections.saturating_sub(1);
                    if e.remaining_established == 0 {
                        k.connections = 0;
                        tracing::info!(peer = %e.peer_id, "kept peer disconnected; dialling it again");
                        k.retry_later();
                    }
                }
            }
            FromSwarm::DialFailure(e) => {
                if let Some(k) = e.peer_id.and_then(|p| self.kept.get_mut(&p)) {
                    k.retry_later();
                }
            }
            _ => {}
        }
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<ToSwarm<Infallible, THandlerInEvent<Self>>> {
        let now = Instant::now();
        if let Some((peer, k)) = self.kept.iter_mut().find(|(_, k)| k.due.is_some_and(|d| d <= now)) {
            k.due = None;
            let opts = DialOpts::peer_id(*peer)
                .addresses(vec![k.addr.clone()])
                .condition(PeerCondition::DisconnectedAndNotDialing)
                .build();
            return Poll::Ready(ToSwarm::Dial { opts });
        }
        let Some(next) = self.kept.values().filter_map(|k| k.due).min() else {
            self.timer = None;
            return Poll::Pending;
        };
        let deadline = tokio::time::Instant::from_std(next);
        match &mut self.timer {
            Some(t) if t.deadline() == deadline => {}
            _ => self.timer = Some(Box::pin(tokio::time::sleep_until(deadline))),
        }
        if let Some(t) = &mut self.timer
            && t.as_mut().poll(cx).is_ready()
        {
            self.timer = None;
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    }
}

/// A connection's handler: no protocol, only whether the connection is kept alive.
#[derive(Debug, Clone)]
pub struct Handler {
    keep_alive: bool,
}

impl libp2p::swarm::ConnectionHandler for Handler {
    type FromBehaviour = Infallible;
    type ToBehaviour = Infallible;
    type InboundProtocol = DeniedUpgrade;
    type OutboundProtocol = DeniedUpgrade;
    type InboundOpenInfo = ();
    type OutboundOpenInfo = ();

    fn listen_protocol(&self) -> SubstreamProtocol<DeniedUpgrade> {
        SubstreamProtocol::new(DeniedUpgrade, ())
    }

    fn connection_keep_alive(&self) -> bool {
        self.keep_alive
    }

    fn on_behaviour_event(&mut self, event: Infallible) {
        match event {}
    }

    fn poll(&mut self, _: &mut Context<'_>) -> Poll<ConnectionHandlerEvent<DeniedUpgrade, (), Infallible>> {
        Poll::Pending
    }

    fn on_connection_event(&mut self, event: ConnectionEvent<DeniedUpgrade, DeniedUpgrade>) {
        match event {
            ConnectionEvent::FullyNegotiatedInbound(FullyNegotiatedInbound { protocol, .. }) => match protocol {},
            ConnectionEvent::FullyNegotiatedOutbound(FullyNegotiatedOutbound { protocol, .. }) => match protocol {},
            _ => {}
        }
    }
}
