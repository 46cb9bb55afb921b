//! `oarn init`, `start`, `stop` and `status`.

use std::os::unix::process::CommandExt;
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use oarn_api::client::{self, ClientError};
use oarn_config::home::Home;
use oarn_config::load;
use oarn_node::pidfile::{self, PidFileError};
use serde_json::{Value, json};

use super::table;

/// How long a CLI call waits for the daemon's answer.
pub const CALL_WAIT: Duration = Duration::from_secs(10);
/// How long `start --detach` waits for the daemon to answer.
const DETACH_WAIT: Duration = Duration::from_secs(30);

pub fn init(home: &Home, force: bool, json: bool) -> anyhow::Result<ExitCode> {
    let done = home.init(force)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&done)?);
    } else {
        if let Some(bak) = &done.backup {
            println!("kept the previous configuration as {}", bak.display());
        }
        println!("initialized node home {}", done.home.display());
        println!(
            "configuration: {} (edit it with `oarn config edit`)",
            done.config.display()
        );
        println!("next: `oarn start` to run the node, `oarn status` to see it");
    }
    Ok(ExitCode::SUCCESS)
}

/// `oarn start`, or with `local` a local-only node (`oarn local start`).
pub fn start(home: &Home, detach: bool, local: bool) -> anyhow::Result<ExitCode> {
    let mut loaded = load::load(&home.config())?;
    if local {
        loaded.config.network.mode = oarn_config::Mode::Local;
    }
    if let Some(pid) = pidfile::running(&home.pid_file()) {
        return Err(PidFileError::Running { pid }.into());
    }
    if !detach {
        oarn_node::daemon::run(home.clone(), loaded)?;
        return Ok(ExitCode::SUCCESS);
    }
    home.check_socket_path()?;
    std::fs::create_dir_all(home.log_dir())?;
    let out_path = home.log_dir().join("daemon.out");
    let out = std::fs::OpenOptions::new().create(true).append(true).open(&out_path)?;
    let exe = std::env::current_exe().context("cannot find the oarn executable")?;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("--home").arg(home.root()).arg("start");
    if local {
        // The configuration's own override, so the daemon reads the mode as it reads the file.
        cmd.env("OARN_NETWORK__MODE", "local");
    }
    cmd.stdin(Stdio::null()).stdout(out.try_clone()?).stderr(out);
    // SAFETY: setsid is async-signal-safe; it detaches the daemon from our terminal.
    unsafe {
        cmd.pre_exec(|| {
            nix::unistd::setsid()?;
            Ok(())
        });
    }
    let mut child = cmd.spawn().context("cannot start the daemon")?;
    let deadline = Instant::now() + DETACH_WAIT;
    loop {
        if let Some(status) = child.try_wait()? {
            let tail = std::fs::read_to_string(&out_path).unwrap_or_default();
            let last: Vec<&str> = tail
                .lines()
                .rev()
                .take(5)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            bail!(
                "the daemon exited during start-up ({status}); its last output:\n  {}\nmore with `oarn logs`",
                last.join("\n  ")
            );
        }
        if client::call(&home.socket(), "oarn_version", Value::Null, CALL_WAIT).is_ok() {
            println!(
                "oarn started (pid {}); `oarn status` shows it, `oarn logs -f` follows it",
                child.id()
            );
            return Ok(ExitCode::SUCCESS);
        }
        if Instant::now() > deadline {
            bail!(
                "the daemon (pid {}) did not answer within {} s; see `oarn logs`",
                child.id(),
                DETACH_WAIT.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn stop(home: &Home, timeout: u64, json: bool) -> anyhow::Result<ExitCode> {
    let pid = match client::call(&home.socket(), "oarn_shutdown", Value::Null, CALL_WAIT) {
        Ok(v) => v.get("pid").and_then(Value::as_u64).map(|p| p as u32),
        Err(ClientError::NotRunning { path }) => match pidfile::running(&home.pid_file()) {
            // The socket is gone but the daemon holds its pid file: ask it with a signal.
            Some(pid) => {
                nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid as i32),
                    nix::sys::signal::Signal::SIGTERM,
                )
                .with_context(|| format!("cannot signal the daemon (pid {pid})"))?;
                Some(pid)
            }
            None => {
                if path.exists() {
                    let _ = std::fs::remove_file(&path);
                }
                return Err(ClientError::NotRunning { path }.into());
            }
        },
        Err(e) => return Err(e.into()),
    };
    let deadline = Instant::now() + Duration::from_secs(timeout);
    while pidfile::running(&home.pid_file()).is_some() {
        if Instant::now() > deadline {
            bail!("the node (pid {}) did not stop within {timeout} s", pid.unwrap_or(0));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    if json {
        println!("{}", json!({"stopped": true, "pid": pid}));
    } else {
        println!("oarn stopped");
    }
    Ok(ExitCode::SUCCESS)
}

pub fn status(home: &Home, json: bool) -> anyhow::Result<ExitCode> {
    match client::call(&home.socket(), "oarn_status", Value::Null, CALL_WAIT) {
        Ok(v) => {
            if json {
                let mut v = v;
                v["running"] = json!(true);
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                print!("{}", table::status(&v));
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e @ ClientError::NotRunning { .. }) => {
            if json {
                println!("{}", json!({"running": false}));
            }
            Err(e.into())
        }
        Err(e) => Err(e.into()),
    }
}
