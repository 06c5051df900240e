//! `ThinBytes`: an immutable byte string behind one 8-byte pointer, its length stored in the same
//! allocation. `Box<[u8]>` is a 16-byte fat pointer; halving it lets a keyspace entry fit jemalloc's
//! 48-byte size class instead of the 64-byte one, which is most of a small key's memory.

use std::alloc::{self, Layout};
use std::fmt;
use std::ops::Deref;
use std::ptr::NonNull;

/// Bytes of the length header.
const HEADER: usize = std::mem::size_of::<u32>();

pub struct ThinBytes {
    /// Points at a `u32` length followed by that many bytes.
    ptr: NonNull<u8>,
}

// SAFETY: ThinBytes owns its allocation exclusively and never mutates it after construction, like a
// Box<[u8]>.
unsafe impl Send for ThinBytes {}
// SAFETY: shared access only reads immutable bytes.
unsafe impl Sync for ThinBytes {}

impl ThinBytes {
    /// Copies `bytes` into a new allocation. Strings are capped well below 4 GiB by
    /// proto-max-bulk-len (at most 512 MB for a single string), so the length fits a u32.
    pub fn new(bytes: &[u8]) -> ThinBytes {
        let len = u32::try_from(bytes.len()).unwrap_or_else(|_| panic!("ThinBytes of {} bytes exceeds 4 GiB", bytes.len()));
        let layout = Self::layout(bytes.len());
        // SAFETY: the layout has a non-zero size (at least HEADER bytes).
        let raw = unsafe { alloc::alloc(layout) };
        let Some(ptr) = NonNull::new(raw) else {
            alloc::handle_alloc_error(layout);
        };
        // SAFETY: the allocation holds HEADER + len bytes and is aligned for u32; source and
        // destination do not overlap.
        unsafe {
            ptr.as_ptr().cast::<u32>().write(len);
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), ptr.as_ptr().add(HEADER), bytes.len());
        }
        ThinBytes { ptr }
    }

    fn layout(len: usize) -> Layout {
        Layout::from_size_align(HEADER + len, std::mem::align_of::<u32>()).unwrap_or_else(|_| panic!("ThinBytes layout of {len} bytes"))
    }

    fn len(&self) -> usize {
        // SAFETY: the header was written in `new` and the allocation lives as long as self.
        unsafe { self.ptr.as_ptr().cast::<u32>().read() as usize }
    }
}

impl Deref for ThinBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        // SAFETY: `len` bytes follow the header inside the live allocation.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().add(HEADER), self.len()) }
    }
}

impl Drop for ThinBytes {
    fn drop(&mut self) {
        let layout = Self::layout(self.len());
        // SAFETY: allocated in `new` with this same layout; dropped once.
        unsafe { alloc::dealloc(self.ptr.as_ptr(), layout) }
    }
}

impl Clone for ThinBytes {
    fn clone(&self) -> Self {
        ThinBytes::new(self)
    }
}

impl PartialEq for ThinBytes {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl fmt::Debug for ThinBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self))
    }
}

impl From<&[u8]> for ThinBytes {
    fn from(bytes: &[u8]) -> Self {
        ThinBytes::new(bytes)
    }
}

impl From<Vec<u8>> for ThinBytes {
    fn from(bytes: Vec<u8>) -> Self {
        ThinBytes::new(&bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_is_thin() {
        assert_eq!(std::mem::size_of::<ThinBytes>(), 8);
        assert_eq!(std::mem::size_of::<Option<ThinBytes>>(), 8);
        for len in [0usize, 1, 7, 100, 5000] {
            let bytes: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let thin = ThinBytes::new(&bytes);
            assert_eq!(&*thin, &bytes[..]);
            assert_eq!(&*thin.clone(), &bytes[..]);
        }
    }
}
