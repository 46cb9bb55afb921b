//! The command line a worker is started with. The supervisor builds it with [`Launch::args`]
//! and the worker parses it with [`Launch::parse`] before anything else, so both sides agree.

use std::ffi::OsString;
use std::path::PathBuf;

/// What a worker learns from its command line (it has no environment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    /// The node home the worker's profile grants paths under.
    pub home: PathBuf,
    /// A `tracing` filter such as `info` or `oarn=debug`.
    pub log_filter: String,
}

/// A command line the worker cannot use.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// An argument the worker does not know.
    #[error("unknown argument {0:?}; workers are started by the oarn supervisor, not by hand")]
    Unknown(OsString),
    /// An option without its value.
    #[error("{0} needs a value")]
    MissingValue(&'static str),
    /// A value that is not UTF-8.
    #[error("the value of {0} is not UTF-8")]
    NotUtf8(&'static str),
    /// `--home` was not given.
    #[error("--home is required")]
    NoHome,
}

impl Launch {
    /// The arguments (after the program name) that [`Launch::parse`] reads back.
    pub fn args(&self) -> Vec<OsString> {
        vec![
            "--home".into(),
            self.home.clone().into_os_string(),
            "--log".into(),
            self.log_filter.clone().into(),
        ]
    }

    /// Parses arguments (after the program name).
    pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Self, LaunchError> {
        let mut home = None;
        let mut log_filter = "info".to_string();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            match arg.to_str() {
                Some("--home") => {
                    home = Some(PathBuf::from(
                        args.next().ok_or(LaunchError::MissingValue("--home"))?,
                    ))
                }
                Some("--log") => {
                    log_filter = args
                        .next()
                        .ok_or(LaunchError::MissingValue("--log"))?
                        .into_string()
                        .map_err(|_| LaunchError::NotUtf8("--log"))?
                }
                _ => return Err(LaunchError::Unknown(arg)),
            }
        }
        Ok(Self {
            home: home.ok_or(LaunchError::NoHome)?,
            log_filter,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_parse_back() {
        let l = Launch {
            home: "/var/lib/oarn".into(),
            log_filter: "debug".into(),
        };
        assert_eq!(Launch::parse(l.args()).unwrap(), l);
        assert!(matches!(
            Launch::parse(["--nope".into()]),
            Err(LaunchError::Unknown(_))
        ));
        assert!(matches!(
            Launch::parse(["--home".into()]),
            Err(LaunchError::MissingValue("--home"))
        ));
        assert!(matches!(
            Launch::parse(Vec::new()),
            Err(LaunchError::NoHome)
        ));
    }
}
