//! [`Store`]: the change sink that writes the keyspace to the LSM engine.

use std::cell::RefCell;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::garbage::Garbage;
use super::lake_codec::{self, Sealer};
use super::layout::{db_map_key, id_reservation_key, member_prefix, meta_header, meta_key};
use super::pages::{Pages, Records, StoredString};
use super::{queue_codec, stream_codec, topic_codec};
use crate::engine::keyspace::{KeyHash, Shard};
use crate::engine::lsm::{self, Options, SyncMode, WriteBatch};
use crate::engine::mutation::{ChangeSink, LakeMember, Mutation};
use crate::engine::stream::StreamId;
use crate::engine::value::Value;

/// When the log reaches the disk (`appendfsync`). Every mode hands writes to the OS before their
/// replies go out (or, for `everysec` and `no`, within about a millisecond of them), so a crash
/// of the process alone loses at most that; the modes differ on a crash of the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Fsync {
    /// Before a write is acknowledged.
    Always,
    /// Once a second, in the background.
    EverySec,
    /// When the operating system decides.
    No,
}

impl Fsync {
    /// The mode `appendfsync` names (`always`, `everysec`, `no`).
    pub fn from_name(name: &str) -> Option<Fsync> {
        [("always", Fsync::Always), ("everysec", Fsync::EverySec), ("no", Fsync::No)]
            .into_iter()
            .find_map(|(known, mode)| name.eq_ignore_ascii_case(known).then_some(mode))
    }

    fn from_u8(value: u8) -> Fsync {
        [Fsync::Always, Fsync::EverySec, Fsync::No].into_iter().find(|mode| *mode as u8 == value).unwrap_or(Fsync::EverySec)
    }
}

/// A failure of the store, with the path it concerns in its text.
#[derive(Debug)]
pub struct StoreError(pub String);

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<lsm::Error> for StoreError {
    fn from(error: lsm::Error) -> StoreError {
        StoreError(error.to_string())
    }
}

/// The keyspace on disk.
pub struct Store {
    pub(super) lsm: lsm::Db,
    /// The store id of each database (see [`super::layout`]).
    pub(super) stores: Vec<AtomicU32>,
    pub(super) next_store: AtomicU32,
    /// The last write to the log failed (disk full, I/O error): INFO's `aof_last_write_status`,
    /// and write commands are refused with MISCONF until a retry succeeds.
    failed: AtomicBool,
    /// Why, as the operating system said it.
    failure: parking_lot::Mutex<String>,
    /// Committed units not yet written, in commit order: commits append here under their shard
    /// locks, and [`Store::flush`] writes the lot as one LSM batch.
    queue: parking_lot::Mutex<Queue>,
    /// Units committed up to this number are written (see [`Store::acknowledged`]).
    written: AtomicU64,
    /// Wakes connections waiting for their units ([`Store::wait_acknowledged`]) after a flush.
    written_changed: tokio::sync::Notify,
    /// Held while a flush writes, so a flush that finds the queue empty still waits for the one
    /// writing what it committed; it keeps what a failed write left unwritten.
    flushing: parking_lot::Mutex<Unwritten>,
    /// An [`Fsync`]: CONFIG SET appendfsync changes it while the server runs.
    fsync: AtomicU8,
    /// Wakes the committer thread (see [`Store::start_committer`]) when units are queued.
    queued: parking_lot::Condvar,
    committer: AtomicBool,
    /// Page versions of the paged strings.
    pub(super) pages: Pages,
    compacting: AtomicBool,
    compaction_failed: AtomicBool,
    /// Compresses (and, with `lake-encryption-key-file`, encrypts) catalog records.
    pub(super) lake_sealer: Sealer,
}

/// Committed units waiting to be written, and how many units were ever committed: a unit's number
/// is its ticket.
#[derive(Default)]
struct Queue {
    batch: WriteBatch,
    committed: u64,
}

/// What the last flush left: the units written up to ticket `through`, or, while `failing`, the
/// units a failed write left unwritten (`batch`, written before anything committed after them once
/// the log takes writes again; `None` when they reached the log's buffer and only its sync failed).
#[derive(Default)]
struct Unwritten {
    batch: Option<Arc<WriteBatch>>,
    through: u64,
    failing: bool,
    last_attempt: Option<Instant>,
}

thread_local! {
    /// The ticket of the last unit this thread committed.
    static LAST_COMMIT: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// How often a failing store tries to write again.
const RETRY_EVERY: Duration = Duration::from_millis(100);

/// Queued operations past which a connection wakes the committer instead of leaving the backlog
/// to its next round.
const WAKE_AT: usize = 100_000;

/// A key changed in the unit being recorded: its metadata record is rewritten when its shard
/// unlocks. `whole` when its collection was stored anew, so all its members are written then.
struct Dirty {
    db: usize,
    hash: KeyHash,
    key: Vec<u8>,
    whole: bool,
    /// The bytes of a string the unit wrote in place (for its pages).
    touched: Option<std::ops::Range<usize>>,
}

/// What this thread has recorded and not yet written.
#[derive(Default)]
struct Pending {
    batch: WriteBatch,
    dirty: Vec<Dirty>,
    /// Some key in `dirty` is `whole`: member changes must check whether theirs is.
    any_whole: bool,
    /// Nesting of [`ChangeSink::begin_unit`]: while above 0, commits wait for the unit's end.
    units: u32,
    record_key: Vec<u8>,
    record_value: Vec<u8>,
}

thread_local! {
    static PENDING: RefCell<Pending> = RefCell::default();
}

impl Store {
    /// Opens (or creates) the store in `dir` for `databases` databases.
    pub fn open(dir: &Path, databases: usize, fsync: Fsync) -> Result<Store, StoreError> {
        // The store decides when the log is written and fsynced (see `Store::flush`), so the mode
        // can change at run time.
        let options = Options { sync: SyncMode::None, compaction_filter: Some(Arc::new(Garbage::new(databases))), ..Options::default() };
        let lsm = lsm::Db::open(dir, options).map_err(|e| StoreError(format!("{}: {e}", dir.display())))?;
        let stores = (0..databases).map(|db| AtomicU32::new(db as u32)).collect();
        Ok(Store {
            lsm,
            stores,
            next_store: AtomicU32::new(databases as u32),
            failed: AtomicBool::new(false),
            failure: parking_lot::Mutex::default(),
            queue: parking_lot::Mutex::default(),
            written: AtomicU64::new(0),
            written_changed: tokio::sync::Notify::new(),
            flushing: parking_lot::Mutex::default(),
            fsync: AtomicU8::new(fsync as u8),
            queued: parking_lot::Condvar::new(),
            committer: AtomicBool::new(false),
            pages: Pages::default(),
            compacting: AtomicBool::new(false),
            compaction_failed: AtomicBool::new(false),
            lake_sealer: Sealer::default(),
        })
    }

    /// Encrypts catalog records with `key` from now on (`lake-encryption-key-file`), and reads
    /// encrypted ones with it; set before the store is loaded.
    pub fn seal_lakes_with(&mut self, key: Option<[u8; 32]>) {
        self.lake_sealer = Sealer::new(key);
    }

    /// Whether the last write to the log failed.
    pub fn failed(&self) -> bool {
        self.failed.load(Ordering::Relaxed)
    }

    /// Bytes of the store's tables on disk.
    pub fn disk_bytes(&self) -> u64 {
        self.lsm.stats().table_bytes
    }

    /// Compacts the whole store: what deleted and replaced collections and flushed databases left
    /// behind is dropped (see [`super::garbage`]). BGREWRITEAOF runs it.
    pub fn compact(&self) -> Result<(), StoreError> {
        self.sync()?;
        self.lsm.compact_range(None, None)?;
        Ok(())
    }

    /// Starts [`Store::compact`] on a thread of its own (BGREWRITEAOF); false if one is running.
    pub fn start_compaction(self: &Arc<Store>) -> bool {
        if self.compacting.swap(true, Ordering::AcqRel) {
            return false;
        }
        let store = self.clone();
        let spawned = std::thread::Builder::new().name("strata-compact".into()).spawn(move || {
            let result = store.compact();
            if let Err(error) = &result {
                tracing::error!(%error, "compacting the store failed");
            }
            store.compaction_failed.store(result.is_err(), Ordering::Relaxed);
            store.compacting.store(false, Ordering::Release);
        });
        if spawned.is_err() {
            self.compaction_failed.store(true, Ordering::Relaxed);
            self.compacting.store(false, Ordering::Release);
        }
        true
    }

    /// A compaction started by BGREWRITEAOF is running (INFO `aof_rewrite_in_progress`).
    pub fn compacting(&self) -> bool {
        self.compacting.load(Ordering::Acquire)
    }

    /// The last one failed (INFO `aof_last_bgrewrite_status`).
    pub fn compaction_failed(&self) -> bool {
        self.compaction_failed.load(Ordering::Relaxed)
    }

    /// How many records the store holds (a full scan: for tests and diagnosis).
    pub fn count_records(&self) -> Result<u64, StoreError> {
        let mut count = 0;
        for record in self.lsm.range::<&[u8], _>(..) {
            record?;
            count += 1;
        }
        Ok(count)
    }

    /// Why writing fails, while it does: the text of Redis's MISCONF error.
    pub fn failure(&self) -> Option<String> {
        self.failed().then(|| self.failure.lock().clone())
    }

    /// Writes every committed unit to the log, as `appendfsync` says (with `always`, on disk when
    /// this returns). Connections call it before they send replies, so nothing is acknowledged
    /// before it is written; one call writes what every connection committed meanwhile. False
    /// while the disk refuses writes: what is committed stays queued, in order, and a later call
    /// (at most every [`RETRY_EVERY`]) repairs the log and writes it.
    pub fn flush(&self) -> bool {
        let mut unwritten = self.flushing.lock();
        let fsync = self.fsync() == Fsync::Always;
        if unwritten.failing {
            if unwritten.last_attempt.is_some_and(|at| at.elapsed() < RETRY_EVERY) {
                return false;
            }
            unwritten.last_attempt = Some(Instant::now());
            let retried = self.lsm.resume().and_then(|_| match unwritten.batch.clone() {
                Some(batch) => self.lsm.write_shared(batch).map(|_| ()),
                None => Ok(()),
            });
            if let Err(error) = retried.and_then(|_| self.lsm.sync_wal(fsync)) {
                self.fail(&error);
                return false;
            }
            *unwritten = Unwritten { through: unwritten.through, ..Unwritten::default() };
            self.written.store(unwritten.through, Ordering::Release);
            self.written_changed.notify_waiters();
            tracing::warn!("writing to the store works again");
        }
        let (batch, through) = {
            let mut queue = self.queue.lock();
            (std::mem::take(&mut queue.batch), queue.committed)
        };
        let batch = (!batch.is_empty()).then(|| Arc::new(batch));
        let written = match &batch {
            Some(batch) => self.lsm.write_shared(batch.clone()).map(|_| ()),
            None => Ok(()),
        };
        // A failed write applied nothing, so the batch is kept to write again; after a failed
        // sync it is in the log's buffer, which the repair writes again.
        let (written, kept) = match written {
            Ok(()) => (self.lsm.sync_wal(fsync), None),
            Err(error) => (Err(error), batch),
        };
        if let Err(error) = written {
            *unwritten = Unwritten { batch: kept, through, failing: true, last_attempt: Some(Instant::now()) };
            self.fail(&error);
            return false;
        }
        self.written.store(through, Ordering::Release);
        self.written_changed.notify_waiters();
        self.failed.store(false, Ordering::Relaxed);
        true
    }

    /// The `appendfsync` mode in force.
    pub fn fsync(&self) -> Fsync {
        Fsync::from_u8(self.fsync.load(Ordering::Relaxed))
    }

    /// CONFIG SET appendfsync: from the next flush on. Switching to `always` first makes everything
    /// written so far durable, so no earlier acknowledgement is weaker than the ones after it.
    pub fn set_fsync(&self, mode: Fsync) {
        if mode == Fsync::Always {
            let _flushing = self.flushing.lock();
            let _ = self.lsm.sync_wal(true);
        }
        self.fsync.store(mode as u8, Ordering::Relaxed);
    }

    /// Fsyncs the log if `everysec` and a second has passed since the last fsync.
    fn fsync_if_due(&self, last: &mut Instant) {
        if self.fsync() != Fsync::EverySec || last.elapsed() < Duration::from_secs(1) {
            return;
        }
        *last = Instant::now();
        let mut unwritten = self.flushing.lock();
        if unwritten.failing {
            return;
        }
        if let Err(error) = self.lsm.sync_wal(true) {
            unwritten.failing = true;
            self.fail(&error);
        }
    }

    /// What a connection calls before it sends replies. With `appendfsync always` the committer
    /// thread is woken to write and fsync what is queued while the event loop goes on serving (the
    /// connection then waits in [`Store::wait_acknowledged`]): one fsync covers every unit
    /// committed while the previous one ran. With `everysec` and `no` the committer's own rounds
    /// write the queue, as Redis leaves them to its background fsync. Without a committer (in
    /// tests), it flushes itself.
    pub fn flush_soon(&self) {
        if !self.committer.load(Ordering::Relaxed) {
            self.flush();
            return;
        }
        let queued = self.queue.lock().batch.len();
        // Under everysec the committer writes every millisecond anyway; a big backlog should not wait.
        if queued > WAKE_AT || (queued > 0 && self.fsync() == Fsync::Always) {
            self.queued.notify_one();
        }
    }

    /// Waits until replies acknowledging the unit `ticket` may go out ([`Store::acknowledged`]);
    /// while the disk refuses writes that is until the committer's retry succeeds.
    pub async fn wait_acknowledged(&self, ticket: u64) {
        loop {
            let changed = self.written_changed.notified();
            let mut changed = std::pin::pin!(changed);
            // Registered before the check, so a flush between the two still wakes us.
            changed.as_mut().enable();
            if self.acknowledged(ticket) {
                return;
            }
            changed.await;
        }
    }

    /// The ticket of the last unit the calling thread committed (0 if none): a connection that
    /// sees it change while its requests run knows which unit its replies acknowledge.
    pub fn last_commit_here() -> u64 {
        LAST_COMMIT.get()
    }

    /// Whether replies acknowledging the unit `ticket` may go out: under `appendfsync always`, once
    /// it is written (a [`Store::flush`] covered it); otherwise at once.
    pub fn acknowledged(&self, ticket: u64) -> bool {
        self.fsync() != Fsync::Always || self.written.load(Ordering::Acquire) >= ticket
    }

    fn fail(&self, error: &lsm::Error) {
        // The operating system's words, as Redis's MISCONF quotes strerror.
        let reason = error.cause();
        if !self.failed.swap(true, Ordering::Relaxed) {
            tracing::error!(%error, "writing to the store failed; write commands are refused until it works again");
        }
        *self.failure.lock() = reason;
    }

    /// Starts the thread that writes queued units (under `always` when a connection wakes it, and
    /// fsyncs them; under `everysec` and `no` about every millisecond) and fsyncs the log once a
    /// second under `everysec`. It stops when the store is dropped.
    pub fn start_committer(self: &std::sync::Arc<Store>) -> std::io::Result<()> {
        let store = std::sync::Arc::downgrade(self);
        std::thread::Builder::new().name("strata-committer".into()).spawn(move || {
            let mut last_fsync = Instant::now();
            while let Some(store) = store.upgrade() {
                {
                    let mut queue = store.queue.lock();
                    if queue.batch.is_empty() {
                        store.queued.wait_for(&mut queue, std::time::Duration::from_millis(100));
                    }
                }
                store.flush();
                store.fsync_if_due(&mut last_fsync);
                let always = store.fsync() == Fsync::Always;
                drop(store);
                // Units gather meanwhile, so each LSM write carries many: no wake-up per request.
                // Under always the fsync itself is that pause.
                if !always {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
            }
        })?;
        self.committer.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// Waits until every write so far is on disk, whatever the fsync mode (SHUTDOWN).
    pub fn sync(&self) -> Result<(), StoreError> {
        if !self.flush() {
            return Err(StoreError(format!("can't write: {}", self.failure.lock())));
        }
        self.lsm.flush()?;
        Ok(())
    }

    /// Records an ID.* generator's new reservation, committed with the command that issued the IDs
    /// (so under `appendfsync always` they are acknowledged only once it is on disk).
    pub fn record_id_reservation(&self, namespace: Option<&[u8]>, stamp: u64) {
        PENDING.with_borrow_mut(|pending| {
            pending.batch.put(&id_reservation_key(namespace), &stamp.to_be_bytes());
        });
        self.commit();
    }

    fn store_of(&self, db: usize) -> u32 {
        self.stores.get(db).map_or(0, |s| s.load(Ordering::Relaxed))
    }

    /// Writes one member record of a hash, set or sorted set, unless the collection is written whole
    /// at the end of this unit anyway.
    fn member(&self, pending: &mut Pending, db: usize, version: u64, key: &[u8], member: &[u8], value: Option<&[u8]>) {
        if pending.any_whole && pending.dirty.iter().any(|d| d.whole && d.db == db && d.key == key) {
            return;
        }
        let Pending { batch, record_key, .. } = pending;
        member_prefix(self.store_of(db), key, version, record_key);
        record_key.extend_from_slice(member);
        match value {
            Some(value) => batch.put(record_key, value),
            None => batch.delete(record_key),
        };
    }

    /// Marks `key` dirty: its metadata (and, when `whole`, all its members) is written when its
    /// shard unlocks.
    fn mark<'p>(&self, pending: &'p mut Pending, db: usize, key: &[u8], whole: bool) -> &'p mut Dirty {
        pending.any_whole |= whole;
        let index = match pending.dirty.iter().position(|d| d.db == db && d.key == key) {
            Some(index) => index,
            None => {
                pending.dirty.push(Dirty { db, hash: KeyHash::of(key), key: key.to_vec(), whole: false, touched: None });
                pending.dirty.len() - 1
            }
        };
        let dirty = &mut pending.dirty[index];
        dirty.whole |= whole;
        dirty
    }

    /// Writes the metadata (and, when `whole`, the members) of `key` as `shard` holds it now.
    fn settle_key(&self, pending: &mut Pending, dirty: &Dirty, shard: &Shard) {
        let Pending { batch, record_key, record_value, .. } = pending;
        let store = self.store_of(dirty.db);
        meta_key(store, &dirty.key, record_key);
        let Some(entry) = shard.peek(dirty.hash, &dirty.key) else {
            batch.delete(record_key);
            self.pages.forget(store, &dirty.key);
            return;
        };
        let value = entry.value();
        let paged = value.with_string(|bytes| {
            let records = Records { batch, record_key, record_value };
            let string = StoredString { store, key: &dirty.key, bytes, deadline: entry.expire_at() };
            self.pages.write(records, string, dirty.whole, dirty.touched.clone())
        });
        match paged {
            Some(true) => return,
            Some(false) => {}
            None => self.pages.forget(store, &dirty.key),
        }
        meta_header(value.value_type(), value.version(), entry.expire_at(), record_value);
        match value {
            Value::List(list) => {
                record_value.extend_from_slice(&list.head().to_be_bytes());
                record_value.extend_from_slice(&(list.len() as u64).to_be_bytes());
            }
            Value::Stream(stream) => stream_codec::encode_without_entries(stream, record_value),
            Value::Queue(queue) => queue_codec::encode_head(queue.head(), record_value),
            Value::Topic(topic) => topic_codec::encode_config(topic.config(), record_value),
            Value::Lake(lake) => lake_codec::encode_head(lake.head(), &self.lake_sealer, record_value),
            Value::Hash(_) | Value::Set(_) | Value::ZSet(_) => {}
            string => {
                string.with_string(|bytes| record_value.extend_from_slice(bytes));
            }
        }
        batch.put(record_key, record_value);
        if !dirty.whole {
            return;
        }
        let version = value.version();
        let mut put = |member: &[u8], member_value: &[u8]| {
            member_prefix(store, &dirty.key, version, record_key);
            record_key.extend_from_slice(member);
            batch.put(record_key, member_value);
        };
        match value {
            Value::List(list) => {
                for (offset, item) in list.iter().enumerate() {
                    put(&list.head().wrapping_add(offset as u64).to_be_bytes(), item);
                }
            }
            Value::Stream(stream) => {
                let mut fields = Vec::new();
                for (id, entry) in stream.range(StreamId::MIN, StreamId::MAX, 0, false) {
                    fields.clear();
                    stream_codec::encode_fields(entry, &mut fields);
                    put(&entry_key(id), &fields);
                }
            }
            Value::Queue(queue) => {
                let mut encoded = Vec::new();
                for (id, message) in queue.messages() {
                    queue_codec::encode_message(message, &mut encoded);
                    put(&id.to_be_bytes(), &encoded);
                }
            }
            Value::Topic(topic) => topic_codec::each_record(topic, put),
            Value::Lake(lake) => {
                let (mut scratch, mut encoded) = (Vec::new(), Vec::new());
                for delta in lake.deltas() {
                    encoded.clear();
                    lake_codec::encode_delta(delta, &self.lake_sealer, &mut scratch, &mut encoded);
                    put(&lake_codec::member_name(LakeMember::Delta(delta.version)), &encoded);
                }
                for snapshot in lake.snapshots() {
                    encoded.clear();
                    lake_codec::encode_snapshot(snapshot, &self.lake_sealer, &mut scratch, &mut encoded);
                    put(&lake_codec::member_name(LakeMember::Snapshot(snapshot.version)), &encoded);
                }
            }
            Value::Hash(hash) => hash.iter().for_each(|(field, v)| put(field, v)),
            Value::Set(set) => set.iter().for_each(|member| put(&member, b"")),
            Value::ZSet(zset) => {
                zset.range(0, zset.len()).into_iter().for_each(|(member, score)| put(member, &score.to_bits().to_be_bytes()))
            }
            _ => {}
        }
    }
}

/// The member name of a stream entry's record: its ID, big-endian, so records sort by ID.
pub(super) fn entry_key(id: StreamId) -> [u8; 16] {
    let mut key = [0; 16];
    key[..8].copy_from_slice(&id.ms.to_be_bytes());
    key[8..].copy_from_slice(&id.seq.to_be_bytes());
    key
}

impl ChangeSink for Store {
    fn record(&self, db: usize, version: u64, change: &Mutation<'_>) {
        PENDING.with_borrow_mut(|pending| match *change {
            Mutation::HashSet { key, field, value } => self.member(pending, db, version, key, field, Some(value)),
            Mutation::HashRemove { key, field } => self.member(pending, db, version, key, field, None),
            Mutation::SetAdd { key, member } => self.member(pending, db, version, key, member, Some(b"")),
            Mutation::SetRemove { key, member } | Mutation::ZSetRemove { key, member } => {
                self.member(pending, db, version, key, member, None)
            }
            Mutation::ZSetAdd { key, member, score } => {
                self.member(pending, db, version, key, member, Some(&score.to_bits().to_be_bytes()))
            }
            Mutation::ListPush { key, item, position, .. } | Mutation::ListSet { key, item, position, .. } => {
                self.member(pending, db, version, key, &position.to_be_bytes(), Some(item));
                self.mark(pending, db, key, false);
            }
            Mutation::ListPop { key, position, .. } => {
                self.member(pending, db, version, key, &position.to_be_bytes(), None);
                self.mark(pending, db, key, false);
            }
            Mutation::StreamAdd { key, id, fields } => {
                let mut encoded = Vec::new();
                stream_codec::encode_fields(fields, &mut encoded);
                self.member(pending, db, version, key, &entry_key(id), Some(&encoded));
                self.mark(pending, db, key, false);
            }
            Mutation::StreamDelete { key, id } | Mutation::StreamTrim { key, id } => {
                self.member(pending, db, version, key, &entry_key(id), None);
                self.mark(pending, db, key, false);
            }
            Mutation::QueueMessage { key, id, message } => {
                let mut encoded = std::mem::take(&mut pending.record_value);
                queue_codec::encode_message(message, &mut encoded);
                self.member(pending, db, version, key, &id.to_be_bytes(), Some(&encoded));
                pending.record_value = encoded;
            }
            Mutation::QueueRemove { key, id } => self.member(pending, db, version, key, &id.to_be_bytes(), None),
            Mutation::Topic { key, change } => {
                let mut value = std::mem::take(&mut pending.record_value);
                let mut member = Vec::with_capacity(16);
                match topic_codec::encode(&change, &mut member, &mut value) {
                    topic_codec::Write::Put => self.member(pending, db, version, key, &member, Some(&value)),
                    topic_codec::Write::Delete => self.member(pending, db, version, key, &member, None),
                    topic_codec::Write::Meta => {
                        self.mark(pending, db, key, false);
                    }
                }
                pending.record_value = value;
            }
            Mutation::LakeDelta { key, delta } => {
                let (mut scratch, mut encoded) = (std::mem::take(&mut pending.record_value), Vec::new());
                lake_codec::encode_delta(delta, &self.lake_sealer, &mut scratch, &mut encoded);
                self.member(pending, db, version, key, &lake_codec::member_name(LakeMember::Delta(delta.version)), Some(&encoded));
                pending.record_value = scratch;
            }
            Mutation::LakeSnapshot { key, snapshot } => {
                let (mut scratch, mut encoded) = (std::mem::take(&mut pending.record_value), Vec::new());
                lake_codec::encode_snapshot(snapshot, &self.lake_sealer, &mut scratch, &mut encoded);
                let name = lake_codec::member_name(LakeMember::Snapshot(snapshot.version));
                self.member(pending, db, version, key, &name, Some(&encoded));
                pending.record_value = scratch;
            }
            Mutation::LakeDrop { key, member } => self.member(pending, db, version, key, &lake_codec::member_name(member), None),
            Mutation::ListInsert { key, .. } | Mutation::ListRemove { key, .. } | Mutation::ListTrim { key, .. } => {
                // Elements moved: all of them are written again at their new positions.
                self.mark(pending, db, key, true);
            }
            Mutation::FlushDb => {
                let fresh = self.next_store.fetch_add(1, Ordering::Relaxed);
                if let Some(store) = self.stores.get(db) {
                    store.store(fresh, Ordering::Relaxed);
                }
                pending.batch.put(&db_map_key(db as u16), &fresh.to_be_bytes());
            }
            Mutation::SwapDb { other } => {
                let (Some(a), Some(b)) = (self.stores.get(db), self.stores.get(other)) else {
                    return;
                };
                let (store_a, store_b) = (a.load(Ordering::Relaxed), b.load(Ordering::Relaxed));
                a.store(store_b, Ordering::Relaxed);
                b.store(store_a, Ordering::Relaxed);
                pending.batch.put(&db_map_key(db as u16), &store_b.to_be_bytes());
                pending.batch.put(&db_map_key(other as u16), &store_a.to_be_bytes());
                // Keys changed earlier in this unit moved with their database.
                for dirty in &mut pending.dirty {
                    if dirty.db == db {
                        dirty.db = other;
                    } else if dirty.db == other {
                        dirty.db = db;
                    }
                }
            }
            Mutation::StringWrite { key, offset, bytes } => {
                let dirty = self.mark(pending, db, key, false);
                let end = offset + bytes.len();
                dirty.touched = Some(match dirty.touched.take() {
                    Some(touched) => touched.start.min(offset)..touched.end.max(end),
                    None => offset..end,
                });
            }
            _ => {
                if let Some(key) = change.key() {
                    // A new value is written whole: a collection's members, a big string's pages.
                    self.mark(pending, db, key, matches!(change, Mutation::Put { .. }));
                }
            }
        });
    }

    fn settle(&self, db: usize, index: usize, shard: &Shard) {
        PENDING.with_borrow_mut(|pending| {
            let mut dirty = std::mem::take(&mut pending.dirty);
            dirty.retain(|d| {
                let here = d.db == db && d.hash.shard() == index;
                if here {
                    self.settle_key(pending, d, shard);
                }
                !here
            });
            pending.any_whole = dirty.iter().any(|d| d.whole);
            pending.dirty = dirty;
        });
    }

    fn begin_unit(&self) {
        PENDING.with_borrow_mut(|pending| pending.units += 1);
    }

    fn end_unit(&self) {
        let units = PENDING.with_borrow_mut(|pending| {
            pending.units = pending.units.saturating_sub(1);
            pending.units
        });
        if units == 0 {
            self.commit();
        }
    }

    fn commit(&self) {
        PENDING.with_borrow_mut(|pending| {
            if pending.units > 0 || pending.batch.is_empty() {
                return;
            }
            // IMPORTANT: appended under the unit's shard locks, so the queue holds units in the
            // order they changed their keys.
            let mut queue = self.queue.lock();
            queue.batch.append(&pending.batch);
            queue.committed += 1;
            LAST_COMMIT.set(queue.committed);
            drop(queue);
            pending.batch.clear();
        });
    }
}
