//! `oarn chain …`: discovery, tasks, claims, submissions and events, each run in the
//! sandboxed chain worker with the node's configuration.

use super::Exit;
use std::ffi::OsString;

use oarn_config::home::Home;
use oarn_config::load;
use oarn_node::wallet::{self, Input};

use super::args::ChainCommand;
use super::claim::{self, Before};
use super::wallet::{account_inputs, chain_args, open};

pub fn run(home: &Home, command: ChainCommand) -> anyhow::Result<Exit> {
    let config = load::load_or_default(&home.config())?;
    let mut args: Vec<OsString> = vec!["chain".into()];
    let mut inputs = Vec::new();
    let mut cursor = None;
    let mut signs = false;
    let mut follow = false;
    let mut claiming = None;
    let account = |args: &mut Vec<OsString>, inputs: &mut Vec<Input>, index: u32, pass, decrypts: bool| {
        args.extend(["--index".into(), index.to_string().into()]);
        inputs.extend(account_inputs(home, index, pass, decrypts)?);
        anyhow::Ok(())
    };
    let json = match command {
        ChainCommand::Discover { json } => {
            args.push("discover".into());
            json
        }
        ChainCommand::Tasks { last, json } => {
            args.extend(["tasks".into(), "--last".into(), last.to_string().into()]);
            json
        }
        ChainCommand::Task { id, json } => {
            args.extend(["task".into(), id.to_string().into()]);
            json
        }
        ChainCommand::Claim {
            id,
            index,
            passphrase_file,
            force,
            json,
        } => {
            let before = claim::before(home, id);
            match &before {
                Before::Unasked(why) if !json => eprintln!("peers not asked about task {id}: {why}"),
                Before::Known { known, allowed } if !json => eprintln!(
                    "peers know of {known} claim(s) of task {id}{}",
                    allowed.map_or(String::new(), |max| format!(" (it allows {max})"))
                ),
                _ => {}
            }
            if before.full() && !force {
                eprintln!(
                    "task {id} is fully claimed as far as the node's peers know, so a claim now would most \
                     likely be refused or come too late; nothing was sent. Use --force to claim anyway."
                );
                return Ok(Exit::Refused);
            }
            claiming = Some(id);
            args.extend(["claim".into(), id.to_string().into()]);
            signs = true;
            account(&mut args, &mut inputs, index, passphrase_file, true)?;
            json
        }
        ChainCommand::Submit {
            id,
            result_file,
            index,
            passphrase_file,
            json,
        } => {
            args.extend(["submit".into(), id.to_string().into()]);
            signs = true;
            account(&mut args, &mut inputs, index, passphrase_file, true)?;
            inputs.push(Input {
                flag: "result-fd",
                file: open(&result_file, "the result file")?,
            });
            json
        }
        ChainCommand::RegisterValidator {
            endpoint,
            stake,
            index,
            passphrase_file,
            json,
        } => {
            args.extend(["register-validator".into(), "--endpoint".into(), endpoint.into()]);
            signs = true;
            if let Some(stake) = stake {
                args.extend(["--stake".into(), stake.into()]);
            }
            account(&mut args, &mut inputs, index, passphrase_file, true)?;
            json
        }
        ChainCommand::Events {
            confirmations,
            follow: f,
            poll,
            poll_secs,
            index,
            passphrase_file,
            json,
        } => {
            args.extend([
                "events".into(),
                "--confirmations".into(),
                confirmations.to_string().into(),
            ]);
            if f {
                args.extend(["--follow".into(), "--poll-secs".into(), poll_secs.to_string().into()]);
                if poll {
                    args.push("--poll-only".into());
                }
                follow = true;
            }
            account(&mut args, &mut inputs, index, passphrase_file, false)?;
            let path = cursor_path(home, index);
            if path.exists() {
                inputs.push(Input {
                    flag: "cursor-fd",
                    file: open(&path, "the event cursor")?,
                });
            }
            cursor = Some(path);
            json
        }
    };
    args.extend(chain_args(&config));
    if json {
        args.push("--json".into());
    }
    // Signing takes a nonce: one signing command at a time per node home.
    let _lock = signs.then(|| wallet::TxLock::acquire(home.root())).transpose()?;
    if let (true, Some(path)) = (follow, &cursor) {
        let mut on_line = |line: &[u8]| followed(line, path, json);
        let outcome = wallet::run(&config, home, args, inputs, wallet::Results::Lines(&mut on_line))?;
        return Ok(Exit::of_worker(outcome.code));
    }
    let results = if cursor.is_some() || claiming.is_some() {
        wallet::Results::Once
    } else {
        wallet::Results::None
    };
    let outcome = wallet::run(&config, home, args, inputs, results)?;
    if let (Some(id), 0, Some(bytes)) = (claiming, outcome.code, &outcome.result) {
        let account = serde_json::from_slice::<serde_json::Value>(bytes).ok();
        let account = account
            .as_ref()
            .and_then(|v| v["node"].as_str()?.parse::<oarn_api::Address>().ok());
        if let Some(account) = account {
            let told = claim::after(home, id, account);
            if !json && let Some(peers) = told {
                eprintln!("told the node's peers of the claim ({peers} answered)");
            }
        }
    }
    // The cursor moves only when the events up to it were printed.
    if let (Some(path), Some(bytes)) = (cursor, outcome.result) {
        wallet::write_replacing(&path, &bytes)?;
    }
    Ok(Exit::of_worker(outcome.code))
}

/// One line from a following chain worker: an event is printed, a cursor saved (only after
/// the events before it were printed), how it follows is said once.
fn followed(line: &[u8], cursor: &std::path::Path, json: bool) -> std::io::Result<()> {
    use std::io::Write;
    let Ok(serde_json::Value::Object(v)) = serde_json::from_slice::<serde_json::Value>(line) else {
        tracing::warn!("ignoring a malformed line from the chain worker");
        return Ok(());
    };
    let mut out = std::io::stdout().lock();
    if let Some(event) = v.get("event") {
        writeln!(out, "{event}")?;
        out.flush()?;
    } else if let Some(c @ serde_json::Value::Object(_)) = v.get("cursor") {
        out.flush()?;
        wallet::write_replacing(cursor, c.to_string().as_bytes()).map_err(std::io::Error::other)?;
    } else if let Some(how) = v.get("following").and_then(|h| h.as_str()) {
        if json {
            writeln!(out, "{}", serde_json::Value::Object(v.clone()))?;
            out.flush()?;
        } else {
            let by = match how {
                "subscription" => "new blocks announced over its websocket (eth_subscribe)",
                _ => "polling for new blocks",
            };
            let endpoint = super::table::s(v.get("endpoint").and_then(|e| e.as_str()).unwrap_or("-"));
            eprintln!(
                "Following events on {endpoint}: {by}. Ctrl-C stops; the next run resumes where this one stopped."
            );
        }
    }
    Ok(())
}

/// Where the event cursor of account `index` is kept.
fn cursor_path(home: &Home, index: u32) -> std::path::PathBuf {
    home.root().join("chain").join(format!("events-{index}.cursor"))
}
