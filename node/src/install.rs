//! Installing a model file into the store, whoever fetched it: this side copies it into the
//! store's staging directory and hashes it on the way ([`Store::stage`]), refuses it when that
//! hash is not the one every party named (the worker that fetched it, the catalog, the
//! operator's `--sha256`), has an inference worker of its own read and check its header (model
//! files are parsed only in that sandbox), and only then makes it visible.

use std::path::Path;

use oarn_config::Config;
use oarn_config::home::Home;
use oarn_models::{Manifest, Store, StoreError};
use oarn_protocol::WorkerKind;
use oarn_protocol::infer::{Inspect, ModelInfo};
use oarn_supervise::{CallError, alone};

/// Why a file was not installed; nothing was.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// The store refused it (name taken, bad name) or could not be written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The file's bytes are not the ones a party named.
    #[error("{source_name}: the file has sha256 {got}, but {who} said {want}; nothing was installed")]
    Digest {
        source_name: String,
        who: String,
        want: String,
        got: String,
    },
    /// The file is not the size a party named.
    #[error("{source_name}: the file is {got} bytes, but {who} said {want}; nothing was installed")]
    Size {
        source_name: String,
        who: String,
        want: u64,
        got: u64,
    },
    /// The inference worker read the file and refused it.
    #[error("{source_name}: {reason}; nothing was installed")]
    NotAModel { source_name: String, reason: String },
    /// The inference worker that reads model headers did not start or stopped.
    #[error("the inference worker that checks model files failed: {0}; nothing was installed")]
    Inspector(String),
}

/// What a party said of the file before it was installed.
#[derive(Debug, Clone)]
pub struct Claim {
    /// Who said it: "the network worker", "the catalog", "--sha256".
    pub who: String,
    pub sha256: [u8; 32],
    pub size: Option<u64>,
}

/// What to install, and from where.
#[derive(Debug, Clone)]
pub struct Install<'a> {
    /// The file to copy in.
    pub file: &'a Path,
    /// The name it gets; default: from `name_from`'s file name.
    pub name: Option<&'a str>,
    pub name_from: &'a Path,
    /// Replace a model of the same name.
    pub force: bool,
    /// Where it came from, as the manifest records it.
    pub source: &'a str,
    /// What the file must be.
    pub claims: Vec<Claim>,
}

/// Reads the header of the staged file at `path` in an inference worker of its own (under
/// the llama.cpp profile, which may read the model cache, whatever `ollama.enabled` says).
pub async fn inspect(config: &Config, home: &Home, path: &Path) -> Result<Result<ModelInfo, String>, String> {
    let mut config = config.clone();
    config.ollama.enabled = false;
    let supervisor = alone::start(&config, home, WorkerKind::Infer).await?;
    let handle = supervisor
        .workers()
        .infer
        .clone()
        .expect("started with the infer worker");
    let inspected = handle
        .call(Inspect {
            path: path.display().to_string(),
        })
        .await;
    let outcome = match inspected {
        Ok(info) => Ok(Ok(info)),
        Err(CallError::Worker(_, e)) => Ok(Err(e.message)),
        Err(CallError::Lost(_)) => Err(alone::lost(&handle).await),
        Err(e) => Err(e.to_string()),
    };
    supervisor.shutdown().await;
    outcome
}

/// Installs `what` into `store`.
pub async fn install(config: &Config, home: &Home, store: &Store, what: Install<'_>) -> Result<Manifest, InstallError> {
    let name = match what.name {
        Some(n) => n.to_string(),
        None => oarn_models::store::default_name(what.name_from),
    };
    store.check_new(&name, what.force)?;
    let staged = store.stage(what.file)?;
    let source_name = what.source.to_string();
    for claim in &what.claims {
        if claim.sha256 != staged.sha256() {
            return Err(InstallError::Digest {
                source_name,
                who: claim.who.clone(),
                want: hex(&claim.sha256),
                got: hex(&staged.sha256()),
            });
        }
        if let Some(size) = claim.size
            && size != staged.size()
        {
            return Err(InstallError::Size {
                source_name,
                who: claim.who.clone(),
                want: size,
                got: staged.size(),
            });
        }
    }
    let metadata = inspect(config, home, staged.path())
        .await
        .map_err(InstallError::Inspector)?
        .map_err(|reason| InstallError::NotAModel {
            source_name: source_name.clone(),
            reason,
        })?;
    Ok(store.install(staged, &name, what.force, what.source, metadata)?)
}

fn hex(b: &[u8; 32]) -> String {
    oarn_protocol::hex::encode(b).trim_start_matches("0x").to_string()
}
