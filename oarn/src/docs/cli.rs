//! `reference/cli.md`: every command and option, from clap's command tree (through
//! clap-markdown), and every exit status with its meaning, from `cli/exit.rs`.

use clap::CommandFactory;

use super::{cell, check, doc_of};
use crate::cli::{Cli, Exit};

/// The page.
fn render() -> String {
    let options = clap_markdown::MarkdownOptions::new()
        .title("Command-line reference".to_owned())
        .show_footer(false);
    let mut page = String::from(
        "<!-- Generated from the `oarn` command's clap definitions by `scripts/docs --write`; do not edit. -->\n\n",
    );
    page.push_str(&clap_markdown::help_markdown_command_custom(&Cli::command(), &options));
    page.push_str(&exit_statuses());
    page
}

/// The exit-status table: each [`Exit`] with its number and its doc comment.
fn exit_statuses() -> String {
    let source = include_str!("../cli/exit.rs");
    let file = syn::parse_file(source).expect("cli/exit.rs parses");
    let variants = file
        .items
        .iter()
        .find_map(|item| match item {
            syn::Item::Enum(e) if e.ident == "Exit" => Some(&e.variants),
            _ => None,
        })
        .expect("cli/exit.rs defines enum Exit");
    let mut out = String::from(
        "## Exit statuses\n\nEvery status `oarn` exits with. A worker's own statuses are mapped to \
         these, never passed through.\n\n| status | meaning |\n| --- | --- |\n",
    );
    for exit in Exit::ALL {
        let name = format!("{exit:?}");
        let variant = variants
            .iter()
            .find(|v| v.ident == name)
            .unwrap_or_else(|| panic!("Exit::{name} has no variant in cli/exit.rs"));
        out.push_str(&format!("| {} | {} |\n", exit.code(), cell(&doc_of(&variant.attrs))));
    }
    out
}

#[test]
fn the_cli_reference_is_current() {
    check("cli.md", &render());
}
