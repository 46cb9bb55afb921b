//! Release verification against real TUF repositories, built here with tough's editor the way
//! maintainers will sign releases: the release list (targets) needs 2 of 3 maintainers' keys,
//! the snapshot and timestamp roles an online key. Each refusal `oarn update` promises is one
//! test: a list one signature short, expired metadata, a rollback to older metadata, an
//! artefact that is not what was signed, and a release whose name and signed metadata differ.

use std::num::NonZeroU64;
use std::path::{Path, PathBuf};

use oarn_update::{Error, Mirror, Trust, check, fetch};
use sha2::{Digest, Sha256};
use tough::FilesystemTransport;
use tough::editor::RepositoryEditor;
use tough::editor::signed::{PathExists, SignedRole};
use tough::key_source::{KeySource, LocalKeySource};
use tough::schema::{KeyHolder, RoleKeys, RoleType, Root};
use tough::sign::Sign;

/// A signing key and where its PKCS#8 file is.
struct Key {
    name: &'static str,
    file: PathBuf,
    public: tough::schema::key::Key,
}

impl Key {
    fn new(dir: &Path, name: &'static str) -> Key {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pkcs8 = aws_lc_rs::signature::Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let file = dir.join(format!("{name}.pk8"));
        std::fs::write(&file, pkcs8.as_ref()).unwrap();
        let public = tough::sign::parse_keypair(pkcs8.as_ref()).unwrap().tuf_key();
        Key { name, file, public }
    }

    fn id(&self) -> tough::schema::decoded::Decoded<tough::schema::decoded::Hex> {
        self.public.key_id().unwrap()
    }

    fn source(&self) -> Box<dyn KeySource> {
        Box::new(LocalKeySource {
            path: self.file.clone(),
        })
    }
}

/// Three maintainers and the online key, in a directory of their own.
struct Keys {
    _dir: tempfile::TempDir,
    maintainers: [Key; 3],
    online: Key,
}

fn keys() -> Keys {
    let dir = tempfile::tempdir().unwrap();
    let maintainers = ["ada", "brendan", "chen"].map(|n| Key::new(dir.path(), n));
    let online = Key::new(dir.path(), "online");
    Keys {
        _dir: dir,
        maintainers,
        online,
    }
}

fn in_a_year() -> jiff::Timestamp {
    jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24 * 365)
}

/// A root naming the maintainers (by name too), requiring `threshold` of them for the root and
/// the release list, signed by all of them; written to `path`.
async fn root(keys: &Keys, threshold: u64, path: &Path) {
    let mut root = Root {
        spec_version: "1.0.0".into(),
        consistent_snapshot: true,
        version: NonZeroU64::MIN,
        expires: in_a_year(),
        keys: Default::default(),
        roles: Default::default(),
        _extra: Default::default(),
    };
    let role = |ks: &[&Key], threshold: u64| RoleKeys {
        keyids: ks.iter().map(|k| k.id()).collect(),
        threshold: NonZeroU64::new(threshold).unwrap(),
        _extra: Default::default(),
    };
    let m: Vec<&Key> = keys.maintainers.iter().collect();
    for k in m.iter().copied().chain([&keys.online]) {
        root.keys.insert(k.id(), k.public.clone());
    }
    root.roles.insert(RoleType::Root, role(&m, threshold));
    root.roles.insert(RoleType::Targets, role(&m, threshold));
    root.roles.insert(RoleType::Snapshot, role(&[&keys.online], 1));
    root.roles.insert(RoleType::Timestamp, role(&[&keys.online], 1));
    let names: serde_json::Map<String, serde_json::Value> =
        m.iter().map(|k| (hex::encode(k.id()), k.name.into())).collect();
    root._extra.insert("oarn_maintainers".into(), names.into());
    let sources: Vec<Box<dyn KeySource>> = m.iter().map(|k| k.source()).collect();
    let holder = KeyHolder::Root(root.clone());
    let signed = SignedRole::new(root, &holder, &sources, &aws_lc_rs::rand::SystemRandom::new())
        .await
        .unwrap();
    std::fs::write(path, signed.buffer()).unwrap();
}

/// One artefact to publish: its name, bytes and signed custom fields.
struct Artefact {
    name: &'static str,
    bytes: Vec<u8>,
    version: &'static str,
    target: &'static str,
}

fn artefact(version: &'static str) -> Artefact {
    let name: &'static str = Box::leak(format!("oarn-{version}-x86_64-unknown-linux-gnu.tar.gz").into_boxed_str());
    Artefact {
        name,
        bytes: format!("the oarn {version} release archive").into_bytes(),
        version,
        target: "x86_64-unknown-linux-gnu",
    }
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
    let staged = dir.path().join("staged");
    std::fs::create_dir_all(&staged).unwrap();
    let v = NonZeroU64::new(version).unwrap();
    let mut editor = RepositoryEditor::new(root_path).await.unwrap();
    editor
        .targets_version(v)
        .unwrap()
        .targets_expires(in_a_year())
        .unwrap()
        .snapshot_version(v)
        .snapshot_expires(in_a_year())
        .timestamp_version(v)
        .timestamp_expires(expires);
    for a in artefacts {
        let path = staged.join(a.name);
        std::fs::write(&path, &a.bytes).unwrap();
        let (name, mut target) = RepositoryEditor::build_target(&path).await.unwrap();
        target.custom.insert("version".into(), a.version.into());
        target.custom.insert("target".into(), a.target.into());
        target.custom.insert("cid".into(), "bafkreiexample".into());
        target
            .custom
            .insert("changelog".into(), format!("what {} changes", a.version).into());
        editor.add_target(name, target).unwrap();
    }
    let mut sources: Vec<Box<dyn KeySource>> = signers.iter().map(|k| k.source()).collect();
    sources.push(online.source());
    let signed = editor.sign(&sources).await.unwrap();
    signed.write(dir.path().join("metadata")).await.unwrap();
    signed
        .copy_targets(&staged, dir.path().join("targets"), PathExists::Fail)
        .await
        .unwrap();
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
        Trust {
            root: self.dir.path().join("root.json"),
            state: self.dir.path().join("state"),
        }
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
    mislabelled.version = "0.3.0";
    let repo = publish_two_of_three(&keys, &node, &[mislabelled], 1, in_a_year()).await;

    let refused = refused(&node, &repo).await;
    assert!(
        matches!(&refused, Error::Malformed { reason, .. } if reason.contains("0.3.0")),
        "{refused}"
    );
}
