//! Entering a worker's sandbox: applies each layer this build enforces and reports all of them.

use oarn_protocol::WorkerKind;
use oarn_protocol::sandbox::{Layer, LayerReport, LayerState, SandboxReport};

use crate::launch::Launch;

const NOT_YET: &str = "not enforced by this build yet";

/// Applies the sandbox of `kind`. Must run while the process is single-threaded, before any
/// input is read. Never fails: a layer that cannot be applied is reported as such.
pub fn enter(kind: WorkerKind, launch: &Launch) -> SandboxReport {
    let _ = (kind, launch);
    let layers = Layer::ALL
        .into_iter()
        .map(|layer| {
            let state = match layer {
                Layer::NoNewPrivs => no_new_privs(),
                Layer::Rlimits => no_core_dumps(),
                _ => LayerState::NotApplied {
                    reason: NOT_YET.into(),
                },
            };
            LayerReport { layer, state }
        })
        .collect();
    SandboxReport {
        profile_hash: String::new(),
        layers,
    }
}

/// `PR_SET_NO_NEW_PRIVS`: no exec can ever gain privileges (setuid bits, file capabilities).
fn no_new_privs() -> LayerState {
    // SAFETY: prctl with PR_SET_NO_NEW_PRIVS takes integer arguments only.
    let rc = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    if rc == 0 {
        LayerState::Active
    } else {
        LayerState::Unavailable {
            reason: format!(
                "prctl(PR_SET_NO_NEW_PRIVS): {}",
                std::io::Error::last_os_error()
            ),
        }
    }
}

/// Core dumps off and the process not dumpable, so no memory image (keys, prompts) reaches
/// disk. The other limits of the profile are not applied yet, so the layer counts as not
/// applied.
fn no_core_dumps() -> LayerState {
    let zero = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: setrlimit reads a valid rlimit struct; prctl takes integers.
    let ok = unsafe {
        libc::setrlimit(libc::RLIMIT_CORE, &zero) == 0
            && libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) == 0
    };
    if ok {
        LayerState::NotApplied {
            reason: "only core = 0 so far; the profile's other limits are not enforced yet".into(),
        }
    } else {
        LayerState::Unavailable {
            reason: format!("RLIMIT_CORE: {}", std::io::Error::last_os_error()),
        }
    }
}
