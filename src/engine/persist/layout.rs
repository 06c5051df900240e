//! How the keyspace is laid out as LSM records. Every number is big-endian, so records sort by
//! store, then hash slot, then key: one database's keys of one cluster slot are one contiguous range
//! (what slot migration will copy), as kvrocks lays them out.
//!
//! - `0x00 | db u16` → the store id of database `db` (u32 BE). A database's records live under its
//!   store id, so FLUSHDB (a new id) and SWAPDB (two ids exchanged) are one or two records.
//! - `0x01 | 0x00` and `0x01 | 0x01 | namespace` → the reservation (u64 BE stamp) of the default and
//!   of a namespace's ID.* generator.
//! - `'m' | store u32 | slot u16 | key` → the key's metadata: `type u8 | version u64 | deadline u64`
//!   (Unix ms, 0 = none), then the body: a string's bytes, a list's or a stream's encoding, a queue's
//!   head (config, counters; `persist::queue_codec`), a topic's config, a catalog's head (version,
//!   horizon, metadata; `persist::lake_codec`); hashes, sets and sorted sets have no body.
//! - `'d' | store u32 | slot u16 | key length u32 | key | version u64 | member` → one member of a
//!   hash (its value), set (empty) or sorted set (its score, f64 big-endian bits), or a queue's
//!   message (member = its ID, u64; value = its state and payload, `persist::queue_codec`), a
//!   topic's entry, partition end, group, committed offset or producer (`persist::topic_codec`), or a
//!   catalog's delta or snapshot (member = `'D'`/`'S'` and the version; `persist::lake_codec`). Members are filed
//!   under the collection's version, so replacing or deleting a collection is one metadata record;
//!   records of older versions are unreachable.
//! - A string longer than `pages::PAGED_FROM` bytes has metadata of type [`PAGED_STRING`] (version:
//!   its pages', body: its length) and `'d'` records per 4 KiB page (member: page number u32 BE).

use crate::cluster::slot::key_slot;
use crate::engine::value::ValueType;

const DB_MAP: u8 = 0;
const ID_RESERVATION: u8 = 1;
const META: u8 = b'm';
const MEMBER: u8 = b'd';

/// The record naming database `db`'s store.
pub fn db_map_key(db: u16) -> [u8; 3] {
    let [high, low] = db.to_be_bytes();
    [DB_MAP, high, low]
}

/// The prefix of every database-map record.
pub fn db_map_prefix() -> [u8; 1] {
    [DB_MAP]
}

/// Reads the database number back from a database-map record's key.
pub fn db_of_map_key(record: &[u8]) -> Option<u16> {
    match record {
        [DB_MAP, high, low] => Some(u16::from_be_bytes([*high, *low])),
        _ => None,
    }
}

/// The record of an ID.* generator's reservation (see `Snowflake`): `None` for the default
/// generator, else a namespace's.
pub fn id_reservation_key(namespace: Option<&[u8]>) -> Vec<u8> {
    match namespace {
        None => vec![ID_RESERVATION, 0],
        Some(name) => [&[ID_RESERVATION, 1][..], name].concat(),
    }
}

/// The prefix of every ID reservation record.
pub fn id_reservation_prefix() -> [u8; 1] {
    [ID_RESERVATION]
}

/// The namespace of an ID reservation record's key (`Some(None)` for the default generator).
pub fn namespace_of_reservation(record: &[u8]) -> Option<Option<&[u8]>> {
    match record {
        [ID_RESERVATION, 0] => Some(None),
        [ID_RESERVATION, 1, name @ ..] => Some(Some(name)),
        _ => None,
    }
}

/// The prefix of every metadata record of a store.
pub fn meta_prefix(store: u32) -> [u8; 5] {
    let [a, b, c, d] = store.to_be_bytes();
    [META, a, b, c, d]
}

/// The metadata record key of `key` in `store`, written into `out`.
pub fn meta_key(store: u32, key: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(&meta_prefix(store));
    out.extend_from_slice(&key_slot(key).to_be_bytes());
    out.extend_from_slice(key);
}

/// The user key of a metadata record of `store` (`None` if the record is not one).
pub fn key_of_meta(store: u32, record: &[u8]) -> Option<&[u8]> {
    record.strip_prefix(&meta_prefix(store)[..])?.get(2..)
}

/// The prefix of the member records of `key`'s collection with `version`, written into `out`; a
/// member's record key is this prefix followed by the member.
pub fn member_prefix(store: u32, key: &[u8], version: u64, out: &mut Vec<u8>) {
    out.clear();
    out.push(MEMBER);
    out.extend_from_slice(&store.to_be_bytes());
    out.extend_from_slice(&key_slot(key).to_be_bytes());
    out.extend_from_slice(&(key.len() as u32).to_be_bytes());
    out.extend_from_slice(key);
    out.extend_from_slice(&version.to_be_bytes());
}

/// The parts of a member record's key: its store, the metadata record key of its collection
/// (written into `meta`), the collection's version and the member.
pub fn parse_member<'r>(record: &'r [u8], meta: &mut Vec<u8>) -> Option<(u32, u64, &'r [u8])> {
    let rest = record.strip_prefix(&[MEMBER])?;
    let (store, rest) = rest.split_at_checked(4)?;
    let (slot, rest) = rest.split_at_checked(2)?;
    let (key_len, rest) = rest.split_at_checked(4)?;
    let key_len = u32::from_be_bytes(key_len.try_into().ok()?) as usize;
    let (key, rest) = rest.split_at_checked(key_len)?;
    let (version, member) = rest.split_at_checked(8)?;
    meta.clear();
    meta.push(META);
    meta.extend_from_slice(store);
    meta.extend_from_slice(slot);
    meta.extend_from_slice(key);
    Some((u32::from_be_bytes(store.try_into().ok()?), u64::from_be_bytes(version.try_into().ok()?), member))
}

/// The store of a metadata record.
pub fn store_of_meta(record: &[u8]) -> Option<u32> {
    let store = record.strip_prefix(&[META])?.get(..4)?;
    Some(u32::from_be_bytes(store.try_into().ok()?))
}

/// The type byte of a metadata record.
pub fn type_code(kind: ValueType) -> u8 {
    match kind {
        ValueType::String => 0,
        ValueType::List => 1,
        ValueType::Hash => 2,
        ValueType::Set => 3,
        ValueType::ZSet => 4,
        ValueType::Stream => 5,
        ValueType::Queue => 7,
        ValueType::Topic => 8,
        ValueType::Lake => 9,
    }
}

pub fn type_of_code(code: u8) -> Option<ValueType> {
    Some(match code {
        0 => ValueType::String,
        1 => ValueType::List,
        2 => ValueType::Hash,
        3 => ValueType::Set,
        4 => ValueType::ZSet,
        5 => ValueType::Stream,
        7 => ValueType::Queue,
        8 => ValueType::Topic,
        9 => ValueType::Lake,
        _ => return None,
    })
}

/// The type byte of a string kept in pages (see `persist::pages`); its version is the pages'.
pub const PAGED_STRING: u8 = 6;

/// The fixed part of a metadata record's value: type, version, deadline.
pub const META_HEADER: usize = 17;

/// Writes a metadata value's fixed part into `out` (the body follows).
pub fn meta_header(kind: ValueType, version: u64, deadline: Option<u64>, out: &mut Vec<u8>) {
    out.clear();
    out.push(type_code(kind));
    out.extend_from_slice(&version.to_be_bytes());
    out.extend_from_slice(&deadline.unwrap_or(0).to_be_bytes());
}

/// A metadata value read back: type, version, deadline, body.
pub fn read_meta(value: &[u8]) -> Option<(ValueType, u64, Option<u64>, &[u8])> {
    let (code, version, deadline, body) = read_meta_code(value)?;
    Some((type_of_code(code)?, version, deadline, body))
}

/// [`read_meta`] with the type byte as stored ([`PAGED_STRING`] included).
pub fn read_meta_code(value: &[u8]) -> Option<(u8, u64, Option<u64>, &[u8])> {
    let (header, body) = value.split_at_checked(META_HEADER)?;
    let version = u64::from_be_bytes(header[1..9].try_into().ok()?);
    let deadline = u64::from_be_bytes(header[9..17].try_into().ok()?);
    Some((header[0], version, (deadline != 0).then_some(deadline), body))
}

/// Writes the fixed part of a paged string's metadata value and its body (the length) into `out`.
pub fn paged_meta(version: u64, deadline: Option<u64>, len: usize, out: &mut Vec<u8>) {
    out.clear();
    out.push(PAGED_STRING);
    out.extend_from_slice(&version.to_be_bytes());
    out.extend_from_slice(&deadline.unwrap_or(0).to_be_bytes());
    out.extend_from_slice(&(len as u64).to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_by_store_then_slot_and_round_trip() {
        let mut a = Vec::new();
        let mut b = Vec::new();
        meta_key(1, b"{user1}x", &mut a);
        meta_key(1, b"{user1}y", &mut b);
        assert_eq!(a[..7], b[..7], "one slot's keys share a prefix");
        assert_eq!(key_of_meta(1, &a), Some(&b"{user1}x"[..]));
        assert_eq!(key_of_meta(2, &a), None);
        assert_eq!(db_of_map_key(&db_map_key(300)), Some(300));
        let mut meta = Vec::new();
        meta_header(ValueType::Hash, 42, Some(7), &mut meta);
        meta.extend_from_slice(b"body");
        assert_eq!(read_meta(&meta), Some((ValueType::Hash, 42, Some(7), &b"body"[..])));
        assert_eq!(read_meta(&meta[..5]), None);
    }
}
