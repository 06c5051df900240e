//! HyperLogLog commands: PFADD, PFCOUNT, PFMERGE, PFDEBUG and PFSELFTEST. Sketches are plain
//! strings in Redis's byte format ([`crate::engine::hyperloglog`]), edited in place like bitmaps.

use std::sync::atomic::Ordering;

use super::args::is;
use super::{CmdError, Ctx};
use crate::engine::hyperloglog::{self as hll, Encoding, HllError, Registers};
use crate::engine::thin::ThinBytes;
use crate::engine::{KeyHash, Value};
use crate::notify;
use crate::resp::{Args, Reply};

const CORRUPT: CmdError = CmdError::line("INVALIDOBJ Corrupted HLL object detected");

fn error(error: HllError) -> CmdError {
    match error {
        HllError::NotHll => CmdError::line("WRONGTYPE Key is not a valid HyperLogLog string value."),
        HllError::Corrupt => CORRUPT,
    }
}

/// The encoding of the sketch in `value`: WRONGTYPE (Redis's usual text) for another type, or
/// with the HyperLogLog text for a string that is not a sketch.
fn check(value: &Value) -> Result<Encoding, CmdError> {
    value.with_string(hll::encoding).ok_or(CmdError::WrongType)?.map_err(error)
}

fn sparse_max_bytes(ctx: &Ctx) -> usize {
    ctx.shared.config.hot.hll_sparse_max_bytes.load(Ordering::Relaxed)
}

/// PFADD key [element ...]
///
/// # Returns
/// 1 when the sketch was created or a register changed, else 0.
pub fn pfadd(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let key = args.get(1);
    let hash = KeyHash::of(key);
    let sparse_max = sparse_max_bytes(ctx);
    let mut shard = ctx.db().lock(hash);
    let Some(write) = shard.write(hash, key, ctx.now_ms, false) else {
        let mut sketch = hll::new_sparse();
        for element in args.iter().skip(2) {
            hll::add(&mut sketch, element, sparse_max).map_err(error)?;
        }
        hll::invalidate_cache(&mut sketch);
        shard.set(hash, key, Value::Raw(ThinBytes::new(&sketch)), None, ctx.now_ms);
        drop(shard);
        ctx.notify(notify::STRING, "pfadd", key);
        return Ok(Reply::Int(1));
    };
    let encoding = check(write.value())?;
    let (updated, failed) = write.rewrite_string(|bytes| add_all(bytes, encoding, args, sparse_max)).ok_or(CmdError::WrongType)?;
    drop(shard);
    if let Some(e) = failed {
        return Err(error(e));
    }
    if updated {
        ctx.notify(notify::STRING, "pfadd", key);
    }
    Ok(Reply::Int(i64::from(updated)))
}

/// Adds PFADD's elements to the sketch in `bytes`: whether a register changed, and the error that
/// stopped it (elements added before a corrupt opcode was met stay added, as in Redis). The second
/// field of the pair is whether the stored bytes changed.
fn add_all(bytes: &mut ThinBytes, encoding: Encoding, args: Args, sparse_max: usize) -> ((bool, Option<HllError>), bool) {
    let mut updated = false;
    let mut failed = None;
    if encoding == Encoding::Dense {
        // Dense sketches never change size: registers are raised in place.
        for element in args.iter().skip(2) {
            updated |= hll::dense_add(bytes, element);
        }
    } else {
        let mut sketch = bytes.to_vec();
        for element in args.iter().skip(2) {
            match hll::add(&mut sketch, element, sparse_max) {
                Ok(changed) => updated |= changed,
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        if updated || failed.is_some() {
            *bytes = ThinBytes::new(&sketch);
        }
    }
    if updated {
        hll::invalidate_cache(bytes);
    }
    ((updated, failed), updated || failed.is_some())
}

/// PFCOUNT key [key ...]
///
/// # Returns
/// The estimated number of distinct elements added to the sketch, or to the union of the sketches.
/// With one key the estimate is cached in the sketch's header (which changes the stored string,
/// so, as in Redis, WATCH sees it as a write).
pub fn pfcount(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    if args.len() > 2 {
        return pfcount_union(ctx, args);
    }
    let key = args.get(1);
    let hash = KeyHash::of(key);
    let touch = ctx.touches();
    let mut shard = ctx.db().lock(hash);
    let Some(write) = shard.write(hash, key, ctx.now_ms, touch) else {
        drop(shard);
        ctx.record_lookup(false);
        return Ok(Reply::Int(0));
    };
    check(write.value())?;
    let counted = write.rewrite_string(|bytes| match hll::cached_count(bytes) {
        Some(card) => (Ok((card, false)), false),
        None => match hll::count(bytes) {
            Ok(card) => {
                hll::store_cached_count(bytes, card);
                (Ok((card, true)), true)
            }
            Err(e) => (Err(error(e)), false),
        },
    });
    let (card, recomputed) = counted.ok_or(CmdError::WrongType)??;
    drop(shard);
    ctx.record_lookup(true);
    if recomputed {
        ctx.shared.watches.touch(ctx.session.db, key);
    }
    Ok(Reply::Int(card as i64))
}

/// PFCOUNT of several keys: the estimate of their union; missing keys are empty sketches.
fn pfcount_union(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let db = ctx.session.db;
    let keys: Vec<(&[u8], KeyHash)> = args.iter().skip(1).map(|k| (k, KeyHash::of(k))).collect();
    let mut locked = ctx.shared.keyspace.lock_keys(keys.iter().map(|(_, h)| (db, *h)));
    let mut union = Registers::default();
    let (mut hits, mut misses) = (0, 0);
    for (key, hash) in &keys {
        let Some(entry) = locked.shard(db, *hash).get(*hash, key, ctx.now_ms) else {
            misses += 1;
            continue;
        };
        hits += 1;
        check(entry.value())?;
        entry.value().with_string(|bytes| union.merge(bytes)).ok_or(CmdError::WrongType)?.map_err(error)?;
    }
    drop(locked);
    ctx.hits += hits;
    ctx.misses += misses;
    Ok(Reply::Int(union.count() as i64))
}

/// PFMERGE destkey [sourcekey ...]
///
/// Merges the sources and the destination itself into the destination (created when missing,
/// dense when any input is dense).
pub fn pfmerge(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let db = ctx.session.db;
    let now = ctx.now_ms;
    let sparse_max = sparse_max_bytes(ctx);
    let keys: Vec<(&[u8], KeyHash)> = args.iter().skip(1).map(|k| (k, KeyHash::of(k))).collect();
    let mut locked = ctx.shared.keyspace.lock_keys(keys.iter().map(|(_, h)| (db, *h)));
    let mut union = Registers::default();
    let mut dense = false;
    for (key, hash) in &keys {
        let Some(entry) = locked.shard(db, *hash).get(*hash, key, now) else {
            continue;
        };
        dense |= check(entry.value())? == Encoding::Dense;
        entry.value().with_string(|bytes| union.merge(bytes)).ok_or(CmdError::WrongType)?.map_err(error)?;
    }
    let (dest, dest_hash) = keys[0];
    let shard = locked.shard(db, dest_hash);
    if !shard.contains(dest_hash, dest, now) {
        shard.set(dest_hash, dest, Value::Raw(ThinBytes::new(&hll::new_sparse())), None, now);
    }
    let write = shard.write(dest_hash, dest, now, false).ok_or(CmdError::NoSuchKey)?;
    let stored = write
        .rewrite_string(|bytes| {
            let mut sketch = bytes.to_vec();
            let stored = union.store(&mut sketch, dense, sparse_max);
            *bytes = ThinBytes::new(&sketch);
            (stored, true)
        })
        .ok_or(CmdError::WrongType)?;
    drop(locked);
    stored.map_err(error)?;
    ctx.notify(notify::STRING, "pfadd", dest);
    Ok(Reply::Ok)
}

/// PFDEBUG GETREG | DECODE | ENCODING | TODENSE key
///
/// Internal commands of Redis's test suite: the registers (turning the sketch dense), the sparse
/// opcodes, the encoding, or a conversion to dense.
pub fn pfdebug(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let (sub, key) = (args.get(1), args.get(2));
    let hash = KeyHash::of(key);
    let mut shard = ctx.db().lock(hash);
    let write = shard.write(hash, key, ctx.now_ms, false).ok_or_else(|| CmdError::err("The specified key does not exist"))?;
    let encoding = check(write.value())?;
    write.rewrite_string(|bytes| debug(bytes, sub, encoding)).ok_or(CmdError::WrongType)?
}

/// Runs a PFDEBUG subcommand on the sketch in `bytes`; the second field of the pair is whether it
/// converted the sketch to dense.
fn debug(bytes: &mut ThinBytes, sub: &[u8], encoding: Encoding) -> (Result<Reply, CmdError>, bool) {
    let mut to_dense = || -> Result<bool, CmdError> {
        let mut sketch = bytes.to_vec();
        let converted = hll::make_dense(&mut sketch).map_err(error)?;
        *bytes = ThinBytes::new(&sketch);
        Ok(converted)
    };
    if is(sub, "getreg") {
        let converted = match to_dense() {
            Ok(converted) => converted,
            Err(e) => return (Err(e), false),
        };
        (Ok(Reply::Array(hll::dense_registers(bytes).into_iter().map(|r| Reply::Int(i64::from(r))).collect())), converted)
    } else if is(sub, "decode") {
        if encoding != Encoding::Sparse {
            return (Err(CmdError::err("HLL encoding is not sparse")), false);
        }
        (Ok(Reply::bulk(hll::decode_sparse(bytes).as_bytes())), false)
    } else if is(sub, "encoding") {
        (Ok(Reply::Status(if encoding == Encoding::Dense { "dense" } else { "sparse" }.into())), false)
    } else if is(sub, "todense") {
        match to_dense() {
            Ok(converted) => (Ok(Reply::Int(i64::from(converted))), converted),
            Err(e) => (Err(e), false),
        }
    } else {
        (Err(CmdError::err(format!("Unknown PFDEBUG subcommand '{}'", String::from_utf8_lossy(sub)))), false)
    }
}

/// PFSELFTEST
///
/// Checks register access and the estimator against a dense/sparse pair of sketches fed ten
/// million elements (Redis's self test; it takes a second or so).
pub fn pfselftest(ctx: &mut Ctx, _args: Args) -> Result<Reply, CmdError> {
    let mut rng = rand::rng();
    hll::self_test(sparse_max_bytes(ctx), 1000, 10_000_000, || rand::Rng::random(&mut rng)).map_err(CmdError::err)?;
    Ok(Reply::Ok)
}

// The command table of this family, joined by `commands::registry`. Its imports stay here, beside
// the rows, so that the family's table and its handlers change independently.

use super::acl;
use super::flags::{ADMIN, DENYOOM, FAST, READONLY, WRITE};
use super::table::Command;

/// The HyperLogLog commands, in the order COMMAND lists them.
pub(super) static COMMANDS: &[Command] = &[
    Command::new("pfadd", -2, pfadd).flags(WRITE | DENYOOM | FAST).keys(1, 1, 1).acl(acl::HYPERLOGLOG),
    Command::new("pfcount", -2, pfcount).flags(READONLY).keys(1, -1, 1).acl(acl::HYPERLOGLOG),
    Command::new("pfmerge", -2, pfmerge).flags(WRITE | DENYOOM).keys(1, -1, 1).acl(acl::HYPERLOGLOG),
    Command::new("pfdebug", 3, pfdebug).flags(WRITE | DENYOOM | ADMIN).keys(2, 2, 1).acl(acl::HYPERLOGLOG),
    Command::new("pfselftest", 1, pfselftest).flags(ADMIN).acl(acl::HYPERLOGLOG),
];
