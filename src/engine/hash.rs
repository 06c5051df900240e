//! Hash values: field/value pairs packed in one buffer while small (`listpack`), an insertion-ordered
//! hash table past `hash-max-listpack-entries` / `hash-max-listpack-value` (`hashtable`). Like Redis
//! 7.0, a hash never converts back.

use indexmap::IndexMap;

use super::dense::{dense_scan, DenseHasher};
use super::limits::Limits;
use super::pack::Pack;

/// One HSCAN step's result: the next cursor and the pairs.
pub type ScanStep<'a> = (u64, Vec<(&'a [u8], &'a [u8])>);

/// The `hashtable` encoding.
type Table = IndexMap<Box<[u8]>, Box<[u8]>, DenseHasher>;

/// A map of fields to values.
///
/// The table is boxed so that the packed form, by far the most common, sits in a 32-byte block
/// (the value's box) instead of a 64-byte one.
#[derive(Clone, Debug)]
pub enum Hash {
    /// Fields and values alternate: field0, value0, field1, value1, ...
    Pack(Pack),
    Table(Box<Table>),
}

impl Default for Hash {
    fn default() -> Self {
        Hash::Pack(Pack::new())
    }
}

impl PartialEq for Hash {
    fn eq(&self, other: &Hash) -> bool {
        self.len() == other.len() && self.iter().all(|(f, v)| other.get(f) == Some(v))
    }
}

impl Hash {
    pub fn new() -> Hash {
        Hash::default()
    }

    pub fn len(&self) -> usize {
        match self {
            Hash::Pack(pack) => pack.len() / 2,
            Hash::Table(table) => table.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            Hash::Pack(_) => "listpack",
            Hash::Table(_) => "hashtable",
        }
    }

    pub fn heap_size(&self) -> usize {
        match self {
            Hash::Pack(pack) => pack.heap_size(),
            Hash::Table(table) => {
                std::mem::size_of::<Table>()
                    + table.capacity() * (2 * std::mem::size_of::<Box<[u8]>>() + 16)
                    + super::dense::estimate(table.len(), table.iter().map(|(f, v)| f.len() + v.len()))
            }
        }
    }

    /// Pair index of `field` in the packed encoding.
    fn pack_position(pack: &Pack, field: &[u8]) -> Option<usize> {
        pack.iter().step_by(2).position(|f| f == field)
    }

    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match self {
            Hash::Pack(pack) => {
                let mut it = pack.iter();
                while let (Some(f), Some(v)) = (it.next(), it.next()) {
                    if f == field {
                        return Some(v);
                    }
                }
                None
            }
            Hash::Table(table) => table.get(field).map(|v| &v[..]),
        }
    }

    pub fn contains(&self, field: &[u8]) -> bool {
        self.get(field).is_some()
    }

    fn convert(&mut self) {
        if let Hash::Pack(pack) = self {
            let mut table = Table::with_capacity_and_hasher(pack.len() / 2 + 1, DenseHasher::default());
            let mut it = pack.iter();
            while let (Some(f), Some(v)) = (it.next(), it.next()) {
                table.insert(Box::from(f), Box::from(v));
            }
            *self = Hash::Table(Box::new(table));
        }
    }

    /// Sets `field` to `value`; returns true when the field is new.
    pub fn set(&mut self, field: &[u8], value: &[u8], limits: &Limits) -> bool {
        if matches!(self, Hash::Pack(_)) && (field.len() > limits.hash_max_value || value.len() > limits.hash_max_value) {
            self.convert();
        }
        let added = match self {
            Hash::Pack(pack) => match Self::pack_position(pack, field) {
                Some(pair) => {
                    pack.replace(2 * pair + 1, value);
                    false
                }
                None => {
                    pack.push_back(field);
                    pack.push_back(value);
                    true
                }
            },
            Hash::Table(table) => table.insert(Box::from(field), Box::from(value)).is_none(),
        };
        if self.len() > limits.hash_max_entries {
            self.convert();
        }
        added
    }

    /// Removes `field`; returns whether it was there.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match self {
            Hash::Pack(pack) => match Self::pack_position(pack, field) {
                Some(pair) => {
                    pack.remove_range(2 * pair, 2 * pair + 2);
                    true
                }
                None => false,
            },
            Hash::Table(table) => table.swap_remove(field).is_some(),
        }
    }

    pub fn iter(&self) -> Box<dyn Iterator<Item = (&[u8], &[u8])> + '_> {
        match self {
            Hash::Pack(pack) => {
                let mut it = pack.iter();
                Box::new(std::iter::from_fn(move || Some((it.next()?, it.next()?))))
            }
            Hash::Table(table) => Box::new(table.iter().map(|(f, v)| (&f[..], &v[..]))),
        }
    }

    /// The pair at position `index` of the iteration order (for random picks).
    pub fn get_index(&self, index: usize) -> Option<(&[u8], &[u8])> {
        match self {
            Hash::Pack(pack) => Some((pack.get(2 * index)?, pack.get(2 * index + 1)?)),
            Hash::Table(table) => table.get_index(index).map(|(f, v)| (&f[..], &v[..])),
        }
    }

    /// One HSCAN step: the packed encoding returns everything at once, as Redis does; the table walks
    /// down from its end (see [`dense_scan`]). Returns the next cursor and the pairs.
    pub fn scan(&self, cursor: u64, count: usize) -> ScanStep<'_> {
        match self {
            Hash::Pack(_) => (0, self.iter().collect()),
            Hash::Table(table) => {
                let (range, next) = dense_scan(table.len(), cursor, count);
                (next, range.rev().filter_map(|i| table.get_index(i)).map(|(f, v)| (&f[..], &v[..])).collect())
            }
        }
    }
}

/// The write seam's mutators of a stored hash (each change applied and recorded as its
/// `Mutation`), beside the type but in a module of their own: the type itself depends only on
/// leaf modules, and `value` and the seam sit above it.
mod tracked {
    use super::super::mutation::Mutation;
    use super::super::write::Tracked;
    use super::*;

    /// The mutators of a stored hash: each records the field it changed.
    impl Tracked<'_, Hash> {
        /// Sets `field` to `value`; returns true when the field is new.
        pub fn set(&mut self, field: &[u8], value: &[u8], limits: &Limits) -> bool {
            let added = self.value.set(field, value, limits);
            self.log.member(|key| Mutation::HashSet { key, field, value });
            added
        }

        /// Removes `field`; returns whether it was there.
        pub fn remove(&mut self, field: &[u8]) -> bool {
            let removed = self.value.remove(field);
            if removed {
                self.log.member(|key| Mutation::HashRemove { key, field });
            }
            removed
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_on_entries_and_value_size() {
        // The value's box of a small hash is one 32-byte jemalloc block (see `Hash`).
        assert!(std::mem::size_of::<Hash>() <= 32);
        let limits = Limits { hash_max_entries: 2, hash_max_value: 8, ..Limits::default() };
        let mut hash = Hash::new();
        assert!(hash.set(b"a", b"1", &limits));
        assert!(!hash.set(b"a", b"2", &limits));
        assert!(hash.set(b"b", b"3", &limits));
        assert_eq!(hash.encoding(), "listpack");
        assert_eq!(hash.get(b"a"), Some(&b"2"[..]));
        assert!(hash.set(b"c", b"4", &limits));
        assert_eq!(hash.encoding(), "hashtable");
        assert_eq!(hash.len(), 3);
        let mut long = Hash::new();
        long.set(b"f", b"123456789", &limits);
        assert_eq!(long.encoding(), "hashtable");
        assert!(hash.remove(b"b"));
        assert!(!hash.remove(b"b"));
        assert_eq!(hash.get(b"c"), Some(&b"4"[..]));
    }

    #[test]
    fn packed_removal_keeps_pairs_aligned() {
        let limits = Limits::default();
        let mut hash = Hash::new();
        for (f, v) in [("a", "x"), ("x", "a"), ("b", "y")] {
            hash.set(f.as_bytes(), v.as_bytes(), &limits);
        }
        assert!(hash.remove(b"x"));
        assert_eq!(hash.iter().collect::<Vec<_>>(), vec![(&b"a"[..], &b"x"[..]), (&b"b"[..], &b"y"[..])]);
        assert_eq!(hash.get(b"y"), None);
    }

    #[test]
    fn model_against_btreemap() {
        use rand::{Rng, SeedableRng};
        for limits in [Limits::default(), Limits { hash_max_entries: 6, hash_max_value: 4, ..Limits::default() }] {
            let mut rng = rand::rngs::StdRng::seed_from_u64(21);
            let mut hash = Hash::new();
            let mut model = std::collections::BTreeMap::new();
            for _ in 0..3000 {
                let field = format!("f{}", rng.random_range(0..20)).into_bytes();
                let value = vec![b'v'; rng.random_range(0..6)];
                if rng.random_bool(0.4) {
                    assert_eq!(hash.remove(&field), model.remove(&field).is_some());
                } else {
                    assert_eq!(hash.set(&field, &value, &limits), model.insert(field.clone(), value).is_none());
                }
                assert_eq!(hash.len(), model.len());
                let mut pairs: Vec<(Vec<u8>, Vec<u8>)> = hash.iter().map(|(f, v)| (f.to_vec(), v.to_vec())).collect();
                pairs.sort();
                assert_eq!(pairs, model.iter().map(|(f, v)| (f.clone(), v.clone())).collect::<Vec<_>>());
                for i in 0..hash.len() {
                    let (f, v) = hash.get_index(i).unwrap();
                    assert_eq!(model.get(f).map(Vec::as_slice), Some(v));
                }
            }
        }
    }
}
