//! The fast path for results, `/oarn/result/1.0.0`: once a node has a task's result, it tells
//! the validators it keeps connections to directly, rather than waiting for gossip, and each
//! acknowledges the notice. A notice names the task, the `resultHash` the node submits on
//! chain (keccak256 of the result bytes) and the CID the bytes were uploaded under. JSON on
//! the wire; every field checked. The [`Courier`] also keeps the node's SLA figures: for each
//! task this node claimed (as recorded through claim negotiation), the time from that claim
//! to its result's delivery.

use std::collections::VecDeque;
use std::time::Instant;

use libp2p::PeerId;
use libp2p::request_response::{self, OutboundRequestId};
use oarn_protocol::net::{Reply, Sla};
use serde::{Deserialize, Serialize};

use crate::fanout::Fanout;
use crate::node::Answer as Reply_;

/// The request-response behaviour of the protocol.
pub type Behaviour = request_response::json::Behaviour<Notice, Ack>;

/// The protocol name.
pub const PROTOCOL: &str = "/oarn/result/1.0.0";
/// Validators told of one result, at most.
pub const MAX_VALIDATORS: usize = 32;
/// Claims remembered for the SLA figures; the oldest is forgotten first.
pub const MAX_CLAIMS: usize = 4096;
/// Claim-to-result times kept for the percentiles: the most recent ones.
pub const MAX_SAMPLES: usize = 1024;
/// Longest CID text accepted.
const MAX_CID: usize = 128;

/// A result, as a node tells a validator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    pub task_id: u64,
    /// `0x` and 64 hex digits: keccak256 of the result bytes, as submitted on chain.
    pub result_hash: String,
    /// Where the result bytes are on IPFS.
    pub cid: String,
    /// The account that submitted it (`0x` and 40 hex digits), on the gossip copy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// The fingerprint of what produced it (backend, version, build features, parameters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
}

/// Longest engine fingerprint accepted.
const MAX_ENGINE: usize = 512;

/// A validator's acknowledgement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    pub task_id: u64,
}

/// Why a notice was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    /// Task ids start at 1.
    #[error("task id 0 does not exist")]
    TaskZero,
    /// Not a hash.
    #[error("{0:?} is not a result hash (0x and 64 hex digits)")]
    Hash(String),
    /// Not a CID.
    #[error("{0:?} is not a CID")]
    Cid(String),
    /// Not an account.
    #[error("{0:?} is not an account (0x and 40 hex digits)")]
    Node(String),
    /// An engine fingerprint longer than any.
    #[error("the engine fingerprint is longer than 512 bytes")]
    Engine,
}

/// A notice, checked: the task, the hash and the CID (in its canonical text form).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub task_id: u64,
    pub result_hash: [u8; 32],
    pub cid: String,
}

fn hash(text: &str) -> Result<[u8; 32], Invalid> {
    let bad = || Invalid::Hash(text.chars().take(80).collect());
    let mut out = [0u8; 32];
    hex::decode_to_slice(text.strip_prefix("0x").ok_or_else(bad)?, &mut out).map_err(|_| bad())?;
    Ok(out)
}

impl Notice {
    /// Builds a notice from checked parts.
    pub fn new(task_id: u64, result_hash: &[u8; 32], cid: &cid::Cid) -> Self {
        Self {
            task_id,
            result_hash: format!("0x{}", hex::encode(result_hash)),
            cid: cid.to_string(),
            node: None,
            engine: None,
        }
    }

    /// The notice with the submitting account and the engine's fingerprint, as published on
    /// `oarn/network/v1` (task-format.md's result notice).
    pub fn signed_by(mut self, node: Option<[u8; 20]>, engine: &str) -> Self {
        self.node = node.map(|a| format!("0x{}", hex::encode(a)));
        self.engine = (!engine.is_empty()).then(|| engine.to_string());
        self
    }

    /// Every field checked.
    pub fn check(&self) -> Result<Checked, Invalid> {
        if self.task_id == 0 {
            return Err(Invalid::TaskZero);
        }
        let bad_cid = || Invalid::Cid(self.cid.chars().take(80).collect());
        if self.cid.len() > MAX_CID {
            return Err(bad_cid());
        }
        let cid: cid::Cid = self.cid.parse().map_err(|_| bad_cid())?;
        if let Some(node) = &self.node {
            let mut a = [0u8; 20];
            let digits = node.strip_prefix("0x").unwrap_or("-");
            hex::decode_to_slice(digits, &mut a).map_err(|_| Invalid::Node(node.chars().take(80).collect()))?;
        }
        if self.engine.as_ref().is_some_and(|e| e.len() > MAX_ENGINE) {
            return Err(Invalid::Engine);
        }
        Ok(Checked {
            task_id: self.task_id,
            result_hash: hash(&self.result_hash)?,
            cid: cid.to_string(),
        })
    }
}

/// Claim-to-result times.
#[derive(Debug, Default)]
pub struct Figures {
    /// When this node claimed each task, oldest first.
    claimed: VecDeque<(u64, Instant)>,
    /// Milliseconds from claim to delivered result, most recent last.
    samples: VecDeque<u64>,
    /// Results delivered for a claimed task, ever.
    results: u64,
}

impl Figures {
    /// This node claimed `task_id` now (a repeated claim keeps the first time).
    pub fn claimed(&mut self, task_id: u64) {
        if self.claimed.iter().any(|(t, _)| *t == task_id) {
            return;
        }
        if self.claimed.len() >= MAX_CLAIMS {
            self.claimed.pop_front();
        }
        self.claimed.push_back((task_id, Instant::now()));
    }

    /// A result for `task_id` was delivered now: its claim-to-result time in milliseconds,
    /// when this node's claim of it is known. A task counts once.
    pub fn delivered(&mut self, task_id: u64) -> Option<u64> {
        let at = self.claimed.iter().position(|(t, _)| *t == task_id)?;
        let (_, claimed) = self.claimed.remove(at)?;
        let ms = claimed.elapsed().as_millis().try_into().unwrap_or(u64::MAX);
        if self.samples.len() >= MAX_SAMPLES {
            self.samples.pop_front();
        }
        self.samples.push_back(ms);
        self.results += 1;
        Some(ms)
    }

    /// The figures: results counted, and the median, 99th percentile and worst of the
    /// recent claim-to-result times (nearest rank).
    pub fn sla(&self) -> Sla {
        let mut sorted: Vec<u64> = self.samples.iter().copied().collect();
        sorted.sort_unstable();
        let rank = |p: usize| -> u64 {
            if sorted.is_empty() {
                return 0;
            }
            let i = (p * sorted.len()).div_ceil(100).max(1) - 1;
            sorted[i.min(sorted.len() - 1)]
        };
        Sla {
            results: self.results,
            p50_ms: rank(50),
            p99_ms: rank(99),
            max_ms: sorted.last().copied().unwrap_or(0),
        }
    }
}

/// A result being delivered, waiting for acknowledgements.
#[derive(Debug)]
struct Sending {
    task_id: u64,
    sent: u32,
    acknowledged: u32,
    claim_to_result_ms: Option<u64>,
    reply: Reply_,
}

/// What an event of the behaviour means for the node.
#[derive(Debug)]
pub enum Outcome {
    /// A peer told us of a result (it was checked and acknowledged).
    Heard(PeerId, Checked),
    /// A peer sent something invalid.
    Invalid(PeerId, String),
}

/// Deliveries in flight, and the SLA figures.
#[derive(Debug, Default)]
pub struct Courier {
    pub figures: Figures,
    sending: Fanout<Sending>,
}

impl Courier {
    /// Sends `notice` to up to [`MAX_VALIDATORS`] of `validators` (the connected ones), and
    /// answers `reply` once each has acknowledged or failed. The claim-to-result time is
    /// taken now, when the result is ready to go.
    pub fn send(&mut self, rr: &mut Behaviour, validators: Vec<PeerId>, notice: Notice, reply: Reply_) {
        let requests: Vec<OutboundRequestId> = validators
            .into_iter()
            .take(MAX_VALIDATORS)
            .map(|peer| rr.send_request(&peer, notice.clone()))
            .collect();
        let s = Sending {
            task_id: notice.task_id,
            sent: requests.len() as u32,
            acknowledged: 0,
            claim_to_result_ms: self.figures.delivered(notice.task_id),
            reply,
        };
        if let Some(s) = self.sending.start(s, requests) {
            Self::finish(s);
        }
    }

    fn finish(s: Sending) {
        let _ = s.reply.send(Ok(Reply::Delivered(oarn_protocol::net::Delivered {
            validators: s.sent,
            acknowledged: s.acknowledged,
            claim_to_result_ms: s.claim_to_result_ms,
        })));
    }

    /// One notice ended, acknowledged or not.
    fn done(&mut self, request: OutboundRequestId, acknowledged: bool) {
        if let Some(s) = self
            .sending
            .end(&request, |s| s.acknowledged += u32::from(acknowledged))
        {
            Self::finish(s);
        }
    }

    /// Handles an event of the behaviour.
    pub fn on_event(&mut self, rr: &mut Behaviour, event: request_response::Event<Notice, Ack>) -> Option<Outcome> {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request { request, channel, .. } => match request.check() {
                    Ok(checked) => {
                        let _ = rr.send_response(
                            channel,
                            Ack {
                                task_id: checked.task_id,
                            },
                        );
                        Some(Outcome::Heard(peer, checked))
                    }
                    Err(e) => Some(Outcome::Invalid(peer, format!("result notice: {e}"))),
                },
                request_response::Message::Response { request_id, response } => {
                    let asked = self.sending.question(&request_id).map(|s| s.task_id);
                    let right = asked == Some(response.task_id);
                    self.done(request_id, right);
                    (!right && asked.is_some()).then(|| {
                        Outcome::Invalid(
                            peer,
                            format!("result acknowledgement for task {}, not {asked:?}", response.task_id),
                        )
                    })
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

    const CID: &str = "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4";

    fn notice(task_id: u64, hash: &str, cid: &str) -> Notice {
        Notice {
            task_id,
            result_hash: hash.into(),
            cid: cid.into(),
            node: None,
            engine: None,
        }
    }

    #[test]
    fn a_good_notice_is_read_back_exactly() {
        let hash = [0xab; 32];
        let cid: cid::Cid = CID.parse().unwrap();
        let n = Notice::new(7, &hash, &cid);
        let wire = serde_json::to_string(&n).unwrap();
        let back: Notice = serde_json::from_str(&wire).unwrap();
        assert_eq!(
            back.check().unwrap(),
            Checked {
                task_id: 7,
                result_hash: hash,
                cid: CID.into()
            }
        );
    }

    #[test]
    fn bad_notices_are_refused_with_the_reason() {
        let h = format!("0x{}", "ab".repeat(32));
        assert_eq!(notice(0, &h, CID).check(), Err(Invalid::TaskZero));
        for bad in [
            "ab".repeat(32),
            format!("0x{}", "ab".repeat(31)),
            format!("0x{}", "zz".repeat(32)),
            format!("0x{}é", "a".repeat(62)),
        ] {
            assert!(matches!(notice(1, &bad, CID).check(), Err(Invalid::Hash(_))), "{bad}");
        }
        for bad in ["bafy-not-a-cid".to_string(), "b".repeat(MAX_CID + 1)] {
            assert!(matches!(notice(1, &h, &bad).check(), Err(Invalid::Cid(_))), "{bad}");
        }
        assert!(serde_json::from_str::<Notice>("{\"task_id\": 1}").is_err());
    }

    #[test]
    fn figures_time_each_claimed_task_once_and_stay_bounded() {
        let mut f = Figures::default();
        assert_eq!(f.delivered(1), None, "a task this node did not claim has no figure");
        f.claimed(1);
        f.claimed(1);
        assert!(f.delivered(1).is_some());
        assert_eq!(f.delivered(1), None, "counted once");
        for task in 0..(MAX_CLAIMS as u64 + 5) {
            f.claimed(100 + task);
        }
        assert_eq!(f.delivered(100), None, "the oldest claims are forgotten");
        for task in 0..(MAX_SAMPLES as u64 + 5) {
            assert!(f.delivered(200 + task).is_some());
        }
        let sla = f.sla();
        assert_eq!(sla.results, MAX_SAMPLES as u64 + 6);
        assert!(sla.p50_ms <= sla.p99_ms && sla.p99_ms <= sla.max_ms);
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut f = Figures::default();
        assert_eq!(f.sla(), Sla::default());
        f.samples = (1..=100).collect();
        let sla = f.sla();
        assert_eq!((sla.p50_ms, sla.p99_ms, sla.max_ms), (50, 99, 100));
        f.samples = VecDeque::from([7]);
        assert_eq!(f.sla().p99_ms, 7);
    }
}
