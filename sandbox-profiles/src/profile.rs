//! A worker's sandbox profile: the file format, the built-in profiles embedded at build time,
//! an operator's override directory, and placeholder expansion.

use std::path::{Path, PathBuf};

use oarn_protocol::WorkerKind;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::syscalls;

/// The built-in profile text of `kind`.
pub fn builtin(kind: WorkerKind) -> &'static str {
    match kind {
        WorkerKind::Infer => include_str!("../worker-infer.toml"),
        WorkerKind::Net => include_str!("../worker-net.toml"),
        WorkerKind::Chain => include_str!("../worker-chain.toml"),
        WorkerKind::Anon => include_str!("../worker-anon.toml"),
    }
}

/// The file name of `kind`'s profile in privacy mode (the net and chain workers', which then
/// have no network but the anonymity worker's socket).
pub fn private_file(kind: WorkerKind) -> String {
    format!("worker-{}-private.toml", kind.name())
}

/// The file name of `kind`'s profile, built in or in an override directory.
pub fn file_name(kind: WorkerKind) -> String {
    format!("worker-{}.toml", kind.name())
}

/// The file name of the infer worker's profile when it routes to Ollama.
pub const OLLAMA_FILE: &str = "worker-infer-ollama.toml";

/// Every built-in profile: file name and text.
pub fn builtins() -> Vec<(String, &'static str)> {
    let mut all: Vec<_> = WorkerKind::ALL.iter().map(|&k| (file_name(k), builtin(k))).collect();
    all.push((OLLAMA_FILE.to_string(), include_str!("../worker-infer-ollama.toml")));
    all.push((
        private_file(WorkerKind::Net),
        include_str!("../worker-net-private.toml"),
    ));
    all.push((
        private_file(WorkerKind::Chain),
        include_str!("../worker-chain-private.toml"),
    ));
    all
}

/// Why a profile cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// The override file could not be read.
    #[error("cannot read the sandbox profile {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    /// The file is not a valid profile.
    #[error("invalid sandbox profile {origin}: {message}")]
    Invalid { origin: String, message: String },
}

/// The text of the profile in `file` (a name from [`file_name`] or [`OLLAMA_FILE`]), built in
/// or from an override directory, and where it came from.
pub fn text(file: &str, override_dir: Option<&Path>) -> Result<(String, String), ProfileError> {
    match override_dir {
        Some(dir) => {
            let path = dir.join(file);
            let text = std::fs::read_to_string(&path).map_err(|source| ProfileError::Read {
                path: path.clone(),
                source,
            })?;
            Ok((text, path.display().to_string()))
        }
        None => match builtins().into_iter().find(|(name, _)| name == file) {
            Some((name, text)) => Ok((text.to_string(), format!("built-in {name}"))),
            None => Err(ProfileError::Invalid {
                origin: file.to_string(),
                message: "there is no such built-in profile".into(),
            }),
        },
    }
}

/// sha256 of a profile's text, hex.
pub fn hash(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A parsed profile.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub namespaces: Namespaces,
    pub rlimits: Rlimits,
    pub landlock: Landlock,
    /// `[mount]`, optional: what the worker's mount table holds besides its Landlock paths.
    #[serde(default)]
    pub mount: Mount,
    pub capabilities: Capabilities,
    pub seccomp: Seccomp,
}

/// `[mount]`: with `namespaces.mount`, the worker's root holds only its Landlock paths and
/// these directories, whose Unix sockets it connects to (Landlock governs no `connect()` to a
/// Unix socket, so a socket outside the view is what keeps it out of reach).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mount {
    pub sockets: Vec<String>,
}

/// `[namespaces]`: which namespaces the worker unshares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Namespaces {
    pub user: bool,
    pub network: bool,
    pub mount: bool,
    pub ipc: bool,
    pub pid: bool,
}

/// A number, or a placeholder such as `"{memory}"`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Amount {
    Value(u64),
    Placeholder(String),
}

/// `[rlimits]`
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rlimits {
    pub address_space_mb: Amount,
    pub open_files: u64,
    pub processes: u64,
    pub file_size_mb: u64,
    pub core: u64,
}

/// `[landlock]`
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Landlock {
    pub read: Vec<String>,
    pub write: Vec<String>,
    /// Ports, `"{ollama}"`, or `"any"` to leave TCP bind unrestricted.
    pub tcp_bind: Vec<Port>,
    /// Ports, `"{ollama}"` (the Ollama server's port), or `"any"` to leave TCP connect
    /// unrestricted.
    pub tcp_connect: Vec<Port>,
}

/// A TCP port rule: a number, `"any"` or a placeholder.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Port {
    Number(u16),
    Named(String),
}

/// Whether a port list leaves the access unrestricted (`["any"]`), or the ports it allows
/// (`"{ollama}"` stands for the Ollama port, and for nothing when there is none).
pub fn ports(list: &[Port], values: &Values) -> Option<Vec<u16>> {
    if list.iter().any(|p| matches!(p, Port::Named(n) if n == "any")) {
        return None;
    }
    Some(
        list.iter()
            .filter_map(|p| match p {
                Port::Number(n) => Some(*n),
                Port::Named(_) => values.ollama_port,
            })
            .collect(),
    )
}

/// `[capabilities]`
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Capabilities {
    pub keep: Vec<String>,
}

/// A number, or a named constant such as `"AF_UNIX"`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Constant {
    Value(u64),
    Name(String),
}

/// `[seccomp]`
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seccomp {
    /// `report`: name the syscall and exit 159; `kill`: the kernel kills the process.
    pub on_violation: String,
    pub allow: Vec<String>,
    #[serde(default)]
    pub only: Vec<Only>,
    #[serde(default)]
    pub errno: Vec<ErrnoRule>,
}

/// A syscall allowed only when every condition holds.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Only {
    pub syscall: String,
    pub when: Vec<Condition>,
    pub why: String,
}

/// One argument condition: `(arg & mask) == value`, or `arg == value` without a mask.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    pub arg: u8,
    #[serde(default)]
    pub mask: Option<Constant>,
    pub value: Constant,
}

/// A syscall answered with an error instead of running: every call, or with `unless`, every
/// call but those whose arguments equal every value listed (those the allow-list and
/// `[[seccomp.only]]` then decide).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrnoRule {
    pub syscall: String,
    pub errno: String,
    #[serde(default)]
    pub unless: Vec<Condition>,
    pub why: String,
}

/// The paths and amounts placeholders stand for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Values {
    pub home: PathBuf,
    pub models: PathBuf,
    /// Memory budget in MiB.
    pub memory_mb: u64,
    /// The Ollama server's port (`{ollama}` in port lists).
    pub ollama_port: Option<u16>,
}

impl Values {
    /// Expands `{home}`, `{models}`, `{ipfs}`, `{downloads}`, `{update}`, `{keystore}` and
    /// `{anon}` in a path.
    pub fn path(&self, template: &str) -> PathBuf {
        let home = self.home.display().to_string();
        let expanded = template
            .replace("{models}", &self.models.display().to_string())
            .replace("{ipfs}", &format!("{home}/ipfs"))
            .replace("{downloads}", &format!("{home}/downloads"))
            .replace("{update}", &format!("{home}/update"))
            .replace("{keystore}", &format!("{home}/wallet.encrypted"))
            .replace("{anon}", &format!("{home}/anon"))
            .replace("{home}", &home);
        PathBuf::from(expanded)
    }

    /// The value of an amount in MiB.
    pub fn amount(&self, a: &Amount) -> Result<u64, String> {
        match a {
            Amount::Value(v) => Ok(*v),
            Amount::Placeholder(p) if p == "{memory}" => Ok(self.memory_mb),
            Amount::Placeholder(p) => Err(format!("unknown placeholder {p:?}; use a number or \"{{memory}}\"")),
        }
    }
}

fn constant(c: &Constant) -> Result<u64, String> {
    match c {
        Constant::Value(v) => Ok(*v),
        Constant::Name(n) => syscalls::constant(n).ok_or_else(|| format!("unknown constant {n:?}")),
    }
}

impl Condition {
    /// The mask and value of the condition.
    pub fn mask_value(&self) -> Result<(Option<u64>, u64), String> {
        Ok((self.mask.as_ref().map(constant).transpose()?, constant(&self.value)?))
    }
}

impl Profile {
    /// Parses and checks a profile: known syscalls and constants, a reason for every dangerous
    /// syscall, nothing dangerous allowed unconditionally.
    pub fn parse(text: &str, origin: &str) -> Result<Self, ProfileError> {
        let invalid = |message: String| ProfileError::Invalid {
            origin: origin.to_string(),
            message,
        };
        let p: Profile = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        let known = |name: &str| syscalls::number(name).is_some() || syscalls::X86_64_ONLY.contains(&name);
        for port in p.landlock.tcp_bind.iter().chain(&p.landlock.tcp_connect) {
            if let Port::Named(n) = port
                && n != "any"
                && n != "{ollama}"
            {
                return Err(invalid(format!(
                    "unknown port {n:?} in landlock; use a number, \"{{ollama}}\" or \"any\""
                )));
            }
        }
        for name in &p.seccomp.allow {
            if !known(name) {
                return Err(invalid(format!("unknown syscall {name:?} in seccomp.allow")));
            }
            if syscalls::DANGEROUS.contains(&name.as_str()) {
                return Err(invalid(format!(
                    "{name} may not be allowed unconditionally; allow it under [[seccomp.only]] with its argument and a why"
                )));
            }
        }
        for o in &p.seccomp.only {
            if p.seccomp.allow.contains(&o.syscall) {
                return Err(invalid(format!(
                    "{} is in both seccomp.allow and seccomp.only",
                    o.syscall
                )));
            }
            if !known(&o.syscall) {
                return Err(invalid(format!("unknown syscall {:?} in seccomp.only", o.syscall)));
            }
            if o.why.trim().is_empty() {
                return Err(invalid(format!("seccomp.only {} needs a why", o.syscall)));
            }
            if o.when.is_empty() {
                return Err(invalid(format!(
                    "seccomp.only {} needs at least one condition in when",
                    o.syscall
                )));
            }
            for c in &o.when {
                if c.arg > 5 {
                    return Err(invalid(format!("seccomp.only {}: arg must be 0 to 5", o.syscall)));
                }
                c.mask_value()
                    .map_err(|e| invalid(format!("seccomp.only {}: {e}", o.syscall)))?;
            }
        }
        for e in &p.seccomp.errno {
            if !known(&e.syscall) || e.why.trim().is_empty() {
                return Err(invalid(format!(
                    "seccomp.errno {} needs a known syscall and a why",
                    e.syscall
                )));
            }
            for c in &e.unless {
                if c.arg > 5 || c.mask.is_some() {
                    return Err(invalid(format!(
                        "seccomp.errno {}: an unless condition names an arg 0 to 5 and a value, without a mask",
                        e.syscall
                    )));
                }
                c.mask_value()
                    .map_err(|err| invalid(format!("seccomp.errno {}: {err}", e.syscall)))?;
            }
            if !syscalls::ERRNOS.iter().any(|(n, _)| *n == e.errno) {
                return Err(invalid(format!(
                    "seccomp.errno {}: unknown errno {:?}",
                    e.syscall, e.errno
                )));
            }
        }
        if !["report", "kill"].contains(&p.seccomp.on_violation.as_str()) {
            return Err(invalid("seccomp.on_violation must be \"report\" or \"kill\"".into()));
        }
        if !p.capabilities.keep.is_empty() {
            return Err(invalid(
                "capabilities.keep must be empty: workers hold no capability".into(),
            ));
        }
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_profiles_parse() {
        for (name, text) in builtins() {
            Profile::parse(text, "test").unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        let typo = builtin(WorkerKind::Infer).replace("tcp_connect = []", "tcp_connect = [\"{olama}\"]");
        let e = Profile::parse(&typo, "t").unwrap_err().to_string();
        assert!(e.contains("unknown port \"{olama}\""), "{e}");
    }

    /// Every line of every profile is a comment, or carries one, except section headers,
    /// the closing of the allow list and `why` lines (which are the comment).
    #[test]
    fn every_line_is_commented() {
        for (name, text) in builtins() {
            for (i, line) in text.lines().enumerate() {
                let t = line.trim();
                let exempt = t.is_empty()
                    || t.starts_with('#')
                    || t.starts_with('[')
                    || t == "]"
                    || t.starts_with("allow = [")
                    || t.starts_with("why = ")
                    || t.starts_with("syscall = ")
                    || t.starts_with("when = ")
                    || t.starts_with("errno = ");
                assert!(exempt || t.contains(" # "), "{name}:{}: needs a comment: {line}", i + 1);
            }
        }
    }

    #[test]
    fn dangerous_syscalls_need_a_reason() {
        let base = builtin(WorkerKind::Infer);
        let sneaky = base.replace("    \"read\",", "    \"read\",\n    \"ptrace\",  # debugging");
        let err = Profile::parse(&sneaky, "t").unwrap_err().to_string();
        assert!(err.contains("ptrace may not be allowed unconditionally"), "{err}");
        let no_why = base.replacen(
            "why = \"threads for inference; a clone without CLONE_THREAD (a new process) is refused\"",
            "why = \"\"",
            1,
        );
        assert!(
            Profile::parse(&no_why, "t")
                .unwrap_err()
                .to_string()
                .contains("needs a why")
        );
        let typo = base.replace("\"futex\"", "\"futx\"");
        assert!(
            Profile::parse(&typo, "t")
                .unwrap_err()
                .to_string()
                .contains("unknown syscall \"futx\"")
        );
        let bad_const = base.replace("value = \"AF_UNIX\"", "value = \"AF_UNIXX\"");
        assert!(
            Profile::parse(&bad_const, "t")
                .unwrap_err()
                .to_string()
                .contains("unknown constant")
        );
    }

    #[test]
    fn placeholders_expand() {
        let v = Values {
            home: "/h".into(),
            models: "/m".into(),
            memory_mb: 512,
            ollama_port: Some(11434),
        };
        let list = [Port::Number(80), Port::Named("{ollama}".into())];
        assert_eq!(ports(&list, &v), Some(vec![80, 11434]));
        assert_eq!(ports(&[Port::Named("any".into())], &v), None);
        assert_eq!(v.path("{models}"), PathBuf::from("/m"));
        assert_eq!(v.path("{keystore}"), PathBuf::from("/h/wallet.encrypted"));
        assert_eq!(v.path("{ipfs}"), PathBuf::from("/h/ipfs"));
        assert_eq!(v.amount(&Amount::Placeholder("{memory}".into())), Ok(512));
        assert!(v.amount(&Amount::Placeholder("{nope}".into())).is_err());
    }
}
