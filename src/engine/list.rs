//! List values: a packed buffer while small, a deque of separately allocated elements past
//! `list-max-listpack-size`. Redis 7.0 reports both as `quicklist` (its lists are always quicklists
//! of listpack nodes; a small list is one node).

use std::collections::VecDeque;

use super::limits::Limits;
use super::pack::Pack;

/// A list of byte strings, and the position its first element has in the list's persisted
/// records: pushes and pops at the front move it, so every element keeps its position while it
/// stays in the list (persistence writes one record per element, keyed by position).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct List {
    items: Items,
    head: u64,
}

/// Where a new list's first element sits: the middle of the positions, so either end can grow.
const ORIGIN: u64 = 1 << 63;

impl Default for List {
    fn default() -> Self {
        List { items: Items::default(), head: ORIGIN }
    }
}

/// The elements, packed while small.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Items {
    Pack(Pack),
    Deque(VecDeque<Box<[u8]>>),
}

impl Default for Items {
    fn default() -> Self {
        Items::Pack(Pack::new())
    }
}

const SIZE_SAFETY_LIMIT: usize = 8192;

/// Whether a list of `count` elements taking `bytes` fits one node under `list-max-listpack-size`:
/// a positive setting limits elements, a negative one the node size (-1 = 4 KiB ... -5 = 64 KiB).
///
/// Like Redis's quicklist, a count-limited node is still capped at 8 KiB (`SIZE_SAFETY_LIMIT`).
fn fits(size: i64, count: usize, bytes: usize) -> bool {
    if size > 0 {
        count as i64 <= size && bytes <= SIZE_SAFETY_LIMIT
    } else {
        let shift = (-size).clamp(1, 5) - 1;
        bytes <= 4096usize << shift
    }
}

impl Items {
    fn len(&self) -> usize {
        match self {
            Items::Pack(pack) => pack.len(),
            Items::Deque(deque) => deque.len(),
        }
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn encoding(&self) -> &'static str {
        "quicklist"
    }

    fn heap_size(&self) -> usize {
        match self {
            Items::Pack(pack) => pack.heap_size(),
            Items::Deque(deque) => deque.capacity() * std::mem::size_of::<Box<[u8]>>() + deque.iter().map(|e| e.len()).sum::<usize>(),
        }
    }

    /// Moves a packed list that outgrew its node to the deque encoding.
    fn grow(&mut self, limits: &Limits) {
        if let Items::Pack(pack) = self {
            if !fits(limits.list_max_listpack_size, pack.len(), pack.bytes()) {
                *self = Items::Deque(pack.iter().map(Box::from).collect());
            }
        }
    }

    /// Moves a deque that shrank well below the limit back to the packed encoding (half the limit,
    /// so a list at the boundary does not convert back and forth).
    fn shrink(&mut self, limits: &Limits) {
        if let Items::Deque(deque) = self {
            if deque.len() > 256 {
                return;
            }
            let bytes: usize = deque.iter().map(|e| e.len() + 2).sum();
            if fits(limits.list_max_listpack_size, deque.len() * 2, bytes * 2) {
                *self = Items::Pack(deque.iter().map(|e| &e[..]).collect());
            }
        }
    }

    fn push_back(&mut self, item: &[u8], limits: &Limits) {
        match self {
            Items::Pack(pack) => pack.push_back(item),
            Items::Deque(deque) => deque.push_back(item.into()),
        }
        self.grow(limits);
    }

    fn push_front(&mut self, item: &[u8], limits: &Limits) {
        match self {
            Items::Pack(pack) => pack.push_front(item),
            Items::Deque(deque) => deque.push_front(item.into()),
        }
        self.grow(limits);
    }

    fn pop_front(&mut self, limits: &Limits) -> Option<Box<[u8]>> {
        let item = match self {
            Items::Pack(pack) => {
                let item = pack.get(0).map(Box::from);
                pack.remove(0);
                item
            }
            Items::Deque(deque) => deque.pop_front(),
        };
        self.shrink(limits);
        item
    }

    fn pop_back(&mut self, limits: &Limits) -> Option<Box<[u8]>> {
        let item = match self {
            Items::Pack(pack) => {
                let last = pack.len().checked_sub(1)?;
                let item = pack.get(last).map(Box::from);
                pack.remove(last);
                item
            }
            Items::Deque(deque) => deque.pop_back(),
        };
        self.shrink(limits);
        item
    }

    fn get(&self, index: usize) -> Option<&[u8]> {
        match self {
            Items::Pack(pack) => pack.get(index),
            Items::Deque(deque) => deque.get(index).map(|e| &e[..]),
        }
    }

    /// Replaces element `index`; false when out of range.
    fn set(&mut self, index: usize, item: &[u8], limits: &Limits) -> bool {
        if index >= self.len() {
            return false;
        }
        match self {
            Items::Pack(pack) => pack.replace(index, item),
            Items::Deque(deque) => deque[index] = item.into(),
        }
        self.grow(limits);
        true
    }

    /// Inserts `item` so it becomes element `index`.
    fn insert(&mut self, index: usize, item: &[u8], limits: &Limits) {
        match self {
            Items::Pack(pack) => pack.insert(index, item),
            Items::Deque(deque) => deque.insert(index.min(deque.len()), item.into()),
        }
        self.grow(limits);
    }

    fn iter(&self) -> ListIter<'_> {
        match self {
            Items::Pack(pack) => ListIter::Pack(pack.iter()),
            Items::Deque(deque) => ListIter::Deque(deque.iter()),
        }
    }

    /// Elements from the tail to the head.
    fn iter_rev(&self) -> Box<dyn Iterator<Item = &[u8]> + '_> {
        match self {
            Items::Pack(pack) => Box::new(pack.iter().collect::<Vec<_>>().into_iter().rev()),
            Items::Deque(deque) => Box::new(deque.iter().rev().map(|e| &e[..])),
        }
    }

    /// Elements `start..=end` (already clamped to the list).
    fn range(&self, start: usize, end: usize) -> impl Iterator<Item = &[u8]> + '_ {
        self.iter().skip(start).take(end.saturating_sub(start) + 1)
    }

    /// Keeps the elements for which `keep(index, element)` is true.
    fn retain(&mut self, mut keep: impl FnMut(usize, &[u8]) -> bool, limits: &Limits) {
        match self {
            Items::Pack(pack) => pack.retain(keep),
            Items::Deque(deque) => {
                let mut index = 0;
                deque.retain(|e| {
                    index += 1;
                    keep(index - 1, e)
                });
            }
        }
        self.shrink(limits);
    }

    /// Keeps only elements `start..=end`; `start > end` empties the list.
    fn trim(&mut self, start: usize, end: usize, limits: &Limits) {
        let len = self.len();
        if start > end || start >= len {
            *self = Items::default();
            return;
        }
        let end = end.min(len - 1);
        match self {
            Items::Pack(pack) => {
                pack.remove_range(end + 1, len);
                pack.remove_range(0, start);
            }
            Items::Deque(deque) => {
                deque.truncate(end + 1);
                deque.drain(..start);
            }
        }
        self.shrink(limits);
    }
}

impl List {
    pub fn new() -> List {
        List::default()
    }

    /// A list whose first element has persisted position `head` (recovery).
    pub fn starting_at(head: u64) -> List {
        List { items: Items::default(), head }
    }

    /// The persisted position of the first element.
    pub fn head(&self) -> u64 {
        self.head
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn encoding(&self) -> &'static str {
        self.items.encoding()
    }

    pub fn heap_size(&self) -> usize {
        self.items.heap_size()
    }

    pub fn push_back(&mut self, item: &[u8], limits: &Limits) {
        self.items.push_back(item, limits);
    }

    pub fn push_front(&mut self, item: &[u8], limits: &Limits) {
        self.items.push_front(item, limits);
        self.head = self.head.wrapping_sub(1);
    }

    pub fn pop_front(&mut self, limits: &Limits) -> Option<Box<[u8]>> {
        let item = self.items.pop_front(limits)?;
        self.head = self.head.wrapping_add(1);
        Some(item)
    }

    pub fn pop_back(&mut self, limits: &Limits) -> Option<Box<[u8]>> {
        self.items.pop_back(limits)
    }

    pub fn get(&self, index: usize) -> Option<&[u8]> {
        self.items.get(index)
    }

    /// Replaces element `index`; false when out of range.
    pub fn set(&mut self, index: usize, item: &[u8], limits: &Limits) -> bool {
        self.items.set(index, item, limits)
    }

    /// Inserts `item` so it becomes element `index`.
    pub fn insert(&mut self, index: usize, item: &[u8], limits: &Limits) {
        self.items.insert(index, item, limits);
    }

    pub fn iter(&self) -> ListIter<'_> {
        self.items.iter()
    }

    /// Elements from the tail to the head.
    pub fn iter_rev(&self) -> Box<dyn Iterator<Item = &[u8]> + '_> {
        self.items.iter_rev()
    }

    /// Elements `start..=end` (already clamped to the list).
    pub fn range(&self, start: usize, end: usize) -> impl Iterator<Item = &[u8]> + '_ {
        self.items.range(start, end)
    }

    /// Keeps the elements for which `keep(index, element)` is true.
    pub fn retain(&mut self, keep: impl FnMut(usize, &[u8]) -> bool, limits: &Limits) {
        self.items.retain(keep, limits);
    }

    /// Keeps only elements `start..=end`; `start > end` empties the list.
    pub fn trim(&mut self, start: usize, end: usize, limits: &Limits) {
        if start <= end && start < self.len() {
            self.head = self.head.wrapping_add(start as u64);
        }
        self.items.trim(start, end, limits);
    }
}

/// Elements from head to tail.
pub enum ListIter<'a> {
    Pack(super::pack::PackIter<'a>),
    Deque(std::collections::vec_deque::Iter<'a, Box<[u8]>>),
}

impl<'a> Iterator for ListIter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        match self {
            ListIter::Pack(it) => it.next(),
            ListIter::Deque(it) => it.next().map(|e| &e[..]),
        }
    }

    fn nth(&mut self, n: usize) -> Option<&'a [u8]> {
        match self {
            ListIter::Pack(it) => it.nth(n),
            ListIter::Deque(it) => it.nth(n).map(|e| &e[..]),
        }
    }
}

/// The write seam's mutators of a stored list (each change applied and recorded as its
/// `Mutation`), beside the type but in a module of their own: the type itself depends only on
/// leaf modules, and `value` and the seam sit above it.
mod tracked {
    use super::super::mutation::{Mutation, Side};
    use super::super::write::Tracked;
    use super::*;

    /// The mutators of a stored list: each records the element it changed.
    impl Tracked<'_, List> {
        pub fn push_back(&mut self, item: &[u8], limits: &Limits) {
            self.value.push_back(item, limits);
            let position = self.value.head.wrapping_add(self.value.len() as u64 - 1);
            self.log.member(|key| Mutation::ListPush { key, side: Side::Back, item, position });
        }

        pub fn push_front(&mut self, item: &[u8], limits: &Limits) {
            self.value.push_front(item, limits);
            let position = self.value.head;
            self.log.member(|key| Mutation::ListPush { key, side: Side::Front, item, position });
        }

        pub fn pop_front(&mut self, limits: &Limits) -> Option<Box<[u8]>> {
            let position = self.value.head;
            let item = self.value.pop_front(limits)?;
            self.log.member(|key| Mutation::ListPop { key, side: Side::Front, position });
            Some(item)
        }

        pub fn pop_back(&mut self, limits: &Limits) -> Option<Box<[u8]>> {
            let position = self.value.head.wrapping_add(self.value.len().saturating_sub(1) as u64);
            let item = self.value.pop_back(limits)?;
            self.log.member(|key| Mutation::ListPop { key, side: Side::Back, position });
            Some(item)
        }

        /// Replaces element `index`; false when out of range.
        pub fn set(&mut self, index: usize, item: &[u8], limits: &Limits) -> bool {
            let done = self.value.set(index, item, limits);
            if done {
                let position = self.value.head.wrapping_add(index as u64);
                self.log.member(|key| Mutation::ListSet { key, index, item, position });
            }
            done
        }

        /// Inserts `item` so it becomes element `index`.
        pub fn insert(&mut self, index: usize, item: &[u8], limits: &Limits) {
            self.value.insert(index, item, limits);
            let index = index.min(self.value.len() - 1);
            self.log.member(|key| Mutation::ListInsert { key, index, item });
        }

        /// Keeps the elements for which `keep(index, element)` is true.
        pub fn retain(&mut self, mut keep: impl FnMut(usize, &[u8]) -> bool, limits: &Limits) {
            let log = self.log;
            let mut removed = 0;
            self.value.retain(
                |index, item| {
                    let kept = keep(index, item);
                    if !kept {
                        // Positions as the removals are applied one after another.
                        let index = index - removed;
                        log.member(|key| Mutation::ListRemove { key, index });
                        removed += 1;
                    }
                    kept
                },
                limits,
            );
        }

        /// Keeps only elements `start..=end`; `start > end` empties the list.
        pub fn trim(&mut self, start: usize, end: usize, limits: &Limits) {
            self.value.trim(start, end, limits);
            self.log.member(|key| Mutation::ListTrim { key, start, end });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(list: &List) -> Vec<Vec<u8>> {
        list.iter().map(<[u8]>::to_vec).collect()
    }

    #[test]
    fn converts_past_the_node_limit_and_back() {
        let limits = Limits { list_max_listpack_size: 4, ..Limits::default() };
        let mut list = List::new();
        for i in 0..4u8 {
            list.push_back(&[b'a' + i], &limits);
        }
        assert!(matches!(list.items, Items::Pack(_)));
        list.push_front(b"z", &limits);
        assert!(matches!(list.items, Items::Deque(_)));
        assert_eq!(items(&list), vec![b"z".to_vec(), b"a".to_vec(), b"b".to_vec(), b"c".to_vec(), b"d".to_vec()]);
        list.pop_front(&limits);
        list.pop_back(&limits);
        assert!(matches!(list.items, Items::Deque(_)));
        list.pop_back(&limits);
        assert!(matches!(list.items, Items::Pack(_)));
        assert_eq!(items(&list), vec![b"a".to_vec(), b"b".to_vec()]);
    }

    #[test]
    fn model_against_vecdeque() {
        use rand::{Rng, SeedableRng};
        for size in [-2, 3] {
            let limits = Limits { list_max_listpack_size: size, ..Limits::default() };
            let mut rng = rand::rngs::StdRng::seed_from_u64(7);
            let mut list = List::new();
            let mut model: VecDeque<Vec<u8>> = VecDeque::new();
            for _ in 0..3000 {
                let item = vec![b'a' + rng.random_range(0..5u8); rng.random_range(0..3000)];
                match rng.random_range(0..7) {
                    0 => {
                        list.push_back(&item, &limits);
                        model.push_back(item);
                    }
                    1 => {
                        list.push_front(&item, &limits);
                        model.push_front(item);
                    }
                    2 => assert_eq!(list.pop_front(&limits).map(|b| b.to_vec()), model.pop_front()),
                    3 => assert_eq!(list.pop_back(&limits).map(|b| b.to_vec()), model.pop_back()),
                    4 if !model.is_empty() => {
                        let at = rng.random_range(0..=model.len());
                        list.insert(at, &item, &limits);
                        model.insert(at, item);
                    }
                    5 if !model.is_empty() => {
                        let at = rng.random_range(0..model.len());
                        assert!(list.set(at, &item, &limits));
                        model[at] = item;
                    }
                    _ => {
                        let first = item.first().copied();
                        list.retain(|_, e| e.first().copied() != first, &limits);
                        model.retain(|e| e.first().copied() != first);
                    }
                }
                assert_eq!(list.len(), model.len());
            }
            assert_eq!(items(&list), model.iter().cloned().collect::<Vec<_>>());
            let rev: Vec<Vec<u8>> = list.iter_rev().map(<[u8]>::to_vec).collect();
            assert_eq!(rev, model.iter().rev().cloned().collect::<Vec<_>>());
        }
    }
}
