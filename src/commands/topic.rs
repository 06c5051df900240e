//! STREAM.*: Kafka-style partitioned topics (the `topic` type, [`crate::engine::topic`]). Producers
//! publish to a topic, by key (Kafka's default partitioner) or in turn; readers read a partition
//! from an offset or a time; consumer groups divide the partitions among their live members, who
//! commit how far they got.
//!
//! Each command parses all its arguments before it touches the topic, so nothing is half applied.
//! Commands that touch a group first drop the members whose session ended (the topic worker,
//! [`maintain`], does it too, with retention and compaction, when nobody asks).

use std::borrow::Cow;
use std::time::Duration;

use super::args::{self, non_negative, positive, ArgCursor};
use super::collection::{get, get_mut};
use super::{BlockedOn, CmdError, Ctx};
use crate::engine::topic::{choose, Entry, GroupError, PubError, Start, Topic, TopicConfig, DEFAULT_TOMBSTONE_MS, MAX_PARTITIONS};
use crate::engine::{Collection, KeyHash, StreamId, Tracked};
use crate::notify;
use crate::resp::{Args, Protocol, Reply};
use crate::state::shared::Shared;

/// Largest COUNT of one read.
const MAX_COUNT: i64 = 100_000;
/// Entries read when no COUNT is given.
const DEFAULT_COUNT: usize = 100;
/// Most entries one worker visit removes from a partition (the rest at the next visit), so the
/// worker never holds the gate for long.
const CLEANUP_LIMIT: usize = 10_000;

fn topic_key<'a>(args: Args<'a>) -> &'a [u8] {
    args.get(1)
}

fn partition_arg(cursor: &mut ArgCursor) -> Result<u32, CmdError> {
    let n = cursor.next_i64()?;
    u32::try_from(n).ok().filter(|p| *p < MAX_PARTITIONS).ok_or_else(|| CmdError::err("partition must be a non-negative integer"))
}

fn count(cursor: &mut ArgCursor) -> Result<usize, CmdError> {
    args::count(cursor, MAX_COUNT)
}

/// `BLOCK ms`: `Some(None)` waits forever (0).
fn block(cursor: &mut ArgCursor) -> Result<Option<Option<Duration>>, CmdError> {
    let ms = non_negative(cursor, "BLOCK")?;
    Ok(Some((ms > 0).then(|| Duration::from_millis(ms))))
}

/// `OFFSET o | TIME ms | EARLIEST | LATEST`, if the cursor is at one.
fn start(cursor: &mut ArgCursor) -> Result<Option<Start>, CmdError> {
    Ok(Some(if cursor.eat("OFFSET") {
        Start::Offset(non_negative(cursor, "OFFSET")?)
    } else if cursor.eat("TIME") {
        Start::Time(non_negative(cursor, "TIME")?)
    } else if cursor.eat("EARLIEST") {
        Start::Earliest
    } else if cursor.eat("LATEST") {
        Start::Latest
    } else {
        return Ok(None);
    }))
}

fn no_topic(key: &[u8]) -> CmdError {
    CmdError::err(format!("no such topic '{}'", String::from_utf8_lossy(key)))
}

fn no_partition(partition: u32, topic: &Topic) -> CmdError {
    CmdError::err(format!("partition {partition} does not exist (the topic has {})", topic.config().partitions))
}

fn group_error(error: GroupError, topic: &Topic, group: &[u8], consumer: &[u8]) -> CmdError {
    let (group, consumer) = (String::from_utf8_lossy(group), String::from_utf8_lossy(consumer));
    match error {
        GroupError::NoGroup => CmdError::Other(Cow::Owned(format!("NOGROUP no consumer group '{group}' in this topic"))),
        GroupError::NotMember => CmdError::err(format!(
            "consumer '{consumer}' is not a member of group '{group}' (it left or its session ended; STREAM.SUB joins again)"
        )),
        GroupError::NotOwner { partition, generation } => CmdError::Other(Cow::Owned(format!(
            "FENCED consumer '{consumer}' does not own partition {partition} in group '{group}' (generation {generation})"
        ))),
        GroupError::NoPartition(partition) => no_partition(partition, topic),
        GroupError::PastEnd { partition, end } => CmdError::err(format!("offset is past the end of partition {partition} (log end {end})")),
    }
}

fn int(n: u64) -> Reply {
    Reply::Int(n.min(i64::MAX as u64) as i64)
}

fn field(name: &'static str, value: Reply) -> (Reply, Reply) {
    (Reply::bulk(name.as_bytes()), value)
}

/// One entry as READ (`partition` None) or SUB answer it: `[partition,] offset, timestamp-ms, key,
/// payload`, a map in RESP3.
fn entry_reply(protocol: Protocol, partition: Option<u32>, offset: u64, entry: &Entry) -> Reply {
    let mut fields = Vec::with_capacity(5);
    if let Some(p) = partition {
        fields.push(field("partition", int(u64::from(p))));
    }
    fields.push(field("offset", int(offset)));
    fields.push(field("timestamp", int(entry.timestamp)));
    fields.push(field("key", entry.key.as_deref().map_or(Reply::Nil, Reply::bulk)));
    fields.push(field("payload", Reply::bulk(&entry.payload)));
    match protocol {
        Protocol::Resp3 => Reply::Map(fields),
        Protocol::Resp2 => Reply::Array(fields.into_iter().map(|(_, value)| value).collect()),
    }
}

/// Runs `op` on the topic at `key` for writing; `None` when there is none.
fn with_topic<R>(ctx: &Ctx, key: &[u8], op: impl FnOnce(&mut Tracked<'_, Topic>) -> R) -> Result<Option<R>, CmdError> {
    let hash = KeyHash::of(key);
    let mut shard = ctx.db().lock(hash);
    Ok(get_mut::<Topic>(&mut shard, hash, key, ctx.now_ms, ctx.touches())?.map(|mut topic| op(&mut topic)))
}

/// Reads the topic at `key`; `None` when there is none.
fn read_topic<R>(ctx: &Ctx, key: &[u8], op: impl FnOnce(&Topic) -> R) -> Result<Option<R>, CmdError> {
    let hash = KeyHash::of(key);
    let mut shard = ctx.db().lock(hash);
    Ok(get::<Topic>(&mut shard, hash, key, ctx.now_ms, ctx.touches())?.map(op))
}

/// `[PARTITIONS n] [RETENTION ms] [MAXBYTES n] [COMPACT] [TOMBSTONE ms]`.
fn parse_config(args: Args, default_partitions: u32) -> Result<TopicConfig, CmdError> {
    let mut config = TopicConfig { partitions: default_partitions, ..TopicConfig::default() };
    let mut cursor = ArgCursor::new(args, 2);
    while !cursor.is_done() {
        if cursor.eat("PARTITIONS") {
            let n = positive(&mut cursor, "PARTITIONS")?;
            config.partitions = u32::try_from(n)
                .ok()
                .filter(|n| *n <= MAX_PARTITIONS)
                .ok_or_else(|| CmdError::err(format!("PARTITIONS must be between 1 and {MAX_PARTITIONS}")))?;
        } else if cursor.eat("RETENTION") {
            config.retention_ms = Some(positive(&mut cursor, "RETENTION")?);
        } else if cursor.eat("MAXBYTES") {
            config.max_bytes = Some(positive(&mut cursor, "MAXBYTES")?);
        } else if cursor.eat("COMPACT") {
            config.compact = true;
        } else if cursor.eat("TOMBSTONE") {
            config.tombstone_ms = non_negative(&mut cursor, "TOMBSTONE")?;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    if config.tombstone_ms != DEFAULT_TOMBSTONE_MS && !config.compact {
        return Err(CmdError::err("TOMBSTONE needs COMPACT"));
    }
    Ok(config)
}

/// The partition count of topics the first STREAM.PUB creates (`stream-default-partitions`).
fn default_partitions(ctx: &Ctx) -> u32 {
    ctx.shared.config.get_i64("stream-default-partitions").clamp(1, i64::from(MAX_PARTITIONS)) as u32
}

/// Creates the topic at `key` with `config`; false when a topic is there already.
fn create_topic(ctx: &Ctx, key: &[u8], config: TopicConfig) -> Result<bool, CmdError> {
    let hash = KeyHash::of(key);
    let mut shard = ctx.db().lock(hash);
    if get::<Topic>(&mut shard, hash, key, ctx.now_ms, false)?.is_some() {
        return Ok(false);
    }
    shard.set(hash, key, Topic::new().into_value(), None, ctx.now_ms);
    if let Some(mut topic) = get_mut::<Topic>(&mut shard, hash, key, ctx.now_ms, false)? {
        topic.configure(config);
    }
    drop(shard);
    ctx.shared.topics.register(ctx.session.db, key);
    Ok(true)
}

/// STREAM.CREATE topic [PARTITIONS n] [RETENTION ms] [MAXBYTES n] [COMPACT] [TOMBSTONE ms]
///
/// Creates a topic: `n` partitions (default `stream-default-partitions`), entries removed once
/// older than RETENTION or while a partition holds more than MAXBYTES, and with COMPACT only the
/// latest entry per key kept (an empty payload is a tombstone, removed TOMBSTONE ms later, default
/// a day).
///
/// # Errors
/// `-ERR topic already exists`; WRONGTYPE when the key holds another type.
pub fn create(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let key = topic_key(args);
    let config = parse_config(args, default_partitions(ctx))?;
    if !create_topic(ctx, key, config)? {
        return Err(CmdError::err("topic already exists"));
    }
    ctx.notify(notify::MODULE, "tcreate", key);
    Ok(Reply::Ok)
}

/// STREAM.PUB topic payload [KEY key] [PARTITION p] [PRODUCER id SEQ n]
///
/// Appends an entry: to PARTITION, else to the key's partition (Kafka's default partitioner:
/// murmur2 of the key modulo the partition count), else to the partitions in turn. The first
/// publish to a missing topic creates it. With PRODUCER/SEQ (and KEY or PARTITION) publishing is
/// idempotent per (producer, partition): a repeated SEQ appends nothing and answers the first
/// offset; SEQ must otherwise follow the last one (starting at 0).
///
/// # Returns
/// `[partition, offset]`.
pub fn publish(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let key = topic_key(args);
    let payload = args.get(2);
    let mut cursor = ArgCursor::new(args, 3);
    let (mut entry_key, mut partition, mut producer, mut seq) = (None, None, None, None);
    while !cursor.is_done() {
        if cursor.eat("KEY") {
            entry_key = Some(cursor.next_bytes()?);
        } else if cursor.eat("PARTITION") {
            partition = Some(partition_arg(&mut cursor)?);
        } else if cursor.eat("PRODUCER") {
            producer = Some(cursor.next_bytes()?);
        } else if cursor.eat("SEQ") {
            seq = Some(non_negative(&mut cursor, "SEQ")?);
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let producer = match (producer, seq) {
        (None, None) => None,
        (Some(_), Some(_)) if entry_key.is_none() && partition.is_none() => {
            return Err(CmdError::err("PRODUCER needs KEY or PARTITION (a retry must reach the same partition)"))
        }
        (Some(id), Some(seq)) => Some((id, seq)),
        _ => return Err(CmdError::err("PRODUCER and SEQ go together")),
    };
    let now = ctx.now_ms;
    let publish = |topic: &mut Tracked<'_, Topic>| {
        let result = topic.pick_partition(entry_key, partition).and_then(|p| topic.publish(p, entry_key, payload, producer, now));
        result.map_err(|error| match error {
            PubError::NoPartition(p) => no_partition(p, topic),
            PubError::NeedsKey => CmdError::err("a compacted topic takes only entries with a KEY"),
            PubError::OutOfOrder { expected } => {
                CmdError::err(format!("out of order sequence number for this producer and partition: expected {expected}"))
            }
        })
    };
    let (created, published) = match with_topic(ctx, key, publish)? {
        Some(published) => (false, published),
        None => {
            let created = create_topic(ctx, key, TopicConfig { partitions: default_partitions(ctx), ..TopicConfig::default() })?;
            (created, with_topic(ctx, key, publish)?.ok_or_else(|| no_topic(key))?)
        }
    };
    let published = published?;
    if created {
        ctx.notify(notify::MODULE, "tcreate", key);
    }
    if !published.duplicate {
        ctx.notify(notify::MODULE, "tpub", key);
    }
    Ok(Reply::Array(vec![int(u64::from(published.partition)), int(published.offset)]))
}

/// STREAM.READ topic PARTITION p (OFFSET o | TIME ms | EARLIEST | LATEST) [COUNT n] [BLOCK ms]
///
/// # Returns
/// Up to COUNT (default 100) entries of partition `p` from the offset given (an offset retention
/// removed continues from the earliest left), each `[offset, timestamp-ms, key, payload]`, a map
/// in RESP3. With BLOCK, waits for an entry as XREAD does: a null array when none came in time.
pub fn read(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let key = topic_key(args);
    let mut cursor = ArgCursor::new(args, 2);
    let (mut partition, mut from, mut n, mut wait) = (None, None, DEFAULT_COUNT, None);
    while !cursor.is_done() {
        if cursor.eat("PARTITION") {
            partition = Some(partition_arg(&mut cursor)?);
        } else if cursor.eat("COUNT") {
            n = count(&mut cursor)?;
        } else if cursor.eat("BLOCK") {
            wait = block(&mut cursor)?;
        } else if let Some(found) = start(&mut cursor)? {
            from = Some(found);
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let (Some(partition), Some(from)) = (partition, from) else {
        return Err(CmdError::err("STREAM.READ needs PARTITION and one of OFFSET, TIME, EARLIEST, LATEST"));
    };
    // Run on a blocked client's behalf: LATEST means what it meant when the client blocked.
    let resumed = ctx.session.blocked_read_ids.take();
    let protocol = ctx.session.protocol;
    let (offset, entries) = read_topic(ctx, key, |topic| {
        let offset = match (from, resumed.as_deref()) {
            (Start::Latest, Some([saved])) => Some(saved.ms),
            _ => topic.resolve(partition, from),
        };
        let offset = offset.ok_or_else(|| no_partition(partition, topic))?;
        let log = topic.partition(partition).ok_or_else(|| no_partition(partition, topic))?;
        let entries: Vec<Reply> = log.read(offset, n).map(|(o, entry)| entry_reply(protocol, None, o, entry)).collect();
        Ok::<_, CmdError>((offset, entries))
    })?
    .ok_or_else(|| no_topic(key))??;
    if !entries.is_empty() {
        return Ok(Reply::Array(entries));
    }
    match wait {
        None => Ok(Reply::Array(entries)),
        Some(timeout) => {
            if !ctx.session.in_exec {
                ctx.session.blocked_read_ids = Some(vec![StreamId::new(offset, 0)]);
            }
            Ok(ctx.block(vec![key.to_vec()], BlockedOn::Topic, timeout, Reply::NilArray))
        }
    }
}

/// `GROUP g CONSUMER c` at the cursor.
fn group_and_consumer<'a>(cursor: &mut ArgCursor<'a>) -> Result<(&'a [u8], &'a [u8]), CmdError> {
    if !cursor.eat("GROUP") {
        return Err(CmdError::Syntax);
    }
    let group = cursor.next_bytes()?;
    if !cursor.eat("CONSUMER") {
        return Err(CmdError::Syntax);
    }
    Ok((group, cursor.next_bytes()?))
}

/// STREAM.SUB topic GROUP g CONSUMER c [COUNT n] [BLOCK ms] [SESSION ms]
///
/// Joins the group (the first SUB; the group rebalances) or renews the consumer's session, then
/// reads from the partitions the group assigns to it, from the group's positions (for a partition
/// it just got: the committed offset, else the earliest), taking partitions in turn. SESSION sets
/// the group's session timeout (default 45 s, Kafka's): a member neither subscribing nor sending
/// STREAM.HEARTBEAT for longer leaves the group; a finite BLOCK keeps it alive while it waits (the
/// session counts from the end of the wait), BLOCK 0 does not.
///
/// # Returns
/// Up to COUNT (default 100) entries, each `[partition, offset, timestamp-ms, key, payload]`, a
/// map in RESP3; with BLOCK a null array when none came in time.
pub fn subscribe(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let key = topic_key(args);
    let mut cursor = ArgCursor::new(args, 2);
    let (group, consumer) = group_and_consumer(&mut cursor)?;
    let (mut n, mut wait, mut session) = (DEFAULT_COUNT, None, None);
    while !cursor.is_done() {
        if cursor.eat("COUNT") {
            n = count(&mut cursor)?;
        } else if cursor.eat("BLOCK") {
            wait = block(&mut cursor)?;
        } else if cursor.eat("SESSION") {
            session = Some(positive(&mut cursor, "SESSION")?);
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let (now, protocol) = (ctx.now_ms, ctx.session.protocol);
    // A consumer waiting in a finite BLOCK is alive until the wait ends: its session counts from
    // then (as a Kafka consumer's heartbeats go on while it polls).
    let waits_until = wait.flatten().filter(|_| !ctx.session.in_exec).map(|d| now.saturating_add(d.as_millis() as u64));
    let (rebalanced, entries) = with_topic(ctx, key, |topic| {
        let expired = topic.expire_members(now);
        let joined = topic.join(group, consumer, session, now);
        let taken = topic.fetch(group, consumer, n);
        let entries: Vec<Reply> = taken
            .into_iter()
            .filter_map(|(p, o)| topic.partition(p).and_then(|log| log.entry(o)).map(|e| entry_reply(protocol, Some(p), o, e)))
            .collect();
        if let (true, Some(until)) = (entries.is_empty(), waits_until) {
            // Just joined or renewed, so a member: nothing to refuse.
            let _ = topic.heartbeat(group, consumer, until);
        }
        (expired || joined, entries)
    })?
    .ok_or_else(|| no_topic(key))?;
    ctx.shared.topics.register(ctx.session.db, key);
    if rebalanced {
        // Other members blocked on the topic read again with their new partitions.
        ctx.notify(notify::MODULE, "tjoin", key);
    }
    if !entries.is_empty() {
        return Ok(Reply::Array(entries));
    }
    match wait {
        None => Ok(Reply::Array(entries)),
        Some(timeout) => Ok(ctx.block(vec![key.to_vec()], BlockedOn::Topic, timeout, Reply::NilArray)),
    }
}

/// STREAM.COMMIT topic GROUP g CONSUMER c partition offset [partition offset ...]
///
/// Commits, for each partition, the offset of the next entry to consume (Kafka's convention: the
/// last one processed plus one). All or nothing.
///
/// # Errors
/// `-FENCED` when the consumer no longer owns one of the partitions (the group rebalanced since
/// it read them); `-NOGROUP`; an offset past the log end.
pub fn commit(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let key = topic_key(args);
    let mut cursor = ArgCursor::new(args, 2);
    let (group, consumer) = group_and_consumer(&mut cursor)?;
    let mut offsets = Vec::new();
    while !cursor.is_done() {
        let partition = partition_arg(&mut cursor)?;
        offsets.push((partition, non_negative(&mut cursor, "offset")?));
    }
    if offsets.is_empty() {
        return Err(CmdError::Syntax);
    }
    let now = ctx.now_ms;
    let (expired, result) = with_topic(ctx, key, |topic| {
        let expired = topic.expire_members(now);
        let result = topic.commit(group, consumer, &offsets).map_err(|e| group_error(e, topic, group, consumer));
        (expired, result)
    })?
    .ok_or_else(|| no_topic(key))?;
    if expired {
        ctx.notify(notify::MODULE, "tjoin", key);
    }
    result?;
    ctx.notify(notify::MODULE, "tcommit", key);
    Ok(Reply::Ok)
}

/// STREAM.SEEK topic GROUP g PARTITION p (OFFSET o | TIME ms | EARLIEST | LATEST)
///
/// Moves the group's committed offset and position on partition `p` (replay, or skipping ahead);
/// the group is created if needed. The partition's owner reads from there at its next SUB.
pub fn seek(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let key = topic_key(args);
    let mut cursor = ArgCursor::new(args, 2);
    if !cursor.eat("GROUP") {
        return Err(CmdError::Syntax);
    }
    let group = cursor.next_bytes()?;
    if !cursor.eat("PARTITION") {
        return Err(CmdError::Syntax);
    }
    let partition = partition_arg(&mut cursor)?;
    let from = start(&mut cursor)?.ok_or(CmdError::Syntax)?;
    if !cursor.is_done() {
        return Err(CmdError::Syntax);
    }
    with_topic(ctx, key, |topic| {
        let offset = topic.resolve(partition, from).ok_or_else(|| no_partition(partition, topic))?;
        topic.seek(group, partition, offset).map_err(|e| group_error(e, topic, group, b""))
    })?
    .ok_or_else(|| no_topic(key))??;
    ctx.shared.topics.register(ctx.session.db, key);
    ctx.notify(notify::MODULE, "tseek", key);
    Ok(Reply::Ok)
}

/// `GROUP g` alone.
fn group_only<'a>(args: Args<'a>) -> Result<&'a [u8], CmdError> {
    let mut cursor = ArgCursor::new(args, 2);
    if !cursor.eat("GROUP") {
        return Err(CmdError::Syntax);
    }
    let group = cursor.next_bytes()?;
    if !cursor.is_done() {
        return Err(CmdError::Syntax);
    }
    Ok(group)
}

/// STREAM.OFFSETS topic GROUP g
///
/// # Returns
/// Per partition a map: partition, committed (the group's committed offset, nil if none),
/// log-start, log-end, lag (entries from the committed offset, or from the start, to the end) and
/// owner (nil if none).
pub fn offsets(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let key = topic_key(args);
    let group = group_only(args)?;
    read_topic(ctx, key, |topic| {
        let state = topic.group(group).ok_or_else(|| group_error(GroupError::NoGroup, topic, group, b""))?;
        let rows = topic.partitions().iter().enumerate().map(|(p, log)| {
            let p = p as u32;
            let committed = state.committed.get(&p).copied();
            let from = committed.unwrap_or(log.start()).max(log.start());
            Reply::Map(vec![
                field("partition", int(u64::from(p))),
                field("committed", committed.map_or(Reply::Nil, int)),
                field("log-start", int(log.start())),
                field("log-end", int(log.end())),
                field("lag", int(log.end().saturating_sub(from))),
                field("owner", state.owner(p).map_or(Reply::Nil, Reply::bulk)),
            ])
        });
        Ok(Reply::Array(rows.collect()))
    })?
    .ok_or_else(|| no_topic(key))?
}

/// STREAM.INFO topic
///
/// # Returns
/// A map: partitions (per partition its first and last offset, entries and bytes), retention-ms,
/// max-bytes, compact, and the groups with their generation, session and members' assignments.
pub fn info(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let key = topic_key(args);
    if args.len() > 2 {
        return Err(CmdError::Syntax);
    }
    read_topic(ctx, key, |topic| {
        let config = topic.config();
        let partitions = topic.partitions().iter().enumerate().map(|(p, log)| {
            Reply::Map(vec![
                field("partition", int(p as u64)),
                field("first-offset", int(log.start())),
                field("last-offset", if log.is_empty() { Reply::Nil } else { int(log.end() - 1) }),
                field("log-end", int(log.end())),
                field("entries", int(log.len() as u64)),
                field("bytes", int(log.bytes())),
            ])
        });
        let groups = topic.groups().map(|(name, group)| {
            let members = group.members.iter().map(|(member, m)| {
                Reply::Map(vec![
                    field("name", Reply::bulk(member)),
                    field("partitions", Reply::Array(m.partitions.iter().map(|p| int(u64::from(*p))).collect())),
                ])
            });
            Reply::Map(vec![
                field("name", Reply::bulk(name)),
                field("generation", int(group.generation)),
                field("session-ms", int(group.session_ms)),
                field("members", Reply::Array(members.collect())),
            ])
        });
        Reply::Map(vec![
            field("partitions", Reply::Array(partitions.collect())),
            field("retention-ms", int(config.retention_ms.unwrap_or(0))),
            field("max-bytes", int(config.max_bytes.unwrap_or(0))),
            field("compact", int(u64::from(config.compact))),
            field("groups", Reply::Array(groups.collect())),
        ])
    })?
    .ok_or_else(|| no_topic(key))
}

/// STREAM.GROUPS topic
///
/// # Returns
/// Per group a map: name, members, generation, lag (over all partitions).
pub fn groups(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let key = topic_key(args);
    if args.len() > 2 {
        return Err(CmdError::Syntax);
    }
    read_topic(ctx, key, |topic| {
        let rows = topic.groups().map(|(name, group)| {
            let lag: u64 = topic
                .partitions()
                .iter()
                .enumerate()
                .map(|(p, log)| log.end().saturating_sub(group.committed.get(&(p as u32)).copied().unwrap_or(0).max(log.start())))
                .sum();
            Reply::Map(vec![
                field("name", Reply::bulk(name)),
                field("members", int(group.members.len() as u64)),
                field("generation", int(group.generation)),
                field("lag", int(lag)),
            ])
        });
        Reply::Array(rows.collect())
    })?
    .ok_or_else(|| no_topic(key))
}

/// `GROUP g CONSUMER c` and nothing else.
fn member_args<'a>(args: Args<'a>) -> Result<(&'a [u8], &'a [u8]), CmdError> {
    let mut cursor = ArgCursor::new(args, 2);
    let found = group_and_consumer(&mut cursor)?;
    if !cursor.is_done() {
        return Err(CmdError::Syntax);
    }
    Ok(found)
}

/// STREAM.LEAVE topic GROUP g CONSUMER c
///
/// # Returns
/// 1 when the consumer was a member and left (the group rebalances), else 0.
pub fn leave(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let key = topic_key(args);
    let (group, consumer) = member_args(args)?;
    let left = with_topic(ctx, key, |topic| topic.leave(group, consumer))?.unwrap_or(false);
    if left {
        ctx.notify(notify::MODULE, "tleave", key);
    }
    Ok(Reply::Int(i64::from(left)))
}

/// STREAM.HEARTBEAT topic GROUP g CONSUMER c
///
/// Renews the consumer's session without reading.
///
/// # Returns
/// `[generation, [partition ...]]`: the consumer's current assignment.
///
/// # Errors
/// When the consumer is not a member (its session ended): STREAM.SUB joins again.
pub fn heartbeat(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let key = topic_key(args);
    let (group, consumer) = member_args(args)?;
    let now = ctx.now_ms;
    let (expired, result) = with_topic(ctx, key, |topic| {
        let expired = topic.expire_members(now);
        let result = topic.heartbeat(group, consumer, now).map_err(|e| group_error(e, topic, group, consumer));
        (expired, result)
    })?
    .ok_or_else(|| no_topic(key))?;
    if expired {
        ctx.notify(notify::MODULE, "tjoin", key);
    }
    let (partitions, generation) = result?;
    Ok(Reply::Array(vec![int(generation), Reply::Array(partitions.into_iter().map(|p| int(u64::from(p))).collect())]))
}

/// The topic worker's visit to `key` of `db` at `now`: members whose session ended leave their
/// groups, and retention and compaction remove what [`choose`] picks (at most [`CLEANUP_LIMIT`]
/// entries per partition). False when the key holds no topic any more. The caller holds the gate's
/// write side and serves the consumers this woke.
pub fn maintain(shared: &Shared, db: usize, key: &[u8], now: u64) -> bool {
    let hash = KeyHash::of(key);
    let mut shard = shared.keyspace.db(db).lock(hash);
    let Ok(Some(mut topic)) = get_mut::<Topic>(&mut shard, hash, key, now, false) else {
        return false;
    };
    let expired = topic.expire_members(now);
    let mut removed = 0;
    for partition in 0..topic.config().partitions {
        let Some(log) = topic.partition(partition) else { continue };
        let cleanup = choose(topic.config(), log, now, CLEANUP_LIMIT);
        if !cleanup.is_empty() {
            removed += topic.clean(partition, &cleanup);
        }
    }
    drop(shard);
    if expired {
        shared.watches.touch(db, key);
        shared.blocked.signal(db, key);
        shared.pubsub.notify(notify::MODULE, "tjoin", db, key);
    }
    if removed > 0 {
        shared.watches.touch(db, key);
        shared.pubsub.notify(notify::MODULE, "ttrim", db, key);
    }
    true
}

/// Registers every topic of every database with the worker: after recovery, and every few seconds
/// from the worker itself, so a topic that reached its key without a STREAM.* write (RENAME,
/// RESTORE, MOVE, COPY) still gets its retention.
pub fn register_all(shared: &Shared) {
    for db in 0..shared.keyspace.databases() {
        for shard in 0..crate::engine::keyspace::SHARDS {
            let guard = shared.keyspace.db(db).lock_index(shard);
            for entry in guard.iter() {
                if let crate::engine::Value::Topic(_) = entry.value() {
                    shared.topics.register(db, entry.key());
                }
            }
        }
    }
}

// The command table of this family, joined by `commands::registry`.

use super::acl;
use super::docs::{doc, Doc};
use super::flags::{BLOCKING, DENYOOM, FAST, READONLY, WRITE};
use super::table::Command;

/// The STREAM.* commands, in the order COMMAND lists them. Their documentation is [`DOCS`].
pub(super) static COMMANDS: &[Command] = &[
    Command::new("stream.create", -2, create).flags(WRITE | DENYOOM).keys(1, 1, 1).acl(acl::TOPIC),
    Command::new("stream.pub", -3, publish).flags(WRITE | DENYOOM | FAST).keys(1, 1, 1).acl(acl::TOPIC),
    Command::new("stream.read", -5, read).flags(READONLY | BLOCKING).keys(1, 1, 1).acl(acl::TOPIC),
    Command::new("stream.sub", -6, subscribe).flags(WRITE | BLOCKING).keys(1, 1, 1).acl(acl::TOPIC),
    Command::new("stream.commit", -8, commit).flags(WRITE | FAST).keys(1, 1, 1).acl(acl::TOPIC),
    Command::new("stream.seek", -7, seek).flags(WRITE).keys(1, 1, 1).acl(acl::TOPIC),
    Command::new("stream.offsets", 4, offsets).flags(READONLY).keys(1, 1, 1).acl(acl::TOPIC),
    Command::new("stream.info", 2, info).flags(READONLY).keys(1, 1, 1).acl(acl::TOPIC),
    Command::new("stream.groups", 2, groups).flags(READONLY).keys(1, 1, 1).acl(acl::TOPIC),
    Command::new("stream.leave", 6, leave).flags(WRITE | FAST).keys(1, 1, 1).acl(acl::TOPIC),
    Command::new("stream.heartbeat", 6, heartbeat).flags(WRITE | FAST).keys(1, 1, 1).acl(acl::TOPIC),
];

/// Documentation of the STREAM.* commands (strata's own, so not in `commands::docs`).
pub(super) static DOCS: &[(&str, Doc)] = &[
    doc("stream.create", "topic", "1.0.0", "Creates a partitioned topic with its retention and compaction policy"),
    doc("stream.pub", "topic", "1.0.0", "Publishes an entry to a topic, by key, partition or in turn, optionally idempotently"),
    doc("stream.read", "topic", "1.0.0", "Reads a partition of a topic from an offset or a time, optionally blocking"),
    doc("stream.sub", "topic", "1.0.0", "Joins a consumer group and reads from the partitions it assigns, optionally blocking"),
    doc("stream.commit", "topic", "1.0.0", "Commits a consumer group's offsets on partitions the consumer owns"),
    doc("stream.seek", "topic", "1.0.0", "Moves a consumer group's offset on a partition to an offset or a time"),
    doc("stream.offsets", "topic", "1.0.0", "Returns a consumer group's committed offsets, log ends, lag and owners"),
    doc("stream.info", "topic", "1.0.0", "Returns a topic's partitions, policy, groups and assignments"),
    doc("stream.groups", "topic", "1.0.0", "Lists the consumer groups of a topic"),
    doc("stream.leave", "topic", "1.0.0", "Takes a consumer out of its group, which rebalances"),
    doc("stream.heartbeat", "topic", "1.0.0", "Renews a consumer's session and returns its assignment"),
];
