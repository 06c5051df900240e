//! Pub/sub: who listens to which channel, pattern or shard channel, and delivery of messages to them.
//!
//! Each subscribed connection owns a [`Subscriptions`] (in its session) holding the receiving end of a
//! bounded queue; the registry ([`PubSub`]) holds the sending end, one [`Subscriber`] per connection,
//! under every channel or pattern it listens to. Messages are queued as [`Reply`] values and encoded by
//! the connection with its own protocol (a `Reply::Push` is `>` in RESP3 and `*` in RESP2).
//!
//! A subscriber that does not read its messages is disconnected once the bytes queued for it pass the
//! `pubsub` class of `client-output-buffer-limit` (the hard limit at once, the soft limit after it held
//! for its seconds), as Redis does; memory never grows without bound.
//!
//! Keyspace notifications ([`PubSub::notify`]) are ordinary publishes to `__keyspace@<db>__:<key>` and
//! `__keyevent@<db>__:<event>`; the registry is a change sink of the keyspace
//! ([`ChangeSink`]) for the events the engine causes on its own: keys it creates (`new`) and
//! keys that expire.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use bytes::Bytes;
use hashbrown::HashMap;
use indexmap::{IndexMap, IndexSet};
use tokio::sync::mpsc;

use super::clients::ClientInfo;
use super::shared::unix_ms;
use crate::config::Hot;
use crate::engine::{ChangeSink, Mutation};
use crate::resp::Reply;

/// Messages queued to one subscriber at most, whatever their size; past it the subscriber is
/// disconnected like one past its byte limit. The byte limit normally comes first.
pub const SUBSCRIBER_QUEUE: usize = 1 << 20;

/// Bytes counted for a queued message besides its encoded length: the queue slot and the reply's
/// allocation, so floods of tiny messages are bounded too.
const MESSAGE_OVERHEAD: usize = 64;

/// The three namespaces: channels (SUBSCRIBE), patterns (PSUBSCRIBE) and shard channels (SSUBSCRIBE).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Channel,
    Pattern,
    Shard,
}

impl Kind {
    fn index(self) -> usize {
        match self {
            Kind::Channel => 0,
            Kind::Pattern => 1,
            Kind::Shard => 2,
        }
    }
}

/// The registry's handle on one subscribed connection.
pub struct Subscriber {
    sender: mpsc::Sender<(Reply, usize)>,
    /// Bytes queued and not yet taken by the connection.
    queued: AtomicUsize,
    /// Unix ms when the queue first went over the soft limit; 0 while under it.
    over_soft_since_ms: AtomicU64,
    /// Set once the subscriber was found too slow; nothing more is queued to it.
    closed: AtomicBool,
    client: Arc<ClientInfo>,
}

impl Subscriber {
    /// Queues one message, or disconnects the subscriber when its queue is past the limits.
    fn deliver(&self, message: &Reply, size: usize, hot: &Hot) {
        if self.closed.load(Ordering::Relaxed) {
            return;
        }
        let queued = self.queued.fetch_add(size, Ordering::Relaxed) + size;
        if self.over_limits(queued, hot) {
            self.close();
            return;
        }
        if self.sender.try_send((message.clone(), size)).is_err() {
            self.close();
        }
    }

    /// Redis's `checkClientOutputBufferLimits` for the pubsub class.
    fn over_limits(&self, queued: usize, hot: &Hot) -> bool {
        let hard = hot.pubsub_hard_limit.load(Ordering::Relaxed);
        if hard > 0 && queued as u64 >= hard {
            return true;
        }
        let soft = hot.pubsub_soft_limit.load(Ordering::Relaxed);
        if soft == 0 || (queued as u64) < soft {
            self.over_soft_since_ms.store(0, Ordering::Relaxed);
            return false;
        }
        let now = unix_ms();
        let since = self.over_soft_since_ms.load(Ordering::Relaxed);
        if since == 0 {
            self.over_soft_since_ms.store(now, Ordering::Relaxed);
            return false;
        }
        now.saturating_sub(since) / 1000 > hot.pubsub_soft_seconds.load(Ordering::Relaxed)
    }

    fn close(&self) {
        if !self.closed.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                client = self.client.id,
                addr = %self.client.addr,
                "client scheduled to be closed ASAP for overcoming of output buffer limits"
            );
            self.client.kill();
        }
    }
}

type Listeners = IndexMap<u64, Arc<Subscriber>>;

/// Name → subscribers (in subscription order, which is delivery order) for each namespace.
#[derive(Default)]
struct Maps {
    channels: HashMap<Bytes, Listeners>,
    /// Patterns are matched one by one on every publish, in the order they were first subscribed.
    patterns: IndexMap<Bytes, Listeners>,
    shard_channels: HashMap<Bytes, Listeners>,
}

/// The server-wide pub/sub registry.
pub struct PubSub {
    maps: RwLock<Maps>,
    /// Output buffer limits and the notification flags, mirrored from the configuration.
    hot: Arc<Hot>,
}

impl PubSub {
    pub fn new(hot: Arc<Hot>) -> PubSub {
        PubSub { maps: RwLock::default(), hot }
    }

    fn read(&self) -> RwLockReadGuard<'_, Maps> {
        self.maps.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Maps> {
        self.maps.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The channels, patterns and shard channels client `id` subscribes to (a scan of the registry,
    /// for the rare ACL change that may revoke them).
    pub fn subscriptions_of(&self, id: u64) -> [Vec<Bytes>; 3] {
        let maps = self.read();
        let of = |names: &mut dyn Iterator<Item = (&Bytes, &Listeners)>| {
            names.filter(|(_, listeners)| listeners.contains_key(&id)).map(|(name, _)| name.clone()).collect()
        };
        [of(&mut maps.channels.iter()), of(&mut maps.patterns.iter()), of(&mut maps.shard_channels.iter())]
    }

    /// PUBLISH: delivers to the channel's subscribers and to every matching pattern's; returns how
    /// many received it (counting a client once per matching subscription, as Redis does).
    pub fn publish(&self, channel: &[u8], message: &[u8]) -> usize {
        let maps = self.read();
        let direct = maps.channels.get(channel);
        if direct.is_none() && maps.patterns.is_empty() {
            return 0;
        }
        let channel = Bytes::copy_from_slice(channel);
        let message = Bytes::copy_from_slice(message);
        let mut receivers = 0;
        if let Some(listeners) = direct {
            receivers += self.send_all(listeners, message_frame(b"message", &[&channel, &message]));
        }
        for (pattern, listeners) in &maps.patterns {
            if crate::glob::matches(pattern, &channel, false) {
                receivers += self.send_all(listeners, message_frame(b"pmessage", &[pattern, &channel, &message]));
            }
        }
        receivers
    }

    /// SPUBLISH: delivers to the shard channel's subscribers; returns how many.
    pub fn spublish(&self, channel: &[u8], message: &[u8]) -> usize {
        let maps = self.read();
        match maps.shard_channels.get(channel) {
            Some(listeners) => {
                let parts = [Bytes::copy_from_slice(channel), Bytes::copy_from_slice(message)];
                self.send_all(listeners, message_frame(b"smessage", &[&parts[0], &parts[1]]))
            }
            None => 0,
        }
    }

    fn send_all(&self, listeners: &Listeners, message: Reply) -> usize {
        let size = encoded_size(&message) + MESSAGE_OVERHEAD;
        for subscriber in listeners.values() {
            subscriber.deliver(&message, size, &self.hot);
        }
        listeners.len()
    }

    /// PUBSUB CHANNELS / SHARDCHANNELS: the active names matching `pattern` (all when `None`).
    pub fn names(&self, kind: Kind, pattern: Option<&[u8]>) -> Vec<Bytes> {
        let maps = self.read();
        let map = match kind {
            Kind::Channel => &maps.channels,
            Kind::Shard => &maps.shard_channels,
            Kind::Pattern => return maps.patterns.keys().cloned().collect(),
        };
        map.keys().filter(|name| pattern.is_none_or(|p| crate::glob::matches(p, name, false))).cloned().collect()
    }

    /// PUBSUB NUMSUB / SHARDNUMSUB: the subscriber count of one channel.
    pub fn subscriber_count(&self, kind: Kind, name: &[u8]) -> usize {
        let maps = self.read();
        let map = match kind {
            Kind::Channel => &maps.channels,
            Kind::Shard => &maps.shard_channels,
            Kind::Pattern => return maps.patterns.get(name).map_or(0, |l| l.len()),
        };
        map.get(name).map_or(0, |l| l.len())
    }

    /// PUBSUB NUMPAT: how many distinct patterns have subscribers.
    pub fn pattern_count(&self) -> usize {
        self.read().patterns.len()
    }

    /// How many channels, patterns or shard channels have subscribers (INFO stats).
    pub fn active_count(&self, kind: Kind) -> usize {
        let maps = self.read();
        match kind {
            Kind::Channel => maps.channels.len(),
            Kind::Pattern => maps.patterns.len(),
            Kind::Shard => maps.shard_channels.len(),
        }
    }

    fn add(&self, kind: Kind, name: &Bytes, subscriber: &Arc<Subscriber>) {
        let id = subscriber.client.id;
        let mut maps = self.write();
        let listeners = match kind {
            Kind::Channel => maps.channels.entry(name.clone()).or_default(),
            Kind::Pattern => maps.patterns.entry(name.clone()).or_default(),
            Kind::Shard => maps.shard_channels.entry(name.clone()).or_default(),
        };
        listeners.insert(id, subscriber.clone());
    }

    fn remove(&self, kind: Kind, name: &[u8], id: u64) {
        let mut maps = self.write();
        match kind {
            Kind::Channel => remove_from(&mut maps.channels, name, id),
            Kind::Shard => remove_from(&mut maps.shard_channels, name, id),
            Kind::Pattern => {
                let emptied = maps.patterns.get_mut(name).is_some_and(|l| {
                    l.shift_remove(&id);
                    l.is_empty()
                });
                if emptied {
                    maps.patterns.shift_remove(name);
                }
            }
        }
    }

    /// The keyspace-notification flags in force (0 when neither `K` nor `E` is set): one atomic load.
    pub fn notify_flags(&self) -> u32 {
        self.hot.notify_keyspace_events.load(Ordering::Relaxed)
    }

    /// Publishes a keyspace notification of `class` (one of the [`crate::notify`] flags) if
    /// `notify-keyspace-events` asks for it.
    pub fn notify(&self, class: u32, event: &str, db: usize, key: &[u8]) {
        let flags = self.notify_flags();
        if flags & class == 0 {
            return;
        }
        if flags & crate::notify::KEYSPACE != 0 {
            let mut channel = format!("__keyspace@{db}__:").into_bytes();
            channel.extend_from_slice(key);
            self.publish(&channel, event.as_bytes());
        }
        if flags & crate::notify::KEYEVENT != 0 {
            self.publish(format!("__keyevent@{db}__:{event}").as_bytes(), key);
        }
    }
}

/// The keyspace's changes that are notified without a command sending them: created and expired
/// keys.
impl ChangeSink for PubSub {
    fn record(&self, db: usize, _version: u64, change: &Mutation<'_>) {
        match *change {
            Mutation::Put { key, created: true, .. } => self.notify(crate::notify::NEW, "new", db, key),
            Mutation::Expired { key } => self.notify(crate::notify::EXPIRED, "expired", db, key),
            _ => {}
        }
    }

    fn wants_members(&self) -> bool {
        false
    }

    fn settles(&self) -> bool {
        false
    }
}

/// Removes `id` from `name`'s listeners, dropping the name when nobody is left.
fn remove_from(map: &mut HashMap<Bytes, Listeners>, name: &[u8], id: u64) {
    if let Some(listeners) = map.get_mut(name) {
        listeners.shift_remove(&id);
        if listeners.is_empty() {
            map.remove(name);
        }
    }
}

/// A message push frame: its kind, then the parts (shared, not copied).
fn message_frame(kind: &'static [u8], parts: &[&Bytes]) -> Reply {
    let mut items = Vec::with_capacity(parts.len() + 1);
    items.push(Reply::Bulk(Bytes::from_static(kind)));
    items.extend(parts.iter().map(|part| Reply::Bulk((*part).clone())));
    Reply::Push(items)
}

/// The RESP length of a push of bulk strings (what Redis counts in the output buffer).
fn encoded_size(message: &Reply) -> usize {
    match message {
        Reply::Push(items) => 4 + items.iter().map(|item| if let Reply::Bulk(b) = item { b.len() + 16 } else { 16 }).sum::<usize>(),
        _ => 16,
    }
}

/// One connection's subscriptions and the receiving end of its message queue. Dropping it (the
/// connection ends) removes the connection from every registry entry.
#[derive(Default)]
pub struct Subscriptions {
    registry: Option<Arc<PubSub>>,
    handle: Option<Arc<Subscriber>>,
    receiver: Option<mpsc::Receiver<(Reply, usize)>>,
    /// Channels, patterns and shard channels, in subscription order (the order UNSUBSCRIBE without
    /// arguments reports them).
    names: [IndexSet<Bytes>; 3],
}

impl Subscriptions {
    /// Subscribes to `name`; false if already subscribed.
    pub fn subscribe(&mut self, registry: &Arc<PubSub>, client: &Arc<ClientInfo>, kind: Kind, name: &[u8]) -> bool {
        if self.names[kind.index()].contains(name) {
            return false;
        }
        let handle = self.handle.get_or_insert_with(|| {
            let (sender, receiver) = mpsc::channel(SUBSCRIBER_QUEUE);
            self.receiver = Some(receiver);
            Arc::new(Subscriber {
                sender,
                queued: AtomicUsize::new(0),
                over_soft_since_ms: AtomicU64::new(0),
                closed: AtomicBool::new(false),
                client: client.clone(),
            })
        });
        self.registry.get_or_insert_with(|| registry.clone());
        let name = Bytes::copy_from_slice(name);
        registry.add(kind, &name, handle);
        self.names[kind.index()].insert(name);
        self.publish_counts();
        true
    }

    /// Unsubscribes from `name`; false if it was not subscribed.
    pub fn unsubscribe(&mut self, kind: Kind, name: &[u8]) -> bool {
        if !self.names[kind.index()].shift_remove(name) {
            return false;
        }
        if let (Some(registry), Some(handle)) = (&self.registry, &self.handle) {
            registry.remove(kind, name, handle.client.id);
        }
        self.publish_counts();
        true
    }

    /// The names subscribed in one namespace, in subscription order.
    pub fn names(&self, kind: Kind) -> Vec<Bytes> {
        self.names[kind.index()].iter().cloned().collect()
    }

    pub fn count(&self, kind: Kind) -> usize {
        self.names[kind.index()].len()
    }

    /// Channels plus patterns: the count (P)SUBSCRIBE and (P)UNSUBSCRIBE replies carry.
    pub fn classic_count(&self) -> usize {
        self.count(Kind::Channel) + self.count(Kind::Pattern)
    }

    /// Whether any subscription is active (RESP2 clients are then in subscribed mode).
    pub fn active(&self) -> bool {
        self.names.iter().any(|n| !n.is_empty())
    }

    /// Drops every subscription (RESET, disconnect).
    pub fn clear(&mut self) {
        for kind in [Kind::Channel, Kind::Pattern, Kind::Shard] {
            for name in self.names(kind) {
                self.unsubscribe(kind, &name);
            }
        }
    }

    /// The next queued message; pending forever when the connection never subscribed.
    pub async fn next(&mut self) -> Option<Reply> {
        let message = match &mut self.receiver {
            Some(receiver) => receiver.recv().await,
            None => std::future::pending().await,
        };
        message.map(|m| self.taken(m))
    }

    /// A queued message if one is ready.
    pub fn try_next(&mut self) -> Option<Reply> {
        let message = self.receiver.as_mut()?.try_recv().ok()?;
        Some(self.taken(message))
    }

    fn taken(&self, (reply, size): (Reply, usize)) -> Reply {
        if let Some(handle) = &self.handle {
            handle.queued.fetch_sub(size, Ordering::Relaxed);
        }
        reply
    }

    /// Mirrors the counts into the client's info for CLIENT LIST.
    fn publish_counts(&self) {
        if let Some(handle) = &self.handle {
            let info = &handle.client;
            info.subscriptions.store(self.count(Kind::Channel), Ordering::Relaxed);
            info.pattern_subscriptions.store(self.count(Kind::Pattern), Ordering::Relaxed);
            info.shard_subscriptions.store(self.count(Kind::Shard), Ordering::Relaxed);
        }
    }
}

impl Drop for Subscriptions {
    fn drop(&mut self) {
        self.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    fn push(items: &[&[u8]]) -> Reply {
        Reply::Push(items.iter().map(|item| Reply::Bulk(Bytes::copy_from_slice(item))).collect())
    }

    fn client(id: u64) -> Arc<ClientInfo> {
        let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
        Arc::new(ClientInfo::new(id, addr, addr, -1, 0))
    }

    #[test]
    fn publish_reaches_channels_and_patterns_and_unsubscribe_cleans_up() {
        let hot = Arc::new(Hot::default());
        let registry = Arc::new(PubSub::new(hot));
        let (a, b) = (client(1), client(2));
        let mut sa = Subscriptions::default();
        let mut sb = Subscriptions::default();
        assert!(sa.subscribe(&registry, &a, Kind::Channel, b"news"));
        assert!(!sa.subscribe(&registry, &a, Kind::Channel, b"news"));
        assert!(sb.subscribe(&registry, &b, Kind::Pattern, b"n*"));
        assert_eq!(registry.publish(b"news", b"hi"), 2);
        assert_eq!(registry.publish(b"other", b"hi"), 0);
        assert_eq!(registry.spublish(b"news", b"hi"), 0);
        let got = sa.try_next().unwrap();
        assert_eq!(got, push(&[b"message", b"news", b"hi"]));
        assert_eq!(sb.try_next().unwrap(), push(&[b"pmessage", b"n*", b"news", b"hi"]));
        assert_eq!(sa.handle.as_ref().unwrap().queued.load(Ordering::Relaxed), 0);
        assert_eq!(a.subscriptions.load(Ordering::Relaxed), 1);
        drop(sa);
        sb.clear();
        assert_eq!(registry.publish(b"news", b"hi"), 0);
        assert!(registry.names(Kind::Channel, None).is_empty());
        assert_eq!(registry.pattern_count(), 0);
    }

    #[test]
    fn a_subscriber_past_the_hard_limit_is_closed() {
        let hot = Arc::new(Hot::default());
        hot.pubsub_hard_limit.store(1000, Ordering::Relaxed);
        let registry = Arc::new(PubSub::new(hot));
        let a = client(1);
        let mut sa = Subscriptions::default();
        sa.subscribe(&registry, &a, Kind::Shard, b"s");
        for _ in 0..10 {
            registry.spublish(b"s", &[b'x'; 100]);
        }
        assert!(a.killed.load(Ordering::Relaxed));
        let mut delivered = 0;
        while sa.try_next().is_some() {
            delivered += 1;
        }
        assert!((1..10).contains(&delivered), "{delivered}");
    }

    /// Records what the engine reports.
    #[derive(Default)]
    struct Recorder(std::sync::Mutex<Vec<String>>);

    impl ChangeSink for Recorder {
        fn record(&self, db: usize, _version: u64, change: &Mutation<'_>) {
            let event = match *change {
                Mutation::Put { key, created: true, .. } => format!("new {db} {}", String::from_utf8_lossy(key)),
                Mutation::Expired { key } => format!("expired {db} {}", String::from_utf8_lossy(key)),
                _ => return,
            };
            self.0.lock().unwrap().push(event);
        }
    }

    #[test]
    fn the_engine_reports_created_and_expired_keys() {
        use crate::engine::{KeyHash, Keyspace, Value};
        let recorder = Arc::new(Recorder::default());
        let mut keyspace = Keyspace::new(2);
        keyspace.set_sink(recorder.clone());
        let put = |db: usize, key: &[u8], at: Option<u64>, now: u64| {
            let hash = KeyHash::of(key);
            keyspace.db(db).lock(hash).set(hash, key, Value::string(b"v"), at, now);
        };
        put(0, b"lazy", Some(2_000), 1_000);
        put(0, b"lazy", None, 1_500); // overwriting a live key creates nothing
        put(1, b"active", Some(2_000), 1_000);
        put(0, b"removed", Some(2_000), 1_000);
        put(0, b"reused", Some(2_000), 1_000);
        let hash = KeyHash::of(b"lazy");
        keyspace.db(0).lock(hash).set_expire(hash, b"lazy", Some(2_000), 1_500);
        assert!(keyspace.db(0).lock(hash).get(hash, b"lazy", 2_000).is_none());
        let hash = KeyHash::of(b"removed");
        assert!(keyspace.db(0).lock(hash).remove(hash, b"removed", 2_000).is_none());
        put(0, b"reused", None, 2_000);
        // SWAPDB moves keys, not the database numbers shards report.
        keyspace.swap_dbs(0, 1);
        let mut cursor = 0;
        keyspace.expire_step(&mut cursor, crate::engine::keyspace::SHARDS, 3_000);
        let events = recorder.0.lock().unwrap().clone();
        assert_eq!(
            events,
            [
                "new 0 lazy",
                "new 1 active",
                "new 0 removed",
                "new 0 reused",
                "expired 0 lazy",
                "expired 0 removed",
                "expired 0 reused",
                "new 0 reused",
                "expired 0 active",
            ]
        );
    }

    #[test]
    fn the_soft_limit_closes_only_after_its_seconds() {
        let hot = Arc::new(Hot::default());
        hot.pubsub_soft_limit.store(500, Ordering::Relaxed);
        hot.pubsub_soft_seconds.store(2, Ordering::Relaxed);
        let registry = Arc::new(PubSub::new(hot));
        let a = client(1);
        let mut sa = Subscriptions::default();
        sa.subscribe(&registry, &a, Kind::Channel, b"c");
        for _ in 0..10 {
            registry.publish(b"c", &[b'x'; 100]);
        }
        assert!(!a.killed.load(Ordering::Relaxed), "over the soft limit for less than its seconds");
        let handle = sa.handle.clone().unwrap();
        assert_ne!(handle.over_soft_since_ms.load(Ordering::Relaxed), 0);
        // Draining below the soft limit resets the clock on the next message.
        while sa.try_next().is_some() {}
        registry.publish(b"c", b"x");
        assert_eq!(handle.over_soft_since_ms.load(Ordering::Relaxed), 0);
        // Over it for longer than its seconds: closed.
        for _ in 0..10 {
            registry.publish(b"c", &[b'x'; 100]);
        }
        handle.over_soft_since_ms.store(unix_ms() - 3_000, Ordering::Relaxed);
        registry.publish(b"c", b"x");
        assert!(a.killed.load(Ordering::Relaxed));
    }
}
