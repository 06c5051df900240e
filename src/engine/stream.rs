//! Stream values: entries keyed by `(ms, seq)` IDs in ID order, the stream's counters (last ID,
//! entries added, max deleted ID, first ID), and its consumer groups (see [`super::stream_group`]).
//!
//! Entries live in a `BTreeMap`. Redis keeps them in listpack nodes of a radix tree, and some
//! answers depend on that layout: `MAXLEN ~` / `MINID ~` only drop whole nodes, and XINFO reports
//! the number of nodes. So beside the entries the stream keeps a small model of the nodes (master
//! ID, live and deleted entries, an estimate of the listpack's bytes) that follows Redis's rules for
//! opening a node (`stream-node-max-entries` 100, `stream-node-max-bytes` 4096) and for dropping one
//! (when its last live entry goes). The byte estimate follows the listpack encoding closely enough
//! that small entries split exactly where Redis splits them.
//!
//! This module knows nothing of RESP: it parses and prints IDs and answers with plain data.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Bound;

use bytes::Bytes;

use super::limits::Limits;
use super::mutation::Mutation;
use super::stream_group::{Group, TrackedGroup};
use super::write::Tracked;

/// A stream entry ID. Orders by `ms`, then `seq`, as Redis compares them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl StreamId {
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    pub const MAX: StreamId = StreamId { ms: u64::MAX, seq: u64::MAX };

    pub const fn new(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    pub fn is_zero(self) -> bool {
        self == StreamId::MIN
    }

    /// The next ID (`streamIncrID`); `None` past the maximum.
    pub fn next(self) -> Option<StreamId> {
        if self.seq < u64::MAX {
            Some(StreamId::new(self.ms, self.seq + 1))
        } else if self.ms < u64::MAX {
            Some(StreamId::new(self.ms + 1, 0))
        } else {
            None
        }
    }

    /// The previous ID (`streamDecrID`); `None` before 0-0.
    pub fn prev(self) -> Option<StreamId> {
        if self.seq > 0 {
            Some(StreamId::new(self.ms, self.seq - 1))
        } else if self.ms > 0 {
            Some(StreamId::new(self.ms - 1, u64::MAX))
        } else {
            None
        }
    }

    /// `<ms>-<seq>`.
    pub fn to_bytes(self) -> Bytes {
        Bytes::from(self.to_string())
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// What an ID argument said, as Redis's `streamGenericParseIDOrReply` reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParsedId {
    /// A complete ID (`-` and `+` included when allowed).
    Id(StreamId),
    /// `<ms>-*`: the sequence is to be generated (XADD only).
    AutoSeq(u64),
}

/// Parses `<ms>`, `<ms>-<seq>`, and unless `strict`, `-` (0-0) and `+` (the maximum). A missing
/// sequence becomes `missing_seq`. With `allow_auto_seq`, `<ms>-*` is accepted.
pub fn parse_id(arg: &[u8], strict: bool, missing_seq: u64, allow_auto_seq: bool) -> Option<ParsedId> {
    // Redis copies the argument into a 128-byte buffer first.
    if arg.len() > 127 {
        return None;
    }
    match arg {
        b"-" | b"+" if strict => return None,
        b"-" => return Some(ParsedId::Id(StreamId::MIN)),
        b"+" => return Some(ParsedId::Id(StreamId::MAX)),
        _ => {}
    }
    let (ms_part, seq_part) = match arg.iter().position(|&b| b == b'-') {
        Some(dash) => (&arg[..dash], Some(&arg[dash + 1..])),
        None => (arg, None),
    };
    let ms = string_to_u64(ms_part)?;
    match seq_part {
        None => Some(ParsedId::Id(StreamId::new(ms, missing_seq))),
        Some(b"*") if allow_auto_seq => Some(ParsedId::AutoSeq(ms)),
        Some(seq) => Some(ParsedId::Id(StreamId::new(ms, string_to_u64(seq)?))),
    }
}

/// Redis's `string2ull`: a canonical non-negative i64, else whatever `strtoull` reads completely
/// without overflow (leading spaces and a sign included; a minus wraps around).
fn string_to_u64(text: &[u8]) -> Option<u64> {
    if let Some(n) = crate::num::parse_i64(text) {
        return u64::try_from(n).ok();
    }
    let start = text.iter().position(|b| !b" \t\n\r\x0b\x0c".contains(b))?;
    let mut rest = &text[start..];
    let negative = match rest.first() {
        Some(b'-') => {
            rest = &rest[1..];
            true
        }
        Some(b'+') => {
            rest = &rest[1..];
            false
        }
        _ => false,
    };
    if rest.is_empty() || !rest.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut value: u64 = 0;
    for &digit in rest {
        value = value.checked_mul(10)?.checked_add(u64::from(digit - b'0'))?;
    }
    Some(if negative { value.wrapping_neg() } else { value })
}

/// The fields and values of one entry, interleaved, packed in one buffer: each item is a 4-byte
/// little-endian length and its bytes. One allocation per entry, and replies slice the buffer
/// without copying.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fields {
    buf: Bytes,
    items: u32,
}

impl Fields {
    /// The number of items (twice the number of field-value pairs).
    pub fn len(&self) -> usize {
        self.items as usize
    }

    pub fn is_empty(&self) -> bool {
        self.items == 0
    }

    /// The items in order, as slices of the shared buffer.
    pub fn iter(&self) -> FieldIter<'_> {
        FieldIter { fields: self, at: 0 }
    }

    /// Heap bytes.
    pub fn heap_size(&self) -> usize {
        self.buf.len()
    }
}

impl<T: AsRef<[u8]>> FromIterator<T> for Fields {
    fn from_iter<I: IntoIterator<Item = T>>(items: I) -> Fields {
        let mut buf = Vec::new();
        let mut count = 0u32;
        for item in items {
            let item = item.as_ref();
            buf.extend_from_slice(&(item.len() as u32).to_le_bytes());
            buf.extend_from_slice(item);
            count += 1;
        }
        Fields { buf: Bytes::from(buf), items: count }
    }
}

/// Iterates the items of [`Fields`].
pub struct FieldIter<'a> {
    fields: &'a Fields,
    at: usize,
}

impl Iterator for FieldIter<'_> {
    type Item = Bytes;

    fn next(&mut self) -> Option<Bytes> {
        let buf = &self.fields.buf;
        let header = buf.get(self.at..self.at + 4)?;
        let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let start = self.at + 4;
        self.at = start + len;
        Some(buf.slice(start..self.at))
    }
}

/// The largest listpack Redis builds (`STREAM_LISTPACK_MAX_SIZE`), the node size limit when
/// `stream-node-max-bytes` is 0 or larger.
const LISTPACK_MAX_SIZE: usize = 1 << 30;

/// The approximate trimming work limit when LIMIT is not given: `100 * stream-node-max-entries`,
/// kept within 1..=10000 as Redis does.
pub fn default_trim_limit(limits: &Limits) -> u64 {
    match 100u64.saturating_mul(limits.stream_node_max_entries as u64) {
        0 => 10_000,
        n => n.min(10_000),
    }
}

/// One listpack node of Redis's layout, as far as the answers depend on it.
#[derive(Clone, Debug, PartialEq)]
struct Node {
    /// The fields of the node's first entry (Redis's "master entry"): later entries with the same
    /// fields are stored without them.
    master_fields: Fields,
    live: u64,
    deleted: u64,
    /// The ID of the last entry ever added to the node, deleted or not.
    last: StreamId,
    /// Estimated listpack size in bytes.
    bytes: usize,
}

/// Bytes of a listpack element holding `value` (integer or string encoding, plus its back-length).
fn lp_element_size(value: &[u8]) -> usize {
    let encoded = match crate::num::parse_i64(value).filter(|_| value.len() <= 20) {
        Some(n) => lp_int_size(n),
        None if value.len() < 64 => 1 + value.len(),
        None if value.len() < 4096 => 2 + value.len(),
        None => 5 + value.len(),
    };
    encoded + lp_backlen_size(encoded)
}

fn lp_int_size(n: i64) -> usize {
    match n {
        0..=127 => 1,
        -4096..=4095 => 2,
        -32768..=32767 => 3,
        -8_388_608..=8_388_607 => 4,
        -2_147_483_648..=2_147_483_647 => 5,
        _ => 9,
    }
}

fn lp_int_element(n: i64) -> usize {
    let encoded = lp_int_size(n);
    encoded + lp_backlen_size(encoded)
}

fn lp_backlen_size(len: usize) -> usize {
    match len {
        0..=127 => 1,
        128..=16383 => 2,
        16384..=2_097_151 => 3,
        2_097_152..=268_435_455 => 4,
        _ => 5,
    }
}

impl Node {
    fn new(id: StreamId, fields: &Fields) -> Node {
        let names: Fields = fields.iter().step_by(2).collect();
        // Header and end byte, then the master entry: count, deleted, number of fields, the field
        // names and the terminating 0.
        let bytes = 7
            + lp_int_element(1)
            + lp_int_element(0)
            + lp_int_element(names.len() as i64)
            + names.iter().map(|f| lp_element_size(&f)).sum::<usize>()
            + lp_int_element(0);
        Node { master_fields: names, live: 0, deleted: 0, last: id, bytes }
    }

    /// Accounts for one more entry.
    fn push(&mut self, master: StreamId, id: StreamId, fields: &Fields) {
        let same = fields.len() / 2 == self.master_fields.len() && fields.iter().step_by(2).eq(self.master_fields.iter());
        let ms_diff = id.ms.wrapping_sub(master.ms) as i64;
        let seq_diff = id.seq.wrapping_sub(master.seq) as i64;
        let mut size = lp_int_element(0) + lp_int_element(ms_diff) + lp_int_element(seq_diff);
        let elements = if same {
            size += fields.iter().skip(1).step_by(2).map(|v| lp_element_size(&v)).sum::<usize>();
            3 + fields.len() / 2
        } else {
            size += lp_int_element((fields.len() / 2) as i64);
            size += fields.iter().map(|v| lp_element_size(&v)).sum::<usize>();
            4 + fields.len()
        };
        size += lp_int_element(elements as i64);
        self.bytes += size;
        self.live += 1;
        self.last = id;
    }
}

/// XADD / XTRIM trimming: by length or by lowest ID to keep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrimStrategy {
    MaxLen(u64),
    MinId(StreamId),
}

/// A trimming request: `approx` (`~`) only drops whole nodes; `limit` caps the entries removed
/// (0 = no cap).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trim {
    pub strategy: TrimStrategy,
    pub approx: bool,
    pub limit: u64,
}

/// Why XADD refused an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddError {
    /// The ID is not greater than the stream's last ID.
    NotGreater,
    /// The last ID is the maximum one: nothing can follow it.
    Exhausted,
}

/// A stream.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stream {
    entries: BTreeMap<StreamId, Fields>,
    /// Node model keyed by master ID (the node's first entry's ID).
    nodes: BTreeMap<StreamId, Node>,
    last_id: StreamId,
    /// 0-0 while the stream is empty.
    first_id: StreamId,
    max_deleted_id: StreamId,
    entries_added: u64,
    groups: BTreeMap<Bytes, Group>,
}

impl Stream {
    pub fn new() -> Stream {
        Stream::default()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The last ID given to an entry (or set by XSETID).
    pub fn last_id(&self) -> StreamId {
        self.last_id
    }

    /// The ID of the first live entry, 0-0 while the stream is empty.
    pub fn first_id(&self) -> StreamId {
        self.first_id
    }

    /// The greatest ID deleted by XDEL (or set by XSETID).
    pub fn max_deleted_id(&self) -> StreamId {
        self.max_deleted_id
    }

    /// How many entries were ever added (or the count XSETID set).
    pub fn entries_added(&self) -> u64 {
        self.entries_added
    }

    /// The consumer groups, by name.
    pub fn groups(&self) -> &BTreeMap<Bytes, Group> {
        &self.groups
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn get(&self, id: StreamId) -> Option<&Fields> {
        self.entries.get(&id)
    }

    pub fn contains(&self, id: StreamId) -> bool {
        self.entries.contains_key(&id)
    }

    pub fn first_entry(&self) -> Option<(StreamId, &Fields)> {
        self.entries.iter().next().map(|(id, f)| (*id, f))
    }

    pub fn last_entry(&self) -> Option<(StreamId, &Fields)> {
        self.entries.iter().next_back().map(|(id, f)| (*id, f))
    }

    /// The ID of the last live entry (`streamLastValidID`), 0-0 when empty.
    pub fn last_valid_id(&self) -> StreamId {
        self.entries.keys().next_back().copied().unwrap_or_default()
    }

    /// Entries with `start <= id <= end`, in order (reversed with `rev`), at most `count` (0 = all).
    pub fn range(&self, start: StreamId, end: StreamId, count: usize, rev: bool) -> Vec<(StreamId, &Fields)> {
        if start > end {
            return Vec::new();
        }
        let limit = if count == 0 { usize::MAX } else { count };
        let iter = self.entries.range(start..=end).map(|(id, f)| (*id, f));
        if rev {
            iter.rev().take(limit).collect()
        } else {
            iter.take(limit).collect()
        }
    }

    /// The ID XADD would give an entry: `requested` is `None` for `*`.
    pub fn next_id(&self, requested: Option<ParsedId>, now_ms: u64) -> Result<StreamId, AddError> {
        if self.last_id == StreamId::MAX {
            return Err(AddError::Exhausted);
        }
        let id = match requested {
            None => {
                if now_ms > self.last_id.ms {
                    StreamId::new(now_ms, 0)
                } else {
                    self.last_id.next().ok_or(AddError::Exhausted)?
                }
            }
            Some(ParsedId::Id(id)) => id,
            Some(ParsedId::AutoSeq(ms)) if ms == self.last_id.ms => {
                if self.last_id.seq == u64::MAX {
                    return Err(AddError::NotGreater);
                }
                StreamId::new(ms, self.last_id.seq + 1)
            }
            Some(ParsedId::AutoSeq(ms)) => StreamId::new(ms, 0),
        };
        if id <= self.last_id {
            return Err(AddError::NotGreater);
        }
        Ok(id)
    }

    /// Appends an entry with an ID from [`Stream::next_id`]; `limits` says when the last node is
    /// full and a new one opens.
    pub fn append(&mut self, id: StreamId, fields: Fields, limits: &Limits) {
        debug_assert!(id > self.last_id);
        let element_bytes: usize = fields.iter().map(|f| f.len()).sum();
        let max_bytes = match limits.stream_node_max_bytes {
            0 => LISTPACK_MAX_SIZE,
            n => n.min(LISTPACK_MAX_SIZE),
        };
        let max_entries = limits.stream_node_max_entries as u64;
        let open_new = match self.nodes.iter().next_back() {
            None => true,
            Some((_, node)) => node.bytes + element_bytes >= max_bytes || (max_entries != 0 && node.live + node.deleted >= max_entries),
        };
        if open_new {
            self.nodes.insert(id, Node::new(id, &fields));
        }
        if let Some((master, node)) = self.nodes.iter_mut().next_back() {
            node.push(*master, id, &fields);
        }
        self.entries.insert(id, fields);
        if self.entries.len() == 1 {
            self.first_id = id;
        }
        self.last_id = id;
        self.entries_added += 1;
    }

    /// The master ID of the node holding `id`.
    fn node_of(&self, id: StreamId) -> Option<StreamId> {
        self.nodes.range(..=id).next_back().map(|(master, _)| *master)
    }

    /// Removes one entry, keeping the node model in step; true when it existed.
    fn remove_entry(&mut self, id: StreamId) -> bool {
        if self.entries.remove(&id).is_none() {
            return false;
        }
        if let Some(master) = self.node_of(id) {
            if let Some(node) = self.nodes.get_mut(&master) {
                node.live -= 1;
                node.deleted += 1;
                if node.live == 0 {
                    self.nodes.remove(&master);
                }
            }
        }
        true
    }

    /// XDEL: removes the entries with these IDs and returns how many existed. Updates the max
    /// deleted ID and the first ID as Redis does.
    pub fn delete(&mut self, ids: &[StreamId]) -> usize {
        self.delete_each(ids, |_| {})
    }

    /// [`Stream::delete`], calling `each` with each ID that existed, in the order removed.
    fn delete_each(&mut self, ids: &[StreamId], mut each: impl FnMut(StreamId)) -> usize {
        let mut deleted = 0;
        let mut first_deleted = false;
        for &id in ids {
            if self.remove_entry(id) {
                each(id);
                first_deleted |= id == self.first_id;
                if id > self.max_deleted_id {
                    self.max_deleted_id = id;
                }
                deleted += 1;
            }
        }
        if deleted > 0 {
            if self.entries.is_empty() {
                self.first_id = StreamId::MIN;
            } else if first_deleted {
                self.first_id = self.last_valid_first();
            }
        }
        deleted
    }

    fn last_valid_first(&self) -> StreamId {
        self.entries.keys().next().copied().unwrap_or_default()
    }

    /// Trims as `streamTrim` does; returns the number of entries removed.
    pub fn trim(&mut self, trim: Trim) -> u64 {
        self.trim_each(trim, |_| {})
    }

    /// [`Stream::trim`], calling `each` with the ID of each entry removed, lowest first.
    fn trim_each(&mut self, trim: Trim, mut each: impl FnMut(StreamId)) -> u64 {
        let mut deleted: u64 = 0;
        loop {
            if let TrimStrategy::MaxLen(max) = trim.strategy {
                if self.entries.len() as u64 <= max {
                    break;
                }
            }
            let Some((&master, node)) = self.nodes.iter().next() else {
                break;
            };
            let live = node.live;
            if trim.limit != 0 && deleted + live > trim.limit {
                break;
            }
            let remove_node = match trim.strategy {
                TrimStrategy::MaxLen(max) => self.entries.len() as u64 - live >= max,
                TrimStrategy::MinId(min) => node.last < min,
            };
            let next_master = self.nodes.range((Bound::Excluded(master), Bound::Unbounded)).next().map(|(m, _)| *m);
            let doomed: Vec<StreamId> = match next_master {
                Some(next) => self.entries.range(master..next).map(|(id, _)| *id).collect(),
                None => self.entries.range(master..).map(|(id, _)| *id).collect(),
            };
            if remove_node {
                for &id in &doomed {
                    self.entries.remove(&id);
                    each(id);
                }
                self.nodes.remove(&master);
                deleted += live;
                continue;
            }
            if trim.approx {
                break;
            }
            // Delete entries inside the first node, one by one, until the condition holds.
            for id in doomed {
                let done = match trim.strategy {
                    TrimStrategy::MaxLen(max) => self.entries.len() as u64 <= max,
                    TrimStrategy::MinId(min) => id >= min,
                };
                if done {
                    break;
                }
                self.remove_entry(id);
                each(id);
                deleted += 1;
            }
            break;
        }
        self.first_id = if self.entries.is_empty() { StreamId::MIN } else { self.last_valid_first() };
        deleted
    }

    /// Removes one entry as trimming does: the first ID follows, the max deleted ID stays (replays
    /// [`Mutation::StreamTrim`]). True when it existed.
    pub fn remove_trimmed(&mut self, id: StreamId) -> bool {
        if !self.remove_entry(id) {
            return false;
        }
        self.first_id = self.last_valid_first();
        true
    }

    /// Sets the counters outright (replays [`Mutation::StreamMeta`]).
    pub fn set_meta(&mut self, last_id: StreamId, entries_added: u64, max_deleted_id: StreamId) {
        self.last_id = last_id;
        self.entries_added = entries_added;
        self.max_deleted_id = max_deleted_id;
    }

    /// Creates the group `name` at `last_id`, or moves its cursor there if it exists (replays
    /// [`Mutation::GroupPut`]).
    pub fn put_group(&mut self, name: &[u8], last_id: StreamId, entries_read: Option<u64>) {
        match self.groups.get_mut(name) {
            Some(group) => group.set_cursor(last_id, entries_read),
            None => {
                self.groups.insert(Bytes::copy_from_slice(name), Group::new(last_id, entries_read));
            }
        }
    }

    /// Removes the group `name`; true when it existed.
    pub fn remove_group(&mut self, name: &[u8]) -> bool {
        self.groups.remove(name).is_some()
    }

    /// XINFO's `radix-tree-keys`: the number of nodes.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// XINFO's `radix-tree-nodes`: the nodes of a radix tree holding the node keys (master IDs as
    /// 16 big-endian bytes), counted as Redis's `rax` compresses them.
    pub fn radix_tree_nodes(&self) -> usize {
        let keys: Vec<[u8; 16]> = self
            .nodes
            .keys()
            .map(|id| {
                let mut key = [0u8; 16];
                key[..8].copy_from_slice(&id.ms.to_be_bytes());
                key[8..].copy_from_slice(&id.seq.to_be_bytes());
                key
            })
            .collect();
        if keys.is_empty() {
            return 1;
        }
        rax_nodes(&keys, 0)
    }

    /// The groups, by name.
    pub fn group(&self, name: &[u8]) -> Option<&Group> {
        self.groups.get(name)
    }

    /// A group for changing it directly (replay; stored streams change through
    /// `Tracked<Stream>::group_mut`).
    pub fn group_mut(&mut self, name: &[u8]) -> Option<&mut Group> {
        self.groups.get_mut(name)
    }

    /// `streamEstimateDistanceFromFirstEverEntry`: the logical read counter of `id`, if known.
    pub fn estimate_distance(&self, id: StreamId) -> Option<u64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if self.entries.is_empty() && id <= self.last_id {
            return Some(self.entries_added);
        }
        match id.cmp(&self.last_id) {
            std::cmp::Ordering::Equal => return Some(self.entries_added),
            std::cmp::Ordering::Greater => return None,
            std::cmp::Ordering::Less => {}
        }
        if self.max_deleted_id.is_zero() || self.max_deleted_id < self.first_id {
            let length = self.entries.len() as u64;
            match id.cmp(&self.first_id) {
                std::cmp::Ordering::Less => return Some(self.entries_added.wrapping_sub(length)),
                std::cmp::Ordering::Equal => return Some(self.entries_added.wrapping_sub(length).wrapping_add(1)),
                std::cmp::Ordering::Greater => {}
            }
        }
        None
    }

    /// `streamRangeHasTombstones` from `start` to the end of the stream.
    pub fn has_tombstones_from(&self, start: StreamId) -> bool {
        if self.entries.is_empty() || self.max_deleted_id.is_zero() || self.first_id > self.max_deleted_id {
            return false;
        }
        start <= self.max_deleted_id
    }

    /// A group's lag, as XINFO reports it; `None` when it cannot be known. Signed, as in Redis: a
    /// read counter set past `entries_added` (ENTRIESREAD, XSETID) gives a negative lag.
    pub fn group_lag(&self, group: &Group) -> Option<i64> {
        let added = self.entries_added as i64;
        if self.entries_added == 0 {
            return Some(0);
        }
        if let Some(read) = group.entries_read() {
            if !self.has_tombstones_from(group.last_id()) {
                return Some(added.wrapping_sub(read as i64));
            }
        }
        self.estimate_distance(group.last_id()).map(|read| added.wrapping_sub(read as i64))
    }

    /// Heap bytes, for memory accounting: estimated from the node model (one step per 100 entries)
    /// rather than by visiting every entry.
    pub fn heap_size(&self) -> usize {
        let entries = self.entries.len() * 64 + self.nodes.values().map(|n| n.bytes).sum::<usize>();
        let groups: usize = self.groups.iter().map(|(name, g)| 64 + name.len() + g.heap_size()).sum();
        entries + self.nodes.len() * 96 + groups
    }
}

/// Nodes of a compressed radix tree over sorted, distinct, equal-length `keys` below depth `depth`.
fn rax_nodes(keys: &[[u8; 16]], depth: usize) -> usize {
    if depth == 16 {
        return 1;
    }
    let first = &keys[0];
    let last = &keys[keys.len() - 1];
    // Keys are sorted, so the common prefix of all is that of the first and the last.
    let common = (depth..16).take_while(|&i| first[i] == last[i]).count();
    if common > 0 {
        // A compressed node, then a branch (or the leaf).
        return 1 + branch_nodes(keys, depth + common);
    }
    branch_nodes(keys, depth)
}

/// A branching node at `depth` (or a leaf at the end) and everything under it.
fn branch_nodes(keys: &[[u8; 16]], depth: usize) -> usize {
    if depth == 16 {
        return 1;
    }
    let mut total = 1;
    let mut start = 0;
    while start < keys.len() {
        let byte = keys[start][depth];
        let end = start + keys[start..].iter().take_while(|k| k[depth] == byte).count();
        total += rax_nodes_child(&keys[start..end], depth + 1);
        start = end;
    }
    total
}

/// The node a branch's child pointer leads to.
fn rax_nodes_child(keys: &[[u8; 16]], depth: usize) -> usize {
    if depth == 16 {
        return 1;
    }
    rax_nodes(keys, depth)
}

/// The mutators of a stored stream: each records the entries, counters or groups it changed, so
/// that replaying the records onto an empty stream with the plain methods above gives the same
/// stream.
impl Tracked<'_, Stream> {
    /// Appends an entry (XADD) with an ID from [`Stream::next_id`].
    pub fn append(&mut self, id: StreamId, fields: Fields, limits: &Limits) {
        self.value.append(id, fields, limits);
        if let Some(fields) = self.value.entries.get(&id) {
            self.log.member(|key| Mutation::StreamAdd { key, id, fields });
        }
    }

    /// XDEL: removes the entries with these IDs, recording each one that existed; returns how many.
    pub fn delete(&mut self, ids: &[StreamId]) -> usize {
        let log = self.log;
        self.value.delete_each(ids, |id| log.member(|key| Mutation::StreamDelete { key, id }))
    }

    /// Trims as [`Stream::trim`] does, recording each entry removed; returns how many.
    pub fn trim(&mut self, trim: Trim) -> u64 {
        let log = self.log;
        if !log.wants_members() {
            return self.value.trim(trim);
        }
        self.value.trim_each(trim, |id| log.member(|key| Mutation::StreamTrim { key, id }))
    }

    /// [`Stream::remove_trimmed`], recording the entry removed (replays a trimmed entry).
    pub fn remove_trimmed(&mut self, id: StreamId) -> bool {
        let removed = self.value.remove_trimmed(id);
        if removed {
            self.log.member(|key| Mutation::StreamTrim { key, id });
        }
        removed
    }

    /// XSETID: sets the last ID, and the added count and max deleted ID when given.
    pub fn set_id(&mut self, last_id: StreamId, entries_added: Option<u64>, max_deleted_id: Option<StreamId>) {
        let stream = &mut *self.value;
        stream.last_id = last_id;
        if let Some(n) = entries_added {
            stream.entries_added = n;
        }
        if let Some(id) = max_deleted_id {
            stream.max_deleted_id = id;
        }
        let (entries_added, max_deleted_id) = (stream.entries_added, stream.max_deleted_id);
        self.log.member(|key| Mutation::StreamMeta { key, last_id, entries_added, max_deleted_id });
    }

    /// XGROUP CREATE: a new group at `last_id`; false (and nothing changes) when the name is taken.
    pub fn create_group(&mut self, name: &[u8], last_id: StreamId, entries_read: Option<u64>) -> bool {
        if self.value.groups.contains_key(name) {
            return false;
        }
        self.value.groups.insert(Bytes::copy_from_slice(name), Group::new(last_id, entries_read));
        self.log.member(|key| Mutation::GroupPut { key, group: name, last_id, entries_read });
        true
    }

    /// [`Stream::put_group`]: creates the group or moves its cursor, and records it (replays a
    /// group's creation or cursor).
    pub fn put_group(&mut self, name: &[u8], last_id: StreamId, entries_read: Option<u64>) {
        self.value.put_group(name, last_id, entries_read);
        self.log.member(|key| Mutation::GroupPut { key, group: name, last_id, entries_read });
    }

    /// XGROUP DESTROY; true when the group existed.
    pub fn destroy_group(&mut self, name: &[u8]) -> bool {
        let destroyed = self.value.groups.remove(name).is_some();
        if destroyed {
            self.log.member(|key| Mutation::GroupDelete { key, group: name });
        }
        destroyed
    }

    /// The group `name`, writable through mutators that record their changes.
    pub fn group_mut(&mut self, name: &[u8]) -> Option<TrackedGroup<'_>> {
        let (name, group) = self.value.groups.range_mut::<[u8], _>((Bound::Included(name), Bound::Included(name))).next()?;
        Some(TrackedGroup { group, name: name.as_ref(), log: self.log })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(ms: u64, seq: u64) -> StreamId {
        StreamId::new(ms, seq)
    }

    fn fields(pairs: &[&str]) -> Fields {
        pairs.iter().map(|s| s.as_bytes()).collect()
    }

    fn stream_of(n: u64) -> Stream {
        let mut s = Stream::new();
        for i in 1..=n {
            s.append(id(i, 0), fields(&["f", "v"]), &Limits::default());
        }
        s
    }

    /// The node model agrees with the entries, and the counters with both.
    fn check(s: &Stream) {
        let mut live = 0;
        let masters: Vec<StreamId> = s.nodes.keys().copied().collect();
        for (i, (master, node)) in s.nodes.iter().enumerate() {
            let in_node = match masters.get(i + 1) {
                Some(next) => s.entries.range(*master..*next).count(),
                None => s.entries.range(*master..).count(),
            } as u64;
            assert_eq!(in_node, node.live, "node {master}");
            assert!(node.live > 0, "an empty node stays");
            assert!(node.last >= *master);
            live += node.live;
        }
        assert_eq!(live as usize, s.len());
        assert!(s.entries.keys().next().is_none_or(|first| masters.first().is_some_and(|m| m <= first)));
        assert_eq!(s.first_id, s.entries.keys().next().copied().unwrap_or_default());
        assert!(s.entries.keys().next_back().is_none_or(|last| *last <= s.last_id));
    }

    #[test]
    fn random_operations_keep_the_node_model_consistent() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let mut s = Stream::new();
        let value = "x".repeat(300);
        for step in 0..20_000u64 {
            match next(10) {
                0..=5 => {
                    let id = s.next_id(Some(ParsedId::AutoSeq(s.last_id.ms + next(2))), 0).expect("grows");
                    let big = next(20) == 0;
                    s.append(id, fields(&["f", if big { &value } else { "v" }]), &Limits::default());
                }
                6 | 7 => {
                    let ids: Vec<StreamId> = (0..3).map(|_| id(next(s.last_id.ms + 1), next(3))).collect();
                    s.delete(&ids);
                }
                8 => {
                    let approx = next(2) == 0;
                    let limit = if approx { next(300) } else { 0 };
                    let strategy = TrimStrategy::MaxLen(next(400));
                    s.trim(Trim { strategy, approx, limit });
                }
                _ => {
                    let approx = next(2) == 0;
                    let strategy = TrimStrategy::MinId(id(next(s.last_id.ms + 1), 0));
                    s.trim(Trim { strategy, approx, limit: if approx { default_trim_limit(&Limits::default()) } else { 0 } });
                }
            }
            if step % 97 == 0 {
                check(&s);
            }
        }
        check(&s);
    }

    #[test]
    fn fields_pack_into_one_buffer() {
        let packed = fields(&["name", "", "age", "30"]);
        assert_eq!(packed.len(), 4);
        let items: Vec<Bytes> = packed.iter().collect();
        assert_eq!(items, ["name", "", "age", "30"].map(|s| Bytes::copy_from_slice(s.as_bytes())));
        assert!(Fields::default().is_empty());
    }

    #[test]
    fn ids_parse_like_redis() {
        let parse = |t: &str| parse_id(t.as_bytes(), false, 0, false);
        assert_eq!(parse("5"), Some(ParsedId::Id(id(5, 0))));
        assert_eq!(parse("5-3"), Some(ParsedId::Id(id(5, 3))));
        assert_eq!(parse("-"), Some(ParsedId::Id(StreamId::MIN)));
        assert_eq!(parse("+"), Some(ParsedId::Id(StreamId::MAX)));
        assert_eq!(parse("18446744073709551615-18446744073709551615"), Some(ParsedId::Id(StreamId::MAX)));
        assert_eq!(parse("18446744073709551616"), None);
        assert_eq!(parse("-1"), None);
        assert_eq!(parse("1-"), None);
        assert_eq!(parse("a-1"), None);
        assert_eq!(parse("1-*"), None);
        assert_eq!(parse_id(b"1-*", true, 0, true), Some(ParsedId::AutoSeq(1)));
        assert_eq!(parse_id(b"-", true, 0, false), None);
        assert_eq!(parse_id(b"7", false, u64::MAX, false), Some(ParsedId::Id(id(7, u64::MAX))));
        assert!(id(1, 5) < id(2, 0) && id(2, 0) < id(2, 1));
        assert_eq!(StreamId::MAX.next(), None);
        assert_eq!(id(1, u64::MAX).next(), Some(id(2, 0)));
        assert_eq!(id(2, 0).prev(), Some(id(1, u64::MAX)));
        assert_eq!(id(0, 0).prev(), None);
        assert_eq!(id(3, 4).to_string(), "3-4");
    }

    #[test]
    fn ids_must_grow() {
        let mut s = Stream::new();
        assert_eq!(s.next_id(Some(ParsedId::AutoSeq(5)), 0), Ok(id(5, 0)));
        s.append(id(5, 0), fields(&["a", "1"]), &Limits::default());
        assert_eq!(s.next_id(Some(ParsedId::AutoSeq(5)), 0), Ok(id(5, 1)));
        assert_eq!(s.next_id(Some(ParsedId::AutoSeq(4)), 0), Err(AddError::NotGreater));
        assert_eq!(s.next_id(Some(ParsedId::Id(id(5, 0))), 0), Err(AddError::NotGreater));
        assert_eq!(s.next_id(None, 3), Ok(id(5, 1)), "clock behind the last ID");
        assert_eq!(s.next_id(None, 9), Ok(id(9, 0)));
        s.last_id = StreamId::MAX;
        assert_eq!(s.next_id(None, 9), Err(AddError::Exhausted));
    }

    #[test]
    fn exact_and_approximate_trimming() {
        let mut s = stream_of(250);
        assert_eq!(s.node_count(), 3);
        let approx = Trim { strategy: TrimStrategy::MaxLen(120), approx: true, limit: default_trim_limit(&Limits::default()) };
        assert_eq!(s.trim(approx), 100, "only the first whole node goes");
        assert_eq!(s.len(), 150);
        assert_eq!(s.first_id, id(101, 0));
        let exact = Trim { strategy: TrimStrategy::MaxLen(120), approx: false, limit: 0 };
        assert_eq!(s.trim(exact), 30);
        assert_eq!(s.first_id, id(131, 0));
        let min = Trim { strategy: TrimStrategy::MinId(id(240, 0)), approx: false, limit: 0 };
        assert_eq!(s.trim(min), 109);
        assert_eq!(s.len(), 11);
        let limited = Trim { strategy: TrimStrategy::MaxLen(0), approx: true, limit: 5 };
        assert_eq!(s.trim(limited), 0, "the node holds more than LIMIT");
        assert_eq!(s.entries_added, 250);
    }

    #[test]
    fn deletion_tracks_first_and_max_deleted() {
        let mut s = stream_of(5);
        assert_eq!(s.delete(&[id(1, 0), id(3, 0), id(9, 0)]), 2);
        assert_eq!(s.first_id, id(2, 0));
        assert_eq!(s.max_deleted_id, id(3, 0));
        assert_eq!(s.estimate_distance(id(5, 0)), Some(5));
        assert_eq!(s.estimate_distance(id(2, 0)), None, "fragmented");
        assert!(s.has_tombstones_from(id(2, 0)));
        assert!(!s.has_tombstones_from(id(4, 0)));
        assert_eq!(s.delete(&[id(2, 0), id(4, 0), id(5, 0)]), 3);
        assert!(s.is_empty());
        assert_eq!(s.first_id, StreamId::MIN);
        assert_eq!(s.node_count(), 0, "a node goes with its last live entry");
        assert_eq!(s.last_id, id(5, 0));
    }

    /// A stream mutation, owned, as a recording sink keeps it.
    #[derive(Debug)]
    enum Recorded {
        Add(StreamId, Fields),
        Delete(StreamId),
        Trim(StreamId),
        Meta(StreamId, u64, StreamId),
        GroupPut(Bytes, StreamId, Option<u64>),
        GroupDelete(Bytes),
        ConsumerPut(Bytes, Bytes, u64),
        ConsumerDelete(Bytes, Bytes),
        PendingPut(Bytes, StreamId, Bytes, u64, u64),
        PendingDelete(Bytes, StreamId),
    }

    impl Recorded {
        fn kind(&self) -> usize {
            match self {
                Recorded::Add(..) => 0,
                Recorded::Delete(..) => 1,
                Recorded::Trim(..) => 2,
                Recorded::Meta(..) => 3,
                Recorded::GroupPut(..) => 4,
                Recorded::GroupDelete(..) => 5,
                Recorded::ConsumerPut(..) => 6,
                Recorded::ConsumerDelete(..) => 7,
                Recorded::PendingPut(..) => 8,
                Recorded::PendingDelete(..) => 9,
            }
        }
    }

    #[derive(Default)]
    struct Recorder(std::sync::Mutex<Vec<Recorded>>);

    impl super::super::mutation::ChangeSink for Recorder {
        fn record(&self, _db: usize, _version: u64, change: &Mutation<'_>) {
            let b = Bytes::copy_from_slice;
            let recorded = match *change {
                Mutation::StreamAdd { id, fields, .. } => Recorded::Add(id, fields.clone()),
                Mutation::StreamDelete { id, .. } => Recorded::Delete(id),
                Mutation::StreamTrim { id, .. } => Recorded::Trim(id),
                Mutation::StreamMeta { last_id, entries_added, max_deleted_id, .. } => {
                    Recorded::Meta(last_id, entries_added, max_deleted_id)
                }
                Mutation::GroupPut { group, last_id, entries_read, .. } => Recorded::GroupPut(b(group), last_id, entries_read),
                Mutation::GroupDelete { group, .. } => Recorded::GroupDelete(b(group)),
                Mutation::ConsumerPut { group, consumer, seen_time, .. } => Recorded::ConsumerPut(b(group), b(consumer), seen_time),
                Mutation::ConsumerDelete { group, consumer, .. } => Recorded::ConsumerDelete(b(group), b(consumer)),
                Mutation::PendingPut { group, id, consumer, delivery_time, delivery_count, .. } => {
                    Recorded::PendingPut(b(group), id, b(consumer), delivery_time, delivery_count)
                }
                Mutation::PendingDelete { group, id, .. } => Recorded::PendingDelete(b(group), id),
                _ => return,
            };
            self.0.lock().expect("recorder").push(recorded);
        }
    }

    /// Redoes recorded mutations with the plain methods.
    fn replay(s: &mut Stream, records: &[Recorded], limits: &Limits) {
        for record in records {
            match record {
                Recorded::Add(id, fields) => s.append(*id, fields.clone(), limits),
                Recorded::Delete(id) => assert_eq!(s.delete(&[*id]), 1),
                Recorded::Trim(id) => assert!(s.remove_trimmed(*id)),
                Recorded::Meta(last, added, max_deleted) => s.set_meta(*last, *added, *max_deleted),
                Recorded::GroupPut(g, last, read) => s.put_group(g, *last, *read),
                Recorded::GroupDelete(g) => assert!(s.remove_group(g)),
                Recorded::ConsumerPut(g, c, seen) => s.group_mut(g).expect("group").put_consumer(c, *seen),
                Recorded::ConsumerDelete(g, c) => assert!(s.group_mut(g).expect("group").delete_consumer(c).is_some()),
                Recorded::PendingPut(g, id, c, time, count) => s.group_mut(g).expect("group").put_pending(*id, c, *time, *count),
                Recorded::PendingDelete(g, id) => assert!(s.group_mut(g).expect("group").ack(*id)),
            }
        }
    }

    /// Redoes recorded mutations with the recording mutators, as a replica replays them.
    fn replay_tracked(s: &mut Tracked<'_, Stream>, records: &[Recorded], limits: &Limits) {
        for record in records {
            match record {
                Recorded::Add(id, fields) => s.append(*id, fields.clone(), limits),
                Recorded::Delete(id) => assert_eq!(s.delete(&[*id]), 1),
                Recorded::Trim(id) => assert!(s.remove_trimmed(*id)),
                Recorded::Meta(last, added, max_deleted) => s.set_id(*last, Some(*added), Some(*max_deleted)),
                Recorded::GroupPut(g, last, read) => s.put_group(g, *last, *read),
                Recorded::GroupDelete(g) => assert!(s.destroy_group(g)),
                Recorded::ConsumerPut(g, c, seen) => s.group_mut(g).expect("group").put_consumer(c, *seen),
                Recorded::ConsumerDelete(g, c) => assert!(s.group_mut(g).expect("group").delete_consumer(c).is_some()),
                Recorded::PendingPut(g, id, c, time, count) => s.group_mut(g).expect("group").put_pending(*id, c, *time, *count),
                Recorded::PendingDelete(g, id) => assert!(s.group_mut(g).expect("group").ack(*id)),
            }
        }
    }

    #[test]
    fn recorded_mutations_replay_to_the_same_stream() {
        use super::super::keyspace::{KeyHash, Keyspace};
        use super::super::value::Value;
        use super::super::write::Collection;
        use std::sync::Arc;

        let recorder = Arc::new(Recorder::default());
        let mut keyspace = Keyspace::new(1);
        keyspace.set_sink(recorder.clone());
        let limits = Limits { stream_node_max_entries: 7, ..Limits::default() };
        let (key, hash) = (b"s".as_slice(), KeyHash::of(b"s"));
        let mut shard = keyspace.db(0).lock(hash);
        shard.set(hash, key, Value::Stream(Box::default()), None, 0);
        let mut replayed = Stream::new();
        let replica = Keyspace::new(1);
        let mut replica_shard = replica.db(0).lock(hash);
        replica_shard.set(hash, key, Value::Stream(Box::default()), None, 0);

        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let names = [Bytes::from_static(b"g0"), Bytes::from_static(b"g1")];
        let consumers = [Bytes::from_static(b"alice"), Bytes::from_static(b"bob"), Bytes::from_static(b"carol")];
        let mut seen = [false; 10];
        for step in 0..5_000u64 {
            let now = step;
            let mut s = shard.write(hash, key, now, false).and_then(|w| w.collection::<Stream>()).expect("stream");
            let last_ms = s.last_id().ms;
            let some_id = |r: u64| id(r % (last_ms + 2), r % 3);
            let group = &names[next(2) as usize];
            let consumer = &consumers[next(3) as usize];
            match next(20) {
                0..=6 => {
                    let new = s.next_id(Some(ParsedId::AutoSeq(last_ms + next(2))), now).expect("grows");
                    s.append(new, fields(&["f", if next(5) == 0 { "a longer value" } else { "v" }]), &limits);
                }
                7 => {
                    let ids: Vec<StreamId> = (0..3).map(|_| some_id(next(1 << 20))).collect();
                    s.delete(&ids);
                }
                8 => {
                    let approx = next(2) == 0;
                    let strategy = if next(2) == 0 { TrimStrategy::MaxLen(next(40)) } else { TrimStrategy::MinId(some_id(next(1 << 20))) };
                    s.trim(Trim { strategy, approx, limit: if approx { next(30) } else { 0 } });
                }
                9 if next(10) == 0 => {
                    let last = s.last_id().max(s.last_valid_id());
                    let added = s.entries_added().max(s.len() as u64) + next(3);
                    let max_deleted = (next(2) == 0).then(|| id(next(last.ms + 1), 0));
                    s.set_id(StreamId::new(last.ms + next(3), last.seq), (next(2) == 0).then_some(added), max_deleted);
                }
                10 => {
                    let read = (next(3) != 0).then(|| next(10));
                    s.create_group(group, some_id(next(1 << 20)), read);
                }
                11 if next(8) == 0 => {
                    s.destroy_group(group);
                }
                _ => {
                    let entry = some_id(next(1 << 20));
                    let exists = s.contains(entry);
                    let Some(mut g) = s.group_mut(group) else { continue };
                    match next(9) {
                        0 => {
                            g.touch_consumer(consumer, now);
                        }
                        1 => {
                            g.create_consumer(consumer, now);
                        }
                        2 if next(4) == 0 => {
                            g.delete_consumer(consumer);
                        }
                        3 if exists => {
                            g.touch_consumer(consumer, now);
                            g.deliver(entry, consumer, now);
                        }
                        4 => {
                            g.redeliver(entry, now);
                        }
                        5 => {
                            let retry = (next(2) == 0).then(|| next(5));
                            g.claim(entry, consumer, now, retry, next(2) == 0);
                        }
                        6 => {
                            g.force_pending(entry, now);
                            g.touch_consumer(consumer, now);
                            g.claim(entry, consumer, now, None, false);
                        }
                        7 => {
                            g.ack(entry);
                        }
                        _ => {
                            let read = g.entries_read().map(|n| n + 1);
                            g.set_cursor(entry, read);
                        }
                    }
                }
            }
            let records = std::mem::take(&mut *recorder.0.lock().expect("recorder"));
            for record in &records {
                seen[record.kind()] = true;
            }
            replay(&mut replayed, &records, &limits);
            let mut copy = replica_shard.write(hash, key, now, false).and_then(|w| w.collection::<Stream>()).expect("stream");
            replay_tracked(&mut copy, &records, &limits);
            if step % 50 == 0 {
                let live = shard.get(hash, key, now).and_then(|e| Stream::of(e.value())).expect("stream");
                assert_eq!(&replayed, live, "step {step}");
                live.groups().values().for_each(Group::check);
            }
        }
        let live = shard.get(hash, key, 5_000).and_then(|e| Stream::of(e.value())).expect("stream");
        assert_eq!(&replayed, live);
        let copy = replica_shard.get(hash, key, 5_000).and_then(|e| Stream::of(e.value())).expect("stream");
        assert_eq!(copy, live);
        assert_eq!(seen, [true; 10], "every kind of stream mutation was recorded");
    }

    #[test]
    fn radix_tree_nodes_follow_rax() {
        let mut s = Stream::new();
        assert_eq!(s.radix_tree_nodes(), 1);
        s.append(id(1, 1), fields(&["a", "1"]), &Limits::default());
        assert_eq!(s.radix_tree_nodes(), 2);
        let s = stream_of(101);
        // Two keys differing in the last byte of ms: compressed prefix, branch, and under each
        // branch a compressed tail and its leaf (what redis-server 7.0 reports).
        assert_eq!(s.radix_tree_nodes(), 6);
        assert_eq!(stream_of(1000).radix_tree_nodes(), 26);
    }
}
