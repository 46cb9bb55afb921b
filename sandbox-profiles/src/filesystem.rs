//! Landlock: the files a worker may read or write, and on ABI >= 4 the TCP ports it may bind
//! or connect to. Everything not granted is denied.

use landlock::{
    ABI, Access, AccessFs, AccessNet, CompatLevel, Compatible, NetPort, PathBeneath, PathFd, Ruleset, RulesetAttr,
    RulesetCreatedAttr, RulesetStatus,
};
use oarn_protocol::sandbox::LayerState;

use crate::profile::{self, Landlock, Values};

/// The newest ABI this build knows; older kernels get what they support, and the report says so.
const ABI_WANTED: ABI = ABI::V5;

/// Restricts the process to the profile's grants.
pub fn apply(rules: &Landlock, values: &Values) -> LayerState {
    match restrict(rules, values) {
        Ok((RulesetStatus::FullyEnforced, _)) => LayerState::Active,
        Ok((RulesetStatus::PartiallyEnforced, missing)) => LayerState::Unavailable {
            reason: format!("only partly enforced by this kernel's Landlock ABI{missing}"),
        },
        Ok((RulesetStatus::NotEnforced, _)) => LayerState::Unavailable {
            reason: "the kernel does not enforce Landlock".into(),
        },
        Err(e) => LayerState::Unavailable {
            reason: format!("landlock: {e}"),
        },
    }
}

fn restrict(rules: &Landlock, values: &Values) -> Result<(RulesetStatus, String), landlock::RulesetError> {
    let read = AccessFs::from_read(ABI_WANTED);
    let all = AccessFs::from_all(ABI_WANTED);
    let bind = profile::ports(&rules.tcp_bind, values);
    let connect = profile::ports(&rules.tcp_connect, values);
    let mut net = landlock::BitFlags::<AccessNet>::empty();
    if bind.is_some() {
        net |= AccessNet::BindTcp;
    }
    if connect.is_some() {
        net |= AccessNet::ConnectTcp;
    }
    let mut ruleset = Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(all)?;
    if !net.is_empty() {
        ruleset = ruleset.handle_access(net)?;
    }
    let mut created = ruleset.create()?;
    let mut missing = String::new();
    for (paths, access) in [(&rules.read, read), (&rules.write, all)] {
        for template in paths {
            let path = values.path(template);
            // A file (such as /etc/resolv.conf) takes only the rights a file can have; asking
            // for directory rights on it would leave the ruleset "partly enforced".
            let access = if std::fs::metadata(&path).is_ok_and(|m| !m.is_dir()) {
                access & AccessFs::from_file(ABI_WANTED)
            } else {
                access
            };
            match PathFd::new(&path) {
                Ok(fd) => created = created.add_rule(PathBeneath::new(fd, access))?,
                Err(_) => missing.push_str(&format!("; {} does not exist", path.display())),
            }
        }
    }
    for port in bind.into_iter().flatten() {
        created = created.add_rule(NetPort::new(port, AccessNet::BindTcp))?;
    }
    for port in connect.into_iter().flatten() {
        created = created.add_rule(NetPort::new(port, AccessNet::ConnectTcp))?;
    }
    let status = created.restrict_self()?;
    Ok((status.ruleset, missing))
}
