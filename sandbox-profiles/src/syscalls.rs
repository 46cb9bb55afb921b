//! Syscall names and the named constants profiles use in argument conditions, so a profile
//! says `socket` and `AF_UNIX`, never `41` and `1`.

macro_rules! table {
    ($( $(#[$m:meta])* $name:ident ),* $(,)?) => {
        /// Every syscall a profile may name or a report may show, with its number on this
        /// architecture (the names keep libc's `SYS_` prefix).
        pub const SYSCALLS: &[(&str, i64)] = &[
            $( $(#[$m])* (stringify!($name), libc::$name as i64), )*
        ];
    };
}

table! {
    SYS_read, SYS_write, SYS_readv, SYS_writev, SYS_pread64, SYS_pwrite64, SYS_close, SYS_lseek,
    SYS_fstat, SYS_newfstatat, SYS_statx, SYS_openat, SYS_fcntl, SYS_ppoll, SYS_brk, SYS_munmap,
    SYS_mremap, SYS_madvise, SYS_mmap, SYS_mprotect, SYS_futex, SYS_set_robust_list, SYS_rseq,
    SYS_sched_getaffinity, SYS_sched_yield, SYS_getrandom, SYS_clock_gettime, SYS_clock_nanosleep,
    SYS_nanosleep, SYS_gettid, SYS_getpid, SYS_getppid, SYS_rt_sigaction, SYS_rt_sigprocmask,
    SYS_rt_sigreturn, SYS_sigaltstack, SYS_exit, SYS_exit_group, SYS_clone, SYS_clone3, SYS_prctl,
    SYS_socket, SYS_socketpair, SYS_ioctl, SYS_mkdirat, SYS_renameat, SYS_renameat2, SYS_unlinkat,
    SYS_getdents64, SYS_fsync, SYS_fdatasync, SYS_ftruncate, SYS_epoll_create1, SYS_epoll_ctl,
    SYS_epoll_pwait, SYS_eventfd2, SYS_pipe2, SYS_connect, SYS_bind, SYS_listen, SYS_accept4,
    SYS_getsockname, SYS_getpeername, SYS_setsockopt, SYS_getsockopt, SYS_sendto, SYS_recvfrom,
    SYS_sendmsg, SYS_recvmsg, SYS_sendmmsg, SYS_recvmmsg, SYS_shutdown, SYS_mlock, SYS_munlock,
    SYS_execve, SYS_execveat, SYS_ptrace, SYS_mount, SYS_umount2, SYS_unshare, SYS_setns,
    SYS_setuid, SYS_setgid, SYS_setresuid, SYS_setresgid, SYS_kill, SYS_tgkill, SYS_tkill,
    SYS_init_module, SYS_finit_module, SYS_delete_module, SYS_bpf, SYS_perf_event_open,
    SYS_keyctl, SYS_add_key, SYS_request_key, SYS_chroot, SYS_pivot_root, SYS_reboot,
    SYS_process_vm_readv, SYS_process_vm_writev, SYS_userfaultfd, SYS_io_uring_setup,
    SYS_seccomp, SYS_personality, SYS_mknodat, SYS_linkat, SYS_symlinkat, SYS_fchmodat,
    SYS_fchownat, SYS_memfd_create, SYS_kexec_load, SYS_swapon, SYS_acct, SYS_settimeofday,
    SYS_sethostname, SYS_setdomainname, SYS_quotactl, SYS_name_to_handle_at,
    SYS_open_by_handle_at, SYS_pidfd_open, SYS_pidfd_getfd, SYS_wait4, SYS_uname, SYS_faccessat,
    SYS_faccessat2, SYS_readlinkat, SYS_getcwd, SYS_chdir, SYS_umask, SYS_getuid, SYS_geteuid,
    SYS_getgid, SYS_getegid, SYS_prlimit64, SYS_set_tid_address, SYS_landlock_create_ruleset,
    SYS_landlock_add_rule, SYS_landlock_restrict_self, SYS_fadvise64, SYS_sysinfo, SYS_sched_setaffinity,
    SYS_getcpu, SYS_sched_getparam, SYS_sched_setscheduler, SYS_sched_getscheduler, SYS_get_mempolicy,
    SYS_set_mempolicy, SYS_mbind, SYS_membarrier, SYS_times, SYS_getrusage, SYS_fchmod, SYS_flock, SYS_getgroups, SYS_getresuid, SYS_getresgid, SYS_fchown, SYS_fstatfs, SYS_utimensat,
    #[cfg(target_arch = "x86_64")] SYS_poll,
    #[cfg(target_arch = "x86_64")] SYS_epoll_wait,
    #[cfg(target_arch = "x86_64")] SYS_open,
    #[cfg(target_arch = "x86_64")] SYS_stat,
    #[cfg(target_arch = "x86_64")] SYS_access,
    #[cfg(target_arch = "x86_64")] SYS_fork,
    #[cfg(target_arch = "x86_64")] SYS_vfork,
    #[cfg(target_arch = "x86_64")] SYS_iopl,
    #[cfg(target_arch = "x86_64")] SYS_ioperm,
    #[cfg(target_arch = "x86_64")] SYS_arch_prctl,
    #[cfg(target_arch = "x86_64")] SYS_pipe,
    #[cfg(target_arch = "x86_64")] SYS_rename,
    #[cfg(target_arch = "x86_64")] SYS_unlink,
    #[cfg(target_arch = "x86_64")] SYS_mkdir,
    #[cfg(target_arch = "x86_64")] SYS_rmdir,
    #[cfg(target_arch = "x86_64")] SYS_readlink,
    #[cfg(target_arch = "x86_64")] SYS_lstat,
    #[cfg(target_arch = "x86_64")] SYS_chmod,
}

/// Syscalls that names on x86_64 only; a profile may list them on any architecture.
pub const X86_64_ONLY: &[&str] = &[
    "poll",
    "epoll_wait",
    "open",
    "stat",
    "access",
    "fork",
    "vfork",
    "iopl",
    "ioperm",
    "arch_prctl",
    "pipe",
    "rename",
    "unlink",
    "readlink",
    "lstat",
    "chmod",
];

/// Syscalls whose presence in a profile needs a `why`: each can break the sandbox or the host
/// if allowed carelessly.
pub const DANGEROUS: &[&str] = &[
    "clone",
    "clone3",
    "socket",
    "socketpair",
    "ioctl",
    "prctl",
    "mmap",
    "mprotect",
    "ptrace",
    "execve",
    "execveat",
    "mount",
    "umount2",
    "unshare",
    "setns",
    "kill",
    "tgkill",
    "tkill",
    "bpf",
    "perf_event_open",
    "keyctl",
    "add_key",
    "request_key",
    "init_module",
    "finit_module",
    "delete_module",
    "process_vm_readv",
    "process_vm_writev",
    "userfaultfd",
    "io_uring_setup",
    "seccomp",
    "personality",
    "memfd_create",
    "fork",
    "vfork",
    "setuid",
    "setgid",
    "setresuid",
    "setresgid",
    "chroot",
    "pivot_root",
    "open_by_handle_at",
];

/// The number of a syscall on this architecture.
pub fn number(name: &str) -> Option<i64> {
    SYSCALLS
        .iter()
        .find(|(n, _)| n.strip_prefix("SYS_") == Some(name))
        .map(|&(_, nr)| nr)
}

/// The name of a syscall number, for reports.
pub fn name(nr: i64) -> Option<&'static str> {
    SYSCALLS
        .iter()
        .find(|&&(_, n)| n == nr)
        .and_then(|(n, _)| n.strip_prefix("SYS_"))
}

/// Named constants a condition may use.
// The casts are needed where libc's types differ by target (FIONBIO is an int on musl).
#[allow(clippy::unnecessary_cast)]
pub const CONSTANTS: &[(&str, u64)] = &[
    ("AF_UNIX", libc::AF_UNIX as u64),
    ("AF_INET", libc::AF_INET as u64),
    ("AF_INET6", libc::AF_INET6 as u64),
    ("AF_NETLINK", libc::AF_NETLINK as u64),
    ("AF_PACKET", libc::AF_PACKET as u64),
    ("NETLINK_ROUTE", libc::NETLINK_ROUTE as u64),
    ("PROT_EXEC", libc::PROT_EXEC as u64),
    ("PROT_WRITE", libc::PROT_WRITE as u64),
    ("CLONE_THREAD", libc::CLONE_THREAD as u64),
    ("PR_SET_NAME", libc::PR_SET_NAME as u64),
    ("FIONBIO", libc::FIONBIO as u64),
    ("TCGETS", libc::TCGETS as u64),
    ("TCSETS", libc::TCSETS as u64),
    ("SOCK_STREAM", libc::SOCK_STREAM as u64),
    ("SOCK_DGRAM", libc::SOCK_DGRAM as u64),
    ("SOCK_RAW", libc::SOCK_RAW as u64),
    // The socket type without SOCK_NONBLOCK and SOCK_CLOEXEC.
    ("SOCK_TYPE_MASK", 0xf),
];

/// Named errno values an `errno` rule may use.
pub const ERRNOS: &[(&str, u32)] = &[
    ("ENOSYS", libc::ENOSYS as u32),
    ("EPERM", libc::EPERM as u32),
    ("EACCES", libc::EACCES as u32),
    ("EAFNOSUPPORT", libc::EAFNOSUPPORT as u32),
];

/// The value of a named constant.
pub fn constant(name: &str) -> Option<u64> {
    CONSTANTS.iter().find(|(n, _)| *n == name).map(|&(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers_agree() {
        assert_eq!(number("read"), Some(libc::SYS_read));
        assert_eq!(name(libc::SYS_socket), Some("socket"));
        assert_eq!(number("no_such_call"), None);
        assert_eq!(constant("AF_UNIX"), Some(1));
        for d in DANGEROUS {
            assert!(
                number(d).is_some() || X86_64_ONLY.contains(d),
                "{d} is not in the table"
            );
        }
    }
}
