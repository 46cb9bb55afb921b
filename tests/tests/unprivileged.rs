//! The node run by an ordinary user (uid/gid 65534, no groups), as operators run it: root must
//! not hide a permission failure. The binaries are copied where that user can execute them.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use oarn_tests::{alive, bin_dir, wait_for};
use serde_json::Value;

const NOBODY: u32 = 65534;

struct Unprivileged {
    _dir: tempfile::TempDir,
    bins: PathBuf,
    home: PathBuf,
}

impl Unprivileged {
    fn new() -> Option<Self> {
        if !oarn_tests::root(&format!("switching to uid {NOBODY}")) {
            return None;
        }
        let dir = tempfile::Builder::new().prefix("oarn-u").tempdir_in("/tmp").unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let bins = dir.path().join("bin");
        std::fs::create_dir(&bins).unwrap();
        for b in oarn_tests::SHIPPED {
            std::fs::copy(bin_dir().join(b), bins.join(b)).unwrap();
        }
        std::fs::set_permissions(&bins, std::fs::Permissions::from_mode(0o755)).unwrap();
        let homes = dir.path().join("homes");
        std::fs::create_dir(&homes).unwrap();
        nix::unistd::chown(&homes, Some(NOBODY.into()), Some(NOBODY.into())).unwrap();
        Some(Self {
            home: homes.join("node"),
            bins,
            _dir: dir,
        })
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("setpriv");
        cmd.args([
            format!("--reuid={NOBODY}"),
            format!("--regid={NOBODY}"),
            "--clear-groups".into(),
        ])
        .arg(self.bins.join("oarn"))
        .arg("--home")
        .arg(&self.home)
        .args(args)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        // A free port for the HTTP listener: other tests' daemons run at the same time.
        .env("OARN_METRICS__LISTEN", "127.0.0.1:0");
        cmd
    }

    fn oarn(&self, args: &[&str]) -> Output {
        oarn_tests::run_limited(self.command(args), None, args)
    }

    /// `oarn start` in the foreground as the ordinary user.
    fn spawn_daemon(&self) -> std::process::Child {
        self.command(&["start"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    }

    fn status(&self) -> Option<Value> {
        let out = self.oarn(&["status", "--json"]);
        out.status
            .success()
            .then(|| serde_json::from_slice(&out.stdout).unwrap())
    }
}

fn owner_mode(p: &Path) -> (u32, u32) {
    let m = std::fs::metadata(p).unwrap();
    (m.uid(), m.mode() & 0o777)
}

#[test]
fn an_ordinary_user_runs_the_whole_lifecycle() {
    let Some(u) = Unprivileged::new() else { return };
    let out = u.oarn(&["init"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(owner_mode(&u.home), (NOBODY, 0o700));
    assert_eq!(owner_mode(&u.home.join("config.toml")), (NOBODY, 0o600));

    let mut daemon = u.spawn_daemon();
    let status = wait_for(Duration::from_secs(20), || {
        u.status().filter(|s| {
            s["workers"]
                .as_array()
                .is_some_and(|w| w.iter().all(|w| w["state"] == "running"))
        })
    })
    .expect("all workers running as an ordinary user");
    assert_eq!(owner_mode(&u.home.join("oarn.sock")), (NOBODY, 0o600));
    assert_eq!(owner_mode(&u.home.join("logs/oarn.log")), (NOBODY, 0o600));
    assert_eq!(owner_mode(&u.home.join("api.token")), (NOBODY, 0o600));
    // The HTTP listener serves metrics as an ordinary user too, on loopback.
    let listen = status["http"]["listen"].as_str().expect("an HTTP listener").to_string();
    assert!(listen.starts_with("127.0.0.1:"), "{listen}");
    let mut s = std::net::TcpStream::connect(&listen).unwrap();
    use std::io::{Read, Write};
    write!(s, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("oarn_worker_up{worker=\"net\"} 1"), "{answer}");
    let pids: Vec<u32> = status["workers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["pid"].as_u64().unwrap() as u32)
        .collect();
    for pid in &pids {
        let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        assert!(text.contains(&format!("Uid:\t{NOBODY}")), "worker {pid} runs as nobody");
        assert!(text.contains("NoNewPrivs:\t1"), "worker {pid} has no_new_privs");
        assert!(
            text.contains("CapEff:\t0000000000000000"),
            "worker {pid} holds no capabilities"
        );
        assert!(text.contains("Seccomp:\t2"), "worker {pid} runs under a seccomp filter");
        let ns = |p: &str| std::fs::read_link(p).unwrap();
        assert_ne!(
            ns(&format!("/proc/{pid}/ns/user")),
            ns("/proc/self/ns/user"),
            "worker {pid} has its own user namespace"
        );
    }
    // The swarm runs in the sandboxed network worker, with its identity private to the user.
    let network = wait_for(Duration::from_secs(20), || {
        u.status()
            .map(|s| s["network"].clone())
            .filter(|n| n["listen"].as_array().is_some_and(|l| l.len() == 2))
    })
    .expect("the swarm listens on TCP and QUIC as an ordinary user");
    assert!(network["peer_id"].as_str().is_some_and(|p| p.starts_with("12D3Koo")));
    assert_eq!(owner_mode(&u.home.join("ipfs/identity.key")), (NOBODY, 0o600));
    // The user can restart its own worker; root is not needed for supervision.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pids[0] as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let restarted = wait_for(Duration::from_secs(20), || {
        u.status()
            .filter(|s| s["workers"][0]["restarts"] == 1 && s["workers"][0]["state"] == "running")
    });
    assert!(restarted.is_some());

    let out = u.oarn(&["stop"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(daemon.wait().unwrap().success());
    assert!(pids[1..].iter().all(|&p| !alive(p)));
}

#[test]
fn another_user_cannot_reach_the_socket() {
    let Some(u) = Unprivileged::new() else { return };
    assert!(u.oarn(&["init"]).status.success());
    let mut daemon = u.spawn_daemon();
    assert!(wait_for(Duration::from_secs(20), || u.status()).is_some());
    // uid 65533 is neither the owner nor root.
    let mut other = Command::new("setpriv");
    other
        .args(["--reuid=65533", "--regid=65533", "--clear-groups"])
        .arg(u.bins.join("oarn"))
        .arg("--home")
        .arg(&u.home)
        .args(["status", "--json"]);
    let out = oarn_tests::run_limited(other, None, &["status", "--json"]);
    assert!(!out.status.success(), "another user read the node's status");
    assert!(u.oarn(&["stop"]).status.success());
    assert!(daemon.wait().unwrap().success());
}

#[test]
fn an_ordinary_user_can_verify_the_sandbox() {
    let Some(u) = Unprivileged::new() else { return };
    assert!(u.oarn(&["init"]).status.success());
    let out = u.oarn(&["sandbox", "verify", "--json"]);
    let v: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let bad: Vec<&Value> = v.as_array().unwrap().iter().filter(|o| o["ok"] != true).collect();
    assert!(out.status.success() && bad.is_empty(), "{bad:#?}");
    assert!(v.as_array().unwrap().len() >= 130);
}

#[test]
fn an_ordinary_user_can_verify_the_privacy_mode_sandboxes() {
    let Some(u) = Unprivileged::new() else { return };
    assert!(u.oarn(&["init"]).status.success());
    let mut cmd = u.command(&["sandbox", "verify", "--json"]);
    cmd.env("OARN_PRIVACY__MODE", "tor");
    let out = oarn_tests::run_limited(cmd, None, &["sandbox", "verify"]);
    let v: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let all = v.as_array().unwrap();
    let bad: Vec<&Value> = all.iter().filter(|o| o["ok"] != true).collect();
    assert!(out.status.success() && bad.is_empty(), "{bad:#?}");
    for w in ["net", "chain"] {
        let tcp = all
            .iter()
            .find(|o| o["worker"] == w && o["probe"] == "open a TCP socket")
            .unwrap();
        assert_eq!(tcp["got"], "denied: EAFNOSUPPORT (Unix sockets only)", "{w}");
        let netns = all
            .iter()
            .find(|o| o["worker"] == w && o["probe"] == "sandbox layer network-namespace");
        assert_eq!(netns.unwrap()["got"], "active", "{w}: an empty network namespace");
    }
}

#[test]
fn an_ordinary_user_creates_and_opens_a_wallet() {
    let Some(u) = Unprivileged::new() else { return };
    assert!(u.oarn(&["init"]).status.success());
    let pass = u.home.join("pass");
    std::fs::write(&pass, "an ordinary passphrase").unwrap();
    nix::unistd::chown(&pass, Some(NOBODY.into()), Some(NOBODY.into())).unwrap();
    std::fs::set_permissions(&pass, std::fs::Permissions::from_mode(0o600)).unwrap();
    let pass = pass.to_str().unwrap();

    let out = u.oarn(&[
        "wallet",
        "create",
        "--no-confirm",
        "--new-passphrase-file",
        pass,
        "--json",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let created: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(owner_mode(&u.home.join("wallet.encrypted")), (NOBODY, 0o600));

    // Account 0 again, this time decrypted in the sandboxed worker as the same user.
    let out = u.oarn(&["wallet", "address", "--passphrase-file", pass, "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["address"], created["address"]);
}

/// The Ollama client profile (host network, Landlock allowing one TCP port, sockets in
/// seccomp) works for an ordinary user. The server is `tests/ollama/fake-ollama`, a stand-in
/// that follows Ollama's published API (Ollama cannot be installed on the test machine).
#[test]
fn an_ordinary_user_routes_inference_to_ollama() {
    let Some(u) = Unprivileged::new() else { return };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let address = format!("127.0.0.1:{port}");
    let mut fake = Command::new(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("ollama/fake-ollama"))
        .arg("serve")
        .env("OLLAMA_HOST", &address)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    assert!(wait_for(Duration::from_secs(10), || std::net::TcpStream::connect(&address).ok()).is_some());
    assert!(u.oarn(&["init"]).status.success());
    for (k, v) in [("ollama.enabled", "true"), ("ollama.address", address.as_str())] {
        assert!(u.oarn(&["config", "set", k, v]).status.success());
    }
    let out = u.oarn(&["local", "inference", "hi", "--model", "fake:1b", "--json"]);
    let _ = fake.kill();
    let _ = fake.wait();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["text"], "The capital of France is Paris.");
}

#[test]
fn an_ordinary_user_runs_an_onnx_model() {
    let Some(u) = Unprivileged::new() else { return };
    // ONNX Runtime and the model where that user can read them.
    let lib = u.bins.join("libonnxruntime.so.1.31.1");
    std::fs::copy(oarn_tests::onnxruntime(), &lib).unwrap();
    let model = u.bins.join("iris.onnx");
    std::fs::copy(oarn_tests::test_onnx("iris.onnx"), &model).unwrap();
    let input = u.bins.join("input.json");
    std::fs::copy(oarn_tests::test_onnx("input.json"), &input).unwrap();
    let with_lib = |args: &[&str]| {
        let mut cmd = u.command(args);
        cmd.env("OARN_COMPUTE__ONNXRUNTIME", &lib);
        oarn_tests::run_limited(cmd, None, args)
    };
    assert!(u.oarn(&["init"]).status.success());
    let out = with_lib(&["model", "import", model.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = with_lib(&["local", "run", input.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let expected = std::fs::read(oarn_tests::test_onnx("input.json.expected")).unwrap();
    assert_eq!(out.stdout, [&expected[..], b"\n"].concat());
}

/// A Hugging Face checkpoint runs in candle under the infer worker's profile for an ordinary
/// user too: the rayon threads candle starts inside the sandbox, the mapped weights.
#[test]
fn an_ordinary_user_runs_a_safetensors_model() {
    let Some(u) = Unprivileged::new() else { return };
    let dir = u.bins.join("smollm2-st");
    std::fs::create_dir(&dir).unwrap();
    let src = oarn_tests::test_safetensors_model();
    for f in [
        "config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "model.safetensors",
    ] {
        // Linked where the filesystem allows (half a gigabyte of weights), else copied.
        if std::fs::hard_link(src.join(f), dir.join(f)).is_err() {
            std::fs::copy(src.join(f), dir.join(f)).unwrap();
        }
    }
    assert!(u.oarn(&["init"]).status.success());
    let out = u.oarn(&["model", "import", dir.to_str().unwrap(), "--name", "smol"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = u.oarn(&[
        "local",
        "inference",
        "What is the capital of France?",
        "--max-tokens",
        "12",
        "--json",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["text"], "The capital of France is Paris.");
}
