//! `oarn-release`: the maintainers' release tool. It makes the signing keys, the root that
//! names the maintainers and how many of them must sign, and a release repository that
//! `oarn update` verifies: the archives `scripts/release-build` made, listed with their version,
//! target, changelog and CID, the list signed by the maintainers' keys given, and snapshot and
//! timestamp by the online key. Signing is tough's editor, through crate `oarn-update`.
//!
//! Keys are PKCS#8 files (Ed25519), written mode 0600 and never over an existing file; this
//! tool prints key ids, never key material.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use oarn_update::publish::{self, Artefact, Key};

#[derive(Debug, Parser)]
#[command(name = "oarn-release", version, about = "The maintainers' release tool for oarn")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// What a release stages.
#[derive(Debug, clap::Args)]
struct Staging {
    /// The root the repository is published under.
    #[arg(long)]
    root: PathBuf,
    /// The release's version; every archive is named oarn-VERSION-TARGET.tar.gz.
    #[arg(long = "release", value_name = "VERSION")]
    release: String,
    /// A release archive (repeat for each target).
    #[arg(long = "archive", required = true)]
    archives: Vec<PathBuf>,
    /// A file holding the release's changelog.
    #[arg(long)]
    changelog: PathBuf,
    /// The version of the metadata written; higher than the last one published.
    #[arg(long)]
    metadata_version: u64,
    #[arg(long)]
    out: PathBuf,
}

/// How a staged release is published.
#[derive(Debug, clap::Args)]
struct Finishing {
    /// The root the repository is published under.
    #[arg(long)]
    root: PathBuf,
    /// The online key file (snapshot, timestamp).
    #[arg(long)]
    online: PathBuf,
    /// Days until the timestamp expires: nodes refuse the repository after that.
    #[arg(long, default_value_t = 30)]
    days: i64,
    #[arg(long)]
    out: PathBuf,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Make a signing key: DIR/NAME.pk8 (mode 0600); prints its key id.
    Keygen {
        name: String,
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
    /// Write a root requiring THRESHOLD of the maintainers' keys for the root and the release
    /// list, and the online key for snapshot and timestamp; signed by every maintainer given.
    Root {
        /// A maintainer, as NAME=KEYFILE (repeat for each).
        #[arg(long = "maintainer", value_name = "NAME=KEYFILE", required = true)]
        maintainers: Vec<String>,
        #[arg(long)]
        threshold: u64,
        /// The key file of the online role (snapshot, timestamp).
        #[arg(long)]
        online: PathBuf,
        /// Days until the root expires.
        #[arg(long, default_value_t = 365)]
        days: i64,
        #[arg(long)]
        out: PathBuf,
    },
    /// Stage a release in OUT for the maintainers to sign (no key needed: CI runs this after
    /// scripts/release-build): the release list for `oarn update`, and OUT/releases/VERSION (the
    /// archives, the root, SHA256SUMS) for install.sh.
    Stage(Staging),
    /// Add one maintainer's signature to the staged release in OUT: to the release list and to
    /// SHA256SUMS. Each maintainer runs this with their own key, on their own machine.
    Sign {
        /// The maintainer's key file.
        #[arg(long)]
        key: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
    /// Publish the staged release once enough maintainers signed it (the root says how many):
    /// OUT/metadata and OUT/targets for `oarn update`, snapshot and timestamp signed by the
    /// online key, and OUT/releases/LATEST. A mirror serves OUT as it is.
    Finish(Finishing),
    /// Stage, sign with every --sign key and finish in one go (keys in one place: tests, drills).
    Publish {
        #[command(flatten)]
        staging: Staging,
        /// A maintainer's key file signing the release (repeat).
        #[arg(long = "sign", required = true)]
        signers: Vec<PathBuf>,
        /// The online key file (snapshot, timestamp).
        #[arg(long)]
        online: PathBuf,
        /// Days until the timestamp expires: nodes refuse the repository after that.
        #[arg(long, default_value_t = 30)]
        days: i64,
    },
    /// Print each file's CID as the node's IPFS stores it (CIDv1, 256 KiB raw leaves).
    Cid { files: Vec<PathBuf> },
    /// Print what install.sh trusts from a root: the release list's threshold and the
    /// maintainers' public keys.
    InstallKeys {
        #[arg(long)]
        root: PathBuf,
    },
    /// Print install.sh with the root's keys written into it: the script the release publishes.
    InstallScript {
        #[arg(long)]
        root: PathBuf,
        /// The script template (scripts/install.sh).
        #[arg(long)]
        script: PathBuf,
    },
}

fn main() -> ExitCode {
    match main_exec() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn main_exec() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    match Cli::parse().command {
        Command::Keygen { name, dir } => {
            let key = Key::generate(&dir, &name)?;
            println!("{name}: key id {}", hex::encode(key.id()?));
        }
        Command::Root {
            maintainers,
            threshold,
            online,
            days,
            out,
        } => {
            let keys = maintainers
                .iter()
                .map(|m| {
                    let (name, file) = m
                        .split_once('=')
                        .with_context(|| format!("--maintainer {m:?} is not NAME=KEYFILE"))?;
                    Ok(Key::load(Path::new(file), name)?)
                })
                .collect::<anyhow::Result<Vec<Key>>>()?;
            if threshold == 0 || threshold as usize > keys.len() {
                bail!(
                    "--threshold {threshold} must be between 1 and the {} maintainers",
                    keys.len()
                );
            }
            let online = Key::load(&online, "online")?;
            let refs: Vec<&Key> = keys.iter().collect();
            runtime.block_on(publish::root(&refs, threshold, &online, days_from_now(days), &out))?;
            println!("{}: {threshold} of {} maintainers sign", out.display(), keys.len());
        }
        Command::Stage(staging) => stage(&runtime, &staging)?,
        Command::Sign { key, out } => sign(&runtime, &key, &out)?,
        Command::Finish(f) => finish(&runtime, &f)?,
        Command::Publish {
            staging,
            signers,
            online,
            days,
        } => {
            stage(&runtime, &staging)?;
            for key in &signers {
                sign(&runtime, key, &staging.out)?;
            }
            finish(
                &runtime,
                &Finishing {
                    root: staging.root,
                    online,
                    days,
                    out: staging.out,
                },
            )?;
        }
        Command::InstallKeys { root } => {
            print!("{}", install_keys(&root)?);
        }
        Command::InstallScript { root, script } => {
            let keys = install_keys(&root)?;
            let template = std::fs::read_to_string(&script).with_context(|| format!("reading {}", script.display()))?;
            if keys.contains('\'') {
                bail!("a maintainer's name in the root contains a quote, which the script cannot hold");
            }
            let line = "OARN_KEYS=''";
            if !template.lines().any(|l| l == line) {
                bail!("{} has no line {line} to fill", script.display());
            }
            print!(
                "{}",
                template.replacen(&format!("\n{line}\n"), &format!("\nOARN_KEYS='\n{keys}'\n"), 1)
            );
        }
        Command::Cid { files } => {
            for f in files {
                println!("{}  {}", cid(&f)?, f.display());
            }
        }
    }
    Ok(())
}

fn days_from_now(days: i64) -> jiff::Timestamp {
    jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24 * days)
}

/// A release archive for `release`: its target from its name, its CID computed here.
fn artefact(path: &Path, release: &str, changelog: &str) -> anyhow::Result<Artefact> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .with_context(|| format!("{} has no file name", path.display()))?;
    let Some(target) = name
        .strip_prefix(&format!("oarn-{release}-"))
        .and_then(|t| t.strip_suffix(".tar.gz"))
    else {
        bail!("{name} is not named oarn-{release}-TARGET.tar.gz");
    };
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(Artefact::release(
        release,
        target,
        bytes,
        &cid(path)?,
        changelog.trim_end(),
    ))
}

/// The file's CID as `oarn ipfs add` stores it (the same chunking, in a scratch store).
fn cid(path: &Path) -> anyhow::Result<String> {
    let scratch = tempfile::tempdir()?;
    let store = oarn_worker_net::blocks::Store::open(scratch.path())?;
    let added = oarn_worker_net::unixfs::add(&store, path).with_context(|| format!("hashing {}", path.display()))?;
    Ok(added.cid.to_string())
}

fn install_keys(root: &Path) -> anyhow::Result<String> {
    let bytes = std::fs::read(root).with_context(|| format!("reading {}", root.display()))?;
    Ok(publish::install_keys(&bytes)?)
}

/// Where `stage` notes the staged release's version for `sign` and `finish`.
fn staged_release(out: &Path) -> PathBuf {
    out.join("staged").join("RELEASE")
}

fn stage(runtime: &tokio::runtime::Runtime, s: &Staging) -> anyhow::Result<()> {
    use sha2::{Digest, Sha256};
    let changelog = std::fs::read_to_string(&s.changelog)
        .with_context(|| format!("reading the changelog {}", s.changelog.display()))?;
    let artefacts = s
        .archives
        .iter()
        .map(|a| artefact(a, &s.release, &changelog))
        .collect::<anyhow::Result<Vec<_>>>()?;
    runtime.block_on(publish::stage(&artefacts, s.metadata_version, &s.out))?;
    std::fs::write(staged_release(&s.out), &s.release)?;
    // OUT/releases/VERSION/ for install.sh: the archives, the root, SHA256SUMS over them.
    let dir = s.out.join("releases").join(&s.release);
    std::fs::create_dir_all(&dir)?;
    let mut files: Vec<(String, Vec<u8>)> = artefacts.iter().map(|a| (a.name.clone(), a.bytes.clone())).collect();
    files.push(("root.json".into(), std::fs::read(&s.root)?));
    files.sort();
    let mut sums = String::new();
    for (name, bytes) in &files {
        std::fs::write(dir.join(name), bytes)?;
        sums.push_str(&format!("{}  {name}\n", hex::encode(Sha256::digest(bytes))));
    }
    std::fs::write(dir.join("SHA256SUMS"), &sums)?;
    std::fs::write(dir.join("SHA256SUMS.sig"), "")?;
    for a in &artefacts {
        println!("staged {} ({} bytes)", a.name, a.bytes.len());
    }
    Ok(())
}

fn sign(runtime: &tokio::runtime::Runtime, key: &Path, out: &Path) -> anyhow::Result<()> {
    let release =
        std::fs::read_to_string(staged_release(out)).context("no staged release: run `oarn-release stage` first")?;
    let key = Key::load(key, "maintainer")?;
    runtime.block_on(publish::sign(&key, out))?;
    let dir = out.join("releases").join(release.trim());
    let sums = std::fs::read(dir.join("SHA256SUMS"))?;
    let sig_path = dir.join("SHA256SUMS.sig");
    let mut sigs = std::fs::read_to_string(&sig_path)?;
    let keyid = hex::encode(key.id()?);
    if !sigs.lines().any(|l| l.starts_with(&format!("{keyid} "))) {
        sigs.push_str(&publish::sign_sums(&sums, &[&key])?);
        std::fs::write(&sig_path, sigs)?;
    }
    println!("signed with key {keyid}");
    Ok(())
}

fn finish(runtime: &tokio::runtime::Runtime, f: &Finishing) -> anyhow::Result<()> {
    let release =
        std::fs::read_to_string(staged_release(&f.out)).context("no staged release: run `oarn-release stage` first")?;
    let online = Key::load(&f.online, "online")?;
    runtime.block_on(publish::finish(&f.root, &online, days_from_now(f.days), &f.out))?;
    std::fs::write(f.out.join("releases").join("LATEST"), format!("{}\n", release.trim()))?;
    println!("published oarn {} in {}", release.trim(), f.out.display());
    Ok(())
}
