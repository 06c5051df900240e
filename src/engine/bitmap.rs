//! Bit-level operations on string bytes, in Redis's bit order: bit 0 is the most significant bit of
//! the first byte. Used by the bitmap commands (SETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD); knows
//! nothing of keys or replies.

/// How BITFIELD treats a result that does not fit its type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overflow {
    /// Keep the low bits (two's complement for signed types).
    Wrap,
    /// Clamp to the type's minimum or maximum.
    Sat,
    /// Leave the field unchanged and answer nil.
    Fail,
}

/// BITOP's operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BitOp {
    And,
    Or,
    Xor,
    Not,
}

/// The number of set bits in `bytes`, eight bytes per step.
pub fn popcount(bytes: &[u8]) -> u64 {
    let (words, rest) = bytes.as_chunks::<8>();
    let whole: u64 = words.iter().map(|w| u64::from(u64::from_ne_bytes(*w).count_ones())).sum();
    whole + rest.iter().map(|b| u64::from(b.count_ones())).sum::<u64>()
}

/// The set bits of `bytes` between bit positions `first` and `last` (inclusive; `last` must be
/// inside `bytes`).
pub fn popcount_bits(bytes: &[u8], first: u64, last: u64) -> u64 {
    let (first_byte, last_byte) = ((first / 8) as usize, (last / 8) as usize);
    let count = popcount(&bytes[first_byte..=last_byte]);
    // Bits of the edge bytes that lie outside the range were counted too.
    let before = bytes[first_byte] & !(0xffu8 >> (first % 8));
    let after = bytes[last_byte] & !(0xffu8 << (7 - last % 8));
    count - u64::from(before.count_ones()) - u64::from(after.count_ones())
}

/// The position of the first bit equal to `bit` between positions `first` and `last` (inclusive;
/// `last` must be inside `bytes`).
pub fn find_bit(bytes: &[u8], bit: bool, first: u64, last: u64) -> Option<u64> {
    // Searching for a 0 is searching for a 1 in the complement.
    let norm = |byte: u8| if bit { byte } else { !byte };
    let (first_byte, last_byte) = ((first / 8) as usize, (last / 8) as usize);
    let head_mask = 0xffu8 >> (first % 8);
    let tail_mask = 0xffu8 << (7 - last % 8);
    let found = |index: usize, byte: u8| Some(index as u64 * 8 + u64::from(byte.leading_zeros()));
    if first_byte == last_byte {
        let byte = norm(bytes[first_byte]) & head_mask & tail_mask;
        return if byte == 0 { None } else { found(first_byte, byte) };
    }
    let head = norm(bytes[first_byte]) & head_mask;
    if head != 0 {
        return found(first_byte, head);
    }
    let middle = &bytes[first_byte + 1..last_byte];
    let (words, rest) = middle.as_chunks::<8>();
    // Big-endian words keep Redis's bit order, so leading_zeros is the offset inside the word.
    let boring = if bit { 0 } else { u64::MAX };
    if let Some(i) = words.iter().position(|w| u64::from_be_bytes(*w) != boring) {
        let word = u64::from_be_bytes(words[i]);
        let word = if bit { word } else { !word };
        return Some((first_byte + 1 + i * 8) as u64 * 8 + u64::from(word.leading_zeros()));
    }
    let rest_start = first_byte + 1 + words.len() * 8;
    if let Some(i) = rest.iter().position(|b| norm(*b) != 0) {
        return found(rest_start + i, norm(rest[i]));
    }
    let tail = norm(bytes[last_byte]) & tail_mask;
    if tail == 0 {
        None
    } else {
        found(last_byte, tail)
    }
}

/// Folds one BITOP source into `out`, which is as long as the longest source: the first source is
/// copied (inverted for NOT, which has no other), later ones combined; bytes past the end of a
/// source count as zeros.
pub fn bitop_step(op: BitOp, out: &mut [u8], first: bool, source: &[u8]) {
    // Byte loops over zipped slices: the compiler turns them into vector instructions, so these run
    // many bytes per instruction without hand-written word handling.
    if first {
        out[..source.len()].copy_from_slice(source);
        out[source.len()..].fill(0);
        if op == BitOp::Not {
            out.iter_mut().for_each(|b| *b = !*b);
        }
        return;
    }
    match op {
        BitOp::And => {
            out.iter_mut().zip(source).for_each(|(o, s)| *o &= s);
            out[source.len()..].fill(0);
        }
        BitOp::Or => out.iter_mut().zip(source).for_each(|(o, s)| *o |= s),
        BitOp::Xor => out.iter_mut().zip(source).for_each(|(o, s)| *o ^= s),
        BitOp::Not => {}
    }
}

/// The `bits`-wide unsigned field at bit `offset`; bits past the end of `bytes` read as 0.
pub fn get_unsigned(bytes: &[u8], offset: u64, bits: u32) -> u64 {
    let mut value = 0u64;
    for position in offset..offset + u64::from(bits) {
        let byte = usize::try_from(position / 8).ok().and_then(|i| bytes.get(i)).copied().unwrap_or(0);
        value = (value << 1) | u64::from((byte >> (7 - position % 8)) & 1);
    }
    value
}

/// The `bits`-wide two's complement field at bit `offset`.
pub fn get_signed(bytes: &[u8], offset: u64, bits: u32) -> i64 {
    let value = get_unsigned(bytes, offset, bits);
    if bits < 64 && value & (1 << (bits - 1)) != 0 {
        (value | (u64::MAX << bits)) as i64
    } else {
        value as i64
    }
}

/// Writes the low `bits` bits of `value` at bit `offset`; `bytes` must cover the field.
pub fn set_field(bytes: &mut [u8], offset: u64, bits: u32, value: u64) {
    for i in 0..u64::from(bits) {
        let position = offset + i;
        let (byte, shift) = ((position / 8) as usize, 7 - position % 8);
        let bit = ((value >> (u64::from(bits) - 1 - i)) & 1) as u8;
        bytes[byte] = (bytes[byte] & !(1 << shift)) | (bit << shift);
    }
}

/// The outcome of adding to a field, before the overflow policy is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Checked<T> {
    Fits,
    /// Out of range: the value WRAP or SAT would store instead.
    Overflows(T),
}

/// Redis's `checkUnsignedBitfieldOverflow`: `value + incr` in a `bits`-wide unsigned field (bits <
/// 64). Mirrors its arithmetic exactly, including a SET of a negative number counting as an
/// overflow upwards (so SAT stores the maximum).
fn check_unsigned(value: u64, incr: i64, bits: u32, overflow: Overflow) -> Checked<u64> {
    let max = (1u64 << bits) - 1;
    let max_incr = max.wrapping_sub(value) as i64;
    let min_incr = value.wrapping_neg() as i64;
    let wrapped = || value.wrapping_add(incr as u64) & !(u64::MAX << bits);
    if value > max || (incr > 0 && incr > max_incr) {
        Checked::Overflows(if overflow == Overflow::Sat { max } else { wrapped() })
    } else if incr < 0 && incr < min_incr {
        Checked::Overflows(if overflow == Overflow::Sat { 0 } else { wrapped() })
    } else {
        Checked::Fits
    }
}

/// Redis's `checkSignedBitfieldOverflow`: `value + incr` in a `bits`-wide signed field, with its
/// exact (wrapping) arithmetic.
fn check_signed(value: i64, incr: i64, bits: u32, overflow: Overflow) -> Checked<i64> {
    let max = if bits == 64 { i64::MAX } else { (1i64 << (bits - 1)) - 1 };
    let min = -max - 1;
    let max_incr = (max as u64).wrapping_sub(value as u64) as i64;
    let min_incr = min.wrapping_sub(value);
    let wrapped = || {
        let sum = (value as u64).wrapping_add(incr as u64);
        if bits == 64 {
            sum as i64
        } else if sum & (1 << (bits - 1)) != 0 {
            (sum | (u64::MAX << bits)) as i64
        } else {
            (sum & !(u64::MAX << bits)) as i64
        }
    };
    if value > max || (bits != 64 && incr > max_incr) || (value >= 0 && incr > 0 && incr > max_incr) {
        Checked::Overflows(if overflow == Overflow::Sat { max } else { wrapped() })
    } else if value < min || (bits != 64 && incr < min_incr) || (value < 0 && incr < 0 && incr < min_incr) {
        Checked::Overflows(if overflow == Overflow::Sat { min } else { wrapped() })
    } else {
        Checked::Fits
    }
}

/// A BITFIELD field type: `i1`..`i64` or `u1`..`u63`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldType {
    pub signed: bool,
    pub bits: u32,
}

/// What a BITFIELD SET or INCRBY did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldWrite {
    /// The reply: the old value for SET, the new one for INCRBY; `None` when OVERFLOW FAIL refused.
    pub reply: Option<i64>,
    /// Whether the stored bits changed.
    pub changed: bool,
}

impl FieldType {
    pub fn get(self, bytes: &[u8], offset: u64) -> i64 {
        if self.signed {
            get_signed(bytes, offset, self.bits)
        } else {
            // At most 63 bits, so the value fits an i64.
            get_unsigned(bytes, offset, self.bits) as i64
        }
    }

    /// BITFIELD SET (`increment` false) or INCRBY of `operand` on the field at `offset`, which
    /// `bytes` must cover.
    pub fn write(self, bytes: &mut [u8], offset: u64, operand: i64, increment: bool, overflow: Overflow) -> FieldWrite {
        let (old, new, checked) = if self.signed {
            let old = get_signed(bytes, offset, self.bits);
            let (base, incr) = if increment { (old, operand) } else { (operand, 0) };
            let checked = match check_signed(base, incr, self.bits, overflow) {
                Checked::Fits => Checked::Fits,
                Checked::Overflows(limit) => Checked::Overflows(limit as u64),
            };
            (old as u64, base.wrapping_add(incr) as u64, checked)
        } else {
            let old = get_unsigned(bytes, offset, self.bits);
            let (base, incr) = if increment { (old, operand) } else { (operand as u64, 0) };
            (old, base.wrapping_add(incr as u64), check_unsigned(base, incr, self.bits, overflow))
        };
        let new = match checked {
            Checked::Overflows(_) if overflow == Overflow::Fail => return FieldWrite { reply: None, changed: false },
            Checked::Overflows(limit) => limit,
            Checked::Fits => new,
        };
        set_field(bytes, offset, self.bits, new);
        let reply = if increment { self.get(bytes, offset) } else { self.as_value(old) };
        FieldWrite { reply: Some(reply), changed: (old ^ new) & self.mask() != 0 }
    }

    fn mask(self) -> u64 {
        if self.bits == 64 {
            u64::MAX
        } else {
            !(u64::MAX << self.bits)
        }
    }

    /// The reply value of raw field bits.
    fn as_value(self, raw: u64) -> i64 {
        if self.signed && self.bits < 64 && raw & (1 << (self.bits - 1)) != 0 {
            (raw | !self.mask()) as i64
        } else {
            raw as i64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bit `i` of `bytes`, the slow way.
    fn bit_at(bytes: &[u8], i: u64) -> bool {
        bytes[(i / 8) as usize] >> (7 - i % 8) & 1 == 1
    }

    fn sample(len: usize, seed: u64) -> Vec<u8> {
        let mut state = seed;
        (0..len)
            .map(|_| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                // Mostly all-zero or all-one bytes, so the word skipping is exercised.
                match state >> 61 {
                    0..=2 => 0,
                    3..=5 => 0xff,
                    _ => (state >> 33) as u8,
                }
            })
            .collect()
    }

    #[test]
    fn counts_and_searches_match_a_bit_by_bit_model() {
        for seed in 0..40 {
            let bytes = sample(1 + seed as usize * 3, seed);
            let total = bytes.len() as u64 * 8;
            assert_eq!(popcount(&bytes), (0..total).filter(|i| bit_at(&bytes, *i)).count() as u64);
            for (first, last) in [(0, total - 1), (seed % total, total - 1), (seed % total, (seed * 7 + 5) % total)] {
                if first > last {
                    continue;
                }
                let model = (first..=last).filter(|i| bit_at(&bytes, *i)).count() as u64;
                assert_eq!(popcount_bits(&bytes, first, last), model, "seed {seed} {first}..={last}");
                for bit in [false, true] {
                    let model = (first..=last).find(|i| bit_at(&bytes, *i) == bit);
                    assert_eq!(find_bit(&bytes, bit, first, last), model, "seed {seed} bit {bit} {first}..={last}");
                }
            }
        }
    }

    fn bitop(op: BitOp, sources: &[&[u8]]) -> Vec<u8> {
        let mut out = vec![0u8; sources.iter().map(|s| s.len()).max().unwrap_or(0)];
        for (i, source) in sources.iter().enumerate() {
            bitop_step(op, &mut out, i == 0, source);
        }
        out
    }

    #[test]
    fn bitop_pads_short_sources_with_zeros() {
        let (a, b): (&[u8], &[u8]) = (b"\xff\x0f\xf0", b"\x0f");
        assert_eq!(bitop(BitOp::And, &[a, b]), b"\x0f\x00\x00");
        assert_eq!(bitop(BitOp::Or, &[b, a]), b"\xff\x0f\xf0");
        assert_eq!(bitop(BitOp::Xor, &[a, b, b""]), b"\xf0\x0f\xf0");
        assert_eq!(bitop(BitOp::Not, &[b]), b"\xf0");
        assert_eq!(bitop(BitOp::And, &[b"", b""]), b"");
    }

    #[test]
    fn fields_read_and_write_across_bytes() {
        let mut bytes = vec![0u8; 10];
        set_field(&mut bytes, 5, 12, 0xabc);
        assert_eq!(get_unsigned(&bytes, 5, 12), 0xabc);
        assert_eq!(get_signed(&bytes, 5, 12), 0xabc - 0x1000);
        assert_eq!(get_unsigned(&bytes, 70, 20), get_unsigned(&bytes, 70, 10) << 10, "zero padded");
        set_field(&mut bytes, 3, 64, u64::MAX - 1);
        assert_eq!(get_signed(&bytes, 3, 64), -2);
    }

    #[test]
    fn overflow_policies_follow_redis() {
        let u8t = FieldType { signed: false, bits: 8 };
        let i8t = FieldType { signed: true, bits: 8 };
        let mut bytes = vec![0u8; 2];
        assert_eq!(u8t.write(&mut bytes, 0, 300, true, Overflow::Wrap).reply, Some(44));
        assert_eq!(u8t.write(&mut bytes, 0, 300, true, Overflow::Sat).reply, Some(255));
        assert_eq!(u8t.write(&mut bytes, 0, 1, true, Overflow::Fail), FieldWrite { reply: None, changed: false });
        assert_eq!(u8t.write(&mut bytes, 0, -300, true, Overflow::Sat).reply, Some(0));
        // A negative SET on an unsigned field overflows upwards, as in Redis.
        assert_eq!(u8t.write(&mut bytes, 0, -1, false, Overflow::Sat), FieldWrite { reply: Some(0), changed: true });
        assert_eq!(u8t.get(&bytes, 0), 255);
        assert_eq!(i8t.write(&mut bytes, 8, 200, true, Overflow::Wrap).reply, Some(-56));
        assert_eq!(i8t.write(&mut bytes, 8, -100, true, Overflow::Sat).reply, Some(-128));
        assert_eq!(i8t.write(&mut bytes, 8, i64::MIN, false, Overflow::Sat).reply, Some(-128));
        assert_eq!(i8t.get(&bytes, 8), 127, "Redis's arithmetic saturates i64::MIN upwards");
        let i64t = FieldType { signed: true, bits: 64 };
        let mut wide = vec![0u8; 8];
        i64t.write(&mut wide, 0, i64::MAX, false, Overflow::Wrap);
        assert_eq!(i64t.write(&mut wide, 0, 1, true, Overflow::Wrap).reply, Some(i64::MIN));
        assert_eq!(i64t.write(&mut wide, 0, -1, true, Overflow::Sat).reply, Some(i64::MIN));
        assert!(!i64t.write(&mut wide, 0, 0, true, Overflow::Wrap).changed);
    }
}
