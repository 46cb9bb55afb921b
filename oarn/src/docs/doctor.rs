//! `troubleshooting.md`: every problem `oarn doctor` can report, with its fix, from the
//! checks' own source (`node/src/doctor/checks.rs`): each `Check::fail` and `Check::warn` in
//! each check, in the order the doctor runs them. What a finding fills in at run time (a pid,
//! a balance, an endpoint) reads "…".

use std::collections::BTreeMap;
use std::fmt::Write as _;

use syn::visit::Visit;
use syn::{Expr, Lit};

use super::{cell, check};

/// One finding: its verdict, what the doctor says and what it says to do.
#[derive(Debug)]
struct Finding {
    verdict: &'static str,
    says: String,
    fix: String,
}

/// Collects, in one check function, its string bindings and its findings.
#[derive(Debug, Default)]
struct Findings {
    bindings: BTreeMap<String, String>,
    /// By check name, in the order met.
    found: Vec<(String, Finding)>,
}

/// The text a string expression stands for: a literal, `format!` with its arguments as "…",
/// or a binding of either.
fn text(e: &Expr, bindings: &BTreeMap<String, String>) -> Option<String> {
    match e {
        Expr::Lit(syn::ExprLit { lit: Lit::Str(s), .. }) => Some(s.value()),
        Expr::Macro(m) if m.mac.path.is_ident("format") => {
            let template: syn::LitStr = m
                .mac
                .parse_body_with(|input: syn::parse::ParseStream<'_>| {
                    let s: syn::LitStr = input.parse()?;
                    input.parse::<proc_macro2::TokenStream>()?;
                    Ok(s)
                })
                .ok()?;
            Some(placeholders(&template.value()))
        }
        Expr::Path(p) => bindings.get(&p.path.get_ident()?.to_string()).cloned(),
        Expr::MethodCall(m) => text(&m.receiver, bindings),
        Expr::Reference(r) => text(&r.expr, bindings),
        _ => None,
    }
}

/// `{}`, `{name}` and `{:.1}` become "…"; `{{` and `}}` their brace.
fn placeholders(template: &str) -> String {
    let mut out = String::new();
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                out.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                out.push('}');
            }
            '{' => {
                for c in chars.by_ref() {
                    if c == '}' {
                        break;
                    }
                }
                out.push('…');
            }
            c => out.push(c),
        }
    }
    out
}

impl<'a> Visit<'a> for Findings {
    fn visit_local(&mut self, l: &'a syn::Local) {
        if let (syn::Pat::Ident(p), Some(init)) = (&l.pat, &l.init)
            && let Some(t) = text(&init.expr, &self.bindings)
        {
            self.bindings.insert(p.ident.to_string(), t);
        }
        syn::visit::visit_local(self, l);
    }

    fn visit_expr_call(&mut self, call: &'a syn::ExprCall) {
        if let Expr::Path(p) = &*call.func
            && p.path.segments.len() == 2
            && p.path.segments[0].ident == "Check"
        {
            let verdict = match p.path.segments[1].ident.to_string().as_str() {
                "fail" => Some("fail"),
                "warn" => Some("warn"),
                _ => None,
            };
            if let Some(verdict) = verdict {
                let args: Vec<&Expr> = call.args.iter().collect();
                let name = text(args[0], &self.bindings).expect("a check's name is a literal");
                let says = text(args[1], &self.bindings).unwrap_or_else(|| "…".to_owned());
                let fix = text(args[2], &self.bindings)
                    .unwrap_or_else(|| panic!("a {verdict} of the {name} check has a fix this page cannot read: write it as a literal or format!"));
                self.found.push((name, Finding { verdict, says, fix }));
            }
        }
        syn::visit::visit_expr_call(self, call);
    }
}

/// Every finding of every check, grouped by check in the order they run.
fn findings() -> Vec<(String, Vec<Finding>)> {
    let file = syn::parse_file(include_str!("../../../node/src/doctor/checks.rs")).expect("checks.rs parses");
    let mut by_check: Vec<(String, Vec<Finding>)> = Vec::new();
    for item in &file.items {
        let syn::Item::Fn(f) = item else { continue };
        let mut v = Findings::default();
        v.visit_item_fn(f);
        for (name, finding) in v.found {
            match by_check.iter_mut().find(|(n, _)| *n == name) {
                Some((_, list)) => list.push(finding),
                None => by_check.push((name, vec![finding])),
            }
        }
    }
    by_check
}

fn render() -> String {
    let mut out = String::from(include_str!("troubleshooting_intro.md"));
    for (name, list) in findings() {
        let _ = writeln!(
            out,
            "\n## {name}\n\n| verdict | `oarn doctor` says | what to do |\n| --- | --- | --- |"
        );
        for f in list {
            let _ = writeln!(out, "| {} | {} | {} |", f.verdict, cell(&f.says), cell(&f.fix));
        }
    }
    out
}

#[test]
fn the_troubleshooting_page_is_current() {
    check("../troubleshooting.md", "node/src/doctor/checks.rs", &render());
}

#[test]
fn every_check_the_doctor_runs_is_on_the_troubleshooting_page() {
    // The checks `doctor::check` runs, by the names of their functions, which are the checks'.
    let module = syn::parse_file(include_str!("../../../node/src/doctor/mod.rs")).expect("mod.rs parses");
    let run = module
        .items
        .iter()
        .find_map(|i| match i {
            syn::Item::Fn(f) if f.sig.ident == "check" => Some(quote::ToTokens::to_token_stream(&f.block).to_string()),
            _ => None,
        })
        .expect("doctor::check");
    let names: Vec<String> = findings().into_iter().map(|(n, _)| n).collect();
    let mut seen = 0;
    for part in run.split("checks :: ").skip(1) {
        let name = part.split_whitespace().next().expect("a check's name");
        assert!(
            names.iter().any(|n| n == name),
            "the troubleshooting page has no finding of the {name} check"
        );
        seen += 1;
    }
    assert!(seen >= 13, "read only {seen} checks from doctor::check");
}

#[test]
fn format_arguments_read_as_an_ellipsis() {
    assert_eq!(placeholders("pid {} up {secs:.1} s {{x}}"), "pid … up … s {x}");
}
