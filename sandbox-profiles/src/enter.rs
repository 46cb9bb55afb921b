//! Entering a worker's sandbox, in order: namespaces, rlimits, Landlock, capabilities,
//! `no_new_privs`, seccomp. Runs while the process is single-threaded, before any input is
//! read. A layer the kernel lacks is reported as unavailable, with the reason, never skipped
//! silently.

use oarn_protocol::WorkerKind;
use oarn_protocol::sandbox::{Layer, LayerReport, LayerState, SandboxReport};

use crate::launch::Launch;
use crate::profile::{self, Profile, ProfileError, Values};
use crate::{capabilities, filesystem, namespaces, rlimits, seccomp};

/// Applies the sandbox profile of `kind` and reports every layer.
pub fn enter(kind: WorkerKind, launch: &Launch) -> Result<SandboxReport, ProfileError> {
    let (text, origin) = profile::text(&launch.profile_file(kind), launch.profiles.as_deref())?;
    let profile = Profile::parse(&text, &origin)?;
    let values = Values {
        home: launch.home.clone(),
        models: launch.models.clone(),
        memory_mb: if launch.memory_mb == 0 {
            rlimits::physical_memory_mb()
        } else {
            launch.memory_mb
        },
        ollama_port: launch.ollama.map(|a| a.port()),
    };
    let mut layers = namespaces::enter(&profile.namespaces);
    layers.push(LayerReport {
        layer: Layer::Rlimits,
        state: rlimits::apply(&profile.rlimits, &values),
    });
    layers.push(LayerReport {
        layer: Layer::Landlock,
        state: filesystem::apply(&profile.landlock, &values),
    });
    layers.push(LayerReport {
        layer: Layer::Capabilities,
        state: capabilities::drop_all(),
    });
    layers.push(LayerReport {
        layer: Layer::NoNewPrivs,
        state: no_new_privs(),
    });
    layers.push(LayerReport {
        layer: Layer::Seccomp,
        state: seccomp::apply(&profile.seccomp),
    });
    Ok(SandboxReport {
        profile_hash: profile::hash(&text),
        layers,
    })
}

/// `PR_SET_NO_NEW_PRIVS`: no exec can ever gain privileges (setuid bits, file capabilities).
fn no_new_privs() -> LayerState {
    // SAFETY: prctl with PR_SET_NO_NEW_PRIVS takes integer arguments only.
    let rc = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    if rc == 0 {
        LayerState::Active
    } else {
        LayerState::Unavailable {
            reason: format!("prctl(PR_SET_NO_NEW_PRIVS): {}", std::io::Error::last_os_error()),
        }
    }
}
