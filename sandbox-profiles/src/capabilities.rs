//! Capabilities: every set emptied (bounding and ambient first), so the worker holds no
//! privilege even when the supervisor runs as root.

use caps::CapSet;
use oarn_protocol::sandbox::LayerState;

/// Drops every capability from every set.
pub fn drop_all() -> LayerState {
    let mut failed = Vec::new();
    // Dropping from the bounding set needs CAP_SETPCAP, so without the user namespace every
    // drop fails alike: one line names them all, sorted, with the first error.
    let mut kept = Vec::new();
    let mut first_error = None;
    for cap in caps::all() {
        if caps::has_cap(None, CapSet::Bounding, cap).unwrap_or(false)
            && let Err(e) = caps::drop(None, CapSet::Bounding, cap)
        {
            kept.push(cap.to_string());
            first_error.get_or_insert(e.to_string());
        }
    }
    if let Some(e) = first_error {
        kept.sort();
        failed.push(format!(
            "the bounding set kept {} capabilities ({}): {e}",
            kept.len(),
            kept.join(", ")
        ));
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
