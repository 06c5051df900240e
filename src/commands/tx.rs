//! Transactions: MULTI, EXEC, DISCARD, WATCH, UNWATCH.
//!
//! Queueing happens in dispatch (every command after MULTI except EXEC, DISCARD, MULTI, WATCH, QUIT
//! and RESET). EXEC runs with the server's gate held exclusively by the connection loop, so no other
//! client's command runs in between.

use std::sync::atomic::Ordering;

use super::access;
use super::dispatch::{dispatch_inner, misconf, resolve};
use super::flags::WRITE;
use super::{CmdError, Ctx};
use crate::engine::KeyHash;
use crate::resp::{Args, Reply};

/// MULTI
pub fn multi(ctx: &mut Ctx, _args: Args) -> Result<Reply, CmdError> {
    if ctx.session.multi.is_some() {
        return Err(CmdError::err("MULTI calls can not be nested"));
    }
    ctx.session.multi = Some(Vec::new());
    ctx.session.multi_failed = false;
    Ok(Reply::Ok)
}

/// EXEC
///
/// # Returns
/// The replies of the queued commands; a nil array when a watched key changed (or expired); an
/// EXECABORT error when a command was refused while queueing.
pub fn exec(ctx: &mut Ctx, _args: Args) -> Result<Reply, CmdError> {
    let Some(queued) = ctx.session.multi.take() else {
        return Err(CmdError::err("EXEC without MULTI"));
    };
    let failed = std::mem::take(&mut ctx.session.multi_failed);
    if ctx.shared.store.as_ref().is_some_and(|store| store.failed())
        && queued.iter().any(|request| resolve(request.args()).is_ok_and(|(_, command)| command.has(WRITE)))
    {
        ctx.session.unwatch_all(ctx.shared);
        return Err(CmdError::Other(format!("EXECABORT Transaction discarded because of: {}", misconf(ctx)).into()));
    }
    let now = ctx.now_ms;
    let watch_broken = ctx.session.watch_dirty.load(Ordering::Relaxed)
        || ctx.session.watched.iter().any(|(_, _, deadline)| deadline.is_some_and(|at| at <= now));
    ctx.session.unwatch_all(ctx.shared);
    if failed {
        return Err(CmdError::line("EXECABORT Transaction discarded because of previous errors."));
    }
    if watch_broken {
        return Ok(Reply::NilArray);
    }
    ctx.session.in_exec = true;
    // One unit for persistence: after a crash the transaction is there whole or not at all.
    let shared = ctx.shared;
    let replies = shared.keyspace.atomically(|| {
        queued
            .iter()
            .map(|request| match access::recheck_queued(ctx, request.args()) {
                Some(refused) => refused,
                None => dispatch_inner(ctx, request.args()).reply,
            })
            .collect()
    });
    ctx.session.in_exec = false;
    Ok(Reply::Array(replies))
}

/// DISCARD
pub fn discard(ctx: &mut Ctx, _args: Args) -> Result<Reply, CmdError> {
    if ctx.session.multi.take().is_none() {
        return Err(CmdError::err("DISCARD without MULTI"));
    }
    ctx.session.multi_failed = false;
    ctx.session.unwatch_all(ctx.shared);
    Ok(Reply::Ok)
}

/// WATCH key [key ...]
pub fn watch(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    if ctx.session.multi.is_some() {
        return Err(CmdError::err("WATCH inside MULTI is not allowed"));
    }
    let db = ctx.session.db;
    for key in args.iter().skip(1) {
        if ctx.session.watched.iter().any(|(d, k, _)| *d == db && k == key) {
            continue;
        }
        let hash = KeyHash::of(key);
        let deadline = ctx.db().lock(hash).get(hash, key, ctx.now_ms).and_then(|e| e.expire_at());
        ctx.shared.watches.watch(ctx.session.id(), &ctx.session.watch_dirty, db, key);
        ctx.session.watched.push((db, key.to_vec(), deadline));
    }
    Ok(Reply::Ok)
}

/// UNWATCH
pub fn unwatch(ctx: &mut Ctx, _args: Args) -> Result<Reply, CmdError> {
    ctx.session.unwatch_all(ctx.shared);
    Ok(Reply::Ok)
}

// The command table of this family, joined by `commands::registry`. Its imports stay here, beside
// the rows, so that the family's table and its handlers change independently.

use super::acl;
use super::flags::{ALLOW_BUSY, FAST, LOADING, NOSCRIPT, RUNS_ALONE, SKIP_SLOWLOG, STALE, TX_CONTROL};
use super::table::Command;

/// The transaction commands, in the order COMMAND lists them.
pub(super) static COMMANDS: &[Command] = &[
    Command::new("multi", 1, multi).flags(NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY | TX_CONTROL).acl(acl::TRANSACTION),
    Command::new("exec", 1, exec).flags(NOSCRIPT | LOADING | STALE | SKIP_SLOWLOG | RUNS_ALONE | TX_CONTROL).acl(acl::TRANSACTION),
    Command::new("discard", 1, discard).flags(NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY | TX_CONTROL).acl(acl::TRANSACTION),
    Command::new("watch", -2, watch)
        .flags(NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY | TX_CONTROL)
        .keys(1, -1, 1)
        .acl(acl::TRANSACTION),
    Command::new("unwatch", 1, unwatch).flags(NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY).acl(acl::TRANSACTION),
];
