//! Blocks: the unit of SSTable I/O, compression, checksumming and caching.
//!
//! Uncompressed layout:
//! ```text
//! entry*  restart[u32 LE]*  num_restarts[u32 LE]
//! entry = shared varint | unshared varint | value_len varint | key[shared..] | value
//! ```
//! Each key shares `shared` leading bytes with the previous key; every
//! `restart_interval`-th entry stores its key whole (`shared = 0`) and is listed in
//! the restart array, which is what binary search lands on.
//!
//! On disk a block is followed by a 5-byte trailer: the compression type (u8) and
//! the low 32 bits of xxh3-64 over the stored bytes and the type byte.

use std::cmp::Ordering;
use std::sync::Arc;

use smallvec::SmallVec;

use super::coding::{get_u32, get_varint, put_varint};
use super::key;
use super::options::Compression;

/// Bytes after every stored block: compression type + checksum.
pub(crate) const BLOCK_TRAILER: usize = 5;
const COMPRESSION_NONE: u8 = 0;
const COMPRESSION_ZSTD: u8 = 1;

/// Accumulates sorted entries into one block.
pub(crate) struct BlockBuilder {
    buf: Vec<u8>,
    restarts: Vec<u32>,
    interval: usize,
    counter: usize,
    last_key: Vec<u8>,
    entries: usize,
}

impl BlockBuilder {
    pub(crate) fn new(interval: usize) -> Self {
        BlockBuilder { buf: Vec::new(), restarts: vec![0], interval: interval.max(1), counter: 0, last_key: Vec::new(), entries: 0 }
    }

    /// Appends an entry; keys must arrive in increasing internal-key order.
    pub(crate) fn add(&mut self, key: &[u8], value: &[u8]) {
        let shared = if self.counter < self.interval {
            self.last_key.iter().zip(key).take_while(|(a, b)| a == b).count()
        } else {
            self.restarts.push(self.buf.len() as u32);
            self.counter = 0;
            0
        };
        put_varint(&mut self.buf, shared as u64);
        put_varint(&mut self.buf, (key.len() - shared) as u64);
        put_varint(&mut self.buf, value.len() as u64);
        self.buf.extend_from_slice(&key[shared..]);
        self.buf.extend_from_slice(value);
        self.last_key.truncate(shared);
        self.last_key.extend_from_slice(&key[shared..]);
        self.counter += 1;
        self.entries += 1;
    }

    /// Size the finished block would have, to decide when to cut it.
    pub(crate) fn estimated_size(&self) -> usize {
        self.buf.len() + self.restarts.len() * 4 + 4
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries == 0
    }

    pub(crate) fn last_key(&self) -> &[u8] {
        &self.last_key
    }

    /// Finishes the block and resets the builder for the next one.
    pub(crate) fn finish(&mut self) -> Vec<u8> {
        let mut out = std::mem::take(&mut self.buf);
        for r in &self.restarts {
            out.extend_from_slice(&r.to_le_bytes());
        }
        out.extend_from_slice(&(self.restarts.len() as u32).to_le_bytes());
        self.restarts.clear();
        self.restarts.push(0);
        self.counter = 0;
        self.last_key.clear();
        self.entries = 0;
        out
    }
}

/// Compresses `raw` and appends block + trailer to `out`; returns the stored length
/// (without trailer).
pub(crate) fn encode_block(raw: &[u8], compression: Compression, out: &mut Vec<u8>) -> usize {
    let start = out.len();
    let mut ty = COMPRESSION_NONE;
    if let Compression::Zstd(level) = compression {
        // Keep the compressed form only when it actually saves space (>= 1/8).
        if let Ok(c) = zstd::bulk::compress(raw, level) {
            if c.len() < raw.len() - raw.len() / 8 {
                out.extend_from_slice(&c);
                ty = COMPRESSION_ZSTD;
            }
        }
    }
    if ty == COMPRESSION_NONE {
        out.extend_from_slice(raw);
    }
    let stored = out.len() - start;
    out.push(ty);
    let sum = xxhash_rust::xxh3::xxh3_64(&out[start..]) as u32;
    out.extend_from_slice(&sum.to_le_bytes());
    stored
}

/// Checks and decompresses a stored block (`stored` includes the trailer); an
/// uncompressed block is returned in place, without a copy.
pub(crate) fn decode_block(mut stored: Vec<u8>, verify: bool) -> Result<Vec<u8>, String> {
    if stored.len() < BLOCK_TRAILER {
        return Err(format!("block of {} bytes is shorter than its trailer", stored.len()));
    }
    let body_len = stored.len() - BLOCK_TRAILER;
    let ty = stored[body_len];
    if verify {
        let want = get_u32(&stored, body_len + 1).unwrap_or(0);
        let got = xxhash_rust::xxh3::xxh3_64(&stored[..=body_len]) as u32;
        if want != got {
            return Err(format!("block checksum mismatch: stored {want:#010x}, computed {got:#010x}"));
        }
    }
    match ty {
        COMPRESSION_NONE => {
            stored.truncate(body_len);
            Ok(stored)
        }
        COMPRESSION_ZSTD => {
            let body = &stored[..body_len];
            // The uncompressed size is bounded so a damaged frame header cannot ask
            // for an absurd allocation.
            let cap = zstd::zstd_safe::get_frame_content_size(body).ok().flatten().unwrap_or(0);
            if cap > (256 << 20) {
                return Err(format!("zstd block claims {cap} bytes"));
            }
            zstd::bulk::decompress(body, cap as usize).map_err(|e| format!("zstd decompression failed: {e}"))
        }
        t => Err(format!("unknown compression type {t}")),
    }
}

/// A decoded (uncompressed, validated) block.
#[derive(Debug)]
pub(crate) struct Block {
    data: Vec<u8>,
    restarts_offset: usize,
    num_restarts: usize,
}

impl Block {
    /// Validates the restart array; the entries are checked as they are decoded.
    pub(crate) fn new(data: Vec<u8>) -> Result<Block, String> {
        let n = data.len();
        let num = get_u32(&data, n.wrapping_sub(4)).ok_or_else(|| "block shorter than its restart count".to_string())? as usize;
        let need = num
            .checked_mul(4)
            .and_then(|x| x.checked_add(4))
            .filter(|&x| x <= n && num > 0)
            .ok_or_else(|| format!("block restart count {num} does not fit in {n} bytes"))?;
        let restarts_offset = n - need;
        for i in 0..num {
            let r = get_u32(&data, restarts_offset + 4 * i).unwrap_or(u32::MAX) as usize;
            if r >= restarts_offset && !(r == 0 && restarts_offset == 0) {
                return Err(format!("restart point {r} beyond entries ({restarts_offset})"));
            }
        }
        Ok(Block { data, restarts_offset, num_restarts: num })
    }

    /// Bytes held, for the cache's weigher.
    pub(crate) fn size(&self) -> usize {
        self.data.len()
    }

    fn restart(&self, i: usize) -> usize {
        get_u32(&self.data, self.restarts_offset + 4 * i).unwrap_or(0) as usize
    }
}

/// An entry header decoded at some offset.
struct Entry {
    shared: usize,
    unshared: usize,
    vlen: usize,
    /// Offset of the key delta.
    body: usize,
}

/// A cursor over one block, forward and backward.
pub(crate) struct BlockIter {
    block: Arc<Block>,
    /// Offset of the current entry; `restarts_offset` when invalid.
    cur: usize,
    /// Offset of the entry after the current one.
    next: usize,
    restart_idx: usize,
    /// Inline for typical keys: a point lookup creates two of these.
    key: SmallVec<[u8; 48]>,
    val: (usize, usize),
    corrupt: Option<String>,
}

impl BlockIter {
    pub(crate) fn new(block: Arc<Block>) -> Self {
        let end = block.restarts_offset;
        BlockIter { block, cur: end, next: end, restart_idx: 0, key: SmallVec::new(), val: (0, 0), corrupt: None }
    }

    pub(crate) fn valid(&self) -> bool {
        self.cur < self.block.restarts_offset && self.corrupt.is_none()
    }

    /// The decoding error that made the iterator stop, if any.
    pub(crate) fn corruption(&self) -> Option<&str> {
        self.corrupt.as_deref()
    }

    pub(crate) fn key(&self) -> &[u8] {
        &self.key
    }

    pub(crate) fn value(&self) -> &[u8] {
        &self.block.data[self.val.0..self.val.1]
    }

    fn entry_at(&self, p: usize) -> Option<Entry> {
        let end = self.block.restarts_offset;
        let d = self.block.data.get(p..end)?;
        let (shared, a) = get_varint(d)?;
        let (unshared, b) = get_varint(d.get(a..)?)?;
        let (vlen, c) = get_varint(d.get(a + b..)?)?;
        let body = p + a + b + c;
        let (shared, unshared, vlen) = (shared as usize, unshared as usize, vlen as usize);
        if body.checked_add(unshared)?.checked_add(vlen)? > end {
            return None;
        }
        Some(Entry { shared, unshared, vlen, body })
    }

    fn fail(&mut self, what: &str) {
        self.corrupt = Some(format!("bad block entry at offset {}: {what}", self.next));
        self.cur = self.block.restarts_offset;
    }

    /// Decodes the entry at `self.next` into the current position.
    fn parse_next(&mut self) -> bool {
        let end = self.block.restarts_offset;
        if self.next >= end {
            self.cur = end;
            return false;
        }
        let Some(e) = self.entry_at(self.next) else {
            self.fail("truncated header");
            return false;
        };
        if e.shared > self.key.len() {
            self.fail("shared prefix longer than previous key");
            return false;
        }
        self.cur = self.next;
        self.key.truncate(e.shared);
        self.key.extend_from_slice(&self.block.data[e.body..e.body + e.unshared]);
        let v = e.body + e.unshared;
        self.val = (v, v + e.vlen);
        self.next = v + e.vlen;
        while self.restart_idx + 1 < self.block.num_restarts && self.block.restart(self.restart_idx + 1) <= self.cur {
            self.restart_idx += 1;
        }
        true
    }

    fn seek_to_restart(&mut self, i: usize) {
        self.key.clear();
        self.restart_idx = i;
        self.next = self.block.restart(i);
        self.cur = self.block.restarts_offset;
    }

    /// The whole key stored at restart point `i`.
    fn restart_key(&self, i: usize) -> Option<&[u8]> {
        let e = self.entry_at(self.block.restart(i))?;
        if e.shared != 0 {
            return None;
        }
        self.block.data.get(e.body..e.body + e.unshared)
    }

    pub(crate) fn seek_to_first(&mut self) {
        if self.corrupt.is_some() {
            return;
        }
        self.seek_to_restart(0);
        self.parse_next();
    }

    pub(crate) fn seek_to_last(&mut self) {
        if self.corrupt.is_some() {
            return;
        }
        self.seek_to_restart(self.block.num_restarts - 1);
        while self.parse_next() && self.next < self.block.restarts_offset {}
    }

    /// Positions at the first entry `>= target` (internal-key order).
    pub(crate) fn seek(&mut self, target: &[u8]) {
        if self.corrupt.is_some() {
            return;
        }
        // Binary search for the last restart point whose key is < target.
        let (mut lo, mut hi) = (0usize, self.block.num_restarts - 1);
        while lo < hi {
            let mid = (lo + hi).div_ceil(2);
            match self.restart_key(mid) {
                Some(k) => {
                    if key::compare(k, target) == Ordering::Less {
                        lo = mid;
                    } else {
                        hi = mid - 1;
                    }
                }
                None => {
                    self.next = self.block.restart(mid);
                    self.fail("restart entry is not a whole key");
                    return;
                }
            }
        }
        self.seek_to_restart(lo);
        while self.parse_next() {
            if key::compare(&self.key, target) != Ordering::Less {
                return;
            }
        }
    }

    pub(crate) fn next(&mut self) {
        if self.valid() {
            self.parse_next();
        }
    }

    pub(crate) fn prev(&mut self) {
        if !self.valid() {
            return;
        }
        let original = self.cur;
        while self.block.restart(self.restart_idx) >= original {
            if self.restart_idx == 0 {
                self.cur = self.block.restarts_offset;
                self.next = self.cur;
                return;
            }
            self.restart_idx -= 1;
        }
        self.seek_to_restart(self.restart_idx);
        while self.parse_next() && self.next < original {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::lsm::key::make_internal;

    fn build(n: usize, interval: usize) -> (Arc<Block>, Vec<Vec<u8>>) {
        let mut b = BlockBuilder::new(interval);
        let mut keys = Vec::new();
        for i in 0..n {
            let k = make_internal(format!("key{i:05}").as_bytes(), 7, 1);
            b.add(&k, format!("v{i}").as_bytes());
            keys.push(k);
        }
        let raw = b.finish();
        let mut stored = Vec::new();
        encode_block(&raw, Compression::Zstd(1), &mut stored);
        let back = decode_block(stored, true).unwrap();
        assert_eq!(back, raw);
        (Arc::new(Block::new(back).unwrap()), keys)
    }

    #[test]
    fn round_trip_forward_backward_and_seek() {
        for interval in [1, 3, 16] {
            let (blk, keys) = build(200, interval);
            let mut it = BlockIter::new(blk.clone());
            it.seek_to_first();
            for (i, k) in keys.iter().enumerate() {
                assert!(it.valid());
                assert_eq!(it.key(), &k[..]);
                assert_eq!(it.value(), format!("v{i}").as_bytes());
                it.next();
            }
            assert!(!it.valid());
            it.seek_to_last();
            for k in keys.iter().rev() {
                assert_eq!(it.key(), &k[..]);
                it.prev();
            }
            assert!(!it.valid());
            for (i, k) in keys.iter().enumerate() {
                it.seek(k);
                assert_eq!(it.key(), &k[..], "seek {i}");
            }
            it.seek(&make_internal(b"key00010x", 7, 1));
            assert_eq!(it.key(), &keys[11][..]);
            it.seek(&make_internal(b"zzz", 7, 1));
            assert!(!it.valid());
        }
    }

    #[test]
    fn flipped_byte_is_detected() {
        let mut b = BlockBuilder::new(16);
        b.add(&make_internal(b"a", 1, 1), b"value");
        let raw = b.finish();
        let mut stored = Vec::new();
        encode_block(&raw, Compression::None, &mut stored);
        stored[2] ^= 0x40;
        assert!(decode_block(stored, true).is_err());
    }
}
