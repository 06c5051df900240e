//! Set values: a sorted array of integers while every member is an integer and there are at most
//! `set-max-intset-entries` of them (`intset`), an insertion-ordered hash set otherwise
//! (`hashtable`). Like Redis 7.0, a set never converts back.

use std::borrow::Cow;

use indexmap::IndexSet;

use super::value::{dense_scan, DenseHasher, Limits};
use crate::num::parse_i64;

/// A set of byte strings.
#[derive(Clone, Debug)]
pub enum Set {
    Ints(Vec<i64>),
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
            Set::Table(table) => table.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            Set::Ints(_) => "intset",
            Set::Table(_) => "hashtable",
        }
    }

    pub fn heap_size(&self) -> usize {
        match self {
            Set::Ints(ints) => ints.capacity() * 8,
            Set::Table(table) => {
                table.capacity() * (std::mem::size_of::<Box<[u8]>>() + 16)
                    + super::list::estimate(table.len(), table.iter().map(|m| m.len()))
            }
        }
    }

    fn convert(&mut self) {
        if let Set::Ints(ints) = self {
            let mut table = IndexSet::with_capacity_and_hasher(ints.len() + 1, DenseHasher::default());
            table.extend(ints.iter().map(|n| Box::from(itoa::Buffer::new().format(*n).as_bytes())));
            *self = Set::Table(table);
        }
    }

    pub fn contains(&self, member: &[u8]) -> bool {
        match self {
            Set::Ints(ints) => parse_i64(member).is_some_and(|n| ints.binary_search(&n).is_ok()),
            Set::Table(table) => table.contains(member),
        }
    }

    /// Adds `member`; returns true when it is new.
    pub fn insert(&mut self, member: &[u8], limits: &Limits) -> bool {
        if let Set::Ints(ints) = self {
            match parse_i64(member) {
                Some(n) => {
                    let Err(at) = ints.binary_search(&n) else {
                        return false;
                    };
                    ints.insert(at, n);
                    if ints.len() > limits.set_max_intset_entries {
                        self.convert();
                    }
                    return true;
                }
                None => self.convert(),
            }
        }
        match self {
            Set::Table(table) => table.insert(Box::from(member)),
            Set::Ints(_) => false,
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
            Set::Table(table) => table.swap_remove(member),
        }
    }

    pub fn iter(&self) -> Box<dyn Iterator<Item = Cow<'_, [u8]>> + '_> {
        match self {
            Set::Ints(ints) => Box::new(ints.iter().map(|n| int_text(*n))),
            Set::Table(table) => Box::new(table.iter().map(|m| Cow::Borrowed(&m[..]))),
        }
    }

    /// The member at position `index` (for random picks).
    pub fn get_index(&self, index: usize) -> Option<Cow<'_, [u8]>> {
        match self {
            Set::Ints(ints) => ints.get(index).map(|n| int_text(*n)),
            Set::Table(table) => table.get_index(index).map(|m| Cow::Borrowed(&m[..])),
        }
    }

    /// Removes and returns the member at position `index`.
    pub fn remove_index(&mut self, index: usize) -> Option<Vec<u8>> {
        match self {
            Set::Ints(ints) => (index < ints.len()).then(|| int_text(ints.remove(index)).into_owned()),
            Set::Table(table) => table.swap_remove_index(index).map(Vec::from),
        }
    }

    /// One SSCAN step: an intset is returned whole, as Redis does.
    pub fn scan(&self, cursor: u64, count: usize) -> (u64, Vec<Cow<'_, [u8]>>) {
        match self {
            Set::Ints(_) => (0, self.iter().collect()),
            Set::Table(table) => {
                let (range, next) = dense_scan(table.len(), cursor, count);
                (next, range.rev().filter_map(|i| table.get_index(i)).map(|m| Cow::Borrowed(&m[..])).collect())
            }
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
}
