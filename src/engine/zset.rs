//! Sorted set values: (member, score) pairs packed in score order while small (`listpack`); past
//! `zset-max-listpack-entries` / `zset-max-listpack-value` an indexable skiplist with a member index
//! ([`SkipList`], `skiplist`), so lookups by member take O(1) and rank and range queries O(log n).
//! There every element is one heap block holding its score, links and member bytes, and the member
//! index points at those blocks instead of keeping a second copy of the member (see
//! `engine::skiplist`). Like Redis 7.0, a sorted set never converts back.
//!
//! All range operations are expressed through ranks: a score or lex bound becomes "how many elements
//! come before it" ([`ZSet::count_before`]), and ranges are read or removed by rank.

use super::dense::dense_scan;
use super::limits::Limits;
use super::pack::Pack;
use super::skiplist::SkipList;

/// A sorted set.
#[derive(Clone, Debug)]
pub enum ZSet {
    /// member0, score0, member1, score1, ... sorted by (score, member); scores as 8 little-endian bytes.
    Pack(Pack),
    Skip(SkipList),
}

impl Default for ZSet {
    fn default() -> Self {
        ZSet::Pack(Pack::new())
    }
}

impl PartialEq for ZSet {
    fn eq(&self, other: &ZSet) -> bool {
        self.len() == other.len() && self.range(0, self.len()).into_iter().eq(other.range(0, other.len()))
    }
}

fn decode_score(bytes: &[u8]) -> f64 {
    let mut raw = [0u8; 8];
    if bytes.len() == 8 {
        raw.copy_from_slice(bytes);
    }
    f64::from_le_bytes(raw)
}

/// Whether (score, member) `a` sorts before `b`.
pub fn sorts_before(a_score: f64, a_member: &[u8], b_score: f64, b_member: &[u8]) -> bool {
    a_score < b_score || (a_score == b_score && a_member < b_member)
}

impl ZSet {
    pub fn new() -> ZSet {
        ZSet::default()
    }

    pub fn len(&self) -> usize {
        match self {
            ZSet::Pack(pack) => pack.len() / 2,
            ZSet::Skip(skip) => skip.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            ZSet::Pack(_) => "listpack",
            ZSet::Skip(_) => "skiplist",
        }
    }

    pub fn heap_size(&self) -> usize {
        match self {
            ZSet::Pack(pack) => pack.heap_size(),
            ZSet::Skip(skip) => skip.heap_size(),
        }
    }

    /// The packed entries in order.
    fn pack_entries(pack: &Pack) -> impl Iterator<Item = (&[u8], f64)> + '_ {
        let mut it = pack.iter();
        std::iter::from_fn(move || Some((it.next()?, decode_score(it.next()?))))
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match self {
            ZSet::Pack(pack) => Self::pack_entries(pack).find(|(m, _)| *m == member).map(|(_, s)| s),
            ZSet::Skip(skip) => skip.score(member),
        }
    }

    fn convert(&mut self) {
        if let ZSet::Pack(pack) = self {
            let mut skip = SkipList::default();
            for (member, score) in Self::pack_entries(pack) {
                skip.insert(member, score);
            }
            *self = ZSet::Skip(skip);
        }
    }

    /// Sets the score of `member`; returns its previous score, `None` when it is new.
    pub fn insert(&mut self, member: &[u8], score: f64, limits: &Limits) -> Option<f64> {
        self.upsert(member, limits, |current| (Some(score), current))
    }

    /// Looks `member` up once: `decide` gets its current score (`None` when absent) and returns the
    /// score to give it (`None` leaves the set as it is) and a result passed back. ZADD's flags
    /// (NX, XX, GT, LT, INCR) are decisions of this kind.
    pub fn upsert<R>(&mut self, member: &[u8], limits: &Limits, decide: impl FnOnce(Option<f64>) -> (Option<f64>, R)) -> R {
        let pack = match self {
            ZSet::Skip(skip) => return skip.upsert(member, decide),
            ZSet::Pack(pack) => pack,
        };
        let found = Self::pack_entries(pack).position(|(m, _)| m == member);
        let current = found.map(|pair| decode_score(pack.get(2 * pair + 1).unwrap_or_default()));
        let (score, result) = decide(current);
        let Some(score) = score.filter(|s| Some(*s) != current) else {
            return result;
        };
        if member.len() > limits.zset_max_value {
            self.convert();
            if let ZSet::Skip(skip) = self {
                skip.insert(member, score);
            }
            return result;
        }
        if let Some(pair) = found {
            pack.remove_range(2 * pair, 2 * pair + 2);
        }
        let at = Self::pack_entries(pack).take_while(|(m, s)| sorts_before(*s, m, score, member)).count();
        pack.insert(2 * at, member);
        pack.insert(2 * at + 1, &score.to_le_bytes());
        if self.len() > limits.zset_max_entries {
            self.convert();
        }
        result
    }

    /// Removes `member`; returns whether it was there.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match self {
            ZSet::Pack(pack) => {
                let found = Self::pack_entries(pack).position(|(m, _)| m == member);
                match found {
                    Some(pair) => {
                        pack.remove_range(2 * pair, 2 * pair + 2);
                        true
                    }
                    None => false,
                }
            }
            ZSet::Skip(skip) => skip.remove(member).is_some(),
        }
    }

    /// The 0-based ascending rank and the score of `member`.
    pub fn rank(&self, member: &[u8]) -> Option<(usize, f64)> {
        match self {
            ZSet::Pack(pack) => Self::pack_entries(pack).enumerate().find(|(_, (m, _))| *m == member).map(|(i, (_, s))| (i, s)),
            ZSet::Skip(skip) => skip.rank(member),
        }
    }

    /// How many elements satisfy `is_before`, which must hold for a prefix of the order.
    pub fn count_before(&self, is_before: impl Fn(f64, &[u8]) -> bool) -> usize {
        match self {
            ZSet::Pack(pack) => Self::pack_entries(pack).take_while(|(m, s)| is_before(*s, m)).count(),
            ZSet::Skip(skip) => skip.count_before(is_before),
        }
    }

    /// Elements with 0-based ranks `start..end`, ascending.
    pub fn range(&self, start: usize, end: usize) -> Vec<(&[u8], f64)> {
        let take = end.min(self.len()).saturating_sub(start);
        match self {
            ZSet::Pack(pack) => Self::pack_entries(pack).skip(start).take(take).collect(),
            ZSet::Skip(skip) => skip.iter_from(start).take(take).collect(),
        }
    }

    /// Elements with 0-based ranks `start..end`, descending (from `end - 1` down to `start`).
    pub fn range_rev(&self, start: usize, end: usize) -> Vec<(&[u8], f64)> {
        let end = end.min(self.len());
        let take = end.saturating_sub(start);
        match self {
            ZSet::Pack(_) => {
                let mut items = self.range(start, end);
                items.reverse();
                items
            }
            ZSet::Skip(skip) => skip.iter_back_from(end.saturating_sub(1)).take(take).collect(),
        }
    }

    /// Removes the elements with 0-based ranks `start..end`; returns how many.
    pub fn remove_range(&mut self, start: usize, end: usize) -> usize {
        let end = end.min(self.len());
        if start >= end {
            return 0;
        }
        match self {
            ZSet::Pack(pack) => pack.remove_range(2 * start, 2 * end),
            ZSet::Skip(skip) => {
                skip.remove_range(start, end);
            }
        }
        end - start
    }

    /// The element at position `index` of the member table (for random picks): ascending order
    /// for the packed encoding.
    pub fn get_index(&self, index: usize) -> Option<(&[u8], f64)> {
        match self {
            ZSet::Pack(pack) => Self::pack_entries(pack).nth(index),
            ZSet::Skip(skip) => skip.get_index(index),
        }
    }

    /// One ZSCAN step: the packed encoding returns everything at once, as Redis does.
    pub fn scan(&self, cursor: u64, count: usize) -> (u64, Vec<(&[u8], f64)>) {
        match self {
            ZSet::Pack(_) => (0, self.range(0, self.len())),
            ZSet::Skip(skip) => {
                let (range, next) = dense_scan(skip.len(), cursor, count);
                (next, range.rev().filter_map(|i| skip.get_index(i)).collect())
            }
        }
    }
}

/// The write seam's mutators of a stored zset (each change applied and recorded as its
/// `Mutation`), beside the type but in a module of their own: the type itself depends only on
/// leaf modules, and `value` and the seam sit above it.
mod tracked {
    use super::super::mutation::Mutation;
    use super::super::write::Tracked;
    use super::*;

    /// The mutators of a stored sorted set: each records the member it changed.
    impl Tracked<'_, ZSet> {
        /// Sets the score of `member`; returns its previous score, `None` when it is new.
        pub fn insert(&mut self, member: &[u8], score: f64, limits: &Limits) -> Option<f64> {
            self.upsert(member, limits, |current| (Some(score), current))
        }

        /// [`ZSet::upsert`], recording the score it gave.
        pub fn upsert<R>(&mut self, member: &[u8], limits: &Limits, decide: impl FnOnce(Option<f64>) -> (Option<f64>, R)) -> R {
            let mut written = None;
            let result = self.value.upsert(member, limits, |current| {
                let (score, result) = decide(current);
                written = score.filter(|s| Some(*s) != current);
                (score, result)
            });
            if let Some(score) = written {
                self.log.member(|key| Mutation::ZSetAdd { key, member, score });
            }
            result
        }

        /// Removes `member`; returns whether it was there.
        pub fn remove(&mut self, member: &[u8]) -> bool {
            let removed = self.value.remove(member);
            if removed {
                self.log.member(|key| Mutation::ZSetRemove { key, member });
            }
            removed
        }

        /// Removes the elements with 0-based ranks `start..end`; returns how many.
        pub fn remove_range(&mut self, start: usize, end: usize) -> usize {
            let doomed: Vec<Vec<u8>> = if self.log.wants_members() {
                self.value.range(start, end).into_iter().map(|(m, _)| m.to_vec()).collect()
            } else {
                Vec::new()
            };
            let removed = self.value.remove_range(start, end);
            for member in &doomed {
                self.log.member(|key| Mutation::ZSetRemove { key, member });
            }
            removed
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn both_encodings_agree_with_a_model() {
        let small = Limits::default();
        let tiny = Limits { zset_max_entries: 4, ..Limits::default() };
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        let (mut a, mut b) = (ZSet::new(), ZSet::new());
        let mut model: std::collections::BTreeMap<Vec<u8>, f64> = Default::default();
        for _ in 0..2000 {
            let member = format!("m{}", rng.random_range(0..60u32)).into_bytes();
            let score = f64::from(rng.random_range(0..10u8));
            if rng.random_bool(0.3) {
                assert_eq!(a.remove(&member), model.remove(&member).is_some());
                b.remove(&member);
            } else {
                assert_eq!(a.insert(&member, score, &small), model.insert(member.clone(), score));
                b.insert(&member, score, &tiny);
            }
            let mut sorted: Vec<(Vec<u8>, f64)> = model.iter().map(|(m, s)| (m.clone(), *s)).collect();
            sorted.sort_by(|x, y| x.1.total_cmp(&y.1).then_with(|| x.0.cmp(&y.0)));
            for z in [&a, &b] {
                let got: Vec<(Vec<u8>, f64)> = z.range(0, z.len()).into_iter().map(|(m, s)| (m.to_vec(), s)).collect();
                assert_eq!(got, sorted);
                assert_eq!(z.count_before(|s, _| s < 5.0), sorted.iter().filter(|(_, s)| *s < 5.0).count());
                if let Some((m, s)) = sorted.get(3) {
                    assert_eq!(z.rank(m), Some((3, *s)));
                }
                let rev: Vec<_> = z.range_rev(1, 5).into_iter().map(|(m, _)| m.to_vec()).collect();
                let want: Vec<_> = sorted.iter().take(5).skip(1).rev().map(|(m, _)| m.clone()).collect();
                assert_eq!(rev, want);
            }
        }
        assert_eq!(a.encoding(), "listpack");
        assert_eq!(b.encoding(), "skiplist");
        let removed = b.remove_range(1, 3);
        assert_eq!(b.len(), a.len() - removed);
    }

    #[test]
    fn zset_upsert_decides_once_and_converts() {
        let limits = Limits { zset_max_entries: 3, ..Limits::default() };
        let mut z = ZSet::new();
        for (i, member) in [&b"a"[..], b"", b"c"].into_iter().enumerate() {
            assert_eq!(z.upsert(member, &limits, |old| (Some(i as f64), old)), None);
        }
        assert_eq!(z.encoding(), "listpack");
        // No write: nothing changes, no conversion.
        assert_eq!(z.upsert(b"d", &limits, |old| (None, old)), None);
        assert_eq!((z.len(), z.encoding()), (3, "listpack"));
        assert_eq!(z.upsert(b"a", &limits, |old| (old.map(|s| s + 10.0), old)), Some(0.0));
        assert_eq!(z.rank(b"a"), Some((2, 10.0)));
        // A member longer than zset-max-listpack-value converts.
        let long = vec![b'x'; 65];
        assert_eq!(z.upsert(&long, &limits, |old| (Some(-1.0), old)), None);
        assert_eq!((z.len(), z.encoding()), (4, "skiplist"));
        assert_eq!(z.rank(&long), Some((0, -1.0)));
        assert_eq!(z.upsert(b"", &limits, |old| (Some(7.0), old)), Some(1.0));
        let all: Vec<(Vec<u8>, f64)> = z.range(0, 10).into_iter().map(|(m, s)| (m.to_vec(), s)).collect();
        assert_eq!(all, vec![(long.clone(), -1.0), (b"c".to_vec(), 2.0), (b"".to_vec(), 7.0), (b"a".to_vec(), 10.0)]);
        let copy = z.clone();
        assert_eq!(z.remove_range(1, 3), 2);
        assert_eq!(copy.len(), 4);
        assert_eq!(z.range(0, 10), vec![(&long[..], -1.0), (&b"a"[..], 10.0)]);
        assert!(format!("{z:?}").contains("10.0"));
    }
}
