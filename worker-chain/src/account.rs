//! Accounts from a keystore secret: account `i` of a mnemonic at `m/44'/60'/0'/0/i` (fresh
//! addresses per task come from new indexes), or the one account of a raw private key.

use alloy::primitives::Address;
use alloy::signers::local::PrivateKeySigner;
use coins_bip39::{English, Entropy, Mnemonic};
use zeroize::Zeroize;

use crate::keystore::Kind;
use crate::secret::Secret;
use crate::signer::Signer;

/// Largest account index accepted (BIP-32 non-hardened indexes stop at 2^31).
pub const MAX_INDEX: u32 = (1 << 31) - 1;

/// Why an account could not be derived.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The mnemonic phrase is not valid BIP-39 English.
    #[error("not a valid BIP-39 mnemonic: {0}")]
    Mnemonic(String),
    /// The bytes are not a valid secp256k1 private key.
    #[error("not a valid secp256k1 private key (it must be 32 bytes, non-zero and below the curve order)")]
    PrivateKey,
    /// A raw private key has only account 0.
    #[error("a wallet imported from a private key has only account 0")]
    NoSuchAccount,
    /// Derivation failed.
    #[error("key derivation failed: {0}")]
    Derivation(String),
}

/// The BIP-44 path of account `index`.
pub fn path(index: u32) -> String {
    format!("m/44'/60'/0'/0/{index}")
}

/// The mnemonic's entropy from a phrase (extra whitespace tolerated).
pub fn entropy_from_phrase(phrase: &str) -> Result<Secret, Error> {
    let words: Vec<&str> = phrase.split_whitespace().collect();
    let normal = zeroize::Zeroizing::new(words.join(" "));
    let mnemonic = Mnemonic::<English>::new_from_phrase(&normal).map_err(|e| Error::Mnemonic(e.to_string()))?;
    Ok(Secret::copy_of(mnemonic.entropy().as_bytes()))
}

/// The phrase of mnemonic entropy.
pub fn phrase(entropy: &Secret) -> Result<zeroize::Zeroizing<String>, Error> {
    let entropy = Entropy::from_slice(entropy.expose()).map_err(|e| Error::Mnemonic(e.to_string()))?;
    Ok(Mnemonic::<English>::new_from_entropy(entropy).to_phrase())
}

/// The signer of account `index` of a keystore secret, built in locked memory.
pub fn signer(kind: Kind, secret: &Secret, index: u32) -> Result<Signer, Error> {
    Signer::build(|| key(kind, secret, index))
}

fn key(kind: Kind, secret: &Secret, index: u32) -> Result<PrivateKeySigner, Error> {
    match kind {
        Kind::PrivateKey if index == 0 => PrivateKeySigner::from_slice(secret.expose()).map_err(|_| Error::PrivateKey),
        Kind::PrivateKey => Err(Error::NoSuchAccount),
        Kind::Mnemonic => {
            if index > MAX_INDEX {
                return Err(Error::Derivation(format!("index {index} is above {MAX_INDEX}")));
            }
            let entropy = Entropy::from_slice(secret.expose()).map_err(|e| Error::Mnemonic(e.to_string()))?;
            let xpriv = Mnemonic::<English>::new_from_entropy(entropy)
                .derive_key(path(index).as_str(), None)
                .map_err(|e| Error::Derivation(e.to_string()))?;
            let key: &coins_bip32::ecdsa::SigningKey = xpriv.as_ref();
            let mut bytes = key.to_bytes();
            let signer = PrivateKeySigner::from_slice(&bytes).map_err(|_| Error::PrivateKey);
            bytes.as_mut_slice().zeroize();
            signer
        }
    }
}

/// The address of account `index`.
pub fn address(kind: Kind, secret: &Secret, index: u32) -> Result<Address, Error> {
    signer(kind, secret, index).map(|s| s.address())
}

/// The raw private key of a signer, in a secret buffer (for export).
pub fn private_key(signer: &Signer) -> Secret {
    let mut bytes = signer.key().to_bytes();
    let secret = Secret::copy_of(bytes.as_slice());
    bytes.0.zeroize();
    secret
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The mnemonic anvil and hardhat derive their test accounts from.
    const TEST_PHRASE: &str = "test test test test test test test test test test test junk";

    #[test]
    fn derives_the_well_known_test_accounts() {
        let entropy = entropy_from_phrase(TEST_PHRASE).unwrap();
        assert_eq!(
            address(Kind::Mnemonic, &entropy, 0).unwrap().to_string(),
            "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
        );
        assert_eq!(
            address(Kind::Mnemonic, &entropy, 1).unwrap().to_string(),
            "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
        );
        assert_eq!(phrase(&entropy).unwrap().as_str(), TEST_PHRASE);
    }

    #[test]
    fn refuses_bad_phrases_and_keys() {
        assert!(entropy_from_phrase("test test test").is_err());
        assert!(entropy_from_phrase(&TEST_PHRASE.replace("junk", "test")).is_err());
        assert!(signer(Kind::PrivateKey, &Secret::copy_of(&[0; 32]), 0).is_err());
        assert!(matches!(
            signer(Kind::PrivateKey, &Secret::copy_of(&[1; 32]), 1),
            Err(Error::NoSuchAccount)
        ));
    }

    #[test]
    fn the_signer_key_lives_in_locked_memory_and_signs_as_the_plain_one() {
        use alloy::signers::SignerSync;
        let key = [7u8; 32];
        let ours = signer(Kind::PrivateKey, &Secret::copy_of(&key), 0).unwrap();
        let plain = PrivateKeySigner::from_slice(&key).unwrap();
        assert!(ours.is_locked(), "RLIMIT_MEMLOCK too low for one page?");
        assert_eq!(ours.address(), plain.address());
        assert_eq!(
            ours.key().sign_message_sync(b"oarn").unwrap(),
            plain.sign_message_sync(b"oarn").unwrap()
        );
        assert_eq!(private_key(&ours).expose(), key);
        assert!(!format!("{ours:?}").contains(&hex::encode(key)));
    }
}
