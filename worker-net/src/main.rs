//! `oarn-worker-net`: the node's peer-to-peer side: libp2p, IPFS, downloads.
//!
//! Started only by the supervisor, which speaks the protocol of [`oarn_protocol::net`] on
//! this process's stdin/stdout.

use std::process::ExitCode;

use oarn_protocol::envelope::{ErrorReply, Info, RequestId};
use oarn_protocol::net::{Protocol, Reply, Request};
use oarn_protocol::serve::{Context, Handler};

/// Answers the supervisor's requests.
#[derive(Debug, Default)]
struct Worker;

impl Handler<Protocol> for Worker {
    fn handle(
        &mut self,
        _id: RequestId,
        request: Request,
        _cx: &mut dyn Context<Protocol>,
    ) -> Result<Reply, ErrorReply> {
        match request {
            Request::Info => Ok(Reply::Info(Info::default())),
        }
    }
}

fn main() -> ExitCode {
    oarn_sandbox::worker::main::<Protocol, _>(|_| Worker)
}
