//! strata's embedded LSM storage engine.
//!
//! A log-structured merge tree in the TinyKVS/LevelDB mould: writes go to a
//! write-ahead log (`wal`) and an in-memory skiplist (`memtable`); full
//! memtables are flushed to immutable sorted tables (`sstable`) with compressed,
//! checksummed blocks (`block`), bloom filters (`bloom`) and a shared block
//! cache (`cache`); a background leveled `compaction` keeps reads cheap and
//! reclaims space; the `manifest` records which tables form the current
//! `version` so any crash reopens to a consistent state.
//!
//! The engine knows nothing of RESP or the server: keys and values are bytes,
//! batches are atomic, every write gets a sequence number, and iteration is ordered
//! (ranges and prefixes, forward and reverse, live or at a [`Snapshot`]).
//!
//! ```no_run
//! use strata::engine::lsm::{Db, Options, WriteBatch};
//! let db = Db::open("/tmp/strata-lsm", Options::default())?;
//! db.put(b"user:1", b"alice")?;
//! let mut b = WriteBatch::new();
//! b.put(b"user:2", b"bob").delete(b"user:1");
//! db.write(b)?;
//! for kv in db.prefix(b"user:") {
//!     let (k, v) = kv?;
//!     println!("{k:?} = {v:?}");
//! }
//! db.close()?;
//! # Ok::<(), strata::engine::lsm::Error>(())
//! ```

#![warn(missing_docs)]

mod background;
mod batch;
mod block;
mod bloom;
mod cache;
pub mod check;
mod coding;
mod compaction;
mod error;
mod filter;
mod iterator;
mod key;
mod manifest;
mod memtable;
mod options;
mod recovery;
mod sstable;
mod version;
mod wal;

pub use batch::WriteBatch;
pub use error::{Error, Result};
pub use filter::{CompactionFilter, Judge};
pub use iterator::DbIterator;
pub use options::{Compression, Options, SyncMode};

use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::ops::{Bound, RangeBounds};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use bytes::Bytes;
use parking_lot::{Condvar, Mutex, RwLock};
use smallvec::SmallVec;

use cache::{BlockCache, FileCache};
use iterator::{InternalIterator, MergingIterator};
use key::Kind;
use manifest::{ManifestWriter, NUM_LEVELS};
use memtable::{MemIter, Memtable};
use sstable::{Table, TableIter};
use version::{LevelIter, Version};
use wal::WalWriter;

/// What a reader needs: the memtables and the version, swapped as one unit so
/// readers never wait for a flush or compaction.
pub(crate) struct SuperVersion {
    mem: Arc<Memtable>,
    /// Newest first.
    imms: Vec<Arc<Memtable>>,
    version: Arc<Version>,
}

/// One queued write for group commit.
struct Pending {
    batch: Arc<WriteBatch>,
    state: Mutex<PendingState>,
    cv: Condvar,
}

enum PendingState {
    Waiting,
    /// This writer is at the head of the queue and commits the group.
    Leader,
    Done(Result<u64>),
}

/// Owned by whoever holds the WAL lock: the group-commit leader, a flush request,
/// or the periodic sync.
struct WriteState {
    wal: WalWriter,
    mem: Arc<Memtable>,
    last_sync: Instant,
}

/// Mutable database state behind one mutex; short critical sections only.
struct State {
    mem: Arc<Memtable>,
    /// Newest first.
    imms: Vec<Arc<Memtable>>,
    version: Arc<Version>,
    manifest: ManifestWriter,
    log_number: u64,
    next_file: u64,
    busy: [bool; NUM_LEVELS],
    pointers: [Vec<u8>; NUM_LEVELS],
    bg_error: Option<String>,
    /// The flush thread is writing a table.
    flushing: bool,
}

#[derive(Default)]
struct Counters {
    flushes: AtomicU64,
    compactions: AtomicU64,
    trivial_moves: AtomicU64,
    compaction_read: AtomicU64,
    compaction_written: AtomicU64,
    flush_written: AtomicU64,
    stalls: AtomicU64,
    wal_syncs: AtomicU64,
    write_groups: AtomicU64,
}

struct Inner {
    dir: PathBuf,
    opts: Options,
    cache: Arc<BlockCache>,
    files: Arc<FileCache>,
    next_cache_id: AtomicU64,
    queue: Mutex<VecDeque<Arc<Pending>>>,
    writer: Mutex<WriteState>,
    visible_seq: AtomicU64,
    state: Mutex<State>,
    /// Live snapshots: sequence number → count. Its own lock, so taking or
    /// dropping a snapshot never waits behind a manifest fsync under `state`.
    snapshots: Mutex<BTreeMap<u64, usize>>,
    /// Signals flush/compaction threads and writers stalled on them.
    state_cv: Condvar,
    sv: RwLock<Arc<SuperVersion>>,
    shutting_down: AtomicBool,
    poisoned: Mutex<Option<String>>,
    counters: Counters,
    /// Held for the lifetime of the database; the OS releases the lock on exit.
    _lock: File,
}

/// Per-level figures in [`Stats`].
#[derive(Debug, Clone, Default)]
pub struct LevelStats {
    /// Number of tables.
    pub files: usize,
    /// Bytes of those tables on disk.
    pub bytes: u64,
    /// Entries (including tombstones and old versions) in those tables.
    pub entries: u64,
}

/// A point-in-time view of the engine's counters, from [`Db::stats`].
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// L0 to L6.
    pub levels: Vec<LevelStats>,
    /// Approximate bytes in the active memtable.
    pub memtable_bytes: usize,
    /// Entries in the active memtable.
    pub memtable_entries: usize,
    /// Immutable memtables waiting for their flush.
    pub immutable_memtables: usize,
    /// Sequence number of the last visible write.
    pub last_sequence: u64,
    /// Block cache lookups that hit.
    pub block_cache_hits: u64,
    /// Block cache lookups that missed (with the cache enabled).
    pub block_cache_misses: u64,
    /// Bytes held by the block cache.
    pub block_cache_bytes: u64,
    /// Memory of table indexes and bloom filters (outside the cache).
    pub table_memory_bytes: u64,
    /// Sum of table sizes on disk.
    pub table_bytes: u64,
    /// Memtables flushed to L0.
    pub flushes: u64,
    /// Compactions that merged files.
    pub compactions: u64,
    /// Compactions that only moved files down a level.
    pub trivial_moves: u64,
    /// Bytes read and written by compactions.
    pub compaction_bytes_read: u64,
    /// Bytes written by compactions.
    pub compaction_bytes_written: u64,
    /// Bytes written by flushes.
    pub flush_bytes_written: u64,
    /// Times a writer waited for a flush or compaction.
    pub write_stalls: u64,
    /// WAL fsyncs.
    pub wal_syncs: u64,
    /// Group commits (one WAL write each).
    pub write_groups: u64,
    /// Live snapshots.
    pub snapshots: usize,
}

impl Stats {
    /// Block cache hit rate in [0, 1].
    pub fn cache_hit_rate(&self) -> f64 {
        let total = self.block_cache_hits + self.block_cache_misses;
        if total == 0 {
            0.0
        } else {
            self.block_cache_hits as f64 / total as f64
        }
    }
}

/// An open database. Thread-safe: share it with `Arc<Db>`; any number of threads
/// may read and write at once. Dropping it closes it (errors ignored); call
/// [`Db::close`] to see them.
pub struct Db {
    inner: Arc<Inner>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

/// A consistent read view pinned to a sequence number. While it lives, compaction
/// keeps every version it can see.
pub struct Snapshot {
    inner: Arc<Inner>,
    seq: u64,
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        let mut snaps = self.inner.snapshots.lock();
        if let Some(c) = snaps.get_mut(&self.seq) {
            *c -= 1;
            if *c == 0 {
                snaps.remove(&self.seq);
            }
        }
    }
}

fn table_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("{n:06}.sst"))
}

fn wal_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("{n:06}.wal"))
}

/// Largest batch accepted; WAL records carry a 32-bit length.
const MAX_BATCH_BYTES: usize = 1 << 30;

fn bounds_of<K: AsRef<[u8]>, R: RangeBounds<K>>(r: &R) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
    let conv = |b: Bound<&K>| match b {
        Bound::Included(k) => Bound::Included(k.as_ref().to_vec()),
        Bound::Excluded(k) => Bound::Excluded(k.as_ref().to_vec()),
        Bound::Unbounded => Bound::Unbounded,
    };
    (conv(r.start_bound()), conv(r.end_bound()))
}

fn prefix_bounds(prefix: &[u8]) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
    let upper = match iterator::prefix_successor(prefix) {
        Some(s) => Bound::Excluded(s),
        None => Bound::Unbounded,
    };
    (Bound::Included(prefix.to_vec()), upper)
}

impl Db {
    /// Opens (or creates) the database in `dir`, replaying the WAL.
    ///
    /// # Errors
    /// [`Error::Locked`] if another `Db` has it open, [`Error::Corruption`] naming
    /// the damaged file, [`Error::Io`], [`Error::NotFound`] without
    /// `create_if_missing`.
    pub fn open(dir: impl AsRef<Path>, opts: Options) -> Result<Db> {
        opts.validate()?;
        let inner = Arc::new(recovery::open(dir.as_ref(), opts)?);
        let threads = background::start(&inner);
        Ok(Db { inner, threads: Mutex::new(threads) })
    }

    /// The value of `key`, or `None`.
    pub fn get(&self, key: &[u8]) -> Result<Option<Bytes>> {
        // IMPORTANT: take the super version before the sequence number: the files
        // of that super version hold every version a read at that number needs.
        let sv = self.inner.sv.read().clone();
        let seq = self.inner.visible_seq.load(Ordering::Acquire);
        self.inner.get_in(&sv, key, seq)
    }

    /// Sets `key` to `value`; returns the write's sequence number.
    pub fn put(&self, key: &[u8], value: &[u8]) -> Result<u64> {
        let mut b = WriteBatch::with_capacity(key.len() + value.len() + 11);
        b.put(key, value);
        self.write(b)
    }

    /// Deletes `key` (a no-op if absent); returns the write's sequence number.
    pub fn delete(&self, key: &[u8]) -> Result<u64> {
        let mut b = WriteBatch::with_capacity(key.len() + 6);
        b.delete(key);
        self.write(b)
    }

    /// Applies all operations of `batch` atomically; returns the sequence number
    /// of its last operation. With [`SyncMode::Always`] it is durable on return.
    pub fn write(&self, batch: WriteBatch) -> Result<u64> {
        self.inner.write(Arc::new(batch))
    }

    /// [`Db::write`] of a batch the caller keeps, to write it again after a failure
    /// and [`Db::resume`]: a failed write applies none of it.
    pub fn write_shared(&self, batch: Arc<WriteBatch>) -> Result<u64> {
        self.inner.write(batch)
    }

    /// Entries with keys in `range`, in ascending key order.
    pub fn range<K: AsRef<[u8]>, R: RangeBounds<K>>(&self, range: R) -> DbIterator {
        let (lo, hi) = bounds_of(&range);
        self.inner.iter(lo, hi, true, None)
    }

    /// Entries with keys in `range`, in descending key order.
    pub fn range_rev<K: AsRef<[u8]>, R: RangeBounds<K>>(&self, range: R) -> DbIterator {
        let (lo, hi) = bounds_of(&range);
        self.inner.iter(lo, hi, false, None)
    }

    /// Entries whose key starts with `prefix`, ascending.
    pub fn prefix(&self, prefix: &[u8]) -> DbIterator {
        let (lo, hi) = prefix_bounds(prefix);
        self.inner.iter(lo, hi, true, None)
    }

    /// Entries whose key starts with `prefix`, descending.
    pub fn prefix_rev(&self, prefix: &[u8]) -> DbIterator {
        let (lo, hi) = prefix_bounds(prefix);
        self.inner.iter(lo, hi, false, None)
    }

    /// A read view of the current state that later writes do not change.
    pub fn snapshot(&self) -> Snapshot {
        // IMPORTANT: read the sequence number under the snapshot lock, which
        // compactions also hold while choosing what they may drop.
        let mut snaps = self.inner.snapshots.lock();
        let seq = self.inner.visible_seq.load(Ordering::Acquire);
        *snaps.entry(seq).or_insert(0) += 1;
        Snapshot { inner: self.inner.clone(), seq }
    }

    /// Sequence number of the last visible write.
    pub fn last_sequence(&self) -> u64 {
        self.inner.visible_seq.load(Ordering::Acquire)
    }

    /// Writes the memtable (and all waiting immutable ones) to L0 tables and
    /// waits until they are installed; afterwards the WAL holds nothing unflushed.
    pub fn flush(&self) -> Result<()> {
        self.inner.flush()
    }

    /// After a failed write, fsync, flush or compaction (disk full, I/O error), which
    /// makes the engine refuse writes: repairs the log (cut back to its durable
    /// length and written again), starts a fresh manifest in case the old one ends
    /// in a torn edit, and lets writes and background work go on. Fails, changing
    /// nothing, while the disk still refuses; call it again later.
    pub fn resume(&self) -> Result<()> {
        let inner = &self.inner;
        {
            let mut w = inner.writer.lock();
            if inner.poisoned.lock().is_some() {
                w.wal.repair()?;
                *inner.poisoned.lock() = None;
            }
        }
        let mut st = inner.state.lock();
        if st.bg_error.is_some() {
            let version = st.version.clone();
            let log_number = st.log_number;
            let last_seq = Some(inner.visible_seq.load(Ordering::Acquire));
            background::start_manifest(inner, &mut st, &version, log_number, last_seq)?;
            st.bg_error = None;
            inner.state_cv.notify_all();
        }
        Ok(())
    }

    /// Hands the log's buffered records to the OS and, with `fsync`, makes them durable (the
    /// fsync runs outside the writer's lock): for callers that choose when the log reaches the
    /// disk themselves, with [`SyncMode::None`]. A failure poisons the engine until
    /// [`Db::resume`].
    pub fn sync_wal(&self, fsync: bool) -> Result<()> {
        self.inner.sync_wal(fsync)
    }

    /// Whether a failed write or background job stopped writes until [`Db::resume`].
    pub fn failure(&self) -> Option<String> {
        let poisoned = self.inner.poisoned.lock().clone();
        poisoned.or_else(|| self.inner.state.lock().bg_error.clone())
    }

    /// Compacts every level's files overlapping `[lo, hi]` (`None` = open end)
    /// down to the deepest level that holds data, after a flush. Afterwards
    /// overwritten and deleted keys in the range no longer take space.
    pub fn compact_range(&self, lo: Option<&[u8]>, hi: Option<&[u8]>) -> Result<()> {
        self.inner.flush()?;
        background::compact_range(&self.inner, lo.unwrap_or(&[]), hi)
    }

    /// Waits until no flush is queued and no compaction is running or due; for
    /// benchmarks and tests that want a settled tree.
    pub fn wait_idle(&self) -> Result<()> {
        let mut st = self.inner.state.lock();
        loop {
            if let Some(e) = &st.bg_error {
                return Err(Error::Poisoned(e.clone()));
            }
            let mut pointers = st.pointers.clone();
            let due = compaction::pick(&st.version, &self.inner.opts, &st.busy, &mut pointers);
            if st.imms.is_empty() && !st.flushing && !st.busy.iter().any(|b| *b) && due.is_none() {
                return Ok(());
            }
            self.inner.state_cv.wait_for(&mut st, std::time::Duration::from_millis(20));
        }
    }

    /// Counters and sizes; cheap enough to call often.
    pub fn stats(&self) -> Stats {
        self.inner.stats()
    }

    /// Makes every acknowledged write durable, stops background work and
    /// releases the directory (once no [`Snapshot`] is alive).
    pub fn close(self) -> Result<()> {
        self.shutdown()
    }

    fn shutdown(&self) -> Result<()> {
        let r = {
            let mut w = self.inner.writer.lock();
            w.wal.sync()
        };
        self.inner.shutting_down.store(true, Ordering::Release);
        {
            let _st = self.inner.state.lock();
            self.inner.state_cv.notify_all();
        }
        for t in self.threads.lock().drain(..) {
            let _ = t.join();
        }
        r
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

impl Snapshot {
    /// The sequence number this view is pinned to.
    pub fn sequence(&self) -> u64 {
        self.seq
    }

    /// The value of `key` as of the snapshot.
    pub fn get(&self, key: &[u8]) -> Result<Option<Bytes>> {
        let sv = self.inner.sv.read().clone();
        self.inner.get_in(&sv, key, self.seq)
    }

    fn pin(&self) -> Arc<SnapshotPin> {
        *self.inner.snapshots.lock().entry(self.seq).or_insert(0) += 1;
        Arc::new(SnapshotPin(Snapshot { inner: self.inner.clone(), seq: self.seq }))
    }

    /// Entries in `range` as of the snapshot, ascending.
    pub fn range<K: AsRef<[u8]>, R: RangeBounds<K>>(&self, range: R) -> DbIterator {
        let (lo, hi) = bounds_of(&range);
        self.inner.iter(lo, hi, true, Some(self.pin()))
    }

    /// Entries in `range` as of the snapshot, descending.
    pub fn range_rev<K: AsRef<[u8]>, R: RangeBounds<K>>(&self, range: R) -> DbIterator {
        let (lo, hi) = bounds_of(&range);
        self.inner.iter(lo, hi, false, Some(self.pin()))
    }

    /// Entries starting with `prefix` as of the snapshot, ascending.
    pub fn prefix(&self, prefix: &[u8]) -> DbIterator {
        let (lo, hi) = prefix_bounds(prefix);
        self.inner.iter(lo, hi, true, Some(self.pin()))
    }

    /// Entries starting with `prefix` as of the snapshot, descending.
    pub fn prefix_rev(&self, prefix: &[u8]) -> DbIterator {
        let (lo, hi) = prefix_bounds(prefix);
        self.inner.iter(lo, hi, false, Some(self.pin()))
    }
}

/// Keeps a snapshot registered for as long as an iterator created from it lives.
struct SnapshotPin(Snapshot);

/// What a [`DbIterator`] keeps alive.
struct IterPin {
    _sv: Arc<SuperVersion>,
    _snap: Option<Arc<SnapshotPin>>,
}

impl Inner {
    fn get_in(&self, sv: &SuperVersion, user_key: &[u8], seq: u64) -> Result<Option<Bytes>> {
        let mut seek: SmallVec<[u8; 64]> = SmallVec::with_capacity(user_key.len() + 8);
        seek.extend_from_slice(user_key);
        seek.extend_from_slice(&((seq << 8) | 0xff).to_le_bytes());
        for m in std::iter::once(&sv.mem).chain(&sv.imms) {
            if let Some((kind, v)) = m.get(user_key, &seek) {
                return Ok((kind == Kind::Put).then_some(v));
            }
        }
        let h = bloom::hash(user_key);
        match sv.version.get(user_key, &seek, h)? {
            Some((Kind::Put, v)) => Ok(Some(Bytes::from(v))),
            _ => Ok(None),
        }
    }

    fn iter(&self, lo: Bound<Vec<u8>>, hi: Bound<Vec<u8>>, forward: bool, snap: Option<Arc<SnapshotPin>>) -> DbIterator {
        let sv = self.sv.read().clone();
        let seq = match &snap {
            Some(s) => s.0.seq,
            None => self.visible_seq.load(Ordering::Acquire),
        };
        let mut children: Vec<Box<dyn InternalIterator>> = Vec::new();
        for m in std::iter::once(&sv.mem).chain(&sv.imms) {
            if !m.is_empty() {
                children.push(Box::new(MemIter::new(m.clone())));
            }
        }
        let in_bounds = |t: &version::TableHandle| {
            let above = match &lo {
                Bound::Included(l) | Bound::Excluded(l) => t.largest_user() >= l.as_slice(),
                Bound::Unbounded => true,
            };
            let below = match &hi {
                Bound::Included(h) | Bound::Excluded(h) => t.smallest_user() <= h.as_slice(),
                Bound::Unbounded => true,
            };
            above && below
        };
        for t in &sv.version.levels[0] {
            if in_bounds(t) {
                children.push(Box::new(TableIter::new(t.table.clone(), true)));
            }
        }
        for level in &sv.version.levels[1..] {
            let files: Vec<_> = level.iter().filter(|t| in_bounds(t)).cloned().collect();
            if !files.is_empty() {
                children.push(Box::new(LevelIter::new(files, true)));
            }
        }
        let pin: iterator::Pin = Arc::new(IterPin { _sv: sv, _snap: snap });
        DbIterator::new(MergingIterator::new(children), seq, lo, hi, forward, pin)
    }

    fn sync_wal(&self, fsync: bool) -> Result<()> {
        let inner = self;
        inner.check_writable()?;
        let (file, end, path) = {
            let mut w = inner.writer.lock();
            if let Err(e) = w.wal.write_out() {
                inner.poison(&e);
                return Err(e);
            }
            match w.wal.sync_handle() {
                Some((file, end)) if fsync => (file, end, w.wal.path.clone()),
                _ => return Ok(()),
            }
        };
        if let Err(e) = file.sync_data() {
            let e = Error::io(path, "fsync", e);
            inner.poison(&e);
            return Err(e);
        }
        inner.counters.wal_syncs.fetch_add(1, Ordering::Relaxed);
        let mut w = inner.writer.lock();
        // The log may have rotated meanwhile (its successor starts empty).
        if w.wal.path == path {
            w.wal.synced_through(end);
        }
        Ok(())
    }

    /// A snapshot at the oldest sequence any reader may still read, pinned under the lock
    /// compactions choose what they may drop with.
    fn pin_oldest_snapshot(self: &Arc<Self>) -> Snapshot {
        let mut snaps = self.snapshots.lock();
        let seq = snaps.keys().next().copied().unwrap_or_else(|| self.visible_seq.load(Ordering::Acquire));
        *snaps.entry(seq).or_insert(0) += 1;
        Snapshot { inner: self.clone(), seq }
    }

    fn check_writable(&self) -> Result<()> {
        if let Some(m) = self.poisoned.lock().as_ref() {
            return Err(Error::Poisoned(m.clone()));
        }
        if self.shutting_down.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        Ok(())
    }

    fn poison(&self, e: &Error) {
        let mut p = self.poisoned.lock();
        if p.is_none() {
            *p = Some(e.to_string());
        }
    }

    fn write(&self, batch: Arc<WriteBatch>) -> Result<u64> {
        if batch.rep.len() > MAX_BATCH_BYTES {
            return Err(Error::InvalidArgument(format!(
                "write batch of {} bytes exceeds the {MAX_BATCH_BYTES}-byte limit",
                batch.rep.len()
            )));
        }
        let me = Arc::new(Pending { batch, state: Mutex::new(PendingState::Waiting), cv: Condvar::new() });
        let leader = {
            let mut q = self.queue.lock();
            q.push_back(me.clone());
            q.len() == 1
        };
        if !leader {
            let mut s = me.state.lock();
            loop {
                match std::mem::replace(&mut *s, PendingState::Waiting) {
                    PendingState::Done(r) => return r,
                    PendingState::Leader => break,
                    PendingState::Waiting => me.cv.wait(&mut s),
                }
            }
        }
        // Leader: commit every write queued so far (bounded) as one group.
        let group: SmallVec<[Arc<Pending>; 8]> = {
            let q = self.queue.lock();
            let mut bytes = 0usize;
            q.iter()
                .take_while(|p| {
                    bytes += p.batch.rep.len();
                    bytes <= (1 << 20) || Arc::ptr_eq(p, &me)
                })
                .cloned()
                .collect()
        };
        let result = self.commit_group(&group);
        let seq_of = |j: usize| match &result {
            Ok(seqs) => Ok(seqs.get(j).copied().unwrap_or(0)),
            Err(e) => Err(Error::Poisoned(e.to_string())),
        };
        let mut q = self.queue.lock();
        let mut mine = Err(Error::Closed);
        for (j, p) in group.iter().enumerate() {
            q.pop_front();
            if Arc::ptr_eq(p, &me) {
                mine = seq_of(j);
            } else {
                *p.state.lock() = PendingState::Done(seq_of(j));
                p.cv.notify_one();
            }
        }
        if let Some(next) = q.front() {
            *next.state.lock() = PendingState::Leader;
            next.cv.notify_one();
        }
        drop(q);
        // The leader gets its own error unchanged (not wrapped as Poisoned).
        match result {
            Ok(_) => mine,
            Err(e) => Err(e),
        }
    }

    /// Writes a group to the WAL and memtable; returns each batch's last sequence.
    fn commit_group(&self, group: &[Arc<Pending>]) -> Result<SmallVec<[u64; 8]>> {
        self.check_writable()?;
        let mut w = self.writer.lock();
        self.make_room(&mut w, false)?;
        let mut seq = self.visible_seq.load(Ordering::Acquire);
        let mut lasts = SmallVec::new();
        let first = seq + 1;
        let mark = w.wal.mark();
        for p in group {
            let b = &p.batch;
            if b.count > 0 {
                w.wal.add_record(seq + 1, b.count, &b.rep);
                seq += u64::from(b.count);
            }
            lasts.push(seq);
        }
        if seq >= key::MAX_SEQ {
            w.wal.discard_from(mark);
            return Err(Error::InvalidArgument("sequence numbers exhausted".into()));
        }
        let io = match self.opts.sync {
            SyncMode::Always => {
                self.counters.wal_syncs.fetch_add(1, Ordering::Relaxed);
                w.wal.sync()
            }
            _ if w.wal.buffered() >= 64 << 10 => w.wal.write_out(),
            _ => Ok(()),
        };
        if let Err(e) = io {
            // IMPORTANT: after a failed write or fsync the file's state is unknown;
            // refuse all further writes rather than acknowledge lost data, until
            // [`Db::resume`] repairs the log. This group's writers are told it failed,
            // so the repair must not write it.
            w.wal.discard_from(mark);
            self.poison(&e);
            return Err(e);
        }
        self.counters.write_groups.fetch_add(1, Ordering::Relaxed);
        let mut s = first;
        for p in group {
            let mem = &w.mem;
            let ok = batch::for_each(&p.batch.rep, p.batch.count, |kind, k, v| {
                mem.insert(k, s, kind, v);
                s += 1;
            });
            if ok.is_none() {
                // Batches are built by WriteBatch, so this is a bug, not bad input.
                let e = Error::InvalidArgument("malformed write batch".into());
                self.poison(&e);
                return Err(e);
            }
        }
        // Publishing the sequence number makes the whole group visible at once.
        self.visible_seq.store(seq, Ordering::Release);
        Ok(lasts)
    }

    /// Rotates a full (or, with `force`, any non-empty) memtable, waiting while the
    /// flush backlog or L0 is at its limit.
    fn make_room(&self, w: &mut WriteState, force: bool) -> Result<()> {
        loop {
            let must_rotate = force && !w.mem.is_empty();
            if w.mem.size() < self.opts.memtable_size && !must_rotate {
                return Ok(());
            }
            let mut st = self.state.lock();
            if let Some(e) = &st.bg_error {
                return Err(Error::Poisoned(e.clone()));
            }
            if self.shutting_down.load(Ordering::Acquire) {
                return Err(Error::Closed);
            }
            let backlog = st.imms.len() >= self.opts.max_immutable_memtables || st.version.levels[0].len() >= self.opts.l0_stop_writes;
            if backlog && !force {
                self.counters.stalls.fetch_add(1, Ordering::Relaxed);
                self.state_cv.notify_all();
                self.state_cv.wait(&mut st);
                continue;
            }
            // IMPORTANT: the old log is made durable before the new one takes writes,
            // so recovery never finds a gap in an older log.
            if let Err(e) = w.wal.sync() {
                self.poison(&e);
                return Err(e);
            }
            let n = st.next_file;
            st.next_file += 1;
            let wal = WalWriter::create(&wal_path(&self.dir, n)).and_then(|wal| manifest::sync_dir(&self.dir).map(|_| wal));
            let wal = match wal {
                Ok(wal) => wal,
                Err(e) => {
                    self.poison(&e);
                    return Err(e);
                }
            };
            w.wal = wal;
            let mem = Arc::new(Memtable::new(n, self.opts.memtable_size));
            let old = std::mem::replace(&mut w.mem, mem.clone());
            st.imms.insert(0, old);
            st.mem = mem;
            self.install_sv(&st);
            self.state_cv.notify_all();
            return Ok(());
        }
    }

    fn install_sv(&self, st: &State) {
        let sv = Arc::new(SuperVersion { mem: st.mem.clone(), imms: st.imms.clone(), version: st.version.clone() });
        *self.sv.write() = sv;
    }

    fn flush(&self) -> Result<()> {
        {
            let mut w = self.writer.lock();
            self.check_writable()?;
            self.make_room(&mut w, true)?;
        }
        let mut st = self.state.lock();
        while !st.imms.is_empty() {
            if let Some(e) = &st.bg_error {
                return Err(Error::Poisoned(e.clone()));
            }
            if self.shutting_down.load(Ordering::Acquire) {
                return Err(Error::Closed);
            }
            self.state_cv.wait(&mut st);
        }
        Ok(())
    }

    fn new_cache_id(&self) -> u64 {
        self.next_cache_id.fetch_add(1, Ordering::Relaxed)
    }

    fn open_table(&self, number: u64) -> Result<Arc<Table>> {
        let t = Table::open(
            &table_path(&self.dir, number),
            self.new_cache_id(),
            self.cache.clone(),
            self.files.clone(),
            self.opts.verify_checksums,
        )?;
        Ok(Arc::new(t))
    }

    fn stats(&self) -> Stats {
        let sv = self.sv.read().clone();
        let c = &self.counters;
        let ld = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut s = Stats {
            memtable_bytes: sv.mem.size(),
            memtable_entries: sv.mem.len(),
            immutable_memtables: sv.imms.len(),
            last_sequence: self.visible_seq.load(Ordering::Acquire),
            block_cache_hits: self.cache.hits(),
            block_cache_misses: self.cache.misses(),
            block_cache_bytes: self.cache.used_bytes(),
            flushes: ld(&c.flushes),
            compactions: ld(&c.compactions),
            trivial_moves: ld(&c.trivial_moves),
            compaction_bytes_read: ld(&c.compaction_read),
            compaction_bytes_written: ld(&c.compaction_written),
            flush_bytes_written: ld(&c.flush_written),
            write_stalls: ld(&c.stalls),
            wal_syncs: ld(&c.wal_syncs),
            write_groups: ld(&c.write_groups),
            snapshots: self.snapshots.lock().values().sum(),
            ..Stats::default()
        };
        for level in &sv.version.levels {
            let mut ls = LevelStats::default();
            for t in level {
                ls.files += 1;
                ls.bytes += t.meta.size;
                ls.entries += t.meta.entries;
                s.table_memory_bytes += t.table.memory() as u64;
            }
            s.table_bytes += ls.bytes;
            s.levels.push(ls);
        }
        s
    }
}
