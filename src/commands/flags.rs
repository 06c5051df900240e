//! Command flags, with the names COMMAND INFO prints.

pub const WRITE: u32 = 1;
pub const READONLY: u32 = 1 << 1;
pub const DENYOOM: u32 = 1 << 2;
pub const ADMIN: u32 = 1 << 3;
pub const PUBSUB: u32 = 1 << 4;
pub const NOSCRIPT: u32 = 1 << 5;
pub const BLOCKING: u32 = 1 << 6;
pub const LOADING: u32 = 1 << 7;
pub const STALE: u32 = 1 << 8;
pub const SKIP_MONITOR: u32 = 1 << 9;
pub const SKIP_SLOWLOG: u32 = 1 << 10;
pub const FAST: u32 = 1 << 11;
pub const NO_AUTH: u32 = 1 << 12;
pub const MAY_REPLICATE: u32 = 1 << 13;
pub const ALLOW_BUSY: u32 = 1 << 14;
pub const NO_MULTI: u32 = 1 << 15;
/// The command may be called without any key (EVAL, FCALL with `numkeys` 0).
pub const NO_MANDATORY_KEYS: u32 = 1 << 17;
/// Refused while a replica loads its data in the background (SAVE, BGSAVE); printed only.
pub const NO_ASYNC_LOADING: u32 = 1 << 18;
/// Key positions depend on the arguments (a `numkeys` argument); the row has a keys function.
pub const MOVABLE_KEYS: u32 = 1 << 16;

/// Flag names in the order Redis prints them.
pub const FLAG_NAMES: &[(u32, &str)] = &[
    (WRITE, "write"),
    (READONLY, "readonly"),
    (DENYOOM, "denyoom"),
    (ADMIN, "admin"),
    (PUBSUB, "pubsub"),
    (NOSCRIPT, "noscript"),
    (BLOCKING, "blocking"),
    (LOADING, "loading"),
    (STALE, "stale"),
    (SKIP_MONITOR, "skip_monitor"),
    (SKIP_SLOWLOG, "skip_slowlog"),
    (FAST, "fast"),
    (NO_AUTH, "no_auth"),
    (MAY_REPLICATE, "may_replicate"),
    (NO_MANDATORY_KEYS, "no_mandatory_keys"),
    (ALLOW_BUSY, "allow_busy"),
    (NO_ASYNC_LOADING, "no_async_loading"),
    (NO_MULTI, "no_multi"),
    (MOVABLE_KEYS, "movablekeys"),
];

// strata's own flags, read by admission (`commands::admission`); COMMAND INFO does not print them.

/// Runs with the gate's write side and the Lua VM at hand: EXEC, scripts, and the SCRIPT and
/// FUNCTION subcommands that use the VM (not KILL and STATS, which must reach a busy script).
pub const RUNS_ALONE: u32 = 1 << 20;
/// Acts on a transaction instead of being queued in it (EXEC, DISCARD, MULTI, WATCH, QUIT, RESET).
pub const TX_CONTROL: u32 = 1 << 21;
/// Allowed to a RESP2 client with subscriptions: (P|S)(UN)SUBSCRIBE, PING, QUIT, RESET.
pub const SUBSCRIBED_OK: u32 = 1 << 22;
/// May write databases other than the session's (MOVE, COPY ... DB, SWAPDB): runs alone whenever
/// anyone is blocked, since the per-key check sees only the session's database.
pub const WRITES_OTHER_DBS: u32 = 1 << 23;
