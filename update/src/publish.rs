//! The maintainers' side of a release repository (feature `publish`): generating keys, signing
//! a root that names the maintainers and how many of them each role needs, and publishing
//! release archives signed by some of them. The release tests build real repositories with it,
//! the same way maintainers sign releases; signing itself is tough's editor.

use std::num::NonZeroU64;
use std::path::{Path, PathBuf};

use tough::editor::RepositoryEditor;
use tough::editor::signed::{PathExists, SignedRole};
use tough::key_source::{KeySource, LocalKeySource};
use tough::schema::decoded::{Decoded, Hex};
use tough::schema::{KeyHolder, RoleKeys, RoleType, Root};
use tough::sign::Sign;

use crate::check::MAINTAINERS;

/// Why publishing failed, in tough's or the file system's words.
#[derive(Debug, thiserror::Error)]
#[error("publishing the release repository failed: {0}")]
pub struct Error(String);

fn err(e: impl std::fmt::Display) -> Error {
    Error(e.to_string())
}

/// One signing key, kept as a PKCS#8 file (as a maintainer keeps it offline). Its Debug shows
/// the name, the file's path and the public key only.
#[derive(Debug)]
pub struct Key {
    pub name: String,
    file: PathBuf,
    public: tough::schema::key::Key,
}

impl Key {
    /// A new Ed25519 key named `name`, its private half written to `dir/NAME.pk8`.
    pub fn generate(dir: &Path, name: &str) -> Result<Key, Error> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pkcs8 = aws_lc_rs::signature::Ed25519KeyPair::generate_pkcs8(&rng).map_err(err)?;
        let file = dir.join(format!("{name}.pk8"));
        write_private(&file, pkcs8.as_ref())?;
        let public = tough::sign::parse_keypair(pkcs8.as_ref()).map_err(err)?.tuf_key();
        Ok(Key {
            name: name.into(),
            file,
            public,
        })
    }

    /// The key kept in the PKCS#8 file at `file`, named `name`.
    pub fn load(file: &Path, name: &str) -> Result<Key, Error> {
        let pkcs8 = std::fs::read(file).map_err(|e| Error(format!("{}: {e}", file.display())))?;
        let public = tough::sign::parse_keypair(&pkcs8)
            .map_err(|e| Error(format!("{} is not a PKCS#8 signing key: {e}", file.display())))?
            .tuf_key();
        Ok(Key {
            name: name.into(),
            file: file.to_owned(),
            public,
        })
    }

    /// The TUF key id.
    pub fn id(&self) -> Result<Decoded<Hex>, Error> {
        self.public.key_id().map_err(err)
    }

    fn source(&self) -> Box<dyn KeySource> {
        Box::new(LocalKeySource {
            path: self.file.clone(),
        })
    }
}

/// Writes a private key file: mode 0600, never over an existing file.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| Error(format!("{}: {e}", path.display())))?;
    f.write_all(bytes).map_err(err)
}

/// Writes to `path` a root that requires `threshold` of `maintainers` for the root and the
/// release list (targets), and `online` alone for snapshot and timestamp; it names each
/// maintainer's key and is signed by all maintainers.
pub async fn root(
    maintainers: &[&Key],
    threshold: u64,
    online: &Key,
    expires: jiff::Timestamp,
    path: &Path,
) -> Result<(), Error> {
    let mut root = Root {
        spec_version: "1.0.0".into(),
        consistent_snapshot: true,
        version: NonZeroU64::MIN,
        expires,
        keys: Default::default(),
        roles: Default::default(),
        _extra: Default::default(),
    };
    let threshold = NonZeroU64::new(threshold).ok_or_else(|| err("a threshold of 0"))?;
    let role = |ks: &[&Key], threshold: NonZeroU64| -> Result<RoleKeys, Error> {
        Ok(RoleKeys {
            keyids: ks.iter().map(|k| k.id()).collect::<Result<_, _>>()?,
            threshold,
            _extra: Default::default(),
        })
    };
    for k in maintainers.iter().copied().chain([online]) {
        root.keys.insert(k.id()?, k.public.clone());
    }
    root.roles.insert(RoleType::Root, role(maintainers, threshold)?);
    root.roles.insert(RoleType::Targets, role(maintainers, threshold)?);
    root.roles.insert(RoleType::Snapshot, role(&[online], NonZeroU64::MIN)?);
    root.roles
        .insert(RoleType::Timestamp, role(&[online], NonZeroU64::MIN)?);
    let mut names = serde_json::Map::new();
    for k in maintainers {
        names.insert(hex::encode(k.id()?), k.name.clone().into());
    }
    root._extra.insert(MAINTAINERS.into(), names.into());
    let sources: Vec<Box<dyn KeySource>> = maintainers.iter().map(|k| k.source()).collect();
    let holder = KeyHolder::Root(root.clone());
    let signed = SignedRole::new(root, &holder, &sources, &aws_lc_rs::rand::SystemRandom::new())
        .await
        .map_err(err)?;
    std::fs::write(path, signed.buffer()).map_err(err)
}

/// One release archive to publish.
#[derive(Debug)]
pub struct Artefact {
    /// Its name in the repository: `oarn-VERSION-TARGET.tar.gz` for a release of oarn.
    pub name: String,
    pub bytes: Vec<u8>,
    /// Signed custom fields: `version`, `target`, `cid`, `changelog` for a release of oarn.
    pub custom: Vec<(&'static str, String)>,
}

impl Artefact {
    /// A release of oarn: `version` for `target`, with its CID and changelog.
    pub fn release(version: &str, target: &str, bytes: Vec<u8>, cid: &str, changelog: &str) -> Artefact {
        Artefact {
            name: format!("oarn-{version}-{target}.tar.gz"),
            bytes,
            custom: vec![
                ("version", version.into()),
                ("target", target.into()),
                ("cid", cid.into()),
                ("changelog", changelog.into()),
            ],
        }
    }
}

/// What a publication signs.
#[derive(Debug)]
pub struct Publication<'a> {
    /// The root it publishes under.
    pub root: &'a Path,
    /// The maintainers who sign the release list.
    pub signers: &'a [&'a Key],
    /// The key of the snapshot and timestamp roles.
    pub online: &'a Key,
    /// The version of every role it writes.
    pub version: u64,
    /// When the timestamp expires (the release list and snapshot: a year from now).
    pub expires: jiff::Timestamp,
}

/// Publishes `artefacts` into `out` (`out/metadata/`, `out/targets/`), as a mirror serves them.
pub async fn publish(p: &Publication<'_>, artefacts: &[Artefact], out: &Path) -> Result<(), Error> {
    let staged = out.join("staged");
    std::fs::create_dir_all(&staged).map_err(err)?;
    let v = NonZeroU64::new(p.version).ok_or_else(|| err("version 0"))?;
    let in_a_year = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24 * 365);
    let mut editor = RepositoryEditor::new(p.root).await.map_err(err)?;
    editor
        .targets_version(v)
        .map_err(err)?
        .targets_expires(in_a_year)
        .map_err(err)?
        .snapshot_version(v)
        .snapshot_expires(in_a_year)
        .timestamp_version(v)
        .timestamp_expires(p.expires);
    for a in artefacts {
        let path = staged.join(&a.name);
        std::fs::write(&path, &a.bytes).map_err(err)?;
        let (name, mut target) = RepositoryEditor::build_target(&path).await.map_err(err)?;
        for (k, v) in &a.custom {
            target.custom.insert((*k).into(), v.clone().into());
        }
        editor.add_target(name, target).map_err(err)?;
    }
    let mut sources: Vec<Box<dyn KeySource>> = p.signers.iter().map(|k| k.source()).collect();
    sources.push(p.online.source());
    let signed = editor.sign(&sources).await.map_err(err)?;
    signed.write(out.join("metadata")).await.map_err(err)?;
    signed
        .copy_targets(&staged, out.join("targets"), PathExists::Fail)
        .await
        .map_err(err)?;
    std::fs::remove_dir_all(&staged).map_err(err)
}

/// The DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410): the raw 32-byte key follows.
const ED25519_SPKI: [u8; 12] = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];

/// Signs `sums` (a SHA256SUMS file) with each of `signers`: one line per key, `KEYID BASE64`,
/// the signature being plain Ed25519 over the file's bytes. install.sh checks these with
/// `openssl pkeyutl -verify -rawin`, a shell having no way to check TUF's canonical JSON.
pub fn sign_sums(sums: &[u8], signers: &[&Key]) -> Result<String, Error> {
    use base64::Engine as _;
    let mut out = String::new();
    for k in signers {
        let pkcs8 = std::fs::read(&k.file).map_err(|e| Error(format!("{}: {e}", k.file.display())))?;
        let pair = aws_lc_rs::signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(&pkcs8)
            .map_err(|e| Error(format!("{} is not an Ed25519 key: {e}", k.file.display())))?;
        let signature = pair.sign(sums);
        let b64 = base64::engine::general_purpose::STANDARD.encode(signature.as_ref());
        out.push_str(&format!("{} {b64}\n", hex::encode(k.id()?)));
    }
    Ok(out)
}

/// What install.sh trusts, read from a signed root: `threshold K` for the release list, then
/// `key KEYID SPKI-BASE64 NAME` for each maintainer's Ed25519 key it names.
pub fn install_keys(root: &[u8]) -> Result<String, Error> {
    use base64::Engine as _;
    let signed: tough::schema::Signed<Root> = serde_json::from_slice(root).map_err(err)?;
    let root = signed.signed;
    let role = root
        .roles
        .get(&RoleType::Targets)
        .ok_or_else(|| err("the root has no targets role"))?;
    let names = crate::check::maintainers(&root);
    let mut out = format!("threshold {}\n", role.threshold);
    for id in &role.keyids {
        let Some(tough::schema::key::Key::Ed25519 { keyval, .. }) = root.keys.get(id) else {
            return Err(err(format!("key {} is not an Ed25519 key", hex::encode(id))));
        };
        let mut der = ED25519_SPKI.to_vec();
        der.extend_from_slice(&keyval.public);
        let keyid = hex::encode(id);
        let name = names.get(&keyid).map_or("-", String::as_str);
        let b64 = base64::engine::general_purpose::STANDARD.encode(der);
        out.push_str(&format!("key {keyid} {b64} {name}\n"));
    }
    Ok(out)
}
