//! The maintainers' side of a release repository (feature `publish`): generating keys, signing
//! a root that names the maintainers and how many of them each role needs, and publishing
//! release archives signed by some of them. The release tests build real repositories with it,
//! the same way maintainers sign releases; signing itself is tough's editor.

use std::num::NonZeroU64;
use std::path::{Path, PathBuf};

use tough::editor::RepositoryEditor;
use tough::editor::signed::SignedRole;
use tough::key_source::{KeySource, LocalKeySource};
use tough::schema::decoded::{Decoded, Hex};
use tough::schema::{
    Hashes, KeyHolder, Metafile, RoleKeys, RoleType, Root, Signature, Signed, Snapshot, Targets, Timestamp,
};
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

/// Publishes `artefacts` into `out` (`out/metadata/`, `out/targets/`), as a mirror serves them:
/// [`stage`], [`sign`] by each signer, [`finish`].
pub async fn publish(p: &Publication<'_>, artefacts: &[Artefact], out: &Path) -> Result<(), Error> {
    stage(artefacts, p.version, out).await?;
    for k in p.signers {
        sign(k, out).await?;
    }
    finish(p.root, p.online, p.expires, out).await
}

/// Where the release list waits for signatures.
fn staged(out: &Path) -> PathBuf {
    out.join("staged")
}

fn staged_targets(out: &Path) -> PathBuf {
    staged(out).join("targets.json")
}

/// A year from now: when the release list and snapshot expire.
fn in_a_year() -> jiff::Timestamp {
    jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24 * 365)
}

/// Stages a release list of `artefacts` at metadata `version` in `out/staged/`, unsigned: what
/// each maintainer then signs on their own machine ([`sign`]) before [`finish`] publishes it.
pub async fn stage(artefacts: &[Artefact], version: u64, out: &Path) -> Result<(), Error> {
    let dir = staged(out);
    std::fs::create_dir_all(&dir).map_err(err)?;
    let v = NonZeroU64::new(version).ok_or_else(|| err("version 0"))?;
    let mut targets = Targets::new("1.0.0".into(), v, in_a_year());
    for a in artefacts {
        let path = dir.join(&a.name);
        std::fs::write(&path, &a.bytes).map_err(err)?;
        let (name, mut target) = RepositoryEditor::build_target(&path).await.map_err(err)?;
        for (k, v) in &a.custom {
            target.custom.insert((*k).into(), v.clone().into());
        }
        targets.targets.insert(name, target);
    }
    write_json(
        &staged_targets(out),
        &Signed {
            signed: targets,
            signatures: Vec::new(),
        },
    )
}

/// Adds `key`'s signature to the staged release list in `out` (once per key).
pub async fn sign(key: &Key, out: &Path) -> Result<(), Error> {
    let path = staged_targets(out);
    let mut targets: Signed<Targets> = read_json(&path)?;
    let keyid = key.id()?;
    if targets.signatures.iter().any(|s| s.keyid == keyid) {
        return Ok(());
    }
    let pkcs8 = std::fs::read(&key.file).map_err(|e| Error(format!("{}: {e}", key.file.display())))?;
    let pair = tough::sign::parse_keypair(&pkcs8).map_err(err)?;
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let sig = pair.sign(&canonical(&targets.signed)?, &rng).await.map_err(err)?;
    targets.signatures.push(Signature { keyid, sig: sig.into() });
    write_json(&path, &targets)
}

/// Publishes the staged release list once enough maintainers signed it for the root at
/// `root_path`: the list, a snapshot and a timestamp (expiring at `expires`) signed by
/// `online`, the root, and the archives under their consistent-snapshot names.
pub async fn finish(root_path: &Path, online: &Key, expires: jiff::Timestamp, out: &Path) -> Result<(), Error> {
    let root_bytes = std::fs::read(root_path).map_err(|e| Error(format!("{}: {e}", root_path.display())))?;
    let root: Signed<Root> = serde_json::from_slice(&root_bytes).map_err(err)?;
    let targets: Signed<Targets> = read_json(&staged_targets(out))?;
    // The same check a node makes: a list one signature short is not published.
    root.signed
        .verify_role(&targets)
        .map_err(|e| Error(format!("the release list cannot be published yet: {e}")))?;
    let v = targets.signed.version;
    let metadata = out.join("metadata");
    let files = out.join("targets");
    std::fs::create_dir_all(&metadata).map_err(err)?;
    std::fs::create_dir_all(&files).map_err(err)?;
    std::fs::write(metadata.join(format!("{}.root.json", root.signed.version)), &root_bytes).map_err(err)?;
    let targets_bytes = pretty(&targets)?;
    std::fs::write(metadata.join(format!("{v}.targets.json")), &targets_bytes).map_err(err)?;
    for (name, target) in &targets.signed.targets {
        let staged_file = staged(out).join(name.raw());
        let published = format!("{}.{}", hex::encode(&target.hashes.sha256), name.raw());
        std::fs::copy(&staged_file, files.join(published)).map_err(err)?;
    }
    let holder = KeyHolder::Root(root.signed.clone());
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let mut snapshot = Snapshot::new("1.0.0".into(), v, in_a_year());
    snapshot.meta.insert("targets.json".into(), metafile(&targets_bytes, v));
    let snapshot = SignedRole::new(snapshot, &holder, &[online.source()], &rng)
        .await
        .map_err(err)?;
    std::fs::write(metadata.join(format!("{v}.snapshot.json")), snapshot.buffer()).map_err(err)?;
    let mut timestamp = Timestamp::new("1.0.0".into(), v, expires);
    timestamp
        .meta
        .insert("snapshot.json".into(), metafile(snapshot.buffer(), v));
    let timestamp = SignedRole::new(timestamp, &holder, &[online.source()], &rng)
        .await
        .map_err(err)?;
    std::fs::write(metadata.join("timestamp.json"), timestamp.buffer()).map_err(err)?;
    std::fs::remove_dir_all(staged(out)).map_err(err)
}

/// What the snapshot or timestamp says of a metadata file.
fn metafile(bytes: &[u8], version: NonZeroU64) -> Metafile {
    use sha2::Digest as _;
    Metafile {
        length: Some(bytes.len() as u64),
        hashes: Some(Hashes {
            sha256: sha2::Sha256::digest(bytes).to_vec().into(),
            _extra: Default::default(),
        }),
        version,
        _extra: Default::default(),
    }
}

/// The canonical JSON (OLPC) that TUF signatures cover, as tough verifies them.
fn canonical(value: &impl serde::Serialize) -> Result<Vec<u8>, Error> {
    let mut data = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut data, olpc_cjson::CanonicalFormatter::new());
    value.serialize(&mut ser).map_err(err)?;
    Ok(data)
}

/// A metadata file as tough writes one: pretty JSON and a final newline.
fn pretty(value: &impl serde::Serialize) -> Result<Vec<u8>, Error> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(err)?;
    bytes.push(b'\n');
    Ok(bytes)
}

fn write_json(path: &Path, value: &impl serde::Serialize) -> Result<(), Error> {
    std::fs::write(path, pretty(value)?).map_err(|e| Error(format!("{}: {e}", path.display())))
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, Error> {
    let bytes = std::fs::read(path).map_err(|e| Error(format!("{}: {e} (stage the release first)", path.display())))?;
    serde_json::from_slice(&bytes).map_err(|e| Error(format!("{}: {e}", path.display())))
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
