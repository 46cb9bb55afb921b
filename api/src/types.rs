//! Values the API's methods share, each checked when it is read: a hash or an account is
//! `0x` hex of the right length, a task id is 1 or more. Their errors start "must be", so the
//! server's message reads "<field> must be …".

use std::fmt;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// 32 bytes (a hash) as `0x` and 64 hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Hash32(pub [u8; 32]);

/// An account as `0x` and 40 hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Address(pub [u8; 20]);

/// A task id of TaskRegistryV2 (ids start at 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct TaskId(pub u64);

impl fmt::Display for Hash32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&oarn_hex(&self.0))
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&oarn_hex(&self.0))
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

fn oarn_hex(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}

/// `N` bytes from `0x` and `2N` hex digits (the `hex` crate checks the digits, so no byte
/// length that matches by accident gets sliced inside a character).
fn parse_hex<const N: usize>(s: &str, require_prefix: bool) -> Option<[u8; N]> {
    let digits = match s.strip_prefix("0x") {
        Some(d) => d,
        None if require_prefix => return None,
        None => s,
    };
    let mut out = [0u8; N];
    hex::decode_to_slice(digits, &mut out).ok()?;
    Some(out)
}

impl Address {
    /// EIP-55 checksummed text, as wallets and explorers write an address.
    pub fn checksummed(&self) -> String {
        use sha3::{Digest, Keccak256};
        let lower = hex::encode(self.0);
        let hash = Keccak256::digest(lower.as_bytes());
        let mut out = String::from("0x");
        for (i, c) in lower.chars().enumerate() {
            let nibble = (hash[i / 2] >> if i % 2 == 0 { 4 } else { 0 }) & 0xf;
            out.push(if c.is_ascii_alphabetic() && nibble >= 8 {
                c.to_ascii_uppercase()
            } else {
                c
            });
        }
        out
    }
}

impl std::str::FromStr for Hash32 {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        parse_hex(s, false)
            .map(Self)
            .ok_or_else(|| "must be 0x followed by 64 hex digits".into())
    }
}

impl std::str::FromStr for Address {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        parse_hex(s, true)
            .map(Self)
            .ok_or_else(|| "must be an account: 0x and 40 hex digits".into())
    }
}

impl Serialize for Hash32 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl Serialize for Address {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Hash32 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)
            .map_err(|_| D::Error::custom("must be 0x followed by 64 hex digits"))?;
        s.parse().map_err(D::Error::custom)
    }
}

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)
            .map_err(|_| D::Error::custom("must be an account: 0x and 40 hex digits"))?;
        s.parse().map_err(D::Error::custom)
    }
}

impl<'de> Deserialize<'de> for TaskId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match u64::deserialize(d) {
            Ok(n) if n > 0 => Ok(Self(n)),
            _ => Err(D::Error::custom("must be a task id (1 or more)")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_and_accounts_are_checked_when_read() {
        let h: Hash32 = serde_json::from_value(serde_json::json!(format!("0x{}", "ab".repeat(32)))).unwrap();
        assert_eq!(h.0, [0xab; 32]);
        assert_eq!(serde_json::to_value(h).unwrap(), format!("0x{}", "ab".repeat(32)));
        for bad in ["0x12", "zz", "", "0xabababé"] {
            assert!(
                serde_json::from_value::<Hash32>(serde_json::json!(bad)).is_err(),
                "{bad}"
            );
        }
        // 37 zeros, a two-byte character and a digit: 40 bytes that are not 40 digits.
        let tricky = format!("0x{}é0", "0".repeat(37));
        assert_eq!(tricky.len(), 42);
        assert!(tricky.parse::<Address>().is_err());
        assert!(
            "1234567890123456789012345678901234567890".parse::<Address>().is_err(),
            "0x required"
        );
        assert!(serde_json::from_value::<TaskId>(serde_json::json!(0)).is_err());
        // EIP-55's own example.
        let a: Address = "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed".parse().unwrap();
        assert_eq!(a.checksummed(), "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed");
        assert_eq!(
            serde_json::from_value::<TaskId>(serde_json::json!(7)).unwrap(),
            TaskId(7)
        );
    }
}
