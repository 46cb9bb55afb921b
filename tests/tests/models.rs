//! The model store with a real model: SmolLM2-135M-Instruct (Q4_1 GGUF) imported, listed,
//! described and removed through the CLI; truncated and foreign files refused without
//! leaving anything behind.

use std::os::unix::fs::PermissionsExt;

use oarn_tests::{Node, test_model};
use serde_json::Value;

const SHA256: &str = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53";

fn blobs(node: &Node) -> usize {
    std::fs::read_dir(node.home().join("models/blobs")).map_or(0, |d| d.count())
}

#[test]
fn import_describe_and_remove_a_real_model() {
    let node = Node::new();
    let model = test_model();
    let m = node.json(&[
        "model",
        "import",
        model.to_str().unwrap(),
        "--name",
        "smollm2-135m",
        "--json",
    ]);
    assert_eq!(m["digest"], format!("sha256:{SHA256}"));
    assert_eq!(m["size"], 98_362_432);

    let list = node.json(&["model", "list", "--json"]);
    assert_eq!(list.as_array().unwrap().len(), 1);
    let info = node.json(&["model", "info", "smollm2-135m", "--json"]);
    let md = &info["metadata"];
    assert_eq!(md["architecture"], "llama");
    assert_eq!(md["quantization"], "Q4_1");
    assert_eq!(md["context_length"], 8192);
    assert_eq!(md["chat_template"], true);
    let params = md["parameters"].as_u64().unwrap();
    assert!((134_000_000..136_000_000).contains(&params), "{params}");
    // SmolLM2-135M: 30 blocks, 576 wide, 9 heads sharing 3 key/value heads (64 wide each); at
    // the default 2048-token context its f16 KV cache is 2 x 30 x 2048 x 3 x 64 x 2 bytes.
    assert_eq!(
        (
            md["layers"].as_u64(),
            md["embedding"].as_u64(),
            md["heads"].as_u64(),
            md["kv_heads"].as_u64()
        ),
        (Some(30), Some(576), Some(9), Some(3))
    );
    assert_eq!(info["context"], 2048);
    assert_eq!(info["kv_cache_bytes"], 2 * 30 * 2048 * 3 * 64 * 2);
    assert_eq!(info["memory_needed"], 98_362_432 + 47_185_920);
    assert_eq!(info["fits_in_memory"], true);
    assert!(info["gpus"].is_array(), "{info}");
    let blob = info["path"].as_str().unwrap().to_string();
    assert_eq!(std::fs::metadata(&blob).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(std::fs::metadata(&blob).unwrap().len(), 98_362_432);

    let table = String::from_utf8(node.oarn(&["model", "info", "smollm2-135m"]).stdout).unwrap();
    assert!(table.contains("chat template yes") && table.contains("Q4_1"), "{table}");
    assert!(table.contains("KV cache 45.0 MiB for 2048 tokens"), "{table}");

    let out = node.oarn(&["model", "import", model.to_str().unwrap(), "--name", "smollm2-135m"]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("--force"));

    let gone = node.json(&["model", "remove", "smollm2-135m", "--json"]);
    assert_eq!(gone["blob_removed"], true);
    assert_eq!(node.json(&["model", "list", "--json"]), Value::Array(vec![]));
    assert_eq!(blobs(&node), 0);
}

#[test]
fn truncated_and_foreign_files_are_refused() {
    let node = Node::new();
    let model = std::fs::read(test_model()).unwrap();
    let cut = node.dir.path().join("cut.gguf");
    std::fs::write(&cut, &model[..model.len() / 2]).unwrap();
    let out = node.oarn(&["model", "import", cut.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("truncated model file") && err.contains("download it again"),
        "{err}"
    );

    let text = node.dir.path().join("notes.gguf");
    std::fs::write(&text, "these are not weights").unwrap();
    let out = node.oarn(&["model", "import", text.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a GGUF, ONNX or Safetensors model"));

    let out = node.oarn(&["model", "info", "nothing-here"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("oarn model list"));
    assert_eq!(node.json(&["model", "list", "--json"]), Value::Array(vec![]));
    assert_eq!(blobs(&node), 0, "nothing half-imported is left");
}

#[test]
fn installing_past_the_cache_limit_evicts_the_least_recently_used_model() {
    // Room for one copy of the model (94 MiB) but not two.
    let node = Node::new().with_env("OARN_STORAGE__MAX_CACHE_SIZE_GB", "0.15");
    let model = test_model();
    // A second real model with its own digest: the same file, its last weight byte changed.
    let mut bytes = std::fs::read(&model).unwrap();
    *bytes.last_mut().unwrap() ^= 1;
    let other = node.dir.path().join("other.gguf");
    std::fs::write(&other, &bytes).unwrap();

    node.json(&["model", "import", model.to_str().unwrap(), "--name", "first", "--json"]);
    let second = node.json(&["model", "import", other.to_str().unwrap(), "--name", "second", "--json"]);
    assert_eq!(second["evicted"], serde_json::json!(["first"]), "{second}");
    let list = node.json(&["model", "list", "--json"]);
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["second"]);
    assert_eq!(blobs(&node), 1, "the evicted model's blob is gone");

    // Without a limit nothing goes.
    let unlimited = Node::new().with_env("OARN_STORAGE__MAX_CACHE_SIZE_GB", "0");
    unlimited.json(&["model", "import", model.to_str().unwrap(), "--name", "first", "--json"]);
    let again = unlimited.json(&["model", "import", other.to_str().unwrap(), "--name", "second", "--json"]);
    assert_eq!(again["evicted"], serde_json::json!([]));
    let out = unlimited.oarn(&["config", "set", "storage.max_cache_size_gb", "-1"]);
    assert!(!out.status.success(), "a negative limit is refused");
}

#[test]
fn a_model_in_use_is_never_evicted() {
    let node = Node::new().with_env("OARN_STORAGE__MAX_CACHE_SIZE_GB", "0.15");
    let model = test_model();
    let m = node.json(&["model", "import", model.to_str().unwrap(), "--name", "busy", "--json"]);
    let blob = node.json(&["model", "info", "busy", "--json"])["path"]
        .as_str()
        .unwrap()
        .to_string();
    let mut running = node
        .command(&[
            "local",
            "inference",
            "Tell a long story about a lighthouse.",
            "--max-tokens",
            "2000",
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // The inference holds the model: an exclusive lock on its blob is refused.
    let held = oarn_tests::wait_for(std::time::Duration::from_secs(20), || {
        let f = std::fs::File::open(&blob).ok()?;
        nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusiveNonblock)
            .is_err()
            .then_some(())
    });
    assert!(held.is_some(), "the running inference marks its model in use");

    let mut bytes = std::fs::read(&model).unwrap();
    *bytes.last_mut().unwrap() ^= 1;
    let other = node.dir.path().join("other.gguf");
    std::fs::write(&other, &bytes).unwrap();
    let second = node.json(&["model", "import", other.to_str().unwrap(), "--name", "second", "--json"]);
    let _ = running.kill();
    let _ = running.wait();
    assert_eq!(second["evicted"], serde_json::json!([]), "{second}");
    assert!(std::path::Path::new(&blob).exists(), "{m}");
}

fn staged(node: &Node) -> usize {
    std::fs::read_dir(node.home().join("models/staging")).map_or(0, |d| d.count())
}

/// A small complete GGUF file whose `general.name` is `name`: one F32 tensor of 64 values.
fn gguf_named(name: &str) -> Vec<u8> {
    fn string(out: &mut Vec<u8>, s: &str) {
        out.extend_from_slice(&(s.len() as u64).to_le_bytes());
        out.extend_from_slice(s.as_bytes());
    }
    let mut b = b"GGUF".to_vec();
    b.extend_from_slice(&3u32.to_le_bytes());
    b.extend_from_slice(&1u64.to_le_bytes()); // tensors
    b.extend_from_slice(&2u64.to_le_bytes()); // metadata entries
    string(&mut b, "general.architecture");
    b.extend_from_slice(&8u32.to_le_bytes());
    string(&mut b, "llama");
    string(&mut b, "general.name");
    b.extend_from_slice(&8u32.to_le_bytes());
    string(&mut b, name);
    string(&mut b, "w");
    b.extend_from_slice(&1u32.to_le_bytes());
    b.extend_from_slice(&64u64.to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes()); // F32
    b.extend_from_slice(&0u64.to_le_bytes());
    while !b.len().is_multiple_of(32) {
        b.push(0);
    }
    b.extend_from_slice(&[0u8; 256]);
    b
}

/// The `oarn` command parses no model file: with no inference worker to read the header,
/// even a valid model is not installed.
#[test]
fn model_files_are_read_by_the_inference_worker_not_by_oarn() {
    let node = Node::new().with_env("OARN_WORKERS__INFER", "/nonexistent/oarn-worker-infer");
    let out = node.oarn(&["model", "import", test_model().to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("the inference worker that checks model files failed"),
        "{err}"
    );
    assert_eq!(node.json(&["model", "list", "--json"]), Value::Array(vec![]));
    assert_eq!((blobs(&node), staged(&node)), (0, 0), "nothing half-installed is left");
}

/// A model file whose name carries terminal escape sequences is installed with the name
/// cleaned by the worker, and nothing it says reaches the terminal raw.
#[test]
fn escape_sequences_in_a_model_file_never_reach_the_terminal() {
    let node = Node::new();
    let file = node.dir.path().join("hostile.gguf");
    std::fs::write(&file, gguf_named("\u{1b}]0;owned\u{7}Evil\u{1b}[2J Model")).unwrap();
    let out = node.oarn(&["model", "import", file.to_str().unwrap(), "--name", "hostile"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let info = node.json(&["model", "info", "hostile", "--json"]);
    assert_eq!(info["metadata"]["name"], "]0;ownedEvil[2J Model");
    for args in [["model", "list"], ["model", "info"]] {
        let mut args = args.to_vec();
        if args[1] == "info" {
            args.push("hostile");
        }
        let out = node.oarn(&args);
        assert!(out.status.success());
        assert!(!out.stdout.contains(&0x1b) && !out.stdout.contains(&0x07), "{args:?}");
    }
}

/// A compromised network worker that writes one file and reports another's digest gets
/// nothing installed: the installing side hashes the file itself.
#[test]
fn a_download_whose_bytes_differ_from_the_network_workers_report_is_refused() {
    let node = Node::new();
    let (_, liar) = oarn_tests::rogue(node.dir.path(), "netlie");
    let node = node.with_env("OARN_WORKERS__NET", &liar);
    let out = node.oarn(&["model", "pull", "http://127.0.0.1:9/model.gguf", "--name", "planted"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("but the network worker said"), "{err}");
    assert_eq!(node.json(&["model", "list", "--json"]), Value::Array(vec![]));
    assert_eq!((blobs(&node), staged(&node)), (0, 0));
    let downloads = std::fs::read_dir(node.home().join("downloads")).map_or(0, |d| d.count());
    assert_eq!(downloads, 0, "the planted file is not kept");
}

#[test]
fn a_safetensors_checkpoint_is_read_and_refused_with_what_it_is() {
    let node = Node::new();
    let header = r#"{"__metadata__":{"format":"pt"},"embed":{"dtype":"BF16","shape":[256,64],"data_offsets":[0,32768]},"norm":{"dtype":"F32","shape":[64],"data_offsets":[32768,33024]}}"#;
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    bytes.resize(bytes.len() + 33024, 0);
    let good = node.dir.path().join("model.safetensors");
    std::fs::write(&good, &bytes).unwrap();
    let out = node.oarn(&["model", "import", good.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("a Safetensors checkpoint (2 tensors, 0.0 M parameters, BF16)")
            && err.contains("import the directory that holds all three")
            && err.contains("nothing was installed"),
        "{err}"
    );
    // Cut short: the data the header names is not all there.
    let cut = node.dir.path().join("cut.safetensors");
    std::fs::write(&cut, &bytes[..bytes.len() - 100]).unwrap();
    let out = node.oarn(&["model", "import", cut.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not a valid Safetensors file: the tensors cover 33024 bytes, but the file holds 32924"),
        "{err}"
    );
    assert_eq!(blobs(&node), 0, "nothing was installed");
}

#[test]
fn a_real_safetensors_checkpoint_is_read_and_refused_with_what_it_is() {
    // all-MiniLM-L6-v2 as Hugging Face ships it (scripts/fetch-test-model).
    let file = oarn_tests::bin_dir()
        .parent()
        .expect("target dir")
        .join("test-models/all-MiniLM-L6-v2.safetensors");
    assert!(
        file.exists(),
        "{} is missing; run scripts/fetch-test-model",
        file.display()
    );
    let node = Node::new();
    let out = node.oarn(&["model", "import", file.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("a Safetensors checkpoint (104 tensors, 22.7 M parameters, F32)"),
        "{err}"
    );
    assert_eq!(blobs(&node), 0, "nothing was installed");
}
