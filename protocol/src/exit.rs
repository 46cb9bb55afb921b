//! How a worker process ends: every worker's exit statuses, in one place, so the supervisor
//! can say what a status means and the `oarn` command maps each to one of its own rather than
//! passing a worker's through.

/// A worker's exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerExit {
    /// It did what it was asked.
    Ok,
    /// It failed; its last words on stderr say why.
    Failed,
    /// The passphrase is wrong (a key operation).
    WrongPassphrase,
    /// The keystore was modified, truncated or damaged.
    DamagedKeystore,
    /// A key, recovery phrase or V3 file is not valid.
    InvalidKey,
    /// Its command line is unusable: it was not started by the supervisor.
    Usage,
    /// Its sandbox profile is unusable, or the sandbox could not be entered.
    Sandbox,
    /// The channel to the supervisor failed.
    Protocol,
    /// Its sandbox refused a syscall (the filter's handler names it on stderr).
    Seccomp,
}

impl WorkerExit {
    const ALL: [WorkerExit; 9] = [
        Self::Ok,
        Self::Failed,
        Self::WrongPassphrase,
        Self::DamagedKeystore,
        Self::InvalidKey,
        Self::Usage,
        Self::Sandbox,
        Self::Protocol,
        Self::Seccomp,
    ];

    /// The status the process exits with.
    pub const fn code(self) -> u8 {
        match self {
            Self::Ok => 0,
            Self::Failed => 1,
            Self::WrongPassphrase => 10,
            Self::DamagedKeystore => 11,
            Self::InvalidKey => 12,
            Self::Usage => 64,
            Self::Sandbox => 72,
            Self::Protocol => 76,
            Self::Seccomp => 159,
        }
    }

    /// What an exit status means, when it is a worker's.
    pub fn from_code(code: i32) -> Option<Self> {
        Self::ALL.into_iter().find(|e| i32::from(e.code()) == code)
    }

    /// What it means, for "exited with status N (…)".
    pub fn meaning(self) -> &'static str {
        match self {
            Self::Ok => "done",
            Self::Failed => "it failed",
            Self::WrongPassphrase => "wrong passphrase",
            Self::DamagedKeystore => "the keystore is damaged",
            Self::InvalidKey => "not a valid key",
            Self::Usage => "its command line is unusable",
            Self::Sandbox => "its sandbox profile is unusable or the sandbox could not be entered",
            Self::Protocol => "its channel to the supervisor failed",
            Self::Seccomp => "its sandbox refused a syscall; `oarn logs` names it",
        }
    }
}

impl From<WorkerExit> for std::process::ExitCode {
    fn from(e: WorkerExit) -> Self {
        std::process::ExitCode::from(e.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_is_distinct_and_reads_back() {
        for (i, e) in WorkerExit::ALL.iter().enumerate() {
            assert!(WorkerExit::ALL[..i].iter().all(|o| o.code() != e.code()), "{e:?}");
            assert_eq!(WorkerExit::from_code(e.code().into()), Some(*e));
        }
        // 78 is the `oarn` command's "bad configuration"; no worker status may look like it.
        assert_eq!(WorkerExit::from_code(78), None);
    }
}
