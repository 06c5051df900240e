//! Blocking list and sorted-set pops: BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP, BZPOPMIN, BZPOPMAX,
//! BZMPOP. Each tries the non-blocking form; with nothing to serve it asks the connection to block
//! (see [`Ctx::block`]) and is run again when a write touches one of its keys.

use super::args::parse_timeout_secs;
use super::{lists, zsets, BlockedOn, CmdError, Ctx};
use crate::resp::{Args, Reply};

/// The keys of `key [key ...] timeout` requests.
fn keys_before_timeout(args: Args) -> Vec<Vec<u8>> {
    (1..args.len() - 1).map(|i| args.get(i).to_vec()).collect()
}

/// BLPOP/BRPOP/BZPOPMIN/BZPOPMAX: the first non-empty key wins.
fn pop_first(
    ctx: &mut Ctx,
    args: Args,
    on: BlockedOn,
    pop: fn(&mut Ctx, &[u8]) -> Result<Option<Reply>, CmdError>,
) -> Result<Reply, CmdError> {
    let timeout = parse_timeout_secs(args.get(args.len() - 1))?;
    for i in 1..args.len() - 1 {
        if let Some(reply) = pop(ctx, args.get(i))? {
            return Ok(reply);
        }
    }
    Ok(ctx.block(keys_before_timeout(args), on, timeout, Reply::NilArray))
}

/// BLPOP key [key ...] timeout
pub fn blpop(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    pop_first(ctx, args, BlockedOn::List, |ctx, key| lists::pop_keyed(ctx, key, lists::End::Left))
}

/// BRPOP key [key ...] timeout
pub fn brpop(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    pop_first(ctx, args, BlockedOn::List, |ctx, key| lists::pop_keyed(ctx, key, lists::End::Right))
}

/// BZPOPMIN key [key ...] timeout
pub fn bzpopmin(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    pop_first(ctx, args, BlockedOn::SortedSet, |ctx, key| zsets::pop_keyed(ctx, key, false))
}

/// BZPOPMAX key [key ...] timeout
pub fn bzpopmax(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    pop_first(ctx, args, BlockedOn::SortedSet, |ctx, key| zsets::pop_keyed(ctx, key, true))
}

/// BLMOVE source destination LEFT|RIGHT LEFT|RIGHT timeout
pub fn blmove(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let (from_end, to_end) = (lists::parse_end(args.get(3))?, lists::parse_end(args.get(4))?);
    let timeout = parse_timeout_secs(args.get(5))?;
    match lists::move_generic(ctx, args.get(1), args.get(2), from_end, to_end)? {
        Reply::Nil => Ok(ctx.block(vec![args.get(1).to_vec()], BlockedOn::List, timeout, Reply::Nil)),
        reply => Ok(reply),
    }
}

/// BRPOPLPUSH source destination timeout
pub fn brpoplpush(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let timeout = parse_timeout_secs(args.get(3))?;
    match lists::move_generic(ctx, args.get(1), args.get(2), lists::End::Right, lists::End::Left)? {
        Reply::Nil => Ok(ctx.block(vec![args.get(1).to_vec()], BlockedOn::List, timeout, Reply::Nil)),
        reply => Ok(reply),
    }
}

/// BLMPOP/BZMPOP: `timeout numkeys key [key ...] ...` is the non-blocking form after the timeout.
fn mpop(ctx: &mut Ctx, args: Args, on: BlockedOn, pop: fn(&mut Ctx, Args) -> Result<Reply, CmdError>) -> Result<Reply, CmdError> {
    let timeout = parse_timeout_secs(args.get(1))?;
    let rest = Args::sub_args(args, 1);
    match pop(ctx, rest)? {
        Reply::NilArray => {
            let keys = lists::numkeys_positions(rest, 1).into_iter().map(|i| rest.get(i).to_vec()).collect();
            Ok(ctx.block(keys, on, timeout, Reply::NilArray))
        }
        reply => Ok(reply),
    }
}

/// BLMPOP timeout numkeys key [key ...] LEFT|RIGHT [COUNT count]
pub fn blmpop(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    mpop(ctx, args, BlockedOn::List, lists::lmpop)
}

/// BZMPOP timeout numkeys key [key ...] MIN|MAX [COUNT count]
pub fn bzmpop(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    mpop(ctx, args, BlockedOn::SortedSet, zsets::zmpop)
}

/// The keys of BLMPOP/BZMPOP requests: after `timeout numkeys`.
pub fn mpop_keys(args: Args) -> Vec<usize> {
    lists::numkeys_positions(args, 2)
}

// The command table of this family, joined by `commands::registry`. Its imports stay here, beside
// the rows, so that the family's table and its handlers change independently.

use super::acl;
use super::flags::{BLOCKING, DENYOOM, FAST, NOSCRIPT, WRITE};
use super::table::Command;

/// The blocking commands, in the order COMMAND lists them.
pub(super) static COMMANDS: &[Command] = &[
    Command::new("blpop", -3, blpop).flags(WRITE | NOSCRIPT | BLOCKING).keys(1, -2, 1).acl(acl::LIST),
    Command::new("brpop", -3, brpop).flags(WRITE | NOSCRIPT | BLOCKING).keys(1, -2, 1).acl(acl::LIST),
    Command::new("blmove", 6, blmove).flags(WRITE | DENYOOM | NOSCRIPT | BLOCKING).keys(1, 2, 1).acl(acl::LIST),
    Command::new("brpoplpush", 4, brpoplpush).flags(WRITE | DENYOOM | NOSCRIPT | BLOCKING).keys(1, 2, 1).acl(acl::LIST),
    Command::new("blmpop", -5, blmpop).flags(WRITE | BLOCKING).acl(acl::LIST).movable_keys(mpop_keys),
    Command::new("bzpopmin", -3, bzpopmin).flags(WRITE | NOSCRIPT | BLOCKING | FAST).keys(1, -2, 1).acl(acl::SORTEDSET),
    Command::new("bzpopmax", -3, bzpopmax).flags(WRITE | NOSCRIPT | BLOCKING | FAST).keys(1, -2, 1).acl(acl::SORTEDSET),
    Command::new("bzmpop", -5, bzmpop).flags(WRITE | BLOCKING).acl(acl::SORTEDSET).movable_keys(mpop_keys),
];
