//! The live network's task announcement on `oarn/tasks/v1`: JSON
//! `{"id", "model_hash", "input_hash", "reward", "required_nodes", "deadline"}`, unknown
//! fields tolerated, trailing whitespace allowed (that is how a padded message stays valid).
//! Parsing is strict about everything else: a message that fails here is rejected and counts
//! against the peer that sent it.

use oarn_protocol::net::Announcement;
use serde::{Deserialize, Serialize};

/// Largest announcement accepted or published, padding included.
pub const MAX_LEN: usize = 4096;
/// Published announcements are padded to a multiple of this many bytes.
pub const PAD_TO: usize = 512;
/// Fewest and most nodes a TaskRegistryV2 task may require.
pub const REQUIRED_NODES: std::ops::RangeInclusive<u32> = 3..=100;

/// Why an announcement was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    /// The message is larger than any announcement.
    #[error("{0} bytes is larger than an announcement may be ({MAX_LEN})")]
    TooLarge(usize),
    /// The message is not the announcement JSON.
    #[error("not an announcement: {0}")]
    Json(String),
    /// A hash is not `0x` and 64 hex digits.
    #[error("{0} is not 0x followed by 64 hex digits")]
    Hash(&'static str),
    /// Task ids start at 1.
    #[error("task id 0 does not exist (ids start at 1)")]
    ZeroId,
    /// `required_nodes` outside TaskRegistryV2's range.
    #[error("required_nodes {0} is outside 3..=100")]
    RequiredNodes(u32),
}

#[derive(Deserialize, Serialize)]
struct Wire<'a> {
    id: u64,
    model_hash: std::borrow::Cow<'a, str>,
    input_hash: std::borrow::Cow<'a, str>,
    reward: u64,
    required_nodes: u32,
    deadline: u64,
}

fn hash(field: &'static str, s: &str) -> Result<[u8; 32], Invalid> {
    let digits = s.strip_prefix("0x").ok_or(Invalid::Hash(field))?;
    let mut out = [0u8; 32];
    hex::decode_to_slice(digits, &mut out).map_err(|_| Invalid::Hash(field))?;
    Ok(out)
}

/// Parses and validates an announcement.
pub fn parse(data: &[u8]) -> Result<Announcement, Invalid> {
    if data.len() > MAX_LEN {
        return Err(Invalid::TooLarge(data.len()));
    }
    let wire: Wire = serde_json::from_slice(data).map_err(|e| Invalid::Json(e.to_string()))?;
    if wire.id == 0 {
        return Err(Invalid::ZeroId);
    }
    if !REQUIRED_NODES.contains(&wire.required_nodes) {
        return Err(Invalid::RequiredNodes(wire.required_nodes));
    }
    Ok(Announcement {
        id: wire.id,
        model_hash: hash("model_hash", &wire.model_hash)?,
        input_hash: hash("input_hash", &wire.input_hash)?,
        reward: wire.reward,
        required_nodes: wire.required_nodes,
        deadline: wire.deadline,
    })
}

/// Writes an announcement, padded with trailing spaces to a multiple of [`PAD_TO`] when `pad`.
pub fn write(a: &Announcement, pad: bool) -> Result<Vec<u8>, Invalid> {
    if a.id == 0 {
        return Err(Invalid::ZeroId);
    }
    if !REQUIRED_NODES.contains(&a.required_nodes) {
        return Err(Invalid::RequiredNodes(a.required_nodes));
    }
    let wire = Wire {
        id: a.id,
        model_hash: format!("0x{}", hex::encode(a.model_hash)).into(),
        input_hash: format!("0x{}", hex::encode(a.input_hash)).into(),
        reward: a.reward,
        required_nodes: a.required_nodes,
        deadline: a.deadline,
    };
    let mut out = serde_json::to_vec(&wire).map_err(|e| Invalid::Json(e.to_string()))?;
    if pad {
        out.resize(out.len().div_ceil(PAD_TO) * PAD_TO, b' ');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Announcement {
        Announcement {
            id: 7,
            model_hash: [0xab; 32],
            input_hash: [0x01; 32],
            reward: 1_000_000_000_000_000,
            required_nodes: 3,
            deadline: 1_900_000_000,
        }
    }

    #[test]
    fn writes_the_live_format_and_reads_it_back() {
        let bytes = write(&sample(), false).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["id"], 7);
        assert_eq!(v["model_hash"], format!("0x{}", "ab".repeat(32)));
        assert_eq!(v["input_hash"], format!("0x{}", "01".repeat(32)));
        assert_eq!(v["reward"], 1_000_000_000_000_000u64);
        assert_eq!(v["required_nodes"], 3);
        assert_eq!(v["deadline"], 1_900_000_000u64);
        assert_eq!(parse(&bytes).unwrap(), sample());
    }

    #[test]
    fn padding_fills_to_a_bucket_and_still_parses() {
        let bytes = write(&sample(), true).unwrap();
        assert_eq!(bytes.len() % PAD_TO, 0);
        assert!(bytes.ends_with(b"  "));
        assert_eq!(parse(&bytes).unwrap(), sample());
    }

    #[test]
    fn unknown_fields_and_upper_case_hex_are_tolerated() {
        let msg = format!(
            r#"{{"id":1,"model_hash":"0x{}","input_hash":"0x{}","reward":5,"required_nodes":100,"deadline":9,"extra":{{"x":[1,2]}}}}"#,
            "AB".repeat(32),
            "cd".repeat(32)
        );
        let a = parse(msg.as_bytes()).unwrap();
        assert_eq!(a.model_hash, [0xab; 32]);
        assert_eq!(a.required_nodes, 100);
    }

    #[test]
    fn malformed_announcements_are_refused_with_the_reason() {
        let ok = String::from_utf8(write(&sample(), false).unwrap()).unwrap();
        let cases: Vec<(String, &str)> = vec![
            ("not json".into(), "not an announcement"),
            ("".into(), "not an announcement"),
            ("[1,2,3]".into(), "not an announcement"),
            (ok.replace("\"id\":7", "\"id\":-7"), "not an announcement"),
            (ok.replace("\"id\":7", "\"id\":0"), "ids start at 1"),
            (
                ok.replace("\"required_nodes\":3", "\"required_nodes\":2"),
                "outside 3..=100",
            ),
            (
                ok.replace("\"required_nodes\":3", "\"required_nodes\":101"),
                "outside 3..=100",
            ),
            (ok.replace("0xabab", "abab"), "model_hash is not"),
            (ok.replace("0x0101", "0x01zz"), "input_hash is not"),
            (ok.replace(&"ab".repeat(32), &"ab".repeat(31)), "model_hash is not"),
            (ok.replace(",\"deadline\":1900000000", ""), "not an announcement"),
            (format!("{ok}x"), "not an announcement"),
            (format!("{ok}{}", " ".repeat(MAX_LEN)), "larger than"),
        ];
        for (msg, want) in cases {
            let err = parse(msg.as_bytes()).unwrap_err().to_string();
            assert!(err.contains(want), "{msg:?}: {err} (wanted {want:?})");
        }
        assert!(parse(&[0xff, 0xfe, 0x00]).is_err());
    }

    #[test]
    fn ten_thousand_random_and_mangled_messages_never_panic() {
        let valid = write(&sample(), false).unwrap();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut refused = 0;
        for i in 0..10_000 {
            let msg: Vec<u8> = if i % 2 == 0 {
                (0..next() % 300).map(|_| next() as u8).collect()
            } else {
                let mut m = valid.clone();
                let at = next() as usize % m.len();
                m[at] = next() as u8;
                m.truncate(m.len() - (next() as usize % 3));
                m
            };
            if parse(&msg).is_err() {
                refused += 1;
            }
        }
        assert!(refused > 9_000, "{refused}");
    }

    #[test]
    fn refuses_to_write_what_peers_would_reject() {
        let mut a = sample();
        a.required_nodes = 1;
        assert_eq!(write(&a, false), Err(Invalid::RequiredNodes(1)));
        a = sample();
        a.id = 0;
        assert_eq!(write(&a, false), Err(Invalid::ZeroId));
    }
}
