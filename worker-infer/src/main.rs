//! `oarn-worker-infer`: runs models; it has no network at all.
//!
//! Started only by the supervisor, which speaks the protocol of [`oarn_protocol::infer`] on
//! this process's stdin/stdout. The model runs in [`engine`].

mod engine;

use std::process::ExitCode;

use oarn_protocol::envelope::{ErrorReply, Info, RequestId};
use oarn_protocol::infer::{Protocol, Reply, Request};
use oarn_protocol::serve::{Context, Handler};

/// Answers the supervisor's requests.
#[derive(Default)]
struct Worker {
    engine: engine::Engine,
}

impl Handler<Protocol> for Worker {
    fn handle(
        &mut self,
        _id: RequestId,
        request: Request,
        cx: &mut dyn Context<Protocol>,
    ) -> Result<Reply, ErrorReply> {
        match request {
            Request::Info => Ok(Reply::Info(Info {
                capabilities: vec!["llama.cpp".into(), "gguf".into()],
                in_flight: 0,
            })),
            Request::Generate(g) => self.engine.generate(&g, cx).map(Reply::Generated),
        }
    }
}

fn main() -> ExitCode {
    oarn_sandbox::worker::main::<Protocol, _>(|_| Worker::default())
}
