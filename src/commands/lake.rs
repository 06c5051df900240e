//! LAKE.*: JSON documents built from deltas, with history, snapshots and diffs (the `lake` type,
//! [`crate::engine::lake`]). A catalog is a key; LAKE.WRITE adds a delta (REPLACE, RFC 7396 MERGE
//! or RFC 6902 PATCH at a path) atomically under the key's lock, LAKE.READ answers the
//! materialized document (or rebuilds a past version from the nearest snapshot). Each command
//! parses all its arguments before it touches the catalog, so a refused write changes nothing.

use std::sync::atomic::Ordering;

use serde_json::{Map, Value as Json};

use super::args::ArgCursor;
use super::collection::{get, get_mut};
use super::{CmdError, Ctx};
use crate::engine::lake::{self, Delta, Lake, LakeError, LakeLimits, Mode, Path, Write};
use crate::engine::{Collection, KeyHash};
use crate::notify;
use crate::resp::{Args, Reply};

fn limits(ctx: &Ctx) -> LakeLimits {
    let hot = &ctx.shared.config.hot;
    LakeLimits {
        snapshot_interval: hot.lake_snapshot_interval.load(Ordering::Relaxed),
        max_document_bytes: hot.lake_max_document_size.load(Ordering::Relaxed),
    }
}

impl From<LakeError> for CmdError {
    fn from(error: LakeError) -> CmdError {
        CmdError::err(error.to_string())
    }
}

/// JSON text, with serde_json's reason when it is not valid (nesting past serde_json's own limit
/// of 128 included).
fn parse_json(text: &[u8], what: &str) -> Result<Json, CmdError> {
    serde_json::from_slice(text).map_err(|error| CmdError::err(format!("invalid JSON in {what}: {error}")))
}

fn parse_object(text: &[u8], what: &str) -> Result<Map<String, Json>, CmdError> {
    match parse_json(text, what)? {
        Json::Object(map) => Ok(map),
        _ => Err(CmdError::err(format!("{what} must be a JSON object"))),
    }
}

fn parse_version(cursor: &mut ArgCursor) -> Result<u64, CmdError> {
    u64::try_from(cursor.next_i64()?).map_err(|_| CmdError::err("version must be positive or zero"))
}

fn reply_json(value: &Json) -> Reply {
    Reply::bulk_string(lake::to_text(value))
}

/// The arguments of LAKE.WRITE after the key: `path (REPLACE | MERGE | PATCH) body [META json]`.
fn parse_write(args: Args) -> Result<Write, CmdError> {
    let path = Path::parse(args.get(2))?;
    let mode = Mode::from_name(args.get(3)).ok_or(CmdError::Syntax)?;
    let text = args.get(4);
    // An empty MERGE or PATCH body (nothing, `{}` or `[]`) adds no delta.
    let body = match mode {
        Mode::Replace => Some(parse_json(text, "body")?),
        _ if text.trim_ascii().is_empty() => None,
        _ => match parse_json(text, "body")? {
            Json::Object(map) if map.is_empty() => None,
            Json::Array(items) if items.is_empty() => None,
            body @ Json::Array(_) if mode == Mode::Patch => Some(body),
            _ if mode == Mode::Patch => return Err(LakeError::InvalidPatch("a JSON patch is an array of operations".into()).into()),
            body => Some(body),
        },
    };
    let mut cursor = ArgCursor::new(args, 5);
    let mut meta = None;
    while !cursor.is_done() {
        if cursor.eat("META") && meta.is_none() {
            meta = Some(parse_object(cursor.next_bytes()?, "META")?);
        } else {
            return Err(CmdError::Syntax);
        }
    }
    Ok(Write { mode, path, body, meta })
}

/// LAKE.WRITE catalog path (REPLACE | MERGE | PATCH) body [META json]
///
/// Adds a delta to the catalog (created on its first write): REPLACE sets the value at `path`
/// (missing parents are created), MERGE applies an RFC 7396 merge patch to it (a missing target
/// counts as `{}`), PATCH applies an RFC 6902 patch relative to it, all or nothing. An empty MERGE
/// or PATCH body (``, `{}`, `[]`) adds no delta. META is shallow-merged into the catalog's
/// metadata in the same write (`null` removes a key).
///
/// # Returns
/// The catalog's version after the write.
///
/// # Errors
/// An invalid path, body or META; a failing `test`, a missing target or a bad pointer in a PATCH;
/// a path through a value that is not an object; a document past the nesting or size limit. A
/// refused write changes nothing.
pub fn write(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let key = args.get(1);
    let request = parse_write(args)?;
    let limits = limits(ctx);
    let (now, hash, touch) = (ctx.now_ms, KeyHash::of(key), ctx.touches());
    let mut shard = ctx.db().lock(hash);
    let (version, written) = match get_mut::<Lake>(&mut shard, hash, key, now, touch)? {
        Some(mut catalog) => {
            let written = catalog.write(request, &limits, now)?;
            (catalog.current_version(), written)
        }
        None if request.body.is_none() && request.meta.is_none() => return Ok(Reply::Int(0)),
        None => {
            let mut catalog = Lake::new();
            let written = catalog.write(request, &limits, now)?;
            let version = catalog.current_version();
            shard.set(hash, key, catalog.into_value(), None, now);
            (version, written)
        }
    };
    drop(shard);
    if written.delta || written.meta {
        ctx.notify(notify::MODULE, "lake.write", key);
    }
    Ok(Reply::Int(version as i64))
}

/// Where LAKE.READ looks.
#[derive(Debug, PartialEq)]
enum At {
    Now,
    Version(u64),
    Time(u64),
}

fn parse_read(args: Args) -> Result<(Path, At), CmdError> {
    let mut cursor = ArgCursor::new(args, 2);
    let path = match cursor.peek() {
        Some(arg) if arg.starts_with(b"/") => Path::parse(cursor.next_bytes()?)?,
        _ => Path::root(),
    };
    let mut at = At::Now;
    while !cursor.is_done() {
        at = match at {
            At::Now if cursor.eat("VERSION") => At::Version(parse_version(&mut cursor)?),
            At::Now if cursor.eat("TIME") => At::Time(parse_version(&mut cursor)?),
            _ => return Err(CmdError::Syntax),
        };
    }
    Ok((path, at))
}

/// LAKE.READ catalog [path] [VERSION v | TIME ms]
///
/// # Returns
/// The document (or the value at `path`) as JSON text: now, as of version `v`, or as of the Unix
/// time `ms` (the last delta written at or before it); nil when the catalog or the path does not
/// exist.
///
/// # Errors
/// A version above the current one, or below the compaction horizon (a time before it).
pub fn read(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let key = args.get(1);
    let (path, at) = parse_read(args)?;
    let (now, hash, touch) = (ctx.now_ms, KeyHash::of(key), ctx.touches());
    let mut shard = ctx.db().lock(hash);
    let Some(catalog) = get::<Lake>(&mut shard, hash, key, now, touch)? else {
        return Ok(Reply::Nil);
    };
    let version = match at {
        At::Now if path.is_root() => return Ok(Reply::Bulk(catalog.text())),
        At::Now => return Ok(lake::value_at(catalog.document(), &path).map_or(Reply::Nil, reply_json)),
        At::Version(version) => version,
        At::Time(time) => catalog.version_at(time)?,
    };
    let doc = catalog.rebuild(version)?;
    Ok(lake::value_at(&doc, &path).map_or(Reply::Nil, reply_json))
}

/// LAKE.MREAD catalog [catalog ...]
///
/// # Returns
/// The current document of each catalog, read at one moment; nil for a missing key or another type.
pub fn mread(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let db = ctx.session.db;
    let keys: Vec<(&[u8], KeyHash)> = args.iter().skip(1).map(|k| (k, KeyHash::of(k))).collect();
    let mut locked = ctx.shared.keyspace.lock_keys(keys.iter().map(|(_, h)| (db, *h)));
    let replies = keys
        .iter()
        .map(|(key, hash)| {
            let entry = locked.shard(db, *hash).get(*hash, key, ctx.now_ms);
            entry.and_then(|e| Lake::of(e.value())).map_or(Reply::Nil, |catalog| Reply::Bulk(catalog.text()))
        })
        .collect();
    Ok(Reply::Array(replies))
}

fn delta_reply(delta: &Delta) -> Reply {
    let text = |s: &str| Reply::bulk(s.as_bytes());
    Reply::Map(vec![
        (text("version"), Reply::Int(delta.version as i64)),
        (text("time"), Reply::Int(delta.time_ms as i64)),
        (text("mode"), text(delta.mode.name())),
        (text("path"), text(delta.path.as_str())),
        (text("body"), reply_json(&delta.body)),
        (text("meta"), delta.meta.as_ref().map_or(Reply::Nil, |meta| Reply::bulk_string(lake::to_text(&Json::Object(meta.clone()))))),
    ])
}

/// LAKE.HISTORY catalog [FROM v] [COUNT n]
///
/// # Returns
/// The deltas from version `v` on (default: the oldest kept), at most `n`, oldest first: each
/// `version, time, mode, path, body, meta` (a map in RESP3). An empty array for a missing catalog.
pub fn history(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let key = args.get(1);
    let mut cursor = ArgCursor::new(args, 2);
    let (mut from, mut count) = (None, None);
    while !cursor.is_done() {
        if from.is_none() && cursor.eat("FROM") {
            from = Some(parse_version(&mut cursor)?);
        } else if count.is_none() && cursor.eat("COUNT") {
            count = Some(usize::try_from(cursor.next_i64()?).map_err(|_| CmdError::err("COUNT must be positive or zero"))?);
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let (now, hash, touch) = (ctx.now_ms, KeyHash::of(key), ctx.touches());
    let mut shard = ctx.db().lock(hash);
    let Some(catalog) = get::<Lake>(&mut shard, hash, key, now, touch)? else {
        return Ok(Reply::Array(Vec::new()));
    };
    let deltas = catalog.history(from.unwrap_or(0), count.unwrap_or(usize::MAX));
    Ok(Reply::Array(deltas.map(delta_reply).collect()))
}

/// LAKE.DIFF catalog v1 v2
///
/// # Returns
/// The RFC 6902 patch (JSON text) that turns version `v1` of the document into version `v2`;
/// nil for a missing catalog.
pub fn diff(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let key = args.get(1);
    let mut cursor = ArgCursor::new(args, 2);
    let (from, to) = (parse_version(&mut cursor)?, parse_version(&mut cursor)?);
    let (now, hash, touch) = (ctx.now_ms, KeyHash::of(key), ctx.touches());
    let mut shard = ctx.db().lock(hash);
    let Some(catalog) = get::<Lake>(&mut shard, hash, key, now, touch)? else {
        return Ok(Reply::Nil);
    };
    let (before, after) = (catalog.rebuild(from)?, catalog.rebuild(to)?);
    drop(shard);
    let patch = json_patch::diff(&before, &after);
    Ok(Reply::bulk_string(serde_json::to_string(&patch).unwrap_or_default()))
}

/// LAKE.META catalog
///
/// # Returns
/// The catalog's metadata object as JSON text; nil for a missing catalog.
pub fn meta(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let key = args.get(1);
    let (now, hash, touch) = (ctx.now_ms, KeyHash::of(key), ctx.touches());
    let mut shard = ctx.db().lock(hash);
    let catalog = get::<Lake>(&mut shard, hash, key, now, touch)?;
    Ok(catalog.map_or(Reply::Nil, |catalog| Reply::bulk_string(lake::to_text(&Json::Object(catalog.meta().clone())))))
}

fn int(name: &'static str, value: u64) -> (Reply, Reply) {
    (Reply::bulk(name.as_bytes()), Reply::Int(value.min(i64::MAX as u64) as i64))
}

/// LAKE.INFO catalog
///
/// # Returns
/// A map: version, horizon (oldest version kept), deltas (kept), deltas-since-snapshot,
/// snapshots, document-bytes, history-bytes (delta bodies and snapshots), updated (Unix ms of the
/// last write); nil for a missing catalog.
pub fn info(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let key = args.get(1);
    let (now, hash, touch) = (ctx.now_ms, KeyHash::of(key), ctx.touches());
    let mut shard = ctx.db().lock(hash);
    let Some(catalog) = get::<Lake>(&mut shard, hash, key, now, touch)? else {
        return Ok(Reply::Nil);
    };
    let info = catalog.info();
    Ok(Reply::Map(vec![
        int("version", info.version),
        int("horizon", info.horizon),
        int("deltas", info.deltas as u64),
        int("deltas-since-snapshot", info.deltas_since_snapshot),
        int("snapshots", info.snapshots as u64),
        int("document-bytes", info.document_bytes as u64),
        int("history-bytes", info.history_bytes as u64),
        int("updated", info.updated_ms),
    ]))
}

/// LAKE.SNAPSHOT catalog
///
/// Snapshots the current version now (one is also taken every `lake-snapshot-interval` deltas).
///
/// # Returns
/// The version the latest snapshot holds (0: no delta yet, nothing to snapshot); nil for a
/// missing catalog.
pub fn snapshot(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let key = args.get(1);
    let (now, hash, touch) = (ctx.now_ms, KeyHash::of(key), ctx.touches());
    let mut shard = ctx.db().lock(hash);
    let Some(mut catalog) = get_mut::<Lake>(&mut shard, hash, key, now, touch)? else {
        return Ok(Reply::Nil);
    };
    let taken = catalog.take_snapshot();
    let version = catalog.snapshots().last().map_or(0, |s| s.version);
    drop(shard);
    if taken {
        ctx.notify(notify::MODULE, "lake.snapshot", key);
    }
    Ok(Reply::Int(version as i64))
}

/// LAKE.COMPACT catalog [KEEP n]
///
/// Drops the deltas covered by the latest snapshot and the snapshots before it; with KEEP, the `n`
/// snapshots before the latest and the deltas after them stay. Versions below the new horizon then
/// answer an error.
///
/// # Returns
/// A map: horizon (the oldest version still readable), deltas and snapshots (how many were
/// dropped); nil for a missing catalog.
pub fn compact(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let key = args.get(1);
    let mut cursor = ArgCursor::new(args, 2);
    let keep = if cursor.eat("KEEP") {
        usize::try_from(cursor.next_i64()?).map_err(|_| CmdError::err("KEEP must be positive or zero"))?
    } else {
        0
    };
    if !cursor.is_done() {
        return Err(CmdError::Syntax);
    }
    let (now, hash, touch) = (ctx.now_ms, KeyHash::of(key), ctx.touches());
    let mut shard = ctx.db().lock(hash);
    let Some(mut catalog) = get_mut::<Lake>(&mut shard, hash, key, now, touch)? else {
        return Ok(Reply::Nil);
    };
    let dropped = catalog.compact(keep);
    let horizon = catalog.info().horizon;
    drop(shard);
    if !dropped.deltas.is_empty() || !dropped.snapshots.is_empty() {
        ctx.notify(notify::MODULE, "lake.compact", key);
    }
    Ok(Reply::Map(vec![
        int("horizon", horizon),
        int("deltas", dropped.deltas.len() as u64),
        int("snapshots", dropped.snapshots.len() as u64),
    ]))
}

// The command table of this family, joined by `commands::registry`.

use super::acl;
use super::docs::{doc, Doc};
use super::flags::{DENYOOM, FAST, READONLY, WRITE};
use super::table::Command;

/// The LAKE.* commands, in the order COMMAND lists them. Their documentation is [`DOCS`].
pub(super) static COMMANDS: &[Command] = &[
    Command::new("lake.write", -5, write).flags(WRITE | DENYOOM).keys(1, 1, 1).acl(acl::LAKE),
    Command::new("lake.read", -2, read).flags(READONLY).keys(1, 1, 1).acl(acl::LAKE),
    Command::new("lake.mread", -2, mread).flags(READONLY).keys(1, -1, 1).acl(acl::LAKE),
    Command::new("lake.history", -2, history).flags(READONLY).keys(1, 1, 1).acl(acl::LAKE),
    Command::new("lake.diff", 4, diff).flags(READONLY).keys(1, 1, 1).acl(acl::LAKE),
    Command::new("lake.meta", 2, meta).flags(READONLY | FAST).keys(1, 1, 1).acl(acl::LAKE),
    Command::new("lake.info", 2, info).flags(READONLY | FAST).keys(1, 1, 1).acl(acl::LAKE),
    Command::new("lake.snapshot", 2, snapshot).flags(WRITE | DENYOOM).keys(1, 1, 1).acl(acl::LAKE),
    Command::new("lake.compact", -2, compact).flags(WRITE).keys(1, 1, 1).acl(acl::LAKE),
];

/// Documentation of the LAKE.* commands (strata's own, so not in `commands::docs`).
pub(super) static DOCS: &[(&str, Doc)] = &[
    doc("lake.write", "lake", "1.0.0", "Adds a delta (REPLACE, RFC 7396 MERGE or RFC 6902 PATCH at a path) to a JSON catalog"),
    doc("lake.read", "lake", "1.0.0", "Returns a catalog's document or the value at a path, now, at a version or at a time"),
    doc("lake.mread", "lake", "1.0.0", "Returns the current documents of several catalogs"),
    doc("lake.history", "lake", "1.0.0", "Lists the deltas of a catalog"),
    doc("lake.diff", "lake", "1.0.0", "Returns the RFC 6902 patch between two versions of a catalog"),
    doc("lake.meta", "lake", "1.0.0", "Returns the metadata object of a catalog"),
    doc("lake.info", "lake", "1.0.0", "Returns the version, history and sizes of a catalog"),
    doc("lake.snapshot", "lake", "1.0.0", "Snapshots the current version of a catalog"),
    doc("lake.compact", "lake", "1.0.0", "Drops the history of a catalog below its latest snapshots"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::harness::Harness;

    fn bulk(text: &str) -> Reply {
        Reply::bulk(text.as_bytes())
    }

    #[test]
    fn writes_and_reads_at_versions_and_times() {
        let mut h = Harness::new();
        assert_eq!(h.run(&["lake.write", "c", "/user/name", "REPLACE", "\"Ann\""]), Reply::Int(1));
        h.advance_ms(10);
        assert_eq!(h.run(&["lake.write", "c", "/user", "MERGE", r#"{"age":30}"#, "META", r#"{"by":"x"}"#]), Reply::Int(2));
        assert_eq!(h.run(&["lake.read", "c"]), bulk(r#"{"user":{"name":"Ann","age":30}}"#));
        assert_eq!(h.run(&["lake.read", "c", "/user/age"]), bulk("30"));
        assert_eq!(h.run(&["lake.read", "c", "/nope"]), Reply::Nil);
        assert_eq!(h.run(&["lake.read", "c", "VERSION", "1"]), bulk(r#"{"user":{"name":"Ann"}}"#));
        assert_eq!(h.run(&["lake.read", "c", "/user", "VERSION", "0"]), Reply::Nil);
        assert_eq!(h.run(&["lake.read", "missing"]), Reply::Nil);
        assert_eq!(h.run(&["lake.meta", "c"]), bulk(r#"{"by":"x"}"#));
        assert_eq!(h.run(&["lake.diff", "c", "1", "2"]), bulk(r#"[{"op":"add","path":"/user/age","value":30}]"#));
        assert_eq!(h.run(&["type", "c"]), Reply::Status("lake".into()));
        assert!(h.run(&["lake.read", "c", "VERSION", "3"]).is_error());
        assert!(h.run(&["lake.read", "c", "VERSION", "1", "TIME", "5"]).is_error());
    }

    #[test]
    fn refused_writes_change_nothing() {
        let mut h = Harness::new();
        for bad in [
            vec!["lake.write", "c", "user", "REPLACE", "1"],
            vec!["lake.write", "c", "/a", "UPSERT", "1"],
            vec!["lake.write", "c", "/a", "REPLACE", "{oops"],
            vec!["lake.write", "c", "/a", "REPLACE", ""],
            vec!["lake.write", "c", "/a", "PATCH", r#"[{"op":"test","path":"/x","value":1}]"#],
            vec!["lake.write", "c", "/", "PATCH", r#"{"op":"add"}"#],
            vec!["lake.write", "c", "/a", "REPLACE", "1", "META", "[1]"],
            vec!["lake.write", "c", "/a", "REPLACE", "1", "EXTRA"],
        ] {
            assert!(h.run(&bad).is_error(), "{bad:?}");
        }
        assert_eq!(h.run(&["exists", "c"]), Reply::Int(0), "a refused first write creates no catalog");
        assert_eq!(h.run(&["lake.write", "c", "/", "MERGE", "{}"]), Reply::Int(0));
        assert_eq!(h.run(&["exists", "c"]), Reply::Int(0));
        assert_eq!(h.run(&["lake.write", "c", "/", "PATCH", "[]", "META", r#"{"k":1}"#]), Reply::Int(0));
        assert_eq!(h.run(&["lake.meta", "c"]), bulk(r#"{"k":1}"#));
        h.run(&["set", "s", "v"]);
        assert_eq!(h.run(&["lake.write", "s", "/", "REPLACE", "1"]), Reply::Error(CmdError::WrongType.to_string().into()));
    }

    #[test]
    fn snapshots_compaction_and_info() {
        let mut h = Harness::new();
        h.run(&["config", "set", "lake-snapshot-interval", "2"]);
        for i in 0..5 {
            h.run(&["lake.write", "c", "/n", "REPLACE", &i.to_string()]);
        }
        let info = h.run(&["lake.info", "c"]);
        let Reply::Map(fields) = &info else { panic!("{info:?}") };
        assert_eq!(fields[0], (bulk("version"), Reply::Int(5)));
        assert_eq!(fields[4], (bulk("snapshots"), Reply::Int(2)));
        assert_eq!(h.run(&["lake.snapshot", "c"]), Reply::Int(5));
        let compacted = h.run(&["lake.compact", "c", "KEEP", "1"]);
        assert_eq!(
            compacted,
            Reply::Map(vec![(bulk("horizon"), Reply::Int(4)), (bulk("deltas"), Reply::Int(4)), (bulk("snapshots"), Reply::Int(1))])
        );
        let Reply::Error(text) = h.run(&["lake.read", "c", "VERSION", "3"]) else { panic!() };
        assert_eq!(text, "ERR history before version 4 was compacted away");
        assert_eq!(h.run(&["lake.read", "c", "VERSION", "4"]), bulk(r#"{"n":3}"#));
        let history = h.run(&["lake.history", "c"]);
        let Reply::Array(deltas) = history else { panic!() };
        assert_eq!(deltas.len(), 1);
        assert_eq!(h.run(&["lake.mread", "c", "nope"]), Reply::Array(vec![bulk(r#"{"n":4}"#), Reply::Nil]));
    }
}
