//! Sorted set commands.
//!
//! Every range command (ZRANGE and its legacy forms, ZRANGESTORE, ZCOUNT, ZLEXCOUNT,
//! ZREMRANGEBY*) turns its bounds into a half-open range of ranks with [`ZSet::count_before`], then
//! reads or removes by rank, so each costs O(log n) plus the size of the answer.

use super::args::{parse_int, ArgCursor};
use super::collection::{
    drop_if_empty, empty_scan, get, get_mut, get_or_create, index_range, limits, parse_cursor, parse_scan_options, positive_count,
    scan_reply, Collection,
};
use super::hashes::{check_repeats, parse_random_count, random_positions};
use super::lists::{parse_mpop_count, parse_numkeys};
use super::{CmdError, Ctx};
use crate::engine::keyspace::LockedShards;
use crate::engine::zset::sorts_before;
use crate::engine::{KeyHash, Limits, Set, Shard, Tracked, Value, ZSet};
use crate::notify;
use crate::num::parse_f64;
use crate::resp::{format_double, Args, Protocol, Reply};

/// A score or weight argument, as Redis's `string2d`: strtod syntax without surrounding spaces,
/// no NaN, and no overflow to infinity or underflow to zero (spelled-out infinities are fine).
pub(super) fn parse_score(arg: &[u8]) -> Option<f64> {
    let value = parse_f64(arg)?;
    let text = std::str::from_utf8(arg).ok()?.to_ascii_lowercase();
    if value.is_infinite() && !text.contains("inf") {
        return None;
    }
    let mantissa = text.split('e').next().unwrap_or("");
    if value == 0.0 && !text.starts_with("0x") && mantissa.bytes().any(|b| (b'1'..=b'9').contains(&b)) {
        return None;
    }
    Some(value)
}

fn score_arg(arg: &[u8]) -> Result<f64, CmdError> {
    parse_score(arg).ok_or(CmdError::NotFloat)
}

/// A range bound's number, as Redis's `zslParseRange` reads it with plain strtod: leading spaces
/// and an empty string (0) are accepted, overflow gives infinity.
fn parse_bound_number(text: &[u8]) -> Option<f64> {
    if text.is_empty() {
        return Some(0.0);
    }
    let start = text.iter().position(|b| !b.is_ascii_whitespace())?;
    parse_f64(&text[start..])
}

/// Scores are stored without a sign on zero, as Redis prints them.
fn normalise(score: f64) -> f64 {
    if score == 0.0 {
        0.0
    } else {
        score
    }
}

fn resp3(ctx: &Ctx) -> bool {
    ctx.session.protocol == Protocol::Resp3
}

/// Members, with scores when asked: flat in RESP2, [member, score] pairs in RESP3.
fn scored_reply<M: AsRef<[u8]>>(items: impl IntoIterator<Item = (M, f64)>, with_scores: bool, resp3: bool) -> Reply {
    let mut out = Vec::new();
    for (member, score) in items {
        let member = Reply::bulk(member.as_ref());
        match (with_scores, resp3) {
            (false, _) => out.push(member),
            (true, true) => out.push(Reply::Array(vec![member, Reply::Double(score)])),
            (true, false) => {
                out.push(member);
                out.push(Reply::Double(score));
            }
        }
    }
    Reply::Array(out)
}

/// Runs `f` on the sorted set at `key` (None when missing) and records the lookup.
pub(super) fn read<R>(ctx: &mut Ctx, key: &[u8], f: impl FnOnce(Option<&ZSet>) -> R) -> Result<R, CmdError> {
    let hash = KeyHash::of(key);
    let mut shard = ctx.db().lock(hash);
    let zset = get::<ZSet>(&mut shard, hash, key, ctx.now_ms, ctx.touches())?;
    let found = zset.is_some();
    let result = f(zset);
    drop(shard);
    ctx.record_lookup(found);
    Ok(result)
}

/// ZADD's flags.
#[derive(Default, Debug, PartialEq, Eq, Clone, Copy)]
struct AddFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    ch: bool,
    incr: bool,
}

/// What one ZADD element did.
enum Added {
    New(f64),
    Updated(f64),
    Unchanged(f64),
    Skipped,
}

/// Adds or updates one member under ZADD's rules, with one lookup of the member.
fn add_one(zset: &mut Tracked<ZSet>, member: &[u8], score: f64, flags: AddFlags, limits: &Limits) -> Result<Added, CmdError> {
    zset.upsert(member, limits, |current| {
        let Some(current) = current else {
            return if flags.xx { (None, Ok(Added::Skipped)) } else { (Some(normalise(score)), Ok(Added::New(normalise(score)))) };
        };
        if flags.nx {
            return (None, Ok(Added::Skipped));
        }
        let score = if flags.incr { current + score } else { score };
        if score.is_nan() {
            return (None, Err(CmdError::err("resulting score is not a number (NaN)")));
        }
        if (flags.lt && score >= current) || (flags.gt && score <= current) {
            return (None, Ok(Added::Skipped));
        }
        let score = normalise(score);
        if score == current {
            return (None, Ok(Added::Unchanged(score)));
        }
        (Some(score), Ok(Added::Updated(score)))
    })
}

/// ZADD key [NX | XX] [GT | LT] [CH] [INCR] score member [score member ...]
///
/// # Returns
/// The number of new members (plus updated ones with CH); with INCR the new score, or nil when
/// a condition stopped it.
pub fn zadd(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    zadd_generic(ctx, args, false)
}

/// ZADD, or ZINCRBY (`incr`), which Redis runs as ZADD ... INCR: option words are recognised there
/// too, which leaves an odd number of arguments and a syntax error.
fn zadd_generic(ctx: &mut Ctx, args: Args, incr: bool) -> Result<Reply, CmdError> {
    let mut flags = AddFlags { incr, ..AddFlags::default() };
    let mut at = 2;
    while at < args.len() {
        let word = args.get(at).to_ascii_uppercase();
        match word.as_slice() {
            b"NX" => flags.nx = true,
            b"XX" => flags.xx = true,
            b"GT" => flags.gt = true,
            b"LT" => flags.lt = true,
            b"CH" => flags.ch = true,
            b"INCR" => flags.incr = true,
            _ => break,
        }
        at += 1;
    }
    let elements = args.len() - at;
    if !elements.is_multiple_of(2) || elements == 0 {
        return Err(CmdError::Syntax);
    }
    if flags.nx && flags.xx {
        return Err(CmdError::err("XX and NX options at the same time are not compatible"));
    }
    if ((flags.gt || flags.lt) && flags.nx) || (flags.gt && flags.lt) {
        return Err(CmdError::err("GT, LT, and/or NX options at the same time are not compatible"));
    }
    if flags.incr && elements > 2 {
        return Err(CmdError::err("INCR option supports a single increment-element pair"));
    }
    let pairs: Vec<(f64, &[u8])> =
        (at..args.len()).step_by(2).map(|i| Ok((score_arg(args.get(i))?, args.get(i + 1)))).collect::<Result<_, CmdError>>()?;
    let key = args.get(1);
    let hash = KeyHash::of(key);
    let limits = limits(ctx);
    let mut shard = ctx.db().lock(hash);
    if flags.xx && get::<ZSet>(&mut shard, hash, key, ctx.now_ms, ctx.touches())?.is_none() {
        return Ok(if flags.incr { Reply::Nil } else { Reply::Int(0) });
    }
    let mut zset = get_or_create::<ZSet>(&mut shard, hash, key, ctx.now_ms, ctx.touches())?;
    let (mut added, mut updated, mut last) = (0, 0, None);
    let mut failure = None;
    for (score, member) in pairs {
        match add_one(&mut zset, member, score, flags, &limits) {
            Ok(Added::New(score)) => {
                added += 1;
                last = Some(score);
            }
            Ok(Added::Updated(score)) => {
                updated += 1;
                last = Some(score);
            }
            Ok(Added::Unchanged(score)) => last = Some(score),
            Ok(Added::Skipped) => {}
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    let deleted = drop_if_empty(&mut shard, hash, key, ctx.now_ms);
    drop(shard);
    if added + updated > 0 {
        ctx.notify(notify::ZSET, if flags.incr { "zincr" } else { "zadd" }, key);
    }
    if deleted {
        ctx.notify(notify::GENERIC, "del", key);
    }
    if let Some(e) = failure {
        return Err(e);
    }
    Ok(match (flags.incr, last) {
        (true, Some(score)) => Reply::Double(score),
        (true, None) => Reply::Nil,
        (false, _) => Reply::Int(if flags.ch { added + updated } else { added }),
    })
}

/// ZINCRBY key increment member
pub fn zincrby(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    zadd_generic(ctx, args, true)
}

/// ZREM key member [member ...]
pub fn zrem(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let key = args.get(1);
    let hash = KeyHash::of(key);
    let mut shard = ctx.db().lock(hash);
    let Some(mut zset) = get_mut::<ZSet>(&mut shard, hash, key, ctx.now_ms, ctx.touches())? else {
        return Ok(Reply::Int(0));
    };
    let removed = args.iter().skip(2).filter(|m| zset.remove(m)).count();
    let deleted = drop_if_empty(&mut shard, hash, key, ctx.now_ms);
    drop(shard);
    notify_removal(ctx, "zrem", key, removed > 0, deleted);
    Ok(Reply::from(removed))
}

/// Reports a removal of members (`event` when any went) and the key's deletion when it emptied.
fn notify_removal(ctx: &Ctx, event: &str, key: &[u8], removed: bool, deleted: bool) {
    if removed {
        ctx.notify(notify::ZSET, event, key);
    }
    if deleted {
        ctx.notify(notify::GENERIC, "del", key);
    }
}

/// ZCARD key
pub fn zcard(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    read(ctx, args.get(1), |z| Reply::from(z.map_or(0, |z| z.len())))
}

/// ZSCORE key member
pub fn zscore(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    read(ctx, args.get(1), |z| z.and_then(|z| z.score(args.get(2))).map_or(Reply::Nil, Reply::Double))
}

/// ZMSCORE key member [member ...]
pub fn zmscore(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    read(ctx, args.get(1), |z| {
        Reply::Array(args.iter().skip(2).map(|m| z.as_ref().and_then(|z| z.score(m)).map_or(Reply::Nil, Reply::Double)).collect())
    })
}

fn rank_generic(ctx: &mut Ctx, args: Args, rev: bool, name: &str) -> Result<Reply, CmdError> {
    let with_score = match args.len() {
        3 => false,
        4 if args.get(3).eq_ignore_ascii_case(b"WITHSCORE") => true,
        4 => return Err(CmdError::Syntax),
        _ => return Err(CmdError::WrongArity(name.to_owned())),
    };
    let missing = if with_score { Reply::NilArray } else { Reply::Nil };
    read(ctx, args.get(1), |z| {
        let Some(z) = z else {
            return missing;
        };
        let len = z.len();
        match z.rank(args.get(2)) {
            None => missing,
            Some((rank, score)) => {
                let rank = Reply::from(if rev { len - 1 - rank } else { rank });
                if with_score {
                    Reply::Array(vec![rank, Reply::Double(score)])
                } else {
                    rank
                }
            }
        }
    })
}

/// ZRANK key member [WITHSCORE]
///
/// # Returns
/// The 0-based rank, or nil; with WITHSCORE, `[rank, score]` (Redis 7.2's form).
pub fn zrank(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    rank_generic(ctx, args, false, "zrank")
}

/// ZREVRANK key member [WITHSCORE]
pub fn zrevrank(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    rank_generic(ctx, args, true, "zrevrank")
}

/// One end of a score range: `1.5`, `(1.5`, `-inf`, `+inf`.
#[derive(Clone, Copy, Debug, PartialEq)]
struct ScoreBound {
    value: f64,
    exclusive: bool,
}

fn parse_score_bound(arg: &[u8]) -> Option<ScoreBound> {
    match arg.split_first() {
        Some((b'(', rest)) => parse_bound_number(rest).map(|value| ScoreBound { value, exclusive: true }),
        _ => parse_bound_number(arg).map(|value| ScoreBound { value, exclusive: false }),
    }
}

/// One end of a lex range: `[a`, `(a`, `-`, `+`.
#[derive(Clone, Debug, PartialEq)]
enum LexBound<'a> {
    Min,
    Max,
    Inclusive(&'a [u8]),
    Exclusive(&'a [u8]),
}

fn parse_lex_bound(arg: &[u8]) -> Option<LexBound<'_>> {
    match arg.split_first() {
        Some((b'-', [])) => Some(LexBound::Min),
        Some((b'+', [])) => Some(LexBound::Max),
        Some((b'[', rest)) => Some(LexBound::Inclusive(rest)),
        Some((b'(', rest)) => Some(LexBound::Exclusive(rest)),
        _ => None,
    }
}

/// A range selection of ZRANGE and friends.
#[derive(Clone, Debug, PartialEq)]
enum Range<'a> {
    Rank(i64, i64),
    Score(ScoreBound, ScoreBound),
    Lex(LexBound<'a>, LexBound<'a>),
}

const SCORE_ERROR: &str = "min or max is not a float";
const LEX_ERROR: &str = "min or max not valid string range item";

fn parse_score_range(min: &[u8], max: &[u8]) -> Result<Range<'static>, CmdError> {
    match (parse_score_bound(min), parse_score_bound(max)) {
        (Some(min), Some(max)) => Ok(Range::Score(min, max)),
        _ => Err(CmdError::err(SCORE_ERROR)),
    }
}

fn parse_lex_range<'a>(min: &'a [u8], max: &'a [u8]) -> Result<Range<'a>, CmdError> {
    match (parse_lex_bound(min), parse_lex_bound(max)) {
        (Some(min), Some(max)) => Ok(Range::Lex(min, max)),
        _ => Err(CmdError::err(LEX_ERROR)),
    }
}

/// The ascending ranks `start..end` a score or lex range selects.
fn rank_bounds(zset: &ZSet, range: &Range) -> (usize, usize) {
    match range {
        Range::Score(min, max) => {
            let start = zset.count_before(|s, _| s < min.value || (min.exclusive && s <= min.value));
            let end = zset.count_before(|s, _| s < max.value || (!max.exclusive && s <= max.value));
            (start, end.max(start))
        }
        Range::Lex(min, max) => {
            let start = zset.count_before(|_, m| match min {
                LexBound::Min => false,
                LexBound::Max => true,
                LexBound::Inclusive(b) => m < *b,
                LexBound::Exclusive(b) => m <= *b,
            });
            let end = zset.count_before(|_, m| match max {
                LexBound::Min => false,
                LexBound::Max => true,
                LexBound::Inclusive(b) => m <= *b,
                LexBound::Exclusive(b) => m < *b,
            });
            (start, end.max(start))
        }
        Range::Rank(start, stop) => index_range(*start, *stop, zset.len()).map_or((0, 0), |(a, b)| (a, b + 1)),
    }
}

/// What ZRANGE and its forms were asked.
#[derive(Debug, PartialEq)]
struct RangeQuery<'a> {
    range: Range<'a>,
    rev: bool,
    /// (offset, count); a negative count means all.
    limit: Option<(i64, i64)>,
    with_scores: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Auto,
    Rank,
    Score,
    Lex,
}

/// Parses `min max [BYSCORE | BYLEX] [REV] [LIMIT offset count] [WITHSCORES]` from argument
/// `start` on, the way Redis's `zrangeGenericCommand` does for every range command: legacy forms
/// fix the kind and direction up front, so BYSCORE/BYLEX/REV are syntax errors there.
fn parse_range_query(args: Args<'_>, start: usize, store: bool, kind: Kind, rev: Option<bool>) -> Result<RangeQuery<'_>, CmdError> {
    let (mut kind, mut direction) = (kind, rev);
    let (mut limit, mut with_scores) = (None, false);
    let mut j = start + 2;
    while j < args.len() {
        let word = args.get(j);
        let left = args.len() - j - 1;
        if !store && word.eq_ignore_ascii_case(b"WITHSCORES") {
            with_scores = true;
        } else if word.eq_ignore_ascii_case(b"LIMIT") && left >= 2 {
            limit = Some((parse_int(args.get(j + 1))?, parse_int(args.get(j + 2))?));
            j += 2;
        } else if direction.is_none() && word.eq_ignore_ascii_case(b"REV") {
            direction = Some(true);
        } else if kind == Kind::Auto && word.eq_ignore_ascii_case(b"BYLEX") {
            kind = Kind::Lex;
        } else if kind == Kind::Auto && word.eq_ignore_ascii_case(b"BYSCORE") {
            kind = Kind::Score;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    let rev = direction.unwrap_or(false);
    let kind = if kind == Kind::Auto { Kind::Rank } else { kind };
    if limit.is_some_and(|(_, count)| count != -1) && kind == Kind::Rank {
        return Err(CmdError::err("syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"));
    }
    if with_scores && kind == Kind::Lex {
        return Err(CmdError::err("syntax error, WITHSCORES not supported in combination with BYLEX"));
    }
    let (mut min, mut max) = (args.get(start), args.get(start + 1));
    if rev && kind != Kind::Rank {
        std::mem::swap(&mut min, &mut max);
    }
    let range = match kind {
        Kind::Score => parse_score_range(min, max)?,
        Kind::Lex => parse_lex_range(min, max)?,
        _ => Range::Rank(parse_int(min)?, parse_int(max)?),
    };
    Ok(RangeQuery { range, rev, limit, with_scores })
}

/// The elements a query selects, in reply order.
fn run_query<'z>(zset: &'z ZSet, query: &RangeQuery) -> Vec<(&'z [u8], f64)> {
    let len = zset.len();
    if let Range::Rank(start, stop) = query.range {
        if !query.rev {
            return index_range(start, stop, len).map_or(Vec::new(), |(a, b)| zset.range(a, b + 1));
        }
        // Reverse ranks count from the last element.
        return index_range(start, stop, len).map_or(Vec::new(), |(a, b)| zset.range_rev(len - 1 - b, len - a));
    }
    let (start, end) = rank_bounds(zset, &query.range);
    let (offset, count) = query.limit.unwrap_or((0, -1));
    if offset < 0 {
        return Vec::new();
    }
    let available = end - start;
    let offset = (offset as u64).min(available as u64) as usize;
    let take = if count < 0 { available - offset } else { (count as u64).min((available - offset) as u64) as usize };
    if query.rev {
        zset.range_rev(end - offset - take, end - offset)
    } else {
        zset.range(start + offset, start + offset + take)
    }
}

fn range_generic(ctx: &mut Ctx, args: Args, kind: Kind, rev: Option<bool>) -> Result<Reply, CmdError> {
    let query = parse_range_query(args, 2, false, kind, rev)?;
    let resp3 = resp3(ctx);
    read(ctx, args.get(1), |z| match z {
        None => Reply::Array(Vec::new()),
        Some(z) => scored_reply(run_query(z, &query), query.with_scores, resp3),
    })
}

/// ZRANGE key start stop [BYSCORE | BYLEX] [REV] [LIMIT offset count] [WITHSCORES]
pub fn zrange(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    range_generic(ctx, args, Kind::Auto, None)
}

/// ZREVRANGE key start stop [WITHSCORES]
pub fn zrevrange(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    range_generic(ctx, args, Kind::Rank, Some(true))
}

/// ZRANGEBYSCORE key min max [WITHSCORES] [LIMIT offset count]
pub fn zrangebyscore(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    range_generic(ctx, args, Kind::Score, Some(false))
}

/// ZREVRANGEBYSCORE key max min [WITHSCORES] [LIMIT offset count]
pub fn zrevrangebyscore(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    range_generic(ctx, args, Kind::Score, Some(true))
}

/// ZRANGEBYLEX key min max [LIMIT offset count]
pub fn zrangebylex(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    range_generic(ctx, args, Kind::Lex, Some(false))
}

/// ZREVRANGEBYLEX key max min [LIMIT offset count]
pub fn zrevrangebylex(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    range_generic(ctx, args, Kind::Lex, Some(true))
}

/// Replaces `key` with `zset` (deleting it when empty); returns the size stored and the event to
/// report: `event` when something was stored, `del` when an existing key was deleted.
pub(super) fn store(
    shard: &mut Shard,
    hash: KeyHash,
    key: &[u8],
    zset: ZSet,
    now_ms: u64,
    event: &'static str,
) -> (usize, Option<&'static str>) {
    let len = zset.len();
    if len == 0 {
        (0, shard.remove(hash, key, now_ms).map(|_| "del"))
    } else {
        shard.set(hash, key, zset.into_value(), None, now_ms);
        (len, Some(event))
    }
}

/// Reports what [`store`] did.
pub(super) fn notify_store(ctx: &Ctx, key: &[u8], event: Option<&'static str>) {
    match event {
        Some("del") => ctx.notify(notify::GENERIC, "del", key),
        Some(event) => ctx.notify(notify::ZSET, event, key),
        None => {}
    }
}

/// ZRANGESTORE dst src min max [BYSCORE | BYLEX] [REV] [LIMIT offset count]
pub fn zrangestore(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let query = parse_range_query(args, 3, true, Kind::Auto, None)?;
    let (dst, src) = (args.get(1), args.get(2));
    let db = ctx.session.db;
    let (hd, hs) = (KeyHash::of(dst), KeyHash::of(src));
    let limits = limits(ctx);
    let now = ctx.now_ms;
    let touch = ctx.touches();
    let mut locked = ctx.shared.keyspace.lock_keys([(db, hd), (db, hs)]);
    let mut result = ZSet::new();
    if let Some(z) = get::<ZSet>(locked.shard(db, hs), hs, src, now, touch)? {
        for (member, score) in run_query(z, &query) {
            result.insert(member, score, &limits);
        }
    }
    let (len, event) = store(locked.shard(db, hd), hd, dst, result, now, "zrangestore");
    drop(locked);
    notify_store(ctx, dst, event);
    Ok(Reply::from(len))
}

fn count_generic(ctx: &mut Ctx, args: Args, lex: bool) -> Result<Reply, CmdError> {
    let range = if lex { parse_lex_range(args.get(2), args.get(3))? } else { parse_score_range(args.get(2), args.get(3))? };
    read(ctx, args.get(1), |z| {
        Reply::from(z.map_or(0, |z| {
            let (start, end) = rank_bounds(z, &range);
            end - start
        }))
    })
}

/// ZCOUNT key min max
pub fn zcount(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    count_generic(ctx, args, false)
}

/// ZLEXCOUNT key min max
pub fn zlexcount(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    count_generic(ctx, args, true)
}

fn remrange_generic(ctx: &mut Ctx, args: Args, range: Range, event: &str) -> Result<Reply, CmdError> {
    let key = args.get(1);
    let hash = KeyHash::of(key);
    let mut shard = ctx.db().lock(hash);
    let Some(mut zset) = get_mut::<ZSet>(&mut shard, hash, key, ctx.now_ms, ctx.touches())? else {
        return Ok(Reply::Int(0));
    };
    let (start, end) = rank_bounds(&zset, &range);
    let removed = zset.remove_range(start, end);
    let deleted = drop_if_empty(&mut shard, hash, key, ctx.now_ms);
    drop(shard);
    notify_removal(ctx, event, key, removed > 0, deleted);
    Ok(Reply::from(removed))
}

/// ZREMRANGEBYRANK key start stop
pub fn zremrangebyrank(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let range = Range::Rank(parse_int(args.get(2))?, parse_int(args.get(3))?);
    remrange_generic(ctx, args, range, "zremrangebyrank")
}

/// ZREMRANGEBYSCORE key min max
pub fn zremrangebyscore(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let range = parse_score_range(args.get(2), args.get(3))?;
    remrange_generic(ctx, args, range, "zremrangebyscore")
}

/// ZREMRANGEBYLEX key min max
pub fn zremrangebylex(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let range = parse_lex_range(args.get(2), args.get(3))?;
    remrange_generic(ctx, args, range, "zremrangebylex")
}

fn pop_event(max: bool) -> &'static str {
    if max {
        "zpopmax"
    } else {
        "zpopmin"
    }
}

/// Removes up to `count` elements from the low (`max == false`) or high end.
fn pop_elements(zset: &mut Tracked<ZSet>, count: usize, max: bool) -> Vec<(Vec<u8>, f64)> {
    let len = zset.len();
    let take = count.min(len);
    let (start, end) = if max { (len - take, len) } else { (0, take) };
    let items: Vec<(Vec<u8>, f64)> =
        if max { zset.range_rev(start, end) } else { zset.range(start, end) }.into_iter().map(|(m, s)| (m.to_vec(), s)).collect();
    zset.remove_range(start, end);
    items
}

fn pop_generic(ctx: &mut Ctx, args: Args, max: bool) -> Result<Reply, CmdError> {
    if args.len() > 3 {
        return Err(CmdError::Syntax);
    }
    let count = if args.len() == 3 { Some(positive_count(args.get(2))?) } else { None };
    let resp3 = resp3(ctx);
    let key = args.get(1);
    let hash = KeyHash::of(key);
    let mut shard = ctx.db().lock(hash);
    let Some(mut zset) = get_mut::<ZSet>(&mut shard, hash, key, ctx.now_ms, ctx.touches())? else {
        return Ok(Reply::Array(Vec::new()));
    };
    let items = pop_elements(&mut zset, count.unwrap_or(1), max);
    let deleted = drop_if_empty(&mut shard, hash, key, ctx.now_ms);
    drop(shard);
    notify_removal(ctx, pop_event(max), key, !items.is_empty(), deleted);
    // Without a count RESP3 still answers one flat [member, score].
    Ok(scored_reply(items, true, resp3 && count.is_some()))
}

/// Pops the lowest (or highest) member of the sorted set at `key`: `[key, member, score]`, or
/// `None` when there is no sorted set there (BZPOPMIN/BZPOPMAX).
pub fn pop_keyed(ctx: &mut Ctx, key: &[u8], max: bool) -> Result<Option<Reply>, CmdError> {
    let hash = KeyHash::of(key);
    let mut shard = ctx.db().lock(hash);
    let Some(mut zset) = get_mut::<ZSet>(&mut shard, hash, key, ctx.now_ms, ctx.touches())? else {
        return Ok(None);
    };
    let Some((member, score)) = pop_elements(&mut zset, 1, max).into_iter().next() else {
        return Ok(None);
    };
    let deleted = drop_if_empty(&mut shard, hash, key, ctx.now_ms);
    drop(shard);
    notify_removal(ctx, pop_event(max), key, true, deleted);
    Ok(Some(Reply::Array(vec![Reply::bulk(key), Reply::bulk(&member), Reply::Double(score)])))
}

/// ZPOPMIN key [count]
pub fn zpopmin(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    pop_generic(ctx, args, false)
}

/// ZPOPMAX key [count]
pub fn zpopmax(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    pop_generic(ctx, args, true)
}

/// ZMPOP numkeys key [key ...] MIN|MAX [COUNT count]
///
/// # Returns
/// `[key, [[member, score], ...]]` for the first non-empty sorted set, or a nil array.
pub fn zmpop(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let (keys, next) = parse_numkeys(args, 1)?;
    let mut cursor = ArgCursor::new(args, next);
    let max = match cursor.next_bytes()? {
        w if w.eq_ignore_ascii_case(b"MIN") => false,
        w if w.eq_ignore_ascii_case(b"MAX") => true,
        _ => return Err(CmdError::Syntax),
    };
    let count = parse_mpop_count(&mut cursor)?;
    let db = ctx.session.db;
    let now = ctx.now_ms;
    let touch = ctx.touches();
    let hashes: Vec<KeyHash> = keys.iter().map(|k| KeyHash::of(k)).collect();
    let mut locked = ctx.shared.keyspace.lock_keys(hashes.iter().map(|h| (db, *h)));
    for (key, hash) in keys.iter().zip(&hashes) {
        let shard = locked.shard(db, *hash);
        let Some(mut zset) = get_mut::<ZSet>(shard, *hash, key, now, touch)? else {
            continue;
        };
        let items = pop_elements(&mut zset, count, max);
        let deleted = drop_if_empty(shard, *hash, key, now);
        drop(locked);
        notify_removal(ctx, pop_event(max), key, !items.is_empty(), deleted);
        return Ok(Reply::Array(vec![Reply::bulk(key), scored_reply(items, true, true)]));
    }
    Ok(Reply::NilArray)
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

impl Aggregate {
    fn apply(self, acc: f64, value: f64) -> f64 {
        match self {
            Aggregate::Sum => {
                let sum = acc + value;
                // inf + -inf: Redis settles on 0.
                if sum.is_nan() {
                    0.0
                } else {
                    sum
                }
            }
            Aggregate::Min => acc.min(value),
            Aggregate::Max => acc.max(value),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum SetOp {
    Union,
    Inter,
    Diff,
}

impl SetOp {
    fn name(self, store: bool) -> &'static str {
        match (self, store) {
            (SetOp::Union, false) => "zunion",
            (SetOp::Union, true) => "zunionstore",
            (SetOp::Inter, false) => "zinter",
            (SetOp::Inter, true) => "zinterstore",
            (SetOp::Diff, false) => "zdiff",
            (SetOp::Diff, true) => "zdiffstore",
        }
    }
}

/// A source of ZUNION/ZINTER/ZDIFF: a sorted set, or a plain set whose members score 1.
enum Source<'a> {
    Sorted(&'a ZSet),
    Plain(&'a Set),
}

impl Source<'_> {
    fn len(&self) -> usize {
        match self {
            Source::Sorted(z) => z.len(),
            Source::Plain(s) => s.len(),
        }
    }

    fn score(&self, member: &[u8]) -> Option<f64> {
        match self {
            Source::Sorted(z) => z.score(member),
            Source::Plain(s) => s.contains(member).then_some(1.0),
        }
    }

    fn items(&self) -> Vec<(Vec<u8>, f64)> {
        match self {
            Source::Sorted(z) => z.range(0, z.len()).into_iter().map(|(m, s)| (m.to_vec(), s)).collect(),
            Source::Plain(s) => s.iter().map(|m| (m.into_owned(), 1.0)).collect(),
        }
    }
}

fn source<'a>(shard: &'a mut Shard, hash: KeyHash, key: &[u8], now_ms: u64, touch: bool) -> Result<Option<Source<'a>>, CmdError> {
    let entry = if touch { shard.touch(hash, key, now_ms) } else { shard.get(hash, key, now_ms) };
    match entry.map(|e| e.value()) {
        None => Ok(None),
        Some(Value::ZSet(z)) => Ok(Some(Source::Sorted(z))),
        Some(Value::Set(s)) => Ok(Some(Source::Plain(s))),
        Some(_) => Err(CmdError::WrongType),
    }
}

/// Weight × score, where inf × 0 counts as 0 as in Redis.
fn weighted(score: f64, weight: f64) -> f64 {
    let value = score * weight;
    if value.is_nan() {
        0.0
    } else {
        value
    }
}

/// Parsed ZUNION/ZINTER/ZDIFF(STORE) arguments.
struct SetOpArgs<'a> {
    keys: Vec<&'a [u8]>,
    weights: Vec<f64>,
    aggregate: Aggregate,
    with_scores: bool,
}

/// `numkeys key [key ...]` from argument `start` on.
fn parse_setop_keys<'a>(args: Args<'a>, start: usize, name: &str) -> Result<Vec<&'a [u8]>, CmdError> {
    let numkeys = parse_int(args.get(start))?;
    if numkeys < 1 {
        return Err(CmdError::err(format!("at least 1 input key is needed for '{name}' command")));
    }
    let numkeys = numkeys as usize;
    if numkeys > args.len() - start - 1 {
        return Err(CmdError::Syntax);
    }
    Ok((start + 1..start + 1 + numkeys).map(|i| args.get(i)).collect())
}

/// Type-checks every source under the locks: Redis does this before it parses the options, so a
/// wrong type wins over a syntax error.
fn check_sources(locked: &mut LockedShards, db: usize, now: u64, touch: bool, keys: &[&[u8]]) -> Result<(), CmdError> {
    for key in keys {
        let hash = KeyHash::of(key);
        source(locked.shard(db, hash), hash, key, now, touch)?;
    }
    Ok(())
}

/// The options after the keys (`keys` as returned by [`parse_setop_keys`] at `start`).
fn parse_setop_options<'a>(args: Args<'a>, start: usize, keys: Vec<&'a [u8]>, op: SetOp, store: bool) -> Result<SetOpArgs<'a>, CmdError> {
    let numkeys = keys.len();
    let mut parsed = SetOpArgs { keys, weights: vec![1.0; numkeys], aggregate: Aggregate::Sum, with_scores: false };
    let mut j = start + 1 + numkeys;
    while j < args.len() {
        let word = args.get(j);
        let left = args.len() - j - 1;
        if op != SetOp::Diff && word.eq_ignore_ascii_case(b"WEIGHTS") && left >= numkeys {
            for i in 0..numkeys {
                parsed.weights[i] = parse_score(args.get(j + 1 + i)).ok_or_else(|| CmdError::err("weight value is not a float"))?;
            }
            j += numkeys;
        } else if op != SetOp::Diff && word.eq_ignore_ascii_case(b"AGGREGATE") && left >= 1 {
            let which = args.get(j + 1);
            parsed.aggregate = if which.eq_ignore_ascii_case(b"SUM") {
                Aggregate::Sum
            } else if which.eq_ignore_ascii_case(b"MIN") {
                Aggregate::Min
            } else if which.eq_ignore_ascii_case(b"MAX") {
                Aggregate::Max
            } else {
                return Err(CmdError::Syntax);
            };
            j += 1;
        } else if !store && word.eq_ignore_ascii_case(b"WITHSCORES") {
            parsed.with_scores = true;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    Ok(parsed)
}

/// Computes the operation over the locked sources; the result is sorted by (score, member).
fn compute_setop(
    locked: &mut LockedShards,
    db: usize,
    now: u64,
    touch: bool,
    parsed: &SetOpArgs,
    op: SetOp,
    limit: usize,
) -> Result<Vec<(Vec<u8>, f64)>, CmdError> {
    let hashes: Vec<KeyHash> = parsed.keys.iter().map(|k| KeyHash::of(k)).collect();
    let mut lens = Vec::with_capacity(hashes.len());
    for (key, hash) in parsed.keys.iter().zip(&hashes) {
        lens.push(source(locked.shard(db, *hash), *hash, key, now, touch)?.map_or(0, |s| s.len()));
    }
    let mut order: Vec<usize> = (0..parsed.keys.len()).collect();
    let mut result: Vec<(Vec<u8>, f64)> = Vec::new();
    match op {
        SetOp::Inter => {
            if lens.contains(&0) {
                return Ok(result);
            }
            order.sort_by_key(|i| lens[*i]);
            let first = order[0];
            if let Some(src) = source(locked.shard(db, hashes[first]), hashes[first], parsed.keys[first], now, touch)? {
                result = src.items().into_iter().map(|(m, s)| (m, weighted(s, parsed.weights[first]))).collect();
            }
            for &i in &order[1..] {
                let Some(src) = source(locked.shard(db, hashes[i]), hashes[i], parsed.keys[i], now, touch)? else {
                    return Ok(Vec::new());
                };
                result.retain_mut(|(member, acc)| match src.score(member) {
                    Some(score) => {
                        *acc = parsed.aggregate.apply(*acc, weighted(score, parsed.weights[i]));
                        true
                    }
                    None => false,
                });
                if result.is_empty() {
                    break;
                }
            }
            if limit > 0 {
                result.truncate(limit);
            }
        }
        SetOp::Union => {
            let mut index: hashbrown::HashMap<Vec<u8>, usize> = hashbrown::HashMap::new();
            for (i, key) in parsed.keys.iter().enumerate() {
                let Some(src) = source(locked.shard(db, hashes[i]), hashes[i], key, now, touch)? else {
                    continue;
                };
                for (member, score) in src.items() {
                    let value = weighted(score, parsed.weights[i]);
                    match index.get(&member) {
                        Some(&at) => result[at].1 = parsed.aggregate.apply(result[at].1, value),
                        None => {
                            index.insert(member.clone(), result.len());
                            result.push((member, value));
                        }
                    }
                }
            }
        }
        SetOp::Diff => {
            if lens[0] == 0 {
                return Ok(result);
            }
            if let Some(src) = source(locked.shard(db, hashes[0]), hashes[0], parsed.keys[0], now, touch)? {
                result = src.items();
            }
            for (key, hash) in parsed.keys.iter().zip(&hashes).skip(1) {
                if result.is_empty() {
                    break;
                }
                if let Some(src) = source(locked.shard(db, *hash), *hash, key, now, touch)? {
                    result.retain(|(member, _)| src.score(member).is_none());
                }
            }
        }
    }
    for item in &mut result {
        item.1 = normalise(item.1);
    }
    result.sort_by(|a, b| if sorts_before(a.1, &a.0, b.1, &b.0) { std::cmp::Ordering::Less } else { std::cmp::Ordering::Greater });
    Ok(result)
}

fn setop_reply(ctx: &mut Ctx, args: Args, op: SetOp) -> Result<Reply, CmdError> {
    let keys = parse_setop_keys(args, 1, op.name(false))?;
    let db = ctx.session.db;
    let now = ctx.now_ms;
    let touch = ctx.touches();
    let resp3 = resp3(ctx);
    let mut locked = ctx.shared.keyspace.lock_keys(keys.iter().map(|k| (db, KeyHash::of(k))));
    check_sources(&mut locked, db, now, touch, &keys)?;
    let parsed = parse_setop_options(args, 1, keys, op, false)?;
    let result = compute_setop(&mut locked, db, now, touch, &parsed, op, 0)?;
    Ok(scored_reply(result, parsed.with_scores, resp3))
}

fn setop_store(ctx: &mut Ctx, args: Args, op: SetOp) -> Result<Reply, CmdError> {
    let keys = parse_setop_keys(args, 2, op.name(true))?;
    let dst = args.get(1);
    let db = ctx.session.db;
    let now = ctx.now_ms;
    let touch = ctx.touches();
    let limits = limits(ctx);
    let hd = KeyHash::of(dst);
    let mut locked = ctx.shared.keyspace.lock_keys(keys.iter().map(|k| (db, KeyHash::of(k))).chain([(db, hd)]));
    check_sources(&mut locked, db, now, touch, &keys)?;
    let parsed = parse_setop_options(args, 2, keys, op, true)?;
    let result = compute_setop(&mut locked, db, now, touch, &parsed, op, 0)?;
    let mut zset = ZSet::new();
    for (member, score) in &result {
        zset.insert(member, *score, &limits);
    }
    let (len, event) = store(locked.shard(db, hd), hd, dst, zset, now, op.name(true));
    drop(locked);
    notify_store(ctx, dst, event);
    Ok(Reply::from(len))
}

/// The keys of ZUNIONSTORE/ZINTERSTORE/ZDIFFSTORE: the destination, then `numkeys` sources.
pub fn store_keys(args: Args) -> Vec<usize> {
    let sources = super::lists::numkeys_positions(args, 2);
    if sources.is_empty() {
        return Vec::new();
    }
    std::iter::once(1).chain(sources).collect()
}

/// ZUNION numkeys key [key ...] [WEIGHTS weight [weight ...]] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]
pub fn zunion(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    setop_reply(ctx, args, SetOp::Union)
}

/// ZINTER numkeys key [key ...] [WEIGHTS weight [weight ...]] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]
pub fn zinter(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    setop_reply(ctx, args, SetOp::Inter)
}

/// ZDIFF numkeys key [key ...] [WITHSCORES]
pub fn zdiff(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    setop_reply(ctx, args, SetOp::Diff)
}

/// ZUNIONSTORE destination numkeys key [key ...] [WEIGHTS ...] [AGGREGATE SUM|MIN|MAX]
pub fn zunionstore(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    setop_store(ctx, args, SetOp::Union)
}

/// ZINTERSTORE destination numkeys key [key ...] [WEIGHTS ...] [AGGREGATE SUM|MIN|MAX]
pub fn zinterstore(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    setop_store(ctx, args, SetOp::Inter)
}

/// ZDIFFSTORE destination numkeys key [key ...]
pub fn zdiffstore(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    setop_store(ctx, args, SetOp::Diff)
}

/// ZINTERCARD numkeys key [key ...] [LIMIT limit]
pub fn zintercard(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let keys = parse_setop_keys(args, 1, "zintercard")?;
    let db = ctx.session.db;
    let now = ctx.now_ms;
    let touch = ctx.touches();
    let mut locked = ctx.shared.keyspace.lock_keys(keys.iter().map(|k| (db, KeyHash::of(k))));
    check_sources(&mut locked, db, now, touch, &keys)?;
    let mut cursor = ArgCursor::new(args, 2 + keys.len());
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
    let parsed = SetOpArgs { weights: vec![1.0; keys.len()], keys, aggregate: Aggregate::Sum, with_scores: false };
    Ok(Reply::from(compute_setop(&mut locked, db, now, touch, &parsed, SetOp::Inter, limit)?.len()))
}

/// ZRANDMEMBER key [count [WITHSCORES]]
pub fn zrandmember(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    if args.len() > 4 {
        return Err(CmdError::Syntax);
    }
    let count = if args.len() >= 3 { Some(parse_random_count(args.get(2))?) } else { None };
    let with_scores = match args.len() {
        4 if args.get(3).eq_ignore_ascii_case(b"WITHSCORES") => true,
        4 => return Err(CmdError::Syntax),
        _ => false,
    };
    check_repeats(ctx, count, with_scores)?;
    let resp3 = resp3(ctx);
    read(ctx, args.get(1), |z| {
        let Some(count) = count else {
            return z.and_then(|z| z.get_index(rand::random_range(0..z.len().max(1))).map(|(m, _)| Reply::bulk(m))).unwrap_or(Reply::Nil);
        };
        let Some(z) = z else {
            return Reply::Array(Vec::new());
        };
        let picks = random_positions(z.len(), count.unsigned_abs().min(usize::MAX as u64) as usize, count >= 0);
        // Positions in the packed encoding cost a walk each: index its entries once instead.
        let packed = matches!(z, ZSet::Pack(_)).then(|| z.range(0, z.len()));
        let pick = |i: usize| match &packed {
            Some(entries) => entries.get(i).copied(),
            None => z.get_index(i),
        };
        scored_reply(picks.into_iter().filter_map(pick), with_scores, resp3)
    })
}

/// ZSCAN key cursor [MATCH pattern] [COUNT count]: scores as bulk strings in both protocols.
pub fn zscan(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let cursor = parse_cursor(args.get(2))?;
    // As in Redis, options are only parsed once the key is found to be a sorted set.
    read(ctx, args.get(1), |z| {
        let Some(z) = z else {
            return Ok(empty_scan());
        };
        let options = parse_scan_options(args, 3)?;
        let (next, pairs) = z.scan(cursor, options.count);
        let items = pairs
            .into_iter()
            .filter(|(m, _)| options.keeps(m))
            .flat_map(|(m, s)| [Reply::bulk(m), Reply::bulk_string(format_double(s))])
            .collect();
        Ok(scan_reply(next, items))
    })?
}

// The command table of this family, joined by `commands::registry`. Its imports stay here, beside
// the rows, so that the family's table and its handlers change independently.

use super::acl;
use super::flags::{DENYOOM, FAST, READONLY, WRITE};
use super::table::Command;

/// The sorted-set commands, in the order COMMAND lists them.
pub(super) static COMMANDS: &[Command] = &[
    Command::new("zadd", -4, zadd).flags(WRITE | DENYOOM | FAST).keys(1, 1, 1).acl(acl::SORTEDSET),
    Command::new("zincrby", 4, zincrby).flags(WRITE | DENYOOM | FAST).keys(1, 1, 1).acl(acl::SORTEDSET),
    Command::new("zrem", -3, zrem).flags(WRITE | FAST).keys(1, 1, 1).acl(acl::SORTEDSET),
    Command::new("zcard", 2, zcard).flags(READONLY | FAST).keys(1, 1, 1).acl(acl::SORTEDSET),
    Command::new("zscore", 3, zscore).flags(READONLY | FAST).keys(1, 1, 1).acl(acl::SORTEDSET),
    Command::new("zmscore", -3, zmscore).flags(READONLY | FAST).keys(1, 1, 1).acl(acl::SORTEDSET),
    Command::new("zrank", -3, zrank).flags(READONLY | FAST).keys(1, 1, 1).acl(acl::SORTEDSET),
    Command::new("zrevrank", -3, zrevrank).flags(READONLY | FAST).keys(1, 1, 1).acl(acl::SORTEDSET),
    Command::new("zrange", -4, zrange).flags(READONLY).keys(1, 1, 1).acl(acl::SORTEDSET),
    Command::new("zrangebyscore", -4, zrangebyscore).flags(READONLY).keys(1, 1, 1).acl(acl::SORTEDSET),
    Command::new("zrevrangebyscore", -4, zrevrangebyscore).flags(READONLY).keys(1, 1, 1).acl(acl::SORTEDSET),
    Command::new("zrangebylex", -4, zrangebylex).flags(READONLY).keys(1, 1, 1).acl(acl::SORTEDSET),
    Command::new("zrevrangebylex", -4, zrevrangebylex).flags(READONLY).keys(1, 1, 1).acl(acl::SORTEDSET),
    Command::new("zrevrange", -4, zrevrange).flags(READONLY).keys(1, 1, 1).acl(acl::SORTEDSET),
    Command::new("zrangestore", -5, zrangestore).flags(WRITE | DENYOOM).keys(1, 2, 1).acl(acl::SORTEDSET),
    Command::new("zcount", 4, zcount).flags(READONLY | FAST).keys(1, 1, 1).acl(acl::SORTEDSET),
    Command::new("zlexcount", 4, zlexcount).flags(READONLY | FAST).keys(1, 1, 1).acl(acl::SORTEDSET),
    Command::new("zpopmin", -2, zpopmin).flags(WRITE | FAST).keys(1, 1, 1).acl(acl::SORTEDSET),
    Command::new("zpopmax", -2, zpopmax).flags(WRITE | FAST).keys(1, 1, 1).acl(acl::SORTEDSET),
    Command::new("zmpop", -4, zmpop).flags(WRITE).acl(acl::SORTEDSET).movable_keys(super::lists::mpop_keys),
    Command::new("zremrangebyrank", 4, zremrangebyrank).flags(WRITE).keys(1, 1, 1).acl(acl::SORTEDSET),
    Command::new("zremrangebyscore", 4, zremrangebyscore).flags(WRITE).keys(1, 1, 1).acl(acl::SORTEDSET),
    Command::new("zremrangebylex", 4, zremrangebylex).flags(WRITE).keys(1, 1, 1).acl(acl::SORTEDSET),
    Command::new("zunion", -3, zunion).flags(READONLY).acl(acl::SORTEDSET).movable_keys(super::lists::mpop_keys),
    Command::new("zunionstore", -4, zunionstore).flags(WRITE | DENYOOM).keys(1, 1, 1).acl(acl::SORTEDSET).movable_keys(store_keys),
    Command::new("zinter", -3, zinter).flags(READONLY).acl(acl::SORTEDSET).movable_keys(super::lists::mpop_keys),
    Command::new("zinterstore", -4, zinterstore).flags(WRITE | DENYOOM).keys(1, 1, 1).acl(acl::SORTEDSET).movable_keys(store_keys),
    Command::new("zdiff", -3, zdiff).flags(READONLY).acl(acl::SORTEDSET).movable_keys(super::lists::mpop_keys),
    Command::new("zdiffstore", -4, zdiffstore).flags(WRITE | DENYOOM).keys(1, 1, 1).acl(acl::SORTEDSET).movable_keys(store_keys),
    Command::new("zintercard", -3, zintercard).flags(READONLY).acl(acl::SORTEDSET).movable_keys(super::lists::mpop_keys),
    Command::new("zrandmember", -2, zrandmember).flags(READONLY).keys(1, 1, 1).acl(acl::SORTEDSET),
    Command::new("zscan", -3, zscan).flags(READONLY).keys(1, 1, 1).acl(acl::SORTEDSET),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_parse_like_redis() {
        assert_eq!(parse_score_bound(b"(1.5"), Some(ScoreBound { value: 1.5, exclusive: true }));
        assert_eq!(parse_score_bound(b"-inf"), Some(ScoreBound { value: f64::NEG_INFINITY, exclusive: false }));
        assert_eq!(parse_score_bound(b"(x"), None);
        assert_eq!(parse_score_bound(b"("), Some(ScoreBound { value: 0.0, exclusive: true }));
        assert_eq!(parse_score_bound(b" 2"), Some(ScoreBound { value: 2.0, exclusive: false }));
        assert_eq!(parse_score(b"1e400"), None);
        assert_eq!(parse_score(b"1e-400"), None);
        assert_eq!(parse_score(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_score(b"0e10"), Some(0.0));
        assert_eq!(parse_score(b"0x10"), Some(16.0));
        assert_eq!(parse_lex_bound(b"[a"), Some(LexBound::Inclusive(b"a")));
        assert_eq!(parse_lex_bound(b"-"), Some(LexBound::Min));
        assert_eq!(parse_lex_bound(b"-a"), None);
        assert_eq!(parse_lex_bound(b"a"), None);
    }

    #[test]
    fn ranges_select_ranks() {
        let limits = Limits::default();
        let mut z = ZSet::new();
        for (i, m) in ["a", "b", "c", "d", "e"].iter().enumerate() {
            z.insert(m.as_bytes(), (i + 1) as f64, &limits);
        }
        let score = |min: &str, max: &str| rank_bounds(&z, &parse_score_range(min.as_bytes(), max.as_bytes()).unwrap());
        assert_eq!(score("(1", "3"), (1, 3));
        assert_eq!(score("-inf", "+inf"), (0, 5));
        assert_eq!(score("4", "2"), (3, 3));
        let lex = |min: &'static str, max: &'static str| rank_bounds(&z, &parse_lex_range(min.as_bytes(), max.as_bytes()).unwrap());
        assert_eq!(lex("(a", "[c"), (1, 3));
        assert_eq!(lex("-", "+"), (0, 5));
        assert_eq!(lex("+", "-"), (5, 5));
        let query = RangeQuery { range: Range::Rank(0, 1), rev: true, limit: None, with_scores: false };
        assert_eq!(run_query(&z, &query).iter().map(|(m, _)| *m).collect::<Vec<_>>(), vec![&b"e"[..], b"d"]);
    }
}
