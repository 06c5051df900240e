//! Scripting commands: EVAL, EVALSHA and their _RO forms, SCRIPT, FUNCTION, FCALL and FCALL_RO.
//!
//! All but SCRIPT KILL, FUNCTION KILL and FUNCTION STATS run with the gate held for writing and
//! the Lua VM in [`Ctx::scripting`].

use std::borrow::Cow;

use bytes::Bytes;

use super::access::check::check;
use super::dispatch::{dispatch_inner_resolved, resolve};
use super::lists::numkeys_positions;
use super::{CmdError, Ctx};
use crate::resp::{Args, Reply};
use crate::scripting::{busy_error, Dispatcher, Inputs, KillRefused, RunOptions, ScriptKind, ScriptStatus, ScriptVm, Scripting};

/// Key positions of EVAL-style commands: `numkeys` at 2, then the keys.
pub fn eval_keys(args: Args) -> Vec<usize> {
    numkeys_positions(args, 2)
}

/// The VM, which the connection hands to exclusive commands.
fn scripting<'c>(ctx: &'c mut Ctx) -> Result<&'c mut Scripting, CmdError> {
    ctx.scripting.as_deref_mut().ok_or_else(|| CmdError::err("the Lua VM is unavailable"))
}

/// `numkeys key... arg...` from position 2: the keys and arguments, and how many of them are keys.
fn keys_and_args<'a>(args: Args<'a>) -> Result<(Vec<&'a [u8]>, usize), CmdError> {
    let numkeys = super::parse_int(args.get(2))?;
    if numkeys < 0 {
        return Err(CmdError::err("Number of keys can't be negative"));
    }
    let rest: Vec<&[u8]> = args.iter().skip(3).collect();
    if numkeys as u64 > rest.len() as u64 {
        return Err(CmdError::err("Number of keys can't be greater than number of args"));
    }
    Ok((rest, numkeys as usize))
}

/// EVAL script numkeys [key ...] [arg ...]
pub fn eval(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    run_eval(ctx, args, false, false)
}

/// EVALSHA sha1 numkeys [key ...] [arg ...]
pub fn evalsha(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    run_eval(ctx, args, true, false)
}

/// EVAL_RO script numkeys [key ...] [arg ...]
pub fn eval_ro(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    run_eval(ctx, args, false, true)
}

/// EVALSHA_RO sha1 numkeys [key ...] [arg ...]
pub fn evalsha_ro(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    run_eval(ctx, args, true, true)
}

/// Runs a script for the client of `ctx`. Scripts read replies in RESP2 unless they ask otherwise,
/// never block, and keep their SELECT to themselves: the client's are restored afterwards.
fn run_script(ctx: &mut Ctx, vm: &mut ScriptVm, function: &mlua::Function, inputs: Inputs, options: RunOptions) -> Reply {
    let (caller_db, caller_protocol, caller_in_exec) = (ctx.session.db, ctx.session.protocol, ctx.session.in_exec);
    ctx.session.protocol = crate::resp::Protocol::Resp2;
    ctx.session.in_exec = true;
    // One unit for persistence: after a crash the script's writes are there whole or not at all.
    let shared = ctx.shared;
    let reply = shared.keyspace.atomically(|| vm.run(ctx, function, inputs, options));
    ctx.session.db = caller_db;
    ctx.session.protocol = caller_protocol;
    ctx.session.in_exec = caller_in_exec;
    reply
}

/// `redis.call` from a script running for this client: the checks Redis makes for scripts, then
/// the command, counted in commandstats as the client's own.
impl Dispatcher for Ctx<'_> {
    fn call(&mut self, request: Args, read_only: bool, status: &ScriptStatus) -> Result<Reply, &'static str> {
        let (index, command) = resolve(request).map_err(|_| "ERR Unknown Redis command called from script")?;
        if !command.arity_ok(request.len()) {
            self.shared.stats.record(index, 0, true, false);
            return Err("ERR Wrong number of args calling Redis command from script");
        }
        if command.has(NOSCRIPT) {
            return Err("ERR This Redis command is not allowed from script");
        }
        if let Some(user) = self.session.restricted_user() {
            if let Err(denial) = check(user, index, command, request) {
                return Err(super::access::refuse_in_script(self, command, request, denial));
            }
        }
        if command.has(WRITE) {
            if read_only {
                return Err("ERR Write commands are not allowed from read-only scripts.");
            }
            status.note_write();
        }
        Ok(dispatch_inner_resolved(self, request, Ok((index, command))).reply)
    }
}

fn run_eval(ctx: &mut Ctx, args: Args, by_sha: bool, read_only: bool) -> Result<Reply, CmdError> {
    let (inputs, numkeys) = keys_and_args(args)?;
    let (keys, argv) = inputs.split_at(numkeys);
    let Some(scripting) = ctx.scripting.take() else {
        return Err(CmdError::err("the Lua VM is unavailable"));
    };
    let Scripting { vm, scripts, .. } = &mut *scripting;
    let loaded = if by_sha {
        scripts.get(args.get(1)).ok_or(CmdError::line("NOSCRIPT No matching script. Please use EVAL."))
    } else {
        scripts.load(vm, args.get(1)).map_err(|e| CmdError::Other(Cow::Owned(e)))
    };
    let reply = loaded.map(|(sha, script)| {
        let options = RunOptions { kind: ScriptKind::Eval, read_only: read_only || script.no_writes, name: sha, function: None };
        run_script(ctx, vm, &script.function, Inputs::Globals { keys, argv }, options)
    });
    ctx.scripting = Some(scripting);
    reply
}

/// SCRIPT LOAD script
pub fn script_load(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let scripting = scripting(ctx)?;
    let (sha, _) = scripting.scripts.load(&scripting.vm, args.get(2)).map_err(|e| CmdError::Other(Cow::Owned(e)))?;
    Ok(Reply::bulk(sha.as_bytes()))
}

/// SCRIPT EXISTS sha1 [sha1 ...]
pub fn script_exists(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let scripting = scripting(ctx)?;
    Ok(Reply::Array(args.iter().skip(2).map(|sha| Reply::Int(i64::from(scripting.scripts.contains(sha)))).collect()))
}

/// SCRIPT FLUSH [ASYNC|SYNC]
pub fn script_flush(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    flush_mode(args, "SCRIPT FLUSH only support SYNC|ASYNC option")?;
    scripting(ctx)?.scripts.flush();
    Ok(Reply::Ok)
}

/// `[ASYNC|SYNC]` after a FLUSH subcommand (both free at once: nothing is left to free lazily).
fn flush_mode(args: Args, error: &'static str) -> Result<(), CmdError> {
    match args.len() {
        2 => Ok(()),
        3 if args.get(2).eq_ignore_ascii_case(b"async") || args.get(2).eq_ignore_ascii_case(b"sync") => Ok(()),
        _ => Err(CmdError::err(error)),
    }
}

/// SCRIPT DEBUG YES|SYNC|NO: strata has no Lua debugger.
pub fn script_debug(_ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let mode = args.get(2);
    if mode.eq_ignore_ascii_case(b"no") {
        return Ok(Reply::Ok);
    }
    if mode.eq_ignore_ascii_case(b"yes") || mode.eq_ignore_ascii_case(b"sync") {
        return Err(CmdError::err("strata has no Lua debugger: SCRIPT DEBUG YES|SYNC is not supported"));
    }
    Err(CmdError::err("Use SCRIPT DEBUG YES/SYNC/NO"))
}

/// SCRIPT KILL
pub fn script_kill(ctx: &mut Ctx, _args: Args) -> Result<Reply, CmdError> {
    kill(ctx, ScriptKind::Eval)
}

/// FUNCTION KILL
pub fn function_kill(ctx: &mut Ctx, _args: Args) -> Result<Reply, CmdError> {
    kill(ctx, ScriptKind::Function)
}

fn kill(ctx: &mut Ctx, kind: ScriptKind) -> Result<Reply, CmdError> {
    match ctx.shared.scripts.request_kill(kind) {
        Ok(()) => Ok(Reply::Ok),
        Err(KillRefused::NotBusy) => Err(CmdError::line("NOTBUSY No scripts in execution right now.")),
        Err(KillRefused::OtherKind(running)) => Err(CmdError::line(busy_error(running))),
        Err(KillRefused::Unkillable) => Err(CmdError::line(
            "UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.",
        )),
    }
}

/// FUNCTION LOAD [REPLACE] function-code
pub fn function_load(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let replace = match args.len() {
        3 => false,
        4 if args.get(2).eq_ignore_ascii_case(b"replace") => true,
        4 => return Err(CmdError::err(format!("Unknown option given: {}", String::from_utf8_lossy(args.get(2))))),
        _ => return Err(CmdError::Syntax),
    };
    let code = args.get(args.len() - 1);
    let scripting = scripting(ctx)?;
    let name = scripting.libraries.load(&scripting.vm, code, replace).map_err(|e| CmdError::Other(Cow::Owned(e)))?;
    Ok(Reply::Bulk(Bytes::from(name)))
}

/// FUNCTION DELETE library-name
pub fn function_delete(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let name = String::from_utf8_lossy(args.get(2)).into_owned();
    if !scripting(ctx)?.libraries.delete(&name) {
        return Err(CmdError::err("Library not found"));
    }
    Ok(Reply::Ok)
}

/// FUNCTION FLUSH [ASYNC|SYNC]
pub fn function_flush(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    flush_mode(args, "FUNCTION FLUSH only supports SYNC|ASYNC option")?;
    scripting(ctx)?.libraries.flush();
    Ok(Reply::Ok)
}

/// FUNCTION LIST [LIBRARYNAME pattern] [WITHCODE]
pub fn function_list(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let mut pattern: Option<&[u8]> = None;
    let mut with_code = false;
    let mut i = 2;
    while i < args.len() {
        let arg = args.get(i);
        if arg.eq_ignore_ascii_case(b"withcode") && !with_code {
            with_code = true;
        } else if arg.eq_ignore_ascii_case(b"libraryname") && pattern.is_none() {
            if i + 1 >= args.len() {
                return Err(CmdError::err("library name argument was not given"));
            }
            pattern = Some(args.get(i + 1));
            i += 1;
        } else {
            return Err(CmdError::err(format!("Unknown argument {}", String::from_utf8_lossy(arg))));
        }
        i += 1;
    }
    let scripting = scripting(ctx)?;
    let mut libraries = Vec::new();
    for library in scripting.libraries.libraries() {
        if pattern.is_some_and(|p| !crate::glob::matches(p, library.name.as_bytes(), false)) {
            continue;
        }
        let functions = library
            .functions
            .values()
            .map(|function| {
                Reply::Map(vec![
                    (Reply::bulk(b"name"), Reply::Bulk(Bytes::from(function.name.clone()))),
                    (Reply::bulk(b"description"), function.description.clone().map_or(Reply::Nil, |d| Reply::Bulk(Bytes::from(d)))),
                    (Reply::bulk(b"flags"), Reply::Set(function.flags.iter().map(|f| Reply::bulk(f.as_bytes())).collect())),
                ])
            })
            .collect();
        let mut fields = vec![
            (Reply::bulk(b"library_name"), Reply::Bulk(Bytes::from(library.name.clone()))),
            (Reply::bulk(b"engine"), Reply::bulk(b"LUA")),
            (Reply::bulk(b"functions"), Reply::Array(functions)),
        ];
        if with_code {
            fields.push((Reply::bulk(b"library_code"), Reply::Bulk(Bytes::copy_from_slice(&library.code))));
        }
        libraries.push(Reply::Map(fields));
    }
    Ok(Reply::Array(libraries))
}

/// FUNCTION STATS
pub fn function_stats(ctx: &mut Ctx, _args: Args) -> Result<Reply, CmdError> {
    let status = &ctx.shared.scripts;
    let running = match status.running_function() {
        Some((name, command, ms)) => Reply::Map(vec![
            (Reply::bulk(b"name"), Reply::Bulk(Bytes::from(name))),
            (Reply::bulk(b"command"), Reply::Array(command.into_iter().map(|arg| Reply::Bulk(Bytes::from(arg))).collect())),
            (Reply::bulk(b"duration_ms"), Reply::Int(ms as i64)),
        ]),
        None => Reply::Nil,
    };
    let figures = status.figures();
    let lua = Reply::Map(vec![
        (Reply::bulk(b"libraries_count"), Reply::Int(figures.libraries as i64)),
        (Reply::bulk(b"functions_count"), Reply::Int(figures.functions as i64)),
    ]);
    Ok(Reply::Map(vec![(Reply::bulk(b"running_script"), running), (Reply::bulk(b"engines"), Reply::Map(vec![(Reply::bulk(b"LUA"), lua)]))]))
}

/// FUNCTION DUMP
pub fn function_dump(ctx: &mut Ctx, _args: Args) -> Result<Reply, CmdError> {
    let scripting = scripting(ctx)?;
    let codes: Vec<&[u8]> = scripting.libraries.libraries().map(|library| &library.code[..]).collect();
    Ok(Reply::Bulk(Bytes::from(crate::scripting::dump::encode(&codes))))
}

/// FUNCTION RESTORE serialized-value [FLUSH|APPEND|REPLACE]
pub fn function_restore(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let policy = match args.len() {
        3 => b"append".as_slice(),
        4 => args.get(3),
        _ => return Err(CmdError::Syntax),
    };
    let (flush, replace) = if policy.eq_ignore_ascii_case(b"append") {
        (false, false)
    } else if policy.eq_ignore_ascii_case(b"replace") {
        (false, true)
    } else if policy.eq_ignore_ascii_case(b"flush") {
        (true, true)
    } else {
        return Err(CmdError::err("Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE."));
    };
    let codes = crate::scripting::dump::decode(args.get(2)).ok_or(CmdError::err("DUMP payload version or checksum are wrong"))?;
    let scripting = scripting(ctx)?;
    // Compile everything first so a bad library leaves the loaded ones untouched.
    let mut compiled = Vec::with_capacity(codes.len());
    for code in &codes {
        compiled.push(crate::scripting::functions::compile_library(&scripting.vm, code).map_err(|e| CmdError::Other(Cow::Owned(e)))?);
    }
    if !replace {
        if let Some(existing) = compiled.iter().find(|l| scripting.libraries.libraries().any(|have| have.name == l.name)) {
            return Err(CmdError::err(format!("Library {} already exists", existing.name)));
        }
    }
    if flush {
        scripting.libraries.flush();
    }
    for library in compiled {
        scripting.libraries.install(library, true).map_err(|e| CmdError::Other(Cow::Owned(e)))?;
    }
    Ok(Reply::Ok)
}

/// FCALL function numkeys [key ...] [arg ...]
pub fn fcall(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    run_function(ctx, args, false)
}

/// FCALL_RO function numkeys [key ...] [arg ...]
pub fn fcall_ro(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    run_function(ctx, args, true)
}

fn run_function(ctx: &mut Ctx, args: Args, read_only: bool) -> Result<Reply, CmdError> {
    let (inputs, numkeys) = keys_and_args(args)?;
    let (keys, argv) = inputs.split_at(numkeys);
    let command: Vec<Vec<u8>> = args.iter().map(<[u8]>::to_vec).collect();
    let Some(scripting) = ctx.scripting.take() else {
        return Err(CmdError::err("the Lua VM is unavailable"));
    };
    let reply = (|| {
        let function = scripting.libraries.function(args.get(1)).ok_or(CmdError::err("Function not found"))?;
        if read_only && !function.no_writes() {
            return Err(CmdError::err("Can not execute a script with write flag using *_ro command."));
        }
        let (callback, name, no_writes) = (function.callback.clone(), function.name.clone(), function.no_writes());
        let function = Some((name.clone(), command));
        let options = RunOptions { kind: ScriptKind::Function, read_only: read_only || no_writes, name: &name, function };
        Ok(run_script(ctx, &mut scripting.vm, &callback, Inputs::Arguments { keys, argv }, options))
    })();
    ctx.scripting = Some(scripting);
    reply
}

// The command table of this family, joined by `commands::registry`. Its imports stay here, beside
// the rows, so that the family's table and its handlers change independently.

use super::acl;
use super::flags::{ALLOW_BUSY, DENYOOM, NOSCRIPT, NO_MANDATORY_KEYS, READONLY, RUNS_ALONE, SKIP_MONITOR, STALE, WRITE};
use super::table::Command;

/// The scripting commands, in the order COMMAND lists them.
pub(super) static COMMANDS: &[Command] = &[
    Command::new("eval", -3, eval)
        .flags(NOSCRIPT | STALE | SKIP_MONITOR | NO_MANDATORY_KEYS | RUNS_ALONE)
        .acl(acl::SCRIPTING)
        .movable_keys(eval_keys),
    Command::new("evalsha", -3, evalsha)
        .flags(RUNS_ALONE)
        .flags(NOSCRIPT | STALE | SKIP_MONITOR | NO_MANDATORY_KEYS)
        .acl(acl::SCRIPTING)
        .movable_keys(eval_keys),
    Command::new("eval_ro", -3, eval_ro)
        .flags(RUNS_ALONE)
        .flags(READONLY | NOSCRIPT | STALE | SKIP_MONITOR | NO_MANDATORY_KEYS)
        .acl(acl::SCRIPTING)
        .movable_keys(eval_keys),
    Command::new("evalsha_ro", -3, evalsha_ro)
        .flags(RUNS_ALONE)
        .flags(READONLY | NOSCRIPT | STALE | SKIP_MONITOR | NO_MANDATORY_KEYS)
        .acl(acl::SCRIPTING)
        .movable_keys(eval_keys),
    Command::new("script", -2, super::dispatch::container).subcommands(SCRIPT_SUBCOMMANDS),
    Command::new("function", -2, super::dispatch::container).subcommands(FUNCTION_SUBCOMMANDS),
    Command::new("fcall", -3, fcall)
        .flags(NOSCRIPT | STALE | SKIP_MONITOR | NO_MANDATORY_KEYS | RUNS_ALONE)
        .acl(acl::SCRIPTING)
        .movable_keys(eval_keys),
    Command::new("fcall_ro", -3, fcall_ro)
        .flags(RUNS_ALONE)
        .flags(READONLY | NOSCRIPT | STALE | SKIP_MONITOR | NO_MANDATORY_KEYS)
        .acl(acl::SCRIPTING)
        .movable_keys(eval_keys),
];

static SCRIPT_SUBCOMMANDS: &[Command] = &[
    Command::new("script|debug", 3, script_debug).flags(NOSCRIPT | RUNS_ALONE).acl(acl::SCRIPTING),
    Command::new("script|exists", -3, script_exists).flags(NOSCRIPT | RUNS_ALONE).acl(acl::SCRIPTING),
    Command::new("script|flush", -2, script_flush).flags(NOSCRIPT | RUNS_ALONE).acl(acl::SCRIPTING),
    Command::new("script|kill", 2, script_kill).flags(NOSCRIPT | ALLOW_BUSY).acl(acl::SCRIPTING),
    Command::new("script|load", 3, script_load).flags(NOSCRIPT | STALE | RUNS_ALONE).acl(acl::SCRIPTING),
];

static FUNCTION_SUBCOMMANDS: &[Command] = &[
    Command::new("function|delete", 3, function_delete).flags(WRITE | NOSCRIPT | RUNS_ALONE).acl(acl::SCRIPTING),
    Command::new("function|dump", 2, function_dump).flags(NOSCRIPT | RUNS_ALONE).acl(acl::SCRIPTING),
    Command::new("function|flush", -2, function_flush).flags(WRITE | NOSCRIPT | RUNS_ALONE).acl(acl::SCRIPTING),
    Command::new("function|kill", 2, function_kill).flags(NOSCRIPT | ALLOW_BUSY).acl(acl::SCRIPTING),
    Command::new("function|list", -2, function_list).flags(NOSCRIPT | RUNS_ALONE).acl(acl::SCRIPTING),
    Command::new("function|load", -3, function_load).flags(WRITE | DENYOOM | NOSCRIPT | RUNS_ALONE).acl(acl::SCRIPTING),
    Command::new("function|restore", -3, function_restore).flags(WRITE | DENYOOM | NOSCRIPT | RUNS_ALONE).acl(acl::SCRIPTING),
    Command::new("function|stats", 2, function_stats).flags(NOSCRIPT | ALLOW_BUSY).acl(acl::SCRIPTING),
];
