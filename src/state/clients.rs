//! The registry of connected clients, for CLIENT LIST/INFO/KILL and INFO clients.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

/// What other connections may read or signal about one client. The connection task owns everything
/// else; these fields are atomics or short-locked so CLIENT LIST never waits on a busy client.
pub struct ClientInfo {
    pub id: u64,
    pub addr: SocketAddr,
    pub laddr: SocketAddr,
    pub fd: i32,
    pub created_ms: u64,
    pub name: Mutex<String>,
    /// The ACL user the client is authenticated as (CLIENT LIST's `user=`).
    pub user: Mutex<Vec<u8>>,
    pub lib_name: Mutex<String>,
    pub lib_ver: Mutex<String>,
    pub db: AtomicUsize,
    pub resp: AtomicU8,
    pub last_interaction_ms: AtomicU64,
    /// Index of the last command in the command table, for `cmd=`.
    pub last_command: AtomicUsize,
    pub query_buffer: AtomicUsize,
    pub monitor: AtomicBool,
    pub no_evict: AtomicBool,
    pub no_touch: AtomicBool,
    /// Set while the client waits in a blocking command (`flags=b`).
    pub blocked: AtomicBool,
    /// Set by CLIENT KILL; the connection closes at its next chance.
    pub killed: AtomicBool,
    pub kill: Notify,
    /// Channels, patterns and shard channels subscribed (`sub=`, `psub=`, `ssub=`).
    pub subscriptions: AtomicUsize,
    pub pattern_subscriptions: AtomicUsize,
    pub shard_subscriptions: AtomicUsize,
}

impl ClientInfo {
    /// A newly connected client with default state.
    pub fn new(id: u64, addr: SocketAddr, laddr: SocketAddr, fd: i32, created_ms: u64) -> ClientInfo {
        ClientInfo {
            id,
            addr,
            laddr,
            fd,
            created_ms,
            name: Default::default(),
            user: Mutex::new(super::acl::DEFAULT_USER.to_vec()),
            lib_name: Default::default(),
            lib_ver: Default::default(),
            db: Default::default(),
            resp: 2.into(),
            last_interaction_ms: created_ms.into(),
            last_command: usize::MAX.into(),
            query_buffer: Default::default(),
            monitor: Default::default(),
            no_evict: Default::default(),
            no_touch: Default::default(),
            blocked: Default::default(),
            killed: Default::default(),
            kill: Default::default(),
            subscriptions: Default::default(),
            pattern_subscriptions: Default::default(),
            shard_subscriptions: Default::default(),
        }
    }

    /// The client class of CLIENT LIST/KILL TYPE: `pubsub` while subscribed, else `normal` (MONITOR
    /// clients count as normal, as in Redis).
    pub fn client_type(&self) -> &'static str {
        if self.subscribed() {
            "pubsub"
        } else {
            "normal"
        }
    }

    /// Whether the client has any subscription (flag `P`).
    pub fn subscribed(&self) -> bool {
        self.subscriptions.load(Ordering::Relaxed)
            + self.pattern_subscriptions.load(Ordering::Relaxed)
            + self.shard_subscriptions.load(Ordering::Relaxed)
            > 0
    }

    pub fn name(&self) -> String {
        self.name.lock().map(|n| n.clone()).unwrap_or_default()
    }

    pub fn set_name(&self, name: String) {
        if let Ok(mut slot) = self.name.lock() {
            *slot = name;
        }
    }

    pub fn set_lib(&self, slot: &Mutex<String>, value: String) {
        if let Ok(mut slot) = slot.lock() {
            *slot = value;
        }
    }

    pub fn user(&self) -> Vec<u8> {
        self.user.lock().map(|user| user.clone()).unwrap_or_default()
    }

    /// Asks the connection to close.
    pub fn kill(&self) {
        self.killed.store(true, Ordering::Relaxed);
        self.kill.notify_one();
    }
}

/// All connected clients.
#[derive(Default)]
pub struct Clients {
    next_id: AtomicU64,
    map: Mutex<BTreeMap<u64, Arc<ClientInfo>>>,
}

impl Clients {
    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub fn register(&self, info: Arc<ClientInfo>) {
        if let Ok(mut map) = self.map.lock() {
            map.insert(info.id, info);
        }
    }

    pub fn unregister(&self, id: u64) {
        if let Ok(mut map) = self.map.lock() {
            map.remove(&id);
        }
    }

    pub fn len(&self) -> usize {
        self.map.lock().map(|m| m.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A snapshot of the registered clients, in id order.
    pub fn all(&self) -> Vec<Arc<ClientInfo>> {
        self.map.lock().map(|m| m.values().cloned().collect()).unwrap_or_default()
    }

    pub fn get(&self, id: u64) -> Option<Arc<ClientInfo>> {
        self.map.lock().ok()?.get(&id).cloned()
    }
}
