//! Clients blocked on keys (BLPOP, BZPOPMIN, XREAD BLOCK, ...), served first come first served by
//! the client whose write made their keys ready, as in Redis.
//!
//! A write to a key someone waits on marks the key ready on the writer's thread. When the writing
//! command (or the whole EXEC, or the script) has finished, and before the writer's loop runs
//! anything else, [`serve_ready`] runs each ready key's waiters' commands in the order they blocked,
//! on their behalf. So no other client's pop can take an element between the push and the waiter.
//! A served waiter's reply reaches its own connection through its [`Waiter`]; a waiter whose command
//! still finds nothing stays parked. Serving runs under the writer's gate, like its commands.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

use super::clients::{ClientInfo, UNBLOCK_NONE};
use super::shared::{unix_ms, Shared};
use crate::commands::{dispatch, BlockState, Ctx, Session};
use crate::engine::KeyHash;
use crate::resp::{OwnedArgs, Protocol, Reply};

type WaitKey = (usize, Vec<u8>);

thread_local! {
    /// Keys made ready by this thread's commands and not yet served, in the order they became ready.
    static READY: RefCell<VecDeque<WaitKey>> = const { RefCell::new(VecDeque::new()) };
}

/// Where a blocked client's wait stands. Only one side moves it out of `Waiting`: a writer that
/// served the command, or the client itself when it times out, is unblocked, or goes away.
enum WaitState {
    /// Still parked; holds what a blocked XREAD resolved on its first run.
    Waiting(Option<BlockState>),
    Served(Reply),
    Left,
}

/// One blocked command, shared by its connection and the writers that may serve it.
pub struct Waiter {
    info: Arc<ClientInfo>,
    db: usize,
    protocol: Protocol,
    keys: Vec<Vec<u8>>,
    args: OwnedArgs,
    state: Mutex<WaitState>,
    /// Fired once the command was served.
    served: Notify,
}

impl Waiter {
    fn state(&self) -> MutexGuard<'_, WaitState> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Waits until a writer served the command; its reply.
    pub async fn served(&self) -> Reply {
        loop {
            self.served.notified().await;
            let mut state = self.state();
            if matches!(*state, WaitState::Served(_)) {
                if let WaitState::Served(reply) = std::mem::replace(&mut *state, WaitState::Left) {
                    return reply;
                }
            }
        }
    }

    /// Runs the command on the waiter's behalf (its database, protocol and client); true when it
    /// was served. The state stays locked meanwhile, so the client cannot leave halfway.
    fn try_serve(&self, shared: &Shared) -> bool {
        let mut state = self.state();
        let WaitState::Waiting(block_state) = &mut *state else {
            return false;
        };
        let mut session = Session::new(self.info.clone(), true);
        session.db = self.db;
        session.protocol = self.protocol;
        session.block_state = block_state.take();
        let mut ctx = Ctx::new(shared, &mut session, unix_ms());
        // Not counted again in commandstats: the blocking call was, once, as Redis counts it.
        let reply = dispatch(&mut ctx, self.args.args()).reply;
        if session.block.take().is_some() {
            *state = WaitState::Waiting(session.block_state.take());
            return false;
        }
        *state = WaitState::Served(reply);
        true
    }
}

#[derive(Default)]
pub struct Blocked {
    /// Clients currently blocked (INFO blocked_clients); also the fast "nobody waits" check.
    clients: AtomicUsize,
    /// Per key, its waiters longest-waiting first.
    waiters: Mutex<HashMap<WaitKey, VecDeque<Arc<Waiter>>>>,
}

impl Blocked {
    fn waiters(&self) -> MutexGuard<'_, HashMap<WaitKey, VecDeque<Arc<Waiter>>>> {
        self.waiters.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Parks the client of `session` on `keys` until `args` can be served. Data that arrived after
    /// the command looked is noticed: its keys count as ready, so the caller's [`serve_ready`]
    /// serves it at once if it can.
    pub fn register(&self, session: &mut Session, keys: Vec<Vec<u8>>, args: OwnedArgs) -> Arc<Waiter> {
        let waiter = Arc::new(Waiter {
            info: session.info.clone(),
            db: session.db,
            protocol: session.protocol,
            keys,
            args,
            state: Mutex::new(WaitState::Waiting(session.block_state.take())),
            served: Notify::new(),
        });
        let mut waiters = self.waiters();
        for key in &waiter.keys {
            waiters.entry((waiter.db, key.clone())).or_default().push_back(waiter.clone());
        }
        self.clients.fetch_add(1, Ordering::Relaxed);
        drop(waiters);
        // Forget a request aimed at an earlier wait before CLIENT UNBLOCK can see this one.
        session.info.unblock_request.store(UNBLOCK_NONE, Ordering::Relaxed);
        session.info.blocked.store(true, Ordering::Relaxed);
        for key in &waiter.keys {
            mark_ready(waiter.db, key);
        }
        waiter
    }

    /// The client stops waiting (timeout, CLIENT UNBLOCK, disconnect): the reply of a command a
    /// writer served meanwhile, which the client must still answer with.
    pub fn leave(&self, waiter: &Arc<Waiter>) -> Option<Reply> {
        let previous = std::mem::replace(&mut *waiter.state(), WaitState::Left);
        match previous {
            WaitState::Waiting(_) => {
                self.remove(waiter);
                None
            }
            WaitState::Served(reply) => Some(reply),
            WaitState::Left => None,
        }
    }

    /// Takes a waiter that left `Waiting` out of every queue.
    fn remove(&self, waiter: &Arc<Waiter>) {
        let mut waiters = self.waiters();
        for key in &waiter.keys {
            let wait_key = (waiter.db, key.clone());
            if let Some(queue) = waiters.get_mut(&wait_key) {
                queue.retain(|other| !Arc::ptr_eq(other, waiter));
                if queue.is_empty() {
                    waiters.remove(&wait_key);
                }
            }
        }
        self.clients.fetch_sub(1, Ordering::Relaxed);
    }

    /// A write touched `key`: if someone waits on it, it is ready to be served.
    pub fn signal(&self, db: usize, key: &[u8]) {
        if self.clients.load(Ordering::Relaxed) == 0 {
            return;
        }
        let wait_key = (db, key.to_vec());
        if self.waiters().contains_key(&wait_key) {
            READY.with_borrow_mut(|ready| {
                if !ready.contains(&wait_key) {
                    ready.push_back(wait_key);
                }
            });
        }
    }

    /// Every key of `db` may have changed (SWAPDB): every key waited on there is ready.
    pub fn signal_db(&self, db: usize) {
        if self.clients.load(Ordering::Relaxed) == 0 {
            return;
        }
        let keys: Vec<Vec<u8>> = self.waiters().keys().filter(|(key_db, _)| *key_db == db).map(|(_, key)| key.clone()).collect();
        for key in keys {
            mark_ready(db, &key);
        }
    }

    pub fn count(&self) -> usize {
        self.clients.load(Ordering::Relaxed)
    }

    /// The waiters of one key, longest-waiting first.
    fn queue(&self, key: &WaitKey) -> Vec<Arc<Waiter>> {
        self.waiters().get(key).map(|queue| queue.iter().cloned().collect()).unwrap_or_default()
    }
}

fn mark_ready(db: usize, key: &[u8]) {
    READY.with_borrow_mut(|ready| {
        if !ready.iter().any(|(ready_db, ready_key)| *ready_db == db && ready_key == key) {
            ready.push_back((db, key.to_vec()));
        }
    });
}

/// Serves the waiters of every key this thread's commands made ready, first come first served; a
/// served command that writes (BLMOVE) makes more keys ready, served in the same pass. Call it
/// after each command, holding the gate as the command did.
pub fn serve_ready(shared: &Shared) {
    while let Some(key) = READY.with_borrow_mut(VecDeque::pop_front) {
        let (db, name) = (&key.0, key.1.as_slice());
        let hash = KeyHash::of(name);
        for waiter in shared.blocked.queue(&key) {
            // Once the key is gone nobody else in line can be served from it.
            if !shared.keyspace.db(*db).lock(hash).contains(hash, name, unix_ms()) {
                break;
            }
            if waiter.try_serve(shared) {
                shared.blocked.remove(&waiter);
                waiter.served.notify_one();
            }
        }
    }
}
