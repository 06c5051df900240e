//! The command table: one row per command with Redis's arity, flags, key positions, ACL categories
//! and documentation, and the handler. COMMAND, arity checks and key extraction all read it.
//!
//! Rows were first drafted from a real redis-server's COMMAND INFO/DOCS (tools/gen_table.py) so the
//! metadata matches what clients expect.

use std::sync::LazyLock;

use hashbrown::HashMap;

use super::flags::*;
use super::{client, config_cmd, connection, id, info, introspection, keys, server, strings, Handler};

/// Command groups, as COMMAND DOCS reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    Generic,
    String,
    Connection,
    Server,
    Id,
}

impl Group {
    pub fn name(self) -> &'static str {
        match self {
            Group::Generic => "generic",
            Group::String => "string",
            Group::Connection => "connection",
            Group::Server => "server",
            Group::Id => "id",
        }
    }
}

/// One command (or subcommand).
pub struct Command {
    /// Lower case; subcommands are `container|sub`.
    pub name: &'static str,
    /// Positive: exact argument count including the name; negative: at least that many.
    pub arity: i32,
    pub flags: u32,
    pub first_key: i32,
    pub last_key: i32,
    pub key_step: i32,
    pub group: Group,
    pub since: &'static str,
    /// Space separated, e.g. `@read @string @fast`.
    pub acl_categories: &'static str,
    pub summary: &'static str,
    pub handler: Handler,
    pub subcommands: &'static [Command],
}

#[allow(clippy::too_many_arguments)]
const fn cmd(
    name: &'static str,
    arity: i32,
    flags: u32,
    keys: (i32, i32, i32),
    group: Group,
    since: &'static str,
    acl_categories: &'static str,
    summary: &'static str,
    handler: Handler,
) -> Command {
    Command {
        name,
        arity,
        flags,
        first_key: keys.0,
        last_key: keys.1,
        key_step: keys.2,
        group,
        since,
        acl_categories,
        summary,
        handler,
        subcommands: &[],
    }
}

impl Command {
    const fn with_subcommands(mut self, subcommands: &'static [Command]) -> Command {
        self.subcommands = subcommands;
        self
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
        if self.first_key <= 0 {
            return Vec::new();
        }
        let last = if self.last_key < 0 { argc as i32 + self.last_key } else { self.last_key.min(argc as i32 - 1) };
        (self.first_key..=last).step_by(self.key_step.max(1) as usize).map(|i| i as usize).collect()
    }

    /// The name without the container prefix.
    pub fn short_name(&self) -> &'static str {
        self.name.split_once('|').map_or(self.name, |(_, sub)| sub)
    }
}

static CLIENT_SUBCOMMANDS: &[Command] = &[
    cmd(
        "client|getname",
        2,
        NOSCRIPT | LOADING | STALE,
        (0, 0, 0),
        Group::Connection,
        "2.6.9",
        "@slow @connection",
        "Get the current connection name",
        client::getname,
    ),
    cmd(
        "client|id",
        2,
        NOSCRIPT | LOADING | STALE,
        (0, 0, 0),
        Group::Connection,
        "5.0.0",
        "@slow @connection",
        "Returns the client ID for the current connection",
        client::id,
    ),
    cmd(
        "client|info",
        2,
        NOSCRIPT | LOADING | STALE,
        (0, 0, 0),
        Group::Connection,
        "6.2.0",
        "@slow @connection",
        "Returns information about the current client connection.",
        client::info,
    ),
    cmd(
        "client|kill",
        -3,
        ADMIN | NOSCRIPT | LOADING | STALE,
        (0, 0, 0),
        Group::Connection,
        "2.4.0",
        "@admin @slow @dangerous @connection",
        "Kill the connection of a client",
        client::kill,
    ),
    cmd(
        "client|list",
        -2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        (0, 0, 0),
        Group::Connection,
        "2.4.0",
        "@admin @slow @dangerous @connection",
        "Get the list of client connections",
        client::list,
    ),
    cmd(
        "client|no-evict",
        3,
        ADMIN | NOSCRIPT | LOADING | STALE,
        (0, 0, 0),
        Group::Connection,
        "7.0.0",
        "@admin @slow @dangerous @connection",
        "Set client eviction mode for the current connection",
        client::no_evict,
    ),
    cmd(
        "client|no-touch",
        3,
        NOSCRIPT | LOADING | STALE,
        (0, 0, 0),
        Group::Connection,
        "7.2.0",
        "@slow @connection",
        "Controls whether commands sent by the client will alter the LRU/LFU of the keys they access",
        client::no_touch,
    ),
    cmd(
        "client|pause",
        -3,
        ADMIN | NOSCRIPT | LOADING | STALE,
        (0, 0, 0),
        Group::Connection,
        "2.9.50",
        "@admin @slow @dangerous @connection",
        "Stop processing commands from clients for some time",
        client::pause,
    ),
    cmd(
        "client|reply",
        3,
        NOSCRIPT | LOADING | STALE,
        (0, 0, 0),
        Group::Connection,
        "3.2.0",
        "@slow @connection",
        "Instruct the server whether to reply to commands",
        client::reply,
    ),
    cmd(
        "client|setinfo",
        4,
        NOSCRIPT | LOADING | STALE,
        (0, 0, 0),
        Group::Connection,
        "7.2.0",
        "@slow @connection",
        "Set client or connection specific info",
        client::setinfo,
    ),
    cmd(
        "client|setname",
        3,
        NOSCRIPT | LOADING | STALE,
        (0, 0, 0),
        Group::Connection,
        "2.6.9",
        "@slow @connection",
        "Set the current connection name",
        client::setname,
    ),
    cmd(
        "client|unpause",
        2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        (0, 0, 0),
        Group::Connection,
        "6.2.0",
        "@admin @slow @dangerous @connection",
        "Resume processing of clients that were paused",
        client::unpause,
    ),
];

static COMMAND_SUBCOMMANDS: &[Command] = &[
    cmd(
        "command|count",
        2,
        LOADING | STALE,
        (0, 0, 0),
        Group::Server,
        "2.8.13",
        "@slow @connection",
        "Get total number of Redis commands",
        introspection::command_count,
    ),
    cmd(
        "command|docs",
        -2,
        LOADING | STALE,
        (0, 0, 0),
        Group::Server,
        "7.0.0",
        "@slow @connection",
        "Get array of specific Redis command documentation",
        introspection::command_docs,
    ),
    cmd(
        "command|getkeys",
        -4,
        LOADING | STALE,
        (0, 0, 0),
        Group::Server,
        "2.8.13",
        "@slow @connection",
        "Extract keys given a full Redis command",
        introspection::command_getkeys,
    ),
    cmd(
        "command|getkeysandflags",
        -4,
        LOADING | STALE,
        (0, 0, 0),
        Group::Server,
        "7.0.0",
        "@slow @connection",
        "Extract keys and access flags given a full Redis command",
        introspection::command_getkeysandflags,
    ),
    cmd(
        "command|info",
        -2,
        LOADING | STALE,
        (0, 0, 0),
        Group::Server,
        "2.8.13",
        "@slow @connection",
        "Get array of specific Redis command details, or all when no argument is given.",
        introspection::command_info,
    ),
    cmd(
        "command|list",
        -2,
        LOADING | STALE,
        (0, 0, 0),
        Group::Server,
        "7.0.0",
        "@slow @connection",
        "Get an array of Redis command names",
        introspection::command_list,
    ),
];

static CONFIG_SUBCOMMANDS: &[Command] = &[
    cmd(
        "config|get",
        -3,
        ADMIN | NOSCRIPT | LOADING | STALE,
        (0, 0, 0),
        Group::Server,
        "2.0.0",
        "@admin @slow @dangerous",
        "Get the values of configuration parameters",
        config_cmd::config_get,
    ),
    cmd(
        "config|resetstat",
        2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        (0, 0, 0),
        Group::Server,
        "2.0.0",
        "@admin @slow @dangerous",
        "Reset the stats returned by INFO",
        config_cmd::config_resetstat,
    ),
    cmd(
        "config|rewrite",
        2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        (0, 0, 0),
        Group::Server,
        "2.8.0",
        "@admin @slow @dangerous",
        "Rewrite the configuration file with the in memory configuration",
        config_cmd::config_rewrite,
    ),
    cmd(
        "config|set",
        -4,
        ADMIN | NOSCRIPT | LOADING | STALE,
        (0, 0, 0),
        Group::Server,
        "2.0.0",
        "@admin @slow @dangerous",
        "Set configuration parameters to the given values",
        config_cmd::config_set,
    ),
];

static OBJECT_SUBCOMMANDS: &[Command] = &[
    cmd(
        "object|encoding",
        3,
        READONLY,
        (2, 2, 1),
        Group::Generic,
        "2.2.3",
        "@keyspace @read @slow",
        "Inspect the internal encoding of a Redis object",
        keys::object_encoding,
    ),
    cmd(
        "object|freq",
        3,
        READONLY,
        (2, 2, 1),
        Group::Generic,
        "4.0.0",
        "@keyspace @read @slow",
        "Get the logarithmic access frequency counter of a Redis object",
        keys::object_freq,
    ),
    cmd(
        "object|idletime",
        3,
        READONLY,
        (2, 2, 1),
        Group::Generic,
        "2.2.3",
        "@keyspace @read @slow",
        "Get the time since a Redis object was last accessed",
        keys::object_idletime,
    ),
    cmd(
        "object|refcount",
        3,
        READONLY,
        (2, 2, 1),
        Group::Generic,
        "2.2.3",
        "@keyspace @read @slow",
        "Get the number of references to the value of the key",
        keys::object_refcount,
    ),
];

static SLOWLOG_SUBCOMMANDS: &[Command] = &[
    cmd(
        "slowlog|get",
        -2,
        ADMIN | LOADING | STALE,
        (0, 0, 0),
        Group::Server,
        "2.2.12",
        "@admin @slow @dangerous",
        "Get the slow log's entries",
        server::slowlog_get,
    ),
    cmd(
        "slowlog|len",
        2,
        ADMIN | LOADING | STALE,
        (0, 0, 0),
        Group::Server,
        "2.2.12",
        "@admin @slow @dangerous",
        "Get the slow log's length",
        server::slowlog_len,
    ),
    cmd(
        "slowlog|reset",
        2,
        ADMIN | LOADING | STALE,
        (0, 0, 0),
        Group::Server,
        "2.2.12",
        "@admin @slow @dangerous",
        "Clear all entries from the slow log",
        server::slowlog_reset,
    ),
];

static COMMANDS: &[Command] = &[
    cmd("get", 2, READONLY | FAST, (1, 1, 1), Group::String, "1.0.0", "@read @string @fast", "Get the value of a key", strings::get),
    cmd(
        "set",
        -3,
        WRITE | DENYOOM,
        (1, 1, 1),
        Group::String,
        "1.0.0",
        "@write @string @slow",
        "Set the string value of a key",
        strings::set,
    ),
    cmd(
        "setnx",
        3,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        Group::String,
        "1.0.0",
        "@write @string @fast",
        "Set the value of a key, only if the key does not exist",
        strings::setnx,
    ),
    cmd(
        "setex",
        4,
        WRITE | DENYOOM,
        (1, 1, 1),
        Group::String,
        "2.0.0",
        "@write @string @slow",
        "Set the value and expiration of a key",
        strings::setex,
    ),
    cmd(
        "psetex",
        4,
        WRITE | DENYOOM,
        (1, 1, 1),
        Group::String,
        "2.6.0",
        "@write @string @slow",
        "Set the value and expiration in milliseconds of a key",
        strings::psetex,
    ),
    cmd(
        "getset",
        3,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        Group::String,
        "1.0.0",
        "@write @string @fast",
        "Set the string value of a key and return its old value",
        strings::getset,
    ),
    cmd(
        "getdel",
        2,
        WRITE | FAST,
        (1, 1, 1),
        Group::String,
        "6.2.0",
        "@write @string @fast",
        "Get the value of a key and delete the key",
        strings::getdel,
    ),
    cmd(
        "getex",
        -2,
        WRITE | FAST,
        (1, 1, 1),
        Group::String,
        "6.2.0",
        "@write @string @fast",
        "Get the value of a key and optionally set its expiration",
        strings::getex,
    ),
    cmd(
        "mget",
        -2,
        READONLY | FAST,
        (1, -1, 1),
        Group::String,
        "1.0.0",
        "@read @string @fast",
        "Get the values of all the given keys",
        strings::mget,
    ),
    cmd(
        "mset",
        -3,
        WRITE | DENYOOM,
        (1, -1, 2),
        Group::String,
        "1.0.1",
        "@write @string @slow",
        "Set multiple keys to multiple values",
        strings::mset,
    ),
    cmd(
        "msetnx",
        -3,
        WRITE | DENYOOM,
        (1, -1, 2),
        Group::String,
        "1.0.1",
        "@write @string @slow",
        "Set multiple keys to multiple values, only if none of the keys exist",
        strings::msetnx,
    ),
    cmd(
        "append",
        3,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        Group::String,
        "2.0.0",
        "@write @string @fast",
        "Append a value to a key",
        strings::append,
    ),
    cmd(
        "strlen",
        2,
        READONLY | FAST,
        (1, 1, 1),
        Group::String,
        "2.2.0",
        "@read @string @fast",
        "Get the length of the value stored in a key",
        strings::strlen,
    ),
    cmd(
        "incr",
        2,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        Group::String,
        "1.0.0",
        "@write @string @fast",
        "Increment the integer value of a key by one",
        strings::incr,
    ),
    cmd(
        "decr",
        2,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        Group::String,
        "1.0.0",
        "@write @string @fast",
        "Decrement the integer value of a key by one",
        strings::decr,
    ),
    cmd(
        "incrby",
        3,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        Group::String,
        "1.0.0",
        "@write @string @fast",
        "Increment the integer value of a key by the given amount",
        strings::incrby,
    ),
    cmd(
        "decrby",
        3,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        Group::String,
        "1.0.0",
        "@write @string @fast",
        "Decrement the integer value of a key by the given number",
        strings::decrby,
    ),
    cmd(
        "incrbyfloat",
        3,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        Group::String,
        "2.6.0",
        "@write @string @fast",
        "Increment the float value of a key by the given amount",
        strings::incrbyfloat,
    ),
    cmd(
        "getrange",
        4,
        READONLY,
        (1, 1, 1),
        Group::String,
        "2.4.0",
        "@read @string @slow",
        "Get a substring of the string stored at a key",
        strings::getrange,
    ),
    cmd(
        "substr",
        4,
        READONLY,
        (1, 1, 1),
        Group::String,
        "1.0.0",
        "@read @string @slow",
        "Get a substring of the string stored at a key",
        strings::substr,
    ),
    cmd(
        "setrange",
        4,
        WRITE | DENYOOM,
        (1, 1, 1),
        Group::String,
        "2.2.0",
        "@write @string @slow",
        "Overwrite part of a string at key starting at the specified offset",
        strings::setrange,
    ),
    cmd("lcs", -3, READONLY, (1, 2, 1), Group::String, "7.0.0", "@read @string @slow", "Find longest common substring", strings::lcs),
    cmd("del", -2, WRITE, (1, -1, 1), Group::Generic, "1.0.0", "@keyspace @write @slow", "Delete a key", keys::del),
    cmd(
        "unlink",
        -2,
        WRITE | FAST,
        (1, -1, 1),
        Group::Generic,
        "4.0.0",
        "@keyspace @write @fast",
        "Delete a key asynchronously in another thread. Otherwise it is just as DEL, but non blocking.",
        keys::unlink,
    ),
    cmd(
        "exists",
        -2,
        READONLY | FAST,
        (1, -1, 1),
        Group::Generic,
        "1.0.0",
        "@keyspace @read @fast",
        "Determine if a key exists",
        keys::exists,
    ),
    cmd(
        "type",
        2,
        READONLY | FAST,
        (1, 1, 1),
        Group::Generic,
        "1.0.0",
        "@keyspace @read @fast",
        "Determine the type stored at key",
        keys::r#type,
    ),
    cmd("rename", 3, WRITE, (1, 2, 1), Group::Generic, "1.0.0", "@keyspace @write @slow", "Rename a key", keys::rename),
    cmd(
        "renamenx",
        3,
        WRITE | FAST,
        (1, 2, 1),
        Group::Generic,
        "1.0.0",
        "@keyspace @write @fast",
        "Rename a key, only if the new key does not exist",
        keys::renamenx,
    ),
    cmd("copy", -3, WRITE | DENYOOM, (1, 2, 1), Group::Generic, "6.2.0", "@keyspace @write @slow", "Copy a key", keys::copy),
    cmd(
        "move",
        3,
        WRITE | FAST,
        (1, 1, 1),
        Group::Generic,
        "1.0.0",
        "@keyspace @write @fast",
        "Move a key to another database",
        keys::r#move,
    ),
    cmd(
        "keys",
        2,
        READONLY,
        (0, 0, 0),
        Group::Generic,
        "1.0.0",
        "@keyspace @read @slow @dangerous",
        "Find all keys matching the given pattern",
        keys::keys,
    ),
    cmd(
        "scan",
        -2,
        READONLY,
        (0, 0, 0),
        Group::Generic,
        "2.8.0",
        "@keyspace @read @slow",
        "Incrementally iterate the keys space",
        keys::scan,
    ),
    cmd(
        "randomkey",
        1,
        READONLY,
        (0, 0, 0),
        Group::Generic,
        "1.0.0",
        "@keyspace @read @slow",
        "Return a random key from the keyspace",
        keys::randomkey,
    ),
    cmd(
        "touch",
        -2,
        READONLY | FAST,
        (1, -1, 1),
        Group::Generic,
        "3.2.1",
        "@keyspace @read @fast",
        "Alters the last access time of a key(s). Returns the number of existing keys specified.",
        keys::touch,
    ),
    cmd(
        "expire",
        -3,
        WRITE | FAST,
        (1, 1, 1),
        Group::Generic,
        "1.0.0",
        "@keyspace @write @fast",
        "Set a key's time to live in seconds",
        keys::expire,
    ),
    cmd(
        "pexpire",
        -3,
        WRITE | FAST,
        (1, 1, 1),
        Group::Generic,
        "2.6.0",
        "@keyspace @write @fast",
        "Set a key's time to live in milliseconds",
        keys::pexpire,
    ),
    cmd(
        "expireat",
        -3,
        WRITE | FAST,
        (1, 1, 1),
        Group::Generic,
        "1.2.0",
        "@keyspace @write @fast",
        "Set the expiration for a key as a UNIX timestamp",
        keys::expireat,
    ),
    cmd(
        "pexpireat",
        -3,
        WRITE | FAST,
        (1, 1, 1),
        Group::Generic,
        "2.6.0",
        "@keyspace @write @fast",
        "Set the expiration for a key as a UNIX timestamp specified in milliseconds",
        keys::pexpireat,
    ),
    cmd(
        "ttl",
        2,
        READONLY | FAST,
        (1, 1, 1),
        Group::Generic,
        "1.0.0",
        "@keyspace @read @fast",
        "Get the time to live for a key in seconds",
        keys::ttl,
    ),
    cmd(
        "pttl",
        2,
        READONLY | FAST,
        (1, 1, 1),
        Group::Generic,
        "2.6.0",
        "@keyspace @read @fast",
        "Get the time to live for a key in milliseconds",
        keys::pttl,
    ),
    cmd(
        "expiretime",
        2,
        READONLY | FAST,
        (1, 1, 1),
        Group::Generic,
        "7.0.0",
        "@keyspace @read @fast",
        "Get the expiration Unix timestamp for a key",
        keys::expiretime,
    ),
    cmd(
        "pexpiretime",
        2,
        READONLY | FAST,
        (1, 1, 1),
        Group::Generic,
        "7.0.0",
        "@keyspace @read @fast",
        "Get the expiration Unix timestamp for a key in milliseconds",
        keys::pexpiretime,
    ),
    cmd(
        "persist",
        2,
        WRITE | FAST,
        (1, 1, 1),
        Group::Generic,
        "2.2.0",
        "@keyspace @write @fast",
        "Remove the expiration from a key",
        keys::persist,
    ),
    cmd(
        "object",
        -2,
        0,
        (0, 0, 0),
        Group::Generic,
        "2.2.3",
        "@slow",
        "A container for object introspection commands",
        super::dispatch::container,
    )
    .with_subcommands(OBJECT_SUBCOMMANDS),
    cmd("ping", -1, FAST, (0, 0, 0), Group::Connection, "1.0.0", "@fast @connection", "Ping the server", connection::ping),
    cmd(
        "echo",
        2,
        LOADING | STALE | FAST,
        (0, 0, 0),
        Group::Connection,
        "1.0.0",
        "@fast @connection",
        "Echo the given string",
        connection::echo,
    ),
    cmd(
        "hello",
        -1,
        NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY,
        (0, 0, 0),
        Group::Connection,
        "6.0.0",
        "@fast @connection",
        "Handshake with Redis",
        connection::hello,
    ),
    cmd(
        "auth",
        -2,
        NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY,
        (0, 0, 0),
        Group::Connection,
        "1.0.0",
        "@fast @connection",
        "Authenticate to the server",
        connection::auth,
    ),
    cmd(
        "select",
        2,
        LOADING | STALE | FAST,
        (0, 0, 0),
        Group::Connection,
        "1.0.0",
        "@fast @connection",
        "Change the selected database for the current connection",
        connection::select,
    ),
    cmd(
        "quit",
        -1,
        NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY,
        (0, 0, 0),
        Group::Connection,
        "1.0.0",
        "@fast @connection",
        "Close the connection",
        connection::quit,
    ),
    cmd(
        "reset",
        1,
        NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY,
        (0, 0, 0),
        Group::Connection,
        "6.2.0",
        "@fast @connection",
        "Reset the connection",
        connection::reset,
    ),
    cmd(
        "client",
        -2,
        0,
        (0, 0, 0),
        Group::Connection,
        "2.4.0",
        "@slow",
        "A container for client connection commands",
        super::dispatch::container,
    )
    .with_subcommands(CLIENT_SUBCOMMANDS),
    cmd(
        "dbsize",
        1,
        READONLY | FAST,
        (0, 0, 0),
        Group::Server,
        "1.0.0",
        "@keyspace @read @fast",
        "Return the number of keys in the selected database",
        server::dbsize,
    ),
    cmd(
        "flushdb",
        -1,
        WRITE,
        (0, 0, 0),
        Group::Server,
        "1.0.0",
        "@keyspace @write @slow @dangerous",
        "Remove all keys from the current database",
        server::flushdb,
    ),
    cmd(
        "flushall",
        -1,
        WRITE,
        (0, 0, 0),
        Group::Server,
        "1.0.0",
        "@keyspace @write @slow @dangerous",
        "Remove all keys from all databases",
        server::flushall,
    ),
    cmd(
        "swapdb",
        3,
        WRITE | FAST,
        (0, 0, 0),
        Group::Server,
        "4.0.0",
        "@keyspace @write @fast @dangerous",
        "Swaps two Redis databases",
        server::swapdb,
    ),
    cmd("time", 1, LOADING | STALE | FAST, (0, 0, 0), Group::Server, "2.6.0", "@fast", "Return the current server time", server::time),
    cmd(
        "lastsave",
        1,
        LOADING | STALE | FAST,
        (0, 0, 0),
        Group::Server,
        "1.0.0",
        "@admin @fast @dangerous",
        "Get the UNIX time stamp of the last successful save to disk",
        server::lastsave,
    ),
    cmd(
        "debug",
        -2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        (0, 0, 0),
        Group::Server,
        "1.0.0",
        "@admin @slow @dangerous",
        "A container for debugging commands",
        server::debug,
    ),
    cmd(
        "monitor",
        1,
        ADMIN | NOSCRIPT | LOADING | STALE,
        (0, 0, 0),
        Group::Server,
        "1.0.0",
        "@admin @slow @dangerous",
        "Listen for all requests received by the server in real time",
        server::monitor,
    ),
    cmd("slowlog", -2, 0, (0, 0, 0), Group::Server, "2.2.12", "@slow", "A container for slow log commands", super::dispatch::container)
        .with_subcommands(SLOWLOG_SUBCOMMANDS),
    cmd(
        "shutdown",
        -1,
        ADMIN | NOSCRIPT | LOADING | STALE | NO_MULTI | ALLOW_BUSY,
        (0, 0, 0),
        Group::Server,
        "1.0.0",
        "@admin @slow @dangerous",
        "Synchronously save the dataset to disk and then shut down the server",
        server::shutdown,
    ),
    cmd(
        "wait",
        3,
        NOSCRIPT,
        (0, 0, 0),
        Group::Generic,
        "3.0.0",
        "@slow @connection",
        "Wait for the synchronous replication of all the write commands sent in the context of the current connection",
        server::wait,
    ),
    cmd(
        "info",
        -1,
        LOADING | STALE,
        (0, 0, 0),
        Group::Server,
        "1.0.0",
        "@slow @dangerous",
        "Get information and statistics about the server",
        info::info,
    ),
    cmd(
        "config",
        -2,
        0,
        (0, 0, 0),
        Group::Server,
        "2.0.0",
        "@slow",
        "A container for server configuration commands",
        super::dispatch::container,
    )
    .with_subcommands(CONFIG_SUBCOMMANDS),
    cmd(
        "command",
        -1,
        LOADING | STALE,
        (0, 0, 0),
        Group::Server,
        "2.8.13",
        "@slow @connection",
        "Get array of Redis command details",
        introspection::command,
    )
    .with_subcommands(COMMAND_SUBCOMMANDS),
    cmd("id.next", -1, FAST, (0, 0, 0), Group::Id, "1.0.0", "@fast", "Returns new snowflake IDs, strictly increasing per node", id::next),
    cmd(
        "id.parse",
        2,
        FAST,
        (0, 0, 0),
        Group::Id,
        "1.0.0",
        "@fast",
        "Returns the timestamp, node and sequence of a snowflake ID",
        id::parse,
    ),
];

/// The table indexed for lookups. Every command and subcommand gets an index for per-command stats.
pub struct Registry {
    pub all: Vec<&'static Command>,
    by_name: HashMap<&'static str, usize>,
}

impl Registry {
    fn build() -> Registry {
        let mut all = Vec::new();
        for command in COMMANDS {
            all.push(command);
            all.extend(command.subcommands.iter());
        }
        let by_name = all.iter().enumerate().map(|(i, c)| (c.name, i)).collect();
        Registry { all, by_name }
    }

    /// Finds a command by name, ignoring ASCII case.
    pub fn find(&self, name: &[u8]) -> Option<(usize, &'static Command)> {
        let mut lower = [0u8; 32];
        let name = lower.get_mut(..name.len()).map(|buf| {
            buf.copy_from_slice(name);
            buf.make_ascii_lowercase();
            &*buf
        })?;
        let name = std::str::from_utf8(name).ok()?;
        self.by_name.get(name).map(|&i| (i, self.all[i]))
    }

    /// Finds `container|sub`.
    pub fn find_sub(&self, container: &Command, sub: &[u8]) -> Option<(usize, &'static Command)> {
        let sub = String::from_utf8_lossy(sub).to_ascii_lowercase();
        let full = format!("{}|{}", container.name, sub);
        self.by_name.get(full.as_str()).map(|&i| (i, self.all[i]))
    }

    /// The top-level commands, in table order.
    pub fn top_level(&self) -> impl Iterator<Item = &'static Command> {
        COMMANDS.iter()
    }

    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
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
        for command in COMMANDS {
            assert_eq!(command.name, command.name.to_ascii_lowercase());
            for sub in command.subcommands {
                assert!(sub.name.starts_with(&format!("{}|", command.name)), "{}", sub.name);
            }
        }
        assert!(registry.find(b"GeT").is_some());
        assert!(registry.find(b"client|list").is_some());
    }

    #[test]
    fn key_positions_follow_first_last_step() {
        let (_, mset) = registry().find(b"mset").unwrap();
        assert_eq!(mset.key_positions(5), vec![1, 3]);
        let (_, del) = registry().find(b"del").unwrap();
        assert_eq!(del.key_positions(4), vec![1, 2, 3]);
    }
}
