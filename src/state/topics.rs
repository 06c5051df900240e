//! The topics the topic worker visits (`server`'s `topic_worker`, [`crate::commands::topic::maintain`]):
//! every key a STREAM.* write touched, and every topic recovery found. A hint, like the queue
//! timer's schedule: a key that no longer holds a topic (deleted, renamed away) is forgotten at the
//! worker's next visit, and a topic renamed to another key is registered again by its next write
//! or by the worker's periodic look at every key (`commands::topic::register_all`).

use std::sync::Mutex;

use hashbrown::HashSet;

use super::queues::{KeyRef, QueueKey};

#[derive(Default)]
pub struct Topics {
    known: Mutex<HashSet<QueueKey>>,
}

impl Topics {
    fn known(&self) -> std::sync::MutexGuard<'_, HashSet<QueueKey>> {
        self.known.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The worker visits `key` of `db` from now on.
    pub fn register(&self, db: usize, key: &[u8]) {
        let mut known = self.known();
        // Looked up by a borrowed key first: the common case (known already) copies nothing.
        if !known.contains(&KeyRef(db, key)) {
            known.insert((db, key.to_vec()));
        }
    }

    /// Every registered topic.
    pub fn all(&self) -> Vec<QueueKey> {
        let mut all: Vec<QueueKey> = self.known().iter().cloned().collect();
        all.sort_unstable();
        all
    }

    pub fn forget(&self, db: usize, key: &[u8]) {
        self.known().remove(&KeyRef(db, key));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_once_and_forgets() {
        let topics = Topics::default();
        topics.register(0, b"a");
        topics.register(0, b"a");
        topics.register(1, b"a");
        assert_eq!(topics.all(), vec![(0, b"a".to_vec()), (1, b"a".to_vec())]);
        topics.forget(0, b"a");
        assert_eq!(topics.all(), vec![(1, b"a".to_vec())]);
    }
}
