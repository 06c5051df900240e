//! The checks every command passes, in Redis's order: lookup, arity, authentication; then the handler.

use std::borrow::Cow;

use super::error::truncate;
use super::flags::NO_AUTH;
use super::table::{registry, Command};
use super::{CmdError, Ctx};
use crate::resp::{Args, Protocol, Reply};

/// The outcome of one request.
pub struct Dispatched {
    /// Index of the command in the registry, when it was found.
    pub command: Option<usize>,
    pub reply: Reply,
    /// Refused before the handler ran (unknown, arity, auth): counts as `rejected_calls`.
    pub rejected: bool,
}

/// Runs one request.
pub fn dispatch(ctx: &mut Ctx, args: Args) -> Dispatched {
    let dispatched = run(ctx, args);
    if let Reply::Error(line) = &dispatched.reply {
        ctx.shared.stats.record_error(line);
    }
    dispatched
}

fn run(ctx: &mut Ctx, args: Args) -> Dispatched {
    let (index, command) = match resolve(args) {
        Ok(found) => found,
        Err((command, error)) => return Dispatched { command, reply: error.into(), rejected: true },
    };
    if !command.arity_ok(args.len()) {
        return Dispatched { command: Some(index), reply: CmdError::WrongArity(command.name.to_owned()).into(), rejected: true };
    }
    if !ctx.session.authenticated && !command.has(NO_AUTH) {
        return Dispatched { command: Some(index), reply: CmdError::line("NOAUTH Authentication required.").into(), rejected: true };
    }
    // Pub/sub: a RESP2 client with subscriptions may only manage them, PING, QUIT or RESET.
    if ctx.session.protocol == Protocol::Resp2 && ctx.session.pubsub.active() && !allowed_when_subscribed(command) {
        let text = format!(
            "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
            command.name
        );
        return Dispatched { command: Some(index), reply: CmdError::Other(Cow::Owned(text)).into(), rejected: true };
    }
    ctx.session.info.last_command.store(index, std::sync::atomic::Ordering::Relaxed);
    let reply = (command.handler)(ctx, args).unwrap_or_else(Reply::from);
    Dispatched { command: Some(index), reply, rejected: false }
}

/// The commands a RESP2 client in subscribed mode may run.
fn allowed_when_subscribed(command: &Command) -> bool {
    matches!(
        command.name,
        "subscribe" | "ssubscribe" | "psubscribe" | "unsubscribe" | "sunsubscribe" | "punsubscribe" | "ping" | "quit" | "reset"
    )
}

/// Finds the command (or subcommand) a request names.
pub fn resolve(args: Args) -> Result<(usize, &'static Command), (Option<usize>, CmdError)> {
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

/// `ERR unknown command 'x', with args beginning with: 'a' 'b' `, cut as Redis cuts it.
fn unknown_command(args: Args) -> CmdError {
    let name = String::from_utf8_lossy(args.get(0));
    let mut listed = String::new();
    for arg in args.iter().skip(1) {
        if listed.len() >= 128 {
            break;
        }
        let arg = String::from_utf8_lossy(arg);
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
        lines.push(Reply::Status(Cow::Owned(format!("    {}", sub.summary))));
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
        return Ok(container_help(command));
    }
    Err(CmdError::UnknownSubcommand { command: command.name.to_owned(), sub: String::from_utf8_lossy(args.get(1)).into_owned() })
}
