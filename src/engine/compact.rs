//! Compact byte strings for keys: up to 22 bytes stored inline, longer ones in one exact-size heap block.

use std::fmt;

const INLINE_CAPACITY: usize = 22;

/// A byte string of 24 bytes that keeps short keys (most keys are short) out of the heap.
#[derive(Clone, PartialEq, Eq)]
pub enum CompactBytes {
    Inline { len: u8, data: [u8; INLINE_CAPACITY] },
    Heap(Box<[u8]>),
}

impl CompactBytes {
    pub fn new(bytes: &[u8]) -> Self {
        if bytes.len() <= INLINE_CAPACITY {
            let mut data = [0; INLINE_CAPACITY];
            data[..bytes.len()].copy_from_slice(bytes);
            CompactBytes::Inline { len: bytes.len() as u8, data }
        } else {
            CompactBytes::Heap(bytes.into())
        }
    }

    pub fn as_slice(&self) -> &[u8] {
        match self {
            CompactBytes::Inline { len, data } => &data[..*len as usize],
            CompactBytes::Heap(bytes) => bytes,
        }
    }

    /// Heap bytes owned beyond the struct itself.
    pub fn heap_size(&self) -> usize {
        match self {
            CompactBytes::Inline { .. } => 0,
            CompactBytes::Heap(bytes) => bytes.len(),
        }
    }
}

impl fmt::Debug for CompactBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_slice()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_keys_are_inline_and_small() {
        assert_eq!(std::mem::size_of::<CompactBytes>(), 24);
        assert!(matches!(CompactBytes::new(b"key:000000012345"), CompactBytes::Inline { .. }));
        let long = vec![7u8; 100];
        assert_eq!(CompactBytes::new(&long).as_slice(), &long[..]);
        assert_eq!(CompactBytes::new(b"").as_slice(), b"");
    }
}
