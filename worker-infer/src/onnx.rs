//! The ONNX backend: ONNX Runtime, loaded from `compute.onnxruntime` before the sandbox closes
//! (ort's `load-dynamic`: the library is the operator's file, checked by its sha256 into every
//! fingerprint), runs the network's tensor tasks: the input block read as an f32 tensor
//! ([`oarn_formats::tensor`]) goes to the model's first input, and the first output becomes
//! the result bytes. Model files are parsed by ONNX Runtime here, inside this sandbox.
//!
//! Results are deterministic for one runtime build, model, CPU path and option set: the graph
//! optimisation level is pinned (another level changes the bits), execution is sequential with
//! one inter-op thread, and deterministic kernels are asked for; the intra-op thread count does
//! not change the bytes (the tests check 1 and 2 threads) but is named in the fingerprint.

use std::io::Read;
use std::path::Path;
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use oarn_formats::tensor::{self, Tensor};
use oarn_protocol::envelope::{ErrorKind, ErrorReply};
use oarn_protocol::infer::{Loaded, MAX_RESULT, ModelInfo, Ran, Run};
use oarn_protocol::task::ModelFormat;
use ort::environment::Environment;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::{RunOptions, Session};
use ort::value::{TensorElementType, ValueType};
use sha2::{Digest, Sha256};
use sha3::Keccak256;

use crate::cache::Cache;
use crate::text::err;

/// The graph optimisation level every session uses: part of what decides the output bits.
const OPTIMIZATION: GraphOptimizationLevel = GraphOptimizationLevel::Level1;

/// ONNX Runtime, loaded, and the sessions it holds.
pub struct Onnx {
    env: Environment,
    /// The library's build and sha256, for fingerprints.
    library: String,
    /// Sessions by model path, with the thread count each was made with.
    sessions: Cache<(usize, Session)>,
    /// Language models (decoder graphs in model archives) by path ([`crate::onnx_lm`]).
    pub(crate) lms: Cache<crate::onnx_lm::Lm>,
}

impl std::fmt::Debug for Onnx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Onnx").field("library", &self.library).finish()
    }
}

/// Why ONNX Runtime is not available; the message says what the operator can do.
pub fn unavailable(why: impl std::fmt::Display) -> ErrorReply {
    err(
        ErrorKind::Unsupported,
        format!(
            "ONNX models cannot run: {why}; set compute.onnxruntime to ONNX Runtime's libonnxruntime.so (scripts/fetch-onnxruntime fetches 1.31.1) and restart the node"
        ),
    )
}

/// ONNX Runtime, loaded and started before the sandbox, with no thread of its own yet.
pub struct Library {
    env: Environment,
    sha256: String,
}

impl std::fmt::Debug for Library {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Library").field("sha256", &self.sha256).finish()
    }
}

impl Library {
    /// Loads the library at `path` and starts its environment. Runs before the sandbox
    /// closes: loading a library maps code, which the sandbox forbids afterwards, and the
    /// environment reads the CPU's description (`/proc/cpuinfo`, `/sys/devices/system/cpu`),
    /// which the sandbox does not let it read.
    ///
    /// ONNX Runtime's telemetry is turned off first: left on, it writes a device id and an
    /// event database under `~/.cache/Microsoft` and starts a thread to upload them. No thread
    /// may exist when this returns: a thread started before the sandbox would stay outside it
    /// (Landlock and seccomp bind the calling thread and what it starts later), and a process
    /// with threads cannot enter a user namespace. So ONNX Runtime is refused if it started one.
    pub fn load(path: &Path) -> Result<Self, ErrorReply> {
        let sha256 = file_sha256(path).map_err(|e| unavailable(format!("cannot read {}: {e}", path.display())))?;
        // SAFETY: the worker has one thread here (checked below after loading, and nothing
        // before this in the worker starts one), so nothing reads the environment meanwhile.
        unsafe { std::env::set_var("ORT_DISABLE_TELEMETRY", "1") };
        let env = ort::init_from(path)
            .map_err(|e| unavailable(format!("cannot load {}: {e}", path.display())))?
            .with_name("oarn")
            .with_telemetry(false)
            .build()
            .map_err(|e| unavailable(format!("ONNX Runtime did not start: {e}")))?;
        match threads() {
            Some(1) => Ok(Self { env, sha256 }),
            n => Err(unavailable(format!(
                "{} started {} threads before the sandbox, which would run outside it; refused",
                path.display(),
                n.map_or_else(|| "unknown".into(), |n| (n - 1).to_string())
            ))),
        }
    }
}

/// The threads of this process, from `/proc/self/task`.
fn threads() -> Option<usize> {
    std::fs::read_dir("/proc/self/task").ok().map(|d| d.count())
}

impl Onnx {
    /// ONNX Runtime from the loaded `library`, inside the sandbox, keeping up to `budget`
    /// bytes of models loaded. Its threads start with the first session, inside the sandbox.
    pub fn start(library: Library, budget: u64) -> Result<Self, ErrorReply> {
        let Library { env, sha256: sha } = library;
        let build = ort::info();
        // "ORT Build Info: git-branch=rel-1.31.1, git-commit-id=…, build type=Release, cmake
        // cxx flags: …": what names the build, without the compiler flags.
        let build = build.split(", cmake").next().unwrap_or(build);
        let build = build.trim_start_matches("ORT Build Info: ");
        Ok(Self {
            env,
            library: format!("onnxruntime {build}; library sha256 {}", &sha[..16]),
            sessions: Cache::new(budget),
            lms: Cache::new(budget),
        })
    }

    pub fn unload(&mut self, model: Option<&str>) -> Vec<String> {
        let mut out = self.sessions.remove(model);
        out.extend(self.lms.remove(model));
        out
    }

    pub fn loaded(&self) -> Vec<Loaded> {
        let mut out = self.sessions.loaded();
        out.extend(self.lms.loaded());
        out
    }

    /// Reads the model at `path` (ONNX Runtime parses it) and describes its inputs and outputs.
    pub fn inspect(&self, path: &str) -> Result<ModelInfo, ErrorReply> {
        let session = self.session(path, 1)?;
        let name = session.metadata().ok().and_then(|m| m.name()).filter(|n| !n.is_empty());
        Ok(ModelInfo {
            format: ModelFormat::Onnx,
            architecture: "onnx".into(),
            name: name.map(|n| oarn_protocol::text::clean(&n)),
            inputs: session.inputs().iter().map(|o| outlet(o.name(), o.dtype())).collect(),
            outputs: session.outputs().iter().map(|o| outlet(o.name(), o.dtype())).collect(),
            ..ModelInfo::default()
        })
    }

    /// Runs `r`: parses its input, feeds it to the model and formats the first output.
    pub fn run(&mut self, r: &Run) -> Result<Ran, ErrorReply> {
        let started = Instant::now();
        let input = tensor::parse_input(&r.input).map_err(|e| err(ErrorKind::InvalidRequest, e.to_string()))?;
        let threads = crate::text::threads(r.threads);
        // ONNX Runtime fixes a session's threads when it is made: another count, another session.
        if self.sessions.get(&r.model).is_some_and(|(n, _)| *n != threads) {
            self.sessions.remove(Some(&r.model));
        }
        let mut load_us = 0;
        if self.sessions.get(&r.model).is_none() {
            let bytes = std::fs::metadata(&r.model)
                .map_err(|e| err(ErrorKind::NotFound, format!("cannot read model {}: {e}", r.model)))?
                .len();
            let t = Instant::now();
            let session = self.session(&r.model, threads)?;
            load_us = t.elapsed().as_micros() as u64;
            let unloaded = self.sessions.make_room(bytes);
            if !unloaded.is_empty() {
                tracing::info!(?unloaded, "unloaded to stay within the memory budget");
            }
            self.sessions.insert(r.model.clone(), bytes, (threads, session));
        }
        if r.deadline_ms > 0 && started.elapsed().as_millis() as u64 > r.deadline_ms {
            return Err(err(
                ErrorKind::DeadlineExceeded,
                "the deadline passed while loading the model",
            ));
        }
        let (_, session) = self.sessions.get_mut(&r.model).expect("inserted above");
        let run_started = Instant::now();
        let deadline = (r.deadline_ms > 0).then(|| started + Duration::from_millis(r.deadline_ms));
        let input_shape = input.shape.clone();
        let (output_shape, values) = infer(session, input, deadline)?;
        let run_us = run_started.elapsed().as_micros() as u64;
        let result = tensor::output_bytes(&output_shape, &values);
        if result.len() > MAX_RESULT {
            return Err(err(
                ErrorKind::InvalidRequest,
                format!(
                    "the model's output is {} bytes as JSON, over the {} MiB a result may be",
                    result.len(),
                    MAX_RESULT >> 20
                ),
            ));
        }
        Ok(Ran {
            result_keccak: Keccak256::digest(&result).into(),
            result,
            input_shape,
            output_shape,
            load_us,
            run_us,
            fingerprint: self.fingerprint(threads),
        })
    }

    /// A session on the model at `path` with the pinned, deterministic options.
    fn session(&self, path: &str, threads: usize) -> Result<Session, ErrorReply> {
        self.builder(threads)?.commit_from_file(path).map_err(|e| {
            err(
                ErrorKind::InvalidRequest,
                format!("not a model ONNX Runtime can run: {}", load_error(e.message())),
            )
        })
    }

    /// A session on the model `bytes` (a model archive's member) with the same options.
    pub(crate) fn session_from(&self, bytes: &[u8], threads: usize) -> Result<Session, ErrorReply> {
        self.builder(threads)?.commit_from_memory(bytes).map_err(|e| {
            err(
                ErrorKind::InvalidRequest,
                format!("not a model ONNX Runtime can run: {}", e.message()),
            )
        })
    }

    /// The pinned, deterministic session options.
    fn builder(&self, threads: usize) -> Result<ort::session::builder::SessionBuilder, ErrorReply> {
        let options = |e: ort::Error| err(ErrorKind::Internal, format!("ONNX Runtime session options: {e}"));
        Session::builder(&self.env)
            .map_err(options)?
            .with_optimization_level(OPTIMIZATION)
            .map_err(|e| options(e.into()))?
            .with_intra_threads(threads)
            .map_err(|e| options(e.into()))?
            .with_inter_threads(1)
            .map_err(|e| options(e.into()))?
            .with_parallel_execution(false)
            .map_err(|e| options(e.into()))?
            .with_deterministic_compute(true)
            .map_err(|e| options(e.into()))?
            .with_intra_op_spinning(false)
            .map_err(|e| options(e.into()))
    }

    /// What decides the exact output bytes of a run.
    pub(crate) fn fingerprint(&self, threads: usize) -> String {
        format!(
            "ort {}; {}; cpu {} [{}]; graph-opt basic; sequential; deterministic; threads {threads}",
            env!("OARN_ORT_VERSION"),
            self.library,
            std::env::consts::ARCH,
            cpu_path()
        )
    }
}

/// ONNX Runtime's load error without the "Load model from PATH failed:" it starts with (the
/// path is a staging file the operator never named).
fn load_error(message: &str) -> &str {
    match message.strip_prefix("Load model from ") {
        Some(rest) => rest.split_once(" failed:").map_or(message, |(_, why)| why.trim()),
        None => message,
    }
}

/// Feeds `input` to the model's first input and reads its first output as f32; past
/// `deadline`, ONNX Runtime is told to stop (it checks between the graph's nodes).
fn infer(session: &mut Session, input: Tensor, deadline: Option<Instant>) -> Result<(Vec<i64>, Vec<f32>), ErrorReply> {
    let bad = |m: String| err(ErrorKind::InvalidRequest, m);
    let first = session
        .inputs()
        .first()
        .ok_or_else(|| bad("the model has no input".into()))?;
    let name = first.name().to_string();
    check_input(&name, first.dtype(), &input.shape).map_err(bad)?;
    match session.outputs().first().map(|o| o.dtype()) {
        Some(ValueType::Tensor {
            ty: TensorElementType::Float32,
            ..
        }) => {}
        Some(other) => {
            return Err(bad(format!(
                "the model's first output is {other:?}; tensor tasks give f32 tensors"
            )));
        }
        None => return Err(bad("the model has no output".into())),
    }
    let value = ort::value::Tensor::from_array((input.shape, input.values))
        .map_err(|e| err(ErrorKind::Internal, format!("input tensor: {e}")))?;
    let options = Arc::new(RunOptions::new().map_err(|e| err(ErrorKind::Internal, format!("run options: {e}")))?);
    let watchdog = deadline.map(|at| Watchdog::start(options.clone(), at));
    let outputs = session.run_with_options(ort::inputs![name => value], &*options);
    if let Some(w) = watchdog
        && w.stop()
    {
        return Err(err(
            ErrorKind::DeadlineExceeded,
            "the deadline passed while the model ran",
        ));
    }
    let outputs = outputs.map_err(|e| bad(format!("the model failed on this input: {}", e.message())))?;
    let (shape, values) = outputs[0]
        .try_extract_tensor::<f32>()
        .map_err(|e| bad(format!("the model's output: {e}")))?;
    Ok((shape.to_vec(), values.to_vec()))
}

/// A thread that tells ONNX Runtime to stop a run at its deadline, unless stopped first.
struct Watchdog {
    stop: mpsc::Sender<()>,
    thread: std::thread::JoinHandle<bool>,
}

impl Watchdog {
    fn start(options: Arc<RunOptions>, at: Instant) -> Self {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let timed_out = matches!(
                stopped.recv_timeout(at.saturating_duration_since(Instant::now())),
                Err(mpsc::RecvTimeoutError::Timeout)
            );
            if timed_out {
                let _ = options.terminate();
            }
            timed_out
        });
        Self { stop, thread }
    }

    /// Stops the watchdog; whether it had told the run to stop.
    fn stop(self) -> bool {
        drop(self.stop);
        self.thread.join().unwrap_or(false)
    }
}

/// The model's first input must take an f32 tensor of `shape` (dynamic dimensions take any).
fn check_input(name: &str, dtype: &ValueType, shape: &[i64]) -> Result<(), String> {
    let ValueType::Tensor {
        ty: TensorElementType::Float32,
        shape: want,
        ..
    } = dtype
    else {
        return Err(format!(
            "the model's input {name} is {dtype:?}; tensor tasks feed f32 tensors"
        ));
    };
    let fits = want.len() == shape.len() && want.iter().zip(shape).all(|(w, s)| *w < 0 || w == s);
    if fits {
        Ok(())
    } else {
        Err(format!(
            "the model's input {name} takes f32{:?}, but the task's input has shape {shape:?}",
            want.to_vec()
        ))
    }
}

/// `name: f32[1,4]`, with `?` for a dynamic dimension.
fn outlet(name: &str, dtype: &ValueType) -> String {
    let shown = match dtype {
        ValueType::Tensor { ty, shape, .. } => {
            let dims: Vec<String> = shape
                .iter()
                .map(|d| if *d < 0 { "?".into() } else { d.to_string() })
                .collect();
            format!("{}[{}]", element(*ty), dims.join(","))
        }
        other => format!("{other:?}"),
    };
    oarn_protocol::text::clean(&format!("{name}: {shown}"))
}

fn element(ty: TensorElementType) -> String {
    match ty {
        TensorElementType::Float32 => "f32".into(),
        TensorElementType::Float64 => "f64".into(),
        TensorElementType::Float16 => "f16".into(),
        TensorElementType::Int64 => "i64".into(),
        TensorElementType::Int32 => "i32".into(),
        TensorElementType::Uint8 => "u8".into(),
        TensorElementType::Bool => "bool".into(),
        TensorElementType::String => "string".into(),
        other => format!("{other:?}").to_lowercase(),
    }
}

/// The widest vector instruction set this CPU offers: ONNX Runtime's MLAS (and candle's gemm)
/// picks its kernels by it at run time, so it is part of what decides the bits.
pub fn cpu_path() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("avx512bw") {
            return "avx512";
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            return "avx2,fma";
        }
        if std::arch::is_x86_feature_detected!("avx") {
            return "avx";
        }
        "sse2"
    }
    #[cfg(target_arch = "aarch64")]
    {
        "neon"
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        "generic"
    }
}

fn file_sha256(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ort::value::{Shape, SymbolicDimensions};

    fn f32_input(dims: &[i64]) -> ValueType {
        ValueType::Tensor {
            ty: TensorElementType::Float32,
            shape: Shape::new(dims.iter().copied()),
            dimension_symbols: SymbolicDimensions::empty(dims.len()),
        }
    }

    #[test]
    fn an_input_must_match_the_models_fixed_dimensions() {
        assert!(check_input("x", &f32_input(&[1, 4]), &[1, 4]).is_ok());
        assert!(check_input("x", &f32_input(&[-1, 4]), &[3, 4]).is_ok());
        let e = check_input("x", &f32_input(&[1, 4]), &[1, 5]).unwrap_err();
        assert!(e.contains("takes f32[1, 4]") && e.contains("[1, 5]"), "{e}");
        assert!(check_input("x", &f32_input(&[1, 4]), &[4]).is_err());
    }

    #[test]
    fn load_errors_do_not_name_the_staging_file() {
        let m = "Load model from /h/models/staging/0a.partial failed:Protobuf parsing failed.";
        assert_eq!(load_error(m), "Protobuf parsing failed.");
        assert_eq!(load_error("other"), "other");
    }

    #[test]
    fn outlets_show_dynamic_dimensions() {
        assert_eq!(outlet("float_input", &f32_input(&[-1, 4])), "float_input: f32[?,4]");
    }
}
