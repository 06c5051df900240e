//! Rebuilds the keyspace from the store at start: every key of every database with its deadline
//! and its collection's version. Keys whose deadline passed while the server was down are skipped.

use std::sync::atomic::{AtomicU64, Ordering};

use super::layout::{
    db_map_prefix, db_of_map_key, id_reservation_prefix, key_of_meta, member_prefix, meta_prefix, namespace_of_reservation, read_meta_code,
    type_of_code, PAGED_STRING,
};
use super::pages;
use super::store::{Store, StoreError};
use super::{lake_codec, queue_codec, stream_codec, topic_codec};
use crate::engine::keyspace::{KeyHash, Keyspace};
use crate::engine::lake::Lake;
use crate::engine::mutation::LakeMember;
use crate::engine::stream::{Stream, StreamId};
use crate::engine::value::{versions_after, Limits, Value, ValueType};
use crate::engine::write::Collection;
use crate::engine::{Hash, List, Queue, Set, Topic, ZSet};

/// What a recovery found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Loaded {
    pub keys: u64,
    /// Keys whose deadline had passed.
    pub expired: u64,
}

/// How far a running recovery is, for INFO's `loading_*` fields: records read out of about how
/// many the store holds (old versions and deletions not yet compacted away count too, so the
/// estimate is high and the fraction reaches 1 only at the end).
#[derive(Debug, Default)]
pub struct Progress {
    pub records_read: AtomicU64,
    pub records_total: AtomicU64,
}

impl Progress {
    /// The fraction done, in [0, 1].
    pub fn fraction(&self) -> f64 {
        let total = self.records_total.load(Ordering::Relaxed).max(1);
        (self.records_read.load(Ordering::Relaxed) as f64 / total as f64).min(1.0)
    }

    fn read(&self, records: u64) {
        self.records_read.fetch_add(records, Ordering::Relaxed);
    }
}

/// Loads every key of `store` into `keyspace`, counting in `progress` as it goes. The keyspace must
/// be empty and take no writes meanwhile (clients get LOADING).
pub fn load(store: &Store, keyspace: &Keyspace, limits: &Limits, now_ms: u64, progress: &Progress) -> Result<Loaded, StoreError> {
    load_slowly(store, keyspace, limits, now_ms, progress, std::time::Duration::ZERO)
}

/// [`load`], waiting `key_delay` after each key (Redis's `key-load-delay`, for tests).
pub fn load_slowly(
    store: &Store,
    keyspace: &Keyspace,
    limits: &Limits,
    now_ms: u64,
    progress: &Progress,
    key_delay: std::time::Duration,
) -> Result<Loaded, StoreError> {
    let stats = store.lsm.stats();
    let total = stats.levels.iter().map(|level| level.entries).sum::<u64>() + stats.memtable_entries as u64;
    progress.records_total.store(total, Ordering::Relaxed);
    let mut next_store = store.next_store.load(Ordering::Relaxed);
    for record in store.lsm.prefix(&db_map_prefix()) {
        let (key, value) = record?;
        let (Some(db), Ok(id)) = (db_of_map_key(&key), <[u8; 4]>::try_from(&value[..])) else {
            return Err(StoreError(format!("damaged database map record {key:?}")));
        };
        let id = u32::from_be_bytes(id);
        if let Some(slot) = store.stores.get(usize::from(db)) {
            slot.store(id, Ordering::Relaxed);
        }
        next_store = next_store.max(id + 1);
    }
    store.next_store.store(next_store, Ordering::Relaxed);

    let mut loaded = Loaded::default();
    let mut max_version = 0;
    let mut prefix = Vec::new();
    for db in 0..keyspace.databases().min(store.stores.len()) {
        let id = store.stores[db].load(Ordering::Relaxed);
        for record in store.lsm.prefix(&meta_prefix(id)) {
            let (record_key, meta) = record?;
            progress.read(1);
            let damaged = || StoreError(format!("damaged metadata record {record_key:?}"));
            let key = key_of_meta(id, &record_key).ok_or_else(damaged)?;
            let (code, version, deadline, body) = read_meta_code(&meta).ok_or_else(damaged)?;
            if deadline.is_some_and(|at| at <= now_ms) {
                loaded.expired += 1;
                continue;
            }
            member_prefix(id, key, version, &mut prefix);
            if code == PAGED_STRING {
                let bytes = load_pages(store, &prefix, body, progress)?.ok_or_else(damaged)?;
                store.pages.remember(id, key, version);
                let hash = KeyHash::of(key);
                keyspace.db(db).lock(hash).restore(hash, key, Value::string(&bytes), deadline, 0, now_ms);
                max_version = max_version.max(version);
                loaded.keys += 1;
                continue;
            }
            let kind = type_of_code(code).ok_or_else(damaged)?;
            let value = match kind {
                ValueType::String => Value::string(body),
                ValueType::List => load_list(store, &prefix, body, limits, progress)?.ok_or_else(damaged)?.into_value(),
                ValueType::Stream => load_stream(store, &prefix, body, limits, progress)?.ok_or_else(damaged)?.into_value(),
                ValueType::Queue => load_queue(store, &prefix, body, progress)?.ok_or_else(damaged)?.into_value(),
                ValueType::Topic => load_topic(store, &prefix, body, now_ms, progress)?.ok_or_else(damaged)?.into_value(),
                ValueType::Lake => load_lake(store, &prefix, body, progress)
                    .map_err(|why| StoreError(format!("catalog '{}' of database {db}: {why}", String::from_utf8_lossy(key))))?,
                ValueType::Hash => {
                    let mut hash = Hash::default();
                    for member in store.lsm.prefix(&prefix) {
                        let (member_key, value) = member?;
                        progress.read(1);
                        hash.set(&member_key[prefix.len()..], &value, limits);
                    }
                    hash.into_value()
                }
                ValueType::Set => {
                    let mut set = Set::default();
                    for member in store.lsm.prefix(&prefix) {
                        let (member_key, _) = member?;
                        progress.read(1);
                        set.insert(&member_key[prefix.len()..], limits);
                    }
                    set.into_value()
                }
                ValueType::ZSet => {
                    let mut zset = ZSet::default();
                    for member in store.lsm.prefix(&prefix) {
                        let (member_key, score) = member?;
                        progress.read(1);
                        let score = <[u8; 8]>::try_from(&score[..]).map_err(|_| damaged())?;
                        zset.insert(&member_key[prefix.len()..], f64::from_bits(u64::from_be_bytes(score)), limits);
                    }
                    zset.into_value()
                }
            };
            if value.is_empty_collection() {
                continue;
            }
            let hash = KeyHash::of(key);
            keyspace.db(db).lock(hash).restore(hash, key, value, deadline, version, now_ms);
            max_version = max_version.max(version);
            loaded.keys += 1;
            if !key_delay.is_zero() {
                std::thread::sleep(key_delay);
            }
        }
    }
    versions_after(max_version);
    Ok(loaded)
}

/// An ID.* generator's reservation: `(None, stamp)` for the default generator, `(Some(namespace),
/// stamp)` for the others.
pub type IdReservation = (Option<Vec<u8>>, u64);

/// Every ID.* generator's reservation.
pub fn id_reservations(store: &Store) -> Result<Vec<IdReservation>, StoreError> {
    let mut found = Vec::new();
    for record in store.lsm.prefix(&id_reservation_prefix()) {
        let (key, value) = record?;
        let (Some(namespace), Ok(stamp)) = (namespace_of_reservation(&key), <[u8; 8]>::try_from(&value[..])) else {
            return Err(StoreError(format!("damaged ID reservation record {key:?}")));
        };
        found.push((namespace.map(<[u8]>::to_vec), u64::from_be_bytes(stamp)));
    }
    Ok(found)
}

/// A paged string from its metadata body (its length) and its page records under `prefix`;
/// `None` when they do not fit together.
fn load_pages(store: &Store, prefix: &[u8], body: &[u8], progress: &Progress) -> Result<Option<Vec<u8>>, StoreError> {
    let Some(len) = body.get(..8).and_then(|len| <[u8; 8]>::try_from(len).ok()).map(u64::from_be_bytes) else {
        return Ok(None);
    };
    // Strings are at most 4 GiB (their length is stored in 32 bits): a bigger length is damage.
    let Ok(len) = u32::try_from(len) else {
        return Ok(None);
    };
    let mut pages = Vec::new();
    for record in store.lsm.prefix(prefix) {
        let (record_key, page) = record?;
        progress.read(1);
        let Some(number) = record_key.get(prefix.len()..).and_then(|n| <[u8; 4]>::try_from(n).ok()) else {
            return Ok(None);
        };
        pages.push((u32::from_be_bytes(number), page.to_vec()));
    }
    Ok(pages::assemble(len as usize, pages.into_iter()))
}

/// A list from its metadata body (`head u64 | len u64`) and its element records, which sit at
/// positions `head..head + len` under `prefix`; `None` when they do not add up.
fn load_list(store: &Store, prefix: &[u8], body: &[u8], limits: &Limits, progress: &Progress) -> Result<Option<List>, StoreError> {
    let (Some(head), Some(len)) = (body.get(..8), body.get(8..16)) else {
        return Ok(None);
    };
    let head = u64::from_be_bytes(head.try_into().unwrap_or_default());
    let len = u64::from_be_bytes(len.try_into().unwrap_or_default());
    let Some(end) = head.checked_add(len) else {
        return Ok(None);
    };
    let bound = |position: u64| [prefix, &position.to_be_bytes()[..]].concat();
    let mut list = List::starting_at(head);
    for (expected, record) in (head..end).zip(store.lsm.range(bound(head)..bound(end))) {
        let (record_key, item) = record?;
        progress.read(1);
        if record_key.get(prefix.len()..) != Some(&expected.to_be_bytes()[..]) {
            return Ok(None);
        }
        list.push_back(&item, limits);
    }
    Ok((list.len() as u64 == len).then_some(list))
}

/// A stream from its metadata body (counters and groups) and its entry records under `prefix`;
/// `None` when they do not fit together.
fn load_stream(store: &Store, prefix: &[u8], body: &[u8], limits: &Limits, progress: &Progress) -> Result<Option<Stream>, StoreError> {
    let mut entries = Vec::new();
    for record in store.lsm.prefix(prefix) {
        let (record_key, fields) = record?;
        progress.read(1);
        let id = record_key.get(prefix.len()..).and_then(|id| <[u8; 16]>::try_from(id).ok());
        let (Some(id), Some(fields)) = (id, stream_codec::decode_fields(&fields)) else {
            return Ok(None);
        };
        let ms = u64::from_be_bytes(id[..8].try_into().unwrap_or_default());
        let seq = u64::from_be_bytes(id[8..].try_into().unwrap_or_default());
        entries.push((StreamId::new(ms, seq), fields));
    }
    Ok(stream_codec::decode_with_entries(body, entries.into_iter(), limits))
}

/// A queue from its metadata body (its head) and its message records under `prefix`; `None` when
/// a record is damaged. Leases keep their deadlines: those that ended while the server was down
/// end at the queue's next use or timer, and their messages are redelivered.
fn load_queue(store: &Store, prefix: &[u8], body: &[u8], progress: &Progress) -> Result<Option<Queue>, StoreError> {
    let Some(head) = queue_codec::decode_head(body) else {
        return Ok(None);
    };
    let mut messages = Vec::new();
    for record in store.lsm.prefix(prefix) {
        let (record_key, encoded) = record?;
        progress.read(1);
        let id = record_key.get(prefix.len()..).and_then(|id| <[u8; 8]>::try_from(id).ok()).map(u64::from_be_bytes);
        let (Some(id), Some(message)) = (id, queue_codec::decode_message(&encoded)) else {
            return Ok(None);
        };
        messages.push((id, message));
    }
    Ok(Some(Queue::restore(head, messages)))
}

/// A topic from its metadata body (its config) and its member records under `prefix`; `None` when
/// a record is damaged. Group members count as heard of at `now`: each gets a full session to
/// come back after the restart.
fn load_topic(store: &Store, prefix: &[u8], body: &[u8], now: u64, progress: &Progress) -> Result<Option<Topic>, StoreError> {
    let Some(config) = topic_codec::decode_config(body) else {
        return Ok(None);
    };
    let mut topic = Topic::new();
    topic.apply(&crate::engine::topic::TopicChange::Config(&config), now);
    for record in store.lsm.prefix(prefix) {
        let (record_key, value) = record?;
        progress.read(1);
        let Some(decoded) = record_key.get(prefix.len()..).and_then(|member| topic_codec::decode(member, &value)) else {
            return Ok(None);
        };
        topic.apply(&decoded.as_change(), now);
    }
    Ok(Some(topic))
}

/// A catalog from its metadata body (its head) and its delta and snapshot records under `prefix`.
/// A record that does not open (a wrong `lake-encryption-key-file`, damage) is an error: loading
/// stops rather than serve a wrong document.
fn load_lake(store: &Store, prefix: &[u8], body: &[u8], progress: &Progress) -> Result<Value, String> {
    let sealer = &store.lake_sealer;
    let head = lake_codec::decode_head(body, sealer).map_err(|e| e.to_string())?;
    let (mut deltas, mut snapshots) = (Vec::new(), Vec::new());
    for record in store.lsm.prefix(prefix) {
        let (record_key, encoded) = record.map_err(|e| e.to_string())?;
        progress.read(1);
        match record_key.get(prefix.len()..).and_then(lake_codec::member_of_name) {
            Some(LakeMember::Delta(version)) => {
                deltas.push(lake_codec::decode_delta(version, &encoded, sealer).map_err(|e| e.to_string())?)
            }
            Some(LakeMember::Snapshot(version)) => {
                snapshots.push(lake_codec::decode_snapshot(version, &encoded, sealer).map_err(|e| e.to_string())?)
            }
            None => return Err(format!("damaged record {record_key:?}")),
        }
    }
    Lake::restore(head, deltas, snapshots).map(Lake::into_value).map_err(|e| e.to_string())
}
