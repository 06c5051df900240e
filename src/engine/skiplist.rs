//! An indexable skiplist ordered by (score, member), after Redis's `zskiplist`: every forward link
//! records how many elements it skips (its span), so rank lookups, "how many come before this
//! bound" and "the element at rank r" all take O(log n).
//!
//! Nodes live in one arena (`Vec<Node>`) and link by index, which keeps the structure free of
//! `unsafe`, makes `Clone` a deep copy, and reuses freed slots.

use smallvec::{smallvec, SmallVec};

const MAX_LEVEL: usize = 32;
const NIL: u32 = u32::MAX;
const HEAD: u32 = 0;

#[derive(Clone, Copy, Debug)]
struct Level {
    next: u32,
    /// Elements between this node and `next`, counting `next` (the rank difference).
    span: u32,
}

/// Levels held in the node itself up to this many: three nodes in four have one level and 15 in
/// 16 at most two, so a walk reads a node's links from the node it already fetched (Redis keeps
/// them in the node too), instead of missing the cache a second time on a separate allocation.
const INLINE_LEVELS: usize = 2;

#[derive(Clone, Debug)]
struct Node {
    member: Box<[u8]>,
    score: f64,
    back: u32,
    levels: SmallVec<[Level; INLINE_LEVELS]>,
}

/// Elements sorted by score, then member bytes.
#[derive(Clone, Debug)]
pub struct SkipList {
    nodes: Vec<Node>,
    free: Vec<u32>,
    level: usize,
    len: usize,
    tail: u32,
}

impl Default for SkipList {
    fn default() -> Self {
        let head = Node { member: Box::default(), score: 0.0, back: NIL, levels: smallvec![Level { next: NIL, span: 0 }; MAX_LEVEL] };
        SkipList { nodes: vec![head], free: Vec::new(), level: 1, len: 0, tail: NIL }
    }
}

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

impl SkipList {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn node(&self, index: u32) -> &Node {
        &self.nodes[index as usize]
    }

    fn node_mut(&mut self, index: u32) -> &mut Node {
        &mut self.nodes[index as usize]
    }

    /// Bytes of the nodes and their levels, members excluded.
    pub fn heap_size(&self) -> usize {
        // Members are counted by the owner's estimate; only one node in 16 has levels outside the
        // node (p = 1/4), about 4 of them.
        self.nodes.capacity() * std::mem::size_of::<Node>() + self.len / 16 * 4 * std::mem::size_of::<Level>()
    }

    /// Inserts an element that is not present yet.
    // `update` and `rank` are per-level arrays walked alongside the node's levels, as in Redis.
    #[allow(clippy::needless_range_loop)]
    pub fn insert(&mut self, score: f64, member: &[u8]) {
        let mut update = [HEAD; MAX_LEVEL];
        let mut rank = [0u32; MAX_LEVEL];
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            rank[i] = if i == self.level - 1 { 0 } else { rank[i + 1] };
            loop {
                let next = self.node(x).levels[i].next;
                if next != NIL && before(self.node(next).score, &self.node(next).member, score, member) {
                    rank[i] += self.node(x).levels[i].span;
                    x = next;
                } else {
                    break;
                }
            }
            update[i] = x;
        }
        let level = random_level();
        if level > self.level {
            for i in self.level..level {
                rank[i] = 0;
                update[i] = HEAD;
                self.node_mut(HEAD).levels[i].span = self.len as u32;
            }
            self.level = level;
        }
        let node = Node { member: member.into(), score, back: NIL, levels: smallvec![Level { next: NIL, span: 0 }; level] };
        let x = match self.free.pop() {
            Some(slot) => {
                self.nodes[slot as usize] = node;
                slot
            }
            None => {
                self.nodes.push(node);
                (self.nodes.len() - 1) as u32
            }
        };
        for i in 0..level {
            let prev = self.node(update[i]).levels[i];
            self.node_mut(x).levels[i] = Level { next: prev.next, span: prev.span - (rank[0] - rank[i]) };
            self.node_mut(update[i]).levels[i] = Level { next: x, span: rank[0] - rank[i] + 1 };
        }
        for i in level..self.level {
            self.node_mut(update[i]).levels[i].span += 1;
        }
        self.node_mut(x).back = if update[0] == HEAD { NIL } else { update[0] };
        let next = self.node(x).levels[0].next;
        if next != NIL {
            self.node_mut(next).back = x;
        } else {
            self.tail = x;
        }
        self.len += 1;
    }

    /// Removes the element (score, member); returns whether it was present.
    #[allow(clippy::needless_range_loop)]
    pub fn remove(&mut self, score: f64, member: &[u8]) -> bool {
        let mut update = [HEAD; MAX_LEVEL];
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            loop {
                let next = self.node(x).levels[i].next;
                if next != NIL && before(self.node(next).score, &self.node(next).member, score, member) {
                    x = next;
                } else {
                    break;
                }
            }
            update[i] = x;
        }
        let x = self.node(x).levels[0].next;
        if x == NIL || self.node(x).score != score || &*self.node(x).member != member {
            return false;
        }
        for i in 0..self.level {
            if self.node(update[i]).levels[i].next == x {
                let target = self.node(x).levels[i];
                let prev = &mut self.nodes[update[i] as usize].levels[i];
                prev.span = prev.span + target.span - 1;
                prev.next = target.next;
            } else {
                self.nodes[update[i] as usize].levels[i].span -= 1;
            }
        }
        let (next, back) = (self.node(x).levels[0].next, self.node(x).back);
        if next != NIL {
            self.node_mut(next).back = back;
        } else {
            self.tail = back;
        }
        while self.level > 1 && self.node(HEAD).levels[self.level - 1].next == NIL {
            self.level -= 1;
        }
        self.len -= 1;
        let freed = self.node_mut(x);
        freed.member = Box::default();
        freed.levels = SmallVec::new();
        self.free.push(x);
        true
    }

    /// How many elements satisfy `is_before`, which must hold for a prefix of the order (such as
    /// "score < 5"). This is the 0-based rank of the first element that does not.
    pub fn count_before(&self, is_before: impl Fn(f64, &[u8]) -> bool) -> usize {
        let mut rank = 0usize;
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            loop {
                let level = self.node(x).levels[i];
                if level.next != NIL && is_before(self.node(level.next).score, &self.node(level.next).member) {
                    rank += level.span as usize;
                    x = level.next;
                } else {
                    break;
                }
            }
        }
        rank
    }

    /// The 0-based rank of (score, member), which must be present.
    pub fn rank(&self, score: f64, member: &[u8]) -> usize {
        self.count_before(|s, m| before(s, m, score, member))
    }

    /// The arena index of the element at 0-based `rank`.
    fn at_rank(&self, rank: usize) -> u32 {
        if rank >= self.len {
            return NIL;
        }
        let target = rank + 1;
        let mut traversed = 0usize;
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            loop {
                let level = self.node(x).levels[i];
                if level.next != NIL && traversed + level.span as usize <= target {
                    traversed += level.span as usize;
                    x = level.next;
                } else {
                    break;
                }
            }
            if traversed == target {
                return x;
            }
        }
        NIL
    }

    pub fn get(&self, rank: usize) -> Option<(&[u8], f64)> {
        let x = self.at_rank(rank);
        (x != NIL).then(|| (&*self.node(x).member, self.node(x).score))
    }

    /// Elements from 0-based rank `start` on, ascending.
    pub fn iter_from(&self, start: usize) -> impl Iterator<Item = (&[u8], f64)> + '_ {
        let mut x = self.at_rank(start);
        std::iter::from_fn(move || {
            if x == NIL {
                return None;
            }
            let node = self.node(x);
            x = node.levels[0].next;
            Some((&*node.member, node.score))
        })
    }

    /// Elements from 0-based rank `start` down to the first, descending.
    pub fn iter_back_from(&self, start: usize) -> impl Iterator<Item = (&[u8], f64)> + '_ {
        let mut x = if start >= self.len { self.tail } else { self.at_rank(start) };
        std::iter::from_fn(move || {
            if x == NIL {
                return None;
            }
            let node = self.node(x);
            x = node.back;
            Some((&*node.member, node.score))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn model_against_sorted_vec() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let mut list = SkipList::default();
        let mut model: Vec<(f64, Vec<u8>)> = Vec::new();
        for step in 0..4000 {
            let score = f64::from(rng.random_range(0..50u8));
            let member = format!("m{}", rng.random_range(0..300u32)).into_bytes();
            if let Some(at) = model.iter().position(|(_, m)| *m == member) {
                let (old, _) = model.remove(at);
                assert!(list.remove(old, &member));
                assert!(!list.remove(old, &member));
            } else {
                model.push((score, member.clone()));
                model.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
                list.insert(score, &member);
            }
            assert_eq!(list.len(), model.len());
            if step % 97 == 0 && !model.is_empty() {
                for (rank, (s, m)) in model.iter().enumerate() {
                    assert_eq!(list.rank(*s, m), rank);
                    assert_eq!(list.get(rank), Some((&m[..], *s)));
                }
                let all: Vec<_> = list.iter_from(0).map(|(m, s)| (s, m.to_vec())).collect();
                assert_eq!(all, model);
                let back: Vec<_> = list.iter_back_from(usize::MAX).map(|(m, s)| (s, m.to_vec())).collect();
                assert_eq!(back, model.iter().rev().cloned().collect::<Vec<_>>());
                let below = model.iter().filter(|(s, _)| *s < 20.0).count();
                assert_eq!(list.count_before(|s, _| s < 20.0), below);
            }
        }
    }
}
