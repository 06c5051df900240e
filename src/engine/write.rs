//! Write access to one key's value. [`KeyWrite`] is what [`super::Shard::write`] hands out; its
//! typed handles ([`Tracked`]) offer each type's mutators, and each mutator records the change it
//! made as a [`Mutation`] before it returns. A handler cannot reach `&mut` of a stored value any
//! other way, so no write can forget to report itself.
//!
//! The mutators of each type live beside the type (`impl Tracked<'_, Hash>` in `hash.rs`, ...);
//! reads go through `Deref` to the type itself.

use std::ops::Deref;

use super::hash::Hash;
use super::keyspace::ShardSink;
use super::lake::Lake;
use super::list::List;
use super::mutation::Mutation;
use super::queue::Queue;
use super::set::Set;
use super::stream::Stream;
use super::thin::ThinBytes;
use super::topic::Topic;
use super::value::{Value, Versioned};
use super::zset::ZSet;

/// Reports the changes made to one key.
#[derive(Clone, Copy)]
pub struct ChangeLog<'a> {
    sink: Option<&'a ShardSink>,
    key: &'a [u8],
    /// The version of the key's collection (0 for a string).
    version: u64,
}

impl<'a> ChangeLog<'a> {
    pub(super) fn new(sink: Option<&'a ShardSink>, key: &'a [u8], version: u64) -> ChangeLog<'a> {
        ChangeLog { sink, key, version }
    }

    pub(super) fn key(&self) -> &'a [u8] {
        self.key
    }

    /// Records a key-level change.
    pub(super) fn record(&self, change: &Mutation<'_>) {
        if let Some(sink) = self.sink {
            sink.record(0, change);
        }
    }

    /// Records a member-level change, built only when some sink reads those.
    #[inline]
    pub(super) fn member<'m>(&self, change: impl FnOnce(&'a [u8]) -> Mutation<'m>) {
        if let Some(sink) = self.sink {
            if sink.wants_members() {
                sink.record(self.version, &change(self.key));
            }
        }
    }

    /// Whether member-level changes are recorded (for mutators that must look before they change,
    /// such as a range removal that reports each member).
    pub(super) fn wants_members(&self) -> bool {
        self.sink.is_some_and(|s| s.wants_members())
    }
}

/// A stored value of type `T`, writable only through the mutators that record their changes.
pub struct Tracked<'a, T> {
    pub(super) value: &'a mut T,
    pub(super) log: ChangeLog<'a>,
}

impl<T> Deref for Tracked<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        self.value
    }
}

impl<T> Tracked<'_, T> {
    /// A shorter-lived handle to the same value, for helpers that take one by value.
    pub fn reborrow(&mut self) -> Tracked<'_, T> {
        Tracked { value: self.value, log: self.log }
    }
}

/// A collection type that can live in a [`Value`].
pub trait Collection: Default + Sized {
    fn of(value: &Value) -> Option<&Self>;
    fn of_mut(value: &mut Value) -> Option<&mut Self>;
    fn into_value(self) -> Value;
}

macro_rules! collection {
    ($type:ident) => {
        impl Collection for $type {
            fn of(value: &Value) -> Option<&Self> {
                match value {
                    Value::$type(inner) => Some(inner),
                    _ => None,
                }
            }

            fn of_mut(value: &mut Value) -> Option<&mut Self> {
                match value {
                    Value::$type(inner) => Some(inner),
                    _ => None,
                }
            }

            fn into_value(self) -> Value {
                Value::$type(Box::new(Versioned::new(self)))
            }
        }
    };
}

collection!(List);
collection!(Hash);
collection!(Set);
collection!(ZSet);
collection!(Stream);
collection!(Queue);
collection!(Topic);
collection!(Lake);

/// Write access to the live value at one key.
pub struct KeyWrite<'a> {
    value: &'a mut Value,
    log: ChangeLog<'a>,
    expire_at: Option<u64>,
}

impl<'a> KeyWrite<'a> {
    pub(super) fn new(value: &'a mut Value, log: ChangeLog<'a>, expire_at: Option<u64>) -> KeyWrite<'a> {
        KeyWrite { value, log, expire_at }
    }

    pub fn value(&self) -> &Value {
        self.value
    }

    /// The collection of type `T` at this key; `None` when the key holds another type.
    pub fn collection<T: Collection>(self) -> Option<Tracked<'a, T>> {
        Some(Tracked { value: T::of_mut(self.value)?, log: self.log })
    }

    /// The string at this key as bytes that can be edited in place; `None` when it is not a string.
    /// The value becomes `raw` (Redis's `dbUnshareStringValue`).
    pub fn string_bytes(self) -> Option<Tracked<'a, ThinBytes>> {
        Some(Tracked { value: self.value.raw_bytes_mut()?, log: self.log })
    }

    /// Replaces the value and keeps the deadline (INCR, APPEND of a short string).
    pub fn replace(self, value: Value) -> Value {
        let old = std::mem::replace(self.value, value);
        self.log.record(&Mutation::Put { key: self.log.key(), value: self.value, expire_at: self.expire_at, created: false });
        old
    }

    /// Edits the string at this key as a whole and, when `edit` says it changed it, records the
    /// result as a whole new value: for strings kept as one small blob whose edits move bytes around
    /// (HyperLogLog sketches). WRONGTYPE-like `None` when the key holds no string.
    pub fn rewrite_string<R>(self, edit: impl FnOnce(&mut ThinBytes) -> (R, bool)) -> Option<R> {
        let (result, changed) = edit(self.value.raw_bytes_mut()?);
        if changed {
            self.log.record(&Mutation::Put { key: self.log.key(), value: self.value, expire_at: self.expire_at, created: false });
        }
        Some(result)
    }
}

impl Tracked<'_, ThinBytes> {
    /// Zero-pads the string to `len` bytes if it is shorter.
    pub fn grow_zeroed(&mut self, len: usize) {
        if self.value.len() < len {
            self.value.resize_zeroed(len);
            self.log.member(|key| Mutation::StringWrite { key, offset: len, bytes: &[] });
        }
    }

    /// Edits the bytes at `offset..offset + len` (which must lie inside the string) and records them.
    pub fn edit<R>(&mut self, offset: usize, len: usize, edit: impl FnOnce(&mut [u8]) -> R) -> R {
        let result = edit(&mut self.value[offset..offset + len]);
        let bytes = &self.value[offset..offset + len];
        self.log.member(|key| Mutation::StringWrite { key, offset, bytes });
        result
    }

    /// Writes `bytes` at `offset`, zero-padding the string up to it first.
    pub fn write_at(&mut self, offset: usize, bytes: &[u8]) {
        let end = offset + bytes.len();
        if self.value.len() < end {
            self.value.resize_zeroed(end);
        }
        self.value[offset..end].copy_from_slice(bytes);
        self.log.member(|key| Mutation::StringWrite { key, offset, bytes });
    }
}
