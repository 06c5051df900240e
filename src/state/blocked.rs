//! Clients blocked on keys (BLPOP, BZPOPMIN, XREAD BLOCK, ...), served first come first served by
//! the client whose write made their keys ready, as in Redis.
//!
//! A write to a key someone waits on marks the key ready on the writer's thread. When the writing
//! command (or the whole EXEC, or the script) has finished, and before the writer's loop runs
//! anything else, [`serve_ready`] runs each ready key's waiters' commands in the order they blocked,
//! on their behalf. A write to an awaited key runs with the gate's write side, and the serving under
//! it, so no other client, on any loop, can take an element between the push and the waiter. A
//! served waiter's reply reaches its own connection through its [`Waiter`]; a waiter whose command
//! still finds nothing stays parked.
//!
//! The registry runs no command itself: [`serve_ready`] is handed the dispatcher by its caller
//! (`server::blocking`), so this state sits below the command layer.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

use super::clients::ClientInfo;
use super::session::{BlockRequest, BlockedOn, Session};
use super::shared::{unix_ms, Shared};
use super::stats::Stats;
use crate::engine::{KeyHash, StreamId, ValueType};
use crate::resp::{Args, OwnedArgs, Protocol, Reply};

type WaitKey = (usize, Vec<u8>);

thread_local! {
    /// Keys made ready by this thread's commands and not yet served, in the order they became ready.
    static READY: RefCell<VecDeque<WaitKey>> = const { RefCell::new(VecDeque::new()) };
}

/// Where a blocked client's wait stands. Only one side moves it out of `Waiting`: a writer that
/// served the command, CLIENT UNBLOCK or CLIENT KILL, or the client itself when it times out or
/// goes away.
enum WaitState {
    /// Still parked; holds the IDs a blocked XREAD's `$` stood for.
    Waiting(Option<Vec<StreamId>>),
    /// The reply to send: the served command's, or CLIENT UNBLOCK's.
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
    /// The command's index in the command table, for its error count when it ends with an error.
    command: Option<usize>,
    on: BlockedOn,
    timeout_reply: Reply,
    state: Mutex<WaitState>,
    /// Fired once the state became `Served`.
    served: Notify,
}

impl Waiter {
    fn state(&self) -> MutexGuard<'_, WaitState> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn timeout_reply(&self) -> &Reply {
        &self.timeout_reply
    }

    /// Waits until a writer served the command (or CLIENT UNBLOCK ended it); the reply to send.
    pub async fn served(&self) -> Reply {
        loop {
            self.served.notified().await;
            let mut state = self.state();
            match std::mem::replace(&mut *state, WaitState::Left) {
                WaitState::Served(reply) => return reply,
                other => *state = other,
            }
        }
    }

    /// Whether a key of type `found` (`None`: no such key) may serve this waiter, as Redis decides:
    /// only a key of the type the command pops, except that a consumer-group read also ends when
    /// its stream is gone.
    fn may_be_served_by(&self, found: Option<ValueType>) -> bool {
        match (self.on, found) {
            (BlockedOn::StreamGroup, _) => true,
            (_, None) => false,
            (BlockedOn::List, Some(found)) => found == ValueType::List,
            (BlockedOn::SortedSet, Some(found)) => found == ValueType::ZSet,
            (BlockedOn::Stream, Some(found)) => found == ValueType::Stream,
            (BlockedOn::Queue, Some(found)) => found == ValueType::Queue,
        }
    }

    /// Runs the command on the waiter's behalf (its database, protocol and client) through `run`;
    /// true when it was served. The state stays locked meanwhile, so the client cannot leave halfway.
    fn try_serve(&self, shared: &Shared, stream_gone: bool, run: &mut impl FnMut(&mut Session, Args) -> Reply) -> bool {
        let mut state = self.state();
        let WaitState::Waiting(read_ids) = &mut *state else {
            return false;
        };
        let reply = if stream_gone {
            let error = "UNBLOCKED the stream key no longer exists";
            shared.stats.record_error(error);
            Reply::Error(error.into())
        } else {
            let mut session = Session::on_behalf_of(self.info.clone(), &shared.acl);
            session.db = self.db;
            session.protocol = self.protocol;
            session.blocked_read_ids = read_ids.take();
            // Not counted again in commandstats: the blocking call was, once, as Redis counts it.
            let reply = run(&mut session, self.args.args());
            if session.block.take().is_some() {
                *state = WaitState::Waiting(session.blocked_read_ids.take());
                return false;
            }
            match reply {
                Reply::Error(line) if self.on == BlockedOn::StreamGroup && line.starts_with("NOGROUP") => {
                    Reply::Error("NOGROUP the consumer group this client was blocked on no longer exists".into())
                }
                reply => reply,
            }
        };
        if reply.is_error() {
            if let Some(command) = self.command {
                shared.stats.record_served_error(command);
            }
        }
        *state = WaitState::Served(reply);
        self.info.blocked.store(false, Ordering::Relaxed);
        true
    }
}

/// A client's wait, ended (as [`Blocked::leave`]) when dropped however the waiting ends, a panic or
/// a cancelled task included: a waiter left in line would take elements nobody receives.
pub struct Parked {
    shared: Arc<Shared>,
    pub waiter: Arc<Waiter>,
}

impl Parked {
    pub fn new(shared: Arc<Shared>, waiter: Arc<Waiter>) -> Parked {
        Parked { shared, waiter }
    }

    /// Ends the wait: the reply a writer or CLIENT UNBLOCK left meanwhile, if any.
    pub fn leave(&self) -> Option<Reply> {
        self.shared.blocked.leave(&self.waiter)
    }
}

impl Drop for Parked {
    fn drop(&mut self) {
        self.leave();
    }
}

#[derive(Default)]
struct Waiters {
    /// Per key, its waiters longest-waiting first.
    by_key: HashMap<WaitKey, VecDeque<Arc<Waiter>>>,
    by_client: HashMap<u64, Arc<Waiter>>,
}

/// Slots of [`Blocked::awaited`].
const AWAITED_SLOTS: usize = 4096;

pub struct Blocked {
    /// Clients currently blocked (INFO blocked_clients); also the fast "nobody waits" check.
    clients: AtomicUsize,
    /// Per slot of (database, key hash), how many waits name a key there: the check every write
    /// makes while someone is blocked, without the lock or a copy of the key (a shared slot only
    /// costs a look at the queues).
    awaited: Box<[AtomicU32]>,
    waiters: Mutex<Waiters>,
}

impl Default for Blocked {
    fn default() -> Blocked {
        Blocked {
            clients: AtomicUsize::new(0),
            awaited: (0..AWAITED_SLOTS).map(|_| AtomicU32::new(0)).collect(),
            waiters: Mutex::default(),
        }
    }
}

impl Blocked {
    fn waiters(&self) -> MutexGuard<'_, Waiters> {
        self.waiters.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Parks the client of `session` until `args` (the command at index `command` of the table)
    /// can be served. Data that arrived after the command looked is noticed: its keys count as
    /// ready, so the caller's [`serve_ready`] serves it at once if it can.
    pub fn register(&self, session: &mut Session, request: BlockRequest, args: OwnedArgs, command: Option<usize>) -> Arc<Waiter> {
        let waiter = Arc::new(Waiter {
            info: session.info.clone(),
            db: session.db,
            protocol: session.protocol,
            keys: request.keys,
            args,
            command,
            on: request.on,
            timeout_reply: request.timeout_reply,
            state: Mutex::new(WaitState::Waiting(session.blocked_read_ids.take())),
            served: Notify::new(),
        });
        let mut waiters = self.waiters();
        for key in &waiter.keys {
            waiters.by_key.entry((waiter.db, key.clone())).or_default().push_back(waiter.clone());
        }
        waiters.by_client.insert(waiter.info.id, waiter.clone());
        for key in &waiter.keys {
            self.awaited_slot(waiter.db, key).fetch_add(1, Ordering::Relaxed);
        }
        self.clients.fetch_add(1, Ordering::Relaxed);
        drop(waiters);
        session.info.blocked.store(true, Ordering::Relaxed);
        for key in &waiter.keys {
            mark_ready(waiter.db, key);
        }
        waiter
    }

    /// The client stops waiting (timeout, disconnect): the reply a writer or CLIENT UNBLOCK left
    /// for it meanwhile, which the client must still answer with.
    pub fn leave(&self, waiter: &Arc<Waiter>) -> Option<Reply> {
        let previous = std::mem::replace(&mut *waiter.state(), WaitState::Left);
        waiter.info.blocked.store(false, Ordering::Relaxed);
        match previous {
            WaitState::Waiting(_) => {
                self.remove(waiter);
                None
            }
            WaitState::Served(reply) => Some(reply),
            WaitState::Left => None,
        }
    }

    /// CLIENT UNBLOCK: ends `client`'s wait at once with its timeout reply, or with an error; false
    /// if it was not waiting. Elements pushed after this are not served to it.
    pub fn unblock(&self, client: u64, with_error: bool, stats: &Stats) -> bool {
        let Some(waiter) = self.waiters().by_client.get(&client).cloned() else {
            return false;
        };
        let mut state = waiter.state();
        if !matches!(*state, WaitState::Waiting(_)) {
            return false;
        }
        *state = WaitState::Served(if with_error {
            let error = "UNBLOCKED client unblocked via CLIENT UNBLOCK";
            stats.record_error(error);
            if let Some(command) = waiter.command {
                stats.record_served_error(command);
            }
            Reply::Error(error.into())
        } else {
            waiter.timeout_reply.clone()
        });
        drop(state);
        waiter.info.blocked.store(false, Ordering::Relaxed);
        self.remove(&waiter);
        waiter.served.notify_one();
        true
    }

    /// CLIENT KILL: `client` stops waiting at once, so nothing is served to a connection that is
    /// about to close.
    pub fn cancel(&self, client: u64) {
        let Some(waiter) = self.waiters().by_client.get(&client).cloned() else {
            return;
        };
        let mut state = waiter.state();
        if matches!(*state, WaitState::Waiting(_)) {
            *state = WaitState::Left;
            drop(state);
            self.remove(&waiter);
        }
    }

    /// Takes a waiter that left `Waiting` out of every queue.
    fn remove(&self, waiter: &Arc<Waiter>) {
        let mut waiters = self.waiters();
        for key in &waiter.keys {
            let wait_key = (waiter.db, key.clone());
            if let Some(queue) = waiters.by_key.get_mut(&wait_key) {
                queue.retain(|other| !Arc::ptr_eq(other, waiter));
                if queue.is_empty() {
                    waiters.by_key.remove(&wait_key);
                }
            }
        }
        if waiters.by_client.get(&waiter.info.id).is_some_and(|w| Arc::ptr_eq(w, waiter)) {
            waiters.by_client.remove(&waiter.info.id);
        }
        for key in &waiter.keys {
            self.awaited_slot(waiter.db, key).fetch_sub(1, Ordering::Relaxed);
        }
        self.clients.fetch_sub(1, Ordering::Relaxed);
    }

    fn awaited_slot(&self, db: usize, key: &[u8]) -> &AtomicU32 {
        &self.awaited[KeyHash::of(key).slot_in(db, AWAITED_SLOTS)]
    }

    /// Whether some client may wait on `key` of `db`: false for certain, true perhaps.
    fn may_await(&self, db: usize, key: &[u8]) -> bool {
        self.clients.load(Ordering::Relaxed) > 0 && self.awaited_slot(db, key).load(Ordering::Relaxed) > 0
    }

    /// Whether some client waits on `key` of `db`.
    pub fn awaits(&self, db: usize, key: &[u8]) -> bool {
        self.may_await(db, key) && self.waiters().by_key.contains_key(&(db, key.to_vec()))
    }

    /// How many clients wait on `key` of `db` (Q.STATS).
    pub fn waiting_on(&self, db: usize, key: &[u8]) -> usize {
        if !self.may_await(db, key) {
            return 0;
        }
        self.waiters().by_key.get(&(db, key.to_vec())).map_or(0, VecDeque::len)
    }

    /// A write touched `key`: if someone waits on it, it is ready to be served.
    pub fn signal(&self, db: usize, key: &[u8]) {
        if self.awaits(db, key) {
            mark_ready(db, key);
        }
    }

    /// Every key of `db` may have changed (FLUSHDB, SWAPDB): every key waited on there is ready.
    pub fn signal_db(&self, db: usize) {
        if self.clients.load(Ordering::Relaxed) == 0 {
            return;
        }
        let keys: Vec<Vec<u8>> = self.waiters().by_key.keys().filter(|(key_db, _)| *key_db == db).map(|(_, key)| key.clone()).collect();
        for key in keys {
            mark_ready(db, &key);
        }
    }

    pub fn count(&self) -> usize {
        self.clients.load(Ordering::Relaxed)
    }

    /// The waiter at `place` in the line of one key (0: the longest-waiting).
    fn in_line(&self, key: &WaitKey, place: usize) -> Option<Arc<Waiter>> {
        self.waiters().by_key.get(key).and_then(|line| line.get(place).cloned())
    }

    /// The consumer-group reads waiting on one key from `place` on.
    fn group_reads(&self, key: &WaitKey, place: usize) -> Vec<Arc<Waiter>> {
        let waiters = self.waiters();
        let line = waiters.by_key.get(key).into_iter().flat_map(|line| line.iter().skip(place));
        line.filter(|waiter| waiter.on == BlockedOn::StreamGroup).cloned().collect()
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
/// after each command, holding the gate as the command did. `run` runs a waiter's command for its
/// session (the dispatcher, given by the server).
pub fn serve_ready(shared: &Shared, mut run: impl FnMut(&mut Session, Args) -> Reply) {
    while let Some(key) = READY.with_borrow_mut(VecDeque::pop_front) {
        let (db, name) = (key.0, key.1.as_slice());
        let hash = KeyHash::of(name);
        // Walked one at a time: a served waiter leaves the line, so the next one takes its place.
        let mut place = 0;
        while let Some(waiter) = shared.blocked.in_line(&key, place) {
            let found = shared.keyspace.db(db).lock(hash).get(hash, name, unix_ms()).map(|entry| entry.value().value_type());
            if found.is_none() {
                // Gone (often just emptied by the waiters served before): only consumer-group
                // reads end now, with their error; nobody else in line can be served.
                for waiter in shared.blocked.group_reads(&key, place) {
                    serve(shared, &waiter, true, &mut run);
                }
                break;
            }
            let stream_gone = waiter.on == BlockedOn::StreamGroup && found != Some(ValueType::Stream);
            if !(waiter.may_be_served_by(found) && serve(shared, &waiter, stream_gone, &mut run)) {
                place += 1;
            }
        }
    }
}

/// Runs `waiter`'s command for it and, if that served it, hands it the reply; whether it did.
fn serve(shared: &Shared, waiter: &Arc<Waiter>, stream_gone: bool, run: &mut impl FnMut(&mut Session, Args) -> Reply) -> bool {
    let served = waiter.try_serve(shared, stream_gone, run);
    if served {
        shared.blocked.remove(waiter);
        waiter.served.notify_one();
    }
    served
}
