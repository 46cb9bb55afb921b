//! Byte arrays as `0x`-prefixed lower-case hex, the way the chain and the local API write
//! hashes and addresses.

/// `0x` and lower-case hex digits.
pub fn encode(bytes: &[u8]) -> String {
    format!("0x{}", ::hex::encode(bytes))
}

/// `N` bytes from `2N` hex digits, with or without `0x`.
pub fn decode<const N: usize>(s: &str) -> Option<[u8; N]> {
    let digits = s.strip_prefix("0x").unwrap_or(s);
    let mut out = [0u8; N];
    ::hex::decode_to_slice(digits, &mut out).ok()?;
    Some(out)
}

/// serde for `[u8; N]` as `"0x…"`.
#[cfg(feature = "serde")]
pub mod bytes {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<const N: usize, S: Serializer>(b: &[u8; N], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::encode(b))
    }

    pub fn deserialize<'de, const N: usize, D: Deserializer<'de>>(d: D) -> Result<[u8; N], D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        super::decode(&s).ok_or_else(|| D::Error::custom(format!("expected 0x and {} hex digits", 2 * N)))
    }
}

/// serde for `Option<[u8; N]>` as `"0x…"` or `null`.
#[cfg(feature = "serde")]
pub mod option {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<const N: usize, S: Serializer>(b: &Option<[u8; N]>, s: S) -> Result<S::Ok, S::Error> {
        match b {
            Some(b) => s.serialize_str(&super::encode(b)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, const N: usize, D: Deserializer<'de>>(d: D) -> Result<Option<[u8; N]>, D::Error> {
        let s = <Option<std::borrow::Cow<'de, str>>>::deserialize(d)?;
        s.map(|s| super::decode(&s).ok_or_else(|| D::Error::custom(format!("expected 0x and {} hex digits", 2 * N))))
            .transpose()
    }
}

/// serde for `Vec<[u8; N]>` as a list of `"0x…"`.
#[cfg(feature = "serde")]
pub mod list {
    use serde::ser::SerializeSeq;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<const N: usize, S: Serializer>(list: &[[u8; N]], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(list.len()))?;
        for b in list {
            seq.serialize_element(&super::encode(b))?;
        }
        seq.end()
    }

    pub fn deserialize<'de, const N: usize, D: Deserializer<'de>>(d: D) -> Result<Vec<[u8; N]>, D::Error> {
        <Vec<std::borrow::Cow<'de, str>>>::deserialize(d)?
            .iter()
            .map(|s| super::decode(s).ok_or_else(|| D::Error::custom(format!("expected 0x and {} hex digits", 2 * N))))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trips_and_refuses_wrong_lengths_and_non_ascii() {
        let b = [0xab_u8; 4];
        assert_eq!(super::encode(&b), "0xabababab");
        assert_eq!(super::decode::<4>("0xabababab"), Some(b));
        assert_eq!(super::decode::<4>("abababab"), Some(b));
        assert_eq!(super::decode::<4>("0xababab"), None);
        assert_eq!(super::decode::<4>("0xabababzz"), None);
        // Byte lengths that match while characters do not: never sliced mid-character.
        assert_eq!(super::decode::<4>("0xabababé"), None);
    }
}
