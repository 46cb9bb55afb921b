//! `oarn ipfs add | get`: files through the running node (one raw block, or a UnixFS DAG of
//! 256 KiB blocks when larger than a MiB). The CLI moves the bytes through the
//! node's staging directory (`~/.oarn/downloads`), where the network worker may read and
//! write; the API carries only the file's name, the CID and the hash.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use oarn_api::Method;
use oarn_api::ipfs::{Add, Fetch, Gc, ListPins, Pin};
use oarn_config::home::Home;

use super::Exit;
use super::args::{IpfsCommand, PinCommand};
use super::progress::Progress;
use super::table::s;

/// Longest wait for a file to be split and stored (as long as the node allows, and a margin).
const ADD_WAIT: Duration = Duration::from_secs(610);

/// A staging file removed when dropped, whatever happens.
struct Staged(std::path::PathBuf);

impl Drop for Staged {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn staged(home: &Home, kind: &str) -> anyhow::Result<(String, Staged)> {
    let dir = home.root().join("downloads");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let name = format!("{kind}-{:016x}.bin", fastrand::u64(..));
    let path = dir.join(&name);
    Ok((name, Staged(path)))
}

fn add(home: &Home, path: &Path, json: bool) -> anyhow::Result<()> {
    let (name, file) = staged(home, "add")?;
    std::fs::copy(path, &file.0).with_context(|| format!("cannot read {}", path.display()))?;
    let v = super::client(home).call(&Add { file: name }, ADD_WAIT)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!("{}", s(&v.cid));
        println!("hash {}", v.hash);
    }
    Ok(())
}

fn get(home: &Home, cid: &str, out: Option<&Path>, timeout: u64, json: bool) -> anyhow::Result<()> {
    if out.is_none() && std::io::stdout().is_terminal() && !json {
        bail!("the file may be binary: give --out FILE, or redirect standard output");
    }
    let (name, file) = staged(home, "get")?;
    let params = Fetch {
        cid: cid.into(),
        file: name,
        timeout_secs: timeout,
        progress: true,
    };
    let mut progress = Progress::new(&format!("fetching {cid}"), json);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let v = runtime.block_on(async {
        // Ctrl-C stops the fetch in the node (the blocks it has are kept: a rerun resumes).
        let (cancel, cancelled) = tokio::sync::oneshot::channel();
        let on_signal = tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                let _ = cancel.send(());
            }
        });
        let on_note = |p: oarn_api::ipfs::Progress| progress.update(p.done, p.total);
        let cancelled = async {
            let _ = cancelled.await;
        };
        let client = super::client(home);
        let call = tokio::time::timeout(
            Duration::from_secs(timeout) + super::node::CALL_WAIT,
            client.stream(&params, on_note, cancelled),
        );
        let v = call.await;
        on_signal.abort();
        v
    });
    progress.finish();
    let v = v.map_err(|_| anyhow::anyhow!("the node did not answer within {timeout} s"))??;
    match out {
        Some(path) => {
            std::fs::copy(&file.0, path).with_context(|| format!("cannot write {}", path.display()))?;
        }
        None if !json => {
            let bytes = std::fs::read(&file.0)?;
            std::io::stdout().write_all(&bytes)?;
        }
        None => {}
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&v)?);
    }
    Ok(())
}

/// Calls `params`'s method and prints the answer as JSON, or `text` of it.
fn simple<M: Method>(home: &Home, params: &M, json: bool, text: impl Fn(&M::Result) -> String) -> anyhow::Result<()> {
    let v = super::client(home).call(params, ADD_WAIT)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!("{}", text(&v));
    }
    Ok(())
}

pub fn run(home: &Home, command: IpfsCommand) -> anyhow::Result<Exit> {
    match command {
        IpfsCommand::Pin { command } => match command {
            PinCommand::Add { cid, json } => {
                simple(home, &Pin { cid, pin: true }, json, |v| format!("pinned {}", s(&v.cid)))?
            }
            PinCommand::Rm { cid, json } => simple(home, &Pin { cid, pin: false }, json, |v| {
                format!("unpinned {}", s(&v.cid))
            })?,
            PinCommand::Ls { json } => simple(home, &ListPins {}, json, |v| {
                if v.pins.is_empty() {
                    "nothing pinned".into()
                } else {
                    v.pins.iter().map(|p| s(p)).collect::<Vec<_>>().join("\n")
                }
            })?,
        },
        IpfsCommand::Gc { json } => simple(home, &Gc {}, json, |v| {
            format!(
                "removed {} blocks ({} bytes); the store keeps {} bytes",
                v.blocks_removed, v.bytes_freed, v.bytes_kept
            )
        })?,
        IpfsCommand::Add { path, json } => add(home, &path, json)?,
        IpfsCommand::Get {
            cid,
            out,
            timeout,
            json,
        } => get(home, &cid, out.as_deref(), timeout, json)?,
    }
    Ok(Exit::Success)
}
