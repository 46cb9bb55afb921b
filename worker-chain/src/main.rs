//! `oarn-worker-chain`: the only process that holds key material: wallet, signing, contract calls.
//!
//! Started by the supervisor, which speaks the protocol of [`oarn_protocol::chain`] on this
//! process's stdin/stdout, or by `oarn wallet` for one key operation (`-- wallet <op>`).

use std::process::ExitCode;

use oarn_protocol::chain::{Protocol, Reply, Request};
use oarn_protocol::envelope::{ErrorReply, Info, RequestId};
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
    oarn_sandbox::worker::main_with_commands::<Protocol, _>(
        |_| Worker,
        |launch| oarn_worker_chain::command::run(&launch.command, &launch.log_filter),
    )
}
