//! HyperLogLog sketches kept as plain strings in Redis's exact byte format, so a value written by
//! one server reads the same on the other (GET/SET, replication or dumps later) and PFCOUNT gives
//! Redis's estimate for the same bytes. Knows nothing of keys or replies.
//!
//! The format (Redis's `hyperloglog.c`):
//! - a 16-byte header: `HYLL`, the encoding (0 dense, 1 sparse), 3 unused bytes, and the last
//!   computed cardinality as a little-endian u64 whose top bit set means "stale, recompute";
//! - dense: 16384 registers of 6 bits packed from the least significant bit of each byte up
//!   (12288 bytes);
//! - sparse: run-length opcodes covering exactly 16384 registers: ZERO `00xxxxxx` (1..64 zero
//!   registers), XZERO `01xxxxxx yyyyyyyy` (1..16384 zero registers), VAL `1vvvvvxx` (1..4
//!   registers of value 1..32). A sparse sketch becomes dense for good when a register needs a value
//!   above 32 or the string would grow past `hll-sparse-max-bytes`.
//!
//! Elements are hashed with MurmurHash64A (seed 0xadc83b19): the low 14 bits pick the register, the
//! run of zeros above them (plus one) is the candidate value. PFCOUNT uses Otmar Ertl's estimator
//! over the histogram of register values, as Redis 5 and later do.

/// Bytes of the header.
pub const HEADER_LEN: usize = 16;
/// log2 of the number of registers.
const P: u32 = 14;
/// Hash bits left for the zero run.
const Q: usize = 64 - P as usize;
pub const REGISTERS: usize = 1 << P;
const REGISTER_MASK: u8 = 63;
/// The length of every dense sketch.
pub const DENSE_LEN: usize = HEADER_LEN + REGISTERS * 6 / 8;
const ENCODING_DENSE: u8 = 0;
const ENCODING_SPARSE: u8 = 1;
const HASH_SEED: u64 = 0xadc8_3b19;
/// 0.5 / ln(2), the estimator's bias constant for an infinite number of registers.
const ALPHA_INF: f64 = 0.721_347_520_444_481_7;
const VAL_MAX_VALUE: u8 = 32;
const VAL_MAX_RUN: usize = 4;
const ZERO_MAX_RUN: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Dense,
    Sparse,
}

/// Why a string cannot be used as a sketch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HllError {
    /// Not a sketch at all: wrong magic, unknown encoding, or a dense sketch of the wrong length.
    NotHll,
    /// A sparse sketch whose opcodes do not cover exactly 16384 registers.
    Corrupt,
}

/// The encoding of `bytes` if they look like a sketch (Redis's `isHLLObjectOrReply`). A sparse
/// body is only checked when it is read.
pub fn encoding(bytes: &[u8]) -> Result<Encoding, HllError> {
    if bytes.len() < HEADER_LEN || &bytes[..4] != b"HYLL" {
        return Err(HllError::NotHll);
    }
    match bytes[4] {
        ENCODING_DENSE if bytes.len() == DENSE_LEN => Ok(Encoding::Dense),
        ENCODING_SPARSE => Ok(Encoding::Sparse),
        _ => Err(HllError::NotHll),
    }
}

/// An empty sketch: sparse, one XZERO opcode covering every register.
pub fn new_sparse() -> Vec<u8> {
    let mut bytes = vec![0u8; HEADER_LEN];
    bytes[..4].copy_from_slice(b"HYLL");
    bytes[4] = ENCODING_SPARSE;
    push_zero_run(&mut bytes, REGISTERS);
    bytes
}

/// MurmurHash64A as Redis uses it (little-endian reads on every platform).
pub fn murmur_hash64a(data: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let mut h = seed ^ (data.len() as u64).wrapping_mul(M);
    let (words, tail) = data.as_chunks::<8>();
    for word in words {
        let mut k = u64::from_le_bytes(*word).wrapping_mul(M);
        k ^= k >> R;
        h = (h ^ k.wrapping_mul(M)).wrapping_mul(M);
    }
    if !tail.is_empty() {
        for (i, byte) in tail.iter().enumerate() {
            h ^= u64::from(*byte) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^ (h >> R)
}

/// The register an element falls in and the value it proposes (the length of the `0...01`
/// pattern above the index bits, 1..=51).
fn pattern(element: &[u8]) -> (usize, u8) {
    let hash = murmur_hash64a(element, HASH_SEED);
    let index = (hash & (REGISTERS as u64 - 1)) as usize;
    // The guard bit bounds the run at Q + 1.
    let run = (hash >> P) | (1 << Q);
    (index, run.trailing_zeros() as u8 + 1)
}

/// Register `index` of a dense body.
fn dense_get(registers: &[u8], index: usize) -> u8 {
    let (byte, shift) = (index * 6 / 8, index * 6 % 8);
    let low = u16::from(registers[byte]) >> shift;
    // The last register ends inside its byte; Redis reads the string's terminating zero here.
    let high = u16::from(registers.get(byte + 1).copied().unwrap_or(0)) << (8 - shift);
    ((low | high) as u8) & REGISTER_MASK
}

fn dense_put(registers: &mut [u8], index: usize, value: u8) {
    let (byte, shift) = (index * 6 / 8, index * 6 % 8);
    registers[byte] &= !((u16::from(REGISTER_MASK) << shift) as u8);
    registers[byte] |= (u16::from(value) << shift) as u8;
    if shift > 2 {
        registers[byte + 1] &= !(REGISTER_MASK >> (8 - shift));
        registers[byte + 1] |= value >> (8 - shift);
    }
}

/// Raises register `index` to `value`; true when it was lower.
fn dense_set(registers: &mut [u8], index: usize, value: u8) -> bool {
    if dense_get(registers, index) < value {
        dense_put(registers, index, value);
        true
    } else {
        false
    }
}

/// PFADD of one element to a dense sketch, in place (the caller checked the encoding). True when a
/// register changed; the caller invalidates the cached cardinality.
pub fn dense_add(hll: &mut [u8], element: &[u8]) -> bool {
    let (index, value) = pattern(element);
    dense_set(&mut hll[HEADER_LEN..], index, value)
}

/// PFADD of one element to a sketch of either encoding; a sparse one may grow or turn dense.
/// True when a register changed.
pub fn add(hll: &mut Vec<u8>, element: &[u8], sparse_max_bytes: usize) -> Result<bool, HllError> {
    let (index, value) = pattern(element);
    match encoding(hll)? {
        Encoding::Dense => Ok(dense_set(&mut hll[HEADER_LEN..], index, value)),
        Encoding::Sparse => sparse_set(hll, index, value, sparse_max_bytes),
    }
}

/// Marks the cached cardinality stale.
pub fn invalidate_cache(hll: &mut [u8]) {
    hll[15] |= 0x80;
}

/// The cached cardinality, if it is still valid.
pub fn cached_count(hll: &[u8]) -> Option<u64> {
    let mut card = [0u8; 8];
    card.copy_from_slice(&hll[8..16]);
    (card[7] & 0x80 == 0).then(|| u64::from_le_bytes(card))
}

pub fn store_cached_count(hll: &mut [u8], card: u64) {
    hll[8..16].copy_from_slice(&card.to_le_bytes());
}

/// One sparse opcode: `len` registers of `value` (0 for ZERO and XZERO), `bytes` long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Run {
    value: u8,
    len: usize,
    bytes: usize,
}

fn run_at(hll: &[u8], p: usize) -> Run {
    let op = hll[p];
    match op & 0xc0 {
        0x00 => Run { value: 0, len: usize::from(op & 0x3f) + 1, bytes: 1 },
        0x40 => {
            // An XZERO cut by the end of the string reads a zero second byte, as Redis reads the
            // string's terminator.
            let low = usize::from(hll.get(p + 1).copied().unwrap_or(0));
            Run { value: 0, len: (usize::from(op & 0x3f) << 8 | low) + 1, bytes: 2 }
        }
        _ => Run { value: ((op >> 2) & 0x1f) + 1, len: usize::from(op & 0x03) + 1, bytes: 1 },
    }
}

fn val_opcode(value: u8, len: usize) -> u8 {
    0x80 | (value - 1) << 2 | (len - 1) as u8
}

/// Appends the opcode for `len` (1..=16384) zero registers: ZERO up to 64, XZERO above.
fn push_zero_run(out: &mut Vec<u8>, len: usize) {
    if len > ZERO_MAX_RUN {
        out.push(0x40 | ((len - 1) >> 8) as u8);
        out.push(((len - 1) & 0xff) as u8);
    } else {
        out.push((len - 1) as u8);
    }
}

/// Calls `visit(first register, run)` for every opcode of a sparse sketch; `Corrupt` when they do
/// not cover exactly 16384 registers.
fn walk_sparse(hll: &[u8], mut visit: impl FnMut(usize, Run)) -> Result<(), HllError> {
    let (mut p, mut index) = (HEADER_LEN, 0);
    while p < hll.len() {
        let run = run_at(hll, p);
        if index + run.len > REGISTERS {
            return Err(HllError::Corrupt);
        }
        visit(index, run);
        index += run.len;
        p += run.bytes;
    }
    if index == REGISTERS {
        Ok(())
    } else {
        Err(HllError::Corrupt)
    }
}

/// The dense form of a sparse sketch; the header (cached cardinality included) is kept.
pub fn sparse_to_dense(hll: &[u8]) -> Result<Vec<u8>, HllError> {
    let mut dense = vec![0u8; DENSE_LEN];
    dense[..HEADER_LEN].copy_from_slice(&hll[..HEADER_LEN]);
    dense[4] = ENCODING_DENSE;
    let registers = &mut dense[HEADER_LEN..];
    walk_sparse(hll, |first, run| {
        if run.value > 0 {
            (first..first + run.len).for_each(|i| dense_put(registers, i, run.value));
        }
    })?;
    Ok(dense)
}

/// Turns `hll` dense if it is sparse; true when it changed.
pub fn make_dense(hll: &mut Vec<u8>) -> Result<bool, HllError> {
    if encoding(hll)? == Encoding::Dense {
        return Ok(false);
    }
    *hll = sparse_to_dense(hll)?;
    Ok(true)
}

/// Raises register `index` of a sparse sketch to `value` (Redis's `hllSparseSet`, byte for byte):
/// the opcode covering it is split as needed, neighbouring VALs merged again, and the sketch turns
/// dense when the value does not fit a VAL or the string would pass `sparse_max_bytes`.
fn sparse_set(hll: &mut Vec<u8>, index: usize, value: u8, sparse_max_bytes: usize) -> Result<bool, HllError> {
    if value > VAL_MAX_VALUE {
        return promote_and_set(hll, index, value);
    }
    // Step 1: find the opcode covering the register.
    let end = hll.len();
    let (mut p, mut first, mut prev) = (HEADER_LEN, 0, None);
    let run = loop {
        if p >= end {
            return Err(HllError::Corrupt);
        }
        let run = run_at(hll, p);
        if index < first + run.len {
            break run;
        }
        prev = Some(p);
        p += run.bytes;
        first += run.len;
    };
    let merge_from = prev.unwrap_or(HEADER_LEN);
    // Step 2: the cases that rewrite one byte in place.
    if run.value >= value {
        return Ok(false);
    }
    if run.len == 1 && (run.value > 0 || run.bytes == 1) {
        hll[p] = val_opcode(value, 1);
        merge_vals(hll, merge_from);
        return Ok(true);
    }
    // Otherwise the run splits into up to three opcodes (at most 5 bytes).
    let last = first + run.len - 1;
    let mut seq = Vec::with_capacity(5);
    if index != first {
        match run.value {
            0 => push_zero_run(&mut seq, index - first),
            current => seq.push(val_opcode(current, index - first)),
        }
    }
    seq.push(val_opcode(value, 1));
    if index != last {
        match run.value {
            0 => push_zero_run(&mut seq, last - index),
            current => seq.push(val_opcode(current, last - index)),
        }
    }
    // Step 3: put the new opcodes in place of the old one.
    let new_len = end + seq.len() - run.bytes;
    if new_len > end && new_len > sparse_max_bytes {
        return promote_and_set(hll, index, value);
    }
    hll.splice(p..(p + run.bytes).min(end), seq);
    // An XZERO cut by the end of the string counted its missing byte, as Redis does.
    hll.truncate(new_len);
    // Step 4: merge equal neighbouring VALs.
    merge_vals(hll, merge_from);
    Ok(true)
}

/// Redis's step 4 of `hllSparseSet`: from `p` (the opcode before the change), look at up to five
/// opcodes and merge adjacent VALs of equal value whose runs fit one opcode; then mark the cached
/// cardinality stale.
fn merge_vals(hll: &mut Vec<u8>, mut p: usize) {
    let mut budget = 5;
    while p < hll.len() && budget > 0 {
        budget -= 1;
        let run = run_at(hll, p);
        if run.value == 0 {
            p += run.bytes;
            continue;
        }
        if p + 1 < hll.len() && hll[p + 1] & 0x80 != 0 {
            let next = run_at(hll, p + 1);
            if next.value == run.value && run.len + next.len <= VAL_MAX_RUN {
                hll[p + 1] = val_opcode(run.value, run.len + next.len);
                hll.remove(p);
                // Try the merged opcode against its right neighbour too.
                continue;
            }
        }
        p += 1;
    }
    invalidate_cache(hll);
}

fn promote_and_set(hll: &mut Vec<u8>, index: usize, value: u8) -> Result<bool, HllError> {
    *hll = sparse_to_dense(hll)?;
    // A register that needed raising in the sparse form needs it in the dense form too.
    dense_set(&mut hll[HEADER_LEN..], index, value);
    Ok(true)
}

/// The histogram of register values (64 slots so any 6-bit value has one).
type Histogram = [u32; 64];

fn dense_histogram(registers: &[u8], histogram: &mut Histogram) {
    // Twelve bytes hold sixteen registers exactly.
    let (groups, _) = registers.as_chunks::<12>();
    for g in groups {
        let words = [
            u32::from(g[0]) | u32::from(g[1]) << 8 | u32::from(g[2]) << 16,
            u32::from(g[3]) | u32::from(g[4]) << 8 | u32::from(g[5]) << 16,
            u32::from(g[6]) | u32::from(g[7]) << 8 | u32::from(g[8]) << 16,
            u32::from(g[9]) | u32::from(g[10]) << 8 | u32::from(g[11]) << 16,
        ];
        for word in words {
            for shift in [0, 6, 12, 18] {
                histogram[(word >> shift & 63) as usize] += 1;
            }
        }
    }
}

/// Ertl's tau function ("New cardinality estimation algorithms for HyperLogLog sketches",
/// arXiv:1702.01284), computed in the same order as Redis so the results are bit-identical.
fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let (mut y, mut z) = (1.0, 1.0 - x);
    loop {
        x = x.sqrt();
        let previous = z;
        y *= 0.5;
        // Redis writes pow(1 - x, 2), which compilers turn into this exact product.
        z -= (1.0 - x) * (1.0 - x) * y;
        if previous == z {
            return z / 3.0;
        }
    }
}

/// Ertl's sigma function.
fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let (mut y, mut z) = (1.0, x);
    loop {
        x *= x;
        let previous = z;
        z += x * y;
        y += y;
        if previous == z {
            return z;
        }
    }
}

/// Redis's `hllCount` estimate from the register histogram.
fn estimate(histogram: &Histogram) -> u64 {
    let m = REGISTERS as f64;
    let mut z = m * tau((m - f64::from(histogram[Q + 1])) / m);
    for j in (1..=Q).rev() {
        z += f64::from(histogram[j]);
        z *= 0.5;
    }
    z += m * sigma(f64::from(histogram[0]) / m);
    // llroundl: halves round away from zero, as f64::round does.
    (ALPHA_INF * m * m / z).round() as u64
}

/// The estimated cardinality of a sketch (its cache ignored).
pub fn count(hll: &[u8]) -> Result<u64, HllError> {
    let mut histogram = [0u32; 64];
    match encoding(hll)? {
        Encoding::Dense => dense_histogram(&hll[HEADER_LEN..], &mut histogram),
        Encoding::Sparse => walk_sparse(hll, |_, run| histogram[usize::from(run.value)] += run.len as u32)?,
    }
    Ok(estimate(&histogram))
}

/// One byte per register: the union of several sketches (PFCOUNT of many keys, PFMERGE).
pub struct Registers(Box<[u8; REGISTERS]>);

impl Default for Registers {
    fn default() -> Self {
        Registers(Box::new([0; REGISTERS]))
    }
}

impl Registers {
    /// Raises every register to the sketch's value where that is higher.
    pub fn merge(&mut self, hll: &[u8]) -> Result<(), HllError> {
        let max = &mut self.0;
        match encoding(hll)? {
            Encoding::Dense => {
                let registers = &hll[HEADER_LEN..];
                for (i, slot) in max.iter_mut().enumerate() {
                    *slot = (*slot).max(dense_get(registers, i));
                }
                Ok(())
            }
            Encoding::Sparse => walk_sparse(hll, |first, run| {
                max[first..first + run.len].iter_mut().for_each(|slot| *slot = (*slot).max(run.value));
            }),
        }
    }

    pub fn count(&self) -> u64 {
        let mut histogram = [0u32; 64];
        self.0.iter().for_each(|r| histogram[usize::from(*r & REGISTER_MASK)] += 1);
        estimate(&histogram)
    }

    /// Writes the registers into `hll` (PFMERGE's destination, already merged into them): dense
    /// when `dense`, else in its own encoding, register by register as Redis does (a sparse
    /// destination may turn dense on the way).
    pub fn store(&self, hll: &mut Vec<u8>, dense: bool, sparse_max_bytes: usize) -> Result<(), HllError> {
        if dense {
            make_dense(hll)?;
        }
        for (index, value) in self.0.iter().enumerate().filter(|(_, v)| **v > 0) {
            match encoding(hll)? {
                Encoding::Dense => {
                    dense_set(&mut hll[HEADER_LEN..], index, *value);
                }
                Encoding::Sparse => {
                    sparse_set(hll, index, *value, sparse_max_bytes)?;
                }
            }
        }
        invalidate_cache(hll);
        Ok(())
    }
}

/// The 16384 register values of a dense sketch (PFDEBUG GETREG).
pub fn dense_registers(hll: &[u8]) -> Vec<u8> {
    (0..REGISTERS).map(|i| dense_get(&hll[HEADER_LEN..], i)).collect()
}

/// The opcodes of a sparse sketch as PFDEBUG DECODE prints them: `z:len`, `Z:len`, `v:value,len`.
pub fn decode_sparse(hll: &[u8]) -> String {
    let mut out = Vec::new();
    let mut p = HEADER_LEN;
    while p < hll.len() {
        let run = run_at(hll, p);
        out.push(match (run.value, run.bytes) {
            (0, 1) => format!("z:{}", run.len),
            (0, _) => format!("Z:{}", run.len),
            (value, _) => format!("v:{value},{}", run.len),
        });
        p += run.bytes;
    }
    out.join(" ")
}

/// PFSELFTEST: register access (`cycles` rounds of random values in every register) and estimate
/// quality over `elements` distinct elements, dense against sparse (Redis's test, with its error
/// texts; Redis runs 1000 cycles and ten million elements). `random` supplies the random numbers.
pub fn self_test(sparse_max_bytes: usize, cycles: usize, elements: u64, mut random: impl FnMut() -> u64) -> Result<(), String> {
    let mut dense = vec![0u8; DENSE_LEN];
    dense[..4].copy_from_slice(b"HYLL");
    let mut expected = vec![0u8; REGISTERS];
    for _ in 0..cycles {
        for (i, slot) in expected.iter_mut().enumerate() {
            *slot = (random() & u64::from(REGISTER_MASK)) as u8;
            dense_put(&mut dense[HEADER_LEN..], i, *slot);
        }
        for (i, want) in expected.iter().enumerate() {
            let got = dense_get(&dense[HEADER_LEN..], i);
            if got != *want {
                return Err(format!("TESTFAILED Register {i} should be {want} but is {got}"));
            }
        }
    }
    dense[HEADER_LEN..].fill(0);
    let mut sparse = new_sparse();
    let relative_error = 1.04 / (REGISTERS as f64).sqrt();
    let seed = random();
    let mut checkpoint = 1u64;
    for j in 1..=elements {
        let element = (j ^ seed).to_le_bytes();
        dense_add(&mut dense, &element);
        add(&mut sparse, &element, sparse_max_bytes).map_err(|_| "TESTFAILED corrupted sparse sketch".to_owned())?;
        if j != checkpoint {
            continue;
        }
        if j < sparse_max_bytes as u64 / 2 && encoding(&sparse) != Ok(Encoding::Sparse) {
            return Err("TESTFAILED sparse encoding not used".into());
        }
        let estimate = count(&dense).map_err(|_| "TESTFAILED corrupted dense sketch".to_owned())?;
        if count(&sparse) != Ok(estimate) {
            return Err("TESTFAILED dense/sparse disagree".into());
        }
        let max_error = if j == 10 { 1 } else { (relative_error * 6.0 * checkpoint as f64).ceil() as u64 };
        let error = checkpoint.abs_diff(estimate);
        if error > max_error {
            return Err(format!("TESTFAILED Too big error. card:{checkpoint} abserr:{error}"));
        }
        checkpoint *= 10;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sketch_of(elements: impl Iterator<Item = String>, sparse_max_bytes: usize) -> Vec<u8> {
        let mut hll = new_sparse();
        for element in elements {
            add(&mut hll, element.as_bytes(), sparse_max_bytes).unwrap();
        }
        hll
    }

    #[test]
    fn elements_land_where_redis_puts_them() {
        // From redis-server 7.0: PFADD of one element, then PFDEBUG DECODE ("Z:12711 v:2,1 ...").
        assert_eq!(pattern(b"a"), (12711, 2));
        assert_eq!(pattern(b"hello"), (9216, 1));
        assert_eq!(pattern(b""), (5938, 2));
        assert_eq!(pattern(b"foo123456789"), (8399, 1), "a full 8-byte word and a tail");
    }

    #[test]
    fn bytes_match_a_sketch_made_by_redis() {
        // redis-server 7.0: PFADD h a b c d e f g, then GET h (the cache is stale until PFCOUNT).
        let redis = b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\x80Fm\x80V\x0c\x80D<\x848\x80P\xb1\x84I\x8c\x80Bm\x80BZ";
        let ours = sketch_of(["a", "b", "c", "d", "e", "f", "g"].iter().map(|e| e.to_string()), 3000);
        assert_eq!(ours, redis);
        assert_eq!(cached_count(&ours), None);
        assert_eq!(count(redis), Ok(7));
    }

    #[test]
    fn empty_sketch_is_one_xzero() {
        let hll = new_sparse();
        assert_eq!(hll, b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\0\x7f\xff");
        assert_eq!(count(&hll), Ok(0));
        assert_eq!(decode_sparse(&hll), "Z:16384");
        assert_eq!(cached_count(&hll), Some(0));
    }

    #[test]
    fn dense_registers_round_trip_without_touching_neighbours() {
        let mut registers = vec![0u8; REGISTERS * 6 / 8];
        for i in 0..REGISTERS {
            dense_put(&mut registers, i, (i * 7 % 64) as u8);
        }
        for i in 0..REGISTERS {
            assert_eq!(dense_get(&registers, i), (i * 7 % 64) as u8, "register {i}");
        }
        let mut histogram = [0u32; 64];
        dense_histogram(&registers, &mut histogram);
        assert_eq!(histogram.iter().sum::<u32>(), REGISTERS as u32);
        assert_eq!(histogram[7], (0..REGISTERS).filter(|i| i * 7 % 64 == 7).count() as u32);
    }

    #[test]
    fn sparse_and_dense_agree_and_promotion_happens_past_the_limit() {
        let hll = sketch_of((0..500).map(|i| format!("e{i}")), 3000);
        assert_eq!(encoding(&hll), Ok(Encoding::Sparse));
        let dense = sparse_to_dense(&hll).unwrap();
        assert_eq!(count(&hll), count(&dense));
        let estimate = count(&hll).unwrap();
        assert!((480..=520).contains(&estimate), "{estimate}");
        let big = sketch_of((0..5000).map(|i| format!("e{i}")), 3000);
        assert_eq!(encoding(&big), Ok(Encoding::Dense));
        assert_eq!(big.len(), DENSE_LEN);
        // Every register of the sparse sketch survives the conversion.
        let mut union = Registers::default();
        union.merge(&hll).unwrap();
        assert_eq!(union.count(), estimate);
        assert_eq!(union.0.to_vec(), dense_registers(&dense));
    }

    #[test]
    fn sparse_opcodes_stay_canonical() {
        // Sets registers one by one and checks the opcodes against a register model.
        let mut hll = new_sparse();
        let mut model = vec![0u8; REGISTERS];
        let mut state = 12345u64;
        for _ in 0..3000 {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            // Clustered indexes so runs split, merge and neighbour each other.
            let index = (state >> 40) as usize % 200 * 7 % REGISTERS;
            let value = ((state >> 20) % 6) as u8 + 1;
            let changed = sparse_set(&mut hll, index, value, 1 << 20).unwrap();
            assert_eq!(changed, model[index] < value);
            model[index] = model[index].max(value);
        }
        assert_eq!(encoding(&hll), Ok(Encoding::Sparse));
        let mut registers = Registers::default();
        registers.merge(&hll).unwrap();
        assert_eq!(registers.0.to_vec(), model);
    }

    #[test]
    fn corrupt_sparse_sketches_are_detected() {
        let mut short = new_sparse();
        short[HEADER_LEN + 1] = 0; // XZERO of 16129 registers: 255 missing
        assert_eq!(count(&short), Err(HllError::Corrupt));
        assert_eq!(sparse_to_dense(&short), Err(HllError::Corrupt));
        let mut long = new_sparse();
        long.push(0x00);
        assert_eq!(Registers::default().merge(&long), Err(HllError::Corrupt));
        assert_eq!(encoding(b"HYLL\x02\0\0\0\0\0\0\0\0\0\0\0"), Err(HllError::NotHll));
        assert_eq!(encoding(b"HYLL\x00\0\0\0\0\0\0\0\0\0\0\0"), Err(HllError::NotHll));
        assert_eq!(encoding(b"HYL"), Err(HllError::NotHll));
    }

    #[test]
    fn self_test_passes_on_a_smaller_scale() {
        let mut state = 99u64;
        let random = || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            state >> 16
        };
        assert_eq!(self_test(3000, 3, 100_000, random), Ok(()));
    }

    #[test]
    fn estimator_edges() {
        let mut histogram = [0u32; 64];
        histogram[0] = REGISTERS as u32;
        assert_eq!(estimate(&histogram), 0);
        histogram[0] -= 1;
        histogram[1] = 1;
        assert_eq!(estimate(&histogram), 1);
        assert_eq!(tau(0.0), 0.0);
        assert!(sigma(1.0).is_infinite());
    }
}
