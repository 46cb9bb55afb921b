//! The node home (`~/.oarn` by default): where each of the node's files lives, and `oarn init`.

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::template::TEMPLATE;

/// Longest path a Unix socket address holds (sun_path, with its terminating NUL).
const SUN_PATH_MAX: usize = 107;

/// The node home directory and the files in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Home {
    root: PathBuf,
}

/// Why the node home could not be set up or used.
#[derive(Debug, thiserror::Error)]
pub enum HomeError {
    /// Neither `--home`, `OARN_HOME` nor `HOME` is set.
    #[error("cannot tell where the node home is: set --home, OARN_HOME or HOME")]
    NoHome,
    /// `oarn init` would overwrite an existing configuration.
    #[error("{} already exists; pass --force to overwrite it (the old file is kept as config.toml.bak)", path.display())]
    AlreadyInitialized { path: PathBuf },
    /// The socket path is longer than the kernel allows.
    #[error(
        "the node home path is too long for a Unix socket ({len} bytes, at most {SUN_PATH_MAX}); use a shorter --home"
    )]
    SocketPathTooLong { len: usize },
    /// A filesystem operation failed.
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> HomeError + 'a {
    move |source| HomeError::Io {
        what,
        path: path.into(),
        source,
    }
}

/// What `oarn init` did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Initialized {
    pub home: PathBuf,
    pub config: PathBuf,
    /// Where the previous config was kept, with `--force`.
    pub backup: Option<PathBuf>,
}

impl Home {
    /// The home given with `--home`/`OARN_HOME`, else `$HOME/.oarn`. Relative paths are made
    /// absolute, since the daemon and its workers must agree on them.
    pub fn resolve(explicit: Option<PathBuf>) -> Result<Self, HomeError> {
        let root = match explicit {
            Some(p) => p,
            None => PathBuf::from(std::env::var_os("HOME").ok_or(HomeError::NoHome)?).join(".oarn"),
        };
        let root = if root.is_absolute() {
            root
        } else {
            std::env::current_dir()
                .map_err(io("cannot read the current directory for", &root))?
                .join(root)
        };
        Ok(Self { root })
    }

    /// The home at an absolute path.
    pub fn at(root: PathBuf) -> Self {
        Self { root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
    pub fn config(&self) -> PathBuf {
        self.root.join("config.toml")
    }
    /// The JSON-RPC socket of the running daemon (mode 0600).
    pub fn socket(&self) -> PathBuf {
        self.root.join("oarn.sock")
    }
    /// Held locked by the running daemon; holds its pid.
    pub fn pid_file(&self) -> PathBuf {
        self.root.join("oarn.pid")
    }
    pub fn log_dir(&self) -> PathBuf {
        self.root.join("logs")
    }
    /// The daemon's log, one JSON object per line.
    pub fn log_file(&self) -> PathBuf {
        self.log_dir().join("oarn.log")
    }
    /// The bearer token of the HTTP JSON API (mode 0600), written by `oarn init` or the
    /// daemon's first start.
    pub fn api_token(&self) -> PathBuf {
        self.root.join("api.token")
    }
    /// The sealed wallet (mode 0600); `{keystore}` in sandbox profiles.
    pub fn keystore(&self) -> PathBuf {
        self.root.join("wallet.encrypted")
    }
    /// Checks the socket path fits a `sockaddr_un`.
    pub fn check_socket_path(&self) -> Result<(), HomeError> {
        let len = self.socket().as_os_str().len();
        if len > SUN_PATH_MAX {
            Err(HomeError::SocketPathTooLong { len })
        } else {
            Ok(())
        }
    }

    /// Creates the network worker's store, download staging and release-state directories and
    /// the anonymity worker's directory (0700) if missing: its sandbox grants exactly these, so they must exist before it starts.
    pub fn ensure_worker_dirs(&self) -> Result<(), HomeError> {
        for dir in ["ipfs", "downloads", "update", "anon"] {
            let path = self.root.join(dir);
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&path)
                .map_err(io("cannot create", &path))?;
        }
        Ok(())
    }

    /// Creates the home (0700) and a commented `config.toml` (0600).
    pub fn init(&self, force: bool) -> Result<Initialized, HomeError> {
        let config = self.config();
        let exists = config.exists();
        if exists && !force {
            return Err(HomeError::AlreadyInitialized { path: config });
        }
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.root)
            .map_err(io("cannot create", &self.root))?;
        std::fs::set_permissions(&self.root, std::fs::Permissions::from_mode(0o700))
            .map_err(io("cannot set mode 0700 on", &self.root))?;
        std::fs::DirBuilder::new()
            .mode(0o700)
            .recursive(true)
            .create(self.log_dir())
            .map_err(io("cannot create", &self.root))?;
        let backup = if exists {
            let bak = self.root.join("config.toml.bak");
            std::fs::copy(&config, &bak).map_err(io("cannot back up", &config))?;
            Some(bak)
        } else {
            None
        };
        write_private(&config, TEMPLATE.as_bytes())?;
        self.token()?;
        Ok(Initialized {
            home: self.root.clone(),
            config,
            backup,
        })
    }
}

impl Home {
    /// The HTTP JSON API's bearer token: read from [`Home::api_token`], or made (32 random
    /// bytes from the kernel, as 64 hex digits) and written 0600 when there is none. A token
    /// file that is not 64 hex digits is replaced.
    pub fn token(&self) -> Result<String, HomeError> {
        let path = self.api_token();
        if let Ok(text) = std::fs::read_to_string(&path) {
            let t = text.trim();
            if t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Ok(t.to_string());
            }
        }
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| HomeError::Io {
            what: "no randomness for",
            path: path.clone(),
            source: std::io::Error::other(e.to_string()),
        })?;
        let token = hex::encode(bytes);
        write_private(&path, format!("{token}\n").as_bytes())?;
        Ok(token)
    }
}

/// Writes a file readable by its owner only, replacing any old one atomically.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), HomeError> {
    // write_atomic keeps the mode of the file it replaces: make that 0600 first.
    if path.exists() {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(io("cannot set mode on", path))?;
    }
    crate::edit::write_atomic(path, bytes).map_err(io("cannot write", path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn init_creates_private_files_and_refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::resolve(Some(dir.path().join("node"))).unwrap();
        home.init(false).unwrap();
        assert_eq!(mode(home.root()), 0o700);
        assert_eq!(mode(&home.config()), 0o600);
        std::fs::write(home.config(), "# mine\n").unwrap();
        assert!(matches!(home.init(false), Err(HomeError::AlreadyInitialized { .. })));
        assert_eq!(std::fs::read_to_string(home.config()).unwrap(), "# mine\n");
        let done = home.init(true).unwrap();
        assert_eq!(std::fs::read_to_string(done.backup.unwrap()).unwrap(), "# mine\n");
        assert_eq!(std::fs::read_to_string(home.config()).unwrap(), TEMPLATE);
    }

    #[test]
    fn init_writes_a_private_api_token_that_stays_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::at(dir.path().join("node"));
        home.init(false).unwrap();
        assert_eq!(mode(&home.api_token()), 0o600);
        let token = home.token().unwrap();
        assert_eq!(token.len(), 64);
        assert_eq!(home.token().unwrap(), token, "read back, not made again");
        let other = Home::at(dir.path().join("other"));
        other.init(false).unwrap();
        assert_ne!(other.token().unwrap(), token, "each home has its own");
    }

    #[test]
    fn a_damaged_token_file_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::at(dir.path().to_path_buf());
        std::fs::write(home.api_token(), "short").unwrap();
        let token = home.token().unwrap();
        assert_eq!(token.len(), 64);
        assert_eq!(mode(&home.api_token()), 0o600);
    }
}
