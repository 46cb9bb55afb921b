//! Entering a worker's sandbox, in order: namespaces (with the mount table narrowed to the
//! profile's paths), rlimits, Landlock, capabilities, `no_new_privs`, seccomp. Runs while the
//! process is single-threaded, before any input is read. A layer the kernel lacks is reported
//! as unavailable, with the reason, never skipped silently.

use oarn_protocol::WorkerKind;
use oarn_protocol::sandbox::{Layer, LayerReport, LayerState, SandboxReport};

use crate::launch::Launch;
use crate::profile::{self, Profile, ProfileError, Values};
use crate::{capabilities, filesystem, namespaces, rlimits, seccomp, view};

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
    narrow_view(&mut layers, &profile, &values);
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

/// In its own mount table, the worker's root becomes one that holds only the profile's paths
/// ([`view`]); the mount namespace layer counts as active only then.
fn narrow_view(layers: &mut [LayerReport], profile: &Profile, values: &Values) {
    let Some(mount) = layers.iter_mut().find(|l| l.layer == Layer::MountNamespace) else {
        return;
    };
    if mount.state != LayerState::Active {
        return;
    }
    let wanted: Vec<_> = (profile.landlock.read.iter())
        .chain(&profile.landlock.write)
        .chain(&profile.mount.sockets)
        .map(|t| values.path(t))
        .collect();
    if let Err(e) = view::enter(&view::plan(&wanted)) {
        mount.state = LayerState::Unavailable {
            reason: format!("own mount table, but its root could not be narrowed to the profile's paths: {e}"),
        };
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
            reason: format!("prctl(PR_SET_NO_NEW_PRIVS): {}", std::io::Error::last_os_error()),
        }
    }
}
