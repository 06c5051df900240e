//! Redoes recorded mutations on a keyspace: what a replica or a recovery from a mutation log does,
//! and what proves that the mutations describe every write (tests replay a recorded run onto an
//! empty keyspace and compare).

use super::keyspace::{KeyHash, Keyspace};
use super::lake::Lake;
use super::limits::Limits;
use super::mutation::{Mutation, Side};
use super::write::Tracked;
use super::{Hash, List, Queue, Set, Stream, Topic, ZSet};

/// Why a mutation could not be applied: the keyspace does not hold what the mutation expects, so
/// the two have diverged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diverged {
    pub db: usize,
    pub key: Vec<u8>,
    pub what: &'static str,
}

/// Applies `change`, recorded in database `db`, to `keyspace` at time `now_ms`; `limits` must be the
/// ones the writer used, so collections take the same encodings.
pub fn apply(keyspace: &Keyspace, db: usize, change: &Mutation<'_>, limits: &Limits, now_ms: u64) -> Result<(), Diverged> {
    let Some(key) = change.key() else {
        match *change {
            Mutation::FlushDb => keyspace.db(db).clear(),
            Mutation::SwapDb { other } => keyspace.swap_dbs(db, other),
            _ => {}
        }
        return Ok(());
    };
    let diverged = |what| Diverged { db, key: key.to_vec(), what };
    let hash = KeyHash::of(key);
    let mut shard = keyspace.db(db).lock(hash);
    match *change {
        Mutation::Put { value, expire_at, .. } => {
            shard.set(hash, key, value.clone(), expire_at, now_ms);
        }
        Mutation::Delete { .. } | Mutation::Expired { .. } => {
            shard.remove(hash, key, now_ms).ok_or_else(|| diverged("no key to delete"))?;
        }
        Mutation::Expire { at, .. } => {
            if !shard.set_expire(hash, key, at, now_ms) {
                return Err(diverged("no key to expire"));
            }
        }
        Mutation::StringWrite { offset, bytes, .. } => {
            let write = shard.write(hash, key, now_ms, false).ok_or_else(|| diverged("no string"))?;
            let mut string = write.string_bytes().ok_or_else(|| diverged("not a string"))?;
            string.write_at(offset, bytes);
        }
        _ => {
            let write = shard.write(hash, key, now_ms, false).ok_or_else(|| diverged("no collection"))?;
            let applied = match *change {
                Mutation::HashSet { field, value, .. } => write.collection::<Hash>().map(|mut h| {
                    h.set(field, value, limits);
                }),
                Mutation::HashRemove { field, .. } => write.collection::<Hash>().map(|mut h| {
                    h.remove(field);
                }),
                Mutation::SetAdd { member, .. } => write.collection::<Set>().map(|mut s| {
                    s.insert(member, limits);
                }),
                Mutation::SetRemove { member, .. } => write.collection::<Set>().map(|mut s| {
                    s.remove(member);
                }),
                Mutation::ZSetAdd { member, score, .. } => write.collection::<ZSet>().map(|mut z| {
                    z.insert(member, score, limits);
                }),
                Mutation::ZSetRemove { member, .. } => write.collection::<ZSet>().map(|mut z| {
                    z.remove(member);
                }),
                Mutation::ListPush { .. }
                | Mutation::ListPop { .. }
                | Mutation::ListSet { .. }
                | Mutation::ListInsert { .. }
                | Mutation::ListRemove { .. }
                | Mutation::ListTrim { .. } => write.collection::<List>().and_then(|list| apply_list(list, change, limits)),
                Mutation::QueueMessage { id, message, .. } => write.collection::<Queue>().map(|mut q| q.replay_put(id, message)),
                Mutation::QueueRemove { id, .. } => write.collection::<Queue>().map(|mut q| q.replay_take(id)),
                Mutation::QueueHead { head, .. } => write.collection::<Queue>().map(|mut q| q.replay_head(head)),
                Mutation::Topic { change, .. } => write.collection::<Topic>().map(|mut t| t.replay(&change, now_ms)),
                Mutation::LakeDelta { delta, .. } => write.collection::<Lake>().and_then(|mut l| l.replay_delta(delta).ok()),
                Mutation::LakeSnapshot { snapshot, .. } => write.collection::<Lake>().map(|mut l| l.replay_snapshot(snapshot)),
                Mutation::LakeDrop { member, .. } => write.collection::<Lake>().map(|mut l| l.replay_drop(member)),
                Mutation::LakeHead { head, .. } => write.collection::<Lake>().map(|mut l| l.replay_head(head)),
                _ => write.collection::<Stream>().and_then(|stream| apply_stream(stream, change, limits)),
            };
            applied.ok_or_else(|| diverged("wrong type"))?;
        }
    }
    Ok(())
}

fn apply_stream(mut stream: Tracked<'_, Stream>, change: &Mutation<'_>, limits: &Limits) -> Option<()> {
    match *change {
        Mutation::StreamAdd { id, fields, .. } => stream.append(id, fields.clone(), limits),
        Mutation::StreamDelete { id, .. } => {
            stream.delete(&[id]);
        }
        Mutation::StreamTrim { id, .. } => {
            stream.remove_trimmed(id);
        }
        Mutation::StreamMeta { last_id, entries_added, max_deleted_id, .. } => {
            stream.set_id(last_id, Some(entries_added), Some(max_deleted_id));
        }
        Mutation::GroupPut { group, last_id, entries_read, .. } => stream.put_group(group, last_id, entries_read),
        Mutation::GroupDelete { group, .. } => {
            stream.destroy_group(group);
        }
        Mutation::ConsumerPut { group, consumer, seen_time, .. } => stream.group_mut(group)?.put_consumer(consumer, seen_time),
        Mutation::ConsumerDelete { group, consumer, .. } => {
            stream.group_mut(group)?.delete_consumer(consumer);
        }
        Mutation::PendingPut { group, id, consumer, delivery_time, delivery_count, .. } => {
            stream.group_mut(group)?.put_pending(id, consumer, delivery_time, delivery_count)
        }
        Mutation::PendingDelete { group, id, .. } => {
            stream.group_mut(group)?.ack(id);
        }
        _ => return None,
    }
    Some(())
}

fn apply_list(mut list: Tracked<'_, List>, change: &Mutation<'_>, limits: &Limits) -> Option<()> {
    match *change {
        Mutation::ListPush { side: Side::Front, item, .. } => list.push_front(item, limits),
        Mutation::ListPush { side: Side::Back, item, .. } => list.push_back(item, limits),
        Mutation::ListPop { side: Side::Front, .. } => {
            list.pop_front(limits)?;
        }
        Mutation::ListPop { side: Side::Back, .. } => {
            list.pop_back(limits)?;
        }
        Mutation::ListSet { index, item, .. } => {
            list.set(index, item, limits);
        }
        Mutation::ListInsert { index, item, .. } => list.insert(index, item, limits),
        Mutation::ListRemove { index, .. } => list.retain(|at, _| at != index, limits),
        Mutation::ListTrim { start, end, .. } => list.trim(start, end, limits),
        _ => return None,
    }
    Some(())
}
