//! The blocking loop a worker runs on its stdin/stdout after entering its sandbox: handshake,
//! then answer pings and requests until the supervisor says shutdown or closes the pipe.

use std::io::{Read, Write};

use crate::envelope::{Down, ErrorReply, Protocol, RequestId, Up};
use crate::frame::{FrameError, Reader, Writer};
use crate::handshake::{HandshakeError, Hello, Role};
use crate::sandbox::SandboxReport;

/// What a worker does with its requests.
pub trait Handler<P: Protocol> {
    /// Answers one request; `emit` streams events for it before the reply.
    fn handle(
        &mut self,
        id: RequestId,
        request: P::Request,
        emit: &mut dyn FnMut(P::Event) -> Result<(), FrameError>,
    ) -> Result<P::Reply, ErrorReply>;
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
    R: Read,
    W: Write,
{
    let mut reader = Reader::new(input, max_frame);
    let mut writer = Writer::new(output, max_frame);
    writer.send(&Hello::new(Role::Worker(P::KIND), build_id, sandbox))?;
    let payload = match reader.read_payload() {
        Ok(p) => p,
        Err(FrameError::Closed) => return Ok(Ended::Closed),
        Err(e) => return Err(e.into()),
    };
    Hello::decode(payload, Role::Supervisor)?;

    loop {
        let msg = match reader.read_payload().and_then(P::decode_down) {
            Ok(m) => m,
            Err(FrameError::Closed) => return Ok(Ended::Closed),
            Err(e) => return Err(e.into()),
        };
        match msg {
            Down::Ping { nonce } => send::<P, _>(&mut writer, &Up::Pong { nonce })?,
            Down::Request { id, body } => {
                let reply = handler.handle(id, body, &mut |body| send::<P, _>(&mut writer, &Up::Event { id, body }));
                send::<P, _>(&mut writer, &Up::Reply { id, body: reply })?;
            }
            // Requests are answered synchronously, so none is in flight when a cancel arrives.
            Down::Cancel { .. } => {}
            Down::Shutdown { .. } => return Ok(Ended::Shutdown),
        }
    }
}

fn send<P: Protocol, W: Write>(writer: &mut Writer<W>, msg: &Up<P::Reply, P::Event>) -> Result<(), FrameError> {
    writer.send_with(|max, out| P::encode_up(msg, max, out))
}
