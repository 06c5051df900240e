//! Set values: a sorted array of integers while every member is an integer and there are at most
//! `set-max-intset-entries` of them (`intset`); Redis 7.2's packed encoding (`listpack`) for small
//! sets with other members when `set-max-listpack-entries` allows (0 by default, which gives Redis
//! 7.0's behaviour); an insertion-ordered hash set otherwise (`hashtable`). A set never converts
//! back.

use std::borrow::Cow;

use indexmap::IndexSet;

use super::dense::{dense_scan, DenseHasher};
use super::limits::Limits;
use super::pack::Pack;
use crate::num::parse_i64;

/// A set of byte strings.
#[derive(Clone, Debug)]
pub enum Set {
    Ints(Vec<i64>),
    Pack(Pack),
    Table(IndexSet<Box<[u8]>, DenseHasher>),
}

impl Default for Set {
    fn default() -> Self {
        Set::Ints(Vec::new())
    }
}

impl PartialEq for Set {
    fn eq(&self, other: &Set) -> bool {
        self.len() == other.len() && self.iter().all(|m| other.contains(&m))
    }
}

fn int_text(n: i64) -> Cow<'static, [u8]> {
    Cow::Owned(itoa::Buffer::new().format(n).as_bytes().to_vec())
}

impl Set {
    pub fn new() -> Set {
        Set::default()
    }

    pub fn len(&self) -> usize {
        match self {
            Set::Ints(ints) => ints.len(),
            Set::Pack(pack) => pack.len(),
            Set::Table(table) => table.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            Set::Ints(_) => "intset",
            Set::Pack(_) => "listpack",
            Set::Table(_) => "hashtable",
        }
    }

    pub fn heap_size(&self) -> usize {
        match self {
            Set::Ints(ints) => ints.capacity() * 8,
            Set::Pack(pack) => pack.heap_size(),
            Set::Table(table) => {
                table.capacity() * (std::mem::size_of::<Box<[u8]>>() + 16)
                    + super::dense::estimate(table.len(), table.iter().map(|m| m.len()))
            }
        }
    }

    /// Moves the members to the hash table.
    fn convert(&mut self) {
        let members: Vec<Box<[u8]>> = match self {
            Set::Table(_) => return,
            Set::Ints(ints) => ints.iter().map(|n| Box::from(itoa::Buffer::new().format(*n).as_bytes())).collect(),
            Set::Pack(pack) => pack.iter().map(Box::from).collect(),
        };
        let mut table = IndexSet::with_capacity_and_hasher(members.len() + 1, DenseHasher::default());
        table.extend(members);
        *self = Set::Table(table);
    }

    pub fn contains(&self, member: &[u8]) -> bool {
        match self {
            Set::Ints(ints) => parse_i64(member).is_some_and(|n| ints.binary_search(&n).is_ok()),
            Set::Pack(pack) => pack.iter().any(|m| m == member),
            Set::Table(table) => table.contains(member),
        }
    }

    /// Adds `member`; returns true when it is new.
    pub fn insert(&mut self, member: &[u8], limits: &Limits) -> bool {
        if let Set::Ints(ints) = self {
            if let Some(n) = parse_i64(member) {
                let Err(at) = ints.binary_search(&n) else {
                    return false;
                };
                ints.insert(at, n);
                if ints.len() > limits.set_max_intset_entries {
                    self.convert();
                }
                return true;
            }
            // A member that is not an integer: Redis 7.2 moves small sets to a listpack when the
            // new member and the widest integer both fit its value limit.
            let widest = ints.iter().map(|n| itoa::Buffer::new().format(*n).len()).max().unwrap_or(0);
            let fits = ints.len() < limits.set_max_listpack_entries
                && member.len() <= limits.set_max_listpack_value
                && widest <= limits.set_max_listpack_value;
            if fits {
                let mut pack = Pack::new();
                for n in ints.iter() {
                    pack.push_back(itoa::Buffer::new().format(*n).as_bytes());
                }
                *self = Set::Pack(pack);
            } else {
                self.convert();
            }
        }
        if let Set::Pack(pack) = self {
            if pack.iter().any(|m| m == member) {
                return false;
            }
            if pack.len() < limits.set_max_listpack_entries && member.len() <= limits.set_max_listpack_value {
                pack.push_back(member);
                return true;
            }
            self.convert();
        }
        match self {
            Set::Table(table) => table.insert(Box::from(member)),
            Set::Ints(_) | Set::Pack(_) => false,
        }
    }

    /// Removes `member`; returns whether it was there.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match self {
            Set::Ints(ints) => match parse_i64(member).map(|n| ints.binary_search(&n)) {
                Some(Ok(at)) => {
                    ints.remove(at);
                    true
                }
                _ => false,
            },
            Set::Pack(pack) => match pack.iter().position(|m| m == member) {
                Some(at) => {
                    pack.remove(at);
                    true
                }
                None => false,
            },
            Set::Table(table) => table.swap_remove(member),
        }
    }

    pub fn iter(&self) -> Box<dyn Iterator<Item = Cow<'_, [u8]>> + '_> {
        match self {
            Set::Ints(ints) => Box::new(ints.iter().map(|n| int_text(*n))),
            Set::Pack(pack) => Box::new(pack.iter().map(Cow::Borrowed)),
            Set::Table(table) => Box::new(table.iter().map(|m| Cow::Borrowed(&m[..]))),
        }
    }

    /// The member at position `index` (for random picks).
    pub fn get_index(&self, index: usize) -> Option<Cow<'_, [u8]>> {
        match self {
            Set::Ints(ints) => ints.get(index).map(|n| int_text(*n)),
            Set::Pack(pack) => pack.get(index).map(Cow::Borrowed),
            Set::Table(table) => table.get_index(index).map(|m| Cow::Borrowed(&m[..])),
        }
    }

    /// Removes and returns the member at position `index`.
    pub fn remove_index(&mut self, index: usize) -> Option<Vec<u8>> {
        match self {
            Set::Ints(ints) => (index < ints.len()).then(|| int_text(ints.remove(index)).into_owned()),
            Set::Pack(pack) => {
                let member = pack.get(index)?.to_vec();
                pack.remove(index);
                Some(member)
            }
            Set::Table(table) => table.swap_remove_index(index).map(Vec::from),
        }
    }

    /// One SSCAN step: an intset or listpack is returned whole, as Redis does.
    pub fn scan(&self, cursor: u64, count: usize) -> (u64, Vec<Cow<'_, [u8]>>) {
        match self {
            Set::Ints(_) | Set::Pack(_) => (0, self.iter().collect()),
            Set::Table(table) => {
                let (range, next) = dense_scan(table.len(), cursor, count);
                (next, range.rev().filter_map(|i| table.get_index(i)).map(|m| Cow::Borrowed(&m[..])).collect())
            }
        }
    }
}

/// The write seam's mutators of a stored set (each change applied and recorded as its
/// `Mutation`), beside the type but in a module of their own: the type itself depends only on
/// leaf modules, and `value` and the seam sit above it.
mod tracked {
    use super::super::mutation::Mutation;
    use super::super::write::Tracked;
    use super::*;

    /// The mutators of a stored set: each records the member it changed.
    impl Tracked<'_, Set> {
        /// Adds `member`; returns true when it is new.
        pub fn insert(&mut self, member: &[u8], limits: &Limits) -> bool {
            let added = self.value.insert(member, limits);
            if added {
                self.log.member(|key| Mutation::SetAdd { key, member });
            }
            added
        }

        /// Removes `member`; returns whether it was there.
        pub fn remove(&mut self, member: &[u8]) -> bool {
            let removed = self.value.remove(member);
            if removed {
                self.log.member(|key| Mutation::SetRemove { key, member });
            }
            removed
        }

        /// Removes and returns the member at position `index`.
        pub fn remove_index(&mut self, index: usize) -> Option<Vec<u8>> {
            let member = self.value.remove_index(index)?;
            self.log.member(|key| Mutation::SetRemove { key, member: &member });
            Some(member)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intset_until_a_string_or_too_many() {
        let limits = Limits { set_max_intset_entries: 3, ..Limits::default() };
        let mut set = Set::new();
        assert!(set.insert(b"3", &limits));
        assert!(set.insert(b"-1", &limits));
        assert!(!set.insert(b"3", &limits));
        assert_eq!(set.encoding(), "intset");
        assert_eq!(set.iter().map(|m| m.into_owned()).collect::<Vec<_>>(), vec![b"-1".to_vec(), b"3".to_vec()]);
        assert!(!set.contains(b"03"));
        assert!(set.insert(b"03", &limits));
        assert_eq!(set.encoding(), "hashtable");
        assert!(set.contains(b"3") && set.contains(b"03") && set.contains(b"-1"));
        let mut many = Set::new();
        for n in 0..4 {
            many.insert(n.to_string().as_bytes(), &limits);
        }
        assert_eq!(many.encoding(), "hashtable");
        assert!(many.remove(b"2"));
        assert_eq!(many.len(), 3);
    }

    #[test]
    fn scan_returns_every_member_despite_removals() {
        let limits = Limits { set_max_intset_entries: 0, ..Limits::default() };
        let mut set = Set::new();
        for n in 0..100 {
            set.insert(format!("m{n}").as_bytes(), &limits);
        }
        let mut seen = std::collections::HashSet::new();
        let mut cursor = 0;
        let mut step = 0;
        loop {
            let (next, members) = set.scan(cursor, 7);
            seen.extend(members.into_iter().map(|m| m.into_owned()));
            // Remove members that were already returned and some that were not, add new ones.
            set.remove(format!("m{}", step * 3).as_bytes());
            set.insert(format!("new{step}").as_bytes(), &limits);
            step += 1;
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        for n in 0..100 {
            let member = format!("m{n}");
            if set.contains(member.as_bytes()) {
                assert!(seen.contains(member.as_bytes()), "{member} missed");
            }
        }
    }

    #[test]
    fn listpack_sets_as_redis_7_2() {
        let limits = Limits { set_max_intset_entries: 4, set_max_listpack_entries: 3, set_max_listpack_value: 5, ..Limits::default() };
        let mut set = Set::new();
        set.insert(b"1", &limits);
        assert!(set.insert(b"a", &limits));
        assert_eq!(set.encoding(), "listpack");
        assert!(!set.insert(b"1", &limits));
        assert!(set.contains(b"1") && set.contains(b"a"));
        assert!(set.insert(b"b", &limits));
        assert_eq!(set.encoding(), "listpack");
        assert!(set.insert(b"c", &limits));
        assert_eq!(set.encoding(), "hashtable");
        let mut long = Set::new();
        long.insert(b"toolong", &limits);
        assert_eq!(long.encoding(), "hashtable");
        let mut off = Set::new();
        off.insert(b"a", &Limits::default());
        assert_eq!(off.encoding(), "hashtable", "listpack sets are off by default (Redis 7.0)");
        let mut ints = Set::new();
        for n in 0..5 {
            ints.insert(n.to_string().as_bytes(), &limits);
        }
        assert_eq!(ints.encoding(), "hashtable", "an intset past its limit becomes a hash table");
    }

    #[test]
    fn model_against_btreeset() {
        use rand::{Rng, SeedableRng};
        let packed = Limits { set_max_intset_entries: 8, set_max_listpack_entries: 12, set_max_listpack_value: 3, ..Limits::default() };
        for limits in [Limits::default(), Limits { set_max_intset_entries: 5, ..Limits::default() }, packed] {
            let mut rng = rand::rngs::StdRng::seed_from_u64(22);
            let mut set = Set::new();
            let mut model = std::collections::BTreeSet::new();
            for step in 0..3000 {
                // Mostly integers (some non-canonical), now and then a word.
                let member = match rng.random_range(0..10) {
                    0 => format!("w{}", rng.random_range(0..5)),
                    1 => format!("0{}", rng.random_range(0..5)),
                    _ => rng.random_range(-20i64..20).to_string(),
                }
                .into_bytes();
                match rng.random_range(0..4) {
                    0 => assert_eq!(set.remove(&member), model.remove(&member)),
                    1 if !model.is_empty() => {
                        let at = rng.random_range(0..set.len());
                        let popped = set.remove_index(at).unwrap();
                        assert!(model.remove(&popped));
                    }
                    _ => assert_eq!(set.insert(&member, &limits), model.insert(member.clone())),
                }
                assert_eq!(set.len(), model.len());
                assert_eq!(set.contains(&member), model.contains(&member));
                if step % 50 == 0 {
                    let mut all: Vec<Vec<u8>> = set.iter().map(|m| m.into_owned()).collect();
                    all.sort();
                    assert_eq!(all, model.iter().cloned().collect::<Vec<_>>());
                }
            }
        }
    }
}
