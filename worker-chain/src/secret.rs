//! Secret bytes (keys, mnemonic entropy, passphrases): one fixed buffer in [`Pages`] of its
//! own (locked in RAM, out of core dumps), that never grows (so no stale copy is left behind by
//! a reallocation) and is wiped when dropped.

use zeroize::Zeroize;

use crate::locked::Pages;

/// A secret buffer of fixed capacity. `Debug` never shows the contents.
pub struct Secret {
    pages: Pages,
    capacity: usize,
    len: usize,
}

/// A secret that would not fit its buffer.
#[derive(Debug, thiserror::Error)]
#[error("the secret is longer than {capacity} bytes")]
pub struct TooLong {
    /// The buffer's capacity.
    pub capacity: usize,
}

impl Secret {
    /// An empty secret that can hold `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            pages: Pages::new(capacity),
            capacity: capacity.max(1),
            len: 0,
        }
    }

    /// A secret holding a copy of `bytes`; the caller wipes its own copy.
    pub fn copy_of(bytes: &[u8]) -> Self {
        let mut secret = Self::with_capacity(bytes.len());
        secret.pages.bytes_mut()[..bytes.len()].copy_from_slice(bytes);
        secret.len = bytes.len();
        secret
    }

    /// Appends `bytes`, refusing to grow past the capacity.
    pub fn extend(&mut self, bytes: &[u8]) -> Result<(), TooLong> {
        let end = self.len + bytes.len();
        if end > self.capacity {
            return Err(TooLong {
                capacity: self.capacity,
            });
        }
        self.pages.bytes_mut()[self.len..end].copy_from_slice(bytes);
        self.len = end;
        Ok(())
    }

    /// Drops the last `n` bytes (wiping them).
    pub fn truncate(&mut self, len: usize) {
        if len < self.len {
            self.pages.bytes_mut()[len..self.len].zeroize();
            self.len = len;
        }
    }

    /// The secret bytes.
    pub fn expose(&self) -> &[u8] {
        &self.pages.bytes()[..self.len]
    }

    /// Mutable access to the whole buffer, for filling it in place; `set_len` says how much of
    /// it is the secret.
    pub fn buffer_mut(&mut self) -> &mut [u8] {
        &mut self.pages.bytes_mut()[..self.capacity]
    }

    /// Sets how many bytes of the buffer are the secret.
    pub fn set_len(&mut self, len: usize) {
        assert!(len <= self.capacity, "secret length past its buffer");
        self.len = len;
    }

    /// Number of secret bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the secret is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret({} bytes, redacted)", self.len)
    }
}

impl PartialEq for Secret {
    /// Constant-time over the contents of equal-length secrets.
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len
            && self
                .expose()
                .iter()
                .zip(other.expose())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_grows_past_its_capacity() {
        let mut s = Secret::with_capacity(4);
        s.extend(b"abc").unwrap();
        assert!(s.extend(b"de").is_err());
        assert_eq!(s.expose(), b"abc");
        s.truncate(1);
        assert_eq!(s.expose(), b"a");
    }

    #[test]
    fn debug_hides_the_contents() {
        let s = Secret::copy_of(b"hunter2");
        assert_eq!(format!("{s:?}"), "Secret(7 bytes, redacted)");
    }
}
