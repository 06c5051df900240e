//! Bitmap commands: SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD and BITFIELD_RO.
//!
//! Bitmaps are plain strings. Writes edit the stored bytes in place (a SETBIT on a 1 MB bitmap
//! touches one byte) and leave the value `raw`-encoded, as Redis's `dbUnshareStringValue` does. The
//! bit arithmetic lives in [`crate::engine::bitmap`].

use std::sync::atomic::Ordering;

use super::args::{is, parse_int};
use super::{CmdError, Ctx};
use crate::engine::bitmap::{self, BitOp, FieldType, Overflow};
use crate::engine::thin::ThinBytes;
use crate::engine::{KeyHash, Shard, Tracked, Value};
use crate::notify;
use crate::num::parse_i64;
use crate::resp::{Args, Reply};

const OFFSET_ERROR: &str = "bit offset is not an integer or out of range";

/// Redis's `lookupStringForBitCommand`: the string at `key`, created or zero-padded to at least
/// `len` bytes, and whether that creation or growth happened (which counts as a change).
fn string_for_write<'a>(
    shard: &'a mut Shard,
    hash: KeyHash,
    key: &[u8],
    len: usize,
    now_ms: u64,
) -> Result<(Tracked<'a, ThinBytes>, bool), CmdError> {
    let created = !shard.contains(hash, key, now_ms);
    if created {
        shard.set(hash, key, Value::Raw(ThinBytes::new(b"")), None, now_ms);
    }
    let write = shard.write(hash, key, now_ms, false).ok_or(CmdError::NoSuchKey)?;
    let mut bytes = write.string_bytes().ok_or(CmdError::WrongType)?;
    let grown = bytes.len() < len;
    bytes.grow_zeroed(len);
    Ok((bytes, created || grown))
}

/// A bit offset argument (Redis's `getBitOffsetFromArgument`): a non-negative integer whose byte
/// lies below `proto-max-bulk-len`; with `field_bits`, `#n` means `n * field_bits` (BITFIELD).
fn parse_offset(ctx: &Ctx, arg: &[u8], field_bits: Option<u32>) -> Result<u64, CmdError> {
    let (digits, multiplier) = match (arg.first(), field_bits) {
        (Some(b'#'), Some(bits)) => (&arg[1..], i64::from(bits)),
        _ => (arg, 1),
    };
    // Redis multiplies in C and lets the product wrap; a wrapped offset is judged like any other.
    let offset = parse_i64(digits).ok_or_else(|| CmdError::err(OFFSET_ERROR))?.wrapping_mul(multiplier);
    let max_bulk = ctx.shared.config.hot.proto_max_bulk_len.load(Ordering::Relaxed);
    if offset < 0 || offset >> 3 >= max_bulk {
        return Err(CmdError::err(OFFSET_ERROR));
    }
    Ok(offset as u64)
}

/// SETBIT key offset value
///
/// # Returns
/// The bit's previous value.
pub fn setbit(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let offset = parse_offset(ctx, args.get(2), None)?;
    let on = parse_i64(args.get(3)).filter(|bit| bit & !1 == 0).ok_or_else(|| CmdError::err("bit is not an integer or out of range"))?;
    let key = args.get(1);
    let hash = KeyHash::of(key);
    let mut shard = ctx.db().lock(hash);
    let (mut bytes, grown) = string_for_write(&mut shard, hash, key, (offset / 8) as usize + 1, ctx.now_ms)?;
    let (byte, mask) = ((offset / 8) as usize, 0x80u8 >> (offset % 8));
    let old = bytes[byte] & mask != 0;
    let changed = grown || old != (on == 1);
    if old != (on == 1) {
        bytes.edit(byte, 1, |b| b[0] ^= mask);
    }
    drop(shard);
    if changed {
        ctx.notify(notify::STRING, "setbit", key);
    }
    Ok(Reply::Int(i64::from(old)))
}

/// Runs `read` on the bytes of the string at `key` (`None` if missing, WRONGTYPE if another type),
/// under the shard lock, without copying them.
fn with_string<R>(ctx: &mut Ctx, key: &[u8], read: impl FnOnce(Option<&[u8]>) -> R) -> Result<R, CmdError> {
    let hash = KeyHash::of(key);
    let touch = ctx.touches();
    let mut shard = ctx.db().lock(hash);
    let entry = if touch { shard.touch(hash, key, ctx.now_ms) } else { shard.get(hash, key, ctx.now_ms) };
    let found = entry.is_some();
    let result = match entry {
        None => read(None),
        Some(entry) => entry.value().with_string(|bytes| read(Some(bytes))).ok_or(CmdError::WrongType)?,
    };
    drop(shard);
    ctx.record_lookup(found);
    Ok(result)
}

/// GETBIT key offset
pub fn getbit(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let offset = parse_offset(ctx, args.get(2), None)?;
    let bit = with_string(ctx, args.get(1), |bytes| {
        let byte = usize::try_from(offset / 8).ok().and_then(|i| bytes?.get(i).copied()).unwrap_or(0);
        byte & (0x80 >> (offset % 8)) != 0
    })?;
    Ok(Reply::Int(i64::from(bit)))
}

/// A BYTE or BIT range argument converted to bit positions, Redis's way: negative indexes count
/// from the end, both ends are clamped into the string. `None` when the range is empty.
fn bit_range(mut start: i64, mut end: i64, in_bits: bool, len: usize) -> Option<(u64, u64)> {
    let total = if in_bits { len as i64 * 8 } else { len as i64 };
    if start < 0 {
        start += total;
    }
    if end < 0 {
        end += total;
    }
    let (start, end) = (start.max(0), end.max(0).min(total - 1));
    if start > end {
        return None;
    }
    let (start, end) = (start as u64, end as u64);
    Some(if in_bits { (start, end) } else { (start * 8, end * 8 + 7) })
}

/// The unit word of BITCOUNT and BITPOS: true for BIT, false for BYTE.
fn parse_unit(arg: &[u8]) -> Result<bool, CmdError> {
    if is(arg, "bit") {
        Ok(true)
    } else if is(arg, "byte") {
        Ok(false)
    } else {
        Err(CmdError::Syntax)
    }
}

/// BITCOUNT key [start end [BYTE | BIT]]
///
/// As in Redis 7.0 the key is looked up first: a missing key answers 0 and another type WRONGTYPE
/// whatever the other arguments are.
pub fn bitcount(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let count = with_string(ctx, args.get(1), |bytes| {
        let Some(bytes) = bytes else {
            return Ok(0);
        };
        let range = match args.len() {
            2 => bit_range(0, -1, false, bytes.len()),
            4 | 5 => {
                let (start, end) = (parse_int(args.get(2))?, parse_int(args.get(3))?);
                if start < 0 && end < 0 && start > end {
                    return Ok(0);
                }
                let in_bits = args.len() == 5 && parse_unit(args.get(4))?;
                bit_range(start, end, in_bits, bytes.len())
            }
            _ => return Err(CmdError::Syntax),
        };
        Ok(range.map_or(0, |(first, last)| bitmap::popcount_bits(bytes, first, last)))
    })??;
    Ok(Reply::Int(count as i64))
}

/// BITPOS key bit [start [end [BYTE | BIT]]]
///
/// # Returns
/// The position of the first bit equal to `bit`, or -1. Looking for a 0 without an explicit end
/// treats the string as followed by zeros, so an all-ones string answers its length in bits.
pub fn bitpos(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let bit = match parse_int(args.get(2))? {
        bit @ (0 | 1) => bit == 1,
        _ => return Err(CmdError::err("The bit argument must be 1 or 0.")),
    };
    let position = with_string(ctx, args.get(1), |bytes| {
        let Some(bytes) = bytes else {
            // A missing key is an infinite run of zeros.
            return Ok(if bit { -1 } else { 0 });
        };
        let (range, end_given) = match args.len() {
            3 => (bit_range(0, -1, false, bytes.len()), false),
            4..=6 => {
                let start = parse_int(args.get(3))?;
                let in_bits = args.len() == 6 && parse_unit(args.get(5))?;
                let end = if args.len() >= 5 { parse_int(args.get(4))? } else { -1 };
                (bit_range(start, end, in_bits, bytes.len()), args.len() >= 5)
            }
            _ => return Err(CmdError::Syntax),
        };
        let Some((first, last)) = range else {
            return Ok(-1);
        };
        Ok(match bitmap::find_bit(bytes, bit, first, last) {
            Some(position) => position as i64,
            None if bit || end_given => -1,
            None => last as i64 + 1,
        })
    })??;
    Ok(Reply::Int(position))
}

/// BITOP AND | OR | XOR | NOT destkey key [key ...]
///
/// # Returns
/// The length of the result, which replaces the destination (deleted when the result is empty).
pub fn bitop(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let op = match args.get(1).to_ascii_lowercase().as_slice() {
        b"and" => BitOp::And,
        b"or" => BitOp::Or,
        b"xor" => BitOp::Xor,
        b"not" => BitOp::Not,
        _ => return Err(CmdError::Syntax),
    };
    if op == BitOp::Not && args.len() != 4 {
        return Err(CmdError::err("BITOP NOT must be called with a single source key."));
    }
    let (db, now, dest) = (ctx.session.db, ctx.now_ms, args.get(2));
    let sources: Vec<(&[u8], KeyHash)> = args.iter().skip(3).map(|k| (k, KeyHash::of(k))).collect();
    let dest_hash = KeyHash::of(dest);
    let mut locked = ctx.shared.keyspace.lock_keys(sources.iter().map(|(_, h)| (db, *h)).chain([(db, dest_hash)]));
    // Every source is type-checked before anything is computed, as in Redis.
    let mut len = 0;
    for (key, hash) in &sources {
        if let Some(entry) = locked.shard(db, *hash).get(*hash, key, now) {
            len = len.max(entry.value().with_string(<[u8]>::len).ok_or(CmdError::WrongType)?);
        }
    }
    // The result is built in the string that will be stored, and folded source by source, so
    // neither the sources nor the result are copied.
    let mut out = ThinBytes::new(b"");
    out.resize_zeroed(len);
    if len > 0 {
        for (i, (key, hash)) in sources.iter().enumerate() {
            let source = locked.shard(db, *hash).get(*hash, key, now);
            let folded = source.and_then(|e| e.value().with_string(|bytes| bitmap::bitop_step(op, &mut out, i == 0, bytes)));
            if folded.is_none() {
                bitmap::bitop_step(op, &mut out, i == 0, b"");
            }
        }
    }
    let shard = locked.shard(db, dest_hash);
    let event = if len > 0 {
        shard.set(dest_hash, dest, Value::Raw(out), None, now);
        Some((notify::STRING, "set"))
    } else {
        shard.remove(dest_hash, dest, now).map(|_| (notify::GENERIC, "del"))
    };
    drop(locked);
    if let Some((class, event)) = event {
        ctx.notify(class, event, dest);
    }
    Ok(Reply::from(len))
}

/// One BITFIELD operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FieldOp {
    Get,
    Set(i64),
    IncrBy(i64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Field {
    op: FieldOp,
    kind: FieldType,
    offset: u64,
    overflow: Overflow,
}

/// A BITFIELD type argument: `i1`..`i64` or `u1`..`u63`.
fn parse_field_type(arg: &[u8]) -> Result<FieldType, CmdError> {
    let invalid = || CmdError::err("Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.");
    let signed = match arg.first() {
        Some(b'i') => true,
        Some(b'u') => false,
        _ => return Err(invalid()),
    };
    // Redis reads the width as a C string: it ends at the first NUL byte.
    let digits = arg[1..].split(|b| *b == 0).next().unwrap_or_default();
    let bits = parse_i64(digits).filter(|bits| *bits >= 1 && *bits <= if signed { 64 } else { 63 }).ok_or_else(invalid)?;
    Ok(FieldType { signed, bits: bits as u32 })
}

/// Parses every operation before anything runs, as Redis does, so a bad argument anywhere leaves
/// the key untouched.
fn parse_fields(ctx: &Ctx, args: Args) -> Result<Vec<Field>, CmdError> {
    let mut fields = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut i = 2;
    while i < args.len() {
        let (word, remaining) = (args.get(i), args.len() - i - 1);
        // None for GET, else whether the write increments.
        let write = if is(word, "get") && remaining >= 2 {
            None
        } else if is(word, "set") && remaining >= 3 {
            Some(false)
        } else if is(word, "incrby") && remaining >= 3 {
            Some(true)
        } else if is(word, "overflow") && remaining >= 1 {
            let kind = args.get(i + 1);
            overflow = if is(kind, "wrap") {
                Overflow::Wrap
            } else if is(kind, "sat") {
                Overflow::Sat
            } else if is(kind, "fail") {
                Overflow::Fail
            } else {
                return Err(CmdError::err("Invalid OVERFLOW type specified"));
            };
            i += 2;
            continue;
        } else {
            return Err(CmdError::Syntax);
        };
        let kind = parse_field_type(args.get(i + 1))?;
        let offset = parse_offset(ctx, args.get(i + 2), Some(kind.bits))?;
        let op = match write {
            None => FieldOp::Get,
            Some(false) => FieldOp::Set(parse_int(args.get(i + 3))?),
            Some(true) => FieldOp::IncrBy(parse_int(args.get(i + 3))?),
        };
        fields.push(Field { op, kind, offset, overflow });
        i += if op == FieldOp::Get { 3 } else { 4 };
    }
    Ok(fields)
}

/// BITFIELD key [GET encoding offset | [OVERFLOW WRAP | SAT | FAIL] SET encoding offset value |
/// INCRBY encoding offset increment ...]
///
/// # Returns
/// One reply per GET, SET (the old value) and INCRBY (the new value); nil where OVERFLOW FAIL
/// refused a write.
pub fn bitfield(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    bitfield_generic(ctx, args, false)
}

/// BITFIELD_RO key [GET encoding offset ...]
pub fn bitfield_ro(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    bitfield_generic(ctx, args, true)
}

fn bitfield_generic(ctx: &mut Ctx, args: Args, read_only: bool) -> Result<Reply, CmdError> {
    let fields = parse_fields(ctx, args)?;
    let key = args.get(1);
    // The last bit any write reaches: the string is grown to it before the operations run.
    let reach = fields.iter().filter(|f| f.op != FieldOp::Get).map(|f| f.offset + u64::from(f.kind.bits)).max();
    let Some(reach) = reach else {
        let replies = with_string(ctx, key, |bytes| {
            let bytes = bytes.unwrap_or_default();
            fields.iter().map(|f| Reply::Int(f.kind.get(bytes, f.offset))).collect()
        })?;
        return Ok(Reply::Array(replies));
    };
    if read_only {
        return Err(CmdError::err("BITFIELD_RO only supports the GET subcommand"));
    }
    let hash = KeyHash::of(key);
    let mut shard = ctx.db().lock(hash);
    let (mut bytes, grown) = string_for_write(&mut shard, hash, key, reach.div_ceil(8) as usize, ctx.now_ms)?;
    // As Redis: a write that stored something counts as a change when the string was created or
    // grown for it or its bits differ; writes refused by OVERFLOW FAIL never count.
    let mut changed = false;
    let mut replies = Vec::with_capacity(fields.len());
    for field in &fields {
        let (operand, increment) = match field.op {
            FieldOp::Get => {
                replies.push(Reply::Int(field.kind.get(&bytes, field.offset)));
                continue;
            }
            FieldOp::Set(value) => (value, false),
            FieldOp::IncrBy(value) => (value, true),
        };
        // The bytes the field spans, edited and recorded together.
        let first = (field.offset / 8) as usize;
        let last = ((field.offset + u64::from(field.kind.bits) - 1) / 8) as usize;
        let bit_offset = field.offset - first as u64 * 8;
        let write = bytes.edit(first, last + 1 - first, |span| field.kind.write(span, bit_offset, operand, increment, field.overflow));
        changed |= write.reply.is_some() && (grown || write.changed);
        replies.push(write.reply.map_or(Reply::Nil, Reply::Int));
    }
    drop(shard);
    if changed {
        ctx.notify(notify::STRING, "setbit", key);
    }
    Ok(Reply::Array(replies))
}

// The command table of this family, joined by `commands::registry`. Its imports stay here, beside
// the rows, so that the family's table and its handlers change independently.

use super::acl;
use super::flags::{DENYOOM, FAST, READONLY, WRITE};
use super::table::Command;

/// The bitmap commands, in the order COMMAND lists them.
pub(super) static COMMANDS: &[Command] = &[
    Command::new("setbit", 4, setbit).flags(WRITE | DENYOOM).keys(1, 1, 1).acl(acl::BITMAP),
    Command::new("getbit", 3, getbit).flags(READONLY | FAST).keys(1, 1, 1).acl(acl::BITMAP),
    Command::new("bitcount", -2, bitcount).flags(READONLY).keys(1, 1, 1).acl(acl::BITMAP),
    Command::new("bitpos", -3, bitpos).flags(READONLY).keys(1, 1, 1).acl(acl::BITMAP),
    Command::new("bitop", -4, bitop).flags(WRITE | DENYOOM).keys(2, -1, 1).acl(acl::BITMAP),
    Command::new("bitfield", -2, bitfield).flags(WRITE | DENYOOM).keys(1, 1, 1).acl(acl::BITMAP),
    Command::new("bitfield_ro", -2, bitfield_ro).flags(READONLY | FAST).keys(1, 1, 1).acl(acl::BITMAP),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_redis() {
        assert_eq!(bit_range(0, -1, false, 3), Some((0, 23)));
        assert_eq!(bit_range(1, 1, false, 3), Some((8, 15)));
        assert_eq!(bit_range(-100, 100, false, 3), Some((0, 23)));
        assert_eq!(bit_range(5, 10, true, 3), Some((5, 10)));
        assert_eq!(bit_range(-3, -1, true, 3), Some((21, 23)));
        assert_eq!(bit_range(2, 1, false, 3), None);
        assert_eq!(bit_range(0, -1, false, 0), None);
    }

    #[test]
    fn field_types() {
        assert_eq!(parse_field_type(b"i64"), Ok(FieldType { signed: true, bits: 64 }));
        assert_eq!(parse_field_type(b"u63"), Ok(FieldType { signed: false, bits: 63 }));
        assert_eq!(parse_field_type(b"u8\0junk"), Ok(FieldType { signed: false, bits: 8 }));
        for bad in [&b"u64"[..], b"i65", b"i0", b"I8", b"u", b"", b"u08", b"u+8"] {
            assert!(parse_field_type(bad).is_err(), "{bad:?}");
        }
    }
}
