//! Server commands: DBSIZE, FLUSHDB/FLUSHALL, SWAPDB, TIME, LASTSAVE, DEBUG, MONITOR, SLOWLOG,
//! SHUTDOWN, WAIT.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::args::{is, parse_int};
use super::{CmdError, Ctx};
use crate::resp::{Args, Reply};

/// DBSIZE
pub fn dbsize(ctx: &mut Ctx, _args: Args) -> Result<Reply, CmdError> {
    Ok(Reply::from(ctx.db().len()))
}

fn flush_mode(args: Args) -> Result<(), CmdError> {
    match args.len() {
        1 => Ok(()),
        2 if is(args.get(1), "async") || is(args.get(1), "sync") => Ok(()),
        _ => Err(CmdError::Syntax),
    }
}

/// FLUSHDB [ASYNC | SYNC]
pub fn flushdb(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    flush_mode(args)?;
    ctx.db().clear();
    Ok(Reply::Ok)
}

/// FLUSHALL [ASYNC | SYNC]
pub fn flushall(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    flush_mode(args)?;
    ctx.shared.keyspace.flush_all();
    Ok(Reply::Ok)
}

/// SWAPDB index1 index2
pub fn swapdb(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    // Like Redis's getIntFromObjectOrReply with a message: not an integer, or not a C int.
    let parse = |arg: &[u8], message: &str| super::args::parse_c_int(arg).map_err(|_| CmdError::err(message));
    let a = parse(args.get(1), "invalid first DB index")?;
    let b = parse(args.get(2), "invalid second DB index")?;
    let count = ctx.shared.keyspace.databases() as i64;
    if !(0..count).contains(&a) || !(0..count).contains(&b) {
        return Err(CmdError::err("DB index is out of range"));
    }
    ctx.shared.keyspace.swap_dbs(a as usize, b as usize);
    Ok(Reply::Ok)
}

/// TIME
pub fn time(_ctx: &mut Ctx, _args: Args) -> Result<Reply, CmdError> {
    let micros = crate::state::shared::unix_micros();
    Ok(Reply::Array(vec![Reply::bulk_string((micros / 1_000_000).to_string()), Reply::bulk_string((micros % 1_000_000).to_string())]))
}

/// LASTSAVE
pub fn lastsave(ctx: &mut Ctx, _args: Args) -> Result<Reply, CmdError> {
    Ok(Reply::Int(ctx.shared.saving.last_save_unix.load(Ordering::Relaxed) as i64))
}

/// DEBUG SLEEP seconds | DEBUG DIGEST | DEBUG DIGEST-VALUE key... | DEBUG POPULATE count [prefix] [size] |
/// DEBUG RELOAD [MERGE] [NOFLUSH] [NOSAVE] | DEBUG HELP
///
/// DEBUG SLEEP delays this connection only: strata serves other clients meanwhile.
pub fn debug(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    if !ctx.protected_action_allowed("enable-debug-command") {
        return Err(CmdError::err("DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server."));
    }
    let sub = args.get(1);
    if is(sub, "sleep") && args.len() == 3 {
        let seconds = crate::num::parse_f64(args.get(2)).filter(|s| *s >= 0.0).ok_or(CmdError::NotFloat)?;
        ctx.session.delay = Some(Duration::from_secs_f64(seconds.min(1e9)));
        return Ok(Reply::Ok);
    }
    if is(sub, "populate") && (3..=5).contains(&args.len()) {
        return populate(ctx, args);
    }
    if is(sub, "reload") {
        return super::persistence::debug_reload(ctx, args);
    }
    if is(sub, "digest") && args.len() == 2 {
        return Ok(super::persistence::debug_digest(ctx));
    }
    if is(sub, "digest-value") {
        return Ok(super::persistence::debug_digest_value(ctx, args));
    }
    if is(sub, "help") {
        return Ok(Reply::Array(
            [
                "DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "DIGEST",
                "    Output a hex signature representing the current DB content.",
                "DIGEST-VALUE <key> [<key> ...]",
                "    Output a hex signature of the values of all the specified keys.",
                "POPULATE <count> [<prefix>] [<size>]",
                "    Create <count> string keys named key:<num>.",
                "RELOAD [option ...]",
                "    Save the RDB on disk and reload it back to memory. Options: MERGE, NOFLUSH, NOSAVE.",
                "SLEEP <seconds>",
                "    Stop the server for <seconds>.",
                "HELP",
                "    Print this help.",
            ]
            .iter()
            .map(|l| Reply::status(l))
            .collect(),
        ));
    }
    Err(CmdError::UnknownSubcommand { command: "debug".to_owned(), sub: String::from_utf8_lossy(sub).into_owned() })
}

/// DEBUG POPULATE count [prefix] [size]: keys `prefix:N` holding `value:N` padded to size, as Redis.
fn populate(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let count = parse_int(args.get(2))?;
    if count < 0 {
        return Err(CmdError::err("positive count value required"));
    }
    let prefix = if args.len() > 3 { args.get(3).to_vec() } else { b"key".to_vec() };
    let size = if args.len() > 4 {
        let size = parse_int(args.get(4))?;
        if size < 0 {
            return Err(CmdError::err("value is out of range, must be positive"));
        }
        // A size past the largest string would only end in a failed allocation, which aborts.
        if size > 512 * 1024 * 1024 {
            return Err(CmdError::err("string exceeds maximum allowed size (proto-max-bulk-len)"));
        }
        Some(size as usize)
    } else {
        None
    };
    let db = ctx.db();
    for i in 0..count {
        let mut key = prefix.clone();
        key.extend_from_slice(format!(":{i}").as_bytes());
        let hash = crate::engine::KeyHash::of(&key);
        let mut shard = db.lock(hash);
        if shard.contains(hash, &key, ctx.now_ms) {
            continue;
        }
        let mut value = format!("value:{i}").into_bytes();
        if let Some(size) = size {
            value.resize(size, 0);
        }
        shard.set(hash, &key, crate::engine::Value::string(&value), None, ctx.now_ms);
    }
    Ok(Reply::Ok)
}

/// MONITOR
pub fn monitor(ctx: &mut Ctx, _args: Args) -> Result<Reply, CmdError> {
    ctx.session.become_monitor = true;
    Ok(Reply::Ok)
}

/// SLOWLOG GET [count]
pub fn slowlog_get(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let count = if args.len() > 2 {
        let n = parse_int(args.get(2)).map_err(|_| CmdError::err("count should be greater than or equal to -1"))?;
        if n < -1 {
            return Err(CmdError::err("count should be greater than or equal to -1"));
        }
        if n == -1 {
            usize::MAX
        } else {
            n as usize
        }
    } else {
        10
    };
    let entries = ctx.shared.slowlog.newest(count);
    Ok(Reply::Array(
        entries
            .into_iter()
            .map(|e| {
                Reply::Array(vec![
                    Reply::Int(e.id as i64),
                    Reply::Int(e.unix_secs as i64),
                    Reply::Int(e.micros as i64),
                    Reply::Array(e.args.into_iter().map(|a| Reply::Bulk(a.into())).collect()),
                    Reply::bulk_string(e.client_addr),
                    Reply::bulk_string(e.client_name),
                ])
            })
            .collect(),
    ))
}

/// SLOWLOG LEN
pub fn slowlog_len(ctx: &mut Ctx, _args: Args) -> Result<Reply, CmdError> {
    Ok(Reply::from(ctx.shared.slowlog.len()))
}

/// SLOWLOG RESET
pub fn slowlog_reset(ctx: &mut Ctx, _args: Args) -> Result<Reply, CmdError> {
    ctx.shared.slowlog.reset();
    Ok(Reply::Ok)
}

/// SHUTDOWN [NOSAVE | SAVE] [NOW] [FORCE] [ABORT]
///
/// Saves an RDB snapshot first when SAVE is given, or when save points are configured and NOSAVE
/// is not.
pub fn shutdown(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    if args.iter().skip(1).any(|arg| !["nosave", "save", "now", "force", "abort"].iter().any(|w| is(arg, w))) {
        return Err(CmdError::Syntax);
    }
    let given = |word: &str| args.iter().skip(1).any(|arg| is(arg, word));
    // As Redis: ABORT goes alone, and NOSAVE contradicts SAVE.
    if given("abort") && args.len() > 2 || given("nosave") && given("save") {
        return Err(CmdError::Syntax);
    }
    if given("abort") {
        return Err(CmdError::err("No shutdown in progress."));
    }
    // A script past busy-reply-threshold holds its event loop, so an orderly stop would wait for it
    // forever: as Redis, only NOSAVE is accepted then, and the process exits at once.
    if let Some(kind) = ctx.shared.busy_script() {
        if !given("nosave") {
            return Err(CmdError::line(crate::scripting::busy_error(kind)));
        }
        tracing::warn!("SHUTDOWN NOSAVE while a script runs: exiting now");
        std::process::exit(0);
    }
    // As Redis: NOSAVE never saves, SAVE always does, and without either a save happens when save
    // points are configured. A failed save stops the shutdown unless FORCE.
    let wants_save = !given("nosave") && (given("save") || !ctx.shared.config.get("save").trim().is_empty());
    if wants_save {
        // Redis kills a running BGSAVE child and saves afresh; strata's background save is a
        // thread, so it is waited for, then the final save starts.
        while ctx.shared.saving.in_progress() {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    if wants_save && !super::persistence::save_now(ctx) && !given("force") {
        return Err(CmdError::err("Errors trying to SHUTDOWN. Check logs."));
    }
    ctx.shared.request_shutdown();
    ctx.session.close_after_reply = true;
    Ok(Reply::NoReply)
}

/// WAIT numreplicas timeout: there are no replicas yet, so the answer is 0 (after the timeout when
/// replicas were asked for, as Redis would wait for them).
pub fn wait(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let wanted = parse_int(args.get(1))?;
    let timeout = parse_int(args.get(2))?;
    if timeout < 0 {
        return Err(CmdError::err("timeout is negative"));
    }
    if wanted > 0 && timeout > 0 {
        ctx.session.delay = Some(Duration::from_millis(timeout as u64));
    }
    Ok(Reply::Int(0))
}

// The command table of this family, joined by `commands::registry`. Its imports stay here, beside
// the rows, so that the family's table and its handlers change independently.

use super::acl;
use super::flags::{ADMIN, ALLOW_BUSY, FAST, LOADING, NOSCRIPT, NO_MULTI, READONLY, RUNS_ALONE, STALE, WRITE, WRITES_OTHER_DBS};
use super::table::Command;

/// The server commands, in the order COMMAND lists them.
pub(super) static COMMANDS: &[Command] = &[
    Command::new("dbsize", 1, dbsize).flags(READONLY | FAST).acl(acl::KEYSPACE),
    Command::new("flushdb", -1, flushdb).flags(WRITE).acl(acl::KEYSPACE | acl::DANGEROUS),
    Command::new("flushall", -1, flushall).flags(WRITE).acl(acl::KEYSPACE | acl::DANGEROUS),
    Command::new("swapdb", 3, swapdb).flags(WRITE | FAST | WRITES_OTHER_DBS).acl(acl::KEYSPACE | acl::DANGEROUS),
    Command::new("time", 1, time).flags(LOADING | STALE | FAST),
    Command::new("lastsave", 1, lastsave).flags(LOADING | STALE | FAST).acl(acl::ADMIN | acl::DANGEROUS),
    // Alone: DEBUG RELOAD empties and refills the keyspace.
    Command::new("debug", -2, debug).flags(ADMIN | NOSCRIPT | LOADING | STALE | RUNS_ALONE),
    Command::new("monitor", 1, monitor).flags(ADMIN | NOSCRIPT | LOADING | STALE),
    Command::new("slowlog", -2, super::dispatch::container).subcommands(SLOWLOG_SUBCOMMANDS),
    Command::new("shutdown", -1, shutdown).flags(ADMIN | NOSCRIPT | LOADING | STALE | NO_MULTI | ALLOW_BUSY),
    Command::new("wait", 3, wait).flags(NOSCRIPT).acl(acl::CONNECTION),
];

static SLOWLOG_SUBCOMMANDS: &[Command] = &[
    Command::new("slowlog|get", -2, slowlog_get).flags(ADMIN | LOADING | STALE),
    Command::new("slowlog|len", 2, slowlog_len).flags(ADMIN | LOADING | STALE),
    Command::new("slowlog|reset", 2, slowlog_reset).flags(ADMIN | LOADING | STALE),
];
