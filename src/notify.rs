//! Keyspace notification classes: Redis's `notify-keyspace-events` letters and their bit flags.
//!
//! Handlers report events with `Ctx::notify(class, event, key)`; the registry
//! ([`super::pubsub::PubSub::notify`]) publishes them when the setting asks for the class.

/// `K`: publish to `__keyspace@<db>__:<key>`.
pub const KEYSPACE: u32 = 1 << 0;
/// `E`: publish to `__keyevent@<db>__:<event>`.
pub const KEYEVENT: u32 = 1 << 1;
/// `g`: generic commands (DEL, EXPIRE, RENAME, ...).
pub const GENERIC: u32 = 1 << 2;
/// `$`: string commands.
pub const STRING: u32 = 1 << 3;
/// `l`: list commands.
pub const LIST: u32 = 1 << 4;
/// `s`: set commands.
pub const SET: u32 = 1 << 5;
/// `h`: hash commands.
pub const HASH: u32 = 1 << 6;
/// `z`: sorted set commands.
pub const ZSET: u32 = 1 << 7;
/// `x`: keys expired.
pub const EXPIRED: u32 = 1 << 8;
/// `e`: keys evicted by maxmemory.
pub const EVICTED: u32 = 1 << 9;
/// `t`: stream commands.
pub const STREAM: u32 = 1 << 10;
/// `m`: key misses (not part of `A`).
pub const KEY_MISS: u32 = 1 << 11;
/// `d`: module key types.
pub const MODULE: u32 = 1 << 13;
/// `n`: a key was created (not part of `A`).
pub const NEW: u32 = 1 << 14;
/// `A`: alias for `g$lshzxetd`.
pub const ALL: u32 = GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;

/// Parses the setting's letters (Redis's `keyspaceEventsStringToFlags`).
pub fn parse(text: &str) -> Result<u32, String> {
    let mut flags = 0;
    for c in text.chars() {
        flags |= match c {
            'A' => ALL,
            'g' => GENERIC,
            '$' => STRING,
            'l' => LIST,
            's' => SET,
            'h' => HASH,
            'z' => ZSET,
            'x' => EXPIRED,
            'e' => EVICTED,
            'K' => KEYSPACE,
            'E' => KEYEVENT,
            't' => STREAM,
            'm' => KEY_MISS,
            'd' => MODULE,
            'n' => NEW,
            _ => return Err("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.".to_owned()),
        };
    }
    Ok(flags)
}

/// The canonical letters CONFIG GET shows (Redis's `keyspaceEventsFlagsToString`): `A` replaces the
/// classes it covers (and, as in Redis, hides `n`), then `K`, `E`, `m`.
pub fn format(flags: u32) -> String {
    let mut out = String::new();
    if flags & ALL == ALL {
        out.push('A');
    } else {
        for (flag, letter) in [
            (GENERIC, 'g'),
            (STRING, '$'),
            (LIST, 'l'),
            (SET, 's'),
            (HASH, 'h'),
            (ZSET, 'z'),
            (EXPIRED, 'x'),
            (EVICTED, 'e'),
            (STREAM, 't'),
            (MODULE, 'd'),
            (NEW, 'n'),
        ] {
            if flags & flag != 0 {
                out.push(letter);
            }
        }
    }
    for (flag, letter) in [(KEYSPACE, 'K'), (KEYEVENT, 'E'), (KEY_MISS, 'm')] {
        if flags & flag != 0 {
            out.push(letter);
        }
    }
    out
}

/// The flags that make a notification happen: none unless `K` or `E` says where to publish.
pub fn effective(flags: u32) -> u32 {
    if flags & (KEYSPACE | KEYEVENT) == 0 {
        0
    } else {
        flags
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_normalise_as_redis_does() {
        // Pairs checked against redis-server 7.0 with CONFIG SET / CONFIG GET.
        for (given, shown) in
            [("KEA", "AKE"), ("An", "A"), ("Kg$lshzxetd", "AK"), ("KEAmn", "AKEm"), ("Exn", "xnE"), ("", ""), ("gK", "gK")]
        {
            assert_eq!(format(parse(given).unwrap()), shown, "{given}");
        }
        assert!(parse("KEq").is_err());
        assert_eq!(effective(parse("A").unwrap()), 0);
        assert_ne!(effective(parse("AK").unwrap()) & NEW, NEW);
        assert_eq!(effective(parse("AKn").unwrap()) & NEW, NEW);
    }
}
