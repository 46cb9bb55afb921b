//! Resource limits: memory, descriptors, processes, file size, and no core dumps.

use oarn_protocol::sandbox::LayerState;

use crate::profile::{Rlimits, Values};

const MIB: u64 = 1 << 20;

/// Applies every limit; the layer is active only when all of them took.
pub fn apply(limits: &Rlimits, values: &Values) -> LayerState {
    let address_space = match values.amount(&limits.address_space_mb) {
        Ok(mb) => mb,
        Err(e) => return LayerState::Unavailable { reason: e },
    };
    let all = [
        ("RLIMIT_AS", libc::RLIMIT_AS, address_space.saturating_mul(MIB)),
        ("RLIMIT_NOFILE", libc::RLIMIT_NOFILE, limits.open_files),
        ("RLIMIT_NPROC", libc::RLIMIT_NPROC, limits.processes),
        (
            "RLIMIT_FSIZE",
            libc::RLIMIT_FSIZE,
            limits.file_size_mb.saturating_mul(MIB),
        ),
        ("RLIMIT_CORE", libc::RLIMIT_CORE, limits.core),
    ];
    let mut failed = Vec::new();
    for (name, resource, value) in all {
        let limit = libc::rlimit {
            rlim_cur: value,
            rlim_max: value,
        };
        // SAFETY: setrlimit reads a valid rlimit.
        if unsafe { libc::setrlimit(resource, &limit) } != 0 {
            failed.push(format!("{name}: {}", std::io::Error::last_os_error()));
        }
    }
    // SAFETY: prctl with integer arguments; not dumpable also keeps other processes of the
    // same user from ptrace-attaching or reading /proc/<pid>/mem.
    if unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) } != 0 {
        failed.push(format!("PR_SET_DUMPABLE: {}", std::io::Error::last_os_error()));
    }
    if failed.is_empty() {
        LayerState::Active
    } else {
        LayerState::Unavailable {
            reason: failed.join("; "),
        }
    }
}

/// Physical memory in MiB, from sysinfo(2) (no /proc needed, so it works under systemd's
/// `ProcSubset=pid`).
pub fn physical_memory_mb() -> u64 {
    // SAFETY: sysinfo fills a zeroed struct we own.
    let mut info: libc::sysinfo = unsafe { std::mem::zeroed() };
    if unsafe { libc::sysinfo(&mut info) } != 0 {
        return u64::MAX / MIB;
    }
    (info.totalram as u64).saturating_mul(u64::from(info.mem_unit)) / MIB
}
