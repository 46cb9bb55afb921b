//! Capabilities: every set emptied (bounding and ambient first), so the worker holds no
//! privilege even when the supervisor runs as root.

use caps::CapSet;
use oarn_protocol::sandbox::LayerState;

/// Drops every capability from every set.
pub fn drop_all() -> LayerState {
    let mut failed = Vec::new();
    for cap in caps::all() {
        if caps::has_cap(None, CapSet::Bounding, cap).unwrap_or(false)
            && let Err(e) = caps::drop(None, CapSet::Bounding, cap)
        {
            failed.push(format!("bounding {cap}: {e}"));
        }
    }
    for set in [
        CapSet::Ambient,
        CapSet::Inheritable,
        CapSet::Effective,
        CapSet::Permitted,
    ] {
        if let Err(e) = caps::clear(None, set) {
            failed.push(format!("{set:?}: {e}"));
        }
    }
    let left = caps::read(None, CapSet::Effective)
        .map(|s| s.len())
        .unwrap_or(usize::MAX);
    if failed.is_empty() && left == 0 {
        LayerState::Active
    } else {
        LayerState::Unavailable {
            reason: format!("capabilities left: {left}; {}", failed.join("; ")),
        }
    }
}
