//! `reference/api.md`: the local API (JSON-RPC 2.0 on the node's Unix socket, and the read
//! routes under `/api/v1/` of its HTTP listener), from the API crate's own source: every
//! `method!(Params, "name", Result)` with the params' and result's doc comments and fields,
//! every notification a streaming method sends, every type those name, every error code
//! ([`oarn_api::rpc::Code`]) and every HTTP route ([`oarn_node::http::ROUTES`]).
//!
//! Rust's doc comments are not there at run time, so the source is read with syn.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use quote::ToTokens;
use syn::parse::Parser;
use syn::{Fields, Item, LitStr, Token, Type};

use super::{cell, check, doc_of, variant_docs};

/// The API's modules, in the order the crate documents them, with their source.
const MODULES: [(&str, &str); 6] = [
    ("node", include_str!("../../../api/src/node.rs")),
    ("infer", include_str!("../../../api/src/infer.rs")),
    ("net", include_str!("../../../api/src/net.rs")),
    ("ipfs", include_str!("../../../api/src/ipfs.rs")),
    ("tasks", include_str!("../../../api/src/tasks.rs")),
    ("chain", include_str!("../../../api/src/chain.rs")),
];

/// A method: its params type, wire name and result type.
#[derive(Debug)]
struct Method {
    params: String,
    name: String,
    result: String,
    /// The notification it streams, and the type each carries.
    note: Option<(String, String)>,
}

/// One module of the API crate, read.
struct Module {
    name: &'static str,
    doc: String,
    methods: Vec<Method>,
    /// Structs and enums by name, in file order.
    types: Vec<(String, Item)>,
}

fn read(name: &'static str, source: &str) -> Module {
    let file = syn::parse_file(source).unwrap_or_else(|e| panic!("api/src/{name}.rs: {e}"));
    let mut methods = Vec::new();
    let mut notes = BTreeMap::new();
    let mut types = Vec::new();
    for item in &file.items {
        match item {
            Item::Macro(m) if m.mac.path.is_ident("method") => {
                let parse = |input: syn::parse::ParseStream<'_>| {
                    let params: Type = input.parse()?;
                    input.parse::<Token![,]>()?;
                    let name: LitStr = input.parse()?;
                    input.parse::<Token![,]>()?;
                    let result: Type = input.parse()?;
                    Ok((params, name, result))
                };
                let (params, wire, result) = parse
                    .parse2(m.mac.tokens.clone())
                    .expect("method!(Params, \"name\", Result)");
                methods.push(Method {
                    params: ty(&params),
                    name: wire.value(),
                    result: ty(&result),
                    note: None,
                });
            }
            Item::Impl(i) if i.trait_.as_ref().is_some_and(|(_, p, _)| p.is_ident("Streaming")) => {
                let mut note = (String::new(), String::new());
                for it in &i.items {
                    match it {
                        syn::ImplItem::Const(c) if c.ident == "NOTE" => {
                            if let syn::Expr::Lit(syn::ExprLit {
                                lit: syn::Lit::Str(s), ..
                            }) = &c.expr
                            {
                                note.0 = s.value();
                            }
                        }
                        syn::ImplItem::Type(t) if t.ident == "Note" => note.1 = ty(&t.ty),
                        _ => {}
                    }
                }
                notes.insert(ty(&i.self_ty), note);
            }
            Item::Struct(s) => types.push((s.ident.to_string(), item.clone())),
            Item::Enum(e) => types.push((e.ident.to_string(), item.clone())),
            _ => {}
        }
    }
    for m in &mut methods {
        m.note = notes.remove(&m.params);
    }
    assert!(
        notes.is_empty(),
        "api/src/{name}.rs streams from a type that is no method: {notes:?}"
    );
    Module {
        name,
        doc: doc_of(&file.attrs),
        methods,
        types,
    }
}

/// A type as Rust writes it, without the spaces of its tokens or a path's module.
fn ty(t: &Type) -> String {
    let text = t
        .to_token_stream()
        .to_string()
        .replace(' ', "")
        .replace(';', "; ")
        .replace(',', ", ");
    // `crate::node::WalletState` reads `WalletState`: every type's name is unique on the page.
    text.split(['<', '>', ',', '(', ')', '[', ']'])
        .filter(|part| part.contains("::"))
        .fold(text.clone(), |acc, path| {
            acc.replace(path, path.rsplit("::").next().unwrap_or(path))
        })
}

/// The `#[serde(...)]` words of an item or field, e.g. `default`, `rename_all = "lowercase"`.
fn serde_words(attrs: &[syn::Attribute]) -> Vec<String> {
    let mut words = Vec::new();
    for a in attrs.iter().filter(|a| a.path().is_ident("serde")) {
        let _ = a.parse_nested_meta(|meta| {
            let key = meta.path.to_token_stream().to_string();
            if let Ok(value) = meta.value() {
                let v: syn::Expr = value.parse()?;
                words.push(format!("{key} = {}", v.to_token_stream()));
            } else {
                words.push(key);
            }
            Ok(())
        });
    }
    words
}

/// A variant's or field's name on the wire under `rename_all`.
fn wire_name(name: &str, rename_all: Option<&str>) -> String {
    let words = || {
        let mut out = String::new();
        for (i, c) in name.chars().enumerate() {
            if c.is_uppercase() && i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        }
        out
    };
    match rename_all {
        None => name.to_owned(),
        Some("\"lowercase\"") => name.to_lowercase(),
        Some("\"snake_case\"") => words(),
        Some("\"kebab-case\"") => words().replace('_', "-"),
        Some(other) => panic!("the API reference does not know rename_all = {other}; teach oarn/src/docs/api.rs"),
    }
}

fn rename_all(attrs: &[syn::Attribute]) -> Option<String> {
    serde_words(attrs)
        .into_iter()
        .find_map(|w| w.strip_prefix("rename_all = ").map(str::to_owned))
}

/// A table of named fields: name on the wire, type, whether it may be left out, meaning.
fn fields_table(fields: &syn::FieldsNamed, rename: Option<&str>, out: &mut String) {
    out.push_str("| field | type | meaning |\n| --- | --- | --- |\n");
    for f in &fields.named {
        let name = f.ident.as_ref().expect("named").to_string();
        let words = serde_words(&f.attrs);
        let mut about = doc_of(&f.attrs);
        if words.iter().any(|w| w == "flatten") {
            let _ = writeln!(
                out,
                "| *(the fields of `{}`, inline)* | | {} |",
                ty(&f.ty),
                cell(&about)
            );
            continue;
        }
        if words.iter().any(|w| w == "default" || w.starts_with("default =")) {
            about = if about.is_empty() {
                "Optional.".to_owned()
            } else {
                format!("Optional. {about}")
            };
        }
        let _ = writeln!(
            out,
            "| `{}` | `{}` | {} |",
            wire_name(&name, rename),
            ty(&f.ty),
            cell(&about)
        );
    }
}

/// A struct or enum as a section of its own.
fn type_section(name: &str, item: &Item, out: &mut String) {
    let _ = writeln!(out, "#### `{name}`\n");
    match item {
        Item::Struct(s) => {
            let doc = doc_of(&s.attrs);
            if !doc.is_empty() {
                let _ = writeln!(out, "{doc}\n");
            }
            match &s.fields {
                Fields::Named(f) if !f.named.is_empty() => fields_table(f, rename_all(&s.attrs).as_deref(), out),
                Fields::Unnamed(f) => {
                    let inner: Vec<String> = f.unnamed.iter().map(|f| ty(&f.ty)).collect();
                    let _ = writeln!(
                        out,
                        "Wraps `{}`; see *Conventions* for its form on the wire.",
                        inner.join(", ")
                    );
                }
                _ => out.push_str("An empty object, `{}`.\n"),
            }
        }
        Item::Enum(e) => enum_section(e, out),
        _ => unreachable!("only structs and enums are collected"),
    }
    out.push('\n');
}

fn enum_section(e: &syn::ItemEnum, out: &mut String) {
    let doc = doc_of(&e.attrs);
    if !doc.is_empty() {
        let _ = writeln!(out, "{doc}\n");
    }
    let words = serde_words(&e.attrs);
    let rename = rename_all(&e.attrs);
    let tag = words
        .iter()
        .find_map(|w| w.strip_prefix("tag = "))
        .map(|t| t.trim_matches('"').to_owned());
    let unit = e.variants.iter().all(|v| matches!(v.fields, Fields::Unit));
    let _ = writeln!(
        out,
        "{}\n\n| value | meaning |\n| --- | --- |",
        match (&tag, unit) {
            (Some(t), _) => format!("An object whose field `{t}` names the variant, beside the variant's fields."),
            (None, true) => "A string, one of:".to_owned(),
            (None, false) => "An object with one key, the variant, whose value is the variant's content (a string for a variant without content).".to_owned(),
        }
    );
    for v in &e.variants {
        let mut about = doc_of(&v.attrs);
        match &v.fields {
            Fields::Named(f) => {
                let names: Vec<String> = f
                    .named
                    .iter()
                    .map(|f| format!("`{}`: `{}`", f.ident.as_ref().expect("named"), ty(&f.ty)))
                    .collect();
                about = format!("{about} Fields: {}.", names.join(", "));
            }
            Fields::Unnamed(f) => {
                let inner: Vec<String> = f.unnamed.iter().map(|f| ty(&f.ty)).collect();
                about = format!("{about} Content: `{}`.", inner.join(", "));
            }
            Fields::Unit => {}
        }
        let _ = writeln!(
            out,
            "| `{}` | {} |",
            wire_name(&v.ident.to_string(), rename.as_deref()),
            cell(&about)
        );
    }
}

/// The params of a method: its doc comment less the leading `` `name`: ``, and its fields.
fn method_section(m: &Method, module: &Module, out: &mut String) {
    let _ = writeln!(out, "### `{}`\n", m.name);
    let params = module.types.iter().find(|(n, _)| *n == m.params).map(|(_, i)| i);
    let Some(Item::Struct(s)) = params else {
        panic!(
            "{}'s params type {} is no struct of api/src/{}.rs",
            m.name, m.params, module.name
        );
    };
    let doc = doc_of(&s.attrs);
    let doc = doc.strip_prefix(&format!("`{}`:", m.name)).unwrap_or(&doc).trim();
    let mut first = doc.chars();
    let doc: String = first
        .next()
        .map(|c| c.to_uppercase().chain(first).collect())
        .unwrap_or_default();
    let _ = writeln!(out, "{doc}\n");
    match &s.fields {
        Fields::Named(f) if !f.named.is_empty() => {
            out.push_str("**Params**\n\n");
            fields_table(f, rename_all(&s.attrs).as_deref(), out);
            out.push('\n');
        }
        _ => out.push_str("**Params:** none.\n\n"),
    }
    let _ = writeln!(out, "**Result:** `{}`\n", m.result);
    if let Some((note, carries)) = &m.note {
        let _ = writeln!(
            out,
            "**Streams:** `{note}` notifications, each carrying `{carries}`, before the result.\n"
        );
    }
}

/// The page.
fn render() -> String {
    let modules: Vec<Module> = MODULES.iter().map(|(n, s)| read(n, s)).collect();
    let mut out = String::from(include_str!("api_intro.md"));
    codes(&mut out);
    routes(&mut out);
    for module in &modules {
        let _ = writeln!(out, "## {}\n\n{}\n", module.name, module.doc);
        for m in &module.methods {
            method_section(m, module, &mut out);
        }
        let params: Vec<&str> = module.methods.iter().map(|m| m.params.as_str()).collect();
        let others: Vec<&(String, Item)> = module
            .types
            .iter()
            .filter(|(n, _)| !params.contains(&n.as_str()))
            .collect();
        if !others.is_empty() {
            let _ = writeln!(out, "### Types of `{}`\n", module.name);
            for (name, item) in others {
                type_section(name, item, &mut out);
            }
        }
    }
    out
}

/// Every error code with its number and meaning.
fn codes(out: &mut String) {
    let docs = variant_docs(include_str!("../../../api/src/rpc.rs"), "api/src/rpc.rs", "Code");
    out.push_str("## Error codes\n\n| code | name | meaning |\n| --- | --- | --- |\n");
    for code in oarn_api::rpc::Code::ALL {
        let name = format!("{code:?}");
        let doc = docs.get(&name).expect("every code is a variant");
        let _ = writeln!(out, "| {} | `{name}` | {} |", code.number(), cell(doc));
    }
    out.push('\n');
}

/// The HTTP routes and the methods they answer with.
fn routes(out: &mut String) {
    out.push_str(
        "## HTTP routes\n\nEach route answers `GET` with the result of a method below as JSON, and \
         only for a request carrying `Authorization: Bearer <token>`, the token being the content \
         of `api.token` in the node home (mode 0600). Without it every path answers 401 with an \
         empty body. An error answers with the code's HTTP status and \
         `{\"error\": {\"code\", \"message\", \"data\"}}`.\n\n| route | method | query |\n| --- | --- | --- |\n",
    );
    for r in oarn_node::http::ROUTES {
        let query = if r.limit { "`limit=N`: the newest N" } else { "" };
        let _ = writeln!(
            out,
            "| `/api/v1/{}` | [`{}`](#{}) | {query} |",
            r.path,
            r.method,
            r.method.to_lowercase()
        );
    }
    out.push('\n');
}

#[test]
fn the_api_reference_is_current() {
    check("api.md", "the API crate (api/src/)", &render());
}

#[test]
fn every_method_of_the_api_is_on_the_page() {
    let page = render();
    for (name, source) in MODULES {
        let module = read(name, source);
        assert!(!module.methods.is_empty(), "api/src/{name}.rs declares no method");
        for m in module.methods {
            assert!(
                page.contains(&format!("### `{}`", m.name)),
                "{} is not on the page",
                m.name
            );
        }
    }
    // A method the crate declares in a module this page does not read would be missed.
    let lib = include_str!("../../../api/src/lib.rs");
    for line in lib.lines().filter_map(|l| l.strip_prefix("pub mod ")) {
        let m = line.trim_end_matches(';');
        assert!(
            MODULES.iter().any(|(n, _)| *n == m) || ["client", "rpc", "types"].contains(&m),
            "api/src/{m}.rs is new: add it to the API reference's MODULES"
        );
    }
}
