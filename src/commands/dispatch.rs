//! The checks every command passes, in Redis's order: lookup, arity, authentication, subscribed mode,
//! MULTI queueing (decided by `admission`); then the handler.

use std::borrow::Cow;
use std::time::Instant;

use super::admission::{self, Admission, Refusal, Step};
use super::error::truncate;
use super::flags::WRITE;
use super::table::{registry, Command};
use super::{CmdError, Ctx};
use crate::engine::KeyHash;
use crate::resp::{Args, Reply};

/// The outcome of one request.
pub struct Dispatched {
    /// Index of the command in the registry, when it was found.
    pub command: Option<usize>,
    pub reply: Reply,
    /// Refused before the handler ran (unknown, arity, auth): counts as `rejected_calls`.
    pub rejected: bool,
    /// Queued in a transaction: it counts when EXEC runs it, as in Redis.
    pub queued: bool,
}

/// A request's command (or subcommand) and its index in the registry, or why there is none.
pub type Resolved = Result<(usize, &'static Command), (Option<usize>, CmdError)>;

/// Runs one request.
pub fn dispatch(ctx: &mut Ctx, args: Args) -> Dispatched {
    let resolved = resolve(args);
    ctx.session.refresh_user(&ctx.shared.acl);
    let step = step_for(ctx, &resolved, args, true);
    dispatch_admitted(ctx, args, resolved, step)
}

/// Runs one request that admission already let through, as `step` says: the connection resolves
/// and admits each request once ([`super::admission::decide`]) and hands the outcome here.
pub fn dispatch_admitted(ctx: &mut Ctx, args: Args, resolved: Resolved, step: Step) -> Dispatched {
    let dispatched = run(ctx, args, resolved, step);
    if let Reply::Error(line) = &dispatched.reply {
        ctx.shared.stats.record_error(line);
    }
    dispatched
}

/// Runs a command for EXEC or a script. It counts in commandstats and total_commands_processed on
/// its own, as Redis counts it, besides the EXEC or EVAL that ran it.
pub fn dispatch_inner(ctx: &mut Ctx, args: Args) -> Dispatched {
    dispatch_inner_resolved(ctx, args, resolve(args))
}

/// [`dispatch_inner`] for a request already resolved (scripts check the command before they run it).
pub fn dispatch_inner_resolved(ctx: &mut Ctx, args: Args, resolved: Resolved) -> Dispatched {
    let started = Instant::now();
    // EXEC's commands were checked as they were queued, a script's by `redis.call`.
    let step = step_for(ctx, &resolved, args, false);
    let dispatched = dispatch_admitted(ctx, args, resolved, step);
    if let Some(index) = dispatched.command {
        let failed = dispatched.reply.is_error() && !dispatched.rejected;
        ctx.shared.stats.record(index, started.elapsed().as_micros() as u64, dispatched.rejected, failed);
    }
    dispatched
}

/// What dispatch does with a request run inside a command that already holds the gate (EXEC, a
/// script, the serving of a blocked client): admission with nothing paused, busy or awaited, and
/// ACL permissions checked when `check_acl`.
fn step_for(ctx: &Ctx, resolved: &Resolved, args: Args, check_acl: bool) -> Step {
    let command = resolved.as_ref().ok().map(|&(_, command)| command);
    let mut state = admission::State::of(ctx.session);
    if !check_acl {
        state.user = None;
    }
    state.disk_error = ctx.shared.store.as_ref().is_some_and(|store| store.failed());
    match admission::decide(command, args, &state) {
        Admission::Go { step, .. } => step,
        // Not with this state; run it rather than drop it.
        Admission::Pause { .. } | Admission::Busy(_) => Step::Run,
    }
}

fn run(ctx: &mut Ctx, args: Args, resolved: Resolved, step: Step) -> Dispatched {
    let (index, command) = match resolved {
        Ok(found) => found,
        Err((command, error)) => return refuse(ctx, command, error),
    };
    let refusal = match step {
        Step::Run => None,
        // Only a request that resolved to nothing is unknown (handled above).
        Step::Refuse(Refusal::Unknown) => Some(CmdError::Syntax),
        Step::Refuse(Refusal::WrongArity) => Some(CmdError::WrongArity(command.name.to_owned())),
        Step::Refuse(Refusal::NoAuth) => Some(CmdError::line("NOAUTH Authentication required.")),
        Step::Refuse(Refusal::NoPerm(denial)) => Some(super::access::refuse(ctx, command, args, denial)),
        Step::Refuse(Refusal::Subscribed) => Some(CmdError::Other(Cow::Owned(format!(
            "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
            command.name
        )))),
        Step::Refuse(Refusal::NotInMulti) => Some(CmdError::err("Command not allowed inside a transaction")),
        Step::Refuse(Refusal::DiskError) => Some(misconf(ctx)),
        Step::Refuse(Refusal::Loading) => Some(CmdError::line("LOADING Redis is loading the dataset in memory")),
        Step::Queue => {
            if let Some(queue) = ctx.session.multi.as_mut() {
                queue.push(args.to_owned());
            }
            return Dispatched { command: Some(index), reply: Reply::status("QUEUED"), rejected: false, queued: true };
        }
    };
    if let Some(error) = refusal {
        return refuse(ctx, Some(index), error);
    }
    ctx.session.info.last_command.store(index, std::sync::atomic::Ordering::Relaxed);
    ctx.changed.set(false);
    // Saved and restored: EXEC and scripts dispatch their commands inside their own.
    let outer_keys = if command.has(WRITE) && command.may_name_several_keys() {
        ctx.changed_keys.replace(Default::default())
    } else {
        ctx.changed_keys.take()
    };
    let reply = (command.handler)(ctx, args).unwrap_or_else(Reply::from);
    // A command that blocked wrote nothing (and announcing it would wake itself forever).
    if command.has(WRITE) && !reply.is_error() && ctx.session.block.is_none() {
        announce_write(ctx, command, args);
    }
    ctx.changed.set(false);
    ctx.changed_keys = outer_keys;
    Dispatched { command: Some(index), reply, rejected: false, queued: false }
}

/// Redis's refusal of a write while the disk refuses them.
pub fn misconf(ctx: &Ctx) -> CmdError {
    let reason = ctx.shared.store.as_ref().and_then(|store| store.failure()).unwrap_or_default();
    CmdError::Other(Cow::Owned(format!("MISCONF Errors writing to the AOF file: {reason}")))
}

/// A refused request; inside MULTI it also dooms the transaction (EXEC answers EXECABORT).
fn refuse(ctx: &mut Ctx, command: Option<usize>, error: CmdError) -> Dispatched {
    if ctx.session.multi.is_some() {
        ctx.session.multi_failed = true;
    }
    Dispatched { command, reply: error.into(), rejected: true, queued: false }
}

/// Tells WATCHers and blocked clients that a write command touched its keys, once the handler
/// reported a change through a keyspace event: of a command that may name several keys, the ones it
/// reported; of a single-key command, its key. FLUSHDB, FLUSHALL and SWAPDB touch whole databases.
fn announce_write(ctx: &mut Ctx, command: &Command, args: Args) {
    let shared = ctx.shared;
    let db = ctx.session.db;
    if ctx.changed.get() || matches!(command.name, "flushall" | "flushdb" | "swapdb") {
        // One per command that changed data (Redis counts some commands per element).
        shared.saving.count_change();
    }
    match command.name {
        "flushall" => {
            shared.watches.touch_db(None);
            (0..shared.keyspace.databases()).for_each(|db| shared.blocked.signal_db(db));
        }
        "flushdb" => {
            shared.watches.touch_db(Some(db));
            shared.blocked.signal_db(db);
        }
        "swapdb" => {
            for arg in [args.get(1), args.get(2)] {
                if let Some(db) = crate::num::parse_i64(arg).and_then(|n| usize::try_from(n).ok()) {
                    shared.watches.touch_db(Some(db));
                    shared.blocked.signal_db(db);
                }
            }
        }
        _ if !ctx.changed.get() => {}
        _ => {
            let mut changed_keys = ctx.changed_keys.as_ref().map(|keys| keys.take()).unwrap_or_default();
            // Sorted for lookups: a DEL of a million keys must not compare every pair.
            changed_keys.sort_unstable();
            command.for_each_key(args, |position| {
                let key = args.get(position);
                // Single-key commands record nothing: their key is the one that changed.
                if changed_keys.is_empty() || changed_keys.binary_search(&KeyHash::of(key)).is_ok() {
                    shared.watches.touch(db, key);
                    shared.blocked.signal(db, key);
                }
            });
        }
    }
}

/// Finds the command (or subcommand) a request names.
pub fn resolve(args: Args) -> Resolved {
    let registry = registry();
    let name = args.get(0);
    let Some((index, command)) = registry.find(name) else {
        return Err((None, unknown_command(args)));
    };
    if command.subcommands.is_empty() || args.len() < 2 {
        return Ok((index, command));
    }
    let sub = args.get(1);
    match registry.find_sub(command, sub) {
        Some(found) => Ok(found),
        None if sub.eq_ignore_ascii_case(b"help") => Ok((index, command)),
        None => Err((
            Some(index),
            CmdError::UnknownSubcommand { command: command.name.to_owned(), sub: String::from_utf8_lossy(sub).into_owned() },
        )),
    }
}

/// `ERR unknown command 'x', with args beginning with: 'a' 'b' `, cut as Redis cuts it. Redis formats
/// the name and arguments as C strings, so each ends at its first NUL byte.
fn unknown_command(args: Args) -> CmdError {
    let c_string = |arg: &[u8]| -> String {
        let end = arg.iter().position(|b| *b == 0).unwrap_or(arg.len());
        String::from_utf8_lossy(&arg[..end]).into_owned()
    };
    let name = c_string(args.get(0));
    let mut listed = String::new();
    for arg in args.iter().skip(1) {
        if listed.len() >= 128 {
            break;
        }
        let arg = c_string(arg);
        let room = 128 - listed.len();
        listed.push('\'');
        listed.push_str(truncate(&arg, room));
        listed.push_str("' ");
    }
    CmdError::Other(Cow::Owned(format!("ERR unknown command '{}', with args beginning with: {}", truncate(&name, 128), listed)))
}

/// `<CMD> HELP`, generated from the subcommand table.
pub fn container_help(command: &Command) -> Reply {
    let upper = command.name.to_ascii_uppercase();
    let mut lines = vec![Reply::Status(Cow::Owned(format!("{upper} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:")))];
    for sub in command.subcommands {
        lines.push(Reply::Status(Cow::Owned(sub.short_name().to_ascii_uppercase())));
        lines.push(Reply::Status(Cow::Owned(format!("    {}", registry().doc(sub).summary))));
    }
    lines.push(Reply::status("HELP"));
    lines.push(Reply::status("    Print this help."));
    Reply::Array(lines)
}

/// The handler of container commands (CLIENT, CONFIG, OBJECT, SLOWLOG) when no known subcommand
/// matched: only `HELP` reaches it.
pub fn container(_ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let Some((_, command)) = registry().find(args.get(0)) else {
        return Err(CmdError::Syntax);
    };
    if args.get(1).eq_ignore_ascii_case(b"help") {
        // `<CMD> HELP` is a subcommand of its own in Redis, with an arity of exactly 2.
        if args.len() != 2 {
            return Err(CmdError::WrongArity(format!("{}|help", command.name)));
        }
        return Ok(container_help(command));
    }
    Err(CmdError::UnknownSubcommand { command: command.name.to_owned(), sub: String::from_utf8_lossy(args.get(1)).into_owned() })
}
