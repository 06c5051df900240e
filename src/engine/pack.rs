//! A packed sequence of byte strings in one buffer: the compact encoding small lists, hashes and
//! sorted sets use, in the spirit of Redis's listpack.
//!
//! Each entry is its length as a LEB128 varint followed by its bytes, so a short string costs one
//! byte of overhead and the whole collection one allocation. Access by position walks the buffer,
//! which is why only small collections (bounded by the `*-max-listpack-*` settings) use it.
//!
//! The buffer is kept at exactly its used size. Millions of small packs are the common case (one per
//! small hash, list or sorted set) and a growable buffer's slack is most of their memory: building a
//! 190-byte hash with `Vec`'s doubling leaves a 320-byte block. Growing by the exact amount calls
//! `realloc` per edit, which jemalloc answers in place while the size stays in its size class (16
//! bytes apart up to 128, 4 classes per doubling above), so edits still copy the buffer only
//! O(log n) times as it grows.

/// Entries laid end to end in one exact-size buffer.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Pack {
    buf: Box<[u8]>,
    len: u32,
}

/// Reads the entry starting at `pos`: returns the byte range of its payload.
fn entry_at(buf: &[u8], pos: usize) -> (usize, usize) {
    let mut len = 0usize;
    let mut shift = 0;
    let mut at = pos;
    while let Some(&byte) = buf.get(at) {
        len |= usize::from(byte & 0x7f) << shift;
        at += 1;
        if byte & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    (at, at + len)
}

/// Bytes `encode_entry` writes for `item`.
fn encoded_len(item: &[u8]) -> usize {
    let mut len = item.len() >> 7;
    let mut prefix = 1;
    while len != 0 {
        len >>= 7;
        prefix += 1;
    }
    prefix + item.len()
}

fn encode_entry(item: &[u8], out: &mut Vec<u8>) {
    let mut len = item.len();
    loop {
        let byte = (len & 0x7f) as u8;
        len >>= 7;
        if len == 0 {
            out.push(byte);
            break;
        }
        out.push(byte | 0x80);
    }
    out.extend_from_slice(item);
}

impl Pack {
    pub fn new() -> Pack {
        Pack::default()
    }

    pub fn len(&self) -> usize {
        self.len as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes of the encoded entries.
    pub fn bytes(&self) -> usize {
        self.buf.len()
    }

    pub fn heap_size(&self) -> usize {
        self.buf.len()
    }

    /// Runs `edit` on the buffer as a `Vec` and stores it back at its exact length. `edit` reserves
    /// exactly what it adds, so the buffer is reallocated at most once and never shrunk afterwards.
    fn edit(&mut self, edit: impl FnOnce(&mut Vec<u8>)) {
        let mut buf = std::mem::take(&mut self.buf).into_vec();
        edit(&mut buf);
        self.buf = buf.into_boxed_slice();
    }

    pub fn iter(&self) -> PackIter<'_> {
        PackIter { buf: &self.buf, pos: 0, left: self.len as usize }
    }

    /// Byte offset of entry `index` (the end of the buffer for `index == len`).
    fn offset(&self, index: usize) -> usize {
        let mut pos = 0;
        for _ in 0..index {
            pos = entry_at(&self.buf, pos).1;
        }
        pos
    }

    pub fn get(&self, index: usize) -> Option<&[u8]> {
        if index >= self.len() {
            return None;
        }
        let (start, end) = entry_at(&self.buf, self.offset(index));
        Some(&self.buf[start..end])
    }

    pub fn push_back(&mut self, item: &[u8]) {
        self.edit(|buf| {
            buf.reserve_exact(encoded_len(item));
            encode_entry(item, buf);
        });
        self.len += 1;
    }

    pub fn push_front(&mut self, item: &[u8]) {
        self.insert(0, item);
    }

    /// Inserts `item` so that it becomes entry `index` (`index <= len`).
    pub fn insert(&mut self, index: usize, item: &[u8]) {
        let at = self.offset(index.min(self.len()));
        self.splice(at, at, item);
        self.len += 1;
    }

    /// Removes entries `start..end`.
    pub fn remove_range(&mut self, start: usize, end: usize) {
        let end = end.min(self.len());
        if start >= end {
            return;
        }
        let from = self.offset(start);
        let mut to = from;
        for _ in start..end {
            to = entry_at(&self.buf, to).1;
        }
        // `drain` leaves the capacity, `edit` then shrinks the block to the remaining bytes.
        self.edit(|buf| {
            buf.drain(from..to);
        });
        self.len -= (end - start) as u32;
    }

    pub fn remove(&mut self, index: usize) {
        self.remove_range(index, index + 1);
    }

    /// Replaces entry `index` with `item`.
    pub fn replace(&mut self, index: usize, item: &[u8]) {
        if index >= self.len() {
            return;
        }
        let from = self.offset(index);
        let to = entry_at(&self.buf, from).1;
        self.splice(from, to, item);
    }

    /// Replaces the bytes `from..to` with `item` encoded as an entry.
    fn splice(&mut self, from: usize, to: usize, item: &[u8]) {
        let mut encoded = Vec::with_capacity(encoded_len(item));
        encode_entry(item, &mut encoded);
        self.edit(|buf| {
            buf.reserve_exact(encoded.len().saturating_sub(to - from));
            buf.splice(from..to, encoded);
        });
    }

    /// Keeps the entries for which `keep(index, entry)` is true, in order.
    pub fn retain(&mut self, mut keep: impl FnMut(usize, &[u8]) -> bool) {
        let pack = self.iter().enumerate().filter_map(|(i, item)| keep(i, item).then_some(item)).collect();
        *self = pack;
    }
}

impl std::fmt::Debug for Pack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter().map(String::from_utf8_lossy)).finish()
    }
}

impl<'a> FromIterator<&'a [u8]> for Pack {
    /// Builds the buffer with `Vec`'s growth and trims it once, rather than reallocating per entry.
    fn from_iter<I: IntoIterator<Item = &'a [u8]>>(items: I) -> Pack {
        let mut buf = Vec::new();
        let mut len = 0;
        for item in items {
            encode_entry(item, &mut buf);
            len += 1;
        }
        Pack { buf: buf.into_boxed_slice(), len }
    }
}

/// Entries in order.
#[derive(Clone)]
pub struct PackIter<'a> {
    buf: &'a [u8],
    pos: usize,
    left: usize,
}

impl<'a> Iterator for PackIter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.left == 0 {
            return None;
        }
        let (start, end) = entry_at(self.buf, self.pos);
        self.pos = end;
        self.left -= 1;
        self.buf.get(start..end)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for PackIter<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_keep_entries_in_order() {
        let mut pack = Pack::new();
        pack.push_back(b"b");
        pack.push_front(b"a");
        pack.push_back(&[b'x'; 300]);
        pack.insert(2, b"c");
        assert_eq!(pack.len(), 4);
        assert_eq!(pack.get(0), Some(&b"a"[..]));
        assert_eq!(pack.get(2), Some(&b"c"[..]));
        assert_eq!(pack.get(3).map(<[u8]>::len), Some(300));
        pack.replace(1, b"bbbb");
        pack.remove(0);
        assert_eq!(pack.iter().collect::<Vec<_>>(), vec![&b"bbbb"[..], b"c", &[b'x'; 300][..]]);
        pack.remove_range(0, 2);
        assert_eq!(pack.len(), 1);
        pack.retain(|_, _| false);
        assert!(pack.is_empty());
        assert_eq!(pack.bytes(), 0);
        pack.push_back(b"");
        assert_eq!(pack.get(0), Some(&b""[..]));
    }

    #[test]
    fn encoded_len_matches_the_encoding() {
        for len in [0, 1, 127, 128, 16383, 16384] {
            let item = vec![b'x'; len];
            let mut out = Vec::new();
            encode_entry(&item, &mut out);
            assert_eq!(encoded_len(&item), out.len(), "item of {len} bytes");
        }
    }
}
