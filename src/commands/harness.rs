//! Runs commands in-process against a fresh server state, with a clock the test controls: a
//! family's tests can sit beside it and run in milliseconds, without a socket.
//!
//! ```
//! use strata::commands::harness::Harness;
//! use strata::resp::Reply;
//! let mut h = Harness::new();
//! assert_eq!(h.run(&["hset", "h", "f", "v"]), Reply::Int(1));
//! assert_eq!(h.run(&["hget", "h", "f"]), Reply::bulk(b"v"));
//! ```

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use super::dispatch::dispatch;
use super::table::registry;
use super::{Ctx, Session};
use crate::config::Config;
use crate::engine::ChangeSink;
use crate::resp::{OwnedArgs, Reply};
use crate::state::clients::ClientInfo;
use crate::state::shared::Shared;

/// Where the harness clock starts: 2026-01-01, in Unix milliseconds.
const START_MS: u64 = 1_767_225_600_000;

/// A server state and one client session on it.
pub struct Harness {
    pub shared: Arc<Shared>,
    session: Session,
    now_ms: u64,
    args: OwnedArgs,
}

impl Default for Harness {
    fn default() -> Self {
        Harness::new()
    }
}

impl Harness {
    /// A server with the default configuration and an authenticated RESP2 client.
    pub fn new() -> Harness {
        Harness::with_sinks(&[], Vec::new())
    }

    /// A server configured with `settings` (`name value` pairs, as on the command line) whose
    /// keyspace also reports its changes to `sinks`.
    pub fn with_sinks(settings: &[(&str, &str)], sinks: Vec<Arc<dyn ChangeSink>>) -> Harness {
        let mut overrides: Vec<(String, String)> = settings.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
        // Redis's default refuses DEBUG; the harness's client is local.
        if !settings.iter().any(|(name, _)| *name == "enable-debug-command") {
            overrides.push(("enable-debug-command".to_owned(), "local".to_owned()));
        }
        let config = match Config::load(None, &overrides) {
            Ok(config) => config,
            Err(error) => panic!("harness settings: {error}"),
        };
        let shared = Arc::new(Shared::with_sinks(config, registry().all.len(), sinks));
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        let info = Arc::new(ClientInfo::new(shared.clients.next_id(), addr, addr, -1, START_MS));
        let session = Session::new(info, &shared.acl);
        Harness { shared, session, now_ms: START_MS, args: OwnedArgs::default() }
    }

    /// Runs one command as the client would send it and returns its reply. A blocking command that
    /// finds nothing to serve does not wait: it answers `Reply::NoReply`.
    pub fn run<A: AsRef<[u8]>>(&mut self, command: &[A]) -> Reply {
        self.args.clear();
        for arg in command {
            self.args.push(arg.as_ref());
        }
        let shared: &Shared = &self.shared;
        let mut scripting = shared.scripting.lock();
        let mut ctx = Ctx::new(shared, &mut self.session, self.now_ms);
        ctx.scripting = scripting.as_mut();
        let reply = dispatch(&mut ctx, self.args.args()).reply;
        self.session.block = None;
        reply
    }

    /// The harness clock, in Unix milliseconds.
    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    /// Moves the clock forward.
    pub fn advance_ms(&mut self, ms: u64) {
        self.now_ms += ms;
    }

    /// One full cycle of active expiry at the harness clock.
    pub fn expire_cycle(&self) -> usize {
        let mut cursor = 0;
        self.shared.keyspace.expire_step(&mut cursor, crate::engine::keyspace::SHARDS, self.now_ms)
    }
}
