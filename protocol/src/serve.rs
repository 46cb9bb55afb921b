//! The loop a worker runs on its stdin/stdout after entering its sandbox: handshake, then
//! answer pings and requests until the supervisor says shutdown or closes the pipe.
//!
//! A reader thread answers pings and records cancellations at once, so a worker busy with a
//! long request (a model load, a generation) still passes its health checks and can be
//! stopped mid-request; requests themselves run one at a time on the calling thread. A request
//! that lives as long as the worker (the network worker's event stream) is handed to another
//! thread with [`Context::defer`], so the loop goes on answering the next requests.
//!
//! Each request in progress has its own cancellation flag, set by the reader thread the moment
//! the supervisor's `Cancel` for that id arrives, however many requests run at once.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};

use std::sync::{Arc, Mutex, mpsc};

use crate::envelope::{Down, ErrorReply, Protocol, RequestId, Up};
use crate::frame::{FrameError, Reader, Writer};
use crate::handshake::{HandshakeError, Hello, Role};
use crate::sandbox::SandboxReport;

/// What a request handler may ask while it runs.
pub trait Context<P: Protocol> {
    /// Streams an event for the current request.
    fn emit(&mut self, event: P::Event) -> Result<(), FrameError>;
    /// True once the supervisor cancelled the current request.
    fn cancelled(&self) -> bool;
    /// Hands the rest of the current request to a [`Responder`], which may stream its events
    /// and send its one reply from any thread. The value the handler then returns is not sent.
    fn defer(&mut self) -> Responder<P>;
}

type SendUp<P> = dyn Fn(&Up<<P as Protocol>::Reply, <P as Protocol>::Event>) -> Result<(), FrameError> + Send + Sync;

/// The rest of a deferred request: its events and its reply, from any thread. Dropped without
/// [`Responder::finish`], it answers the request with an internal error, so the supervisor is
/// never left waiting.
pub struct Responder<P: Protocol> {
    id: RequestId,
    send: Option<Arc<SendUp<P>>>,
    cancel: Cancel,
}

impl<P: Protocol> std::fmt::Debug for Responder<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Responder({})", self.id)
    }
}

impl<P: Protocol> Responder<P> {
    /// The id of the request this answers.
    pub fn id(&self) -> RequestId {
        self.id
    }

    /// True once the supervisor cancelled the request.
    pub fn cancelled(&self) -> bool {
        self.cancel.is_set()
    }

    /// Completes when the supervisor cancels the request (at once if it has).
    #[cfg(feature = "tokio")]
    pub async fn wait_cancelled(&self) {
        let flag = &self.cancel.flag;
        loop {
            // Registered before the flag is read, so a cancel in between still wakes us.
            let notified = flag.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if flag.load(Ordering::SeqCst) {
                return;
            }
            notified.await;
        }
    }

    /// Streams an event for the request.
    pub fn emit(&self, body: P::Event) -> Result<(), FrameError> {
        match &self.send {
            Some(send) => send(&Up::Event { id: self.id, body }),
            None => Err(FrameError::Closed),
        }
    }

    /// Sends the request's reply; nothing more may be sent for it.
    pub fn finish(mut self, body: Result<P::Reply, ErrorReply>) -> Result<(), FrameError> {
        self.cancel.done();
        match self.send.take() {
            Some(send) => send(&Up::Reply { id: self.id, body }),
            None => Err(FrameError::Closed),
        }
    }
}

impl<P: Protocol> Drop for Responder<P> {
    fn drop(&mut self) {
        self.cancel.done();
        if let Some(send) = self.send.take() {
            let body = Err(ErrorReply::new(
                crate::envelope::ErrorKind::Internal,
                "the worker dropped the request without answering it",
            ));
            let _ = send(&Up::Reply { id: self.id, body });
        }
    }
}

/// What a worker does with its requests.
pub trait Handler<P: Protocol> {
    /// Answers one request.
    fn handle(&mut self, id: RequestId, request: P::Request, cx: &mut dyn Context<P>) -> Result<P::Reply, ErrorReply>;
}

/// Why the serve loop ended abnormally.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The handshake with the supervisor failed.
    #[error("handshake with the supervisor failed: {0}")]
    Handshake(#[from] HandshakeError),
    /// A frame from the supervisor could not be read or decoded, or a reply not written.
    #[error("supervisor channel failed: {0}")]
    Frame(#[from] FrameError),
}

/// How the loop ended normally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The supervisor asked for shutdown.
    Shutdown,
    /// The supervisor closed our stdin (it exited or dropped us).
    Closed,
}

/// The requests in progress and their cancellation flags. A request is registered when it
/// arrives and forgotten when it is answered, so the table holds at most what the supervisor
/// has in flight (it bounds that); a `Cancel` for an id not in it (already answered) is a
/// no-op.
#[derive(Default)]
struct Flags(Mutex<HashMap<RequestId, Arc<Flag>>>);

/// One request's cancellation: a flag to look at between steps of work, and (with the tokio
/// feature) a notification to await.
#[derive(Default)]
struct Flag {
    set: AtomicBool,
    #[cfg(feature = "tokio")]
    notify: tokio::sync::Notify,
}

impl Flag {
    fn store(&self, v: bool, order: Ordering) {
        self.set.store(v, order);
        #[cfg(feature = "tokio")]
        if v {
            self.notify.notify_waiters();
        }
    }

    fn load(&self, order: Ordering) -> bool {
        self.set.load(order)
    }
}

impl Flags {
    fn register(self: &Arc<Self>, id: RequestId) -> Cancel {
        let flag = Arc::new(Flag::default());
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, flag.clone());
        Cancel {
            id,
            flag,
            flags: self.clone(),
        }
    }

    fn cancel(&self, id: RequestId) {
        if let Some(flag) = self.0.lock().unwrap_or_else(|e| e.into_inner()).get(&id) {
            flag.store(true, Ordering::SeqCst);
        }
    }
}

/// One request's cancellation flag.
struct Cancel {
    id: RequestId,
    flag: Arc<Flag>,
    flags: Arc<Flags>,
}

impl Cancel {
    fn is_set(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// The request is answered: its id leaves the table.
    fn done(&self) {
        self.flags.0.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.id);
    }
}

/// What the reader thread hands to the request loop.
enum Inbound<R> {
    Request(RequestId, R, Cancel),
    Shutdown,
    Failed(FrameError),
}

type SharedWriter<W> = Arc<Mutex<Writer<W>>>;

fn send<P: Protocol, W: Write>(w: &SharedWriter<W>, msg: &Up<P::Reply, P::Event>) -> Result<(), FrameError> {
    w.lock()
        .unwrap_or_else(|e| e.into_inner())
        .send_with(|max, out| P::encode_up(msg, max, out))
}

struct Cx<'a, P: Protocol, W: Write> {
    id: RequestId,
    writer: &'a SharedWriter<W>,
    /// Taken by [`Context::defer`]; otherwise done when the reply is sent.
    cancel: Option<Cancel>,
    _p: std::marker::PhantomData<P>,
}

impl<P: Protocol, W: Write + Send + 'static> Context<P> for Cx<'_, P, W> {
    fn emit(&mut self, body: P::Event) -> Result<(), FrameError> {
        send::<P, W>(self.writer, &Up::Event { id: self.id, body })
    }
    fn cancelled(&self) -> bool {
        self.cancel.as_ref().is_some_and(Cancel::is_set)
    }
    fn defer(&mut self) -> Responder<P> {
        let writer = self.writer.clone();
        let cancel = match self.cancel.take() {
            Some(c) => c,
            // Deferred twice: the second responder's request is the same; it shares nothing.
            None => Arc::new(Flags::default()).register(self.id),
        };
        Responder {
            id: self.id,
            send: Some(Arc::new(move |msg| send::<P, W>(&writer, msg))),
            cancel,
        }
    }
}

/// Runs the worker side of the protocol over `input`/`output` until shutdown or close.
pub fn serve<P, H, R, W>(
    handler: &mut H,
    build_id: &str,
    sandbox: SandboxReport,
    input: R,
    output: W,
    max_frame: u32,
) -> Result<Ended, ServeError>
where
    P: Protocol,
    H: Handler<P>,
    R: Read + Send + 'static,
    W: Write + Send + 'static,
{
    let mut reader = Reader::new(input, max_frame);
    let writer: SharedWriter<W> = Arc::new(Mutex::new(Writer::new(output, max_frame)));
    writer
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .send(&Hello::new(Role::Worker(P::KIND), build_id, sandbox))?;
    let payload = match reader.read_payload() {
        Ok(p) => p,
        Err(FrameError::Closed) => return Ok(Ended::Closed),
        Err(e) => return Err(e.into()),
    };
    Hello::decode(payload, Role::Supervisor)?;

    let flags = Arc::new(Flags::default());
    let (tx, rx) = mpsc::sync_channel::<Inbound<P::Request>>(64);
    let reader_writer = writer.clone();
    std::thread::Builder::new()
        .name("frames".into())
        .spawn(move || {
            loop {
                let msg = match reader.read_payload().and_then(P::decode_down) {
                    Ok(m) => m,
                    Err(FrameError::Closed) => return,
                    Err(e) => {
                        let _ = tx.send(Inbound::Failed(e));
                        return;
                    }
                };
                let forward = match msg {
                    Down::Ping { nonce } => match send::<P, W>(&reader_writer, &Up::Pong { nonce }) {
                        Ok(()) => continue,
                        Err(e) => Inbound::Failed(e),
                    },
                    Down::Cancel { id } => {
                        flags.cancel(id);
                        continue;
                    }
                    Down::Request { id, body } => Inbound::Request(id, body, flags.register(id)),
                    Down::Shutdown { .. } => Inbound::Shutdown,
                };
                if tx.send(forward).is_err() {
                    return;
                }
            }
        })
        .map_err(|e| ServeError::Frame(FrameError::Io(e)))?;

    loop {
        match rx.recv() {
            Err(_) => return Ok(Ended::Closed),
            Ok(Inbound::Shutdown) => return Ok(Ended::Shutdown),
            Ok(Inbound::Failed(e)) => return Err(e.into()),
            Ok(Inbound::Request(id, body, cancel)) => {
                let mut cx = Cx::<P, W> {
                    id,
                    writer: &writer,
                    cancel: Some(cancel),
                    _p: std::marker::PhantomData,
                };
                let reply = handler.handle(id, body, &mut cx);
                if let Some(cancel) = cx.cancel.take() {
                    cancel.done();
                    send::<P, W>(&writer, &Up::Reply { id, body: reply })?;
                }
            }
        }
    }
}
