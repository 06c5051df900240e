//! Connection commands: PING, ECHO, HELLO, AUTH, SELECT, QUIT, RESET.

use std::borrow::Cow;
use std::sync::atomic::Ordering;

use super::access::authenticate;
use super::args::{parse_int, ArgCursor};
use super::{CmdError, Ctx, ReplyMode};
use crate::resp::{Args, Protocol, Reply};
use crate::state::acl::DEFAULT_USER;
use crate::VERSION_REPORTED;

/// PING [message]
///
/// A RESP2 client in subscribed mode gets `["pong", message or ""]` instead, as in Redis.
pub fn ping(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    if args.len() <= 2 && ctx.session.protocol == Protocol::Resp2 && ctx.session.pubsub.active() {
        let message = if args.len() == 2 { args.get(1) } else { b"" };
        return Ok(Reply::Array(vec![Reply::bulk(b"pong"), Reply::bulk(message)]));
    }
    match args.len() {
        1 => Ok(Reply::status("PONG")),
        2 => Ok(Reply::bulk(args.get(1))),
        _ => Err(CmdError::WrongArity("ping".to_owned())),
    }
}

/// ECHO message
pub fn echo(_ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    Ok(Reply::bulk(args.get(1)))
}

/// AUTH [username] password
pub fn auth(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let (user, password) = match args.len() {
        2 => {
            if ctx.shared.acl.get(DEFAULT_USER).is_some_and(|user| user.nopass) {
                return Err(CmdError::line("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"));
            }
            (DEFAULT_USER, args.get(1))
        }
        3 => (args.get(1), args.get(2)),
        _ => return Err(CmdError::Syntax),
    };
    authenticate(ctx, args.get(0), user, password)?;
    Ok(Reply::Ok)
}

/// HELLO [protover [AUTH username password] [SETNAME clientname]]
pub fn hello(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let mut cursor = ArgCursor::new(args, 1);
    let mut protocol = ctx.session.protocol;
    if !cursor.is_done() {
        let version =
            cursor.next_bytes().and_then(parse_int).map_err(|_| CmdError::err("Protocol version is not an integer or out of range"))?;
        protocol = match version {
            2 => Protocol::Resp2,
            3 => Protocol::Resp3,
            _ => return Err(CmdError::line("NOPROTO unsupported protocol version")),
        };
    }
    let (mut credentials, mut name) = (None, None);
    while let Some(option) = cursor.peek() {
        if cursor.remaining() >= 3 && cursor.eat("AUTH") {
            credentials = Some((cursor.next_bytes()?, cursor.next_bytes()?));
        } else if cursor.remaining() >= 2 && cursor.eat("SETNAME") {
            name = Some(cursor.next_bytes()?);
        } else {
            return Err(CmdError::err(format!("Syntax error in HELLO option '{}'", String::from_utf8_lossy(option))));
        }
    }
    if let Some((user, password)) = credentials {
        authenticate(ctx, args.get(0), user, password)?;
    }
    if !ctx.session.authenticated {
        return Err(CmdError::line("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time"));
    }
    if let Some(name) = name {
        super::client::validate_name(name)?;
        ctx.session.info.set_name(String::from_utf8_lossy(name).into_owned());
    }
    ctx.session.protocol = protocol;
    ctx.session.info.resp.store(protocol.version() as u8, Ordering::Relaxed);
    let field = |k: &'static str, v: Reply| (Reply::bulk(k.as_bytes()), v);
    Ok(Reply::Map(vec![
        field("server", Reply::bulk(b"redis")),
        field("version", Reply::bulk(VERSION_REPORTED.as_bytes())),
        field("proto", Reply::Int(protocol.version())),
        field("id", Reply::Int(ctx.session.id() as i64)),
        field("mode", Reply::bulk(b"standalone")),
        field("role", Reply::bulk(b"master")),
        field("modules", Reply::Array(Vec::new())),
    ]))
}

/// SELECT index
pub fn select(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let index = super::args::parse_c_int(args.get(1))?;
    let index = usize::try_from(index)
        .ok()
        .filter(|i| *i < ctx.shared.keyspace.databases())
        .ok_or_else(|| CmdError::err("DB index is out of range"))?;
    ctx.session.db = index;
    ctx.session.info.db.store(index, Ordering::Relaxed);
    Ok(Reply::Ok)
}

/// QUIT
pub fn quit(ctx: &mut Ctx, _args: Args) -> Result<Reply, CmdError> {
    ctx.session.close_after_reply = true;
    // Redis answers QUIT even with CLIENT REPLY OFF.
    ctx.session.reply_mode = ReplyMode::On;
    Ok(Reply::Ok)
}

/// RESET
pub fn reset(ctx: &mut Ctx, _args: Args) -> Result<Reply, CmdError> {
    let session = &mut *ctx.session;
    session.db = 0;
    session.info.db.store(0, Ordering::Relaxed);
    session.protocol = Protocol::Resp2;
    session.info.resp.store(2, Ordering::Relaxed);
    session.reply_mode = ReplyMode::On;
    session.log_out(&ctx.shared.acl);
    session.info.no_evict.store(false, Ordering::Relaxed);
    session.info.no_touch.store(false, Ordering::Relaxed);
    session.multi = None;
    session.multi_failed = false;
    session.unwatch_all(ctx.shared);
    // The name goes too; lib-name and lib-ver stay, as they still describe the client library.
    session.info.set_name(String::new());
    if session.info.monitor.swap(false, Ordering::Relaxed) {
        ctx.shared.monitors.remove(session.id());
    }
    session.pubsub.clear();
    Ok(Reply::Status(Cow::Borrowed("RESET")))
}

// The command table of this family, joined by `commands::registry`. Its imports stay here, beside
// the rows, so that the family's table and its handlers change independently.

use super::acl;
use super::flags::{ALLOW_BUSY, FAST, LOADING, NOSCRIPT, NO_AUTH, STALE, SUBSCRIBED_OK, TX_CONTROL};
use super::table::Command;

/// The connection commands, in the order COMMAND lists them.
pub(super) static COMMANDS: &[Command] = &[
    Command::new("ping", -1, ping).flags(FAST | SUBSCRIBED_OK).acl(acl::CONNECTION),
    Command::new("echo", 2, echo).flags(LOADING | STALE | FAST).acl(acl::CONNECTION),
    Command::new("hello", -1, hello).flags(NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY).acl(acl::CONNECTION),
    Command::new("auth", -2, auth).flags(NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY).acl(acl::CONNECTION),
    Command::new("select", 2, select).flags(LOADING | STALE | FAST).acl(acl::CONNECTION),
    Command::new("quit", -1, quit)
        .flags(NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY | TX_CONTROL | SUBSCRIBED_OK)
        .acl(acl::CONNECTION),
    Command::new("reset", 1, reset)
        .flags(NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY | TX_CONTROL | SUBSCRIBED_OK)
        .acl(acl::CONNECTION),
];
