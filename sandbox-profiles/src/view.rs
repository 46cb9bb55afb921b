//! The worker's view of the filesystem: inside its own mount table, a new root (a small
//! tmpfs) that holds only the paths its profile names, each bind-mounted from the host at the
//! same path. Landlock decides what the worker may do with files, but it does not govern
//! `connect()` to a Unix socket named by a path; without this view a worker that may open Unix
//! sockets could reach the node's API socket, a terminal multiplexer's or a container
//! engine's. In the view such a socket does not exist.
//!
//! The steps follow bubblewrap's: a tmpfs becomes the root with the old root beneath it, the
//! profile's paths are bound from the old root into a second tmpfs, and that one becomes the
//! root with the old root detached. The sequence is written here rather than by running
//! bubblewrap because the worker must build its view on itself, single-threaded, between
//! unsharing its namespaces and applying Landlock; the system calls are nix's.

use std::io;
use std::path::{Component, Path, PathBuf};

use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::unistd::pivot_root;

/// One path to bind into the view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Where the worker looks for it (the profile's path, absolute).
    pub at: PathBuf,
    /// What the host resolves it to, symbolic links followed.
    pub source: PathBuf,
    /// A directory, or a file (a bind over an empty file).
    pub dir: bool,
}

/// What to bind: the paths in `wanted` that exist on the host, resolved before the view is
/// built (an absolute link such as `/etc/resolv.conf` -> `/run/...` could not be followed from
/// beneath the new root). A path under one already listed is seen through it and not bound
/// again; a path that does not exist or is not reachable is left out, as Landlock leaves it out.
pub fn plan(wanted: &[PathBuf]) -> Vec<Entry> {
    let mut at: Vec<PathBuf> = wanted.iter().map(|p| lexical(p)).collect();
    at.sort();
    at.dedup();
    let mut out: Vec<Entry> = Vec::new();
    for path in at {
        if out.iter().any(|e| path.starts_with(&e.at)) {
            continue;
        }
        let Ok(source) = std::fs::canonicalize(&path) else {
            continue;
        };
        let Ok(meta) = std::fs::metadata(&source) else { continue };
        out.push(Entry {
            at: path,
            source,
            dir: meta.is_dir(),
        });
    }
    out
}

/// `path` made absolute without touching the filesystem: `.` and `..` resolved by name.
fn lexical(path: &Path) -> PathBuf {
    let joined = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut out = PathBuf::from("/");
    for c in joined.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(n) => out.push(n),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

/// Why the view could not be built: the step, and what the kernel said.
#[derive(Debug, thiserror::Error)]
#[error("{step}: {source}")]
pub struct ViewError {
    step: String,
    source: io::Error,
}

fn step<T, E: Into<io::Error>>(what: impl Into<String>, r: Result<T, E>) -> Result<T, ViewError> {
    r.map_err(|e| ViewError {
        step: what.into(),
        source: e.into(),
    })
}

/// Replaces the root of this process's mount table (which must be its own: the caller
/// unshared a mount namespace) with one that holds only `entries`. Single-threaded only.
pub fn enter(entries: &[Entry]) -> Result<(), ViewError> {
    let cwd = std::env::current_dir().ok();
    // Nothing done here may reach the host's mount table.
    let private = MsFlags::MS_REC | MsFlags::MS_PRIVATE;
    step("make the mount table private", mount(NONE, "/", NONE, private, NONE))?;
    // A first tmpfs becomes the root, with the old root beneath it at /oldroot, so the
    // profile's paths can be reached wherever they live (even under /tmp).
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    let tmpfs = Some("tmpfs");
    step(
        "mount a tmpfs on /tmp",
        mount(tmpfs, "/tmp", tmpfs, flags, Some("mode=0755,size=64k")),
    )?;
    for dir in ["/tmp/newroot", "/tmp/oldroot"] {
        step(format!("create {dir}"), std::fs::create_dir(dir))?;
    }
    step("pivot into the first tmpfs", pivot_root("/tmp", "/tmp/oldroot"))?;
    step("enter the first tmpfs", std::env::set_current_dir("/"))?;
    // The second tmpfs is the worker's root: directories, and empty files to bind over.
    step(
        "mount the new root",
        mount(tmpfs, "/newroot", tmpfs, flags, Some("mode=0755,size=1m")),
    )?;
    for e in entries {
        bind(e)?;
    }
    step("detach the old root", umount2("/oldroot", MntFlags::MNT_DETACH))?;
    step("enter the new root", std::env::set_current_dir("/newroot"))?;
    // pivot_root(".", ".") stacks the old root on the new one; detaching "." then drops it.
    step("pivot into the new root", pivot_root(".", "."))?;
    step("drop the first tmpfs", umount2(".", MntFlags::MNT_DETACH))?;
    // The working directory, if the view has it (the worker's paths are absolute).
    let back = cwd.filter(|d| d.is_dir()).unwrap_or_else(|| "/".into());
    step("return to the working directory", std::env::set_current_dir(back))?;
    Ok(())
}

/// No source, file system type or data for [`mount`].
const NONE: Option<&str> = None;

/// Binds `e.source` (from the old root) at `e.at` in the new root.
fn bind(e: &Entry) -> Result<(), ViewError> {
    let under = |root: &str, p: &Path| Path::new(root).join(p.strip_prefix("/").unwrap_or(p));
    let target = under("/newroot", &e.at);
    let what = e.at.display();
    if e.dir {
        step(format!("create {what}"), std::fs::create_dir_all(&target))?;
    } else {
        if let Some(parent) = target.parent() {
            step(format!("create {}", parent.display()), std::fs::create_dir_all(parent))?;
        }
        step(format!("create {what}"), std::fs::write(&target, b""))?;
    }
    let source = under("/oldroot", &e.source);
    let bind = MsFlags::MS_BIND | MsFlags::MS_REC;
    step(format!("bind {what}"), mount(Some(&source), &target, NONE, bind, NONE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_under_one_already_bound_is_not_bound_again() {
        let dir = std::env::temp_dir().join(format!("oarn-view-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("ipfs/blocks")).unwrap();
        std::fs::write(dir.join("resolv.conf"), "nameserver 127.0.0.1\n").unwrap();
        let wanted = [
            dir.join("ipfs/blocks"),
            dir.join("ipfs"),
            dir.join("resolv.conf"),
            dir.join("missing"),
        ];
        let plan = plan(&wanted);
        std::fs::remove_dir_all(&dir).unwrap();
        let at: Vec<_> = plan.iter().map(|e| (e.at.clone(), e.dir)).collect();
        assert_eq!(at, [(dir.join("ipfs"), true), (dir.join("resolv.conf"), false)]);
    }

    #[test]
    fn a_link_is_bound_from_what_it_points_to_at_its_own_path() {
        let dir = std::env::temp_dir().join(format!("oarn-view-link-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("real")).unwrap();
        std::os::unix::fs::symlink(dir.join("real"), dir.join("link")).unwrap();
        let plan = plan(&[dir.join("./x/../link")]);
        let real = std::fs::canonicalize(dir.join("real")).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            plan,
            [Entry {
                at: dir.join("link"),
                source: real,
                dir: true
            }]
        );
    }
}
