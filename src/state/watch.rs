//! WATCH: which clients watch which keys, and marking their transactions dirty when a key changes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

type WatchKey = (usize, Vec<u8>);
/// The clients watching one key, each with its transaction's dirty flag.
type Watchers = Vec<(u64, Arc<AtomicBool>)>;

#[derive(Default)]
pub struct Watches {
    /// Watched (database, key) pairs; zero makes every write's check one atomic load.
    count: AtomicUsize,
    watchers: Mutex<HashMap<WatchKey, Watchers>>,
}

impl Watches {
    pub fn watch(&self, client: u64, dirty: &Arc<AtomicBool>, db: usize, key: &[u8]) {
        if let Ok(mut watchers) = self.watchers.lock() {
            let list = watchers.entry((db, key.to_vec())).or_default();
            if !list.iter().any(|(id, _)| *id == client) {
                list.push((client, dirty.clone()));
            }
            self.count.store(watchers.len(), Ordering::Relaxed);
        }
    }

    pub fn unwatch(&self, client: u64, keys: &[(usize, Vec<u8>)]) {
        if keys.is_empty() {
            return;
        }
        if let Ok(mut watchers) = self.watchers.lock() {
            for key in keys {
                if let Some(list) = watchers.get_mut(key) {
                    list.retain(|(id, _)| *id != client);
                    if list.is_empty() {
                        watchers.remove(key);
                    }
                }
            }
            self.count.store(watchers.len(), Ordering::Relaxed);
        }
    }

    /// A write changed `key` in `db`.
    pub fn touch(&self, db: usize, key: &[u8]) {
        if self.count.load(Ordering::Relaxed) == 0 {
            return;
        }
        if let Ok(watchers) = self.watchers.lock() {
            for (_, dirty) in watchers.get(&(db, key.to_vec())).into_iter().flatten() {
                dirty.store(true, Ordering::Relaxed);
            }
        }
    }

    /// Every key of `db` (or of every database when `None`) may have changed: FLUSHDB, FLUSHALL,
    /// SWAPDB.
    pub fn touch_db(&self, db: Option<usize>) {
        if self.count.load(Ordering::Relaxed) == 0 {
            return;
        }
        if let Ok(watchers) = self.watchers.lock() {
            for ((key_db, _), list) in watchers.iter() {
                if db.is_none_or(|db| db == *key_db) {
                    for (_, dirty) in list {
                        dirty.store(true, Ordering::Relaxed);
                    }
                }
            }
        }
    }
}
