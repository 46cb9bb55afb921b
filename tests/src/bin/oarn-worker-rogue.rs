//! A deliberately misbehaving worker, for tests only. It plays the infer worker and misbehaves
//! in the way its file name ends with (`oarn-worker-rogue-<mode>`), so the supervisor's
//! defences can be tested with a real process on real pipes. Mode `netlie` plays a compromised
//! network worker instead: it answers a download by writing one file and reporting the digest
//! of another.

use std::io::Write;
use std::time::Duration;

use oarn_protocol::envelope::{Down, Up};
use oarn_protocol::frame::{self, DEFAULT_MAX_FRAME, Reader, Writer};
use oarn_protocol::handshake::{Hello, Role, WorkerKind};
use oarn_protocol::infer;
use oarn_protocol::sandbox::{Layer, LayerReport, LayerState, SandboxReport};

fn main() {
    let name = std::env::args().next().unwrap_or_default();
    let mode = name.rsplit("rogue-").next().unwrap_or("").to_string();
    if mode == "netlie" {
        return net_liar();
    }
    let mut out = std::io::stdout().lock();
    let mut input = std::io::stdin().lock();
    let role = Role::Worker(WorkerKind::Infer);
    let hello = |sandbox| frame::encode(&Hello::new(role, "rogue", sandbox), DEFAULT_MAX_FRAME).unwrap();

    match mode.as_str() {
        "badversion" => {
            let mut h = Hello::new(role, "rogue", SandboxReport::default());
            h.version = 99;
            out.write_all(&frame::encode(&h, DEFAULT_MAX_FRAME).unwrap()).unwrap();
            out.flush().unwrap();
            std::thread::sleep(Duration::from_secs(30));
            return;
        }
        "liar" => {
            let claims = SandboxReport {
                profile_hash: String::new(),
                layers: vec![LayerReport {
                    layer: Layer::Seccomp,
                    state: LayerState::Active,
                }],
            };
            out.write_all(&hello(claims)).unwrap();
        }
        "weak" => {
            let claims = SandboxReport {
                profile_hash: String::new(),
                layers: vec![LayerReport {
                    layer: Layer::Landlock,
                    state: LayerState::Unavailable {
                        reason: "kernel too old".into(),
                    },
                }],
            };
            out.write_all(&hello(claims)).unwrap();
        }
        "silent" => {
            std::thread::sleep(Duration::from_secs(60));
            return;
        }
        _ => out.write_all(&hello(SandboxReport::default())).unwrap(),
    }
    out.flush().unwrap();
    let mut reader = Reader::new(&mut input, DEFAULT_MAX_FRAME);
    let _supervisor_hello = reader.read_payload().unwrap().to_vec();
    match mode.as_str() {
        "garbage" => {
            // A frame whose payload is no message at all.
            out.write_all(&[8, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef, 0xff, 0xff, 0xff, 0xff])
                .unwrap();
        }
        "oversized" => {
            // A header announcing 1 GiB; nothing follows.
            out.write_all(&(1u32 << 30).to_le_bytes()).unwrap();
        }
        "unknownid" => {
            let msg: infer::FromWorker = Up::Reply {
                id: 4242,
                body: Ok(infer::Reply::Info(Default::default())),
            };
            out.write_all(&frame::encode(&msg, DEFAULT_MAX_FRAME).unwrap()).unwrap();
        }
        "crash" => {
            eprintln!("rogue: crashing on purpose");
            std::process::exit(3);
        }
        "hang" => {
            // Never read or answer again; stay alive.
            std::thread::sleep(Duration::from_secs(600));
        }
        _ => {}
    }
    out.flush().unwrap();
    // Otherwise behave: answer pings until told to stop.
    let mut writer = Writer::new(&mut out, DEFAULT_MAX_FRAME);
    loop {
        let Ok(msg) = reader.recv::<infer::ToWorker>() else {
            return;
        };
        match msg {
            Down::Ping { nonce } => writer.send(&infer::FromWorker::Pong { nonce }).unwrap(),
            Down::Shutdown { .. } => return,
            _ => {}
        }
    }
}

/// A network worker that lies about what it downloaded: the file it writes is not the file
/// whose size and sha256 it reports (which are those of the catalog's model, say).
fn net_liar() {
    use oarn_protocol::net;
    use sha2::{Digest, Sha256};
    let args: Vec<String> = std::env::args().collect();
    let home = args
        .iter()
        .position(|a| a == "--home")
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_default();
    let mut out = std::io::stdout().lock();
    let mut input = std::io::stdin().lock();
    let hello = Hello::new(Role::Worker(WorkerKind::Net), "rogue", SandboxReport::default());
    out.write_all(&frame::encode(&hello, DEFAULT_MAX_FRAME).unwrap())
        .unwrap();
    out.flush().unwrap();
    let mut reader = Reader::new(&mut input, DEFAULT_MAX_FRAME);
    let _supervisor_hello = reader.read_payload().unwrap().to_vec();
    let mut writer = Writer::new(&mut out, DEFAULT_MAX_FRAME);
    loop {
        let Ok(msg) = reader.recv::<net::ToWorker>() else {
            return;
        };
        let reply = match msg {
            Down::Ping { nonce } => net::FromWorker::Pong { nonce },
            Down::Shutdown { .. } => return,
            Down::Request {
                id,
                body: net::Request::Download(d),
            } => {
                let written = b"not the bytes the digest below names".to_vec();
                std::fs::write(std::path::Path::new(&home).join("downloads").join(&d.file), &written).unwrap();
                let claimed = b"the bytes the digest names";
                let body = Ok(net::Reply::Downloaded(net::Downloaded {
                    file: d.file,
                    size: written.len() as u64,
                    sha256: Sha256::digest(claimed).into(),
                    resumed_from: 0,
                }));
                net::FromWorker::Reply { id, body }
            }
            Down::Request { id, .. } => net::FromWorker::Reply {
                id,
                body: Ok(net::Reply::Info(Default::default())),
            },
            Down::Cancel { .. } => continue,
        };
        writer.send(&reply).unwrap();
    }
}
