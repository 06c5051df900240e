//! The changes the keyspace reports: every write to a key, however it is made, reaches the change
//! sinks registered on the keyspace as one typed [`Mutation`] per effect, in the order the effects
//! happened, while the writer still holds the key's shard lock.
//!
//! A mutation says what changed at the finest grain that is cheap to know: one hash field, one set
//! member, one list element, one stream entry or pending record. So a persistence sink can write
//! one small record per mutation (an HSET on a million-field hash is one field record), and
//! [`super::replay::apply`] can redo the change on another keyspace. Whole values travel only when
//! a command makes a whole value (SET, the *STORE commands, RESTORE, RENAME's destination).
//!
//! Sinks must not touch the keyspace: they are called under its locks.

use super::keyspace::Shard;
use super::lake::{Delta, LakeHead, Snapshot};
use super::queue::{Message, QueueHead};
use super::stream::{Fields, StreamId};
use super::topic::TopicChange;
use super::value::Value;

/// The end of a list a push or pop works on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Front,
    Back,
}

/// One change to one key (or, for the last three, to whole databases).
#[derive(Clone, Copy, Debug)]
pub enum Mutation<'a> {
    /// `key` now holds `value` with this deadline. `created` when the key did not exist (or had
    /// expired): the `new` keyspace event.
    Put {
        key: &'a [u8],
        value: &'a Value,
        expire_at: Option<u64>,
        created: bool,
    },
    /// `key` was deleted by a command.
    Delete {
        key: &'a [u8],
    },
    /// `key` was removed because its deadline passed (on access or by the active cycle).
    Expired {
        key: &'a [u8],
    },
    /// The deadline of `key` was set (`Some`) or cleared.
    Expire {
        key: &'a [u8],
        at: Option<u64>,
    },

    /// The string at `key` is zero-padded to at least `offset + bytes.len()` bytes, then `bytes`
    /// are written at `offset` (APPEND, SETRANGE, SETBIT, BITFIELD; growing alone has no bytes).
    StringWrite {
        key: &'a [u8],
        offset: usize,
        bytes: &'a [u8],
    },

    HashSet {
        key: &'a [u8],
        field: &'a [u8],
        value: &'a [u8],
    },
    HashRemove {
        key: &'a [u8],
        field: &'a [u8],
    },

    /// `item` is pushed at `side`; `position` is the element's persisted position (see
    /// [`super::List::head`]), which it keeps while it stays in the list.
    ListPush {
        key: &'a [u8],
        side: Side,
        item: &'a [u8],
        position: u64,
    },
    /// The element at `side`, with persisted `position`, is popped.
    ListPop {
        key: &'a [u8],
        side: Side,
        position: u64,
    },
    /// The element at `index` (persisted `position`) is replaced (LSET).
    ListSet {
        key: &'a [u8],
        index: usize,
        item: &'a [u8],
        position: u64,
    },
    /// `item` is inserted so that it ends up at `index` (LINSERT).
    ListInsert {
        key: &'a [u8],
        index: usize,
        item: &'a [u8],
    },
    /// The element at `index` is removed (LREM; indexes of earlier removals already applied).
    ListRemove {
        key: &'a [u8],
        index: usize,
    },
    /// Only the elements `start..=end` are kept; `start > end` empties the list (LTRIM).
    ListTrim {
        key: &'a [u8],
        start: usize,
        end: usize,
    },

    SetAdd {
        key: &'a [u8],
        member: &'a [u8],
    },
    SetRemove {
        key: &'a [u8],
        member: &'a [u8],
    },

    /// `member` is added with `score`, or its score changes to `score`.
    ZSetAdd {
        key: &'a [u8],
        member: &'a [u8],
        score: f64,
    },
    ZSetRemove {
        key: &'a [u8],
        member: &'a [u8],
    },

    /// XADD: the entry is appended, the stream's last ID becomes `id` and its added count grows.
    StreamAdd {
        key: &'a [u8],
        id: StreamId,
        fields: &'a Fields,
    },
    /// XDEL of one existing entry (the maximal deleted ID follows).
    StreamDelete {
        key: &'a [u8],
        id: StreamId,
    },
    /// An entry removed by trimming (MAXLEN/MINID), which leaves the maximal deleted ID alone.
    StreamTrim {
        key: &'a [u8],
        id: StreamId,
    },
    /// The stream's counters set outright (XSETID).
    StreamMeta {
        key: &'a [u8],
        last_id: StreamId,
        entries_added: u64,
        max_deleted_id: StreamId,
    },
    /// A consumer group is created, or its cursor moves (SETID, XREADGROUP `>`).
    GroupPut {
        key: &'a [u8],
        group: &'a [u8],
        last_id: StreamId,
        entries_read: Option<u64>,
    },
    GroupDelete {
        key: &'a [u8],
        group: &'a [u8],
    },
    /// A consumer is created or its seen-time refreshed.
    ConsumerPut {
        key: &'a [u8],
        group: &'a [u8],
        consumer: &'a [u8],
        seen_time: u64,
    },
    /// A consumer is deleted with its pending entries.
    ConsumerDelete {
        key: &'a [u8],
        group: &'a [u8],
        consumer: &'a [u8],
    },
    /// A pending entry is created or changes owner, time or count (XREADGROUP, XCLAIM).
    PendingPut {
        key: &'a [u8],
        group: &'a [u8],
        id: StreamId,
        consumer: &'a [u8],
        delivery_time: u64,
        delivery_count: u64,
    },
    /// A pending entry is acknowledged.
    PendingDelete {
        key: &'a [u8],
        group: &'a [u8],
        id: StreamId,
    },

    /// A queue's message `id` is added or changes state (push, pop, nack, lease end, ...).
    QueueMessage {
        key: &'a [u8],
        id: u64,
        message: &'a Message,
    },
    /// A queue's message `id` is gone (ack, purge, TTL, forwarded to a dead-letter queue).
    QueueRemove {
        key: &'a [u8],
        id: u64,
    },
    /// A queue's config, counters and rank counters, as a command left them.
    QueueHead {
        key: &'a [u8],
        head: &'a QueueHead,
    },

    /// A topic's entry, partition end, group, committed offset, producer or config changed (see
    /// [`TopicChange`]).
    Topic {
        key: &'a [u8],
        change: TopicChange<'a>,
    },
    /// A catalog's new delta (LAKE.WRITE).
    LakeDelta {
        key: &'a [u8],
        delta: &'a Delta,
    },
    /// A catalog's new snapshot.
    LakeSnapshot {
        key: &'a [u8],
        snapshot: &'a Snapshot,
    },
    /// A catalog's delta or snapshot dropped by compaction.
    LakeDrop {
        key: &'a [u8],
        member: LakeMember,
    },
    /// A catalog's version, horizon, update time and metadata, as a command left them.
    LakeHead {
        key: &'a [u8],
        head: &'a LakeHead,
    },

    /// Every key of the database is gone (FLUSHDB; FLUSHALL reports one per database).
    FlushDb,
    /// This database and database `other` exchanged their contents (SWAPDB).
    SwapDb {
        other: usize,
    },
}

impl Mutation<'_> {
    /// The key this mutation changes; `None` for the whole-database ones.
    pub fn key(&self) -> Option<&[u8]> {
        use Mutation::*;
        match *self {
            Put { key, .. }
            | Delete { key }
            | Expired { key }
            | Expire { key, .. }
            | StringWrite { key, .. }
            | HashSet { key, .. }
            | HashRemove { key, .. }
            | ListPush { key, .. }
            | ListPop { key, .. }
            | ListSet { key, .. }
            | ListInsert { key, .. }
            | ListRemove { key, .. }
            | ListTrim { key, .. }
            | SetAdd { key, .. }
            | SetRemove { key, .. }
            | ZSetAdd { key, .. }
            | ZSetRemove { key, .. }
            | StreamAdd { key, .. }
            | StreamDelete { key, .. }
            | StreamTrim { key, .. }
            | StreamMeta { key, .. }
            | GroupPut { key, .. }
            | GroupDelete { key, .. }
            | ConsumerPut { key, .. }
            | ConsumerDelete { key, .. }
            | PendingPut { key, .. }
            | PendingDelete { key, .. }
            | QueueMessage { key, .. }
            | QueueRemove { key, .. }
            | QueueHead { key, .. }
            | Topic { key, .. }
            | LakeDelta { key, .. }
            | LakeSnapshot { key, .. }
            | LakeDrop { key, .. }
            | LakeHead { key, .. } => Some(key),
            FlushDb | SwapDb { .. } => None,
        }
    }
}

/// A record of a catalog's history: the delta or the snapshot of a version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LakeMember {
    Delta(u64),
    Snapshot(u64),
}

/// Where the keyspace reports its changes (persistence, keyspace notifications, tests).
///
/// Called on the writer's thread with the shard lock of the changed key held (all shards of a
/// database for [`Mutation::FlushDb`] and [`Mutation::SwapDb`]), so the calls for one key arrive in
/// the order the changes were applied. Implementations must not touch the keyspace and should be
/// quick.
pub trait ChangeSink: Send + Sync {
    /// `version` is the version of the collection a member-level change applies to (the one its
    /// records are filed under; a `Put` carries its own in the value), 0 otherwise.
    fn record(&self, db: usize, version: u64, change: &Mutation<'_>);

    /// Whether this sink reads member-level mutations. A keyspace whose sinks all answer false
    /// reports only the key-level ones ([`Mutation::Put`] with `created`, deletions and expiry), which
    /// keeps writes free of work nobody reads.
    fn wants_members(&self) -> bool {
        true
    }

    /// Whether this sink needs [`ChangeSink::settle`] and [`ChangeSink::commit`]. A keyspace whose
    /// sinks all answer false skips that bookkeeping at every unlock.
    fn settles(&self) -> bool {
        true
    }

    /// Shard `index` of database `db` is about to unlock: what was recorded under it is final, and
    /// the sink may read the shard's keys as they are now (`shard`).
    fn settle(&self, _db: usize, _index: usize, _shard: &Shard) {}

    /// The changes recorded and settled since the last commit on this thread are complete: one
    /// command's effect on the shards it locked. Called before the last of those locks is released.
    fn commit(&self) {}

    /// Commits wait until the matching [`ChangeSink::end_unit`]: a transaction or a script is one
    /// unit (see [`super::Keyspace::atomically`]).
    fn begin_unit(&self) {}

    /// Ends a unit begun by [`ChangeSink::begin_unit`]; the outermost end commits.
    fn end_unit(&self) {}
}

/// Several sinks behind one: each change goes to every sink, in registration order.
pub struct Fanout {
    sinks: Vec<std::sync::Arc<dyn ChangeSink>>,
}

impl Fanout {
    pub fn new(sinks: Vec<std::sync::Arc<dyn ChangeSink>>) -> Fanout {
        Fanout { sinks }
    }
}

impl ChangeSink for Fanout {
    fn record(&self, db: usize, version: u64, change: &Mutation<'_>) {
        let members = !matches!(
            change,
            Mutation::Put { .. }
                | Mutation::Delete { .. }
                | Mutation::Expired { .. }
                | Mutation::Expire { .. }
                | Mutation::FlushDb
                | Mutation::SwapDb { .. }
        );
        for sink in &self.sinks {
            if !members || sink.wants_members() {
                sink.record(db, version, change);
            }
        }
    }

    fn wants_members(&self) -> bool {
        self.sinks.iter().any(|s| s.wants_members())
    }

    fn settles(&self) -> bool {
        self.sinks.iter().any(|s| s.settles())
    }

    fn settle(&self, db: usize, index: usize, shard: &Shard) {
        self.sinks.iter().for_each(|s| s.settle(db, index, shard));
    }

    fn commit(&self) {
        self.sinks.iter().for_each(|s| s.commit());
    }

    fn begin_unit(&self) {
        self.sinks.iter().for_each(|s| s.begin_unit());
    }

    fn end_unit(&self) {
        self.sinks.iter().for_each(|s| s.end_unit());
    }
}
