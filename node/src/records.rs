//! The network's DHT records (`/oarn/bootstrap`, `/oarn/rpc/providers`) as the supervisor
//! tends them: when discovery found the network, the network worker writes what the registry
//! lists; when discovery has nothing but the swarm has a peer, the worker reads
//! `/oarn/bootstrap` and dials the peers it names. The records themselves are written and
//! read (and checked) in the worker: the supervisor never parses network bytes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use oarn_protocol::net::{self, Advertise, Bootstrap, FindBootstrap};

use crate::discovery::State as Discovery;
use oarn_supervise::Handle;

/// Least time between two reads of `/oarn/bootstrap`.
pub const LOOKUP_EVERY: Duration = Duration::from_secs(60);

/// Bootstrap peers and RPC endpoints, as the registry lists them.
type Listed = (Vec<Bootstrap>, Vec<String>);

/// What was last written, and when the DHT was last read.
#[derive(Debug, Default)]
pub struct Records {
    /// Set once the worker has written them, so a failed write is tried again.
    advertised: Arc<Mutex<Option<Listed>>>,
    looked_up: Option<Instant>,
    /// A write or read is running (one at a time: a DHT query may take seconds).
    busy: Arc<AtomicBool>,
}

impl Records {
    /// One step: write the records when what discovery found changed, or read the bootstrap
    /// record when discovery has found nothing and `connected` says a peer can answer.
    pub fn tick(&mut self, net: &Handle<net::Protocol>, found: &Discovery, connected: bool) {
        if self.busy.load(Ordering::Acquire) {
            return;
        }
        let (net, busy, advertised) = (net.clone(), self.busy.clone(), self.advertised.clone());
        match found {
            Discovery::Found(n) => {
                let now: Listed = (
                    n.bootstrap
                        .iter()
                        .map(|(peer_id, multiaddr)| Bootstrap {
                            peer_id: peer_id.clone(),
                            multiaddr: multiaddr.clone(),
                        })
                        .collect(),
                    n.rpc_providers.clone(),
                );
                let done = self.advertised.lock().unwrap_or_else(|e| e.into_inner());
                if done.as_ref() == Some(&now) || (now.0.is_empty() && now.1.is_empty()) {
                    return;
                }
                drop(done);
                busy.store(true, Ordering::Release);
                tokio::spawn(async move {
                    let request = Advertise {
                        bootstrap: now.0.clone(),
                        rpc_providers: now.1.clone(),
                    };
                    match net.call(request).await {
                        Ok(()) => {
                            tracing::info!("DHT records /oarn/bootstrap and /oarn/rpc/providers written");
                            *advertised.lock().unwrap_or_else(|e| e.into_inner()) = Some(now);
                        }
                        Err(e) => tracing::warn!("DHT records: {e}"),
                    }
                    busy.store(false, Ordering::Release);
                });
            }
            _ if connected && self.looked_up.is_none_or(|t| t.elapsed() >= LOOKUP_EVERY) => {
                self.looked_up = Some(Instant::now());
                busy.store(true, Ordering::Release);
                tokio::spawn(async move {
                    match net.call(FindBootstrap).await {
                        Ok(peers) if !peers.is_empty() => {
                            tracing::info!("{} bootstrap peers from the DHT (/oarn/bootstrap)", peers.len());
                        }
                        Ok(_) => {}
                        Err(e) => tracing::warn!("DHT records: {e}"),
                    }
                    busy.store(false, Ordering::Release);
                });
            }
            _ => {}
        }
    }
}
