//! Where `oarn update` installs: side by side, one directory per version, and a link the
//! operator's `oarn` resolves through, switched atomically.
//!
//! ```text
//! PREFIX/versions/0.1.0/{oarn, oarn-worker-*}
//! PREFIX/versions/0.2.0/{oarn, oarn-worker-*}
//! PREFIX/current  -> versions/0.2.0      (what runs; ~/.local/bin/oarn links to current/oarn)
//! PREFIX/previous -> versions/0.1.0      (what `oarn update rollback` returns to)
//! ```
//!
//! A link is switched by creating the new link beside it and renaming it over the old one, so
//! any process starting `oarn` gets one version or the other, never a mix: the supervisor finds
//! its workers next to its own resolved path. An `oarn` not in this layout (a package's, or a
//! source build) is refused: whatever installed it updates it.

use std::path::{Path, PathBuf};

/// Why this `oarn` cannot be updated in place, or a switch failed.
#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    /// A package manager owns the binary.
    #[error(
        "{} belongs to the {manager}: update it with {how}; `oarn update` changes only installations made by install.sh",
        exe.display()
    )]
    Packaged {
        exe: PathBuf,
        manager: &'static str,
        how: &'static str,
    },
    /// The binary is not in the side-by-side layout.
    #[error(
        "{} is not in an installation `oarn update` manages (PREFIX/versions/VERSION/oarn with a PREFIX/current link, as install.sh makes): update it the way it was installed, e.g. `git pull && scripts/start` for a source build",
        exe.display()
    )]
    Unmanaged { exe: PathBuf },
    /// No earlier version to go back to.
    #[error("no earlier version to roll back to ({} does not exist)", link.display())]
    NoPrevious { link: PathBuf },
    /// The version asked for is the one installed as current.
    #[error("oarn {0} is already the current version")]
    Current(String),
    /// Reading or switching a link failed.
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> LayoutError + '_ {
    move |source| LayoutError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// An installation `oarn update` manages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub prefix: PathBuf,
}

/// Where dpkg lists the files of the package `oarn`.
const DPKG_LIST: &str = "/var/lib/dpkg/info/oarn.list";

impl Layout {
    /// The installation `exe` (this process's own resolved path) belongs to.
    pub fn of(exe: &Path) -> Result<Layout, LayoutError> {
        if std::fs::read_to_string(DPKG_LIST).is_ok_and(|l| l.lines().any(|f| Path::new(f) == exe)) {
            return Err(LayoutError::Packaged {
                exe: exe.to_owned(),
                manager: "Debian package oarn",
                how: "`apt update && apt install oarn`",
            });
        }
        if exe.starts_with("/usr") && !exe.starts_with("/usr/local") {
            return Err(LayoutError::Packaged {
                exe: exe.to_owned(),
                manager: "system's package manager (it is under /usr)",
                how: "that package manager (apt, dnf)",
            });
        }
        let unmanaged = || LayoutError::Unmanaged { exe: exe.to_owned() };
        let version_dir = exe.parent().ok_or_else(unmanaged)?;
        let versions = version_dir
            .parent()
            .filter(|v| v.file_name() == Some("versions".as_ref()));
        let prefix = versions.and_then(Path::parent).ok_or_else(unmanaged)?;
        let layout = Layout {
            prefix: prefix.to_owned(),
        };
        if !layout.link("current").is_symlink() {
            return Err(unmanaged());
        }
        Ok(layout)
    }

    /// The directory of `version`.
    pub fn version_dir(&self, version: &str) -> PathBuf {
        self.prefix.join("versions").join(version)
    }

    fn link(&self, name: &str) -> PathBuf {
        self.prefix.join(name)
    }

    /// The version a link points at, if it exists.
    pub fn pointed(&self, name: &str) -> Result<Option<String>, LayoutError> {
        let link = self.link(name);
        match std::fs::read_link(&link) {
            Ok(target) => Ok(target.file_name().map(|v| v.to_string_lossy().into_owned())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(&link)(e)),
        }
    }

    /// Points link `name` at `versions/VERSION`, atomically.
    fn point(&self, name: &str, version: &str) -> Result<(), LayoutError> {
        let link = self.link(name);
        let fresh = self.link(&format!(".{name}.new"));
        let _ = std::fs::remove_file(&fresh);
        std::os::unix::fs::symlink(Path::new("versions").join(version), &fresh).map_err(io(&fresh))?;
        std::fs::rename(&fresh, &link).map_err(io(&link))?;
        std::fs::File::open(&self.prefix)
            .and_then(|d| d.sync_all())
            .map_err(io(&self.prefix))
    }

    /// Makes `version` (already unpacked) current, and the current one previous.
    pub fn switch_to(&self, version: &str) -> Result<Switched, LayoutError> {
        let from = self.pointed("current")?;
        if from.as_deref() == Some(version) {
            return Err(LayoutError::Current(version.to_owned()));
        }
        if let Some(old) = &from {
            self.point("previous", old)?;
        }
        self.point("current", version)?;
        Ok(Switched {
            from,
            to: version.to_owned(),
        })
    }

    /// Swaps current and previous.
    pub fn rollback(&self) -> Result<Switched, LayoutError> {
        let link = self.link("previous");
        let Some(back) = self.pointed("previous")?.filter(|v| self.version_dir(v).is_dir()) else {
            return Err(LayoutError::NoPrevious { link });
        };
        self.switch_to(&back)
    }
}

/// A switch of the current version.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Switched {
    /// The version current before (now previous).
    pub from: Option<String>,
    /// The version current now.
    pub to: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// PREFIX/versions/{0.1.0,0.2.0}/oarn with current → 0.1.0.
    fn installed() -> (tempfile::TempDir, Layout) {
        let tmp = tempfile::tempdir().unwrap();
        for v in ["0.1.0", "0.2.0"] {
            let dir = tmp.path().join("versions").join(v);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("oarn"), v).unwrap();
        }
        std::os::unix::fs::symlink("versions/0.1.0", tmp.path().join("current")).unwrap();
        let layout = Layout::of(&tmp.path().join("versions/0.1.0/oarn")).unwrap();
        (tmp, layout)
    }

    fn current(tmp: &tempfile::TempDir) -> String {
        std::fs::read_to_string(tmp.path().join("current/oarn")).unwrap()
    }

    #[test]
    fn switching_makes_the_new_version_current_and_keeps_the_old_as_previous() {
        let (tmp, layout) = installed();
        let s = layout.switch_to("0.2.0").unwrap();
        assert_eq!((s.from.as_deref(), s.to.as_str()), (Some("0.1.0"), "0.2.0"));
        assert_eq!(current(&tmp), "0.2.0");
        assert_eq!(layout.pointed("previous").unwrap().as_deref(), Some("0.1.0"));
        assert!(!tmp.path().join(".current.new").exists(), "no stray link");

        let back = layout.rollback().unwrap();
        assert_eq!(back.to, "0.1.0");
        assert_eq!(current(&tmp), "0.1.0");
        assert_eq!(layout.pointed("previous").unwrap().as_deref(), Some("0.2.0"));
    }

    #[test]
    fn rollback_without_a_previous_version_says_so_and_changes_nothing() {
        let (tmp, layout) = installed();
        assert!(matches!(layout.rollback(), Err(LayoutError::NoPrevious { .. })));
        assert_eq!(current(&tmp), "0.1.0");
    }

    #[test]
    fn a_binary_outside_the_layout_is_not_updated_in_place() {
        let tmp = tempfile::tempdir().unwrap();
        let e = Layout::of(&tmp.path().join("target/debug/oarn")).unwrap_err();
        assert!(matches!(e, LayoutError::Unmanaged { .. }), "{e}");
        let e = Layout::of(Path::new("/usr/bin/oarn")).unwrap_err();
        assert!(matches!(e, LayoutError::Packaged { .. }), "{e}");
        assert!(e.to_string().contains("package manager"), "{e}");
        // versions/V/oarn without a current link is not an installation either.
        std::fs::create_dir_all(tmp.path().join("versions/0.1.0")).unwrap();
        let e = Layout::of(&tmp.path().join("versions/0.1.0/oarn")).unwrap_err();
        assert!(matches!(e, LayoutError::Unmanaged { .. }), "{e}");
    }
}
