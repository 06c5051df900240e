//! Settings: defaults, the redis.conf-style file, command-line overrides, CONFIG GET/SET/REWRITE.
//!
//! Every setting strata has is one row of [`SETTINGS`]. Values are kept as their canonical text (what
//! CONFIG GET prints); the few read on hot paths are mirrored into atomics in [`Hot`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use crate::engine::Limits;
use crate::resp::split_inline_args;

/// How a setting's text is validated and normalised.
#[derive(Clone, Copy)]
enum Kind {
    Int {
        min: i64,
        max: i64,
    },
    /// A byte size that accepts `k`, `kb`, `m`, `mb`, `g`, `gb` suffixes as redis.conf does.
    Memory {
        max: i64,
    },
    Bool,
    Enum(&'static [&'static str]),
    Text,
    /// `notify-keyspace-events` letters, shown in Redis's canonical order.
    KeyspaceEvents,
    /// `client-output-buffer-limit`: `<class> <hard> <soft> <soft seconds>` groups; a partial value
    /// changes only the classes it names.
    BufferLimits,
}

struct Setting {
    name: &'static str,
    default: &'static str,
    kind: Kind,
    /// Fixed once the server runs: CONFIG SET refuses it.
    immutable: bool,
}

const fn setting(name: &'static str, default: &'static str, kind: Kind, immutable: bool) -> Setting {
    Setting { name, default, kind, immutable }
}

/// Strings are stored with a 32-bit length, so no single argument may be longer.
const MAX_STRING_LEN: i64 = u32::MAX as i64 - 64;

/// Who may run DEBUG or set protected configs: nobody, local clients, everyone.
const PROTECTED_ACTIONS: &[&str] = &["no", "local", "yes"];
const LOGLEVELS: &[&str] = &["debug", "verbose", "notice", "warning", "nothing"];
const POLICIES: &[&str] =
    &["volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl", "allkeys-lru", "allkeys-lfu", "allkeys-random", "noeviction"];

/// Every setting, in the order CONFIG REWRITE appends them.
static SETTINGS: &[Setting] = &[
    setting("port", "6379", Kind::Int { min: 0, max: 65535 }, true),
    setting("bind", "* -::*", Kind::Text, true),
    setting("tcp-backlog", "511", Kind::Int { min: 0, max: i32::MAX as i64 }, true),
    setting("requirepass", "", Kind::Text, false),
    setting("aclfile", "", Kind::Text, true),
    setting("protected-mode", "yes", Kind::Bool, false),
    setting("tls-port", "0", Kind::Int { min: 0, max: 65535 }, true),
    setting("tls-cert-file", "", Kind::Text, false),
    setting("tls-key-file", "", Kind::Text, false),
    setting("tls-ca-cert-file", "", Kind::Text, false),
    setting("tls-auth-clients", "yes", Kind::Enum(&["yes", "no", "optional"]), false),
    setting("tls-protocols", "", Kind::Text, false),
    setting("tls-ciphersuites", "", Kind::Text, false),
    setting("enable-debug-command", "no", Kind::Enum(PROTECTED_ACTIONS), true),
    setting("enable-protected-configs", "no", Kind::Enum(PROTECTED_ACTIONS), true),
    setting("acllog-max-len", "128", Kind::Int { min: 0, max: i64::MAX }, false),
    setting("acl-pubsub-default", "resetchannels", Kind::Enum(&["allchannels", "resetchannels"]), false),
    setting("threads", "0", Kind::Int { min: 0, max: 256 }, true),
    setting("databases", "16", Kind::Int { min: 1, max: i32::MAX as i64 }, true),
    setting("maxclients", "10000", Kind::Int { min: 1, max: u32::MAX as i64 }, false),
    setting("timeout", "0", Kind::Int { min: 0, max: i32::MAX as i64 }, false),
    setting("tcp-keepalive", "300", Kind::Int { min: 0, max: i32::MAX as i64 }, false),
    setting("loglevel", "notice", Kind::Enum(LOGLEVELS), false),
    setting("logfile", "", Kind::Text, true),
    setting("daemonize", "no", Kind::Bool, true),
    setting("pidfile", "", Kind::Text, true),
    setting("dir", ".", Kind::Text, true),
    setting("dbfilename", "dump.rdb", Kind::Text, false),
    setting("save", "", Kind::Text, false),
    setting("appendonly", "no", Kind::Bool, false),
    setting("appendfsync", "everysec", Kind::Enum(&["always", "everysec", "no"]), false),
    // Redis's hidden test setting: microseconds to wait after loading each key, so tests can watch
    // the server while it loads.
    setting("key-load-delay", "0", Kind::Int { min: 0, max: i32::MAX as i64 }, false),
    setting("maxmemory", "0", Kind::Memory { max: i64::MAX }, false),
    setting("maxmemory-policy", "noeviction", Kind::Enum(POLICIES), false),
    setting("hz", "10", Kind::Int { min: 1, max: 500 }, false),
    setting("node-id", "0", Kind::Int { min: 0, max: 1023 }, false),
    setting("proto-max-bulk-len", "536870912", Kind::Memory { max: MAX_STRING_LEN }, false),
    setting("client-query-buffer-limit", "1073741824", Kind::Memory { max: i64::MAX }, false),
    setting("slowlog-log-slower-than", "10000", Kind::Int { min: -1, max: i64::MAX }, false),
    setting("slowlog-max-len", "128", Kind::Int { min: 0, max: i64::MAX }, false),
    setting("busy-reply-threshold", "5000", Kind::Int { min: 0, max: i64::MAX }, false),
    setting("lazyfree-lazy-user-flush", "no", Kind::Bool, false),
    setting("list-max-listpack-size", "-2", Kind::Int { min: i32::MIN as i64, max: i32::MAX as i64 }, false),
    setting("hash-max-listpack-entries", "512", Kind::Int { min: 0, max: i64::MAX }, false),
    setting("hash-max-listpack-value", "64", Kind::Int { min: 0, max: i64::MAX }, false),
    setting("set-max-intset-entries", "512", Kind::Int { min: 0, max: i64::MAX }, false),
    // Redis 7.2's listpack sets; 0 keeps 7.0's encodings (Redis 7.2's default is 128).
    setting("set-max-listpack-entries", "0", Kind::Int { min: 0, max: i64::MAX }, false),
    setting("set-max-listpack-value", "64", Kind::Int { min: 0, max: i64::MAX }, false),
    setting("zset-max-listpack-entries", "128", Kind::Int { min: 0, max: i64::MAX }, false),
    setting("zset-max-listpack-value", "64", Kind::Int { min: 0, max: i64::MAX }, false),
    setting("notify-keyspace-events", "", Kind::KeyspaceEvents, false),
    setting("client-output-buffer-limit", "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60", Kind::BufferLimits, false),
    setting("stream-node-max-bytes", "4096", Kind::Memory { max: i64::MAX }, false),
    setting("stream-node-max-entries", "100", Kind::Int { min: 0, max: i64::MAX }, false),
    // The partition count of a topic the first STREAM.PUB creates (Kafka's `num.partitions`).
    setting("stream-default-partitions", "1", Kind::Int { min: 1, max: 4096 }, false),
    setting("hll-sparse-max-bytes", "3000", Kind::Memory { max: i64::MAX }, false),
    // LAKE.*: a snapshot every this many deltas bounds the replay of any version.
    setting("lake-snapshot-interval", "100", Kind::Int { min: 1, max: i64::MAX }, false),
    setting("lake-max-document-size", "67108864", Kind::Memory { max: MAX_STRING_LEN }, false),
    // A 256-bit key (32 bytes, or 64 hex digits) that encrypts catalog records at rest.
    setting("lake-encryption-key-file", "", Kind::Text, true),
];

/// Old names Redis 7 still accepts, and the settings they stand for.
static ALIASES: &[(&str, &str)] = &[
    ("lua-time-limit", "busy-reply-threshold"),
    ("list-max-ziplist-size", "list-max-listpack-size"),
    ("hash-max-ziplist-entries", "hash-max-listpack-entries"),
    ("hash-max-ziplist-value", "hash-max-listpack-value"),
    ("zset-max-ziplist-entries", "zset-max-listpack-entries"),
    ("zset-max-ziplist-value", "zset-max-listpack-value"),
];

fn find(name: &str) -> Option<&'static Setting> {
    let name = ALIASES.iter().find(|(alias, _)| alias.eq_ignore_ascii_case(name)).map_or(name, |(_, canonical)| canonical);
    SETTINGS.iter().find(|s| s.name.eq_ignore_ascii_case(name))
}

/// Values read on every request, kept in atomics so reading them takes no lock.
#[derive(Default)]
pub struct Hot {
    pub proto_max_bulk_len: AtomicI64,
    pub query_buffer_limit: AtomicUsize,
    pub maxclients: AtomicUsize,
    pub timeout_secs: AtomicU64,
    pub slowlog_slower_than: AtomicI64,
    pub slowlog_max_len: AtomicUsize,
    /// Milliseconds a script runs before other clients get BUSY.
    pub busy_reply_threshold_ms: AtomicU64,
    pub node_id: AtomicU64,
    pub hz: AtomicU64,
    pub list_max_listpack_size: AtomicI64,
    pub hash_max_listpack_entries: AtomicUsize,
    pub hash_max_listpack_value: AtomicUsize,
    pub set_max_intset_entries: AtomicUsize,
    pub set_max_listpack_entries: AtomicUsize,
    pub set_max_listpack_value: AtomicUsize,
    pub zset_max_listpack_entries: AtomicUsize,
    pub zset_max_listpack_value: AtomicUsize,
    /// Keyspace notification flags in force (see [`crate::notify::effective`]).
    pub notify_keyspace_events: AtomicU32,
    /// The `pubsub` class of `client-output-buffer-limit` (bytes, bytes, seconds; 0 = no limit).
    pub pubsub_hard_limit: AtomicU64,
    pub pubsub_soft_limit: AtomicU64,
    pub pubsub_soft_seconds: AtomicU64,
    /// The `normal` class (every other client's pending replies).
    pub normal_hard_limit: AtomicU64,
    pub normal_soft_limit: AtomicU64,
    pub normal_soft_seconds: AtomicU64,
    pub stream_node_max_bytes: AtomicUsize,
    pub stream_node_max_entries: AtomicUsize,
    /// Past this many bytes a sparse HyperLogLog turns dense.
    pub hll_sparse_max_bytes: AtomicUsize,
    pub lake_snapshot_interval: AtomicU64,
    pub lake_max_document_size: AtomicUsize,
}

impl Hot {
    /// The collection encoding thresholds in force.
    pub fn limits(&self) -> Limits {
        Limits {
            list_max_listpack_size: self.list_max_listpack_size.load(Ordering::Relaxed),
            hash_max_entries: self.hash_max_listpack_entries.load(Ordering::Relaxed),
            hash_max_value: self.hash_max_listpack_value.load(Ordering::Relaxed),
            set_max_intset_entries: self.set_max_intset_entries.load(Ordering::Relaxed),
            set_max_listpack_entries: self.set_max_listpack_entries.load(Ordering::Relaxed),
            set_max_listpack_value: self.set_max_listpack_value.load(Ordering::Relaxed),
            zset_max_entries: self.zset_max_listpack_entries.load(Ordering::Relaxed),
            zset_max_value: self.zset_max_listpack_value.load(Ordering::Relaxed),
            stream_node_max_bytes: self.stream_node_max_bytes.load(Ordering::Relaxed),
            stream_node_max_entries: self.stream_node_max_entries.load(Ordering::Relaxed),
        }
    }
}

/// The live configuration.
pub struct Config {
    values: RwLock<BTreeMap<&'static str, String>>,
    file: Option<PathBuf>,
    /// The `user` lines of the file and command line: each a user name and its ACL rules.
    users: Vec<Vec<String>>,
    /// Shared with the parts that read settings without the configuration (the pub/sub registry).
    pub hot: Arc<Hot>,
}

/// A configuration problem, with the text Redis prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Defaults, then the file (if any), then `overrides` (`name value...` pairs from the command line).
    pub fn load(file: Option<&Path>, overrides: &[(String, String)]) -> Result<Config, ConfigError> {
        let mut config = Config {
            values: RwLock::new(SETTINGS.iter().map(|s| (s.name, s.default.to_owned())).collect()),
            file: file.map(Path::to_path_buf),
            users: Vec::new(),
            hot: Arc::new(Hot::default()),
        };
        if let Some(path) = file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| ConfigError(format!("Fatal error, can't open config file '{}': {e}", path.display())))?;
            for (number, line) in text.lines().enumerate() {
                let Some((name, value)) = parse_line(line)
                    .map_err(|e| ConfigError(format!("*** FATAL CONFIG FILE ERROR at line {}: {e} ({line})", number + 1)))?
                else {
                    continue;
                };
                if name == "user" {
                    config.users.push(user_words(line));
                    continue;
                }
                config.apply(&name, &value).map_err(|e| ConfigError(format!("*** FATAL CONFIG FILE ERROR at line {}: {e}", number + 1)))?;
            }
        }
        for (name, value) in overrides {
            if name == "user" {
                config.users.push(user_words(&format!("user {value}")));
                continue;
            }
            config.apply(name, value).map_err(|e| ConfigError(format!("*** FATAL CONFIG ERROR in argument '--{name}': {e}")))?;
        }
        config.refresh_hot();
        Ok(config)
    }

    /// Sets a value at start-up, where immutable settings are allowed.
    fn apply(&self, name: &str, value: &str) -> Result<(), String> {
        let setting = find(name).ok_or_else(|| format!("Bad directive or wrong number of arguments for '{name}'"))?;
        let normalised = normalise(setting, value, &self.get(setting.name))?;
        self.write_values().insert(setting.name, normalised);
        self.note_events(setting.name, value);
        Ok(())
    }

    /// Keyspace-event flags come from the letters given, not from the normalised text: Redis shows
    /// `KEAn` as `AKE` yet still sends `new` events.
    fn note_events(&self, name: &str, given: &str) {
        if name == "notify-keyspace-events" {
            let events = crate::notify::parse(given).unwrap_or(0);
            self.hot.notify_keyspace_events.store(crate::notify::effective(events), Ordering::Relaxed);
        }
    }

    fn read_values(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<&'static str, String>> {
        self.values.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write_values(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<&'static str, String>> {
        self.values.write().unwrap_or_else(|p| p.into_inner())
    }

    fn refresh_hot(&self) {
        let hot = &self.hot;
        hot.proto_max_bulk_len.store(self.get_i64("proto-max-bulk-len"), Ordering::Relaxed);
        hot.query_buffer_limit.store(self.get_i64("client-query-buffer-limit") as usize, Ordering::Relaxed);
        hot.maxclients.store(self.get_i64("maxclients") as usize, Ordering::Relaxed);
        hot.timeout_secs.store(self.get_i64("timeout") as u64, Ordering::Relaxed);
        hot.slowlog_slower_than.store(self.get_i64("slowlog-log-slower-than"), Ordering::Relaxed);
        hot.slowlog_max_len.store(self.get_i64("slowlog-max-len") as usize, Ordering::Relaxed);
        hot.busy_reply_threshold_ms.store(self.get_i64("busy-reply-threshold") as u64, Ordering::Relaxed);
        hot.node_id.store(self.get_i64("node-id") as u64, Ordering::Relaxed);
        hot.hz.store(self.get_i64("hz") as u64, Ordering::Relaxed);
        hot.list_max_listpack_size.store(self.get_i64("list-max-listpack-size"), Ordering::Relaxed);
        let size = |name: &str| usize::try_from(self.get_i64(name)).unwrap_or(usize::MAX);
        hot.hash_max_listpack_entries.store(size("hash-max-listpack-entries"), Ordering::Relaxed);
        hot.hash_max_listpack_value.store(size("hash-max-listpack-value"), Ordering::Relaxed);
        hot.set_max_intset_entries.store(size("set-max-intset-entries"), Ordering::Relaxed);
        hot.set_max_listpack_entries.store(size("set-max-listpack-entries"), Ordering::Relaxed);
        hot.set_max_listpack_value.store(size("set-max-listpack-value"), Ordering::Relaxed);
        hot.zset_max_listpack_entries.store(size("zset-max-listpack-entries"), Ordering::Relaxed);
        hot.zset_max_listpack_value.store(size("zset-max-listpack-value"), Ordering::Relaxed);
        let limits = parse_buffer_limits(&self.get("client-output-buffer-limit")).unwrap_or_default();
        let [hard, soft, seconds] = limits.iter().find(|(c, _)| *c == "pubsub").map_or([0; 3], |(_, l)| *l);
        hot.pubsub_hard_limit.store(hard, Ordering::Relaxed);
        hot.pubsub_soft_limit.store(soft, Ordering::Relaxed);
        hot.pubsub_soft_seconds.store(seconds, Ordering::Relaxed);
        let [hard, soft, seconds] = limits.iter().find(|(c, _)| *c == "normal").map_or([0; 3], |(_, l)| *l);
        hot.normal_hard_limit.store(hard, Ordering::Relaxed);
        hot.normal_soft_limit.store(soft, Ordering::Relaxed);
        hot.normal_soft_seconds.store(seconds, Ordering::Relaxed);
        hot.stream_node_max_bytes.store(size("stream-node-max-bytes"), Ordering::Relaxed);
        hot.stream_node_max_entries.store(size("stream-node-max-entries"), Ordering::Relaxed);
        hot.hll_sparse_max_bytes.store(size("hll-sparse-max-bytes"), Ordering::Relaxed);
        hot.lake_snapshot_interval.store(self.get_i64("lake-snapshot-interval") as u64, Ordering::Relaxed);
        hot.lake_max_document_size.store(size("lake-max-document-size"), Ordering::Relaxed);
    }

    /// The text of a setting.
    pub fn get(&self, name: &str) -> String {
        self.read_values().get(name).cloned().unwrap_or_default()
    }

    /// An integer setting (validated when set, so it always parses).
    pub fn get_i64(&self, name: &str) -> i64 {
        self.get(name).parse().unwrap_or(0)
    }

    pub fn get_bool(&self, name: &str) -> bool {
        self.get(name) == "yes"
    }

    /// CONFIG GET: every (name, value) whose name matches one of `patterns`.
    pub fn matching(&self, patterns: &[&[u8]]) -> Vec<(&'static str, String)> {
        let values = self.read_values();
        let wanted = |name: &str| patterns.iter().any(|p| crate::glob::matches(p, name.as_bytes(), true));
        let value = |name: &str| values.get(name).cloned().unwrap_or_default();
        SETTINGS
            .iter()
            .filter(|s| wanted(s.name))
            .map(|s| (s.name, value(s.name)))
            .chain(ALIASES.iter().filter(|(alias, _)| wanted(alias)).map(|(alias, canonical)| (*alias, value(canonical))))
            .collect()
    }

    /// CONFIG SET of several pairs, all or nothing.
    pub fn set(&self, pairs: &[(String, String)]) -> Result<(), String> {
        let mut validated = Vec::with_capacity(pairs.len());
        for (name, value) in pairs {
            let Some(setting) = find(name) else {
                return Err(format!("ERR Unknown option or number of arguments for CONFIG SET - '{name}'"));
            };
            if setting.immutable {
                return Err(format!("ERR CONFIG SET failed (possibly related to argument '{name}') - can't set immutable config"));
            }
            if validated.iter().any(|(n, _, _): &(&str, String, &str)| *n == setting.name) {
                return Err(format!("ERR CONFIG SET failed (possibly related to argument '{name}') - duplicate parameter"));
            }
            let current =
                validated.iter().find(|(n, _, _)| *n == setting.name).map_or_else(|| self.get(setting.name), |(_, v, _)| v.clone());
            let normalised = normalise(setting, value, &current)
                .map_err(|e| format!("ERR CONFIG SET failed (possibly related to argument '{name}') - {e}"))?;
            validated.push((setting.name, normalised, value.as_str()));
        }
        {
            let mut values = self.write_values();
            for (name, normalised, given) in validated {
                values.insert(name, normalised);
                self.note_events(name, given);
            }
        }
        self.refresh_hot();
        Ok(())
    }

    /// CONFIG REWRITE: rewrites the file in place, keeping comments and the order of lines, replacing
    /// the values of settings it names and appending settings that differ from their defaults. The
    /// `user` lines become `users` (each `user <name> <rules>`), where the first one stood.
    pub fn rewrite(&self, users: &[String]) -> Result<(), String> {
        let path = self.file.as_ref().ok_or_else(|| "ERR The server is running without a config file".to_owned())?;
        let old = std::fs::read_to_string(path).unwrap_or_default();
        let values = self.read_values().clone();
        let mut written = std::collections::HashSet::new();
        let mut out = String::new();
        let mut users_written = false;
        for line in old.lines() {
            match parse_line(line) {
                Ok(Some((name, _))) if name == "user" => {
                    if !std::mem::replace(&mut users_written, true) {
                        users.iter().for_each(|user| {
                            out.push_str(user);
                            out.push('\n');
                        });
                    }
                    continue;
                }
                Ok(Some((name, _))) => {
                    if let Some(setting) = find(&name) {
                        // A repeated setting keeps only its first line, which takes the current value.
                        if written.insert(setting.name) {
                            out.push_str(&format_line(setting.name, &values[setting.name]));
                            out.push('\n');
                        }
                        continue;
                    }
                    out.push_str(line);
                }
                _ => out.push_str(line),
            }
            out.push('\n');
        }
        for setting in SETTINGS {
            if !written.contains(setting.name) && values[setting.name] != setting.default {
                out.push_str(&format_line(setting.name, &values[setting.name]));
                out.push('\n');
            }
        }
        if !users_written {
            users.iter().for_each(|user| {
                out.push_str(user);
                out.push('\n');
            });
        }
        let temp = path.with_extension("rewrite.tmp");
        std::fs::write(&temp, out).and_then(|_| std::fs::rename(&temp, path)).map_err(|e| format!("ERR Rewriting config file: {e}"))
    }

    /// The `user` lines given at start, in order: each the user name then its rules.
    pub fn users(&self) -> &[Vec<String>] {
        &self.users
    }

    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }
}

fn format_line(name: &str, value: &str) -> String {
    if value.is_empty() {
        format!("{name} \"\"")
    } else {
        format!("{name} {value}")
    }
}

/// The words of a `user` line after `user`, split as the line's other values are.
fn user_words(line: &str) -> Vec<String> {
    let mut scratch = Vec::new();
    let mut spans = Vec::new();
    if split_inline_args(line.trim().as_bytes(), &mut scratch, &mut spans).is_err() {
        return Vec::new();
    }
    spans.iter().skip(1).map(|s| String::from_utf8_lossy(&scratch[s.clone()]).into_owned()).collect()
}

/// Splits a config line into its name and value; `None` for blank lines and comments.
fn parse_line(line: &str) -> Result<Option<(String, String)>, String> {
    let trimmed = line.trim();
    if trimmed.is_empty() || trimmed.starts_with('#') {
        return Ok(None);
    }
    let mut scratch = Vec::new();
    let mut spans = Vec::new();
    split_inline_args(trimmed.as_bytes(), &mut scratch, &mut spans).map_err(|_| "Unbalanced quotes in configuration line".to_owned())?;
    let words: Vec<String> = spans.iter().map(|s| String::from_utf8_lossy(&scratch[s.clone()]).into_owned()).collect();
    match words.split_first() {
        Some((name, rest)) => Ok(Some((name.to_ascii_lowercase(), rest.join(" ")))),
        None => Ok(None),
    }
}

/// Validates `value` and returns its canonical text (`current` is the value it replaces).
fn normalise(setting: &Setting, value: &str, current: &str) -> Result<String, String> {
    match setting.kind {
        Kind::Int { min, max } => {
            let n: i64 = value.parse().map_err(|_| "argument couldn't be parsed into an integer".to_owned())?;
            if n < min || n > max {
                return Err(format!("argument must be between {min} and {max} inclusive"));
            }
            Ok(n.to_string())
        }
        Kind::Memory { max } => match parse_memory(value) {
            Some(n) if n <= max => Ok(n.to_string()),
            Some(_) => Err(format!("argument must be between 0 and {max} inclusive")),
            None => Err("argument must be a memory value".to_owned()),
        },
        Kind::Bool => match value.to_ascii_lowercase().as_str() {
            "yes" => Ok("yes".to_owned()),
            "no" => Ok("no".to_owned()),
            _ => Err("argument must be 'yes' or 'no'".to_owned()),
        },
        Kind::Enum(choices) => {
            let lower = value.to_ascii_lowercase();
            choices
                .iter()
                .find(|c| **c == lower)
                .map(|c| (*c).to_owned())
                .ok_or_else(|| "argument(s) must be one of the following: ".to_owned() + &choices.join(", "))
        }
        Kind::Text => Ok(value.to_owned()),
        Kind::KeyspaceEvents => crate::notify::parse(value).map(crate::notify::format),
        Kind::BufferLimits => {
            let mut limits = parse_buffer_limits(current).unwrap_or_default();
            for (class, values) in parse_buffer_limits(value)? {
                limits.retain(|(c, _)| *c != class);
                limits.push((class, values));
            }
            limits.sort_by_key(|(c, _)| BUFFER_CLASSES.iter().position(|b| b == c));
            Ok(limits.iter().map(|(class, [h, s, t])| format!("{class} {h} {s} {t}")).collect::<Vec<_>>().join(" "))
        }
    }
}

/// Client classes of `client-output-buffer-limit`, in the order CONFIG GET shows them.
const BUFFER_CLASSES: [&str; 3] = ["normal", "slave", "pubsub"];

/// Parses `client-output-buffer-limit` groups (`replica` is an alias of `slave`), in
/// [`BUFFER_CLASSES`] order; a class named twice keeps its last limits.
fn parse_buffer_limits(value: &str) -> Result<Vec<(&'static str, [u64; 3])>, String> {
    let words: Vec<&str> = value.split_whitespace().collect();
    if !words.len().is_multiple_of(4) {
        return Err("Wrong number of arguments in buffer limit configuration.".to_owned());
    }
    let mut limits: Vec<(&'static str, [u64; 3])> = Vec::new();
    for group in words.chunks(4) {
        let class = match group[0].to_ascii_lowercase().as_str() {
            "normal" => "normal",
            "slave" | "replica" => "slave",
            "pubsub" => "pubsub",
            _ => return Err("Invalid client class specified in buffer limit configuration.".to_owned()),
        };
        let bad = || "Error in hard, soft or soft_seconds setting in buffer limit configuration.".to_owned();
        let hard = parse_memory(group[1]).ok_or_else(bad)?;
        let soft = parse_memory(group[2]).ok_or_else(bad)?;
        let seconds = group[3].parse::<u64>().map_err(|_| bad())?;
        limits.retain(|(c, _)| *c != class);
        limits.push((class, [hard as u64, soft as u64, seconds]));
    }
    limits.sort_by_key(|(c, _)| BUFFER_CLASSES.iter().position(|b| b == c));
    Ok(limits)
}

/// Parses `100`, `1k`, `1kb`, `2mb`, `1gb` as redis.conf does (k = 1000, kb = 1024).
pub fn parse_memory(text: &str) -> Option<i64> {
    let lower = text.to_ascii_lowercase();
    let split = lower.find(|c: char| !c.is_ascii_digit() && c != '-').unwrap_or(lower.len());
    let (digits, unit) = lower.split_at(split);
    let n: i64 = digits.parse().ok()?;
    let multiplier: i64 = match unit {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    n.checked_mul(multiplier).filter(|n| *n >= 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_then_overrides() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.conf");
        std::fs::write(&path, "# comment\nport 7000\nrequirepass \"a b\"\nproto-max-bulk-len 1mb\n").unwrap();
        let config = Config::load(Some(&path), &[("port".into(), "7001".into())]).unwrap();
        assert_eq!(config.get("port"), "7001");
        assert_eq!(config.get("requirepass"), "a b");
        assert_eq!(config.hot.proto_max_bulk_len.load(Ordering::Relaxed), 1024 * 1024);
        assert!(Config::load(None, &[("nope".into(), "1".into())]).is_err());
    }

    #[test]
    fn set_is_validated_and_atomic() {
        let config = Config::load(None, &[]).unwrap();
        let err = config.set(&[("maxclients".into(), "5".into()), ("timeout".into(), "x".into())]).unwrap_err();
        assert!(err.contains("'timeout'"), "{err}");
        assert_eq!(config.get("maxclients"), "10000");
        assert!(config.set(&[("port".into(), "1".into())]).unwrap_err().contains("immutable"));
        config.set(&[("LOGLEVEL".into(), "WARNING".into())]).unwrap();
        config.set(&[("zset-max-listpack-entries".into(), "7".into())]).unwrap();
        config.set(&[("hash-max-ziplist-entries".into(), "9".into())]).unwrap();
        assert_eq!(config.get("hash-max-listpack-entries"), "9");
        assert_eq!(config.matching(&[b"hash-max-ziplist-entries"]), vec![("hash-max-ziplist-entries", "9".to_owned())]);
        assert_eq!(config.hot.limits().zset_max_entries, 7);
        assert_eq!(config.hot.limits().hash_max_entries, 9);
        assert_eq!(config.get("loglevel"), "warning");
    }

    #[test]
    fn notify_events_and_buffer_limits_normalise_as_redis_does() {
        let config = Config::load(None, &[]).unwrap();
        config.set(&[("notify-keyspace-events".into(), "Exn".into())]).unwrap();
        assert_eq!(config.get("notify-keyspace-events"), "xnE");
        let err = config.set(&[("notify-keyspace-events".into(), "KEq".into())]).unwrap_err();
        assert!(err.ends_with("Invalid event class character. Use 'Ag$lshzxeKEtmdn'."), "{err}");
        config.set(&[("client-output-buffer-limit".into(), "pubsub 1mb 512kb 10".into())]).unwrap();
        assert_eq!(config.get("client-output-buffer-limit"), "normal 0 0 0 slave 268435456 67108864 60 pubsub 1048576 524288 10");
        assert_eq!(config.hot.pubsub_hard_limit.load(Ordering::Relaxed), 1048576);
        config.set(&[("client-output-buffer-limit".into(), "normal 1k 2kb 3 replica 1 2 3".into())]).unwrap();
        assert_eq!(config.get("client-output-buffer-limit"), "normal 1000 2048 3 slave 1 2 3 pubsub 1048576 524288 10");
        for (bad, text) in [
            ("pubsub 1 2", "Wrong number of arguments in buffer limit configuration."),
            ("foo 1 2 3", "Invalid client class specified in buffer limit configuration."),
            ("pubsub 1x 2 3", "Error in hard, soft or soft_seconds setting in buffer limit configuration."),
        ] {
            let err = config.set(&[("client-output-buffer-limit".into(), bad.into())]).unwrap_err();
            assert!(err.ends_with(text), "{err}");
        }
    }

    #[test]
    fn rewrite_keeps_comments() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.conf");
        std::fs::write(&path, "# keep me\nmaxclients 5\n").unwrap();
        let config = Config::load(Some(&path), &[]).unwrap();
        config.set(&[("maxclients".into(), "6".into()), ("timeout".into(), "9".into())]).unwrap();
        config.rewrite(&[]).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "# keep me\nmaxclients 6\ntimeout 9\n");
    }
}
