//! CLIENT subcommands.

use std::borrow::Cow;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::args::{is, parse_int, ArgCursor};
use super::table::registry;
use super::{CmdError, Ctx, ReplyMode};
use crate::resp::{Args, Reply};
use crate::state::clients::ClientInfo;
use crate::state::shared::Pause;

/// Client names and library attributes may not contain spaces or special characters.
pub fn validate_name(name: &[u8]) -> Result<(), CmdError> {
    if name.iter().any(|&c| !(b'!'..=b'~').contains(&c)) {
        return Err(CmdError::err("Client names cannot contain spaces, newlines or special characters."));
    }
    Ok(())
}

/// CLIENT ID
pub fn id(ctx: &mut Ctx, _args: Args) -> Result<Reply, CmdError> {
    Ok(Reply::Int(ctx.session.id() as i64))
}

/// CLIENT SETNAME connection-name
pub fn setname(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let name = args.get(2);
    validate_name(name)?;
    ctx.session.info.set_name(String::from_utf8_lossy(name).into_owned());
    Ok(Reply::Ok)
}

/// CLIENT GETNAME
pub fn getname(ctx: &mut Ctx, _args: Args) -> Result<Reply, CmdError> {
    let name = ctx.session.info.name();
    Ok(if name.is_empty() { Reply::Nil } else { Reply::bulk_string(name) })
}

/// CLIENT SETINFO LIB-NAME libname | LIB-VER libver
pub fn setinfo(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let (attr, value) = (args.get(2), args.get(3));
    let slot = if is(attr, "lib-name") {
        &ctx.session.info.lib_name
    } else if is(attr, "lib-ver") {
        &ctx.session.info.lib_ver
    } else {
        return Err(CmdError::err(format!("Unrecognized option '{}'", String::from_utf8_lossy(attr))));
    };
    if value.iter().any(|&c| !(b'!'..=b'~').contains(&c)) {
        return Err(CmdError::err(format!(
            "{} cannot contain spaces, newlines or special characters.",
            String::from_utf8_lossy(attr).to_ascii_lowercase()
        )));
    }
    ctx.session.info.set_lib(slot, String::from_utf8_lossy(value).into_owned());
    Ok(Reply::Ok)
}

/// One CLIENT LIST line, in Redis 7's field order.
pub fn describe(info: &ClientInfo, now_ms: u64) -> String {
    let mut flags = String::new();
    if info.monitor.load(Ordering::Relaxed) {
        flags.push('O');
    }
    if info.subscribed() {
        flags.push('P');
    }
    if info.blocked.load(Ordering::Relaxed) {
        flags.push('b');
    }
    if info.no_evict.load(Ordering::Relaxed) {
        flags.push('e');
    }
    if info.no_touch.load(Ordering::Relaxed) {
        flags.push('T');
    }
    if flags.is_empty() {
        flags.push('N');
    }
    let command = registry().all.get(info.last_command.load(Ordering::Relaxed)).map_or("NULL", |c| c.name);
    let qbuf = info.query_buffer.load(Ordering::Relaxed);
    format!(
        "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} multi=-1 qbuf={} qbuf-free={} argv-mem=0 multi-mem=0 rbs=16384 rbp=0 obl=0 oll=0 omem=0 tot-mem={} events=r cmd={} user={} redir=-1 resp={} lib-name={} lib-ver={}",
        info.id,
        info.addr,
        info.laddr,
        info.fd,
        info.name(),
        now_ms.saturating_sub(info.created_ms) / 1000,
        now_ms.saturating_sub(info.last_interaction_ms.load(Ordering::Relaxed)) / 1000,
        flags,
        info.db.load(Ordering::Relaxed),
        info.subscriptions.load(Ordering::Relaxed),
        info.pattern_subscriptions.load(Ordering::Relaxed),
        info.shard_subscriptions.load(Ordering::Relaxed),
        qbuf,
        16384usize.saturating_sub(qbuf),
        16384 + qbuf,
        command,
        String::from_utf8_lossy(&info.user()),
        info.resp.load(Ordering::Relaxed),
        info.lib_name.lock().map(|s| s.clone()).unwrap_or_default(),
        info.lib_ver.lock().map(|s| s.clone()).unwrap_or_default(),
    )
}

/// CLIENT LIST [TYPE NORMAL|MASTER|REPLICA|PUBSUB] [ID client-id ...]
pub fn list(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let mut cursor = ArgCursor::new(args, 2);
    let mut ids: Option<Vec<u64>> = None;
    let mut type_filter: Option<String> = None;
    while !cursor.is_done() {
        if cursor.eat("TYPE") {
            let kind = cursor.next_string()?.to_ascii_lowercase();
            if !["normal", "master", "replica", "slave", "pubsub"].contains(&kind.as_str()) {
                return Err(CmdError::err(format!("Unknown client type '{kind}'")));
            }
            type_filter = Some(kind);
        } else if cursor.eat("ID") {
            let mut list = Vec::new();
            while let Some(arg) = cursor.peek() {
                let id = parse_int(arg).ok().filter(|id| *id > 0).ok_or_else(|| CmdError::err("Invalid client ID"))?;
                list.push(id as u64);
                cursor.next_bytes()?;
            }
            if list.is_empty() {
                return Err(CmdError::Syntax);
            }
            ids = Some(list);
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let mut text = String::new();
    for info in ctx.shared.clients.all() {
        if ids.as_ref().is_some_and(|ids| !ids.contains(&info.id)) {
            continue;
        }
        if type_filter.as_deref().is_some_and(|t| t != info.client_type()) {
            continue;
        }
        text.push_str(&describe(&info, ctx.now_ms));
        text.push('\n');
    }
    Ok(Reply::Verbatim(Bytes::from(text)))
}

/// CLIENT INFO
pub fn info(ctx: &mut Ctx, _args: Args) -> Result<Reply, CmdError> {
    let mut line = describe(&ctx.session.info, ctx.now_ms);
    line.push('\n');
    Ok(Reply::Verbatim(Bytes::from(line)))
}

/// CLIENT KILL ip:port | CLIENT KILL [ID id] [TYPE type] [ADDR ip:port] [LADDR ip:port] [USER name]
/// [SKIPME yes|no] [MAXAGE seconds]
pub fn kill(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    if args.len() == 3 {
        let addr = String::from_utf8_lossy(args.get(2));
        let target = live_clients(ctx).find(|c| c.addr.to_string() == addr).ok_or_else(|| CmdError::err("No such client"))?;
        kill_client(ctx, &target);
        return Ok(Reply::Ok);
    }
    let mut cursor = ArgCursor::new(args, 2);
    let (mut id, mut addr, mut laddr, mut kind, mut user, mut skip_me, mut max_age) = (None, None, None, None, None, true, None);
    while !cursor.is_done() {
        if cursor.remaining() < 2 {
            return Err(CmdError::Syntax);
        }
        let option = cursor.next_bytes()?.to_ascii_lowercase();
        let value = cursor.next_bytes()?;
        match option.as_slice() {
            b"id" => {
                id =
                    Some(parse_int(value).ok().filter(|id| *id > 0).ok_or_else(|| CmdError::err("client-id should be greater than 0"))?
                        as u64)
            }
            b"addr" => addr = Some(String::from_utf8_lossy(value).into_owned()),
            b"laddr" => laddr = Some(String::from_utf8_lossy(value).into_owned()),
            b"type" => {
                let t = String::from_utf8_lossy(value).to_ascii_lowercase();
                if !["normal", "master", "replica", "slave", "pubsub"].contains(&t.as_str()) {
                    return Err(CmdError::err(format!("Unknown client type '{t}'")));
                }
                kind = Some(t);
            }
            b"user" => {
                if ctx.shared.acl.get(value).is_none() {
                    return Err(CmdError::err(format!("No such user '{}'", String::from_utf8_lossy(value))));
                }
                user = Some(String::from_utf8_lossy(value).into_owned());
            }
            b"skipme" if is(value, "yes") => skip_me = true,
            b"skipme" if is(value, "no") => skip_me = false,
            b"maxage" => max_age = Some(parse_int(value)?),
            _ => return Err(CmdError::Syntax),
        }
    }
    let mut killed = 0;
    for client in live_clients(ctx) {
        let matches = id.is_none_or(|id| client.id == id)
            && addr.as_ref().is_none_or(|a| client.addr.to_string() == *a)
            && laddr.as_ref().is_none_or(|a| client.laddr.to_string() == *a)
            && kind.as_ref().is_none_or(|t| t == client.client_type())
            && user.as_ref().is_none_or(|u| u.as_bytes() == client.user())
            && max_age.is_none_or(|age| (ctx.now_ms.saturating_sub(client.created_ms) / 1000) as i64 >= age)
            && !(skip_me && client.id == ctx.session.id());
        if matches {
            kill_client(ctx, &client);
            killed += 1;
        }
    }
    Ok(Reply::Int(killed))
}

/// Registered clients not already killed: a killed connection stays registered until its task has
/// closed the socket, but for Redis it is gone at once, so a second CLIENT KILL must not count it.
fn live_clients(ctx: &Ctx) -> impl Iterator<Item = Arc<ClientInfo>> {
    ctx.shared.clients.all().into_iter().filter(|c| !c.killed.load(Ordering::Relaxed))
}

fn kill_client(ctx: &mut Ctx, client: &ClientInfo) {
    if client.id == ctx.session.id() {
        ctx.session.close_after_reply = true;
    } else {
        client.kill();
        ctx.shared.blocked.cancel(client.id);
    }
}

/// CLIENT REPLY ON | OFF | SKIP
pub fn reply(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let mode = args.get(2);
    if is(mode, "on") {
        ctx.session.reply_mode = ReplyMode::On;
        Ok(Reply::Ok)
    } else if is(mode, "off") {
        ctx.session.reply_mode = ReplyMode::Off;
        Ok(Reply::Ok)
    } else if is(mode, "skip") {
        ctx.session.reply_mode = ReplyMode::SkipNext;
        Ok(Reply::Ok)
    } else {
        Err(CmdError::Syntax)
    }
}

fn on_off(arg: &[u8]) -> Result<bool, CmdError> {
    if is(arg, "on") {
        Ok(true)
    } else if is(arg, "off") {
        Ok(false)
    } else {
        Err(CmdError::Syntax)
    }
}

/// CLIENT NO-EVICT ON | OFF
pub fn no_evict(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    ctx.session.info.no_evict.store(on_off(args.get(2))?, Ordering::Relaxed);
    Ok(Reply::Ok)
}

/// CLIENT NO-TOUCH ON | OFF
pub fn no_touch(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    ctx.session.info.no_touch.store(on_off(args.get(2))?, Ordering::Relaxed);
    Ok(Reply::Ok)
}

/// CLIENT PAUSE timeout [WRITE | ALL]
pub fn pause(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let timeout = parse_int(args.get(2)).map_err(|_| CmdError::err("timeout is not an integer or out of range"))?;
    if timeout < 0 {
        return Err(CmdError::err("timeout is negative"));
    }
    let all = match args.len() {
        3 => true,
        4 if is(args.get(3), "all") => true,
        4 if is(args.get(3), "write") => false,
        4 => return Err(CmdError::err("CLIENT PAUSE mode must be WRITE or ALL")),
        _ => return Err(CmdError::Syntax),
    };
    let until = Instant::now() + Duration::from_millis(timeout as u64);
    ctx.shared.set_pause(Some(Pause { until, all }));
    Ok(Reply::Ok)
}

/// CLIENT UNPAUSE
pub fn unpause(ctx: &mut Ctx, _args: Args) -> Result<Reply, CmdError> {
    ctx.shared.set_pause(None);
    Ok(Reply::Status(Cow::Borrowed("OK")))
}

/// CLIENT UNBLOCK client-id [TIMEOUT | ERROR]
pub fn unblock(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let id = parse_int(args.get(2))?;
    let with_error = match args.len() {
        3 => false,
        4 if is(args.get(3), "timeout") => false,
        4 if is(args.get(3), "error") => true,
        _ => return Err(CmdError::err("CLIENT UNBLOCK reason should be TIMEOUT or ERROR")),
    };
    let unblocked = u64::try_from(id).is_ok_and(|id| ctx.shared.blocked.unblock(id, with_error, &ctx.shared.stats));
    Ok(Reply::Int(i64::from(unblocked)))
}

// The command table of this family, joined by `commands::registry`. Its imports stay here, beside
// the rows, so that the family's table and its handlers change independently.

use super::acl;
use super::flags::{ADMIN, LOADING, NOSCRIPT, STALE};
use super::table::Command;

/// The CLIENT commands, in the order COMMAND lists them.
pub(super) static COMMANDS: &[Command] = &[Command::new("client", -2, super::dispatch::container).subcommands(CLIENT_SUBCOMMANDS)];

static CLIENT_SUBCOMMANDS: &[Command] = &[
    Command::new("client|unblock", -3, unblock).flags(ADMIN | NOSCRIPT | LOADING | STALE).acl(acl::CONNECTION),
    Command::new("client|getname", 2, getname).flags(NOSCRIPT | LOADING | STALE).acl(acl::CONNECTION),
    Command::new("client|id", 2, id).flags(NOSCRIPT | LOADING | STALE).acl(acl::CONNECTION),
    Command::new("client|info", 2, info).flags(NOSCRIPT | LOADING | STALE).acl(acl::CONNECTION),
    Command::new("client|kill", -3, kill).flags(ADMIN | NOSCRIPT | LOADING | STALE).acl(acl::CONNECTION),
    Command::new("client|list", -2, list).flags(ADMIN | NOSCRIPT | LOADING | STALE).acl(acl::CONNECTION),
    Command::new("client|no-evict", 3, no_evict).flags(ADMIN | NOSCRIPT | LOADING | STALE).acl(acl::CONNECTION),
    Command::new("client|no-touch", 3, no_touch).flags(NOSCRIPT | LOADING | STALE).acl(acl::CONNECTION),
    Command::new("client|pause", -3, pause).flags(ADMIN | NOSCRIPT | LOADING | STALE).acl(acl::CONNECTION),
    Command::new("client|reply", 3, reply).flags(NOSCRIPT | LOADING | STALE).acl(acl::CONNECTION),
    Command::new("client|setinfo", 4, setinfo).flags(NOSCRIPT | LOADING | STALE).acl(acl::CONNECTION),
    Command::new("client|setname", 3, setname).flags(NOSCRIPT | LOADING | STALE).acl(acl::CONNECTION),
    Command::new("client|unpause", 2, unpause).flags(ADMIN | NOSCRIPT | LOADING | STALE).acl(acl::CONNECTION),
];
