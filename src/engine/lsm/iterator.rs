//! Iterators over internal keys and the user-facing [`DbIterator`].
//!
//! Every source (memtable, table) implements [`InternalIterator`]; a
//! [`MergingIterator`] merges them in one direction with a heap; [`DbIterator`]
//! turns the merged internal entries into user entries visible at one sequence
//! number (newest version wins, tombstones hide, bounds applied).

use std::cmp::Ordering;
use std::collections::binary_heap::PeekMut;
use std::collections::BinaryHeap;
use std::ops::Bound;
use std::sync::Arc;

use bytes::Bytes;

use super::error::Error;
use super::key::{self, Kind};

/// A positioned cursor over internal keys in internal-key order.
pub(crate) trait InternalIterator: Send {
    fn valid(&self) -> bool;
    /// The current internal key; only while `valid()`.
    fn key(&self) -> &[u8];
    /// The current value; only while `valid()`.
    fn value(&self) -> &[u8];
    /// First entry `>= target`.
    fn seek(&mut self, target: &[u8]);
    fn seek_to_first(&mut self);
    fn seek_to_last(&mut self);
    fn next(&mut self);
    fn prev(&mut self);
    /// The error that made the iterator invalid, if it stopped on one.
    fn take_err(&mut self) -> Option<Error>;

    /// Last entry `<= target`.
    fn seek_for_prev(&mut self, target: &[u8]) {
        self.seek(target);
        if !self.valid() {
            if self.take_err_peek() {
                return;
            }
            self.seek_to_last();
        } else if key::compare(self.key(), target) == Ordering::Greater {
            self.prev();
        }
    }

    /// True when the iterator stopped on an error (the error stays in place).
    fn take_err_peek(&self) -> bool {
        false
    }
}

/// Heap slot: child index, ordered so the heap top is the next entry in the
/// iteration direction.
struct Slot {
    idx: usize,
    key: Vec<u8>,
    forward: bool,
}

impl PartialEq for Slot {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Slot {}
impl PartialOrd for Slot {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Slot {
    fn cmp(&self, o: &Self) -> Ordering {
        // BinaryHeap is a max-heap. Forward wants the smallest key on top; ties go to
        // the lower child index, which is the newer source.
        let c = key::compare(&self.key, &o.key).then(self.idx.cmp(&o.idx));
        if self.forward {
            c.reverse()
        } else {
            c
        }
    }
}

/// Merges child iterators (index 0 = newest source) in one direction.
pub(crate) struct MergingIterator {
    children: Vec<Box<dyn InternalIterator>>,
    heap: BinaryHeap<Slot>,
    forward: bool,
    cur: Option<usize>,
    err: Option<Error>,
}

impl MergingIterator {
    pub(crate) fn new(children: Vec<Box<dyn InternalIterator>>) -> Self {
        MergingIterator { children, heap: BinaryHeap::new(), forward: true, cur: None, err: None }
    }

    fn push(&mut self, idx: usize) {
        let c = &mut self.children[idx];
        if c.valid() {
            let mut key = Vec::new();
            key.extend_from_slice(c.key());
            self.heap.push(Slot { idx, key, forward: self.forward });
        } else if let Some(e) = c.take_err() {
            if self.err.is_none() {
                self.err = Some(e);
            }
        }
    }

    fn rebuild(&mut self) {
        self.heap.clear();
        for i in 0..self.children.len() {
            self.push(i);
        }
        self.pick();
    }

    fn pick(&mut self) {
        self.cur = if self.err.is_some() { None } else { self.heap.peek().map(|s| s.idx) };
    }

    fn advance(&mut self) {
        let forward = self.forward;
        let Self { children, heap, err, .. } = self;
        if let Some(mut top) = heap.peek_mut() {
            let c = &mut children[top.idx];
            if forward {
                c.next();
            } else {
                c.prev();
            }
            if c.valid() {
                // Replace the top in place: one sift instead of a pop and a push, and
                // the slot's key buffer is reused.
                top.key.clear();
                top.key.extend_from_slice(c.key());
            } else {
                if let Some(e) = c.take_err() {
                    err.get_or_insert(e);
                }
                PeekMut::pop(top);
            }
        }
        self.pick();
    }
}

impl InternalIterator for MergingIterator {
    fn valid(&self) -> bool {
        self.cur.is_some()
    }
    fn key(&self) -> &[u8] {
        self.cur.map_or(&[][..], |i| self.children[i].key())
    }
    fn value(&self) -> &[u8] {
        self.cur.map_or(&[][..], |i| self.children[i].value())
    }
    fn seek(&mut self, target: &[u8]) {
        self.forward = true;
        for c in &mut self.children {
            c.seek(target);
        }
        self.rebuild();
    }
    fn seek_to_first(&mut self) {
        self.forward = true;
        for c in &mut self.children {
            c.seek_to_first();
        }
        self.rebuild();
    }
    fn seek_to_last(&mut self) {
        self.forward = false;
        for c in &mut self.children {
            c.seek_to_last();
        }
        self.rebuild();
    }
    fn seek_for_prev(&mut self, target: &[u8]) {
        self.forward = false;
        for c in &mut self.children {
            c.seek_for_prev(target);
        }
        self.rebuild();
    }
    fn next(&mut self) {
        debug_assert!(self.forward, "MergingIterator changes direction only by seeking");
        self.advance();
    }
    fn prev(&mut self) {
        debug_assert!(!self.forward, "MergingIterator changes direction only by seeking");
        self.advance();
    }
    fn take_err(&mut self) -> Option<Error> {
        self.err.take()
    }
    fn take_err_peek(&self) -> bool {
        self.err.is_some()
    }
}

/// Keeps what an iterator reads from alive (memtables, table files) for its lifetime.
pub(crate) type Pin = Arc<dyn Send + Sync>;

/// Ordered iterator over user entries visible at one sequence number, within
/// bounds. Yields `Result<(key, value)>`; after an error it ends.
pub struct DbIterator {
    inner: MergingIterator,
    seq: u64,
    lower: Bound<Vec<u8>>,
    upper: Bound<Vec<u8>>,
    forward: bool,
    started: bool,
    done: bool,
    /// Holds the super version (and with it the files) and, for snapshot
    /// iterators, the snapshot registration.
    _pin: Pin,
}

impl DbIterator {
    pub(crate) fn new(inner: MergingIterator, seq: u64, lower: Bound<Vec<u8>>, upper: Bound<Vec<u8>>, forward: bool, pin: Pin) -> Self {
        DbIterator { inner, seq, lower, upper, forward, started: false, done: false, _pin: pin }
    }

    fn below_upper(&self, k: &[u8]) -> bool {
        match &self.upper {
            Bound::Unbounded => true,
            Bound::Included(u) => k <= u.as_slice(),
            Bound::Excluded(u) => k < u.as_slice(),
        }
    }

    fn above_lower(&self, k: &[u8]) -> bool {
        match &self.lower {
            Bound::Unbounded => true,
            Bound::Included(l) => k >= l.as_slice(),
            Bound::Excluded(l) => k > l.as_slice(),
        }
    }

    fn start(&mut self) {
        self.started = true;
        if self.forward {
            match &self.lower {
                Bound::Unbounded => self.inner.seek_to_first(),
                Bound::Included(l) | Bound::Excluded(l) => {
                    let t = key::make_internal(l, key::MAX_SEQ, 0xff);
                    self.inner.seek(&t);
                }
            }
        } else {
            match &self.upper {
                Bound::Unbounded => self.inner.seek_to_last(),
                // The smallest trailer sorts last within a user key.
                Bound::Included(u) => {
                    let t = key::make_internal(u, 0, 0);
                    self.inner.seek_for_prev(&t);
                }
                Bound::Excluded(u) => {
                    let t = key::make_internal(u, key::MAX_SEQ, 0xff);
                    self.inner.seek_for_prev(&t);
                }
            }
        }
    }

    fn step_forward(&mut self) -> Option<(Bytes, Bytes)> {
        let mut skip: Option<Vec<u8>> = None;
        while self.inner.valid() {
            let ik = self.inner.key();
            let Some((uk, seq, kind)) = key::parse(ik) else {
                self.inner.next();
                continue;
            };
            if !self.below_upper(uk) {
                return None;
            }
            if seq > self.seq || skip.as_deref() == Some(uk) {
                self.inner.next();
                continue;
            }
            if !self.above_lower(uk) || kind == Kind::Delete {
                // Older versions of this key are hidden by this one.
                skip = Some(uk.to_vec());
                self.inner.next();
                continue;
            }
            let out = (Bytes::copy_from_slice(uk), Bytes::copy_from_slice(self.inner.value()));
            self.inner.next();
            // Skip the older versions of the key just returned on the next call.
            self.skip_versions_of(&out.0);
            return Some(out);
        }
        None
    }

    fn skip_versions_of(&mut self, uk: &[u8]) {
        while self.inner.valid() && key::user_key(self.inner.key()) == uk {
            self.inner.next();
        }
    }

    fn step_backward(&mut self) -> Option<(Bytes, Bytes)> {
        // Backward, the versions of a key arrive oldest first: the last visible
        // one before the user key changes is the newest visible version.
        loop {
            if !self.inner.valid() {
                return None;
            }
            let uk = key::user_key(self.inner.key()).to_vec();
            if !self.above_lower(&uk) {
                return None;
            }
            let mut best: Option<(Kind, Vec<u8>)> = None;
            while self.inner.valid() {
                let ik = self.inner.key();
                if key::user_key(ik) != uk.as_slice() {
                    break;
                }
                if let Some((_, seq, kind)) = key::parse(ik) {
                    if seq <= self.seq {
                        best = Some((kind, self.inner.value().to_vec()));
                    }
                }
                self.inner.prev();
            }
            if let Some((Kind::Put, v)) = best {
                if self.below_upper(&uk) {
                    return Some((Bytes::from(uk), Bytes::from(v)));
                }
            }
        }
    }
}

impl Iterator for DbIterator {
    type Item = Result<(Bytes, Bytes), Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if !self.started {
            self.start();
        }
        let r = if self.forward { self.step_forward() } else { self.step_backward() };
        match r {
            Some(kv) => Some(Ok(kv)),
            None => {
                self.done = true;
                self.inner.take_err().map(Err)
            }
        }
    }
}

/// The smallest key greater than every key that starts with `prefix`, or `None`
/// when no such key exists (the prefix is all 0xff bytes or empty).
pub(crate) fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut s = prefix.to_vec();
    while let Some(&last) = s.last() {
        if last == 0xff {
            s.pop();
        } else {
            let n = s.len();
            s[n - 1] = last + 1;
            return Some(s);
        }
    }
    None
}
