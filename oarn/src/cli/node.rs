//! `oarn init`, `start`, `stop` and `status`.

use std::io::BufRead;
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use oarn_api::ClientError;
use oarn_api::node::{GetStatus, Shutdown};
use oarn_config::home::Home;
use oarn_config::load;
use oarn_node::discovery::Unlock;
use oarn_node::passphrase;
use oarn_node::pidfile::{self, PidFileError};
use serde_json::json;

use super::{Exit, table};

/// How long a CLI call waits for the daemon's answer.
pub const CALL_WAIT: Duration = Duration::from_secs(10);
/// How long `start --detach` waits for the daemon to be up.
const DETACH_WAIT: Duration = Duration::from_secs(30);
/// The descriptor a detached daemon says it is up on (its number in the daemon).
const READY_FD: i32 = 3;
/// The environment variable that tells the daemon of it.
const READY_ENV: &str = "OARN_READY_FD";

pub fn init(home: &Home, force: bool, if_missing: bool, json: bool) -> anyhow::Result<Exit> {
    if if_missing && home.config().exists() {
        if json {
            println!("{}", serde_json::json!({ "home": home.root(), "existed": true }));
        } else {
            println!("node home {} already initialized; left as it is", home.root().display());
        }
        return Ok(Exit::Success);
    }
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
    Ok(Exit::Success)
}

/// The descriptor `oarn start --detach` handed this daemon to say it is up on, if any.
fn ready_fd() -> Option<std::fs::File> {
    let fd: i32 = std::env::var(READY_ENV).ok()?.parse().ok()?;
    // Only the pipe `oarn start --detach` hands over, never whatever else may be open there.
    // SAFETY: fstat on a descriptor that is not open fails with EBADF; nothing is kept.
    let stat = nix::sys::stat::fstat(unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) }).ok()?;
    let fifo = nix::sys::stat::SFlag::from_bits_truncate(stat.st_mode) & nix::sys::stat::SFlag::S_IFMT
        == nix::sys::stat::SFlag::S_IFIFO;
    // SAFETY: `oarn start --detach` put exactly this pipe there for us, and named it in
    // READY_ENV; nothing else in this process owns it.
    (fd == READY_FD && fifo).then(|| unsafe { std::fs::File::from_raw_fd(fd) })
}

/// How `oarn start` unlocks the wallet.
#[derive(Debug, Default)]
pub struct Unlocking {
    pub passphrase_file: Option<std::path::PathBuf>,
    pub index: u32,
}

/// Where the daemon gets its passphrase: the file or credential (read again whenever the
/// chain worker restarts), or typed now, once, when started in a terminal with a wallet.
fn unlock(home: &Home, loaded: &load::Loaded, how: Unlocking) -> anyhow::Result<Unlock> {
    let mut unlock = Unlock {
        index: how.index,
        ..Unlock::default()
    };
    if loaded.config.network.mode == oarn_config::Mode::Local {
        return Ok(unlock);
    }
    if let Some(path) = &how.passphrase_file {
        // A file that cannot be read is the operator's mistake: say so now, not in the log.
        passphrase::read(&passphrase::Source::File(path.clone()), "")?;
    }
    unlock.source = passphrase::source(how.passphrase_file);
    if unlock.source == Some(passphrase::Source::Terminal) && home.keystore().exists() {
        unlock.first = Some(passphrase::read(
            &passphrase::Source::Terminal,
            "Wallet passphrase (the node signs claims and results with it): ",
        )?);
    }
    Ok(unlock)
}

/// `oarn start`, or with `local` a local-only node (`oarn local start`).
pub fn start(home: &Home, detach: bool, local: bool, how: Unlocking) -> anyhow::Result<Exit> {
    let mut loaded = load::load(&home.config())?;
    if local {
        loaded.config.network.mode = oarn_config::Mode::Local;
    }
    if let Some(pid) = pidfile::running(&home.pid_file()) {
        return Err(PidFileError::Running { pid }.into());
    }
    if !detach {
        let ready = ready_fd();
        // SAFETY: removing our own variable before any thread of ours reads the environment.
        unsafe { std::env::remove_var(READY_ENV) };
        let unlock = unlock(home, &loaded, how)?;
        oarn_node::daemon::run(home.clone(), loaded, ready, unlock)?;
        return Ok(Exit::Success);
    }
    home.check_socket_path()?;
    std::fs::create_dir_all(home.log_dir())?;
    let out_path = home.log_dir().join("daemon.out");
    let out = std::fs::OpenOptions::new().create(true).append(true).open(&out_path)?;
    let exe = std::env::current_exe().context("cannot find the oarn executable")?;
    let (ready_read, ready_write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("--home")
        .arg(home.root())
        .arg("start")
        .arg("--index")
        .arg(how.index.to_string())
        .env(READY_ENV, READY_FD.to_string());
    if let Some(path) = &how.passphrase_file {
        passphrase::read(&passphrase::Source::File(path.clone()), "")?;
        cmd.arg("--passphrase-file").arg(std::path::absolute(path)?);
    }
    if local {
        // The configuration's own override, so the daemon reads the mode as it reads the file.
        cmd.env("OARN_NETWORK__MODE", "local");
    }
    cmd.stdin(Stdio::null()).stdout(out.try_clone()?).stderr(out);
    let write_fd = ready_write.as_raw_fd();
    // SAFETY: setsid and dup2 are async-signal-safe; the daemon leaves our terminal's session
    // and gets the pipe's write end as READY_FD (dup2 leaves it open across exec).
    unsafe {
        cmd.pre_exec(move || {
            nix::unistd::setsid()?;
            if libc::dup2(write_fd, READY_FD) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().context("cannot start the daemon")?;
    // Only the daemon holds the write end now: its line, or its exit, ends our read.
    drop(ready_write);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let read = std::io::BufReader::new(std::fs::File::from(ready_read)).read_line(&mut line);
        let _ = tx.send(read.map(|_| line));
    });
    match rx.recv_timeout(DETACH_WAIT) {
        Ok(Ok(summary)) if !summary.is_empty() => {
            println!(
                "oarn started (pid {}): {}; `oarn status` shows it, `oarn logs -f` follows it",
                child.id(),
                summary.trim()
            );
            Ok(Exit::Success)
        }
        Ok(_) => {
            let status = child.wait()?;
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
            )
        }
        Err(_) => bail!(
            "the daemon (pid {}) was not up within {} s; see `oarn logs`",
            child.id(),
            DETACH_WAIT.as_secs()
        ),
    }
}

pub fn stop(home: &Home, timeout: u64, json: bool) -> anyhow::Result<Exit> {
    let pid = match super::client(home).call(&Shutdown {}, CALL_WAIT) {
        Ok(v) => Some(v.pid),
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
    if !pidfile::wait_released(&home.pid_file(), Duration::from_secs(timeout)) {
        bail!("the node (pid {}) did not stop within {timeout} s", pid.unwrap_or(0));
    }
    if json {
        println!("{}", json!({"stopped": true, "pid": pid}));
    } else {
        println!("oarn stopped");
    }
    Ok(Exit::Success)
}

pub fn status(home: &Home, json: bool) -> anyhow::Result<Exit> {
    match super::client(home).call(&GetStatus {}, CALL_WAIT) {
        Ok(s) => {
            if json {
                let mut v = serde_json::to_value(&s)?;
                v["running"] = json!(true);
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                print!("{}", table::status(&s));
            }
            Ok(Exit::Success)
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
