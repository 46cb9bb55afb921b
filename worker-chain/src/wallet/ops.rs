//! The wallet operations themselves: each reads what it needs, seals or derives, and writes
//! its result to the descriptor it was given.

use std::os::fd::RawFd;

use serde_json::json;

use super::io;
use super::{Args, Error, Op, Source};
use crate::account;
use crate::keystore::{self, Kind, v3};
use crate::secret::Secret;

/// Largest input read for an import (a V3 file).
const MAX_IMPORT: usize = v3::MAX_FILE;

pub(super) fn run(args: Args) -> Result<(), Error> {
    let json = args.json;
    match args.op {
        Op::Create {
            words,
            no_confirm,
            new_passphrase_fd,
            out_fd,
        } => create(words, !no_confirm, new_passphrase_fd, out_fd, json),
        Op::Import {
            from,
            secret_fd,
            v3_passphrase_fd,
            new_passphrase_fd,
            out_fd,
        } => import(from, secret_fd, v3_passphrase_fd, new_passphrase_fd, out_fd, json),
        Op::Address {
            keystore_fd,
            index,
            passphrase_fd,
        } => address(keystore_fd, index, passphrase_fd, json),
        Op::Export {
            keystore_fd,
            index,
            passphrase_fd,
            new_passphrase_fd,
            out_fd,
        } => export(keystore_fd, index, passphrase_fd, new_passphrase_fd, out_fd, json),
        Op::ChangePassphrase {
            keystore_fd,
            passphrase_fd,
            new_passphrase_fd,
            out_fd,
        } => change_passphrase(keystore_fd, passphrase_fd, new_passphrase_fd, out_fd, json),
    }
}

fn random_below(n: usize) -> Result<usize, Error> {
    let mut b = [0u8; 8];
    keystore::random(&mut b)?;
    Ok((u64::from_le_bytes(b) % n as u64) as usize)
}

fn create(words: usize, confirm: bool, pass_fd: Option<RawFd>, out_fd: RawFd, json: bool) -> Result<(), Error> {
    let mut entropy = Secret::with_capacity(32);
    let len = if words == 12 { 16 } else { 32 };
    keystore::random(&mut entropy.buffer_mut()[..len])?;
    entropy.set_len(len);
    let phrase = account::phrase(&entropy)?;
    let address = account::address(Kind::Mnemonic, &entropy, 0)?;
    if !json {
        println!("Your recovery phrase ({words} words). Write it down and keep it offline: it is shown");
        println!("only this once, and it is the only way to restore this wallet.\n");
        for (i, word) in phrase.split(' ').enumerate() {
            print!("{:>4}. {word:<10}", i + 1);
            if i % 6 == 5 {
                println!();
            }
        }
        println!();
    }
    if confirm {
        let list: Vec<&str> = phrase.split(' ').collect();
        let first = random_below(list.len())?;
        let second = (first + 1 + random_below(list.len() - 1)?) % list.len();
        for n in [first, second] {
            let answer = io::prompt_line(&format!("Type word #{} to confirm: ", n + 1), 64, "the word")?;
            if answer.expose().trim_ascii() != list[n].as_bytes() {
                return Err(Error::Confirmation(n + 1));
            }
        }
    }
    let passphrase = io::new_passphrase(pass_fd, "New wallet passphrase: ")?;
    let sealed = keystore::seal(Kind::Mnemonic, &address.to_string(), &entropy, passphrase.expose())?;
    io::write(out_fd, &sealed, "the keystore")?;
    if json {
        let out = json!({ "address": address.to_string(), "path": account::path(0), "mnemonic": phrase.as_str() });
        println!("{out}");
    } else {
        println!("\nWallet created. Address (account 0, {}): {address}", account::path(0));
    }
    Ok(())
}

/// Decodes a hex private key into a secret without an unwiped intermediate copy.
fn parse_key(text: &Secret) -> Result<Secret, Error> {
    let trimmed = text.expose().trim_ascii();
    let digits = trimmed.strip_prefix(b"0x").unwrap_or(trimmed);
    if digits.len() != 64 {
        return Err(Error::KeyFormat);
    }
    let mut key = Secret::with_capacity(32);
    hex::decode_to_slice(digits, &mut key.buffer_mut()[..32]).map_err(|_| Error::KeyFormat)?;
    key.set_len(32);
    Ok(key)
}

fn import(
    from: Source,
    secret_fd: Option<RawFd>,
    v3_pass_fd: Option<RawFd>,
    pass_fd: Option<RawFd>,
    out_fd: RawFd,
    json: bool,
) -> Result<(), Error> {
    let input = match (secret_fd, from) {
        (Some(fd), _) => io::read_secret(fd, MAX_IMPORT, "the imported secret")?,
        (None, Source::PrivateKey) if io::stdin_is_terminal() => {
            io::prompt_hidden("Private key (hex): ", 130, "the private key")?
        }
        (None, Source::Mnemonic) if io::stdin_is_terminal() => {
            io::prompt_hidden("Recovery phrase: ", 1024, "the recovery phrase")?
        }
        (None, _) => io::read_all_secret(&mut std::io::stdin().lock(), MAX_IMPORT, "the imported secret")?,
    };
    let (kind, secret) = match from {
        Source::PrivateKey => (Kind::PrivateKey, parse_key(&input)?),
        Source::Mnemonic => {
            let phrase = std::str::from_utf8(input.expose()).map_err(|_| Error::PhraseFormat)?;
            (Kind::Mnemonic, account::entropy_from_phrase(phrase)?)
        }
        Source::V3 => {
            let pass = io::passphrase(v3_pass_fd, "Passphrase of the V3 keystore: ")?;
            (Kind::PrivateKey, v3::decrypt(input.expose(), pass.expose())?)
        }
    };
    drop(input);
    let address = account::address(kind, &secret, 0)?;
    let passphrase = io::new_passphrase(pass_fd, "New wallet passphrase: ")?;
    let sealed = keystore::seal(kind, &address.to_string(), &secret, passphrase.expose())?;
    io::write(out_fd, &sealed, "the keystore")?;
    if json {
        println!("{}", json!({ "address": address.to_string(), "kind": kind }));
    } else {
        println!("Wallet imported. Address: {address}");
    }
    Ok(())
}

pub(crate) fn open(keystore_fd: RawFd, pass_fd: Option<RawFd>) -> Result<(keystore::Header, Secret), Error> {
    let file = io::read_bytes(keystore_fd, keystore::MAX_FILE, "the keystore")?;
    keystore::parse(&file)?;
    let passphrase = io::passphrase(pass_fd, "Wallet passphrase: ")?;
    Ok(keystore::open(&file, passphrase.expose())?)
}

/// The signer of account `index` of the keystore `file`, opened with `passphrase` (wiped
/// when done): the running node's key, held in locked memory by the caller.
pub(crate) fn open_signer(file: &[u8], passphrase: Secret, index: u32) -> Result<crate::signer::Signer, Error> {
    keystore::parse(file)?;
    let (header, secret) = keystore::open(file, passphrase.expose())?;
    drop(passphrase);
    Ok(account::signer(header.kind, &secret, index)?)
}

/// The address of account `index`: account 0 from the header without a passphrase, others
/// (or any, when a passphrase is given) derived from the decrypted secret.
pub(crate) fn account_address(keystore_fd: RawFd, index: u32, pass_fd: Option<RawFd>) -> Result<String, Error> {
    Ok(if index == 0 && pass_fd.is_none() {
        let file = io::read_bytes(keystore_fd, keystore::MAX_FILE, "the keystore")?;
        keystore::parse(&file)?.0.address
    } else {
        let (header, secret) = open(keystore_fd, pass_fd)?;
        account::address(header.kind, &secret, index)?.to_string()
    })
}

fn address(keystore_fd: RawFd, index: u32, pass_fd: Option<RawFd>, json: bool) -> Result<(), Error> {
    let address = account_address(keystore_fd, index, pass_fd)?;
    if json {
        println!("{}", json!({ "address": address, "index": index }));
    } else {
        println!("{address}");
    }
    Ok(())
}

fn export(
    keystore_fd: RawFd,
    index: u32,
    pass_fd: Option<RawFd>,
    new_pass_fd: Option<RawFd>,
    out_fd: RawFd,
    json: bool,
) -> Result<(), Error> {
    let (header, secret) = open(keystore_fd, pass_fd)?;
    let signer = account::signer(header.kind, &secret, index)?;
    let key = account::private_key(&signer);
    let passphrase = io::new_passphrase(new_pass_fd, "Passphrase for the exported file: ")?;
    let out = v3::encrypt(&key, &signer.address().to_string(), passphrase.expose())?;
    io::write(out_fd, out.as_bytes(), "the exported file")?;
    if json {
        println!("{}", json!({ "address": signer.address().to_string(), "index": index }));
    } else {
        println!("Exported account {index} ({}) as V3 keystore JSON.", signer.address());
    }
    Ok(())
}

fn change_passphrase(
    keystore_fd: RawFd,
    pass_fd: Option<RawFd>,
    new_pass_fd: Option<RawFd>,
    out_fd: RawFd,
    json: bool,
) -> Result<(), Error> {
    let (header, secret) = open(keystore_fd, pass_fd)?;
    let passphrase = io::new_passphrase(new_pass_fd, "New wallet passphrase: ")?;
    let sealed = keystore::seal(header.kind, &header.address, &secret, passphrase.expose())?;
    io::write(out_fd, &sealed, "the keystore")?;
    if json {
        println!("{}", json!({ "address": header.address }));
    } else {
        println!("Passphrase changed for {}.", header.address);
    }
    Ok(())
}
