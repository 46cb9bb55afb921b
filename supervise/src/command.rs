//! Running one interactive key operation (`oarn wallet create | import | export | address |
//! change-passphrase`) in the chain worker: descriptors in, the operator's terminal for its
//! prompts, relayed output, the sealed result back on a pipe.

use std::ffi::OsString;
use std::fs::File;
use std::io::{BufRead, Read, Write};
use std::os::fd::RawFd;
use std::process::Stdio;

use oarn_config::Config;
use oarn_config::home::Home;
use oarn_protocol::WorkerKind;

use crate::spawn::{self, Spawn};
use crate::supervise;

/// Largest result the worker may send back (a keystore or V3 file is under 2 KiB).
const MAX_RESULT: u64 = 64 * 1024;
/// The first descriptor number handed to the worker.
const FIRST_FD: RawFd = 3;

/// A file handed to the worker as `--<flag> <fd>`.
#[derive(Debug)]
pub struct Input {
    /// The worker option, such as `passphrase-fd`.
    pub flag: &'static str,
    /// The open file.
    pub file: File,
}

/// What the worker did.
#[derive(Debug)]
pub struct Outcome {
    /// Its exit status (the wallet statuses: 10 wrong passphrase, 11 damaged keystore, …).
    pub code: i32,
    /// What it wrote to `--out-fd`, when asked for.
    pub result: Option<Vec<u8>>,
}

/// Why the worker could not be run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Starting it failed.
    #[error("cannot start the chain worker {path}: {source}")]
    Spawn {
        /// The binary.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// A pipe or descriptor could not be set up.
    #[error("cannot hand files to the chain worker: {0}")]
    Io(#[from] std::io::Error),
    /// The result was larger than any valid one.
    #[error("the chain worker sent back more than {MAX_RESULT} bytes; nothing was written")]
    TooLarge,
    /// It died from a signal.
    #[error("the chain worker was killed by signal {0}; nothing was written")]
    Signal(i32),
}

/// Copies a reader to a writer as it comes, wiping the buffer (it may carry a recovery phrase).
fn relay(mut from: impl Read, mut to: impl Write) {
    let mut buf = [0u8; 4096];
    while let Ok(n) = from.read(&mut buf) {
        if n == 0 {
            break;
        }
        if to.write_all(&buf[..n]).and_then(|()| to.flush()).is_err() {
            break;
        }
    }
    buf.iter_mut().for_each(|b| *b = 0);
    std::hint::black_box(&buf);
}

/// What to do with the worker's `--out-fd`.
#[allow(missing_debug_implementations)] // holds a callback
pub enum Results<'a> {
    /// No result descriptor.
    None,
    /// One result, read whole when the worker is done ([`Outcome::result`]).
    Once,
    /// A stream of lines, each handed over as it comes (none longer than the largest result);
    /// an error from the callback stops the worker.
    Lines(&'a mut dyn FnMut(&[u8]) -> std::io::Result<()>),
}

/// Runs `oarn-worker-chain … -- <args>` (`wallet …` or `chain …`) with `inputs` as descriptors and,
/// unless `results` is [`Results::None`], a pipe for `--out-fd`. Standard input is the
/// operator's (prompts), standard output and error are relayed.
pub fn run(
    config: &Config,
    home: &Home,
    args: Vec<OsString>,
    inputs: Vec<Input>,
    mut results: Results<'_>,
) -> Result<Outcome, RunError> {
    let want_result = !matches!(results, Results::None);
    let program = spawn::binary(WorkerKind::Chain, config, home.root());
    let mut launch = supervise::launch(config, home);
    launch.log_filter = "warn".into();
    launch.command = args;
    let mut handed: Vec<(File, RawFd)> = Vec::new();
    for (i, input) in inputs.into_iter().enumerate() {
        let target = FIRST_FD + i as RawFd;
        launch.command.push(format!("--{}", input.flag).into());
        launch.command.push(target.to_string().into());
        handed.push((input.file, target));
    }
    let mut result_write = None;
    let result_pipe = if want_result {
        let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(std::io::Error::from)?;
        let target = FIRST_FD + handed.len() as RawFd;
        launch.command.push("--out-fd".into());
        launch.command.push(target.to_string().into());
        result_write = Some((write, target));
        Some(read)
    } else {
        None
    };
    // The operator's terminal is its standard input, for prompts: it stays in our process group.
    let mut spawn = Spawn::worker(&program, &launch)
        .stdin(Stdio::inherit())
        .in_callers_group();
    for (file, at) in &handed {
        spawn = spawn.fd(file, *at)?;
    }
    if let Some((write, at)) = &result_write {
        spawn = spawn.fd(write, *at)?;
    }
    let mut child = spawn.start_blocking().map_err(|source| RunError::Spawn {
        path: program.display().to_string(),
        source,
    })?;
    // Only the child holds the write end now, so its exit ends our read.
    drop(result_write);
    drop(handed);
    let stdout = child
        .stdout
        .take()
        .map(|o| std::thread::spawn(move || relay(o, std::io::stdout())));
    let stderr = child
        .stderr
        .take()
        .map(|e| std::thread::spawn(move || relay(e, std::io::stderr())));
    let mut result = None;
    let mut too_large = false;
    let mut failed = None;
    match (result_pipe, &mut results) {
        (Some(read), Results::Lines(on_line)) => {
            let mut lines = std::io::BufReader::new(File::from(read));
            let mut line = Vec::new();
            loop {
                line.clear();
                let n = (&mut lines).take(MAX_RESULT + 1).read_until(b'\n', &mut line)?;
                if n == 0 {
                    break;
                }
                too_large = n as u64 > MAX_RESULT;
                if !too_large && let Err(e) = on_line(&line) {
                    failed = Some(e);
                }
                if too_large || failed.is_some() {
                    let _ = child.kill();
                    break;
                }
            }
        }
        (Some(read), _) => {
            let mut bytes = Vec::new();
            File::from(read).take(MAX_RESULT + 1).read_to_end(&mut bytes)?;
            too_large = bytes.len() as u64 > MAX_RESULT;
            result = Some(bytes);
        }
        (None, _) => {}
    }
    let status = child.wait()?;
    for t in [stdout, stderr].into_iter().flatten() {
        let _ = t.join();
    }
    if too_large {
        return Err(RunError::TooLarge);
    }
    if let Some(e) = failed {
        return Err(RunError::Io(e));
    }
    use std::os::unix::process::ExitStatusExt;
    let code = match (status.code(), status.signal()) {
        (Some(c), _) => c,
        (None, Some(s)) => return Err(RunError::Signal(s)),
        (None, None) => 1,
    };
    Ok(Outcome {
        code,
        result: result.filter(|_| code == 0),
    })
}
