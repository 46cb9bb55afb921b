//! `oarn wallet …`: key work (create, import, address, export, change the passphrase) opens
//! the files the operator names and runs in a one-shot chain worker (see
//! [`oarn_node::wallet`]); balances, transfers and unlocking the running node are chain-worker
//! frames (see [`super::chain`]).

use super::Exit;
use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use oarn_config::home::Home;
use oarn_config::load;
use oarn_node::wallet::{self, Input};

use oarn_api::chain::{GetBalance, Quote, Token, Transfer, Unlock};
use oarn_config::Config;
use oarn_node::passphrase;

use super::args::{TokenArg, WalletCommand};
use super::chain::{Need, READ, SEND, print_json, reach};
use super::consent::confirmed;
use super::table;

pub(super) fn open(path: &Path, what: &str) -> anyhow::Result<File> {
    File::open(path).with_context(|| format!("cannot open {what} {}", path.display()))
}

/// The passphrase file: the one named, else systemd's credential when there is one.
fn passphrase_input(named: Option<PathBuf>, flag: &'static str) -> anyhow::Result<Option<Input>> {
    let path = named.or_else(passphrase::credential);
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
        } => return balance(home, &config, index, passphrase_file, json),
        WalletCommand::Send {
            to,
            amount,
            token,
            yes,
            index,
            passphrase_file,
            json,
        } => {
            let send = Send { to, amount, token, yes };
            return send_tokens(home, &config, send, index, passphrase_file, json);
        }
        WalletCommand::Unlock { passphrase_file, json } => return unlock(home, passphrase_file, json),
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

fn refuse_existing(home: &Home) -> anyhow::Result<()> {
    if home.keystore().exists() {
        return Err(wallet::KeyfileError::Exists(home.keystore()).into());
    }
    Ok(())
}

fn balance(
    home: &Home,
    config: &Config,
    index: u32,
    passphrase_file: Option<PathBuf>,
    json: bool,
) -> anyhow::Result<Exit> {
    let need = Need {
        index: Some(index),
        signs: false,
        passphrase_file,
    };
    let via = reach(home, config, &need)?;
    let b = via.call(&GetBalance {}, READ, async |c| c.balance(None).await);
    via.finish();
    let b = b?;
    if json {
        print_json(&b)?;
    } else {
        println!("{} on chain {}", b.address, b.chain_id);
        println!("  ETH   {}", table::s(&b.eth));
        println!("  COMP  {}", table::s(&b.comp));
        println!("  GOV   {}", table::s(&b.gov));
    }
    Ok(Exit::Success)
}

/// What `oarn wallet send` was asked to send.
struct Send {
    to: oarn_api::Address,
    amount: String,
    token: TokenArg,
    yes: bool,
}

fn send_tokens(
    home: &Home,
    config: &Config,
    send: Send,
    index: u32,
    passphrase_file: Option<PathBuf>,
    json: bool,
) -> anyhow::Result<Exit> {
    let token = match send.token {
        TokenArg::Eth => Token::Eth,
        TokenArg::Comp => Token::Comp,
        TokenArg::Gov => Token::Gov,
    };
    let quote = Quote {
        to: send.to,
        amount: send.amount,
        token,
    };
    let via = reach(
        home,
        config,
        &Need {
            index: Some(index),
            signs: true,
            passphrase_file,
        },
    )?;
    let sent = (|| {
        let q = via.call(&quote, READ, async |c| c.quote(&quote).await)?;
        let symbol = match token {
            Token::Eth => "ETH",
            Token::Comp => "COMP",
            Token::Gov => "GOV",
        };
        if !send.yes {
            let l1 = q.l1_gas.map_or(String::new(), |g| {
                format!("\n  of which L1 data posting: {g} gas (Arbitrum)")
            });
            let summary = format!(
                "Send {} {symbol} from {} to {} on chain {}\n  network fee: at most {} ETH ({} gas at up to {} gwei){l1}",
                table::s(&q.amount),
                q.from,
                q.to,
                q.chain_id,
                table::s(&q.max_fee_eth),
                q.gas,
                gwei(q.max_fee_per_gas)
            );
            if !confirmed(&summary, "the transfer", "nothing was sent")? {
                return Ok(None);
            }
        }
        let transfer = Transfer {
            to: quote.to,
            amount: quote.amount.clone(),
            token,
            gas: q.gas,
            max_fee_per_gas: q.max_fee_per_gas,
            max_priority_fee_per_gas: q.max_priority_fee_per_gas,
        };
        if !json {
            eprintln!("Sending; waiting for it to be mined…");
        }
        via.call(&transfer, SEND, async |c| c.transfer(&transfer).await)
            .map(Some)
    })();
    via.finish();
    let Some(t) = sent? else {
        eprintln!("declined; nothing was sent");
        return Ok(Exit::Declined);
    };
    if json {
        print_json(&t)?;
    } else {
        println!(
            "Sent {} {} to {}: transaction {}, block {}, fee {} ETH",
            table::s(&t.amount),
            t.token,
            t.to,
            t.hash,
            t.block,
            table::s(&t.fee_eth)
        );
    }
    Ok(Exit::Success)
}

/// Wei per gas as gwei, exactly ("0.1", "25").
fn gwei(wei: u128) -> String {
    let whole = wei / 1_000_000_000;
    let frac = wei % 1_000_000_000;
    if frac == 0 {
        whole.to_string()
    } else {
        format!("{whole}.{}", format!("{frac:09}").trim_end_matches('0'))
    }
}

fn unlock(home: &Home, passphrase_file: Option<PathBuf>, json: bool) -> anyhow::Result<Exit> {
    let client = super::client(home);
    let status = client.call(&oarn_api::node::GetStatus {}, READ)?;
    if !status.wallet.present {
        bail!(
            "no wallet at {}: create one with `oarn wallet create`",
            home.keystore().display()
        );
    }
    let source = passphrase::source(passphrase_file).ok_or(passphrase::PassphraseError::None)?;
    let p = passphrase::read(&source, "Wallet passphrase: ")?;
    let text = p
        .text()
        .ok_or_else(|| anyhow::anyhow!("the passphrase is not UTF-8 text"))?;
    let request = Unlock {
        passphrase: text.to_string(),
        index: status.wallet.index,
    };
    drop(text);
    let state = client.call(&request, READ).map_err(super::chain::from_client)?;
    if json {
        print_json(&state)?;
    } else if let Some(a) = state.account {
        println!("the node signs as {} (account {})", a.checksummed(), state.index);
    }
    Ok(Exit::Success)
}

#[cfg(test)]
mod tests {
    #[test]
    fn gas_prices_read_in_gwei_exactly() {
        assert_eq!(super::gwei(25_000_000_000), "25");
        assert_eq!(super::gwei(100_000_000), "0.1");
        assert_eq!(super::gwei(1), "0.000000001");
    }
}
