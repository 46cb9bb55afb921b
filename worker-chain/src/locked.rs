//! Memory for secrets: whole pages of their own, locked in RAM (never swapped out), left out
//! of core dumps, wiped and unmapped when dropped. Pages are never shared between two secrets,
//! so unlocking one never unlocks another (`mlock` is per page, not per allocation).

use std::marker::PhantomData;
use std::mem::{align_of, size_of};
use std::ops::Deref;
use std::ptr::NonNull;

use zeroize::Zeroize;

/// Bytes of stack wiped after a secret was built, below the builder's frame: where the key
/// derivation and parsing code kept its temporary copies.
const SCRUB_STACK: usize = 64 * 1024;

fn page_size() -> usize {
    // SAFETY: sysconf has no memory-safety preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size).ok().filter(|s| *s > 0).unwrap_or(4096)
}

/// Whole, private, anonymous pages; zero-filled when mapped.
pub struct Pages {
    ptr: NonNull<u8>,
    len: usize,
    locked: bool,
}

// SAFETY: `Pages` owns its mapping exclusively, like a `Box<[u8]>`.
unsafe impl Send for Pages {}
// SAFETY: shared access is read-only through `&self`.
unsafe impl Sync for Pages {}

impl Pages {
    /// At least `bytes` bytes, rounded up to whole pages. Locking is best effort (an
    /// unprivileged `RLIMIT_MEMLOCK` may be exhausted): [`Pages::is_locked`] says.
    ///
    /// # Panics
    /// When the kernel has no memory to map, like any allocation.
    pub fn new(bytes: usize) -> Self {
        let page = page_size();
        let len = bytes.max(1).div_ceil(page) * page;
        // SAFETY: a fresh private anonymous mapping; no existing memory is touched.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            std::alloc::handle_alloc_error(
                std::alloc::Layout::from_size_align(len, page).unwrap_or(std::alloc::Layout::new::<u8>()),
            );
        }
        // SAFETY: the mapping just made, `len` bytes long.
        let locked = unsafe {
            libc::madvise(ptr, len, libc::MADV_DONTDUMP);
            libc::mlock(ptr, len) == 0
        };
        Self {
            ptr: NonNull::new(ptr.cast()).expect("mmap never returns null on success"),
            len,
            locked,
        }
    }

    /// Whether the pages are locked in RAM.
    pub fn is_locked(&self) -> bool {
        self.locked
    }

    /// The whole mapping.
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: `len` mapped, initialised (zero-filled) bytes owned by `self`.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    /// The whole mapping, writable.
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `bytes`, and `&mut self` makes the access exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl std::fmt::Debug for Pages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pages({} bytes, locked: {}, redacted)", self.len, self.locked)
    }
}

impl Drop for Pages {
    fn drop(&mut self) {
        self.bytes_mut().zeroize();
        // SAFETY: the mapping made in `new`, unmapped once, here.
        unsafe {
            if self.locked {
                libc::munlock(self.ptr.as_ptr().cast(), self.len);
            }
            libc::munmap(self.ptr.as_ptr().cast(), self.len);
        }
    }
}

/// A value that lives in [`Pages`] of its own: its bytes are locked, and wiped after its own
/// `Drop` ran.
pub struct Locked<T> {
    pages: Pages,
    _value: PhantomData<T>,
}

// SAFETY: `Locked<T>` owns its `T` like a `Box<T>`.
unsafe impl<T: Send> Send for Locked<T> {}
// SAFETY: as above; `&Locked<T>` gives only `&T`.
unsafe impl<T: Sync> Sync for Locked<T> {}

impl<T> Locked<T> {
    /// Builds the value with `make`, moves it into locked pages, then wipes the stack below
    /// this frame, where `make` and the move left their temporary copies.
    pub fn build<E>(make: impl FnOnce() -> Result<T, E>) -> Result<Self, E> {
        assert!(align_of::<T>() <= page_size(), "a page-aligned value");
        let mut pages = Pages::new(size_of::<T>());
        let made = place(&mut pages, make);
        scrub_stack();
        made.map(|()| Self {
            pages,
            _value: PhantomData,
        })
    }

    /// Whether the value's pages are locked in RAM.
    pub fn is_locked(&self) -> bool {
        self.pages.is_locked()
    }
}

/// Runs `make` and writes its value at the start of `pages`; a frame of its own, so that
/// [`scrub_stack`] reaches everything it left behind.
#[inline(never)]
fn place<T, E>(pages: &mut Pages, make: impl FnOnce() -> Result<T, E>) -> Result<(), E> {
    let value = make()?;
    // SAFETY: the pages are page-aligned (so aligned for `T`, checked by the caller) and at
    // least `size_of::<T>()` long; nothing was written there before.
    unsafe { pages.bytes_mut().as_mut_ptr().cast::<T>().write(value) };
    Ok(())
}

/// Overwrites the stack below the caller's frame with zeros.
#[inline(never)]
fn scrub_stack() {
    let mut area = [0u8; SCRUB_STACK];
    area.zeroize();
    std::hint::black_box(&area);
}

impl<T> std::fmt::Debug for Locked<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Locked({:?})", self.pages)
    }
}

impl<T> Deref for Locked<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: `build` wrote a valid `T` there, dropped only in `drop`.
        unsafe { &*self.pages.bytes().as_ptr().cast::<T>() }
    }
}

impl<T> Drop for Locked<T> {
    fn drop(&mut self) {
        // SAFETY: the `T` written in `build`, dropped once; the pages are wiped after.
        unsafe { std::ptr::drop_in_place(self.pages.bytes_mut().as_mut_ptr().cast::<T>()) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_whole_zeroed_and_locked_when_the_limit_allows() {
        let mut p = Pages::new(10);
        assert_eq!(p.bytes().len() % page_size(), 0);
        assert!(p.bytes().iter().all(|b| *b == 0));
        p.bytes_mut()[..3].copy_from_slice(b"key");
        // Root, or an unprivileged limit of 64 KiB or more (the kernel's default is 8 MiB).
        assert!(p.is_locked(), "RLIMIT_MEMLOCK too low for one page?");
    }

    #[test]
    fn the_value_is_dropped_in_place() {
        use std::sync::Arc;
        let shared = Arc::new(());
        let locked = Locked::build(|| Ok::<_, ()>(shared.clone())).unwrap();
        assert_eq!(Arc::strong_count(&shared), 2);
        assert_eq!(**locked, ());
        drop(locked);
        assert_eq!(Arc::strong_count(&shared), 1);
    }

    #[test]
    fn a_failed_build_leaves_nothing() {
        assert!(Locked::<u64>::build(|| Err("no")).is_err());
    }
}
