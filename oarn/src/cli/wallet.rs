//! `oarn wallet …`: opens the files the operator names and runs the operation in the chain
//! worker (see [`oarn_node::wallet`]).

use super::Exit;
use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use oarn_config::home::Home;
use oarn_config::{Config, DiscoveryMethod, load};
use oarn_node::wallet::{self, Input};

use super::args::WalletCommand;

/// The systemd credential holding the wallet passphrase (`LoadCredential=` in the unit).
const CREDENTIAL: &str = "oarn-wallet-passphrase";

pub(super) fn open(path: &Path, what: &str) -> anyhow::Result<File> {
    File::open(path).with_context(|| format!("cannot open {what} {}", path.display()))
}

/// The passphrase file: the one named, else systemd's credential when there is one.
fn passphrase_input(named: Option<PathBuf>, flag: &'static str) -> anyhow::Result<Option<Input>> {
    let path = named.or_else(|| {
        let dir = std::env::var_os("CREDENTIALS_DIRECTORY")?;
        let p = Path::new(&dir).join(CREDENTIAL);
        p.is_file().then_some(p)
    });
    path.map(|p| {
        Ok(Input {
            flag,
            file: open(&p, "the passphrase file")?,
        })
    })
    .transpose()
}

fn named(path: Option<PathBuf>, flag: &'static str, what: &str) -> anyhow::Result<Option<Input>> {
    path.map(|p| {
        Ok(Input {
            flag,
            file: open(&p, what)?,
        })
    })
    .transpose()
}

fn keystore(home: &Home) -> anyhow::Result<Input> {
    let path = home.keystore();
    if !path.exists() {
        bail!(
            "no wallet at {}: create one with `oarn wallet create` or import one with `oarn wallet import`",
            path.display()
        );
    }
    Ok(Input {
        flag: "keystore-fd",
        file: open(&path, "the wallet")?,
    })
}

/// The keystore of account `index` and, where the operation decrypts (`decrypts`, or any
/// account but 0, whose address only the secret gives), its passphrase file or credential;
/// a passphrase file named for account 0 is handed over too.
pub(super) fn account_inputs(
    home: &Home,
    index: u32,
    passphrase_file: Option<PathBuf>,
    decrypts: bool,
) -> anyhow::Result<Vec<Input>> {
    let mut inputs = vec![keystore(home)?];
    if decrypts || index != 0 {
        inputs.extend(passphrase_input(passphrase_file, "passphrase-fd")?);
    } else {
        inputs.extend(named(passphrase_file, "passphrase-fd", "the passphrase file")?);
    }
    Ok(inputs)
}

pub fn run(home: &Home, command: WalletCommand) -> anyhow::Result<Exit> {
    let config = load::load_or_default(&home.config())?;
    let mut args: Vec<OsString> = vec!["wallet".into()];
    let mut inputs = Vec::new();
    let json_flag;
    // What to do with the sealed result: write a new keystore, replace it, or create a file.
    enum Sink {
        New,
        Replace,
        Create(PathBuf),
        None,
    }
    let sink = match command {
        WalletCommand::Create {
            words,
            no_confirm,
            new_passphrase_file,
            json,
        } => {
            refuse_existing(home)?;
            args.extend(["create".into(), "--words".into(), words.to_string().into()]);
            if no_confirm {
                args.push("--no-confirm".into());
            }
            inputs.extend(named(new_passphrase_file, "new-passphrase-fd", "the passphrase file")?);
            json_flag = json;
            Sink::New
        }
        WalletCommand::Import {
            private_key,
            mnemonic,
            keystore_json,
            from_file,
            json_passphrase_file,
            new_passphrase_file,
            json,
        } => {
            refuse_existing(home)?;
            let from = match (private_key, mnemonic, &keystore_json) {
                (true, _, _) => "private-key",
                (_, true, _) => "mnemonic",
                _ => "v3",
            };
            args.extend(["import".into(), "--from".into(), from.into()]);
            let secret = keystore_json.or(from_file);
            inputs.extend(named(secret, "secret-fd", "the file to import")?);
            inputs.extend(named(json_passphrase_file, "v3-passphrase-fd", "the passphrase file")?);
            inputs.extend(named(new_passphrase_file, "new-passphrase-fd", "the passphrase file")?);
            json_flag = json;
            Sink::New
        }
        WalletCommand::Address {
            index,
            passphrase_file,
            json,
        } => {
            args.extend(["address".into(), "--index".into(), index.to_string().into()]);
            inputs.extend(account_inputs(home, index, passphrase_file, false)?);
            json_flag = json;
            Sink::None
        }
        WalletCommand::Export {
            out,
            index,
            passphrase_file,
            new_passphrase_file,
            json,
        } => {
            if out.symlink_metadata().is_ok() {
                bail!(
                    "{} already exists; choose another --out (nothing was written)",
                    out.display()
                );
            }
            args.extend(["export".into(), "--index".into(), index.to_string().into()]);
            inputs.extend(account_inputs(home, index, passphrase_file, true)?);
            inputs.extend(named(new_passphrase_file, "new-passphrase-fd", "the passphrase file")?);
            json_flag = json;
            Sink::Create(out)
        }
        WalletCommand::Balance {
            index,
            passphrase_file,
            json,
        } => {
            args.extend(["balance".into(), "--index".into(), index.to_string().into()]);
            args.extend(chain_args(&config));
            inputs.extend(account_inputs(home, index, passphrase_file, false)?);
            json_flag = json;
            Sink::None
        }
        WalletCommand::Send {
            to,
            amount,
            token,
            yes,
            index,
            passphrase_file,
            json,
        } => {
            args.extend(["send".into(), "--index".into(), index.to_string().into()]);
            args.extend(["--to".into(), to.into(), "--amount".into(), amount.into()]);
            args.extend(["--token".into(), token.into()]);
            if yes {
                args.push("--yes".into());
            }
            args.extend(chain_args(&config));
            inputs.extend(account_inputs(home, index, passphrase_file, true)?);
            json_flag = json;
            Sink::None
        }
        WalletCommand::ChangePassphrase {
            passphrase_file,
            new_passphrase_file,
            json,
        } => {
            args.push("change-passphrase".into());
            inputs.extend(account_inputs(home, 0, passphrase_file, true)?);
            inputs.extend(named(new_passphrase_file, "new-passphrase-fd", "the passphrase file")?);
            json_flag = json;
            Sink::Replace
        }
    };
    if json_flag {
        args.push("--json".into());
    }
    // Sending takes a nonce: one signing command at a time per node home.
    let _lock = (args.get(1).is_some_and(|a| a == "send"))
        .then(|| wallet::TxLock::acquire(home.root()))
        .transpose()?;
    let outcome = wallet::run(
        &config,
        home,
        args,
        inputs,
        if matches!(sink, Sink::None) {
            wallet::Results::None
        } else {
            wallet::Results::Once
        },
    )?;
    if outcome.code != 0 {
        return Ok(Exit::of_worker(outcome.code));
    }
    let bytes = outcome.result.unwrap_or_default();
    let keystore_written = matches!(sink, Sink::New | Sink::Replace);
    match sink {
        Sink::New => wallet::write_new(&home.keystore(), &bytes)?,
        Sink::Replace => wallet::write_replacing(&home.keystore(), &bytes)?,
        Sink::Create(path) => wallet::write_new(&path, &bytes)?,
        Sink::None => {}
    }
    if !json_flag && keystore_written {
        eprintln!("Keystore: {}", home.keystore().display());
    }
    Ok(Exit::Success)
}

/// Where the chain worker finds the network, from the node's configuration.
pub fn chain_args(config: &Config) -> Vec<OsString> {
    let d = &config.network.discovery;
    let mut args: Vec<OsString> = vec!["--chain-id".into(), config.blockchain.chain_id.to_string().into()];
    if d.discovery_method == DiscoveryMethod::Manual {
        args.push("--manual".into());
        for url in &config.blockchain.rpc_urls {
            args.extend(["--rpc".into(), url.into()]);
        }
        if !config.blockchain.registry_address.is_empty() {
            args.extend(["--registry".into(), config.blockchain.registry_address.clone().into()]);
        }
    }
    args.extend(["--ens-name".into(), d.ens_name.clone().into()]);
    for url in &d.ens_rpc_urls {
        args.extend(["--ens-rpc".into(), url.into()]);
    }
    if !d.ens_registry.is_empty() {
        args.extend(["--ens-registry".into(), d.ens_registry.clone().into()]);
    }
    args
}

fn refuse_existing(home: &Home) -> anyhow::Result<()> {
    if home.keystore().exists() {
        return Err(wallet::KeyfileError::Exists(home.keystore()).into());
    }
    Ok(())
}
