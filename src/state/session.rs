//! One connection's own state (database, protocol, transaction, subscriptions, watches, a pending
//! block), owned by its connection task and lent to each command's handler.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::acl::{User, Users, DEFAULT_USER};
use super::clients::ClientInfo;
use super::pubsub::Subscriptions;
use super::shared::Shared;
use crate::engine::StreamId;
use crate::resp::{OwnedArgs, Protocol, Reply};

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
    /// The ACL user the client runs as, as of [`Users::generation`] `user_generation`.
    pub user: Arc<User>,
    user_generation: u64,
    /// The user passes every check: requests are not checked.
    unrestricted: bool,
}

/// What a blocked command waits for, as Redis's blocking types: only a key of that type serves it,
/// except that a consumer-group read also ends when its stream is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockedOn {
    List,
    SortedSet,
    Stream,
    StreamGroup,
    Queue,
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
    /// A connection's session, running as the `default` user (authenticated already when that user
    /// needs no password).
    pub fn new(info: Arc<ClientInfo>, users: &Users) -> Session {
        let user = users.get(DEFAULT_USER).unwrap_or_else(|| Arc::new(User::new(DEFAULT_USER, false)));
        let (authenticated, unrestricted) = (user.enabled && user.nopass, user.unrestricted());
        Session::with_user(info, user, users.generation(), authenticated, unrestricted)
    }

    /// A session that runs a blocked client's command again on its behalf: authenticated, and not
    /// checked against ACL again (it was when the client sent it).
    pub fn on_behalf_of(info: Arc<ClientInfo>, users: &Users) -> Session {
        let user = Arc::new(User::new(&info.user(), false));
        Session::with_user(info, user, users.generation(), true, true)
    }

    fn with_user(info: Arc<ClientInfo>, user: Arc<User>, user_generation: u64, authenticated: bool, unrestricted: bool) -> Session {
        Session {
            info,
            db: 0,
            protocol: Protocol::Resp2,
            authenticated,
            unrestricted,
            user,
            user_generation,
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

    /// Runs as `user` from now on, authenticated.
    pub fn log_in(&mut self, user: Arc<User>, users: &Users) {
        if let Ok(mut name) = self.info.user.lock() {
            name.clone_from(&user.name);
        }
        self.user_generation = users.generation();
        self.unrestricted = user.unrestricted();
        self.user = user;
        self.authenticated = true;
    }

    /// Runs as the `default` user again, authenticated only if it needs no password (RESET).
    pub fn log_out(&mut self, users: &Users) {
        match users.get(DEFAULT_USER) {
            Some(default) => {
                let open = default.enabled && default.nopass;
                self.log_in(default, users);
                self.authenticated = open;
            }
            None => self.authenticated = false,
        }
    }

    /// Picks up changes to the session's user (ACL SETUSER, ACL LOAD): one atomic load when none.
    pub fn refresh_user(&mut self, users: &Users) {
        let generation = users.generation();
        if generation == self.user_generation {
            return;
        }
        self.user_generation = generation;
        // A deleted user's clients are disconnected; until then they keep the rules they had.
        if let Some(user) = users.get(&self.user.name) {
            self.unrestricted = user.unrestricted();
            self.user = user;
        }
    }

    /// The session's user when its requests need checking.
    pub fn restricted_user(&self) -> Option<&User> {
        (!self.unrestricted).then_some(&*self.user)
    }

    /// Forgets every watched key (EXEC, DISCARD, UNWATCH, RESET, disconnect).
    pub fn unwatch_all(&mut self, shared: &Shared) {
        let keys: Vec<(usize, Vec<u8>)> = self.watched.drain(..).map(|(db, key, _)| (db, key)).collect();
        shared.watches.unwatch(self.info.id, &keys);
        self.watch_dirty.store(false, std::sync::atomic::Ordering::Relaxed);
    }
}
