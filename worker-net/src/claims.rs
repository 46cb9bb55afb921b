//! Claim negotiation, `/oarn/claim/1.0.0`: nodes tell each other which accounts claimed a
//! task, so a node can see a task is already fully claimed before it pays gas to claim it.
//! A request names a task (and, when the asker claimed it, its account); the answer lists the
//! accounts the peer knows to have claimed that task. JSON on the wire; every field checked;
//! the table is bounded in tasks and in claimers per task. What peers say is advice: the
//! chain stays the authority.

use std::collections::{BTreeSet, VecDeque};

use libp2p::PeerId;
use libp2p::request_response::{self, OutboundRequestId};
use oarn_protocol::net::Reply;
use serde::{Deserialize, Serialize};

use crate::fanout::Fanout;
use crate::node::Answer as Reply_;

/// The request-response behaviour of the protocol.
pub type Behaviour = request_response::json::Behaviour<Query, Answer>;

/// The protocol name.
pub const PROTOCOL: &str = "/oarn/claim/1.0.0";
/// Tasks remembered; the oldest is forgotten first.
pub const MAX_TASKS: usize = 4096;
/// Claimers remembered (and sent) per task: the contract allows at most 2 × 100.
pub const MAX_CLAIMERS: usize = 256;
/// Peers asked per query.
pub const ASK_PEERS: usize = 8;

/// A question to a peer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Query {
    pub task_id: u64,
    /// The asker's account (`0x` and 40 hex digits), when it claimed the task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimer: Option<String>,
}

/// A peer's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    pub task_id: u64,
    /// Accounts known to have claimed it.
    pub claimers: Vec<String>,
}

/// Why a message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    /// Task ids start at 1.
    #[error("task id 0 does not exist")]
    TaskZero,
    /// Not an account.
    #[error("{0:?} is not an account (0x and 40 hex digits)")]
    Account(String),
    /// More claimers than a task can have.
    #[error("{0} claimers is more than a task can have")]
    TooMany(usize),
    /// The answer is about another task.
    #[error("answered about task {got}, not {asked}")]
    OtherTask { asked: u64, got: u64 },
}

/// `0x…` as 20 bytes.
pub fn account(text: &str) -> Result<[u8; 20], Invalid> {
    let bad = || Invalid::Account(text.chars().take(64).collect());
    let mut out = [0u8; 20];
    hex::decode_to_slice(text.strip_prefix("0x").ok_or_else(bad)?, &mut out).map_err(|_| bad())?;
    Ok(out)
}

/// 20 bytes as `0x…`.
pub fn text(account: &[u8; 20]) -> String {
    format!("0x{}", hex::encode(account))
}

impl Query {
    /// The task and the asker's account, checked.
    pub fn check(&self) -> Result<(u64, Option<[u8; 20]>), Invalid> {
        if self.task_id == 0 {
            return Err(Invalid::TaskZero);
        }
        Ok((self.task_id, self.claimer.as_deref().map(account).transpose()?))
    }
}

impl Answer {
    /// The claimers, checked against the task asked about.
    pub fn check(&self, asked: u64) -> Result<Vec<[u8; 20]>, Invalid> {
        if self.task_id != asked {
            return Err(Invalid::OtherTask {
                asked,
                got: self.task_id,
            });
        }
        if self.claimers.len() > MAX_CLAIMERS {
            return Err(Invalid::TooMany(self.claimers.len()));
        }
        self.claimers.iter().map(|c| account(c)).collect()
    }
}

/// Who claimed what, as far as this node knows.
#[derive(Debug, Default)]
pub struct Table {
    /// Oldest task first.
    tasks: VecDeque<(u64, BTreeSet<[u8; 20]>)>,
}

impl Table {
    /// Records that `claimer` claimed `task_id`.
    pub fn add(&mut self, task_id: u64, claimer: [u8; 20]) {
        let at = match self.tasks.iter().position(|(t, _)| *t == task_id) {
            Some(i) => i,
            None => {
                if self.tasks.len() >= MAX_TASKS {
                    self.tasks.pop_front();
                }
                self.tasks.push_back((task_id, BTreeSet::new()));
                self.tasks.len() - 1
            }
        };
        let set = &mut self.tasks[at].1;
        if set.len() < MAX_CLAIMERS {
            set.insert(claimer);
        }
    }

    /// The accounts known to have claimed `task_id`.
    pub fn get(&self, task_id: u64) -> Vec<[u8; 20]> {
        self.tasks
            .iter()
            .find(|(t, _)| *t == task_id)
            .map(|(_, s)| s.iter().copied().collect())
            .unwrap_or_default()
    }

    /// The answer to `query`, after recording the asker's own claim.
    pub fn answer(&mut self, query: &Query) -> Result<Answer, Invalid> {
        let (task_id, claimer) = query.check()?;
        if let Some(c) = claimer {
            self.add(task_id, c);
        }
        Ok(Answer {
            task_id,
            claimers: self.get(task_id).iter().map(text).collect(),
        })
    }
}

/// A query to peers waiting for their answers.
#[derive(Debug)]
struct Asking {
    task_id: u64,
    asked: u32,
    answered: u32,
    reply: Reply_,
}

/// The table and the queries in flight.
#[derive(Debug, Default)]
pub struct Negotiator {
    table: Table,
    asking: Fanout<Asking>,
}

impl Negotiator {
    /// Records our own claim (when `record` is given), asks up to [`ASK_PEERS`] of `peers`
    /// (telling them of the claim), and answers `reply` once each has answered or failed.
    pub fn ask(
        &mut self,
        rr: &mut Behaviour,
        peers: Vec<PeerId>,
        task_id: u64,
        record: Option<[u8; 20]>,
        reply: Reply_,
    ) {
        if let Some(c) = record {
            self.table.add(task_id, c);
        }
        let query = Query {
            task_id,
            claimer: record.as_ref().map(text),
        };
        let requests: Vec<OutboundRequestId> = peers
            .into_iter()
            .take(ASK_PEERS)
            .map(|peer| rr.send_request(&peer, query.clone()))
            .collect();
        let asking = Asking {
            task_id,
            asked: requests.len() as u32,
            answered: 0,
            reply,
        };
        if let Some(a) = self.asking.start(asking, requests) {
            self.finish(a);
        }
    }

    fn finish(&self, a: Asking) {
        let _ = a.reply.send(Ok(Reply::Claimers(oarn_protocol::net::Claimers {
            claimers: self.table.get(a.task_id),
            asked: a.asked,
            answered: a.answered,
        })));
    }

    /// One outbound request ended, answered or not.
    fn done(&mut self, request: OutboundRequestId, answered: bool) {
        if let Some(a) = self.asking.end(&request, |a| a.answered += u32::from(answered)) {
            self.finish(a);
        }
    }

    /// Handles an event of the behaviour; returns the peers that sent something invalid,
    /// with why.
    pub fn on_event(
        &mut self,
        rr: &mut Behaviour,
        event: request_response::Event<Query, Answer>,
    ) -> Option<(PeerId, String)> {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request { request, channel, .. } => match self.table.answer(&request) {
                    Ok(answer) => {
                        let _ = rr.send_response(channel, answer);
                        None
                    }
                    Err(e) => Some((peer, format!("claim query: {e}"))),
                },
                request_response::Message::Response { request_id, response } => {
                    let asked = self.asking.question(&request_id).map(|a| a.task_id);
                    let bad = match asked.map(|task| (task, response.check(task))) {
                        Some((task, Ok(claimers))) => {
                            for c in claimers {
                                self.table.add(task, c);
                            }
                            None
                        }
                        Some((_, Err(e))) => Some((peer, format!("claim answer: {e}"))),
                        None => None,
                    };
                    self.done(request_id, bad.is_none());
                    bad
                }
            },
            request_response::Event::OutboundFailure { request_id, .. } => {
                self.done(request_id, false);
                None
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "0x00000000000000000000000000000000000000aa";
    const B: &str = "0x00000000000000000000000000000000000000bb";

    #[test]
    fn peers_learn_claims_from_queries_and_answers() {
        let mut t = Table::default();
        let q = Query {
            task_id: 7,
            claimer: Some(A.into()),
        };
        assert_eq!(t.answer(&q).unwrap().claimers, [A]);
        t.add(7, account(B).unwrap());
        t.add(7, account(B).unwrap());
        let a = t
            .answer(&Query {
                task_id: 7,
                claimer: None,
            })
            .unwrap();
        assert_eq!(a.claimers, [A, B]);
        assert_eq!(a.check(7).unwrap().len(), 2);
        assert!(matches!(a.check(8), Err(Invalid::OtherTask { .. })));
        assert!(t.get(8).is_empty());
    }

    #[test]
    fn bad_messages_are_refused() {
        let mut t = Table::default();
        assert_eq!(
            t.answer(&Query {
                task_id: 0,
                claimer: None
            }),
            Err(Invalid::TaskZero)
        );
        for bad in [
            "0x12",
            "00000000000000000000000000000000000000aa00",
            "0xzz000000000000000000000000000000000000aa",
            // 40 bytes, but not 40 digits: refused, never sliced mid-character.
            "0x0000000000000000000000000000000000000é0",
        ] {
            let q = Query {
                task_id: 1,
                claimer: Some(bad.into()),
            };
            assert!(matches!(t.answer(&q), Err(Invalid::Account(_))), "{bad}");
        }
        let many = Answer {
            task_id: 1,
            claimers: vec![A.into(); MAX_CLAIMERS + 1],
        };
        assert!(matches!(many.check(1), Err(Invalid::TooMany(_))));
        assert!(serde_json::from_str::<Query>("{\"task_id\": -1}").is_err());
    }

    #[test]
    fn the_table_is_bounded() {
        let mut t = Table::default();
        for task in 1..=(MAX_TASKS as u64 + 10) {
            t.add(task, [1; 20]);
        }
        assert!(t.get(1).is_empty(), "the oldest tasks are forgotten");
        assert_eq!(t.get(MAX_TASKS as u64 + 10), [[1; 20]]);
        for i in 0..(MAX_CLAIMERS + 50) {
            let mut a = [0u8; 20];
            a[..8].copy_from_slice(&(i as u64).to_be_bytes());
            t.add(5000, a);
        }
        assert_eq!(t.get(5000).len(), MAX_CLAIMERS);
    }
}
