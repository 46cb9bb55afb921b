//! Probe mode: proves, from inside a worker under its real sandbox, that forbidden operations
//! fail and the operations its job needs still work. Each result tells a sandbox denial (a
//! syscall seccomp refused, or EACCES/EPERM from Landlock, capabilities or namespaces) from an
//! ordinary failure (a wrong argument, a missing file), as bubblewrap's try-syscall harness
//! does, so a probe that fails for the wrong reason counts as a failure.

use std::ffi::CString;
use std::io::{self, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream, UdpSocket};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Duration;

use oarn_protocol::WorkerKind;
use oarn_protocol::sandbox::{Layer, LayerState, SandboxReport};
use serde::{Deserialize, Serialize};

use crate::launch::Launch;
use crate::{seccomp, syscalls};

/// What a probe should find.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Expect {
    Denied,
    Allowed,
    /// A sandbox layer the profile asks for is in force.
    Active,
}

/// One probe's result, one JSON line on the worker's stdout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    pub worker: String,
    pub probe: String,
    pub expected: Expect,
    /// `allowed`, `denied: <why>` or `failed: <error>`.
    pub got: String,
    pub ok: bool,
}

/// What the probes act on.
struct Ctx {
    home: PathBuf,
    models: PathBuf,
    tcp_port: u16,
    udp_port: u16,
}

type Probe = (&'static str, fn(&Ctx) -> io::Result<()>, &'static [Subject]);

/// Whose sandbox a probe runs in: a worker, and for the net and chain workers whether privacy
/// mode put them under their `-private` profile (no network but Unix sockets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Subject {
    Infer,
    Net,
    Chain,
    Anon,
    PrivateNet,
    PrivateChain,
}

impl Subject {
    fn of(kind: WorkerKind, launch: &Launch) -> Self {
        let private = launch.anon_socket.is_some();
        match kind {
            WorkerKind::Infer => Infer,
            WorkerKind::Net if private => PrivateNet,
            WorkerKind::Net => Net,
            WorkerKind::Chain if private => PrivateChain,
            WorkerKind::Chain => Chain,
            WorkerKind::Anon => Anon,
        }
    }
}

use Subject::{Anon, Chain, Infer, Net, PrivateChain, PrivateNet};

/// Every probe, with the workers for which it must succeed; it must fail for the others.
const PROBES: &[Probe] = &[
    ("read /etc/shadow", |_| read("/etc/shadow".into()), &[]),
    ("read /etc/passwd", |_| read("/etc/passwd".into()), &[Anon]),
    ("list /", |_| std::fs::read_dir("/").map(drop), &[]),
    ("read the node config", |c| read(c.home.join("config.toml")), &[]),
    ("read the API token", |c| read(c.home.join("api.token")), &[]),
    (
        "read the keystore",
        |c| read(c.home.join("wallet.encrypted")),
        &[Chain, PrivateChain],
    ),
    ("read a model file", |c| read(c.models.join("probe.gguf")), &[Infer]),
    (
        "map a model file read-only",
        |c| map_read_only(c.models.join("probe.gguf")),
        &[Infer],
    ),
    ("write into the model cache", |c| write(c.models.join("planted")), &[]),
    (
        "read the IPFS store",
        |c| std::fs::read_dir(c.home.join("ipfs")).map(drop),
        &[Net, PrivateNet],
    ),
    (
        "write into the IPFS store",
        |c| write(c.home.join("ipfs/probe")),
        &[Net, PrivateNet],
    ),
    (
        "write into the anonymity worker's directory",
        |c| write(c.home.join("anon/probe")),
        &[Anon],
    ),
    ("write the node config", |c| write(c.home.join("config.toml")), &[]),
    ("write /tmp", |_| write("/tmp/oarn-probe-planted".into()), &[]),
    (
        "read another process's environment",
        |_| read("/proc/1/environ".into()),
        &[],
    ),
    (
        "start a thread",
        |_| std::thread::spawn(|| ()).join().map_err(|_| io::Error::other("join")),
        &[Infer, Net, Chain, Anon, PrivateNet, PrivateChain],
    ),
    ("fork a process", |_| fork(), &[]),
    ("execve /bin/sh", |_| exec("/bin/sh"), &[]),
    (
        "ptrace the supervisor",
        |_| rc(unsafe { libc::ptrace(libc::PTRACE_ATTACH, libc::getppid(), 0, 0) }),
        &[],
    ),
    (
        "signal the supervisor",
        |_| rc(unsafe { libc::kill(libc::getppid(), 0) }.into()),
        &[],
    ),
    ("read the supervisor's memory", |_| vm_read(), &[]),
    ("setuid(0)", |_| rc(unsafe { libc::setuid(0) }.into()), &[]),
    ("mount a tmpfs", |_| mount(), &[]),
    (
        "unshare a new user namespace",
        |_| rc(unsafe { libc::unshare(libc::CLONE_NEWUSER) }.into()),
        &[],
    ),
    (
        "join another namespace (setns)",
        |_| rc(unsafe { libc::setns(0, 0) }.into()),
        &[],
    ),
    ("chroot", |_| path_call(|p| unsafe { libc::chroot(p) }, "/"), &[]),
    ("load a kernel module", |_| sys(libc::SYS_finit_module, [0, 0, 0]), &[]),
    ("load a BPF program", |_| sys(libc::SYS_bpf, [5, 0, 0]), &[]),
    ("open a perf event", |_| sys(libc::SYS_perf_event_open, [0, 0, -1]), &[]),
    ("use the kernel keyring", |_| sys(libc::SYS_keyctl, [0, 0, 0]), &[]),
    (
        "make itself dumpable",
        |_| rc(unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 1, 0, 0, 0) }.into()),
        &[],
    ),
    ("map executable memory", |_| mmap_exec(), &[]),
    ("make memory executable", |_| mprotect_exec(), &[]),
    (
        "inject terminal input (TIOCSTI)",
        |_| rc(unsafe { libc::ioctl(0, libc::TIOCSTI, c"x".as_ptr()) }.into()),
        &[],
    ),
    (
        "create an anonymous executable file (memfd)",
        |_| sys(libc::SYS_memfd_create, [c"x".as_ptr() as i64, 0, 0]),
        &[],
    ),
    ("set up io_uring", |_| sys(libc::SYS_io_uring_setup, [0, 0, 0]), &[]),
    ("create a userfaultfd", |_| sys(libc::SYS_userfaultfd, [0, 0, 0]), &[]),
    (
        "change personality",
        |_| rc(unsafe { libc::personality(0) }.into()),
        &[],
    ),
    (
        "open a raw packet socket",
        |_| socket(libc::AF_PACKET, libc::SOCK_RAW),
        &[],
    ),
    (
        "open a netlink socket",
        |_| socket(libc::AF_NETLINK, libc::SOCK_RAW),
        &[],
    ),
    (
        "watch interface addresses (netlink route, datagram)",
        |_| socket_proto(libc::AF_NETLINK, libc::SOCK_DGRAM, libc::NETLINK_ROUTE),
        &[Net],
    ),
    (
        "open a netlink audit socket",
        |_| socket_proto(libc::AF_NETLINK, libc::SOCK_DGRAM, libc::NETLINK_AUDIT),
        &[],
    ),
    (
        "open a TCP socket",
        |_| socket(libc::AF_INET, libc::SOCK_STREAM),
        &[Net, Chain, Anon],
    ),
    (
        "open a TCP/IPv6 socket",
        |_| socket(libc::AF_INET6, libc::SOCK_STREAM),
        &[Net, Chain, Anon],
    ),
    (
        "connect to 127.0.0.1",
        |c| connect(Ipv4Addr::LOCALHOST, c.tcp_port),
        &[Net, Chain, Anon],
    ),
    (
        "open a Unix stream socket",
        |_| socket(libc::AF_UNIX, libc::SOCK_STREAM),
        &[Infer, Net, Anon, PrivateNet, PrivateChain],
    ),
    ("send UDP to 127.0.0.1", |c| udp(c.udp_port), &[Net, Chain]),
    (
        "bind a TCP port",
        |_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map(drop),
        &[Net],
    ),
    ("lock memory (mlock)", |_| mlock(), &[Chain, PrivateChain]),
    // Where `Home::socket` and `supervise::anon_socket` put them; verify listens on both.
    (
        "connect to the node's API socket",
        |c| UnixStream::connect(c.home.join("oarn.sock")).map(drop),
        &[],
    ),
    (
        "connect to the anonymity worker's socket",
        |c| UnixStream::connect(c.home.join("anon/socks.sock")).map(drop),
        &[Anon, PrivateNet, PrivateChain],
    ),
];

/// A probe that needs no network of its own: only the workers whose empty network namespace
/// has no route (the infer worker, and the net and chain workers in privacy mode), so even a
/// broken sandbox sends no packet.
const ISOLATED_ONLY: &[Probe] = &[(
    "connect to a routable address",
    |_| connect(Ipv4Addr::new(192, 0, 2, 1), 9),
    &[],
)];

/// Runs every probe for `kind` and prints one JSON line each; returns whether all were as
/// expected.
pub fn run(kind: WorkerKind, launch: &Launch, report: &SandboxReport, tcp_port: u16, udp_port: u16) -> bool {
    let mut out = io::stdout().lock();
    // The layers first: one the profile asks for and the kernel or container refused is a
    // failure in itself, and its reason says why, where the probes below only show the hole.
    let mut all_ok = true;
    for line in layer_outcomes(kind, report) {
        all_ok &= line.ok;
        let _ = writeln!(out, "{}", serde_json::to_string(&line).unwrap_or_default());
    }
    let ctx = Ctx {
        home: launch.home.clone(),
        models: launch.models.clone(),
        tcp_port,
        udp_port,
    };
    seccomp::PROBING.store(true, Ordering::SeqCst);
    let subject = Subject::of(kind, launch);
    // In a narrowed view a path outside the profile does not exist: ENOENT is the denial.
    let view = report.state(Layer::MountNamespace) == Some(&LayerState::Active);
    let extra: &[Probe] = if matches!(subject, Infer | PrivateNet | PrivateChain) {
        ISOLATED_ONLY
    } else {
        &[]
    };
    for (name, probe, allowed_for) in PROBES.iter().chain(extra) {
        let expected = if allowed_for.contains(&subject) {
            Expect::Allowed
        } else {
            Expect::Denied
        };
        seccomp::TRAPPED.store(-1, Ordering::SeqCst);
        let result = probe(&ctx);
        let trapped = seccomp::TRAPPED.swap(-1, Ordering::SeqCst);
        let (got, denied) = classify(result, trapped, view);
        let ok = match expected {
            Expect::Allowed => got == "allowed",
            Expect::Denied | Expect::Active => denied,
        };
        all_ok &= ok;
        let line = Outcome {
            worker: kind.name().into(),
            probe: (*name).into(),
            expected,
            got,
            ok,
        };
        let _ = writeln!(out, "{}", serde_json::to_string(&line).unwrap_or_default());
    }
    all_ok
}

/// One outcome per layer the profile asks for: `active`, or `unavailable: <why>`.
fn layer_outcomes(kind: WorkerKind, report: &SandboxReport) -> Vec<Outcome> {
    report
        .layers
        .iter()
        .filter_map(|l| {
            let (got, ok) = match &l.state {
                LayerState::Active => ("active".to_string(), true),
                LayerState::Unavailable { reason } => (format!("unavailable: {reason}"), false),
                LayerState::NotApplied { .. } => return None,
            };
            Some(Outcome {
                worker: kind.name().into(),
                probe: format!("sandbox layer {}", l.layer.name()),
                expected: Expect::Active,
                got,
                ok,
            })
        })
        .collect()
}

/// The verdict on one probe: its description, and whether it counts as a sandbox denial.
/// With the mount table narrowed (`view`), every path a probe names exists on the host (the
/// probe home holds one of each), so not finding it is the view at work.
fn classify(result: io::Result<()>, trapped: i64, view: bool) -> (String, bool) {
    if trapped >= 0 {
        let name = syscalls::name(trapped).unwrap_or("unknown");
        return (format!("denied: seccomp refused {name}"), true);
    }
    match result {
        Ok(()) => ("allowed".into(), false),
        Err(e) => match e.raw_os_error() {
            Some(libc::EACCES) => ("denied: EACCES (Landlock)".into(), true),
            Some(libc::EPERM) => ("denied: EPERM".into(), true),
            Some(libc::ENETUNREACH) => ("denied: ENETUNREACH (no network)".into(), true),
            Some(libc::EAFNOSUPPORT) => ("denied: EAFNOSUPPORT (Unix sockets only)".into(), true),
            Some(libc::ENOENT) if view => ("denied: ENOENT (not in its mount table)".into(), true),
            _ => (format!("failed: {e}"), false),
        },
    }
}

fn rc(r: i64) -> io::Result<()> {
    if r < 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
}

fn sys(nr: i64, a: [i64; 3]) -> io::Result<()> {
    // SAFETY: each probe passes arguments the kernel validates; none points at our memory
    // except static C strings.
    rc(unsafe { libc::syscall(nr, a[0], a[1], a[2]) })
}

fn path_call(f: impl Fn(*const libc::c_char) -> libc::c_int, path: &str) -> io::Result<()> {
    let c = CString::new(path).map_err(io::Error::other)?;
    rc(f(c.as_ptr()).into())
}

fn read(path: PathBuf) -> io::Result<()> {
    std::fs::read(path).map(drop)
}

fn write(path: PathBuf) -> io::Result<()> {
    std::fs::write(&path, b"probe")?;
    let _ = std::fs::remove_file(path);
    Ok(())
}

fn map_read_only(path: PathBuf) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let f = std::fs::File::open(path)?;
    // SAFETY: a private read-only map of an open file, unmapped at once.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ,
            libc::MAP_PRIVATE,
            f.as_raw_fd(),
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: p was mapped above with this length.
    unsafe { libc::munmap(p, 4096) };
    Ok(())
}

fn fork() -> io::Result<()> {
    // SAFETY: the child exits at once without touching any state.
    match unsafe { libc::fork() } {
        -1 => Err(io::Error::last_os_error()),
        0 => unsafe { libc::_exit(0) },
        pid => {
            // SAFETY: reaping our own child.
            unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
            Ok(())
        }
    }
}

fn exec(path: &str) -> io::Result<()> {
    let c = CString::new(path).map_err(io::Error::other)?;
    let argv = [c.as_ptr(), std::ptr::null()];
    let envp = [std::ptr::null()];
    // SAFETY: valid NUL-terminated argv and envp; execve returns only on failure.
    unsafe { libc::execve(c.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    Err(io::Error::last_os_error())
}

fn vm_read() -> io::Result<()> {
    let mut buf = [0u8; 8];
    let local = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: 8,
    };
    let remote = libc::iovec {
        iov_base: 0x400000 as *mut libc::c_void,
        iov_len: 8,
    };
    // SAFETY: reads into our own 8-byte buffer.
    rc(unsafe { libc::process_vm_readv(libc::getppid(), &local, 1, &remote, 1, 0) } as i64)
}

fn mount() -> io::Result<()> {
    let (src, target, fs) = (c"none", c"/tmp", c"tmpfs");
    // SAFETY: static C strings; the call is refused or fails.
    rc(unsafe { libc::mount(src.as_ptr(), target.as_ptr(), fs.as_ptr(), 0, std::ptr::null()) }.into())
}

fn mmap_exec() -> io::Result<()> {
    // SAFETY: an anonymous map, unmapped at once if it was made.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ | libc::PROT_EXEC,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: p was mapped above.
    unsafe { libc::munmap(p, 4096) };
    Ok(())
}

fn mprotect_exec() -> io::Result<()> {
    // SAFETY: an anonymous map of our own, made executable (or not) and unmapped.
    unsafe {
        let p = libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let r = libc::mprotect(p, 4096, libc::PROT_READ | libc::PROT_EXEC);
        let err = io::Error::last_os_error();
        libc::munmap(p, 4096);
        if r == 0 { Ok(()) } else { Err(err) }
    }
}

fn mlock() -> io::Result<()> {
    let page = [0u8; 64];
    // SAFETY: locks and unlocks our own stack bytes.
    unsafe {
        rc(libc::mlock(page.as_ptr().cast(), page.len()).into())?;
        libc::munlock(page.as_ptr().cast(), page.len());
    }
    Ok(())
}

fn socket(domain: libc::c_int, ty: libc::c_int) -> io::Result<()> {
    socket_proto(domain, ty, 0)
}

fn socket_proto(domain: libc::c_int, ty: libc::c_int, protocol: libc::c_int) -> io::Result<()> {
    // SAFETY: opens a socket and closes it.
    let fd = unsafe { libc::socket(domain, ty | libc::SOCK_CLOEXEC, protocol) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd was opened above.
    unsafe { libc::close(fd) };
    Ok(())
}

fn connect(ip: Ipv4Addr, port: u16) -> io::Result<()> {
    TcpStream::connect_timeout(&SocketAddrV4::new(ip, port).into(), Duration::from_secs(2)).map(drop)
}

fn udp(port: u16) -> io::Result<()> {
    let s = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
    s.send_to(b"probe", (Ipv4Addr::LOCALHOST, port)).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_worker_has_over_thirty_forbidden_probes() {
        for subject in [Infer, Net, Chain, Anon, PrivateNet, PrivateChain] {
            let denied = PROBES
                .iter()
                .filter(|(_, _, allowed)| !allowed.contains(&subject))
                .count();
            assert!(denied >= 30, "{subject:?}: {denied}");
        }
        assert_eq!(classify(Ok(()), -1, true), ("allowed".to_string(), false));
        assert!(
            classify(Err(io::Error::from_raw_os_error(libc::EBADF)), -1, true)
                .0
                .starts_with("failed")
        );
        assert!(classify(Err(io::Error::from_raw_os_error(libc::EPERM)), libc::SYS_ptrace, false).1);
    }

    #[test]
    fn a_missing_path_counts_as_denied_only_in_a_narrowed_view() {
        let missing = || Err(io::Error::from_raw_os_error(libc::ENOENT));
        assert_eq!(
            classify(missing(), -1, true),
            ("denied: ENOENT (not in its mount table)".to_string(), true)
        );
        assert!(classify(missing(), -1, false).0.starts_with("failed"));
    }

    #[test]
    fn a_refused_layer_fails_verification_with_its_reason() {
        use oarn_protocol::sandbox::{Layer, LayerReport};
        let report = SandboxReport {
            profile_hash: String::new(),
            layers: vec![
                LayerReport {
                    layer: Layer::UserNamespace,
                    state: LayerState::Unavailable {
                        reason: "unshare: Operation not permitted (use seccomp.json)".into(),
                    },
                },
                LayerReport {
                    layer: Layer::Landlock,
                    state: LayerState::Active,
                },
                LayerReport {
                    layer: Layer::PidNamespace,
                    state: LayerState::NotApplied {
                        reason: "the profile does not ask for it".into(),
                    },
                },
            ],
        };
        let lines = layer_outcomes(WorkerKind::Net, &report);
        assert_eq!(lines.len(), 2, "a layer the profile does not ask for is not checked");
        assert!(!lines[0].ok);
        assert_eq!(lines[0].probe, "sandbox layer user-namespace");
        assert!(lines[0].got.contains("use seccomp.json"), "{}", lines[0].got);
        assert!(lines[1].ok);
        assert_eq!(lines[1].expected, Expect::Active);
    }
}
