//! The binary encoding of a whole stream value (the body of a stream's metadata record): its
//! counters, its entries and its consumer groups.
//!
//! Decoding appends the entries one by one with the server's [`Limits`], so the node model (what
//! `MAXLEN ~`, `MINID ~` and XINFO depend on) is rebuilt as Redis rebuilds a stream from its AOF:
//! every node is opened where `stream-node-max-entries` / `stream-node-max-bytes` say, and no node
//! keeps tombstones of entries deleted before the encoding. A stream whose nodes hold no tombstones
//! (and was built with the same limits) decodes to a value `==` to the one encoded.
//!
//! # Layout (version 1)
//!
//! Integers are unsigned LEB128 varints (`v`); a string is `len v | bytes`. An ID is `ms v | seq v`.
//! A run of strictly increasing IDs (entries, a group's PEL) is delta-encoded: the first ID in
//! full, then each as `ms - prev.ms` and, when that is 0, `seq - prev.seq - 1`, else `seq` itself.
//!
//! ```text
//! version u8 = 1
//! last_id ID | max_deleted_id ID | entries_added v
//! entry_count v, then per entry (ID order):
//!     id (delta) | header v = pairs << 1 | same
//!     same = 0: pairs × (field string | value string)
//!     same = 1: pairs × value string — the field names are the previous entry's, in order
//! group_count v, then per group (name order):
//!     name string | last_id ID | entries_read: 0 (unknown) or 1 then n v
//!     consumer_count v, then per consumer (name order): name string | seen_time v
//!     pel_count v, then per pending entry (ID order):
//!         id (delta) | owner v | delivery_time v | delivery_count v
//!         owner k >= 1: the group's k-th consumer above; owner 0: a consumer name string follows
//!         (a name the group has no consumer of, as the empty one of XCLAIM ... FORCE)
//! ```
//!
//! The first ID is not stored: it is the ID of the first entry (0-0 when there is none). Nothing
//! may follow the last group. [`decode`] refuses (returns `None`) anything else: another version,
//! short or trailing bytes, an entry ID 0-0, entries without fields, names out of order or
//! repeated, counts larger than the bytes left could hold, or a last ID below the last entry's.
//! Each consumer's own pending set is not stored: it is rebuilt from the owners in the PEL.

use bytes::Bytes;

use crate::engine::stream::{Fields, Stream, StreamId};
use crate::engine::value::Limits;

/// The format version, the first byte of every encoding.
pub const VERSION: u8 = 1;

/// Appends the encoding of `stream` to `out`.
pub fn encode(stream: &Stream, out: &mut Vec<u8>) {
    encode_parts(stream, true, out);
}

/// Appends the encoding of `stream` without its entries (counted as none): what a stream's
/// metadata record holds when each entry is a record of its own ([`encode_fields`]).
pub fn encode_without_entries(stream: &Stream, out: &mut Vec<u8>) {
    encode_parts(stream, false, out);
}

/// Appends one entry's fields and values: `count v | strings`.
pub fn encode_fields(fields: &Fields, out: &mut Vec<u8>) {
    put_varint(out, fields.len() as u64);
    for item in fields.iter() {
        put_bytes(out, &item);
    }
}

/// One entry's fields and values back; `None` unless `bytes` is exactly one encoding.
pub fn decode_fields(bytes: &[u8]) -> Option<Fields> {
    let mut r = Reader { buf: bytes };
    let count = r.count()?;
    if count == 0 || count % 2 != 0 || count > u64::from(u32::MAX) {
        return None;
    }
    let mut items: Vec<&[u8]> = Vec::with_capacity(usize::try_from(count).ok()?);
    for _ in 0..count {
        items.push(r.string()?);
    }
    r.buf.is_empty().then(|| items.into_iter().collect())
}

fn encode_parts(stream: &Stream, with_entries: bool, out: &mut Vec<u8>) {
    out.push(VERSION);
    put_id(out, stream.last_id());
    put_id(out, stream.max_deleted_id());
    put_varint(out, stream.entries_added());

    put_varint(out, if with_entries { stream.len() as u64 } else { 0 });
    let mut prev: Option<(StreamId, &Fields)> = None;
    let entries = if with_entries { stream.range(StreamId::MIN, StreamId::MAX, 0, false) } else { Vec::new() };
    for (id, fields) in entries {
        debug_assert!(fields.len() % 2 == 0, "fields and values come in pairs");
        put_delta_id(out, prev.map(|(id, _)| id), id);
        let pairs = (fields.len() / 2) as u64;
        let same = prev.is_some_and(|(_, p)| p.len() == fields.len() && p.iter().step_by(2).eq(fields.iter().step_by(2)));
        put_varint(out, (pairs << 1) | u64::from(same));
        if same {
            for value in fields.iter().skip(1).step_by(2) {
                put_bytes(out, &value);
            }
        } else {
            for item in fields.iter() {
                put_bytes(out, &item);
            }
        }
        prev = Some((id, fields));
    }

    let groups = stream.groups();
    put_varint(out, groups.len() as u64);
    for (name, group) in groups {
        put_bytes(out, name);
        put_id(out, group.last_id());
        match group.entries_read() {
            None => out.push(0),
            Some(n) => {
                out.push(1);
                put_varint(out, n);
            }
        }
        let consumers = group.consumers();
        put_varint(out, consumers.len() as u64);
        for (consumer, state) in consumers {
            put_bytes(out, consumer);
            put_varint(out, state.seen_time);
        }
        // Consumer names in order, to name a PEL record's owner by its position.
        let names: Vec<&Bytes> = consumers.keys().collect();
        put_varint(out, group.pel().len() as u64);
        let mut prev = None;
        for (&id, nack) in group.pel() {
            put_delta_id(out, prev, id);
            match names.binary_search(&&nack.consumer) {
                Ok(at) => put_varint(out, at as u64 + 1),
                Err(_) => {
                    put_varint(out, 0);
                    put_bytes(out, &nack.consumer);
                }
            }
            put_varint(out, nack.delivery_time);
            put_varint(out, nack.delivery_count);
            prev = Some(id);
        }
    }
}

/// Rebuilds a stream from its encoding, appending the entries with `limits`; `None` when `bytes`
/// is not a valid encoding. Never panics, and allocates no more than the input's size warrants.
pub fn decode(bytes: &[u8], limits: &Limits) -> Option<Stream> {
    decode_with_entries(bytes, std::iter::empty(), limits)
}

/// [`decode`] of an encoding made by [`encode_without_entries`], whose entries come from
/// `entries` (in ID order); `None` when they do not fit the counters.
pub fn decode_with_entries(bytes: &[u8], entries: impl Iterator<Item = (StreamId, Fields)>, limits: &Limits) -> Option<Stream> {
    let mut r = Reader { buf: bytes };
    if r.u8()? != VERSION {
        return None;
    }
    let last_id = r.id()?;
    let max_deleted_id = r.id()?;
    let entries_added = r.varint()?;

    let mut stream = Stream::new();
    let count = r.count()?;
    // The field names of the previous entry, borrowed from the input.
    let mut names: Vec<&[u8]> = Vec::new();
    let mut prev = None;
    for _ in 0..count {
        let id = r.delta_id(prev)?;
        // `append` wants IDs above the last one, and the first above 0-0 (as XADD gives them).
        if id <= stream.last_id() {
            return None;
        }
        let header = r.varint()?;
        let (pairs, same) = (header >> 1, header & 1 == 1);
        // Every value takes at least its length byte; a Fields buffer counts items in a u32.
        if pairs == 0 || pairs > r.remaining() as u64 || pairs > u64::from(u32::MAX / 2) {
            return None;
        }
        let pairs = pairs as usize;
        if same && pairs != names.len() {
            return None;
        }
        let mut items: Vec<&[u8]> = Vec::with_capacity(pairs * 2);
        for i in 0..pairs {
            let name = if same { names.get(i).copied()? } else { r.string()? };
            items.push(name);
            items.push(r.string()?);
        }
        if !same {
            names = items.iter().step_by(2).copied().collect();
        }
        stream.append(id, items.into_iter().collect(), limits);
        prev = Some(id);
    }
    for (id, fields) in entries {
        if id <= stream.last_id() {
            return None;
        }
        stream.append(id, fields, limits);
    }
    if last_id < stream.last_id() {
        return None;
    }
    stream.set_meta(last_id, entries_added, max_deleted_id);

    let count = r.count()?;
    let mut prev_group: Option<&[u8]> = None;
    for _ in 0..count {
        let name = r.string()?;
        if prev_group.is_some_and(|p| p >= name) {
            return None;
        }
        prev_group = Some(name);
        let group_last = r.id()?;
        let entries_read = match r.u8()? {
            0 => None,
            1 => Some(r.varint()?),
            _ => return None,
        };
        stream.put_group(name, group_last, entries_read);
        let group = stream.group_mut(name)?;

        let consumers = r.count()?;
        let mut consumer_names: Vec<&[u8]> = Vec::new();
        for _ in 0..consumers {
            let consumer = r.string()?;
            if consumer_names.last().is_some_and(|p| *p >= consumer) {
                return None;
            }
            group.put_consumer(consumer, r.varint()?);
            consumer_names.push(consumer);
        }

        let pending = r.count()?;
        let mut prev = None;
        for _ in 0..pending {
            let id = r.delta_id(prev)?;
            let owner = match r.varint()? {
                0 => r.string()?,
                k => *consumer_names.get(usize::try_from(k - 1).ok()?)?,
            };
            let delivery_time = r.varint()?;
            let delivery_count = r.varint()?;
            group.put_pending(id, owner, delivery_time, delivery_count);
            prev = Some(id);
        }
    }
    r.buf.is_empty().then_some(stream)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn put_id(out: &mut Vec<u8>, id: StreamId) {
    put_varint(out, id.ms);
    put_varint(out, id.seq);
}

/// `id` after `prev` (strictly greater), delta-encoded; in full when first.
fn put_delta_id(out: &mut Vec<u8>, prev: Option<StreamId>, id: StreamId) {
    match prev {
        None => put_id(out, id),
        Some(prev) if prev.ms == id.ms => {
            put_varint(out, 0);
            put_varint(out, id.seq - prev.seq - 1);
        }
        Some(prev) => {
            put_varint(out, id.ms - prev.ms);
            put_varint(out, id.seq);
        }
    }
}

/// A forward reader over the input; every read is checked and gives `None` past the end.
struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.buf.len()
    }

    fn u8(&mut self) -> Option<u8> {
        let (&byte, rest) = self.buf.split_first()?;
        self.buf = rest;
        Some(byte)
    }

    /// A LEB128 varint of at most 10 bytes; `None` when it overflows 64 bits.
    fn varint(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.u8()?;
            let bits = u64::from(byte & 0x7f);
            if shift == 63 && bits > 1 {
                return None;
            }
            value |= bits << shift;
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }

    /// A count of items that take at least one byte each: no more than the bytes left.
    fn count(&mut self) -> Option<u64> {
        let n = self.varint()?;
        (n <= self.remaining() as u64).then_some(n)
    }

    fn string(&mut self) -> Option<&'a [u8]> {
        let len = usize::try_from(self.varint()?).ok()?;
        if len > u32::MAX as usize {
            return None;
        }
        let bytes = self.buf.get(..len)?;
        self.buf = self.buf.get(len..)?;
        Some(bytes)
    }

    fn id(&mut self) -> Option<StreamId> {
        Some(StreamId::new(self.varint()?, self.varint()?))
    }

    /// The ID after `prev` in a delta-encoded run (strictly greater by construction).
    fn delta_id(&mut self, prev: Option<StreamId>) -> Option<StreamId> {
        let Some(prev) = prev else {
            return self.id();
        };
        let ms_delta = self.varint()?;
        let seq = self.varint()?;
        if ms_delta == 0 {
            Some(StreamId::new(prev.ms, prev.seq.checked_add(seq)?.checked_add(1)?))
        } else {
            Some(StreamId::new(prev.ms.checked_add(ms_delta)?, seq))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::stream::{Trim, TrimStrategy};

    fn id(ms: u64, seq: u64) -> StreamId {
        StreamId::new(ms, seq)
    }

    fn fields(items: &[&[u8]]) -> Fields {
        items.iter().collect()
    }

    fn encoded(stream: &Stream) -> Vec<u8> {
        let mut out = Vec::new();
        encode(stream, &mut out);
        assert_eq!(out.first(), Some(&VERSION));
        out
    }

    /// Encodes and decodes; the decoded stream encodes to the same bytes.
    fn round_trip(stream: &Stream, limits: &Limits) -> Stream {
        let bytes = encoded(stream);
        let decoded = decode(&bytes, limits).expect("decodes");
        assert_eq!(encoded(&decoded), bytes, "the encoding is canonical");
        decoded
    }

    fn small_nodes() -> Limits {
        Limits { stream_node_max_entries: 4, ..Limits::default() }
    }

    /// A stream of entries `n-0` for `n` in `range`, with field names changing now and then.
    fn stream_of(range: std::ops::RangeInclusive<u64>, limits: &Limits) -> Stream {
        let mut s = Stream::new();
        for n in range {
            let value = n.to_string();
            let f = match n % 7 {
                0 => fields(&[b"other", value.as_bytes()]),
                1 => fields(&[b"f", value.as_bytes(), b"g", b""]),
                _ => fields(&[b"f", value.as_bytes(), b"g", b"x"]),
            };
            s.append(id(n, 0), f, limits);
        }
        s
    }

    #[test]
    fn empty_streams_round_trip() {
        let limits = Limits::default();
        let s = Stream::new();
        assert_eq!(round_trip(&s, &limits), s);
        assert_eq!(encoded(&s), [VERSION, 0, 0, 0, 0, 0, 0, 0]);

        // Every entry deleted: no entries, no nodes, but counters and a group remain.
        let mut s = stream_of(1..=3, &limits);
        assert_eq!(s.delete(&[id(1, 0), id(2, 0), id(3, 0)]), 3);
        s.set_meta(id(9, 9), 7, id(3, 0));
        s.put_group(b"g", id(2, 0), None);
        let back = round_trip(&s, &limits);
        assert_eq!(back, s);
        assert_eq!((back.first_id(), back.last_id(), back.entries_added(), back.max_deleted_id()), (id(0, 0), id(9, 9), 7, id(3, 0)));
    }

    #[test]
    fn deletions_and_trims_round_trip() {
        let limits = small_nodes();
        let mut s = stream_of(1..=40, &limits);
        assert_eq!(s.node_count(), 10);
        // Whole nodes go: the first two by MAXLEN ~, one in the middle and the last by XDEL.
        let approx = Trim { strategy: TrimStrategy::MaxLen(30), approx: true, limit: 0 };
        assert_eq!(s.trim(approx), 8);
        assert_eq!(s.delete(&[id(13, 0), id(14, 0), id(15, 0), id(16, 0)]), 4);
        assert_eq!(s.delete(&[id(37, 0), id(38, 0), id(39, 0), id(40, 0)]), 4);
        let minid = Trim { strategy: TrimStrategy::MinId(id(17, 0)), approx: false, limit: 0 };
        assert_eq!(s.trim(minid), 4);
        assert_eq!((s.len(), s.node_count(), s.first_id(), s.max_deleted_id()), (20, 5, id(17, 0), id(40, 0)));
        let back = round_trip(&s, &limits);
        assert_eq!(back, s);
        assert_eq!((back.entries_added(), back.last_id(), back.last_valid_id()), (40, id(40, 0), id(36, 0)));

        // Entries deleted inside nodes leave tombstones, which the rebuilt node model has not: the
        // decoded stream is the one rebuilt from the live entries as an AOF rewrite would.
        let mut s = stream_of(1..=40, &limits);
        s.delete(&[id(2, 0), id(7, 0), id(8, 0), id(40, 0)]);
        let exact = Trim { strategy: TrimStrategy::MaxLen(32), approx: false, limit: 0 };
        assert_eq!(s.trim(exact), 4, "a whole node, then one entry of the next");
        let back = round_trip(&s, &limits);
        let mut rebuilt = Stream::new();
        for (id, f) in s.range(StreamId::MIN, StreamId::MAX, 0, false) {
            rebuilt.append(id, f.clone(), &limits);
        }
        rebuilt.set_meta(s.last_id(), s.entries_added(), s.max_deleted_id());
        assert_eq!(back, rebuilt);
        assert_ne!(back, s, "the tombstones are gone");
        assert_eq!(back.range(StreamId::MIN, StreamId::MAX, 0, false), s.range(StreamId::MIN, StreamId::MAX, 0, false));
        assert_eq!(
            (back.first_id(), back.last_id(), back.max_deleted_id(), back.entries_added()),
            (s.first_id(), s.last_id(), s.max_deleted_id(), s.entries_added())
        );
        assert_eq!(back.node_count(), 8);

        // The limits of the decoding server shape the nodes.
        let other = decode(&encoded(&s), &Limits::default()).expect("decodes");
        assert_eq!(other.node_count(), 1);
        assert_eq!(other.range(StreamId::MIN, StreamId::MAX, 0, false), s.range(StreamId::MIN, StreamId::MAX, 0, false));
    }

    #[test]
    fn nodes_split_by_bytes_round_trip() {
        let limits = Limits::default();
        let mut s = Stream::new();
        let sizes = [0usize, 1, 63, 64, 500, 4095, 4096, 5000];
        for n in 1..=300u64 {
            let value = vec![b'a' + (n % 26) as u8; sizes[(n % 8) as usize]];
            let number = (n * 1_000_003).to_string();
            s.append(id(n / 3, (n % 3) * (u64::MAX / 4)), fields(&[b"k", &value, b"n", number.as_bytes()]), &limits);
        }
        s.append(id(u64::MAX, u64::MAX - 1), fields(&[b"last", b"1"]), &limits);
        assert!(s.node_count() > 10);
        assert_eq!(round_trip(&s, &limits), s);
    }

    #[test]
    fn groups_round_trip() {
        let limits = small_nodes();
        let mut s = stream_of(1..=20, &limits);
        let (alice, bob) = (Bytes::from_static(b"alice"), Bytes::from_static(b"bob"));
        s.put_group(b"readers", id(12, 0), Some(12));
        s.put_group(b"\x00binary\xff", id(0, 0), None);
        s.put_group(b"idle", id(20, 0), Some(u64::MAX));
        let g = s.group_mut(b"readers").expect("group");
        g.create_consumer(b"alice", 100);
        g.create_consumer(b"bob", 110);
        g.create_consumer(b"carol", 120);
        for n in 1..=12 {
            g.deliver(id(n, 0), if n % 3 == 0 { &bob } else { &alice }, 200 + n);
        }
        assert!(g.claim(id(4, 0), &bob, 300, Some(7), false));
        assert!(g.claim(id(5, 0), &bob, 301, None, false));
        g.put_pending(id(6, 0), b"alice", 250, 3);
        // An unowned pending record (XCLAIM ... FORCE before the claim), and one for an entry
        // missing from the stream.
        g.force_pending(id(15, 0), 400);
        g.force_pending(id(99, 1), 401);
        assert!(g.ack(id(1, 0)));
        let g = s.group_mut(b"\x00binary\xff").expect("group");
        g.touch_consumer(b"solo", u64::MAX);
        g.deliver(id(2, 0), &Bytes::from_static(b"solo"), 0);
        assert_eq!(s.delete(&[id(2, 0), id(3, 0), id(4, 0), id(1, 0)]), 4);

        let back = round_trip(&s, &limits);
        assert_eq!(back, s);
        let g = back.group(b"readers").expect("group");
        assert_eq!(g.pel()[&id(15, 0)].consumer, Bytes::new());
        assert_eq!(g.pel()[&id(4, 0)].delivery_count, 7);
        assert!(!g.consumers().contains_key(&b""[..]));
        assert_eq!(g.consumers()[&bob].pending.iter().map(|id| id.ms).collect::<Vec<_>>(), [3, 4, 5, 9, 12]);
        assert_eq!(g.pel()[&id(6, 0)].consumer, alice);
        assert_eq!(back.group(b"idle").map(|g| g.entries_read()), Some(Some(u64::MAX)));
    }

    /// `(ms, seq)` pairs and other varints, for hand-made encodings.
    fn bytes_of(values: &[u64]) -> Vec<u8> {
        let mut out = vec![VERSION];
        for &v in values {
            put_varint(&mut out, v);
        }
        out
    }

    #[test]
    fn invalid_encodings_are_refused() {
        let limits = Limits::default();
        // last 5-0, max deleted 0-0, added 1, one entry 5-0 with a=b, no groups.
        let mut good = bytes_of(&[5, 0, 0, 0, 1, 1, 5, 0, 2, 1]);
        good.extend_from_slice(b"a\x01b\x00");
        let s = decode(&good, &limits).expect("valid");
        assert_eq!(s.get(id(5, 0)), Some(&fields(&[b"a", b"b"])));
        assert_eq!((s.last_id(), s.first_id(), s.entries_added()), (id(5, 0), id(5, 0), 1));

        let mut bad = good.clone();
        bad[0] = 2;
        assert!(decode(&bad, &limits).is_none(), "unknown version");
        let mut bad = good.clone();
        bad.push(0);
        assert!(decode(&bad, &limits).is_none(), "trailing bytes");
        let mut bad = good.clone();
        bad[1] = 4;
        assert!(decode(&bad, &limits).is_none(), "last ID below the last entry");
        let mut bad = good.clone();
        bad[7] = 0;
        assert!(decode(&bad, &limits).is_none(), "entry 0-0");
        let mut bad = good.clone();
        bad[9] = 0;
        assert!(decode(&bad, &limits).is_none(), "no fields");
        let mut bad = good.clone();
        bad[9] = 3;
        assert!(decode(&bad, &limits).is_none(), "same names as no previous entry");
        assert!(decode(&bytes_of(&[u64::MAX, 0, 0, 0, 0, u64::MAX]), &limits).is_none(), "count beyond the input");
        assert!(decode(&[VERSION, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02], &limits).is_none(), "varint overflow");

        // Groups: names in order, owners among the consumers.
        let mut groups = bytes_of(&[0, 0, 0, 0, 0, 0, 2]);
        groups.extend_from_slice(b"\x01b\x00\x00\x00\x00\x00\x01a\x00\x00\x00\x00\x00");
        assert!(decode(&groups, &limits).is_none(), "groups out of order");
        let mut group = bytes_of(&[0, 0, 0, 0, 0, 0, 1]);
        group.extend_from_slice(b"\x01g\x00\x00\x00\x01\x01c\x07\x01\x03\x04\x01\x09\x02");
        let s = decode(&group, &limits).expect("valid");
        let g = s.group(b"g").expect("group");
        assert_eq!(g.consumers()[&b"c"[..]].pending.iter().copied().collect::<Vec<_>>(), [id(3, 4)]);
        let owner = group.len() - 3;
        group[owner] = 2;
        assert!(decode(&group, &limits).is_none(), "owner beyond the consumers");
    }

    /// A small xorshift generator.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }
    }

    /// What decoding `bytes` gives, if anything, must encode and decode again to itself.
    fn decode_checked(bytes: &[u8], limits: &Limits) -> bool {
        match decode(bytes, limits) {
            Some(s) => {
                assert_eq!(decode(&encoded(&s), limits).as_ref(), Some(&s));
                true
            }
            None => false,
        }
    }

    #[test]
    fn damaged_input_never_panics() {
        let limits = small_nodes();
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..10_000 {
            let len = rng.next(120) as usize;
            let mut bytes: Vec<u8> = (0..len).map(|_| rng.next(256) as u8).collect();
            if let Some(first) = bytes.first_mut().filter(|_| rng.next(2) == 0) {
                *first = VERSION;
                // Small numbers, so that counts and lengths often fit.
                for b in bytes.iter_mut().skip(1) {
                    if rng.next(3) > 0 {
                        *b %= 8;
                    }
                }
            }
            decode_checked(&bytes, &limits);
        }

        let mut s = stream_of(1..=30, &limits);
        s.delete(&[id(3, 0), id(10, 0)]);
        s.put_group(b"g", id(5, 0), Some(5));
        let g = s.group_mut(b"g").expect("group");
        g.create_consumer(b"c", 1);
        g.create_consumer(b"d", 2);
        for n in 1..=8 {
            g.deliver(id(n, 0), &Bytes::from_static(if n % 2 == 0 { b"c" } else { b"d" }), n);
        }
        g.force_pending(id(9, 0), 9);
        s.put_group(b"h", id(0, 0), None);
        let valid = encoded(&s);
        for end in 0..valid.len() {
            assert!(decode(&valid[..end], &limits).is_none(), "truncated at {end}");
        }
        let mut accepted = 0;
        for _ in 0..10_000 {
            let mut bytes = valid.clone();
            for _ in 0..=rng.next(3) {
                let at = rng.next(bytes.len() as u64) as usize;
                match rng.next(3) {
                    0 => bytes[at] ^= 1 << rng.next(8),
                    1 => bytes[at] = rng.next(256) as u8,
                    _ => bytes.truncate(at.max(1)),
                }
            }
            accepted += usize::from(decode_checked(&bytes, &limits));
        }
        assert!(accepted > 0, "some damage still decodes (to a canonical stream)");
    }
}
