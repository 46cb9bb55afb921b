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
use oarn_update::publish::{self, Artefact, Key, Publication};

#[derive(Debug, Parser)]
#[command(name = "oarn-release", version, about = "The maintainers' release tool for oarn")]
struct Cli {
    #[command(subcommand)]
    command: Command,
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
    /// Publish release archives into a repository directory that a mirror serves as it is:
    /// OUT/metadata and OUT/targets for `oarn update`; OUT/releases/VERSION (the archives, the
    /// root, SHA256SUMS and its signatures) and OUT/releases/LATEST for install.sh.
    Publish {
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
        /// A maintainer's key file signing the release list (repeat; the root says how many).
        #[arg(long = "sign", required = true)]
        signers: Vec<PathBuf>,
        /// The online key file (snapshot, timestamp).
        #[arg(long)]
        online: PathBuf,
        /// Days until the timestamp expires: nodes refuse the repository after that.
        #[arg(long, default_value_t = 30)]
        days: i64,
        #[arg(long)]
        out: PathBuf,
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
        Command::Publish {
            root,
            release,
            archives,
            changelog,
            metadata_version,
            signers,
            online,
            days,
            out,
        } => {
            let changelog = std::fs::read_to_string(&changelog)
                .with_context(|| format!("reading the changelog {}", changelog.display()))?;
            let artefacts = archives
                .iter()
                .map(|a| artefact(a, &release, &changelog))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let signers = signers
                .iter()
                .map(|f| Key::load(f, "maintainer"))
                .collect::<Result<Vec<_>, _>>()?;
            let online = Key::load(&online, "online")?;
            let p = Publication {
                root: &root,
                signers: &signers.iter().collect::<Vec<_>>(),
                online: &online,
                version: metadata_version,
                expires: days_from_now(days),
            };
            runtime.block_on(publish::publish(&p, &artefacts, &out))?;
            let signers: Vec<&Key> = signers.iter().collect();
            plain_release(&out, &release, &root, &artefacts, &signers)?;
            for a in &artefacts {
                println!("published {} ({} bytes)", a.name, a.bytes.len());
            }
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

/// OUT/releases/VERSION/: the archives and the root, SHA256SUMS over them, its signatures by
/// `signers`; and OUT/releases/LATEST naming VERSION.
fn plain_release(
    out: &Path,
    release: &str,
    root: &Path,
    artefacts: &[Artefact],
    signers: &[&Key],
) -> anyhow::Result<()> {
    use sha2::{Digest, Sha256};
    let dir = out.join("releases").join(release);
    std::fs::create_dir_all(&dir)?;
    let mut files: Vec<(String, Vec<u8>)> = artefacts.iter().map(|a| (a.name.clone(), a.bytes.clone())).collect();
    files.push(("root.json".into(), std::fs::read(root)?));
    files.sort();
    let mut sums = String::new();
    for (name, bytes) in &files {
        std::fs::write(dir.join(name), bytes)?;
        sums.push_str(&format!("{}  {name}\n", hex::encode(Sha256::digest(bytes))));
    }
    std::fs::write(dir.join("SHA256SUMS"), &sums)?;
    std::fs::write(
        dir.join("SHA256SUMS.sig"),
        publish::sign_sums(sums.as_bytes(), signers)?,
    )?;
    std::fs::write(out.join("releases").join("LATEST"), format!("{release}\n"))?;
    Ok(())
}
