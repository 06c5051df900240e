//! Generic key commands: existence, deletion, renaming, expiry, iteration and OBJECT.

use super::args::{parse_int, ArgCursor};
use super::expiry::{deadline, TimeUnit};
use super::{CmdError, Ctx};
use crate::engine::keyspace::SHARDS;
use crate::engine::{KeyHash, ValueType};
use crate::glob;
use crate::notify;
use crate::resp::{Args, Reply};

fn hashed_keys(args: Args<'_>, from: usize) -> Vec<(&[u8], KeyHash)> {
    args.iter().skip(from).map(|k| (k, KeyHash::of(k))).collect()
}

/// DEL key [key ...]
pub fn del(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let keys = hashed_keys(args, 1);
    let db = ctx.session.db;
    let mut locked = ctx.shared.keyspace.lock_keys(keys.iter().map(|(_, h)| (db, *h)));
    let removed: Vec<&[u8]> =
        keys.iter().filter(|(key, hash)| locked.shard(db, *hash).remove(*hash, key, ctx.now_ms).is_some()).map(|(k, _)| *k).collect();
    drop(locked);
    for key in &removed {
        ctx.notify(notify::GENERIC, "del", key);
    }
    Ok(Reply::from(removed.len()))
}

/// UNLINK key [key ...]: DEL, but large values (big collections) are freed on a background
/// thread after the shard locks are released.
pub fn unlink(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let keys = hashed_keys(args, 1);
    let db = ctx.session.db;
    let mut removed = Vec::new();
    {
        let mut locked = ctx.shared.keyspace.lock_keys(keys.iter().map(|(_, h)| (db, *h)));
        for (key, hash) in &keys {
            if let Some(entry) = locked.shard(db, *hash).remove(*hash, key, ctx.now_ms) {
                removed.push(entry.into_value());
                ctx.notify(notify::GENERIC, "del", key);
            }
        }
    }
    let count = removed.len();
    crate::engine::lazyfree::free(removed);
    Ok(Reply::from(count))
}

/// EXISTS key [key ...]: counts repeated keys each time.
pub fn exists(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let keys = hashed_keys(args, 1);
    let db = ctx.session.db;
    let mut locked = ctx.shared.keyspace.lock_keys(keys.iter().map(|(_, h)| (db, *h)));
    let found = keys.iter().filter(|(key, hash)| locked.shard(db, *hash).contains(*hash, key, ctx.now_ms)).count();
    Ok(Reply::from(found))
}

/// TOUCH key [key ...]
pub fn touch(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let keys = hashed_keys(args, 1);
    let db = ctx.session.db;
    let mut locked = ctx.shared.keyspace.lock_keys(keys.iter().map(|(_, h)| (db, *h)));
    let found = keys.iter().filter(|(key, hash)| locked.shard(db, *hash).touch(*hash, key, ctx.now_ms).is_some()).count();
    Ok(Reply::from(found))
}

/// TYPE key
pub fn r#type(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let key = args.get(1);
    let hash = KeyHash::of(key);
    let mut shard = ctx.db().lock(hash);
    let name = shard.get(hash, key, ctx.now_ms).map_or("none", |e| e.value().value_type().name());
    Ok(Reply::status(name))
}

/// Moves `from` (in database `from_db`) to `to` (in `to_db`), keeping the deadline. With `keep_source`
/// it copies instead. Returns false when the destination exists and `replace` is not set.
fn transfer(
    ctx: &mut Ctx,
    from_db: usize,
    from: &[u8],
    to_db: usize,
    to: &[u8],
    replace: bool,
    keep_source: bool,
) -> Result<Option<bool>, CmdError> {
    let (hf, ht) = (KeyHash::of(from), KeyHash::of(to));
    let now = ctx.now_ms;
    let mut locked = ctx.shared.keyspace.lock_keys([(from_db, hf), (to_db, ht)]);
    let source = match locked.shard(from_db, hf).get(hf, from, now) {
        None => return Ok(None),
        Some(entry) => (entry.value().clone(), entry.expire_at()),
    };
    if !replace && locked.shard(to_db, ht).contains(ht, to, now) {
        return Ok(Some(false));
    }
    if !keep_source {
        locked.shard(from_db, hf).remove(hf, from, now);
    }
    // A replaced destination is deleted first, so the new key reports `new` as in Redis.
    locked.shard(to_db, ht).remove(ht, to, now);
    locked.shard(to_db, ht).set(ht, to, source.0, source.1, now);
    Ok(Some(true))
}

/// RENAME key newkey
pub fn rename(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let db = ctx.session.db;
    let (from, to) = (args.get(1), args.get(2));
    if from == to {
        let hash = KeyHash::of(from);
        return if ctx.db().lock(hash).contains(hash, from, ctx.now_ms) { Ok(Reply::Ok) } else { Err(CmdError::NoSuchKey) };
    }
    match transfer(ctx, db, from, db, to, true, false)? {
        None => Err(CmdError::NoSuchKey),
        Some(_) => {
            notify_rename(ctx, from, to);
            Ok(Reply::Ok)
        }
    }
}

/// RENAMENX key newkey
pub fn renamenx(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let db = ctx.session.db;
    let (from, to) = (args.get(1), args.get(2));
    if from == to {
        let hash = KeyHash::of(from);
        return if ctx.db().lock(hash).contains(hash, from, ctx.now_ms) { Ok(Reply::Int(0)) } else { Err(CmdError::NoSuchKey) };
    }
    match transfer(ctx, db, from, db, to, false, false)? {
        None => Err(CmdError::NoSuchKey),
        Some(moved) => {
            if moved {
                notify_rename(ctx, from, to);
            }
            Ok(Reply::from(moved))
        }
    }
}

fn notify_rename(ctx: &Ctx, from: &[u8], to: &[u8]) {
    ctx.notify(notify::GENERIC, "rename_from", from);
    ctx.notify(notify::GENERIC, "rename_to", to);
}

fn db_index(ctx: &Ctx, arg: &[u8]) -> Result<usize, CmdError> {
    let index = super::args::parse_c_int(arg)?;
    usize::try_from(index).ok().filter(|i| *i < ctx.shared.keyspace.databases()).ok_or_else(|| CmdError::err("DB index is out of range"))
}

/// COPY source destination [DB destination-db] [REPLACE]
pub fn copy(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let mut cursor = ArgCursor::new(args, 3);
    let (mut to_db, mut replace) = (ctx.session.db, false);
    while !cursor.is_done() {
        if cursor.eat("REPLACE") {
            replace = true;
        } else if cursor.eat("DB") {
            to_db = db_index(ctx, cursor.next_bytes()?)?;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let (from, to) = (args.get(1), args.get(2));
    if from == to && to_db == ctx.session.db {
        return Err(CmdError::err("source and destination objects are the same"));
    }
    let from_db = ctx.session.db;
    let copied = transfer(ctx, from_db, from, to_db, to, replace, true)?.unwrap_or(false);
    if copied && to_db == from_db {
        ctx.notify(notify::GENERIC, "copy_to", to);
    } else if copied {
        // Nothing changed in this database: only the copy's key in the other one is announced.
        ctx.shared.pubsub.notify(notify::GENERIC, "copy_to", to_db, to);
        ctx.touch_in(to_db, to);
    }
    Ok(Reply::from(copied))
}

/// MOVE key db
pub fn r#move(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let to_db = db_index(ctx, args.get(2))?;
    let from_db = ctx.session.db;
    if to_db == from_db {
        return Err(CmdError::err("source and destination objects are the same"));
    }
    let key = args.get(1);
    let moved = transfer(ctx, from_db, key, to_db, key, false, false)?.unwrap_or(false);
    if moved {
        ctx.changed.set(true);
        ctx.shared.pubsub.notify(notify::GENERIC, "move_from", from_db, key);
        ctx.shared.pubsub.notify(notify::GENERIC, "move_to", to_db, key);
        ctx.touch_in(to_db, key);
    }
    Ok(Reply::from(moved))
}

/// KEYS pattern
pub fn keys(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let pattern = args.get(1);
    let all = pattern == b"*";
    let db = ctx.db();
    let mut found = Vec::new();
    for shard in 0..SHARDS {
        let mut guard = db.lock_index(shard);
        guard.remove_expired(ctx.now_ms);
        found.extend(guard.iter().filter(|e| all || glob::matches(pattern, e.key(), false)).map(|e| Reply::bulk(e.key())));
    }
    Ok(Reply::Array(found))
}

/// SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]
///
/// The cursor is a position in a fixed order of key hashes (shard, then hash), so a key present for
/// the whole iteration is returned exactly once, however the table grows or shrinks in between.
pub fn scan(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let cursor_text = args.get(1);
    let mut position: u64 =
        std::str::from_utf8(cursor_text).ok().and_then(|t| t.parse().ok()).ok_or_else(|| CmdError::err("invalid cursor"))?;
    let mut options = ArgCursor::new(args, 2);
    let (mut pattern, mut count, mut type_filter): (Option<&[u8]>, usize, Option<Option<ValueType>>) = (None, 10, None);
    while !options.is_done() {
        if options.eat("MATCH") {
            pattern = Some(options.next_bytes()?);
        } else if options.eat("COUNT") {
            let n = options.next_i64()?;
            if n < 1 {
                return Err(CmdError::Syntax);
            }
            count = n as usize;
        } else if options.eat("TYPE") {
            type_filter = Some(ValueType::from_name(options.next_bytes()?));
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let db = ctx.db();
    let mut keys = Vec::new();
    let mut visited = 0;
    let next = loop {
        let shard_index = (position >> 56) as usize;
        let wanted = count - visited;
        let guard = db.lock_index(shard_index);
        let mut batch = Vec::new();
        guard.scan_from(position, wanted, ctx.now_ms, &mut batch);
        for (_, entry) in &batch {
            let type_ok = type_filter.is_none_or(|wanted| Some(entry.value().value_type()) == wanted);
            if type_ok && pattern.is_none_or(|p| glob::matches(p, entry.key(), false)) {
                keys.push(Reply::bulk(entry.key()));
            }
        }
        visited += batch.len();
        let exhausted = batch.len() < wanted;
        match batch.last() {
            Some((u64::MAX, _)) => break 0,
            Some((pos, _)) if !exhausted => position = pos + 1,
            _ if shard_index + 1 < SHARDS => position = ((shard_index + 1) as u64) << 56,
            _ => break 0,
        }
        if visited >= count {
            break position;
        }
    };
    Ok(Reply::Array(vec![Reply::bulk_string(next.to_string()), Reply::Array(keys)]))
}

/// RANDOMKEY
pub fn randomkey(ctx: &mut Ctx, _args: Args) -> Result<Reply, CmdError> {
    let db = ctx.db();
    let start = rand::random_range(0..SHARDS);
    for offset in 0..SHARDS {
        let guard = db.lock_index((start + offset) % SHARDS);
        if let Some(key) = guard.random_key(rand::random::<u32>() as usize, ctx.now_ms) {
            return Ok(Reply::bulk(key));
        }
    }
    Ok(Reply::Nil)
}

/// The EXPIRE family's NX/XX/GT/LT conditions.
#[derive(Default)]
struct ExpireCondition {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
}

fn parse_expire_condition(args: Args) -> Result<ExpireCondition, CmdError> {
    let mut condition = ExpireCondition::default();
    for word in args.iter().skip(3) {
        match word.to_ascii_uppercase().as_slice() {
            b"NX" => condition.nx = true,
            b"XX" => condition.xx = true,
            b"GT" => condition.gt = true,
            b"LT" => condition.lt = true,
            _ => return Err(CmdError::err(format!("Unsupported option {}", String::from_utf8_lossy(word)))),
        }
    }
    if condition.nx && (condition.xx || condition.gt || condition.lt) {
        return Err(CmdError::err("NX and XX, GT or LT options at the same time are not compatible"));
    }
    if condition.gt && condition.lt {
        return Err(CmdError::err("GT and LT options at the same time are not compatible"));
    }
    Ok(condition)
}

fn expire_generic(ctx: &mut Ctx, args: Args, unit: TimeUnit, absolute: bool, command: &str) -> Result<Reply, CmdError> {
    // Options first, then the time, as Redis checks them: 'EXPIRE k x BOGUS' is about BOGUS.
    let condition = parse_expire_condition(args)?;
    let amount = parse_int(args.get(2))?;
    let at = deadline(amount, unit, absolute, ctx.now_ms, true, command)?;
    let key = args.get(1);
    let hash = KeyHash::of(key);
    let now = ctx.now_ms;
    let mut shard = ctx.db().lock(hash);
    let Some(entry) = shard.get(hash, key, now) else {
        return Ok(Reply::Int(0));
    };
    let current = entry.expire_at();
    let allowed = match current {
        // A key without a deadline counts as an infinite TTL for GT and LT.
        None => !condition.xx && !condition.gt,
        Some(current) => !condition.nx && (!condition.gt || at > current as i64) && (!condition.lt || at < current as i64),
    };
    if !allowed {
        return Ok(Reply::Int(0));
    }
    // A deadline already past deletes the key, which Redis reports as `del`.
    let event = if at <= now as i64 {
        shard.remove(hash, key, now);
        "del"
    } else {
        shard.set_expire(hash, key, Some(at as u64), now);
        "expire"
    };
    drop(shard);
    ctx.notify(notify::GENERIC, event, key);
    Ok(Reply::Int(1))
}

/// EXPIRE key seconds [NX | XX | GT | LT]
pub fn expire(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    expire_generic(ctx, args, TimeUnit::Seconds, false, "expire")
}

/// PEXPIRE key milliseconds [NX | XX | GT | LT]
pub fn pexpire(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    expire_generic(ctx, args, TimeUnit::Millis, false, "pexpire")
}

/// EXPIREAT key unix-time-seconds [NX | XX | GT | LT]
pub fn expireat(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    expire_generic(ctx, args, TimeUnit::Seconds, true, "expireat")
}

/// PEXPIREAT key unix-time-milliseconds [NX | XX | GT | LT]
pub fn pexpireat(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    expire_generic(ctx, args, TimeUnit::Millis, true, "pexpireat")
}

/// The deadline of `key`: Err(-2) when missing, Ok(None) when persistent.
fn deadline_of(ctx: &mut Ctx, key: &[u8]) -> Result<Option<u64>, i64> {
    let hash = KeyHash::of(key);
    let mut shard = ctx.db().lock(hash);
    match shard.get(hash, key, ctx.now_ms) {
        None => Err(-2),
        Some(entry) => Ok(entry.expire_at()),
    }
}

fn ttl_generic(ctx: &mut Ctx, args: Args, unit: TimeUnit, absolute: bool) -> Result<Reply, CmdError> {
    let now = ctx.now_ms;
    let reply = match deadline_of(ctx, args.get(1)) {
        Err(code) => code,
        Ok(None) => -1,
        Ok(Some(at)) => {
            let millis = if absolute { at } else { at.saturating_sub(now) };
            match unit {
                TimeUnit::Millis => millis as i64,
                // TTL rounds to the nearest second, EXPIRETIME truncates, as Redis does.
                TimeUnit::Seconds if absolute => (millis / 1000) as i64,
                TimeUnit::Seconds => ((millis + 500) / 1000) as i64,
            }
        }
    };
    Ok(Reply::Int(reply))
}

/// TTL key
pub fn ttl(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    ttl_generic(ctx, args, TimeUnit::Seconds, false)
}

/// PTTL key
pub fn pttl(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    ttl_generic(ctx, args, TimeUnit::Millis, false)
}

/// EXPIRETIME key
pub fn expiretime(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    ttl_generic(ctx, args, TimeUnit::Seconds, true)
}

/// PEXPIRETIME key
pub fn pexpiretime(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    ttl_generic(ctx, args, TimeUnit::Millis, true)
}

/// PERSIST key
pub fn persist(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let key = args.get(1);
    let hash = KeyHash::of(key);
    let now = ctx.now_ms;
    let mut shard = ctx.db().lock(hash);
    let had_deadline = shard.get(hash, key, now).is_some_and(|e| e.expire_at().is_some());
    if had_deadline {
        shard.set_expire(hash, key, None, now);
        drop(shard);
        ctx.notify(notify::GENERIC, "persist", key);
    }
    Ok(Reply::from(had_deadline))
}

/// OBJECT ENCODING key
pub fn object_encoding(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let key = args.get(2);
    let hash = KeyHash::of(key);
    let mut shard = ctx.db().lock(hash);
    Ok(shard.get(hash, key, ctx.now_ms).map_or(Reply::Nil, |e| Reply::bulk(e.value().encoding().as_bytes())))
}

/// OBJECT IDLETIME key
pub fn object_idletime(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let key = args.get(2);
    let hash = KeyHash::of(key);
    let now = ctx.now_ms;
    let mut shard = ctx.db().lock(hash);
    Ok(shard.get(hash, key, now).map_or(Reply::Nil, |e| Reply::Int(e.idle_secs(now) as i64)))
}

/// OBJECT FREQ key: only with an LFU maxmemory policy, as in Redis.
pub fn object_freq(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let key = args.get(2);
    let hash = KeyHash::of(key);
    if !ctx.db().lock(hash).contains(hash, key, ctx.now_ms) {
        return Ok(Reply::Nil);
    }
    Err(CmdError::err("An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."))
}

/// OBJECT REFCOUNT key: Redis shares the integers 0..9999 and reports them with INT_MAX.
pub fn object_refcount(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let key = args.get(2);
    let hash = KeyHash::of(key);
    let mut shard = ctx.db().lock(hash);
    Ok(shard.get(hash, key, ctx.now_ms).map_or(Reply::Nil, |e| match e.value() {
        crate::engine::Value::Int(n) if (0..10_000).contains(n) => Reply::Int(i64::from(i32::MAX)),
        _ => Reply::Int(1),
    }))
}

// The command table of this family, joined by `commands::registry`. Its imports stay here, beside
// the rows, so that the family's table and its handlers change independently.

use super::acl;
use super::flags::{DENYOOM, FAST, READONLY, WRITE, WRITES_OTHER_DBS};
use super::table::Command;

/// The generic keyspace commands, in the order COMMAND lists them.
pub(super) static COMMANDS: &[Command] = &[
    Command::new("del", -2, del).flags(WRITE).keys(1, -1, 1).acl(acl::KEYSPACE),
    Command::new("unlink", -2, unlink).flags(WRITE | FAST).keys(1, -1, 1).acl(acl::KEYSPACE),
    Command::new("exists", -2, exists).flags(READONLY | FAST).keys(1, -1, 1).acl(acl::KEYSPACE),
    Command::new("type", 2, r#type).flags(READONLY | FAST).keys(1, 1, 1).acl(acl::KEYSPACE),
    Command::new("rename", 3, rename).flags(WRITE).keys(1, 2, 1).acl(acl::KEYSPACE),
    Command::new("renamenx", 3, renamenx).flags(WRITE | FAST).keys(1, 2, 1).acl(acl::KEYSPACE),
    Command::new("copy", -3, copy).flags(WRITE | DENYOOM | WRITES_OTHER_DBS).keys(1, 2, 1).acl(acl::KEYSPACE),
    Command::new("move", 3, r#move).flags(WRITE | FAST | WRITES_OTHER_DBS).keys(1, 1, 1).acl(acl::KEYSPACE),
    Command::new("keys", 2, keys).flags(READONLY).acl(acl::KEYSPACE | acl::DANGEROUS),
    Command::new("scan", -2, scan).flags(READONLY).acl(acl::KEYSPACE),
    Command::new("randomkey", 1, randomkey).flags(READONLY).acl(acl::KEYSPACE),
    Command::new("touch", -2, touch).flags(READONLY | FAST).keys(1, -1, 1).acl(acl::KEYSPACE),
    Command::new("expire", -3, expire).flags(WRITE | FAST).keys(1, 1, 1).acl(acl::KEYSPACE),
    Command::new("pexpire", -3, pexpire).flags(WRITE | FAST).keys(1, 1, 1).acl(acl::KEYSPACE),
    Command::new("expireat", -3, expireat).flags(WRITE | FAST).keys(1, 1, 1).acl(acl::KEYSPACE),
    Command::new("pexpireat", -3, pexpireat).flags(WRITE | FAST).keys(1, 1, 1).acl(acl::KEYSPACE),
    Command::new("ttl", 2, ttl).flags(READONLY | FAST).keys(1, 1, 1).acl(acl::KEYSPACE),
    Command::new("pttl", 2, pttl).flags(READONLY | FAST).keys(1, 1, 1).acl(acl::KEYSPACE),
    Command::new("expiretime", 2, expiretime).flags(READONLY | FAST).keys(1, 1, 1).acl(acl::KEYSPACE),
    Command::new("pexpiretime", 2, pexpiretime).flags(READONLY | FAST).keys(1, 1, 1).acl(acl::KEYSPACE),
    Command::new("persist", 2, persist).flags(WRITE | FAST).keys(1, 1, 1).acl(acl::KEYSPACE),
    Command::new("object", -2, super::dispatch::container).subcommands(OBJECT_SUBCOMMANDS),
];

static OBJECT_SUBCOMMANDS: &[Command] = &[
    Command::new("object|encoding", 3, object_encoding).flags(READONLY).keys(2, 2, 1).acl(acl::KEYSPACE),
    Command::new("object|freq", 3, object_freq).flags(READONLY).keys(2, 2, 1).acl(acl::KEYSPACE),
    Command::new("object|idletime", 3, object_idletime).flags(READONLY).keys(2, 2, 1).acl(acl::KEYSPACE),
    Command::new("object|refcount", 3, object_refcount).flags(READONLY).keys(2, 2, 1).acl(acl::KEYSPACE),
];
