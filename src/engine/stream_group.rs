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

use super::stream::StreamId;

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
    pub last_id: StreamId,
    /// The logical read counter (`entries-read`); `None` when unknown.
    pub entries_read: Option<u64>,
    pub pel: BTreeMap<StreamId, Nack>,
    pub consumers: BTreeMap<Bytes, Consumer>,
}

impl Group {
    pub fn new(last_id: StreamId, entries_read: Option<u64>) -> Group {
        Group { last_id, entries_read, pel: BTreeMap::new(), consumers: BTreeMap::new() }
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
