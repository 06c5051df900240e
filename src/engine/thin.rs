//! `ThinBytes`: a byte string behind one 8-byte pointer, its length stored in the same
//! allocation. `Box<[u8]>` is a 16-byte fat pointer; halving it lets a keyspace entry fit jemalloc's
//! 48-byte size class instead of the 64-byte one, which is most of a small key's memory.

use std::alloc::{self, Layout};
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;

/// Bytes of the length header.
const HEADER: usize = std::mem::size_of::<u32>();

pub struct ThinBytes {
    /// Points at a `u32` length followed by that many bytes.
    ptr: NonNull<u8>,
}

// SAFETY: ThinBytes owns its allocation exclusively, like a Box<[u8]>; it is mutated only through
// `&mut self`.
unsafe impl Send for ThinBytes {}
// SAFETY: shared access only reads.
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

    /// Changes the length to `new_len` in place where the allocator can (bitmaps and HyperLogLogs
    /// edit their strings in place: copying a 1 MB bitmap per SETBIT would make it O(n)); bytes
    /// added at the end are zero. Same length limit as [`ThinBytes::new`].
    pub fn resize_zeroed(&mut self, new_len: usize) {
        let old_len = self.len();
        if new_len == old_len {
            return;
        }
        let len = u32::try_from(new_len).unwrap_or_else(|_| panic!("ThinBytes of {new_len} bytes exceeds 4 GiB"));
        let new_layout = Self::layout(new_len);
        // SAFETY: the block was allocated with `layout(old_len)`; the new size is non-zero (at least
        // HEADER bytes) and, being a valid layout, does not overflow isize.
        let raw = unsafe { alloc::realloc(self.ptr.as_ptr(), Self::layout(old_len), new_layout.size()) };
        let Some(ptr) = NonNull::new(raw) else {
            alloc::handle_alloc_error(new_layout);
        };
        self.ptr = ptr;
        // SAFETY: the block now holds HEADER + new_len bytes, aligned for u32 (realloc keeps the
        // alignment); the zeroed range lies inside it.
        unsafe {
            ptr.as_ptr().cast::<u32>().write(len);
            if new_len > old_len {
                std::ptr::write_bytes(ptr.as_ptr().add(HEADER + old_len), 0, new_len - old_len);
            }
        }
    }
}

impl Deref for ThinBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        // SAFETY: `len` bytes follow the header inside the live allocation.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().add(HEADER), self.len()) }
    }
}

impl DerefMut for ThinBytes {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: `len` bytes follow the header inside the live allocation, which `&mut self`
        // borrows exclusively.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr().add(HEADER), self.len()) }
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

    #[test]
    fn resizes_in_place_with_zero_padding() {
        let mut thin = ThinBytes::new(b"abc");
        thin[1] = b'X';
        thin.resize_zeroed(5000);
        assert_eq!(&thin[..3], b"aXc");
        assert!(thin[3..].iter().all(|b| *b == 0) && thin.len() == 5000);
        thin.resize_zeroed(2);
        assert_eq!(&*thin, b"aX");
        thin.resize_zeroed(4);
        assert_eq!(&*thin, b"aX\0\0");
    }
}
