//! The trustless gateway client: single blocks by CID over HTTP(S) (`GET /ipfs/CID?format=raw`,
//! `Accept: application/vnd.ipld.raw`), each verified against its CID before it is stored, so
//! a gateway can be slow or absent but never make the node keep bytes it did not ask for.
//! Gateways come from `storage.gateways` only; none is built in.

use std::time::Duration;

use cid::Cid;
use futures::StreamExt;

use crate::blocks::{MAX_BLOCK, Store};

/// Longest wait to connect to a gateway.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Fetches `cid` from the first of `gateways` that has it, verifies it and stores it; the
/// reasons each gateway failed otherwise.
pub fn fetch(gateways: &[String], store: &Store, cid: &Cid, wait: Duration) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    runtime.block_on(async {
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(wait)
            .user_agent(concat!("oarn/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| e.to_string())?;
        let mut reasons = Vec::new();
        for gw in gateways {
            let url = format!("{}/ipfs/{cid}?format=raw", gw.trim_end_matches('/'));
            match block(&client, &url).await {
                Ok(bytes) => match store.put(cid, &bytes) {
                    Ok(()) => return Ok(()),
                    Err(e) => reasons.push(format!("{gw}: {e}")),
                },
                Err(e) => reasons.push(format!("{gw}: {e}")),
            }
        }
        Err(if reasons.is_empty() {
            "no gateway is configured".into()
        } else {
            reasons.join("; ")
        })
    })
}

/// The body at `url`, refused past [`MAX_BLOCK`] bytes.
async fn block(client: &reqwest::Client, url: &str) -> Result<Vec<u8>, String> {
    let response = client
        .get(url)
        .header("accept", "application/vnd.ipld.raw")
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !response.status().is_success() {
        return Err(format!("HTTP {}", response.status()));
    }
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        body.extend_from_slice(&chunk.map_err(|e| e.to_string())?);
        if body.len() > MAX_BLOCK {
            return Err(format!("it sent more than a block may be ({MAX_BLOCK} bytes)"));
        }
    }
    Ok(body)
}
