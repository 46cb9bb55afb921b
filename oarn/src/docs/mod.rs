//! The generated references of the documentation site (`docs/src/reference/`). Each test renders
//! one page from its source of truth (clap's command tree, the commented configuration
//! template, the API crate's typed methods) and fails when the committed page differs, so a
//! change to a command, key or method that leaves its page stale fails CI. With
//! `OARN_WRITE_DOCS=1` (what `scripts/docs --write` sets) the test writes the page instead.
//!
//! These are tests, not a subcommand: nothing of them ships in the binary.

mod api;
mod cli;
mod config;
mod doctor;

use std::path::PathBuf;

/// Where the generated pages live.
fn reference_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/src/reference")
}

/// Checks that the committed page `name`, generated from `source`, is `body` under the note
/// that says so, or writes it when asked to.
fn check(name: &str, source: &str, body: &str) {
    let rendered = no_html(&format!(
        "<!-- Generated from {source} by `scripts/docs --write`; do not edit. -->\n\n{body}"
    ));
    let path = reference_dir().join(name);
    if std::env::var_os("OARN_WRITE_DOCS").is_some_and(|v| v == "1") {
        std::fs::write(&path, &rendered).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == rendered,
        "{} is stale: what it documents changed. Run `scripts/docs --write` and commit the page.",
        path.display()
    );
}

/// The doc comment of an item: its `///` lines, joined into paragraphs.
fn doc_of(attrs: &[syn::Attribute]) -> String {
    let mut lines = Vec::new();
    for a in attrs {
        if !a.path().is_ident("doc") {
            continue;
        }
        if let syn::Meta::NameValue(nv) = &a.meta
            && let syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(s), ..
            }) = &nv.value
        {
            lines.push(s.value());
        }
    }
    let mut text = String::new();
    for line in lines {
        let line = line.strip_prefix(' ').unwrap_or(&line).trim_end();
        if line.is_empty() {
            text.push_str("\n\n");
        } else {
            if !text.is_empty() && !text.ends_with('\n') {
                text.push(' ');
            }
            text.push_str(line);
        }
    }
    no_intra_doc_links(text.trim())
}

/// Rustdoc's links to items (``[`MAX_REQUEST_BYTES`]``) as plain code: the page has no such
/// items to link to. A Markdown link (``[`x`](url)``) stays.
fn no_intra_doc_links(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("[`") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        match after[1..].find("`]").map(|end| end + 2) {
            Some(end) if !after[end + 1..].starts_with('(') => {
                out.push_str(&after[..end]);
                rest = &after[end + 1..];
            }
            _ => {
                out.push('[');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[test]
fn links_to_rust_items_read_as_code_and_markdown_links_stay() {
    assert_eq!(
        no_intra_doc_links("at most [`MAX`] bytes; see [`oarn`](https://x) and [`Y`]."),
        "at most `MAX` bytes; see [`oarn`](https://x) and `Y`."
    );
}

/// The doc comment of each variant of `enum_name` in the Rust `source` (named `file` in
/// panics), by variant name.
fn variant_docs(source: &str, file: &str, enum_name: &str) -> std::collections::BTreeMap<String, String> {
    let parsed = syn::parse_file(source).unwrap_or_else(|e| panic!("{file}: {e}"));
    let variants = parsed
        .items
        .iter()
        .find_map(|item| match item {
            syn::Item::Enum(e) if e.ident == enum_name => Some(&e.variants),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{file} defines no enum {enum_name}"));
    variants
        .iter()
        .map(|v| (v.ident.to_string(), doc_of(&v.attrs)))
        .collect()
}

/// Text for one cell of a Markdown table: one line, no bar that would split the cell.
fn cell(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

/// The page with every `<` outside code written as `&lt;`: the sources say `<index>` and
/// `<peer>` as placeholders, which Markdown would otherwise read as HTML tags and hide.
/// A page's opening `<!--` comment stays a comment.
fn no_html(page: &str) -> String {
    let mut out = String::with_capacity(page.len());
    let mut fenced = false;
    for line in page.split_inclusive('\n') {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        }
        let mut code = false;
        for (i, c) in line.char_indices() {
            match c {
                '`' => code = !code,
                '<' if !fenced && !code && !line[i..].starts_with("<!--") => {
                    out.push_str("&lt;");
                    continue;
                }
                _ => {}
            }
            out.push(c);
        }
    }
    out
}

#[test]
fn angle_brackets_outside_code_are_not_read_as_html() {
    let page = "<!-- a <b> -->\n`c <d>`\n```\n<e>\n```\n<f>\n";
    assert_eq!(no_html(page), "<!-- a &lt;b> -->\n`c <d>`\n```\n<e>\n```\n&lt;f>\n");
}
