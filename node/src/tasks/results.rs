//! Result bytes kept in the node home (`tasks/results/<id>`, 0600) from inference until the
//! task ends and its retention passes ([`super::retention`]): the upload and the result notice
//! read them back, checked against the keccak256 the journal recorded, so a restart re-uploads
//! exactly what was computed.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use oarn_config::home::Home;
use sha2::Digest;

fn dir(home: &Home) -> PathBuf {
    home.root().join("tasks").join("results")
}

fn path(home: &Home, id: u64) -> PathBuf {
    dir(home).join(id.to_string())
}

/// Writes a task's result bytes, durably (written, synced, then renamed into place).
pub fn store(home: &Home, id: u64, bytes: &[u8]) -> Result<(), String> {
    let dir = dir(home);
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let tmp = dir.join(format!("{id}.part"));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path(home, id))
    };
    write().map_err(|e| format!("cannot keep the result of task {id}: {e}"))
}

/// Reads a task's result bytes back; they must hash to `keccak`.
pub fn load(home: &Home, id: u64, keccak: &[u8; 32]) -> Result<Vec<u8>, String> {
    let p = path(home, id);
    let bytes = std::fs::read(&p).map_err(|e| format!("the result of task {id} ({}) is gone: {e}", p.display()))?;
    let got: [u8; 32] = sha3::Keccak256::digest(&bytes).into();
    if &got != keccak {
        return Err(format!("the result of task {id} ({}) was changed on disk", p.display()));
    }
    Ok(bytes)
}

/// Keeps the fingerprint of the engine that produced a task's result (for its notice).
pub fn store_engine(home: &Home, id: u64, engine: &str) -> Result<(), String> {
    let p = dir(home).join(format!("{id}.engine"));
    std::fs::write(&p, engine).map_err(|e| format!("cannot keep {}: {e}", p.display()))
}

/// The fingerprint kept for a task's result (empty when none was).
pub fn engine(home: &Home, id: u64) -> String {
    std::fs::read_to_string(dir(home).join(format!("{id}.engine"))).unwrap_or_default()
}

/// Reads a task's result bytes, if kept.
pub fn read(home: &Home, id: u64) -> Option<Vec<u8>> {
    std::fs::read(path(home, id)).ok()
}

/// The tasks whose result bytes are kept, in no order.
pub fn kept(home: &Home) -> Vec<u64> {
    let Ok(entries) = std::fs::read_dir(dir(home)) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

/// Removes a task's result bytes and its engine's fingerprint; what is not there is no error.
pub fn remove(home: &Home, id: u64) -> Result<(), String> {
    for p in [path(home, id), dir(home).join(format!("{id}.engine"))] {
        match std::fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("cannot remove {}: {e}", p.display())),
        }
    }
    Ok(())
}
