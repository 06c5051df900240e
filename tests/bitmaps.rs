//! Bitmap and HyperLogLog commands through the `redis` crate over RESP2 and RESP3: reply types,
//! error texts, encodings, TTLs, keyspace events, WATCH, large bitmaps, and HyperLogLog bytes
//! exchanged with a real redis-server in both directions. (Reply-by-reply comparisons with
//! redis-server are in tests/coll_scripts/{bitmaps,bitfield_random,hyperloglog}.txt.)

mod common;

use common::{array, as_int, bulk, err, int, ok, q, qb, status, Server};
use redis::Value;

/// Runs `test` on a fresh database over RESP2, then over RESP3.
fn both(strata: &Server, test: impl Fn(&mut redis::Connection, u8)) {
    for protocol in [2, 3] {
        let mut con = strata.con_proto(protocol);
        ok(&mut con, &["FLUSHALL"]);
        test(&mut con, protocol);
    }
}

fn raw_bytes(con: &mut redis::Connection, key: &str) -> Vec<u8> {
    match ok(con, &["GET", key]) {
        Value::BulkString(bytes) => bytes,
        other => panic!("GET {key}: {other:?}"),
    }
}

const OFFSET: &str = "ERR bit offset is not an integer or out of range";
const NOT_HLL: &str = "WRONGTYPE Key is not a valid HyperLogLog string value.";
const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

#[test]
fn setbit_getbit_replies_and_errors() {
    let strata = Server::start();
    both(&strata, |con, _| {
        assert_eq!(ok(con, &["SETBIT", "b", "7", "1"]), int(0));
        assert_eq!(ok(con, &["SETBIT", "b", "7", "0"]), int(1));
        assert_eq!(ok(con, &["SETBIT", "b", "9", "1"]), int(0));
        assert_eq!(raw_bytes(con, "b"), b"\x00\x40");
        assert_eq!(ok(con, &["GETBIT", "b", "9"]), int(1));
        assert_eq!(ok(con, &["GETBIT", "b", "1000"]), int(0));
        assert_eq!(ok(con, &["GETBIT", "nokey", "3"]), int(0));
        assert_eq!(ok(con, &["OBJECT", "ENCODING", "b"]), bulk("raw"));
        // Integers and short strings are read as their text and become raw when written.
        ok(con, &["SET", "n", "1"]);
        assert_eq!(ok(con, &["GETBIT", "n", "2"]), int(1), "'1' is 0x31");
        assert_eq!(ok(con, &["SETBIT", "n", "7", "0"]), int(1));
        assert_eq!(ok(con, &["GET", "n"]), bulk("0"));
        assert_eq!(ok(con, &["OBJECT", "ENCODING", "n"]), bulk("raw"));
        for (args, error) in [
            (&["SETBIT", "b", "-1", "1"][..], OFFSET),
            (&["SETBIT", "b", "4294967296", "1"], OFFSET),
            (&["SETBIT", "b", "1x", "1"], OFFSET),
            (&["GETBIT", "b", "-5"], OFFSET),
            (&["SETBIT", "b", "1", "2"], "ERR bit is not an integer or out of range"),
            (&["SETBIT", "b", "1", "on"], "ERR bit is not an integer or out of range"),
            (&["SETBIT", "b", "1"], "ERR wrong number of arguments for 'setbit' command"),
        ] {
            assert_eq!(err(con, args), error, "{args:?}");
        }
        ok(con, &["RPUSH", "list", "a"]);
        assert_eq!(err(con, &["SETBIT", "list", "0", "1"]), WRONGTYPE);
        assert_eq!(err(con, &["GETBIT", "list", "0"]), WRONGTYPE);
    });
}

#[test]
fn setbit_creates_grows_and_keeps_the_ttl() {
    let strata = Server::start();
    let mut con = strata.con();
    ok(&mut con, &["SET", "t", "abc", "EX", "100"]);
    ok(&mut con, &["SETBIT", "t", "100", "1"]);
    assert!(as_int(&ok(&mut con, &["TTL", "t"])) > 90, "SETBIT edits the value in place");
    assert_eq!(ok(&mut con, &["STRLEN", "t"]), int(13));
    // The offset limit follows proto-max-bulk-len, as in Redis.
    ok(&mut con, &["CONFIG", "SET", "proto-max-bulk-len", "1mb"]);
    assert_eq!(err(&mut con, &["SETBIT", "t", "8388608", "1"]), OFFSET);
    assert_eq!(ok(&mut con, &["SETBIT", "t", "8388607", "1"]), int(0));
}

#[test]
fn bitcount_and_bitpos_over_a_large_bitmap() {
    let strata = Server::start();
    let mut con = strata.con();
    // 1 MB with a known pattern: every 0x55 byte has four bits set.
    let mut bytes = vec![0x55u8; 1 << 20];
    bytes[700_000] = 0xff;
    qb(&mut con, &[b"SET".to_vec(), b"m".to_vec(), bytes.clone()]).unwrap();
    let total = 4 * (1 << 20) + 4;
    assert_eq!(ok(&mut con, &["BITCOUNT", "m"]), int(total));
    assert_eq!(ok(&mut con, &["BITCOUNT", "m", "1", "-2"]), int(total - 8));
    assert_eq!(ok(&mut con, &["BITCOUNT", "m", "3", "8388604", "BIT"]), int(total - 3));
    assert_eq!(ok(&mut con, &["BITPOS", "m", "1", "700000", "-1"]), int(700_000 * 8));
    assert_eq!(ok(&mut con, &["BITPOS", "m", "0", "700000", "700000"]), int(-1));
    assert_eq!(ok(&mut con, &["BITPOS", "m", "0", "5600000", "5600007", "BIT"]), int(-1));
    let zeros = vec![0u8; 1 << 20];
    qb(&mut con, &[b"SET".to_vec(), b"z".to_vec(), zeros]).unwrap();
    assert_eq!(ok(&mut con, &["BITPOS", "z", "1"]), int(-1));
    assert_eq!(ok(&mut con, &["SETBIT", "z", "8000000", "1"]), int(0));
    assert_eq!(ok(&mut con, &["BITPOS", "z", "1"]), int(8_000_000));
    assert_eq!(ok(&mut con, &["BITPOS", "z", "1", "1000001"]), int(-1));
    assert_eq!(ok(&mut con, &["BITOP", "AND", "r", "m", "z"]), int(1 << 20));
    assert_eq!(ok(&mut con, &["BITCOUNT", "r"]), int(0), "0x55 and the one bit at 8000000 do not meet");
    assert_eq!(ok(&mut con, &["BITOP", "OR", "r", "m", "z"]), int(1 << 20));
    assert_eq!(ok(&mut con, &["BITCOUNT", "r"]), int(total + 1));
    assert_eq!(ok(&mut con, &["BITOP", "NOT", "r", "m"]), int(1 << 20));
    assert_eq!(ok(&mut con, &["BITCOUNT", "r"]), int((1 << 23) - total));
}

#[test]
fn bitcount_bitpos_argument_rules() {
    let strata = Server::start();
    both(&strata, |con, _| {
        ok(con, &["SET", "s", "foobar"]);
        assert_eq!(ok(con, &["BITCOUNT", "s"]), int(26));
        assert_eq!(ok(con, &["BITCOUNT", "s", "1", "1"]), int(6));
        assert_eq!(ok(con, &["BITCOUNT", "s", "5", "30", "BIT"]), int(17));
        assert_eq!(ok(con, &["BITCOUNT", "s", "-1", "-2", "junk"]), int(0), "an empty negative range answers before the unit");
        assert_eq!(err(con, &["BITCOUNT", "s", "0"]), "ERR syntax error");
        assert_eq!(err(con, &["BITCOUNT", "s", "0", "1", "bits"]), "ERR syntax error");
        assert_eq!(err(con, &["BITCOUNT", "s", "a", "1"]), "ERR value is not an integer or out of range");
        assert_eq!(ok(con, &["BITCOUNT", "nokey", "a", "b", "c"]), int(0), "a missing key is looked up first");
        assert_eq!(ok(con, &["BITPOS", "s", "1"]), int(1));
        assert_eq!(ok(con, &["BITPOS", "s", "0", "2", "-1", "BYTE"]), int(16));
        assert_eq!(ok(con, &["BITPOS", "nokey", "0"]), int(0));
        assert_eq!(ok(con, &["BITPOS", "nokey", "1", "x"]), int(-1));
        assert_eq!(err(con, &["BITPOS", "s", "2"]), "ERR The bit argument must be 1 or 0.");
        assert_eq!(err(con, &["BITPOS", "s", "x"]), "ERR value is not an integer or out of range");
        assert_eq!(err(con, &["BITPOS", "s", "1", "0", "1", "2"]), "ERR syntax error");
        ok(con, &["SADD", "set", "a"]);
        assert_eq!(err(con, &["BITCOUNT", "set", "x", "y"]), WRONGTYPE);
        assert_eq!(err(con, &["BITPOS", "set", "1"]), WRONGTYPE);
    });
}

#[test]
fn bitop_results_ttl_and_errors() {
    let strata = Server::start();
    both(&strata, |con, _| {
        ok(con, &["SET", "a", "abc"]);
        ok(con, &["SET", "b", "a"]);
        ok(con, &["SET", "dest", "old", "EX", "100"]);
        assert_eq!(ok(con, &["BITOP", "AND", "dest", "a", "b"]), int(3));
        assert_eq!(raw_bytes(con, "dest"), b"a\x00\x00");
        assert_eq!(ok(con, &["TTL", "dest"]), int(-1), "the destination is replaced");
        assert_eq!(ok(con, &["OBJECT", "ENCODING", "dest"]), bulk("raw"));
        assert_eq!(ok(con, &["BITOP", "xor", "dest", "a", "a"]), int(3));
        assert_eq!(raw_bytes(con, "dest"), b"\x00\x00\x00");
        assert_eq!(ok(con, &["BITOP", "OR", "dest", "nokey", "nokey2"]), int(0));
        assert_eq!(ok(con, &["EXISTS", "dest"]), int(0), "an empty result deletes the destination");
        assert_eq!(err(con, &["BITOP", "NOT", "dest", "a", "b"]), "ERR BITOP NOT must be called with a single source key.");
        assert_eq!(err(con, &["BITOP", "NAND", "dest", "a"]), "ERR syntax error");
        ok(con, &["HSET", "h", "f", "v"]);
        assert_eq!(err(con, &["BITOP", "OR", "dest", "a", "h"]), WRONGTYPE);
        assert_eq!(ok(con, &["BITOP", "OR", "h", "a"]), int(3), "any destination type is overwritten");
        assert_eq!(ok(con, &["TYPE", "h"]), status("string"));
    });
}

#[test]
fn bitfield_replies_overflow_and_errors() {
    let strata = Server::start();
    both(&strata, |con, protocol| {
        assert_eq!(
            ok(con, &["BITFIELD", "f", "SET", "u8", "0", "255", "GET", "u8", "0", "INCRBY", "u8", "0", "10", "GET", "i4", "#1"]),
            array(vec![int(0), int(255), int(9), int(-7)])
        );
        assert_eq!(
            ok(con, &["BITFIELD", "f", "OVERFLOW", "FAIL", "INCRBY", "u8", "0", "300", "OVERFLOW", "SAT", "INCRBY", "u8", "0", "300"]),
            array(vec![Value::Nil, int(255)]),
            "FAIL answers nil (RESP{protocol})"
        );
        assert_eq!(
            ok(con, &["BITFIELD", "f", "SET", "i64", "0", "-1", "GET", "i64", "0", "GET", "u63", "1"]),
            array(vec![int(-72057594037927936), int(-1), int(i64::MAX)])
        );
        assert_eq!(ok(con, &["BITFIELD", "f"]), array(vec![]));
        assert_eq!(ok(con, &["BITFIELD", "nokey", "GET", "u8", "0"]), array(vec![int(0)]));
        assert_eq!(ok(con, &["EXISTS", "nokey"]), int(0), "GET alone creates nothing");
        assert_eq!(ok(con, &["BITFIELD_RO", "f", "GET", "u4", "0"]), array(vec![int(15)]));
        let invalid = "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";
        for (args, error) in [
            (&["BITFIELD", "f", "GET", "u64", "0"][..], invalid),
            (&["BITFIELD", "f", "GET", "i65", "0"], invalid),
            (&["BITFIELD", "f", "GET", "x8", "0"], invalid),
            (&["BITFIELD", "f", "GET", "u8", "-1"], OFFSET),
            (&["BITFIELD", "f", "GET", "u8", "#x"], OFFSET),
            (&["BITFIELD", "f", "SET", "u8", "0", "x"], "ERR value is not an integer or out of range"),
            (&["BITFIELD", "f", "OVERFLOW", "MAYBE"], "ERR Invalid OVERFLOW type specified"),
            (&["BITFIELD", "f", "GET", "u8"], "ERR syntax error"),
            (&["BITFIELD", "f", "FROB", "u8", "0"], "ERR syntax error"),
            (&["BITFIELD_RO", "f", "SET", "u8", "0", "1"], "ERR BITFIELD_RO only supports the GET subcommand"),
            (&["BITFIELD_RO", "f", "INCRBY", "u8", "0", "x"], "ERR value is not an integer or out of range"),
        ] {
            assert_eq!(err(con, args), error, "{args:?}");
        }
        // A failed argument anywhere leaves the key untouched.
        let before = raw_bytes(con, "f");
        err(con, &["BITFIELD", "f", "SET", "u8", "0", "1", "GET", "u64", "0"]);
        assert_eq!(raw_bytes(con, "f"), before);
        ok(con, &["LPUSH", "l", "x"]);
        assert_eq!(err(con, &["BITFIELD", "l", "GET", "u8", "0"]), WRONGTYPE);
        assert_eq!(err(con, &["BITFIELD_RO", "l", "GET", "u8", "0"]), WRONGTYPE);
    });
}

#[test]
fn hyperloglog_replies_and_errors() {
    let strata = Server::start();
    both(&strata, |con, _| {
        assert_eq!(ok(con, &["PFADD", "h", "a", "b", "c"]), int(1));
        assert_eq!(ok(con, &["PFADD", "h", "a"]), int(0));
        assert_eq!(ok(con, &["PFADD", "empty"]), int(1), "creating counts as a change");
        assert_eq!(ok(con, &["PFCOUNT", "h"]), int(3));
        assert_eq!(ok(con, &["PFCOUNT", "h", "empty", "nokey"]), int(3));
        assert_eq!(ok(con, &["PFCOUNT", "nokey"]), int(0));
        assert_eq!(ok(con, &["PFADD", "h2", "c", "d"]), int(1));
        assert_eq!(ok(con, &["PFMERGE", "m", "h", "h2"]), Value::Okay);
        assert_eq!(ok(con, &["PFCOUNT", "m"]), int(4));
        assert_eq!(ok(con, &["OBJECT", "ENCODING", "m"]), bulk("raw"));
        assert_eq!(ok(con, &["PFDEBUG", "ENCODING", "m"]), status("sparse"));
        assert_eq!(ok(con, &["PFDEBUG", "TODENSE", "m"]), int(1));
        assert_eq!(ok(con, &["PFDEBUG", "ENCODING", "m"]), status("dense"));
        assert_eq!(ok(con, &["PFDEBUG", "TODENSE", "m"]), int(0));
        assert_eq!(ok(con, &["STRLEN", "m"]), int(12304));
        assert_eq!(ok(con, &["PFCOUNT", "m"]), int(4));
        let Value::Array(registers) = ok(con, &["PFDEBUG", "GETREG", "m"]) else { panic!("GETREG") };
        assert_eq!(registers.len(), 16384);
        assert_eq!(registers.iter().filter(|r| **r != int(0)).count(), 4);
        assert_eq!(err(con, &["PFDEBUG", "DECODE", "m"]), "ERR HLL encoding is not sparse");
        assert_eq!(ok(con, &["PFDEBUG", "DECODE", "empty"]), bulk("Z:16384"));
        assert_eq!(err(con, &["PFDEBUG", "FOO", "m"]), "ERR Unknown PFDEBUG subcommand 'FOO'");
        assert_eq!(err(con, &["PFDEBUG", "ENCODING", "nokey"]), "ERR The specified key does not exist");
        ok(con, &["SET", "str", "not a sketch"]);
        ok(con, &["SADD", "set", "x"]);
        for args in [&["PFADD", "str", "a"][..], &["PFCOUNT", "str"], &["PFCOUNT", "h", "str"], &["PFMERGE", "h", "str"]] {
            assert_eq!(err(con, args), NOT_HLL, "{args:?}");
        }
        for args in [&["PFADD", "set", "a"][..], &["PFCOUNT", "set"], &["PFMERGE", "set", "h"]] {
            assert_eq!(err(con, args), WRONGTYPE, "{args:?}");
        }
        // A sparse sketch whose opcodes cover 16383 registers.
        qb(con, &[b"SET".to_vec(), b"bad".to_vec(), b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\x80\x7f\xfe".to_vec()]).unwrap();
        for args in [&["PFCOUNT", "bad"][..], &["PFCOUNT", "bad", "h"], &["PFMERGE", "x", "bad"], &["PFDEBUG", "TODENSE", "bad"]] {
            assert_eq!(err(con, args), "INVALIDOBJ Corrupted HLL object detected", "{args:?}");
        }
        assert_eq!(err(con, &["PFADD"]), "ERR wrong number of arguments for 'pfadd' command");
    });
}

#[test]
fn hyperloglog_settings_promotion_and_ttl() {
    let strata = Server::start();
    let mut con = strata.con();
    assert_eq!(ok(&mut con, &["CONFIG", "GET", "hll-sparse-max-bytes"]), array(vec![bulk("hll-sparse-max-bytes"), bulk("3000")]));
    ok(&mut con, &["CONFIG", "SET", "hll-sparse-max-bytes", "100"]);
    let elements: Vec<String> = (0..40).map(|i| format!("e{i}")).collect();
    let mut args = vec!["PFADD", "h"];
    args.extend(elements.iter().map(String::as_str));
    ok(&mut con, &args);
    assert_eq!(ok(&mut con, &["PFDEBUG", "ENCODING", "h"]), status("dense"), "40 elements need more than 100 bytes");
    ok(&mut con, &["CONFIG", "SET", "hll-sparse-max-bytes", "3000"]);
    ok(&mut con, &["PFADD", "d", "x", "EX"]);
    ok(&mut con, &["EXPIRE", "d", "100"]);
    ok(&mut con, &["PFMERGE", "d", "h"]);
    assert!(as_int(&ok(&mut con, &["TTL", "d"])) > 90, "PFMERGE keeps the destination's TTL");
    assert_eq!(ok(&mut con, &["PFDEBUG", "ENCODING", "d"]), status("dense"), "a dense input makes the destination dense");
    let count = as_int(&ok(&mut con, &["PFCOUNT", "d"]));
    assert!((40..=44).contains(&count), "{count}");
}

#[test]
fn hyperloglog_bytes_move_between_redis_and_strata() {
    let strata = Server::start();
    let redis = Server::start_redis();
    let (mut ours, mut theirs) = (strata.con(), redis.con());
    for (key, n) in [("tiny", 3), ("sparse", 400), ("dense", 30_000)] {
        let elements: Vec<Vec<u8>> = (0..n).map(|i| format!("{key}-{i}").into_bytes()).collect();
        for chunk in elements.chunks(1000) {
            for con in [&mut ours, &mut theirs] {
                let mut args = vec![b"PFADD".to_vec(), key.as_bytes().to_vec()];
                args.extend(chunk.iter().cloned());
                qb(con, &args).unwrap();
            }
        }
        let made_by_redis = raw_bytes(&mut theirs, key);
        assert_eq!(raw_bytes(&mut ours, key), made_by_redis, "{key}: the same bytes as Redis");
        // Redis's bytes counted by strata and strata's bytes counted by Redis.
        let copy = format!("{key}-copy");
        qb(&mut ours, &[b"SET".to_vec(), copy.clone().into_bytes(), made_by_redis.clone()]).unwrap();
        qb(&mut theirs, &[b"SET".to_vec(), copy.clone().into_bytes(), raw_bytes(&mut ours, key)]).unwrap();
        let counts = [q(&mut ours, &["PFCOUNT", &copy]), q(&mut theirs, &["PFCOUNT", &copy]), q(&mut ours, &["PFCOUNT", key])];
        assert_eq!(counts[0], counts[1], "{key}");
        assert_eq!(counts[0], counts[2], "{key}");
        assert_eq!(raw_bytes(&mut ours, &copy), raw_bytes(&mut theirs, &copy), "{key}: the same cached cardinality");
    }
}

#[test]
fn keyspace_events_and_watch() {
    let strata = Server::start();
    let mut con = strata.con();
    ok(&mut con, &["CONFIG", "SET", "notify-keyspace-events", "KEA"]);
    let mut subscriber = strata.con();
    let mut pubsub = subscriber.as_pubsub();
    pubsub.psubscribe("__keyevent@0__:*").unwrap();
    for args in [
        &["SETBIT", "b", "0", "1"][..],
        &["SETBIT", "b", "0", "1"],                  // no change: no event
        &["BITFIELD", "b", "SET", "u8", "0", "128"], // no change either
        &["BITFIELD", "b", "INCRBY", "u8", "0", "1"],
        &["BITOP", "NOT", "n", "b"],
        &["BITOP", "AND", "n", "nokey"],
        &["PFADD", "h", "a"],
        &["PFADD", "h", "a"], // no change
        &["PFMERGE", "m", "h"],
        &["PING"],
    ] {
        ok(&mut con, args);
    }
    ok(&mut con, &["PUBLISH", "__keyevent@0__:end", "x"]);
    let mut events = Vec::new();
    loop {
        let message = pubsub.get_message().unwrap();
        let channel = message.get_channel_name().to_owned();
        if channel.ends_with(":end") {
            break;
        }
        events.push(format!("{} {}", channel.trim_start_matches("__keyevent@0__:"), message.get_payload::<String>().unwrap()));
    }
    assert_eq!(events, ["setbit b", "setbit b", "set n", "del n", "pfadd h", "pfadd m"]);
    drop(pubsub);

    // PFCOUNT that refreshes the cached cardinality changes the string: a WATCH sees it, as in Redis.
    let mut other = strata.con();
    ok(&mut con, &["WATCH", "h"]);
    ok(&mut other, &["PFCOUNT", "h"]);
    ok(&mut con, &["MULTI"]);
    ok(&mut con, &["PING"]);
    assert_eq!(ok(&mut con, &["EXEC"]), Value::Nil);
    ok(&mut con, &["WATCH", "h"]);
    ok(&mut other, &["PFCOUNT", "h"]);
    ok(&mut con, &["MULTI"]);
    ok(&mut con, &["PING"]);
    assert_eq!(ok(&mut con, &["EXEC"]), array(vec![status("PONG")]), "a cached count changes nothing");
}
