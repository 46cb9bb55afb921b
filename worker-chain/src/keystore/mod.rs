//! The node's own keystore file (`wallet.encrypted`): the secret (mnemonic entropy or a raw
//! private key) sealed with AES-256-GCM under a key derived from the passphrase by Argon2id.
//!
//! The file is two lines: a JSON header, then the hex ciphertext. The header's exact bytes are
//! the cipher's associated data, so changing any header field (address, kind, parameters) is
//! caught like changing the ciphertext. Argon2id yields 64 bytes: the first half is the
//! cipher key, and a hash of the second half is stored as `check`, which tells a wrong
//! passphrase apart from a damaged file without weakening either.

pub mod v3;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::secret::Secret;

/// Format name written in every header.
const FORMAT: &str = "oarn-keystore";
/// The only format version this build reads and writes.
const VERSION: u32 = 1;
/// Domain separation for the passphrase check value.
const CHECK_DOMAIN: &[u8] = b"oarn-keystore passphrase check v1\0";
/// Largest keystore file accepted (a real one is well under 1 KiB).
pub const MAX_FILE: usize = 16 * 1024;
/// Largest sealed secret (mnemonic entropy is at most 32 bytes, a key 32).
const MAX_SECRET: usize = 64;

/// What the sealed secret is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// BIP-39 mnemonic entropy (16 to 32 bytes); accounts are derived at `m/44'/60'/0'/0/i`.
    Mnemonic,
    /// A raw 32-byte secp256k1 private key.
    PrivateKey,
}

/// Argon2id parameters, stored so a file stays readable when defaults change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Kdf {
    /// Always `argon2id`.
    pub algorithm: String,
    /// Memory in KiB.
    pub m_kib: u32,
    /// Passes.
    pub t: u32,
    /// Lanes.
    pub p: u32,
    /// 16 random bytes, hex.
    pub salt: String,
}

impl Kdf {
    /// Defaults above OWASP's minimum for Argon2id (19 MiB, 2 passes): 64 MiB, 3 passes, 1
    /// lane, the first recommended option of RFC 9106 for memory-constrained machines.
    pub fn default_with_salt(salt: [u8; 16]) -> Self {
        Self {
            algorithm: "argon2id".into(),
            m_kib: 64 * 1024,
            t: 3,
            p: 1,
            salt: hex::encode(salt),
        }
    }

    /// Refuses parameters weaker than OWASP's minimum, or so large that opening the file
    /// would exhaust memory or time.
    fn check(&self) -> Result<argon2::Params, Error> {
        let bounded = self.algorithm == "argon2id"
            && (19 * 1024..=4 * 1024 * 1024).contains(&self.m_kib)
            && (2..=64).contains(&self.t)
            && (1..=16).contains(&self.p);
        if !bounded {
            return Err(Error::Kdf(format!(
                "{} m={} KiB t={} p={}",
                self.algorithm, self.m_kib, self.t, self.p
            )));
        }
        argon2::Params::new(self.m_kib, self.t, self.p, Some(64)).map_err(|e| Error::Kdf(e.to_string()))
    }
}

/// The first line of the file. Authenticated, not secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    /// Always `oarn-keystore`.
    pub format: String,
    /// Format version.
    pub version: u32,
    /// What the secret is.
    pub kind: Kind,
    /// The address of account 0, so it can be shown without the passphrase.
    pub address: String,
    /// Key derivation.
    pub kdf: Kdf,
    /// Always `aes-256-gcm`.
    pub cipher: String,
    /// 12-byte GCM nonce, hex.
    pub nonce: String,
    /// sha256 of the second half of the derived key, hex.
    pub check: String,
}

/// Why a keystore could not be opened or written. Each message says what happened and that the
/// file was left as it was.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The passphrase does not open this keystore.
    #[error("wrong passphrase: it does not open this keystore (the file was left untouched)")]
    WrongPassphrase,
    /// The passphrase is right but the sealed data or header changed since it was written.
    #[error(
        "the keystore failed its integrity check: it was modified or damaged after it was written; \
         restore it from your backup (the file was left untouched)"
    )]
    Tampered,
    /// The file ends early.
    #[error("the keystore is truncated ({0}); restore it from your backup (the file was left untouched)")]
    Truncated(&'static str),
    /// The file is not an oarn keystore.
    #[error("the file is not an oarn keystore: {0}")]
    Malformed(String),
    /// The key-derivation parameters are out of the accepted range.
    #[error("the keystore's key-derivation parameters are unsafe or unsupported ({0})")]
    Kdf(String),
    /// The system random source failed.
    #[error("the system random source failed: {0}")]
    Random(String),
}

/// Fills `buf` from the kernel's random source.
pub fn random(buf: &mut [u8]) -> Result<(), Error> {
    getrandom::fill(buf).map_err(|e| Error::Random(e.to_string()))
}

/// Derives the 64-byte key of `kdf` from `passphrase`.
fn derive(kdf: &Kdf, passphrase: &[u8]) -> Result<Secret, Error> {
    let params = kdf.check()?;
    let salt = hex::decode(&kdf.salt).map_err(|_| Error::Malformed("kdf.salt is not hex".into()))?;
    if salt.len() < 16 {
        return Err(Error::Kdf("salt shorter than 16 bytes".into()));
    }
    let mut out = Secret::with_capacity(64);
    argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
        .hash_password_into(passphrase, &salt, &mut out.buffer_mut()[..64])
        .map_err(|e| Error::Kdf(e.to_string()))?;
    out.set_len(64);
    Ok(out)
}

fn check_value(derived: &Secret) -> String {
    let mut h = Sha256::new();
    h.update(CHECK_DOMAIN);
    h.update(&derived.expose()[32..64]);
    hex::encode(h.finalize())
}

/// Seals `secret` under `passphrase` with default parameters and returns the file's bytes.
pub fn seal(kind: Kind, address: &str, secret: &Secret, passphrase: &[u8]) -> Result<Vec<u8>, Error> {
    let mut salt = [0u8; 16];
    random(&mut salt)?;
    seal_with(kind, address, secret, passphrase, Kdf::default_with_salt(salt))
}

/// Seals `secret` with explicit KDF parameters.
pub fn seal_with(kind: Kind, address: &str, secret: &Secret, passphrase: &[u8], kdf: Kdf) -> Result<Vec<u8>, Error> {
    let mut nonce = [0u8; 12];
    random(&mut nonce)?;
    let derived = derive(&kdf, passphrase)?;
    let header = Header {
        format: FORMAT.into(),
        version: VERSION,
        kind,
        address: address.into(),
        kdf,
        cipher: "aes-256-gcm".into(),
        nonce: hex::encode(nonce),
        check: check_value(&derived),
    };
    let line = serde_json::to_string(&header).map_err(|e| Error::Malformed(e.to_string()))?;
    let cipher = Aes256Gcm::new_from_slice(&derived.expose()[..32]).map_err(|e| Error::Kdf(e.to_string()))?;
    let sealed = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: secret.expose(),
                aad: line.as_bytes(),
            },
        )
        .map_err(|_| Error::Kdf("encryption failed".into()))?;
    let mut file = line.into_bytes();
    file.push(b'\n');
    file.extend_from_slice(hex::encode(sealed).as_bytes());
    file.push(b'\n');
    Ok(file)
}

/// Splits a file into its header (and the header's exact bytes) and the sealed bytes.
pub fn parse(file: &[u8]) -> Result<(Header, &[u8], Vec<u8>), Error> {
    if file.is_empty() {
        return Err(Error::Truncated("the file is empty"));
    }
    if file.len() > MAX_FILE {
        return Err(Error::Malformed(format!(
            "{} bytes is larger than any keystore",
            file.len()
        )));
    }
    let Some(newline) = file.iter().position(|&b| b == b'\n') else {
        return Err(Error::Truncated("the header line does not end"));
    };
    let line = &file[..newline];
    let header: Header = serde_json::from_slice(line).map_err(|e| Error::Malformed(format!("header: {e}")))?;
    if header.format != FORMAT {
        return Err(Error::Malformed(format!("format {:?}", header.format)));
    }
    if header.version != VERSION {
        return Err(Error::Malformed(format!(
            "format version {} (this build reads version {VERSION})",
            header.version
        )));
    }
    let rest = &file[newline + 1..];
    let body = rest
        .strip_suffix(b"\n")
        .ok_or(Error::Truncated("the sealed data does not end"))?;
    if body.is_empty() {
        return Err(Error::Truncated("no sealed data"));
    }
    let sealed = hex::decode(body).map_err(|_| Error::Malformed("the sealed data is not hex".into()))?;
    // AES-GCM appends a 16-byte tag to a secret of at least 16 bytes.
    if sealed.len() < 32 {
        return Err(Error::Truncated("the sealed data is too short"));
    }
    Ok((header, line, sealed))
}

/// Opens a keystore file with `passphrase`: the header and the secret.
pub fn open(file: &[u8], passphrase: &[u8]) -> Result<(Header, Secret), Error> {
    let (header, line, sealed) = parse(file)?;
    if header.cipher != "aes-256-gcm" {
        return Err(Error::Malformed(format!("cipher {:?}", header.cipher)));
    }
    let nonce = hex::decode(&header.nonce).map_err(|_| Error::Malformed("nonce is not hex".into()))?;
    if nonce.len() != 12 {
        return Err(Error::Malformed("nonce is not 12 bytes".into()));
    }
    let derived = derive(&header.kdf, passphrase)?;
    if check_value(&derived) != header.check {
        return Err(Error::WrongPassphrase);
    }
    let cipher = Aes256Gcm::new_from_slice(&derived.expose()[..32]).map_err(|e| Error::Kdf(e.to_string()))?;
    let plain = Zeroizing::new(
        cipher
            .decrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &sealed,
                    aad: line,
                },
            )
            .map_err(|_| Error::Tampered)?,
    );
    if plain.len() > MAX_SECRET {
        return Err(Error::Tampered);
    }
    Ok((header, Secret::copy_of(&plain)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Light parameters keep unit tests fast; the bounds still apply.
    fn kdf() -> Kdf {
        Kdf {
            m_kib: 19 * 1024,
            t: 2,
            ..Kdf::default_with_salt([7; 16])
        }
    }

    fn sealed() -> Vec<u8> {
        seal_with(
            Kind::PrivateKey,
            "0xabc",
            &Secret::copy_of(&[0x11; 32]),
            b"correct horse",
            kdf(),
        )
        .unwrap()
    }

    #[test]
    fn opens_with_the_right_passphrase() {
        let (header, secret) = open(&sealed(), b"correct horse").unwrap();
        assert_eq!(secret.expose(), &[0x11; 32]);
        assert_eq!(header.kind, Kind::PrivateKey);
        assert_eq!(header.address, "0xabc");
    }

    #[test]
    fn wrong_passphrase_and_tampering_are_told_apart() {
        let file = sealed();
        assert!(matches!(open(&file, b"wrong horse"), Err(Error::WrongPassphrase)));

        // A header field changed: the header is the cipher's associated data.
        let text = String::from_utf8(file.clone()).unwrap();
        let moved = text.replace("\"address\":\"0xabc\"", "\"address\":\"0xabd\"");
        assert!(matches!(open(moved.as_bytes(), b"correct horse"), Err(Error::Tampered)));

        // One ciphertext digit changed.
        let mut flipped = file.clone();
        let at = flipped.len() - 5;
        flipped[at] = if flipped[at] == b'0' { b'1' } else { b'0' };
        assert!(matches!(open(&flipped, b"correct horse"), Err(Error::Tampered)));
    }

    #[test]
    fn truncation_is_reported_as_such() {
        let file = sealed();
        for cut in [
            0,
            10,
            file.iter().position(|&b| b == b'\n').unwrap() + 1,
            file.len() - 1,
        ] {
            assert!(
                matches!(
                    open(&file[..cut], b"correct horse"),
                    Err(Error::Truncated(_) | Error::Malformed(_))
                ),
                "cut at {cut}"
            );
        }
        assert!(matches!(open(&file[..file.len() - 1], b"x"), Err(Error::Truncated(_))));
    }

    #[test]
    fn weak_or_huge_parameters_are_refused() {
        let weak = Kdf { m_kib: 1024, ..kdf() };
        let e = seal_with(Kind::PrivateKey, "0x", &Secret::copy_of(&[1; 32]), b"p", weak).unwrap_err();
        assert!(matches!(e, Error::Kdf(_)));
        let text = String::from_utf8(sealed()).unwrap().replace("\"t\":2", "\"t\":100000");
        assert!(matches!(open(text.as_bytes(), b"correct horse"), Err(Error::Kdf(_))));
    }
}
