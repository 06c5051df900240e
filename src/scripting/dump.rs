//! FUNCTION DUMP / RESTORE payloads in Redis's format, so a dump taken from Redis restores here
//! and the other way round: per library an `RDB_OPCODE_FUNCTION2` byte and the code as an RDB
//! string (LZF-compressed strings are read, never written), then the RDB version (2 bytes, little
//! endian) and a CRC64 (Jones polynomial, as Redis) of everything before it.

const OPCODE_FUNCTION2: u8 = 245;
/// Redis 7.0's RDB format version.
const RDB_VERSION: u16 = 10;
/// The highest RDB version a payload may carry and still be read.
const MAX_RDB_VERSION: u16 = 11;

pub fn encode(codes: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for code in codes {
        out.push(OPCODE_FUNCTION2);
        write_length(&mut out, code.len());
        out.extend_from_slice(code);
    }
    out.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = crc64(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// The library codes of a payload; `None` when the version or checksum is wrong or it is malformed.
pub fn decode(payload: &[u8]) -> Option<Vec<Vec<u8>>> {
    let body_len = payload.len().checked_sub(10)?;
    let (body, trailer) = payload.split_at(body_len);
    let version = u16::from_le_bytes([trailer[0], trailer[1]]);
    let crc = u64::from_le_bytes(trailer[2..10].try_into().ok()?);
    if version > MAX_RDB_VERSION || crc64(&payload[..body_len + 2]) != crc {
        return None;
    }
    let mut codes = Vec::new();
    let mut at = 0;
    while at < body.len() {
        if body[at] != OPCODE_FUNCTION2 {
            return None;
        }
        at += 1;
        let (code, used) = read_string(&body[at..])?;
        codes.push(code);
        at += used;
    }
    Some(codes)
}

fn write_length(out: &mut Vec<u8>, len: usize) {
    if len < 1 << 6 {
        out.push(len as u8);
    } else if len < 1 << 14 {
        out.extend_from_slice(&[0x40 | (len >> 8) as u8, len as u8]);
    } else if let Ok(len) = u32::try_from(len) {
        out.push(0x80);
        out.extend_from_slice(&len.to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
}

/// An RDB length: the value, whether it is a special encoding, and the bytes used.
fn read_length(data: &[u8]) -> Option<(u64, bool, usize)> {
    let first = *data.first()?;
    match first >> 6 {
        0 => Some((u64::from(first & 0x3f), false, 1)),
        1 => Some((u64::from(first & 0x3f) << 8 | u64::from(*data.get(1)?), false, 2)),
        2 if first == 0x80 => Some((u64::from(u32::from_be_bytes(data.get(1..5)?.try_into().ok()?)), false, 5)),
        2 if first == 0x81 => Some((u64::from_be_bytes(data.get(1..9)?.try_into().ok()?), false, 9)),
        3 => Some((u64::from(first & 0x3f), true, 1)),
        _ => None,
    }
}

/// An RDB string (plain or LZF-compressed) and the bytes it took.
fn read_string(data: &[u8]) -> Option<(Vec<u8>, usize)> {
    const ENCODING_LZF: u64 = 3;
    let (len, special, mut at) = read_length(data)?;
    if !special {
        let len = usize::try_from(len).ok()?;
        let bytes = data.get(at..at.checked_add(len)?)?;
        return Some((bytes.to_vec(), at + len));
    }
    if len != ENCODING_LZF {
        return None;
    }
    let (compressed_len, _, used) = read_length(&data[at..])?;
    at += used;
    let (plain_len, _, used) = read_length(&data[at..])?;
    at += used;
    let compressed_len = usize::try_from(compressed_len).ok()?;
    let compressed = data.get(at..at.checked_add(compressed_len)?)?;
    let plain = lzf_decompress(compressed, usize::try_from(plain_len).ok()?)?;
    Some((plain, at + compressed_len))
}

/// LZF decompression (liblzf's format, which Redis uses for RDB strings).
fn lzf_decompress(input: &[u8], expected: usize) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(expected);
    let mut at = 0;
    while at < input.len() {
        let control = usize::from(input[at]);
        at += 1;
        if control < 32 {
            let literal = input.get(at..at + control + 1)?;
            out.extend_from_slice(literal);
            at += control + 1;
        } else {
            let mut len = control >> 5;
            if len == 7 {
                len += usize::from(*input.get(at)?);
                at += 1;
            }
            let offset = ((control & 0x1f) << 8) + usize::from(*input.get(at)?) + 1;
            at += 1;
            let start = out.len().checked_sub(offset)?;
            // Byte by byte: a back-reference may overlap what it produces.
            for i in 0..len + 2 {
                let byte = out[start + i];
                out.push(byte);
            }
        }
    }
    (out.len() == expected).then_some(out)
}

/// Redis's CRC64 (Jones polynomial, reflected, no final xor).
fn crc64(data: &[u8]) -> u64 {
    const POLY: u64 = 0x95ac_9329_ac4b_c9b5;
    let mut crc = 0u64;
    for &byte in data {
        crc ^= u64::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ POLY } else { crc >> 1 };
        }
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc64_matches_redis() {
        // The check value from Redis's crc64.c.
        assert_eq!(crc64(b"123456789"), 0xe9c6_d914_c4b8_d9ca);
    }

    #[test]
    fn round_trip_and_damage() {
        let payload = encode(&[b"#!lua name=a\nx", &[b'y'; 300]]);
        assert_eq!(decode(&payload), Some(vec![b"#!lua name=a\nx".to_vec(), vec![b'y'; 300]]));
        let mut damaged = payload.clone();
        damaged[3] ^= 1;
        assert_eq!(decode(&damaged), None);
        assert_eq!(decode(b"short"), None);
    }

    #[test]
    fn lzf_back_references() {
        // "abcabcabc": a 3-byte literal, then a 6-byte back-reference at offset 3.
        assert_eq!(lzf_decompress(&[2, b'a', b'b', b'c', 0x80, 2], 9), Some(b"abcabcabc".to_vec()));
    }
}
