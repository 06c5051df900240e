//! What the collection families share: typed access to a key's list, hash, set or sorted set,
//! creation on first write, deletion of emptied keys, and the *SCAN cursor and COUNT parsing.

use super::args::ArgCursor;
use super::{CmdError, Ctx};
pub use crate::engine::Collection;
use crate::engine::{KeyHash, Limits, Shard, Tracked};
use crate::resp::{Args, Reply};

/// The encoding thresholds in force.
pub fn limits(ctx: &Ctx) -> Limits {
    ctx.shared.config.hot.limits()
}

/// The collection at `key`: `None` when missing, WRONGTYPE when the key holds another type.
/// `touch` records the access for OBJECT IDLETIME (off for CLIENT NO-TOUCH connections).
pub fn get<'a, T: Collection>(
    shard: &'a mut Shard,
    hash: KeyHash,
    key: &[u8],
    now_ms: u64,
    touch: bool,
) -> Result<Option<&'a T>, CmdError> {
    let entry = if touch { shard.touch(hash, key, now_ms) } else { shard.get(hash, key, now_ms) };
    match entry {
        None => Ok(None),
        Some(entry) => T::of(entry.value()).map(Some).ok_or(CmdError::WrongType),
    }
}

/// Like [`get`], for writing: the collection's mutators report their changes.
pub fn get_mut<'a, T: Collection>(
    shard: &'a mut Shard,
    hash: KeyHash,
    key: &[u8],
    now_ms: u64,
    touch: bool,
) -> Result<Option<Tracked<'a, T>>, CmdError> {
    match shard.write(hash, key, now_ms, touch) {
        None => Ok(None),
        Some(write) => write.collection::<T>().map(Some).ok_or(CmdError::WrongType),
    }
}

/// The collection at `key`, created empty when missing (callers then add to it, or call
/// [`drop_if_empty`]).
pub fn get_or_create<'a, T: Collection>(
    shard: &'a mut Shard,
    hash: KeyHash,
    key: &[u8],
    now_ms: u64,
    touch: bool,
) -> Result<Tracked<'a, T>, CmdError> {
    if get::<T>(shard, hash, key, now_ms, touch)?.is_none() {
        shard.set(hash, key, T::default().into_value(), None, now_ms);
    }
    get_mut::<T>(shard, hash, key, now_ms, false)?.ok_or(CmdError::WrongType)
}

/// Deletes `key` if it holds an empty collection: a key never holds one. Returns whether it did (the
/// caller then reports `del`).
pub fn drop_if_empty(shard: &mut Shard, hash: KeyHash, key: &[u8], now_ms: u64) -> bool {
    if shard.get(hash, key, now_ms).is_some_and(|e| e.value().is_empty_collection()) {
        shard.remove(hash, key, now_ms);
        return true;
    }
    false
}

/// The cursor argument of HSCAN/SSCAN/ZSCAN, read as Redis reads it with `strtoul`: an optional
/// sign (a negative cursor wraps around), decimal digits, nothing else; an empty cursor is 0.
pub fn parse_cursor(arg: &[u8]) -> Result<u64, CmdError> {
    let invalid = || CmdError::err("invalid cursor");
    if arg.is_empty() {
        // strtoul reads nothing and stops at the end: cursor 0.
        return Ok(0);
    }
    let (negative, digits) = match arg.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, arg),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(invalid());
    }
    let value: u64 = std::str::from_utf8(digits).ok().and_then(|t| t.parse().ok()).ok_or_else(invalid)?;
    Ok(if negative { value.wrapping_neg() } else { value })
}

/// A scan step's reply: the next cursor and the items.
pub fn scan_reply(next: u64, items: Vec<Reply>) -> Reply {
    Reply::Array(vec![Reply::bulk_string(next.to_string()), Reply::Array(items)])
}

/// The reply to a scan of a missing key.
pub fn empty_scan() -> Reply {
    scan_reply(0, Vec::new())
}

/// `[MATCH pattern] [COUNT count]` of the collection scans.
pub struct ScanOptions<'a> {
    pub pattern: Option<&'a [u8]>,
    pub count: usize,
}

pub fn parse_scan_options<'a>(args: Args<'a>, start: usize) -> Result<ScanOptions<'a>, CmdError> {
    let mut cursor = ArgCursor::new(args, start);
    let mut options = ScanOptions { pattern: None, count: 10 };
    while !cursor.is_done() {
        if cursor.eat("MATCH") {
            options.pattern = Some(cursor.next_bytes()?);
        } else if cursor.eat("COUNT") {
            let n = cursor.next_i64()?;
            if n < 1 {
                return Err(CmdError::Syntax);
            }
            options.count = n as usize;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    Ok(options)
}

impl ScanOptions<'_> {
    pub fn keeps(&self, item: &[u8]) -> bool {
        self.pattern.is_none_or(|p| p == b"*" || crate::glob::matches(p, item, false))
    }
}

/// A count argument that must be positive (LPOP/RPOP/SPOP ... count).
pub fn positive_count(arg: &[u8]) -> Result<usize, CmdError> {
    match crate::num::parse_i64(arg) {
        Some(n) if n >= 0 => Ok(n as usize),
        _ => Err(CmdError::err("value is out of range, must be positive")),
    }
}

/// Turns Redis's inclusive `start stop` (negative counts from the end) into a clamped index range;
/// `None` when it selects nothing.
pub fn index_range(start: i64, stop: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let start = if start < 0 { (len + start).max(0) } else { start };
    let stop = if stop < 0 { len + stop } else { stop.min(len - 1) };
    (start <= stop && start < len && stop >= 0).then_some((start as usize, stop as usize))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_ranges_follow_lrange() {
        assert_eq!(index_range(0, -1, 3), Some((0, 2)));
        assert_eq!(index_range(-100, 100, 3), Some((0, 2)));
        assert_eq!(index_range(2, 1, 3), None);
        assert_eq!(index_range(5, 10, 3), None);
        assert_eq!(index_range(0, -4, 3), None);
        assert_eq!(index_range(0, 0, 0), None);
        assert_eq!(parse_cursor(b"-1"), Ok(u64::MAX));
        assert_eq!(parse_cursor(b"+7"), Ok(7));
        assert_eq!(parse_cursor(b""), Ok(0));
        assert!(parse_cursor(b" 1").is_err() && parse_cursor(b"-").is_err() && parse_cursor(b"18446744073709551616").is_err());
    }
}
