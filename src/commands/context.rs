//! What a handler may use: the shared server state and its own connection's session.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::engine::{Db, KeyHash, StreamId};
use crate::resp::{OwnedArgs, Protocol, Reply};
use crate::scripting::Scripting;
use crate::server::clients::ClientInfo;
use crate::server::pubsub::Subscriptions;
use crate::server::shared::Shared;

/// CLIENT REPLY modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyMode {
    On,
    Off,
    /// Set by CLIENT REPLY SKIP: that command gets no reply, and the next one is skipped too.
    SkipNext,
    /// The current command's reply is skipped; replies resume after it (Redis's CLIENT_REPLY_SKIP).
    Skip,
}

/// Per-connection state owned by the connection task.
pub struct Session {
    pub info: Arc<ClientInfo>,
    pub db: usize,
    pub protocol: Protocol,
    pub authenticated: bool,
    pub reply_mode: ReplyMode,
    /// Requests from handlers to the connection loop, acted on after the reply is written.
    pub close_after_reply: bool,
    pub delay: Option<Duration>,
    pub become_monitor: bool,
    /// Set by a blocking command that found nothing to serve (see [`Ctx::block`]).
    pub block: Option<BlockRequest>,
    /// True while commands run inside EXEC (or a script later): blocking commands must not block.
    pub in_exec: bool,
    /// Pub/sub subscriptions and the queue their messages arrive on; dropping the session
    /// unsubscribes everything.
    pub pubsub: Subscriptions,
    /// Commands queued since MULTI; `None` outside a transaction.
    pub multi: Option<Vec<OwnedArgs>>,
    /// A command was refused while queueing: EXEC must abort with EXECABORT.
    pub multi_failed: bool,
    /// WATCHed keys: database, key, and the deadline the key had when watched (a key that expires
    /// before EXEC counts as changed).
    pub watched: Vec<(usize, Vec<u8>, Option<u64>)>,
    /// Set by any write to a watched key.
    pub watch_dirty: Arc<AtomicBool>,
    /// The IDs a blocked XREAD's `$` stood for on its first run, so the runs on the waiting
    /// client's behalf read after the same IDs. Set when the command blocks; the waiter takes it
    /// along (`server::blocking`), so a new command of the client never sees it.
    pub blocked_read_ids: Option<Vec<StreamId>>,
}

/// What a blocked command waits for, as Redis's blocking types: only a key of that type serves it,
/// except that a consumer-group read also ends when its stream is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockedOn {
    List,
    SortedSet,
    Stream,
    StreamGroup,
}

/// A blocking command waiting for data: the connection parks the client on `keys` (in the current
/// database) until a write touches one of them, then the writer runs the same command on its
/// behalf; at the deadline it answers `timeout_reply` instead.
#[derive(Debug, Clone)]
pub struct BlockRequest {
    pub keys: Vec<Vec<u8>>,
    pub on: BlockedOn,
    /// `None` waits forever (a timeout of 0).
    pub deadline: Option<Instant>,
    pub timeout_reply: Reply,
}

impl Session {
    pub fn new(info: Arc<ClientInfo>, authenticated: bool) -> Session {
        Session {
            info,
            db: 0,
            protocol: Protocol::Resp2,
            authenticated,
            reply_mode: ReplyMode::On,
            close_after_reply: false,
            delay: None,
            become_monitor: false,
            block: None,
            in_exec: false,
            pubsub: Subscriptions::default(),
            multi: None,
            multi_failed: false,
            watched: Vec::new(),
            watch_dirty: Arc::new(AtomicBool::new(false)),
            blocked_read_ids: None,
        }
    }

    pub fn id(&self) -> u64 {
        self.info.id
    }

    /// Forgets every watched key (EXEC, DISCARD, UNWATCH, RESET, disconnect).
    pub fn unwatch_all(&mut self, shared: &Shared) {
        let keys: Vec<(usize, Vec<u8>)> = self.watched.drain(..).map(|(db, key, _)| (db, key)).collect();
        shared.watches.unwatch(self.info.id, &keys);
        self.watch_dirty.store(false, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The context of one command.
pub struct Ctx<'a> {
    pub shared: &'a Shared,
    pub session: &'a mut Session,
    /// Unix milliseconds when the command started; one clock reading per command keeps expiry
    /// decisions inside a command consistent.
    pub now_ms: u64,
    pub hits: u64,
    pub misses: u64,
    /// Set by [`Ctx::notify`]: the command changed data. Redis signals a modified key wherever it
    /// sends a keyspace event, so a write that sent none changed nothing and leaves WATCHes intact.
    pub changed: std::cell::Cell<bool>,
    /// The hashes of the keys [`Ctx::notify`] reported, recorded only while the command may name
    /// several keys (`Some`), so a write that changed one of them leaves WATCHes on the others
    /// intact, as in Redis (a hash collision only touches one key too many). A single-key command
    /// records nothing (`None`): its key is the one that changed.
    pub changed_keys: Option<std::cell::RefCell<Vec<KeyHash>>>,
    /// The Lua VM and script caches, present for the commands that run with the gate held for writing
    /// (EVAL, FCALL, SCRIPT, FUNCTION and EXEC).
    pub scripting: Option<&'a mut Scripting>,
}

impl<'a> Ctx<'a> {
    pub fn new(shared: &'a Shared, session: &'a mut Session, now_ms: u64) -> Ctx<'a> {
        Ctx { shared, session, now_ms, hits: 0, misses: 0, changed: std::cell::Cell::new(false), changed_keys: None, scripting: None }
    }

    /// The selected database.
    pub fn db(&self) -> &'a Db {
        self.shared.keyspace.db(self.session.db)
    }

    /// Counts a read that found (or missed) its key, for INFO keyspace_hits/misses.
    pub fn record_lookup(&mut self, found: bool) {
        if found {
            self.hits += 1;
        } else {
            self.misses += 1;
        }
    }

    /// Asks the connection to block this client until a write touches one of `keys` or `timeout`
    /// passes (`None` = forever); the command then runs again with the same arguments. Inside EXEC a
    /// blocking command does not block: it answers `timeout_reply` at once, as Redis does.
    ///
    /// Handlers call this only after finding nothing to serve, and return its result.
    pub fn block(&mut self, keys: Vec<Vec<u8>>, on: BlockedOn, timeout: Option<Duration>, timeout_reply: Reply) -> Reply {
        if self.session.in_exec {
            return timeout_reply;
        }
        let deadline = timeout.map(|t| Instant::now() + t);
        self.session.block = Some(BlockRequest { keys, on, deadline, timeout_reply });
        Reply::NoReply
    }

    /// Records that the command changed `key` and publishes a keyspace notification for it in the
    /// selected database if `notify-keyspace-events` enables `class` (a [`crate::server::notify`]
    /// flag). Costs one atomic load when notifications are off.
    pub fn notify(&self, class: u32, event: &str, key: &[u8]) {
        self.changed.set(true);
        if let Some(keys) = &self.changed_keys {
            keys.borrow_mut().push(KeyHash::of(key));
        }
        if self.shared.pubsub.notify_flags() & class != 0 {
            self.shared.pubsub.notify(class, event, self.session.db, key);
        }
    }

    /// Tells WATCHers and blocked clients of another database that `key` changed there (COPY ... DB,
    /// MOVE); the selected database's keys are announced by `dispatch`.
    pub fn touch_in(&self, db: usize, key: &[u8]) {
        self.shared.watches.touch(db, key);
        self.shared.blocked.signal(db, key);
    }

    pub fn touches(&self) -> bool {
        !self.session.info.no_touch.load(std::sync::atomic::Ordering::Relaxed)
    }
}
