//! [`WriteBatch`]: a group of puts and deletes applied atomically.

use super::coding::{put_bytes, Reader};
use super::key::Kind;

/// Puts and deletes that [`Db::write`](super::Db::write) applies atomically: after a
/// crash either all of them are there or none. Entry `i` gets sequence number
/// `first + i`, so a later entry for the same key wins.
///
/// Encoded as `(kind u8 | key len-prefixed | value len-prefixed if put)*`, which is
/// also the body of the batch's WAL record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteBatch {
    pub(crate) rep: Vec<u8>,
    pub(crate) count: u32,
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> Self {
        WriteBatch::default()
    }

    /// An empty batch with room for `bytes` of encoded operations (each takes its
    /// key and value plus up to 11 bytes).
    pub fn with_capacity(bytes: usize) -> Self {
        WriteBatch { rep: Vec::with_capacity(bytes), count: 0 }
    }

    /// Sets `key` to `value`.
    pub fn put(&mut self, key: &[u8], value: &[u8]) -> &mut Self {
        self.rep.push(Kind::Put as u8);
        put_bytes(&mut self.rep, key);
        put_bytes(&mut self.rep, value);
        self.count += 1;
        self
    }

    /// Deletes `key`.
    pub fn delete(&mut self, key: &[u8]) -> &mut Self {
        self.rep.push(Kind::Delete as u8);
        put_bytes(&mut self.rep, key);
        self.count += 1;
        self
    }

    /// Number of operations.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// True when the batch holds no operation.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Appends `other`'s operations after this batch's, in order.
    pub fn append(&mut self, other: &WriteBatch) {
        self.rep.extend_from_slice(&other.rep);
        self.count += other.count;
    }

    /// Removes every operation, keeping the allocation.
    pub fn clear(&mut self) {
        self.rep.clear();
        self.count = 0;
    }

    /// Approximate encoded size in bytes.
    pub fn size(&self) -> usize {
        self.rep.len()
    }
}

/// Decodes an encoded batch body, calling `f(kind, key, value)` for `count` entries.
/// Returns `None` when the body is malformed or has a different number of entries.
pub(crate) fn for_each(rep: &[u8], count: u32, mut f: impl FnMut(Kind, &[u8], &[u8])) -> Option<()> {
    let mut r = Reader::new(rep);
    let mut n = 0u32;
    while !r.is_empty() {
        let kind = Kind::from_u8(r.u8()?)?;
        let k = r.bytes()?;
        let v = match kind {
            Kind::Put => r.bytes()?,
            Kind::Delete => &[][..],
        };
        f(kind, k, v);
        n += 1;
    }
    (n == count).then_some(())
}
