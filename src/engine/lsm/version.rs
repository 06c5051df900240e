//! Versions: immutable snapshots of which tables make up each level.
//!
//! Readers clone an `Arc<Version>` and never wait for flushes or compactions, which
//! build a new version and swap it in. A table file is deleted when the last
//! version that lists it is dropped after a compaction marked it obsolete, so no
//! reader or iterator ever loses a file it uses.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::error::{Error, Result};
use super::iterator::InternalIterator;
use super::key::{self, Kind};
use super::manifest::{FileMeta, NUM_LEVELS};
use super::sstable::{Table, TableIter};

/// A live table: its manifest record and the open reader.
pub(crate) struct TableHandle {
    pub meta: FileMeta,
    pub table: Arc<Table>,
    obsolete: AtomicBool,
}

impl TableHandle {
    pub(crate) fn new(meta: FileMeta, table: Arc<Table>) -> Self {
        TableHandle { meta, table, obsolete: AtomicBool::new(false) }
    }

    /// Marks the file for deletion once no version references it.
    pub(crate) fn mark_obsolete(&self) {
        self.obsolete.store(true, Ordering::Release);
    }

    pub(crate) fn smallest_user(&self) -> &[u8] {
        key::user_key(&self.meta.smallest)
    }

    pub(crate) fn largest_user(&self) -> &[u8] {
        key::user_key(&self.meta.largest)
    }

    /// True when the file's user-key range intersects `[lo, hi]`.
    pub(crate) fn overlaps(&self, lo: &[u8], hi: &[u8]) -> bool {
        self.largest_user() >= lo && self.smallest_user() <= hi
    }
}

impl Drop for TableHandle {
    fn drop(&mut self) {
        if self.obsolete.load(Ordering::Acquire) {
            // Best effort: a file left behind is an orphan that the next open deletes.
            let _ = std::fs::remove_file(&self.table.path);
        }
    }
}

/// The tables of each level. L0 is ordered newest first and may overlap; L1+ are
/// sorted by key and do not overlap.
#[derive(Clone, Default)]
pub(crate) struct Version {
    pub levels: [Vec<Arc<TableHandle>>; NUM_LEVELS],
}

impl Version {
    /// Looks `user_key` up at the sequence encoded in `seek_key`, newest level first.
    pub(crate) fn get(&self, user_key: &[u8], seek_key: &[u8], h: u64) -> Result<Option<(Kind, Vec<u8>)>> {
        for t in &self.levels[0] {
            if t.overlaps(user_key, user_key) {
                if let Some(r) = t.table.get(user_key, seek_key, h)? {
                    return Ok(Some(r));
                }
            }
        }
        for level in &self.levels[1..] {
            let i = level.partition_point(|t| t.largest_user() < user_key);
            if let Some(t) = level.get(i) {
                if t.smallest_user() <= user_key {
                    if let Some(r) = t.table.get(user_key, seek_key, h)? {
                        return Ok(Some(r));
                    }
                }
            }
        }
        Ok(None)
    }

    /// Total file bytes of a level.
    pub(crate) fn level_bytes(&self, level: usize) -> u64 {
        self.levels[level].iter().map(|t| t.meta.size).sum()
    }

    /// Files of `level` whose user-key range intersects `[lo, hi]`.
    pub(crate) fn overlapping(&self, level: usize, lo: &[u8], hi: &[u8]) -> Vec<Arc<TableHandle>> {
        self.levels[level].iter().filter(|t| t.overlaps(lo, hi)).cloned().collect()
    }

    /// Applies deletions and additions, returning the new version and the handles
    /// that left it.
    pub(crate) fn apply(&self, deleted: &[(usize, u64)], added: Vec<(usize, Arc<TableHandle>)>) -> (Version, Vec<Arc<TableHandle>>) {
        let mut v = self.clone();
        let mut gone = Vec::new();
        for &(level, n) in deleted {
            if let Some(i) = v.levels[level].iter().position(|t| t.meta.number == n) {
                gone.push(v.levels[level].remove(i));
            }
        }
        for (level, t) in added {
            v.levels[level].push(t);
        }
        v.levels[0].sort_by_key(|t| std::cmp::Reverse(t.meta.number));
        for level in &mut v.levels[1..] {
            level.sort_by(|a, b| key::compare(&a.meta.smallest, &b.meta.smallest));
        }
        (v, gone)
    }

    /// Checks that L1+ levels do not overlap; a violation would make reads wrong.
    pub(crate) fn check_invariants(&self) -> std::result::Result<(), String> {
        for (l, level) in self.levels.iter().enumerate().skip(1) {
            for w in level.windows(2) {
                if w[0].largest_user() >= w[1].smallest_user() {
                    return Err(format!("L{l} files {} and {} overlap", w[0].meta.number, w[1].meta.number));
                }
            }
        }
        Ok(())
    }
}

/// Iterates the files of one sorted, non-overlapping level as one sequence,
/// opening each table only when the iteration reaches it.
pub(crate) struct LevelIter {
    files: Vec<Arc<TableHandle>>,
    idx: usize,
    cur: Option<TableIter>,
    fill_cache: bool,
    err: Option<Error>,
}

impl LevelIter {
    pub(crate) fn new(files: Vec<Arc<TableHandle>>, fill_cache: bool) -> Self {
        LevelIter { files, idx: 0, cur: None, fill_cache, err: None }
    }

    fn open(&mut self, idx: usize) -> bool {
        self.idx = idx;
        match self.files.get(idx) {
            Some(f) => {
                self.cur = Some(TableIter::new(f.table.clone(), self.fill_cache));
                true
            }
            None => {
                self.cur = None;
                false
            }
        }
    }

    fn cur_valid(&self) -> bool {
        self.cur.as_ref().is_some_and(|c| c.valid())
    }

    /// Moves on to the following files while the current one is exhausted.
    fn skip_forward(&mut self) {
        while !self.cur_valid() {
            if let Some(e) = self.cur.as_mut().and_then(|c| c.take_err()) {
                self.err = Some(e);
                self.cur = None;
                return;
            }
            if self.cur.is_none() || !self.open(self.idx + 1) {
                self.cur = None;
                return;
            }
            if let Some(c) = &mut self.cur {
                c.seek_to_first();
            }
        }
    }

    fn skip_backward(&mut self) {
        while !self.cur_valid() {
            if let Some(e) = self.cur.as_mut().and_then(|c| c.take_err()) {
                self.err = Some(e);
                self.cur = None;
                return;
            }
            if self.cur.is_none() || self.idx == 0 || !self.open(self.idx - 1) {
                self.cur = None;
                return;
            }
            if let Some(c) = &mut self.cur {
                c.seek_to_last();
            }
        }
    }
}

impl InternalIterator for LevelIter {
    fn valid(&self) -> bool {
        self.err.is_none() && self.cur_valid()
    }
    fn key(&self) -> &[u8] {
        self.cur.as_ref().map_or(&[][..], |c| c.key())
    }
    fn value(&self) -> &[u8] {
        self.cur.as_ref().map_or(&[][..], |c| c.value())
    }
    fn seek(&mut self, target: &[u8]) {
        let i = self.files.partition_point(|f| key::compare(&f.meta.largest, target) == std::cmp::Ordering::Less);
        if self.open(i) {
            if let Some(c) = &mut self.cur {
                c.seek(target);
            }
        }
        self.skip_forward();
    }
    fn seek_to_first(&mut self) {
        if self.open(0) {
            if let Some(c) = &mut self.cur {
                c.seek_to_first();
            }
        }
        self.skip_forward();
    }
    fn seek_to_last(&mut self) {
        if !self.files.is_empty() && self.open(self.files.len() - 1) {
            if let Some(c) = &mut self.cur {
                c.seek_to_last();
            }
        }
        self.skip_backward();
    }
    fn next(&mut self) {
        if let Some(c) = &mut self.cur {
            c.next();
        }
        self.skip_forward();
    }
    fn prev(&mut self) {
        if let Some(c) = &mut self.cur {
            c.prev();
        }
        self.skip_backward();
    }
    fn take_err(&mut self) -> Option<Error> {
        self.err.take()
    }
    fn take_err_peek(&self) -> bool {
        self.err.is_some()
    }
}
