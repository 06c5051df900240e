//! The large sorted-set encoding: an indexable skiplist ordered by (score, member), after Redis's
//! `zskiplist` (every forward link records how many elements it skips, its span, so rank lookups,
//! "how many come before this bound" and "the element at rank r" take O(log n)), plus a member
//! index for O(1) lookups by member.
//!
//! Each element is stored once, in one heap block, as Redis/Valkey 8 do with `zskiplistNode`'s
//! flexible `level[]` array and embedded member:
//!
//! ```text
//! offset 0   score      f64
//!        8   back       pointer to the previous node (null for the first)
//!        16  length     u32, of the member
//!        20  levels     u8, how many links follow
//!        21  links      levels x (next: pointer, span: u32), 12 bytes each, unaligned
//!        ..  member     length bytes
//! ```
//!
//! A node of one level with a 13-byte member is 46 bytes, one 48-byte jemalloc block; a walk
//! reads a node's score, links and (on equal scores) member from the block it already fetched. The
//! links are packed at 12 bytes without padding and read with unaligned loads (free on x86-64 and
//! AArch64), which is what keeps that node at 48 bytes instead of 64. The header node has
//! `MAX_LEVEL` links and no member.
//!
//! The member index is an `IndexMap` whose keys are pointers to the nodes, hashed and compared
//! through the member bytes in the node (so `get(&[u8])` works) and holding no copy of them: about
//! 16 bytes of entry plus 9-10 bytes of hash table per member. Its dense positions serve
//! ZRANDMEMBER (`get_index`) and ZSCAN ([`super::dense::dense_scan`]), as for hashes and sets.
//!
//! Ownership: the list owns every node; the index only borrows them. A node leaves the index and is
//! unlinked before it is freed, so no pointer to it outlives it. All `unsafe` is in this module.

use std::alloc::{self, Layout};
use std::borrow::Borrow;
use std::fmt;
use std::hash::{BuildHasher, Hash, Hasher};
use std::ptr::{self, NonNull};

use indexmap::map::raw_entry_v1::{RawEntryApiV1, RawEntryMut};
use indexmap::IndexMap;

use super::dense::DenseHasher;

const MAX_LEVEL: usize = 32;

/// Byte offsets of a node's fields (see the module docs).
const SCORE: usize = 0;
const BACK: usize = 8;
const MEMBER_LEN: usize = 16;
const LEVEL_COUNT: usize = 20;
const LINKS: usize = 21;
/// One link: the next node's pointer, then the span as a u32.
const LINK_SIZE: usize = 12;
const NODE_ALIGN: usize = 8;

/// Whether (score, member) `a` sorts before `b`.
fn before(a_score: f64, a_member: &[u8], b_score: f64, b_member: &[u8]) -> bool {
    a_score < b_score || (a_score == b_score && a_member < b_member)
}

fn random_level() -> usize {
    let mut level = 1;
    while level < MAX_LEVEL && rand::random::<u32>() & 0xffff < 0xffff / 4 {
        level += 1;
    }
    level
}

/// The block size jemalloc hands out for a request of `size` bytes (its size classes: multiples of
/// 16 up to 128, then four classes per doubling).
fn size_class(size: usize) -> usize {
    if size <= 8 {
        8
    } else if size <= 128 {
        size.next_multiple_of(16)
    } else {
        size.next_multiple_of(size.next_power_of_two() / 8)
    }
}

/// The mean block size of a node with a member of `member_len` bytes over the level distribution
/// (`random_level`: one level with probability 3/4, each further one 1/4 as likely; nodes past six
/// levels, one in 1024, are left out).
fn expected_block_size(member_len: usize) -> usize {
    let (mut total, mut share) = (0usize, 3 * 4usize.pow(5));
    for levels in 1..=6 {
        total += share * size_class(NodeRef::layout(levels, member_len).size());
        share /= 4;
    }
    total / 4usize.pow(6)
}

/// A pointer to a node, compared by address.
///
/// Invariant (upheld by this module, the only place that creates one): a `NodeRef` is held only by
/// the `List` that allocated its node and by that list's index, and only while the node is
/// allocated. The accessors below rely on it; the setters are called only from methods that hold
/// the list by `&mut`.
#[derive(Clone, Copy, PartialEq, Eq)]
struct NodeRef(NonNull<u8>);

impl NodeRef {
    fn layout(levels: usize, member_len: usize) -> Layout {
        Layout::from_size_align(LINKS + levels * LINK_SIZE + member_len, NODE_ALIGN)
            .unwrap_or_else(|_| panic!("skiplist node of {member_len} member bytes"))
    }

    /// Allocates a node with `levels` empty links. Members are capped well below 4 GiB by
    /// proto-max-bulk-len, so the length fits a u32 (as in `ThinBytes`).
    fn alloc(score: f64, member: &[u8], levels: usize) -> NodeRef {
        debug_assert!((1..=MAX_LEVEL).contains(&levels));
        let len = u32::try_from(member.len()).unwrap_or_else(|_| panic!("sorted set member of {} bytes exceeds 4 GiB", member.len()));
        let layout = Self::layout(levels, member.len());
        // SAFETY: the layout has a non-zero size (at least LINKS + LINK_SIZE bytes).
        let raw = unsafe { alloc::alloc(layout) };
        let Some(ptr) = NonNull::new(raw) else {
            alloc::handle_alloc_error(layout);
        };
        // SAFETY: every write lies inside the block of `layout.size()` bytes (the offsets follow
        // `layout`); the block is 8-aligned, so the f64, pointer and u32 header fields are aligned
        // and the links are written unaligned; the member copy does not overlap its source.
        unsafe {
            let p = ptr.as_ptr();
            p.add(SCORE).cast::<f64>().write(score);
            p.add(BACK).cast::<*mut u8>().write(ptr::null_mut());
            p.add(MEMBER_LEN).cast::<u32>().write(len);
            p.add(LEVEL_COUNT).write(levels as u8);
            for i in 0..levels {
                p.add(LINKS + i * LINK_SIZE).cast::<*mut u8>().write_unaligned(ptr::null_mut());
                p.add(LINKS + i * LINK_SIZE + 8).cast::<u32>().write_unaligned(0);
            }
            ptr::copy_nonoverlapping(member.as_ptr(), p.add(LINKS + levels * LINK_SIZE), member.len());
        }
        NodeRef(ptr)
    }

    /// Frees the node.
    ///
    /// # Safety
    /// The node must be allocated, out of the index and unlinked from every other node (or all of
    /// them are being freed), and no copy of this `NodeRef` may be used afterwards.
    unsafe fn free(self) {
        let layout = Self::layout(self.levels(), self.member_len());
        // SAFETY: allocated in `alloc` with this same layout (levels and length never change);
        // the caller guarantees it is freed once.
        unsafe { alloc::dealloc(self.0.as_ptr(), layout) }
    }

    /// The block's size as allocated, for memory accounting.
    fn block_size(self) -> usize {
        size_class(Self::layout(self.levels(), self.member_len()).size())
    }

    fn score(self) -> f64 {
        // SAFETY: the node is live (type invariant); the field is aligned and initialised.
        unsafe { self.0.as_ptr().add(SCORE).cast::<f64>().read() }
    }

    fn set_score(self, score: f64) {
        // SAFETY: as in `score`; callers hold the list by `&mut`.
        unsafe { self.0.as_ptr().add(SCORE).cast::<f64>().write(score) }
    }

    fn back(self) -> Option<NodeRef> {
        // SAFETY: as in `score`.
        NonNull::new(unsafe { self.0.as_ptr().add(BACK).cast::<*mut u8>().read() }).map(NodeRef)
    }

    fn set_back(self, back: Option<NodeRef>) {
        // SAFETY: as in `set_score`.
        unsafe { self.0.as_ptr().add(BACK).cast::<*mut u8>().write(back.map_or(ptr::null_mut(), |n| n.0.as_ptr())) }
    }

    fn member_len(self) -> usize {
        // SAFETY: as in `score`.
        unsafe { self.0.as_ptr().add(MEMBER_LEN).cast::<u32>().read() as usize }
    }

    fn levels(self) -> usize {
        // SAFETY: as in `score`.
        unsafe { self.0.as_ptr().add(LEVEL_COUNT).read() as usize }
    }

    /// Pointer to link `i`, which must be below `levels()`.
    fn link(self, i: usize) -> *mut u8 {
        debug_assert!(i < self.levels());
        // SAFETY: link `i` lies inside the live block.
        unsafe { self.0.as_ptr().add(LINKS + i * LINK_SIZE) }
    }

    fn next(self, i: usize) -> Option<NodeRef> {
        // SAFETY: the link is inside the live block and initialised; it may be unaligned.
        NonNull::new(unsafe { self.link(i).cast::<*mut u8>().read_unaligned() }).map(NodeRef)
    }

    fn set_next(self, i: usize, next: Option<NodeRef>) {
        // SAFETY: as in `next`; callers hold the list by `&mut`.
        unsafe { self.link(i).cast::<*mut u8>().write_unaligned(next.map_or(ptr::null_mut(), |n| n.0.as_ptr())) }
    }

    /// Elements between this node and `next(i)`, counting the latter (the rank difference).
    fn span(self, i: usize) -> u32 {
        // SAFETY: as in `next`.
        unsafe { self.link(i).add(8).cast::<u32>().read_unaligned() }
    }

    fn set_span(self, i: usize, span: u32) {
        // SAFETY: as in `set_next`.
        unsafe { self.link(i).add(8).cast::<u32>().write_unaligned(span) }
    }

    /// The member bytes. The caller picks a lifetime during which the node stays allocated: the
    /// list's borrow for the list's methods, the key's borrow for [`MemberKey`].
    ///
    /// # Safety
    /// The node must stay allocated (and its member is never written) for `'a`.
    unsafe fn member<'a>(self) -> &'a [u8] {
        // SAFETY: `member_len` bytes follow the links inside the block, initialised in `alloc`;
        // the caller guarantees the block outlives 'a.
        unsafe { std::slice::from_raw_parts(self.0.as_ptr().add(LINKS + self.levels() * LINK_SIZE), self.member_len()) }
    }
}

/// The index's key: a node, hashed and compared by its member bytes, so the index can be searched
/// with a `&[u8]`.
struct MemberKey(NodeRef);

impl MemberKey {
    fn member(&self) -> &[u8] {
        // SAFETY: a key is in the index only while its node is allocated (it is removed before the
        // node is freed), and the index is borrowed for as long as `self` is.
        unsafe { self.0.member() }
    }
}

impl Hash for MemberKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Exactly as `[u8]` hashes, which `Borrow<[u8]>` requires.
        self.member().hash(state)
    }
}

impl PartialEq for MemberKey {
    fn eq(&self, other: &MemberKey) -> bool {
        self.member() == other.member()
    }
}

impl Eq for MemberKey {}

impl Borrow<[u8]> for MemberKey {
    fn borrow(&self) -> &[u8] {
        self.member()
    }
}

/// The linked nodes: a header node with `MAX_LEVEL` links, then the elements in order.
struct List {
    head: NodeRef,
    tail: Option<NodeRef>,
    /// Links in use: the highest level of any node (at least 1).
    level: usize,
    len: usize,
}

impl List {
    fn new() -> List {
        List { head: NodeRef::alloc(0.0, b"", MAX_LEVEL), tail: None, level: 1, len: 0 }
    }

    fn member(&self, node: NodeRef) -> &[u8] {
        // SAFETY: `node` belongs to this list (every NodeRef here does), which frees nodes only
        // through `&mut self`, so it outlives this borrow.
        unsafe { node.member() }
    }

    /// For every level, the last node that sorts before `node` (which may or may not be linked).
    fn path_to(&self, node: NodeRef) -> [NodeRef; MAX_LEVEL] {
        let (score, member) = (node.score(), self.member(node));
        let mut update = [self.head; MAX_LEVEL];
        let mut x = self.head;
        for i in (0..self.level).rev() {
            while let Some(next) = x.next(i) {
                if next != node && before(next.score(), self.member(next), score, member) {
                    x = next;
                } else {
                    break;
                }
            }
            update[i] = x;
        }
        update
    }

    /// Links `node`, which is not linked yet, at its place by (score, member), with its own number
    /// of levels.
    // `update` and `rank` are per-level arrays walked alongside the node's levels, as in Redis.
    #[allow(clippy::needless_range_loop)]
    fn link(&mut self, node: NodeRef) {
        let (score, member) = (node.score(), self.member(node));
        let mut update = [self.head; MAX_LEVEL];
        let mut rank = [0u32; MAX_LEVEL];
        let mut x = self.head;
        for i in (0..self.level).rev() {
            rank[i] = if i == self.level - 1 { 0 } else { rank[i + 1] };
            while let Some(next) = x.next(i) {
                if before(next.score(), self.member(next), score, member) {
                    rank[i] += x.span(i);
                    x = next;
                } else {
                    break;
                }
            }
            update[i] = x;
        }
        let level = node.levels();
        if level > self.level {
            for i in self.level..level {
                rank[i] = 0;
                update[i] = self.head;
                self.head.set_span(i, self.len as u32);
            }
            self.level = level;
        }
        for i in 0..level {
            node.set_next(i, update[i].next(i));
            node.set_span(i, update[i].span(i) - (rank[0] - rank[i]));
            update[i].set_next(i, Some(node));
            update[i].set_span(i, rank[0] - rank[i] + 1);
        }
        for i in level..self.level {
            update[i].set_span(i, update[i].span(i) + 1);
        }
        node.set_back((update[0] != self.head).then_some(update[0]));
        match node.next(0) {
            Some(next) => next.set_back(Some(node)),
            None => self.tail = Some(node),
        }
        self.len += 1;
    }

    /// Unlinks `node`, given its predecessors from [`List::path_to`]; the node stays allocated.
    fn unlink(&mut self, node: NodeRef, update: &[NodeRef; MAX_LEVEL]) {
        for (i, prev) in update.iter().enumerate().take(self.level) {
            if prev.next(i) == Some(node) {
                prev.set_span(i, prev.span(i) + node.span(i) - 1);
                prev.set_next(i, node.next(i));
            } else {
                prev.set_span(i, prev.span(i) - 1);
            }
        }
        match node.next(0) {
            Some(next) => next.set_back(node.back()),
            None => self.tail = node.back(),
        }
        while self.level > 1 && self.head.next(self.level - 1).is_none() {
            self.level -= 1;
        }
        self.len -= 1;
    }

    /// Gives the linked `node` a new score, moving it only if its neighbours no longer bracket it
    /// (Redis's `zslUpdateScore`); the block is reused either way.
    fn rescore(&mut self, node: NodeRef, score: f64) {
        let member = self.member(node);
        let after_back = node.back().is_none_or(|back| before(back.score(), self.member(back), score, member));
        let before_next = node.next(0).is_none_or(|next| before(score, member, next.score(), self.member(next)));
        if !(after_back && before_next) {
            let update = self.path_to(node);
            debug_assert!(update[0].next(0) == Some(node));
            self.unlink(node, &update);
            node.set_score(score);
            self.link(node);
        } else {
            node.set_score(score);
        }
    }

    /// How many elements satisfy `is_before`, which must hold for a prefix of the order.
    fn count_before(&self, is_before: impl Fn(f64, &[u8]) -> bool) -> usize {
        let mut rank = 0usize;
        let mut x = self.head;
        for i in (0..self.level).rev() {
            while let Some(next) = x.next(i) {
                if is_before(next.score(), self.member(next)) {
                    rank += x.span(i) as usize;
                    x = next;
                } else {
                    break;
                }
            }
        }
        rank
    }

    /// For every level, the last node with 0-based rank below `rank` (the header when none).
    fn path_to_rank(&self, rank: usize) -> [NodeRef; MAX_LEVEL] {
        let mut update = [self.head; MAX_LEVEL];
        let mut traversed = 0usize;
        let mut x = self.head;
        for i in (0..self.level).rev() {
            while let Some(next) = x.next(i) {
                if traversed + (x.span(i) as usize) <= rank {
                    traversed += x.span(i) as usize;
                    x = next;
                } else {
                    break;
                }
            }
            update[i] = x;
        }
        update
    }

    /// The node at 0-based `rank`.
    fn at_rank(&self, rank: usize) -> Option<NodeRef> {
        if rank >= self.len {
            return None;
        }
        let target = rank + 1;
        let mut traversed = 0usize;
        let mut x = self.head;
        for i in (0..self.level).rev() {
            while let Some(next) = x.next(i) {
                if traversed + (x.span(i) as usize) <= target {
                    traversed += x.span(i) as usize;
                    x = next;
                } else {
                    break;
                }
            }
            if traversed == target {
                return Some(x);
            }
        }
        None
    }
}

/// Elements sorted by score, then member bytes, with a member index; each element is one node (see
/// the module docs).
pub struct SkipList {
    index: IndexMap<MemberKey, (), DenseHasher>,
    list: List,
}

// SAFETY: a SkipList owns its nodes exclusively (no NodeRef escapes the module and the index only
// points into the same SkipList), like a Box would; it mutates them only through `&mut self`.
unsafe impl Send for SkipList {}
// SAFETY: every `&self` method only reads the nodes.
unsafe impl Sync for SkipList {}

impl Default for SkipList {
    fn default() -> Self {
        SkipList { index: IndexMap::default(), list: List::new() }
    }
}

impl Drop for SkipList {
    fn drop(&mut self) {
        // Clear the index's pointers before freeing the nodes they point to.
        self.index.clear();
        let mut x = Some(self.list.head);
        while let Some(node) = x {
            x = node.next(0);
            // SAFETY: the header and every linked node were allocated by this list and each is
            // reached exactly once along level 0; nothing reads them afterwards.
            unsafe { node.free() }
        }
    }
}

impl Clone for SkipList {
    /// A deep copy with the same shape (each node keeps its number of levels and spans), built in
    /// one pass in order; the copy's index lists the members in score order.
    fn clone(&self) -> Self {
        let mut copy = SkipList { index: IndexMap::with_capacity_and_hasher(self.len(), DenseHasher::default()), list: List::new() };
        for i in 0..MAX_LEVEL {
            copy.list.head.set_span(i, self.list.head.span(i));
        }
        // The last copied node with each level, whose link at that level the next one fills in.
        let mut last = [copy.list.head; MAX_LEVEL];
        let mut prev = None;
        let mut x = self.list.head.next(0);
        while let Some(node) = x {
            let new = NodeRef::alloc(node.score(), self.list.member(node), node.levels());
            for (i, last) in last.iter_mut().enumerate().take(node.levels()) {
                new.set_span(i, node.span(i));
                last.set_next(i, Some(new));
                *last = new;
            }
            new.set_back(prev);
            prev = Some(new);
            copy.list.tail = prev;
            copy.list.len += 1;
            copy.index.insert(MemberKey(new), ());
            x = node.next(0);
        }
        copy.list.level = self.list.level;
        copy
    }
}

impl fmt::Debug for SkipList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter_from(0).map(|(member, score)| (String::from_utf8_lossy(member), score))).finish()
    }
}

impl SkipList {
    pub fn len(&self) -> usize {
        self.list.len
    }

    pub fn is_empty(&self) -> bool {
        self.list.len == 0
    }

    /// Bytes of the nodes (their member lengths sampled as in `dense::estimate`), the header node
    /// and the index.
    pub fn heap_size(&self) -> usize {
        let nodes = super::dense::estimate(self.len(), self.index.keys().map(|key| expected_block_size(key.0.member_len())));
        // Index: a 16-byte entry (hash, pointer) per slot, and a hash table of `usize` positions
        // plus a control byte per bucket, kept at most 7/8 full.
        let index = self.index.capacity() * (std::mem::size_of::<(usize, MemberKey)>() + (std::mem::size_of::<usize>() + 1) * 8 / 7);
        nodes + self.list.head.block_size() + index
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        self.index.get_key_value(member).map(|(key, _)| key.0.score())
    }

    /// One lookup of `member`: `decide` gets its score (`None` when absent) and returns the score to
    /// give it (`None` leaves the set as it is) and a result passed back.
    pub fn upsert<R>(&mut self, member: &[u8], decide: impl FnOnce(Option<f64>) -> (Option<f64>, R)) -> R {
        let hash = self.index.hasher().hash_one(member);
        match self.index.raw_entry_mut_v1().from_key_hashed_nocheck(hash, member) {
            RawEntryMut::Occupied(entry) => {
                let node = entry.key().0;
                let current = node.score();
                let (score, result) = decide(Some(current));
                if let Some(score) = score.filter(|s| *s != current) {
                    self.list.rescore(node, score);
                }
                result
            }
            RawEntryMut::Vacant(entry) => {
                let (score, result) = decide(None);
                if let Some(score) = score {
                    let node = NodeRef::alloc(score, member, random_level());
                    // Linked first, so the list (which frees what it links) owns it from here on.
                    self.list.link(node);
                    entry.insert_hashed_nocheck(hash, MemberKey(node), ());
                }
                result
            }
        }
    }

    /// Sets the score of `member`; returns its previous score, `None` when it is new.
    pub fn insert(&mut self, member: &[u8], score: f64) -> Option<f64> {
        self.upsert(member, |current| (Some(score), current))
    }

    /// Removes `member`; returns its score if it was there.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let (_, MemberKey(node), ()) = self.index.swap_remove_full(member)?;
        let update = self.list.path_to(node);
        debug_assert!(update[0].next(0) == Some(node));
        self.list.unlink(node, &update);
        let score = node.score();
        // SAFETY: the node is out of the index and unlinked; `node` is not used again.
        unsafe { node.free() };
        Some(score)
    }

    /// Removes the elements with 0-based ranks `start..end` in one walk (Redis's
    /// `zslDeleteRangeByRank`); returns how many.
    pub fn remove_range(&mut self, start: usize, end: usize) -> usize {
        let end = end.min(self.len());
        if start >= end {
            return 0;
        }
        // Removing a node leaves its predecessors the predecessors of the one after it.
        let update = self.list.path_to_rank(start);
        for _ in start..end {
            let Some(node) = update[0].next(0) else { break };
            let hash = self.index.hasher().hash_one(self.list.member(node));
            match self.index.raw_entry_mut_v1().from_hash(hash, |key| key.0 == node) {
                RawEntryMut::Occupied(entry) => entry.swap_remove(),
                // Freeing it would leave a dangling key behind: stop before touching the list.
                RawEntryMut::Vacant(_) => unreachable!("a linked node is missing from the index"),
            }
            self.list.unlink(node, &update);
            // SAFETY: the node is out of the index and unlinked; `node` is not used again.
            unsafe { node.free() };
        }
        end - start
    }

    /// The 0-based ascending rank and the score of `member`.
    pub fn rank(&self, member: &[u8]) -> Option<(usize, f64)> {
        let score = self.score(member)?;
        Some((self.list.count_before(|s, m| before(s, m, score, member)), score))
    }

    /// How many elements satisfy `is_before`, which must hold for a prefix of the order (such as
    /// "score < 5"). This is the 0-based rank of the first element that does not.
    pub fn count_before(&self, is_before: impl Fn(f64, &[u8]) -> bool) -> usize {
        self.list.count_before(is_before)
    }

    /// The element at 0-based `rank`.
    pub fn get(&self, rank: usize) -> Option<(&[u8], f64)> {
        self.list.at_rank(rank).map(|node| (self.list.member(node), node.score()))
    }

    /// The element at position `index` of the member index (for random picks and ZSCAN).
    pub fn get_index(&self, index: usize) -> Option<(&[u8], f64)> {
        self.index.get_index(index).map(|(key, _)| (key.member(), key.0.score()))
    }

    /// Elements from 0-based rank `start` on, ascending.
    pub fn iter_from(&self, start: usize) -> impl Iterator<Item = (&[u8], f64)> + '_ {
        let mut x = self.list.at_rank(start);
        std::iter::from_fn(move || {
            let node = x?;
            x = node.next(0);
            Some((self.list.member(node), node.score()))
        })
    }

    /// Elements from 0-based rank `start` down to the first, descending.
    pub fn iter_back_from(&self, start: usize) -> impl Iterator<Item = (&[u8], f64)> + '_ {
        let mut x = if start >= self.len() { self.list.tail } else { self.list.at_rank(start) };
        std::iter::from_fn(move || {
            let node = x?;
            x = node.back();
            Some((self.list.member(node), node.score()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use std::collections::BTreeMap;

    /// Checks every link's span, the back pointers, the tail, the level and the index against a
    /// walk along level 0.
    fn check_structure(list: &SkipList) {
        let l = &list.list;
        let mut ranks = std::collections::HashMap::new();
        let mut x = l.head;
        let mut rank = 0usize;
        let mut prev = None;
        while let Some(next) = x.next(0) {
            rank += 1;
            assert!(next.back() == prev, "back pointer at rank {rank}");
            ranks.insert(next.0, rank);
            prev = Some(next);
            x = next;
        }
        assert_eq!(rank, l.len);
        assert!(l.tail == prev);
        ranks.insert(l.head.0, 0);
        let mut x = Some(l.head);
        while let Some(node) = x {
            let levels = if node == l.head { l.level } else { node.levels() };
            assert!(levels <= l.level);
            for i in 0..levels {
                if let Some(next) = node.next(i) {
                    assert_eq!(node.span(i) as usize, ranks[&next.0] - ranks[&node.0], "span at level {i}");
                }
            }
            x = node.next(0);
        }
        if l.level > 1 {
            assert!(l.head.next(l.level - 1).is_some(), "level is the highest in use");
        }
        assert_eq!(list.index.len(), l.len);
        for (key, ()) in &list.index {
            assert!(ranks.contains_key(&key.0 .0));
        }
    }

    fn sorted(model: &BTreeMap<Vec<u8>, f64>) -> Vec<(Vec<u8>, f64)> {
        let mut all: Vec<(Vec<u8>, f64)> = model.iter().map(|(m, s)| (m.clone(), *s)).collect();
        all.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
        all
    }

    fn check_against(list: &SkipList, model: &BTreeMap<Vec<u8>, f64>) {
        check_structure(list);
        let want = sorted(model);
        let all: Vec<_> = list.iter_from(0).map(|(m, s)| (m.to_vec(), s)).collect();
        assert_eq!(all, want);
        let back: Vec<_> = list.iter_back_from(usize::MAX).map(|(m, s)| (m.to_vec(), s)).collect();
        assert_eq!(back, want.iter().rev().cloned().collect::<Vec<_>>());
        for (rank, (m, s)) in want.iter().enumerate() {
            assert_eq!(list.rank(m), Some((rank, *s)));
            assert_eq!(list.get(rank), Some((&m[..], *s)));
            assert_eq!(list.score(m), Some(*s));
        }
        assert_eq!(list.get(want.len()), None);
        let below = want.iter().filter(|(_, s)| *s < 20.0).count();
        assert_eq!(list.count_before(|s, _| s < 20.0), below);
        let mut by_index: Vec<_> = (0..list.len()).map(|i| list.get_index(i).map(|(m, s)| (m.to_vec(), s)).unwrap()).collect();
        by_index.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
        assert_eq!(by_index, want);
        assert_eq!(list.get_index(list.len()), None);
    }

    fn random_member(rng: &mut impl Rng, distinct: u32) -> Vec<u8> {
        match rng.random_range(0..10u8) {
            0 => Vec::new(),
            1 => {
                // Long members, sharing a prefix so comparisons run past the first bytes.
                let mut m = vec![b'L'; rng.random_range(60..200usize)];
                m.extend_from_slice(format!("{}", rng.random_range(0..20u32)).as_bytes());
                m
            }
            _ => format!("m{}", rng.random_range(0..distinct)).into_bytes(),
        }
    }

    #[test]
    fn skiplist_model_with_updates_ranges_and_clones() {
        run_model(3, 6000, 300, 61);
    }

    #[test]
    fn skiplist_model_large() {
        // Enough elements for six or seven levels.
        run_model(17, 12_000, 4000, 3000);
    }

    fn run_model(seed: u64, steps: usize, distinct: u32, check_every: usize) {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut list = SkipList::default();
        let mut model: BTreeMap<Vec<u8>, f64> = BTreeMap::new();
        let mut clones: Vec<(SkipList, BTreeMap<Vec<u8>, f64>)> = Vec::new();
        for step in 0..steps {
            let member = random_member(&mut rng, distinct);
            // Few distinct scores, so many elements tie and order by member.
            let score = f64::from(rng.random_range(0..40u8)) - 5.0;
            match rng.random_range(0..100u8) {
                0..45 => assert_eq!(list.insert(&member, score), model.insert(member, score)),
                45..70 => assert_eq!(list.remove(&member), model.remove(&member)),
                70..80 => {
                    // Decide-without-writing and conditional updates through upsert.
                    let current = model.get(&member).copied();
                    let got = list.upsert(&member, |old| {
                        assert_eq!(old, current);
                        (old.map(|s| s + 1.0), old)
                    });
                    assert_eq!(got, current);
                    if let Some(s) = model.get_mut(&member) {
                        *s += 1.0;
                    }
                }
                80..90 => {
                    let current = model.get(&member).copied();
                    let got = list.upsert(&member, |old| (None, old));
                    assert_eq!(got, current);
                }
                90..95 => {
                    let len = model.len();
                    let start = rng.random_range(0..=len);
                    let end = start + rng.random_range(0..4usize);
                    let doomed: Vec<Vec<u8>> = sorted(&model).into_iter().skip(start).take(end - start).map(|(m, _)| m).collect();
                    assert_eq!(list.remove_range(start, end), end.min(len).saturating_sub(start));
                    for m in doomed {
                        model.remove(&m);
                    }
                }
                95..98 => {
                    clones.push((list.clone(), model.clone()));
                    if clones.len() > 3 {
                        clones.remove(rng.random_range(0..clones.len()));
                    }
                }
                _ => {
                    // A clone evolves independently of its source.
                    if let Some((copy, copy_model)) = clones.last_mut() {
                        copy.insert(&member, score);
                        copy_model.insert(member, score);
                        check_against(copy, copy_model);
                    }
                }
            }
            assert_eq!(list.len(), model.len());
            if step % check_every == 0 {
                check_against(&list, &model);
            }
        }
        check_against(&list, &model);
        for (copy, copy_model) in &clones {
            check_against(copy, copy_model);
        }
        assert_eq!(list.remove_range(0, usize::MAX), model.len());
        assert!(list.is_empty());
        check_structure(&list);
    }

    #[test]
    fn skiplist_rescore_moves_or_stays() {
        let mut list = SkipList::default();
        for i in 0..200 {
            list.insert(format!("m{i:03}").as_bytes(), f64::from(i));
        }
        // Stays between its neighbours: updated in place.
        assert_eq!(list.insert(b"m050", 50.5), Some(50.0));
        // Ties with a neighbour's score: placed by member.
        assert_eq!(list.insert(b"m060", 61.0), Some(60.0));
        assert_eq!(list.rank(b"m060"), Some((60, 61.0)));
        assert_eq!(list.insert(b"m062", 61.0), Some(62.0));
        assert_eq!(list.rank(b"m062"), Some((62, 61.0)));
        assert_eq!(list.rank(b"m061"), Some((61, 61.0)));
        // Far moves both ways.
        assert_eq!(list.insert(b"m000", 1000.0), Some(0.0));
        assert_eq!(list.rank(b"m000"), Some((199, 1000.0)));
        assert_eq!(list.insert(b"m199", -1.0), Some(199.0));
        assert_eq!(list.rank(b"m199"), Some((0, -1.0)));
        check_structure(&list);
        assert_eq!(format!("{:?}", list).matches(':').count(), 200);
    }

    #[test]
    fn skiplist_node_layout_and_memory() {
        // One level and a 13-byte member: the 48-byte size class.
        assert_eq!(NodeRef::layout(1, b"member:123456".len()).size(), 46);
        assert_eq!(size_class(46), 48);
        assert_eq!((size_class(129), size_class(160), size_class(161), size_class(405)), (160, 160, 192, 448));
        let mut list = SkipList::default();
        for i in 0..10_000 {
            list.insert(format!("member:{i}").as_bytes(), f64::from(i));
        }
        let per_member = list.heap_size() / list.len();
        assert!((60..110).contains(&per_member), "{per_member} bytes per member");
        // The node estimate against the blocks actually allocated.
        let actual: usize = list.index.keys().map(|key| key.0.block_size()).sum();
        let estimate = super::super::dense::estimate(list.len(), list.index.keys().map(|key| expected_block_size(key.0.member_len())));
        assert!(estimate.abs_diff(actual) * 20 < actual, "estimated {estimate}, allocated {actual}");
        let long = vec![b'x'; 1000];
        list.insert(&long, 0.5);
        assert_eq!(list.score(&long), Some(0.5));
        assert_eq!(list.remove(&long), Some(0.5));
    }

    #[test]
    fn skiplist_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<SkipList>();
    }
}
