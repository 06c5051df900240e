//! The in-memory keyspace: databases split into shards, each a hash table behind a short lock.
//!
//! A key's 64-bit xxh3 hash is computed once and chooses the shard (bits 48..56) and the slot inside
//! the shard's table (the low bits and top 7 bits hashbrown uses), so the two never correlate.
//! Locks are `std::sync::Mutex` held only for the duration of one command's work on a shard and never
//! across an `.await`. Commands that touch several keys lock their shards in ascending order
//! ([`Keyspace::lock_keys`]), which makes them atomic and deadlock free.
//!
//! Reads get `&Entry`. The one way to change a key is through the shard: its methods (`set`,
//! `remove`, `set_expire`, expiry) and the write handle of [`Shard::write`] report every change to
//! the keyspace's change sink as a [`Mutation`], and a shard guard commits what was recorded when it
//! unlocks ([`ShardGuard`]).

use std::cell::Cell;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, MutexGuard};

use crossbeam::utils::CachePadded;
use hashbrown::hash_table::{Entry as TableEntry, HashTable};
use xxhash_rust::xxh3::xxh3_64;

use super::compact::CompactBytes;
use super::mutation::{ChangeSink, Mutation};
use super::value::Value;
use super::write::{ChangeLog, KeyWrite};

/// Shards per database. A power of two; SCAN and active expiry work shard by shard, so more shards
/// keep each step short.
pub const SHARDS: usize = 256;
const SHARD_SHIFT: u32 = 48;

/// Deadlines are kept in 48 bits of milliseconds: enough until the year 10889. Later deadlines are
/// refused by the commands that set them.
pub const MAX_DEADLINE_MS: u64 = (1 << 48) - 1;
const LRU_BITS: u32 = 16;

/// One key and what it holds: 48 bytes, so a key costs one small allocation besides its table slot.
#[derive(Debug)]
pub struct Entry {
    key: CompactBytes,
    value: Value,
    /// The deadline in Unix milliseconds (low 48 bits, 0 when the key does not expire) and the last
    /// access in Unix seconds modulo 2^16 (high 16 bits), for OBJECT IDLETIME.
    meta: u64,
}

impl Entry {
    fn new(key: &[u8], value: Value, expire_at: u64, now_ms: u64) -> Entry {
        let mut entry = Entry { key: CompactBytes::new(key), value, meta: 0 };
        entry.set_deadline(expire_at);
        entry.touch(now_ms);
        entry
    }

    pub fn key(&self) -> &[u8] {
        self.key.as_slice()
    }

    pub fn value(&self) -> &Value {
        &self.value
    }

    /// The value of an entry taken out of the keyspace.
    pub fn into_value(self) -> Value {
        self.value
    }

    fn deadline(&self) -> u64 {
        self.meta & MAX_DEADLINE_MS
    }

    fn set_deadline(&mut self, at: u64) {
        self.meta = (self.meta & !MAX_DEADLINE_MS) | at.min(MAX_DEADLINE_MS);
    }

    fn touch(&mut self, now_ms: u64) {
        let clock = (now_ms / 1000) & ((1 << LRU_BITS) - 1);
        self.meta = (self.meta & MAX_DEADLINE_MS) | clock << 48;
    }

    /// The deadline in Unix milliseconds, if the key has one.
    pub fn expire_at(&self) -> Option<u64> {
        let at = self.deadline();
        (at != 0).then_some(at)
    }

    /// Seconds since the last access (exact below about 18 hours, like Redis's 24-bit LRU clock it
    /// wraps around).
    pub fn idle_secs(&self, now_ms: u64) -> u64 {
        let now = (now_ms / 1000) & ((1 << LRU_BITS) - 1);
        let last = self.meta >> 48;
        now.wrapping_sub(last) & ((1 << LRU_BITS) - 1)
    }

    fn is_expired(&self, now_ms: u64) -> bool {
        let at = self.deadline();
        at != 0 && at <= now_ms
    }

    fn memory(&self) -> usize {
        std::mem::size_of::<Entry>() + self.key.heap_size() + self.value.heap_size()
    }
}

/// The hash of a key, computed once per command and reused for shard and table lookups.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct KeyHash(u64);

impl KeyHash {
    pub fn of(key: &[u8]) -> KeyHash {
        KeyHash(xxh3_64(key))
    }

    pub fn shard(self) -> usize {
        (self.0 >> SHARD_SHIFT) as usize & (SHARDS - 1)
    }

    /// A slot in a table of `slots` (a power of two) entries for this key in database `db`: the
    /// low bits, which shard choice doesn't use.
    pub fn slot_in(self, db: usize, slots: usize) -> usize {
        (self.0 as usize ^ db.wrapping_mul(0x9E37_79B9)) & (slots - 1)
    }

    /// Position in SCAN order: the shard bits moved to the top, so ascending positions visit shards
    /// in order and each shard's keys by hash.
    pub fn scan_position(self) -> u64 {
        self.0.rotate_left(64 - SHARD_SHIFT - SHARDS.trailing_zeros())
    }
}

/// Where a shard reports its changes: the keyspace's sink, the shard's database, and whether anything
/// was recorded since the last commit.
pub(super) struct ShardSink {
    db: usize,
    index: usize,
    sink: Arc<dyn ChangeSink>,
    members: bool,
    /// The sink settles and commits (see [`ChangeSink::settles`]).
    settles: bool,
    dirty: Cell<bool>,
}

impl ShardSink {
    pub(super) fn record(&self, version: u64, change: &Mutation<'_>) {
        if self.settles {
            self.dirty.set(true);
        }
        self.sink.record(self.db, version, change);
    }

    /// Whether member-level mutations are read by anyone.
    pub(super) fn wants_members(&self) -> bool {
        self.members
    }

    /// Settles what was recorded under `shard`; returns whether anything was.
    fn settle(&self, shard: &Shard) -> bool {
        let dirty = self.dirty.replace(false);
        if dirty {
            self.sink.settle(self.db, self.index, shard);
        }
        dirty
    }
}

/// Keys and counters of one shard.
///
/// The table holds boxed entries: an 8-byte slot wastes little at hashbrown's lowest load factor
/// (just after it doubles), where 64-byte inline slots would cost more than the keys themselves.
#[derive(Default)]
pub struct Shard {
    table: HashTable<Box<Entry>>,
    /// Keys with a deadline (INFO keyspace `expires=`).
    volatile: usize,
    sink: Option<ShardSink>,
    /// A snapshot's hold on this shard ([`Keyspace::freeze`]).
    freeze: Freeze,
}

/// One key as a snapshot copied it.
pub struct FrozenEntry {
    pub key: Box<[u8]>,
    pub value: Value,
    pub expire_at: Option<u64>,
}

/// Where a shard stands in a snapshot: still to be copied (`pending`), or copied and waiting for
/// the snapshot's writer to take the copy.
#[derive(Default)]
struct Freeze {
    pending: bool,
    copy: Option<Vec<FrozenEntry>>,
}

impl Shard {
    /// The live entry for `key`; an expired one is removed on the way (lazy expiry).
    pub fn get(&mut self, hash: KeyHash, key: &[u8], now_ms: u64) -> Option<&Entry> {
        self.live(hash, key, now_ms).map(|e| &*e)
    }

    /// Like [`Shard::get`] and records the access time.
    pub fn touch(&mut self, hash: KeyHash, key: &[u8], now_ms: u64) -> Option<&Entry> {
        let entry = self.live(hash, key, now_ms)?;
        entry.touch(now_ms);
        Some(entry)
    }

    /// Write access to the live value at `key` (recording the access time when `touch`): every
    /// change made through it is reported to the change sink.
    pub fn write(&mut self, hash: KeyHash, key: &[u8], now_ms: u64, touch: bool) -> Option<KeyWrite<'_>> {
        // Split borrows: the entry from the table, the log from the sink.
        let entry = live_in(&mut self.table, &mut self.volatile, &self.sink, hash, key, now_ms)?;
        if touch {
            entry.touch(now_ms);
        }
        let Entry { key, value, meta } = entry;
        let expire_at = Some(*meta & MAX_DEADLINE_MS).filter(|at| *at != 0);
        let log = ChangeLog::new(self.sink.as_ref(), key.as_slice(), value.version());
        Some(KeyWrite::new(value, log, expire_at))
    }

    fn live(&mut self, hash: KeyHash, key: &[u8], now_ms: u64) -> Option<&mut Entry> {
        live_in(&mut self.table, &mut self.volatile, &self.sink, hash, key, now_ms)
    }

    pub fn contains(&mut self, hash: KeyHash, key: &[u8], now_ms: u64) -> bool {
        self.live(hash, key, now_ms).is_some()
    }

    /// Stores `value` under `key`, replacing any previous value and its deadline; returns the old
    /// value if it was live.
    pub fn set(&mut self, hash: KeyHash, key: &[u8], mut value: Value, expire_at: Option<u64>, now_ms: u64) -> Option<Value> {
        value.stamp_version();
        let deadline = expire_at.unwrap_or(0);
        self.volatile += usize::from(deadline != 0);
        let (entry, old) = match self.table.entry(hash.0, |e| e.key.as_slice() == key, |e| xxh3_64(e.key.as_slice())) {
            TableEntry::Occupied(found) => {
                let entry = &mut **found.into_mut();
                let was_live = !entry.is_expired(now_ms);
                self.volatile -= usize::from(entry.deadline() != 0);
                entry.set_deadline(deadline);
                entry.touch(now_ms);
                let old = std::mem::replace(&mut entry.value, value);
                if !was_live {
                    EXPIRED_KEYS.fetch_add(1, Ordering::Relaxed);
                    report(&self.sink, &Mutation::Expired { key });
                }
                (entry, was_live.then_some(old))
            }
            TableEntry::Vacant(slot) => (&mut **slot.insert(Box::new(Entry::new(key, value, deadline, now_ms))).into_mut(), None),
        };
        let created = old.is_none();
        report(&self.sink, &Mutation::Put { key, value: &entry.value, expire_at: entry.expire_at(), created });
        old
    }

    /// Replaces the value of a live key and keeps its deadline (SET KEEPTTL, and in-place updates).
    pub fn set_keep_ttl(&mut self, hash: KeyHash, key: &[u8], value: Value, now_ms: u64) -> Option<Value> {
        let deadline = self.get(hash, key, now_ms).and_then(|e| e.expire_at());
        self.set(hash, key, value, deadline, now_ms)
    }

    /// Removes a live key and returns its entry.
    pub fn remove(&mut self, hash: KeyHash, key: &[u8], now_ms: u64) -> Option<Entry> {
        let found = self.table.find_entry(hash.0, |e| e.key.as_slice() == key).ok()?;
        let (entry, _) = found.remove();
        self.volatile -= usize::from(entry.deadline() != 0);
        if entry.is_expired(now_ms) {
            EXPIRED_KEYS.fetch_add(1, Ordering::Relaxed);
            report(&self.sink, &Mutation::Expired { key });
            return None;
        }
        report(&self.sink, &Mutation::Delete { key });
        Some(*entry)
    }

    /// Sets or clears the deadline of a live key; returns false when the key does not exist.
    pub fn set_expire(&mut self, hash: KeyHash, key: &[u8], expire_at: Option<u64>, now_ms: u64) -> bool {
        let Some(entry) = self.live(hash, key, now_ms) else {
            return false;
        };
        let had = entry.deadline() != 0;
        entry.set_deadline(expire_at.unwrap_or(0));
        let at = entry.expire_at();
        self.volatile = self.volatile + usize::from(at.is_some()) - usize::from(had);
        report(&self.sink, &Mutation::Expire { key, at });
        true
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    pub fn volatile(&self) -> usize {
        self.volatile
    }

    pub fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.table.iter().map(|e| &**e)
    }

    fn clear(&mut self) {
        self.table = HashTable::new();
        self.volatile = 0;
    }

    /// Removes every expired key; returns how many.
    pub fn remove_expired(&mut self, now_ms: u64) -> usize {
        if self.volatile == 0 {
            return 0;
        }
        let before = self.table.len();
        let sink = &self.sink;
        self.table.retain(|e| {
            let expired = e.is_expired(now_ms);
            if expired {
                report(sink, &Mutation::Expired { key: e.key() });
            }
            !expired
        });
        let removed = before - self.table.len();
        self.volatile -= removed;
        EXPIRED_KEYS.fetch_add(removed as u64, Ordering::Relaxed);
        removed
    }

    /// Approximate bytes used by this shard's keys and values.
    pub fn memory(&self) -> usize {
        self.table.capacity() * (std::mem::size_of::<Entry>() + 1)
            + self.table.iter().map(|e| e.memory() - std::mem::size_of::<Entry>()).sum::<usize>()
    }

    /// The live entries whose SCAN position is at least `from`, in SCAN order, at most `count` of
    /// them (more when several share the last position). Returns the position to resume from.
    pub fn scan_from<'a>(&'a self, from: u64, count: usize, now_ms: u64, out: &mut Vec<(u64, &'a Entry)>) {
        let start = out.len();
        out.extend(
            self.table
                .iter()
                .filter(|e| !e.is_expired(now_ms))
                .map(|e| (KeyHash::of(e.key()).scan_position(), &**e))
                .filter(|(pos, _)| *pos >= from),
        );
        let found = &mut out[start..];
        if found.len() > count {
            found.select_nth_unstable_by_key(count, |(pos, _)| *pos);
            let limit = found[count].0;
            // Keep the ones sharing the cut-off position so the cursor never splits a position.
            let mut kept = count;
            for i in count..found.len() {
                if found[i].0 == limit {
                    found.swap(kept, i);
                    kept += 1;
                }
            }
            out.truncate(start + kept);
        }
        out[start..].sort_unstable_by_key(|(pos, _)| *pos);
    }

    /// A random live key, if any.
    pub fn random_key(&self, pick: usize, now_ms: u64) -> Option<&[u8]> {
        let live = self.table.len();
        if live == 0 {
            return None;
        }
        self.table.iter().cycle().skip(pick % live).take(live).find(|e| !e.is_expired(now_ms)).map(|e| e.key())
    }

    /// Exchanges the keys of two shards; each keeps reporting changes for its own database.
    /// Copies the entries as they are now for the snapshot waiting on this shard.
    fn copy_for_snapshot(&mut self) {
        self.freeze.pending = false;
        let copy = self
            .table
            .iter()
            .map(|entry| FrozenEntry { key: Box::from(entry.key()), value: entry.value.clone(), expire_at: entry.expire_at() })
            .collect();
        self.freeze.copy = Some(copy);
    }

    fn swap(&mut self, other: &mut Shard) {
        std::mem::swap(&mut self.table, &mut other.table);
        std::mem::swap(&mut self.volatile, &mut other.volatile);
    }

    fn report(&self, change: &Mutation<'_>) {
        report(&self.sink, change);
    }

    /// Settles what was recorded under this shard; returns whether anything was.
    fn settle(&self) -> bool {
        self.sink.as_ref().is_some_and(|sink| sink.settle(self))
    }

    fn commit(&self) {
        if let Some(sink) = &self.sink {
            sink.sink.commit();
        }
    }

    /// The entry for `key` as it is, expired or not, without touching anything (sinks settling).
    pub fn peek(&self, hash: KeyHash, key: &[u8]) -> Option<&Entry> {
        self.table.find(hash.0, |e| e.key.as_slice() == key).map(|e| &**e)
    }

    /// Makes `key` look last accessed `idle_secs` ago (RESTORE ... IDLETIME); the access time is
    /// bookkeeping for OBJECT IDLETIME, not data, so nothing is reported.
    pub fn set_idle(&mut self, hash: KeyHash, key: &[u8], idle_secs: u64, now_ms: u64) {
        if let Some(entry) = self.live(hash, key, now_ms) {
            entry.touch(now_ms.saturating_sub(idle_secs.saturating_mul(1000)));
        }
    }

    /// Puts back a key read from disk with its collection's stored version, reporting nothing.
    pub fn restore(&mut self, hash: KeyHash, key: &[u8], mut value: Value, expire_at: Option<u64>, version: u64, now_ms: u64) {
        value.restore_version(version);
        let deadline = expire_at.unwrap_or(0);
        let entry = Box::new(Entry::new(key, value, deadline, now_ms));
        match self.table.entry(hash.0, |e| e.key.as_slice() == key, |e| xxh3_64(e.key.as_slice())) {
            TableEntry::Occupied(mut found) => {
                self.volatile -= usize::from(found.get().deadline() != 0);
                *found.get_mut() = entry;
            }
            TableEntry::Vacant(slot) => {
                slot.insert(entry);
            }
        }
        self.volatile += usize::from(deadline != 0);
    }
}

/// The live entry for `key` in a shard's table; an expired one is removed and reported on the way.
fn live_in<'t>(
    table: &'t mut HashTable<Box<Entry>>,
    volatile: &mut usize,
    sink: &Option<ShardSink>,
    hash: KeyHash,
    key: &[u8],
    now_ms: u64,
) -> Option<&'t mut Entry> {
    // One probe: the lookup is where a command pays its cache misses.
    let found = table.find_entry(hash.0, |e| e.key.as_slice() == key).ok()?;
    if found.get().is_expired(now_ms) {
        let (entry, _) = found.remove();
        *volatile -= 1;
        EXPIRED_KEYS.fetch_add(1, Ordering::Relaxed);
        report(sink, &Mutation::Expired { key: entry.key() });
        return None;
    }
    Some(&mut **found.into_mut())
}

fn report(sink: &Option<ShardSink>, change: &Mutation<'_>) {
    if let Some(sink) = sink {
        sink.record(0, change);
    }
}

/// A locked shard. Unlocking it settles and commits what was recorded under it to the change sink,
/// so a command's changes reach the sink as one unit while no other writer can interleave (the
/// shards of a multi-key command commit together, see [`LockedShards`]).
pub struct ShardGuard<'a> {
    shard: MutexGuard<'a, Shard>,
    /// False while the guard is one of several locked together, which commit as one.
    commits: bool,
}

impl<'a> ShardGuard<'a> {
    fn new(mut shard: MutexGuard<'a, Shard>) -> ShardGuard<'a> {
        // IMPORTANT: before anyone can change a shard a snapshot still waits for, it is copied as
        // it stands, so the snapshot sees every shard as it was when it began.
        if shard.freeze.pending {
            shard.copy_for_snapshot();
        }
        ShardGuard { shard, commits: true }
    }
}

impl Deref for ShardGuard<'_> {
    type Target = Shard;

    fn deref(&self) -> &Shard {
        &self.shard
    }
}

impl DerefMut for ShardGuard<'_> {
    fn deref_mut(&mut self) -> &mut Shard {
        &mut self.shard
    }
}

impl Drop for ShardGuard<'_> {
    fn drop(&mut self) {
        // IMPORTANT: before the lock is released, so commits of one key come in write order.
        if self.shard.settle() && self.commits {
            self.shard.commit();
        }
    }
}

/// Keys expired lazily or actively since start (INFO stats `expired_keys`).
pub static EXPIRED_KEYS: AtomicU64 = AtomicU64::new(0);

/// One numbered database.
pub struct Db {
    shards: Box<[CachePadded<Mutex<Shard>>]>,
}

impl Default for Db {
    fn default() -> Self {
        Db { shards: (0..SHARDS).map(|_| CachePadded::new(Mutex::new(Shard::default()))).collect() }
    }
}

impl Db {
    /// Locks the shard holding `key`.
    pub fn lock(&self, hash: KeyHash) -> ShardGuard<'_> {
        ShardGuard::new(lock_shard(&self.shards[hash.shard()]))
    }

    pub fn lock_index(&self, shard: usize) -> ShardGuard<'_> {
        ShardGuard::new(lock_shard(&self.shards[shard]))
    }

    /// Every shard, locked in order (FLUSHDB, SWAPDB, SORT ... BY over the whole database).
    pub fn lock_all(&self) -> Vec<ShardGuard<'_>> {
        self.shards.iter().map(|s| ShardGuard::new(lock_shard(s))).collect()
    }

    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| lock_shard(s).len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn volatile(&self) -> usize {
        self.shards.iter().map(|s| lock_shard(s).volatile()).sum()
    }

    /// Deletes every key (FLUSHDB): with every shard locked, so no write lands half way.
    pub fn clear(&self) {
        let mut guards = self.lock_all();
        for shard in guards.iter_mut() {
            shard.clear();
        }
        if let Some(first) = guards.first() {
            first.report(&Mutation::FlushDb);
        }
    }

    pub fn memory(&self) -> usize {
        self.shards.iter().map(|s| lock_shard(s).memory()).sum()
    }
}

/// How many times a thread finding its shard locked spins before it sleeps: about 40 µs here, longer
/// than one command's work on a large value.
const SPINS: usize = 4096;

/// Locks a shard, spinning while another loop holds it. Both loops hitting one hot key (a job list,
/// a leaderboard) is the common contended case, and each holds the lock for a microsecond or two: a
/// sleeping waiter costs a futex wait and wake-up per command (35% of the CPU in a ZADD profile;
/// spinning took 2 loops from 0.6-0.7x to ~1.0x Redis), so sleep only when the holder is descheduled.
fn lock_shard(shard: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    for _ in 0..SPINS {
        if !shard.is_locked() {
            if let Some(guard) = shard.try_lock() {
                return guard;
            }
        }
        std::hint::spin_loop();
    }
    shard.lock()
}

/// All databases.
pub struct Keyspace {
    dbs: Vec<Db>,
    sink: Option<Arc<dyn ChangeSink>>,
}

/// Shards locked together for a multi-key command, found by (database, shard index).
pub struct LockedShards<'a> {
    guards: Vec<((usize, usize), ShardGuard<'a>)>,
}

impl Drop for LockedShards<'_> {
    fn drop(&mut self) {
        // IMPORTANT: every shard settles, then one commit, before any lock is released: a multi-key
        // command reaches the sink as one unit.
        let mut settled = false;
        for (_, guard) in &self.guards {
            settled |= guard.shard.settle();
        }
        if settled {
            if let Some((_, guard)) = self.guards.first() {
                guard.shard.commit();
            }
        }
    }
}

impl LockedShards<'_> {
    /// The locked shard for `key` in database `db`. Callers only ask for keys they locked.
    pub fn shard(&mut self, db: usize, hash: KeyHash) -> &mut Shard {
        let at = self
            .guards
            .binary_search_by_key(&(db, hash.shard()), |(id, _)| *id)
            .unwrap_or_else(|_| unreachable!("shard of a key that was not locked"));
        &mut self.guards[at].1
    }
}

impl Keyspace {
    pub fn new(databases: usize) -> Keyspace {
        Keyspace { dbs: (0..databases.max(1)).map(|_| Db::default()).collect(), sink: None }
    }

    /// Makes every shard report its changes to `sink` (one sink; [`super::mutation::Fanout`]
    /// joins several).
    pub fn set_sink(&mut self, sink: Arc<dyn ChangeSink>) {
        self.sink = Some(sink.clone());
        let (members, settles) = (sink.wants_members(), sink.settles());
        for (db, dbs) in self.dbs.iter_mut().enumerate() {
            for (index, shard) in dbs.shards.iter_mut().enumerate() {
                let shard = shard.get_mut();
                shard.sink = Some(ShardSink { db, index, sink: sink.clone(), members, settles, dirty: Cell::new(false) });
            }
        }
    }

    /// Runs `f` as one unit for the change sink: what it changes is committed together at its end
    /// (EXEC, scripts; the caller keeps other writers out meanwhile).
    pub fn atomically<R>(&self, f: impl FnOnce() -> R) -> R {
        let Some(sink) = &self.sink else {
            return f();
        };
        sink.begin_unit();
        // Ends the unit even if `f` unwinds.
        struct End<'a>(&'a dyn ChangeSink);
        impl Drop for End<'_> {
            fn drop(&mut self) {
                self.0.end_unit();
            }
        }
        let _end = End(&**sink);
        f()
    }

    pub fn db(&self, index: usize) -> &Db {
        &self.dbs[index]
    }

    pub fn databases(&self) -> usize {
        self.dbs.len()
    }

    /// Locks the shards of `keys` (pairs of database and key hash) in ascending order.
    pub fn lock_keys(&self, keys: impl IntoIterator<Item = (usize, KeyHash)>) -> LockedShards<'_> {
        let mut ids: Vec<(usize, usize)> = keys.into_iter().map(|(db, hash)| (db, hash.shard())).collect();
        ids.sort_unstable();
        ids.dedup();
        let guards = ids
            .into_iter()
            .map(|(db, shard)| {
                let mut guard = self.dbs[db].lock_index(shard);
                guard.commits = false;
                ((db, shard), guard)
            })
            .collect();
        LockedShards { guards }
    }

    /// Exchanges the contents of two databases atomically (SWAPDB).
    pub fn swap_dbs(&self, a: usize, b: usize) {
        if a == b {
            return;
        }
        let (low, high) = (a.min(b), a.max(b));
        let mut low_guards = self.dbs[low].lock_all();
        let mut high_guards = self.dbs[high].lock_all();
        for (x, y) in low_guards.iter_mut().zip(high_guards.iter_mut()) {
            x.swap(y);
        }
        if let Some(first) = low_guards.first() {
            first.report(&Mutation::SwapDb { other: high });
        }
    }

    /// Drops every key of every database from memory without reporting it to the sinks (DEBUG
    /// RELOAD: the data stays on disk and is loaded back).
    pub fn forget_all(&self) {
        for db in &self.dbs {
            for mut shard in db.lock_all() {
                shard.clear();
            }
        }
    }

    pub fn flush_all(&self) {
        for db in &self.dbs {
            db.clear();
        }
    }

    /// Starts a point-in-time snapshot: every shard is copied before its next change (or when
    /// [`Keyspace::frozen`] asks for it, whichever comes first), so the copies together are the
    /// keyspace as it is now, while writers wait at most for one shard's copy. The caller makes
    /// "now" an instant with no command half done (it holds the gate's write side), and ends the
    /// snapshot with [`Keyspace::thaw`].
    pub fn freeze(&self) {
        for db in &self.dbs {
            for shard in &db.shards {
                lock_shard(shard).freeze = Freeze { pending: true, copy: None };
            }
        }
    }

    /// The snapshot's copy of shard `index` of database `db` (empty when no snapshot is running).
    pub fn frozen(&self, db: usize, index: usize) -> Vec<FrozenEntry> {
        // Locking copies the shard if no writer did.
        let mut guard = self.dbs[db].lock_index(index);
        guard.shard.freeze.copy.take().unwrap_or_default()
    }

    /// Ends the snapshot: shards not reached yet are no longer copied, copies not taken are freed.
    pub fn thaw(&self) {
        for db in &self.dbs {
            for shard in &db.shards {
                lock_shard(shard).freeze = Freeze::default();
            }
        }
    }

    /// One step of active expiry: removes expired keys from `shards_per_step` shards of every
    /// database, resuming where the previous step stopped. Returns how many keys it removed.
    pub fn expire_step(&self, cursor: &mut usize, shards_per_step: usize, now_ms: u64) -> usize {
        let mut removed = 0;
        for _ in 0..shards_per_step {
            let shard = *cursor % SHARDS;
            for db in &self.dbs {
                removed += db.lock_index(shard).remove_expired(now_ms);
            }
            *cursor = (*cursor + 1) % SHARDS;
        }
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(db: &Db, key: &[u8], value: &[u8], expire_at: Option<u64>) {
        let hash = KeyHash::of(key);
        db.lock(hash).set(hash, key, Value::string(value), expire_at, 1_000);
    }

    #[test]
    fn entries_fit_the_48_byte_size_class() {
        assert_eq!(std::mem::size_of::<Entry>(), 48);
    }

    #[test]
    fn expired_keys_vanish_lazily_and_actively() {
        let ks = Keyspace::new(1);
        let db = ks.db(0);
        set(db, b"a", b"1", Some(2_000));
        set(db, b"b", b"2", Some(3_000));
        set(db, b"c", b"3", None);
        assert_eq!(db.volatile(), 2);
        let hash = KeyHash::of(b"a");
        assert!(db.lock(hash).get(hash, b"a", 2_000).is_none());
        assert_eq!(db.len(), 2);
        let mut cursor = 0;
        assert_eq!(ks.expire_step(&mut cursor, SHARDS, 5_000), 1);
        assert_eq!(db.len(), 1);
        assert_eq!(db.volatile(), 0);
    }

    #[test]
    fn scan_positions_cover_every_key_once() {
        let ks = Keyspace::new(1);
        let db = ks.db(0);
        for i in 0..2000 {
            set(db, format!("k{i}").as_bytes(), b"v", None);
        }
        let mut seen = std::collections::HashSet::new();
        let mut cursor = 0u64;
        loop {
            let shard = (cursor >> 56) as usize;
            let guard = db.lock_index(shard);
            let mut out = Vec::new();
            guard.scan_from(cursor, 7, 0, &mut out);
            for (_, e) in &out {
                assert!(seen.insert(e.key().to_vec()), "key returned twice");
            }
            cursor = match out.last() {
                Some((pos, _)) if *pos < u64::MAX => pos + 1,
                Some(_) => break,
                None if shard + 1 < SHARDS => ((shard + 1) as u64) << 56,
                None => break,
            };
        }
        assert_eq!(seen.len(), 2000);
    }
}
