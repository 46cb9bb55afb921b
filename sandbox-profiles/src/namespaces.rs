//! Namespaces: the worker unshares the ones its profile asks for. The user namespace comes
//! first, so the others need no privilege on the host; the worker keeps its own uid and gid
//! inside it.

use oarn_protocol::sandbox::{Layer, LayerReport, LayerState};

use crate::profile::Namespaces;

/// Unshares what `ns` asks for; one report per namespace layer.
pub fn enter(ns: &Namespaces) -> Vec<LayerReport> {
    let mut out = Vec::new();
    let user = if ns.user {
        unshare_user()
    } else {
        off("the profile does not ask for a user namespace")
    };
    out.push(LayerReport {
        layer: Layer::UserNamespace,
        state: user,
    });
    for (layer, wanted, flag) in [
        (Layer::NetworkNamespace, ns.network, libc::CLONE_NEWNET),
        (Layer::MountNamespace, ns.mount, libc::CLONE_NEWNS),
        (Layer::IpcNamespace, ns.ipc, libc::CLONE_NEWIPC),
        (Layer::PidNamespace, ns.pid, libc::CLONE_NEWPID),
    ] {
        let state = if wanted {
            unshare(flag)
        } else {
            off("the profile does not ask for it")
        };
        out.push(LayerReport { layer, state });
    }
    out
}

fn off(reason: &str) -> LayerState {
    LayerState::NotApplied { reason: reason.into() }
}

fn unshare(flag: libc::c_int) -> LayerState {
    // SAFETY: unshare takes flags only; the caller is single-threaded.
    if unsafe { libc::unshare(flag) } == 0 {
        LayerState::Active
    } else {
        LayerState::Unavailable {
            reason: format!("unshare: {}", std::io::Error::last_os_error()),
        }
    }
}

fn unshare_user() -> LayerState {
    // SAFETY: getuid/getgid cannot fail.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    if let LayerState::Unavailable { reason } = unshare(libc::CLONE_NEWUSER) {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        return LayerState::Unavailable {
            reason: format!("{reason} ({})", refused_because(&status)),
        };
    }
    let write = |file: &str, text: String| {
        std::fs::write(format!("/proc/self/{file}"), text).map_err(|e| format!("writing /proc/self/{file}: {e}"))
    };
    let mapped = write("setgroups", "deny".into())
        .and_then(|_| write("uid_map", format!("{uid} {uid} 1")))
        .and_then(|_| write("gid_map", format!("{gid} {gid} 1")));
    match mapped {
        Ok(()) => LayerState::Active,
        Err(reason) => LayerState::Unavailable { reason },
    }
}

/// The seccomp profile oarn's container image ships, which allows the namespaces.
pub const CONTAINER_PROFILE: &str = "packaging/container/seccomp.json";

/// Why the kernel refused a user namespace, told from `/proc/self/status` as read before this
/// worker installs its own filter: a seccomp filter already in force then was inherited, and
/// the usual one is a container runtime's default profile (Docker's, Kubernetes'
/// RuntimeDefault), which refuses unshare(2) without CAP_SYS_ADMIN.
fn refused_because(status: &str) -> String {
    let filtered = status
        .lines()
        .any(|l| l.strip_prefix("Seccomp:").is_some_and(|v| v.trim() == "2"));
    if filtered {
        format!(
            "a seccomp filter this process inherited refuses it; in a container, that is the runtime's \
             default profile: run the container with oarn's profile {CONTAINER_PROFILE} \
             (docker/podman run --security-opt seccomp=seccomp.json; Kubernetes: a Localhost seccompProfile)"
        )
    } else {
        "user namespaces disabled by the kernel (user.max_user_namespaces, kernel.unprivileged_userns_clone) \
         or an AppArmor policy (kernel.apparmor_restrict_unprivileged_userns)"
            .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_inherited_seccomp_filter_names_the_container_profile() {
        let status = "Name:\toarn-worker-net\nNoNewPrivs:\t1\nSeccomp:\t2\nSeccomp_filters:\t1\n";
        let why = refused_because(status);
        assert!(why.contains(CONTAINER_PROFILE), "{why}");
        assert!(why.contains("--security-opt seccomp="), "{why}");
    }

    #[test]
    fn without_a_filter_the_kernel_settings_are_named() {
        let status = "Name:\toarn-worker-net\nSeccomp:\t0\nSeccomp_filters:\t0\n";
        let why = refused_because(status);
        assert!(!why.contains(CONTAINER_PROFILE), "{why}");
        assert!(why.contains("max_user_namespaces"), "{why}");
    }
}
