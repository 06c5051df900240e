//! How a topic is written as records: its config is the body of its metadata record, and every
//! other durable part is one member record, so a publish writes one entry record whatever the
//! topic's size, a commit one offset record, a rebalance one group record.
//!
//! Big-endian throughout. Config: `partitions u32 | retention ms u64 | max bytes u64 | compact u8 |
//! tombstone ms u64` (u64::MAX: no limit). Members (the part after the collection's prefix):
//! - `'C' | partition u32 | group` → committed offset u64
//! - `'E' | partition u32 | offset u64` → `timestamp u64 | key length u32 (u32::MAX: none) | key | payload`
//! - `'G' | group` → `session ms u64 | generation u64 | members u32 | (name length u32 | name |
//!   count u32 | partition u32 ...)...`; when members were last heard of is not written (after a
//!   restart each gets a full session to come back)
//! - `'N' | partition u32` → log end offset u64, written when entries are removed
//! - `'S' | partition u32 | producer` → `(sequence u64 | offset u64)...`, oldest first
//!
//! Records sort by that first byte, so recovery meets a group's commits before the group, and a
//! partition's entries in offset order.

use super::queue_codec::Reader;
use crate::engine::topic::{Entry, Group, Member, Producer, Topic, TopicChange, TopicConfig};

const COMMIT: u8 = b'C';
const ENTRY: u8 = b'E';
const GROUP: u8 = b'G';
const END: u8 = b'N';
const PRODUCER: u8 = b'S';

pub fn encode_config(config: &TopicConfig, out: &mut Vec<u8>) {
    out.extend_from_slice(&config.partitions.to_be_bytes());
    out.extend_from_slice(&config.retention_ms.unwrap_or(u64::MAX).to_be_bytes());
    out.extend_from_slice(&config.max_bytes.unwrap_or(u64::MAX).to_be_bytes());
    out.push(u8::from(config.compact));
    out.extend_from_slice(&config.tombstone_ms.to_be_bytes());
}

pub fn decode_config(body: &[u8]) -> Option<TopicConfig> {
    let mut r = Reader(body);
    let partitions = r.u32()?;
    let retention_ms = Some(r.u64()?).filter(|&n| n != u64::MAX);
    let max_bytes = Some(r.u64()?).filter(|&n| n != u64::MAX);
    let compact = r.u8()? == 1;
    let tombstone_ms = r.u64()?;
    Some(TopicConfig { partitions, retention_ms, max_bytes, compact, tombstone_ms })
}

/// What a topic change does to the store.
pub enum Write {
    /// Put the member record `member` (the buffer's contents) with the value written.
    Put,
    /// Delete the member record.
    Delete,
    /// The metadata record changes (the config).
    Meta,
}

fn with_partition(tag: u8, partition: u32, member: &mut Vec<u8>) {
    member.clear();
    member.push(tag);
    member.extend_from_slice(&partition.to_be_bytes());
}

/// The record of `change`: its member name into `member`, its value into `value`.
pub fn encode(change: &TopicChange<'_>, member: &mut Vec<u8>, value: &mut Vec<u8>) -> Write {
    value.clear();
    match *change {
        TopicChange::Config(_) => return Write::Meta,
        TopicChange::Append { partition, offset, entry } => {
            entry_key(partition, offset, member);
            encode_entry(entry, value);
        }
        TopicChange::Remove { partition, offset } => {
            entry_key(partition, offset, member);
            return Write::Delete;
        }
        TopicChange::End { partition, end } => {
            with_partition(END, partition, member);
            value.extend_from_slice(&end.to_be_bytes());
        }
        TopicChange::Group { group, state } => {
            member.clear();
            member.push(GROUP);
            member.extend_from_slice(group);
            encode_group(state, value);
        }
        TopicChange::Commit { group, partition, offset } => {
            with_partition(COMMIT, partition, member);
            member.extend_from_slice(group);
            value.extend_from_slice(&offset.to_be_bytes());
        }
        TopicChange::Producer { producer, partition, state } => {
            with_partition(PRODUCER, partition, member);
            member.extend_from_slice(producer);
            for (seq, offset) in &state.recent {
                value.extend_from_slice(&seq.to_be_bytes());
                value.extend_from_slice(&offset.to_be_bytes());
            }
        }
    }
    Write::Put
}

fn entry_key(partition: u32, offset: u64, member: &mut Vec<u8>) {
    with_partition(ENTRY, partition, member);
    member.extend_from_slice(&offset.to_be_bytes());
}

fn encode_entry(entry: &Entry, out: &mut Vec<u8>) {
    out.extend_from_slice(&entry.timestamp.to_be_bytes());
    match &entry.key {
        Some(key) => {
            out.extend_from_slice(&(key.len() as u32).to_be_bytes());
            out.extend_from_slice(key);
        }
        None => out.extend_from_slice(&u32::MAX.to_be_bytes()),
    }
    out.extend_from_slice(&entry.payload);
}

fn encode_group(group: &Group, out: &mut Vec<u8>) {
    out.extend_from_slice(&group.session_ms.to_be_bytes());
    out.extend_from_slice(&group.generation.to_be_bytes());
    out.extend_from_slice(&(group.members.len() as u32).to_be_bytes());
    for (name, member) in &group.members {
        out.extend_from_slice(&(name.len() as u32).to_be_bytes());
        out.extend_from_slice(name);
        out.extend_from_slice(&(member.partitions.len() as u32).to_be_bytes());
        for p in &member.partitions {
            out.extend_from_slice(&p.to_be_bytes());
        }
    }
}

/// A decoded member record: an owned [`TopicChange`].
#[derive(Clone, Debug, PartialEq)]
pub enum Record {
    Config(TopicConfig),
    Append(u32, u64, Entry),
    Remove(u32, u64),
    End(u32, u64),
    Group(Vec<u8>, Group),
    Commit(Vec<u8>, u32, u64),
    Producer(Vec<u8>, u32, Producer),
}

impl Record {
    pub fn of(change: &TopicChange<'_>) -> Record {
        match *change {
            TopicChange::Config(c) => Record::Config(c.clone()),
            TopicChange::Append { partition, offset, entry } => Record::Append(partition, offset, entry.clone()),
            TopicChange::Remove { partition, offset } => Record::Remove(partition, offset),
            TopicChange::End { partition, end } => Record::End(partition, end),
            TopicChange::Group { group, state } => Record::Group(group.to_vec(), state.clone()),
            TopicChange::Commit { group, partition, offset } => Record::Commit(group.to_vec(), partition, offset),
            TopicChange::Producer { producer, partition, state } => Record::Producer(producer.to_vec(), partition, state.clone()),
        }
    }

    pub fn as_change(&self) -> TopicChange<'_> {
        match self {
            Record::Config(c) => TopicChange::Config(c),
            Record::Append(partition, offset, entry) => TopicChange::Append { partition: *partition, offset: *offset, entry },
            Record::Remove(partition, offset) => TopicChange::Remove { partition: *partition, offset: *offset },
            Record::End(partition, end) => TopicChange::End { partition: *partition, end: *end },
            Record::Group(group, state) => TopicChange::Group { group, state },
            Record::Commit(group, partition, offset) => TopicChange::Commit { group, partition: *partition, offset: *offset },
            Record::Producer(producer, partition, state) => TopicChange::Producer { producer, partition: *partition, state },
        }
    }
}

/// Reads a member record back; `None` when it is damaged.
pub fn decode(member: &[u8], value: &[u8]) -> Option<Record> {
    let (&tag, rest) = member.split_first()?;
    let mut v = Reader(value);
    if tag == GROUP {
        return Some(Record::Group(rest.to_vec(), decode_group(value)?));
    }
    let (partition, rest) = rest.split_first_chunk::<4>()?;
    let partition = u32::from_be_bytes(*partition);
    Some(match tag {
        ENTRY => {
            let offset = u64::from_be_bytes(rest.try_into().ok()?);
            let timestamp = v.u64()?;
            let key = match v.u32()? {
                u32::MAX => None,
                len => Some(v.take(len as usize)?.into()),
            };
            Record::Append(partition, offset, Entry { timestamp, key, payload: v.0.into() })
        }
        END => Record::End(partition, v.u64()?),
        COMMIT => Record::Commit(rest.to_vec(), partition, u64::from_be_bytes(value.try_into().ok()?)),
        PRODUCER => {
            let mut state = Producer::default();
            while !v.0.is_empty() {
                state.recent.push_back((v.u64()?, v.u64()?));
            }
            Record::Producer(rest.to_vec(), partition, state)
        }
        _ => return None,
    })
}

fn decode_group(value: &[u8]) -> Option<Group> {
    let mut r = Reader(value);
    let mut group = Group::default();
    group.session_ms = r.u64()?;
    group.generation = r.u64()?;
    for _ in 0..r.u32()? {
        let len = r.u32()?;
        let name = r.take(len as usize)?;
        let count = r.u32()?;
        let partitions = (0..count).map(|_| r.u32()).collect::<Option<Vec<u32>>>()?;
        group.members.insert(name.into(), Member { partitions, seen: 0 });
    }
    r.0.is_empty().then_some(group)
}

/// Every member record of `topic` (written when the topic is stored whole), through `put`.
pub fn each_record(topic: &Topic, mut put: impl FnMut(&[u8], &[u8])) {
    let (mut member, mut value) = (Vec::new(), Vec::new());
    let mut write = |change: TopicChange<'_>| {
        if let Write::Put = encode(&change, &mut member, &mut value) {
            put(&member, &value);
        }
    };
    for (partition, log) in topic.partitions().iter().enumerate() {
        let partition = partition as u32;
        for (offset, entry) in log.entries() {
            write(TopicChange::Append { partition, offset, entry });
        }
        write(TopicChange::End { partition, end: log.end() });
    }
    for (group, state) in topic.groups() {
        write(TopicChange::Group { group, state });
        for (&partition, &offset) in &state.committed {
            write(TopicChange::Commit { group, partition, offset });
        }
    }
    for (producer, partition, state) in topic.producers() {
        write(TopicChange::Producer { producer, partition, state });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_refuse_damage() {
        let config = TopicConfig { partitions: 3, retention_ms: Some(5), max_bytes: None, compact: true, tombstone_ms: 7 };
        let mut out = Vec::new();
        encode_config(&config, &mut out);
        assert_eq!(decode_config(&out), Some(config));
        assert!(decode_config(&out[..10]).is_none());

        let entry = Entry { timestamp: 9, key: Some((*b"k").into()), payload: (*b"p\0q").into() };
        let mut group = Group::default();
        (group.session_ms, group.generation) = (100, 4);
        group.members.insert((*b"c1").into(), Member { partitions: vec![0, 2], seen: 0 });
        group.members.insert((*b"c2").into(), Member { partitions: vec![1], seen: 0 });
        let producer = Producer { recent: [(3, 10), (4, 11)].into_iter().collect() };
        let changes = [
            TopicChange::Append { partition: 2, offset: 7, entry: &entry },
            TopicChange::End { partition: 1, end: 40 },
            TopicChange::Group { group: b"g", state: &group },
            TopicChange::Commit { group: b"g", partition: 1, offset: 5 },
            TopicChange::Producer { producer: b"p", partition: 0, state: &producer },
        ];
        let (mut member, mut value) = (Vec::new(), Vec::new());
        for change in changes {
            assert!(matches!(encode(&change, &mut member, &mut value), Write::Put));
            assert_eq!(decode(&member, &value), Some(Record::of(&change)), "{change:?}");
            if member[0] != GROUP {
                assert!(decode(&member[..3], &value).is_none(), "a cut member name");
            }
        }
        assert!(matches!(encode(&TopicChange::Remove { partition: 2, offset: 7 }, &mut member, &mut value), Write::Delete));
        assert!(decode_group(&value).is_none());
        assert!(decode(b"X\0\0\0\0", b"").is_none());
    }
}
