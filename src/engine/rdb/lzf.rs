//! LZF (liblzf's format), which Redis uses for RDB strings longer than 20 bytes.
//!
//! A stream of runs: a control byte below 32 is a literal run of `control + 1` bytes; above, its
//! top 3 bits are a back-reference length (7 = "add the next byte"), minus 2, and its low 5 bits
//! with the next byte are the distance back, minus 1. Hand-written rather than the `lzf` crate,
//! which is deprecated and uses `unsafe` on input that here comes from the network.

/// The longest distance a back-reference can reach (13 bits).
const MAX_DISTANCE: usize = 1 << 13;
/// The longest back-reference: 7 + 255 in the length fields, plus the implied 2.
const MAX_MATCH: usize = 264;
/// The longest literal run.
const MAX_LITERAL: usize = 32;
/// No LZF stream expands more than this (3 input bytes give at most 264 output bytes), so a
/// claimed length past it is refused before anything is allocated.
const MAX_RATIO: usize = 88;
/// The longest string decompressed: Redis's largest string (512 MiB), so a small payload cannot
/// claim gigabytes.
const MAX_OUTPUT: usize = 512 << 20;
/// The largest hash table: 16K positions, as liblzf's default.
const HASH_BITS: u32 = 14;

/// `input` compressed, or `None` when the result would not be shorter than `limit` bytes (Redis
/// stores the string plain then).
pub fn compress(input: &[u8], limit: usize) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(limit);
    // Positions (plus one; 0 = empty) of the last 3-byte sequences seen, by hash. Sized to the
    // input: a snapshot compresses millions of short strings, and zeroing a full table for each
    // would cost more than compressing them.
    let bits = (input.len().next_power_of_two().trailing_zeros()).clamp(4, HASH_BITS);
    let mut table = vec![0usize; 1 << bits];
    let mut literal_at = 0;
    let mut literals = 0;
    out.push(0);
    let mut at = 0;
    while at < input.len() {
        if out.len() >= limit {
            return None;
        }
        if let Some(window) = input.get(at..at + 3) {
            let hash =
                (u32::from(window[0]) << 16 | u32::from(window[1]) << 8 | u32::from(window[2])).wrapping_mul(2_654_435_761) >> (32 - bits);
            let candidate = std::mem::replace(&mut table[hash as usize], at + 1);
            if let Some(from) = candidate.checked_sub(1) {
                let distance = at - from;
                if distance <= MAX_DISTANCE && input[from..from + 3] == *window {
                    let longest = MAX_MATCH.min(input.len() - at);
                    let mut len = 3;
                    while len < longest && input[from + len] == input[at + len] {
                        len += 1;
                    }
                    close_literals(&mut out, literal_at, literals);
                    let (code, back) = (len - 2, distance - 1);
                    if code < 7 {
                        out.push((code << 5 | back >> 8) as u8);
                    } else {
                        out.push((7 << 5 | back >> 8) as u8);
                        out.push((code - 7) as u8);
                    }
                    out.push(back as u8);
                    at += len;
                    literal_at = out.len();
                    literals = 0;
                    out.push(0);
                    continue;
                }
            }
        }
        out.push(input[at]);
        literals += 1;
        at += 1;
        if literals == MAX_LITERAL {
            close_literals(&mut out, literal_at, literals);
            literal_at = out.len();
            literals = 0;
            out.push(0);
        }
    }
    close_literals(&mut out, literal_at, literals);
    (out.len() < limit).then_some(out)
}

/// Ends the literal run whose control byte is at `at`: sets its count, or drops the placeholder
/// when the run is empty (it must then be the last byte).
fn close_literals(out: &mut Vec<u8>, at: usize, count: usize) {
    if count == 0 {
        out.truncate(at);
    } else {
        out[at] = (count - 1) as u8;
    }
}

/// Decompresses `input`, which must produce exactly `expected` bytes; `None` otherwise.
pub fn decompress(input: &[u8], expected: usize) -> Option<Vec<u8>> {
    if expected > input.len().saturating_mul(MAX_RATIO) || expected > MAX_OUTPUT {
        return None;
    }
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
            for i in start..start + len + 2 {
                let byte = out[i];
                out.push(byte);
            }
        }
        if out.len() > expected {
            return None;
        }
    }
    (out.len() == expected).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_references() {
        // "abcabcabc": a 3-byte literal, then a 6-byte back-reference at distance 3.
        assert_eq!(decompress(&[2, b'a', b'b', b'c', 0x80, 2], 9), Some(b"abcabcabc".to_vec()));
    }

    #[test]
    fn round_trips() {
        let mut seed = 7u64;
        let mut inputs: Vec<Vec<u8>> = vec![vec![b'x'; 10_000], b"hello hello hello hello hello".to_vec(), (0..=255).collect()];
        for n in [1, 40, 300, 5000, 70_000] {
            let text: Vec<u8> = (0..n)
                .map(|_| {
                    seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    b"abcd"[(seed >> 62) as usize]
                })
                .collect();
            inputs.push(text);
        }
        for input in inputs {
            if let Some(packed) = compress(&input, input.len()) {
                assert!(packed.len() < input.len());
                assert_eq!(decompress(&packed, input.len()).as_deref(), Some(&input[..]));
            }
        }
        assert!(compress(&[b'a'; 1000], 1000).is_some_and(|p| p.len() < 30));
    }

    #[test]
    fn refuses_damage() {
        assert_eq!(decompress(&[0x20, 0], 3), None);
        assert_eq!(decompress(&[5, 1], 6), None);
        assert_eq!(decompress(&[0, 1], 1 << 40), None);
    }
}
