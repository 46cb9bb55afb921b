//! `reference/cli.md`: every command and option, from clap's command tree (through
//! clap-markdown), and every exit status with its meaning, from `cli/exit.rs`.

use clap::CommandFactory;

use super::{cell, check, variant_docs};
use crate::cli::{Cli, Exit};

/// The page.
fn render() -> String {
    let options = clap_markdown::MarkdownOptions::new()
        .title("Command-line reference".to_owned())
        .show_footer(false);
    let mut page = clap_markdown::help_markdown_command_custom(&Cli::command(), &options);
    page.push_str(&exit_statuses());
    page
}

/// The exit-status table: each [`Exit`] with its number and its doc comment.
fn exit_statuses() -> String {
    let docs = variant_docs(include_str!("../cli/exit.rs"), "cli/exit.rs", "Exit");
    let mut out = String::from(
        "## Exit statuses\n\nEvery status `oarn` exits with. A worker's own statuses are mapped to \
         these, never passed through.\n\n| status | meaning |\n| --- | --- |\n",
    );
    for exit in Exit::ALL {
        let name = format!("{exit:?}");
        let doc = docs
            .get(&name)
            .unwrap_or_else(|| panic!("Exit::{name} has no variant in cli/exit.rs"));
        out.push_str(&format!("| {} | {} |\n", exit.code(), cell(doc)));
    }
    out
}

#[test]
fn the_cli_reference_is_current() {
    check("cli.md", "the `oarn` command's clap definitions", &render());
}
