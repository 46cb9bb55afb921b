//! Every exit status of the `oarn` command, in one place; README lists them. A worker's own
//! statuses ([`WorkerExit`]) are mapped to these, never passed through.

use oarn_protocol::exit::WorkerExit;

/// How `oarn` exits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// It did what was asked.
    Success,
    /// It failed; the message says why.
    Failure,
    /// The command line is wrong.
    Usage,
    /// The node is not running.
    NotRunning,
    /// The node is already running.
    AlreadyRunning,
    /// The wallet's passphrase is wrong; nothing was changed.
    WrongPassphrase,
    /// The keystore was modified, truncated or damaged; nothing was changed.
    DamagedKeystore,
    /// A key, recovery phrase or V3 file is not valid; nothing was changed.
    InvalidKey,
    /// The account cannot pay for the transfer; nothing was sent.
    InsufficientFunds,
    /// The transfer or update was declined at its confirmation (an update without a terminal
    /// to ask and without --yes too); nothing was sent or installed.
    Declined,
    /// The chain refused, peers know the task to be fully claimed, or a release failed
    /// verification; nothing was spent or installed.
    Refused,
    /// No task with that id.
    NoSuchTask,
    /// `oarn doctor` found something that keeps the node from earning.
    NotEarning,
    /// A worker could not run: its binary, its sandbox profile, or a syscall its sandbox
    /// refused (`oarn logs` says which).
    Worker,
    /// The configuration is invalid.
    Config,
    /// Interrupted (Ctrl-C); what was done so far is kept.
    Interrupted,
}

impl Exit {
    /// Every status, for README and the tests.
    pub const ALL: [Exit; 16] = [
        Exit::Success,
        Exit::Failure,
        Exit::Usage,
        Exit::NotRunning,
        Exit::AlreadyRunning,
        Exit::WrongPassphrase,
        Exit::DamagedKeystore,
        Exit::InvalidKey,
        Exit::InsufficientFunds,
        Exit::Declined,
        Exit::Refused,
        Exit::NoSuchTask,
        Exit::NotEarning,
        Exit::Worker,
        Exit::Config,
        Exit::Interrupted,
    ];

    pub const fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Failure => 1,
            Exit::Usage => 2,
            Exit::NotRunning => 3,
            Exit::AlreadyRunning => 4,
            Exit::WrongPassphrase => 10,
            Exit::DamagedKeystore => 11,
            Exit::InvalidKey => 12,
            Exit::InsufficientFunds => 13,
            Exit::Declined => 14,
            Exit::Refused => 20,
            Exit::NoSuchTask => 21,
            Exit::NotEarning => 30,
            Exit::Worker => 70,
            Exit::Config => 78,
            Exit::Interrupted => 130,
        }
    }

    /// What a worker's exit status means for the command that ran it.
    pub fn of_worker(status: i32) -> Self {
        match WorkerExit::from_code(status) {
            Some(WorkerExit::Ok) => Exit::Success,
            Some(WorkerExit::WrongPassphrase) => Exit::WrongPassphrase,
            Some(WorkerExit::DamagedKeystore) => Exit::DamagedKeystore,
            Some(WorkerExit::InvalidKey) => Exit::InvalidKey,
            Some(WorkerExit::Usage | WorkerExit::Sandbox | WorkerExit::Protocol | WorkerExit::Seccomp) => Exit::Worker,
            Some(WorkerExit::Failed) | None => Exit::Failure,
        }
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(e: Exit) -> Self {
        std::process::ExitCode::from(e.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_is_distinct() {
        for (i, e) in Exit::ALL.iter().enumerate() {
            assert!(Exit::ALL[..i].iter().all(|o| o.code() != e.code()), "{e:?}");
        }
    }

    #[test]
    fn a_workers_sandbox_failure_is_not_a_bad_configuration() {
        assert_eq!(Exit::of_worker(WorkerExit::Sandbox.code().into()), Exit::Worker);
        assert_eq!(Exit::of_worker(WorkerExit::Seccomp.code().into()), Exit::Worker);
        assert_eq!(Exit::of_worker(10), Exit::WrongPassphrase);
        assert_eq!(Exit::of_worker(3), Exit::Failure, "an unknown status is a failure");
    }

    #[test]
    fn readme_documents_every_exit_status() {
        let readme = include_str!("../../../README.md");
        let table = readme
            .split("### Exit statuses")
            .nth(1)
            .expect("README has an \"### Exit statuses\" section");
        let table = table.split("\n#").next().unwrap_or(table);
        for e in Exit::ALL {
            let row = format!("| {} |", e.code());
            assert!(table.contains(&row), "README's exit statuses lack {} ({e:?})", e.code());
        }
        let rows = table
            .lines()
            .filter(|l| l.starts_with("| ") && !l.starts_with("| status"))
            .count();
        assert_eq!(rows, Exit::ALL.len() + 1, "one row per status, and its header rule");
    }
}
