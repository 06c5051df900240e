//! What a handler may use: the shared server state and its own connection's session.

use std::time::{Duration, Instant};

use crate::engine::{Db, KeyHash};
use crate::resp::Reply;
use crate::scripting::Scripting;
pub use crate::state::session::{BlockRequest, BlockedOn, ReplyMode, Session};
use crate::state::shared::Shared;

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
    /// Whether a setting of `no`/`local`/`yes` (`enable-debug-command`, `enable-protected-configs`)
    /// lets this client act: `local` means from the loopback interface.
    pub fn protected_action_allowed(&self, setting: &str) -> bool {
        match self.shared.config.get(setting).as_str() {
            "yes" => true,
            "local" => self.session.info.addr.ip().is_loopback(),
            _ => false,
        }
    }

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
    /// selected database if `notify-keyspace-events` enables `class` (a [`crate::notify`]
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
