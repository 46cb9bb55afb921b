//! Claim negotiation around `oarn chain claim`, through the running node: before the claim
//! costs gas, peers are asked who has claimed the task (`/oarn/claim/1.0.0`), and a task they
//! know to be fully claimed (twice its required nodes, as its announcement says) is left
//! alone unless `--force`; after the claim, peers are told of it. What peers say is advice:
//! the chain stays the authority, and without a running node the claim goes ahead unasked.

use std::time::Duration;

use oarn_api::net::{Claims, GetTasks};
use oarn_api::{Address, TaskId};
use oarn_config::home::Home;

/// Claim queries take up to 3 s inside the worker.
const WAIT: Duration = Duration::from_secs(15);

/// What peers know of a task before it is claimed.
#[derive(Debug, PartialEq, Eq)]
pub enum Before {
    /// No node runs (or it has no swarm): nobody was asked.
    Unasked(String),
    /// Peers know of `known` claims; the task allows `allowed` when its announcement was heard.
    Known { known: usize, allowed: Option<u64> },
}

impl Before {
    /// Whether the task is fully claimed as far as peers know.
    pub fn full(&self) -> bool {
        matches!(self, Self::Known { known, allowed: Some(max) } if *known as u64 >= *max)
    }
}

/// Asks the running node's peers about task `id`.
pub fn before(home: &Home, id: u64) -> Before {
    let client = super::client(home);
    let asked = Claims {
        task_id: TaskId(id),
        record: None,
    };
    let known = match client.call(&asked, WAIT) {
        Ok(v) => v.claimers.len(),
        Err(e) => return Before::Unasked(e.to_string()),
    };
    // The contract allows twice the required nodes to claim.
    let allowed = client.call(&GetTasks {}, WAIT).ok().and_then(|v| {
        v.tasks
            .iter()
            .find(|t| t.id == id)
            .map(|t| 2 * u64::from(t.required_nodes))
    });
    Before::Known { known, allowed }
}

/// Tells the running node's peers that `account` claimed task `id`; how many peers answered.
pub fn after(home: &Home, id: u64, account: Address) -> Option<u32> {
    let told = Claims {
        task_id: TaskId(id),
        record: Some(account),
    };
    Some(super::client(home).call(&told, WAIT).ok()?.peers_answered)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_is_full_only_when_its_limit_is_known_and_reached() {
        let known = |known, allowed| Before::Known { known, allowed };
        assert!(known(6, Some(6)).full());
        assert!(!known(5, Some(6)).full());
        assert!(!known(50, None).full(), "no announcement heard: no limit known");
        assert!(!Before::Unasked("no node".into()).full());
    }
}
