//! Pipe tuning for whoever spawns a worker: a pipe's default 64 KiB buffer makes a 1 MiB frame
//! cost sixteen wake-ups of each side; a 1 MiB buffer moves it in one.

use std::os::fd::AsRawFd;

/// The pipe buffer asked for: Linux's default `/proc/sys/fs/pipe-max-size`.
pub const PIPE_BUFFER: i32 = 1 << 20;

/// Grows the buffer of the pipe behind `fd` to [`PIPE_BUFFER`]. Best effort: where the kernel
/// refuses (a lower `pipe-max-size`, or the user's pipe quota), the pipe keeps its size.
pub fn grow(fd: &impl AsRawFd) -> bool {
    // SAFETY: F_SETPIPE_SZ takes an integer argument and fails harmlessly on non-pipes.
    unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETPIPE_SZ, PIPE_BUFFER) >= PIPE_BUFFER }
}
