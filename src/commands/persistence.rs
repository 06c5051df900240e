//! Commands on Redis's RDB format: DUMP and RESTORE (values crossing between strata and Redis),
//! SAVE and BGSAVE (snapshot files a Redis server loads), and the digests DEBUG DIGEST /
//! DIGEST-VALUE report (called from DEBUG in `server`).

use std::path::PathBuf;

use super::args::{is, parse_int};
use super::{CmdError, Ctx};
use crate::engine::keyspace::{MAX_DEADLINE_MS, SHARDS};
use crate::engine::rdb::snapshot::{self, Frozen, Header};
use crate::engine::rdb::{digest, dump};
use crate::engine::KeyHash;
use crate::notify;
use crate::resp::{Args, Reply};
use crate::scripting::Scripting;
use crate::state::shared::Shared;

const BUSY_KEY: CmdError = CmdError::line("BUSYKEY Target key name already exists.");

/// DUMP key
///
/// The value at `key` serialized as Redis 7.0 does (RDB encoding, RDB version, CRC64).
///
/// # Returns
/// The payload, or nil when the key does not exist.
pub fn dump(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let key = args.get(1);
    let hash = KeyHash::of(key);
    let mut shard = ctx.db().lock(hash);
    Ok(match shard.touch(hash, key, ctx.now_ms) {
        Some(entry) if matches!(entry.value(), crate::engine::Value::Queue(_)) => {
            return Err(CmdError::err("DUMP of a queue is not supported yet (Redis's format has no queue type)"));
        }
        Some(entry) => Reply::Bulk(dump::payload(entry.value()).into()),
        None => Reply::Nil,
    })
}

/// What RESTORE was asked besides the payload.
#[derive(Debug, Default, PartialEq)]
struct RestoreArgs {
    replace: bool,
    absolute_ttl: bool,
    idle_secs: Option<u64>,
}

/// RESTORE's options, as Redis reads them: IDLETIME and FREQ exclude each other, the last of a
/// repeated flag counts.
fn parse_restore(args: Args) -> Result<RestoreArgs, CmdError> {
    let mut parsed = RestoreArgs::default();
    let mut freq_given = false;
    let mut at = 4;
    while at < args.len() {
        let arg = args.get(at);
        let has_value = at + 1 < args.len();
        if is(arg, "replace") {
            parsed.replace = true;
        } else if is(arg, "absttl") {
            parsed.absolute_ttl = true;
        } else if is(arg, "idletime") && has_value && !freq_given {
            let idle = parse_int(args.get(at + 1))?;
            if idle < 0 {
                return Err(CmdError::err("Invalid IDLETIME value, must be >= 0"));
            }
            parsed.idle_secs = Some(idle as u64);
            at += 1;
        } else if is(arg, "freq") && has_value && parsed.idle_secs.is_none() {
            // strata keeps no LFU counter (OBJECT FREQ says so): the value is checked, not kept.
            let freq = parse_int(args.get(at + 1))?;
            if !(0..=255).contains(&freq) {
                return Err(CmdError::err("Invalid FREQ value, must be >= 0 and <= 255"));
            }
            freq_given = true;
            at += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        at += 1;
    }
    Ok(parsed)
}

/// RESTORE key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency]
///
/// Creates `key` from a DUMP payload (from strata or Redis), expiring after `ttl` milliseconds
/// (at the Unix time `ttl` with ABSTTL; 0: never).
///
/// # Errors
/// `BUSYKEY` when the key exists and REPLACE is not given; `DUMP payload version or checksum are
/// wrong`; `Bad data format` when the payload does not decode.
pub fn restore(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let options = parse_restore(args)?;
    let key = args.get(1);
    let hash = KeyHash::of(key);
    // Redis's order: the existing key, then the TTL, then the payload.
    if !options.replace && ctx.db().lock(hash).contains(hash, key, ctx.now_ms) {
        return Err(BUSY_KEY);
    }
    let ttl = parse_int(args.get(2))?;
    if ttl < 0 {
        return Err(CmdError::err("Invalid TTL value, must be >= 0"));
    }
    let body = dump::verify(args.get(3)).map_err(|_| CmdError::err("DUMP payload version or checksum are wrong"))?;
    let value = dump::value(body, &super::collection::limits(ctx)).map_err(|_| CmdError::err("Bad data format"))?;
    let deadline = match ttl {
        0 => None,
        ttl if options.absolute_ttl => Some(ttl as u64),
        ttl => Some((ttl as u64).saturating_add(ctx.now_ms)),
    }
    .map(|at| at.min(MAX_DEADLINE_MS));
    let now = ctx.now_ms;
    let mut shard = ctx.db().lock(hash);
    // Checked again under the lock: another loop may have created the key since.
    if !options.replace && shard.contains(hash, key, now) {
        return Err(BUSY_KEY);
    }
    let deleted = shard.remove(hash, key, now).is_some();
    if deadline.is_some_and(|at| at <= now) {
        // Already expired: as Redis, the key is only deleted.
        drop(shard);
        if deleted {
            ctx.notify(notify::GENERIC, "del", key);
        }
        return Ok(Reply::Ok);
    }
    shard.set(hash, key, value, deadline, now);
    if let Some(idle) = options.idle_secs {
        shard.set_idle(hash, key, idle, now);
    }
    drop(shard);
    ctx.notify(notify::GENERIC, "restore", key);
    Ok(Reply::Ok)
}

/// Where snapshots go: `dir`/`dbfilename`.
fn snapshot_path(shared: &Shared) -> PathBuf {
    PathBuf::from(shared.config.get("dir")).join(shared.config.get("dbfilename"))
}

/// What a snapshot starts with: Redis's aux fields and the function libraries, from `vm` when the
/// caller holds it (commands that run alone), else from the VM if it is free.
fn header(shared: &Shared, vm: Option<&Scripting>, now_ms: u64) -> Header {
    let codes = |vm: &Scripting| vm.libraries.libraries().map(|l| l.code.clone()).collect();
    let functions = match vm {
        Some(vm) => codes(vm),
        None => shared.scripting.try_lock().and_then(|vm| vm.as_ref().map(codes)).unwrap_or_default(),
    };
    let used_memory = super::info::allocated_bytes().unwrap_or(0);
    Header {
        aux: vec![
            ("redis-ver", crate::VERSION_REPORTED.as_bytes().to_vec()),
            ("redis-bits", b"64".to_vec()),
            ("ctime", (now_ms / 1000).to_string().into_bytes()),
            ("used-mem", used_memory.to_string().into_bytes()),
            ("aof-base", b"0".to_vec()),
        ],
        functions,
    }
}

/// Saves the keyspace to `dir`/`dbfilename` on this thread; false (and a log line) on failure.
/// SHUTDOWN saves through it too, without running alone (it must work while a script is stuck):
/// its file may then show a multi-key command of another loop in part.
pub fn save_now(ctx: &mut Ctx) -> bool {
    let shared = ctx.shared;
    if !shared.saving.begin(ctx.now_ms) {
        return false;
    }
    let header = header(shared, ctx.scripting.as_deref(), ctx.now_ms);
    let path = snapshot_path(shared);
    let frozen = Frozen::new(shared.keyspace.clone());
    let result = snapshot::save(&frozen, &header, &path, ctx.now_ms);
    drop(frozen);
    let ended = crate::state::shared::unix_ms();
    match &result {
        Ok(keys) => tracing::info!(keys, path = %path.display(), "DB saved on disk"),
        Err(error) => tracing::warn!(%error, path = %path.display(), "Failed saving the DB"),
    }
    shared.saving.end(result.is_ok(), ended);
    result.is_ok()
}

/// SAVE
///
/// Writes the whole keyspace to `dir`/`dbfilename` before answering. It runs alone (no other
/// client's command runs meanwhile), so the file is one point in time, as Redis's.
///
/// # Errors
/// `ERR Background save already in progress`; `ERR` when the file cannot be written.
pub fn save(ctx: &mut Ctx, _args: Args) -> Result<Reply, CmdError> {
    if ctx.shared.saving.in_progress() {
        return Err(CmdError::err("Background save already in progress"));
    }
    if save_now(ctx) {
        Ok(Reply::Ok)
    } else {
        Err(CmdError::line("ERR"))
    }
}

/// Why a background save did not start.
enum NotStarted {
    Running,
    Thread,
}

/// Starts writing the keyspace as it is now to `dir`/`dbfilename` on a background thread (see
/// `engine::rdb::snapshot`), so writes go on meanwhile. The caller holds the gate's write side,
/// so "now" has no command half done.
fn start_background_save(shared: &Shared, vm: Option<&Scripting>, now_ms: u64) -> Result<(), NotStarted> {
    if !shared.saving.begin(now_ms) {
        return Err(NotStarted::Running);
    }
    let header = header(shared, vm, now_ms);
    let path = snapshot_path(shared);
    let frozen = Frozen::new(shared.keyspace.clone());
    let saving = shared.saving.clone();
    let spawned = std::thread::Builder::new().name("strata-bgsave".into()).spawn(move || {
        let result = snapshot::save(&frozen, &header, &path, now_ms);
        drop(frozen);
        match &result {
            Ok(keys) => tracing::info!(keys, path = %path.display(), "Background saving terminated with success"),
            Err(error) => tracing::warn!(%error, path = %path.display(), "Background saving error"),
        }
        saving.end(result.is_ok(), crate::state::shared::unix_ms());
    });
    spawned.map(|_| ()).map_err(|error| {
        tracing::warn!(%error, "can't start the background save thread");
        shared.saving.end(false, now_ms);
        NotStarted::Thread
    })
}

/// BGSAVE [SCHEDULE]
///
/// Writes the keyspace to `dir`/`dbfilename` in the background while the server keeps serving.
/// SCHEDULE is accepted; with no AOF rewrite to wait for, it starts the save at once. Inside EXEC
/// the save is scheduled, as in Redis: the cron starts it after the transaction.
///
/// # Errors
/// `ERR Background save already in progress`.
pub fn bgsave(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    if args.len() > 2 || (args.len() == 2 && !is(args.get(1), "schedule")) {
        return Err(CmdError::Syntax);
    }
    if ctx.shared.saving.in_progress() {
        return Err(CmdError::err("Background save already in progress"));
    }
    if ctx.session.in_exec {
        ctx.shared.saving.scheduled.store(true, std::sync::atomic::Ordering::Relaxed);
        return Ok(Reply::status("Background saving scheduled"));
    }
    match start_background_save(ctx.shared, ctx.scripting.as_deref(), ctx.now_ms) {
        Ok(()) => Ok(Reply::status("Background saving started")),
        Err(NotStarted::Running) => Err(CmdError::err("Background save already in progress")),
        Err(NotStarted::Thread) => Err(CmdError::line("ERR")),
    }
}

/// DEBUG RELOAD [MERGE] [NOFLUSH] [NOSAVE]: drops the keyspace from memory and loads it back from
/// disk, as Redis saves and reloads its RDB file: from the store with persistence on (MERGE and
/// NOFLUSH change nothing then), else from `dir`/`dbfilename`, saved first unless NOSAVE, and
/// loaded on top of what is in memory with NOFLUSH. Function libraries stay as they are in memory.
/// Runs alone (DEBUG's row), so no command sees the keyspace half loaded.
pub fn debug_reload(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let (mut flush, mut save) = (true, true);
    for option in args.iter().skip(2) {
        if is(option, "merge") {
            continue;
        } else if is(option, "noflush") {
            flush = false;
        } else if is(option, "nosave") {
            save = false;
        } else {
            return Err(CmdError::err("DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options."));
        }
    }
    let shared = ctx.shared;
    match &shared.store {
        Some(store) => {
            if !store.flush() {
                return Err(super::dispatch::misconf(ctx));
            }
            shared.keyspace.forget_all();
            shared.load_store().map_err(|error| CmdError::err(format!("Error trying to load the dataset: {error}")))?;
        }
        None => {
            if holds_strata_types(shared) {
                return Err(CmdError::err(
                    "DEBUG RELOAD without persistence would lose the queues, topics and catalogs (RDB files have no such types)",
                ));
            }
            if save && !save_now(ctx) {
                return Err(CmdError::err("Error trying to save the DB"));
            }
            if flush {
                shared.keyspace.forget_all();
            }
            let path = snapshot_path(shared);
            crate::engine::rdb::import::import(&path, &shared.keyspace, &shared.config.hot.limits(), ctx.now_ms)
                .map_err(|error| CmdError::err(format!("Error trying to load the RDB dump: {error}")))?;
        }
    }
    super::queue::after_recovery(shared);
    super::topic::register_all(shared);
    Ok(Reply::Ok)
}

/// Whether any database holds a queue, a topic or a catalog (types Redis's RDB format lacks).
fn holds_strata_types(shared: &Shared) -> bool {
    (0..shared.keyspace.databases()).any(|db| {
        (0..crate::engine::keyspace::SHARDS).any(|shard| {
            shared.keyspace.db(db).lock_index(shard).iter().any(|entry| {
                matches!(entry.value(), crate::engine::Value::Queue(_) | crate::engine::Value::Topic(_) | crate::engine::Value::Lake(_))
            })
        })
    })
}

/// BGREWRITEAOF: compacts the store in the background (strata's log is the LSM engine's, so
/// rewriting it is a compaction: what deleted and replaced values left behind goes).
///
/// # Errors
/// `ERR Background append only file rewriting already in progress`.
pub fn bgrewriteaof(ctx: &mut Ctx, _args: Args) -> Result<Reply, CmdError> {
    if let Some(store) = &ctx.shared.store {
        if !store.start_compaction() {
            return Err(CmdError::err("Background append only file rewriting already in progress"));
        }
    }
    Ok(Reply::status("Background append only file rewriting started"))
}

/// The `save` points: pairs of seconds and changes (`save "3600 1 300 100"`); none when empty or
/// malformed.
fn save_points(setting: &str) -> Vec<(u64, u64)> {
    let numbers: Option<Vec<u64>> = setting.split_whitespace().map(|n| n.parse().ok()).collect();
    match numbers {
        Some(numbers) if numbers.len() % 2 == 0 => numbers.chunks_exact(2).map(|pair| (pair[0], pair[1])).collect(),
        _ => Vec::new(),
    }
}

/// Redis waits this long after a failed background save before a save point starts another.
const RETRY_AFTER_FAILURE_MS: u64 = 5000;

/// Starts a background save when one was scheduled (BGSAVE inside EXEC) or a `save` point is due:
/// at least its number of changes since the last save, and more than its seconds since then (the
/// server's cron calls this on every tick).
pub fn run_save_points(shared: &Shared, now_ms: u64) {
    let saving = &shared.saving;
    if saving.in_progress() {
        return;
    }
    let scheduled = saving.scheduled.load(std::sync::atomic::Ordering::Relaxed);
    let changes = saving.changes();
    let since_secs = (now_ms / 1000).saturating_sub(saving.last_save_unix.load(std::sync::atomic::Ordering::Relaxed));
    let point_due = save_points(&shared.config.get("save")).into_iter().any(|(secs, wanted)| changes >= wanted && since_secs > secs)
        && (saving.last_ok() || now_ms.saturating_sub(saving.last_attempt_ms()) >= RETRY_AFTER_FAILURE_MS);
    if !scheduled && !point_due {
        return;
    }
    // The snapshot's instant must have no command half done on any loop: hold them off as EXEC
    // does. A script holding them off longer makes this wait for a later tick.
    let Some(_alone) = shared.gate.try_write_for(GATE_WAIT) else {
        return;
    };
    saving.scheduled.store(false, std::sync::atomic::Ordering::Relaxed);
    if !scheduled {
        tracing::info!(changes, "save point reached: saving in the background");
    }
    let _ = start_background_save(shared, None, now_ms);
}

/// How long the cron waits for the other loops' commands to finish before a scheduled save.
const GATE_WAIT: std::time::Duration = std::time::Duration::from_millis(50);

/// DEBUG DIGEST: Redis's digest of every database (40 zeros when there are no keys). Keys whose
/// deadline passed but that are still stored count, as in Redis.
pub fn debug_digest(ctx: &mut Ctx) -> Reply {
    let keyspace = &ctx.shared.keyspace;
    let mut dataset = [0u8; 20];
    for db in 0..keyspace.databases() {
        let mut keys = [0u8; 20];
        let mut any = false;
        for index in 0..SHARDS {
            let shard = keyspace.db(db).lock_index(index);
            for entry in shard.iter() {
                any = true;
                digest::xor(&mut keys, &digest::key(entry.key(), entry.value(), entry.expire_at().is_some()));
            }
        }
        if any {
            digest::enter_db(&mut dataset, db);
            dataset.iter_mut().zip(keys).for_each(|(d, k)| *d ^= k);
        }
    }
    Reply::Status(digest::hex(&dataset).into())
}

/// DEBUG DIGEST-VALUE key [key ...]: the digest of each key's value (40 zeros for a missing key).
pub fn debug_digest_value(ctx: &mut Ctx, args: Args) -> Reply {
    let replies = args
        .iter()
        .skip(2)
        .map(|key| {
            let hash = KeyHash::of(key);
            let shard = ctx.db().lock(hash);
            let mut value = [0u8; 20];
            // As Redis: no lazy expiry, a stored key counts even past its deadline.
            if let Some(entry) = shard.peek(hash, key) {
                digest::value(&mut value, entry.value(), entry.expire_at().is_some());
            }
            Reply::Status(digest::hex(&value).into())
        })
        .collect();
    Reply::Array(replies)
}

// The command table of this family, joined by `commands::registry`.

use super::acl;
use super::flags::{ADMIN, DENYOOM, NOSCRIPT, NO_ASYNC_LOADING, NO_MULTI, READONLY, RUNS_ALONE, WRITE};
use super::table::Command;

/// The persistence commands, in the order COMMAND lists them.
pub(super) static COMMANDS: &[Command] = &[
    Command::new("dump", 2, dump).flags(READONLY).keys(1, 1, 1).acl(acl::KEYSPACE),
    Command::new("restore", -4, restore).flags(WRITE | DENYOOM).keys(1, 1, 1).acl(acl::KEYSPACE | acl::DANGEROUS),
    // Alone: SAVE is one point in time, and both need the VM for the function libraries.
    Command::new("save", 1, save).flags(ADMIN | NOSCRIPT | NO_ASYNC_LOADING | NO_MULTI | RUNS_ALONE).acl(acl::ADMIN | acl::DANGEROUS),
    Command::new("bgsave", -1, bgsave).flags(ADMIN | NOSCRIPT | NO_ASYNC_LOADING | RUNS_ALONE).acl(acl::ADMIN | acl::DANGEROUS),
    Command::new("bgrewriteaof", 1, bgrewriteaof).flags(ADMIN | NOSCRIPT | NO_ASYNC_LOADING).acl(acl::ADMIN | acl::DANGEROUS),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::harness::Harness;

    #[test]
    fn save_points_come_in_pairs() {
        assert_eq!(save_points("3600 1 300 100"), vec![(3600, 1), (300, 100)]);
        assert_eq!(save_points(""), vec![]);
        assert_eq!(save_points("3600"), vec![]);
        assert_eq!(save_points("x 1"), vec![]);
    }

    #[test]
    fn restore_options_parse_as_redis() {
        let mut h = Harness::new();
        h.run(&["set", "k", "v"]);
        let payload = match h.run(&["dump", "k"]) {
            Reply::Bulk(bytes) => bytes,
            other => panic!("{other:?}"),
        };
        assert_eq!(h.run(&[&b"restore"[..], b"k", b"0", &payload]), Reply::Error("BUSYKEY Target key name already exists.".into()));
        assert_eq!(
            h.run(&[&b"restore"[..], b"k2", b"0", &payload, b"idletime", b"5", b"freq", b"1"]),
            Reply::Error("ERR syntax error".into())
        );
        assert_eq!(h.run(&[&b"restore"[..], b"k2", b"-1", &payload]), Reply::Error("ERR Invalid TTL value, must be >= 0".into()));
        assert_eq!(
            h.run(&[&b"restore"[..], b"k2", b"0", b"garbage"]),
            Reply::Error("ERR DUMP payload version or checksum are wrong".into())
        );
        assert_eq!(h.run(&[&b"restore"[..], b"k2", b"0", &payload, b"replace", b"idletime", b"100"]), Reply::Ok);
        assert_eq!(h.run(&["object", "idletime", "k2"]), Reply::Int(100));
        assert_eq!(h.run(&["get", "k2"]), Reply::bulk(b"v"));
    }
}
