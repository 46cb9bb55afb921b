//! `oarn-worker-infer`: runs models; it has no network at all.
//!
//! Started only by the supervisor, which speaks the protocol of [`oarn_protocol::infer`] on
//! this process's stdin/stdout. Models run in a [`backend::Backend`]: llama.cpp in this
//! process ([`llama`]), or, when started with `--ollama ADDR` (under its own profile, which
//! allows a TCP connection to that port and nothing else), an Ollama server ([`ollama`]).

mod backend;
mod cache;
mod llama;
mod ollama;
mod text;

use std::process::ExitCode;

use backend::Backend;
use oarn_protocol::envelope::{ErrorKind, ErrorReply, Info, RequestId};
use oarn_protocol::infer::{ModelInfo, Protocol, Reply, Request};
use oarn_protocol::serve::{Context, Handler};
use oarn_sandbox::launch::Launch;

/// Answers the supervisor's requests.
struct Worker {
    /// The backend, or why llama.cpp could not start.
    backend: Result<Box<dyn Backend>, ErrorReply>,
}

impl Worker {
    fn new(launch: &Launch) -> Self {
        let backend = match launch.ollama {
            Some(addr) => Ok(Box::new(ollama::Ollama::new(addr)) as Box<dyn Backend>),
            None => {
                let budget = if launch.memory_mb == 0 {
                    oarn_sandbox::rlimits::physical_memory_mb()
                } else {
                    launch.memory_mb
                };
                llama::Llama::new(budget << 20).map(|l| Box::new(l) as Box<dyn Backend>)
            }
        };
        if let Err(e) = &backend {
            tracing::error!(error = %e.message, "the model backend is unavailable");
        }
        Self { backend }
    }

    /// The backend, or why it could not start.
    fn backend(&mut self) -> Result<&mut Box<dyn Backend>, ErrorReply> {
        self.backend.as_mut().map_err(|e| e.clone())
    }
}

/// Reads the header of the model file at `path`: the one place a model file's bytes are
/// parsed, inside this sandbox (which lets it read the model cache and nothing else).
fn inspect(path: &str) -> Result<ModelInfo, ErrorReply> {
    oarn_formats::gguf::read(std::path::Path::new(path))
        .map_err(|e| ErrorReply::new(ErrorKind::InvalidRequest, e.to_string()))
}

impl Handler<Protocol> for Worker {
    fn handle(
        &mut self,
        _id: RequestId,
        request: Request,
        cx: &mut dyn Context<Protocol>,
    ) -> Result<Reply, ErrorReply> {
        match request {
            Request::GetInfo(_) => Ok(Reply::Info(Info {
                capabilities: self.backend()?.capabilities(),
                in_flight: 0,
            })),
            Request::Generate(g) => self.backend()?.generate(&g, cx).map(Reply::Generated),
            Request::Unload(u) => self.backend()?.unload(u.model.as_deref()).map(Reply::Unloaded),
            Request::ListLoaded(_) => self.backend()?.loaded().map(Reply::Loaded),
            // Inspection needs no backend.
            Request::Inspect(i) => inspect(&i.path).map(Reply::Inspected),
        }
    }
}

fn main() -> ExitCode {
    oarn_sandbox::worker::main::<Protocol, _>(Worker::new)
}
