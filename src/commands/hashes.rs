//! Hash commands.

use super::args::parse_int;
use super::collection::{drop_if_empty, empty_scan, get, get_mut, get_or_create, limits, parse_cursor, parse_scan_options, scan_reply};
use super::strings::format_human_float;
use super::{CmdError, Ctx};
use crate::engine::{Hash, KeyHash};
use crate::notify;
use crate::num::{parse_f64, parse_i64};
use crate::resp::{Args, Protocol, Reply};

/// Field/value argument pairs.
type Pairs<'a> = Vec<(&'a [u8], &'a [u8])>;

/// Field/value pairs from argument 2 on; an odd count is an arity error, as in Redis.
fn field_values<'a>(args: Args<'a>, name: &str) -> Result<Pairs<'a>, CmdError> {
    if !args.len().is_multiple_of(2) {
        return Err(CmdError::WrongArity(name.to_owned()));
    }
    Ok((2..args.len()).step_by(2).map(|i| (args.get(i), args.get(i + 1))).collect())
}

fn set_pairs(ctx: &mut Ctx, args: Args, name: &str) -> Result<usize, CmdError> {
    let pairs = field_values(args, name)?;
    let key = args.get(1);
    let hash = KeyHash::of(key);
    let limits = limits(ctx);
    let mut shard = ctx.db().lock(hash);
    let mut map = get_or_create::<Hash>(&mut shard, hash, key, ctx.now_ms, ctx.touches())?;
    let added = pairs.into_iter().filter(|(f, v)| map.set(f, v, &limits)).count();
    drop(shard);
    ctx.notify(notify::HASH, "hset", key);
    Ok(added)
}

/// HSET key field value [field value ...]
///
/// # Returns
/// The number of fields that were added.
pub fn hset(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    set_pairs(ctx, args, "hset").map(Reply::from)
}

/// HMSET key field value [field value ...]
pub fn hmset(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    set_pairs(ctx, args, "hmset").map(|_| Reply::Ok)
}

/// HSETNX key field value
pub fn hsetnx(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let (key, field, value) = (args.get(1), args.get(2), args.get(3));
    let hash = KeyHash::of(key);
    let limits = limits(ctx);
    let mut shard = ctx.db().lock(hash);
    let mut map = get_or_create::<Hash>(&mut shard, hash, key, ctx.now_ms, ctx.touches())?;
    if map.contains(field) {
        return Ok(Reply::Int(0));
    }
    map.set(field, value, &limits);
    drop(shard);
    ctx.notify(notify::HASH, "hset", key);
    Ok(Reply::Int(1))
}

/// Runs `f` on the hash at `key` (None when missing) and records the lookup.
fn read<R>(ctx: &mut Ctx, key: &[u8], f: impl FnOnce(Option<&Hash>) -> R) -> Result<R, CmdError> {
    let hash = KeyHash::of(key);
    let mut shard = ctx.db().lock(hash);
    let map = get::<Hash>(&mut shard, hash, key, ctx.now_ms, ctx.touches())?;
    let found = map.is_some();
    let result = f(map);
    drop(shard);
    ctx.record_lookup(found);
    Ok(result)
}

/// HGET key field
pub fn hget(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    read(ctx, args.get(1), |map| map.and_then(|m| m.get(args.get(2)).map(Reply::bulk)).unwrap_or(Reply::Nil))
}

/// HMGET key field [field ...]
pub fn hmget(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    read(ctx, args.get(1), |map| {
        Reply::Array(args.iter().skip(2).map(|f| map.as_ref().and_then(|m| m.get(f)).map_or(Reply::Nil, Reply::bulk)).collect())
    })
}

/// HDEL key field [field ...]
pub fn hdel(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let key = args.get(1);
    let hash = KeyHash::of(key);
    let mut shard = ctx.db().lock(hash);
    let Some(mut map) = get_mut::<Hash>(&mut shard, hash, key, ctx.now_ms, ctx.touches())? else {
        return Ok(Reply::Int(0));
    };
    let removed = args.iter().skip(2).filter(|f| map.remove(f)).count();
    let deleted = drop_if_empty(&mut shard, hash, key, ctx.now_ms);
    drop(shard);
    if removed > 0 {
        ctx.notify(notify::HASH, "hdel", key);
    }
    if deleted {
        ctx.notify(notify::GENERIC, "del", key);
    }
    Ok(Reply::from(removed))
}

/// HEXISTS key field
pub fn hexists(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    read(ctx, args.get(1), |map| Reply::from(map.is_some_and(|m| m.contains(args.get(2)))))
}

/// HLEN key
pub fn hlen(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    read(ctx, args.get(1), |map| Reply::from(map.map_or(0, |m| m.len())))
}

/// HSTRLEN key field
pub fn hstrlen(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    read(ctx, args.get(1), |map| Reply::from(map.and_then(|m| m.get(args.get(2)).map(<[u8]>::len)).unwrap_or(0)))
}

/// HKEYS key
pub fn hkeys(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    read(ctx, args.get(1), |map| Reply::Array(map.map_or(Vec::new(), |m| m.iter().map(|(f, _)| Reply::bulk(f)).collect())))
}

/// HVALS key
pub fn hvals(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    read(ctx, args.get(1), |map| Reply::Array(map.map_or(Vec::new(), |m| m.iter().map(|(_, v)| Reply::bulk(v)).collect())))
}

/// HGETALL key
///
/// # Returns
/// A map of fields to values (a flat array in RESP2).
pub fn hgetall(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    read(ctx, args.get(1), |map| Reply::Map(map.map_or(Vec::new(), |m| m.iter().map(|(f, v)| (Reply::bulk(f), Reply::bulk(v))).collect())))
}

/// HINCRBY key field increment
///
/// # Errors
/// `ERR hash value is not an integer`, `ERR increment or decrement would overflow`.
pub fn hincrby(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let increment = parse_int(args.get(3))?;
    let (key, field) = (args.get(1), args.get(2));
    let hash = KeyHash::of(key);
    let limits = limits(ctx);
    let mut shard = ctx.db().lock(hash);
    let mut map = get_or_create::<Hash>(&mut shard, hash, key, ctx.now_ms, ctx.touches())?;
    let current = match map.get(field) {
        None => 0,
        Some(text) => parse_i64(text).ok_or_else(|| CmdError::err("hash value is not an integer"))?,
    };
    let next = current.checked_add(increment).ok_or(CmdError::Overflow);
    let next = match next {
        Ok(next) => next,
        Err(e) => {
            drop_if_empty(&mut shard, hash, key, ctx.now_ms);
            return Err(e);
        }
    };
    map.set(field, itoa::Buffer::new().format(next).as_bytes(), &limits);
    drop(shard);
    ctx.notify(notify::HASH, "hincrby", key);
    Ok(Reply::Int(next))
}

/// HINCRBYFLOAT key field increment
///
/// # Returns
/// The new value as a bulk string (in both protocols, as Redis does).
pub fn hincrbyfloat(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let increment = parse_f64(args.get(3)).ok_or(CmdError::NotFloat)?;
    if !increment.is_finite() {
        return Err(CmdError::err("value is NaN or Infinity"));
    }
    let (key, field) = (args.get(1), args.get(2));
    let hash = KeyHash::of(key);
    let limits = limits(ctx);
    let mut shard = ctx.db().lock(hash);
    let mut map = get_or_create::<Hash>(&mut shard, hash, key, ctx.now_ms, ctx.touches())?;
    let outcome = match map.get(field) {
        None => Ok(increment),
        Some(text) => match parse_f64(text) {
            None => Err(CmdError::err("hash value is not a float")),
            Some(current) if !(current + increment).is_finite() => Err(CmdError::err("increment would produce NaN or Infinity")),
            Some(current) => Ok(current + increment),
        },
    };
    let next = match outcome {
        Ok(next) => next,
        Err(e) => {
            drop_if_empty(&mut shard, hash, key, ctx.now_ms);
            return Err(e);
        }
    };
    let text = format_human_float(next);
    map.set(field, text.as_bytes(), &limits);
    drop(shard);
    ctx.notify(notify::HASH, "hincrbyfloat", key);
    Ok(Reply::bulk_string(text))
}

/// Positions for a random pick of `count` out of `len`: distinct when `distinct`, else with
/// repetitions. Shared by HRANDFIELD, SRANDMEMBER and ZRANDMEMBER.
pub fn random_positions(len: usize, count: usize, distinct: bool) -> Vec<usize> {
    if len == 0 {
        return Vec::new();
    }
    if !distinct {
        return (0..count).map(|_| rand::random_range(0..len)).collect();
    }
    if count >= len {
        return (0..len).collect();
    }
    rand::seq::index::sample(&mut rand::rng(), len, count).into_vec()
}

/// The count argument of HRANDFIELD/ZRANDMEMBER: negative allows repetitions.
pub fn parse_random_count(arg: &[u8]) -> Result<i64, CmdError> {
    let count = parse_int(arg)?;
    if count == i64::MIN {
        return Err(CmdError::err("value is out of range, value must between -9223372036854775807 and 9223372036854775807"));
    }
    Ok(count)
}

/// Refuses a negative count (a sample with repetitions) too big to answer. Redis refuses one whose
/// doubled length overflows with WITHVALUES/WITHSCORES, and tries to build any other, however large;
/// strata also refuses a sample of more elements than `proto-max-bulk-len / 16`, so one request cannot
/// make it allocate without bound.
pub fn check_repeats(ctx: &Ctx, count: Option<i64>, with_values: bool) -> Result<(), CmdError> {
    let Some(count) = count.filter(|count| *count < 0) else {
        return Ok(());
    };
    let max_bulk = ctx.shared.config.hot.proto_max_bulk_len.load(std::sync::atomic::Ordering::Relaxed);
    if (with_values && count < -(i64::MAX / 2)) || count.unsigned_abs() > (max_bulk / 16) as u64 {
        return Err(CmdError::err("value is out of range"));
    }
    Ok(())
}

/// HRANDFIELD key [count [WITHVALUES]]
///
/// # Returns
/// Without count, one field or nil. With count, distinct fields (positive) or fields that may
/// repeat (negative); WITHVALUES interleaves values in RESP2 and returns pairs in RESP3.
pub fn hrandfield(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    if args.len() > 4 {
        return Err(CmdError::Syntax);
    }
    let count = if args.len() >= 3 { Some(parse_random_count(args.get(2))?) } else { None };
    let with_values = match args.len() {
        4 if args.get(3).eq_ignore_ascii_case(b"WITHVALUES") => true,
        4 => return Err(CmdError::Syntax),
        _ => false,
    };
    check_repeats(ctx, count, with_values)?;
    let resp3 = ctx.session.protocol == Protocol::Resp3;
    read(ctx, args.get(1), |map| {
        let Some(count) = count else {
            return map.and_then(|m| m.get_index(rand::random_range(0..m.len().max(1))).map(|(f, _)| Reply::bulk(f))).unwrap_or(Reply::Nil);
        };
        let Some(map) = map else {
            return Reply::Array(Vec::new());
        };
        let picks = random_positions(map.len(), count.unsigned_abs().min(usize::MAX as u64) as usize, count >= 0);
        let mut out = Vec::with_capacity(picks.len() * if with_values && !resp3 { 2 } else { 1 });
        // Positions in the packed encoding cost a walk each: index its pairs once instead.
        let packed: Option<Vec<(&[u8], &[u8])>> = matches!(map, Hash::Pack(_)).then(|| map.iter().collect());
        let pick = |i: usize| match &packed {
            Some(pairs) => pairs.get(i).copied(),
            None => map.get_index(i),
        };
        for (field, value) in picks.into_iter().filter_map(pick) {
            match (with_values, resp3) {
                (false, _) => out.push(Reply::bulk(field)),
                (true, true) => out.push(Reply::Array(vec![Reply::bulk(field), Reply::bulk(value)])),
                (true, false) => {
                    out.push(Reply::bulk(field));
                    out.push(Reply::bulk(value));
                }
            }
        }
        Reply::Array(out)
    })
}

/// HSCAN key cursor [MATCH pattern] [COUNT count]
pub fn hscan(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let cursor = parse_cursor(args.get(2))?;
    // As in Redis, options are only parsed once the key is found to be a hash.
    read(ctx, args.get(1), |map| {
        let Some(map) = map else {
            return Ok(empty_scan());
        };
        let options = parse_scan_options(args, 3)?;
        let (next, pairs) = map.scan(cursor, options.count);
        let items = pairs.into_iter().filter(|(f, _)| options.keeps(f)).flat_map(|(f, v)| [Reply::bulk(f), Reply::bulk(v)]).collect();
        Ok(scan_reply(next, items))
    })?
}

// The command table of this family, joined by `commands::registry`. Its imports stay here, beside
// the rows, so that the family's table and its handlers change independently.

use super::acl;
use super::flags::{DENYOOM, FAST, READONLY, WRITE};
use super::table::Command;

/// The hash commands, in the order COMMAND lists them.
pub(super) static COMMANDS: &[Command] = &[
    Command::new("hset", -4, hset).flags(WRITE | DENYOOM | FAST).keys(1, 1, 1).acl(acl::HASH),
    Command::new("hsetnx", 4, hsetnx).flags(WRITE | DENYOOM | FAST).keys(1, 1, 1).acl(acl::HASH),
    Command::new("hget", 3, hget).flags(READONLY | FAST).keys(1, 1, 1).acl(acl::HASH),
    Command::new("hmset", -4, hmset).flags(WRITE | DENYOOM | FAST).keys(1, 1, 1).acl(acl::HASH),
    Command::new("hmget", -3, hmget).flags(READONLY | FAST).keys(1, 1, 1).acl(acl::HASH),
    Command::new("hdel", -3, hdel).flags(WRITE | FAST).keys(1, 1, 1).acl(acl::HASH),
    Command::new("hexists", 3, hexists).flags(READONLY | FAST).keys(1, 1, 1).acl(acl::HASH),
    Command::new("hlen", 2, hlen).flags(READONLY | FAST).keys(1, 1, 1).acl(acl::HASH),
    Command::new("hkeys", 2, hkeys).flags(READONLY).keys(1, 1, 1).acl(acl::HASH),
    Command::new("hvals", 2, hvals).flags(READONLY).keys(1, 1, 1).acl(acl::HASH),
    Command::new("hgetall", 2, hgetall).flags(READONLY).keys(1, 1, 1).acl(acl::HASH),
    Command::new("hincrby", 4, hincrby).flags(WRITE | DENYOOM | FAST).keys(1, 1, 1).acl(acl::HASH),
    Command::new("hincrbyfloat", 4, hincrbyfloat).flags(WRITE | DENYOOM | FAST).keys(1, 1, 1).acl(acl::HASH),
    Command::new("hstrlen", 3, hstrlen).flags(READONLY | FAST).keys(1, 1, 1).acl(acl::HASH),
    Command::new("hrandfield", -2, hrandfield).flags(READONLY).keys(1, 1, 1).acl(acl::HASH),
    Command::new("hscan", -3, hscan).flags(READONLY).keys(1, 1, 1).acl(acl::HASH),
];
