//! Where a wallet command's secrets come from and its results go: descriptors the `oarn` CLI
//! hands over (files it opened, pipes it reads), or the operator's terminal on stdin with echo
//! turned off. The sandbox grants no paths, so nothing here opens a file.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, FromRawFd, RawFd};

use nix::sys::termios::{self, LocalFlags, SetArg};
use zeroize::Zeroize;

use crate::secret::Secret;

/// Longest passphrase accepted.
pub const MAX_PASSPHRASE: usize = 1024;
/// Shortest new passphrase accepted.
pub const MIN_PASSPHRASE: usize = 8;

/// Why input or output failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A descriptor named on the command line is not open.
    #[error("descriptor {0} is not open; wallet commands are run by `oarn wallet`, not by hand")]
    BadFd(RawFd),
    /// Reading or writing failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being read or written.
        what: &'static str,
        /// The error.
        source: std::io::Error,
    },
    /// More input than any valid value.
    #[error("{0} is longer than any valid value")]
    TooLong(&'static str),
    /// No terminal to ask and no file given.
    #[error(
        "no passphrase source: give --passphrase-file (or --new-passphrase-file), run under systemd \
         with the credential `oarn-wallet-passphrase`, or run in a terminal"
    )]
    NoPassphraseSource,
    /// The two entries differ.
    #[error("the passphrases do not match; nothing was written")]
    Mismatch,
    /// Too short.
    #[error("a new passphrase needs at least {MIN_PASSPHRASE} characters")]
    TooShort,
}

fn io(what: &'static str) -> impl FnOnce(std::io::Error) -> Error {
    move |source| Error::Io { what, source }
}

/// Takes ownership of an inherited descriptor.
pub fn take(fd: RawFd) -> Result<File, Error> {
    // SAFETY: fcntl(F_GETFD) only inspects the descriptor table.
    if fd < 3 || unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1 {
        return Err(Error::BadFd(fd));
    }
    // SAFETY: the descriptor is open and nothing else in this process owns it: it was
    // inherited for exactly this use and is taken once.
    Ok(unsafe { File::from_raw_fd(fd) })
}

/// Reads everything from `fd` into a secret of at most `cap` bytes.
pub fn read_secret(fd: RawFd, cap: usize, what: &'static str) -> Result<Secret, Error> {
    let mut file = take(fd)?;
    read_all_secret(&mut file, cap, what)
}

/// Reads a reader to its end into a secret, wiping the chunk buffer.
pub fn read_all_secret(r: &mut impl Read, cap: usize, what: &'static str) -> Result<Secret, Error> {
    let mut secret = Secret::with_capacity(cap);
    let mut chunk = [0u8; 256];
    let result = loop {
        match r.read(&mut chunk) {
            Ok(0) => break Ok(()),
            Ok(n) => {
                if secret.extend(&chunk[..n]).is_err() {
                    break Err(Error::TooLong(what));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => break Err(io(what)(e)),
        }
    };
    chunk.zeroize();
    result.map(|()| secret)
}

/// Reads everything from `fd`, at most `cap` bytes (keystore files: sealed, not secret).
pub fn read_bytes(fd: RawFd, cap: usize, what: &'static str) -> Result<Vec<u8>, Error> {
    let file = take(fd)?;
    let mut out = Vec::new();
    file.take(cap as u64 + 1).read_to_end(&mut out).map_err(io(what))?;
    if out.len() > cap {
        return Err(Error::TooLong(what));
    }
    Ok(out)
}

/// Writes `bytes` to `fd` and closes it.
pub fn write(fd: RawFd, bytes: &[u8], what: &'static str) -> Result<(), Error> {
    let mut file = take(fd)?;
    file.write_all(bytes).map_err(io(what))
}

/// Whether stdin is a terminal.
pub fn stdin_is_terminal() -> bool {
    termios::tcgetattr(std::io::stdin().as_fd()).is_ok()
}

/// Strips one trailing line ending.
fn chomp(secret: &mut Secret) {
    let bytes = secret.expose();
    let mut len = bytes.len();
    if bytes.ends_with(b"\n") {
        len -= 1;
        if bytes[..len].ends_with(b"\r") {
            len -= 1;
        }
    }
    secret.truncate(len);
}

/// Reads one line from stdin into a secret, byte by byte so nothing after it is consumed.
fn read_line_secret(cap: usize, what: &'static str) -> Result<Secret, Error> {
    let mut secret = Secret::with_capacity(cap + 2);
    let mut stdin = std::io::stdin().lock();
    let mut byte = [0u8; 1];
    loop {
        match stdin.read(&mut byte) {
            Ok(0) => break,
            Ok(_) => {
                secret.extend(&byte).map_err(|_| Error::TooLong(what))?;
                if byte[0] == b'\n' {
                    break;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io(what)(e)),
        }
    }
    byte.zeroize();
    chomp(&mut secret);
    Ok(secret)
}

/// Prints `prompt` on stderr and reads a line from the terminal with echo off.
pub fn prompt_hidden(prompt: &str, cap: usize, what: &'static str) -> Result<Secret, Error> {
    let stdin = std::io::stdin();
    let saved = termios::tcgetattr(stdin.as_fd()).map_err(|_| Error::NoPassphraseSource)?;
    let mut quiet = saved.clone();
    quiet.local_flags.remove(LocalFlags::ECHO);
    quiet.local_flags.insert(LocalFlags::ECHONL);
    // Echo goes off before the prompt appears: whatever is typed or pasted once the prompt
    // shows is never echoed.
    termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &quiet).map_err(|e| io(what)(e.into()))?;
    eprint!("{prompt}");
    let line = read_line_secret(cap, what);
    let _ = termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &saved);
    line
}

/// Prints `prompt` and reads a visible line from stdin (terminal or pipe).
pub fn prompt_line(prompt: &str, cap: usize, what: &'static str) -> Result<Secret, Error> {
    eprint!("{prompt}");
    read_line_secret(cap, what)
}

/// The passphrase of an existing keystore: from `fd`, else asked on the terminal.
pub fn passphrase(fd: Option<RawFd>, prompt: &str) -> Result<Secret, Error> {
    let mut secret = match fd {
        Some(fd) => read_secret(fd, MAX_PASSPHRASE + 2, "the passphrase")?,
        None if stdin_is_terminal() => prompt_hidden(prompt, MAX_PASSPHRASE, "the passphrase")?,
        None => return Err(Error::NoPassphraseSource),
    };
    chomp(&mut secret);
    Ok(secret)
}

/// A new passphrase: from `fd`, else asked twice on the terminal. At least
/// [`MIN_PASSPHRASE`] characters.
pub fn new_passphrase(fd: Option<RawFd>, prompt: &str) -> Result<Secret, Error> {
    let secret = match fd {
        Some(fd) => passphrase(Some(fd), prompt)?,
        None if stdin_is_terminal() => {
            let first = prompt_hidden(prompt, MAX_PASSPHRASE, "the passphrase")?;
            let again = prompt_hidden("Repeat it: ", MAX_PASSPHRASE, "the passphrase")?;
            if first != again {
                return Err(Error::Mismatch);
            }
            first
        }
        None => return Err(Error::NoPassphraseSource),
    };
    let chars = std::str::from_utf8(secret.expose()).map_or(secret.len(), |s| s.chars().count());
    if chars < MIN_PASSPHRASE {
        return Err(Error::TooShort);
    }
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_ending_is_stripped() {
        for (input, want) in [
            (&b"pw\n"[..], &b"pw"[..]),
            (b"pw\r\n", b"pw"),
            (b"pw", b"pw"),
            (b"pw\n\n", b"pw\n"),
        ] {
            let mut s = Secret::copy_of(input);
            chomp(&mut s);
            assert_eq!(s.expose(), want);
        }
    }

    #[test]
    fn bounded_reads() {
        let mut long: &[u8] = &[b'x'; 100];
        assert!(matches!(read_all_secret(&mut long, 10, "x"), Err(Error::TooLong(_))));
        assert!(matches!(take(1), Err(Error::BadFd(1))));
        assert!(matches!(take(9999), Err(Error::BadFd(9999))));
    }
}
