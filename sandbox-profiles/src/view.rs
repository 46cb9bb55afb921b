//! The worker's view of the filesystem: inside its own mount table, a new root (a small
//! tmpfs) that holds only the paths its profile names, each bind-mounted from the host at the
//! same path. Landlock decides what the worker may do with files, but it does not govern
//! `connect()` to a Unix socket named by a path; without this view a worker that may open Unix
//! sockets could reach the node's API socket, a terminal multiplexer's or a container
//! engine's. In the view such a socket does not exist.
//!
//! The steps follow bubblewrap's: a tmpfs becomes the root with the old root beneath it, the
//! profile's paths are bound from the old root into a second tmpfs, and that one becomes the
//! root with the old root detached. Written here rather than by running bubblewrap because the
//! worker must build its view on itself, single-threaded, between unsharing its namespaces and
//! applying Landlock; no crate does that.

use std::ffi::CString;
use std::io;
use std::path::{Component, Path, PathBuf};

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

fn step<T>(what: impl Into<String>, r: io::Result<T>) -> Result<T, ViewError> {
    r.map_err(|source| ViewError {
        step: what.into(),
        source,
    })
}

/// Replaces the root of this process's mount table (which must be its own: the caller
/// unshared a mount namespace) with one that holds only `entries`. Single-threaded only.
pub fn enter(entries: &[Entry]) -> Result<(), ViewError> {
    let cwd = std::env::current_dir().ok();
    // Nothing done here may reach the host's mount table.
    step(
        "make the mount table private",
        mount(None, "/", None, libc::MS_REC | libc::MS_PRIVATE, None),
    )?;
    // A first tmpfs becomes the root, with the old root beneath it at /oldroot, so the
    // profile's paths can be reached wherever they live (even under /tmp).
    let flags = libc::MS_NOSUID | libc::MS_NODEV;
    step(
        "mount a tmpfs on /tmp",
        mount(Some("tmpfs"), "/tmp", Some("tmpfs"), flags, Some("mode=0755,size=64k")),
    )?;
    for dir in ["/tmp/newroot", "/tmp/oldroot"] {
        step(format!("create {dir}"), std::fs::create_dir(dir))?;
    }
    step("pivot into the first tmpfs", pivot_root("/tmp", "/tmp/oldroot"))?;
    step("enter the first tmpfs", std::env::set_current_dir("/"))?;
    // The second tmpfs is the worker's root: directories, and empty files to bind over.
    let size = "mode=0755,size=1m";
    step(
        "mount the new root",
        mount(Some("tmpfs"), "/newroot", Some("tmpfs"), flags, Some(size)),
    )?;
    for e in entries {
        bind(e)?;
    }
    step("detach the old root", umount_detach("/oldroot"))?;
    step("enter the new root", std::env::set_current_dir("/newroot"))?;
    // pivot_root(".", ".") stacks the old root on the new one; detaching "." then drops it.
    step("pivot into the new root", pivot_root(".", "."))?;
    step("drop the first tmpfs", umount_detach("."))?;
    // The working directory, if the view has it (the worker's paths are absolute).
    let back = cwd.filter(|d| d.is_dir()).unwrap_or_else(|| "/".into());
    step("return to the working directory", std::env::set_current_dir(back))?;
    Ok(())
}

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
    step(
        format!("bind {what}"),
        mount(
            Some(path_str(&source)?.as_str()),
            path_str(&target)?.as_str(),
            None,
            libc::MS_BIND | libc::MS_REC,
            None,
        ),
    )
}

fn path_str(p: &Path) -> Result<String, ViewError> {
    p.to_str().map(str::to_string).ok_or_else(|| ViewError {
        step: format!("{}", p.display()),
        source: io::Error::new(io::ErrorKind::InvalidInput, "the path is not UTF-8"),
    })
}

fn cstr(s: &str) -> io::Result<CString> {
    CString::new(s.as_bytes()).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a NUL byte in a path"))
}

fn check(rc: libc::c_int) -> io::Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn mount(
    source: Option<&str>,
    target: &str,
    fstype: Option<&str>,
    flags: libc::c_ulong,
    data: Option<&str>,
) -> io::Result<()> {
    let source = source.map(cstr).transpose()?;
    let target = cstr(target)?;
    let fstype = fstype.map(cstr).transpose()?;
    let data = data.map(cstr).transpose()?;
    let ptr = |c: &Option<CString>| c.as_ref().map_or(std::ptr::null(), |c| c.as_ptr());
    // SAFETY: every pointer is a NUL-terminated string that outlives the call, or null.
    check(unsafe { libc::mount(ptr(&source), target.as_ptr(), ptr(&fstype), flags, ptr(&data).cast()) })
}

fn pivot_root(new_root: &str, put_old: &str) -> io::Result<()> {
    let (new_root, put_old) = (cstr(new_root)?, cstr(put_old)?);
    // SAFETY: two NUL-terminated paths; libc has no wrapper for pivot_root.
    let rc = unsafe { libc::syscall(libc::SYS_pivot_root, new_root.as_ptr(), put_old.as_ptr()) };
    check(rc as libc::c_int)
}

fn umount_detach(target: &str) -> io::Result<()> {
    let target = cstr(target)?;
    // SAFETY: a NUL-terminated path.
    check(unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) })
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
