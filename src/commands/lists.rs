//! List commands (blocking forms live with the blocking machinery).

use super::args::{parse_int, ArgCursor};
use super::collection::{drop_if_empty, get, get_mut, get_or_create, index_range, limits, positive_count};
use super::{CmdError, Ctx};
use crate::engine::{KeyHash, Limits, List, Tracked};
use crate::notify;
use crate::resp::{Args, Reply};

/// The end of a list an operation works on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    Left,
    Right,
}

pub fn parse_end(arg: &[u8]) -> Result<End, CmdError> {
    if arg.eq_ignore_ascii_case(b"LEFT") {
        Ok(End::Left)
    } else if arg.eq_ignore_ascii_case(b"RIGHT") {
        Ok(End::Right)
    } else {
        Err(CmdError::Syntax)
    }
}

/// The event names of pushes and pops at `end`.
fn push_event(end: End) -> &'static str {
    match end {
        End::Left => "lpush",
        End::Right => "rpush",
    }
}

fn pop_event(end: End) -> &'static str {
    match end {
        End::Left => "lpop",
        End::Right => "rpop",
    }
}

/// Reports a pop from `key`, and its deletion when the pop emptied it.
fn notify_pop(ctx: &Ctx, end: End, key: &[u8], deleted: bool) {
    ctx.notify(notify::LIST, pop_event(end), key);
    if deleted {
        ctx.notify(notify::GENERIC, "del", key);
    }
}

fn pop(list: &mut Tracked<List>, end: End, limits: &Limits) -> Option<Box<[u8]>> {
    match end {
        End::Left => list.pop_front(limits),
        End::Right => list.pop_back(limits),
    }
}

fn push(list: &mut Tracked<List>, end: End, item: &[u8], limits: &Limits) {
    match end {
        End::Left => list.push_front(item, limits),
        End::Right => list.push_back(item, limits),
    }
}

fn push_generic(ctx: &mut Ctx, args: Args, end: End, only_existing: bool) -> Result<Reply, CmdError> {
    let key = args.get(1);
    let hash = KeyHash::of(key);
    let limits = limits(ctx);
    let mut shard = ctx.db().lock(hash);
    let mut list = if only_existing {
        match get_mut::<List>(&mut shard, hash, key, ctx.now_ms, ctx.touches())? {
            Some(list) => list,
            None => return Ok(Reply::Int(0)),
        }
    } else {
        get_or_create::<List>(&mut shard, hash, key, ctx.now_ms, ctx.touches())?
    };
    for item in args.iter().skip(2) {
        push(&mut list, end, item, &limits);
    }
    let len = list.len();
    drop(shard);
    ctx.notify(notify::LIST, push_event(end), key);
    Ok(Reply::from(len))
}

/// LPUSH key element [element ...]
///
/// # Returns
/// The length of the list after the push.
pub fn lpush(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    push_generic(ctx, args, End::Left, false)
}

/// RPUSH key element [element ...]
pub fn rpush(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    push_generic(ctx, args, End::Right, false)
}

/// LPUSHX key element [element ...]: only when the list exists; 0 otherwise.
pub fn lpushx(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    push_generic(ctx, args, End::Left, true)
}

/// RPUSHX key element [element ...]
pub fn rpushx(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    push_generic(ctx, args, End::Right, true)
}

/// LPOP/RPOP key [count]
///
/// # Returns
/// Without count: the element, or nil. With count: an array of up to `count` elements, or a nil
/// array when the key does not exist (an empty array for count 0 on an existing list).
fn pop_generic(ctx: &mut Ctx, args: Args, end: End, name: &str) -> Result<Reply, CmdError> {
    if args.len() > 3 {
        return Err(CmdError::WrongArity(name.to_owned()));
    }
    let count = if args.len() == 3 { Some(positive_count(args.get(2))?) } else { None };
    let key = args.get(1);
    let hash = KeyHash::of(key);
    let limits = limits(ctx);
    let mut shard = ctx.db().lock(hash);
    let Some(mut list) = get_mut::<List>(&mut shard, hash, key, ctx.now_ms, ctx.touches())? else {
        return Ok(if count.is_some() { Reply::NilArray } else { Reply::Nil });
    };
    let reply = match count {
        None => Reply::optional_bulk(pop(&mut list, end, &limits).as_deref()),
        Some(count) => {
            let mut items = Vec::with_capacity(count.min(list.len()));
            while items.len() < count {
                match pop(&mut list, end, &limits) {
                    Some(item) => items.push(Reply::bulk(&item)),
                    None => break,
                }
            }
            Reply::Array(items)
        }
    };
    let popped = !matches!(&reply, Reply::Nil) && !matches!(&reply, Reply::Array(items) if items.is_empty());
    let deleted = drop_if_empty(&mut shard, hash, key, ctx.now_ms);
    drop(shard);
    if popped {
        notify_pop(ctx, end, key, deleted);
    }
    Ok(reply)
}

/// Pops one element from `end` of the list at `key`: `[key, element]`, or `None` when there is no
/// list there (BLPOP/BRPOP).
pub fn pop_keyed(ctx: &mut Ctx, key: &[u8], end: End) -> Result<Option<Reply>, CmdError> {
    let hash = KeyHash::of(key);
    let limits = limits(ctx);
    let mut shard = ctx.db().lock(hash);
    let Some(mut list) = get_mut::<List>(&mut shard, hash, key, ctx.now_ms, ctx.touches())? else {
        return Ok(None);
    };
    let Some(item) = pop(&mut list, end, &limits) else {
        return Ok(None);
    };
    let deleted = drop_if_empty(&mut shard, hash, key, ctx.now_ms);
    drop(shard);
    notify_pop(ctx, end, key, deleted);
    Ok(Some(Reply::Array(vec![Reply::bulk(key), Reply::bulk(&item)])))
}

/// LPOP key [count]
pub fn lpop(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    pop_generic(ctx, args, End::Left, "lpop")
}

/// RPOP key [count]
pub fn rpop(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    pop_generic(ctx, args, End::Right, "rpop")
}

/// LLEN key
pub fn llen(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let key = args.get(1);
    let hash = KeyHash::of(key);
    let mut shard = ctx.db().lock(hash);
    let len = get::<List>(&mut shard, hash, key, ctx.now_ms, ctx.touches())?.map(|l| l.len());
    ctx.record_lookup(len.is_some());
    Ok(Reply::from(len.unwrap_or(0)))
}

/// LRANGE key start stop
pub fn lrange(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let (start, stop) = (parse_int(args.get(2))?, parse_int(args.get(3))?);
    let key = args.get(1);
    let hash = KeyHash::of(key);
    let mut shard = ctx.db().lock(hash);
    let list = get::<List>(&mut shard, hash, key, ctx.now_ms, ctx.touches())?;
    let found = list.is_some();
    let items = match list.and_then(|l| index_range(start, stop, l.len()).map(|r| (l, r))) {
        Some((list, (from, to))) => list.range(from, to).map(Reply::bulk).collect(),
        None => Vec::new(),
    };
    drop(shard);
    ctx.record_lookup(found);
    Ok(Reply::Array(items))
}

/// A list index (negative from the end) as a position, if inside the list.
fn position(index: i64, len: usize) -> Option<usize> {
    let index = if index < 0 { len as i64 + index } else { index };
    (0..len as i64).contains(&index).then_some(index as usize)
}

/// LINDEX key index
///
/// Like Redis, the key is looked up (nil, WRONGTYPE) before the index is parsed.
pub fn lindex(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let key = args.get(1);
    let hash = KeyHash::of(key);
    let mut shard = ctx.db().lock(hash);
    let list = get::<List>(&mut shard, hash, key, ctx.now_ms, ctx.touches())?;
    ctx.record_lookup(list.is_some());
    let Some(list) = list else {
        return Ok(Reply::Nil);
    };
    let index = parse_int(args.get(2))?;
    Ok(position(index, list.len()).and_then(|at| list.get(at)).map_or(Reply::Nil, Reply::bulk))
}

/// LSET key index element
///
/// The key is looked up before the index is parsed, as in Redis.
///
/// # Errors
/// `ERR no such key` when the list does not exist, `ERR index out of range`.
pub fn lset(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let key = args.get(1);
    let hash = KeyHash::of(key);
    let limits = limits(ctx);
    let mut shard = ctx.db().lock(hash);
    let mut list = get_mut::<List>(&mut shard, hash, key, ctx.now_ms, ctx.touches())?.ok_or(CmdError::NoSuchKey)?;
    let index = parse_int(args.get(2))?;
    let at = position(index, list.len()).ok_or_else(|| CmdError::err("index out of range"))?;
    list.set(at, args.get(3), &limits);
    drop(shard);
    ctx.notify(notify::LIST, "lset", key);
    Ok(Reply::Ok)
}

/// LINSERT key BEFORE|AFTER pivot element
///
/// # Returns
/// The new length, -1 when the pivot is not found, 0 when the key does not exist.
pub fn linsert(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let after = match args.get(2) {
        w if w.eq_ignore_ascii_case(b"AFTER") => true,
        w if w.eq_ignore_ascii_case(b"BEFORE") => false,
        _ => return Err(CmdError::Syntax),
    };
    let (key, pivot, element) = (args.get(1), args.get(3), args.get(4));
    let hash = KeyHash::of(key);
    let limits = limits(ctx);
    let mut shard = ctx.db().lock(hash);
    let Some(mut list) = get_mut::<List>(&mut shard, hash, key, ctx.now_ms, ctx.touches())? else {
        return Ok(Reply::Int(0));
    };
    let Some(at) = list.iter().position(|e| e == pivot) else {
        return Ok(Reply::Int(-1));
    };
    list.insert(at + usize::from(after), element, &limits);
    let len = list.len();
    drop(shard);
    ctx.notify(notify::LIST, "linsert", key);
    Ok(Reply::from(len))
}

/// LREM key count element: removes the first `count` occurrences (from the tail when negative, all
/// when 0).
pub fn lrem(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let count = parse_int(args.get(2))?;
    let (key, element) = (args.get(1), args.get(3));
    let hash = KeyHash::of(key);
    let limits = limits(ctx);
    let mut shard = ctx.db().lock(hash);
    let Some(mut list) = get_mut::<List>(&mut shard, hash, key, ctx.now_ms, ctx.touches())? else {
        return Ok(Reply::Int(0));
    };
    let limit = if count == 0 { usize::MAX } else { count.unsigned_abs().min(usize::MAX as u64) as usize };
    let len = list.len();
    let mut doomed: Vec<usize> = if count >= 0 {
        list.iter().enumerate().filter(|(_, e)| *e == element).map(|(i, _)| i).take(limit).collect()
    } else {
        list.iter_rev().enumerate().filter(|(_, e)| *e == element).map(|(i, _)| len - 1 - i).take(limit).collect()
    };
    let removed = doomed.len();
    if removed > 0 {
        doomed.sort_unstable();
        list.retain(|i, _| doomed.binary_search(&i).is_err(), &limits);
    }
    let deleted = drop_if_empty(&mut shard, hash, key, ctx.now_ms);
    drop(shard);
    if removed > 0 {
        ctx.notify(notify::LIST, "lrem", key);
    }
    if deleted {
        ctx.notify(notify::GENERIC, "del", key);
    }
    Ok(Reply::from(removed))
}

/// LTRIM key start stop
pub fn ltrim(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let (start, stop) = (parse_int(args.get(2))?, parse_int(args.get(3))?);
    let key = args.get(1);
    let hash = KeyHash::of(key);
    let limits = limits(ctx);
    let mut shard = ctx.db().lock(hash);
    let Some(mut list) = get_mut::<List>(&mut shard, hash, key, ctx.now_ms, ctx.touches())? else {
        return Ok(Reply::Ok);
    };
    match index_range(start, stop, list.len()) {
        Some((from, to)) => list.trim(from, to, &limits),
        None => list.trim(1, 0, &limits),
    }
    let deleted = drop_if_empty(&mut shard, hash, key, ctx.now_ms);
    drop(shard);
    ctx.notify(notify::LIST, "ltrim", key);
    if deleted {
        ctx.notify(notify::GENERIC, "del", key);
    }
    Ok(Reply::Ok)
}

/// LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len]
///
/// # Returns
/// The index of the match (or nil); with COUNT, an array of indexes (0 = all matches).
pub fn lpos(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let mut cursor = ArgCursor::new(args, 3);
    let (mut rank, mut count, mut maxlen): (i64, Option<usize>, usize) = (1, None, 0);
    while !cursor.is_done() {
        if cursor.eat("RANK") {
            rank = cursor.next_i64()?;
            if rank == i64::MIN {
                // Redis negates the rank, which overflows and leaves a negative skip count: the
                // first match from the tail.
                rank = -1;
            }
            if rank == 0 {
                return Err(CmdError::err(
                    "RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list",
                ));
            }
        } else if cursor.eat("COUNT") {
            match crate::num::parse_i64(cursor.next_bytes()?) {
                Some(n) if n >= 0 => count = Some(n as usize),
                _ => return Err(CmdError::err("COUNT can't be negative")),
            }
        } else if cursor.eat("MAXLEN") {
            match crate::num::parse_i64(cursor.next_bytes()?) {
                Some(n) if n >= 0 => maxlen = n as usize,
                _ => return Err(CmdError::err("MAXLEN can't be negative")),
            }
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let (key, element) = (args.get(1), args.get(2));
    let hash = KeyHash::of(key);
    let mut shard = ctx.db().lock(hash);
    let Some(list) = get::<List>(&mut shard, hash, key, ctx.now_ms, ctx.touches())? else {
        ctx.record_lookup(false);
        return Ok(if count.is_some() { Reply::Array(Vec::new()) } else { Reply::Nil });
    };
    let len = list.len();
    let scan = if maxlen == 0 { len } else { maxlen.min(len) };
    let skip = (rank.unsigned_abs() - 1).min(usize::MAX as u64) as usize;
    let wanted = match count {
        Some(0) => usize::MAX,
        Some(n) => n,
        None => 1,
    };
    let found: Vec<Reply> = if rank > 0 {
        list.iter().take(scan).enumerate().filter(|(_, e)| *e == element).skip(skip).take(wanted).map(|(i, _)| Reply::from(i)).collect()
    } else {
        list.iter_rev()
            .take(scan)
            .enumerate()
            .filter(|(_, e)| *e == element)
            .skip(skip)
            .take(wanted)
            .map(|(i, _)| Reply::from(len - 1 - i))
            .collect()
    };
    Ok(match count {
        Some(_) => Reply::Array(found),
        None => found.into_iter().next().unwrap_or(Reply::Nil),
    })
}

/// Pops from `from` and pushes onto `to` atomically; nil when the source does not exist.
pub fn move_generic(ctx: &mut Ctx, from: &[u8], to: &[u8], from_end: End, to_end: End) -> Result<Reply, CmdError> {
    let db = ctx.session.db;
    let (hf, ht) = (KeyHash::of(from), KeyHash::of(to));
    let limits = limits(ctx);
    let now = ctx.now_ms;
    let touch = ctx.touches();
    let mut locked = ctx.shared.keyspace.lock_keys([(db, hf), (db, ht)]);
    let Some(source) = get::<List>(locked.shard(db, hf), hf, from, now, touch)? else {
        return Ok(Reply::Nil);
    };
    if source.is_empty() {
        return Ok(Reply::Nil);
    }
    get::<List>(locked.shard(db, ht), ht, to, now, touch)?;
    let mut source = get_mut::<List>(locked.shard(db, hf), hf, from, now, touch)?.ok_or(CmdError::WrongType)?;
    let Some(item) = pop(&mut source, from_end, &limits) else {
        return Ok(Reply::Nil);
    };
    // Moving within one list never empties it.
    let deleted = from != to && drop_if_empty(locked.shard(db, hf), hf, from, now);
    let mut target = get_or_create::<List>(locked.shard(db, ht), ht, to, now, touch)?;
    push(&mut target, to_end, &item, &limits);
    drop(locked);
    // Redis reports the push before the pop.
    ctx.notify(notify::LIST, push_event(to_end), to);
    notify_pop(ctx, from_end, from, deleted);
    Ok(Reply::bulk(&item))
}

/// LMOVE source destination LEFT|RIGHT LEFT|RIGHT
pub fn lmove(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let (from_end, to_end) = (parse_end(args.get(3))?, parse_end(args.get(4))?);
    move_generic(ctx, args.get(1), args.get(2), from_end, to_end)
}

/// RPOPLPUSH source destination
pub fn rpoplpush(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    move_generic(ctx, args.get(1), args.get(2), End::Right, End::Left)
}

/// Parses `numkeys key [key ...]` starting at argument 1; returns the keys and the position after
/// them. Shared with ZMPOP.
pub fn parse_numkeys(args: Args<'_>, start: usize) -> Result<(Vec<&[u8]>, usize), CmdError> {
    let numkeys = match crate::num::parse_i64(args.get(start)) {
        Some(n) if n > 0 => n as usize,
        _ => return Err(CmdError::err("numkeys should be greater than 0")),
    };
    if numkeys > args.len() - start - 1 {
        return Err(CmdError::Syntax);
    }
    Ok(((start + 1..start + 1 + numkeys).map(|i| args.get(i)).collect(), start + 1 + numkeys))
}

/// The keys of `numkeys key [key ...] ...` requests (LMPOP, ZMPOP, SINTERCARD, ZINTERCARD, ZUNION,
/// ZINTER, ZDIFF): positions 2..2+numkeys, none when `numkeys` is invalid.
pub fn mpop_keys(args: Args) -> Vec<usize> {
    numkeys_positions(args, 1)
}

/// Positions of the keys counted by the `numkeys` argument at `at`.
pub fn numkeys_positions(args: Args, at: usize) -> Vec<usize> {
    match crate::num::parse_i64(args.get(at)) {
        Some(n) if n > 0 && (n as u64) < (args.len() - at) as u64 => (at + 1..=at + n as usize).collect(),
        _ => Vec::new(),
    }
}

/// `[COUNT count]` of LMPOP/ZMPOP.
pub fn parse_mpop_count(cursor: &mut ArgCursor) -> Result<usize, CmdError> {
    let mut count = None;
    while !cursor.is_done() {
        if count.is_none() && cursor.eat("COUNT") {
            match crate::num::parse_i64(cursor.next_bytes()?) {
                Some(n) if n > 0 => count = Some(n as usize),
                _ => return Err(CmdError::err("count should be greater than 0")),
            }
        } else {
            return Err(CmdError::Syntax);
        }
    }
    Ok(count.unwrap_or(1))
}

/// LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count]
///
/// # Returns
/// `[key, [elements]]` for the first non-empty list, or a nil array.
pub fn lmpop(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let (keys, next) = parse_numkeys(args, 1)?;
    let mut cursor = ArgCursor::new(args, next);
    let end = parse_end(cursor.next_bytes()?)?;
    let count = parse_mpop_count(&mut cursor)?;
    let db = ctx.session.db;
    let limits = limits(ctx);
    let now = ctx.now_ms;
    let touch = ctx.touches();
    let hashes: Vec<KeyHash> = keys.iter().map(|k| KeyHash::of(k)).collect();
    let mut locked = ctx.shared.keyspace.lock_keys(hashes.iter().map(|h| (db, *h)));
    for (key, hash) in keys.iter().zip(&hashes) {
        let shard = locked.shard(db, *hash);
        let Some(mut list) = get_mut::<List>(shard, *hash, key, now, touch)? else {
            continue;
        };
        let mut items = Vec::new();
        while items.len() < count {
            match pop(&mut list, end, &limits) {
                Some(item) => items.push(Reply::bulk(&item)),
                None => break,
            }
        }
        let deleted = drop_if_empty(shard, *hash, key, now);
        drop(locked);
        notify_pop(ctx, end, key, deleted);
        return Ok(Reply::Array(vec![Reply::bulk(key), Reply::Array(items)]));
    }
    Ok(Reply::NilArray)
}

// The command table of this family, joined by `commands::registry`. Its imports stay here, beside
// the rows, so that the family's table and its handlers change independently.

use super::acl;
use super::flags::{DENYOOM, FAST, READONLY, WRITE};
use super::table::Command;

/// The list commands, in the order COMMAND lists them.
pub(super) static COMMANDS: &[Command] = &[
    Command::new("lpush", -3, lpush).flags(WRITE | DENYOOM | FAST).keys(1, 1, 1).acl(acl::LIST),
    Command::new("rpush", -3, rpush).flags(WRITE | DENYOOM | FAST).keys(1, 1, 1).acl(acl::LIST),
    Command::new("lpushx", -3, lpushx).flags(WRITE | DENYOOM | FAST).keys(1, 1, 1).acl(acl::LIST),
    Command::new("rpushx", -3, rpushx).flags(WRITE | DENYOOM | FAST).keys(1, 1, 1).acl(acl::LIST),
    Command::new("lpop", -2, lpop).flags(WRITE | FAST).keys(1, 1, 1).acl(acl::LIST),
    Command::new("rpop", -2, rpop).flags(WRITE | FAST).keys(1, 1, 1).acl(acl::LIST),
    Command::new("llen", 2, llen).flags(READONLY | FAST).keys(1, 1, 1).acl(acl::LIST),
    Command::new("lrange", 4, lrange).flags(READONLY).keys(1, 1, 1).acl(acl::LIST),
    Command::new("lindex", 3, lindex).flags(READONLY).keys(1, 1, 1).acl(acl::LIST),
    Command::new("lset", 4, lset).flags(WRITE | DENYOOM).keys(1, 1, 1).acl(acl::LIST),
    Command::new("linsert", 5, linsert).flags(WRITE | DENYOOM).keys(1, 1, 1).acl(acl::LIST),
    Command::new("lrem", 4, lrem).flags(WRITE).keys(1, 1, 1).acl(acl::LIST),
    Command::new("ltrim", 4, ltrim).flags(WRITE).keys(1, 1, 1).acl(acl::LIST),
    Command::new("lpos", -3, lpos).flags(READONLY).keys(1, 1, 1).acl(acl::LIST),
    Command::new("lmove", 5, lmove).flags(WRITE | DENYOOM).keys(1, 2, 1).acl(acl::LIST),
    Command::new("rpoplpush", 3, rpoplpush).flags(WRITE | DENYOOM).keys(1, 2, 1).acl(acl::LIST),
    Command::new("lmpop", -4, lmpop).flags(WRITE).acl(acl::LIST).movable_keys(mpop_keys),
];
