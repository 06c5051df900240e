//! Stream commands: XADD, XLEN, XRANGE/XREVRANGE, XDEL, XTRIM, XSETID, XREAD, the consumer-group
//! commands (XGROUP, XREADGROUP, XACK, XPENDING, XCLAIM, XAUTOCLAIM) and XINFO.
//!
//! Argument order, error texts and reply shapes follow Redis 7.0's `t_stream.c`: arguments are
//! checked in the order Redis checks them, so the first error reported is the same.

use std::time::Duration;

use bytes::Bytes;

use super::args::parse_int;
use super::collection::{get, get_mut, get_or_create};
use super::{BlockedOn, CmdError, Ctx};
use crate::engine::stream::{default_trim_limit, AddError, Fields, ParsedId, Trim, TrimStrategy};
use crate::engine::stream_group::Group;
use crate::engine::Limits;
use crate::engine::{KeyHash, Shard, Stream, StreamId, Tracked};
use crate::notify;
use crate::resp::{Args, Protocol, Reply};

const INVALID_ID: CmdError = CmdError::line("ERR Invalid stream ID specified as stream command argument");

/// An ID argument; `strict` refuses `-` and `+`.
fn id_arg(arg: &[u8], strict: bool, missing_seq: u64) -> Result<StreamId, CmdError> {
    match crate::engine::stream::parse_id(arg, strict, missing_seq, false) {
        Some(ParsedId::Id(id)) => Ok(id),
        _ => Err(INVALID_ID),
    }
}

/// A range bound (`streamParseIntervalIDOrReply`): `(` makes it exclusive, and then the rest must
/// be a strict ID. Returns the inclusive bound, or `None` when the bound excludes everything.
fn interval_start(arg: &[u8]) -> Result<StreamId, CmdError> {
    let (exclusive, id) = interval_id(arg, 0)?;
    if exclusive {
        return id.next().ok_or_else(|| CmdError::err("invalid start ID for the interval"));
    }
    Ok(id)
}

fn interval_end(arg: &[u8]) -> Result<StreamId, CmdError> {
    let (exclusive, id) = interval_id(arg, u64::MAX)?;
    if exclusive {
        return id.prev().ok_or_else(|| CmdError::err("invalid end ID for the interval"));
    }
    Ok(id)
}

fn interval_id(arg: &[u8], missing_seq: u64) -> Result<(bool, StreamId), CmdError> {
    if arg.len() > 1 && arg[0] == b'(' {
        Ok((true, id_arg(&arg[1..], true, missing_seq)?))
    } else {
        Ok((false, id_arg(arg, false, missing_seq)?))
    }
}

fn id_reply(id: StreamId) -> Reply {
    Reply::Bulk(id.to_bytes())
}

fn fields_reply(fields: &Fields) -> Reply {
    Reply::Array(fields.iter().map(Reply::Bulk).collect())
}

/// `[id, [field, value, ...]]`.
fn entry_reply(id: StreamId, fields: &Fields) -> Reply {
    Reply::Array(vec![id_reply(id), fields_reply(fields)])
}

fn entries_reply(entries: Vec<(StreamId, &Fields)>) -> Reply {
    Reply::Array(entries.into_iter().map(|(id, f)| entry_reply(id, f)).collect())
}

fn resp3(ctx: &Ctx) -> bool {
    ctx.session.protocol == Protocol::Resp3
}

/// A map in RESP3, a flat array in RESP2 (XINFO's replies).
fn map_reply(pairs: Vec<(&'static str, Reply)>) -> Reply {
    Reply::Map(pairs.into_iter().map(|(k, v)| (Reply::bulk(k.as_bytes()), v)).collect())
}

fn no_group(key: &[u8], group: &[u8]) -> CmdError {
    CmdError::Other(
        format!("NOGROUP No such key '{}' or consumer group '{}'", String::from_utf8_lossy(key), String::from_utf8_lossy(group)).into(),
    )
}

/// The stream at `key` for writing: its mutators record their changes.
fn stream_of<'a>(shard: &'a mut Shard, hash: KeyHash, key: &[u8], ctx: &Ctx) -> Result<Option<Tracked<'a, Stream>>, CmdError> {
    get_mut::<Stream>(shard, hash, key, ctx.now_ms, ctx.touches())
}

/// The stream at `key` for reading, counted as a read lookup (keyspace_hits/misses) as Redis's
/// `lookupKeyRead` counts it; lookups for writing are not counted.
fn read_stream<'a>(shard: &'a mut Shard, hash: KeyHash, key: &[u8], ctx: &mut Ctx) -> Result<Option<&'a Stream>, CmdError> {
    let found = get::<Stream>(shard, hash, key, ctx.now_ms, ctx.touches());
    ctx.record_lookup(!matches!(found, Ok(None)));
    found
}

/// Like [`read_stream`], for the commands that write but count their lookup as a read (XREADGROUP,
/// XACK, XCLAIM, XAUTOCLAIM).
fn read_stream_mut<'a>(shard: &'a mut Shard, hash: KeyHash, key: &[u8], ctx: &mut Ctx) -> Result<Option<Tracked<'a, Stream>>, CmdError> {
    let found = get_mut::<Stream>(shard, hash, key, ctx.now_ms, ctx.touches());
    ctx.record_lookup(!matches!(found, Ok(None)));
    found
}

/// Runs `f` on the stream at `key` (None when missing) and records the lookup as a read.
fn with_stream<R>(ctx: &mut Ctx, key: &[u8], f: impl FnOnce(Option<&Stream>, &Ctx) -> Result<R, CmdError>) -> Result<R, CmdError> {
    let hash = KeyHash::of(key);
    let mut shard = ctx.db().lock(hash);
    let stream = read_stream(&mut shard, hash, key, ctx)?;
    f(stream, ctx)
}

/// The options XADD and XTRIM share (`streamParseAddOrTrimArgsOrReply`).
#[derive(Debug, Default, PartialEq)]
struct AddTrimArgs {
    trim: Option<Trim>,
    no_mkstream: bool,
    /// XADD's ID; `None` for `*`.
    id: Option<ParsedId>,
    /// Where XADD's ID is (the fields follow it).
    id_pos: usize,
}

fn parse_add_trim(args: Args, xadd: bool, limits: &Limits) -> Result<AddTrimArgs, CmdError> {
    let mut out = AddTrimArgs::default();
    let mut strategy: Option<TrimStrategy> = None;
    let mut approx = false;
    let mut limit: i64 = 0;
    let mut limit_given = false;
    let mut i = 2;
    let argc = args.len();
    while i < argc {
        let more = argc - 1 - i;
        let opt = args.get(i);
        if xadd && opt == b"*" {
            break;
        } else if (opt.eq_ignore_ascii_case(b"maxlen") || opt.eq_ignore_ascii_case(b"minid")) && more > 0 {
            if strategy.is_some() {
                return Err(CmdError::err("syntax error, MAXLEN and MINID options at the same time are not compatible"));
            }
            approx = false;
            let next = args.get(i + 1);
            if more >= 2 && next == b"~" {
                approx = true;
                i += 1;
            } else if more >= 2 && next == b"=" {
                i += 1;
            }
            let value = args.get(i + 1);
            strategy = Some(if opt.eq_ignore_ascii_case(b"maxlen") {
                let n = parse_int(value)?;
                if n < 0 {
                    return Err(CmdError::err("The MAXLEN argument must be >= 0."));
                }
                TrimStrategy::MaxLen(n as u64)
            } else {
                TrimStrategy::MinId(id_arg(value, true, 0)?)
            });
            i += 1;
        } else if opt.eq_ignore_ascii_case(b"limit") && more > 0 {
            limit = parse_int(args.get(i + 1))?;
            if limit < 0 {
                return Err(CmdError::err("The LIMIT argument must be >= 0."));
            }
            limit_given = true;
            i += 1;
        } else if xadd && opt.eq_ignore_ascii_case(b"nomkstream") {
            out.no_mkstream = true;
        } else if xadd {
            out.id = Some(crate::engine::stream::parse_id(opt, true, 0, true).ok_or(INVALID_ID)?);
            break;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    out.id_pos = i;
    if limit != 0 && strategy.is_none() {
        return Err(CmdError::err("syntax error, LIMIT cannot be used without specifying a trimming strategy"));
    }
    if !xadd && strategy.is_none() {
        return Err(CmdError::err("syntax error, XTRIM must be called with a trimming strategy"));
    }
    if limit_given {
        if !approx {
            return Err(CmdError::err("syntax error, LIMIT cannot be used without the special ~ option"));
        }
    } else {
        limit = if approx { default_trim_limit(limits) as i64 } else { 0 };
    }
    out.trim = strategy.map(|strategy| Trim { strategy, approx, limit: limit as u64 });
    Ok(out)
}

/// XADD key [NOMKSTREAM] [MAXLEN | MINID [= | ~] threshold [LIMIT count]] * | id field value
/// [field value ...]
///
/// # Returns
/// The ID of the new entry, or nil with NOMKSTREAM when the key is missing.
pub fn xadd(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let limits = super::collection::limits(ctx);
    let parsed = parse_add_trim(args, true, &limits)?;
    let field_pos = parsed.id_pos + 1;
    let field_count = args.len().saturating_sub(field_pos);
    if field_count < 2 || field_count % 2 == 1 {
        return Err(CmdError::WrongArity("xadd".into()));
    }
    if parsed.id == Some(ParsedId::Id(StreamId::MIN)) {
        return Err(CmdError::err("The ID specified in XADD must be greater than 0-0"));
    }
    let fields: Fields = (field_pos..args.len()).map(|i| args.get(i)).collect();
    let key = args.get(1);
    let hash = KeyHash::of(key);
    let now_ms = ctx.now_ms;
    let touch = ctx.touches();
    let mut shard = ctx.db().lock(hash);
    if parsed.no_mkstream && get::<Stream>(&mut shard, hash, key, now_ms, touch)?.is_none() {
        return Ok(Reply::Nil);
    }
    let mut stream = get_or_create::<Stream>(&mut shard, hash, key, now_ms, touch)?;
    let id = match stream.next_id(parsed.id, now_ms) {
        Ok(id) => id,
        Err(AddError::Exhausted) => {
            return Err(CmdError::err("The stream has exhausted the last possible ID, unable to add more items"));
        }
        Err(AddError::NotGreater) => {
            return Err(CmdError::err("The ID specified in XADD is equal or smaller than the target stream top item"));
        }
    };
    stream.append(id, fields, &limits);
    ctx.notify(notify::STREAM, "xadd", key);
    if let Some(trim) = parsed.trim {
        if stream.trim(trim) > 0 {
            ctx.notify(notify::STREAM, "xtrim", key);
        }
    }
    Ok(id_reply(id))
}

/// XTRIM key MAXLEN | MINID [= | ~] threshold [LIMIT count]
///
/// # Returns
/// The number of entries deleted.
pub fn xtrim(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let parsed = parse_add_trim(args, false, &super::collection::limits(ctx))?;
    let Some(trim) = parsed.trim else {
        return Err(CmdError::Syntax);
    };
    let key = args.get(1);
    let hash = KeyHash::of(key);
    let mut shard = ctx.db().lock(hash);
    let deleted = stream_of(&mut shard, hash, key, ctx)?.map_or(0, |mut s| s.trim(trim));
    if deleted > 0 {
        ctx.notify(notify::STREAM, "xtrim", key);
    }
    Ok(Reply::Int(deleted as i64))
}

/// XLEN key
pub fn xlen(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    with_stream(ctx, args.get(1), |stream, _| Ok(Reply::from(stream.map_or(0, |s| s.len()))))
}

/// XRANGE key start end [COUNT count]
///
/// # Returns
/// The entries between `start` and `end` (inclusive; `(` excludes a bound); with COUNT 0 or less,
/// a null array.
pub fn xrange(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    range_generic(ctx, args, false)
}

/// XREVRANGE key end start [COUNT count]
pub fn xrevrange(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    range_generic(ctx, args, true)
}

fn range_generic(ctx: &mut Ctx, args: Args, rev: bool) -> Result<Reply, CmdError> {
    let (start_arg, end_arg) = if rev { (args.get(3), args.get(2)) } else { (args.get(2), args.get(3)) };
    let start = interval_start(start_arg)?;
    let end = interval_end(end_arg)?;
    let mut count: Option<i64> = None;
    let mut j = 4;
    while j < args.len() {
        if args.get(j).eq_ignore_ascii_case(b"count") && j + 1 < args.len() {
            count = Some(parse_int(args.get(j + 1))?.max(0));
            j += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    with_stream(ctx, args.get(1), |stream, _| {
        let Some(stream) = stream else {
            return Ok(Reply::Array(Vec::new()));
        };
        match count {
            Some(0) => Ok(Reply::NilArray),
            _ => Ok(entries_reply(stream.range(start, end, count.unwrap_or(0) as usize, rev))),
        }
    })
}

/// XDEL key id [id ...]
///
/// # Returns
/// The number of entries deleted.
pub fn xdel(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let key = args.get(1);
    let hash = KeyHash::of(key);
    let mut shard = ctx.db().lock(hash);
    let Some(mut stream) = stream_of(&mut shard, hash, key, ctx)? else {
        return Ok(Reply::Int(0));
    };
    let ids = (2..args.len()).map(|i| id_arg(args.get(i), true, 0)).collect::<Result<Vec<_>, _>>()?;
    let deleted = stream.delete(&ids);
    if deleted > 0 {
        ctx.notify(notify::STREAM, "xdel", key);
    }
    Ok(Reply::from(deleted))
}

/// XSETID key last-id [ENTRIESADDED entries-added] [MAXDELETEDID max-deleted-id]
pub fn xsetid(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let id = id_arg(args.get(2), true, 0)?;
    let mut entries_added: Option<u64> = None;
    let mut max_deleted = StreamId::MIN;
    let mut i = 3;
    while i < args.len() {
        let more = args.len() - 1 - i;
        let opt = args.get(i);
        if opt.eq_ignore_ascii_case(b"entriesadded") && more > 0 {
            let n = parse_int(args.get(i + 1))?;
            if n < 0 {
                return Err(CmdError::err("entries_added must be positive"));
            }
            entries_added = Some(n as u64);
        } else if opt.eq_ignore_ascii_case(b"maxdeletedid") && more > 0 {
            max_deleted = id_arg(args.get(i + 1), true, 0)?;
            if id < max_deleted {
                return Err(CmdError::err("The ID specified in XSETID is smaller than the provided max_deleted_entry_id"));
            }
        } else {
            return Err(CmdError::Syntax);
        }
        i += 2;
    }
    let key = args.get(1);
    let hash = KeyHash::of(key);
    let mut shard = ctx.db().lock(hash);
    let Some(mut stream) = stream_of(&mut shard, hash, key, ctx)? else {
        return Err(CmdError::NoSuchKey);
    };
    // Redis 7.0 does not compare with the current max deleted ID (7.2 does).
    if !stream.is_empty() {
        if id < stream.last_valid_id() {
            return Err(CmdError::err("The ID specified in XSETID is smaller than the target stream top item"));
        }
        if entries_added.is_some_and(|n| (stream.len() as u64) > n) {
            return Err(CmdError::err("The entries_added specified in XSETID is smaller than the target stream length"));
        }
    }
    stream.set_id(id, entries_added, (!max_deleted.is_zero()).then_some(max_deleted));
    ctx.notify(notify::STREAM, "xsetid", key);
    Ok(Reply::Ok)
}

/// The keys of XREAD / XREADGROUP: the first half of the arguments after STREAMS, found by
/// skipping the options as Redis's `xreadGetKeys` does (a group named "streams" is not the keyword).
pub fn xread_keys(args: Args) -> Vec<usize> {
    let mut i = 1;
    let mut streams = None;
    while i < args.len() {
        let arg = args.get(i);
        if arg.eq_ignore_ascii_case(b"block") || arg.eq_ignore_ascii_case(b"count") {
            i += 2;
        } else if arg.eq_ignore_ascii_case(b"group") {
            i += 3;
        } else if arg.eq_ignore_ascii_case(b"noack") {
            i += 1;
        } else if arg.eq_ignore_ascii_case(b"streams") {
            streams = Some(i);
            break;
        } else {
            break;
        }
    }
    let Some(streams) = streams else {
        return Vec::new();
    };
    let rest = args.len() - streams - 1;
    if rest == 0 || !rest.is_multiple_of(2) {
        return Vec::new();
    }
    (streams + 1..streams + 1 + rest / 2).collect()
}

/// What XREAD/XREADGROUP asked for.
struct ReadArgs<'a> {
    block: Option<Option<Duration>>,
    count: usize,
    group: Option<(&'a [u8], &'a [u8])>,
    noack: bool,
    keys: Vec<&'a [u8]>,
    ids: Vec<&'a [u8]>,
}

fn parse_read(args: Args, xreadgroup: bool) -> Result<ReadArgs, CmdError> {
    let mut out = ReadArgs { block: None, count: 0, group: None, noack: false, keys: Vec::new(), ids: Vec::new() };
    let mut streams_at = None;
    let mut i = 1;
    while i < args.len() {
        let more = args.len() - 1 - i;
        let opt = args.get(i);
        if opt.eq_ignore_ascii_case(b"block") && more > 0 {
            i += 1;
            let ms = crate::num::parse_i64(args.get(i)).ok_or_else(|| CmdError::err("timeout is not an integer or out of range"))?;
            if ms < 0 {
                return Err(CmdError::err("timeout is negative"));
            }
            if ms > i64::MAX - ms_now() {
                return Err(CmdError::err("timeout is out of range"));
            }
            out.block = Some((ms > 0).then(|| Duration::from_millis(ms as u64)));
        } else if opt.eq_ignore_ascii_case(b"count") && more > 0 {
            i += 1;
            out.count = parse_int(args.get(i))?.max(0) as usize;
        } else if opt.eq_ignore_ascii_case(b"streams") && more > 0 {
            let first = i + 1;
            let total = args.len() - first;
            if !total.is_multiple_of(2) {
                return Err(CmdError::err("Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified."));
            }
            streams_at = Some((first, total / 2));
            break;
        } else if opt.eq_ignore_ascii_case(b"group") && more >= 2 {
            if !xreadgroup {
                return Err(CmdError::err("The GROUP option is only supported by XREADGROUP. You called XREAD instead."));
            }
            out.group = Some((args.get(i + 1), args.get(i + 2)));
            i += 2;
        } else if opt.eq_ignore_ascii_case(b"noack") {
            if !xreadgroup {
                return Err(CmdError::err("The NOACK option is only supported by XREADGROUP. You called XREAD instead."));
            }
            out.noack = true;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    let Some((first, n)) = streams_at else {
        return Err(CmdError::Syntax);
    };
    if xreadgroup && out.group.is_none() {
        return Err(CmdError::err("Missing GROUP option for XREADGROUP"));
    }
    out.keys = (first..first + n).map(|i| args.get(i)).collect();
    out.ids = (first + n..first + 2 * n).map(|i| args.get(i)).collect();
    Ok(out)
}

fn ms_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// The per-stream sections of an XREAD reply: an array of [key, entries] pairs in RESP2, a map in
/// RESP3.
fn read_reply(ctx: &Ctx, served: Vec<(Reply, Reply)>) -> Reply {
    if resp3(ctx) {
        Reply::Map(served)
    } else {
        Reply::Array(served.into_iter().map(|(k, v)| Reply::Array(vec![k, v])).collect())
    }
}

/// XREAD [COUNT count] [BLOCK milliseconds] STREAMS key [key ...] id [id ...]
///
/// # Returns
/// For each stream with entries after its ID, the key and those entries (an array of pairs in
/// RESP2, a map in RESP3); a null array when there are none (and BLOCK timed out).
pub fn xread(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let parsed = parse_read(args, false)?;
    // Run on a blocked client's behalf: `$` means what it meant when the client blocked.
    let resumed = ctx.session.blocked_read_ids.take();
    // Resolve the IDs; `$` is the last ID when the command was first issued.
    let mut ids = Vec::with_capacity(parsed.keys.len());
    for (n, (key, arg)) in parsed.keys.iter().zip(&parsed.ids).enumerate() {
        let hash = KeyHash::of(key);
        let mut shard = ctx.db().lock(hash);
        let stream = read_stream(&mut shard, hash, key, ctx)?;
        let id = if *arg == b"$" {
            match &resumed {
                Some(saved) => saved[n],
                None => stream.map_or(StreamId::MIN, |s| s.last_id()),
            }
        } else if *arg == b">" {
            return Err(CmdError::err("The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option."));
        } else {
            id_arg(arg, true, 0)?
        };
        ids.push(id);
    }
    let mut served = Vec::new();
    for (key, after) in parsed.keys.iter().zip(&ids) {
        let hash = KeyHash::of(key);
        let mut shard = ctx.db().lock(hash);
        let Some(stream) = read_stream(&mut shard, hash, key, ctx)? else {
            continue;
        };
        if stream.is_empty() || stream.last_valid_id() <= *after {
            continue;
        }
        let Some(start) = after.next() else { continue };
        let entries = entries_reply(stream.range(start, StreamId::MAX, parsed.count, false));
        served.push((Reply::bulk(key), entries));
    }
    if !served.is_empty() {
        return Ok(read_reply(ctx, served));
    }
    match parsed.block {
        None => Ok(Reply::NilArray),
        Some(timeout) => {
            if !ctx.session.in_exec {
                ctx.session.blocked_read_ids = Some(ids);
            }
            Ok(block_read(ctx, &parsed.keys, BlockedOn::Stream, timeout))
        }
    }
}

/// Blocks a read that found nothing.
fn block_read(ctx: &mut Ctx, keys: &[&[u8]], on: BlockedOn, timeout: Option<Duration>) -> Reply {
    let keys = keys.iter().map(|k| k.to_vec()).collect();
    ctx.block(keys, on, timeout, Reply::NilArray)
}

/// XREADGROUP GROUP group consumer [COUNT count] [BLOCK milliseconds] [NOACK] STREAMS key [key ...]
/// id [id ...]
///
/// # Returns
/// Like XREAD. With `>`, entries never delivered to the group (added to the consumer's pending
/// list unless NOACK); with an ID, the consumer's pending entries after it (deleted ones as
/// `[id, nil]`).
pub fn xreadgroup(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let parsed = parse_read(args, true)?;
    let Some((group_name, consumer_name)) = parsed.group else {
        return Err(CmdError::Syntax);
    };
    let consumer_name = Bytes::copy_from_slice(consumer_name);
    // Check every key, group and ID before serving anything.
    let mut ids: Vec<Option<StreamId>> = Vec::with_capacity(parsed.keys.len());
    for (key, arg) in parsed.keys.iter().zip(&parsed.ids) {
        let hash = KeyHash::of(key);
        let mut shard = ctx.db().lock(hash);
        let stream = read_stream(&mut shard, hash, key, ctx)?;
        if stream.and_then(|s| s.group(group_name)).is_none() {
            return Err(CmdError::Other(
                format!(
                    "NOGROUP No such key '{}' or consumer group '{}' in XREADGROUP with GROUP option",
                    String::from_utf8_lossy(key),
                    String::from_utf8_lossy(group_name)
                )
                .into(),
            ));
        }
        ids.push(match *arg {
            b"$" => {
                return Err(CmdError::err(
                    "The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by \
                     specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.",
                ))
            }
            b">" => None,
            other => Some(id_arg(other, true, 0)?),
        });
    }
    let now_ms = ctx.now_ms;
    let mut served = Vec::new();
    for (key, id) in parsed.keys.iter().zip(&ids) {
        let hash = KeyHash::of(key);
        let mut shard = ctx.db().lock(hash);
        let Some(mut stream) = read_stream_mut(&mut shard, hash, key, ctx)? else {
            continue;
        };
        let entries = match id {
            Some(after) => {
                let Some(mut group) = stream.group_mut(group_name) else { continue };
                if group.touch_consumer(&consumer_name, now_ms) {
                    ctx.notify(notify::STREAM, "xgroup-createconsumer", key);
                }
                read_history(&mut stream, group_name, &consumer_name, *after, parsed.count, now_ms)
            }
            None => {
                let Some(group) = stream.group(group_name) else { continue };
                if stream.is_empty() || stream.last_valid_id() <= group.last_id() {
                    continue;
                }
                let (reply, created) = read_new(&mut stream, group_name, &consumer_name, parsed.count, parsed.noack, now_ms);
                if created {
                    ctx.notify(notify::STREAM, "xgroup-createconsumer", key);
                }
                reply
            }
        };
        served.push((Reply::bulk(key), entries));
    }
    if !served.is_empty() {
        return Ok(read_reply(ctx, served));
    }
    match parsed.block {
        None => Ok(Reply::NilArray),
        Some(timeout) => Ok(block_read(ctx, &parsed.keys, BlockedOn::StreamGroup, timeout)),
    }
}

/// Serves XREADGROUP `>`: entries after the group's last ID, recorded as delivered. Also says
/// whether the consumer was created.
fn read_new(stream: &mut Tracked<Stream>, group_name: &[u8], consumer: &Bytes, count: usize, noack: bool, now_ms: u64) -> (Reply, bool) {
    let Some(last) = stream.group(group_name).map(|g| g.last_id()) else {
        return (Reply::Array(Vec::new()), false);
    };
    let Some(start) = last.next() else {
        return (Reply::Array(Vec::new()), false);
    };
    let picked: Vec<(StreamId, Fields)> =
        stream.range(start, StreamId::MAX, count, false).into_iter().map(|(id, f)| (id, f.clone())).collect();
    // Read counters are computed against the stream as it is, before the group changes.
    let mut counters = Vec::with_capacity(picked.len());
    let mut read = stream.group(group_name).and_then(|g| g.entries_read());
    for (id, _) in &picked {
        read = match read {
            Some(n) if !stream.has_tombstones_from(*id) => Some(n + 1),
            _ if stream.entries_added() > 0 => stream.estimate_distance(*id),
            other => other,
        };
        counters.push(read);
    }
    let Some(mut group) = stream.group_mut(group_name) else {
        return (Reply::Array(Vec::new()), false);
    };
    let created = group.touch_consumer(consumer, now_ms);
    if let (Some((id, _)), Some(read)) = (picked.last(), counters.last()) {
        group.set_cursor(*id, *read);
    }
    let mut out = Vec::with_capacity(picked.len());
    for (id, fields) in &picked {
        if !noack {
            group.deliver(*id, consumer, now_ms);
        }
        out.push(entry_reply(*id, fields));
    }
    (Reply::Array(out), created)
}

/// Serves XREADGROUP with an ID: the consumer's pending entries after it.
fn read_history(stream: &mut Tracked<Stream>, group_name: &[u8], consumer: &Bytes, after: StreamId, count: usize, now_ms: u64) -> Reply {
    let Some(start) = after.next() else {
        return Reply::Array(Vec::new());
    };
    let limit = if count == 0 { usize::MAX } else { count };
    let pending: Vec<StreamId> = stream
        .group(group_name)
        .and_then(|g| g.consumers().get(consumer))
        .map(|c| c.pending.range(start..).take(limit).copied().collect())
        .unwrap_or_default();
    let mut out = Vec::with_capacity(pending.len());
    let mut delivered = Vec::new();
    for id in pending {
        match stream.get(id) {
            Some(fields) => {
                out.push(entry_reply(id, fields));
                delivered.push(id);
            }
            None => out.push(Reply::Array(vec![id_reply(id), Reply::NilArray])),
        }
    }
    if let Some(mut group) = stream.group_mut(group_name) {
        for id in delivered {
            group.redeliver(id, now_ms);
        }
    }
    Reply::Array(out)
}

/// XGROUP HELP and unknown XGROUP subcommands.
pub fn xgroup(_ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    if args.get(1).eq_ignore_ascii_case(b"help") && args.len() == 2 {
        return Ok(help_reply(&[
            "XGROUP <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "CREATE <key> <groupname> <id|$> [option]",
            "    Create a new consumer group. Options are:",
            "    * MKSTREAM",
            "      Create the empty stream if it does not exist.",
            "    * ENTRIESREAD entries_read",
            "      Set the group's entries_read counter (internal use).",
            "CREATECONSUMER <key> <groupname> <consumer>",
            "    Create a new consumer in the specified group.",
            "DELCONSUMER <key> <groupname> <consumer>",
            "    Remove the specified consumer.",
            "DESTROY <key> <groupname>",
            "    Remove the specified group.",
            "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
            "    Set the current group ID and entries_read counter.",
            "HELP",
            "    Prints this help.",
        ]));
    }
    if args.get(1).eq_ignore_ascii_case(b"help") {
        return Err(CmdError::WrongArity("xgroup|help".into()));
    }
    Err(CmdError::UnknownSubcommand { command: "xgroup".into(), sub: String::from_utf8_lossy(args.get(1)).into_owned() })
}

/// XINFO HELP and unknown XINFO subcommands.
pub fn xinfo(_ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    if args.get(1).eq_ignore_ascii_case(b"help") && args.len() == 2 {
        return Ok(help_reply(&[
            "XINFO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "CONSUMERS <key> <groupname>",
            "    Show consumers of <groupname>.",
            "GROUPS <key>",
            "    Show the stream consumer groups.",
            "STREAM <key> [FULL [COUNT <count>]",
            "    Show information about the stream.",
            "HELP",
            "    Prints this help.",
        ]));
    }
    if args.get(1).eq_ignore_ascii_case(b"help") {
        return Err(CmdError::WrongArity("xinfo|help".into()));
    }
    Err(CmdError::UnknownSubcommand { command: "xinfo".into(), sub: String::from_utf8_lossy(args.get(1)).into_owned() })
}

fn help_reply(lines: &[&'static str]) -> Reply {
    Reply::Array(lines.iter().map(|l| Reply::status(l)).collect())
}

/// `ERR unknown subcommand or wrong number of arguments for 'create'. Try XGROUP HELP.`
fn subcommand_syntax(args: Args, container: &str) -> CmdError {
    CmdError::Other(
        format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try {container} HELP.",
            String::from_utf8_lossy(args.get(1))
        )
        .into(),
    )
}

/// The options of XGROUP CREATE / SETID: MKSTREAM (CREATE only) and ENTRIESREAD.
fn parse_group_options(args: Args, create: bool) -> Result<(bool, Option<Option<u64>>), CmdError> {
    let mut mkstream = false;
    let mut entries_read = None;
    let mut i = 5;
    while i < args.len() {
        if create && args.get(i).eq_ignore_ascii_case(b"mkstream") {
            mkstream = true;
            i += 1;
        } else if args.get(i).eq_ignore_ascii_case(b"entriesread") && i + 1 < args.len() {
            let n = parse_int(args.get(i + 1))?;
            if n < 0 && n != -1 {
                return Err(CmdError::err("value for ENTRIESREAD must be positive or -1"));
            }
            entries_read = Some(u64::try_from(n).ok());
            i += 2;
        } else {
            return Err(subcommand_syntax(args, "XGROUP"));
        }
    }
    Ok((mkstream, entries_read))
}

const REQUIRES_KEY: &str = "The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM \
                            option to create an empty stream automatically.";

fn no_such_group(key: &[u8], group: &[u8]) -> CmdError {
    CmdError::Other(
        format!("NOGROUP No such consumer group '{}' for key name '{}'", String::from_utf8_lossy(group), String::from_utf8_lossy(key))
            .into(),
    )
}

/// Runs `f` on the stream and group an XGROUP subcommand names, with Redis's errors for a missing
/// key or group.
fn with_group<R>(ctx: &mut Ctx, args: Args, f: impl FnOnce(&mut Tracked<Stream>, &Ctx) -> R) -> Result<R, CmdError> {
    let (key, group) = (args.get(2), args.get(3));
    let hash = KeyHash::of(key);
    let mut shard = ctx.db().lock(hash);
    let Some(mut stream) = stream_of(&mut shard, hash, key, ctx)? else {
        return Err(CmdError::err(REQUIRES_KEY));
    };
    if stream.group(group).is_none() {
        return Err(no_such_group(key, group));
    }
    Ok(f(&mut stream, ctx))
}

/// XGROUP CREATE key group id | $ [MKSTREAM] [ENTRIESREAD entries-read]
pub fn xgroup_create(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let (mkstream, entries_read) = parse_group_options(args, true)?;
    let (key, name) = (args.get(2), args.get(3));
    let hash = KeyHash::of(key);
    let now_ms = ctx.now_ms;
    let mut shard = ctx.db().lock(hash);
    let exists = stream_of(&mut shard, hash, key, ctx)?.is_some();
    if !exists && !mkstream {
        return Err(CmdError::err(REQUIRES_KEY));
    }
    // Redis checks the argument count after the options and the key.
    if args.len() > 8 {
        return Err(subcommand_syntax(args, "XGROUP"));
    }
    let id = match args.get(4) {
        b"$" => stream_of(&mut shard, hash, key, ctx)?.map_or(StreamId::MIN, |s| s.last_id()),
        other => id_arg(other, true, 0)?,
    };
    let mut stream = get_or_create::<Stream>(&mut shard, hash, key, now_ms, false)?;
    if !stream.create_group(name, id, entries_read.flatten()) {
        return Err(CmdError::line("BUSYGROUP Consumer Group name already exists"));
    }
    ctx.notify(notify::STREAM, "xgroup-create", key);
    Ok(Reply::Ok)
}

/// XGROUP SETID key group id | $ [ENTRIESREAD entries-read]
pub fn xgroup_setid(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let (_, entries_read) = parse_group_options(args, false)?;
    if args.len() != 5 && args.len() != 7 {
        // Arity is checked after the lookups in Redis.
        with_group(ctx, args, |_, _| ())?;
        return Err(subcommand_syntax(args, "XGROUP"));
    }
    let id_text = args.get(4);
    let explicit = if id_text == b"$" { None } else { Some(id_text) };
    let result = with_group(ctx, args, |stream, ctx| -> Result<(), CmdError> {
        let id = match explicit {
            None => stream.last_id(),
            Some(text) => id_arg(text, false, 0)?,
        };
        if let Some(mut group) = stream.group_mut(args.get(3)) {
            group.set_cursor(id, entries_read.flatten());
        }
        ctx.notify(notify::STREAM, "xgroup-setid", args.get(2));
        Ok(())
    })?;
    result.map(|()| Reply::Ok)
}

/// XGROUP DESTROY key group
pub fn xgroup_destroy(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let key = args.get(2);
    let hash = KeyHash::of(key);
    let mut shard = ctx.db().lock(hash);
    let Some(mut stream) = stream_of(&mut shard, hash, key, ctx)? else {
        return Err(CmdError::err(REQUIRES_KEY));
    };
    let destroyed = stream.destroy_group(args.get(3));
    if destroyed {
        ctx.notify(notify::STREAM, "xgroup-destroy", key);
    }
    Ok(Reply::from(destroyed))
}

/// XGROUP CREATECONSUMER key group consumer
pub fn xgroup_createconsumer(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let now_ms = ctx.now_ms;
    with_group(ctx, args, |stream, ctx| {
        let created = stream.group_mut(args.get(3)).is_some_and(|mut g| g.create_consumer(args.get(4), now_ms));
        if created {
            ctx.notify(notify::STREAM, "xgroup-createconsumer", args.get(2));
        }
        Reply::from(created)
    })
}

/// XGROUP DELCONSUMER key group consumer
///
/// # Returns
/// The number of pending entries the consumer had.
pub fn xgroup_delconsumer(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    with_group(ctx, args, |stream, ctx| {
        let pending = stream.group_mut(args.get(3)).and_then(|mut g| g.delete_consumer(args.get(4)));
        if pending.is_some() {
            ctx.notify(notify::STREAM, "xgroup-delconsumer", args.get(2));
        }
        Reply::from(pending.unwrap_or(0))
    })
}

/// XACK key group id [id ...]
pub fn xack(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let key = args.get(1);
    let hash = KeyHash::of(key);
    let mut shard = ctx.db().lock(hash);
    let Some(mut stream) = read_stream_mut(&mut shard, hash, key, ctx)? else {
        return Ok(Reply::Int(0));
    };
    let Some(mut group) = stream.group_mut(args.get(2)) else {
        return Ok(Reply::Int(0));
    };
    let ids = (3..args.len()).map(|i| id_arg(args.get(i), true, 0)).collect::<Result<Vec<_>, _>>()?;
    Ok(Reply::from(ids.into_iter().filter(|id| group.ack(*id)).count()))
}

/// XPENDING key group [[IDLE min-idle-time] start end count [consumer]]
///
/// # Returns
/// The summary form: count, lowest and highest pending ID, and pending counts per consumer. The
/// extended form: `[id, consumer, idle ms, deliveries]` per pending entry.
pub fn xpending(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let argc = args.len();
    if argc != 3 && !(6..=9).contains(&argc) {
        return Err(CmdError::Syntax);
    }
    let mut range = None;
    if argc >= 6 {
        let mut at = 3;
        let mut min_idle = 0;
        if args.get(3).eq_ignore_ascii_case(b"idle") {
            min_idle = parse_int(args.get(4))?;
            if argc < 8 {
                return Err(CmdError::Syntax);
            }
            at += 2;
        }
        let count = parse_int(args.get(at + 2))?.max(0) as usize;
        let start = interval_start(args.get(at))?;
        let end = interval_end(args.get(at + 1))?;
        let consumer = (at + 3 < argc).then(|| args.get(at + 3));
        range = Some((min_idle, start, end, count, consumer));
    }
    let now_ms = ctx.now_ms;
    with_stream(ctx, args.get(1), |stream, _| {
        let Some(group) = stream.and_then(|s| s.group(args.get(2))) else {
            return Err(no_group(args.get(1), args.get(2)));
        };
        let Some((min_idle, start, end, count, consumer)) = range else {
            let (Some((first, _)), Some((last, _))) = (group.pel().iter().next(), group.pel().iter().next_back()) else {
                return Ok(Reply::Array(vec![Reply::Int(0), Reply::Nil, Reply::Nil, Reply::NilArray]));
            };
            let owners = group
                .consumers()
                .iter()
                .filter(|(_, c)| !c.pending.is_empty())
                .map(|(name, c)| Reply::Array(vec![Reply::Bulk(name.clone()), Reply::bulk_string(c.pending.len().to_string())]))
                .collect();
            return Ok(Reply::Array(vec![Reply::from(group.pel().len()), id_reply(*first), id_reply(*last), Reply::Array(owners)]));
        };
        let ids: Vec<StreamId> = match consumer {
            Some(name) => match group.consumers().get(name) {
                Some(c) if start <= end => c.pending.range(start..=end).copied().collect(),
                Some(_) => Vec::new(),
                None => return Ok(Reply::Array(Vec::new())),
            },
            None if start <= end => group.pel().range(start..=end).map(|(id, _)| *id).collect(),
            None => Vec::new(),
        };
        let mut out = Vec::new();
        for id in ids {
            if out.len() >= count {
                break;
            }
            let nack = &group.pel()[&id];
            let idle = now_ms as i64 - nack.delivery_time as i64;
            if min_idle != 0 && idle < min_idle {
                continue;
            }
            out.push(Reply::Array(vec![
                id_reply(id),
                Reply::Bulk(nack.consumer.clone()),
                Reply::Int(idle.max(0)),
                Reply::Int(nack.delivery_count as i64),
            ]));
        }
        Ok(Reply::Array(out))
    })
}

/// XCLAIM key group consumer min-idle-time id [id ...] [IDLE ms] [TIME unix-time-milliseconds]
/// [RETRYCOUNT count] [FORCE] [JUSTID] [LASTID lastid]
///
/// # Returns
/// The claimed entries (IDs only with JUSTID).
pub fn xclaim(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let key = args.get(1);
    let group_name = args.get(2);
    let now = ctx.now_ms as i64;
    let hash = KeyHash::of(key);
    let mut shard = ctx.db().lock(hash);
    let Some(mut stream) = read_stream_mut(&mut shard, hash, key, ctx)? else {
        return Err(no_group(key, group_name));
    };
    if stream.group(group_name).is_none() {
        return Err(no_group(key, group_name));
    }
    let min_idle = crate::num::parse_i64(args.get(4)).ok_or_else(|| CmdError::err("Invalid min-idle-time argument for XCLAIM"))?.max(0);
    let mut j = 5;
    let mut ids = Vec::new();
    while j < args.len() {
        match crate::engine::stream::parse_id(args.get(j), true, 0, false) {
            Some(ParsedId::Id(id)) => ids.push(id),
            _ => break,
        }
        j += 1;
    }
    let (mut force, mut justid) = (false, false);
    let mut retry: Option<i64> = None;
    let mut delivery: Option<i64> = None;
    let mut last_id = StreamId::MIN;
    while j < args.len() {
        let more = args.len() - 1 - j;
        let opt = args.get(j);
        let number = |arg: &[u8], what: &str| {
            crate::num::parse_i64(arg).ok_or_else(|| CmdError::err(format!("Invalid {what} option argument for XCLAIM")))
        };
        if opt.eq_ignore_ascii_case(b"force") {
            force = true;
        } else if opt.eq_ignore_ascii_case(b"justid") {
            justid = true;
        } else if opt.eq_ignore_ascii_case(b"idle") && more > 0 {
            j += 1;
            delivery = Some(now - number(args.get(j), "IDLE")?);
        } else if opt.eq_ignore_ascii_case(b"time") && more > 0 {
            j += 1;
            delivery = Some(number(args.get(j), "TIME")?);
        } else if opt.eq_ignore_ascii_case(b"retrycount") && more > 0 {
            j += 1;
            retry = Some(number(args.get(j), "RETRYCOUNT")?);
        } else if opt.eq_ignore_ascii_case(b"lastid") && more > 0 {
            j += 1;
            last_id = id_arg(args.get(j), true, 0)?;
        } else {
            return Err(CmdError::Other(format!("ERR Unrecognized XCLAIM option '{}'", String::from_utf8_lossy(opt)).into()));
        }
        j += 1;
    }
    let delivery_time = match delivery {
        Some(t) if t >= 0 && t <= now => t as u64,
        _ => now as u64,
    };
    let consumer = Bytes::copy_from_slice(args.get(3));
    let retry = retry.filter(|&r| r >= 0).map(|r| r as u64);
    let mut out = Vec::new();
    let mut consumer_ready = false;
    for id in ids {
        let exists = stream.contains(id);
        let Some(mut group) = stream.group_mut(group_name) else { break };
        if last_id > group.last_id() {
            let read = group.entries_read();
            group.set_cursor(last_id, read);
        }
        if !exists {
            // The entry is gone: drop it from the PEL.
            group.ack(id);
            continue;
        }
        let mut unowned = false;
        if force && !group.pel().contains_key(&id) {
            group.force_pending(id, now as u64);
            unowned = true;
        }
        let Some(nack) = group.pel().get(&id) else { continue };
        if !unowned && min_idle > 0 && now - (nack.delivery_time as i64) < min_idle {
            continue;
        }
        if !consumer_ready {
            if group.touch_consumer(&consumer, now as u64) {
                ctx.notify(notify::STREAM, "xgroup-createconsumer", key);
            }
            consumer_ready = true;
        }
        group.claim(id, &consumer, delivery_time, retry, justid);
        if justid {
            out.push(id_reply(id));
        } else {
            out.push(stream.get(id).map_or(Reply::Nil, |f| entry_reply(id, f)));
        }
    }
    if let Some(mut group) = stream.group_mut(group_name) {
        if last_id > group.last_id() {
            let read = group.entries_read();
            group.set_cursor(last_id, read);
        }
    }
    Ok(Reply::Array(out))
}

/// XAUTOCLAIM key group consumer min-idle-time start [COUNT count] [JUSTID]
///
/// # Returns
/// `[next cursor, claimed entries (or IDs), IDs of deleted entries dropped from the PEL]`.
pub fn xautoclaim(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let min_idle = crate::num::parse_i64(args.get(4)).ok_or_else(|| CmdError::err("Invalid min-idle-time argument for XAUTOCLAIM"))?.max(0);
    let start = interval_start(args.get(5))?;
    let mut count: i64 = 100;
    let mut justid = false;
    let mut j = 6;
    while j < args.len() {
        let more = args.len() - 1 - j;
        if args.get(j).eq_ignore_ascii_case(b"count") && more > 0 {
            let max = i64::MAX / 16;
            count = match crate::num::parse_i64(args.get(j + 1)) {
                Some(n) if (1..=max).contains(&n) => n,
                _ => return Err(CmdError::err("COUNT must be > 0")),
            };
            j += 1;
        } else if args.get(j).eq_ignore_ascii_case(b"justid") {
            justid = true;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    let (key, group_name) = (args.get(1), args.get(2));
    let now = ctx.now_ms;
    let hash = KeyHash::of(key);
    let mut shard = ctx.db().lock(hash);
    let Some(mut stream) = read_stream_mut(&mut shard, hash, key, ctx)? else {
        return Err(no_group(key, group_name));
    };
    let Some(group) = stream.group(group_name) else {
        return Err(no_group(key, group_name));
    };
    let consumer = Bytes::copy_from_slice(args.get(3));
    let mut attempts = count.saturating_mul(10);
    let mut remaining = count;
    let candidates: Vec<StreamId> = group.pel().range(start..).map(|(id, _)| *id).collect();
    let mut claimed = Vec::new();
    let mut deleted = Vec::new();
    let mut next = StreamId::MIN;
    let mut consumer_ready = false;
    let mut iter = candidates.into_iter();
    loop {
        if attempts == 0 || remaining == 0 {
            next = iter.next().unwrap_or_default();
            break;
        }
        attempts -= 1;
        let Some(id) = iter.next() else { break };
        let exists = stream.contains(id);
        let Some(mut group) = stream.group_mut(group_name) else { break };
        if !exists {
            group.ack(id);
            deleted.push(id_reply(id));
            remaining -= 1;
            continue;
        }
        let Some(nack) = group.pel().get(&id) else { continue };
        if min_idle > 0 && (now as i64) - (nack.delivery_time as i64) < min_idle {
            continue;
        }
        if !consumer_ready {
            if group.touch_consumer(&consumer, now) {
                ctx.notify(notify::STREAM, "xgroup-createconsumer", key);
            }
            consumer_ready = true;
        }
        group.claim(id, &consumer, now, None, justid);
        claimed.push(if justid { id_reply(id) } else { stream.get(id).map_or(Reply::Nil, |f| entry_reply(id, f)) });
        remaining -= 1;
    }
    Ok(Reply::Array(vec![id_reply(next), Reply::Array(claimed), Reply::Array(deleted)]))
}

fn entry_or_nil(entry: Option<(StreamId, &Fields)>) -> Reply {
    entry.map_or(Reply::Nil, |(id, f)| entry_reply(id, f))
}

fn entries_read_reply(group: &Group) -> Reply {
    group.entries_read().map_or(Reply::Nil, |n| Reply::Int(n as i64))
}

fn lag_reply(stream: &Stream, group: &Group) -> Reply {
    stream.group_lag(group).map_or(Reply::Nil, Reply::Int)
}

/// XINFO STREAM key [FULL [COUNT count]]
pub fn xinfo_stream(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    // The key is looked up before the options are read.
    with_stream(ctx, args.get(2), |stream, _| {
        let Some(stream) = stream else {
            return Err(CmdError::NoSuchKey);
        };
        let mut full = false;
        let mut count: usize = 10;
        if args.len() > 3 {
            if !args.get(3).eq_ignore_ascii_case(b"full") || (args.len() != 4 && args.len() != 6) {
                return Err(subcommand_syntax(args, "XINFO"));
            }
            full = true;
            if args.len() == 6 {
                if !args.get(4).eq_ignore_ascii_case(b"count") {
                    return Err(subcommand_syntax(args, "XINFO"));
                }
                // Redis falls back to the default for a negative count; 0 means everything.
                let n = parse_int(args.get(5))?;
                count = if n < 0 { 10 } else { n as usize };
            }
        }
        let mut pairs = vec![
            ("length", Reply::from(stream.len())),
            ("radix-tree-keys", Reply::from(stream.node_count())),
            ("radix-tree-nodes", Reply::from(stream.radix_tree_nodes())),
            ("last-generated-id", id_reply(stream.last_id())),
            ("max-deleted-entry-id", id_reply(stream.max_deleted_id())),
            ("entries-added", Reply::Int(stream.entries_added() as i64)),
            ("recorded-first-entry-id", id_reply(stream.first_id())),
        ];
        if !full {
            pairs.push(("groups", Reply::from(stream.groups().len())));
            pairs.push(("first-entry", entry_or_nil(stream.first_entry())));
            pairs.push(("last-entry", entry_or_nil(stream.last_entry())));
            return Ok(map_reply(pairs));
        }
        pairs.push(("entries", entries_reply(stream.range(StreamId::MIN, StreamId::MAX, count, false))));
        let limit = if count == 0 { usize::MAX } else { count };
        let groups = stream
            .groups()
            .iter()
            .map(|(name, group)| {
                let pending = group
                    .pel()
                    .iter()
                    .take(limit)
                    .map(|(id, nack)| {
                        Reply::Array(vec![
                            id_reply(*id),
                            Reply::Bulk(nack.consumer.clone()),
                            Reply::Int(nack.delivery_time as i64),
                            Reply::Int(nack.delivery_count as i64),
                        ])
                    })
                    .collect();
                let consumers = group
                    .consumers()
                    .iter()
                    .map(|(cname, consumer)| {
                        let own = consumer
                            .pending
                            .iter()
                            .take(limit)
                            .map(|id| {
                                let nack = &group.pel()[id];
                                Reply::Array(vec![
                                    id_reply(*id),
                                    Reply::Int(nack.delivery_time as i64),
                                    Reply::Int(nack.delivery_count as i64),
                                ])
                            })
                            .collect();
                        map_reply(vec![
                            ("name", Reply::Bulk(cname.clone())),
                            ("seen-time", Reply::Int(consumer.seen_time as i64)),
                            ("pel-count", Reply::from(consumer.pending.len())),
                            ("pending", Reply::Array(own)),
                        ])
                    })
                    .collect();
                map_reply(vec![
                    ("name", Reply::Bulk(name.clone())),
                    ("last-delivered-id", id_reply(group.last_id())),
                    ("entries-read", entries_read_reply(group)),
                    ("lag", lag_reply(stream, group)),
                    ("pel-count", Reply::from(group.pel().len())),
                    ("pending", Reply::Array(pending)),
                    ("consumers", Reply::Array(consumers)),
                ])
            })
            .collect();
        pairs.push(("groups", Reply::Array(groups)));
        Ok(map_reply(pairs))
    })
}

/// XINFO GROUPS key
pub fn xinfo_groups(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    with_stream(ctx, args.get(2), |stream, _| {
        let Some(stream) = stream else {
            return Err(CmdError::NoSuchKey);
        };
        Ok(Reply::Array(
            stream
                .groups()
                .iter()
                .map(|(name, group)| {
                    map_reply(vec![
                        ("name", Reply::Bulk(name.clone())),
                        ("consumers", Reply::from(group.consumers().len())),
                        ("pending", Reply::from(group.pel().len())),
                        ("last-delivered-id", id_reply(group.last_id())),
                        ("entries-read", entries_read_reply(group)),
                        ("lag", lag_reply(stream, group)),
                    ])
                })
                .collect(),
        ))
    })
}

/// XINFO CONSUMERS key group
pub fn xinfo_consumers(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let now_ms = ctx.now_ms;
    with_stream(ctx, args.get(2), |stream, _| {
        let Some(stream) = stream else {
            return Err(CmdError::NoSuchKey);
        };
        let Some(group) = stream.group(args.get(3)) else {
            return Err(no_such_group(args.get(2), args.get(3)));
        };
        Ok(Reply::Array(
            group
                .consumers()
                .iter()
                .map(|(name, consumer)| {
                    map_reply(vec![
                        ("name", Reply::Bulk(name.clone())),
                        ("pending", Reply::from(consumer.pending.len())),
                        ("idle", Reply::Int((now_ms as i64 - consumer.seen_time as i64).max(0))),
                    ])
                })
                .collect(),
        ))
    })
}

// The command table of this family, joined by `commands::registry`. Its imports stay here, beside
// the rows, so that the family's table and its handlers change independently.

use super::acl;
use super::flags::{BLOCKING, DENYOOM, FAST, READONLY, WRITE};
use super::table::Command;

/// The stream commands, in the order COMMAND lists them.
pub(super) static COMMANDS: &[Command] = &[
    Command::new("xadd", -5, xadd).flags(WRITE | DENYOOM | FAST).keys(1, 1, 1).acl(acl::STREAM),
    Command::new("xlen", 2, xlen).flags(READONLY | FAST).keys(1, 1, 1).acl(acl::STREAM),
    Command::new("xrange", -4, xrange).flags(READONLY).keys(1, 1, 1).acl(acl::STREAM),
    Command::new("xrevrange", -4, xrevrange).flags(READONLY).keys(1, 1, 1).acl(acl::STREAM),
    Command::new("xdel", -3, xdel).flags(WRITE | FAST).keys(1, 1, 1).acl(acl::STREAM),
    Command::new("xtrim", -4, xtrim).flags(WRITE).keys(1, 1, 1).acl(acl::STREAM),
    Command::new("xread", -4, xread).flags(READONLY | BLOCKING).acl(acl::STREAM).movable_keys(xread_keys),
    Command::new("xreadgroup", -7, xreadgroup).flags(WRITE | BLOCKING).acl(acl::STREAM).movable_keys(xread_keys),
    Command::new("xgroup", -2, xgroup).subcommands(XGROUP_SUBCOMMANDS),
    Command::new("xack", -4, xack).flags(WRITE | FAST).keys(1, 1, 1).acl(acl::STREAM),
    Command::new("xpending", -3, xpending).flags(READONLY).keys(1, 1, 1).acl(acl::STREAM),
    Command::new("xclaim", -6, xclaim).flags(WRITE | FAST).keys(1, 1, 1).acl(acl::STREAM),
    Command::new("xautoclaim", -6, xautoclaim).flags(WRITE | FAST).keys(1, 1, 1).acl(acl::STREAM),
    Command::new("xinfo", -2, xinfo).subcommands(XINFO_SUBCOMMANDS),
    Command::new("xsetid", -3, xsetid).flags(WRITE | DENYOOM | FAST).keys(1, 1, 1).acl(acl::STREAM),
];

static XGROUP_SUBCOMMANDS: &[Command] = &[
    Command::new("xgroup|create", -5, xgroup_create).flags(WRITE | DENYOOM).keys(2, 2, 1).acl(acl::STREAM),
    Command::new("xgroup|createconsumer", 5, xgroup_createconsumer).flags(WRITE | DENYOOM).keys(2, 2, 1).acl(acl::STREAM),
    Command::new("xgroup|delconsumer", 5, xgroup_delconsumer).flags(WRITE).keys(2, 2, 1).acl(acl::STREAM),
    Command::new("xgroup|destroy", 4, xgroup_destroy).flags(WRITE).keys(2, 2, 1).acl(acl::STREAM),
    Command::new("xgroup|setid", -5, xgroup_setid).flags(WRITE).keys(2, 2, 1).acl(acl::STREAM),
];

static XINFO_SUBCOMMANDS: &[Command] = &[
    Command::new("xinfo|consumers", 4, xinfo_consumers).flags(READONLY).keys(2, 2, 1).acl(acl::STREAM),
    Command::new("xinfo|groups", 3, xinfo_groups).flags(READONLY).keys(2, 2, 1).acl(acl::STREAM),
    Command::new("xinfo|stream", -3, xinfo_stream).flags(READONLY).keys(2, 2, 1).acl(acl::STREAM),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resp::{parse_request, ParseLimits, RequestBuf};

    /// Parses `words` as one request and hands its arguments to `f`.
    fn with_args<R>(words: &[&str], f: impl FnOnce(Args) -> R) -> R {
        let mut buf = format!("*{}\r\n", words.len());
        for word in words {
            buf.push_str(&format!("${}\r\n{word}\r\n", word.len()));
        }
        let mut req = RequestBuf::default();
        parse_request(buf.as_bytes(), &mut req, ParseLimits { max_bulk_len: 1 << 20, unauthenticated: false }).expect("request");
        f(req.args(buf.as_bytes()))
    }

    #[test]
    fn xadd_and_xtrim_options_parse_like_redis() {
        let parsed =
            with_args(&["XADD", "s", "NOMKSTREAM", "MAXLEN", "~", "10", "5-*", "f", "v"], |a| parse_add_trim(a, true, &Limits::default()));
        let expected = AddTrimArgs {
            trim: Some(Trim { strategy: TrimStrategy::MaxLen(10), approx: true, limit: 10_000 }),
            no_mkstream: true,
            id: Some(ParsedId::AutoSeq(5)),
            id_pos: 6,
        };
        assert_eq!(parsed, Ok(expected));
        let parsed =
            with_args(&["XADD", "s", "MINID", "=", "3", "*", "f", "v"], |a| parse_add_trim(a, true, &Limits::default())).expect("minid");
        assert_eq!(parsed.trim, Some(Trim { strategy: TrimStrategy::MinId(StreamId::new(3, 0)), approx: false, limit: 0 }));
        assert_eq!((parsed.id, parsed.id_pos), (None, 5));
        let trimmed =
            with_args(&["XTRIM", "s", "MAXLEN", "~", "2", "LIMIT", "7"], |a| parse_add_trim(a, false, &Limits::default())).expect("xtrim");
        assert_eq!(trimmed.trim.map(|t| t.limit), Some(7));
        let error =
            |words: &[&str], xadd| with_args(words, |a| parse_add_trim(a, xadd, &Limits::default())).expect_err("must fail").to_string();
        assert_eq!(
            error(&["XTRIM", "s", "LIMIT", "1"], false),
            "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy"
        );
        assert_eq!(
            error(&["XTRIM", "s", "MAXLEN", "1", "LIMIT", "1"], false),
            "ERR syntax error, LIMIT cannot be used without the special ~ option"
        );
        assert_eq!(
            error(&["XTRIM", "s", "MAXLEN", "1", "MINID", "1"], false),
            "ERR syntax error, MAXLEN and MINID options at the same time are not compatible"
        );
        assert_eq!(error(&["XTRIM", "s"], false), "ERR syntax error, XTRIM must be called with a trimming strategy");
        assert_eq!(error(&["XADD", "s", "MAXLEN", "-1", "*", "f", "v"], true), "ERR The MAXLEN argument must be >= 0.");
        assert_eq!(error(&["XADD", "s", "+", "f", "v"], true), INVALID_ID.to_string());
    }

    #[test]
    fn xread_arguments_and_keys() {
        let words = ["XREADGROUP", "GROUP", "g", "c", "COUNT", "-4", "BLOCK", "0", "NOACK", "STREAMS", "a", "b", ">", "0"];
        let (keys, ids, block, count, noack) = with_args(&words, |a| {
            let parsed = parse_read(a, true).expect("xreadgroup");
            let ids: Vec<Vec<u8>> = parsed.ids.iter().map(|i| i.to_vec()).collect();
            (xread_keys(a), ids, parsed.block, parsed.count, parsed.noack)
        });
        assert_eq!(keys, vec![10, 11]);
        assert_eq!(ids, vec![b">".to_vec(), b"0".to_vec()]);
        assert_eq!((block, count, noack), (Some(None), 0, true));
        let error = |words: &[&str], group| with_args(words, |a| parse_read(a, group).err().map(|e| e.to_string()));
        assert_eq!(error(&["XREAD", "BLOCK", "-1", "STREAMS", "s", "$"], false).as_deref(), Some("ERR timeout is negative"));
        assert_eq!(
            error(&["XREAD", "BLOCK", "1.5", "STREAMS", "s", "$"], false).as_deref(),
            Some("ERR timeout is not an integer or out of range")
        );
        assert_eq!(error(&["XREADGROUP", "STREAMS", "s", ">"], true).as_deref(), Some("ERR Missing GROUP option for XREADGROUP"));
        assert_eq!(error(&["XREAD", "COUNT", "1", "s"], false).as_deref(), Some("ERR syntax error"));
    }

    #[test]
    fn interval_bounds_follow_redis() {
        assert_eq!(interval_start(b"-"), Ok(StreamId::MIN));
        assert_eq!(interval_start(b"(5-1"), Ok(StreamId::new(5, 2)));
        assert_eq!(interval_start(b"5"), Ok(StreamId::new(5, 0)));
        assert_eq!(interval_end(b"5"), Ok(StreamId::new(5, u64::MAX)));
        assert_eq!(interval_end(b"(5-0"), Ok(StreamId::new(4, u64::MAX)));
        assert_eq!(interval_end(b"(0-0"), Err(CmdError::err("invalid end ID for the interval")));
        assert_eq!(interval_start(b"(-"), Err(INVALID_ID));
        assert_eq!(interval_start(b"("), Err(INVALID_ID));
    }
}

#[cfg(test)]
mod blocking_tests {
    //! The blocking contract, in process: a blocked XREAD hands the connection a block request and
    //! keeps what `$` meant for its re-run.

    use super::*;
    use crate::commands::{dispatch, registry, Session};
    use crate::config::Config;
    use crate::resp::{parse_request, ParseLimits, RequestBuf};
    use crate::state::clients::ClientInfo;
    use crate::state::shared::Shared;

    fn session(shared: &Shared) -> Session {
        let addr = "127.0.0.1:1".parse().expect("address");
        let info = std::sync::Arc::new(ClientInfo::new(shared.clients.next_id(), addr, addr, 0, 0));
        Session::new(info, &shared.acl)
    }

    fn run(shared: &Shared, session: &mut Session, now_ms: u64, words: &[&str]) -> Reply {
        let mut buf = format!("*{}\r\n", words.len());
        for word in words {
            buf.push_str(&format!("${}\r\n{word}\r\n", word.len()));
        }
        let mut req = RequestBuf::default();
        parse_request(buf.as_bytes(), &mut req, ParseLimits { max_bulk_len: 1 << 20, unauthenticated: false }).expect("request");
        let mut ctx = Ctx::new(shared, session, now_ms);
        dispatch(&mut ctx, req.args(buf.as_bytes())).reply
    }

    #[test]
    fn blocked_xread_keeps_what_dollar_meant() {
        let shared = Shared::new(Config::load(None, &[]).expect("config"), registry().all.len());
        let (mut reader, mut writer) = (session(&shared), session(&shared));
        run(&shared, &mut writer, 1, &["XADD", "s", "1-1", "a", "1"]);
        let read = ["XREAD", "BLOCK", "0", "STREAMS", "s", "other", "$", "$"];
        assert_eq!(run(&shared, &mut reader, 2, &read), Reply::NoReply);
        let request = reader.block.take().expect("block request");
        assert_eq!(request.keys, vec![b"s".to_vec(), b"other".to_vec()]);
        assert_eq!((request.deadline, request.timeout_reply), (None, Reply::NilArray));
        assert_eq!(reader.blocked_read_ids, Some(vec![StreamId::new(1, 1), StreamId::MIN]));
        // A write that adds nothing readable: the run on the waiter's behalf (given the saved IDs)
        // blocks again, still after 1-1.
        run(&shared, &mut writer, 3, &["XDEL", "s", "9-9"]);
        assert_eq!(run(&shared, &mut reader, 4, &read), Reply::NoReply);
        assert!(reader.block.take().is_some());
        assert_eq!(reader.blocked_read_ids, Some(vec![StreamId::new(1, 1), StreamId::MIN]));
        run(&shared, &mut writer, 5, &["XADD", "s", "2-1", "b", "2"]);
        let served = run(&shared, &mut reader, 6, &read);
        let entry = entry_reply(StreamId::new(2, 1), &["b", "2"].into_iter().collect());
        assert_eq!(served, Reply::Array(vec![Reply::Array(vec![Reply::bulk(b"s"), Reply::Array(vec![entry])])]));
        assert!(reader.blocked_read_ids.is_none(), "used up once served");
    }

    #[test]
    fn blocking_reads_inside_exec_answer_the_timeout_reply() {
        let shared = Shared::new(Config::load(None, &[]).expect("config"), registry().all.len());
        let mut reader = session(&shared);
        reader.in_exec = true;
        assert_eq!(run(&shared, &mut reader, 1, &["XREAD", "BLOCK", "0", "STREAMS", "s", "$"]), Reply::NilArray);
        run(&shared, &mut reader, 1, &["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]);
        assert_eq!(run(&shared, &mut reader, 1, &["XREADGROUP", "GROUP", "g", "c", "BLOCK", "10", "STREAMS", "s", ">"]), Reply::NilArray);
        assert!(reader.block.is_none() && reader.blocked_read_ids.is_none());
    }
}
