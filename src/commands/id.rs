//! ID.*: snowflake IDs.

use super::args::{parse_int, ArgCursor};
use super::{CmdError, Ctx};
use crate::engine::snowflake;
use crate::resp::{Args, Reply};

/// Largest COUNT one call may ask for.
const MAX_COUNT: i64 = 100_000;

/// ID.NEXT [namespace] [COUNT n]
///
/// One ID as an integer, or with COUNT an array of n IDs. Each namespace has its own sequence; IDs of
/// one namespace strictly increase on a node.
pub fn next(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let mut cursor = ArgCursor::new(args, 1);
    let mut namespace: Option<&[u8]> = None;
    let mut count: Option<i64> = None;
    while !cursor.is_done() {
        if cursor.remaining() >= 2 && cursor.eat("COUNT") {
            let n = cursor.next_i64()?;
            if !(1..=MAX_COUNT).contains(&n) {
                return Err(CmdError::err(format!("COUNT must be between 1 and {MAX_COUNT}")));
            }
            count = Some(n);
        } else if namespace.is_none() && count.is_none() {
            namespace = Some(cursor.next_bytes()?);
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let ids = ctx.shared.next_ids(namespace, count.unwrap_or(1) as u64, ctx.now_ms).map_err(|e| CmdError::Other(e.into()))?;
    Ok(match count {
        None => Reply::Int(ids[0] as i64),
        Some(_) => Reply::Array(ids.into_iter().map(|id| Reply::Int(id as i64)).collect()),
    })
}

/// ID.PARSE id: a map of `timestamp` (Unix ms), `node` and `sequence`.
pub fn parse(_ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let id = parse_int(args.get(1))?;
    if id < 0 {
        return Err(CmdError::err("invalid snowflake ID"));
    }
    let parts = snowflake::parse(id as u64);
    let field = |name: &'static str, value: u64| (Reply::bulk(name.as_bytes()), Reply::Int(value as i64));
    Ok(Reply::Map(vec![field("timestamp", parts.unix_ms), field("node", parts.node), field("sequence", parts.sequence)]))
}

// The command table of this family, joined by `commands::registry`. Its imports stay here, beside
// the rows, so that the family's table and its handlers change independently.

use super::acl;
use super::docs::{doc, Doc};
use super::flags::FAST;
use super::table::Command;

/// The ID.* commands, in the order COMMAND lists them. Their documentation is [`DOCS`].
pub(super) static COMMANDS: &[Command] =
    &[Command::new("id.next", -1, next).flags(FAST).acl(acl::ID), Command::new("id.parse", 2, parse).flags(FAST).acl(acl::ID)];

/// Documentation of the ID.* commands (strata's own, so not in `commands::docs`).
pub(super) static DOCS: &[(&str, Doc)] = &[
    doc("id.next", "id", "1.0.0", "Returns new snowflake IDs, strictly increasing per node"),
    doc("id.parse", "id", "1.0.0", "Returns the timestamp, node and sequence of a snowflake ID"),
];
