//! Reading `config.toml`: syntax and type errors with file, line and column; `OARN_<SECTION>__<KEY>`
//! environment overrides; semantic validation with each problem located at its key.

use std::fmt;
use std::path::{Path, PathBuf};

use super::{Config, secrets};

/// A loaded, valid configuration and where its values came from.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    pub path: PathBuf,
    /// `(dotted key, environment variable)` for every override applied.
    pub overrides: Vec<(String, String)>,
}

/// Where a problem is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// In the file, at a 1-based line and column when known.
    File {
        path: PathBuf,
        line: Option<usize>,
        column: Option<usize>,
    },
    /// In an environment override.
    Env { var: String },
}

/// One thing wrong with the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub location: Location,
    /// The dotted key, when the problem belongs to one.
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Location::File {
                path,
                line: Some(l),
                column: Some(c),
            } => write!(f, "{}:{l}:{c}: ", path.display())?,
            Location::File {
                path,
                line: Some(l),
                column: None,
            } => write!(f, "{}:{l}: ", path.display())?,
            Location::File { path, .. } => write!(f, "{}: ", path.display())?,
            Location::Env { var } => write!(f, "environment variable {var}: ")?,
        }
        if let Some(key) = &self.key {
            write!(f, "{key}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// Why a configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// There is no configuration file yet.
    #[error("no configuration at {}; run `oarn init` to create one", path.display())]
    Missing { path: PathBuf },
    /// The file exists but could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    /// The file or an override is wrong; every problem is listed.
    #[error("invalid configuration:\n{}", render(problems))]
    Invalid { problems: Vec<Problem> },
}

fn render(problems: &[Problem]) -> String {
    problems.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n")
}

/// Loads `path` with the overrides found in the process environment.
pub fn load(path: &Path) -> Result<Loaded, ConfigError> {
    load_with_env(path, std::env::vars())
}

/// Loads `path`, or the defaults when there is no file yet (commands that work before
/// `oarn init`, such as `oarn model` and `oarn sandbox`).
pub fn load_or_default(path: &Path) -> Result<Config, ConfigError> {
    match load(path) {
        Ok(l) => Ok(l.config),
        Err(ConfigError::Missing { .. }) => Ok(Config::default()),
        Err(e) => Err(e),
    }
}

/// Loads `path` with overrides from `env` (pairs of name and value).
pub fn load_with_env(path: &Path, env: impl IntoIterator<Item = (String, String)>) -> Result<Loaded, ConfigError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ConfigError::Missing { path: path.into() });
        }
        Err(source) => {
            return Err(ConfigError::Read {
                path: path.into(),
                source,
            });
        }
    };
    parse(&text, path, env)
}

/// Parses configuration text that was read from `path`.
pub fn parse(text: &str, path: &Path, env: impl IntoIterator<Item = (String, String)>) -> Result<Loaded, ConfigError> {
    let at = |offset: Option<usize>| {
        let (line, column) = offset.map(|o| line_col(text, o)).unzip();
        Location::File {
            path: path.into(),
            line,
            column,
        }
    };
    let invalid = |problems| Err(ConfigError::Invalid { problems });

    let secrets = secrets::scan_text(text);
    if !secrets.is_empty() {
        return invalid(
            secrets
                .into_iter()
                .map(|s| Problem {
                    location: at(Some(s.offset)),
                    key: s.key,
                    message: s.message.to_string(),
                })
                .collect(),
        );
    }
    let mut table: toml::Table = match toml::from_str(text) {
        Ok(t) => t,
        Err(e) => return invalid(vec![toml_problem(&e, at(e.span().map(|s| s.start)))]),
    };
    if let Err(e) = toml::from_str::<Config>(text) {
        return invalid(vec![toml_problem(&e, at(e.span().map(|s| s.start)))]);
    }

    let mut overrides = Vec::new();
    let mut problems = Vec::new();
    for (var, raw) in env {
        let Some(key) = override_key(&var) else {
            continue;
        };
        let env_at = || Location::Env { var: var.clone() };
        if let Some(why) = secrets::scan_value(&key, &raw) {
            problems.push(Problem {
                location: env_at(),
                key: Some(key),
                message: why.to_string(),
            });
            continue;
        }
        let mut trial = table.clone();
        if let Err(message) = set_path(&mut trial, &key, parse_value(&raw)) {
            problems.push(Problem {
                location: env_at(),
                key: Some(key),
                message,
            });
            continue;
        }
        if let Err(e) = trial.clone().try_into::<Config>() {
            problems.push(Problem {
                location: env_at(),
                key: Some(key),
                message: e.message().to_string(),
            });
            continue;
        }
        table = trial;
        overrides.push((key, var));
    }
    if !problems.is_empty() {
        return invalid(problems);
    }
    let config: Config = match table.try_into() {
        Ok(c) => c,
        Err(e) => {
            return invalid(vec![Problem {
                location: at(None),
                key: None,
                message: e.message().to_string(),
            }]);
        }
    };

    let located = Located::new(text);
    let problems: Vec<Problem> = config
        .validate()
        .into_iter()
        .map(|(key, message)| {
            let location = match overrides.iter().find(|(k, _)| *k == key) {
                Some((_, var)) => Location::Env { var: var.clone() },
                None => at(located.offset(&key)),
            };
            Problem {
                location,
                key: Some(key),
                message,
            }
        })
        .collect();
    if !problems.is_empty() {
        return invalid(problems);
    }
    Ok(Loaded {
        config,
        path: path.into(),
        overrides,
    })
}

fn toml_problem(e: &toml::de::Error, location: Location) -> Problem {
    Problem {
        location,
        key: None,
        message: e.message().trim().to_string(),
    }
}

/// `OARN_NETWORK__MAX_PEERS` → `network.max_peers`; `None` for variables that are not overrides.
pub fn override_key(var: &str) -> Option<String> {
    let rest = var.strip_prefix("OARN_")?;
    if !rest.contains("__") {
        return None;
    }
    let parts: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
    if parts.iter().any(String::is_empty) {
        return None;
    }
    Some(parts.join("."))
}

/// A raw override value as TOML when it parses as a TOML value, else as a string.
pub fn parse_value(raw: &str) -> toml::Value {
    toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()))
}

fn set_path(table: &mut toml::Table, key: &str, value: toml::Value) -> Result<(), String> {
    let mut parts: Vec<&str> = key.split('.').collect();
    let last = parts.pop().expect("split yields at least one part");
    let mut t = table;
    for part in parts {
        let entry = t.entry(part).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        t = entry.as_table_mut().ok_or_else(|| format!("{part} is not a section"))?;
    }
    t.insert(last.to_string(), value);
    Ok(())
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// Finds where dotted keys are written in the file.
struct Located(Option<toml_edit::Document<String>>);

impl Located {
    fn new(text: &str) -> Self {
        Self(toml_edit::Document::parse(text.to_string()).ok())
    }

    fn offset(&self, key: &str) -> Option<usize> {
        let doc = self.0.as_ref()?;
        let mut table: &dyn toml_edit::TableLike = doc.as_table();
        let mut parts = key.split('.').peekable();
        while let Some(part) = parts.next() {
            let (k, item) = table.get_key_value(part)?;
            if parts.peek().is_none() {
                return k.span().or_else(|| item.span()).map(|s| s.start);
            }
            table = item.as_table_like()?;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str, env: &[(&str, &str)]) -> Vec<Problem> {
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        match parse(text, Path::new("/h/config.toml"), env) {
            Err(ConfigError::Invalid { problems }) => problems,
            other => panic!("expected problems, got {other:?}"),
        }
    }

    fn file_line(p: &Problem) -> Option<usize> {
        match p.location {
            Location::File { line, .. } => line,
            Location::Env { .. } => None,
        }
    }

    #[test]
    fn empty_file_is_all_defaults() {
        let l = parse("", Path::new("c.toml"), Vec::new()).unwrap();
        assert_eq!(l.config, Config::default());
    }

    #[test]
    fn syntax_error_names_line_and_column() {
        let p = problems("[node]\nname = \"x\"\nlog_level = \n", &[]);
        assert_eq!(file_line(&p[0]), Some(3));
        assert!(p[0].to_string().starts_with("/h/config.toml:3:"), "{}", p[0]);
    }

    #[test]
    fn unknown_key_and_wrong_type_name_their_line() {
        let p = problems("[network]\nmax_peers = 5\nmax_peerz = 6\n", &[]);
        assert_eq!(file_line(&p[0]), Some(3));
        assert!(p[0].message.contains("max_peerz"), "{}", p[0]);
        let p = problems("[network]\n\nmax_peers = \"many\"\n", &[]);
        assert_eq!(file_line(&p[0]), Some(3));
        let p = problems("[network]\nmode = \"turbo\"\n", &[]);
        assert!(
            p[0].message.contains("turbo") || p[0].message.contains("variant"),
            "{}",
            p[0]
        );
    }

    #[test]
    fn semantic_errors_are_located_at_their_key() {
        let p = problems("[node]\nlog_level = \"loud\"\n\n[network]\nmax_peers = 0\n", &[]);
        assert_eq!(p.len(), 2);
        assert_eq!(
            (p[0].key.as_deref(), file_line(&p[0])),
            (Some("node.log_level"), Some(2))
        );
        assert_eq!(
            (p[1].key.as_deref(), file_line(&p[1])),
            (Some("network.max_peers"), Some(5))
        );
    }

    #[test]
    fn keys_nothing_reads_are_accepted_warned_of_and_never_written() {
        let text = "[privacy]\ntor_enabled = true\n\n[compute]\nmax_vram_gb = 4\nthreads = 2\n";
        let l = parse(text, Path::new("c"), Vec::new()).unwrap();
        assert_eq!(l.config.compute.threads, 2);
        let keys: Vec<&str> = l.config.retired().iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, ["privacy.tor_enabled", "compute.max_vram_gb"]);
        let written = toml::to_string(&l.config).unwrap();
        assert!(
            !written.contains("tor_enabled") && !written.contains("max_vram_gb"),
            "{written}"
        );
        assert!(Config::default().retired().is_empty());
        // Values nothing can act on are refused, naming what is allowed.
        let p = problems("[network]\nmode = \"validator-routed\"\n", &[]);
        assert!(p[0].message.contains("standard"), "{}", p[0]);
        let p = problems("[network.discovery]\ndiscovery_method = \"dht\"\n", &[]);
        assert!(p[0].message.contains("manual"), "{}", p[0]);
    }

    #[test]
    fn manual_only_keys_are_refused_otherwise() {
        let p = problems("[blockchain]\nrpc_urls = [\"http://127.0.0.1:8545\"]\n", &[]);
        assert_eq!(p[0].key.as_deref(), Some("blockchain.rpc_urls"));
        assert!(p[0].message.contains("manual"));
        let ok = "[network.discovery]\ndiscovery_method = \"manual\"\n[blockchain]\nrpc_urls = [\"http://127.0.0.1:8545\"]\n";
        assert!(parse(ok, Path::new("c"), Vec::new()).is_ok());
    }

    #[test]
    fn env_overrides_apply_and_their_errors_name_the_variable() {
        let env = [
            ("OARN_NETWORK__MAX_PEERS".to_string(), "7".to_string()),
            ("OARN_HOME".into(), "/x".into()),
        ];
        let l = parse("[network]\nmax_peers = 5\n", Path::new("c"), env).unwrap();
        assert_eq!(l.config.network.max_peers, 7);
        assert_eq!(
            l.overrides,
            vec![("network.max_peers".to_string(), "OARN_NETWORK__MAX_PEERS".to_string())]
        );
        let l = parse(
            "",
            Path::new("c"),
            [("OARN_NETWORK__DISCOVERY__ENS_NAME".to_string(), "x.eth".to_string())],
        )
        .unwrap();
        assert_eq!(l.config.network.discovery.ens_name, "x.eth");

        let p = problems("", &[("OARN_NETWORK__MAX_PEERS", "lots")]);
        assert_eq!(
            p[0].location,
            Location::Env {
                var: "OARN_NETWORK__MAX_PEERS".into()
            }
        );
        let p = problems("", &[("OARN_NETWORK__MAX_PEERS", "0")]);
        assert_eq!(
            p[0].location,
            Location::Env {
                var: "OARN_NETWORK__MAX_PEERS".into()
            }
        );
        let p = problems("", &[("OARN_NODE__COLOUR", "blue")]);
        assert!(p[0].message.contains("colour"), "{}", p[0]);
    }
}
