//! `oarn update check | apply | rollback`.

use std::path::PathBuf;

use anyhow::Context;
use oarn_config::home::Home;
use oarn_config::load;
use oarn_node::passphrase;
use oarn_node::update::{self, Applied, LayoutError, Offer, Report, Switched, UpdateError};

use super::Exit;
use super::args::UpdateCommand;
use super::chain::print_json;
use super::consent::confirmed;
use super::table::{mib, s as clean};

pub fn run(home: &Home, command: UpdateCommand) -> anyhow::Result<Exit> {
    match command {
        UpdateCommand::Check { json } => {
            let config = load::load_or_default(&home.config())?;
            let report = runtime()?.block_on(update::check(&config, home))?;
            if json {
                print_json(&report)?;
            } else {
                print_report(&report);
            }
            Ok(Exit::Success)
        }
        UpdateCommand::Apply { to, yes, json } => {
            let config = load::load_or_default(&home.config())?;
            let exe = exe()?;
            let consent = |report: &Report, offer: &Offer| consent(report, offer, yes);
            let applied = runtime()?.block_on(update::apply(&config, home, &exe, to.as_deref(), consent))?;
            if json {
                print_json(&applied)?;
            }
            Ok(match applied {
                Applied::UpToDate { report } => {
                    if !json {
                        println!(
                            "oarn {} is the newest release signed for {}",
                            report.current, report.target
                        );
                    }
                    Exit::Success
                }
                Applied::Declined { .. } => Exit::Declined,
                Applied::Installed {
                    switched,
                    dir,
                    from,
                    ipfs_failed,
                    ..
                } => {
                    if !json {
                        if let Some(why) = ipfs_failed {
                            eprintln!("{why}; fetched from the mirror instead");
                        }
                        let from = match from {
                            update::Source::Ipfs => "the node's IPFS",
                            update::Source::Mirror => "the mirror",
                        };
                        say_switched(&switched);
                        println!("installed in {} (fetched from {from}, sha256 checked)", dir.display());
                    }
                    Exit::Success
                }
            })
        }
        UpdateCommand::Rollback { json } => {
            let switched = update::rollback(&exe()?)?;
            if json {
                print_json(&switched)?;
            } else {
                say_switched(&switched);
            }
            Ok(Exit::Success)
        }
    }
}

/// The exit status for an update that did not happen.
pub fn exit(e: &UpdateError) -> Exit {
    match e {
        UpdateError::NotConfigured | UpdateError::Root { .. } => Exit::Config,
        UpdateError::Worker(_) => Exit::Worker,
        UpdateError::Mirror(_) | UpdateError::Layout(LayoutError::Io { .. } | LayoutError::NoPrevious { .. }) => {
            Exit::Failure
        }
        UpdateError::Refused(_)
        | UpdateError::NoSuchRelease { .. }
        | UpdateError::Changed { .. }
        | UpdateError::Digest { .. }
        | UpdateError::Archive(_)
        | UpdateError::Layout(_) => Exit::Refused,
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread().enable_all().build()?)
}

/// This process's own binary, resolved: the installation an update changes.
fn exe() -> anyhow::Result<PathBuf> {
    std::env::current_exe().context("cannot tell where this oarn binary is")
}

/// Yes with `--yes`; else the operator's answer at a terminal; without one, no.
fn consent(report: &Report, offer: &Offer, yes: bool) -> bool {
    if yes {
        return true;
    }
    let summary = describe(report, offer);
    if !passphrase::on_terminal() {
        eprintln!("{summary}");
        eprintln!("not installed: there is no terminal to ask, and --yes was not given");
        return false;
    }
    match confirmed(&summary, "the update", "nothing was installed") {
        Ok(true) => true,
        Ok(false) => {
            eprintln!("declined; nothing was installed");
            false
        }
        Err(e) => {
            eprintln!("{e}");
            false
        }
    }
}

/// What the operator is asked to install.
fn describe(report: &Report, o: &Offer) -> String {
    let s = &report.signing;
    let mut out = format!(
        "Install oarn {} (now {}) for {}\n  {}, sha256 {}{}\n  signed by {} ({} of {} maintainers needed), list version {}, expires {}",
        o.version,
        report.current,
        report.target,
        mib(o.size),
        o.sha256,
        o.cid
            .as_deref()
            .map(|c| format!(", CID {}", clean(c)))
            .unwrap_or_default(),
        clean(&s.signed_by.join(", ")),
        s.threshold,
        s.keys,
        s.list_version,
        s.expires
    );
    if !o.changelog.is_empty() {
        out.push_str("\n  changes: ");
        out.push_str(&lines(&o.changelog, "\n    "));
    }
    out
}

fn print_report(r: &Report) {
    let s = &r.signing;
    println!(
        "release list version {} from {}: signed by {} ({} of {} maintainers needed), expires {}",
        s.list_version,
        clean(&r.mirror),
        clean(&s.signed_by.join(", ")),
        s.threshold,
        s.keys,
        s.expires
    );
    match &r.newer {
        Some(o) => println!(
            "oarn {} is available (this is {}): `oarn update apply` installs it after asking",
            o.version, r.current
        ),
        None => println!("oarn {} is the newest release signed for {}", r.current, r.target),
    }
    for o in &r.releases {
        let mark = if o.version == r.current { " (this one)" } else { "" };
        println!(
            "\n{}{mark}\n  {}  {}  sha256 {}",
            o.version,
            o.name,
            mib(o.size),
            o.sha256
        );
        if let Some(cid) = &o.cid {
            println!("  CID {}", clean(cid));
        }
        if !o.changelog.is_empty() {
            println!("  {}", lines(&o.changelog, "\n  "));
        }
    }
}

fn say_switched(s: &Switched) {
    match &s.from {
        Some(from) => println!(
            "oarn {} is now current (was {from}; `oarn update rollback` returns to it). A running node keeps running {from} until you restart it: `systemctl restart oarn`, or `oarn stop` then `oarn start`",
            s.to
        ),
        None => println!("oarn {} is now current", s.to),
    }
}

/// Text of several lines from the release list, each made safe for a terminal, joined by `sep`.
fn lines(text: &str, sep: &str) -> String {
    text.lines().map(clean).collect::<Vec<_>>().join(sep)
}
