//! Consumer groups of a stream: the group's last delivered ID and read counter, its pending entries
//! list (PEL: entry ID → consumer, last delivery time, delivery count) and its consumers, each with
//! its own view of the PEL.
//!
//! The group PEL is the one owner of the pending records; a consumer keeps only the set of IDs it
//! owns. Every operation that moves a record keeps the two in step (the invariant checked by
//! [`Group::check`] in tests).
//!
//! Times are Unix milliseconds passed in by the commands; consumers carry a seen-time as Redis 7.0
//! does (7.2's active-time is not reported by 7.0's XINFO).

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;

use super::mutation::Mutation;
use super::stream::StreamId;
use super::write::ChangeLog;

/// A pending entry: delivered to `consumer` and not acknowledged yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nack {
    pub consumer: Bytes,
    pub delivery_time: u64,
    pub delivery_count: u64,
}

/// A consumer of a group.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Consumer {
    pub seen_time: u64,
    pub pending: BTreeSet<StreamId>,
}

/// A consumer group.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Group {
    last_id: StreamId,
    /// The logical read counter (`entries-read`); `None` when unknown.
    entries_read: Option<u64>,
    pel: BTreeMap<StreamId, Nack>,
    consumers: BTreeMap<Bytes, Consumer>,
}

impl Group {
    pub fn new(last_id: StreamId, entries_read: Option<u64>) -> Group {
        Group { last_id, entries_read, pel: BTreeMap::new(), consumers: BTreeMap::new() }
    }

    /// The last ID delivered to the group.
    pub fn last_id(&self) -> StreamId {
        self.last_id
    }

    /// The logical read counter (`entries-read`); `None` when unknown.
    pub fn entries_read(&self) -> Option<u64> {
        self.entries_read
    }

    /// The pending entries, by ID.
    pub fn pel(&self) -> &BTreeMap<StreamId, Nack> {
        &self.pel
    }

    /// The consumers, by name.
    pub fn consumers(&self) -> &BTreeMap<Bytes, Consumer> {
        &self.consumers
    }

    /// Moves the group's cursor (XGROUP SETID, XREADGROUP `>`, XCLAIM LASTID; replays the cursor of
    /// [`super::mutation::Mutation::GroupPut`]).
    pub fn set_cursor(&mut self, last_id: StreamId, entries_read: Option<u64>) {
        self.last_id = last_id;
        self.entries_read = entries_read;
    }

    /// Creates a consumer with this seen-time, or sets the seen-time of an existing one (replays
    /// [`super::mutation::Mutation::ConsumerPut`]).
    pub fn put_consumer(&mut self, name: &[u8], seen_time: u64) {
        match self.consumers.get_mut(name) {
            Some(consumer) => consumer.seen_time = seen_time,
            None => {
                self.consumers.insert(Bytes::copy_from_slice(name), Consumer { seen_time, pending: BTreeSet::new() });
            }
        }
    }

    /// Makes `id` pending for `consumer` with this time and count, moving it from its previous owner
    /// (replays [`super::mutation::Mutation::PendingPut`]).
    pub fn put_pending(&mut self, id: StreamId, consumer: &[u8], delivery_time: u64, delivery_count: u64) {
        let nack = Nack { consumer: Bytes::copy_from_slice(consumer), delivery_time, delivery_count };
        if let Some(old) = self.pel.insert(id, nack) {
            if let Some(previous) = self.consumers.get_mut(&old.consumer) {
                previous.pending.remove(&id);
            }
        }
        if let Some(owner) = self.consumers.get_mut(consumer) {
            owner.pending.insert(id);
        }
    }

    /// Creates a consumer if missing; true when created.
    pub fn create_consumer(&mut self, name: &[u8], now_ms: u64) -> bool {
        if self.consumers.contains_key(name) {
            return false;
        }
        self.consumers.insert(Bytes::copy_from_slice(name), Consumer { seen_time: now_ms, pending: BTreeSet::new() });
        true
    }

    /// Looks a consumer up and refreshes its seen-time, creating it when missing (XREADGROUP,
    /// XCLAIM, XAUTOCLAIM); true when created.
    pub fn touch_consumer(&mut self, name: &[u8], now_ms: u64) -> bool {
        match self.consumers.get_mut(name) {
            Some(consumer) => {
                consumer.seen_time = now_ms;
                false
            }
            None => self.create_consumer(name, now_ms),
        }
    }

    /// Deletes a consumer and its pending entries; returns how many it had, `None` if unknown.
    pub fn delete_consumer(&mut self, name: &[u8]) -> Option<usize> {
        let consumer = self.consumers.remove(name)?;
        for id in &consumer.pending {
            self.pel.remove(id);
        }
        Some(consumer.pending.len())
    }

    /// Records the delivery of `id` to `consumer` by XREADGROUP `>`: a new pending entry, or an
    /// existing one moved to this consumer with its count reset to 1.
    pub fn deliver(&mut self, id: StreamId, consumer: &Bytes, now_ms: u64) {
        let nack = Nack { consumer: consumer.clone(), delivery_time: now_ms, delivery_count: 1 };
        if let Some(old) = self.pel.insert(id, nack) {
            if let Some(previous) = self.consumers.get_mut(&old.consumer) {
                previous.pending.remove(&id);
            }
        }
        if let Some(owner) = self.consumers.get_mut(consumer) {
            owner.pending.insert(id);
        }
    }

    /// Moves the pending entry `id` to `consumer` (XCLAIM, XAUTOCLAIM), creating it first when
    /// `create` (FORCE). Sets the delivery time, and the count to `retry` or one more unless
    /// `keep_count` (JUSTID). Returns false when `id` is not pending (and not created).
    pub fn claim(&mut self, id: StreamId, consumer: &Bytes, delivery_time: u64, retry: Option<u64>, keep_count: bool) -> bool {
        let Some(nack) = self.pel.get_mut(&id) else {
            return false;
        };
        let previous = std::mem::replace(&mut nack.consumer, consumer.clone());
        nack.delivery_time = delivery_time;
        match retry {
            Some(count) => nack.delivery_count = count,
            None if !keep_count => nack.delivery_count += 1,
            None => {}
        }
        if previous != *consumer {
            if let Some(old) = self.consumers.get_mut(&previous) {
                old.pending.remove(&id);
            }
        }
        if let Some(owner) = self.consumers.get_mut(consumer) {
            owner.pending.insert(id);
        }
        true
    }

    /// Creates an unowned pending entry for XCLAIM ... FORCE (it is claimed right after).
    pub fn force_pending(&mut self, id: StreamId, now_ms: u64) {
        self.pel.entry(id).or_insert(Nack { consumer: Bytes::new(), delivery_time: now_ms, delivery_count: 1 });
    }

    /// Acknowledges `id`; true when it was pending.
    pub fn ack(&mut self, id: StreamId) -> bool {
        let Some(nack) = self.pel.remove(&id) else {
            return false;
        };
        if let Some(owner) = self.consumers.get_mut(&nack.consumer) {
            owner.pending.remove(&id);
        }
        true
    }

    /// Heap bytes, for memory accounting.
    pub fn heap_size(&self) -> usize {
        self.pel.len() * 64 + self.consumers.iter().map(|(n, c)| 64 + n.len() + c.pending.len() * 24).sum::<usize>()
    }

    /// The PEL and the consumers' views agree.
    #[cfg(test)]
    pub fn check(&self) {
        let mut owned = 0;
        for (name, consumer) in &self.consumers {
            for id in &consumer.pending {
                assert_eq!(&self.pel[id].consumer, name, "{id} owned by another consumer");
            }
            owned += consumer.pending.len();
        }
        assert_eq!(owned, self.pel.len(), "pending entries without an owner");
    }
}

/// A group of a stored stream, writable only through the mutators that record their changes
/// (from `Tracked<Stream>::group_mut`); reads go through `Deref` to the [`Group`].
pub struct TrackedGroup<'a> {
    pub(super) group: &'a mut Group,
    pub(super) name: &'a [u8],
    pub(super) log: ChangeLog<'a>,
}

impl std::ops::Deref for TrackedGroup<'_> {
    type Target = Group;

    fn deref(&self) -> &Group {
        self.group
    }
}

impl TrackedGroup<'_> {
    /// The group's name.
    pub fn name(&self) -> &[u8] {
        self.name
    }

    /// Records the pending entry `id` as it now is.
    fn record_pending(&self, id: StreamId) {
        if let Some(nack) = self.group.pel.get(&id) {
            let group = self.name;
            self.log.member(|key| Mutation::PendingPut {
                key,
                group,
                id,
                consumer: &nack.consumer,
                delivery_time: nack.delivery_time,
                delivery_count: nack.delivery_count,
            });
        }
    }

    fn record_consumer(&self, name: &[u8]) {
        if let Some(consumer) = self.group.consumers.get(name) {
            let (group, seen_time) = (self.name, consumer.seen_time);
            self.log.member(|key| Mutation::ConsumerPut { key, group, consumer: name, seen_time });
        }
    }

    /// Moves the cursor (XGROUP SETID, XREADGROUP `>`, XCLAIM LASTID).
    pub fn set_cursor(&mut self, last_id: StreamId, entries_read: Option<u64>) {
        self.group.set_cursor(last_id, entries_read);
        let group = self.name;
        self.log.member(|key| Mutation::GroupPut { key, group, last_id, entries_read });
    }

    /// [`Group::create_consumer`]: records the consumer when created.
    pub fn create_consumer(&mut self, name: &[u8], now_ms: u64) -> bool {
        let created = self.group.create_consumer(name, now_ms);
        if created {
            self.record_consumer(name);
        }
        created
    }

    /// [`Group::touch_consumer`]: records the consumer with its new seen-time.
    pub fn touch_consumer(&mut self, name: &[u8], now_ms: u64) -> bool {
        let created = self.group.touch_consumer(name, now_ms);
        self.record_consumer(name);
        created
    }

    /// [`Group::put_consumer`], recording the consumer (replays a consumer's creation or
    /// seen-time).
    pub fn put_consumer(&mut self, name: &[u8], seen_time: u64) {
        self.group.put_consumer(name, seen_time);
        self.record_consumer(name);
    }

    /// [`Group::delete_consumer`]: records the deletion when the consumer existed.
    pub fn delete_consumer(&mut self, name: &[u8]) -> Option<usize> {
        let pending = self.group.delete_consumer(name)?;
        let group = self.name;
        self.log.member(|key| Mutation::ConsumerDelete { key, group, consumer: name });
        Some(pending)
    }

    /// [`Group::deliver`], recording the pending entry.
    pub fn deliver(&mut self, id: StreamId, consumer: &Bytes, now_ms: u64) {
        self.group.deliver(id, consumer, now_ms);
        self.record_pending(id);
    }

    /// Delivers the pending entry `id` again to its owner (XREADGROUP with an ID): the delivery time
    /// becomes `now_ms` and the count grows. False when `id` is not pending.
    pub fn redeliver(&mut self, id: StreamId, now_ms: u64) -> bool {
        let Some(nack) = self.group.pel.get_mut(&id) else {
            return false;
        };
        nack.delivery_time = now_ms;
        nack.delivery_count += 1;
        self.record_pending(id);
        true
    }

    /// [`Group::claim`], recording the pending entry when it was claimed.
    pub fn claim(&mut self, id: StreamId, consumer: &Bytes, delivery_time: u64, retry: Option<u64>, keep_count: bool) -> bool {
        let claimed = self.group.claim(id, consumer, delivery_time, retry, keep_count);
        if claimed {
            self.record_pending(id);
        }
        claimed
    }

    /// [`Group::force_pending`], recording the unowned entry when it is created.
    pub fn force_pending(&mut self, id: StreamId, now_ms: u64) {
        if self.group.pel.contains_key(&id) {
            return;
        }
        self.group.force_pending(id, now_ms);
        self.record_pending(id);
    }

    /// [`Group::put_pending`], recording the pending entry (replays a delivery or claim).
    pub fn put_pending(&mut self, id: StreamId, consumer: &[u8], delivery_time: u64, delivery_count: u64) {
        self.group.put_pending(id, consumer, delivery_time, delivery_count);
        self.record_pending(id);
    }

    /// [`Group::ack`], recording the acknowledgement when `id` was pending.
    pub fn ack(&mut self, id: StreamId) -> bool {
        let acked = self.group.ack(id);
        if acked {
            let group = self.name;
            self.log.member(|key| Mutation::PendingDelete { key, group, id });
        }
        acked
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(ms: u64) -> StreamId {
        StreamId::new(ms, 0)
    }

    #[test]
    fn pel_bookkeeping_stays_consistent() {
        let (alice, bob) = (Bytes::from_static(b"alice"), Bytes::from_static(b"bob"));
        let mut group = Group::new(StreamId::MIN, Some(0));
        assert!(group.create_consumer(b"alice", 10));
        assert!(!group.create_consumer(b"alice", 11));
        assert!(group.touch_consumer(b"bob", 12));
        assert!(!group.touch_consumer(b"bob", 13));
        for ms in 1..=4 {
            group.deliver(id(ms), &alice, 20);
        }
        group.check();
        assert_eq!(group.consumers[&alice].pending.len(), 4);
        // Redelivery to another consumer moves the entry and resets its count.
        group.pel.get_mut(&id(1)).unwrap().delivery_count = 7;
        group.deliver(id(1), &bob, 30);
        group.check();
        assert_eq!(group.pel[&id(1)].delivery_count, 1);
        assert!(group.claim(id(2), &bob, 40, None, false));
        assert_eq!(group.pel[&id(2)].delivery_count, 2);
        assert!(group.claim(id(2), &bob, 41, None, true));
        assert_eq!(group.pel[&id(2)].delivery_count, 2);
        assert!(group.claim(id(3), &bob, 42, Some(9), false));
        assert_eq!(group.pel[&id(3)].delivery_count, 9);
        assert!(!group.claim(id(9), &bob, 42, None, false));
        group.force_pending(id(9), 50);
        assert!(group.claim(id(9), &bob, 50, None, false));
        assert_eq!(group.pel[&id(9)].delivery_count, 2);
        group.check();
        assert!(group.ack(id(1)));
        assert!(!group.ack(id(1)));
        group.check();
        assert_eq!(group.delete_consumer(b"bob"), Some(3));
        assert_eq!(group.delete_consumer(b"bob"), None);
        group.check();
        assert_eq!(group.pel.len(), 1);
    }
}
