//! Refuses key material in configuration: a config file is copied, pasted and backed up far
//! more casually than a keystore, so private keys, seed phrases and keystore contents must never
//! live there. Findings carry a location and a reason, never the secret itself.

/// A piece of key material found in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Byte offset in the file.
    pub offset: usize,
    /// The dotted key it was found under.
    pub key: Option<String>,
    pub message: &'static str,
}

const KEY_NAME: &str = "key material does not belong in the config file; keys live only in the encrypted keystore (use `oarn wallet import`)";
const PRIVATE_KEY: &str = "this value looks like a private key (64 hex digits); keys live only in the encrypted keystore (use `oarn wallet import`)";
const MNEMONIC: &str =
    "this value looks like a seed phrase; keys live only in the encrypted keystore (use `oarn wallet import`)";
const KEYSTORE: &str =
    "this value looks like keystore contents; import the keystore file with `oarn wallet import` instead";
const PEM: &str = "this value looks like a PEM private key; keys do not belong in the config file";

/// Names that only ever hold secrets.
fn is_secret_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    ["private", "secret", "mnemonic", "seed", "passphrase", "password"]
        .iter()
        .any(|w| n.contains(w))
        || (n.contains("keystore") && !n.ends_with("_path") && !n.ends_with("_dir"))
}

/// Why `value`, set under `key`, is key material; `None` when it is not.
pub fn scan_value(key: &str, value: &str) -> Option<&'static str> {
    let leaf = key.rsplit('.').next().unwrap_or(key);
    if is_secret_name(leaf) {
        return Some(KEY_NAME);
    }
    let v = value.trim();
    let hex = v.strip_prefix("0x").unwrap_or(v);
    let is_hash_key = leaf.ends_with("hash") || leaf.ends_with("hashes") || leaf.contains("digest");
    if hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit()) && !is_hash_key {
        return Some(PRIVATE_KEY);
    }
    if v.contains("-----BEGIN") && v.contains("PRIVATE KEY") {
        return Some(PEM);
    }
    if v.contains("ciphertext") && (v.contains("kdf") || v.contains("crypto")) {
        return Some(KEYSTORE);
    }
    let words: Vec<&str> = v.split_whitespace().collect();
    if [12, 15, 18, 21, 24].contains(&words.len())
        && words
            .iter()
            .all(|w| (3..=8).contains(&w.len()) && w.chars().all(|c| c.is_ascii_lowercase()))
    {
        return Some(MNEMONIC);
    }
    None
}

/// Every piece of key material in the file's keys and string values.
pub fn scan_text(text: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    if let Ok(doc) = toml_edit::Document::parse(text.to_string()) {
        walk_table(doc.as_table(), "", &mut out);
    }
    out
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

fn walk_table(table: &dyn toml_edit::TableLike, prefix: &str, out: &mut Vec<Finding>) {
    for (name, item) in table.iter() {
        let key = join(prefix, name);
        let (k, _) = table.get_key_value(name).expect("iterated key exists");
        let offset = k.span().map_or(0, |s| s.start);
        if is_secret_name(name) {
            out.push(Finding {
                offset,
                key: Some(key),
                message: KEY_NAME,
            });
            continue;
        }
        walk_item(item, &key, offset, out);
    }
}

fn walk_item(item: &toml_edit::Item, key: &str, offset: usize, out: &mut Vec<Finding>) {
    match item {
        toml_edit::Item::Value(v) => walk_value(v, key, offset, out),
        toml_edit::Item::Table(t) => walk_table(t, key, out),
        toml_edit::Item::ArrayOfTables(a) => a.iter().for_each(|t| walk_table(t, key, out)),
        toml_edit::Item::None => {}
    }
}

fn walk_value(value: &toml_edit::Value, key: &str, offset: usize, out: &mut Vec<Finding>) {
    let offset = value.span().map_or(offset, |s| s.start);
    match value {
        toml_edit::Value::String(s) => {
            if let Some(message) = scan_value(key, s.value()) {
                out.push(Finding {
                    offset,
                    key: Some(key.to_string()),
                    message,
                });
            }
        }
        toml_edit::Value::Array(a) => a.iter().for_each(|v| walk_value(v, key, offset, out)),
        toml_edit::Value::InlineTable(t) => walk_table(t, key, out),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318";

    #[test]
    fn refuses_keys_mnemonics_and_keystores_without_echoing_them() {
        let text = format!("[node]\nname = \"0x{KEY}\"\n");
        let f = scan_text(&text);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].key.as_deref(), Some("node.name"));
        assert!(!f[0].message.contains(KEY));

        let f = scan_text("[blockchain]\nprivate_key = \"x\"\n");
        assert_eq!(f[0].message, KEY_NAME);

        let phrase = "test test test test test test test test test test test junk";
        assert_eq!(scan_value("node.name", phrase), Some(MNEMONIC));
        let keystore = r#"{"crypto":{"ciphertext":"ab","kdf":"scrypt"}}"#;
        assert_eq!(scan_value("node.name", keystore), Some(KEYSTORE));
        assert_eq!(scan_value("x", &format!("  {KEY} ")), Some(PRIVATE_KEY));
    }

    #[test]
    fn ordinary_values_and_hashes_pass() {
        assert!(scan_text("[node]\nname = \"my gpu box\"\n[storage]\nmodels_dir = \"~/m\"\n").is_empty());
        assert_eq!(scan_value("compute.model_hash", &format!("0x{KEY}")), None);
        assert_eq!(scan_value("wallet.keystore_path", "/x"), None);
    }
}
