//! Typed values stored under a key, with Redis's compact string encodings; collections live in
//! their own modules ([`List`], [`Hash`], [`Set`], [`ZSet`], [`Stream`]) and are boxed here so a value stays
//! 16 bytes.

use std::borrow::Cow;

pub use super::dense::{dense_scan, DenseHasher};
use super::hash::Hash;
use super::lake::Lake;
pub use super::limits::Limits;
use super::list::List;
use super::queue::Queue;
use super::set::Set;
use super::stream::Stream;
use super::thin::ThinBytes;
use super::topic::Topic;
use super::zset::ZSet;
use crate::num::parse_i64;

/// Strings up to this length live inside the value (it keeps `Value` at 16 bytes).
const INLINE_CAPACITY: usize = 14;

/// Redis keeps strings up to this length in one allocation with the object header (`embstr`).
const EMBSTR_MAX: usize = 44;
/// Redis tries the integer encoding only for strings of at most 20 characters.
const INT_ENCODING_MAX_LEN: usize = 20;

/// A value. Strings are kept as an integer, inline bytes or one heap block, which is what makes small
/// strings cheap; collections arrive as further variants.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A string that is the canonical decimal form of an i64 (`int` encoding).
    Int(i64),
    /// A short string stored inside the value itself.
    Inline {
        len: u8,
        data: [u8; INLINE_CAPACITY],
    },
    /// A string on the heap, reported as `embstr` or `raw` by length as Redis would create it.
    Heap(ThinBytes),
    /// A string modified in place (APPEND, SETRANGE): Redis reports these as `raw` whatever the length.
    Raw(ThinBytes),
    List(Box<Versioned<List>>),
    Hash(Box<Versioned<Hash>>),
    Set(Box<Versioned<Set>>),
    ZSet(Box<Versioned<ZSet>>),
    Stream(Box<Versioned<Stream>>),
    Queue(Box<Versioned<Queue>>),
    Topic(Box<Versioned<Topic>>),
    Lake(Box<Versioned<Lake>>),
}

/// A collection and its version: a number unique to this incarnation of the key's value, given
/// when the value is stored. Persistence files the members' records under it, so deleting or
/// replacing a big collection is one new metadata record, not one tombstone per member.
///
/// The version is bookkeeping, not data: equality and `Debug` look at the collection only.
#[derive(Clone, Default)]
pub struct Versioned<T> {
    version: u64,
    inner: T,
}

impl<T> Versioned<T> {
    pub fn new(inner: T) -> Versioned<T> {
        Versioned { version: 0, inner }
    }

    pub fn version(&self) -> u64 {
        self.version
    }
}

impl<T> std::ops::Deref for Versioned<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.inner
    }
}

impl<T> std::ops::DerefMut for Versioned<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.inner
    }
}

impl<T: PartialEq> PartialEq for Versioned<T> {
    fn eq(&self, other: &Self) -> bool {
        self.inner == other.inner
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for Versioned<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.fmt(f)
    }
}

/// The last version given to a stored collection (process-wide: versions only need to differ
/// between incarnations of one key). Recovery raises it past every version on disk.
static LAST_VERSION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// A version no collection has had in this process (for data filed by version, as persisted
/// string pages are).
pub fn fresh_version() -> u64 {
    LAST_VERSION.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1
}

/// Makes later versions greater than `seen` (recovery, after reading stored versions).
pub fn versions_after(seen: u64) {
    LAST_VERSION.fetch_max(seen, std::sync::atomic::Ordering::Relaxed);
}

/// The type names of TYPE and SCAN ... TYPE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueType {
    String,
    List,
    Hash,
    Set,
    ZSet,
    Stream,
    Queue,
    Topic,
    Lake,
}

impl ValueType {
    pub fn name(self) -> &'static str {
        match self {
            ValueType::String => "string",
            ValueType::List => "list",
            ValueType::Hash => "hash",
            ValueType::Set => "set",
            ValueType::ZSet => "zset",
            ValueType::Stream => "stream",
            ValueType::Queue => "queue",
            ValueType::Topic => "topic",
            ValueType::Lake => "lake",
        }
    }

    pub fn from_name(name: &[u8]) -> Option<ValueType> {
        match name.to_ascii_lowercase().as_slice() {
            b"string" => Some(ValueType::String),
            b"list" => Some(ValueType::List),
            b"hash" => Some(ValueType::Hash),
            b"set" => Some(ValueType::Set),
            b"zset" => Some(ValueType::ZSet),
            b"stream" => Some(ValueType::Stream),
            b"queue" => Some(ValueType::Queue),
            b"topic" => Some(ValueType::Topic),
            b"lake" => Some(ValueType::Lake),
            _ => None,
        }
    }
}

impl Value {
    /// The version of a collection (0 for strings).
    pub fn version(&self) -> u64 {
        match self {
            Value::Int(_) | Value::Inline { .. } | Value::Heap(_) | Value::Raw(_) => 0,
            Value::List(c) => c.version,
            Value::Hash(c) => c.version,
            Value::Set(c) => c.version,
            Value::ZSet(c) => c.version,
            Value::Stream(c) => c.version,
            Value::Queue(c) => c.version,
            Value::Topic(c) => c.version,
            Value::Lake(c) => c.version,
        }
    }

    /// Sets a collection's version to the one it was stored with (recovery).
    pub(super) fn restore_version(&mut self, version: u64) {
        match self {
            Value::Int(_) | Value::Inline { .. } | Value::Heap(_) | Value::Raw(_) => {}
            Value::List(c) => c.version = version,
            Value::Hash(c) => c.version = version,
            Value::Set(c) => c.version = version,
            Value::ZSet(c) => c.version = version,
            Value::Stream(c) => c.version = version,
            Value::Queue(c) => c.version = version,
            Value::Topic(c) => c.version = version,
            Value::Lake(c) => c.version = version,
        }
    }

    /// Gives a collection a new version, as it is stored under a key.
    pub(super) fn stamp_version(&mut self) {
        let next = fresh_version;
        match self {
            Value::Int(_) | Value::Inline { .. } | Value::Heap(_) | Value::Raw(_) => {}
            Value::List(c) => c.version = next(),
            Value::Hash(c) => c.version = next(),
            Value::Set(c) => c.version = next(),
            Value::ZSet(c) => c.version = next(),
            Value::Stream(c) => c.version = next(),
            Value::Queue(c) => c.version = next(),
            Value::Topic(c) => c.version = next(),
            Value::Lake(c) => c.version = next(),
        }
    }

    /// A string value with the encoding Redis's `tryObjectEncoding` would pick.
    pub fn string(bytes: &[u8]) -> Value {
        if bytes.len() <= INT_ENCODING_MAX_LEN {
            if let Some(n) = parse_i64(bytes) {
                return Value::Int(n);
            }
        }
        Self::string_verbatim(bytes)
    }

    /// A string value kept as bytes even if it looks like a number.
    pub fn string_verbatim(bytes: &[u8]) -> Value {
        if bytes.len() <= INLINE_CAPACITY {
            let mut data = [0; INLINE_CAPACITY];
            data[..bytes.len()].copy_from_slice(bytes);
            Value::Inline { len: bytes.len() as u8, data }
        } else {
            Value::Heap(ThinBytes::new(bytes))
        }
    }

    pub fn value_type(&self) -> ValueType {
        match self {
            Value::Int(_) | Value::Inline { .. } | Value::Heap(_) | Value::Raw(_) => ValueType::String,
            Value::List(_) => ValueType::List,
            Value::Hash(_) => ValueType::Hash,
            Value::Set(_) => ValueType::Set,
            Value::ZSet(_) => ValueType::ZSet,
            Value::Stream(_) => ValueType::Stream,
            Value::Queue(_) => ValueType::Queue,
            Value::Topic(_) => ValueType::Topic,
            Value::Lake(_) => ValueType::Lake,
        }
    }

    /// The bytes of a string value; `None` for other types.
    pub fn as_string(&self) -> Option<Cow<'_, [u8]>> {
        match self {
            Value::Int(n) => Some(Cow::Owned(itoa::Buffer::new().format(*n).as_bytes().to_vec())),
            Value::Inline { len, data } => Some(Cow::Borrowed(&data[..*len as usize])),
            Value::Heap(bytes) | Value::Raw(bytes) => Some(Cow::Borrowed(bytes)),
            Value::List(_)
            | Value::Hash(_)
            | Value::Set(_)
            | Value::ZSet(_)
            | Value::Stream(_)
            | Value::Queue(_)
            | Value::Topic(_)
            | Value::Lake(_) => None,
        }
    }

    /// Calls `f` with the bytes of a string value without allocating for integers.
    pub fn with_string<R>(&self, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        match self {
            Value::Int(n) => Some(f(itoa::Buffer::new().format(*n).as_bytes())),
            Value::Inline { len, data } => Some(f(&data[..*len as usize])),
            Value::Heap(bytes) | Value::Raw(bytes) => Some(f(bytes)),
            Value::List(_)
            | Value::Hash(_)
            | Value::Set(_)
            | Value::ZSet(_)
            | Value::Stream(_)
            | Value::Queue(_)
            | Value::Topic(_)
            | Value::Lake(_) => None,
        }
    }

    pub fn is_string(&self) -> bool {
        self.value_type() == ValueType::String
    }

    /// The bytes of a string, made editable: small and integer encodings become a `raw` heap
    /// string first (Redis's `dbUnshareStringValue`). `None` when the value is not a string.
    pub(super) fn raw_bytes_mut(&mut self) -> Option<&mut ThinBytes> {
        if !self.is_string() {
            return None;
        }
        if !matches!(self, Value::Raw(_)) {
            *self = match std::mem::replace(self, Value::Int(0)) {
                Value::Heap(bytes) => Value::Raw(bytes),
                small => Value::Raw(ThinBytes::new(&small.as_string().unwrap_or_default())),
            };
        }
        match self {
            Value::Raw(bytes) => Some(bytes),
            _ => None,
        }
    }

    /// OBJECT ENCODING's answer.
    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Int(_) => "int",
            Value::Inline { .. } => "embstr",
            Value::Heap(bytes) if bytes.len() <= EMBSTR_MAX => "embstr",
            Value::Heap(_) | Value::Raw(_) => "raw",
            Value::List(list) => list.encoding(),
            Value::Hash(hash) => hash.encoding(),
            Value::Set(set) => set.encoding(),
            Value::ZSet(zset) => zset.encoding(),
            Value::Stream(_) => "stream",
            Value::Queue(_) => "queue",
            Value::Topic(_) => "topic",
            Value::Lake(_) => "lake",
        }
    }

    /// Heap bytes owned beyond the value itself, for memory accounting.
    pub fn heap_size(&self) -> usize {
        match self {
            Value::Int(_) | Value::Inline { .. } => 0,
            Value::Heap(bytes) | Value::Raw(bytes) => std::mem::size_of::<u32>() + bytes.len(),
            Value::List(list) => std::mem::size_of::<List>() + list.heap_size(),
            Value::Hash(hash) => std::mem::size_of::<Hash>() + hash.heap_size(),
            Value::Set(set) => std::mem::size_of::<Set>() + set.heap_size(),
            Value::ZSet(zset) => std::mem::size_of::<ZSet>() + zset.heap_size(),
            Value::Stream(stream) => std::mem::size_of::<Stream>() + stream.heap_size(),
            Value::Queue(queue) => std::mem::size_of::<Queue>() + queue.heap_size(),
            Value::Topic(topic) => std::mem::size_of::<Topic>() + topic.heap_size(),
            Value::Lake(lake) => std::mem::size_of::<Lake>() + lake.heap_size(),
        }
    }

    /// Whether the value is a collection with no elements left (such keys are deleted). Streams
    /// are never deleted for being empty, as in Redis, nor are queues and topics (their config stays)
    /// or catalogs (their history and metadata stay).
    pub fn is_empty_collection(&self) -> bool {
        match self {
            Value::List(list) => list.is_empty(),
            Value::Hash(hash) => hash.is_empty(),
            Value::Set(set) => set.is_empty(),
            Value::ZSet(zset) => zset.is_empty(),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn editable_strings_become_raw() {
        for mut value in [Value::string(b"123"), Value::string(b"short"), Value::string(&[b'x'; 100])] {
            let before = value.as_string().unwrap().into_owned();
            let bytes = value.raw_bytes_mut().unwrap();
            assert_eq!(&bytes[..], &before[..]);
            bytes[0] = b'!';
            assert_eq!(value.encoding(), "raw");
        }
        assert!(Value::List(Box::default()).raw_bytes_mut().is_none());
    }

    #[test]
    fn strings_pick_redis_encodings() {
        assert_eq!(std::mem::size_of::<Value>(), 16);
        assert_eq!(Value::string(b"12345").encoding(), "int");
        assert_eq!(Value::string(b"012").encoding(), "embstr");
        assert_eq!(Value::string(&[b'x'; 44]).encoding(), "embstr");
        assert_eq!(Value::string(&[b'x'; 45]).encoding(), "raw");
        assert_eq!(Value::Raw(ThinBytes::new(b"ab")).encoding(), "raw");
        assert_eq!(Value::string(b"-17").as_string().unwrap().as_ref(), b"-17");
    }

    #[test]
    fn collections_clone_deeply_and_report_types() {
        let limits = Limits::default();
        let mut set = Set::new();
        set.insert(b"a", &limits);
        let value = Value::Set(Box::new(Versioned::new(set)));
        let mut copy = value.clone();
        if let Value::Set(inner) = &mut copy {
            inner.insert(b"b", &limits);
        }
        assert_ne!(value, copy);
        assert_eq!(value.value_type().name(), "set");
        assert_eq!(ValueType::from_name(b"ZSET"), Some(ValueType::ZSet));
        assert!(value.heap_size() > 0);
        assert!(value.as_string().is_none());
        assert!(Value::List(Box::default()).is_empty_collection());
    }

    #[test]
    fn streams_clone_deeply_and_stay_when_empty() {
        use super::super::stream::StreamId;
        let mut stream = Stream::new();
        stream.append(StreamId::new(1, 1), ["f", "v"].into_iter().collect(), &Limits::default());
        let value = Value::Stream(Box::new(Versioned::new(stream)));
        let mut copy = value.clone();
        if let Value::Stream(inner) = &mut copy {
            inner.delete(&[StreamId::new(1, 1)]);
        }
        assert_ne!(value, copy);
        assert_eq!((value.value_type().name(), value.encoding()), ("stream", "stream"));
        assert_eq!(ValueType::from_name(b"STREAM"), Some(ValueType::Stream));
        assert!(!copy.is_empty_collection(), "an empty stream is still a key");
        assert!(value.heap_size() > 0);
    }

    #[test]
    fn memory_estimates_track_collection_size() {
        let limits = Limits { set_max_intset_entries: 0, zset_max_entries: 0, hash_max_entries: 0, ..Limits::default() };
        let member = |i: usize| format!("member-{i:06}-padding-padding");
        let (mut set, mut zset, mut hash) = (Set::new(), ZSet::new(), Hash::new());
        for i in 0..5000 {
            set.insert(member(i).as_bytes(), &limits);
            zset.insert(member(i).as_bytes(), i as f64, &limits);
            hash.set(member(i).as_bytes(), b"value", &limits);
        }
        let payload = 5000 * member(0).len();
        for value in [
            Value::Set(Box::new(Versioned::new(set))),
            Value::ZSet(Box::new(Versioned::new(zset))),
            Value::Hash(Box::new(Versioned::new(hash))),
        ] {
            let size = value.heap_size();
            assert!(size > payload && size < 10 * payload, "{}: {size} for {payload} payload bytes", value.encoding());
        }
    }

    #[test]
    fn dense_scan_walks_down() {
        assert_eq!(dense_scan(25, 0, 10), (15..25, 15));
        assert_eq!(dense_scan(25, 15, 10), (5..15, 5));
        assert_eq!(dense_scan(25, 5, 10), (0..5, 0));
        assert_eq!(dense_scan(3, 15, 10), (0..3, 0));
    }
}
