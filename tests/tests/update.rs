//! `oarn update` and install.sh end to end, as an operator runs them: a real release repository (TUF; the
//! release list needs 2 of 3 maintainers, signed with the maintainers' tool in crate
//! `oarn-update`) served over HTTP on loopback; an installation in install.sh's side-by-side
//! layout holding this build's binaries; the real network worker verifying in its sandbox.
//!
//! The release being installed (99.0.0) carries small scripts in place of binaries: what is
//! under test is the verification, the consent and the switch, which do not look inside the
//! executables. The installation it replaces runs the real binaries.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use oarn_tests::Node;
use oarn_update::publish::{self, Artefact, Key, Publication};

/// The version this build is.
const CURRENT: &str = env!("CARGO_PKG_VERSION");
/// The release the repository offers.
const NEXT: &str = "99.0.0";
const EXECUTABLES: [&str; 5] = oarn_tests::SHIPPED;

fn target() -> String {
    format!("{}-unknown-linux-gnu", std::env::consts::ARCH)
}

fn in_a_year() -> jiff::Timestamp {
    jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24 * 365)
}

/// A static file server for `root` on loopback that records every path asked for.
struct Server {
    port: u16,
    paths: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn start(root: PathBuf) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let paths = Arc::new(Mutex::new(Vec::new()));
        let seen = paths.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().take(256) {
                let Ok(mut stream) = stream else { continue };
                let mut line = String::new();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).map_or(true, |n| n == 0) || h.trim().is_empty() {
                        break;
                    }
                }
                let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
                seen.lock().unwrap().push(path.clone());
                let file = root.join(path.trim_start_matches('/'));
                let _ = match std::fs::read(&file).ok().filter(|_| !path.contains("..")) {
                    Some(body) => stream
                        .write_all(
                            format!(
                                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                                body.len()
                            )
                            .as_bytes(),
                        )
                        .and_then(|()| stream.write_all(&body)),
                    None => {
                        stream.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    }
                };
            }
        });
        Server { port, paths }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    fn asked(&self) -> Vec<String> {
        self.paths.lock().unwrap().clone()
    }
}

/// The maintainers' keys, the trusted root, the published repository and its server.
struct Repository {
    dir: tempfile::TempDir,
    maintainers: [Key; 3],
    online: Key,
    server: Server,
}

impl Repository {
    /// Publishes release NEXT signed by ada and chen (2 of 3).
    async fn new() -> Repository {
        let dir = tempfile::tempdir().unwrap();
        let maintainers = ["ada", "brendan", "chen"].map(|n| Key::generate(dir.path(), n).unwrap());
        let online = Key::generate(dir.path(), "online").unwrap();
        let m: Vec<&Key> = maintainers.iter().collect();
        publish::root(&m, 2, &online, in_a_year(), &dir.path().join("root.json"))
            .await
            .unwrap();
        let mirror = dir.path().join("mirror");
        let server = Server::start(mirror.clone());
        let repo = Repository {
            dir,
            maintainers,
            online,
            server,
        };
        let [ada, _, chen] = &repo.maintainers;
        repo.publish(&repo.root(), &[ada, chen], 1).await;
        repo
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("root.json")
    }

    fn mirror(&self) -> PathBuf {
        self.dir.path().join("mirror")
    }

    /// (Re)publishes release NEXT under `root`, signed by `signers`, every role at `version`.
    async fn publish(&self, root: &Path, signers: &[&Key], version: u64) {
        self.publish_with_cid(root, signers, version, "bafkreirelease").await;
    }

    /// [`Repository::publish`] naming `cid` as the archive's CID.
    async fn publish_with_cid(&self, root: &Path, signers: &[&Key], version: u64, cid: &str) {
        let _ = std::fs::remove_dir_all(self.mirror());
        let archive = release_archive(self.dir.path());
        let p = Publication {
            root,
            signers,
            online: &self.online,
            version,
            expires: in_a_year(),
        };
        let artefact = Artefact::release(NEXT, &target(), archive, cid, "faster claims\nfewer bugs");
        publish::publish(&p, &[artefact], &self.mirror()).await.unwrap();
    }

    /// The published archive, as the mirror serves it.
    fn archive(&self) -> PathBuf {
        let mut files = std::fs::read_dir(self.mirror().join("targets")).unwrap();
        files.next().expect("one archive").unwrap().path()
    }

    /// Flips one byte of every published archive (the mirror serves other bytes).
    fn tamper(&self) {
        for file in std::fs::read_dir(self.mirror().join("targets")).unwrap() {
            let path = file.unwrap().path();
            let mut bytes = std::fs::read(&path).unwrap();
            let last = bytes.len() - 1;
            bytes[last] ^= 1;
            std::fs::write(&path, bytes).unwrap();
        }
    }

    /// Whether any archive was asked for.
    fn archive_asked(&self) -> bool {
        self.server.asked().iter().any(|p| p.starts_with("/targets/"))
    }
}

/// `oarn-NEXT-TARGET.tar.gz` as a release build makes it, holding scripts that say their
/// version.
fn release_archive(scratch: &Path) -> Vec<u8> {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::remove_dir_all(scratch.join("build"));
    let top = format!("oarn-{NEXT}-{}", target());
    let dir = scratch.join("build").join(&top);
    std::fs::create_dir_all(&dir).unwrap();
    for exe in EXECUTABLES {
        let path = dir.join(exe);
        std::fs::write(&path, format!("#!/bin/sh\necho {exe} {NEXT}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::write(dir.join("README.md"), "oarn\n").unwrap();
    let out = scratch.join("build").join("release.tar.gz");
    // The same bytes every time (as scripts/release-pack makes them), so republishing keeps
    // the archive and its CID.
    let status = Command::new("tar")
        .args(["--sort=name", "--mtime=@0", "--owner=0", "--group=0", "--numeric-owner"])
        .args(["-I", "gzip -n", "-cf"])
        .arg(&out)
        .arg("-C")
        .arg(scratch.join("build"))
        .arg(&top)
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::read(out).unwrap()
}

/// A node whose `oarn` runs from an installation `PREFIX/versions/CURRENT/` (this build's
/// binaries, hard-linked) with `PREFIX/current` pointing at it, configured for `repo`.
fn installed(repo: &Repository) -> (Node, PathBuf) {
    let mut node = Node::new();
    configure(&node, &repo.server.url(), &repo.root());
    let prefix = install_prefix(&mut node, CURRENT);
    (node, prefix)
}

/// Installs this build's binaries as `PREFIX/versions/VERSION/` in the node's directory,
/// makes it current, and has `node` run `oarn` from there.
fn install_prefix(node: &mut Node, version: &str) -> PathBuf {
    let prefix = node.dir.path().join("prefix");
    let dir = prefix.join("versions").join(version);
    std::fs::create_dir_all(&dir).unwrap();
    link_binaries(&node.bins, &dir);
    std::os::unix::fs::symlink(Path::new("versions").join(version), prefix.join("current")).unwrap();
    node.bins = dir;
    prefix
}

/// This build's executables from `bins` into `dir`: hard links, or copies where `dir` is on
/// another file system.
fn link_binaries(bins: &Path, dir: &Path) {
    for exe in EXECUTABLES {
        let from = bins.join(exe);
        if std::fs::hard_link(&from, dir.join(exe)).is_err() {
            std::fs::copy(&from, dir.join(exe)).unwrap();
        }
    }
}

fn configure(node: &Node, mirror: &str, root: &Path) {
    for (k, v) in [
        ("update.mirror", mirror.to_owned()),
        ("update.root", root.display().to_string()),
    ] {
        let out = node.oarn(&["config", "set", k, &v]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
}

fn current(prefix: &Path) -> String {
    std::fs::read_link(prefix.join("current"))
        .unwrap()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

fn said(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// What the node staged: nothing once an update ended, however it ended.
fn staged(node: &Node) -> Vec<String> {
    std::fs::read_dir(node.home().join("downloads"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn check_shows_the_newer_release_and_the_maintainers_who_signed_it() {
    let repo = rt().block_on(Repository::new());
    let (node, prefix) = installed(&repo);

    let report = node.json(&["update", "check", "--json"]);
    assert_eq!(report["current"], CURRENT);
    assert_eq!(report["newer"]["version"], NEXT, "{report}");
    let signing = &report["signing"];
    assert_eq!(signing["threshold"], 2);
    assert_eq!(signing["keys"], 3);
    assert_eq!(signed_by(&report), ["ada", "chen"]);
    let offer = &report["newer"];
    assert_eq!(offer["cid"], "bafkreirelease");
    assert_eq!(offer["changelog"], "faster claims\nfewer bugs");
    let published = repo.archive();
    let bytes = std::fs::read(published).unwrap();
    assert_eq!(offer["size"], bytes.len());
    assert_eq!(
        offer["sha256"].as_str().unwrap(),
        hex(&<sha2::Sha256 as sha2::Digest>::digest(&bytes))
    );

    let out = node.oarn(&["update", "check"]);
    let text = said(&out);
    assert!(out.status.success(), "{text}");
    assert!(text.contains(&format!("oarn {NEXT} is available")), "{text}");
    assert!(text.contains("2 of 3 maintainers needed"), "{text}");
    assert_eq!(current(&prefix), CURRENT, "check changes nothing");
    assert!(!repo.archive_asked(), "check downloads no archive");
}

/// The maintainers a report says signed, sorted.
fn signed_by(report: &serde_json::Value) -> Vec<String> {
    let mut names: Vec<String> = report["signing"]["signed_by"]
        .as_array()
        .expect("signed_by")
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    names.sort_unstable();
    names
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn apply_without_a_terminal_and_without_yes_installs_nothing() {
    let repo = rt().block_on(Repository::new());
    let (node, prefix) = installed(&repo);

    let out = node.oarn(&["update", "apply"]);
    let text = said(&out);
    assert_eq!(out.status.code(), Some(14), "{text}");
    assert!(text.contains("no terminal to ask"), "{text}");
    assert!(
        text.contains(&format!("Install oarn {NEXT}")),
        "it showed what it would install: {text}"
    );
    assert_eq!(current(&prefix), CURRENT);
    assert!(!prefix.join("versions").join(NEXT).exists());
    assert!(!repo.archive_asked(), "not even downloaded");
}

#[test]
fn apply_with_yes_installs_beside_and_switches_and_rollback_returns() {
    let repo = rt().block_on(Repository::new());
    let (node, prefix) = installed(&repo);

    let out = node.oarn(&["update", "apply", "--yes", "--json"]);
    let text = said(&out);
    assert!(out.status.success(), "{text}");
    let applied: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(applied["outcome"], "installed", "{applied}");
    assert_eq!(applied["switched"]["from"], CURRENT);
    assert_eq!(applied["switched"]["to"], NEXT);
    assert_eq!(current(&prefix), NEXT);
    let run = Command::new(prefix.join("current/oarn")).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&run.stdout).trim(), format!("oarn {NEXT}"));
    for exe in EXECUTABLES {
        assert!(prefix.join("current").join(exe).is_file(), "{exe}");
    }
    assert!(
        prefix.join("versions").join(CURRENT).join("oarn").is_file(),
        "the old version stays beside"
    );
    assert!(
        staged(&node).is_empty(),
        "the staged archive was removed: {:?}",
        staged(&node)
    );

    // Rolling back with the old binary makes it current again.
    let back = node.json(&["update", "rollback", "--json"]);
    assert_eq!(back["to"], CURRENT, "{back}");
    assert_eq!(current(&prefix), CURRENT);
    let version = Command::new(prefix.join("current/oarn"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&version.stdout).contains(CURRENT));
}

#[test]
fn a_running_node_fetches_the_archive_by_its_signed_cid_and_the_mirror_serves_none() {
    let repo = rt().block_on(Repository::new());
    let (mut node, prefix) = installed(&repo);
    node.start();
    // The archive in the node's IPFS store, as its peers would serve it; the release list
    // names its CID.
    let published = repo.archive();
    let added = node.json(&["ipfs", "add", &published.display().to_string(), "--json"]);
    let cid = added["cid"].as_str().expect("a CID").to_owned();
    let [ada, _, chen] = &repo.maintainers;
    rt().block_on(repo.publish_with_cid(&repo.root(), &[ada, chen], 2, &cid));

    let out = node.oarn(&["update", "apply", "--yes", "--json"]);
    assert!(out.status.success(), "{}", said(&out));
    let applied: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(applied["from"], "ipfs", "{applied}");
    assert_eq!(applied["offer"]["cid"], cid.as_str());
    assert_eq!(current(&prefix), NEXT);
    assert!(
        !repo.archive_asked(),
        "the mirror served no archive: {:?}",
        repo.server.asked()
    );
    assert!(staged(&node).is_empty(), "{:?}", staged(&node));
    node.stop();
}

#[test]
fn an_archive_from_ipfs_that_is_not_what_was_signed_is_refused() {
    let repo = rt().block_on(Repository::new());
    let (mut node, prefix) = installed(&repo);
    node.start();
    // The signed CID names other bytes than the signed sha256 (a maintainer's slip, or a CID
    // whose blocks are something else): IPFS delivers them intact, the hash refuses them.
    let other = repo.dir.path().join("other.tar.gz");
    std::fs::write(&other, oarn_tests::noise(4096)).unwrap();
    let added = node.json(&["ipfs", "add", &other.display().to_string(), "--json"]);
    let cid = added["cid"].as_str().expect("a CID").to_owned();
    let [ada, _, chen] = &repo.maintainers;
    rt().block_on(repo.publish_with_cid(&repo.root(), &[ada, chen], 2, &cid));

    refused_after_download(&node, &prefix, "not the sha256 the maintainers signed");
    node.stop();
}

/// `oarn update apply --yes` must be refused (exit 20) saying `says`, with nothing installed,
/// switched or left staged.
fn refused_after_download(node: &Node, prefix: &Path, says: &str) {
    let out = node.oarn(&["update", "apply", "--yes"]);
    let text = said(&out);
    assert_eq!(out.status.code(), Some(20), "{text}");
    assert!(text.contains(says), "{text}");
    assert_eq!(current(prefix), CURRENT);
    assert!(!prefix.join("versions").join(NEXT).exists());
    assert!(staged(node).is_empty(), "nothing of it kept: {:?}", staged(node));
}

#[test]
fn a_tampered_archive_is_refused_and_nothing_changes() {
    let repo = rt().block_on(Repository::new());
    let (node, prefix) = installed(&repo);
    repo.tamper();

    refused_after_download(&node, &prefix, "does not match its signed length and sha256");
}

#[test]
fn a_release_list_signed_by_one_maintainer_is_refused() {
    let repo = rt().block_on(Repository::new());
    let (node, prefix) = installed(&repo);
    // One maintainer's key signs under a root of their own that asks for one signature.
    let lenient = repo.dir.path().join("lenient-root.json");
    let m: Vec<&Key> = repo.maintainers.iter().collect();
    rt().block_on(async {
        publish::root(&m, 1, &repo.online, in_a_year(), &lenient).await.unwrap();
        repo.publish(&lenient, &[&repo.maintainers[1]], 1).await;
    });

    for args in [&["update", "check"][..], &["update", "apply", "--yes"]] {
        refused_before_download(&node, &prefix, &repo, args, "signed by 1 of the 2 maintainers");
    }
}

/// Runs `oarn ARGS`, which must be refused (exit 20) saying `says`, with no archive
/// downloaded and the current version unchanged.
fn refused_before_download(node: &Node, prefix: &Path, repo: &Repository, args: &[&str], says: &str) {
    let out = node.oarn(args);
    let text = said(&out);
    assert_eq!(out.status.code(), Some(20), "{args:?}: {text}");
    assert!(text.contains(says), "{text}");
    assert_eq!(current(prefix), CURRENT);
    assert!(!repo.archive_asked());
}

#[test]
fn a_mirror_replaying_older_metadata_than_the_node_trusted_is_refused() {
    let repo = rt().block_on(Repository::new());
    let (node, prefix) = installed(&repo);
    let [ada, _, chen] = &repo.maintainers;
    rt().block_on(repo.publish(&repo.root(), &[ada, chen], 2));
    let out = node.oarn(&["update", "check"]);
    assert!(out.status.success(), "{}", said(&out));
    // The mirror goes back to version 1: properly signed, but older than what was trusted.
    rt().block_on(repo.publish(&repo.root(), &[ada, chen], 1));

    refused_before_download(
        &node,
        &prefix,
        &repo,
        &["update", "apply", "--yes"],
        "older than version 2 this node trusted before",
    );
}

#[test]
fn an_oarn_outside_the_side_by_side_layout_is_not_updated_before_any_download() {
    let repo = rt().block_on(Repository::new());
    // This build's own target/ binary: a source build.
    let node = Node::new();
    configure(&node, &repo.server.url(), &repo.root());

    let out = node.oarn(&["update", "apply", "--yes"]);
    let text = said(&out);
    assert_eq!(out.status.code(), Some(20), "{text}");
    assert!(text.contains("not in an installation `oarn update` manages"), "{text}");
    assert!(
        repo.server.asked().is_empty(),
        "nothing fetched: {:?}",
        repo.server.asked()
    );
}

#[test]
fn update_without_a_configured_repository_says_what_to_set() {
    let node = Node::new();
    let out = node.oarn(&["update", "check"]);
    let text = said(&out);
    assert_eq!(out.status.code(), Some(78), "{text}");
    assert!(text.contains("update.mirror") && text.contains("update.root"), "{text}");
}

/// uid/gid of the ordinary user the unprivileged test runs as.
const NOBODY: u32 = 65534;

#[test]
fn an_ordinary_user_updates_and_rolls_back_their_own_installation() {
    use std::os::unix::fs::PermissionsExt;
    if !oarn_tests::root(&format!("switching to uid {NOBODY}")) {
        return;
    }
    let repo = rt().block_on(Repository::new());
    let dir = tempfile::Builder::new().prefix("oarn-u").tempdir_in("/tmp").unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let own = |p: &Path| nix::unistd::chown(p, Some(NOBODY.into()), Some(NOBODY.into())).unwrap();
    // The user's own installation and node home; the root file readable by them.
    let prefix = dir.path().join("prefix");
    let installed = prefix.join("versions").join(CURRENT);
    std::fs::create_dir_all(&installed).unwrap();
    link_binaries(&oarn_tests::bin_dir(), &installed);
    std::os::unix::fs::symlink(Path::new("versions").join(CURRENT), prefix.join("current")).unwrap();
    for p in [&prefix, &prefix.join("versions"), &installed] {
        own(p);
    }
    let homes = dir.path().join("homes");
    std::fs::create_dir(&homes).unwrap();
    own(&homes);
    let root = dir.path().join("root.json");
    std::fs::copy(repo.root(), &root).unwrap();
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o644)).unwrap();

    let oarn = |args: &[&str]| {
        let mut cmd = Command::new("setpriv");
        cmd.args([
            format!("--reuid={NOBODY}"),
            format!("--regid={NOBODY}"),
            "--clear-groups".into(),
        ])
        .arg(installed.join("oarn"))
        .arg("--home")
        .arg(homes.join("node"))
        .args(args)
        .env_clear()
        .env("PATH", "/usr/bin:/bin");
        let out = oarn_tests::run_limited(cmd, None, args);
        assert!(out.status.success(), "oarn {args:?}: {}", said(&out));
        out
    };
    oarn(&["init"]);
    oarn(&["config", "set", "update.mirror", &repo.server.url()]);
    oarn(&["config", "set", "update.root", &root.display().to_string()]);

    oarn(&["update", "apply", "--yes"]);
    assert_eq!(current(&prefix), NEXT);
    let new = prefix.join("versions").join(NEXT);
    assert_eq!(std::fs::metadata(&new).unwrap().uid(), NOBODY, "installed as the user");
    oarn(&["update", "rollback"]);
    assert_eq!(current(&prefix), CURRENT);
}

/// Runs the maintainers' tool, which must succeed; returns what it printed.
fn release_tool(args: &[&str]) -> String {
    let out = Command::new(oarn_tests::bin_dir().join("oarn-release"))
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "oarn-release {args:?}: {}", said(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_release_packed_and_signed_with_the_maintainers_tools_installs_and_runs() {
    let work = tempfile::tempdir().unwrap();
    let w = |p: &str| work.path().join(p).display().to_string();
    // Maintainers' keys and a 2-of-3 root, made with the tool.
    std::fs::create_dir(w("keys")).unwrap();
    for name in ["ada", "brendan", "chen", "online"] {
        let printed = release_tool(&["keygen", name, "--dir", &w("keys")]);
        assert!(printed.contains("key id"), "{printed}");
    }
    let key = |n: &str| w(&format!("keys/{n}.pk8"));
    let maintainer = |n: &str| format!("{n}={}", key(n));
    release_tool(&[
        "root",
        "--maintainer",
        &maintainer("ada"),
        "--maintainer",
        &maintainer("brendan"),
        "--maintainer",
        &maintainer("chen"),
        "--threshold",
        "2",
        "--online",
        &key("online"),
        "--out",
        &w("root.json"),
    ]);
    // This build's binaries, packed as a release of this version.
    let bins = oarn_tests::bin_dir();
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let pack = Command::new(workspace.join("scripts/release-pack"))
        .arg(&bins)
        .arg(w("dist"))
        .arg(target())
        .output()
        .unwrap();
    assert!(pack.status.success(), "release-pack: {}", said(&pack));
    let archive = String::from_utf8_lossy(&pack.stdout).trim().to_owned();
    assert!(
        archive.ends_with(&format!("oarn-{CURRENT}-{}.tar.gz", target())),
        "{archive}"
    );
    std::fs::write(w("CHANGES"), "the first signed release\n").unwrap();
    release_tool(&[
        "publish",
        "--root",
        &w("root.json"),
        "--release",
        CURRENT,
        "--archive",
        &archive,
        "--changelog",
        &w("CHANGES"),
        "--metadata-version",
        "1",
        "--sign",
        &key("ada"),
        "--sign",
        &key("chen"),
        "--online",
        &key("online"),
        "--out",
        &w("mirror"),
    ]);
    let server = Server::start(work.path().join("mirror"));

    // An installation of an older version (these same binaries, as 0.0.9) updates to it.
    let mut node = Node::new();
    configure(&node, &server.url(), &work.path().join("root.json"));
    let prefix = install_prefix(&mut node, "0.0.9");
    let out = node.oarn(&["update", "apply", "--yes", "--to", CURRENT]);
    assert!(out.status.success(), "{}", said(&out));
    assert_eq!(current(&prefix), CURRENT);

    // The unpacked release runs, workers included: its own net worker checks the repository.
    let mut installed = node;
    installed.bins = prefix.join("current");
    let report = installed.json(&["update", "check", "--json"]);
    let offer = &report["releases"][0];
    assert_eq!(offer["version"], CURRENT, "{report}");
    assert!(
        offer["cid"].as_str().unwrap().starts_with("bafy"),
        "a UnixFS DAG's CID: {report}"
    );
    assert_eq!(offer["changelog"], "the first signed release");
    assert_eq!(signed_by(&report), ["ada", "chen"]);
    let back = installed.json(&["update", "rollback", "--json"]);
    assert_eq!(back["to"], "0.0.9", "{back}");
}

/// A repository published with `oarn-release` under a 2-of-3 root (ada and chen sign, one
/// after the other), holding release NEXT (the small archive); its keys in `keys/`, its
/// server running.
struct Published {
    work: tempfile::TempDir,
    server: Server,
}

impl Published {
    fn new() -> Published {
        let work = tempfile::tempdir().unwrap();
        let p = Published {
            server: Server::start(work.path().join("mirror")),
            work,
        };
        std::fs::create_dir(p.path("keys")).unwrap();
        for name in ["ada", "brendan", "chen", "online"] {
            release_tool(&["keygen", name, "--dir", &p.path("keys")]);
        }
        let m = |n: &str| format!("{n}={}", p.key(n));
        release_tool(&[
            "root",
            "--maintainer",
            &m("ada"),
            "--maintainer",
            &m("brendan"),
            "--maintainer",
            &m("chen"),
            "--threshold",
            "2",
            "--online",
            &p.key("online"),
            "--out",
            &p.path("root.json"),
        ]);
        std::fs::create_dir(p.path("dist")).unwrap();
        let archive = p.path(&format!("dist/oarn-{NEXT}-{}.tar.gz", target()));
        std::fs::write(&archive, release_archive(p.work.path())).unwrap();
        std::fs::write(p.path("CHANGES"), "a release\n").unwrap();
        // Staged without keys (as CI does), signed by two maintainers each on their own,
        // published with the online key.
        release_tool(&[
            "stage",
            "--root",
            &p.path("root.json"),
            "--release",
            NEXT,
            "--archive",
            &archive,
            "--changelog",
            &p.path("CHANGES"),
            "--metadata-version",
            "1",
            "--out",
            &p.path("mirror"),
        ]);
        for maintainer in ["ada", "chen"] {
            release_tool(&["sign", "--key", &p.key(maintainer), "--out", &p.path("mirror")]);
        }
        release_tool(&[
            "finish",
            "--root",
            &p.path("root.json"),
            "--online",
            &p.key("online"),
            "--out",
            &p.path("mirror"),
        ]);
        p
    }

    fn path(&self, p: &str) -> String {
        self.work.path().join(p).display().to_string()
    }

    fn key(&self, name: &str) -> String {
        self.path(&format!("keys/{name}.pk8"))
    }

    /// The release's directory for install.sh on the mirror.
    fn release_dir(&self) -> PathBuf {
        self.work.path().join("mirror/releases").join(NEXT)
    }

    /// What install.sh should trust for this repository, as a file.
    fn keys_file(&self) -> String {
        let keys = release_tool(&["install-keys", "--root", &self.path("root.json")]);
        let file = self.path("install-keys");
        std::fs::write(&file, keys).unwrap();
        file
    }
}

/// Runs `sh SCRIPT ARGS` (dash on Debian: POSIX sh) for a user whose home is `home`.
fn install_sh(script: &Path, home: &Path, args: &[&str]) -> Output {
    install_sh_with_path(script, home, args, "/usr/bin:/bin")
}

fn install_sh_with_path(script: &Path, home: &Path, args: &[&str], path: &str) -> Output {
    Command::new("/bin/sh")
        .arg(script)
        .args(args)
        .env_clear()
        .env("PATH", path)
        .env("HOME", home)
        .output()
        .unwrap()
}

/// A PATH directory holding only what install.sh may use, with wget and without curl.
fn path_without_curl(dir: &Path) -> PathBuf {
    let bin = dir.join("bin-without-curl");
    std::fs::create_dir_all(&bin).unwrap();
    for tool in [
        "wget",
        "openssl",
        "sha256sum",
        "tar",
        "gzip",
        "sed",
        "head",
        "grep",
        "cut",
        "mkdir",
        "rm",
        "mv",
        "ln",
        "cp",
        "readlink",
        "cat",
        "mktemp",
        "uname",
    ] {
        let found = ["/usr/bin", "/bin"]
            .iter()
            .map(|d| Path::new(d).join(tool))
            .find(|p| p.exists())
            .unwrap_or_else(|| panic!("{tool} is not installed (scripts/deps --test installs it)"));
        let _ = std::os::unix::fs::symlink(found, bin.join(tool));
    }
    bin
}

fn install_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("scripts/install.sh")
}

#[test]
fn install_sh_installs_a_release_signed_by_enough_maintainers_side_by_side() {
    let p = Published::new();
    // The script as a release publishes it: the maintainers' keys written into it.
    let script = release_tool(&[
        "install-script",
        "--root",
        &p.path("root.json"),
        "--script",
        &install_script().display().to_string(),
    ]);
    let script_path = p.work.path().join("install.sh");
    std::fs::write(&script_path, script).unwrap();
    let home = p.work.path().join("home");
    std::fs::create_dir(&home).unwrap();

    let out = install_sh(&script_path, &home, &["--mirror", &p.server.url()]);
    let text = said(&out);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("signed by ada chen (2 of 2 needed)"), "{text}");
    assert!(text.contains("oarn init"), "it says what to do next: {text}");
    let prefix = home.join(".local/share/oarn");
    assert_eq!(current(&prefix), NEXT);
    let run = Command::new(home.join(".local/bin/oarn")).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&run.stdout).trim(), format!("oarn {NEXT}"));
    assert_eq!(
        std::fs::read(prefix.join("root.json")).unwrap(),
        std::fs::read(p.path("root.json")).unwrap(),
        "the root for `oarn update` is kept"
    );
    // What it installed is a layout `oarn update` manages.
    let layout = prefix.join("versions").join(NEXT);
    for exe in EXECUTABLES {
        assert!(layout.join(exe).is_file(), "{exe}");
    }
}

/// Runs the install.sh template trusting the keys in `keys`, into HOME/prefix, with `path` as
/// PATH; returns what it did and the prefix.
fn install_trusting(p: &Published, home: &Path, keys: &str, path: &str) -> (Output, PathBuf) {
    let prefix = home.join("prefix");
    let args = [
        "--mirror",
        &p.server.url(),
        "--keys",
        keys,
        "--prefix",
        &prefix.display().to_string(),
    ];
    (install_sh_with_path(&install_script(), home, &args, path), prefix)
}

/// What install.sh says and leaves when it refuses; the prefix must hold no version.
fn refused_install(p: &Published, keys: &str) -> String {
    let home = p.work.path().join("home-refused");
    std::fs::create_dir_all(&home).unwrap();
    let (out, prefix) = install_trusting(p, &home, keys, "/usr/bin:/bin");
    let text = said(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(!prefix.join("current").exists(), "nothing installed: {text}");
    assert!(!home.join(".local/bin/oarn").exists(), "nothing linked: {text}");
    text
}

#[test]
fn install_sh_fetches_with_wget_where_there_is_no_curl() {
    let p = Published::new();
    let home = p.work.path().join("home-wget");
    std::fs::create_dir(&home).unwrap();
    let bin = path_without_curl(p.work.path());
    let (out, prefix) = install_trusting(&p, &home, &p.keys_file(), &bin.display().to_string());
    assert!(out.status.success(), "{}", said(&out));
    assert_eq!(current(&prefix), NEXT);
    assert!(
        p.server.asked().iter().any(|a| a.ends_with("SHA256SUMS.sig")),
        "{:?}",
        p.server.asked()
    );
}

#[test]
fn install_sh_refuses_signatures_by_keys_it_does_not_trust() {
    let p = Published::new();
    let other = Published::new();
    let text = refused_install(&p, &other.keys_file());
    assert!(text.contains("signed by 0 of the 2 maintainers it needs"), "{text}");
}

#[test]
fn install_sh_refuses_a_release_one_signature_short() {
    let p = Published::new();
    let sig = p.release_dir().join("SHA256SUMS.sig");
    let first = std::fs::read_to_string(&sig)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_owned();
    std::fs::write(&sig, format!("{first}\n")).unwrap();
    let text = refused_install(&p, &p.keys_file());
    assert!(text.contains("signed by 1 of the 2 maintainers it needs"), "{text}");
}

#[test]
fn install_sh_refuses_an_archive_that_is_not_what_was_signed() {
    let p = Published::new();
    let archive = p.release_dir().join(format!("oarn-{NEXT}-{}.tar.gz", target()));
    let mut bytes = std::fs::read(&archive).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&archive, bytes).unwrap();
    let text = refused_install(&p, &p.keys_file());
    assert!(text.contains("not the signed"), "{text}");
}
