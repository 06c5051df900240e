//! Clients blocked on keys (BLPOP, BZPOPMIN, XREAD BLOCK, ...), woken first come first served.
//!
//! A write to a key wakes only the longest-waiting client blocked on it. That client runs its command
//! again; if it was served it passes the turn on ([`Blocked::signal`] again after it unregisters), so
//! one push wakes one waiter and a push of several elements reaches several waiters in order.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

type WaitKey = (usize, Vec<u8>);
/// Blocked clients of one key, longest-waiting first, each with the Notify that wakes it.
type Queue = VecDeque<(u64, Arc<Notify>)>;

#[derive(Default)]
pub struct Blocked {
    /// Clients currently blocked (INFO blocked_clients); also the fast "nobody waits" check.
    clients: AtomicUsize,
    waiters: Mutex<HashMap<WaitKey, Queue>>,
}

impl Blocked {
    /// Parks `client` on `keys` of database `db`; the returned Notify fires when it's its turn.
    pub fn register(&self, client: u64, db: usize, keys: &[Vec<u8>]) -> Arc<Notify> {
        let notify = Arc::new(Notify::new());
        if let Ok(mut waiters) = self.waiters.lock() {
            for key in keys {
                waiters.entry((db, key.clone())).or_default().push_back((client, notify.clone()));
            }
            self.clients.fetch_add(1, Ordering::Relaxed);
        }
        notify
    }

    pub fn unregister(&self, client: u64, db: usize, keys: &[Vec<u8>]) {
        if let Ok(mut waiters) = self.waiters.lock() {
            for key in keys {
                let wait_key = (db, key.clone());
                if let Some(queue) = waiters.get_mut(&wait_key) {
                    queue.retain(|(id, _)| *id != client);
                    if queue.is_empty() {
                        waiters.remove(&wait_key);
                    }
                }
            }
            self.clients.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// A write touched `key`: wake the longest-waiting client blocked on it.
    pub fn signal(&self, db: usize, key: &[u8]) {
        if self.clients.load(Ordering::Relaxed) == 0 {
            return;
        }
        if let Ok(waiters) = self.waiters.lock() {
            if let Some((_, notify)) = waiters.get(&(db, key.to_vec())).and_then(|q| q.front()) {
                notify.notify_one();
            }
        }
    }

    /// Every key of `db` may have changed (SWAPDB): wake the first waiter of each key.
    pub fn signal_db(&self, db: usize) {
        if self.clients.load(Ordering::Relaxed) == 0 {
            return;
        }
        if let Ok(waiters) = self.waiters.lock() {
            for ((key_db, _), queue) in waiters.iter() {
                if *key_db == db {
                    if let Some((_, notify)) = queue.front() {
                        notify.notify_one();
                    }
                }
            }
        }
    }

    pub fn count(&self) -> usize {
        self.clients.load(Ordering::Relaxed)
    }
}
