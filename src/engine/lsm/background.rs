//! Background threads: one flushes immutable memtables, `compaction_threads` run
//! compactions, and with [`SyncMode::EveryMillis`] one fsyncs the WAL on a timer.
//! All of them install their results by swapping in a new version under the state
//! lock, so readers never wait on them.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::compaction::{self, Built, Compaction, Env};
use super::error::{Error, Result};
use super::iterator::{InternalIterator, MergingIterator};
use super::manifest::{ManifestWriter, VersionEdit, NUM_LEVELS};
use super::memtable::{MemIter, Memtable};
use super::options::{Options, SyncMode};
use super::sstable::{Table, TableIter};
use super::version::{LevelIter, TableHandle, Version};
use super::{table_path, wal_path, Inner, State};

/// A manifest larger than this is rewritten as one snapshot edit.
const MANIFEST_ROLLOVER: u64 = 16 << 20;

impl Env for Inner {
    fn options(&self) -> &Options {
        &self.opts
    }
    fn new_file_number(&self) -> u64 {
        let mut st = self.state.lock();
        let n = st.next_file;
        st.next_file += 1;
        n
    }
    fn table_path(&self, number: u64) -> std::path::PathBuf {
        table_path(&self.dir, number)
    }
    fn open_table(&self, number: u64) -> Result<Arc<Table>> {
        Inner::open_table(self, number)
    }
    fn aborted(&self) -> bool {
        self.shutting_down.load(Ordering::Acquire)
    }
}

pub(super) fn start(inner: &Arc<Inner>) -> Vec<JoinHandle<()>> {
    let mut threads = Vec::new();
    let spawn = |name: &str, f: Box<dyn FnOnce() + Send>| std::thread::Builder::new().name(name.to_string()).spawn(f).ok();
    let i = inner.clone();
    threads.extend(spawn("lsm-flush", Box::new(move || flush_loop(i))));
    for n in 0..inner.opts.compaction_threads.max(1) {
        let i = inner.clone();
        threads.extend(spawn(&format!("lsm-compact-{n}"), Box::new(move || compaction_loop(i))));
    }
    if let SyncMode::EveryMillis(ms) = inner.opts.sync {
        let i = inner.clone();
        threads.extend(spawn("lsm-sync", Box::new(move || sync_loop(i, ms.max(1)))));
    }
    threads
}

fn set_bg_error(inner: &Inner, e: &Error) {
    let mut st = inner.state.lock();
    if st.bg_error.is_none() {
        st.bg_error = Some(e.to_string());
    }
    inner.state_cv.notify_all();
}

fn smallest_snapshot(inner: &Inner) -> u64 {
    let snaps = inner.snapshots.lock();
    snaps.keys().next().copied().unwrap_or_else(|| inner.visible_seq.load(Ordering::Acquire))
}

/// Writes `edit` (plus counters) to the manifest and installs the version with
/// `deleted` removed and `added` added. Handles that leave the version for good
/// are marked obsolete: their files go when the last reader lets go.
fn log_and_apply(inner: &Inner, st: &mut State, mut edit: VersionEdit, added: Vec<(usize, Arc<TableHandle>)>) -> Result<()> {
    let added_numbers: Vec<u64> = added.iter().map(|(_, t)| t.meta.number).collect();
    edit.added = added.iter().map(|(l, t)| (*l, t.meta.clone())).collect();
    let (v, gone) = st.version.apply(&edit.deleted, added);
    if let Err(m) = v.check_invariants() {
        return Err(Error::corrupt(&st.manifest.path, format!("refusing edit: {m}")));
    }
    edit.next_file = Some(st.next_file);
    edit.last_seq = Some(inner.visible_seq.load(Ordering::Acquire));
    if st.manifest.size > MANIFEST_ROLLOVER {
        let log_number = edit.log_number.unwrap_or(st.log_number);
        start_manifest(inner, st, &v, log_number, edit.last_seq)?;
    } else {
        st.manifest.append(&edit)?;
    }
    if let Some(l) = edit.log_number {
        st.log_number = l;
    }
    for t in gone {
        if !added_numbers.contains(&t.meta.number) {
            t.mark_obsolete();
        }
    }
    st.version = Arc::new(v);
    inner.install_sv(st);
    Ok(())
}

/// Replaces the manifest with a new one holding `version` whole (the old one grew
/// large, or may end in a torn edit after a failed append).
pub(super) fn start_manifest(inner: &Inner, st: &mut State, version: &Version, log_number: u64, last_seq: Option<u64>) -> Result<()> {
    let number = st.next_file;
    st.next_file += 1;
    let mut snap = VersionEdit { log_number: Some(log_number), next_file: Some(st.next_file), last_seq, ..Default::default() };
    for (level, files) in version.levels.iter().enumerate() {
        for t in files {
            snap.added.push((level, t.meta.clone()));
        }
    }
    let old = st.manifest.path.clone();
    st.manifest = ManifestWriter::create(&inner.dir, number, &snap)?;
    let _ = std::fs::remove_file(old);
    Ok(())
}

fn flush_loop(inner: Arc<Inner>) {
    loop {
        let imm = {
            let mut st = inner.state.lock();
            loop {
                if inner.shutting_down.load(Ordering::Acquire) {
                    return;
                }
                if st.bg_error.is_none() {
                    if let Some(m) = st.imms.last().cloned() {
                        st.flushing = true;
                        break m;
                    }
                }
                inner.state_cv.wait(&mut st);
            }
        };
        let r = flush_one(&inner, &imm);
        inner.state.lock().flushing = false;
        if let Err(e) = r {
            if !matches!(e, Error::Closed) {
                set_bg_error(&inner, &e);
            }
        }
    }
}

fn flush_one(inner: &Inner, imm: &Arc<Memtable>) -> Result<()> {
    let snap = smallest_snapshot(inner);
    let mut it = MemIter::new(imm.clone());
    it.seek_to_first();
    let built = compaction::build_tables(inner, &mut it, snap, &|_| false, false, None)?;
    let mut st = inner.state.lock();
    let Some(oldest) = st.imms.last() else {
        return Ok(());
    };
    if !Arc::ptr_eq(oldest, imm) {
        return Err(Error::InvalidArgument("flushed memtable is not the oldest".into()));
    }
    // Logs older than the next memtable's hold nothing unflushed any more.
    let log_number = match st.imms.len() {
        n if n >= 2 => st.imms[n - 2].wal_number,
        _ => st.mem.wal_number,
    };
    let written: u64 = built.iter().map(|b| b.meta.size).sum();
    let added = built.into_iter().map(|Built { meta, table }| (0, Arc::new(TableHandle::new(meta, table)))).collect();
    let edit = VersionEdit { log_number: Some(log_number), ..Default::default() };
    log_and_apply(inner, &mut st, edit, added)?;
    st.imms.pop();
    inner.install_sv(&st);
    inner.counters.flushes.fetch_add(1, Ordering::Relaxed);
    inner.counters.flush_written.fetch_add(written, Ordering::Relaxed);
    inner.state_cv.notify_all();
    drop(st);
    let _ = std::fs::remove_file(wal_path(&inner.dir, imm.wal_number));
    Ok(())
}

fn compaction_loop(inner: Arc<Inner>) {
    loop {
        let c = {
            let mut st = inner.state.lock();
            loop {
                if inner.shutting_down.load(Ordering::Acquire) {
                    return;
                }
                if st.bg_error.is_none() {
                    let State { version, busy, pointers, .. } = &mut *st;
                    if let Some(c) = compaction::pick(version, &inner.opts, busy, pointers) {
                        st.busy[c.level] = true;
                        st.busy[c.level + 1] = true;
                        break c;
                    }
                }
                inner.state_cv.wait(&mut st);
            }
        };
        let r = run_compaction(&inner, &c);
        {
            let mut st = inner.state.lock();
            st.busy[c.level] = false;
            st.busy[c.level + 1] = false;
            inner.state_cv.notify_all();
        }
        if let Err(e) = r {
            if !matches!(e, Error::Closed) {
                set_bg_error(&inner, &e);
            }
        }
    }
}

/// Executes a compaction whose levels the caller has marked busy.
pub(super) fn run_compaction(inner: &Arc<Inner>, c: &Compaction) -> Result<()> {
    let out = c.output_level();
    let mut edit = VersionEdit::default();
    for t in &c.inputs {
        edit.deleted.push((c.level, t.meta.number));
    }
    if c.trivial_move {
        let added = c.inputs.iter().map(|t| (out, t.clone())).collect();
        let mut st = inner.state.lock();
        log_and_apply(inner, &mut st, edit, added)?;
        inner.counters.trivial_moves.fetch_add(1, Ordering::Relaxed);
        return Ok(());
    }
    for t in &c.next_inputs {
        edit.deleted.push((out, t.meta.number));
    }
    // Pinned, so the filter's view keeps what it reads while the compaction runs.
    let view = inner.pin_oldest_snapshot();
    let snap = view.seq;
    let mut children: Vec<Box<dyn InternalIterator>> = Vec::new();
    if c.level == 0 {
        for t in &c.inputs {
            children.push(Box::new(TableIter::new(t.table.clone(), false)));
        }
    } else {
        children.push(Box::new(LevelIter::new(c.inputs.clone(), false)));
    }
    if !c.next_inputs.is_empty() {
        children.push(Box::new(LevelIter::new(c.next_inputs.clone(), false)));
    }
    let mut merged = MergingIterator::new(children);
    merged.seek_to_first();
    let version = c.version.clone();
    let is_base = move |uk: &[u8]| compaction::is_base_level(&version, out, uk);
    let mut judge = inner.opts.compaction_filter.as_ref().map(|filter| filter.judge(&view));
    let built = compaction::build_tables(&**inner, &mut merged, snap, &is_base, true, judge.as_mut())?;
    let written: u64 = built.iter().map(|b| b.meta.size).sum();
    let added = built.into_iter().map(|Built { meta, table }| (out, Arc::new(TableHandle::new(meta, table)))).collect();
    let mut st = inner.state.lock();
    log_and_apply(inner, &mut st, edit, added)?;
    let cnt = &inner.counters;
    cnt.compactions.fetch_add(1, Ordering::Relaxed);
    cnt.compaction_read.fetch_add(c.input_bytes(), Ordering::Relaxed);
    cnt.compaction_written.fetch_add(written, Ordering::Relaxed);
    Ok(())
}

/// Compacts `[lo, hi]` level by level down to the deepest level holding data.
pub(super) fn compact_range(inner: &Arc<Inner>, lo: &[u8], hi: Option<&[u8]>) -> Result<()> {
    let mut level = 0;
    while level < NUM_LEVELS - 1 {
        let c = {
            let mut st = inner.state.lock();
            while st.busy[level] || st.busy[level + 1] {
                if let Some(e) = &st.bg_error {
                    return Err(Error::Poisoned(e.clone()));
                }
                inner.state_cv.wait(&mut st);
            }
            let v = st.version.clone();
            let deepest = (0..NUM_LEVELS)
                .rev()
                .find(|&l| v.levels[l].iter().any(|t| t.largest_user() >= lo && hi.is_none_or(|h| t.smallest_user() <= h)))
                .unwrap_or(0)
                .max(1);
            if level >= deepest {
                return Ok(());
            }
            match compaction::pick_range(&v, &inner.opts, level, lo, hi) {
                Some(mut c) => {
                    // A requested compaction rewrites what it moves, so the filter sees it.
                    c.trivial_move &= inner.opts.compaction_filter.is_none();
                    st.busy[level] = true;
                    st.busy[level + 1] = true;
                    c
                }
                None => {
                    level += 1;
                    continue;
                }
            }
        };
        let r = run_compaction(inner, &c);
        {
            let mut st = inner.state.lock();
            st.busy[c.level] = false;
            st.busy[c.level + 1] = false;
            inner.state_cv.notify_all();
        }
        r?;
        level += 1;
    }
    Ok(())
}

fn sync_loop(inner: Arc<Inner>, ms: u64) {
    let period = Duration::from_millis(ms);
    loop {
        {
            let mut st = inner.state.lock();
            if inner.shutting_down.load(Ordering::Acquire) {
                return;
            }
            inner.state_cv.wait_for(&mut st, period);
            if inner.shutting_down.load(Ordering::Acquire) {
                return;
            }
        }
        // Lock order is writer before state, so the state lock is released above.
        {
            let mut w = inner.writer.lock();
            if w.last_sync.elapsed() < period {
                continue;
            }
            w.last_sync = Instant::now();
        }
        // A failure poisons the engine; writers see it.
        let _ = inner.sync_wal(true);
    }
}
