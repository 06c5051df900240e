//! Per-table bloom filter over user keys.
//!
//! Layout: `bits[..] | k (u8)`. Probing uses double hashing of one xxh3-64 value
//! (Kirsch–Mitzenmacher), so a lookup costs one hash of the key.

/// Builds a filter sized for a false-positive rate.
pub(crate) struct BloomBuilder {
    hashes: Vec<u64>,
    bits_per_key: f64,
}

/// Hash used for both building and probing.
#[inline]
pub(crate) fn hash(user_key: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(user_key)
}

impl BloomBuilder {
    /// A builder targeting false-positive rate `fp` (0 < fp < 1).
    pub(crate) fn new(fp: f64) -> Self {
        let ln2 = std::f64::consts::LN_2;
        BloomBuilder { hashes: Vec::new(), bits_per_key: (-fp.ln() / (ln2 * ln2)).max(1.0) }
    }

    pub(crate) fn add(&mut self, user_key: &[u8]) {
        let h = hash(user_key);
        // Consecutive versions of one key hash alike; store each key once.
        if self.hashes.last() != Some(&h) {
            self.hashes.push(h);
        }
    }

    pub(crate) fn finish(&self) -> Vec<u8> {
        let n = self.hashes.len().max(1);
        let nbits = ((n as f64 * self.bits_per_key).ceil() as usize).max(64);
        let nbytes = nbits.div_ceil(8);
        let nbits = (nbytes * 8) as u64;
        let k = ((self.bits_per_key * std::f64::consts::LN_2).round() as u8).clamp(1, 30);
        let mut out = vec![0u8; nbytes + 1];
        for &h in &self.hashes {
            let (mut a, b) = (h, h.rotate_left(32) | 1);
            for _ in 0..k {
                let bit = a % nbits;
                out[(bit / 8) as usize] |= 1 << (bit % 8);
                a = a.wrapping_add(b);
            }
        }
        out[nbytes] = k;
        out
    }
}

/// True when `user_key` (given as its [`hash`]) may be in the set. A malformed filter
/// answers "maybe", which costs a read but never hides data.
#[inline]
pub(crate) fn may_contain(filter: &[u8], h: u64) -> bool {
    let Some((&k, bits)) = filter.split_last() else {
        return true;
    };
    if bits.is_empty() || k == 0 || k > 30 {
        return true;
    }
    let nbits = (bits.len() * 8) as u64;
    let (mut a, b) = (h, h.rotate_left(32) | 1);
    for _ in 0..k {
        let bit = a % nbits;
        if bits[(bit / 8) as usize] & (1 << (bit % 8)) == 0 {
            return false;
        }
        a = a.wrapping_add(b);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_false_negatives_and_fp_rate_within_twice_target() {
        for target in [0.01, 0.05] {
            let mut b = BloomBuilder::new(target);
            let n = 20_000;
            for i in 0..n {
                b.add(format!("key{i}").as_bytes());
            }
            let f = b.finish();
            for i in 0..n {
                assert!(may_contain(&f, hash(format!("key{i}").as_bytes())));
            }
            let probes = 100_000;
            let fp = (0..probes).filter(|i| may_contain(&f, hash(format!("other{i}").as_bytes()))).count();
            let rate = fp as f64 / probes as f64;
            assert!(rate < 2.0 * target, "target {target}, measured {rate}");
        }
    }
}
