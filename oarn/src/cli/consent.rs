//! Asking the operator before doing something that spends or changes the installation.

use anyhow::bail;
use oarn_node::passphrase;

/// Prints `summary`, asks "Proceed? [y/N]" and reads the answer from the terminal (or a piped
/// stdin line); only yes proceeds. No answer at all is an error naming `what` and `nothing`
/// (what was not done).
pub fn confirmed(summary: &str, what: &str, nothing: &str) -> anyhow::Result<bool> {
    use std::io::{BufRead, Read};
    eprintln!("{summary}");
    eprint!("Proceed? [y/N] ");
    let mut answer = String::new();
    std::io::stdin().lock().take(64).read_line(&mut answer)?;
    if answer.is_empty() && !passphrase::on_terminal() {
        bail!("no answer to confirm {what}: run it in a terminal, or give --yes ({nothing})");
    }
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "Yes"))
}
