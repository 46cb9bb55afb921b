//! `oarn`: the OARN node client. A thin front end: parses the command line, runs the command
//! over the node's library crates, renders the result, and maps errors to exit statuses.

mod cli;
#[cfg(test)]
mod docs;

use std::process::ExitCode;

fn main() -> ExitCode {
    // Worker frames (up to 16 MiB) are decoded without a fresh mmap each.
    oarn_protocol::alloc::tune();
    match cli::main_exec() {
        Ok(exit) => exit.into(),
        Err(e) => {
            eprintln!("error: {e:#}");
            cli::exit_of(&e).into()
        }
    }
}
