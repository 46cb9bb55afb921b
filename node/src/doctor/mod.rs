//! `oarn doctor`: is this node able to earn, and if not, why, with a plain fix for each
//! problem. [`gather`] reads the facts (from the running node through the local API, and from
//! this machine: the node home, the model store, the disk, GPUs, the systemd unit);
//! [`check`] turns them into [`Check`]s without any I/O, so each verdict is unit-tested.
//!
//! A check that fails blocks earning (`oarn doctor` exits with its own status); a warning
//! does not, but costs money or reliability; a check that could not run says why.

pub mod facts;

pub use facts::{Facts, gather};

use serde::Serialize;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Ok,
    /// Works, at a cost or a risk.
    Warn,
    /// Keeps the node from earning.
    Fail,
    /// Could not be checked; the summary says why.
    Skip,
}

/// One check's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// What was checked: node, sandbox, chain, clock, wallet, peers, nat, ipfs, models, gpu,
    /// disk, unit.
    pub name: &'static str,
    pub verdict: Verdict,
    /// What was found.
    pub summary: String,
    /// What to do, when something is wrong.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Check {
    fn new(name: &'static str, verdict: Verdict, summary: impl Into<String>, fix: Option<String>) -> Self {
        Check {
            name,
            verdict,
            summary: summary.into(),
            fix,
        }
    }
    fn ok(name: &'static str, summary: impl Into<String>) -> Self {
        Self::new(name, Verdict::Ok, summary, None)
    }
    fn warn(name: &'static str, summary: impl Into<String>, fix: impl Into<String>) -> Self {
        Self::new(name, Verdict::Warn, summary, Some(fix.into()))
    }
    fn fail(name: &'static str, summary: impl Into<String>, fix: impl Into<String>) -> Self {
        Self::new(name, Verdict::Fail, summary, Some(fix.into()))
    }
    fn skip(name: &'static str, why: impl Into<String>) -> Self {
        Self::new(name, Verdict::Skip, why, None)
    }
}

/// Every check, in the order an operator would fix them.
pub fn check(f: &Facts) -> Vec<Check> {
    vec![
        checks::node(f),
        checks::sandbox(f),
        checks::chain(f),
        checks::clock(f),
        checks::wallet(f),
        checks::peers(f),
        checks::nat(f),
        checks::ipfs(f),
        checks::models(f),
        checks::onnx(f),
        checks::gpu(f),
        checks::disk(f),
        checks::unit(f),
    ]
}

/// Whether any check blocks earning.
pub fn blocks_earning(checks: &[Check]) -> bool {
    checks.iter().any(|c| c.verdict == Verdict::Fail)
}

mod checks;
