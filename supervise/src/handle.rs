//! Calling a worker: a [`Handle`] sends typed requests to whichever process currently runs
//! the worker and gets typed replies back. A caller that gives up (drops the call's future)
//! or asks to cancel has the request cancelled inside the worker at once: the supervising
//! task awaits each call's cancellation, it does not look for it.

use std::future::Future;

use oarn_protocol::WorkerKind;
use oarn_protocol::envelope::{Call, ErrorKind, ErrorReply, Protocol};
use tokio::sync::{mpsc, oneshot, watch};

use crate::status::{State, WorkerStatus};

/// Why a call to a worker got no answer from it.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The worker is not running (starting, restarting or stopped).
    #[error("the {0} worker is not running")]
    NotRunning(WorkerKind),
    /// The worker's queue is full.
    #[error("the {0} worker is busy; try again")]
    Busy(WorkerKind),
    /// The worker ended before it answered.
    #[error("the {0} worker stopped before answering")]
    Lost(WorkerKind),
    /// The caller did not read what the request streamed in time; the request was cancelled
    /// rather than its events dropped.
    #[error("the {0} worker's events were not read in time; the request was cancelled")]
    Overrun(WorkerKind),
    /// The worker answered with an error.
    #[error("the {0} worker answered: {1}")]
    Worker(WorkerKind, ErrorReply),
}

impl CallError {
    /// The kind of the worker's own error, when it answered with one.
    pub fn kind(&self) -> Option<ErrorKind> {
        match self {
            Self::Worker(_, e) => Some(e.kind),
            _ => None,
        }
    }
}

/// One call on its way to the supervising task.
pub(crate) struct Pending<P: Protocol> {
    pub body: P::Request,
    /// Whether a reply is of the kind this request takes.
    pub accepts: fn(&P::Reply) -> bool,
    pub reply: oneshot::Sender<Result<P::Reply, CallError>>,
    pub events: Option<mpsc::Sender<P::Event>>,
    /// Resolves once the caller cancels or goes away (its sender sends or is dropped).
    pub cancel: oneshot::Receiver<()>,
}

/// Sends requests to one worker, whichever process currently runs it; cheap to clone.
pub struct Handle<P: Protocol> {
    pub(crate) calls: mpsc::Sender<Pending<P>>,
    pub(crate) status: watch::Receiver<WorkerStatus>,
}

impl<P: Protocol> std::fmt::Debug for Handle<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Handle({})", P::KIND)
    }
}

impl<P: Protocol> Clone for Handle<P> {
    fn clone(&self) -> Self {
        Self {
            calls: self.calls.clone(),
            status: self.status.clone(),
        }
    }
}

impl<P: Protocol> Handle<P> {
    /// Sends `request` and waits for its reply. Dropping the future before it finishes
    /// cancels the request in the worker.
    pub async fn call<C: Call<Protocol = P>>(&self, request: C) -> Result<C::Reply, CallError> {
        self.run(request, None, std::future::pending()).await
    }

    /// [`Handle::call`], with what the worker streams sent to `events`. A caller that stops
    /// reading them has its request cancelled (nothing streamed is dropped silently).
    pub async fn stream<C: Call<Protocol = P>>(
        &self,
        request: C,
        events: mpsc::Sender<P::Event>,
    ) -> Result<C::Reply, CallError> {
        self.run(request, Some(events), std::future::pending()).await
    }

    /// [`Handle::stream`], cancelled in the worker when `cancel` completes; the worker's answer
    /// to the cancelled request is still returned.
    pub async fn stream_cancellable<C: Call<Protocol = P>>(
        &self,
        request: C,
        events: Option<mpsc::Sender<P::Event>>,
        cancel: impl Future<Output = ()>,
    ) -> Result<C::Reply, CallError> {
        self.run(request, events, cancel).await
    }

    async fn run<C: Call<Protocol = P>>(
        &self,
        request: C,
        events: Option<mpsc::Sender<P::Event>>,
        cancel: impl Future<Output = ()>,
    ) -> Result<C::Reply, CallError> {
        if self.status.borrow().state != State::Running {
            return Err(CallError::NotRunning(P::KIND));
        }
        let (reply, mut answer) = oneshot::channel();
        let (cancel_tx, cancel_rx) = oneshot::channel();
        self.calls
            .try_send(Pending {
                body: request.request(),
                accepts: C::accepts,
                reply,
                events,
                cancel: cancel_rx,
            })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => CallError::Busy(P::KIND),
                mpsc::error::TrySendError::Closed(_) => CallError::NotRunning(P::KIND),
            })?;
        // Held until the answer comes: sending on it, or dropping it with this future, cancels.
        let mut cancel_tx = Some(cancel_tx);
        tokio::pin!(cancel);
        let answer = loop {
            tokio::select! {
                answer = &mut answer => break answer,
                () = &mut cancel, if cancel_tx.is_some() => {
                    let _ = cancel_tx.take().map(|c| c.send(()));
                }
            }
        };
        let reply = answer.unwrap_or(Err(CallError::Lost(P::KIND)))?;
        // The supervising task checked the reply's kind against `C::accepts`.
        C::reply(reply).ok_or(CallError::Lost(P::KIND))
    }

    /// A snapshot of the worker's status.
    pub fn status(&self) -> WorkerStatus {
        self.status.borrow().snapshot()
    }

    /// Waits until the worker has completed a handshake (now or later); false when it was
    /// stopped for good first.
    pub async fn running(&self) -> bool {
        let mut rx = self.status.clone();
        rx.wait_for(|s| matches!(s.state, State::Running | State::Stopped))
            .await
            .is_ok_and(|s| s.state == State::Running)
    }

    /// Waits until the status satisfies `pred`.
    pub async fn wait_for(&self, pred: impl FnMut(&WorkerStatus) -> bool) -> WorkerStatus {
        let mut rx = self.status.clone();
        let seen = rx.wait_for(pred).await.map(|s| s.snapshot());
        seen.unwrap_or_else(|_| self.status())
    }
}
