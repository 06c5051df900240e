//! Values to RDB bytes, as Redis 7.0's `rdbSaveObjectType` and `rdbSaveObject` write them.

use super::listpack;
use super::ziplist::write_intset;
use super::{kind, lzf};
use crate::engine::value::Value;
use crate::engine::{Hash, List, Set, ZSet};
use crate::num::parse_i64;

/// Redis compresses strings longer than this (`rdbcompression yes`).
const COMPRESS_ABOVE: usize = 20;
/// Redis tries the integer encoding for strings up to this length.
const INT_ENCODING_MAX_LEN: usize = 11;
/// The size of a list node's listpack before a new node starts: Redis's default
/// `list-max-listpack-size -2` (8 KiB).
const LIST_NODE_BYTES: usize = 8192;

/// Appends an RDB length: 6 bits, 14 bits, 32 or 64 bits big endian.
pub fn length(out: &mut Vec<u8>, len: u64) {
    if len < 1 << 6 {
        out.push(len as u8);
    } else if len < 1 << 14 {
        out.extend_from_slice(&[0x40 | (len >> 8) as u8, len as u8]);
    } else if let Ok(len) = u32::try_from(len) {
        out.push(0x80);
        out.extend_from_slice(&len.to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&len.to_be_bytes());
    }
}

/// Appends an RDB string as Redis's `rdbSaveRawString` does: a short canonical integer that fits
/// 32 bits as an integer encoding, a longer string LZF-compressed when that saves space, else
/// plain.
pub fn string(out: &mut Vec<u8>, bytes: &[u8]) {
    if bytes.len() <= INT_ENCODING_MAX_LEN {
        if let Some(n) = parse_i64(bytes) {
            if let Ok(n) = i32::try_from(n) {
                integer(out, n);
                return;
            }
        }
    }
    if bytes.len() > COMPRESS_ABOVE {
        // As Redis: worth it only if at least 4 bytes are saved.
        if let Some(packed) = lzf::compress(bytes, bytes.len() - 4) {
            out.push(0xC3);
            length(out, packed.len() as u64);
            length(out, bytes.len() as u64);
            out.extend_from_slice(&packed);
            return;
        }
    }
    raw_string(out, bytes);
}

/// Appends an RDB string with no integer or compressed encoding (stream node keys).
pub fn raw_string(out: &mut Vec<u8>, bytes: &[u8]) {
    length(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// Appends an integer-encoded string in the smallest width.
fn integer(out: &mut Vec<u8>, n: i32) {
    if let Ok(n) = i8::try_from(n) {
        out.extend_from_slice(&[0xC0, n as u8]);
    } else if let Ok(n) = i16::try_from(n) {
        out.push(0xC1);
        out.extend_from_slice(&n.to_le_bytes());
    } else {
        out.push(0xC2);
        out.extend_from_slice(&n.to_le_bytes());
    }
}

/// Appends `value`'s type byte and encoding.
pub fn value(out: &mut Vec<u8>, value: &Value) {
    out.push(value_type(value));
    value_body(out, value);
}

/// The type byte `value` is written with, which follows from its encoding.
pub fn value_type(value: &Value) -> u8 {
    match value {
        Value::List(_) => kind::LIST_QUICKLIST_2,
        Value::Set(set) => match ***set {
            Set::Ints(_) => kind::SET_INTSET,
            // Redis 7.0 has no packed sets of strings: the plain encoding is what it reads.
            Set::Pack(_) | Set::Table(_) => kind::SET,
        },
        Value::Hash(hash) => match ***hash {
            Hash::Pack(_) => kind::HASH_LISTPACK,
            Hash::Table(_) => kind::HASH,
        },
        Value::ZSet(zset) => match ***zset {
            ZSet::Pack(_) => kind::ZSET_LISTPACK,
            ZSet::Skip(_) => kind::ZSET_2,
        },
        Value::Stream(_) => kind::STREAM_LISTPACKS_2,
        Value::Lake(_) => kind::STRATA_LAKE,
        // Redis's format has no queue or topic type: DUMP refuses them and SAVE leaves them out
        // (see `rdb::file`), so this is never written; an empty string if it were.
        Value::Int(_) | Value::Inline { .. } | Value::Heap(_) | Value::Raw(_) | Value::Queue(_) | Value::Topic(_) => kind::STRING,
    }
}

/// Appends `value`'s encoding, without its type byte ([`value_type`]).
pub fn value_body(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::List(list) => list_nodes(out, list),
        Value::Set(set) => set_value(out, set),
        Value::Hash(hash) => hash_value(out, hash),
        Value::ZSet(zset) => zset_value(out, zset),
        Value::Stream(stream) => super::stream::encode(out, stream),
        Value::Queue(_) | Value::Topic(_) => string(out, b""),
        Value::Lake(lake) => {
            let mut blob = Vec::new();
            crate::engine::persist::lake_codec::encode_whole(lake, &mut blob);
            string(out, &blob);
        }
        Value::Int(_) | Value::Inline { .. } | Value::Heap(_) | Value::Raw(_) => {
            value.with_string(|bytes| string(out, bytes));
        }
    }
}

/// A quicklist: the node count, then per node its container (2 = packed) and its listpack.
fn list_nodes(out: &mut Vec<u8>, list: &List) {
    const PACKED: u64 = 2;
    let mut nodes = Vec::new();
    let mut node = listpack::Writer::new();
    for item in list.iter() {
        if !node.is_empty() && node.len() + item.len() > LIST_NODE_BYTES {
            nodes.push(std::mem::take(&mut node).finish());
        }
        node.push(item);
    }
    if !node.is_empty() {
        nodes.push(node.finish());
    }
    length(out, nodes.len() as u64);
    for node in nodes {
        length(out, PACKED);
        string(out, &node);
    }
}

fn set_value(out: &mut Vec<u8>, set: &Set) {
    match set {
        Set::Ints(members) => {
            string(out, &write_intset(members));
        }
        Set::Pack(_) | Set::Table(_) => {
            length(out, set.len() as u64);
            for member in set.iter() {
                string(out, &member);
            }
        }
    }
}

fn hash_value(out: &mut Vec<u8>, hash: &Hash) {
    match hash {
        Hash::Pack(_) => {
            let mut lp = listpack::Writer::new();
            for (field, value) in hash.iter() {
                lp.push(field);
                lp.push(value);
            }
            string(out, &lp.finish());
        }
        Hash::Table(_) => {
            length(out, hash.len() as u64);
            for (field, value) in hash.iter() {
                string(out, field);
                string(out, value);
            }
        }
    }
}

fn zset_value(out: &mut Vec<u8>, zset: &ZSet) {
    let members = zset.range(0, zset.len());
    match zset {
        ZSet::Pack(_) => {
            let mut lp = listpack::Writer::new();
            for (member, score) in members {
                lp.push(member);
                score_item(&mut lp, score);
            }
            string(out, &lp.finish());
        }
        ZSet::Skip(_) => {
            length(out, members.len() as u64);
            // Highest first, as Redis writes them (its loader then inserts at the head).
            for (member, score) in members.into_iter().rev() {
                string(out, member);
                out.extend_from_slice(&score.to_le_bytes());
            }
        }
    }
}

/// A score in a listpack: an integer entry when it is one, else `%.17g` text (Redis's `zzlInsertAt`).
fn score_item(lp: &mut listpack::Writer, score: f64) {
    lp.push(super::digest::format_score(score).as_bytes());
}
