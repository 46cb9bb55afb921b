//! `oarn-worker-infer`: runs models; it has no network at all.
//!
//! Started only by the supervisor, which speaks the protocol of [`oarn_protocol::infer`] on
//! this process's stdin/stdout. Language models run in a [`backend::Backend`]: llama.cpp in
//! this process ([`llama`]), or, when started with `--ollama ADDR` (under its own profile,
//! which allows a TCP connection to that port and nothing else), an Ollama server
//! ([`ollama`]). Tensor models (ONNX) run in ONNX Runtime ([`onnx`]) when started with
//! `--onnxruntime LIB`, which is loaded before the sandbox closes. Hugging Face checkpoints
//! (a model archive of Safetensors weights, config and tokenizer) run in candle ([`candle`]).

mod backend;
mod cache;
mod candle;
mod chat;
mod llama;
mod lm;
mod ollama;
mod onnx;
mod onnx_lm;
mod text;

use std::process::ExitCode;

use backend::Backend;
use oarn_protocol::envelope::{ErrorKind, ErrorReply, Info, RequestId};
use oarn_protocol::infer::{Loaded, ModelInfo, Protocol, Reply, Request};
use oarn_protocol::serve::{Context, Handler};
use oarn_protocol::task::ModelFormat;
use oarn_sandbox::launch::Launch;

/// Answers the supervisor's requests.
struct Worker {
    /// The backend, or why llama.cpp could not start.
    backend: Result<Box<dyn Backend>, ErrorReply>,
    /// ONNX Runtime, or why it is not available.
    onnx: Result<onnx::Onnx, ErrorReply>,
    /// candle, for model archives.
    candle: candle::Candle,
}

/// Loads ONNX Runtime's library, when the node names it, while the process may still map
/// code; its environment starts inside the sandbox ([`Worker::new`]).
fn prepare(launch: &Launch) -> Result<onnx::Library, ErrorReply> {
    match &launch.onnxruntime {
        Some(lib) if launch.ollama.is_none() => onnx::Library::load(lib),
        _ => Err(onnx::unavailable("compute.onnxruntime is not set")),
    }
}

/// The memory budget in MiB.
fn budget(launch: &Launch) -> u64 {
    if launch.memory_mb == 0 {
        oarn_sandbox::rlimits::physical_memory_mb()
    } else {
        launch.memory_mb
    }
}

impl Worker {
    fn new(launch: &Launch, library: Result<onnx::Library, ErrorReply>) -> Self {
        let onnx = library.and_then(|l| onnx::Onnx::start(l, budget(launch) << 20));
        let backend = match launch.ollama {
            Some(addr) => Ok(Box::new(ollama::Ollama::new(addr)) as Box<dyn Backend>),
            None => llama::Llama::new(budget(launch) << 20).map(|l| Box::new(l) as Box<dyn Backend>),
        };
        if let Err(e) = &backend {
            tracing::error!(error = %e.message, "the model backend is unavailable");
        }
        if let (Some(_), Err(e)) = (&launch.onnxruntime, &onnx) {
            tracing::error!(error = %e.message, "ONNX Runtime is unavailable");
        }
        Self {
            backend,
            onnx,
            candle: candle::Candle::new(budget(launch) << 20),
        }
    }

    /// The backend, or why it could not start.
    fn backend(&mut self) -> Result<&mut Box<dyn Backend>, ErrorReply> {
        self.backend.as_mut().map_err(|e| e.clone())
    }

    /// ONNX Runtime, or why it is not available.
    fn onnx(&mut self) -> Result<&mut onnx::Onnx, ErrorReply> {
        self.onnx.as_mut().map_err(|e| e.clone())
    }

    /// Reads the model file at `path`: the one place a model file's bytes are parsed, inside
    /// this sandbox (which lets it read the model cache and nothing else). Its first bytes say
    /// which reader gets it.
    fn inspect(&mut self, path: &str) -> Result<ModelInfo, ErrorReply> {
        let invalid = |m: String| ErrorReply::new(ErrorKind::InvalidRequest, m);
        let mut head = [0u8; 512];
        let n = std::fs::File::open(path)
            .and_then(|mut f| std::io::Read::read(&mut f, &mut head))
            .map_err(|e| ErrorReply::new(ErrorKind::NotFound, format!("cannot read {path}: {e}")))?;
        if oarn_formats::archive::is_archive(&head[..n]) {
            let p = std::path::Path::new(path);
            let index =
                oarn_formats::archive::index(p).map_err(|e| invalid(format!("not a valid model archive: {e}")))?;
            if index.format == ModelFormat::Onnx {
                return self.onnx()?.inspect_lm(path);
            }
            return oarn_formats::hf::describe(p, &index).map_err(|e| invalid(e.to_string()));
        }
        match oarn_formats::task::sniff(&head[..n]) {
            Some(ModelFormat::Gguf) => {
                oarn_formats::gguf::read(std::path::Path::new(path)).map_err(|e| invalid(e.to_string()))
            }
            Some(ModelFormat::Onnx) => self.onnx()?.inspect(path),
            // Read and checked, so the operator learns what the file is; alone it cannot run.
            Some(ModelFormat::Safetensors) => {
                let s = oarn_formats::safetensors::read(std::path::Path::new(path))
                    .map_err(|e| invalid(format!("not a valid Safetensors file: {e}")))?;
                Err(invalid(format!(
                    "a Safetensors checkpoint ({} tensors, {:.1} M parameters, {}) without its config.json and tokenizer.json; import the directory that holds all three",
                    s.tensors,
                    s.parameters as f64 / 1e6,
                    s.dtype
                )))
            }
            Some(other) => Err(invalid(format!(
                "the file looks like a {} model; this build runs GGUF and ONNX models",
                other.as_str()
            ))),
            None => Err(invalid(
                "not a GGUF, ONNX or Safetensors model (a model directory is imported as a directory)".into(),
            )),
        }
    }

    /// The backend's capabilities, and `onnx` when ONNX Runtime is loaded.
    fn capabilities(&mut self) -> Result<Vec<String>, ErrorReply> {
        let mut out = self.backend()?.capabilities();
        out.extend(self.candle.capabilities());
        if self.onnx.is_ok() {
            out.extend(["onnxruntime".to_string(), "onnx".to_string()]);
        }
        Ok(out)
    }

    fn unload(&mut self, model: Option<&str>) -> Result<Vec<String>, ErrorReply> {
        let mut out = self.backend()?.unload(model)?;
        out.extend(self.candle.unload(model)?);
        if let Ok(onnx) = &mut self.onnx {
            out.extend(onnx.unload(model));
        }
        Ok(out)
    }

    fn loaded(&mut self) -> Result<Vec<Loaded>, ErrorReply> {
        let mut out = self.backend()?.loaded()?;
        out.extend(self.candle.loaded()?);
        if let Ok(onnx) = &self.onnx {
            out.extend(onnx.loaded());
        }
        Ok(out)
    }
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
                capabilities: self.capabilities()?,
                in_flight: 0,
            })),
            Request::Generate(g) => match lm::archive_format(&g.model) {
                Some(ModelFormat::Onnx) => self.onnx()?.generate(&g, cx),
                Some(_) => self.candle.generate(&g, cx),
                None => self.backend()?.generate(&g, cx),
            }
            .map(Reply::Generated),
            Request::Unload(u) => self.unload(u.model.as_deref()).map(Reply::Unloaded),
            Request::ListLoaded(_) => self.loaded().map(Reply::Loaded),
            Request::Inspect(i) => self.inspect(&i.path).map(Reply::Inspected),
            Request::Run(r) => self.onnx()?.run(&r).map(Reply::Ran),
        }
    }
}

fn main() -> ExitCode {
    oarn_sandbox::worker::main_prepared::<Protocol, _, _>(prepare, Worker::new)
}
