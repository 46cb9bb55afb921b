//! Ethereum V3 keystore JSON (Web3 Secret Storage), as geth, MetaMask and foundry write it:
//! scrypt or PBKDF2-HMAC-SHA256, AES-128-CTR, a keccak MAC. Written here rather than through
//! `eth-keystore` because that crate only reads and writes files by path, and the chain
//! worker's sandbox grants no paths: the bytes come and go over descriptors.

use aes::cipher::{KeyIvInit, StreamCipher};
use alloy::primitives::keccak256;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Sha256;

use super::random;
use crate::secret::Secret;

type Aes128Ctr = ctr::Ctr128BE<aes::Aes128>;

/// Largest V3 file accepted.
pub const MAX_FILE: usize = 64 * 1024;

/// Why a V3 keystore could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file is not a V3 keystore.
    #[error("not an Ethereum V3 keystore: {0}")]
    Malformed(String),
    /// A cipher or KDF this build does not implement.
    #[error("unsupported V3 keystore: {0}")]
    Unsupported(String),
    /// KDF parameters too weak to trust or too large to run.
    #[error("the V3 keystore's key-derivation parameters are out of range ({0})")]
    Kdf(String),
    /// The MAC does not match: wrong passphrase (or a damaged file: V3 cannot tell them apart).
    #[error("wrong passphrase for this V3 keystore (or the file is damaged)")]
    WrongPassphrase,
    /// The system random source failed.
    #[error(transparent)]
    Random(#[from] super::Error),
}

#[derive(Deserialize)]
struct File {
    version: u32,
    #[serde(alias = "Crypto")]
    crypto: Crypto,
}

#[derive(Serialize, Deserialize)]
struct Crypto {
    cipher: String,
    cipherparams: CipherParams,
    ciphertext: String,
    kdf: String,
    kdfparams: Value,
    mac: String,
}

#[derive(Serialize, Deserialize)]
struct CipherParams {
    iv: String,
}

fn unhex(field: &str, s: &str) -> Result<Vec<u8>, Error> {
    hex::decode(s.trim_start_matches("0x")).map_err(|_| Error::Malformed(format!("{field} is not hex")))
}

fn number(params: &Value, key: &str) -> Result<u64, Error> {
    params
        .get(key)
        .and_then(Value::as_u64)
        .ok_or_else(|| Error::Malformed(format!("kdfparams.{key} is missing or not a number")))
}

/// Runs the file's KDF: the 32-byte derived key.
fn derive(kdf: &str, params: &Value, passphrase: &[u8]) -> Result<Secret, Error> {
    let salt = unhex(
        "kdfparams.salt",
        params
            .get("salt")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::Malformed("kdfparams.salt is missing".into()))?,
    )?;
    let dklen = number(params, "dklen")?;
    if dklen != 32 {
        return Err(Error::Unsupported(format!("dklen {dklen}")));
    }
    let mut out = Secret::with_capacity(32);
    match kdf {
        "scrypt" => {
            let n = number(params, "n")?;
            let r = number(params, "r")?;
            let p = number(params, "p")?;
            // Up to 2^20 (geth's "standard" is 2^18): about 1 GiB at r = 8.
            if !n.is_power_of_two() || !(2..=1 << 20).contains(&n) || !(1..=16).contains(&r) || !(1..=16).contains(&p) {
                return Err(Error::Kdf(format!("scrypt n={n} r={r} p={p}")));
            }
            let params = scrypt::Params::new(n.trailing_zeros() as u8, r as u32, p as u32, 32)
                .map_err(|e| Error::Kdf(e.to_string()))?;
            scrypt::scrypt(passphrase, &salt, &params, &mut out.buffer_mut()[..32])
                .map_err(|e| Error::Kdf(e.to_string()))?;
        }
        "pbkdf2" => {
            let c = number(params, "c")?;
            let prf = params.get("prf").and_then(Value::as_str).unwrap_or("");
            if prf != "hmac-sha256" {
                return Err(Error::Unsupported(format!("pbkdf2 prf {prf:?}")));
            }
            if !(1..=10_000_000).contains(&c) {
                return Err(Error::Kdf(format!("pbkdf2 c={c}")));
            }
            pbkdf2::pbkdf2_hmac::<Sha256>(passphrase, &salt, c as u32, &mut out.buffer_mut()[..32]);
        }
        other => return Err(Error::Unsupported(format!("kdf {other:?}"))),
    }
    out.set_len(32);
    Ok(out)
}

fn mac(derived: &Secret, ciphertext: &[u8]) -> [u8; 32] {
    let mut input = Secret::with_capacity(16 + ciphertext.len());
    input.extend(&derived.expose()[16..32]).expect("sized above");
    input.extend(ciphertext).expect("sized above");
    keccak256(input.expose()).0
}

/// Decrypts a V3 keystore: the 32-byte private key.
pub fn decrypt(json: &[u8], passphrase: &[u8]) -> Result<Secret, Error> {
    if json.len() > MAX_FILE {
        return Err(Error::Malformed(format!(
            "{} bytes is larger than any keystore",
            json.len()
        )));
    }
    let file: File = serde_json::from_slice(json).map_err(|e| Error::Malformed(e.to_string()))?;
    if file.version != 3 {
        return Err(Error::Unsupported(format!("version {}", file.version)));
    }
    let c = file.crypto;
    if c.cipher != "aes-128-ctr" {
        return Err(Error::Unsupported(format!("cipher {:?}", c.cipher)));
    }
    let iv = unhex("cipherparams.iv", &c.cipherparams.iv)?;
    let ciphertext = unhex("ciphertext", &c.ciphertext)?;
    let expected = unhex("mac", &c.mac)?;
    if iv.len() != 16 || ciphertext.len() != 32 || expected.len() != 32 {
        return Err(Error::Malformed("iv, ciphertext or mac has the wrong length".into()));
    }
    let derived = derive(&c.kdf, &c.kdfparams, passphrase)?;
    if mac(&derived, &ciphertext) != expected.as_slice() {
        return Err(Error::WrongPassphrase);
    }
    let mut key = Secret::copy_of(&ciphertext);
    let mut cipher = Aes128Ctr::new(derived.expose()[..16].into(), iv.as_slice().into());
    cipher.apply_keystream(key.buffer_mut());
    Ok(key)
}

/// Encrypts a 32-byte private key as V3 JSON with geth's standard scrypt parameters
/// (n = 2^18, r = 8, p = 1).
pub fn encrypt(key: &Secret, address: &str, passphrase: &[u8]) -> Result<String, Error> {
    encrypt_with(key, address, passphrase, 18)
}

/// [`encrypt`] with scrypt cost `2^log_n`.
pub fn encrypt_with(key: &Secret, address: &str, passphrase: &[u8], log_n: u8) -> Result<String, Error> {
    let mut salt = [0u8; 32];
    let mut iv = [0u8; 16];
    let mut id = [0u8; 16];
    random(&mut salt)?;
    random(&mut iv)?;
    random(&mut id)?;
    let params = serde_json::json!({ "dklen": 32, "n": 1u64 << log_n, "r": 8, "p": 1, "salt": hex::encode(salt) });
    let derived = derive("scrypt", &params, passphrase)?;
    let mut ciphertext = Secret::copy_of(key.expose());
    let mut cipher = Aes128Ctr::new(derived.expose()[..16].into(), (&iv).into());
    cipher.apply_keystream(ciphertext.buffer_mut());
    let ciphertext = ciphertext.expose().to_vec();
    // Version 4 UUID from random bytes.
    id[6] = (id[6] & 0x0f) | 0x40;
    id[8] = (id[8] & 0x3f) | 0x80;
    let h = hex::encode(id);
    let uuid = format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..]);
    let json = serde_json::json!({
        "version": 3,
        "id": uuid,
        "address": address.trim_start_matches("0x").to_lowercase(),
        "crypto": Crypto {
            cipher: "aes-128-ctr".into(),
            cipherparams: CipherParams { iv: hex::encode(iv) },
            ciphertext: hex::encode(&ciphertext),
            kdf: "scrypt".into(),
            kdfparams: params,
            mac: hex::encode(mac(&derived, &ciphertext)),
        },
    });
    Ok(serde_json::to_string_pretty(&json).expect("JSON values serialize"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The PBKDF2 test vector of the Web3 Secret Storage definition.
    const PBKDF2_VECTOR: &str = r#"{"crypto":{"cipher":"aes-128-ctr","cipherparams":{"iv":"6087dab2f9fdbbfaddc31a909735c1e6"},
        "ciphertext":"5318b4d5bcd28de64ee5559e671353e16f075ecae9f99c7a79a38af5f869aa46","kdf":"pbkdf2",
        "kdfparams":{"c":262144,"dklen":32,"prf":"hmac-sha256","salt":"ae3cd4e7013836a3df6bd7241b12db061dbe2c6785853cce422d148a624ce0bd"},
        "mac":"517ead924a9d0dc3124507e3393d175ce3ff7c1e96529c6c555ce9e51205e9b2"},
        "id":"3198bc9c-6672-5ab3-d995-4942343ae5b6","version":3}"#;
    /// A scrypt file written by Python's `eth-account` (an independent implementation), for
    /// the same key and passphrase as the definition's vector.
    const SCRYPT_VECTOR: &str = r#"{"address": "008AeEda4D805471dF9b2A5B0f38A0C3bCBA786b", "crypto": {"cipher": "aes-128-ctr",
        "cipherparams": {"iv": "806d9bb7c97679386eec8a3646bb1d75"},
        "ciphertext": "15e0f1dd3b6f0ef2733346476f0962c3b2feb6cca84fddb4feb3c557ddc5a93d", "kdf": "scrypt",
        "kdfparams": {"dklen": 32, "n": 16384, "r": 8, "p": 1, "salt": "1fb2c5df1226d0261212268c3da516eb"},
        "mac": "89d340f90fd1d9d28ba02ff0a45d00424888d6a851df6376796f2d98e43f6e11"},
        "id": "20515cba-755c-4374-8e1e-4aeb22676372", "version": 3}"#;
    const VECTOR_KEY: &str = "7a28b5ba57c53603b0b07b56bba752f7784bf506fa95edc395f5cf6c7514fe9d";

    #[test]
    fn reads_the_specification_vectors() {
        for vector in [PBKDF2_VECTOR, SCRYPT_VECTOR] {
            let key = decrypt(vector.as_bytes(), b"testpassword").unwrap();
            assert_eq!(hex::encode(key.expose()), VECTOR_KEY);
            assert!(matches!(
                decrypt(vector.as_bytes(), b"nope"),
                Err(Error::WrongPassphrase)
            ));
        }
    }

    #[test]
    fn round_trips_what_it_writes() {
        let key = Secret::copy_of(&hex::decode(VECTOR_KEY).unwrap());
        let json = encrypt_with(&key, "0x008AeEda4D805471dF9b2A5B0f38A0C3bCBA786b", b"pw", 10).unwrap();
        assert!(json.contains("\"address\": \"008aeeda4d805471df9b2a5b0f38a0c3bcba786b\""));
        assert_eq!(decrypt(json.as_bytes(), b"pw").unwrap(), key);
    }

    #[test]
    fn refuses_garbage_and_huge_costs() {
        assert!(matches!(decrypt(b"{}", b"x"), Err(Error::Malformed(_))));
        let huge = PBKDF2_VECTOR.replace("262144", "4000000000");
        assert!(matches!(decrypt(huge.as_bytes(), b"x"), Err(Error::Kdf(_))));
        let other = SCRYPT_VECTOR.replace("aes-128-ctr", "aes-128-cbc");
        assert!(matches!(decrypt(other.as_bytes(), b"x"), Err(Error::Unsupported(_))));
    }
}
