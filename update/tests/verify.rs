//! Release verification against real TUF repositories, built here with tough's editor the way
//! maintainers will sign releases: the release list (targets) needs 2 of 3 maintainers' keys,
//! the snapshot and timestamp roles an online key. Each refusal `oarn update` promises is one
//! test: a list one signature short, expired metadata, a rollback to older metadata, an
//! artefact that is not what was signed, and a release whose name and signed metadata differ.

use std::path::{Path, PathBuf};

use oarn_update::publish::{self, Artefact, Key, Publication};
use oarn_update::{Error, Mirror, Trust, check, fetch};
use sha2::{Digest, Sha256};
use tough::FilesystemTransport;

/// Three maintainers and the online key, in a directory of their own.
struct Keys {
    _dir: tempfile::TempDir,
    maintainers: [Key; 3],
    online: Key,
}

fn keys() -> Keys {
    let dir = tempfile::tempdir().unwrap();
    let maintainers = ["ada", "brendan", "chen"].map(|n| Key::generate(dir.path(), n).unwrap());
    let online = Key::generate(dir.path(), "online").unwrap();
    Keys {
        _dir: dir,
        maintainers,
        online,
    }
}

fn in_a_year() -> jiff::Timestamp {
    jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24 * 365)
}

/// A root naming the maintainers, requiring `threshold` of them, written to `path`.
async fn root(keys: &Keys, threshold: u64, path: &Path) {
    let m: Vec<&Key> = keys.maintainers.iter().collect();
    publish::root(&m, threshold, &keys.online, in_a_year(), path)
        .await
        .unwrap();
}

fn artefact(version: &str) -> Artefact {
    Artefact::release(
        version,
        "x86_64-unknown-linux-gnu",
        format!("the oarn {version} release archive").into_bytes(),
        "bafkreiexample",
        &format!("what {version} changes"),
    )
}

/// A mirror directory with `metadata/` and `targets/`.
struct Repo {
    dir: tempfile::TempDir,
}

impl Repo {
    fn mirror(&self) -> Mirror {
        let url = |sub: &str| url::Url::from_directory_path(self.dir.path().join(sub)).unwrap();
        Mirror {
            metadata: url("metadata"),
            targets: url("targets"),
        }
    }
}

/// Publishes `artefacts` under the root at `root_path`, every role at `version`, the
/// timestamp expiring at `expires`, signed with `signers` and the online key.
async fn publish(
    root_path: &Path,
    signers: &[&Key],
    online: &Key,
    artefacts: &[Artefact],
    version: u64,
    expires: jiff::Timestamp,
) -> Repo {
    let dir = tempfile::tempdir().unwrap();
    let p = Publication {
        root: root_path,
        signers,
        online,
        version,
        expires,
    };
    publish::publish(&p, artefacts, dir.path()).await.unwrap();
    Repo { dir }
}

/// The trusted root (2 of 3) and an empty state directory.
struct Node {
    dir: tempfile::TempDir,
}

impl Node {
    async fn new(keys: &Keys) -> Node {
        let dir = tempfile::tempdir().unwrap();
        root(keys, 2, &dir.path().join("root.json")).await;
        Node { dir }
    }

    fn trust(&self) -> Trust {
        Trust::read(&self.root(), self.dir.path().join("state")).unwrap()
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("root.json")
    }
}

/// Publishes under the node's root, signed by two of the three maintainers and the online key.
async fn publish_two_of_three(
    keys: &Keys,
    node: &Node,
    artefacts: &[Artefact],
    version: u64,
    expires: jiff::Timestamp,
) -> Repo {
    let [ada, brendan, _] = &keys.maintainers;
    publish(&node.root(), &[ada, brendan], &keys.online, artefacts, version, expires).await
}

/// What the node refuses `repo` with.
async fn refused(node: &Node, repo: &Repo) -> Error {
    check(&node.trust(), &repo.mirror(), FilesystemTransport)
        .await
        .expect_err("refused")
}

#[tokio::test]
async fn the_newest_release_signed_by_enough_maintainers_is_offered_and_fetched_intact() {
    let keys = keys();
    let node = Node::new(&keys).await;
    let [ada, _, chen] = &keys.maintainers;
    let repo = publish(
        &node.root(),
        &[ada, chen],
        &keys.online,
        &[artefact("0.1.0"), artefact("0.2.0")],
        1,
        in_a_year(),
    )
    .await;

    let checked = check(&node.trust(), &repo.mirror(), FilesystemTransport).await.unwrap();
    let versions: Vec<String> = checked.releases.iter().map(|r| r.version.to_string()).collect();
    assert_eq!(versions, ["0.2.0", "0.1.0"], "newest first");
    let newest = &checked.releases[0];
    assert_eq!(newest.target, "x86_64-unknown-linux-gnu");
    assert_eq!(newest.cid.as_deref(), Some("bafkreiexample"));
    assert_eq!(newest.changelog, "what 0.2.0 changes");
    let current = semver::Version::new(0, 1, 0);
    assert_eq!(
        oarn_update::release::newer(&checked.releases, "x86_64-unknown-linux-gnu", &current),
        Some(newest)
    );
    assert_eq!(
        oarn_update::release::newer(&checked.releases, "aarch64-unknown-linux-gnu", &current),
        None
    );

    let s = &checked.signing;
    assert_eq!((s.threshold, s.keys), (2, 3));
    let mut signers: Vec<&str> = s.signers.iter().filter_map(|k| k.name.as_deref()).collect();
    signers.sort_unstable();
    assert_eq!(
        signers,
        ["ada", "chen"],
        "the maintainers whose signatures verify, by name"
    );

    let out = tempfile::tempdir().unwrap();
    let path = fetch(&checked, newest, out.path()).await.unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(bytes, b"the oarn 0.2.0 release archive");
    assert_eq!(<[u8; 32]>::from(Sha256::digest(&bytes)), newest.sha256);
    assert_eq!(path.file_name().unwrap(), newest.name.as_str());
}

#[tokio::test]
async fn a_release_list_signed_one_maintainer_short_of_the_threshold_is_refused() {
    let keys = keys();
    let node = Node::new(&keys).await;
    // Whoever holds one maintainer's key signs a list under a root that asks for one
    // signature; the node trusts the real root, which asks for two.
    let lenient = node.dir.path().join("lenient-root.json");
    root(&keys, 1, &lenient).await;
    let repo = publish(
        &lenient,
        &[&keys.maintainers[1]],
        &keys.online,
        &[artefact("9.9.9")],
        1,
        in_a_year(),
    )
    .await;

    let refused = refused(&node, &repo).await;
    assert!(
        matches!(&refused, Error::Threshold { role, threshold: 2, valid: 1 } if role == "targets"),
        "{refused}"
    );
    assert!(
        refused.to_string().contains("signed by 1 of the 2 maintainers"),
        "{refused}"
    );
}

#[tokio::test]
async fn expired_metadata_is_refused() {
    let keys = keys();
    let node = Node::new(&keys).await;
    let yesterday = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(24);
    let repo = publish_two_of_three(&keys, &node, &[artefact("0.2.0")], 1, yesterday).await;

    let refused = refused(&node, &repo).await;
    assert!(
        matches!(&refused, Error::Expired { role } if role == "timestamp"),
        "{refused}"
    );
}

#[tokio::test]
async fn metadata_older_than_what_was_trusted_before_is_refused_as_a_rollback() {
    let keys = keys();
    let node = Node::new(&keys).await;
    let new = publish_two_of_three(&keys, &node, &[artefact("0.3.0")], 2, in_a_year()).await;
    let old = publish_two_of_three(&keys, &node, &[artefact("0.2.0")], 1, in_a_year()).await;

    check(&node.trust(), &new.mirror(), FilesystemTransport).await.unwrap();
    // The old metadata verifies on its own (a fresh node accepts it)...
    let fresh = Node::new(&keys).await;
    std::fs::copy(node.root(), fresh.root()).unwrap();
    check(&fresh.trust(), &old.mirror(), FilesystemTransport).await.unwrap();
    // ...but not on the node that saw version 2.
    let refused = refused(&node, &old).await;
    assert!(
        matches!(
            &refused,
            Error::Rollback {
                trusted: 2,
                offered: 1,
                ..
            }
        ),
        "{refused}"
    );
}

#[tokio::test]
async fn a_tampered_artefact_is_refused_and_nothing_of_it_is_kept() {
    let keys = keys();
    let node = Node::new(&keys).await;
    let repo = publish_two_of_three(&keys, &node, &[artefact("0.2.0")], 1, in_a_year()).await;
    let checked = check(&node.trust(), &repo.mirror(), FilesystemTransport).await.unwrap();

    // The mirror now serves other bytes of the same length.
    for file in std::fs::read_dir(repo.dir.path().join("targets")).unwrap() {
        let path = file.unwrap().path();
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[0] ^= 1;
        std::fs::write(&path, bytes).unwrap();
    }
    let out = tempfile::tempdir().unwrap();
    let refused = fetch(&checked, &checked.releases[0], out.path())
        .await
        .expect_err("refused");
    assert!(matches!(refused, Error::Tampered { .. }), "{refused}");
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0, "nothing kept");
}

#[tokio::test]
async fn a_release_whose_name_and_signed_version_disagree_is_refused() {
    let keys = keys();
    let node = Node::new(&keys).await;
    let mut mislabelled = artefact("0.2.0");
    mislabelled.custom[0].1 = "0.3.0".into();
    let repo = publish_two_of_three(&keys, &node, &[mislabelled], 1, in_a_year()).await;

    let refused = refused(&node, &repo).await;
    assert!(
        matches!(&refused, Error::Malformed { reason, .. } if reason.contains("0.3.0")),
        "{refused}"
    );
}

#[tokio::test]
async fn maintainers_sign_the_staged_list_one_at_a_time_and_it_publishes_only_at_the_threshold() {
    let keys = keys();
    let node = Node::new(&keys).await;
    let out = tempfile::tempdir().unwrap();
    let [ada, _, chen] = &keys.maintainers;
    publish::stage(&[artefact("0.2.0")], 1, out.path()).await.unwrap();
    // Each maintainer signs on their own; signing twice counts once.
    publish::sign(ada, out.path()).await.unwrap();
    publish::sign(ada, out.path()).await.unwrap();
    let short = publish::finish(&node.root(), &keys.online, in_a_year(), out.path())
        .await
        .expect_err("one signature of two");
    assert!(short.to_string().contains("cannot be published yet"), "{short}");
    assert!(
        !out.path().join("metadata/timestamp.json").exists(),
        "nothing published"
    );

    publish::sign(chen, out.path()).await.unwrap();
    publish::finish(&node.root(), &keys.online, in_a_year(), out.path())
        .await
        .unwrap();
    let repo = Repo { dir: out };
    let checked = check(&node.trust(), &repo.mirror(), FilesystemTransport).await.unwrap();
    let mut signers: Vec<&str> = checked
        .signing
        .signers
        .iter()
        .filter_map(|k| k.name.as_deref())
        .collect();
    signers.sort_unstable();
    assert_eq!(signers, ["ada", "chen"]);
}
