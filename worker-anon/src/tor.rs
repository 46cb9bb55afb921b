//! The Tor client: its configuration and its bootstrap.
//!
//! The configuration is arti's defaults (the public Tor network), overlaid by the operator's
//! arti file (`privacy.tor_config`: bridges, a private network), with the state and cache in
//! this worker's own directory, the only one its sandbox lets it write.

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arti_client::config::{CfgPath, TorClientConfigBuilder};
use arti_client::{TorClient, TorClientConfig};
use futures::StreamExt;
use tor_rtcompat::PreferredRuntime;

/// The client's configuration, made before the sandbox closed, or why it could not be.
pub type Prepared = Result<TorClientConfig, String>;

/// Makes the client's configuration while the process may still read the operator's arti
/// file (the sandbox then grants only this worker's directory).
pub fn prepare(home: &Path, tor_config: Option<&Path>) -> Prepared {
    let operator = match tor_config {
        None => None,
        Some(p) => Some(std::fs::read_to_string(p).map_err(|source| {
            Error::Read {
                path: p.to_path_buf(),
                source,
            }
            .to_string()
        })?),
    };
    let dirs = Dirs::new(home);
    // arti trusts only what lies under its directory, which must therefore exist.
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dirs.root)
        .map_err(|e| format!("cannot create {}: {e}", dirs.root.display()))?;
    config(operator.as_deref(), &dirs).map_err(|e| e.to_string())
}

/// Why the client could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The operator's file could not be read.
    #[error("cannot read privacy.tor_config {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    /// The operator's file is not an arti configuration.
    #[error("privacy.tor_config is not a valid arti configuration: {0}")]
    Parse(String),
    /// arti refused the configuration.
    #[error("the Tor client's configuration is not usable: {0}")]
    Config(String),
    /// arti could not start.
    #[error("the Tor client could not start: {0}")]
    Start(String),
}

/// The directories of this worker under the node home.
#[derive(Debug, Clone)]
pub struct Dirs {
    /// `{home}/anon`: everything this worker writes.
    pub root: PathBuf,
}

impl Dirs {
    pub fn new(home: &Path) -> Self {
        Self {
            root: home.join("anon"),
        }
    }
}

/// The client's configuration: arti's defaults, the operator's file over them, our directories.
pub fn config(operator: Option<&str>, dirs: &Dirs) -> Result<TorClientConfig, Error> {
    let mut builder: TorClientConfigBuilder = match operator {
        Some(text) => toml::from_str(text).map_err(|e| Error::Parse(e.to_string()))?,
        None => TorClientConfigBuilder::default(),
    };
    builder
        .storage()
        .state_dir(CfgPath::new_literal(dirs.root.join("state")))
        .cache_dir(CfgPath::new_literal(dirs.root.join("cache")));
    // The supervisor made the home private (0700); what lies above it (a container's volume,
    // /var/lib) is not arti's to judge. No group is trusted: finding the user's own group
    // means reading the passwd and group databases, which the sandbox does not grant.
    builder
        .storage()
        .permissions()
        .ignore_prefix(&dirs.root)
        .trust_no_group_id()
        .ignore_environment();
    builder.build().map_err(|e| Error::Config(e.to_string()))
}

/// The bootstrap as last reported, shared with the status request.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    pub ready: bool,
    pub percent: u8,
    pub blocked: Option<String>,
    /// Why the client could not be set up at all.
    pub failed: Option<String>,
    /// The node's onion service as a multiaddr (`/onion3/<address>:<port>`), once launched.
    pub onion: Option<String>,
}

/// Creates the client (not yet bootstrapped) on the current tokio runtime.
pub fn create(config: TorClientConfig) -> Result<Arc<TorClient<PreferredRuntime>>, Error> {
    // arti is built with rustls; the process has one crypto provider, chosen here.
    let _ = rustls::crypto::ring::default_provider().install_default();
    TorClient::builder()
        .config(config)
        .create_unbootstrapped()
        .map_err(|e| Error::Start(e.to_string()))
}

/// Bootstraps `client`, recording its progress in `progress` as it goes, and keeps recording
/// it afterwards (the client may lose and regain its directory).
pub async fn bootstrap(client: Arc<TorClient<PreferredRuntime>>, progress: Arc<Mutex<Progress>>) {
    let mut events = client.bootstrap_events();
    let watcher = {
        let progress = progress.clone();
        tokio::spawn(async move {
            while let Some(status) = events.next().await {
                let mut p = progress.lock().unwrap_or_else(|e| e.into_inner());
                let percent = (status.as_frac().clamp(0.0, 1.0) * 100.0).round() as u8;
                if percent != p.percent {
                    tracing::info!(percent, "Tor bootstrap: {status}");
                }
                p.percent = percent;
                p.ready = status.ready_for_traffic();
                p.blocked = status.blocked().map(|b| b.to_string());
            }
        })
    };
    if let Err(e) = client.bootstrap().await {
        tracing::error!("Tor bootstrap failed: {e}");
        progress.lock().unwrap_or_else(|e| e.into_inner()).failed = Some(e.to_string());
    }
    let _ = watcher.await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepares_a_config_for_the_public_network() {
        let home = tempfile::tempdir().unwrap();
        prepare(home.path(), None).unwrap();
    }
}
