//! `oarn config set`: changes one key in `config.toml`, keeping the operator's comments and
//! layout, and writes the file only if the result is a valid configuration.

use std::path::Path;

use super::load::{self, ConfigError};
use super::{Config, Loaded};

/// Why a key could not be set.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    /// The key is not part of the schema.
    #[error("unknown key {key:?}; `oarn config show` lists every key")]
    UnknownKey { key: String },
    /// The key names a section, not a value.
    #[error("{key:?} is a section; set one of its keys, e.g. {key}.{example}")]
    Section { key: String, example: String },
    /// The file is not valid TOML (fix it first, e.g. with `oarn config edit`).
    #[error("{0}")]
    Load(#[from] ConfigError),
    /// Writing the file failed.
    #[error("cannot write {path}: {source}")]
    Write { path: String, source: std::io::Error },
}

/// Sets `key` to `raw` (TOML syntax, or a bare string for string keys) in the file at `path`.
pub fn set(path: &Path, key: &str, raw: &str) -> Result<Loaded, EditError> {
    let current = Config::default()
        .get(key)
        .ok_or_else(|| EditError::UnknownKey { key: key.into() })?;
    if let Some(t) = current.as_table() {
        let example = t.keys().next().cloned().unwrap_or_default();
        return Err(EditError::Section {
            key: key.into(),
            example,
        });
    }
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ConfigError::Missing { path: path.into() }.into());
        }
        Err(source) => {
            return Err(ConfigError::Read {
                path: path.into(),
                source,
            }
            .into());
        }
    };
    let mut doc: toml_edit::DocumentMut = text.parse().map_err(|e: toml_edit::TomlError| {
        let problem = load::Problem {
            location: load::Location::File {
                path: path.into(),
                line: None,
                column: None,
            },
            key: None,
            message: e.message().to_string(),
        };
        ConfigError::Invalid {
            problems: vec![problem],
        }
    })?;

    let value = match (current.is_str(), load::parse_value(raw)) {
        (true, v) if !v.is_str() => toml_edit::value(raw),
        (_, toml::Value::String(s)) => toml_edit::value(s),
        _ => toml_edit::Item::Value(raw.parse::<toml_edit::Value>().unwrap_or_else(|_| raw.into())),
    };
    let parts: Vec<&str> = key.split('.').collect();
    let (last, sections) = parts.split_last().expect("a key has at least one part");
    let mut table = doc.as_table_mut();
    for section in sections {
        if !table.contains_key(section) {
            table.insert(section, toml_edit::table());
        }
        table = table[*section].as_table_mut().expect("schema sections are tables");
    }
    match table.get_mut(last).and_then(|i| i.as_value_mut()) {
        // Keep the comment and spacing around the old value.
        Some(old) => {
            let decor = old.decor().clone();
            *old = value.into_value().expect("a value item");
            *old.decor_mut() = decor;
        }
        None => {
            table.insert(last, value);
        }
    }

    let new_text = doc.to_string();
    // Validate exactly what will be written (no environment overrides).
    let loaded = load::parse(&new_text, path, Vec::new())?;
    write_atomic(path, new_text.as_bytes()).map_err(|source| EditError::Write {
        path: path.display().to_string(),
        source,
    })?;
    Ok(loaded)
}

/// Writes `bytes` to a temporary file beside `path`, keeps `path`'s mode, then renames it.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mode = std::fs::metadata(path)
        .map(|m| m.permissions().mode() & 0o7777)
        .unwrap_or(0o600);
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::super::template::TEMPLATE;
    use super::*;

    #[test]
    fn set_keeps_comments_and_validates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, TEMPLATE).unwrap();
        set(&path, "network.max_peers", "12").unwrap();
        set(&path, "node.log_level", "debug").unwrap();
        set(&path, "network.discovery.discovery_method", "manual").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("max_peers = 12"));
        assert!(text.contains("# Most peers kept connected at once"));
        assert!(text.contains("log_level = \"debug\""));
        let c = load::parse(&text, &path, Vec::new()).unwrap().config;
        assert_eq!(
            c.network.discovery.discovery_method,
            super::super::DiscoveryMethod::Manual
        );

        assert!(matches!(
            set(&path, "network.max_peerz", "1"),
            Err(EditError::UnknownKey { .. })
        ));
        assert!(matches!(set(&path, "network", "1"), Err(EditError::Section { .. })));
        assert!(matches!(set(&path, "network.max_peers", "0"), Err(EditError::Load(_))));
        assert!(matches!(
            set(&path, "network.max_peers", "many"),
            Err(EditError::Load(_))
        ));
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            text,
            "a refused set leaves the file untouched"
        );
    }
}
