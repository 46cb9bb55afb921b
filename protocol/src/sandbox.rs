//! A worker's own account of the sandbox it entered, sent in its hello so the supervisor can
//! show it and cross-check it against `/proc/<pid>/status`.

use wincode::{SchemaRead, SchemaWrite};

/// Every layer a worker's sandbox is built from, in the order they are applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, SchemaWrite, SchemaRead)]
pub enum Layer {
    UserNamespace,
    NetworkNamespace,
    MountNamespace,
    IpcNamespace,
    PidNamespace,
    Rlimits,
    Landlock,
    Capabilities,
    NoNewPrivs,
    Seccomp,
}

impl Layer {
    pub const ALL: [Layer; 10] = [
        Layer::UserNamespace,
        Layer::NetworkNamespace,
        Layer::MountNamespace,
        Layer::IpcNamespace,
        Layer::PidNamespace,
        Layer::Rlimits,
        Layer::Landlock,
        Layer::Capabilities,
        Layer::NoNewPrivs,
        Layer::Seccomp,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::UserNamespace => "user-namespace",
            Self::NetworkNamespace => "network-namespace",
            Self::MountNamespace => "mount-namespace",
            Self::IpcNamespace => "ipc-namespace",
            Self::PidNamespace => "pid-namespace",
            Self::Rlimits => "rlimits",
            Self::Landlock => "landlock",
            Self::Capabilities => "capabilities",
            Self::NoNewPrivs => "no-new-privs",
            Self::Seccomp => "seccomp",
        }
    }
}

/// Whether one layer is in force.
#[derive(Debug, Clone, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub enum LayerState {
    /// Applied and in force.
    Active,
    /// The kernel or environment lacks it (the reason says what is missing).
    Unavailable { reason: String },
    /// This build does not apply it yet, or its profile does not ask for it.
    NotApplied { reason: String },
}

/// One layer and its state.
#[derive(Debug, Clone, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct LayerReport {
    pub layer: Layer,
    pub state: LayerState,
}

/// Everything a worker says about its sandbox.
#[derive(Debug, Clone, Default, PartialEq, Eq, SchemaWrite, SchemaRead)]
pub struct SandboxReport {
    /// sha256 (hex) of the profile text the worker enforces; empty when no profile applies.
    pub profile_hash: String,
    pub layers: Vec<LayerReport>,
}

impl SandboxReport {
    /// The state the worker claims for `layer`, if it reported it.
    pub fn state(&self, layer: Layer) -> Option<&LayerState> {
        self.layers.iter().find(|l| l.layer == layer).map(|l| &l.state)
    }

    /// True when the worker claims `layer` is in force.
    pub fn is_active(&self, layer: Layer) -> bool {
        matches!(self.state(layer), Some(LayerState::Active))
    }
}
