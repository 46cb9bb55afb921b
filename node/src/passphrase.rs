//! The wallet's passphrase on the supervisor side, for unlocking the node's key in the chain
//! worker: from a file the operator names, from systemd's credential
//! `oarn-wallet-passphrase` (`LoadCredentialEncrypted=` in the unit), or typed at the
//! terminal with echo off. It is held only until it is handed to the worker, in a buffer that
//! is wiped when dropped; it is never logged.

use std::io::Read;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use nix::sys::termios::{self, LocalFlags, SetArg};
use zeroize::Zeroizing;

/// The systemd credential holding the wallet passphrase.
pub const CREDENTIAL: &str = "oarn-wallet-passphrase";
/// Longest passphrase read.
const MAX: usize = 1024;

/// A passphrase, wiped when dropped. `Debug` never shows it.
pub struct Passphrase(Zeroizing<Vec<u8>>);

impl std::fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Passphrase(redacted)")
    }
}

impl Passphrase {
    /// The bytes, to hand over (the copy made for the frame is wiped by the worker).
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// As text, for the local API (which carries JSON strings).
    pub fn text(&self) -> Option<Zeroizing<String>> {
        std::str::from_utf8(&self.0).ok().map(|s| Zeroizing::new(s.to_string()))
    }

    pub fn from_text(text: &str) -> Self {
        Self(Zeroizing::new(text.as_bytes().to_vec()))
    }
}

/// Where a passphrase comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A file (`--passphrase-file`, or the systemd credential): it can be read again, so a
    /// restarted chain worker is unlocked again.
    File(PathBuf),
    /// The operator's terminal: asked once.
    Terminal,
}

/// Why no passphrase could be had.
#[derive(Debug, thiserror::Error)]
pub enum PassphraseError {
    #[error("cannot read the passphrase file {}: {source}", path.display())]
    File { path: PathBuf, source: std::io::Error },
    #[error("the passphrase file {} is larger than any passphrase ({MAX} bytes)", .0.display())]
    TooLong(PathBuf),
    #[error("reading the passphrase from the terminal: {0}")]
    Terminal(std::io::Error),
    #[error(
        "no passphrase: give --passphrase-file, run under systemd with the credential \
         {CREDENTIAL}, or run in a terminal to type it"
    )]
    None,
}

/// The systemd credential, when systemd gave one that holds something. The packaged unit
/// always loads `/etc/oarn/wallet-passphrase` (systemd refuses to start a unit whose
/// credential file is missing), and tmpfiles creates it empty: empty means no passphrase.
pub fn credential() -> Option<PathBuf> {
    credential_in(Path::new(&std::env::var_os("CREDENTIALS_DIRECTORY")?))
}

/// The credential file in systemd's credentials directory `dir`, if it holds something.
fn credential_in(dir: &Path) -> Option<PathBuf> {
    let p = dir.join(CREDENTIAL);
    std::fs::metadata(&p)
        .is_ok_and(|m| m.is_file() && m.len() > 0)
        .then_some(p)
}

/// Whether standard input is a terminal.
pub fn on_terminal() -> bool {
    termios::tcgetattr(std::io::stdin().as_fd()).is_ok()
}

/// Where the passphrase comes from: the file named, else systemd's credential, else the
/// terminal when there is one.
pub fn source(named: Option<PathBuf>) -> Option<Source> {
    named
        .or_else(credential)
        .map(Source::File)
        .or_else(|| on_terminal().then_some(Source::Terminal))
}

/// Reads the passphrase from `source` (asking with `prompt` on a terminal).
pub fn read(source: &Source, prompt: &str) -> Result<Passphrase, PassphraseError> {
    let mut bytes = match source {
        Source::File(path) => {
            let file = std::fs::File::open(path).map_err(|source| PassphraseError::File {
                path: path.clone(),
                source,
            })?;
            let mut buf = Zeroizing::new(Vec::with_capacity(MAX + 1));
            file.take(MAX as u64 + 1)
                .read_to_end(&mut buf)
                .map_err(|source| PassphraseError::File {
                    path: path.clone(),
                    source,
                })?;
            if buf.len() > MAX {
                return Err(PassphraseError::TooLong(path.clone()));
            }
            buf
        }
        Source::Terminal => prompt_hidden(prompt)?,
    };
    // One line ending is the file's or the terminal's, not the passphrase's.
    if bytes.ends_with(b"\n") {
        bytes.pop();
        if bytes.ends_with(b"\r") {
            bytes.pop();
        }
    }
    Ok(Passphrase(bytes))
}

/// Prints `prompt` on stderr and reads a line from the terminal with echo off (off before the
/// prompt shows, so nothing typed or pasted at once is echoed).
fn prompt_hidden(prompt: &str) -> Result<Zeroizing<Vec<u8>>, PassphraseError> {
    let stdin = std::io::stdin();
    let saved = termios::tcgetattr(stdin.as_fd()).map_err(|_| PassphraseError::None)?;
    let mut quiet = saved.clone();
    quiet.local_flags.remove(LocalFlags::ECHO);
    quiet.local_flags.insert(LocalFlags::ECHONL);
    termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &quiet).map_err(|e| PassphraseError::Terminal(e.into()))?;
    eprint!("{prompt}");
    let mut line = Zeroizing::new(Vec::with_capacity(MAX + 1));
    let mut byte = [0u8; 1];
    let read = (|| {
        let mut input = stdin.lock();
        while line.len() <= MAX {
            match input.read(&mut byte) {
                Ok(0) => break,
                Ok(_) => {
                    line.push(byte[0]);
                    if byte[0] == b'\n' {
                        break;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(PassphraseError::Terminal(e)),
            }
        }
        Ok(())
    })();
    zeroize::Zeroize::zeroize(&mut byte);
    let _ = termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &saved);
    read.map(|()| line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_give_the_passphrase_without_its_line_ending_and_debug_hides_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pass");
        std::fs::write(&path, "correct horse\r\n").unwrap();
        let p = read(&Source::File(path.clone()), "").unwrap();
        assert_eq!(p.expose(), b"correct horse");
        assert_eq!(format!("{p:?}"), "Passphrase(redacted)");
        std::fs::write(&path, vec![b'x'; MAX + 1]).unwrap();
        assert!(matches!(
            read(&Source::File(path), ""),
            Err(PassphraseError::TooLong(_))
        ));
    }

    #[test]
    fn an_empty_credential_is_no_passphrase() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(credential_in(dir.path()), None);
        std::fs::write(dir.path().join(CREDENTIAL), "").unwrap();
        assert_eq!(credential_in(dir.path()), None);
        std::fs::write(dir.path().join(CREDENTIAL), "pw\n").unwrap();
        assert_eq!(credential_in(dir.path()), Some(dir.path().join(CREDENTIAL)));
    }

    #[test]
    fn the_shipped_unit_hands_over_the_credential_the_node_reads() {
        // The unit once loaded `wallet-passphrase`, which no code reads: a service node then
        // started with its wallet locked.
        let unit = include_str!("../../packaging/systemd/oarn.service");
        let loaded: Vec<&str> = unit
            .lines()
            .filter_map(|l| {
                l.strip_prefix("LoadCredential=")
                    .or_else(|| l.strip_prefix("LoadCredentialEncrypted="))
            })
            .filter_map(|l| l.split(':').next())
            .collect();
        assert_eq!(loaded, [CREDENTIAL], "the unit's credentials");
    }
}
