//! COMMAND and its subcommands, answered from the command table.

use std::borrow::Cow;

use super::dispatch::{container_help, resolve};
use super::flags::FLAG_NAMES;
use super::table::{registry, Command};
use super::{CmdError, Ctx};
use crate::glob;
use crate::resp::{Args, Reply};

fn status(text: &str) -> Reply {
    Reply::Status(Cow::Owned(text.to_owned()))
}

/// The 10-element COMMAND INFO entry Redis 7 returns.
fn describe(command: &Command) -> Reply {
    let flags = FLAG_NAMES.iter().filter(|(bit, _)| command.flags & bit != 0).map(|(_, name)| status(name)).collect();
    let categories = acl::names(command.acl_categories()).map(status).collect();
    Reply::Array(vec![
        Reply::bulk(command.name.as_bytes()),
        Reply::Int(i64::from(command.arity)),
        Reply::Set(flags),
        Reply::Int(i64::from(command.first_key)),
        Reply::Int(i64::from(command.last_key)),
        Reply::Int(i64::from(command.key_step)),
        Reply::Set(categories),
        Reply::Array(Vec::new()),
        Reply::Array(key_specs(command)),
        Reply::Array(command.subcommands.iter().map(describe).collect()),
    ])
}

/// Key specs derived from first/last/step.
fn key_specs(command: &Command) -> Vec<Reply> {
    if command.first_key <= 0 {
        return Vec::new();
    }
    let access = if command.flags & super::flags::WRITE != 0 { "RW" } else { "RO" };
    let field = |name: &str, value: Reply| (Reply::bulk(name.as_bytes()), value);
    vec![Reply::Map(vec![
        field("flags", Reply::Array(vec![status(access)])),
        field(
            "begin_search",
            Reply::Map(vec![
                field("type", Reply::bulk(b"index")),
                field("spec", Reply::Map(vec![field("index", Reply::Int(i64::from(command.first_key)))])),
            ]),
        ),
        field(
            "find_keys",
            Reply::Map(vec![
                field("type", Reply::bulk(b"range")),
                field(
                    "spec",
                    Reply::Map(vec![
                        field(
                            "lastkey",
                            Reply::Int(i64::from(if command.last_key < 0 {
                                command.last_key
                            } else {
                                command.last_key - command.first_key
                            })),
                        ),
                        field("keystep", Reply::Int(i64::from(command.key_step))),
                        field("limit", Reply::Int(0)),
                    ]),
                ),
            ]),
        ),
    ])]
}

/// COMMAND, and COMMAND HELP
pub fn command(_ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let registry = registry();
    if args.len() > 1 {
        let (_, container) = registry.find(b"command").ok_or(CmdError::Syntax)?;
        return Ok(container_help(container));
    }
    Ok(Reply::Array(registry.top_level().map(describe).collect()))
}

/// COMMAND COUNT
pub fn command_count(_ctx: &mut Ctx, _args: Args) -> Result<Reply, CmdError> {
    Ok(Reply::from(registry().top_level().count()))
}

fn find_named(name: &[u8]) -> Option<&'static Command> {
    let registry = registry();
    let text = String::from_utf8_lossy(name).to_ascii_lowercase();
    registry.index_of(&text).map(|i| registry.all[i])
}

/// COMMAND INFO [command-name ...]
pub fn command_info(_ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    if args.len() == 2 {
        return Ok(Reply::Array(registry().top_level().map(describe).collect()));
    }
    Ok(Reply::Array(args.iter().skip(2).map(|name| find_named(name).map_or(Reply::NilArray, describe)).collect()))
}

fn docs(command: &Command) -> Reply {
    let field = |name: &str, value: Reply| (Reply::bulk(name.as_bytes()), value);
    let doc = registry().doc(command);
    let mut fields = vec![
        field("summary", Reply::bulk(doc.summary.as_bytes())),
        field("since", Reply::bulk(doc.since.as_bytes())),
        field("group", Reply::bulk(doc.group.as_bytes())),
    ];
    if !command.subcommands.is_empty() {
        fields.push(field(
            "subcommands",
            Reply::Map(command.subcommands.iter().map(|sub| (Reply::bulk(sub.name.as_bytes()), docs(sub))).collect()),
        ));
    }
    Reply::Map(fields)
}

/// COMMAND DOCS [command-name ...]
pub fn command_docs(_ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let entries: Vec<(Reply, Reply)> = if args.len() == 2 {
        registry().top_level().map(|c| (Reply::bulk(c.name.as_bytes()), docs(c))).collect()
    } else {
        args.iter().skip(2).filter_map(find_named).map(|c| (Reply::bulk(c.name.as_bytes()), docs(c))).collect()
    };
    Ok(Reply::Map(entries))
}

/// COMMAND LIST [FILTERBY MODULE module-name | ACLCAT category | PATTERN pattern]
pub fn command_list(_ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let registry = registry();
    let names = registry.all.iter().map(|c| c.name);
    let filtered: Vec<Reply> = match args.len() {
        2 => names.map(|n| Reply::bulk(n.as_bytes())).collect(),
        5 if args.get(2).eq_ignore_ascii_case(b"filterby") => {
            let (kind, value) = (args.get(3).to_ascii_lowercase(), args.get(4));
            match kind.as_slice() {
                b"module" => Vec::new(),
                b"aclcat" => {
                    let Some(category) = acl::by_name(value) else { return Ok(Reply::Array(Vec::new())) };
                    registry.all.iter().filter(|c| c.acl_categories() & category != 0).map(|c| Reply::bulk(c.name.as_bytes())).collect()
                }
                b"pattern" => names.filter(|n| glob::matches(value, n.as_bytes(), true)).map(|n| Reply::bulk(n.as_bytes())).collect(),
                _ => return Err(CmdError::Syntax),
            }
        }
        _ => return Err(CmdError::Syntax),
    };
    Ok(Reply::Array(filtered))
}

fn keys_of(args: Args) -> Result<(Vec<usize>, &'static Command), CmdError> {
    let target = crate::resp::Args::sub_args(args, 2);
    if target.is_empty() {
        return Err(CmdError::WrongArity("command|getkeys".to_owned()));
    }
    let (_, command) = resolve(target).map_err(|_| CmdError::err("Invalid command specified"))?;
    if !command.arity_ok(target.len()) {
        return Err(CmdError::err("Invalid number of arguments specified for command"));
    }
    let positions = command.keys_in(target);
    if positions.is_empty() {
        return Err(CmdError::err("The command has no key arguments"));
    }
    Ok((positions, command))
}

/// COMMAND GETKEYS command [arg ...]
pub fn command_getkeys(_ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let (positions, _) = keys_of(args)?;
    Ok(Reply::Array(positions.into_iter().map(|i| Reply::bulk(args.get(i + 2))).collect()))
}

/// COMMAND GETKEYSANDFLAGS command [arg ...]
pub fn command_getkeysandflags(_ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let (positions, command) = keys_of(args)?;
    let access = if command.flags & super::flags::WRITE != 0 { "RW" } else { "RO" };
    Ok(Reply::Array(
        positions.into_iter().map(|i| Reply::Array(vec![Reply::bulk(args.get(i + 2)), Reply::Array(vec![status(access)])])).collect(),
    ))
}

// The command table of this family, joined by `commands::registry`. Its imports stay here, beside
// the rows, so that the family's table and its handlers change independently.

use super::acl;
use super::flags::{LOADING, STALE};

/// The COMMAND commands, in the order COMMAND lists them.
pub(super) static COMMANDS: &[Command] =
    &[Command::new("command", -1, command).flags(LOADING | STALE).acl(acl::CONNECTION).subcommands(COMMAND_SUBCOMMANDS)];

static COMMAND_SUBCOMMANDS: &[Command] = &[
    Command::new("command|count", 2, command_count).flags(LOADING | STALE).acl(acl::CONNECTION),
    Command::new("command|docs", -2, command_docs).flags(LOADING | STALE).acl(acl::CONNECTION),
    Command::new("command|getkeys", -4, command_getkeys).flags(LOADING | STALE).acl(acl::CONNECTION),
    Command::new("command|getkeysandflags", -4, command_getkeysandflags).flags(LOADING | STALE).acl(acl::CONNECTION),
    Command::new("command|info", -2, command_info).flags(LOADING | STALE).acl(acl::CONNECTION),
    Command::new("command|list", -2, command_list).flags(LOADING | STALE).acl(acl::CONNECTION),
];
