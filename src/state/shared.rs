//! State shared by every connection: configuration, keyspace, clients and counters.

use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::acl::log::Log as AclLog;
use super::acl::{User, Users};
use super::blocked::Blocked;
use super::clients::Clients;
use super::monitor::Monitors;
use super::pubsub::PubSub;
use super::saving::Saving;
use super::slowlog::SlowLog;
use super::stats::Stats;
use super::watch::Watches;
use crate::config::Config;
use crate::engine::mutation::Fanout;
use crate::engine::persist::recovery::{self, Loaded, Progress};
use crate::engine::persist::{Store, StoreError};
use crate::engine::snowflake::Snowflake;
use crate::engine::{ChangeSink, Keyspace};
use crate::scripting::{ScriptKind, ScriptStatus, Scripting};

/// How SHUTDOWN or a signal asked the server to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShutdownRequest {
    Running,
    Stop,
}

/// A CLIENT PAUSE in force.
#[derive(Debug, Clone, Copy)]
pub struct Pause {
    pub until: Instant,
    /// `ALL` pauses every command; `WRITE` only those that may change data.
    pub all: bool,
}

pub struct Shared {
    pub config: Config,
    /// Shared with background saves (BGSAVE), which walk it from their own thread.
    pub keyspace: Arc<Keyspace>,
    pub clients: Clients,
    /// ACL users, and the ACL LOG of denials.
    pub acl: Users,
    pub acl_log: AclLog,
    /// The TLS configuration of `tls-port` connections, when TLS is on.
    pub tls: super::tls::Tls,
    pub stats: Stats,
    pub slowlog: SlowLog,
    pub monitors: Monitors,
    pub pubsub: Arc<PubSub>,
    pub blocked: Blocked,
    pub watches: Watches,
    /// Queue timers and which clients hold leases where.
    pub queues: super::queues::Queues,
    /// Commands run under the read side; EXEC takes the write side, so no other client's command
    /// runs between the commands of a transaction. Held only while commands execute, never across
    /// an `.await`.
    pub gate: parking_lot::RwLock<()>,
    /// The script running now, if any: read by every loop to answer BUSY.
    pub scripts: Arc<ScriptStatus>,
    /// The Lua VM and the script caches, used with the gate held for writing (so never contended).
    /// `None` if the VM could not be created.
    pub scripting: parking_lot::Mutex<Option<Scripting>>,
    pub ids: Arc<Snowflake>,
    pub named_ids: Mutex<std::collections::HashMap<Vec<u8>, std::sync::Arc<Snowflake>>>,
    pub run_id: String,
    pub started: Instant,
    pub started_unix_ms: u64,
    /// The port actually bound (differs from the setting when it is 0).
    pub port: AtomicU16,
    /// Shared with the background save's thread, which reports its end there.
    pub saving: Arc<Saving>,
    pub pause: Mutex<Option<Pause>>,
    pub paused: AtomicBool,
    /// The keyspace on disk, when `appendonly` is on.
    pub store: Option<Arc<Store>>,
    /// The dataset is being loaded from `store`: commands not flagged `loading` get LOADING.
    pub loading: AtomicBool,
    pub loading_progress: Progress,
    pub loading_started_unix: AtomicU64,
    shutdown: watch::Sender<ShutdownRequest>,
}

impl Shared {
    pub fn new(config: Config, command_count: usize) -> Shared {
        Shared::with_sinks(config, command_count, Vec::new())
    }

    /// A server whose keyspace is written to `store` (when there is one).
    pub fn with_store(config: Config, command_count: usize, store: Option<Arc<Store>>) -> Shared {
        let sinks = store.iter().map(|s| s.clone() as Arc<dyn ChangeSink>).collect();
        let mut shared = Shared::with_sinks(config, command_count, sinks);
        shared.store = store;
        shared
    }

    /// A server whose keyspace also reports its changes to `sinks` (after the keyspace
    /// notifications), in order.
    pub fn with_sinks(config: Config, command_count: usize, sinks: Vec<Arc<dyn ChangeSink>>) -> Shared {
        let databases = config.get_i64("databases") as usize;
        let now = unix_ms();
        let pubsub = Arc::new(PubSub::new(config.hot.clone()));
        let mut keyspace = Keyspace::new(databases);
        if sinks.is_empty() {
            keyspace.set_sink(pubsub.clone());
        } else {
            let mut all: Vec<Arc<dyn ChangeSink>> = vec![pubsub.clone()];
            all.extend(sinks);
            keyspace.set_sink(Arc::new(Fanout::new(all)));
        }
        let scripts = Arc::new(ScriptStatus::default());
        let run_id: String = (0..40).map(|_| char::from_digit(rand::random_range(0..16), 16).unwrap_or('0')).collect();
        let default_user = User::initial_default(command_count, config.get("requirepass").as_bytes());
        Shared {
            acl: Users::with([default_user]),
            acl_log: AclLog::default(),
            tls: Default::default(),
            config,
            keyspace: Arc::new(keyspace),
            clients: Clients::default(),
            stats: Stats::new(command_count),
            slowlog: SlowLog::default(),
            monitors: Monitors::default(),
            pubsub,
            blocked: Blocked::default(),
            watches: Watches::default(),
            queues: Default::default(),
            gate: parking_lot::RwLock::new(()),
            scripting: parking_lot::Mutex::new(
                Scripting::new(scripts.clone()).inspect_err(|error| tracing::error!(%error, "cannot create the Lua VM")).ok(),
            ),
            scripts,
            ids: Arc::default(),
            named_ids: Mutex::default(),
            run_id,
            started: Instant::now(),
            started_unix_ms: now,
            port: AtomicU16::new(0),
            saving: Arc::new(Saving::new(now / 1000)),
            pause: Mutex::new(None),
            paused: AtomicBool::new(false),
            store: None,
            loading: AtomicBool::new(false),
            loading_progress: Progress::default(),
            loading_started_unix: AtomicU64::new(0),
            shutdown: watch::channel(ShutdownRequest::Running).0,
        }
    }

    /// Loads the keyspace from the store, if there is one, while clients get LOADING (call
    /// [`Shared::begin_loading`] before the event loops start, [`Shared::end_loading`] after).
    pub fn load_store(&self) -> Result<Loaded, StoreError> {
        let Some(store) = &self.store else {
            return Ok(Loaded::default());
        };
        let key_delay = Duration::from_micros(self.config.get_i64("key-load-delay") as u64);
        recovery::load_slowly(store, &self.keyspace, &self.config.hot.limits(), unix_ms(), &self.loading_progress, key_delay).and_then(
            |loaded| {
                for (namespace, reserved) in recovery::id_reservations(store)? {
                    self.id_generator(namespace.as_deref()).resume_above(reserved);
                }
                Ok(loaded)
            },
        )
    }

    /// The ID.* generator of `namespace` (the default one for `None`), created on first use.
    pub fn id_generator(&self, namespace: Option<&[u8]>) -> Arc<Snowflake> {
        match namespace {
            None => self.ids.clone(),
            Some(name) => {
                let mut named = self.named_ids.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                named.entry(name.to_vec()).or_default().clone()
            }
        }
    }

    /// Issues `count` IDs of `namespace`'s generator for this node; a reservation they needed goes
    /// to the store with the command, so IDs keep increasing across restarts.
    pub fn next_ids(&self, namespace: Option<&[u8]>, count: u64, now_ms: u64) -> Result<Vec<u64>, &'static str> {
        let node = self.config.hot.node_id.load(Ordering::Relaxed);
        let issued = self.id_generator(namespace).next(node, count, now_ms)?;
        if let (Some(store), Some(stamp)) = (&self.store, issued.reservation) {
            store.record_id_reservation(namespace, stamp);
        }
        Ok(issued.ids)
    }

    /// From now until [`Shared::end_loading`], clients get LOADING: while the store loads, and
    /// while an RDB file is imported (`importing`).
    pub fn begin_loading(&self, importing: bool) {
        if self.store.is_some() || importing {
            self.loading_started_unix.store(unix_ms() / 1000, Ordering::Relaxed);
            self.loading.store(true, Ordering::Release);
        }
    }

    /// The dataset is loaded: clients are served.
    pub fn end_loading(&self) {
        self.loading.store(false, Ordering::Release);
    }

    /// Takes the gate's read side for running commands. While a script holds the write side past
    /// `busy-reply-threshold`, gives up with the script's kind instead: the caller answers BUSY.
    pub fn enter_gate(&self) -> Result<parking_lot::RwLockReadGuard<'_, ()>, ScriptKind> {
        self.wait_for_gate(|wait| self.gate.try_read_for(wait))
    }

    /// Takes the gate's write side for a script or EXEC, giving up as [`Shared::enter_gate`] does.
    pub fn enter_exclusive(&self) -> Result<parking_lot::RwLockWriteGuard<'_, ()>, ScriptKind> {
        self.wait_for_gate(|wait| self.gate.try_write_for(wait))
    }

    /// Tries `take` (a timed lock attempt) until it succeeds, waiting no longer than until the
    /// running script reaches `busy-reply-threshold`; then gives up with the script's kind.
    fn wait_for_gate<G>(&self, take: impl Fn(Duration) -> Option<G>) -> Result<G, ScriptKind> {
        let mut wait = Duration::ZERO;
        loop {
            if let Some(guard) = take(wait) {
                return Ok(guard);
            }
            let threshold = self.config.hot.busy_reply_threshold_ms.load(Ordering::Relaxed);
            wait = Duration::from_millis(match self.scripts.running_for_ms() {
                Some((kind, ran)) if ran >= threshold => return Err(kind),
                Some((_, ran)) => (threshold - ran).max(1),
                // EXEC, or a script about to start.
                None => 10,
            });
        }
    }

    /// The running script's kind once it has run past `busy-reply-threshold`.
    pub fn busy_script(&self) -> Option<ScriptKind> {
        self.scripts.busy(self.config.hot.busy_reply_threshold_ms.load(Ordering::Relaxed))
    }

    pub fn request_shutdown(&self) {
        self.shutdown.send_replace(ShutdownRequest::Stop);
    }

    /// Whether the server is shutting down.
    pub fn stopping(&self) -> bool {
        *self.shutdown.borrow() == ShutdownRequest::Stop
    }

    pub fn shutdown_signal(&self) -> watch::Receiver<ShutdownRequest> {
        self.shutdown.subscribe()
    }

    /// The CLIENT PAUSE in force, if any: `Some(true)` holds every command, `Some(false)` only
    /// writes. One atomic load while nothing is paused.
    pub fn pause_in_force(&self) -> Option<bool> {
        if !self.paused.load(Ordering::Relaxed) {
            return None;
        }
        let mut pause = self.pause.lock().ok()?;
        let current = (*pause)?;
        if current.until <= Instant::now() {
            *pause = None;
            self.paused.store(false, Ordering::Relaxed);
            return None;
        }
        Some(current.all)
    }

    /// The pause in force for a command, if any (`write` says whether the command may change data).
    pub fn pause_for(&self, write: bool) -> Option<Duration> {
        if !self.paused.load(Ordering::Relaxed) {
            return None;
        }
        let mut pause = self.pause.lock().ok()?;
        let current = (*pause)?;
        let now = Instant::now();
        if current.until <= now {
            *pause = None;
            self.paused.store(false, Ordering::Relaxed);
            return None;
        }
        (current.all || write).then(|| current.until - now)
    }

    pub fn set_pause(&self, pause: Option<Pause>) {
        if let Ok(mut slot) = self.pause.lock() {
            *slot = pause;
            self.paused.store(pause.is_some(), Ordering::Relaxed);
        }
    }
}

pub fn unix_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

pub fn unix_micros() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)
}

/// Resolves once a shutdown has been requested, including one requested before this receiver was
/// created or last polled (`changed()` alone would miss those and wait forever).
pub async fn stopping(shutdown: &mut watch::Receiver<ShutdownRequest>) {
    let _ = shutdown.wait_for(|state| *state == ShutdownRequest::Stop).await;
}
