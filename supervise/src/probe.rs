//! `oarn sandbox verify`: runs each worker in probe mode, under its real profile and through
//! the same spawn path as the daemon, against a throwaway node home, and collects what each
//! forbidden and each needed operation did.

use std::net::{Ipv4Addr, TcpListener, UdpSocket};
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

use oarn_protocol::WorkerKind;
use oarn_sandbox::probe::Outcome;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

use crate::spawn::{self, Spawn};
use crate::supervise;
use oarn_config::Config;
use oarn_config::home::Home;

/// How long one worker's probes may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(60);

/// Why verification could not run (as opposed to a probe that found a hole).
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The throwaway home or the loopback targets could not be set up.
    #[error("cannot prepare the probe environment: {0}")]
    Setup(#[from] std::io::Error),
    /// A worker did not run its probes.
    #[error("the {kind} worker did not run its probes ({status}): {stderr}")]
    Worker {
        kind: WorkerKind,
        status: String,
        stderr: String,
    },
}

/// A node home with one of every file and socket a worker might try to reach, removed when
/// dropped.
struct ProbeHome {
    root: PathBuf,
    /// Listening where the node's API socket and the anonymity worker's SOCKS socket are.
    _sockets: Vec<UnixListener>,
}

impl ProbeHome {
    fn create() -> std::io::Result<Self> {
        let root = std::env::temp_dir().join(format!("oarn-probe-{:016x}", fastrand::u64(..)));
        std::fs::DirBuilder::new().mode(0o700).create(&root)?;
        let mut home = Self {
            root,
            _sockets: Vec::new(),
        };
        for dir in ["models", "ipfs", "downloads", "update", "logs", "anon"] {
            std::fs::DirBuilder::new().mode(0o700).create(home.root.join(dir))?;
        }
        std::fs::write(home.root.join("config.toml"), oarn_config::template::TEMPLATE)?;
        std::fs::write(home.root.join("api.token"), "probe token\n")?;
        std::fs::write(home.root.join("wallet.encrypted"), "probe keystore; holds no key\n")?;
        std::fs::write(home.root.join("models/probe.gguf"), vec![0u8; 8192])?;
        let at = Home::at(home.root.clone());
        for socket in [at.socket(), supervise::anon_socket(&at)] {
            home._sockets.push(UnixListener::bind(socket)?);
        }
        Ok(home)
    }

    fn path(&self) -> &Path {
        &self.root
    }
}

impl Drop for ProbeHome {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// Runs the probes of every worker in `kinds`.
pub async fn verify(config: &Config, home: &Home, kinds: &[WorkerKind]) -> Result<Vec<Outcome>, VerifyError> {
    let probe_home = ProbeHome::create()?;
    let tcp = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
    let ports = (tcp.local_addr()?.port(), udp.local_addr()?.port());
    let mut out = Vec::new();
    for &kind in kinds {
        let mut launch = supervise::launch(config, &Home::at(probe_home.path().to_path_buf()));
        launch.models = probe_home.path().join("models");
        launch.probe = Some(ports);
        // The probes check the llama.cpp profile (no network at all).
        launch.ollama = None;
        let binary = spawn::binary(kind, config, home.root());
        let mut child = Spawn::worker(&binary, &launch)
            .start()
            .map_err(|e| VerifyError::Worker {
                kind,
                status: format!("cannot start {}", binary.display()),
                stderr: e.to_string(),
            })?;
        drop(child.stdin.take());
        let stdout = child.stdout.take().expect("piped");
        let mut stderr = child.stderr.take().expect("piped");
        let collect = async {
            let mut lines = BufReader::new(stdout).lines();
            let mut outcomes = Vec::new();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Ok(o) = serde_json::from_str::<Outcome>(&line) {
                    outcomes.push(o);
                }
            }
            let mut err = String::new();
            let _ = (&mut stderr).take(64 << 10).read_to_string(&mut err).await;
            let status = child.wait().await;
            (outcomes, err, status)
        };
        let (outcomes, err, status) =
            tokio::time::timeout(PROBE_TIMEOUT, collect)
                .await
                .map_err(|_| VerifyError::Worker {
                    kind,
                    status: format!("no result within {} s", PROBE_TIMEOUT.as_secs()),
                    stderr: String::new(),
                })?;
        if outcomes.is_empty() {
            return Err(VerifyError::Worker {
                kind,
                status: status.map_or_else(|e| e.to_string(), supervise::describe),
                stderr: err.trim().to_string(),
            });
        }
        out.extend(outcomes);
    }
    Ok(out)
}
