//! seccomp: the allow-list of syscalls, applied to every thread. A syscall outside it traps;
//! the SIGSYS handler names it on stderr (as a JSON log line the supervisor shows, tagged
//! with the worker) and exits with [`EXIT_SECCOMP`], so an operator can fix a profile.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use oarn_protocol::sandbox::LayerState;
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule, TargetArch,
};

use crate::profile::Seccomp;
use crate::syscalls;

/// Exit status of a worker that made a syscall its profile refuses.
pub const EXIT_SECCOMP: i32 = oarn_protocol::exit::WorkerExit::Seccomp.code() as i32;

/// Offset of `si_syscall` in a SIGSYS `siginfo_t` on 64-bit Linux.
const SI_SYSCALL_OFFSET: usize = 24;

/// In probe mode a refused syscall returns `EPERM` to its caller instead of ending the worker,
/// and its number is left in [`TRAPPED`], so one probe run can try many forbidden things.
pub static PROBING: AtomicBool = AtomicBool::new(false);
/// The last syscall refused in probe mode, or -1.
pub static TRAPPED: AtomicI64 = AtomicI64::new(-1);

/// Builds and installs the filters of `profile` on every thread.
pub fn apply(profile: &Seccomp) -> LayerState {
    match build(profile).and_then(|filters| {
        if profile.on_violation == "report" {
            install_reporter();
        }
        for f in &filters {
            seccompiler::apply_filter_all_threads(f).map_err(|e| e.to_string())?;
        }
        Ok(())
    }) {
        Ok(()) => LayerState::Active,
        Err(reason) => LayerState::Unavailable {
            reason: format!("seccomp: {reason}"),
        },
    }
}

/// The BPF programs of a profile: the errno rules, then the allow-list.
pub fn build(profile: &Seccomp) -> Result<Vec<BpfProgram>, String> {
    let arch = TargetArch::try_from(std::env::consts::ARCH).map_err(|e| e.to_string())?;
    let mut allow: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    for name in &profile.allow {
        if let Some(nr) = syscalls::number(name) {
            allow.insert(nr, Vec::new());
        }
    }
    for only in &profile.only {
        let Some(nr) = syscalls::number(&only.syscall) else {
            continue;
        };
        let mut conds = Vec::new();
        for c in &only.when {
            let (mask, value) = c.mask_value()?;
            let op = mask.map_or(SeccompCmpOp::Eq, SeccompCmpOp::MaskedEq);
            // Arguments compare on their low 32 bits: every condition here is on an int-sized
            // argument or on flags in the low word.
            conds.push(SeccompCondition::new(c.arg, SeccompCmpArgLen::Dword, op, value).map_err(|e| e.to_string())?);
        }
        allow
            .entry(nr)
            .or_default()
            .push(SeccompRule::new(conds).map_err(|e| e.to_string())?);
    }
    let mut errno_filters = Vec::new();
    for rule in &profile.errno {
        let Some(nr) = syscalls::number(&rule.syscall) else {
            continue;
        };
        let errno = syscalls::ERRNOS
            .iter()
            .find(|(n, _)| *n == rule.errno)
            .map(|&(_, v)| v)
            .ok_or("unknown errno")?;
        // The calls this rule answers: all of them, or (De Morgan) those where some `unless`
        // argument differs from its value.
        let mut answered = Vec::new();
        for c in &rule.unless {
            let (_, value) = c.mask_value()?;
            let ne = SeccompCondition::new(c.arg, SeccompCmpArgLen::Dword, SeccompCmpOp::Ne, value)
                .map_err(|e| e.to_string())?;
            answered.push(SeccompRule::new(vec![ne]).map_err(|e| e.to_string())?);
        }
        // Allowed by the allow-list, answered by this filter: ERRNO outranks ALLOW (but not the
        // allow-list's TRAP, so the calls answered here must pass it).
        if answered.is_empty() {
            allow.insert(nr, Vec::new());
        } else {
            allow.entry(nr).or_default().extend(answered.iter().cloned());
        }
        let f = SeccompFilter::new(
            BTreeMap::from([(nr, answered)]),
            SeccompAction::Allow,
            SeccompAction::Errno(errno),
            arch,
        )
        .map_err(|e| e.to_string())?;
        errno_filters.push(BpfProgram::try_from(f).map_err(|e| e.to_string())?);
    }
    let mismatch = if profile.on_violation == "report" {
        SeccompAction::Trap
    } else {
        SeccompAction::KillProcess
    };
    let main = SeccompFilter::new(allow, mismatch, SeccompAction::Allow, arch).map_err(|e| e.to_string())?;
    errno_filters.push(BpfProgram::try_from(main).map_err(|e| e.to_string())?);
    Ok(errno_filters)
}

fn install_reporter() {
    // SAFETY: installs a handler for SIGSYS; the handler only does async-signal-safe things.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_sigsys as *const () as usize;
        action.sa_flags = libc::SA_SIGINFO;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(libc::SIGSYS, &action, std::ptr::null_mut());
    }
}

/// Names the refused syscall on stderr and exits (or, probing, fails it with `EPERM`); no
/// allocation, no locks.
extern "C" fn on_sigsys(_sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid SIGSYS siginfo; si_syscall is an int at this offset.
    let nr = unsafe { std::ptr::read_unaligned((info as *const u8).add(SI_SYSCALL_OFFSET) as *const i32) };
    if PROBING.load(Ordering::Relaxed) {
        TRAPPED.store(nr.into(), Ordering::Relaxed);
        // SAFETY: ctx is the ucontext of the trapped thread; the syscall's return register
        // is set so the call returns -EPERM.
        unsafe { set_return(ctx, -i64::from(libc::EPERM)) };
        return;
    }
    let mut buf = [0u8; 320];
    let mut len = 0;
    let mut push = |bytes: &[u8]| {
        let n = bytes.len().min(buf.len() - len);
        buf[len..len + n].copy_from_slice(&bytes[..n]);
        len += n;
    };
    push(br#"{"level":"ERROR","fields":{"message":"seccomp: the sandbox refused syscall "#);
    push(syscalls::name(nr.into()).unwrap_or("unknown").as_bytes());
    push(b" (");
    let mut digits = [0u8; 12];
    let mut i = digits.len();
    let mut n = nr.unsigned_abs();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    push(&digits[i..]);
    push(br#"); this worker's sandbox profile does not allow it"},"target":"sandbox"}"#);
    push(b"\n");
    // SAFETY: write and _exit are async-signal-safe and allowed by every profile.
    unsafe {
        libc::write(2, buf.as_ptr().cast(), len);
        libc::_exit(EXIT_SECCOMP);
    }
}

#[cfg(target_arch = "x86_64")]
unsafe fn set_return(ctx: *mut libc::c_void, value: i64) {
    let uc = ctx.cast::<libc::ucontext_t>();
    // SAFETY: the caller passes the signal's ucontext.
    unsafe { (*uc).uc_mcontext.gregs[libc::REG_RAX as usize] = value };
}

#[cfg(target_arch = "aarch64")]
unsafe fn set_return(ctx: *mut libc::c_void, value: i64) {
    let uc = ctx.cast::<libc::ucontext_t>();
    // SAFETY: the caller passes the signal's ucontext.
    unsafe { (*uc).uc_mcontext.regs[0] = value as u64 };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::{Profile, builtin};
    use oarn_protocol::WorkerKind;

    #[test]
    fn every_builtin_profile_compiles_to_bpf() {
        for kind in WorkerKind::ALL {
            let p = Profile::parse(builtin(kind), "t").unwrap();
            let filters = build(&p.seccomp).unwrap();
            let errno: Vec<&str> = p.seccomp.errno.iter().map(|r| r.syscall.as_str()).collect();
            assert!(errno.contains(&"clone3"), "{kind}: clone3 is answered ENOSYS");
            assert_eq!(
                filters.len(),
                errno.len() + 1,
                "{kind}: one filter per errno rule, and the allow-list"
            );
            assert!(filters.iter().all(|f| !f.is_empty() && f.len() < 4096));
        }
    }
}
