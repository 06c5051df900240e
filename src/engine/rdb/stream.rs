//! Streams in RDB (`t_stream.c`, `rdb.c`): the entries as listpack nodes keyed by their master ID,
//! then the counters and the consumer groups.
//!
//! ```text
//! node count, per node: master ID (16 bytes: ms, seq big endian) | listpack
//! length | last ID (ms, seq as lengths)
//! [v2+] first ID | max deleted ID | entries added
//! group count, per group: name | last ID | [v2+] entries read (2^64-1: unknown)
//!     PEL count, per pending entry: ID (16 bytes) | delivery time (u64 LE ms) | delivery count
//!     consumer count, per consumer: name | seen time (u64 LE) | [v3] active time (u64 LE)
//!         PEL count, per entry: ID (16 bytes), each in the group's PEL
//! ```
//! A node's listpack starts with its master entry (`live count | deleted count | field count |
//! fields | 0`); each entry follows as `flags | ms - master ms | seq - master seq | [field
//! count] | [field] value ... | item count`, with the field names left out when they are the
//! master's (flag 2); deleted entries (flag 1) stay until the node is rewritten.

use std::collections::BTreeMap;

use super::decode::Reader;
use super::encode::{length, raw_string};
use super::listpack::{self, Item};
use super::{kind, RdbError};
use crate::engine::stream::{Fields, Stream, StreamId};
use crate::engine::value::Limits;

const FLAG_DELETED: i64 = 1;
const FLAG_SAME_FIELDS: i64 = 2;
/// Redis's default node limits (`stream-node-max-entries`, `stream-node-max-bytes`), which the
/// nodes written here follow.
const NODE_MAX_ENTRIES: usize = 100;
const NODE_MAX_BYTES: usize = 4096;
/// The group counter Redis writes for "unknown" (`SCG_INVALID_ENTRIES_READ`, -1).
const UNKNOWN_ENTRIES_READ: u64 = u64::MAX;

fn malformed(what: &'static str) -> RdbError {
    RdbError::Malformed(what)
}

fn raw_id(id: StreamId) -> [u8; 16] {
    let mut raw = [0u8; 16];
    raw[..8].copy_from_slice(&id.ms.to_be_bytes());
    raw[8..].copy_from_slice(&id.seq.to_be_bytes());
    raw
}

fn read_raw_id(reader: &mut Reader<'_>) -> Result<StreamId, RdbError> {
    let raw = reader.bytes(16)?;
    let half = |bytes: &[u8]| bytes.iter().fold(0u64, |n, b| n << 8 | u64::from(*b));
    Ok(StreamId::new(half(&raw[..8]), half(&raw[8..])))
}

fn read_id(reader: &mut Reader<'_>) -> Result<StreamId, RdbError> {
    Ok(StreamId::new(reader.length()?, reader.length()?))
}

/// Appends `stream` in the `STREAM_LISTPACKS_2` layout.
pub fn encode(out: &mut Vec<u8>, stream: &Stream) {
    let entries = stream.range(StreamId::MIN, StreamId::MAX, usize::MAX, false);
    let mut nodes: Vec<(StreamId, Vec<u8>)> = Vec::new();
    let mut start = 0;
    while start < entries.len() {
        let (master, master_fields) = entries[start];
        let names: Vec<bytes::Bytes> = master_fields.iter().step_by(2).collect();
        let mut end = start;
        let mut bytes = 0;
        while end < entries.len() && end - start < NODE_MAX_ENTRIES && (end == start || bytes < NODE_MAX_BYTES) {
            bytes += entries[end].1.iter().map(|item| item.len() + 2).sum::<usize>() + 8;
            end += 1;
        }
        let mut lp = listpack::Writer::new();
        lp.push_int((end - start) as i64);
        lp.push_int(0);
        lp.push_int(names.len() as i64);
        for name in &names {
            lp.push(name);
        }
        lp.push_int(0);
        for (id, fields) in &entries[start..end] {
            let same = fields.len() == names.len() * 2 && fields.iter().step_by(2).zip(&names).all(|(a, b)| a == b);
            lp.push_int(if same { FLAG_SAME_FIELDS } else { 0 });
            lp.push_int(id.ms.wrapping_sub(master.ms) as i64);
            lp.push_int(id.seq.wrapping_sub(master.seq) as i64);
            let pairs = fields.len() / 2;
            if !same {
                lp.push_int(pairs as i64);
            }
            for (i, item) in fields.iter().enumerate() {
                if !same || i % 2 == 1 {
                    lp.push(&item);
                }
            }
            lp.push_int(3 + pairs as i64 + if same { 0 } else { pairs as i64 + 1 });
        }
        nodes.push((master, lp.finish()));
        start = end;
    }
    length(out, nodes.len() as u64);
    for (master, lp) in &nodes {
        raw_string(out, &raw_id(*master));
        super::encode::string(out, lp);
    }
    length(out, stream.len() as u64);
    let last = stream.last_id();
    length(out, last.ms);
    length(out, last.seq);
    let first = stream.first_id();
    length(out, first.ms);
    length(out, first.seq);
    let max_deleted = stream.max_deleted_id();
    length(out, max_deleted.ms);
    length(out, max_deleted.seq);
    length(out, stream.entries_added());
    length(out, stream.groups().len() as u64);
    for (name, group) in stream.groups() {
        super::encode::string(out, name);
        length(out, group.last_id().ms);
        length(out, group.last_id().seq);
        length(out, group.entries_read().unwrap_or(UNKNOWN_ENTRIES_READ));
        length(out, group.pel().len() as u64);
        for (id, nack) in group.pel() {
            out.extend_from_slice(&raw_id(*id));
            out.extend_from_slice(&nack.delivery_time.to_le_bytes());
            length(out, nack.delivery_count);
        }
        // Each consumer's PEL, from the owners in the group's PEL: an entry whose owner is not a
        // consumer (none should be) still gets one, so the file loads.
        let mut owned: BTreeMap<&[u8], (u64, Vec<StreamId>)> =
            group.consumers().iter().map(|(name, consumer)| (&name[..], (consumer.seen_time, Vec::new()))).collect();
        for (id, nack) in group.pel() {
            owned.entry(&nack.consumer[..]).or_insert((nack.delivery_time, Vec::new())).1.push(*id);
        }
        length(out, owned.len() as u64);
        for (name, (seen_time, ids)) in owned {
            super::encode::string(out, name);
            out.extend_from_slice(&seen_time.to_le_bytes());
            length(out, ids.len() as u64);
            for id in ids {
                out.extend_from_slice(&raw_id(id));
            }
        }
    }
}

/// Reads a stream of type `kind` (one of the three stream layouts).
pub fn decode(reader: &mut Reader<'_>, kind: u8, limits: &Limits) -> Result<Stream, RdbError> {
    let mut stream = Stream::new();
    for _ in 0..reader.count()? {
        let key = reader.string()?;
        let master = match <[u8; 16]>::try_from(&key[..]) {
            Ok(raw) => read_raw_id(&mut Reader::new(&raw))?,
            Err(_) => return Err(malformed("stream node key")),
        };
        let lp = reader.string()?;
        let items = listpack::read(&lp)?;
        if items.is_empty() {
            return Err(malformed("empty stream node"));
        }
        read_node(&mut stream, master, &items, limits)?;
    }
    let len = reader.length()?;
    if len != stream.len() as u64 {
        return Err(malformed("stream length"));
    }
    let last_id = read_id(reader)?;
    if last_id < stream.last_id() {
        return Err(malformed("stream last ID below its entries"));
    }
    let (max_deleted, entries_added) = if kind == kind::STREAM_LISTPACKS {
        (StreamId::MIN, len)
    } else {
        let _first = read_id(reader)?;
        (read_id(reader)?, reader.length()?)
    };
    // What XSETID would accept: counters in i64 (Redis keeps them signed) and consistent.
    if entries_added < len || entries_added > i64::MAX as u64 || max_deleted > last_id {
        return Err(malformed("stream counters"));
    }
    stream.set_meta(last_id, entries_added, max_deleted);

    for _ in 0..reader.count()? {
        let name = reader.string()?;
        if stream.group(&name).is_some() {
            return Err(malformed("duplicate consumer group"));
        }
        let group_last = read_id(reader)?;
        let entries_read =
            if kind == kind::STREAM_LISTPACKS { None } else { Some(reader.length()?).filter(|n| *n != UNKNOWN_ENTRIES_READ) };
        if entries_read.is_some_and(|n| n > i64::MAX as u64) {
            return Err(malformed("group read counter"));
        }
        stream.put_group(&name, group_last, entries_read);
        let group = stream.group_mut(&name).ok_or(malformed("consumer group"))?;
        let mut unowned: BTreeMap<StreamId, (u64, u64)> = BTreeMap::new();
        for _ in 0..reader.count()? {
            let id = read_raw_id(reader)?;
            let delivery_time = reader.u64_le()?;
            let delivery_count = reader.length()?;
            if unowned.insert(id, (delivery_time, delivery_count)).is_some() {
                return Err(malformed("duplicate pending entry"));
            }
        }
        for _ in 0..reader.count()? {
            let consumer = reader.string()?;
            if group.consumers().contains_key(&consumer[..]) {
                return Err(malformed("duplicate consumer"));
            }
            let seen_time = reader.u64_le()?;
            if kind == kind::STREAM_LISTPACKS_3 {
                let _active_time = reader.u64_le()?;
            }
            group.put_consumer(&consumer, seen_time);
            for _ in 0..reader.count()? {
                let id = read_raw_id(reader)?;
                let (delivery_time, delivery_count) = unowned.remove(&id).ok_or(malformed("consumer PEL entry not in the group PEL"))?;
                group.put_pending(id, &consumer, delivery_time, delivery_count);
            }
        }
        if !unowned.is_empty() {
            return Err(malformed("pending entry without a consumer"));
        }
    }
    Ok(stream)
}

/// Appends the live entries of one node to `stream`.
fn read_node(stream: &mut Stream, master: StreamId, items: &[Item<'_>], limits: &Limits) -> Result<(), RdbError> {
    let mut at = 0;
    let next = |at: &mut usize| -> Result<Item<'_>, RdbError> {
        let item = *items.get(*at).ok_or(malformed("stream node ends inside an entry"))?;
        *at += 1;
        Ok(item)
    };
    let int = |item: Item<'_>| item.to_int().ok_or(malformed("stream node integer"));
    let live = int(next(&mut at)?)?;
    let deleted = int(next(&mut at)?)?;
    let field_count = usize::try_from(int(next(&mut at)?)?).map_err(|_| malformed("stream master field count"))?;
    if field_count > items.len() {
        return Err(malformed("stream master field count"));
    }
    let mut names = Vec::with_capacity(field_count);
    for _ in 0..field_count {
        names.push(next(&mut at)?);
    }
    if int(next(&mut at)?)? != 0 {
        return Err(malformed("stream master entry terminator"));
    }
    let (mut seen_live, mut seen_deleted) = (0i64, 0i64);
    while at < items.len() {
        let flags = int(next(&mut at)?)?;
        let ms = master.ms.wrapping_add(int(next(&mut at)?)? as u64);
        let seq = master.seq.wrapping_add(int(next(&mut at)?)? as u64);
        let id = StreamId::new(ms, seq);
        let same = flags & FLAG_SAME_FIELDS != 0;
        let pairs = if same { names.len() } else { usize::try_from(int(next(&mut at)?)?).map_err(|_| malformed("stream field count"))? };
        if pairs == 0 || pairs > items.len() {
            return Err(malformed("stream field count"));
        }
        let mut fields: Vec<std::borrow::Cow<'_, [u8]>> = Vec::with_capacity(pairs * 2);
        let mut master_names = names.iter();
        for _ in 0..pairs {
            let name = if same { *master_names.next().ok_or(malformed("stream master fields"))? } else { next(&mut at)? };
            fields.push(name.to_bytes());
            fields.push(next(&mut at)?.to_bytes());
        }
        let _item_count = next(&mut at)?;
        if flags & FLAG_DELETED != 0 {
            seen_deleted += 1;
            continue;
        }
        seen_live += 1;
        if id <= stream.last_id() {
            return Err(malformed("stream IDs out of order"));
        }
        stream.append(id, fields.into_iter().collect::<Fields>(), limits);
    }
    if seen_live != live || seen_deleted != deleted {
        return Err(malformed("stream node counts"));
    }
    Ok(())
}
