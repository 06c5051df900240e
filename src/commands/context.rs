//! What a handler may use: the shared server state and its own connection's session.

use std::sync::Arc;
use std::time::Duration;

use crate::engine::Db;
use crate::resp::Protocol;
use crate::server::clients::ClientInfo;
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
        }
    }

    pub fn id(&self) -> u64 {
        self.info.id
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
}

impl<'a> Ctx<'a> {
    pub fn new(shared: &'a Shared, session: &'a mut Session, now_ms: u64) -> Ctx<'a> {
        Ctx { shared, session, now_ms, hits: 0, misses: 0 }
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

    pub fn touches(&self) -> bool {
        !self.session.info.no_touch.load(std::sync::atomic::Ordering::Relaxed)
    }
}
