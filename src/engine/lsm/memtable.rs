//! The memtable: an ordered, lock-free skiplist of internal keys.
//!
//! One writer (the group-commit leader) inserts while any number of readers
//! search and iterate. Once full it becomes immutable and is flushed to an L0 table.

use std::ops::Bound;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use crossbeam_skiplist::map::Entry;
use crossbeam_skiplist::SkipMap;
use parking_lot::Mutex;

use super::error::Error;
use super::iterator::InternalIterator;
use super::key::{self, IKey, IKeyRef, Kind};

/// Approximate bookkeeping bytes per entry (skiplist node, two `Bytes` handles).
const ENTRY_OVERHEAD: usize = 80;

/// Entries are copied into chunks of up to this size, so an insert costs no
/// allocation of its own and dropping a memtable frees a few large buffers instead
/// of two small ones per entry.
const ARENA_CHUNK: usize = 1 << 20;

/// An in-memory sorted table of recent writes.
pub(crate) struct Memtable {
    map: SkipMap<IKey, Bytes>,
    /// Tail of the current chunk; entries are split off its front.
    arena: Mutex<BytesMut>,
    chunk: usize,
    bytes: AtomicUsize,
    /// The WAL file whose records this memtable holds.
    pub wal_number: u64,
}

impl Memtable {
    /// A memtable expected to grow to about `capacity` bytes.
    pub(crate) fn new(wal_number: u64, capacity: usize) -> Self {
        Memtable {
            map: SkipMap::new(),
            arena: Mutex::new(BytesMut::new()),
            // Small memtables get small chunks so they do not each hold 1 MiB.
            chunk: (capacity / 8).clamp(4 << 10, ARENA_CHUNK),
            bytes: AtomicUsize::new(0),
            wal_number,
        }
    }

    pub(crate) fn insert(&self, user_key: &[u8], seq: u64, kind: Kind, value: &[u8]) {
        let klen = user_key.len() + 8;
        let n = klen + value.len();
        let entry = {
            let mut a = self.arena.lock();
            if a.capacity() - a.len() < n {
                *a = BytesMut::with_capacity(self.chunk.max(n));
            }
            a.extend_from_slice(user_key);
            a.extend_from_slice(&((seq << 8) | kind as u64).to_le_bytes());
            a.extend_from_slice(value);
            a.split_to(n).freeze()
        };
        self.bytes.fetch_add(n + ENTRY_OVERHEAD, Ordering::Relaxed);
        self.map.insert(IKey(entry.slice(..klen)), entry.slice(klen..));
    }

    /// Approximate memory used.
    pub(crate) fn size(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The newest entry for the key with sequence `<= seq` (given as the seek key).
    pub(crate) fn get(&self, user_key: &[u8], seek_key: &[u8]) -> Option<(Kind, Bytes)> {
        let e = self.map.lower_bound(Bound::Included(IKeyRef::new(seek_key)))?;
        let (uk, _, kind) = key::parse(&e.key().0)?;
        // Copied so a caller holding the value does not pin a whole arena chunk.
        (uk == user_key).then(|| (kind, Bytes::copy_from_slice(e.value())))
    }
}

/// Iterator over a memtable, walking the skiplist's links (O(1) per step).
pub(crate) struct MemIter {
    // IMPORTANT: `cur` is declared before `mem` so it is dropped first: it borrows
    // from the map that `mem` keeps alive.
    cur: Option<Entry<'static, IKey, Bytes>>,
    mem: Arc<Memtable>,
}

impl MemIter {
    pub(crate) fn new(mem: Arc<Memtable>) -> Self {
        MemIter { cur: None, mem }
    }

    fn map(&self) -> &'static SkipMap<IKey, Bytes> {
        // SAFETY: `self.mem` keeps the map alive for the iterator's whole life, the
        // map never moves (it sits inside the Arc's allocation), and every entry
        // borrowed from it is stored in `self.cur`, which is dropped before `mem`.
        unsafe { &*(&self.mem.map as *const SkipMap<IKey, Bytes>) }
    }
}

impl InternalIterator for MemIter {
    fn valid(&self) -> bool {
        self.cur.is_some()
    }
    fn key(&self) -> &[u8] {
        self.cur.as_ref().map_or(&[][..], |c| &c.key().0)
    }
    fn value(&self) -> &[u8] {
        self.cur.as_ref().map_or(&[][..], |c| c.value())
    }
    fn seek(&mut self, target: &[u8]) {
        self.cur = self.map().lower_bound(Bound::Included(IKeyRef::new(target)));
    }
    fn seek_to_first(&mut self) {
        self.cur = self.map().front();
    }
    fn seek_to_last(&mut self) {
        self.cur = self.map().back();
    }
    fn seek_for_prev(&mut self, target: &[u8]) {
        self.cur = self.map().upper_bound(Bound::Included(IKeyRef::new(target)));
    }
    fn next(&mut self) {
        self.cur = self.cur.take().and_then(|e| e.next());
    }
    fn prev(&mut self) {
        self.cur = self.cur.take().and_then(|e| e.prev());
    }
    fn take_err(&mut self) -> Option<Error> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_visible_version_wins() {
        let m = Memtable::new(1, 1 << 20);
        m.insert(b"a", 1, Kind::Put, b"a1");
        m.insert(b"a", 3, Kind::Put, b"a3");
        m.insert(b"a", 5, Kind::Delete, b"");
        m.insert(b"b", 2, Kind::Put, b"b2");
        let g = |k: &[u8], s| m.get(k, &key::make_internal(k, s, 0xff));
        assert_eq!(g(b"a", 2), Some((Kind::Put, Bytes::from_static(b"a1"))));
        assert_eq!(g(b"a", 4), Some((Kind::Put, Bytes::from_static(b"a3"))));
        assert_eq!(g(b"a", 9).map(|x| x.0), Some(Kind::Delete));
        assert_eq!(g(b"a", 0), None);
        assert_eq!(g(b"c", 9), None);
        let mut it = MemIter::new(Arc::new(m));
        it.seek_to_last();
        assert_eq!(key::user_key(it.key()), b"b");
        it.prev();
        assert_eq!(key::parse(it.key()).map(|p| p.1), Some(1));
    }
}
