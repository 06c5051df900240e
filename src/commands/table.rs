//! The command table: the row type every family builds its commands with, and the registry that
//! joins the families' tables into one index. COMMAND, arity checks, key extraction, WATCH and
//! blocked-client wake-ups all read the rows.
//!
//! Each family ends its file with `pub(super) static COMMANDS: &[Command]`, rows built with the
//! named builders below (`Command::new("hset", -4, hset).flags(WRITE | DENYOOM | FAST).keys(1, 1, 1)
//! .acl(acl::HASH)`); [`FAMILIES`] lists the families, one line each. Documentation (summary,
//! since, group) is data of its own in `commands::docs`; strata's own families pass theirs with
//! their rows. Rows were first drafted from a real redis-server's COMMAND INFO (tools/gen_table.py)
//! so the metadata matches what clients expect.

use std::sync::LazyLock;

use hashbrown::HashMap;

use super::access::key_access::KEY_ACCESS;
use super::docs::{self, Doc};
use super::flags::*;
use super::{
    access, acl, bitmaps, blocking, client, config_cmd, connection, geo, hashes, hyperloglog, id, info, introspection, keys, lake, lists,
    persistence, pubsub, queue, scripting, server, sets, sort, streams, strings, topic, tx, zsets, Handler,
};
use crate::resp::Args;

/// One command (or subcommand): how it is called and how it behaves. Built with [`Command::new`]
/// and the builders after it, in a family's `COMMANDS` table.
pub struct Command {
    /// Lower case; subcommands are `container|sub`.
    pub name: &'static str,
    /// Positive: exact argument count including the name; negative: at least that many.
    pub arity: i32,
    pub flags: u32,
    pub first_key: i32,
    pub last_key: i32,
    pub key_step: i32,
    /// The ACL categories the row names; the ones its flags imply are added by [`Command::acl_categories`].
    pub acl: u32,
    pub handler: Handler,
    pub subcommands: &'static [Command],
    /// For MOVABLE_KEYS commands: the key positions of a request.
    pub keys_fn: Option<KeysFn>,
    /// Which arguments are Pub/Sub channels, for ACL channel permissions.
    pub channels: Channels,
}

/// The Pub/Sub channels a command names, as ACL checks them (Redis's channel flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channels {
    None,
    /// The first argument is a channel published to.
    Publish,
    /// Every argument is a channel subscribed to.
    Subscribe,
    /// Every argument is a pattern subscribed to: ACL compares it with channel rules literally.
    SubscribePatterns,
}

/// Finds the key arguments of a movable-keys request (positions include the command name at 0).
pub type KeysFn = fn(Args) -> Vec<usize>;

impl Command {
    /// A command with no flags, no keys and no ACL categories but the implied ones.
    pub const fn new(name: &'static str, arity: i32, handler: Handler) -> Command {
        Command {
            name,
            arity,
            flags: 0,
            first_key: 0,
            last_key: 0,
            key_step: 0,
            acl: 0,
            handler,
            subcommands: &[],
            keys_fn: None,
            channels: Channels::None,
        }
    }

    /// Adds flags (`flags::*`).
    pub const fn flags(mut self, flags: u32) -> Command {
        self.flags |= flags;
        self
    }

    /// The fixed key positions: first, last (negative: from the end) and step, as COMMAND INFO reports them.
    pub const fn keys(mut self, first: i32, last: i32, step: i32) -> Command {
        self.first_key = first;
        self.last_key = last;
        self.key_step = step;
        self
    }

    /// ACL categories besides the ones the flags imply (`acl::*`: the data type, @keyspace, @dangerous...).
    pub const fn acl(mut self, categories: u32) -> Command {
        self.acl |= categories;
        self
    }

    /// The subcommands of a container command (CLIENT, CONFIG, OBJECT...).
    pub const fn subcommands(mut self, subcommands: &'static [Command]) -> Command {
        self.subcommands = subcommands;
        self
    }

    /// Marks a command whose keys follow a `numkeys` argument, with the function that finds them.
    pub const fn movable_keys(mut self, keys: KeysFn) -> Command {
        self.flags |= MOVABLE_KEYS;
        self.keys_fn = Some(keys);
        self
    }

    /// Marks the arguments that are Pub/Sub channels.
    pub const fn channels(mut self, channels: Channels) -> Command {
        self.channels = channels;
        self
    }

    /// All ACL categories: the named ones and the ones the flags imply, as Redis derives them.
    pub const fn acl_categories(&self) -> u32 {
        acl::with_implied(self.acl, self.flags)
    }

    /// The positions of the key arguments of a request, movable keys included.
    pub fn keys_in(&self, args: Args) -> Vec<usize> {
        match self.keys_fn {
            Some(find) => find(args),
            None => self.key_positions(args.len()),
        }
    }

    /// Calls `visit` with the position of each key argument of a request. Fixed positions are
    /// walked without allocating: every write command announces its keys this way.
    pub fn for_each_key(&self, args: Args, visit: impl FnMut(usize)) {
        match self.keys_fn {
            Some(find) => find(args).into_iter().for_each(visit),
            None => self.key_range(args.len()).for_each(visit),
        }
    }

    /// Whether a request may name more than one key.
    pub fn may_name_several_keys(&self) -> bool {
        self.keys_fn.is_some() || self.last_key != self.first_key
    }

    pub fn has(&self, flag: u32) -> bool {
        self.flags & flag != 0
    }

    /// Whether `argc` arguments (name included) satisfy the arity.
    pub fn arity_ok(&self, argc: usize) -> bool {
        let argc = argc as i64;
        let arity = i64::from(self.arity);
        if arity >= 0 {
            argc == arity
        } else {
            argc >= -arity
        }
    }

    /// The positions of the key arguments among `argc` arguments.
    pub fn key_positions(&self, argc: usize) -> Vec<usize> {
        self.key_range(argc).collect()
    }

    /// The fixed key positions (first, last, step) for `argc` arguments.
    fn key_range(&self, argc: usize) -> std::iter::StepBy<std::ops::RangeInclusive<usize>> {
        let (first, last) = if self.first_key <= 0 {
            (1, 0)
        } else {
            let last = if self.last_key < 0 { argc as i32 + self.last_key } else { self.last_key.min(argc as i32 - 1) };
            (self.first_key as usize, last.max(0) as usize)
        };
        (first..=last).step_by(self.key_step.max(1) as usize)
    }

    /// The name without the container prefix.
    pub fn short_name(&self) -> &'static str {
        self.name.split_once('|').map_or(self.name, |(_, sub)| sub)
    }
}

/// One family's table, as the registry joins it.
struct Family {
    commands: &'static [Command],
    /// Documentation of the family's own commands; Redis's are in `commands::docs`.
    docs: &'static [(&'static str, Doc)],
}

impl Family {
    const fn new(commands: &'static [Command]) -> Family {
        Family { commands, docs: &[] }
    }

    const fn docs(mut self, docs: &'static [(&'static str, Doc)]) -> Family {
        self.docs = docs;
        self
    }
}

/// Every family, one line each, in the order COMMAND lists them.
static FAMILIES: &[Family] = &[
    Family::new(strings::COMMANDS),
    Family::new(keys::COMMANDS),
    Family::new(connection::COMMANDS),
    Family::new(client::COMMANDS),
    Family::new(server::COMMANDS),
    Family::new(info::COMMANDS),
    Family::new(config_cmd::COMMANDS),
    Family::new(introspection::COMMANDS),
    Family::new(id::COMMANDS).docs(id::DOCS),
    Family::new(lists::COMMANDS),
    Family::new(hashes::COMMANDS),
    Family::new(sets::COMMANDS),
    Family::new(zsets::COMMANDS),
    Family::new(pubsub::COMMANDS),
    Family::new(tx::COMMANDS),
    Family::new(blocking::COMMANDS),
    Family::new(streams::COMMANDS),
    Family::new(scripting::COMMANDS),
    Family::new(bitmaps::COMMANDS),
    Family::new(hyperloglog::COMMANDS),
    Family::new(geo::COMMANDS),
    Family::new(sort::COMMANDS),
    Family::new(queue::COMMANDS).docs(queue::DOCS),
    Family::new(topic::COMMANDS).docs(topic::DOCS),
    Family::new(lake::COMMANDS).docs(lake::DOCS),
    Family::new(persistence::COMMANDS),
    Family::new(access::COMMANDS),
];

/// The table indexed for lookups, built once. Every command and subcommand gets an index (per-command
/// stats, CLIENT LIST's `cmd=`).
pub struct Registry {
    pub all: Vec<&'static Command>,
    top: Vec<&'static Command>,
    by_name: HashMap<&'static str, usize>,
    /// The documentation of `all[i]`.
    docs: Vec<&'static Doc>,
    /// The container of `all[i]`, for subcommands.
    parents: Vec<Option<usize>>,
    /// What each key spec of `all[i]` needs under ACL key patterns (`None`: derived from its flags).
    key_access: Vec<Option<&'static [u8]>>,
}

/// What COMMAND DOCS says of a command nobody documented (a test keeps this from happening).
static UNDOCUMENTED: Doc = Doc { summary: "", since: "", group: "" };

/// Longest `container|sub` name looked up on the stack; longer ones cannot be commands.
const MAX_NAME: usize = 64;

impl Registry {
    fn build() -> Registry {
        let mut all = Vec::new();
        let mut top = Vec::new();
        let mut parents = Vec::new();
        for command in FAMILIES.iter().flat_map(|family| family.commands) {
            top.push(command);
            let container = all.len();
            all.push(command);
            parents.push(None);
            all.extend(command.subcommands.iter());
            parents.extend(command.subcommands.iter().map(|_| Some(container)));
        }
        let known_access: HashMap<&str, &'static [u8]> = KEY_ACCESS.iter().copied().collect();
        let key_access = all.iter().map(|c| known_access.get(c.name).copied()).collect();
        let by_name = all.iter().enumerate().map(|(i, c)| (c.name, i)).collect();
        let documented: HashMap<&str, &Doc> =
            docs::REDIS.iter().chain(FAMILIES.iter().flat_map(|family| family.docs)).map(|(name, doc)| (*name, doc)).collect();
        let docs = all.iter().map(|c| documented.get(c.name).copied().unwrap_or(&UNDOCUMENTED)).collect();
        Registry { all, top, by_name, docs, parents, key_access }
    }

    /// Finds a command by name, ignoring ASCII case: one hash lookup, no allocation.
    pub fn find(&self, name: &[u8]) -> Option<(usize, &'static Command)> {
        let mut lower = [0u8; MAX_NAME];
        let name = lower.get_mut(..name.len()).map(|buf| {
            buf.copy_from_slice(name);
            buf.make_ascii_lowercase();
            &*buf
        })?;
        let name = std::str::from_utf8(name).ok()?;
        self.by_name.get(name).map(|&i| (i, self.all[i]))
    }

    /// Finds `container|sub`, ignoring the case of `sub`, without allocating.
    pub fn find_sub(&self, container: &Command, sub: &[u8]) -> Option<(usize, &'static Command)> {
        let prefix = container.name.as_bytes();
        let mut full = [0u8; MAX_NAME];
        let name = full.get_mut(..prefix.len() + 1 + sub.len())?;
        name[..prefix.len()].copy_from_slice(prefix);
        name[prefix.len()] = b'|';
        name[prefix.len() + 1..].copy_from_slice(sub);
        name.make_ascii_lowercase();
        self.by_name.get(std::str::from_utf8(name).ok()?).map(|&i| (i, self.all[i]))
    }

    /// The top-level commands, in table order.
    pub fn top_level(&self) -> impl Iterator<Item = &'static Command> + '_ {
        self.top.iter().copied()
    }

    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }

    /// The container of a subcommand.
    pub fn parent(&self, index: usize) -> Option<usize> {
        self.parents[index]
    }

    /// The indices of a container's subcommands (none for other commands).
    pub fn subcommands_of(&self, index: usize) -> std::ops::Range<usize> {
        let count = if self.parents[index].is_none() { self.all[index].subcommands.len() } else { 0 };
        index + 1..index + 1 + count
    }

    /// What each key spec of a command needs under ACL key patterns, when Redis's key specs say.
    pub fn key_access(&self, index: usize) -> Option<&'static [u8]> {
        self.key_access[index]
    }

    /// The documentation of a command or subcommand of the table.
    pub fn doc(&self, command: &Command) -> &'static Doc {
        self.index_of(command.name).map_or(&UNDOCUMENTED, |i| self.docs[i])
    }
}

static REGISTRY: LazyLock<Registry> = LazyLock::new(Registry::build);

pub fn registry() -> &'static Registry {
    &REGISTRY
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_lower_case_and_subcommands_prefixed() {
        let registry = registry();
        assert_eq!(registry.by_name.len(), registry.all.len());
        for command in registry.top_level() {
            assert_eq!(command.name, command.name.to_ascii_lowercase());
            for sub in command.subcommands {
                assert!(sub.name.starts_with(&format!("{}|", command.name)), "{}", sub.name);
            }
        }
        assert!(registry.find(b"GeT").is_some());
        assert!(registry.find(b"client|list").is_some());
        let (_, client) = registry.find(b"client").unwrap();
        assert_eq!(registry.find_sub(client, b"LiSt").map(|(_, c)| c.name), Some("client|list"));
        assert!(registry.find_sub(client, &[b'x'; 100]).is_none());
    }

    #[test]
    fn every_command_is_documented_once() {
        let registry = registry();
        let mut names: Vec<&str> = docs::REDIS.iter().chain(FAMILIES.iter().flat_map(|f| f.docs)).map(|(name, _)| *name).collect();
        for command in &registry.all {
            let doc = registry.doc(command);
            assert!(!doc.summary.is_empty() && !doc.since.is_empty() && !doc.group.is_empty(), "{} has no docs", command.name);
        }
        names.sort_unstable();
        let count = names.len();
        names.dedup();
        assert_eq!(names.len(), count, "a command documented twice");
        assert_eq!(count, registry.all.len(), "documentation of a command that is not in the table");
    }

    #[test]
    fn key_positions_follow_first_last_step() {
        let (_, mset) = registry().find(b"mset").unwrap();
        assert_eq!(mset.key_positions(5), vec![1, 3]);
        let (_, del) = registry().find(b"del").unwrap();
        assert_eq!(del.key_positions(4), vec![1, 2, 3]);
    }

    #[test]
    fn categories_follow_flags() {
        let (_, hset) = registry().find(b"hset").unwrap();
        assert_eq!(acl::names(hset.acl_categories()).collect::<Vec<_>>(), ["@write", "@hash", "@fast"]);
    }

    #[test]
    fn movable_keys_come_from_numkeys() {
        let buf = b"zunionstore d 2 a b WEIGHTS 1 2\r\n";
        let mut req = crate::resp::RequestBuf::default();
        crate::resp::parse_request(buf, &mut req, crate::resp::ParseLimits { max_bulk_len: 1 << 20, unauthenticated: false }).unwrap();
        let args = req.args(buf);
        let (_, zunionstore) = registry().find(b"zunionstore").unwrap();
        assert!(zunionstore.has(MOVABLE_KEYS));
        assert_eq!(zunionstore.keys_in(args), vec![1, 3, 4]);
        let (_, lmpop) = registry().find(b"lmpop").unwrap();
        assert_eq!(lmpop.keys_in(args), Vec::<usize>::new(), "numkeys 'd' is not a number");
    }
}
