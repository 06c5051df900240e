//! Hashing, scanning and sizing shared by the collections' tables. A leaf: the value types use it,
//! it knows none of them.

use std::ops::Range;

/// The hasher of the collections' hash tables.
pub type DenseHasher = hashbrown::DefaultHashBuilder;

/// One *SCAN step over an insertion-ordered table of `len` entries: the positions to return and the
/// next cursor.
///
/// The cursor is an exclusive upper bound and the walk goes down from the end (cursor 0 starts at
/// the end). Removal swaps the last entry into the hole, and the last entry is always on the visited
/// side or new, and insertion appends on the visited side, so an entry present for the whole scan is
/// returned at least once, as SCAN promises.
pub fn dense_scan(len: usize, cursor: u64, count: usize) -> (Range<usize>, u64) {
    let upper = if cursor == 0 { len } else { usize::try_from(cursor).unwrap_or(usize::MAX).min(len) };
    let lower = upper.saturating_sub(count.max(1));
    (lower..upper, lower as u64)
}

/// Bytes of `len` elements estimated from the first few (like Redis's MEMORY USAGE sampling), so
/// memory accounting stays O(1) per key however large the collection.
pub(crate) fn estimate(len: usize, sizes: impl Iterator<Item = usize>) -> usize {
    const SAMPLES: usize = 16;
    let (mut seen, mut total) = (0usize, 0usize);
    for size in sizes.take(SAMPLES) {
        seen += 1;
        total += size;
    }
    (total * len).checked_div(seen).unwrap_or(0)
}
