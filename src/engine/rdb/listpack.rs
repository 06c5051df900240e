//! Redis's listpack, the packed encoding inside RDB values of small hashes and sorted sets, list
//! nodes and stream nodes.
//!
//! ```text
//! total bytes u32 LE | count u16 LE (65535: unknown) | entries | 0xFF
//! entry = encoding (+ data) | back-length (the entry's size, 1-5 bytes, for walking backwards)
//! ```
//! Integers take 1 to 9 bytes (7-bit unsigned, 13, 16, 24, 32, 64-bit signed); strings carry a 6,
//! 12 or 32-bit length. As Redis does, a string that is the canonical form of an integer is stored
//! as that integer.

use std::borrow::Cow;

use super::RdbError;
use crate::num::parse_i64;

/// One listpack entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Item<'a> {
    Bytes(&'a [u8]),
    Int(i64),
}

impl<'a> Item<'a> {
    /// The entry as a string: integers in decimal.
    pub fn to_bytes(self) -> Cow<'a, [u8]> {
        match self {
            Item::Bytes(bytes) => Cow::Borrowed(bytes),
            Item::Int(n) => Cow::Owned(itoa::Buffer::new().format(n).as_bytes().to_vec()),
        }
    }

    /// The entry as an integer: integer entries, and strings that are canonical integers.
    pub fn to_int(self) -> Option<i64> {
        match self {
            Item::Int(n) => Some(n),
            Item::Bytes(bytes) => parse_i64(bytes),
        }
    }
}

const HEADER: usize = 6;
const END: u8 = 0xFF;
/// The count field's "too many to count" value.
const UNKNOWN_COUNT: u16 = u16::MAX;

/// Builds a listpack.
pub struct Writer {
    buf: Vec<u8>,
    count: usize,
}

impl Default for Writer {
    fn default() -> Writer {
        Writer::new()
    }
}

impl Writer {
    pub fn new() -> Writer {
        Writer { buf: vec![0; HEADER], count: 0 }
    }

    /// Bytes so far (without the end byte).
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn count(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Appends a string, as an integer entry when it is a canonical integer (Redis's `lpAppend`).
    pub fn push(&mut self, item: &[u8]) {
        match parse_i64(item) {
            Some(n) => self.push_int(n),
            None => self.push_bytes(item),
        }
    }

    /// Appends a string entry.
    pub fn push_bytes(&mut self, item: &[u8]) {
        let start = self.buf.len();
        let len = item.len();
        if len < 64 {
            self.buf.push(0x80 | len as u8);
        } else if len < 4096 {
            self.buf.extend_from_slice(&[0xE0 | (len >> 8) as u8, len as u8]);
        } else {
            self.buf.push(0xF0);
            self.buf.extend_from_slice(&(len as u32).to_le_bytes());
        }
        self.buf.extend_from_slice(item);
        self.close_entry(start);
    }

    /// Appends an integer entry in its smallest encoding.
    pub fn push_int(&mut self, n: i64) {
        let start = self.buf.len();
        if (0..=127).contains(&n) {
            self.buf.push(n as u8);
        } else if (-4096..=4095).contains(&n) {
            let bits = (n as u64 & 0x1fff) as u16;
            self.buf.extend_from_slice(&[0xC0 | (bits >> 8) as u8, bits as u8]);
        } else if let Ok(n) = i16::try_from(n) {
            self.buf.push(0xF1);
            self.buf.extend_from_slice(&n.to_le_bytes());
        } else if (-(1 << 23)..(1 << 23)).contains(&n) {
            self.buf.push(0xF2);
            self.buf.extend_from_slice(&n.to_le_bytes()[..3]);
        } else if let Ok(n) = i32::try_from(n) {
            self.buf.push(0xF3);
            self.buf.extend_from_slice(&n.to_le_bytes());
        } else {
            self.buf.push(0xF4);
            self.buf.extend_from_slice(&n.to_le_bytes());
        }
        self.close_entry(start);
    }

    /// Writes the back-length of the entry that started at `start`.
    fn close_entry(&mut self, start: usize) {
        let size = self.buf.len() - start;
        let mut groups = [0u8; 5];
        let mut used = 0;
        let mut rest = size;
        loop {
            groups[used] = (rest & 127) as u8;
            used += 1;
            rest >>= 7;
            if rest == 0 {
                break;
            }
        }
        // Most significant group first; every byte but the first has the high bit set.
        for i in (0..used).rev() {
            let byte = groups[i] | if i == used - 1 { 0 } else { 128 };
            self.buf.push(byte);
        }
        self.count += 1;
    }

    /// The finished listpack.
    pub fn finish(mut self) -> Vec<u8> {
        self.buf.push(END);
        let total = self.buf.len() as u32;
        self.buf[..4].copy_from_slice(&total.to_le_bytes());
        let count = u16::try_from(self.count).unwrap_or(UNKNOWN_COUNT);
        self.buf[4..6].copy_from_slice(&count.to_le_bytes());
        self.buf
    }
}

fn malformed(what: &'static str) -> RdbError {
    RdbError::Malformed(what)
}

/// The entries of a listpack, checked from header to end byte.
pub fn read(lp: &[u8]) -> Result<Vec<Item<'_>>, RdbError> {
    if lp.len() < HEADER + 1 {
        return Err(malformed("listpack shorter than its header"));
    }
    let total = u32::from_le_bytes([lp[0], lp[1], lp[2], lp[3]]) as usize;
    let count = u16::from_le_bytes([lp[4], lp[5]]);
    if total != lp.len() || lp[lp.len() - 1] != END {
        return Err(malformed("listpack size or end byte"));
    }
    let body = &lp[HEADER..lp.len() - 1];
    // Every entry takes at least 2 bytes (encoding and back-length).
    let mut items = Vec::with_capacity(body.len() / 2);
    let mut at = 0;
    while at < body.len() {
        let (item, size) = entry(&body[at..])?;
        items.push(item);
        at += size + backlen_size(size);
        if at > body.len() {
            return Err(malformed("listpack entry past the end"));
        }
    }
    if count != UNKNOWN_COUNT && usize::from(count) != items.len() {
        return Err(malformed("listpack count"));
    }
    Ok(items)
}

/// Bytes of the back-length of an entry of `size` bytes.
fn backlen_size(size: usize) -> usize {
    match size {
        0..=127 => 1,
        128..=16_382 => 2,
        16_383..=2_097_150 => 3,
        2_097_151..=268_435_454 => 4,
        _ => 5,
    }
}

/// The entry at the start of `data` and its size without the back-length.
fn entry(data: &[u8]) -> Result<(Item<'_>, usize), RdbError> {
    let get = |range: std::ops::Range<usize>| data.get(range).ok_or(RdbError::Truncated);
    let first = data[0];
    let int = |bytes: &[u8]| {
        let mut raw = [0u8; 8];
        raw[..bytes.len()].copy_from_slice(bytes);
        // Sign-extend from the entry's width.
        let shift = 64 - 8 * bytes.len() as u32;
        (i64::from_le_bytes(raw) << shift) >> shift
    };
    Ok(match first {
        0x00..=0x7F => (Item::Int(i64::from(first)), 1),
        0x80..=0xBF => {
            let len = usize::from(first & 0x3F);
            (Item::Bytes(get(1..1 + len)?), 1 + len)
        }
        0xC0..=0xDF => {
            let raw = i64::from(first & 0x1F) << 8 | i64::from(*data.get(1).ok_or(RdbError::Truncated)?);
            ((Item::Int((raw << 51) >> 51)), 2)
        }
        0xE0..=0xEF => {
            let len = usize::from(first & 0x0F) << 8 | usize::from(*data.get(1).ok_or(RdbError::Truncated)?);
            (Item::Bytes(get(2..2 + len)?), 2 + len)
        }
        0xF0 => {
            let raw = get(1..5)?;
            let len = u32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]) as usize;
            (Item::Bytes(get(5..5usize.checked_add(len).ok_or(RdbError::Truncated)?)?), 5 + len)
        }
        0xF1 => (Item::Int(int(get(1..3)?)), 3),
        0xF2 => (Item::Int(int(get(1..4)?)), 4),
        0xF3 => (Item::Int(int(get(1..5)?)), 5),
        0xF4 => (Item::Int(int(get(1..9)?)), 9),
        _ => return Err(malformed("listpack entry encoding")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_encoding() {
        let big = vec![b'z'; 5000];
        let mid = vec![b'y'; 300];
        let ints = [0i64, 127, 128, -1, -4096, 4095, 4096, -32768, 32767, 1 << 23, -(1 << 23), i32::MAX as i64, i64::MIN, i64::MAX];
        let mut writer = Writer::new();
        for n in ints {
            writer.push(n.to_string().as_bytes());
        }
        writer.push(b"a");
        writer.push(&mid);
        writer.push(&big);
        writer.push(b"007");
        let lp = writer.finish();
        let items = read(&lp).unwrap();
        let mut expected: Vec<Item> = ints.iter().map(|n| Item::Int(*n)).collect();
        expected.extend([Item::Bytes(b"a"), Item::Bytes(&mid), Item::Bytes(&big), Item::Bytes(b"007")]);
        assert_eq!(items, expected);
    }

    #[test]
    fn matches_redis_bytes() {
        // What Redis 7.0 builds for RPUSH l a 1 (taken from a DUMP).
        let mut writer = Writer::new();
        writer.push(b"a");
        writer.push(b"1");
        assert_eq!(writer.finish(), vec![12, 0, 0, 0, 2, 0, 0x81, b'a', 2, 1, 1, 0xFF]);
    }

    #[test]
    fn refuses_damage() {
        assert!(read(&[]).is_err());
        assert!(read(&[7, 0, 0, 0, 0, 0, 0xFF]).is_ok());
        assert!(read(&[9, 0, 0, 0, 1, 0, 0x85, 1, 0xFF]).is_err());
        assert!(read(&[9, 0, 0, 0, 1, 0, 0xF5, 1, 0xFF]).is_err());
    }
}
