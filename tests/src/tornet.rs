//! A private Tor network for tests and benchmarks: Debian's `tor` as 3 directory authorities
//! and 4 relays (2 of them exits) on the loopback of a network namespace the caller created
//! (`tests/fixtures/tornet/up.sh`), so nothing leaves the machine. An arti client uses it
//! through the `arti.toml` it writes (`privacy.tor_config`).

use std::path::{Path, PathBuf};

use crate::Netns;

/// Ports of the network: relays from BASE; the exits accept only BASE+950..BASE+999, so a
/// server reached through an exit listens there.
pub const BASE: u16 = 25000;

/// A private Tor network running in a namespace, stopped when dropped.
#[derive(Debug)]
pub struct TorNet {
    /// Its directory: each relay's data, and `arti.toml`.
    pub dir: PathBuf,
}

impl TorNet {
    /// Starts the network in `ns`, its files in `dir`, and waits until the authorities have
    /// published a consensus and every relay has it (about 40 s).
    pub fn up(ns: &Netns, dir: &Path) -> Self {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/tornet/up.sh");
        let out = ns
            .command(&script)
            .arg(dir)
            .arg(BASE.to_string())
            .output()
            .expect("run tests/fixtures/tornet/up.sh (needs Debian's tor: scripts/deps --test)");
        let net = Self { dir: dir.into() };
        assert!(
            out.status.success(),
            "the private Tor network did not come up: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        net
    }

    /// The arti configuration file for this network.
    pub fn arti_config(&self) -> PathBuf {
        self.dir.join("arti.toml")
    }
}

impl Drop for TorNet {
    fn drop(&mut self) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/tornet/down.sh");
        let _ = std::process::Command::new(script).arg(&self.dir).status();
    }
}
