//! Starting a child process: the one way the node starts anything, whoever starts it (the
//! daemon's workers, a worker of one command, the chain worker's key operations, the sandbox
//! probes, `ollama serve`). Every child gets:
//!
//! - an empty environment plus exactly the variables named here;
//! - stdin, stdout and stderr as asked, and only the extra descriptors named here, at the
//!   numbers named here (every other descriptor is closed on exec);
//! - death with the process that started it (`PR_SET_PDEATHSIG`; a child whose parent died
//!   before that took effect exits at once);
//! - unless it must read the operator's terminal, its own process group, so a terminal's
//!   Ctrl-C reaches the supervisor, which stops its children in order.

use std::ffi::OsString;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use oarn_config::{Config, resolve_path};
use oarn_protocol::WorkerKind;
use oarn_sandbox::Launch;

/// Where a worker's binary is: the per-worker override, else `workers.dir`, else next to the
/// running `oarn` executable, else in `../libexec/oarn/` beside it (where a package puts
/// binaries that are not commands: `/usr/bin/oarn` finds `/usr/libexec/oarn/oarn-worker-net`).
pub fn binary(kind: WorkerKind, config: &Config, home: &Path) -> PathBuf {
    let w = &config.workers;
    let explicit = match kind {
        WorkerKind::Infer => &w.infer,
        WorkerKind::Net => &w.net,
        WorkerKind::Chain => &w.chain,
        WorkerKind::Anon => &w.anon,
    };
    if !explicit.as_os_str().is_empty() {
        return resolve_path(explicit, home);
    }
    if w.dir.as_os_str().is_empty() {
        let exe_dir = std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .unwrap_or_default();
        beside(&exe_dir, kind.binary())
    } else {
        resolve_path(&w.dir, home).join(kind.binary())
    }
}

/// `name` next to `exe_dir`, else in `exe_dir/../libexec/oarn/` when it is there; the path next
/// to it when neither exists, for the error that names it.
fn beside(exe_dir: &Path, name: &str) -> PathBuf {
    let next_to = exe_dir.join(name);
    let libexec = exe_dir.join("../libexec/oarn").join(name);
    if !next_to.exists() && libexec.exists() {
        return libexec;
    }
    next_to
}

/// A child process to start.
#[derive(Debug)]
pub struct Spawn {
    program: PathBuf,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    stdin: Stdio,
    stdout: Stdio,
    stderr: Stdio,
    /// Descriptors handed over, each at its number in the child.
    fds: Vec<(OwnedFd, RawFd)>,
    own_group: bool,
}

impl Spawn {
    /// `program` with no arguments, no environment, piped stdin, stdout and stderr, in a
    /// process group of its own.
    pub fn new(program: impl Into<PathBuf>) -> Self {
        Self {
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
            stdin: Stdio::piped(),
            stdout: Stdio::piped(),
            stderr: Stdio::piped(),
            fds: Vec::new(),
            own_group: true,
        }
    }

    /// A worker binary started with `launch` as its command line (workers take everything
    /// from it: they have no environment).
    pub fn worker(program: &Path, launch: &Launch) -> Self {
        Self::new(program).args(launch.args())
    }

    pub fn program(&self) -> &Path {
        &self.program
    }

    pub fn args(mut self, args: impl IntoIterator<Item = impl Into<OsString>>) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// One environment variable; the child has no other.
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    pub fn stdin(mut self, s: Stdio) -> Self {
        self.stdin = s;
        self
    }

    pub fn stdout(mut self, s: Stdio) -> Self {
        self.stdout = s;
        self
    }

    pub fn stderr(mut self, s: Stdio) -> Self {
        self.stderr = s;
        self
    }

    /// Stays in the caller's process group: for a child that reads the operator's terminal
    /// (a passphrase prompt), which a background group may not.
    pub fn in_callers_group(mut self) -> Self {
        self.own_group = false;
        self
    }

    /// Hands `fd` to the child as descriptor `at` (3 or more).
    pub fn fd(mut self, fd: impl AsFd, at: RawFd) -> std::io::Result<Self> {
        self.fds.push((high(fd.as_fd().as_raw_fd())?, at));
        Ok(self)
    }

    /// The command, ready to spawn; the descriptors handed over must outlive the spawn, so
    /// they are returned with it.
    fn command(self) -> (std::process::Command, Vec<OwnedFd>) {
        let mut cmd = std::process::Command::new(&self.program);
        cmd.args(&self.args)
            .env_clear()
            .envs(self.env)
            .stdin(self.stdin)
            .stdout(self.stdout)
            .stderr(self.stderr);
        if self.own_group {
            cmd.process_group(0);
        }
        let pairs: Vec<(RawFd, RawFd)> = self.fds.iter().map(|(fd, at)| (fd.as_raw_fd(), *at)).collect();
        let keep: Vec<OwnedFd> = self.fds.into_iter().map(|(fd, _)| fd).collect();
        let parent = std::process::id();
        // SAFETY: between fork and exec only async-signal-safe calls are made: prctl, getppid,
        // syscall(close_range), dup2 and _exit, none of which allocate or take locks; `pairs`
        // was built before the fork.
        unsafe {
            cmd.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // The parent died before the prctl took effect: nobody will watch this child.
                if libc::getppid() as u32 != parent {
                    libc::_exit(1);
                }
                // Any descriptor above stderr that is not close-on-exec yet becomes so; older
                // kernels without close_range keep relying on Rust opening everything
                // O_CLOEXEC.
                libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, libc::CLOSE_RANGE_CLOEXEC);
                for &(from, to) in &pairs {
                    // dup2 leaves the new descriptor without close-on-exec: exactly these
                    // survive the exec.
                    if libc::dup2(from, to) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        (cmd, keep)
    }

    /// Starts the child for async use; it is killed if its handle is dropped.
    pub fn start(self) -> std::io::Result<tokio::process::Child> {
        let (cmd, _keep) = self.command();
        let mut cmd = tokio::process::Command::from(cmd);
        cmd.kill_on_drop(true);
        cmd.spawn()
    }

    /// Starts the child for blocking use.
    pub fn start_blocking(self) -> std::io::Result<std::process::Child> {
        let (mut cmd, _keep) = self.command();
        cmd.spawn()
    }
}

/// A duplicate of `fd` numbered above any target, so the moves in the child never collide.
fn high(fd: RawFd) -> std::io::Result<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC only creates a new descriptor.
    let new = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 100) };
    if new < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `new` is a fresh descriptor owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_are_found_next_to_oarn_else_in_libexec_beside_it() {
        let root = tempfile::tempdir().unwrap();
        let bin = root.path().join("bin");
        let libexec = root.path().join("libexec/oarn");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::create_dir_all(&libexec).unwrap();
        assert_eq!(
            beside(&bin, "oarn-worker-net"),
            bin.join("oarn-worker-net"),
            "neither: named next to oarn"
        );
        std::fs::write(libexec.join("oarn-worker-net"), "").unwrap();
        assert_eq!(
            beside(&bin, "oarn-worker-net"),
            bin.join("../libexec/oarn/oarn-worker-net")
        );
        std::fs::write(bin.join("oarn-worker-net"), "").unwrap();
        assert_eq!(
            beside(&bin, "oarn-worker-net"),
            bin.join("oarn-worker-net"),
            "next to oarn comes first"
        );
    }

    #[test]
    fn children_get_only_the_environment_and_descriptors_named() {
        let (r, w) = nix::unistd::pipe().unwrap();
        let out = Spawn::new("/bin/sh")
            .args(["-c", "env; ls /proc/self/fd; echo hello >&5"])
            .env("ONLY", "this")
            .stdin(Stdio::null())
            .fd(&w, 5)
            .unwrap()
            .start_blocking()
            .unwrap()
            .wait_with_output()
            .unwrap();
        drop(w);
        let text = String::from_utf8_lossy(&out.stdout);
        let env: Vec<&str> = text.lines().filter(|l| l.contains('=')).collect();
        // sh sets PWD, SHLVL and _ itself; nothing of ours leaks.
        assert!(env.contains(&"ONLY=this"), "{text}");
        assert!(
            !env.iter().any(|l| l.starts_with("PATH=/usr") || l.starts_with("HOME=")),
            "{text}"
        );
        let fds: Vec<&str> = text.lines().filter(|l| l.chars().all(|c| c.is_ascii_digit())).collect();
        // 0, 1, 2, 5, and the descriptor `ls` opens to list the directory.
        assert_eq!(fds.len(), 5, "{fds:?}");
        assert!(fds.contains(&"5"));
        let mut got = String::new();
        std::io::Read::read_to_string(&mut std::fs::File::from(r), &mut got).unwrap();
        assert_eq!(got, "hello\n");
    }
}
