//! Allocator tuning for processes that move large frames. glibc serves allocations above its
//! mmap threshold (128 KiB until it adapts) with fresh `mmap`s, so every 1 MiB frame decoded
//! would fault in 256 new pages and unmap them again; and a reader thread's arena trims its
//! heap after each frame. Keeping frame-sized allocations on the heap and the freed memory
//! for reuse makes 1 MiB frames about 30% faster (`benches/pipes.rs`).

/// Allocations below this come from the heap: twice the largest frame.
const MMAP_THRESHOLD: i32 = 32 << 20;
/// Freed memory up to this stays with the process for the next frame.
const TRIM_THRESHOLD: i32 = 64 << 20;

/// Applies the tuning to this process (glibc only; elsewhere nothing changes). Call it once,
/// early in `main`.
pub fn tune() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only sets allocator parameters; it is called before other threads
    // allocate.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
    }
}
