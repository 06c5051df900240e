//! Partitioned topics (the `topic` type behind `STREAM.*`), as Kafka shapes them: a topic is split
//! into partitions, each an append-only log of entries at dense, increasing offsets; consumer
//! groups divide the partitions among their live members and remember a committed offset per
//! partition. Knows no RESP and no clock of its own: every operation is given `now` (Unix ms).
//!
//! - A [`Partition`] holds its entries by offset and its log end (the next offset to give). Offsets
//!   are never reused: retention and compaction remove entries, the log end stays.
//! - Retention and compaction are a pure choice ([`choose`]: which entries of a partition go, given
//!   the policy and the time), executed by [`Tracked::<Topic>::clean`] on a worker's visit.
//! - A [`Group`] has members (each with its partitions and when it was last heard of), a
//!   generation that grows with every rebalance, committed offsets, and the fetch position of each
//!   owned partition (soft state: a new owner starts from the committed offset, as in Kafka).
//! - Idempotent producers: per (producer, partition), the last few sequence numbers with the
//!   offsets they got, so a retry returns its first offset and a gap is refused.
//!
//! Every durable change is one [`TopicChange`], recorded by the seam mutators in `tracked` and
//! applied by [`Topic::apply`] (replay, recovery); persistence writes one record per change.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

/// Kafka's `delete.retention.ms` default: how long a compacted topic keeps a tombstone.
pub const DEFAULT_TOMBSTONE_MS: u64 = 86_400_000;
/// Kafka's `session.timeout.ms` default (since 3.0).
pub const DEFAULT_SESSION_MS: u64 = 45_000;
/// Sequence numbers remembered per (producer, partition), as Kafka's broker keeps five batches.
const PRODUCER_WINDOW: usize = 5;
/// Most partitions a topic may have.
pub const MAX_PARTITIONS: u32 = 4096;

/// A topic's policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicConfig {
    pub partitions: u32,
    /// Entries older than this are removed (Kafka's `retention.ms`).
    pub retention_ms: Option<u64>,
    /// Oldest entries are removed while a partition holds more bytes (`retention.bytes`).
    pub max_bytes: Option<u64>,
    /// Keep only the latest entry per key (`cleanup.policy=compact`).
    pub compact: bool,
    /// How long a tombstone (empty payload) stays in a compacted topic.
    pub tombstone_ms: u64,
}

impl Default for TopicConfig {
    fn default() -> TopicConfig {
        TopicConfig { partitions: 1, retention_ms: None, max_bytes: None, compact: false, tombstone_ms: DEFAULT_TOMBSTONE_MS }
    }
}

/// One published message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Unix ms; never less than the previous entry's in the partition.
    pub timestamp: u64,
    pub key: Option<Box<[u8]>>,
    pub payload: Box<[u8]>,
}

impl Entry {
    /// What the entry counts for retention by bytes: key, payload and a fixed header (offset and
    /// timestamp), as Kafka counts a record's size in its segment.
    pub fn size(&self) -> u64 {
        (self.key.as_ref().map_or(0, |k| k.len()) + self.payload.len() + 16) as u64
    }

    fn is_tombstone(&self) -> bool {
        self.payload.is_empty() && self.key.is_some()
    }
}

/// One partition's log.
#[derive(Clone, Default)]
pub struct Partition {
    entries: BTreeMap<u64, Entry>,
    /// The log end offset: the offset the next entry gets.
    end: u64,
    bytes: u64,
    /// Timestamp → the first offset with it (timestamps never decrease along a partition).
    times: BTreeMap<u64, u64>,
    /// Compacted topics: each key's latest offset.
    latest: HashMap<Box<[u8]>, u64>,
    /// Compacted topics: offsets of entries a later entry with the same key superseded.
    superseded: BTreeSet<u64>,
    /// Compacted topics: (timestamp, offset) of the tombstones that are their key's latest entry.
    tombstones: BTreeSet<(u64, u64)>,
}

/// Entries and log end; the indexes follow from them.
impl PartialEq for Partition {
    fn eq(&self, other: &Partition) -> bool {
        self.end == other.end && self.entries == other.entries
    }
}

/// Log end and entries: what equality compares.
impl std::fmt::Debug for Partition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Partition").field("end", &self.end).field("entries", &self.entries).finish()
    }
}

impl Partition {
    /// The log end offset.
    pub fn end(&self) -> u64 {
        self.end
    }

    /// The first offset still held (the log end when the partition is empty).
    pub fn start(&self) -> u64 {
        self.entries.first_key_value().map_or(self.end, |(offset, _)| *offset)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    pub fn entry(&self, offset: u64) -> Option<&Entry> {
        self.entries.get(&offset)
    }

    /// Up to `count` entries from `from` on (a removed offset continues from the next one held).
    pub fn read(&self, from: u64, count: usize) -> impl Iterator<Item = (u64, &Entry)> {
        self.entries.range(from..).take(count).map(|(offset, entry)| (*offset, entry))
    }

    pub fn entries(&self) -> impl Iterator<Item = (u64, &Entry)> {
        self.entries.iter().map(|(offset, entry)| (*offset, entry))
    }

    /// The offset of the first entry at or after `ms`; the log end if none.
    pub fn offset_at(&self, ms: u64) -> u64 {
        match self.times.range(ms..).next() {
            Some((_, &offset)) => self.entries.range(offset..).next().map_or(self.end, |(o, _)| *o),
            None => self.end,
        }
    }

    fn last_timestamp(&self) -> u64 {
        self.entries.last_key_value().map_or(0, |(_, e)| e.timestamp)
    }

    /// Places `entry` at `offset` (above every offset held) and moves the log end past it.
    fn insert(&mut self, offset: u64, entry: Entry, compact: bool) {
        self.bytes += entry.size();
        self.times.entry(entry.timestamp).or_insert(offset);
        if compact {
            if let Some(key) = &entry.key {
                if let Some(old) = self.latest.insert(key.clone(), offset) {
                    self.superseded.insert(old);
                    if let Some(old_entry) = self.entries.get(&old) {
                        self.tombstones.remove(&(old_entry.timestamp, old));
                    }
                }
                if entry.is_tombstone() {
                    self.tombstones.insert((entry.timestamp, offset));
                }
            }
        }
        self.entries.insert(offset, entry);
        self.end = self.end.max(offset + 1);
    }

    fn remove(&mut self, offset: u64) -> Option<Entry> {
        let entry = self.entries.remove(&offset)?;
        self.bytes -= entry.size();
        self.superseded.remove(&offset);
        self.tombstones.remove(&(entry.timestamp, offset));
        if let Some(key) = &entry.key {
            if self.latest.get(key) == Some(&offset) {
                self.latest.remove(key);
            }
        }
        // The time index keeps pointing at the first offset of each timestamp still held.
        if self.times.get(&entry.timestamp) == Some(&offset) {
            self.times.remove(&entry.timestamp);
            if let Some((&next, next_entry)) = self.entries.range(offset..).next() {
                if next_entry.timestamp == entry.timestamp {
                    self.times.insert(entry.timestamp, next);
                }
            }
        }
        Some(entry)
    }
}

/// What retention and compaction remove from one partition now: the offsets that go, ascending.
/// First the oldest entries (by age or bytes), then entries superseded by a later one with the
/// same key and tombstones older than the tombstone delay.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cleanup {
    pub offsets: Vec<u64>,
}

impl Cleanup {
    pub fn is_empty(&self) -> bool {
        self.offsets.is_empty()
    }
}

/// The policy: which entries of `partition` retention (by age, by bytes) and compaction remove at
/// `now`, at most `limit` of them. Nothing is changed here: the worker executes the choice.
pub fn choose(config: &TopicConfig, partition: &Partition, now: u64, limit: usize) -> Cleanup {
    let mut before = partition.start();
    let mut bytes = partition.bytes;
    let mut taken = 0;
    for (offset, entry) in partition.entries() {
        if taken >= limit {
            break;
        }
        let too_old = config.retention_ms.is_some_and(|ms| entry.timestamp.saturating_add(ms) <= now);
        let too_big = config.max_bytes.is_some_and(|max| bytes > max);
        if !too_old && !too_big {
            break;
        }
        bytes -= entry.size();
        before = offset + 1;
        taken += 1;
    }
    let mut compacted = Vec::new();
    if config.compact {
        let superseded = partition.superseded.range(before..).copied();
        // Oldest first: the tombstones past their delay are a prefix.
        let old = partition.tombstones.iter().take_while(|(ts, _)| ts.saturating_add(config.tombstone_ms) <= now);
        let tombstones = old.map(|(_, offset)| *offset).filter(|&offset| offset >= before);
        compacted.extend(superseded.chain(tombstones).take(limit - taken));
        compacted.sort_unstable();
    }
    let mut offsets: Vec<u64> = partition.entries.range(..before).map(|(o, _)| *o).collect();
    offsets.extend(compacted);
    Cleanup { offsets }
}

/// A member of a consumer group.
#[derive(Clone, Default)]
pub struct Member {
    /// Its partitions, ascending.
    pub partitions: Vec<u32>,
    /// When it was last heard of (a SUB or HEARTBEAT); soft state, not compared.
    pub seen: u64,
}

impl std::fmt::Debug for Member {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Member").field("partitions", &self.partitions).finish()
    }
}

impl PartialEq for Member {
    fn eq(&self, other: &Member) -> bool {
        self.partitions == other.partitions
    }
}

/// A consumer group.
#[derive(Clone, Default)]
pub struct Group {
    pub session_ms: u64,
    /// Grows with every rebalance; a member's assignment belongs to one generation.
    pub generation: u64,
    pub members: BTreeMap<Box<[u8]>, Member>,
    /// The offset of the next entry to consume, per partition (Kafka's convention).
    pub committed: BTreeMap<u32, u64>,
    /// Where the owner of each partition reads next; soft state (a new owner starts from the
    /// committed offset), not persisted and not compared.
    position: BTreeMap<u32, u64>,
}

/// Session, generation, members with their assignments, committed offsets.
impl PartialEq for Group {
    fn eq(&self, other: &Group) -> bool {
        self.session_ms == other.session_ms
            && self.generation == other.generation
            && self.members == other.members
            && self.committed == other.committed
    }
}

impl std::fmt::Debug for Group {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Group")
            .field("session_ms", &self.session_ms)
            .field("generation", &self.generation)
            .field("members", &self.members)
            .field("committed", &self.committed)
            .finish()
    }
}

impl Group {
    fn new(session_ms: u64) -> Group {
        Group { session_ms, ..Group::default() }
    }

    /// The member owning `partition`.
    pub fn owner(&self, partition: u32) -> Option<&[u8]> {
        self.members.iter().find(|(_, m)| m.partitions.contains(&partition)).map(|(name, _)| &name[..])
    }

    /// Where the group reads `partition` next: the owner's position, else the committed offset,
    /// else the partition's start (Kafka's `auto.offset.reset=earliest`).
    pub fn next_offset(&self, partition: u32, log: &Partition) -> u64 {
        let at = self.position.get(&partition).or(self.committed.get(&partition)).copied().unwrap_or(0);
        at.max(log.start()).min(log.end())
    }

    /// Sticky assignment of `partitions` among the members, then a new generation. Members keep
    /// what they own up to their fair share; what is left over or unowned goes to the members
    /// below theirs. Positions of partitions that changed owner are dropped.
    fn rebalance(&mut self, partitions: u32) {
        let before: HashMap<u32, Box<[u8]>> =
            self.members.iter().flat_map(|(name, m)| m.partitions.iter().map(|p| (*p, name.clone()))).collect();
        let assigned: HashMap<Box<[u8]>, Vec<u32>> =
            assign(partitions, self.members.iter().map(|(name, m)| (&name[..], &m.partitions[..])))
                .into_iter()
                .map(|(n, p)| (n.into(), p))
                .collect();
        for (name, member) in self.members.iter_mut() {
            member.partitions = assigned.get(name).cloned().unwrap_or_default();
        }
        let after: HashMap<u32, &[u8]> = self.members.iter().flat_map(|(name, m)| m.partitions.iter().map(|p| (*p, &name[..]))).collect();
        self.position.retain(|p, _| before.get(p).map(|n| &n[..]) == after.get(p).copied());
        self.generation += 1;
    }
}

/// Sticky assignment: `members` (name, owned partitions) to their new partitions. Each gets
/// `partitions / members` or one more; members that own more keep the larger shares.
pub fn assign<'a>(partitions: u32, members: impl Iterator<Item = (&'a [u8], &'a [u32])>) -> BTreeMap<&'a [u8], Vec<u32>> {
    let mut owned: BTreeMap<&[u8], Vec<u32>> = BTreeMap::new();
    let mut taken = BTreeSet::new();
    for (name, parts) in members {
        let keep = parts.iter().copied().filter(|&p| p < partitions && taken.insert(p)).collect();
        owned.insert(name, keep);
    }
    if owned.is_empty() {
        return owned;
    }
    let count = owned.len() as u32;
    let (base, extra) = (partitions / count, partitions % count);
    let mut by_size: Vec<&[u8]> = owned.keys().copied().collect();
    by_size.sort_by_key(|name| std::cmp::Reverse(owned.get(name).map_or(0, Vec::len)));
    let targets: HashMap<&[u8], usize> =
        by_size.iter().enumerate().map(|(i, name)| (*name, (base + u32::from((i as u32) < extra)) as usize)).collect();
    let mut pool: BTreeSet<u32> = (0..partitions).filter(|p| !taken.contains(p)).collect();
    for (name, parts) in owned.iter_mut() {
        let target = targets.get(name).copied().unwrap_or(0);
        parts.sort_unstable();
        while parts.len() > target {
            if let Some(p) = parts.pop() {
                pool.insert(p);
            }
        }
    }
    for (name, parts) in owned.iter_mut() {
        let target = targets.get(name).copied().unwrap_or(0);
        while parts.len() < target {
            let Some(p) = pool.pop_first() else { break };
            parts.push(p);
        }
        parts.sort_unstable();
    }
    owned
}

/// An idempotent producer's recent sequence numbers on one partition, with the offsets they got.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Producer {
    /// (sequence, offset), oldest first, at most [`PRODUCER_WINDOW`].
    pub recent: VecDeque<(u64, u64)>,
}

/// Where a read starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    Offset(u64),
    /// The first entry at or after this Unix ms.
    Time(u64),
    Earliest,
    Latest,
}

/// Why a publish was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PubError {
    NoPartition(u32),
    /// A compacted topic takes only keyed entries.
    NeedsKey,
    /// A gap or a stale sequence number: the one expected.
    OutOfOrder {
        expected: u64,
    },
}

/// A publish's result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Published {
    pub partition: u32,
    pub offset: u64,
    /// A retry of a sequence number already appended: nothing was added.
    pub duplicate: bool,
}

/// Why a group operation was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GroupError {
    NoGroup,
    NotMember,
    /// The consumer does not own the partition (fencing).
    NotOwner {
        partition: u32,
        generation: u64,
    },
    NoPartition(u32),
    /// An offset past the log end.
    PastEnd {
        partition: u32,
        end: u64,
    },
}

/// A durable change of a topic: what persistence writes and what replay applies.
#[derive(Clone, Copy, Debug)]
pub enum TopicChange<'a> {
    Config(&'a TopicConfig),
    Append {
        partition: u32,
        offset: u64,
        entry: &'a Entry,
    },
    /// An entry removed by retention or compaction.
    Remove {
        partition: u32,
        offset: u64,
    },
    /// A partition's log end, written when entries are removed (so it survives an empty log).
    End {
        partition: u32,
        end: u64,
    },
    /// A group's session, generation and members with their assignments.
    Group {
        group: &'a [u8],
        state: &'a Group,
    },
    Commit {
        group: &'a [u8],
        partition: u32,
        offset: u64,
    },
    Producer {
        producer: &'a [u8],
        partition: u32,
        state: &'a Producer,
    },
}

/// A topic. Equality and `Debug` show config, partitions, groups and producers (not soft state).
#[derive(Clone, Default)]
pub struct Topic {
    config: TopicConfig,
    partitions: Vec<Partition>,
    groups: BTreeMap<Box<[u8]>, Group>,
    producers: BTreeMap<(Box<[u8]>, u32), Producer>,
    /// The partition the next unkeyed publish goes to (round robin; soft state).
    next_partition: u32,
}

impl std::fmt::Debug for Topic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Topic")
            .field("config", &self.config)
            .field("partitions", &self.partitions)
            .field("groups", &self.groups)
            .field("producers", &self.producers)
            .finish()
    }
}

impl PartialEq for Topic {
    fn eq(&self, other: &Topic) -> bool {
        self.config == other.config
            && self.partitions == other.partitions
            && self.groups == other.groups
            && self.producers == other.producers
    }
}

/// Kafka's `Utils.murmur2` (seed 0x9747b28c), as its default partitioner hashes a key.
pub fn murmur2(data: &[u8]) -> i32 {
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let mut h: u32 = 0x9747_b28c ^ data.len() as u32;
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        for (i, byte) in rest.iter().enumerate().rev() {
            h ^= u32::from(*byte) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition Kafka's default partitioner gives `key`: `toPositive(murmur2(key)) % partitions`.
pub fn partition_for(key: &[u8], partitions: u32) -> u32 {
    ((murmur2(key) & 0x7fff_ffff) as u32) % partitions.max(1)
}

impl Topic {
    pub fn new() -> Topic {
        Topic::default()
    }

    pub fn config(&self) -> &TopicConfig {
        &self.config
    }

    pub fn partitions(&self) -> &[Partition] {
        &self.partitions
    }

    pub fn partition(&self, partition: u32) -> Option<&Partition> {
        self.partitions.get(partition as usize)
    }

    pub fn groups(&self) -> impl Iterator<Item = (&[u8], &Group)> {
        self.groups.iter().map(|(name, group)| (&name[..], group))
    }

    pub fn group(&self, name: &[u8]) -> Option<&Group> {
        self.groups.get(name)
    }

    pub fn producers(&self) -> impl Iterator<Item = (&[u8], u32, &Producer)> {
        self.producers.iter().map(|((name, partition), state)| (&name[..], *partition, state))
    }

    /// Entries held, over all partitions.
    pub fn len(&self) -> usize {
        self.partitions.iter().map(Partition::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Heap bytes, roughly.
    pub fn heap_size(&self) -> usize {
        self.partitions.iter().map(|p| p.bytes as usize + p.len() * 64).sum::<usize>() + self.groups.len() * 128
    }

    /// The offset `start` stands for in `partition`; `None` for no such partition.
    pub fn resolve(&self, partition: u32, start: Start) -> Option<u64> {
        let log = self.partition(partition)?;
        Some(match start {
            Start::Offset(offset) => offset,
            Start::Time(ms) => log.offset_at(ms),
            Start::Earliest => log.start(),
            Start::Latest => log.end(),
        })
    }

    /// The partition a publish goes to: `explicit`, the key's, or the next in turn.
    pub fn pick_partition(&self, key: Option<&[u8]>, explicit: Option<u32>) -> Result<u32, PubError> {
        let count = self.config.partitions;
        match (explicit, key) {
            (Some(p), _) if p >= count => Err(PubError::NoPartition(p)),
            (Some(p), _) => Ok(p),
            (None, Some(key)) => Ok(partition_for(key, count)),
            (None, None) => Ok(self.next_partition % count.max(1)),
        }
    }

    /// Applies a recorded change (replay, recovery). `now` is when members were last heard of.
    pub fn apply(&mut self, change: &TopicChange<'_>, now: u64) {
        match *change {
            TopicChange::Config(config) => self.set_config(config.clone()),
            TopicChange::Append { partition, offset, entry } => {
                let compact = self.config.compact;
                if let Some(log) = self.partitions.get_mut(partition as usize) {
                    log.insert(offset, entry.clone(), compact);
                }
            }
            TopicChange::Remove { partition, offset } => {
                if let Some(log) = self.partitions.get_mut(partition as usize) {
                    log.remove(offset);
                }
            }
            TopicChange::End { partition, end } => {
                if let Some(log) = self.partitions.get_mut(partition as usize) {
                    log.end = log.end.max(end);
                }
            }
            TopicChange::Group { group, state } => {
                let entry = self.groups.entry(group.into()).or_default();
                let committed = std::mem::take(&mut entry.committed);
                *entry = Group { committed, ..state.clone() };
                entry.members.values_mut().for_each(|m| m.seen = now);
            }
            TopicChange::Commit { group, partition, offset } => {
                let entry = self.groups.entry(group.into()).or_insert_with(|| Group::new(DEFAULT_SESSION_MS));
                entry.committed.insert(partition, offset);
                entry.position.remove(&partition);
            }
            TopicChange::Producer { producer, partition, state } => {
                self.producers.insert((producer.into(), partition), state.clone());
            }
        }
    }

    /// Sets the policy; partitions are only ever added.
    fn set_config(&mut self, config: TopicConfig) {
        let count = (config.partitions as usize).max(self.partitions.len());
        self.partitions.resize_with(count, Partition::default);
        self.config = TopicConfig { partitions: count as u32, ..config };
    }
}

mod tracked {
    use super::super::mutation::Mutation;
    use super::super::write::Tracked;
    use super::*;

    impl Tracked<'_, Topic> {
        fn log(&self, change: TopicChange<'_>) {
            self.log.member(|key| Mutation::Topic { key, change });
        }

        /// Sets the policy (partitions only grow).
        pub fn configure(&mut self, config: TopicConfig) {
            self.value.set_config(config);
            let config = &self.value.config;
            self.log.member(|key| Mutation::Topic { key, change: TopicChange::Config(config) });
        }

        /// Appends `payload` (with `key`) to `partition` (see [`Topic::pick_partition`]) at `now`.
        /// With `producer` = (id, sequence), a sequence already appended returns its offset and
        /// adds nothing, and the sequence must follow the last one (the first is 0).
        pub fn publish(
            &mut self,
            partition: u32,
            key: Option<&[u8]>,
            payload: &[u8],
            producer: Option<(&[u8], u64)>,
            now: u64,
        ) -> Result<Published, PubError> {
            if self.value.config.compact && key.is_none() {
                return Err(PubError::NeedsKey);
            }
            if partition >= self.value.config.partitions {
                return Err(PubError::NoPartition(partition));
            }
            if let Some((id, seq)) = producer {
                let state = self.value.producers.get(&(Box::from(id), partition));
                if let Some(&(_, offset)) = state.and_then(|s| s.recent.iter().find(|(s, _)| *s == seq)) {
                    return Ok(Published { partition, offset, duplicate: true });
                }
                let expected = state.and_then(|s| s.recent.back()).map_or(0, |(last, _)| last + 1);
                if seq != expected {
                    return Err(PubError::OutOfOrder { expected });
                }
            }
            let compact = self.value.config.compact;
            let Some(log) = self.value.partitions.get_mut(partition as usize) else {
                return Err(PubError::NoPartition(partition));
            };
            let offset = log.end;
            let entry = Entry { timestamp: now.max(log.last_timestamp()), key: key.map(Box::from), payload: payload.into() };
            log.insert(offset, entry, compact);
            if let Some(entry) = log.entries.get(&offset) {
                self.log.member(|key| Mutation::Topic { key, change: TopicChange::Append { partition, offset, entry } });
            }
            if key.is_none() {
                self.value.next_partition = (partition + 1) % self.value.config.partitions.max(1);
            }
            if let Some((id, seq)) = producer {
                let state = self.value.producers.entry((id.into(), partition)).or_default();
                state.recent.push_back((seq, offset));
                if state.recent.len() > PRODUCER_WINDOW {
                    state.recent.pop_front();
                }
                let state = &*state;
                self.log.member(|key| Mutation::Topic { key, change: TopicChange::Producer { producer: id, partition, state } });
            }
            Ok(Published { partition, offset, duplicate: false })
        }

        /// Executes a [`Cleanup`] on `partition`: removes its entries and records the log end.
        /// How many entries went.
        pub fn clean(&mut self, partition: u32, cleanup: &Cleanup) -> usize {
            let Some(log) = self.value.partitions.get_mut(partition as usize) else {
                return 0;
            };
            let mut removed = 0;
            for &offset in &cleanup.offsets {
                if log.remove(offset).is_some() {
                    removed += 1;
                    self.log.member(|key| Mutation::Topic { key, change: TopicChange::Remove { partition, offset } });
                }
            }
            if removed > 0 {
                let end = log.end;
                self.log(TopicChange::End { partition, end });
            }
            removed
        }

        fn log_group(&self, name: &[u8]) {
            if let Some(state) = self.value.groups.get(name) {
                self.log.member(|key| Mutation::Topic { key, change: TopicChange::Group { group: name, state } });
            }
        }

        /// Removes members not heard of for longer than their group's session and rebalances
        /// their groups. Whether any group changed.
        pub fn expire_members(&mut self, now: u64) -> bool {
            let partitions = self.value.config.partitions;
            let mut changed = Vec::new();
            for (name, group) in self.value.groups.iter_mut() {
                let session = group.session_ms;
                let before = group.members.len();
                group.members.retain(|_, m| m.seen.saturating_add(session) > now);
                if group.members.len() != before {
                    group.rebalance(partitions);
                    changed.push(name.clone());
                }
            }
            for name in &changed {
                self.log_group(name);
            }
            !changed.is_empty()
        }

        /// Consumer `consumer` of `group` is alive at `now`: it joins (creating the group with
        /// `session_ms`, default Kafka's) and the group rebalances, or its session is renewed.
        /// `session_ms` also updates an existing group's timeout. Whether it joined.
        pub fn join(&mut self, group: &[u8], consumer: &[u8], session_ms: Option<u64>, now: u64) -> bool {
            let partitions = self.value.config.partitions;
            let entry = self.value.groups.entry(group.into()).or_insert_with(|| Group::new(session_ms.unwrap_or(DEFAULT_SESSION_MS)));
            let mut changed = session_ms.is_some_and(|ms| ms != entry.session_ms);
            entry.session_ms = session_ms.unwrap_or(entry.session_ms);
            let joined = match entry.members.get_mut(consumer) {
                Some(member) => {
                    member.seen = now;
                    false
                }
                None => {
                    entry.members.insert(consumer.into(), Member { partitions: Vec::new(), seen: now });
                    entry.rebalance(partitions);
                    true
                }
            };
            changed |= joined;
            if changed {
                self.log_group(group);
            }
            joined
        }

        /// Renews `consumer`'s session; its partitions and the generation.
        pub fn heartbeat(&mut self, group: &[u8], consumer: &[u8], now: u64) -> Result<(Vec<u32>, u64), GroupError> {
            let group = self.value.groups.get_mut(group).ok_or(GroupError::NoGroup)?;
            let member = group.members.get_mut(consumer).ok_or(GroupError::NotMember)?;
            member.seen = now;
            Ok((member.partitions.clone(), group.generation))
        }

        /// `consumer` leaves `group`, which rebalances. Whether it was a member.
        pub fn leave(&mut self, group: &[u8], consumer: &[u8]) -> bool {
            let partitions = self.value.config.partitions;
            let Some(entry) = self.value.groups.get_mut(group) else {
                return false;
            };
            if entry.members.remove(consumer).is_none() {
                return false;
            }
            entry.rebalance(partitions);
            self.log_group(group);
            true
        }

        /// Takes up to `count` entries for `consumer` from its partitions, in turn, from the
        /// group's positions, and moves the positions past them: (partition, offset) pairs.
        pub fn fetch(&mut self, group: &[u8], consumer: &[u8], count: usize) -> Vec<(u32, u64)> {
            let Some(entry) = self.value.groups.get_mut(group) else {
                return Vec::new();
            };
            let Some(member) = entry.members.get(consumer) else {
                return Vec::new();
            };
            let mut cursors: Vec<(u32, u64)> = member
                .partitions
                .iter()
                .filter_map(|&p| self.value.partitions.get(p as usize).map(|log| (p, entry.next_offset(p, log))))
                .collect();
            let mut out = Vec::new();
            let mut progressed = true;
            while out.len() < count && progressed {
                progressed = false;
                for (p, at) in cursors.iter_mut() {
                    if out.len() >= count {
                        break;
                    }
                    let Some(log) = self.value.partitions.get(*p as usize) else { continue };
                    if let Some((offset, _)) = log.read(*at, 1).next() {
                        out.push((*p, offset));
                        *at = offset + 1;
                        progressed = true;
                    }
                }
            }
            for (p, at) in cursors {
                entry.position.insert(p, at);
            }
            out
        }

        /// Commits `offsets` (partition, next offset to consume) for `consumer`, which must own
        /// each partition; all or nothing.
        pub fn commit(&mut self, group: &[u8], consumer: &[u8], offsets: &[(u32, u64)]) -> Result<(), GroupError> {
            let entry = self.value.groups.get(group).ok_or(GroupError::NoGroup)?;
            let member = entry.members.get(consumer).ok_or(GroupError::NotMember)?;
            for &(partition, offset) in offsets {
                let log = self.value.partitions.get(partition as usize).ok_or(GroupError::NoPartition(partition))?;
                if !member.partitions.contains(&partition) {
                    return Err(GroupError::NotOwner { partition, generation: entry.generation });
                }
                if offset > log.end {
                    return Err(GroupError::PastEnd { partition, end: log.end });
                }
            }
            for &(partition, offset) in offsets {
                self.set_committed(group, partition, offset, false);
            }
            Ok(())
        }

        fn set_committed(&mut self, group: &[u8], partition: u32, offset: u64, move_position: bool) {
            if let Some(entry) = self.value.groups.get_mut(group) {
                entry.committed.insert(partition, offset);
                if move_position {
                    entry.position.insert(partition, offset);
                }
                self.log(TopicChange::Commit { group, partition, offset });
            }
        }

        /// Moves `group`'s committed offset and position on `partition` to `offset` (creating the
        /// group, with no members, if needed).
        pub fn seek(&mut self, group: &[u8], partition: u32, offset: u64) -> Result<(), GroupError> {
            let log = self.value.partitions.get(partition as usize).ok_or(GroupError::NoPartition(partition))?;
            if offset > log.end {
                return Err(GroupError::PastEnd { partition, end: log.end });
            }
            if !self.value.groups.contains_key(group) {
                self.value.groups.insert(group.into(), Group::new(DEFAULT_SESSION_MS));
                self.log_group(group);
            }
            self.set_committed(group, partition, offset, true);
            Ok(())
        }

        /// The replay of a recorded change.
        pub fn replay(&mut self, change: &TopicChange<'_>, now: u64) {
            self.value.apply(change, now);
            self.log.member(|key| Mutation::Topic { key, change: *change });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::mutation::{ChangeSink, Mutation};
    use super::super::persist::topic_codec::Record;
    use super::*;

    #[test]
    fn murmur2_matches_kafka() {
        // Kafka's UtilsTest.testMurmur2 (clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java).
        let cases: [(&[u8], i32); 6] = [
            (b"21", -973_932_308),
            (b"foobar", -790_332_482),
            (b"a-little-bit-long-string", -985_981_536),
            (b"a-little-bit-longer-string", -1_486_304_829),
            (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58_897_971),
            (b"abc", 479_470_107),
        ];
        for (data, hash) in cases {
            assert_eq!(murmur2(data), hash, "{:?}", String::from_utf8_lossy(data));
        }
        assert_eq!(partition_for(b"21", 8), ((-973_932_308i32 & 0x7fff_ffff) as u32) % 8);
    }

    #[test]
    fn sticky_assignment_keeps_what_it_can() {
        let none: &[u32] = &[];
        let first = assign(6, [(&b"a"[..], none)].into_iter());
        assert_eq!(first[&b"a"[..]], vec![0, 1, 2, 3, 4, 5]);
        let a = first[&b"a"[..]].clone();
        let second = assign(6, [(&b"a"[..], &a[..]), (&b"b"[..], none)].into_iter());
        assert_eq!(second[&b"a"[..]], vec![0, 1, 2]);
        assert_eq!(second[&b"b"[..]], vec![3, 4, 5]);
        let (a, b) = (second[&b"a"[..]].clone(), second[&b"b"[..]].clone());
        let third = assign(6, [(&b"a"[..], &a[..]), (&b"b"[..], &b[..]), (&b"c"[..], none)].into_iter());
        assert_eq!(third[&b"a"[..]], vec![0, 1]);
        assert_eq!(third[&b"b"[..]], vec![3, 4]);
        assert_eq!(third[&b"c"[..]], vec![2, 5]);
        // b leaves: a and c keep theirs and share b's.
        let (a, c) = (third[&b"a"[..]].clone(), third[&b"c"[..]].clone());
        let fourth = assign(6, [(&b"a"[..], &a[..]), (&b"c"[..], &c[..])].into_iter());
        assert_eq!(fourth[&b"a"[..]], vec![0, 1, 3]);
        assert_eq!(fourth[&b"c"[..]], vec![2, 4, 5]);
        // More members than partitions: some get none.
        let many = assign(1, [(&b"a"[..], none), (&b"b"[..], none)].into_iter());
        assert_eq!(many.values().map(Vec::len).sum::<usize>(), 1);
    }

    /// A sink that keeps every topic change, to check the seam records what changed.
    #[derive(Default)]
    struct Changes(std::sync::Mutex<Vec<String>>);

    impl ChangeSink for Changes {
        fn record(&self, _db: usize, _version: u64, change: &Mutation<'_>) {
            if let Mutation::Topic { change, .. } = change {
                if let Ok(mut seen) = self.0.lock() {
                    seen.push(format!("{change:?}").split([' ', '(']).next().unwrap_or_default().to_string());
                }
            }
        }
    }

    fn keyspace_with_topic(sink: std::sync::Arc<Changes>) -> super::super::Keyspace {
        let mut keyspace = super::super::Keyspace::new(1);
        keyspace.set_sink(sink);
        keyspace
    }

    fn with_topic<R>(keyspace: &super::super::Keyspace, f: impl FnOnce(&mut super::super::Tracked<'_, Topic>) -> R) -> R {
        use super::super::write::Collection;
        let hash = super::super::KeyHash::of(b"t");
        let mut shard = keyspace.db(0).lock(hash);
        if shard.get(hash, b"t", 0).is_none() {
            shard.set(hash, b"t", Topic::new().into_value(), None, 0);
        }
        let write = shard.write(hash, b"t", 0, false).unwrap_or_else(|| panic!("no topic"));
        let mut topic = write.collection::<Topic>().unwrap_or_else(|| panic!("not a topic"));
        f(&mut topic)
    }

    #[test]
    fn offsets_time_and_idempotent_producers() {
        let sink = std::sync::Arc::new(Changes::default());
        let keyspace = keyspace_with_topic(sink.clone());
        with_topic(&keyspace, |t| {
            t.configure(TopicConfig { partitions: 2, ..TopicConfig::default() });
            let a = t.publish(0, None, b"a", None, 100).unwrap();
            let b = t.publish(0, Some(b"k"), b"b", Some((b"p", 0)), 200).unwrap();
            assert_eq!((a.offset, b.offset), (0, 1));
            assert_eq!(t.publish(0, Some(b"k"), b"b", Some((b"p", 0)), 300), Ok(Published { partition: 0, offset: 1, duplicate: true }));
            assert_eq!(t.publish(0, Some(b"k"), b"c", Some((b"p", 2)), 300), Err(PubError::OutOfOrder { expected: 1 }));
            assert_eq!(t.publish(1, None, b"x", Some((b"p", 1)), 300), Err(PubError::OutOfOrder { expected: 0 }), "per partition");
            // The clock went back: timestamps do not.
            let c = t.publish(0, None, b"c", None, 150).unwrap();
            assert_eq!(t.partition(0).unwrap().entry(c.offset).unwrap().timestamp, 200);
            assert_eq!(t.resolve(0, Start::Time(150)), Some(1));
            assert_eq!(t.resolve(0, Start::Time(201)), Some(3));
            assert_eq!(t.resolve(0, Start::Earliest), Some(0));
            assert_eq!(t.resolve(0, Start::Latest), Some(3));
            assert_eq!(t.resolve(2, Start::Latest), None);
            assert_eq!(t.publish(5, None, b"x", None, 0), Err(PubError::NoPartition(5)));
        });
        let seen = sink.0.lock().unwrap().clone();
        assert_eq!(seen, ["Config", "Append", "Append", "Producer", "Append"]);
    }

    #[test]
    fn retention_by_age_and_bytes_keeps_offsets() {
        let keyspace = keyspace_with_topic(std::sync::Arc::new(Changes::default()));
        with_topic(&keyspace, |t| {
            let config = TopicConfig { retention_ms: Some(1000), max_bytes: Some(60), ..TopicConfig::default() };
            t.configure(config.clone());
            for (i, now) in [0u64, 10, 500, 900].into_iter().enumerate() {
                t.publish(0, None, format!("payload{i}").as_bytes(), None, now).unwrap();
            }
            // 4 entries of 24 bytes: 96 > 60, the two oldest go for bytes.
            let cleanup = choose(&config, t.partition(0).unwrap(), 900, 1000);
            assert_eq!(cleanup.offsets, vec![0, 1]);
            assert_eq!(t.clean(0, &cleanup), 2);
            // At 1500 the entry of 500 is 1000 ms old.
            let cleanup = choose(&config, t.partition(0).unwrap(), 1500, 1000);
            assert_eq!(cleanup.offsets, vec![2]);
            t.clean(0, &cleanup);
            let cleanup = choose(&config, t.partition(0).unwrap(), 5000, 1000);
            t.clean(0, &cleanup);
            let log = t.partition(0).unwrap();
            assert!(log.is_empty());
            assert_eq!((log.start(), log.end()), (4, 4), "offsets are not reused");
            assert_eq!(t.publish(0, None, b"next", None, 5000).unwrap().offset, 4);
            assert_eq!(t.resolve(0, Start::Time(0)), Some(4));
        });
    }

    #[test]
    fn compaction_keeps_the_latest_per_key_and_drops_old_tombstones() {
        let keyspace = keyspace_with_topic(std::sync::Arc::new(Changes::default()));
        with_topic(&keyspace, |t| {
            let config = TopicConfig { compact: true, tombstone_ms: 100, ..TopicConfig::default() };
            t.configure(config.clone());
            assert_eq!(t.publish(0, None, b"v", None, 0), Err(PubError::NeedsKey));
            for (key, value, now) in [("a", "1", 0), ("b", "1", 0), ("a", "2", 10), ("b", "", 20), ("c", "1", 30)] {
                t.publish(0, Some(key.as_bytes()), value.as_bytes(), None, now).unwrap();
            }
            let cleanup = choose(&config, t.partition(0).unwrap(), 50, 1000);
            assert_eq!(cleanup.offsets, vec![0, 1], "superseded; the tombstone is young");
            t.clean(0, &cleanup);
            let cleanup = choose(&config, t.partition(0).unwrap(), 120, 1000);
            assert_eq!(cleanup.offsets, vec![3], "the tombstone after its delay");
            t.clean(0, &cleanup);
            let left: Vec<u64> = t.partition(0).unwrap().entries().map(|(o, _)| o).collect();
            assert_eq!(left, vec![2, 4]);
            assert_eq!(t.resolve(0, Start::Earliest), Some(2));
        });
    }

    #[test]
    fn groups_rebalance_fence_and_expire() {
        let keyspace = keyspace_with_topic(std::sync::Arc::new(Changes::default()));
        with_topic(&keyspace, |t| {
            t.configure(TopicConfig { partitions: 4, ..TopicConfig::default() });
            for p in 0..4 {
                for i in 0..3 {
                    t.publish(p, None, format!("{p}-{i}").as_bytes(), None, 0).unwrap();
                }
            }
            assert!(t.join(b"g", b"c1", Some(1000), 0));
            assert_eq!(t.fetch(b"g", b"c1", 5), vec![(0, 0), (1, 0), (2, 0), (3, 0), (0, 1)]);
            t.commit(b"g", b"c1", &[(0, 2), (1, 1)]).unwrap();
            assert!(t.join(b"g", b"c2", None, 100));
            let group = t.group(b"g").unwrap();
            assert_eq!((group.members[&b"c1"[..]].partitions.clone(), group.generation), (vec![0, 1], 2));
            assert_eq!(group.members[&b"c2"[..]].partitions, vec![2, 3]);
            // c1 kept partitions 0 and 1 and reads on from its positions; c2 starts from what was
            // committed (nothing: the earliest).
            assert_eq!(t.fetch(b"g", b"c1", 10), vec![(0, 2), (1, 1), (1, 2)]);
            assert_eq!(t.fetch(b"g", b"c2", 2), vec![(2, 0), (3, 0)]);
            assert_eq!(t.commit(b"g", b"c1", &[(0, 3), (2, 1)]), Err(GroupError::NotOwner { partition: 2, generation: 2 }));
            assert_eq!(t.group(b"g").unwrap().committed.get(&0), Some(&2), "nothing half applied");
            assert_eq!(t.commit(b"g", b"c1", &[(0, 9)]), Err(GroupError::PastEnd { partition: 0, end: 3 }));
            // c1 goes silent: at 1000 its session (from 0) ended; c2 (heard of at 100) takes all
            // and starts partition 0 and 1 from the committed offsets.
            t.heartbeat(b"g", b"c2", 900).unwrap();
            assert!(t.expire_members(1000));
            assert_eq!(t.group(b"g").unwrap().members[&b"c2"[..]].partitions, vec![0, 1, 2, 3]);
            assert_eq!(t.fetch(b"g", b"c2", 3), vec![(0, 2), (1, 1), (2, 1)]);
            assert!(t.leave(b"g", b"c2"));
            assert_eq!(t.heartbeat(b"g", b"c2", 1000), Err(GroupError::NotMember));
            t.seek(b"g", 3, 1).unwrap();
            assert_eq!(t.group(b"g").unwrap().committed.get(&3), Some(&1));
            assert_eq!(t.seek(b"g", 3, 4), Err(GroupError::PastEnd { partition: 3, end: 3 }));
        });
    }

    #[test]
    fn changes_rebuild_an_equal_topic() {
        let sink = std::sync::Arc::new(Recorder::default());
        let mut keyspace = super::super::Keyspace::new(1);
        keyspace.set_sink(sink.clone());
        let live = with_topic(&keyspace, |t| {
            t.configure(TopicConfig { partitions: 3, compact: true, tombstone_ms: 0, ..TopicConfig::default() });
            let mut seq = 0;
            for i in 0..20u64 {
                let key = format!("k{}", i % 4);
                let partition = partition_for(key.as_bytes(), 3);
                let producer = (partition == 0).then_some((&b"p"[..], seq));
                seq += u64::from(producer.is_some());
                t.publish(partition, Some(key.as_bytes()), b"v", producer, i).unwrap();
            }
            t.join(b"g", b"a", None, 0);
            t.join(b"g", b"b", None, 0);
            let owned = t.group(b"g").unwrap().members[&b"a"[..]].partitions.clone();
            t.commit(b"g", b"a", &owned.iter().map(|p| (*p, 1)).collect::<Vec<_>>()).unwrap();
            for p in 0..3 {
                let cleanup = choose(t.config(), t.partition(p).unwrap(), 100, 1000);
                t.clean(p, &cleanup);
            }
            t.leave(b"g", b"b");
            (**t).clone()
        });
        let mut rebuilt = Topic::new();
        for change in sink.0.lock().unwrap().iter() {
            rebuilt.apply(&change.as_change(), 0);
        }
        assert_eq!(rebuilt, live);
    }

    /// Owned copies of recorded changes.
    #[derive(Default)]
    struct Recorder(std::sync::Mutex<Vec<Record>>);

    impl ChangeSink for Recorder {
        fn record(&self, _db: usize, _version: u64, change: &Mutation<'_>) {
            let Mutation::Topic { change, .. } = change else { return };
            let owned = Record::of(change);
            if let Ok(mut all) = self.0.lock() {
                all.push(owned);
            }
        }
    }
}
