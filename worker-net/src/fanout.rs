//! One question put to several peers at once (a claim query, a result notice): its requests
//! are tracked until each has been answered or has failed, and then the question is handed
//! back, whole, to be answered. Bounded by the requests in flight, which the protocols'
//! own timeouts end.

use std::collections::HashMap;

use libp2p::request_response::OutboundRequestId;

/// Questions waiting for their peers, each with what it tallies (`Q`).
#[derive(Debug)]
pub struct Fanout<Q> {
    next: u64,
    waiting: HashMap<u64, (Q, u32)>,
    requests: HashMap<OutboundRequestId, u64>,
}

impl<Q> Default for Fanout<Q> {
    fn default() -> Self {
        Self {
            next: 0,
            waiting: HashMap::new(),
            requests: HashMap::new(),
        }
    }
}

impl<Q> Fanout<Q> {
    /// Tracks `question`, sent as `requests`; hands it back at once when there were none.
    pub fn start(&mut self, question: Q, requests: impl IntoIterator<Item = OutboundRequestId>) -> Option<Q> {
        let id = self.next;
        self.next += 1;
        let mut sent = 0;
        for r in requests {
            self.requests.insert(r, id);
            sent += 1;
        }
        if sent == 0 {
            return Some(question);
        }
        self.waiting.insert(id, (question, sent));
        None
    }

    /// The question `request` belongs to, while it waits.
    pub fn question(&self, request: &OutboundRequestId) -> Option<&Q> {
        self.requests
            .get(request)
            .and_then(|id| self.waiting.get(id))
            .map(|(q, _)| q)
    }

    /// `request` ended; `tally` records how. Hands the question back once its last request
    /// has ended.
    pub fn end(&mut self, request: &OutboundRequestId, tally: impl FnOnce(&mut Q)) -> Option<Q> {
        let id = self.requests.remove(request)?;
        let (q, left) = self.waiting.get_mut(&id)?;
        tally(q);
        *left -= 1;
        if *left > 0 {
            return None;
        }
        self.waiting.remove(&id).map(|(q, _)| q)
    }
}
