//! Cross-checks what a worker claims about its sandbox against what the kernel says in
//! `/proc/<pid>/status`, so a worker that lies (or a build that regressed) is caught.

use oarn_protocol::sandbox::{Layer, SandboxReport};

/// The security-relevant lines of `/proc/<pid>/status`, and which namespaces differ from ours.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed {
    pub no_new_privs: Option<bool>,
    /// `Seccomp:` 0 none, 1 strict, 2 filter.
    pub seccomp: Option<u8>,
    pub cap_eff: Option<u64>,
    /// Namespaces (`user`, `net`, `mnt`, `ipc`) the process does not share with the supervisor.
    pub own_namespaces: Vec<&'static str>,
    /// Namespaces the supervisor was not permitted to compare.
    pub unverified: Vec<&'static str>,
}

/// The namespace files compared, with the layer each stands for.
const NAMESPACES: [(&str, Layer); 4] = [
    ("user", Layer::UserNamespace),
    ("net", Layer::NetworkNamespace),
    ("mnt", Layer::MountNamespace),
    ("ipc", Layer::IpcNamespace),
];

/// Reads `/proc/<pid>/status` and compares `/proc/<pid>/ns/*` with the supervisor's own.
///
/// A worker is not dumpable, so a supervisor without `CAP_SYS_PTRACE` (any ordinary user) may
/// not read its namespace links. Its user namespace is then told from `uid_map`, which anyone
/// may read; the other namespaces are listed in `unverified`.
pub fn observe(pid: u32) -> std::io::Result<Observed> {
    let mut o = parse(&std::fs::read_to_string(format!("/proc/{pid}/status"))?);
    for (ns, _) in NAMESPACES {
        let ours = std::fs::read_link(format!("/proc/self/ns/{ns}"))?;
        match std::fs::read_link(format!("/proc/{pid}/ns/{ns}")) {
            Ok(theirs) if theirs != ours => o.own_namespaces.push(ns),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied && ns == "user" => {
                let map = |p: String| std::fs::read_to_string(p);
                if map(format!("/proc/{pid}/uid_map"))? != map("/proc/self/uid_map".into())? {
                    o.own_namespaces.push(ns);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => o.unverified.push(ns),
            Err(e) => return Err(e),
        }
    }
    Ok(o)
}

/// Parses the text of a `/proc/<pid>/status` file.
pub fn parse(text: &str) -> Observed {
    let mut o = Observed::default();
    for line in text.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let v = v.trim();
        match k {
            "NoNewPrivs" => o.no_new_privs = v.parse::<u8>().ok().map(|n| n == 1),
            "Seccomp" => o.seccomp = v.parse().ok(),
            "CapEff" => o.cap_eff = u64::from_str_radix(v, 16).ok(),
            _ => {}
        }
    }
    o
}

/// Every claim in `report` that the kernel contradicts, as sentences.
pub fn contradictions(report: &SandboxReport, seen: &Observed) -> Vec<String> {
    let mut out = Vec::new();
    if report.is_active(Layer::NoNewPrivs) && seen.no_new_privs != Some(true) {
        out.push(format!(
            "claims no-new-privs but /proc says NoNewPrivs {:?}",
            seen.no_new_privs
        ));
    }
    if report.is_active(Layer::Seccomp) && seen.seccomp != Some(2) {
        out.push(format!(
            "claims a seccomp filter but /proc says Seccomp {:?}",
            seen.seccomp
        ));
    }
    if report.is_active(Layer::Capabilities) && seen.cap_eff != Some(0) {
        out.push(format!(
            "claims no capabilities but /proc says CapEff {:016x}",
            seen.cap_eff.unwrap_or(u64::MAX)
        ));
    }
    for (ns, layer) in NAMESPACES {
        if report.is_active(layer) && !seen.own_namespaces.contains(&ns) && !seen.unverified.contains(&ns) {
            out.push(format!("claims its own {ns} namespace but shares the supervisor's"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use oarn_protocol::sandbox::{LayerReport, LayerState};

    #[test]
    fn lies_are_caught() {
        let seen = parse("Name:\tx\nNoNewPrivs:\t0\nSeccomp:\t0\nCapEff:\t000001ffffffffff\n");
        assert_eq!(
            seen,
            Observed {
                no_new_privs: Some(false),
                seccomp: Some(0),
                cap_eff: Some(0x1ff_ffff_ffff),
                own_namespaces: vec![],
                unverified: vec![],
            }
        );
        let claims = SandboxReport {
            profile_hash: String::new(),
            layers: [
                Layer::NoNewPrivs,
                Layer::Seccomp,
                Layer::Capabilities,
                Layer::NetworkNamespace,
            ]
            .into_iter()
            .map(|layer| LayerReport {
                layer,
                state: LayerState::Active,
            })
            .collect(),
        };
        assert_eq!(contradictions(&claims, &seen).len(), 4);
        let mut honest = parse("NoNewPrivs:\t1\nSeccomp:\t2\nCapEff:\t0000000000000000\n");
        honest.own_namespaces.push("net");
        assert!(contradictions(&claims, &honest).is_empty());
        assert!(contradictions(&SandboxReport::default(), &seen).is_empty());
    }

    #[test]
    fn reads_our_own_status() {
        let me = observe(std::process::id()).unwrap();
        assert!(me.no_new_privs.is_some() && me.seccomp.is_some() && me.cap_eff.is_some());
        assert!(me.own_namespaces.is_empty(), "we share our own namespaces");
    }
}
