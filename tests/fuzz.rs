//! Fuzz targets, on stable Rust: seeded generators with shrinking (proptest), so a failure prints the
//! smallest input that still fails and its seed replays it. Each target feeds strata what the
//! network or the disk could hand it and asserts only that nothing panics and the server still
//! answers afterwards:
//! - `resp_requests`: bytes for the request parser, built from RESP tokens and noise;
//! - `command_arguments`: every command and subcommand of the table with arguments drawn from
//!   numbers at the edges, option keywords, patterns and noise, against a keyspace holding every type;
//! - `dump_payloads`: DUMP payloads of every type, damaged, through RESTORE;
//! - `lsm_files`: a store's WAL, tables and manifest, damaged, opened and read back;
//! - `lua_replies`: Lua values of every shape returned by scripts, in RESP2 and RESP3.
//!
//! The suite runs a few hundred cases per target (`PROPTEST_CASES` sets more);
//! `scripts/fuzz.sh [seconds] [target]` runs them for a chosen time.

use std::path::Path;

use proptest::prelude::*;
use strata::commands::harness::Harness;
use strata::commands::registry;
use strata::engine::lsm::{Db, Options, SyncMode};
use strata::resp::{parse_request, ParseLimits, Reply, RequestBuf};

/// `default_cases` per target in the suite, or `PROPTEST_CASES` when set (`scripts/fuzz.sh`).
fn config(default_cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|cases| cases.parse().ok()).unwrap_or(default_cases);
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

/// RESP tokens and noise, concatenated into a request stream.
fn resp_bytes() -> impl Strategy<Value = Vec<u8>> {
    let token = prop_oneof![
        Just(b"*".to_vec()),
        Just(b"$".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"-1".to_vec()),
        Just(b"0".to_vec()),
        Just(b"3".to_vec()),
        Just(b"9223372036854775807".to_vec()),
        Just(b"99999999999999999999".to_vec()),
        Just(b"PING".to_vec()),
        Just(b"SET k v".to_vec()),
        Just(b"\"a b\" 'c'".to_vec()),
        Just(b"\0".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..8),
    ];
    proptest::collection::vec(token, 0..40).prop_map(|tokens| tokens.concat())
}

/// Arguments that reach the interesting branches of argument parsing.
fn argument() -> impl Strategy<Value = Vec<u8>> {
    let word = prop_oneof![
        Just("0"),
        Just("1"),
        Just("-1"),
        Just("2"),
        Just("10"),
        Just("4294967296"),
        Just("9223372036854775807"),
        Just("-9223372036854775808"),
        Just("1.5"),
        Just("-inf"),
        Just("+inf"),
        Just("nan"),
        Just("(1"),
        Just("[a"),
        Just("-"),
        Just("+"),
        Just("*"),
        Just("$"),
        Just(">"),
        Just(""),
        Just("s"),
        Just("z"),
        Just("h"),
        Just("l"),
        Just("str"),
        Just("x"),
        Just("q"),
        Just("missing"),
        Just("NX"),
        Just("XX"),
        Just("GT"),
        Just("LT"),
        Just("CH"),
        Just("INCR"),
        Just("WITHSCORES"),
        Just("WITHVALUES"),
        Just("LIMIT"),
        Just("COUNT"),
        Just("MATCH"),
        Just("TYPE"),
        Just("BYSCORE"),
        Just("BYLEX"),
        Just("REV"),
        Just("GET"),
        Just("SET"),
        Just("INCRBY"),
        Just("OVERFLOW"),
        Just("u8"),
        Just("i64"),
        Just("#1"),
        Just("BLOCK"),
        Just("STREAMS"),
        Just("GROUP"),
        Just("MAXLEN"),
        Just("~"),
        Just("="),
        Just("EX"),
        Just("PX"),
        Just("KEEPTTL"),
        Just("LEFT"),
        Just("RIGHT"),
        Just("BEFORE"),
        Just("WEIGHTS"),
        Just("AGGREGATE"),
        Just("STORE"),
        Just("BY"),
        Just("ALPHA"),
        Just("FROMLONLAT"),
        Just("BYRADIUS"),
        Just("km"),
        Just("a*b?[c-d]\\"),
        Just("return redis.call('get', KEYS[1])"),
        Just("#!lua name=lib\nredis.register_function('f', function() return 1 end)"),
    ];
    prop_oneof![
        4 => word.prop_map(|w| w.as_bytes().to_vec()),
        1 => proptest::collection::vec(any::<u8>(), 0..12),
    ]
}

/// Commands the fuzzer leaves out: they stop or slow the process (SHUTDOWN, DEBUG SLEEP, DEBUG
/// POPULATE with a huge count, WAIT), or write files in the working directory (SAVE and friends,
/// CONFIG SET dir/dbfilename, CONFIG REWRITE).
const LEFT_OUT: &[&str] =
    &["shutdown", "debug", "save", "bgsave", "bgrewriteaof", "config|set", "config|rewrite", "wait", "client|pause", "monitor"];

/// A keyspace with a key of every type, for commands to find.
fn seeded() -> Harness {
    let mut harness = Harness::new();
    for command in [
        &["SET", "str", "hello"][..],
        &["RPUSH", "l", "a", "b", "c"],
        &["HSET", "h", "a", "1", "b", "2"],
        &["SADD", "s", "a", "b", "1"],
        &["ZADD", "z", "1", "a", "2", "b"],
        &["XADD", "x", "1-1", "f", "v"],
        &["XGROUP", "CREATE", "x", "g", "0"],
        &["PFADD", "hll", "a", "b"],
        &["Q.PUSH", "q", "job"],
        &["GEOADD", "geo", "13.36", "38.11", "palermo"],
    ] {
        harness.run(command);
    }
    harness
}

/// The server still answers, once the session is back to its start (the command may have opened a
/// transaction, subscribed, or switched protocol).
fn assert_answers(harness: &mut Harness) {
    assert!(matches!(harness.run(&["RESET"]), Reply::Status(_)), "the server still answers");
    assert!(matches!(harness.run(&["PING"]), Reply::Status(_)));
    assert!(matches!(harness.run(&["DBSIZE"]), Reply::Int(_)));
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn resp_requests(bytes in resp_bytes(), unauthenticated in any::<bool>()) {
        let limits = ParseLimits { max_bulk_len: 512 * 1024 * 1024, unauthenticated };
        let mut request = RequestBuf::default();
        let mut at = 0;
        while at < bytes.len() {
            match parse_request(&bytes[at..], &mut request, limits) {
                Ok(Some(consumed)) => {
                    prop_assert!(consumed > 0 && at + consumed <= bytes.len());
                    at += consumed;
                }
                Ok(None) | Err(_) => break,
            }
        }
    }

    #[test]
    fn command_arguments(pick in any::<prop::sample::Index>(), arguments in proptest::collection::vec(argument(), 0..7)) {
        let registry = registry();
        let command = registry.all[pick.index(registry.all.len())];
        prop_assume!(!LEFT_OUT.contains(&command.name));
        let mut request: Vec<Vec<u8>> = command.name.split('|').map(|part| part.as_bytes().to_vec()).collect();
        request.extend(arguments);
        let mut harness = seeded();
        harness.run(&request);
        assert_answers(&mut harness);
    }

    #[test]
    fn dump_payloads(key in prop::sample::select(vec!["str", "l", "h", "s", "z", "x", "hll", "geo"]),
                     damage in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
                     cut in any::<prop::sample::Index>(), truncate in any::<bool>()) {
        let mut harness = seeded();
        let Reply::Bulk(payload) = harness.run(&["DUMP", key]) else { panic!("DUMP {key}") };
        let mut payload = payload.to_vec();
        for (at, byte) in damage {
            let at = at.index(payload.len());
            payload[at] ^= byte;
        }
        if truncate {
            payload.truncate(cut.index(payload.len() + 1));
        }
        harness.run(&[&b"RESTORE"[..], b"copy", b"0", &payload]);
        harness.run(&["DEBUG", "DIGEST-VALUE", "copy"]);
        harness.run(&["TYPE", "copy"]);
        assert_answers(&mut harness);
    }

    #[test]
    fn lua_replies(value in lua_value(), resp3 in any::<bool>()) {
        let mut harness = Harness::new();
        if resp3 {
            harness.run(&["HELLO", "3"]);
        }
        let script = format!("return {value}");
        harness.run(&["EVAL", &script, "0"]);
        harness.run(&["EVAL", &format!("redis.setresp(3); return {value}"), "0"]);
        assert_answers(&mut harness);
    }
}

/// Lua expressions of every shape a script may return.
fn lua_value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("nil".to_owned()),
        Just("true".to_owned()),
        Just("false".to_owned()),
        Just("0".to_owned()),
        Just("-1".to_owned()),
        Just("1.5".to_owned()),
        Just("1e308".to_owned()),
        Just("-1e308 * 10".to_owned()),
        Just("0/0".to_owned()),
        Just("9007199254740993".to_owned()),
        Just("'text'".to_owned()),
        Just("''".to_owned()),
        Just("string.rep('x', 1000)".to_owned()),
        Just("redis.status_reply('OK')".to_owned()),
        Just("redis.error_reply('ERR no')".to_owned()),
        Just("redis.error_reply('')".to_owned()),
        Just("{ok = 'fine'}".to_owned()),
        Just("{err = 'bad'}".to_owned()),
        Just("{double = 3.5}".to_owned()),
        Just("{big_number = '123'}".to_owned()),
        Just("{map = {a = 1}}".to_owned()),
        Just("{set = {a = true}}".to_owned()),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(|items| format!("{{{}}}", items.join(", "))),
            (inner.clone(), inner).prop_map(|(a, b)| format!("{{x = {a}, [1] = {b}}}")),
        ]
    })
}

/// A store of a few tables and a WAL tail, built once per run.
fn built_store() -> &'static Path {
    static STORE: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    STORE
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let options = Options { memtable_size: 16 << 10, block_size: 512, sync: SyncMode::None, ..Options::default() };
            let db = Db::open(dir.path(), options).unwrap();
            for i in 0..2000u32 {
                db.put(format!("key{i:05}").as_bytes(), format!("value-{i}").as_bytes()).unwrap();
                if i % 7 == 0 {
                    db.delete(format!("key{:05}", i / 2).as_bytes()).unwrap();
                }
            }
            db.close().unwrap();
            dir
        })
        .path()
}

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn lsm_files(file in any::<prop::sample::Index>(), damage in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
                 cut in any::<prop::sample::Index>(), truncate in any::<bool>()) {
        let source = built_store();
        let copy = tempfile::tempdir().unwrap();
        let mut files: Vec<_> = std::fs::read_dir(source).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_file()).collect();
        files.sort();
        for path in &files {
            std::fs::copy(path, copy.path().join(path.file_name().unwrap())).unwrap();
        }
        let victim = copy.path().join(files[file.index(files.len())].file_name().unwrap());
        let mut bytes = std::fs::read(&victim).unwrap();
        if !bytes.is_empty() {
            for (at, byte) in damage {
                let at = at.index(bytes.len());
                bytes[at] ^= byte;
            }
            if truncate {
                bytes.truncate(cut.index(bytes.len() + 1));
            }
        }
        std::fs::write(&victim, bytes).unwrap();
        if let Ok(db) = Db::open(copy.path(), Options { sync: SyncMode::None, ..Options::default() }) {
            for entry in db.range::<&[u8], _>(..) {
                if entry.is_err() {
                    break;
                }
            }
            let _ = db.get(b"key00010");
        }
    }
}
