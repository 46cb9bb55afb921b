//! `oarn wallet`'s key operations, run inside the chain worker's sandbox
//! (`oarn-worker-chain --home … -- wallet <op>`). The `oarn` CLI opens the files and hands
//! them over as descriptors, and writes the sealed keystore this process sends back on a
//! pipe, so neither the CLI nor the supervisor links keystore or signing code.
//!
//! Exit statuses ([`WorkerExit`]): 0 done, 1 failed, 64 bad usage, 10 wrong passphrase,
//! 11 keystore damaged, 12 the imported key, phrase or file is invalid.
//!
//! The running node's key is unlocked in frames instead ([`open_signer`], from
//! `crate::serve`); only these interactive operations remain one-shot commands.

pub mod io;
mod ops;
pub(crate) use ops::open_signer;

use std::ffi::OsString;
use std::os::fd::RawFd;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use oarn_protocol::exit::WorkerExit;

use crate::{account, keystore};

/// A wallet operation, as the `oarn` CLI passes it.
#[derive(Debug, Parser)]
#[command(name = "wallet", no_binary_name = true)]
pub struct Args {
    /// The operation.
    #[command(subcommand)]
    pub op: Op,
    /// Print one JSON object instead of text.
    #[arg(long, global = true)]
    pub json: bool,
}

/// Wallet operations.
#[derive(Debug, Subcommand)]
pub enum Op {
    /// A new BIP-39 wallet.
    Create {
        /// Words in the recovery phrase.
        #[arg(long, default_value_t = 24, value_parser = word_count)]
        words: usize,
        /// Skip asking for words of the phrase back.
        #[arg(long)]
        no_confirm: bool,
        /// Descriptor carrying the new passphrase.
        #[arg(long)]
        new_passphrase_fd: Option<RawFd>,
        /// Descriptor the sealed keystore is written to.
        #[arg(long)]
        out_fd: RawFd,
    },
    /// A wallet from an existing key.
    Import {
        /// What is imported.
        #[arg(long, value_enum)]
        from: Source,
        /// Descriptor carrying the key, phrase or V3 file (else stdin).
        #[arg(long)]
        secret_fd: Option<RawFd>,
        /// Descriptor carrying the V3 file's passphrase.
        #[arg(long)]
        v3_passphrase_fd: Option<RawFd>,
        /// Descriptor carrying the new passphrase.
        #[arg(long)]
        new_passphrase_fd: Option<RawFd>,
        /// Descriptor the sealed keystore is written to.
        #[arg(long)]
        out_fd: RawFd,
    },
    /// The address of an account.
    Address {
        /// Descriptor of the keystore.
        #[arg(long)]
        keystore_fd: RawFd,
        /// Account index (needs the passphrase unless 0).
        #[arg(long, default_value_t = 0)]
        index: u32,
        /// Descriptor carrying the passphrase.
        #[arg(long)]
        passphrase_fd: Option<RawFd>,
    },
    /// An account re-encrypted as Ethereum V3 keystore JSON.
    Export {
        /// Descriptor of the keystore.
        #[arg(long)]
        keystore_fd: RawFd,
        /// Account index.
        #[arg(long, default_value_t = 0)]
        index: u32,
        /// Descriptor carrying the passphrase.
        #[arg(long)]
        passphrase_fd: Option<RawFd>,
        /// Descriptor carrying the exported file's passphrase.
        #[arg(long)]
        new_passphrase_fd: Option<RawFd>,
        /// Descriptor the V3 JSON is written to.
        #[arg(long)]
        out_fd: RawFd,
    },
    /// The keystore sealed under a new passphrase.
    ChangePassphrase {
        /// Descriptor of the keystore.
        #[arg(long)]
        keystore_fd: RawFd,
        /// Descriptor carrying the current passphrase.
        #[arg(long)]
        passphrase_fd: Option<RawFd>,
        /// Descriptor carrying the new passphrase.
        #[arg(long)]
        new_passphrase_fd: Option<RawFd>,
        /// Descriptor the sealed keystore is written to.
        #[arg(long)]
        out_fd: RawFd,
    },
}

fn word_count(s: &str) -> Result<usize, String> {
    match s {
        "12" => Ok(12),
        "24" => Ok(24),
        _ => Err("a recovery phrase has 12 or 24 words".into()),
    }
}

/// What `import` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Source {
    /// A 32-byte hex private key.
    PrivateKey,
    /// A BIP-39 recovery phrase.
    Mnemonic,
    /// Ethereum V3 keystore JSON.
    V3,
}

/// Why a wallet operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Input or output.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// The node keystore.
    #[error(transparent)]
    Keystore(#[from] keystore::Error),
    /// An imported V3 file.
    #[error(transparent)]
    V3(#[from] keystore::v3::Error),
    /// Deriving an account.
    #[error(transparent)]
    Account(#[from] account::Error),
    /// The private key given is not hex.
    #[error("the private key must be 64 hex digits (an optional 0x prefix is fine)")]
    KeyFormat,
    /// The phrase was not UTF-8.
    #[error("the recovery phrase is not text")]
    PhraseFormat,
    /// Discovery or an RPC endpoint failed.
    #[error(transparent)]
    Discovery(#[from] crate::discovery::Error),
    /// The operator typed a different word back.
    #[error("word #{0} does not match the phrase; nothing was written: run `oarn wallet create` again")]
    Confirmation(usize),
}

impl Error {
    pub(crate) fn exit(&self) -> WorkerExit {
        use keystore::v3::Error as V3;
        match self {
            Self::Keystore(keystore::Error::WrongPassphrase) | Self::V3(V3::WrongPassphrase) => {
                WorkerExit::WrongPassphrase
            }
            Self::Keystore(
                keystore::Error::Tampered
                | keystore::Error::Truncated(_)
                | keystore::Error::Malformed(_)
                | keystore::Error::Kdf(_),
            ) => WorkerExit::DamagedKeystore,
            Self::V3(_) | Self::Account(_) | Self::KeyFormat | Self::PhraseFormat => WorkerExit::InvalidKey,
            _ => WorkerExit::Failed,
        }
    }
}

/// Runs `wallet <op>` (`args` after the word `wallet`).
pub fn run(args: &[OsString]) -> ExitCode {
    let args = match Args::try_parse_from(args) {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return WorkerExit::Usage.into();
        }
    };
    match ops::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            e.exit().into()
        }
    }
}
