//! Set commands.

use super::args::ArgCursor;
use super::collection::{
    drop_if_empty, empty_scan, get, get_mut, get_or_create, limits, parse_cursor, parse_scan_options, positive_count, scan_reply,
    Collection,
};
use super::hashes::{check_repeats, parse_random_count, random_positions};
use super::{CmdError, Ctx};
use crate::engine::keyspace::LockedShards;
use crate::engine::{KeyHash, Limits, Set};
use crate::notify;
use crate::resp::{Args, Reply};

/// SADD key member [member ...]
///
/// # Returns
/// The number of members that were added.
pub fn sadd(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let key = args.get(1);
    let hash = KeyHash::of(key);
    let limits = limits(ctx);
    let mut shard = ctx.db().lock(hash);
    let mut set = get_or_create::<Set>(&mut shard, hash, key, ctx.now_ms, ctx.touches())?;
    let added = args.iter().skip(2).filter(|m| set.insert(m, &limits)).count();
    drop(shard);
    if added > 0 {
        ctx.notify(notify::SET, "sadd", key);
    }
    Ok(Reply::from(added))
}

/// SREM key member [member ...]
pub fn srem(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let key = args.get(1);
    let hash = KeyHash::of(key);
    let mut shard = ctx.db().lock(hash);
    let Some(mut set) = get_mut::<Set>(&mut shard, hash, key, ctx.now_ms, ctx.touches())? else {
        return Ok(Reply::Int(0));
    };
    let removed = args.iter().skip(2).filter(|m| set.remove(m)).count();
    let deleted = drop_if_empty(&mut shard, hash, key, ctx.now_ms);
    drop(shard);
    if removed > 0 {
        ctx.notify(notify::SET, "srem", key);
    }
    if deleted {
        ctx.notify(notify::GENERIC, "del", key);
    }
    Ok(Reply::from(removed))
}

/// Runs `f` on the set at `key` (None when missing) and records the lookup.
fn read<R>(ctx: &mut Ctx, key: &[u8], f: impl FnOnce(Option<&Set>) -> R) -> Result<R, CmdError> {
    let hash = KeyHash::of(key);
    let mut shard = ctx.db().lock(hash);
    let set = get::<Set>(&mut shard, hash, key, ctx.now_ms, ctx.touches())?;
    let found = set.is_some();
    let result = f(set);
    drop(shard);
    ctx.record_lookup(found);
    Ok(result)
}

fn members_reply(set: &Set) -> Reply {
    Reply::Set(set.iter().map(|m| Reply::bulk(&m)).collect())
}

/// SMEMBERS key
///
/// # Returns
/// A set reply (an array in RESP2).
pub fn smembers(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    read(ctx, args.get(1), |set| set.map_or(Reply::Set(Vec::new()), members_reply))
}

/// SISMEMBER key member
pub fn sismember(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    read(ctx, args.get(1), |set| Reply::from(set.is_some_and(|s| s.contains(args.get(2)))))
}

/// SMISMEMBER key member [member ...]
pub fn smismember(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    read(ctx, args.get(1), |set| {
        Reply::Array(args.iter().skip(2).map(|m| Reply::from(set.as_ref().is_some_and(|s| s.contains(m)))).collect())
    })
}

/// SCARD key
pub fn scard(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    read(ctx, args.get(1), |set| Reply::from(set.map_or(0, |s| s.len())))
}

/// SPOP key [count]
///
/// # Returns
/// Without count, the removed member or nil; with count, a set of the removed members.
pub fn spop(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    if args.len() > 3 {
        return Err(CmdError::Syntax);
    }
    let count = if args.len() == 3 { Some(positive_count(args.get(2))?) } else { None };
    let key = args.get(1);
    let hash = KeyHash::of(key);
    let mut shard = ctx.db().lock(hash);
    let Some(mut set) = get_mut::<Set>(&mut shard, hash, key, ctx.now_ms, ctx.touches())? else {
        return Ok(if count.is_some() { Reply::Set(Vec::new()) } else { Reply::Nil });
    };
    let mut whole = false;
    let reply = match count {
        None => {
            let at = rand::random_range(0..set.len().max(1));
            Reply::optional_bulk(set.remove_index(at).as_deref())
        }
        Some(count) if count >= set.len() => {
            whole = true;
            members_reply(&set)
        }
        Some(count) => {
            let mut popped = Vec::with_capacity(count);
            for _ in 0..count {
                let at = rand::random_range(0..set.len());
                if let Some(member) = set.remove_index(at) {
                    popped.push(Reply::bulk(&member));
                }
            }
            Reply::Set(popped)
        }
    };
    let popped = !matches!(&reply, Reply::Nil) && !matches!(&reply, Reply::Set(items) if items.is_empty());
    // Taking every member deletes the key in one step.
    let deleted = if whole { shard.remove(hash, key, ctx.now_ms).is_some() } else { drop_if_empty(&mut shard, hash, key, ctx.now_ms) };
    drop(shard);
    if popped {
        ctx.notify(notify::SET, "spop", key);
    }
    if deleted {
        ctx.notify(notify::GENERIC, "del", key);
    }
    Ok(reply)
}

/// SRANDMEMBER key [count]
///
/// # Returns
/// Without count, a member or nil; with count, distinct members (positive) or members that may
/// repeat (negative).
pub fn srandmember(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    if args.len() > 3 {
        return Err(CmdError::Syntax);
    }
    let count = if args.len() == 3 { Some(parse_random_count(args.get(2))?) } else { None };
    check_repeats(ctx, count, false)?;
    read(ctx, args.get(1), |set| match (count, set) {
        (None, None) => Reply::Nil,
        (None, Some(set)) => set.get_index(rand::random_range(0..set.len().max(1))).map_or(Reply::Nil, |m| Reply::bulk(&m)),
        (Some(_), None) => Reply::Array(Vec::new()),
        (Some(count), Some(set)) => {
            let picks = random_positions(set.len(), count.unsigned_abs().min(usize::MAX as u64) as usize, count >= 0);
            Reply::Array(picks.into_iter().filter_map(|i| set.get_index(i)).map(|m| Reply::bulk(&m)).collect())
        }
    })
}

/// SMOVE source destination member
///
/// # Returns
/// 1 when the member was moved, 0 when it was not in the source.
pub fn smove(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let (from, to, member) = (args.get(1), args.get(2), args.get(3));
    let db = ctx.session.db;
    let (hf, ht) = (KeyHash::of(from), KeyHash::of(to));
    let limits = limits(ctx);
    let now = ctx.now_ms;
    let touch = ctx.touches();
    let mut locked = ctx.shared.keyspace.lock_keys([(db, hf), (db, ht)]);
    if get::<Set>(locked.shard(db, hf), hf, from, now, touch)?.is_none() {
        return Ok(Reply::Int(0));
    }
    get::<Set>(locked.shard(db, ht), ht, to, now, touch)?;
    let mut source = get_mut::<Set>(locked.shard(db, hf), hf, from, now, touch)?.ok_or(CmdError::WrongType)?;
    if from == to {
        return Ok(Reply::from(source.contains(member)));
    }
    if !source.remove(member) {
        return Ok(Reply::Int(0));
    }
    let deleted = drop_if_empty(locked.shard(db, hf), hf, from, now);
    let added = get_or_create::<Set>(locked.shard(db, ht), ht, to, now, touch)?.insert(member, &limits);
    drop(locked);
    ctx.notify(notify::SET, "srem", from);
    if deleted {
        ctx.notify(notify::GENERIC, "del", from);
    }
    // As Redis: the destination changed only if it did not hold the member already.
    if added {
        ctx.notify(notify::SET, "sadd", to);
    }
    Ok(Reply::Int(1))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Inter,
    Union,
    Diff,
}

/// Computes an intersection, union or difference of the sets at `keys` (in database `db`); missing
/// keys are empty sets. Every key is type-checked first, as Redis does.
/// `locked` must hold the shards of `keys`; `dest`, when given, receives the result (replacing
/// whatever it held, deleted when the result is empty) under the same locks, so STORE is atomic.
/// Returns the result's size, and the result itself unless it was stored.
fn combine(ctx: &mut Ctx, keys: &[&[u8]], dest: Option<&[u8]>, op: Op) -> Result<(usize, Option<Set>), CmdError> {
    let db = ctx.session.db;
    let now = ctx.now_ms;
    let touch = ctx.touches();
    let limits = limits(ctx);
    let hashes: Vec<KeyHash> = keys.iter().map(|k| KeyHash::of(k)).collect();
    let mut locked = ctx.shared.keyspace.lock_keys(hashes.iter().chain(dest.map(KeyHash::of).as_ref()).map(|h| (db, *h)));
    let result = combine_locked(&mut locked, db, now, touch, keys, &hashes, op, &limits)?;
    let len = result.len();
    let Some(dest) = dest else {
        return Ok((len, Some(result)));
    };
    let hash = KeyHash::of(dest);
    let shard = locked.shard(db, hash);
    let event = if len == 0 {
        shard.remove(hash, dest, now).map(|_| "del")
    } else {
        shard.set(hash, dest, result.into_value(), None, now);
        Some(match op {
            Op::Inter => "sinterstore",
            Op::Union => "sunionstore",
            Op::Diff => "sdiffstore",
        })
    };
    drop(locked);
    match event {
        Some("del") => ctx.notify(notify::GENERIC, "del", dest),
        Some(event) => ctx.notify(notify::SET, event, dest),
        None => {}
    }
    Ok((len, None))
}

#[allow(clippy::too_many_arguments)]
fn combine_locked(
    locked: &mut LockedShards,
    db: usize,
    now: u64,
    touch: bool,
    keys: &[&[u8]],
    hashes: &[KeyHash],
    op: Op,
    limits: &Limits,
) -> Result<Set, CmdError> {
    let mut lens = Vec::with_capacity(keys.len());
    for (key, hash) in keys.iter().zip(hashes) {
        lens.push(get::<Set>(locked.shard(db, *hash), *hash, key, now, touch)?.map_or(0, |s| s.len()));
    }
    let mut result = Set::new();
    match op {
        Op::Inter => {
            if lens.contains(&0) {
                return Ok(result);
            }
            // Walk the smallest set and keep what every other set has.
            let smallest = (0..keys.len()).min_by_key(|i| lens[*i]).unwrap_or(0);
            let mut members: Vec<Vec<u8>> =
                match get::<Set>(locked.shard(db, hashes[smallest]), hashes[smallest], keys[smallest], now, touch)? {
                    Some(set) => set.iter().map(|m| m.into_owned()).collect(),
                    None => Vec::new(),
                };
            for (i, (key, hash)) in keys.iter().zip(hashes).enumerate() {
                if i == smallest {
                    continue;
                }
                if let Some(set) = get::<Set>(locked.shard(db, *hash), *hash, key, now, touch)? {
                    members.retain(|m| set.contains(m));
                }
            }
            for member in members {
                result.insert(&member, limits);
            }
        }
        Op::Union => {
            for (key, hash) in keys.iter().zip(hashes) {
                if let Some(set) = get::<Set>(locked.shard(db, *hash), *hash, key, now, touch)? {
                    for member in set.iter() {
                        result.insert(&member, limits);
                    }
                }
            }
        }
        Op::Diff => {
            let mut members: Vec<Vec<u8>> = match get::<Set>(locked.shard(db, hashes[0]), hashes[0], keys[0], now, touch)? {
                Some(set) => set.iter().map(|m| m.into_owned()).collect(),
                None => return Ok(result),
            };
            for (key, hash) in keys.iter().zip(hashes).skip(1) {
                if members.is_empty() {
                    break;
                }
                if let Some(set) = get::<Set>(locked.shard(db, *hash), *hash, key, now, touch)? {
                    members.retain(|m| !set.contains(m));
                }
            }
            for member in members {
                result.insert(&member, limits);
            }
        }
    }
    Ok(result)
}

fn combine_reply(ctx: &mut Ctx, args: Args, op: Op) -> Result<Reply, CmdError> {
    let keys: Vec<&[u8]> = args.iter().skip(1).collect();
    let (_, result) = combine(ctx, &keys, None, op)?;
    Ok(result.map_or(Reply::Set(Vec::new()), |set| members_reply(&set)))
}

/// Stores the combination at `args[1]` (replacing whatever it held); an empty result deletes it.
fn combine_store(ctx: &mut Ctx, args: Args, op: Op) -> Result<Reply, CmdError> {
    let dest = args.get(1);
    let keys: Vec<&[u8]> = args.iter().skip(2).collect();
    Ok(Reply::from(combine(ctx, &keys, Some(dest), op)?.0))
}

/// SINTER key [key ...]
pub fn sinter(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    combine_reply(ctx, args, Op::Inter)
}

/// SUNION key [key ...]
pub fn sunion(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    combine_reply(ctx, args, Op::Union)
}

/// SDIFF key [key ...]
pub fn sdiff(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    combine_reply(ctx, args, Op::Diff)
}

/// SINTERSTORE destination key [key ...]
pub fn sinterstore(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    combine_store(ctx, args, Op::Inter)
}

/// SUNIONSTORE destination key [key ...]
pub fn sunionstore(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    combine_store(ctx, args, Op::Union)
}

/// SDIFFSTORE destination key [key ...]
pub fn sdiffstore(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    combine_store(ctx, args, Op::Diff)
}

/// SINTERCARD numkeys key [key ...] [LIMIT limit]
///
/// # Returns
/// The size of the intersection, stopping at `limit` when it is not 0.
pub fn sintercard(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let numkeys = match crate::num::parse_i64(args.get(1)) {
        Some(n) if n > 0 => n as usize,
        _ => return Err(CmdError::err("numkeys should be greater than 0")),
    };
    if numkeys > args.len() - 2 {
        return Err(CmdError::err("Number of keys can't be greater than number of args"));
    }
    let keys: Vec<&[u8]> = (2..2 + numkeys).map(|i| args.get(i)).collect();
    let mut cursor = ArgCursor::new(args, 2 + numkeys);
    let mut limit = 0usize;
    while !cursor.is_done() {
        if cursor.eat("LIMIT") {
            match crate::num::parse_i64(cursor.next_bytes()?) {
                Some(n) if n >= 0 => limit = n as usize,
                _ => return Err(CmdError::err("LIMIT can't be negative")),
            }
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let (len, _) = combine(ctx, &keys, None, Op::Inter)?;
    Ok(Reply::from(if limit > 0 { len.min(limit) } else { len }))
}

/// SSCAN key cursor [MATCH pattern] [COUNT count]
pub fn sscan(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let cursor = parse_cursor(args.get(2))?;
    // As in Redis, options are only parsed once the key is found to be a set.
    read(ctx, args.get(1), |set| {
        let Some(set) = set else {
            return Ok(empty_scan());
        };
        let options = parse_scan_options(args, 3)?;
        let (next, members) = set.scan(cursor, options.count);
        Ok(scan_reply(next, members.into_iter().filter(|m| options.keeps(m)).map(|m| Reply::bulk(&m)).collect()))
    })?
}

// The command table of this family, joined by `commands::registry`. Its imports stay here, beside
// the rows, so that the family's table and its handlers change independently.

use super::acl;
use super::flags::{DENYOOM, FAST, READONLY, WRITE};
use super::table::Command;

/// The set commands, in the order COMMAND lists them.
pub(super) static COMMANDS: &[Command] = &[
    Command::new("sadd", -3, sadd).flags(WRITE | DENYOOM | FAST).keys(1, 1, 1).acl(acl::SET),
    Command::new("srem", -3, srem).flags(WRITE | FAST).keys(1, 1, 1).acl(acl::SET),
    Command::new("smembers", 2, smembers).flags(READONLY).keys(1, 1, 1).acl(acl::SET),
    Command::new("sismember", 3, sismember).flags(READONLY | FAST).keys(1, 1, 1).acl(acl::SET),
    Command::new("smismember", -3, smismember).flags(READONLY | FAST).keys(1, 1, 1).acl(acl::SET),
    Command::new("scard", 2, scard).flags(READONLY | FAST).keys(1, 1, 1).acl(acl::SET),
    Command::new("spop", -2, spop).flags(WRITE | FAST).keys(1, 1, 1).acl(acl::SET),
    Command::new("srandmember", -2, srandmember).flags(READONLY).keys(1, 1, 1).acl(acl::SET),
    Command::new("smove", 4, smove).flags(WRITE | FAST).keys(1, 2, 1).acl(acl::SET),
    Command::new("sinter", -2, sinter).flags(READONLY).keys(1, -1, 1).acl(acl::SET),
    Command::new("sinterstore", -3, sinterstore).flags(WRITE | DENYOOM).keys(1, -1, 1).acl(acl::SET),
    Command::new("sunion", -2, sunion).flags(READONLY).keys(1, -1, 1).acl(acl::SET),
    Command::new("sunionstore", -3, sunionstore).flags(WRITE | DENYOOM).keys(1, -1, 1).acl(acl::SET),
    Command::new("sdiff", -2, sdiff).flags(READONLY).keys(1, -1, 1).acl(acl::SET),
    Command::new("sdiffstore", -3, sdiffstore).flags(WRITE | DENYOOM).keys(1, -1, 1).acl(acl::SET),
    Command::new("sintercard", -3, sintercard).flags(READONLY).acl(acl::SET).movable_keys(super::lists::mpop_keys),
    Command::new("sscan", -3, sscan).flags(READONLY).keys(1, 1, 1).acl(acl::SET),
];
