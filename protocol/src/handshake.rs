//! The handshake: the first frame each way names the protocol version, who is speaking, the
//! build, and (from a worker) the sandbox layers it entered.
//!
//! The magic and version sit at fixed offsets at the very start of the payload, so a peer of
//! another version is told apart from garbage even when the rest of its hello would not decode.

use wincode::{SchemaRead, SchemaWrite};

use crate::frame::{self, FrameError};
use crate::sandbox::SandboxReport;

/// First bytes of every hello payload.
pub const MAGIC: [u8; 8] = *b"OARN\x00HLO";

/// Bumped whenever any message of any worker changes shape.
pub const PROTOCOL_VERSION: u32 = 2;

/// The kinds of worker. [`WorkerKind::Anon`] runs only in privacy mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, SchemaWrite, SchemaRead)]
pub enum WorkerKind {
    Infer,
    Net,
    Chain,
    Anon,
}

impl WorkerKind {
    pub const ALL: [WorkerKind; 4] = [WorkerKind::Infer, WorkerKind::Net, WorkerKind::Chain, WorkerKind::Anon];

    /// The short name used in logs, config keys and the CLI.
    pub fn name(self) -> &'static str {
        match self {
            Self::Infer => "infer",
            Self::Net => "net",
            Self::Chain => "chain",
            Self::Anon => "anon",
        }
    }

    /// The worker's executable file name.
    pub fn binary(self) -> &'static str {
        match self {
            Self::Infer => "oarn-worker-infer",
            Self::Net => "oarn-worker-net",
            Self::Chain => "oarn-worker-chain",
            Self::Anon => "oarn-worker-anon",
        }
    }

    /// Parses [`WorkerKind::name`].
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }
}

impl std::fmt::Display for WorkerKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Who sent a hello.
#[derive(Debug, Clone, Copy, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub enum Role {
    Supervisor,
    Worker(WorkerKind),
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Supervisor => f.write_str("supervisor"),
            Self::Worker(k) => write!(f, "{k} worker"),
        }
    }
}

/// The first frame each way.
#[derive(Debug, Clone, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct Hello {
    pub magic: [u8; 8],
    pub version: u32,
    pub role: Role,
    /// Package version and git revision of the sender's build.
    pub build_id: String,
    /// The sender's process id as it sees itself.
    pub pid: u32,
    /// The sandbox layers a worker entered; empty from the supervisor.
    pub sandbox: SandboxReport,
}

/// Why a hello was refused.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    /// The first frame did not start with the handshake magic: not an oarn peer.
    #[error("the peer's first frame is not an oarn hello (bad magic)")]
    BadMagic,
    /// The peer speaks another protocol version.
    #[error(
        "protocol version mismatch: we speak version {ours}, the {role} speaks version {theirs}; install matching oarn binaries"
    )]
    VersionMismatch { ours: u32, theirs: u32, role: String },
    /// The peer is not who we spawned or expected.
    #[error("expected a hello from the {expected}, got one from the {got}")]
    WrongRole { expected: Role, got: Role },
    /// The hello frame itself was malformed.
    #[error("malformed hello: {0}")]
    Frame(#[from] FrameError),
}

impl Hello {
    /// A hello from `role` for this build.
    pub fn new(role: Role, build_id: impl Into<String>, sandbox: SandboxReport) -> Self {
        Self {
            magic: MAGIC,
            version: PROTOCOL_VERSION,
            role,
            build_id: build_id.into(),
            pid: std::process::id(),
            sandbox,
        }
    }

    /// Decodes a hello payload, checking magic and version before the rest.
    pub fn decode(payload: &[u8], expected: Role) -> Result<Self, HandshakeError> {
        if payload.len() < 12 || payload[..8] != MAGIC {
            return Err(HandshakeError::BadMagic);
        }
        let theirs = u32::from_le_bytes(payload[8..12].try_into().expect("4 bytes"));
        if theirs != PROTOCOL_VERSION {
            return Err(HandshakeError::VersionMismatch {
                ours: PROTOCOL_VERSION,
                theirs,
                role: expected.to_string(),
            });
        }
        let hello: Hello = frame::decode(payload)?;
        if hello.role != expected {
            return Err(HandshakeError::WrongRole {
                expected,
                got: hello.role,
            });
        }
        Ok(hello)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(h: &Hello) -> Vec<u8> {
        frame::encode(h, 1 << 16).unwrap()[frame::HEADER_LEN..].to_vec()
    }

    #[test]
    fn version_mismatch_names_both_versions() {
        let mut h = Hello::new(Role::Worker(WorkerKind::Net), "t", SandboxReport::default());
        h.version = 7;
        let err = Hello::decode(&payload(&h), Role::Worker(WorkerKind::Net)).unwrap_err();
        let msg = err.to_string();
        let ours = format!("version {PROTOCOL_VERSION}");
        assert!(msg.contains(&ours) && msg.contains("version 7"), "{msg}");
    }

    #[test]
    fn magic_and_role_are_checked() {
        assert!(matches!(
            Hello::decode(b"garbage-garbage", Role::Supervisor),
            Err(HandshakeError::BadMagic)
        ));
        let h = Hello::new(Role::Worker(WorkerKind::Infer), "t", SandboxReport::default());
        let err = Hello::decode(&payload(&h), Role::Worker(WorkerKind::Chain)).unwrap_err();
        assert!(matches!(err, HandshakeError::WrongRole { .. }));
        assert_eq!(Hello::decode(&payload(&h), Role::Worker(WorkerKind::Infer)).unwrap(), h);
    }
}
