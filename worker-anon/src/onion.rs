//! The node's onion service: peers reach a privacy-mode node at `<its key>.onion:4001`, and
//! every stream they open to that port is handed to the net worker's inbound Unix socket,
//! where libp2p accepts it. The service's identity key lives in this worker's keystore (its
//! state directory), so the address survives restarts.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use arti_client::TorClient;
use futures::StreamExt;
use safelog::DisplayRedacted as _;
use tokio::net::UnixStream;
use tokio::sync::Semaphore;
use tor_cell::relaycell::msg::{Connected, End};
use tor_hsservice::config::OnionServiceConfigBuilder;
use tor_proto::stream::IncomingStreamRequest;
use tor_rtcompat::PreferredRuntime;

use crate::tor::Progress;

/// The virtual port peers dial (the same on every node: the port says nothing about it).
pub const PORT: u16 = 4001;
/// Inbound streams forwarded at once; further ones wait.
const MAX_INBOUND: usize = 256;

/// Launches the onion service and forwards its streams to `inbound` until the runtime stops.
/// The address goes into `progress` for the status report.
pub async fn serve(client: Arc<TorClient<PreferredRuntime>>, inbound: PathBuf, progress: Arc<Mutex<Progress>>) {
    let nickname = match "oarn".parse() {
        Ok(n) => n,
        Err(e) => return tracing::error!("onion service nickname: {e}"),
    };
    let config = match OnionServiceConfigBuilder::default().nickname(nickname).build() {
        Ok(c) => c,
        Err(e) => return tracing::error!("onion service configuration: {e}"),
    };
    let (service, requests) = match client.launch_onion_service(config) {
        Ok(Some(launched)) => launched,
        Ok(None) => return tracing::warn!("the onion service is disabled"),
        Err(e) => return tracing::error!("the onion service could not start: {e}"),
    };
    if let Some(id) = service.onion_address() {
        let address = id.display_unredacted().to_string();
        let multiaddr = format!("/onion3/{}:{PORT}", address.trim_end_matches(".onion"));
        tracing::info!(onion = %multiaddr, "onion service launched");
        progress.lock().unwrap_or_else(|e| e.into_inner()).onion = Some(multiaddr);
    }
    let limit = Arc::new(Semaphore::new(MAX_INBOUND));
    let mut streams = std::pin::pin!(tor_hsservice::handle_rend_requests(requests));
    while let Some(request) = streams.next().await {
        let wanted = matches!(request.request(), IncomingStreamRequest::Begin(b) if b.port() == PORT);
        if !wanted {
            let _ = request.reject(End::new_misc()).await;
            continue;
        }
        let Ok(permit) = limit.clone().acquire_owned().await else {
            return;
        };
        let inbound = inbound.clone();
        tokio::spawn(async move {
            match UnixStream::connect(&inbound).await {
                Ok(mut local) => match request.accept(Connected::new_empty()).await {
                    Ok(mut tor) => {
                        let _ = tokio::io::copy_bidirectional(&mut tor, &mut local).await;
                    }
                    Err(e) => tracing::debug!("inbound stream lost: {e}"),
                },
                Err(e) => {
                    tracing::debug!("the net worker does not listen on {}: {e}", inbound.display());
                    let _ = request.reject(End::new_misc()).await;
                }
            }
            drop(permit);
        });
    }
    // The service stops when `service` is dropped: it lives as long as the request stream.
    drop(service);
}
