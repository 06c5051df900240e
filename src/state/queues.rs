//! What the server must remember about queues beyond their data: when each queue next changes by
//! itself (a delay or lease ending, a TTL passing), so a timer can act then without anyone popping,
//! and which clients hold leases where, so a client that goes away gives its leases back at once.
//!
//! Both are hints: every Q.* command settles its queue's time first, so a timer that fires late or
//! for a key that moved changes nothing wrong; it only makes things happen on time (a blocked
//! consumer served when a delay ends).

use std::collections::BTreeSet;
use std::sync::Mutex;

use hashbrown::{Equivalent, HashMap};
use tokio::sync::Notify;

pub(super) type QueueKey = (usize, Vec<u8>);

/// A borrowed `(db, key)`, to look keys up without copying them. It hashes as the owned tuple does
/// (a `Vec<u8>` hashes as its slice).
#[derive(Hash)]
pub(super) struct KeyRef<'a>(pub(super) usize, pub(super) &'a [u8]);

impl Equivalent<QueueKey> for KeyRef<'_> {
    fn equivalent(&self, key: &QueueKey) -> bool {
        self.0 == key.0 && self.1 == key.1.as_slice()
    }
}

#[derive(Default)]
struct Inner {
    /// (when, db, key), earliest first.
    due: BTreeSet<(u64, usize, Vec<u8>)>,
    /// The time each key is in `due` at.
    by_key: HashMap<QueueKey, u64>,
    /// Per client, the queues it popped from (it may hold leases there).
    leases: HashMap<u64, Vec<QueueKey>>,
}

#[derive(Default)]
pub struct Queues {
    inner: Mutex<Inner>,
    /// Wakes the timer when a key is due earlier than anything before.
    wake: Notify,
}

impl Queues {
    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The queue `key` of `db` changes by itself at `at` (Unix ms). A later time for a key that is
    /// already due earlier is ignored: the early wake-up finds nothing and asks again.
    pub fn schedule(&self, db: usize, key: &[u8], at: u64) {
        let mut inner = self.inner();
        match inner.by_key.get(&KeyRef(db, key)) {
            Some(&known) if known <= at => return,
            Some(&known) => {
                inner.due.remove(&(known, db, key.to_vec()));
            }
            None => {}
        }
        let earliest = inner.due.first().is_none_or(|first| at < first.0);
        inner.due.insert((at, db, key.to_vec()));
        inner.by_key.insert((db, key.to_vec()), at);
        drop(inner);
        if earliest {
            self.wake.notify_one();
        }
    }

    /// Takes the queues due by `now`.
    pub fn take_due(&self, now: u64) -> Vec<QueueKey> {
        let mut inner = self.inner();
        let mut out = Vec::new();
        while inner.due.first().is_some_and(|first| first.0 <= now) {
            if let Some((_, db, key)) = inner.due.pop_first() {
                inner.by_key.remove(&KeyRef(db, &key));
                out.push((db, key));
            }
        }
        out
    }

    /// When the next queue is due.
    pub fn next_due(&self) -> Option<u64> {
        self.inner().due.first().map(|first| first.0)
    }

    /// Resolves when a queue was scheduled earlier than every other.
    pub async fn rescheduled(&self) {
        self.wake.notified().await;
    }

    /// Client `client` leased messages of queue `key` in `db`.
    pub fn leased(&self, client: u64, db: usize, key: &[u8]) {
        let mut inner = self.inner();
        let queues = inner.leases.entry(client).or_default();
        if !queues.iter().any(|(d, k)| *d == db && k == key) {
            queues.push((db, key.to_vec()));
        }
    }

    /// Client `client` went away: the queues where it may hold leases.
    pub fn take_leases(&self, client: u64) -> Vec<QueueKey> {
        self.inner().leases.remove(&client).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_earliest_time_per_key() {
        let queues = Queues::default();
        queues.schedule(0, b"a", 50);
        queues.schedule(0, b"a", 70);
        queues.schedule(0, b"b", 60);
        queues.schedule(0, b"b", 40);
        assert_eq!(queues.next_due(), Some(40));
        assert_eq!(queues.take_due(55), vec![(0, b"b".to_vec()), (0, b"a".to_vec())]);
        assert_eq!(queues.next_due(), None);
        queues.leased(3, 0, b"a");
        queues.leased(3, 0, b"a");
        assert_eq!(queues.take_leases(3), vec![(0, b"a".to_vec())]);
        assert!(queues.take_leases(3).is_empty());
    }
}
