//! `oarn`: the OARN node client. A thin front end: parses the command line, runs the command
//! from the `oarn` library, and maps errors to exit codes.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    // Worker frames (up to 16 MiB) are decoded without a fresh mmap each.
    oarn_protocol::alloc::tune();
    match cli::main_exec() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(cli::exit_code(&e))
        }
    }
}
