//! Starting a worker process: a clean environment, only stdin/stdout/stderr inherited, its own
//! process group (a terminal's Ctrl-C reaches the supervisor, which shuts workers down in
//! order), and death with the supervisor (`PR_SET_PDEATHSIG`, plus EOF on its stdin).

use std::path::{Path, PathBuf};
use std::process::Stdio;

use oarn_protocol::WorkerKind;
use oarn_sandbox::Launch;
use tokio::process::{Child, Command};

use oarn_config::{Config, resolve_path};

/// Where a worker's binary is: the per-worker override, else `workers.dir`, else next to the
/// running `oarn` executable.
pub fn binary(kind: WorkerKind, config: &Config, home: &Path) -> PathBuf {
    let w = &config.workers;
    let explicit = match kind {
        WorkerKind::Infer => &w.infer,
        WorkerKind::Net => &w.net,
        WorkerKind::Chain => &w.chain,
    };
    if !explicit.as_os_str().is_empty() {
        return resolve_path(explicit, home);
    }
    let dir = if w.dir.as_os_str().is_empty() {
        std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .unwrap_or_default()
    } else {
        resolve_path(&w.dir, home)
    };
    dir.join(kind.binary())
}

/// Spawns the worker at `program` with `launch` as its command line.
pub fn spawn(program: &Path, launch: &Launch) -> std::io::Result<Child> {
    let mut cmd = Command::new(program);
    cmd.args(launch.args())
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .process_group(0);
    let parent = std::process::id();
    // SAFETY: between fork and exec only async-signal-safe calls are made: prctl, getppid,
    // syscall(close_range) and _exit, none of which allocate or take locks.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The supervisor died before the prctl took effect: nobody will watch this worker.
            if libc::getppid() as u32 != parent {
                libc::_exit(1);
            }
            // Any descriptor above stderr that is not close-on-exec yet becomes so; older
            // kernels without close_range keep relying on Rust opening everything O_CLOEXEC.
            libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, libc::CLOSE_RANGE_CLOEXEC);
            Ok(())
        });
    }
    cmd.spawn()
}
