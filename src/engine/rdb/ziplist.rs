//! The older packed encodings an RDB file may still hold: ziplists (lists, hashes and sorted sets
//! before Redis 7.0), zipmaps (hashes before 2.6), and intsets (sets of integers, which Redis 7.0
//! still writes).

use super::listpack::Item;
use super::RdbError;

fn malformed(what: &'static str) -> RdbError {
    RdbError::Malformed(what)
}

/// The entries of a ziplist:
/// `bytes u32 LE | tail u32 LE | count u16 LE | entries | 0xFF`, each entry
/// `previous length (1 or 5 bytes) | encoding (+ length) | data`.
pub fn read(zl: &[u8]) -> Result<Vec<Item<'_>>, RdbError> {
    const HEADER: usize = 10;
    if zl.len() < HEADER + 1 || u32::from_le_bytes([zl[0], zl[1], zl[2], zl[3]]) as usize != zl.len() || zl[zl.len() - 1] != 0xFF {
        return Err(malformed("ziplist header"));
    }
    let body = &zl[HEADER..zl.len() - 1];
    let get = |range: std::ops::Range<usize>| body.get(range).ok_or(RdbError::Truncated);
    let mut items = Vec::with_capacity(body.len() / 2);
    let mut at = 0;
    while at < body.len() {
        at += match body[at] {
            0xFE => 5,
            0xFF => return Err(malformed("ziplist end byte inside")),
            _ => 1,
        };
        let encoding = *body.get(at).ok_or(RdbError::Truncated)?;
        at += 1;
        let int = |bytes: &[u8]| {
            let mut raw = [0u8; 8];
            raw[..bytes.len()].copy_from_slice(bytes);
            let shift = 64 - 8 * bytes.len() as u32;
            (i64::from_le_bytes(raw) << shift) >> shift
        };
        let (item, used) = match encoding >> 6 {
            0 => {
                let len = usize::from(encoding & 0x3F);
                (Item::Bytes(get(at..at + len)?), len)
            }
            1 => {
                let len = usize::from(encoding & 0x3F) << 8 | usize::from(*body.get(at).ok_or(RdbError::Truncated)?);
                (Item::Bytes(get(at + 1..at + 1 + len)?), 1 + len)
            }
            2 => {
                let raw = get(at..at + 4)?;
                let len = u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]) as usize;
                (Item::Bytes(get(at + 4..(at + 4).checked_add(len).ok_or(RdbError::Truncated)?)?), 4 + len)
            }
            _ => match encoding {
                0xC0 => (Item::Int(int(get(at..at + 2)?)), 2),
                0xD0 => (Item::Int(int(get(at..at + 4)?)), 4),
                0xE0 => (Item::Int(int(get(at..at + 8)?)), 8),
                0xF0 => (Item::Int(int(get(at..at + 3)?)), 3),
                0xFE => (Item::Int(int(get(at..at + 1)?)), 1),
                0xF1..=0xFD => (Item::Int(i64::from(encoding & 0x0F) - 1), 0),
                _ => return Err(malformed("ziplist entry encoding")),
            },
        };
        items.push(item);
        at += used;
    }
    Ok(items)
}

/// The members of an intset: `width u32 LE (2, 4 or 8) | count u32 LE | members LE`, sorted.
pub fn read_intset(data: &[u8]) -> Result<Vec<i64>, RdbError> {
    let header = data.get(..8).ok_or(RdbError::Truncated)?;
    let width = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let count = u32::from_le_bytes([header[4], header[5], header[6], header[7]]) as usize;
    if !matches!(width, 2 | 4 | 8) || count.checked_mul(width) != Some(data.len() - 8) {
        return Err(malformed("intset header"));
    }
    let members: Vec<i64> = data[8..]
        .chunks_exact(width)
        .map(|raw| match width {
            2 => i64::from(i16::from_le_bytes([raw[0], raw[1]])),
            4 => i64::from(i32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]])),
            _ => i64::from_le_bytes([raw[0], raw[1], raw[2], raw[3], raw[4], raw[5], raw[6], raw[7]]),
        })
        .collect();
    if members.windows(2).any(|pair| pair[0] >= pair[1]) {
        return Err(malformed("intset out of order"));
    }
    Ok(members)
}

/// Writes an intset of sorted, distinct members in the narrowest width that holds them all.
pub fn write_intset(members: &[i64]) -> Vec<u8> {
    let width: usize = if members.iter().all(|n| i16::try_from(*n).is_ok()) {
        2
    } else if members.iter().all(|n| i32::try_from(*n).is_ok()) {
        4
    } else {
        8
    };
    let mut out = Vec::with_capacity(8 + width * members.len());
    out.extend_from_slice(&(width as u32).to_le_bytes());
    out.extend_from_slice(&(members.len() as u32).to_le_bytes());
    for n in members {
        out.extend_from_slice(&n.to_le_bytes()[..width]);
    }
    out
}

/// A hash field and its value.
pub type Pair<'a> = (&'a [u8], &'a [u8]);

/// The field/value pairs of a zipmap:
/// `count u8 | (length | field | length | free u8 | value | free bytes)* | 0xFF`, a length being
/// one byte below 254 or 254 and a u32 LE.
pub fn read_zipmap(data: &[u8]) -> Result<Vec<Pair<'_>>, RdbError> {
    let mut at = 1;
    let mut pairs = Vec::new();
    let length = |at: &mut usize| -> Result<usize, RdbError> {
        let first = *data.get(*at).ok_or(RdbError::Truncated)?;
        *at += 1;
        match first {
            0..=253 => Ok(usize::from(first)),
            254 => {
                let raw = data.get(*at..*at + 4).ok_or(RdbError::Truncated)?;
                *at += 4;
                Ok(u32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]) as usize)
            }
            _ => Err(malformed("zipmap length")),
        }
    };
    loop {
        match data.get(at) {
            None => return Err(RdbError::Truncated),
            Some(0xFF) if at + 1 == data.len() => return Ok(pairs),
            Some(_) => {}
        }
        let len = length(&mut at)?;
        let field = data.get(at..at.checked_add(len).ok_or(RdbError::Truncated)?).ok_or(RdbError::Truncated)?;
        at += len;
        let len = length(&mut at)?;
        let free = usize::from(*data.get(at).ok_or(RdbError::Truncated)?);
        at += 1;
        let value = data.get(at..at.checked_add(len).ok_or(RdbError::Truncated)?).ok_or(RdbError::Truncated)?;
        at += len + free;
        pairs.push((field, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intsets_round_trip_in_the_narrowest_width() {
        for members in [vec![1i64, 2, 3], vec![-70_000, 5], vec![i64::MIN, 0, i64::MAX], vec![]] {
            let encoded = write_intset(&members);
            assert_eq!(read_intset(&encoded).unwrap(), members);
        }
        assert_eq!(write_intset(&[1, 2]).len(), 8 + 4);
        assert!(read_intset(&[2, 0, 0, 0, 2, 0, 0, 0, 1, 0]).is_err());
    }

    #[test]
    fn reads_a_ziplist() {
        // "ab", 5 (immediate), 1000 (int16), 2^40 (int64).
        let mut zl = vec![0u8; 10];
        zl.extend_from_slice(&[0, 0x02, b'a', b'b']);
        zl.extend_from_slice(&[4, 0xF6]);
        zl.extend_from_slice(&[2, 0xC0, 0xE8, 0x03]);
        zl.push(4);
        zl.push(0xE0);
        zl.extend_from_slice(&(1i64 << 40).to_le_bytes());
        zl.push(0xFF);
        let len = zl.len() as u32;
        zl[..4].copy_from_slice(&len.to_le_bytes());
        assert_eq!(read(&zl).unwrap(), vec![Item::Bytes(b"ab"), Item::Int(5), Item::Int(1000), Item::Int(1 << 40)]);
    }

    #[test]
    fn reads_a_zipmap() {
        let zm = [1, 1, b'f', 2, 1, b'v', b'w', 0, 0xFF];
        assert_eq!(read_zipmap(&zm).unwrap(), vec![(&b"f"[..], &b"vw"[..])]);
        assert!(read_zipmap(&zm[..6]).is_err());
    }
}
