//! Q.*: durable work queues (the `queue` type, [`crate::engine::queue`]). A producer pushes, competing
//! consumers pop a lease on messages and ack them; a message whose lease ends unacked is delivered
//! again, up to MAXDELIVERIES, then dead-lettered.
//!
//! Every command first settles its queue's time (delays that ended, leases that ran out, TTLs that
//! passed), the way a read expires a key lazily; the server's queue timer ([`tick`]) does the same
//! when nobody asks, so a blocked consumer gets a delayed or redelivered message on time. Each
//! command parses all its arguments before it touches the queue, so nothing is half applied.

use std::time::Duration;

use super::args::{self, is, non_negative, positive, ArgCursor};
use super::collection::{get, get_or_create};
use super::{BlockedOn, CmdError, Ctx};
use crate::engine::queue::{Forward, Message, Overflow, PushOptions, Pushed, Queue, QueueConfig};
use crate::engine::{KeyHash, Tracked};
use crate::glob;
use crate::notify;
use crate::resp::{Args, Protocol, Reply};
use crate::state::shared::Shared;

/// Largest COUNT of one pop, peek or listing.
const MAX_COUNT: i64 = 100_000;

/// Parses a message ID (a snowflake, as Q.PUSH returned it).
fn parse_id(arg: &[u8]) -> Result<u64, CmdError> {
    std::str::from_utf8(arg).ok().and_then(|text| text.parse::<u64>().ok()).ok_or_else(|| CmdError::err("invalid message ID"))
}

fn count(cursor: &mut ArgCursor) -> Result<usize, CmdError> {
    args::count(cursor, MAX_COUNT)
}

/// One message as Q.POP, Q.PEEK and Q.DEAD answer it: `[id, payload, deliveries]`, a map in RESP3.
fn message_reply(protocol: Protocol, id: u64, message: &Message) -> Reply {
    let id = Reply::bulk_string(id.to_string());
    let payload = Reply::bulk(&message.payload);
    let deliveries = Reply::Int(i64::from(message.deliveries));
    match protocol {
        Protocol::Resp3 => {
            Reply::Map(vec![(Reply::bulk(b"id"), id), (Reply::bulk(b"payload"), payload), (Reply::bulk(b"deliveries"), deliveries)])
        }
        Protocol::Resp2 => Reply::Array(vec![id, payload, deliveries]),
    }
}

fn messages_reply(protocol: Protocol, queue: &Queue, ids: impl Iterator<Item = u64>) -> Reply {
    Reply::Array(ids.filter_map(|id| queue.message(id).map(|m| message_reply(protocol, id, m))).collect())
}

/// What an operation on a queue did: its result, and whether it changed the queue.
struct Done<R> {
    result: R,
    changed: bool,
}

fn changed<R>(result: R, changed: bool) -> Done<R> {
    Done { result, changed }
}

/// Runs `op` on the queue at `key` of `db` once its time is settled; `None` when there is no
/// queue and `create` is false. `touch` records the access (OBJECT IDLETIME; off for CLIENT
/// NO-TOUCH and for the server's own visits). Messages leaving for a dead-letter queue are pushed there under
/// the same locks (both keys are locked in order), so none is ever in neither queue. Schedules the
/// queue's next timed change and wakes its blocked consumers when messages became ready.
fn with_queue<R>(
    shared: &Shared,
    db: usize,
    key: &[u8],
    now: u64,
    create: bool,
    touch: bool,
    op: impl FnOnce(&mut Tracked<'_, Queue>, &mut Vec<Forward>) -> Done<R>,
) -> Result<Option<R>, CmdError> {
    let hash = KeyHash::of(key);
    let mut shard = shared.keyspace.db(db).lock(hash);
    let dead_letter = match get::<Queue>(&mut shard, hash, key, now, touch)? {
        Some(queue) => queue.config().dead_letter.clone(),
        None if create => None,
        None => return Ok(None),
    };
    let mut forward = Vec::new();
    let (result, next_due, ready) = match &dead_letter {
        None => {
            let mut queue = get_or_create::<Queue>(&mut shard, hash, key, now, false)?;
            let outcome = run(&mut queue, now, &mut forward, op);
            // No dead-letter queue: nothing leaves, but should something have, it stays here.
            if !forward.is_empty() {
                bury(&mut queue, std::mem::take(&mut forward));
            }
            // Unlocked (and committed) before the timer and the waiters' registry are told.
            drop(shard);
            outcome
        }
        Some(target) => {
            drop(shard);
            let target_hash = KeyHash::of(target);
            let mut locked = shared.keyspace.lock_keys([(db, hash), (db, target_hash)]);
            if !create && get::<Queue>(locked.shard(db, hash), hash, key, now, false)?.is_none() {
                return Ok(None);
            }
            let mut queue = get_or_create::<Queue>(locked.shard(db, hash), hash, key, now, false)?;
            let outcome = run(&mut queue, now, &mut forward, op);
            if !forward.is_empty() {
                let left = deliver(locked.shard(db, target_hash), target_hash, target, now, forward, shared, db);
                if !left.is_empty() {
                    let mut queue = get_or_create::<Queue>(locked.shard(db, hash), hash, key, now, false)?;
                    bury(&mut queue, left);
                }
                drop(locked);
                shared.watches.touch(db, target);
                shared.blocked.signal(db, target);
            }
            outcome
        }
    };
    if let Some(at) = next_due {
        shared.queues.schedule(db, key, at);
    }
    if ready {
        shared.blocked.signal(db, key);
    }
    Ok(Some(result))
}

/// Settles time, runs `op`, records the head if anything changed; the result, the queue's next
/// timed change, and whether messages may have become ready.
fn run<R>(
    queue: &mut Tracked<'_, Queue>,
    now: u64,
    forward: &mut Vec<Forward>,
    op: impl FnOnce(&mut Tracked<'_, Queue>, &mut Vec<Forward>) -> Done<R>,
) -> (R, Option<u64>, bool) {
    let settled = queue.settle(now, forward);
    let done = op(queue, forward);
    if settled || done.changed {
        queue.commit_head();
    }
    (done.result, queue.next_due(), settled || done.changed)
}

/// Pushes forwarded messages into the dead-letter queue at `target`; those it cannot take (another
/// type there, or full) are returned.
fn deliver(
    shard: &mut crate::engine::Shard,
    hash: KeyHash,
    target: &[u8],
    now: u64,
    forward: Vec<Forward>,
    shared: &Shared,
    db: usize,
) -> Vec<Forward> {
    let Ok(mut queue) = get_or_create::<Queue>(shard, hash, target, now, false) else {
        return forward;
    };
    let mut left = Vec::new();
    for message in forward {
        let options = PushOptions { priority: message.priority, ..PushOptions::default() };
        if queue.push(message.id, &message.payload, &options, now) != Pushed::Added {
            left.push(message);
        }
    }
    queue.commit_head();
    if let Some(at) = queue.next_due() {
        shared.queues.schedule(db, target, at);
    }
    left
}

/// Keeps messages that could not leave as this queue's own dead letters.
fn bury(queue: &mut Tracked<'_, Queue>, messages: Vec<Forward>) {
    for message in messages {
        queue.bury(message);
    }
    queue.commit_head();
}

/// The key of a queue command: its first argument.
fn queue_key<'a>(args: Args<'a>) -> &'a [u8] {
    args.get(1)
}

/// `[DELAY ms] [PRIORITY 0-9] [TTL ms] [DEDUP token]` after the payload.
fn parse_push_options(cursor: &mut ArgCursor) -> Result<PushOptions, CmdError> {
    let mut options = PushOptions::default();
    while !cursor.is_done() {
        if cursor.eat("DELAY") {
            options.delay_ms = non_negative(cursor, "DELAY")?;
        } else if cursor.eat("PRIORITY") {
            let priority = cursor.next_i64()?;
            if !(0..=9).contains(&priority) {
                return Err(CmdError::err("PRIORITY must be between 0 and 9"));
            }
            options.priority = priority as u8;
        } else if cursor.eat("TTL") {
            options.ttl_ms = Some(positive(cursor, "TTL")?);
        } else if cursor.eat("DEDUP") {
            options.dedup = Some(cursor.next_bytes()?.into());
        } else {
            return Err(CmdError::Syntax);
        }
    }
    Ok(options)
}

fn full() -> CmdError {
    CmdError::err("queue is full (MAXLEN reached, OVERFLOW reject)")
}

/// `count` message IDs from the ID.* generator (its reservation is persisted with the command).
fn next_ids(ctx: &Ctx, count: usize) -> Result<Vec<u64>, CmdError> {
    ctx.shared.next_ids(None, count as u64, ctx.now_ms).map_err(|e| CmdError::Other(e.into()))
}

/// Q.PUSH queue payload [DELAY ms] [PRIORITY 0-9] [TTL ms] [DEDUP token]
///
/// # Returns
/// The new message's ID, or with DEDUP the ID of the message still in the queue with that token.
///
/// # Errors
/// `-ERR queue is full` when MAXLEN is reached with OVERFLOW reject.
pub fn push(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let key = queue_key(args);
    let payload = args.get(2);
    let options = parse_push_options(&mut ArgCursor::new(args, 3))?;
    let id = next_ids(ctx, 1)?.first().copied().ok_or_else(|| CmdError::err("the ID generator issued no ID"))?;
    let pushed = with_queue(ctx.shared, ctx.session.db, key, ctx.now_ms, true, ctx.touches(), |queue, _| {
        let pushed = queue.push(id, payload, &options, ctx.now_ms);
        changed(pushed, pushed == Pushed::Added)
    })?;
    match pushed {
        Some(Pushed::Added) => {
            ctx.notify(notify::MODULE, "qpush", key);
            Ok(Reply::bulk_string(id.to_string()))
        }
        Some(Pushed::Duplicate(existing)) => Ok(Reply::bulk_string(existing.to_string())),
        Some(Pushed::Full) | None => Err(full()),
    }
}

/// Q.PUSHMANY queue payload [payload ...]
///
/// # Returns
/// The IDs of the new messages, in order (ready at once, priority 0). With MAXLEN and OVERFLOW
/// reject, a push that does not fit whole adds nothing and fails.
pub fn pushmany(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let key = queue_key(args);
    let ids = next_ids(ctx, args.len() - 2)?;
    let now = ctx.now_ms;
    let added = with_queue(ctx.shared, ctx.session.db, key, now, true, ctx.touches(), |queue, _| {
        let config = queue.config();
        let waiting = (queue.sizes().ready + queue.sizes().delayed) as u64;
        if config.overflow == Overflow::Reject && config.max_len.is_some_and(|max| waiting + ids.len() as u64 > max) {
            return changed(false, false);
        }
        let options = PushOptions::default();
        for (i, id) in ids.iter().enumerate() {
            queue.push(*id, args.get(i + 2), &options, now);
        }
        changed(true, true)
    })?;
    if added != Some(true) {
        return Err(full());
    }
    ctx.notify(notify::MODULE, "qpush", key);
    Ok(Reply::Array(ids.into_iter().map(|id| Reply::bulk_string(id.to_string())).collect()))
}

/// Q.POP queue [COUNT n] [BLOCK ms] [LEASE ms]
///
/// # Returns
/// Up to COUNT (default 1) ready messages, leased to this client until acked, nacked or the lease
/// (default: the queue's) ends; a null array when none arrives in time. BLOCK 0 waits forever.
pub fn pop(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let key = queue_key(args);
    let mut cursor = ArgCursor::new(args, 2);
    let (mut n, mut block, mut lease) = (1, None, None);
    while !cursor.is_done() {
        if cursor.eat("COUNT") {
            n = count(&mut cursor)?;
        } else if cursor.eat("BLOCK") {
            let ms = non_negative(&mut cursor, "BLOCK")?;
            block = Some((ms > 0).then(|| Duration::from_millis(ms)));
        } else if cursor.eat("LEASE") {
            lease = Some(positive(&mut cursor, "LEASE")?);
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let (now, holder, protocol) = (ctx.now_ms, ctx.session.info.id, ctx.session.protocol);
    let reply = with_queue(ctx.shared, ctx.session.db, key, now, false, ctx.touches(), |queue, _| {
        let lease = lease.unwrap_or(queue.config().lease_ms);
        let ids = queue.pop(n, lease, holder, now);
        let popped = !ids.is_empty();
        changed(popped.then(|| messages_reply(protocol, queue, ids.into_iter())), popped)
    })?;
    match reply.flatten() {
        Some(reply) => {
            ctx.shared.queues.leased(holder, ctx.session.db, key);
            ctx.notify(notify::MODULE, "qpop", key);
            Ok(reply)
        }
        None => match block {
            Some(timeout) => Ok(ctx.block(vec![key.to_vec()], BlockedOn::Queue, timeout, Reply::NilArray)),
            None => Ok(Reply::NilArray),
        },
    }
}

/// `id [id ...]` followed by options that `option` recognises (it consumes their arguments).
fn parse_ids_then(args: Args, mut option: impl FnMut(&mut ArgCursor) -> Result<bool, CmdError>) -> Result<Vec<u64>, CmdError> {
    let mut cursor = ArgCursor::new(args, 2);
    let mut ids = Vec::new();
    while !cursor.is_done() {
        if option(&mut cursor)? {
            continue;
        }
        ids.push(parse_id(cursor.next_bytes()?)?);
    }
    if ids.is_empty() {
        return Err(CmdError::Syntax);
    }
    Ok(ids)
}

/// Q.ACK queue id [id ...]
///
/// # Returns
/// How many of the messages were leased and are now done; unknown or already acked IDs count 0.
pub fn ack(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let key = queue_key(args);
    let ids = parse_ids_then(args, |_| Ok(false))?;
    let done = with_queue(ctx.shared, ctx.session.db, key, ctx.now_ms, false, ctx.touches(), |queue, _| {
        let done = queue.ack(&ids);
        changed(done, done > 0)
    })?
    .unwrap_or(0);
    if done > 0 {
        ctx.notify(notify::MODULE, "qack", key);
    }
    Ok(Reply::Int(done as i64))
}

/// Q.NACK queue id [id ...] [DELAY ms] [DEAD]
///
/// # Returns
/// How many leased messages went back: to the head of their line, after DELAY, or to the dead
/// letters with DEAD (or once delivered MAXDELIVERIES times).
pub fn nack(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let key = queue_key(args);
    let (mut delay, mut dead) = (0, false);
    let ids = parse_ids_then(args, |cursor| {
        if cursor.eat("DEAD") {
            dead = true;
        } else if cursor.remaining() >= 2 && cursor.eat("DELAY") {
            delay = non_negative(cursor, "DELAY")?;
        } else {
            return Ok(false);
        }
        Ok(true)
    })?;
    let now = ctx.now_ms;
    let done = with_queue(ctx.shared, ctx.session.db, key, now, false, ctx.touches(), |queue, forward| {
        let done = queue.nack(&ids, delay, dead, now, forward);
        changed(done, done > 0)
    })?
    .unwrap_or(0);
    if done > 0 {
        ctx.notify(notify::MODULE, "qnack", key);
    }
    Ok(Reply::Int(done as i64))
}

/// Q.TOUCH queue id [id ...] [LEASE ms]
///
/// # Returns
/// How many leases were extended (to LEASE, default the queue's lease, from now).
pub fn touch(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let key = queue_key(args);
    let mut lease = None;
    let ids = parse_ids_then(args, |cursor| {
        if cursor.remaining() >= 2 && cursor.eat("LEASE") {
            lease = Some(positive(cursor, "LEASE")?);
            return Ok(true);
        }
        Ok(false)
    })?;
    let now = ctx.now_ms;
    let done = with_queue(ctx.shared, ctx.session.db, key, now, false, ctx.touches(), |queue, _| {
        let lease = lease.unwrap_or(queue.config().lease_ms);
        let done = queue.touch(&ids, lease, now);
        changed(done, done > 0)
    })?
    .unwrap_or(0);
    if done > 0 {
        ctx.notify(notify::MODULE, "qtouch", key);
    }
    Ok(Reply::Int(done as i64))
}

/// `[COUNT n]` alone, default `default`.
fn parse_count_only(args: Args, default: usize) -> Result<usize, CmdError> {
    let mut cursor = ArgCursor::new(args, 2);
    let mut n = default;
    while !cursor.is_done() {
        if cursor.eat("COUNT") {
            n = count(&mut cursor)?;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    Ok(n)
}

/// Q.PEEK queue [COUNT n]
///
/// # Returns
/// Up to COUNT (default 1) ready messages in delivery order, not leased.
pub fn peek(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let n = parse_count_only(args, 1)?;
    let protocol = ctx.session.protocol;
    let reply = with_queue(ctx.shared, ctx.session.db, queue_key(args), ctx.now_ms, false, ctx.touches(), |queue, _| {
        changed(messages_reply(protocol, queue, queue.ready_ids().take(n)), false)
    })?;
    Ok(reply.unwrap_or(Reply::Array(Vec::new())))
}

/// Q.DEAD queue [COUNT n]
///
/// # Returns
/// Up to COUNT (default 10) dead letters, oldest first.
pub fn dead(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let n = parse_count_only(args, 10)?;
    let protocol = ctx.session.protocol;
    let reply = with_queue(ctx.shared, ctx.session.db, queue_key(args), ctx.now_ms, false, ctx.touches(), |queue, _| {
        changed(messages_reply(protocol, queue, queue.dead_ids().take(n)), false)
    })?;
    Ok(reply.unwrap_or(Reply::Array(Vec::new())))
}

/// Q.REDRIVE queue [COUNT n]
///
/// # Returns
/// How many dead letters (up to COUNT, default all) went back to the tail of the ready lines.
pub fn redrive(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let key = queue_key(args);
    let n = parse_count_only(args, usize::MAX)?;
    let done = with_queue(ctx.shared, ctx.session.db, key, ctx.now_ms, false, ctx.touches(), |queue, _| {
        let done = queue.redrive(n);
        changed(done, done > 0)
    })?
    .unwrap_or(0);
    if done > 0 {
        ctx.notify(notify::MODULE, "qredrive", key);
    }
    Ok(Reply::Int(done as i64))
}

/// Q.PURGE queue
///
/// # Returns
/// How many ready and delayed messages were dropped (leased ones stay).
pub fn purge(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let key = queue_key(args);
    let done = with_queue(ctx.shared, ctx.session.db, key, ctx.now_ms, false, ctx.touches(), |queue, _| {
        let done = queue.purge();
        changed(done, done > 0)
    })?
    .unwrap_or(0);
    if done > 0 {
        ctx.notify(notify::MODULE, "qpurge", key);
    }
    Ok(Reply::Int(done as i64))
}

fn int(name: &'static str, value: u64) -> (Reply, Reply) {
    (Reply::bulk(name.as_bytes()), Reply::Int(value.min(i64::MAX as u64) as i64))
}

/// Q.STATS queue
///
/// # Returns
/// A map: ready, delayed, leased, dead, consumers waiting, oldest ready age (ms), and the counters
/// pushed, delivered, redelivered, acked, nacked, expired, dead-lettered, dropped. A missing queue
/// answers zeros.
pub fn stats(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let key = queue_key(args);
    let now = ctx.now_ms;
    let waiting = ctx.shared.blocked.waiting_on(ctx.session.db, key) as u64;
    let sizes_and_counters = with_queue(ctx.shared, ctx.session.db, key, now, false, ctx.touches(), |queue, _| {
        let oldest = queue.oldest_ready().map_or(0, |id| now.saturating_sub(crate::engine::snowflake::parse(id).unix_ms));
        changed((queue.sizes(), *queue.counters(), oldest), false)
    })?
    .unwrap_or_default();
    let (sizes, c, oldest) = sizes_and_counters;
    Ok(Reply::Map(vec![
        int("ready", sizes.ready as u64),
        int("delayed", sizes.delayed as u64),
        int("leased", sizes.leased as u64),
        int("dead", sizes.dead as u64),
        int("consumers-waiting", waiting),
        int("oldest-ready-age-ms", oldest),
        int("pushed", c.pushed),
        int("delivered", c.delivered),
        int("redelivered", c.redelivered),
        int("acked", c.acked),
        int("nacked", c.nacked),
        int("expired", c.expired),
        int("dead-lettered", c.dead_lettered),
        int("dropped", c.dropped),
    ]))
}

fn config_reply(config: &QueueConfig) -> Reply {
    let bulk_or_nil = |value: Option<&[u8]>| value.map_or(Reply::Nil, Reply::bulk);
    Reply::Map(vec![
        int("lease", config.lease_ms),
        int("maxdeliveries", u64::from(config.max_deliveries)),
        (Reply::bulk(b"deadletter"), bulk_or_nil(config.dead_letter.as_deref())),
        int("maxlen", config.max_len.unwrap_or(0)),
        (
            Reply::bulk(b"overflow"),
            Reply::bulk(match config.overflow {
                Overflow::Reject => b"reject",
                Overflow::DropOldest => b"drop-oldest",
            }),
        ),
        int("ttl", config.ttl_ms.unwrap_or(0)),
    ])
}

/// The changes Q.CONFIG asks for; `None` fields stay as they are.
#[derive(Default)]
struct ConfigChange {
    lease: Option<u64>,
    max_deliveries: Option<u32>,
    dead_letter: Option<Option<Box<[u8]>>>,
    max_len: Option<Option<u64>>,
    overflow: Option<Overflow>,
    ttl: Option<Option<u64>>,
}

fn parse_config(args: Args, key: &[u8]) -> Result<ConfigChange, CmdError> {
    let mut cursor = ArgCursor::new(args, 2);
    let mut change = ConfigChange::default();
    while !cursor.is_done() {
        if cursor.eat("LEASE") {
            change.lease = Some(positive(&mut cursor, "LEASE")?);
        } else if cursor.eat("MAXDELIVERIES") {
            let n = positive(&mut cursor, "MAXDELIVERIES")?;
            change.max_deliveries = Some(u32::try_from(n).map_err(|_| CmdError::NotInteger)?);
        } else if cursor.eat("DEADLETTER") {
            let target = cursor.next_bytes()?;
            if target == key {
                return Err(CmdError::err("DEADLETTER must name another queue"));
            }
            change.dead_letter = Some((!target.is_empty()).then(|| target.into()));
        } else if cursor.eat("MAXLEN") {
            let n = non_negative(&mut cursor, "MAXLEN")?;
            change.max_len = Some((n > 0).then_some(n));
            if cursor.eat("OVERFLOW") {
                let policy = cursor.next_bytes()?;
                change.overflow = Some(if is(policy, "reject") {
                    Overflow::Reject
                } else if is(policy, "drop-oldest") {
                    Overflow::DropOldest
                } else {
                    return Err(CmdError::Syntax);
                });
            }
        } else if cursor.eat("TTL") {
            let n = non_negative(&mut cursor, "TTL")?;
            change.ttl = Some((n > 0).then_some(n));
        } else {
            return Err(CmdError::Syntax);
        }
    }
    Ok(change)
}

/// Q.CONFIG queue [LEASE ms] [MAXDELIVERIES n] [DEADLETTER queue] [MAXLEN n [OVERFLOW reject|drop-oldest]] [TTL ms]
///
/// Sets the queue's policy (creating the queue), or with no option returns it. MAXLEN 0 and TTL 0
/// remove the limit; DEADLETTER "" keeps dead letters in the queue itself.
///
/// # Errors
/// WRONGTYPE when DEADLETTER names a key of another type.
pub fn config(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let key = queue_key(args);
    let (db, now) = (ctx.session.db, ctx.now_ms);
    if args.len() == 2 {
        let reply = with_queue(ctx.shared, db, key, now, false, ctx.touches(), |queue, _| changed(config_reply(queue.config()), false))?;
        return Ok(reply.unwrap_or_else(|| config_reply(&QueueConfig::default())));
    }
    let change = parse_config(args, key)?;
    if let Some(Some(target)) = &change.dead_letter {
        let hash = KeyHash::of(target);
        get::<Queue>(&mut ctx.db().lock(hash), hash, target, now, false)?;
    }
    with_queue(ctx.shared, db, key, now, true, ctx.touches(), |queue, _| {
        let mut config = queue.config().clone();
        config.lease_ms = change.lease.unwrap_or(config.lease_ms);
        config.max_deliveries = change.max_deliveries.unwrap_or(config.max_deliveries);
        if let Some(target) = change.dead_letter {
            config.dead_letter = target;
        }
        if let Some(max_len) = change.max_len {
            config.max_len = max_len;
        }
        config.overflow = change.overflow.unwrap_or(config.overflow);
        if let Some(ttl) = change.ttl {
            config.ttl_ms = ttl;
        }
        queue.configure(config);
        changed((), true)
    })?;
    ctx.notify(notify::MODULE, "qconfig", key);
    Ok(Reply::Ok)
}

/// Q.LIST [pattern]
///
/// # Returns
/// The names of the queues of the selected database matching the glob-style pattern (default `*`).
pub fn list(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let pattern = (args.len() > 1).then(|| args.get(1));
    if args.len() > 2 {
        return Err(CmdError::Syntax);
    }
    let db = ctx.db();
    let mut found = Vec::new();
    for shard in 0..crate::engine::keyspace::SHARDS {
        let guard = db.lock_index(shard);
        let live = guard.iter().filter(|e| e.expire_at().is_none_or(|at| at > ctx.now_ms));
        let queues = live.filter(|e| matches!(e.value(), crate::engine::Value::Queue(_)));
        found.extend(queues.filter(|e| pattern.is_none_or(|p| glob::matches(p, e.key(), false))).map(|e| Reply::bulk(e.key())));
    }
    Ok(Reply::Array(found))
}

/// The queue timer: settles the queue `key` of `db` at `now` (delays that ended, leases that ran
/// out, TTLs) and schedules its next change. Blocked consumers of messages that became ready are
/// marked to be served; the caller serves them (holding the gate's write side, as a writer would).
pub fn tick(shared: &Shared, db: usize, key: &[u8], now: u64) {
    // Another type at the key (the queue was renamed away) or no key: nothing to do.
    let _ = with_queue(shared, db, key, now, false, false, |_, _| changed((), false));
}

/// Client `client` went away: its leases in `queues` (from [`crate::state::queues::Queues::take_leases`])
/// end at once and their messages go back to the head of their lines, as an AMQP channel close
/// does. The caller serves the consumers this made ready.
pub fn release_client(shared: &Shared, client: u64, queues: Vec<(usize, Vec<u8>)>, now: u64) {
    for (db, key) in queues {
        let _ = with_queue(shared, db, &key, now, false, false, |queue, _| {
            let released = queue.release(client);
            changed((), released > 0)
        });
    }
}

/// After recovery: schedules the timer of every queue, so leases and delays that ended while the
/// server was down are acted on at once. (New message IDs stay above stored ones through the ID.*
/// generator's persisted reservation.)
pub fn after_recovery(shared: &Shared) {
    for db in 0..shared.keyspace.databases() {
        for shard in 0..crate::engine::keyspace::SHARDS {
            let guard = shared.keyspace.db(db).lock_index(shard);
            for entry in guard.iter() {
                if let crate::engine::Value::Queue(queue) = entry.value() {
                    if let Some(at) = queue.next_due() {
                        shared.queues.schedule(db, entry.key(), at);
                    }
                }
            }
        }
    }
}

// The command table of this family, joined by `commands::registry`. Its imports stay here, beside
// the rows, so that the family's table and its handlers change independently.

use super::acl;
use super::docs::{doc, Doc};
use super::flags::{BLOCKING, DENYOOM, FAST, READONLY, WRITE};
use super::table::Command;

/// The Q.* commands, in the order COMMAND lists them. Their documentation is [`DOCS`].
pub(super) static COMMANDS: &[Command] = &[
    Command::new("q.push", -3, push).flags(WRITE | DENYOOM | FAST).keys(1, 1, 1).acl(acl::QUEUE),
    Command::new("q.pushmany", -3, pushmany).flags(WRITE | DENYOOM).keys(1, 1, 1).acl(acl::QUEUE),
    Command::new("q.pop", -2, pop).flags(WRITE | BLOCKING).keys(1, 1, 1).acl(acl::QUEUE),
    Command::new("q.ack", -3, ack).flags(WRITE | FAST).keys(1, 1, 1).acl(acl::QUEUE),
    Command::new("q.nack", -3, nack).flags(WRITE | FAST).keys(1, 1, 1).acl(acl::QUEUE),
    Command::new("q.touch", -3, touch).flags(WRITE | FAST).keys(1, 1, 1).acl(acl::QUEUE),
    Command::new("q.peek", -2, peek).flags(READONLY).keys(1, 1, 1).acl(acl::QUEUE),
    Command::new("q.stats", 2, stats).flags(READONLY | FAST).keys(1, 1, 1).acl(acl::QUEUE),
    Command::new("q.config", -2, config).flags(WRITE | DENYOOM).keys(1, 1, 1).acl(acl::QUEUE),
    Command::new("q.dead", -2, dead).flags(READONLY).keys(1, 1, 1).acl(acl::QUEUE),
    Command::new("q.redrive", -2, redrive).flags(WRITE).keys(1, 1, 1).acl(acl::QUEUE),
    Command::new("q.purge", 2, purge).flags(WRITE).keys(1, 1, 1).acl(acl::QUEUE),
    Command::new("q.list", -1, list).flags(READONLY).acl(acl::QUEUE),
];

/// Documentation of the Q.* commands (strata's own, so not in `commands::docs`).
pub(super) static DOCS: &[(&str, Doc)] = &[
    doc("q.push", "queue", "1.0.0", "Adds a message to a work queue and returns its ID"),
    doc("q.pushmany", "queue", "1.0.0", "Adds several messages to a work queue and returns their IDs"),
    doc("q.pop", "queue", "1.0.0", "Leases ready messages of a work queue, optionally blocking until one arrives"),
    doc("q.ack", "queue", "1.0.0", "Finishes leased messages"),
    doc("q.nack", "queue", "1.0.0", "Gives leased messages back: at once, after a delay, or to the dead letters"),
    doc("q.touch", "queue", "1.0.0", "Extends the leases of messages"),
    doc("q.peek", "queue", "1.0.0", "Returns ready messages in delivery order without leasing them"),
    doc("q.stats", "queue", "1.0.0", "Returns the sizes and counters of a work queue"),
    doc("q.config", "queue", "1.0.0", "Sets or returns the policy of a work queue"),
    doc("q.dead", "queue", "1.0.0", "Lists the dead letters of a work queue"),
    doc("q.redrive", "queue", "1.0.0", "Moves dead letters back to the ready messages"),
    doc("q.purge", "queue", "1.0.0", "Drops the ready and delayed messages of a work queue"),
    doc("q.list", "queue", "1.0.0", "Lists the work queues matching a pattern"),
];
