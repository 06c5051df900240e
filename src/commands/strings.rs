//! String commands.

use bytes::Bytes;

use super::args::{parse_int, ArgCursor};
use super::expiry::{deadline, TimeUnit};
use super::{CmdError, Ctx};
use crate::engine::thin::ThinBytes;
use crate::engine::{KeyHash, Shard, Value};
use crate::notify;
use crate::num::parse_f64;
use crate::resp::{Args, Reply};

/// The string at `key`: `None` if missing, WRONGTYPE if another type.
fn read(shard: &mut Shard, hash: KeyHash, key: &[u8], now_ms: u64, touch: bool) -> Result<Option<Bytes>, CmdError> {
    let entry = if touch { shard.touch(hash, key, now_ms) } else { shard.get(hash, key, now_ms) };
    match entry {
        None => Ok(None),
        Some(entry) => entry.value().with_string(Bytes::copy_from_slice).map(Some).ok_or(CmdError::WrongType),
    }
}

/// GET key
pub fn get(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let key = args.get(1);
    let hash = KeyHash::of(key);
    let value = read(&mut ctx.db().lock(hash), hash, key, ctx.now_ms, ctx.touches())?;
    ctx.record_lookup(value.is_some());
    Ok(value.map_or(Reply::Nil, Reply::Bulk))
}

/// When SET may write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Condition {
    Always,
    IfMissing,
    IfExists,
}

/// What happens to the deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ttl {
    Clear,
    Keep,
    At(i64),
}

#[derive(Debug, PartialEq, Eq)]
struct SetArgs {
    condition: Condition,
    ttl: Ttl,
    get: bool,
}

fn parse_set_args(cursor: &mut ArgCursor, now_ms: u64) -> Result<SetArgs, CmdError> {
    let mut parsed = SetArgs { condition: Condition::Always, ttl: Ttl::Clear, get: false };
    // The TTL option given so far: repeating it is allowed (the last value wins), mixing two is not,
    // as in Redis.
    let mut ttl_word: Option<Vec<u8>> = None;
    while let Some(word) = cursor.peek() {
        cursor.next_bytes()?;
        let upper = word.to_ascii_uppercase();
        let ttl_free = ttl_word.as_ref().is_none_or(|given| *given == upper);
        match upper.as_slice() {
            b"NX" if parsed.condition != Condition::IfExists => parsed.condition = Condition::IfMissing,
            b"XX" if parsed.condition != Condition::IfMissing => parsed.condition = Condition::IfExists,
            b"GET" => parsed.get = true,
            b"KEEPTTL" if ttl_free => {
                parsed.ttl = Ttl::Keep;
                ttl_word = Some(upper);
            }
            b"EX" | b"PX" | b"EXAT" | b"PXAT" if ttl_free && !cursor.is_done() => {
                let amount = cursor.next_i64()?;
                let unit = if upper[0] == b'E' { TimeUnit::Seconds } else { TimeUnit::Millis };
                parsed.ttl = Ttl::At(deadline(amount, unit, upper.len() == 4, now_ms, false, "set")?);
                ttl_word = Some(upper);
            }
            _ => return Err(CmdError::Syntax),
        }
    }
    Ok(parsed)
}

/// SET key value [NX | XX] [GET] [EX seconds | PX milliseconds | EXAT unix-time-seconds |
/// PXAT unix-time-milliseconds | KEEPTTL]
pub fn set(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let mut cursor = ArgCursor::new(args, 3);
    let options = parse_set_args(&mut cursor, ctx.now_ms)?;
    let (key, value) = (args.get(1), args.get(2));
    let hash = KeyHash::of(key);
    let now = ctx.now_ms;
    let mut shard = ctx.db().lock(hash);
    let old = if options.get { read(&mut shard, hash, key, now, false)? } else { None };
    let exists = options.get && old.is_some() || options.condition != Condition::Always && shard.contains(hash, key, now);
    let allowed = match options.condition {
        Condition::Always => true,
        Condition::IfMissing => !exists,
        Condition::IfExists => exists,
    };
    if allowed {
        match options.ttl {
            Ttl::Clear => {
                shard.set(hash, key, Value::string(value), None, now);
            }
            Ttl::Keep => {
                shard.set_keep_ttl(hash, key, Value::string(value), now);
            }
            Ttl::At(at) => {
                if store_with_deadline(&mut shard, hash, key, Value::string(value), at, now) {
                    // Redis stores the key and expires it later: it reports it created first.
                    ctx.notify(notify::NEW, "new", key);
                }
            }
        }
        drop(shard);
        ctx.notify(notify::STRING, "set", key);
        if let Ttl::At(at) = options.ttl {
            notify_deadline(ctx, key, at);
        }
    }
    Ok(match (options.get, allowed) {
        (true, _) => old.map_or(Reply::Nil, Reply::Bulk),
        (false, true) => Reply::Ok,
        (false, false) => Reply::Nil,
    })
}

/// The `expire` event of a deadline just set; one already past also reports the key `expired`, as
/// Redis does when it finds the key gone on its next access.
fn notify_deadline(ctx: &Ctx, key: &[u8], at: i64) {
    ctx.notify(notify::GENERIC, "expire", key);
    if at <= ctx.now_ms as i64 {
        ctx.notify(notify::EXPIRED, "expired", key);
    }
}

/// Stores a value with a deadline; a deadline already past deletes the key instead, as Redis does.
/// Returns true when that happened to a key that did not exist (so it was never created).
fn store_with_deadline(shard: &mut Shard, hash: KeyHash, key: &[u8], value: Value, at: i64, now_ms: u64) -> bool {
    if at <= now_ms as i64 {
        shard.remove(hash, key, now_ms).is_none()
    } else {
        shard.set(hash, key, value, Some(at as u64), now_ms);
        false
    }
}

/// SETNX key value
pub fn setnx(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let (key, value) = (args.get(1), args.get(2));
    let hash = KeyHash::of(key);
    let mut shard = ctx.db().lock(hash);
    if shard.contains(hash, key, ctx.now_ms) {
        return Ok(Reply::Int(0));
    }
    shard.set(hash, key, Value::string(value), None, ctx.now_ms);
    drop(shard);
    ctx.notify(notify::STRING, "set", key);
    Ok(Reply::Int(1))
}

fn set_with_expire(ctx: &mut Ctx, args: Args, unit: TimeUnit, command: &str) -> Result<Reply, CmdError> {
    let (key, value) = (args.get(1), args.get(3));
    let at = deadline(parse_int(args.get(2))?, unit, false, ctx.now_ms, false, command)?;
    let hash = KeyHash::of(key);
    store_with_deadline(&mut ctx.db().lock(hash), hash, key, Value::string(value), at, ctx.now_ms);
    ctx.notify(notify::STRING, "set", key);
    notify_deadline(ctx, key, at);
    Ok(Reply::Ok)
}

/// SETEX key seconds value
pub fn setex(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    set_with_expire(ctx, args, TimeUnit::Seconds, "setex")
}

/// PSETEX key milliseconds value
pub fn psetex(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    set_with_expire(ctx, args, TimeUnit::Millis, "psetex")
}

/// GETSET key value
pub fn getset(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let (key, value) = (args.get(1), args.get(2));
    let hash = KeyHash::of(key);
    let mut shard = ctx.db().lock(hash);
    let old = read(&mut shard, hash, key, ctx.now_ms, false)?;
    shard.set(hash, key, Value::string(value), None, ctx.now_ms);
    drop(shard);
    ctx.notify(notify::STRING, "set", key);
    Ok(old.map_or(Reply::Nil, Reply::Bulk))
}

/// GETDEL key
pub fn getdel(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let key = args.get(1);
    let hash = KeyHash::of(key);
    let mut shard = ctx.db().lock(hash);
    let old = read(&mut shard, hash, key, ctx.now_ms, false)?;
    if old.is_some() {
        shard.remove(hash, key, ctx.now_ms);
        drop(shard);
        ctx.notify(notify::GENERIC, "del", key);
    }
    ctx.record_lookup(old.is_some());
    Ok(old.map_or(Reply::Nil, Reply::Bulk))
}

/// GETEX key [EX seconds | PX milliseconds | EXAT unix-time-seconds | PXAT unix-time-milliseconds | PERSIST]
///
/// As in Redis, only the option words are checked before the lookup: a missing key answers nil and a
/// key of another type WRONGTYPE even when the time is not a valid number.
pub fn getex(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    /// The TTL change asked for; its time is parsed once the key is known to exist.
    enum Change<'a> {
        Persist,
        Expire { amount: &'a [u8], unit: TimeUnit, absolute: bool },
    }
    let mut cursor = ArgCursor::new(args, 2);
    let mut change: Option<Change> = None;
    // As SET: the same option may repeat (the last value wins), two different ones may not.
    let mut given: Option<Vec<u8>> = None;
    while let Some(word) = cursor.peek() {
        cursor.next_bytes()?;
        let upper = word.to_ascii_uppercase();
        let free = given.as_ref().is_none_or(|given| *given == upper);
        match upper.as_slice() {
            b"PERSIST" if free => change = Some(Change::Persist),
            b"EX" | b"PX" | b"EXAT" | b"PXAT" if free && !cursor.is_done() => {
                let unit = if upper[0] == b'E' { TimeUnit::Seconds } else { TimeUnit::Millis };
                change = Some(Change::Expire { amount: cursor.next_bytes()?, unit, absolute: upper.len() == 4 });
            }
            _ => return Err(CmdError::Syntax),
        }
        given = Some(upper);
    }
    let key = args.get(1);
    let hash = KeyHash::of(key);
    let now = ctx.now_ms;
    let touch = ctx.touches();
    let mut shard = ctx.db().lock(hash);
    let value = read(&mut shard, hash, key, now, touch)?;
    if value.is_some() {
        match change {
            Some(Change::Persist) => {
                let had_deadline = shard.get(hash, key, now).is_some_and(|e| e.expire_at().is_some());
                shard.set_expire(hash, key, None, now);
                drop(shard);
                if had_deadline {
                    ctx.notify(notify::GENERIC, "persist", key);
                }
            }
            Some(Change::Expire { amount, unit, absolute }) => {
                let at = deadline(parse_int(amount)?, unit, absolute, now, false, "getex")?;
                if at <= now as i64 {
                    shard.remove(hash, key, now);
                    drop(shard);
                    ctx.notify(notify::GENERIC, "del", key);
                } else {
                    shard.set_expire(hash, key, Some(at as u64), now);
                    drop(shard);
                    ctx.notify(notify::GENERIC, "expire", key);
                }
            }
            None => {}
        }
    }
    ctx.record_lookup(value.is_some());
    Ok(value.map_or(Reply::Nil, Reply::Bulk))
}

/// MGET key [key ...]
pub fn mget(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let db_index = ctx.session.db;
    let keys: Vec<(&[u8], KeyHash)> = args.iter().skip(1).map(|k| (k, KeyHash::of(k))).collect();
    let mut locked = ctx.shared.keyspace.lock_keys(keys.iter().map(|(_, h)| (db_index, *h)));
    let mut replies = Vec::with_capacity(keys.len());
    let (mut hits, mut misses) = (0, 0);
    for (key, hash) in &keys {
        let shard = locked.shard(db_index, *hash);
        let value = shard.get(*hash, key, ctx.now_ms).and_then(|e| e.value().with_string(Bytes::copy_from_slice));
        if value.is_some() {
            hits += 1;
        } else {
            misses += 1;
        }
        replies.push(value.map_or(Reply::Nil, Reply::Bulk));
    }
    ctx.hits += hits;
    ctx.misses += misses;
    Ok(Reply::Array(replies))
}

/// (key, value, hash) triples of MSET-style arguments.
type Pairs<'a> = Vec<(&'a [u8], &'a [u8], KeyHash)>;

fn pairs<'a>(args: Args<'a>, command: &str) -> Result<Pairs<'a>, CmdError> {
    if args.len().is_multiple_of(2) {
        return Err(CmdError::WrongArity(command.to_owned()));
    }
    Ok((1..args.len()).step_by(2).map(|i| (args.get(i), args.get(i + 1), KeyHash::of(args.get(i)))).collect())
}

/// MSET key value [key value ...]
pub fn mset(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let pairs = pairs(args, "mset")?;
    let db_index = ctx.session.db;
    let mut locked = ctx.shared.keyspace.lock_keys(pairs.iter().map(|(_, _, h)| (db_index, *h)));
    for (key, value, hash) in &pairs {
        locked.shard(db_index, *hash).set(*hash, key, Value::string(value), None, ctx.now_ms);
    }
    drop(locked);
    for (key, _, _) in pairs {
        ctx.notify(notify::STRING, "set", key);
    }
    Ok(Reply::Ok)
}

/// MSETNX key value [key value ...]
pub fn msetnx(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let pairs = pairs(args, "msetnx")?;
    let db_index = ctx.session.db;
    let mut locked = ctx.shared.keyspace.lock_keys(pairs.iter().map(|(_, _, h)| (db_index, *h)));
    if pairs.iter().any(|(key, _, hash)| locked.shard(db_index, *hash).contains(*hash, key, ctx.now_ms)) {
        return Ok(Reply::Int(0));
    }
    for (key, value, hash) in &pairs {
        locked.shard(db_index, *hash).set(*hash, key, Value::string(value), None, ctx.now_ms);
    }
    drop(locked);
    for (key, _, _) in pairs {
        ctx.notify(notify::STRING, "set", key);
    }
    Ok(Reply::Int(1))
}

/// APPEND key value
pub fn append(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let (key, suffix) = (args.get(1), args.get(2));
    let hash = KeyHash::of(key);
    let mut shard = ctx.db().lock(hash);
    let Some(write) = shard.write(hash, key, ctx.now_ms, false) else {
        shard.set(hash, key, Value::string(suffix), None, ctx.now_ms);
        drop(shard);
        ctx.notify(notify::STRING, "append", key);
        return Ok(Reply::from(suffix.len()));
    };
    let old_len = write.value().with_string(<[u8]>::len).ok_or(CmdError::WrongType)?;
    check_size(ctx, old_len as i64 + suffix.len() as i64)?;
    let mut bytes = write.string_bytes().ok_or(CmdError::WrongType)?;
    bytes.write_at(old_len, suffix);
    let len = bytes.len();
    drop(shard);
    ctx.notify(notify::STRING, "append", key);
    Ok(Reply::from(len))
}

/// Refuses a string that would grow past `proto-max-bulk-len` (Redis's `checkStringLength`).
fn check_size(ctx: &Ctx, len: i64) -> Result<(), CmdError> {
    if len > ctx.shared.config.hot.proto_max_bulk_len.load(std::sync::atomic::Ordering::Relaxed) {
        return Err(CmdError::err("string exceeds maximum allowed size (proto-max-bulk-len)"));
    }
    Ok(())
}

/// STRLEN key
pub fn strlen(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let key = args.get(1);
    let hash = KeyHash::of(key);
    let mut shard = ctx.db().lock(hash);
    match shard.get(hash, key, ctx.now_ms) {
        None => Ok(Reply::Int(0)),
        Some(entry) => entry.value().with_string(|s| Reply::from(s.len())).ok_or(CmdError::WrongType),
    }
}

/// Adds `delta` to the integer at `key` (0 if missing), keeping its deadline.
fn increment(ctx: &mut Ctx, key: &[u8], delta: i64) -> Result<Reply, CmdError> {
    let hash = KeyHash::of(key);
    let mut shard = ctx.db().lock(hash);
    let current = match shard.get(hash, key, ctx.now_ms) {
        None => 0,
        Some(entry) => match entry.value() {
            Value::Int(n) => *n,
            other => other
                .with_string(|s| if s.len() <= 20 { crate::num::parse_i64(s) } else { None })
                .ok_or(CmdError::WrongType)?
                .ok_or(CmdError::NotInteger)?,
        },
    };
    let next = current.checked_add(delta).ok_or(CmdError::Overflow)?;
    match shard.write(hash, key, ctx.now_ms, false) {
        Some(write) => {
            write.replace(Value::Int(next));
        }
        None => {
            shard.set(hash, key, Value::Int(next), None, ctx.now_ms);
        }
    }
    drop(shard);
    ctx.notify(notify::STRING, "incrby", key);
    Ok(Reply::Int(next))
}

/// INCR key
pub fn incr(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    increment(ctx, args.get(1), 1)
}

/// DECR key
pub fn decr(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    increment(ctx, args.get(1), -1)
}

/// INCRBY key increment
pub fn incrby(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let delta = parse_int(args.get(2))?;
    increment(ctx, args.get(1), delta)
}

/// DECRBY key decrement
pub fn decrby(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let delta = parse_int(args.get(2))?;
    if delta == i64::MIN {
        return Err(CmdError::err("decrement would overflow"));
    }
    increment(ctx, args.get(1), -delta)
}

/// INCRBYFLOAT key increment
///
/// Redis adds in 80-bit long double and prints 17 decimals; strata adds in f64 and prints at most the
/// 15 significant digits an f64 carries, which gives Redis's answer for the usual decimal inputs
/// (`10.5 + 0.1 = 10.6`, `0.1 + 0.2 = 0.3`).
pub fn incrbyfloat(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let (key, increment) = (args.get(1), args.get(2));
    let increment = parse_f64(increment).ok_or(CmdError::NotFloat)?;
    let hash = KeyHash::of(key);
    let mut shard = ctx.db().lock(hash);
    let current = match shard.get(hash, key, ctx.now_ms) {
        None => 0.0,
        Some(entry) => entry.value().with_string(parse_f64).ok_or(CmdError::WrongType)?.ok_or(CmdError::NotFloat)?,
    };
    let next = current + increment;
    if !next.is_finite() {
        return Err(CmdError::err("increment would produce NaN or Infinity"));
    }
    let text = format_human_float(next);
    shard.set_keep_ttl(hash, key, Value::string_verbatim(text.as_bytes()), ctx.now_ms);
    drop(shard);
    ctx.notify(notify::STRING, "incrbyfloat", key);
    Ok(Reply::bulk_string(text))
}

/// A float in plain decimal notation with at most 15 significant digits and no trailing zeros.
pub(super) fn format_human_float(value: f64) -> String {
    let magnitude = if value == 0.0 { 0 } else { value.abs().log10().floor() as i32 };
    let decimals = (14 - magnitude).clamp(0, 17) as usize;
    let text = format!("{value:.decimals$}");
    let text = if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.').to_owned() } else { text };
    if text == "-0" {
        "0".to_owned()
    } else {
        text
    }
}

/// GETRANGE key start end
pub fn getrange(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let (start, end) = (parse_int(args.get(2))?, parse_int(args.get(3))?);
    let key = args.get(1);
    let hash = KeyHash::of(key);
    let Some(value) = read(&mut ctx.db().lock(hash), hash, key, ctx.now_ms, ctx.touches())? else {
        return Ok(Reply::bulk(b""));
    };
    Ok(Reply::Bulk(match byte_range(value.len() as i64, start, end) {
        Some((from, to)) => value.slice(from..to),
        None => Bytes::new(),
    }))
}

/// SUBSTR key start end (the old name of GETRANGE)
pub fn substr(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    getrange(ctx, args)
}

/// Redis's GETRANGE index rules: negative indexes count from the end; empty when start > end.
fn byte_range(len: i64, mut start: i64, mut end: i64) -> Option<(usize, usize)> {
    if start < 0 && end < 0 && start > end {
        return None;
    }
    if start < 0 {
        start += len;
    }
    if end < 0 {
        end += len;
    }
    start = start.max(0);
    end = end.max(0).min(len - 1);
    if start > end || len == 0 {
        return None;
    }
    Some((start as usize, end as usize + 1))
}

/// SETRANGE key offset value
pub fn setrange(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let (key, value) = (args.get(1), args.get(3));
    let offset = parse_int(args.get(2))?;
    if offset < 0 {
        return Err(CmdError::err("offset is out of range"));
    }
    let hash = KeyHash::of(key);
    let mut shard = ctx.db().lock(hash);
    let current_len = match shard.get(hash, key, ctx.now_ms) {
        Some(entry) => Some(entry.value().with_string(<[u8]>::len).ok_or(CmdError::WrongType)?),
        None => None,
    };
    if value.is_empty() {
        return Ok(Reply::from(current_len.unwrap_or(0)));
    }
    // Saturating: an offset near i64::MAX must be refused, not overflow (a panic in debug builds, a
    // wrapped size and a huge allocation in release builds).
    check_size(ctx, offset.saturating_add(value.len() as i64))?;
    if current_len.is_none() {
        shard.set(hash, key, Value::Raw(ThinBytes::new(b"")), None, ctx.now_ms);
    }
    // In place, as Redis: the edit (and what persistence writes) is the size of the range.
    let write = shard.write(hash, key, ctx.now_ms, false).ok_or(CmdError::NoSuchKey)?;
    let mut bytes = write.string_bytes().ok_or(CmdError::WrongType)?;
    bytes.write_at(offset as usize, value);
    let len = bytes.len();
    drop(shard);
    ctx.notify(notify::STRING, "setrange", key);
    Ok(Reply::from(len))
}

/// LCS key1 key2 [LEN] [IDX] [MINMATCHLEN min-match-len] [WITHMATCHLEN]
pub fn lcs(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    // As Redis: the keys are looked up and type-checked before the options are parsed, with LCS's own
    // error rather than WRONGTYPE.
    let db_index = ctx.session.db;
    let (ka, kb) = (args.get(1), args.get(2));
    let (ha, hb) = (KeyHash::of(ka), KeyHash::of(kb));
    let (a, b) = {
        let not_strings = |e: CmdError| match e {
            CmdError::WrongType => CmdError::err("The specified keys must contain string values"),
            other => other,
        };
        let mut locked = ctx.shared.keyspace.lock_keys([(db_index, ha), (db_index, hb)]);
        let a = read(locked.shard(db_index, ha), ha, ka, ctx.now_ms, false).map_err(not_strings)?;
        let b = read(locked.shard(db_index, hb), hb, kb, ctx.now_ms, false).map_err(not_strings)?;
        (a.unwrap_or_default(), b.unwrap_or_default())
    };
    let mut cursor = ArgCursor::new(args, 3);
    let (mut want_len, mut want_idx, mut with_match_len, mut min_match_len) = (false, false, false, 0i64);
    while !cursor.is_done() {
        if cursor.eat("LEN") {
            want_len = true;
        } else if cursor.eat("IDX") {
            want_idx = true;
        } else if cursor.eat("WITHMATCHLEN") {
            with_match_len = true;
        } else if cursor.eat("MINMATCHLEN") {
            min_match_len = cursor.next_i64()?.max(0);
        } else {
            return Err(CmdError::Syntax);
        }
    }
    if want_len && want_idx {
        return Err(CmdError::err("If you want both the length and indexes, please just use IDX."));
    }
    let table = lcs_table(&a, &b)?;
    let (n, m) = (a.len(), b.len());
    let cols = m + 1;
    let total = table[n * cols + m] as usize;
    if !want_idx {
        if want_len {
            return Ok(Reply::from(total));
        }
        // Walk back from the end collecting the common subsequence.
        let mut out = vec![0u8; total];
        let (mut i, mut j, mut k) = (n, m, total);
        while i > 0 && j > 0 && k > 0 {
            if a[i - 1] == b[j - 1] {
                out[k - 1] = a[i - 1];
                i -= 1;
                j -= 1;
                k -= 1;
            } else if table[(i - 1) * cols + j] > table[i * cols + j - 1] {
                i -= 1;
            } else {
                j -= 1;
            }
        }
        return Ok(Reply::Bulk(out.into()));
    }
    let mut matches = Vec::new();
    let (mut i, mut j) = (n, m);
    let mut range: Option<(usize, usize, usize, usize)> = None;
    let emit = |range: (usize, usize, usize, usize), matches: &mut Vec<Reply>| {
        let (a_start, a_end, b_start, b_end) = range;
        let len = (a_end - a_start + 1) as i64;
        if len >= min_match_len {
            let mut item = vec![
                Reply::Array(vec![Reply::from(a_start), Reply::from(a_end)]),
                Reply::Array(vec![Reply::from(b_start), Reply::from(b_end)]),
            ];
            if with_match_len {
                item.push(Reply::Int(len));
            }
            matches.push(Reply::Array(item));
        }
    };
    while i > 0 && j > 0 {
        if a[i - 1] == b[j - 1] {
            range = match range {
                Some((a_start, a_end, b_start, b_end)) if a_start == i && b_start == j => Some((i - 1, a_end, j - 1, b_end)),
                Some(done) => {
                    emit(done, &mut matches);
                    Some((i - 1, i - 1, j - 1, j - 1))
                }
                None => Some((i - 1, i - 1, j - 1, j - 1)),
            };
            i -= 1;
            j -= 1;
        } else if table[(i - 1) * cols + j] > table[i * cols + j - 1] {
            i -= 1;
        } else {
            j -= 1;
        }
    }
    if let Some(done) = range {
        emit(done, &mut matches);
    }
    Ok(Reply::Map(vec![(Reply::bulk(b"matches"), Reply::Array(matches)), (Reply::bulk(b"len"), Reply::from(total))]))
}

/// The dynamic-programming table of LCS lengths, (n+1) x (m+1).
fn lcs_table(a: &[u8], b: &[u8]) -> Result<Vec<u32>, CmdError> {
    let (n, m) = (a.len(), b.len());
    let cells = (n + 1)
        .checked_mul(m + 1)
        .filter(|c| *c <= u32::MAX as usize)
        .ok_or_else(|| CmdError::err("Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len"))?;
    let cols = m + 1;
    let mut table = vec![0u32; cells];
    for i in 1..=n {
        for j in 1..=m {
            table[i * cols + j] = if a[i - 1] == b[j - 1] {
                table[(i - 1) * cols + j - 1] + 1
            } else {
                table[(i - 1) * cols + j].max(table[i * cols + j - 1])
            };
        }
    }
    Ok(table)
}

// The command table of this family, joined by `commands::registry`. Its imports stay here, beside
// the rows, so that the family's table and its handlers change independently.

use super::acl;
use super::flags::{DENYOOM, FAST, READONLY, WRITE};
use super::table::Command;

/// The string commands, in the order COMMAND lists them.
pub(super) static COMMANDS: &[Command] = &[
    Command::new("get", 2, get).flags(READONLY | FAST).keys(1, 1, 1).acl(acl::STRING),
    Command::new("set", -3, set).flags(WRITE | DENYOOM).keys(1, 1, 1).acl(acl::STRING),
    Command::new("setnx", 3, setnx).flags(WRITE | DENYOOM | FAST).keys(1, 1, 1).acl(acl::STRING),
    Command::new("setex", 4, setex).flags(WRITE | DENYOOM).keys(1, 1, 1).acl(acl::STRING),
    Command::new("psetex", 4, psetex).flags(WRITE | DENYOOM).keys(1, 1, 1).acl(acl::STRING),
    Command::new("getset", 3, getset).flags(WRITE | DENYOOM | FAST).keys(1, 1, 1).acl(acl::STRING),
    Command::new("getdel", 2, getdel).flags(WRITE | FAST).keys(1, 1, 1).acl(acl::STRING),
    Command::new("getex", -2, getex).flags(WRITE | FAST).keys(1, 1, 1).acl(acl::STRING),
    Command::new("mget", -2, mget).flags(READONLY | FAST).keys(1, -1, 1).acl(acl::STRING),
    Command::new("mset", -3, mset).flags(WRITE | DENYOOM).keys(1, -1, 2).acl(acl::STRING),
    Command::new("msetnx", -3, msetnx).flags(WRITE | DENYOOM).keys(1, -1, 2).acl(acl::STRING),
    Command::new("append", 3, append).flags(WRITE | DENYOOM | FAST).keys(1, 1, 1).acl(acl::STRING),
    Command::new("strlen", 2, strlen).flags(READONLY | FAST).keys(1, 1, 1).acl(acl::STRING),
    Command::new("incr", 2, incr).flags(WRITE | DENYOOM | FAST).keys(1, 1, 1).acl(acl::STRING),
    Command::new("decr", 2, decr).flags(WRITE | DENYOOM | FAST).keys(1, 1, 1).acl(acl::STRING),
    Command::new("incrby", 3, incrby).flags(WRITE | DENYOOM | FAST).keys(1, 1, 1).acl(acl::STRING),
    Command::new("decrby", 3, decrby).flags(WRITE | DENYOOM | FAST).keys(1, 1, 1).acl(acl::STRING),
    Command::new("incrbyfloat", 3, incrbyfloat).flags(WRITE | DENYOOM | FAST).keys(1, 1, 1).acl(acl::STRING),
    Command::new("getrange", 4, getrange).flags(READONLY).keys(1, 1, 1).acl(acl::STRING),
    Command::new("substr", 4, substr).flags(READONLY).keys(1, 1, 1).acl(acl::STRING),
    Command::new("setrange", 4, setrange).flags(WRITE | DENYOOM).keys(1, 1, 1).acl(acl::STRING),
    Command::new("lcs", -3, lcs).flags(READONLY).keys(1, 2, 1).acl(acl::STRING),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_floats() {
        assert_eq!(format_human_float(10.5 + 0.1), "10.6");
        assert_eq!(format_human_float(0.1 + 0.2), "0.3");
        assert_eq!(format_human_float(3000.0), "3000");
        assert_eq!(format_human_float(-1.5), "-1.5");
    }

    #[test]
    fn ranges_like_getrange() {
        assert_eq!(byte_range(10, 0, -1), Some((0, 10)));
        assert_eq!(byte_range(10, -3, -1), Some((7, 10)));
        assert_eq!(byte_range(10, 5, 2), None);
        assert_eq!(byte_range(10, -1, -5), None);
        assert_eq!(byte_range(10, 0, 100), Some((0, 10)));
        assert_eq!(byte_range(0, 0, -1), None);
    }
}
