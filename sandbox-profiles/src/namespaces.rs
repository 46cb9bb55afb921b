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
        return LayerState::Unavailable {
            reason: format!("{reason} (user namespaces disabled by the kernel, a container or an AppArmor policy)"),
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
