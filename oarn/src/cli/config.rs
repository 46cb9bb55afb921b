//! `oarn config show | get | set | validate | edit | path | reload`.

use super::Exit;

use anyhow::{Context, bail};
use oarn_config::home::Home;
use oarn_config::live::LIVE_KEYS;
use oarn_config::{ConfigError, edit, load};
use serde_json::json;

use super::args::ConfigCommand;
use super::node::CALL_WAIT;

pub fn run(home: &Home, command: ConfigCommand) -> anyhow::Result<Exit> {
    let path = home.config();
    match command {
        ConfigCommand::Path => println!("{}", path.display()),
        ConfigCommand::Show { json } => {
            let loaded = load::load(&path)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&loaded.config)?);
            } else {
                println!("# effective configuration of {}", path.display());
                for (key, var) in &loaded.overrides {
                    println!("# {key} is set by environment variable {var}");
                }
                print!("{}", toml::to_string_pretty(&loaded.config)?);
            }
        }
        ConfigCommand::Get { key, json } => {
            let loaded = load::load(&path)?;
            let Some(value) = loaded.config.get(&key) else {
                bail!("unknown key {key:?}; `oarn config show` lists every key");
            };
            match (json, &value) {
                (true, v) => println!("{}", serde_json::to_string(v)?),
                (false, toml::Value::String(s)) => println!("{s}"),
                (false, toml::Value::Table(_)) => print!("{}", toml::to_string_pretty(&value)?),
                (false, v) => println!("{v}"),
            }
        }
        ConfigCommand::Set { key, value } => {
            edit::set(&path, &key, &value)?;
            println!("{key} set in {}", path.display());
            if oarn_node::pidfile::running(&home.pid_file()).is_some() {
                if LIVE_KEYS.contains(&key.as_str()) {
                    println!("the node is running: `oarn config reload` applies it now");
                } else {
                    println!("the node is running: this key takes effect after a restart");
                }
            }
        }
        ConfigCommand::Validate { json } => {
            let outcome = load::load(&path);
            let warnings: Vec<String> = match &outcome {
                Ok(l) => l
                    .config
                    .retired()
                    .iter()
                    .map(|(key, why)| format!("{key} does nothing in this build ({why}); remove it"))
                    .collect(),
                Err(_) => Vec::new(),
            };
            if json {
                let problems: Vec<String> = match &outcome {
                    Ok(_) => Vec::new(),
                    Err(ConfigError::Invalid { problems }) => problems.iter().map(ToString::to_string).collect(),
                    Err(e) => vec![e.to_string()],
                };
                println!(
                    "{}",
                    json!({"valid": outcome.is_ok(), "path": path, "problems": problems, "warnings": warnings})
                );
                return Ok(if outcome.is_ok() { Exit::Success } else { Exit::Config });
            }
            outcome?;
            for w in &warnings {
                eprintln!("warning: {w}");
            }
            println!("{} is valid", path.display());
        }
        ConfigCommand::Edit => return edit_in_editor(home),
        ConfigCommand::Reload { json } => {
            let change = super::client(home)
                .call(&oarn_api::node::ReloadConfig {}, CALL_WAIT)
                .map_err(|e| match e {
                    oarn_api::ClientError::Rpc(ref r) if r.data.is_some() => {
                        let problems: Vec<String> = r
                            .data
                            .as_ref()
                            .and_then(|d| d.get("problems"))
                            .and_then(|p| serde_json::from_value::<Vec<String>>(p.clone()).ok())
                            .unwrap_or_default()
                            .iter()
                            .map(|p| format!("  {}", super::table::s(p)))
                            .collect();
                        anyhow::anyhow!("{}\n{}", r.message, problems.join("\n"))
                    }
                    e => e.into(),
                })?;
            if json {
                println!("{}", serde_json::to_string(&change)?);
            } else {
                if change.applied.is_empty() && change.needs_restart.is_empty() {
                    println!("configuration reloaded; nothing changed");
                }
                if !change.applied.is_empty() {
                    println!("applied: {}", change.applied.join(", "));
                }
                if !change.needs_restart.is_empty() {
                    println!(
                        "needs a restart (`oarn stop` then `oarn start`): {}",
                        change.needs_restart.join(", ")
                    );
                }
            }
        }
    }
    Ok(Exit::Success)
}

/// Edits a private copy; the real file is replaced only by a valid edit.
fn edit_in_editor(home: &Home) -> anyhow::Result<Exit> {
    let path = home.config();
    let original = std::fs::read_to_string(&path).map_err(|_| ConfigError::Missing { path: path.clone() })?;
    let draft = home.root().join("config.edit.toml");
    edit::write_atomic(&draft, original.as_bytes()).with_context(|| format!("cannot write {}", draft.display()))?;
    let editor = std::env::var("VISUAL")
        .or_else(|_| std::env::var("EDITOR"))
        .unwrap_or_else(|_| "vi".into());
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("sh")
        .arg(&draft)
        .status()
        .with_context(|| format!("cannot run the editor {editor:?}"))?;
    if !status.success() {
        bail!(
            "the editor exited with {status}; {} is unchanged (your draft is {})",
            path.display(),
            draft.display()
        );
    }
    let text = std::fs::read_to_string(&draft)?;
    if text == original {
        let _ = std::fs::remove_file(&draft);
        println!("no changes");
        return Ok(Exit::Success);
    }
    if let Err(e) = load::parse(&text, &path, std::env::vars()) {
        eprintln!("{e}");
        eprintln!(
            "{} is unchanged; your draft is kept in {}",
            path.display(),
            draft.display()
        );
        return Ok(Exit::Config);
    }
    edit::write_atomic(&path, text.as_bytes())?;
    let _ = std::fs::remove_file(&draft);
    println!(
        "{} saved; `oarn config reload` applies it to a running node",
        path.display()
    );
    Ok(Exit::Success)
}
