//! One worker for one command without a daemon (`oarn local inference`, `oarn model pull`,
//! `oarn model import`): the same spawn, sandbox and protocol path the daemon uses, started
//! and waited for here.

use std::time::Duration;

use oarn_config::Config;
use oarn_config::home::Home;
use oarn_protocol::WorkerKind;

use super::{Handle, State, Supervisor, WorkerStatus};

/// How long the worker has to start.
const START: Duration = Duration::from_secs(15);
/// How long the supervising task may take to record a worker's exit.
const RECORDED: Duration = Duration::from_secs(2);

/// Starts a supervisor running only `kind` (and, in privacy mode, the anonymity worker the net
/// and chain workers reach the world through); on failure, says why the worker did not start.
pub async fn start(config: &Config, home: &Home, kind: WorkerKind) -> Result<Supervisor, String> {
    let supervisor = Supervisor::start(config, home, &super::with_anon(config, &[kind]));
    supervisor.settled(START).await;
    let status = supervisor
        .workers()
        .statuses()
        .into_iter()
        .find(|s| s.kind == kind)
        .expect("started with the worker");
    if status.state != State::Running {
        let why = status.last_exit.unwrap_or_else(|| "no handshake".into());
        supervisor.shutdown().await;
        return Err(why);
    }
    Ok(supervisor)
}

/// Starts a supervisor running only the network worker, its directories created first (its
/// sandbox grants exactly those); returns it with the worker's handle.
pub async fn start_net(
    config: &Config,
    home: &Home,
) -> Result<(Supervisor, Handle<oarn_protocol::net::Protocol>), String> {
    home.ensure_worker_dirs().map_err(|e| e.to_string())?;
    let supervisor = start(config, home, WorkerKind::Net).await?;
    let net = supervisor.workers().net.clone().expect("started with the net worker");
    Ok((supervisor, net))
}

/// Why a worker stopped during a request: its exit and its last stderr lines, once the
/// supervising task has recorded the exit.
pub async fn lost<P: oarn_protocol::envelope::Protocol>(handle: &Handle<P>) -> String {
    let ended = |s: &WorkerStatus| s.state != State::Running;
    let s = tokio::time::timeout(RECORDED, handle.wait_for(ended))
        .await
        .unwrap_or_else(|_| handle.status());
    let tail: Vec<String> = s.stderr_tail.iter().rev().take(3).rev().cloned().collect();
    format!(
        "it stopped during the request: {}{}",
        s.last_exit.unwrap_or_else(|| "no exit status".into()),
        if tail.is_empty() {
            String::new()
        } else {
            format!("; its last words: {}", tail.join(" | "))
        }
    )
}
