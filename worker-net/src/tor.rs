//! The swarm's only transport in privacy mode: each dial is a stream through the anonymity
//! worker ([`oarn_anon_dial::connect`]), to the host a `/dns*`, `/ip4` or `/ip6` address names
//! (resolved at the Tor exit, never here) or to an `/onion3` service, on circuits isolated per
//! destination. It listens only on a Unix socket (`/unix/<path>`), where the anonymity worker
//! hands over the streams peers open to the node's onion service: this worker has no network
//! of its own. Links between privacy-mode nodes (dialled `/onion3`, and every inbound one) are
//! shaped ([`crate::shaped`]): fixed-size records, random delays, optional cover traffic.

use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::FutureExt;
use futures::future::BoxFuture;
use libp2p::Multiaddr;
use libp2p::core::transport::{DialOpts, ListenerId, TransportError, TransportEvent};
use libp2p::multiaddr::Protocol;
use tokio::io::DuplexStream;
use tokio::net::UnixStream;
use tokio_util::compat::{Compat, TokioAsyncReadCompatExt};
use tokio_util::either::Either;

use crate::shape;

/// A link: a plain stream to a clearnet peer (through a Tor exit), or a shaped one to or from
/// a privacy-mode node.
pub type Link = Either<UnixStream, DuplexStream>;

/// What identify tells a peer that reached this node's onion service it sees the node at: the
/// inbound socket's path would name the operator's home directory.
const INBOUND_PEER: &str = "onion-service";

/// Streams through the anonymity worker's SOCKS socket, and from its onion service.
#[derive(Debug)]
pub struct Transport {
    socket: PathBuf,
    shape: shape::Config,
    listeners: Vec<Listener>,
}

/// A Unix socket the anonymity worker forwards inbound streams to.
#[derive(Debug)]
struct Listener {
    id: ListenerId,
    socket: tokio::net::UnixListener,
    addr: Multiaddr,
    announced: bool,
}

impl Transport {
    /// Dials through the anonymity worker at `socket`; shapes onion links with `shape`.
    pub fn new(socket: PathBuf, shape: shape::Config) -> Self {
        Self {
            socket,
            shape,
            listeners: Vec::new(),
        }
    }
}

/// The host and port `addr` dials through Tor: `/dns*|ip4|ip6/HOST/tcp/PORT` or
/// `/onion3/ADDR:PORT`, optionally ending `/p2p/<peer>`; `None` for anything else (QUIC,
/// circuits, Unix paths), which cannot go through Tor.
pub fn target(addr: &Multiaddr) -> Option<(String, u16)> {
    let mut parts = addr.iter();
    let (host, port) = match parts.next()? {
        Protocol::Onion3(onion) => {
            let name = data_encoding::BASE32.encode(onion.hash()).to_ascii_lowercase();
            (format!("{name}.onion"), onion.port())
        }
        first => {
            let host = match first {
                Protocol::Dns(h) | Protocol::Dns4(h) | Protocol::Dns6(h) => h.to_string(),
                Protocol::Ip4(ip) => ip.to_string(),
                Protocol::Ip6(ip) => ip.to_string(),
                _ => return None,
            };
            let Protocol::Tcp(port) = parts.next()? else {
                return None;
            };
            (host, port)
        }
    };
    match parts.next() {
        None | Some(Protocol::P2p(_)) if parts.next().is_none() => Some((host, port)),
        _ => None,
    }
}

impl libp2p::core::Transport for Transport {
    type Output = Compat<Link>;
    type Error = io::Error;
    type ListenerUpgrade = futures::future::Ready<Result<Self::Output, io::Error>>;
    type Dial = BoxFuture<'static, Result<Self::Output, io::Error>>;

    fn listen_on(&mut self, id: ListenerId, addr: Multiaddr) -> Result<(), TransportError<io::Error>> {
        let path = match addr.iter().next() {
            Some(Protocol::Unix(path)) if addr.iter().count() == 1 => PathBuf::from(path.to_string()),
            _ => return Err(TransportError::MultiaddrNotSupported(addr)),
        };
        // A socket a previous run left would refuse the bind.
        let _ = std::fs::remove_file(&path);
        let socket = tokio::net::UnixListener::bind(&path).map_err(TransportError::Other)?;
        self.listeners.push(Listener {
            id,
            socket,
            addr,
            announced: false,
        });
        Ok(())
    }

    fn remove_listener(&mut self, id: ListenerId) -> bool {
        let before = self.listeners.len();
        self.listeners.retain(|l| l.id != id);
        self.listeners.len() != before
    }

    fn dial(&mut self, addr: Multiaddr, _opts: DialOpts) -> Result<Self::Dial, TransportError<io::Error>> {
        let Some((host, port)) = target(&addr) else {
            return Err(TransportError::MultiaddrNotSupported(addr));
        };
        let socket = self.socket.clone();
        let shape = matches!(addr.iter().next(), Some(Protocol::Onion3(_))).then_some(self.shape);
        Ok(async move {
            let isolation = format!("p2p {host}:{port}");
            let stream = oarn_anon_dial::connect(&socket, &host, port, &isolation)
                .await
                .map_err(io::Error::other)?;
            let link = match shape {
                Some(shape) => Either::Right(crate::shaped::wrap(stream, shape)),
                None => Either::Left(stream),
            };
            Ok(link.compat())
        }
        .boxed())
    }

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<TransportEvent<Self::ListenerUpgrade, io::Error>> {
        let shape = self.shape;
        for l in &mut self.listeners {
            if !l.announced {
                l.announced = true;
                return Poll::Ready(TransportEvent::NewAddress {
                    listener_id: l.id,
                    listen_addr: l.addr.clone(),
                });
            }
            match l.socket.poll_accept(cx) {
                Poll::Ready(Ok((stream, _))) => {
                    let link = Either::Right(crate::shaped::wrap(stream, shape));
                    return Poll::Ready(TransportEvent::Incoming {
                        listener_id: l.id,
                        upgrade: futures::future::ready(Ok(link.compat())),
                        local_addr: l.addr.clone(),
                        send_back_addr: Multiaddr::empty().with(Protocol::Unix(INBOUND_PEER.into())),
                    });
                }
                Poll::Ready(Err(error)) => {
                    return Poll::Ready(TransportEvent::ListenerError {
                        listener_id: l.id,
                        error,
                    });
                }
                Poll::Pending => {}
            }
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Option<(String, u16)> {
        target(&s.parse().unwrap())
    }

    #[test]
    fn only_stream_addresses_tor_can_carry_are_dialled() {
        assert_eq!(t("/dns4/boot.example/tcp/4001"), Some(("boot.example".into(), 4001)));
        assert_eq!(
            t("/ip4/198.51.100.7/tcp/4001/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA"),
            Some(("198.51.100.7".into(), 4001))
        );
        let onion = "/onion3/vww6ybal4bd7szmgncyruucpgfkqahzddi37ktceo3ah7ngmcopnpyyd:1234";
        assert_eq!(
            t(onion),
            Some((
                "vww6ybal4bd7szmgncyruucpgfkqahzddi37ktceo3ah7ngmcopnpyyd.onion".into(),
                1234
            ))
        );
        assert_eq!(
            t("/ip4/198.51.100.7/udp/4001/quic-v1"),
            None,
            "QUIC cannot go through Tor"
        );
        assert_eq!(t("/ip4/198.51.100.7/tcp/4001/ws"), None);
        assert_eq!(t("/ip4/198.51.100.7/tcp/4001/p2p-circuit"), None);
    }
}
