//! The command line a worker is started with. The supervisor builds it with [`Launch::args`]
//! and the worker parses it with [`Launch::parse`] before anything else, so both sides agree.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;

use oarn_protocol::WorkerKind;

use crate::profile;

/// What a worker learns from its command line (it has no environment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    /// The node home the worker's profile grants paths under.
    pub home: PathBuf,
    /// A `tracing` filter such as `info` or `oarn=debug`.
    pub log_filter: String,
    /// The model cache (`{models}` in profiles).
    pub models: PathBuf,
    /// Memory budget in MiB (`{memory}`); 0 means physical memory.
    pub memory_mb: u64,
    /// A directory of profiles replacing the built-in ones.
    pub profiles: Option<PathBuf>,
    /// Probe mode (`oarn sandbox verify`): the loopback TCP and UDP ports to probe, instead
    /// of serving the supervisor.
    pub probe: Option<(u16, u16)>,
    /// The infer worker routes to the Ollama server at this address, under the
    /// `worker-infer-ollama` profile, instead of running llama.cpp.
    pub ollama: Option<SocketAddr>,
    /// ONNX Runtime's shared library, which the infer worker loads before its sandbox closes
    /// (`compute.onnxruntime`).
    pub onnxruntime: Option<PathBuf>,
    /// Privacy mode: the anonymity worker's SOCKS5 socket. The net and chain workers then
    /// enter their `-private` profiles (an empty network namespace, Unix sockets only) and
    /// reach the world only through it; the anonymity worker listens on it.
    pub anon_socket: Option<PathBuf>,
    /// An arti configuration file the anonymity worker reads before its sandbox closes
    /// (`privacy.tor_config`).
    pub tor_config: Option<PathBuf>,
    /// Privacy mode: seconds per rotation epoch (new circuits for new connections after each);
    /// 0 keeps circuits as Tor chooses.
    pub rotation_secs: u64,
    /// A one-shot command (after `--`) run inside the sandbox instead of serving the
    /// supervisor, such as `oarn wallet`'s key operations in the chain worker.
    pub command: Vec<OsString>,
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
    /// A value that is not a number.
    #[error("the value of {0} is not a number")]
    NotANumber(&'static str),
    /// A value that is not an IP address and port.
    #[error("the value of {0} is not an IP address and port (such as 127.0.0.1:11434)")]
    NotAnAddress(&'static str),
    /// `--home` was not given.
    #[error("--home is required")]
    NoHome,
}

impl Launch {
    /// The arguments (after the program name) that [`Launch::parse`] reads back.
    pub fn args(&self) -> Vec<OsString> {
        let mut args = vec![
            "--home".into(),
            self.home.clone().into_os_string(),
            "--log".into(),
            self.log_filter.clone().into(),
            "--models".into(),
            self.models.clone().into_os_string(),
            "--memory-mb".into(),
            self.memory_mb.to_string().into(),
        ];
        if let Some(dir) = &self.profiles {
            args.push("--profiles".into());
            args.push(dir.clone().into_os_string());
        }
        if let Some((tcp, udp)) = self.probe {
            args.push("--probe".into());
            args.push(format!("{tcp},{udp}").into());
        }
        if let Some(addr) = self.ollama {
            args.push("--ollama".into());
            args.push(addr.to_string().into());
        }
        if let Some(lib) = &self.onnxruntime {
            args.push("--onnxruntime".into());
            args.push(lib.clone().into_os_string());
        }
        if let Some(path) = &self.anon_socket {
            args.push("--anon-socket".into());
            args.push(path.clone().into_os_string());
        }
        if let Some(path) = &self.tor_config {
            args.push("--tor-config".into());
            args.push(path.clone().into_os_string());
        }
        if self.rotation_secs > 0 {
            args.push("--rotation-secs".into());
            args.push(self.rotation_secs.to_string().into());
        }
        if !self.command.is_empty() {
            args.push("--".into());
            args.extend(self.command.iter().cloned());
        }
        args
    }

    /// Parses arguments (after the program name).
    pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Self, LaunchError> {
        let mut home = None;
        let mut log_filter = "info".to_string();
        let mut models = None;
        let mut memory_mb = 0;
        let mut profiles = None;
        let mut probe = None;
        let mut ollama = None;
        let mut onnxruntime = None;
        let mut anon_socket = None;
        let mut tor_config = None;
        let mut rotation_secs = 0;
        let mut command = Vec::new();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let mut value = |name: &'static str| args.next().ok_or(LaunchError::MissingValue(name));
            match arg.to_str() {
                Some("--home") => home = Some(PathBuf::from(value("--home")?)),
                Some("--models") => models = Some(PathBuf::from(value("--models")?)),
                Some("--profiles") => profiles = Some(PathBuf::from(value("--profiles")?)),
                Some("--onnxruntime") => onnxruntime = Some(PathBuf::from(value("--onnxruntime")?)),
                Some("--anon-socket") => anon_socket = Some(PathBuf::from(value("--anon-socket")?)),
                Some("--tor-config") => tor_config = Some(PathBuf::from(value("--tor-config")?)),
                Some("--probe") => {
                    let v = value("--probe")?;
                    let ports = v
                        .to_str()
                        .and_then(|v| v.split_once(','))
                        .and_then(|(t, u)| Some((t.parse().ok()?, u.parse().ok()?)));
                    probe = Some(ports.ok_or(LaunchError::NotANumber("--probe"))?);
                }
                Some("--ollama") => {
                    let v = value("--ollama")?;
                    let addr = v.to_str().and_then(|v| v.parse().ok());
                    ollama = Some(addr.ok_or(LaunchError::NotAnAddress("--ollama"))?);
                }
                Some("--log") => {
                    log_filter = value("--log")?
                        .into_string()
                        .map_err(|_| LaunchError::NotUtf8("--log"))?;
                }
                Some("--rotation-secs") => {
                    rotation_secs = value("--rotation-secs")?
                        .to_str()
                        .and_then(|v| v.parse().ok())
                        .ok_or(LaunchError::NotANumber("--rotation-secs"))?;
                }
                Some("--memory-mb") => {
                    memory_mb = value("--memory-mb")?
                        .to_str()
                        .and_then(|v| v.parse().ok())
                        .ok_or(LaunchError::NotANumber("--memory-mb"))?;
                }
                Some("--") => {
                    command.extend(args.by_ref());
                    break;
                }
                _ => return Err(LaunchError::Unknown(arg)),
            }
        }
        let home: PathBuf = home.ok_or(LaunchError::NoHome)?;
        let models = models.unwrap_or_else(|| home.join("models"));
        Ok(Self {
            home,
            log_filter,
            models,
            memory_mb,
            profiles,
            probe,
            ollama,
            onnxruntime,
            anon_socket,
            tor_config,
            rotation_secs,
            command,
        })
    }

    /// The file name of the profile the worker of `kind` enters with this command line.
    pub fn profile_file(&self, kind: WorkerKind) -> String {
        match kind {
            WorkerKind::Infer if self.ollama.is_some() => profile::OLLAMA_FILE.to_string(),
            WorkerKind::Net | WorkerKind::Chain if self.anon_socket.is_some() => profile::private_file(kind),
            _ => profile::file_name(kind),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_parse_back() {
        let mut l = Launch {
            home: "/var/lib/oarn".into(),
            log_filter: "debug".into(),
            models: "/srv/models".into(),
            memory_mb: 2048,
            profiles: None,
            probe: None,
            ollama: None,
            onnxruntime: None,
            anon_socket: None,
            tor_config: None,
            rotation_secs: 0,
            command: Vec::new(),
        };
        assert_eq!(Launch::parse(l.args()).unwrap(), l);
        assert_eq!(l.profile_file(WorkerKind::Infer), "worker-infer.toml");
        l.ollama = Some("127.0.0.1:11434".parse().unwrap());
        assert_eq!(Launch::parse(l.args()).unwrap(), l);
        assert_eq!(l.profile_file(WorkerKind::Infer), "worker-infer-ollama.toml");
        assert_eq!(l.profile_file(WorkerKind::Net), "worker-net.toml");
        let bad = ["--home", "/h", "--ollama", "localhost"].map(OsString::from);
        assert!(matches!(Launch::parse(bad), Err(LaunchError::NotAnAddress(_))));
        l.profiles = Some("/etc/oarn/profiles".into());
        l.onnxruntime = Some("/opt/onnxruntime/libonnxruntime.so.1".into());
        l.probe = Some((4001, 4002));
        assert_eq!(Launch::parse(l.args()).unwrap(), l);
        l.anon_socket = Some("/var/lib/oarn/anon/socks.sock".into());
        l.tor_config = Some("/etc/oarn/arti.toml".into());
        l.rotation_secs = 3600;
        assert_eq!(Launch::parse(l.args()).unwrap(), l);
        assert_eq!(l.profile_file(WorkerKind::Net), "worker-net-private.toml");
        assert_eq!(l.profile_file(WorkerKind::Chain), "worker-chain-private.toml");
        assert_eq!(l.profile_file(WorkerKind::Anon), "worker-anon.toml");
        l.command = vec!["wallet".into(), "address".into(), "--home".into()];
        assert_eq!(Launch::parse(l.args()).unwrap(), l);
        let bad = ["--home", "/h", "--memory-mb", "x"].map(OsString::from);
        assert!(matches!(Launch::parse(bad), Err(LaunchError::NotANumber(_))));
        assert!(matches!(Launch::parse(["--nope".into()]), Err(LaunchError::Unknown(_))));
        assert!(matches!(
            Launch::parse(["--home".into()]),
            Err(LaunchError::MissingValue("--home"))
        ));
        assert!(matches!(Launch::parse(Vec::new()), Err(LaunchError::NoHome)));
    }
}
