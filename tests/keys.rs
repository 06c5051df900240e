//! Keyspace commands: existence, renames and copies, expiry (lazy and active), SCAN, KEYS, databases.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::{array, as_int, as_text, bulk, err, eventually, int, ok, status, Server};
use redis::Value;

fn both(strata: &Server, test: impl Fn(&mut redis::Connection)) {
    for protocol in [2, 3] {
        let mut con = strata.con_proto(protocol);
        ok(&mut con, &["FLUSHALL"]);
        test(&mut con);
    }
}

#[test]
fn existence_and_deletion_counts() {
    let strata = Server::start();
    both(&strata, |con| {
        ok(con, &["MSET", "a", "1", "b", "2", "c", "3"]);
        assert_eq!(ok(con, &["EXISTS", "a", "a", "nope", "b"]), int(3), "EXISTS counts repeats");
        assert_eq!(ok(con, &["TOUCH", "a", "nope"]), int(1));
        assert_eq!(ok(con, &["DEL", "a", "a", "nope"]), int(1));
        assert_eq!(ok(con, &["UNLINK", "b", "c"]), int(2));
        assert_eq!(ok(con, &["DBSIZE"]), int(0));
    });
}

#[test]
fn ttl_replies_and_expire_options() {
    let strata = Server::start();
    both(&strata, |con| {
        assert_eq!(ok(con, &["TTL", "k"]), int(-2));
        assert_eq!(ok(con, &["PTTL", "k"]), int(-2));
        assert_eq!(ok(con, &["EXPIRETIME", "k"]), int(-2));
        assert_eq!(ok(con, &["EXPIRE", "k", "10"]), int(0));
        ok(con, &["SET", "k", "v"]);
        assert_eq!(ok(con, &["TTL", "k"]), int(-1));
        assert_eq!(ok(con, &["PEXPIRETIME", "k"]), int(-1));
        assert_eq!(ok(con, &["PERSIST", "k"]), int(0));
        assert_eq!(ok(con, &["EXPIRE", "k", "100", "XX"]), int(0), "XX: no deadline yet");
        assert_eq!(ok(con, &["EXPIRE", "k", "100", "GT"]), int(0), "GT: no deadline counts as infinite");
        assert_eq!(ok(con, &["EXPIRE", "k", "100", "NX"]), int(1));
        assert_eq!(ok(con, &["EXPIRE", "k", "200", "NX"]), int(0));
        assert_eq!(ok(con, &["EXPIRE", "k", "50", "GT"]), int(0));
        assert_eq!(ok(con, &["EXPIRE", "k", "200", "GT"]), int(1));
        assert_eq!(ok(con, &["PEXPIRE", "k", "300000", "LT"]), int(0));
        assert_eq!(ok(con, &["PEXPIRE", "k", "150000", "LT"]), int(1));
        let pttl = as_int(&ok(con, &["PTTL", "k"]));
        assert!((149_000..=150_000).contains(&pttl), "{pttl}");
        assert_eq!(ok(con, &["PERSIST", "k"]), int(1));
        assert_eq!(ok(con, &["TTL", "k"]), int(-1));
        assert_eq!(ok(con, &["EXPIREAT", "k", "1"]), int(1), "a past deadline deletes");
        assert_eq!(ok(con, &["EXISTS", "k"]), int(0));
        assert_eq!(err(con, &["EXPIRE", "k", "1", "NX", "XX"]), "ERR NX and XX, GT or LT options at the same time are not compatible");
    });
}

#[test]
fn rename_and_copy_keep_the_ttl() {
    let strata = Server::start();
    both(&strata, |con| {
        ok(con, &["SET", "src", "v", "EX", "1000"]);
        assert_eq!(ok(con, &["RENAME", "src", "dst"]), Value::Okay);
        assert!(as_int(&ok(con, &["TTL", "dst"])) > 990, "RENAME keeps the deadline");
        assert_eq!(ok(con, &["EXISTS", "src"]), int(0));
        assert_eq!(ok(con, &["COPY", "dst", "copy"]), int(1));
        assert!(as_int(&ok(con, &["TTL", "copy"])) > 990, "COPY keeps the deadline");
        assert_eq!(ok(con, &["GET", "copy"]), bulk("v"));
        assert_eq!(ok(con, &["COPY", "dst", "copy"]), int(0), "COPY won't overwrite without REPLACE");
        ok(con, &["SET", "plain", "p"]);
        assert_eq!(ok(con, &["COPY", "plain", "copy", "REPLACE"]), int(1));
        assert_eq!(ok(con, &["TTL", "copy"]), int(-1), "REPLACE takes the source's (absent) deadline");
        assert_eq!(ok(con, &["RENAMENX", "plain", "dst"]), int(0));
        assert_eq!(ok(con, &["RENAMENX", "plain", "fresh"]), int(1));
        assert_eq!(ok(con, &["RENAME", "fresh", "fresh"]), Value::Okay);
        assert_eq!(err(con, &["RENAME", "nope", "x"]), "ERR no such key");
        // RENAME over a key with a deadline: the target takes the source's (none).
        ok(con, &["SET", "t", "1", "EX", "100"]);
        ok(con, &["RENAME", "fresh", "t"]);
        assert_eq!(ok(con, &["TTL", "t"]), int(-1));
        // Across databases.
        assert_eq!(ok(con, &["COPY", "dst", "other", "DB", "3"]), int(1));
        assert_eq!(ok(con, &["MOVE", "dst", "4"]), int(1));
        assert_eq!(ok(con, &["EXISTS", "dst", "other"]), int(0));
        ok(con, &["SELECT", "3"]);
        assert!(as_int(&ok(con, &["TTL", "other"])) > 990);
        ok(con, &["SELECT", "4"]);
        assert!(as_int(&ok(con, &["TTL", "dst"])) > 990, "MOVE keeps the deadline");
        ok(con, &["SELECT", "0"]);
    });
}

#[test]
fn lazy_expiry_frees_keys_on_access() {
    let strata = Server::start_with(&["--hz", "1"]);
    let mut con = strata.con();
    ok(&mut con, &["SET", "k", "v", "PX", "300"]);
    ok(&mut con, &["SET", "k2", "v", "PX", "300"]);
    assert_eq!(ok(&mut con, &["GET", "k"]), bulk("v"));
    // (With hz 1 the background cycle runs once a second, so the reads below usually find the keys
    // still stored and expire them on access; either way none may be returned.)
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(ok(&mut con, &["GET", "k"]), Value::Nil);
    assert_eq!(ok(&mut con, &["TTL", "k2"]), int(-2));
    assert_eq!(ok(&mut con, &["EXISTS", "k", "k2"]), int(0));
    assert_eq!(ok(&mut con, &["KEYS", "*"]), array(vec![]));
}

#[test]
fn active_expiry_frees_keys_nobody_touches() {
    let strata = Server::start();
    let mut con = strata.con();
    // One pipeline, so all 500 are in well before the first deadline (a second away).
    let mut pipe = redis::pipe();
    for i in 0..500 {
        pipe.cmd("SET").arg(format!("volatile:{i}")).arg("v").arg("PX").arg(1000);
    }
    for i in 0..10 {
        pipe.cmd("SET").arg(format!("kept:{i}")).arg("v");
    }
    pipe.cmd("DBSIZE");
    let replies: Vec<Value> = pipe.query(&mut con).unwrap();
    assert_eq!(replies.last(), Some(&int(510)));
    // DBSIZE and INFO don't look keys up: only the background cycle can free them.
    assert!(eventually(Duration::from_secs(10), || ok(&mut con, &["DBSIZE"]) == int(10)), "DBSIZE drops to the 10 kept keys");
    let info = as_text(&ok(&mut con, &["INFO", "stats"]));
    let expired: i64 = info.lines().find_map(|l| l.strip_prefix("expired_keys:")).expect("expired_keys").trim().parse().unwrap();
    assert_eq!(expired, 500);
    let keyspace = as_text(&ok(&mut con, &["INFO", "keyspace"]));
    assert!(keyspace.contains("db0:keys=10,expires=0,"), "{keyspace}");
}

#[test]
fn scan_sees_every_key_present_for_the_whole_scan() {
    let strata = Server::start();
    let mut con = strata.con();
    let mut churn = strata.con();
    let stable: HashSet<String> = (0..2000).map(|i| format!("stable:{i}")).collect();
    for chunk in stable.iter().collect::<Vec<_>>().chunks(200) {
        let mut args = vec!["MSET"];
        for key in chunk {
            args.push(key);
            args.push("v");
        }
        ok(&mut con, &args);
    }
    let mut seen = HashSet::new();
    let mut cursor = "0".to_string();
    let mut calls = 0;
    loop {
        let reply = ok(&mut con, &["SCAN", &cursor, "COUNT", "7"]);
        let Value::Array(parts) = reply else { panic!("SCAN reply {reply:?}") };
        assert_eq!(parts.len(), 2);
        cursor = as_text(&parts[0]);
        let Value::Array(keys) = &parts[1] else { panic!("SCAN keys {:?}", parts[1]) };
        seen.extend(keys.iter().map(as_text));
        // Keys come and go while the scan runs; they may or may not be returned.
        ok(&mut churn, &["SET", &format!("churn:{calls}"), "v"]);
        if calls >= 3 {
            ok(&mut churn, &["DEL", &format!("churn:{}", calls - 3)]);
        }
        calls += 1;
        if cursor == "0" {
            break;
        }
        assert!(calls < 10_000, "SCAN doesn't end");
    }
    let missed: Vec<_> = stable.difference(&seen).collect();
    assert!(missed.is_empty(), "SCAN missed {} keys, e.g. {:?}", missed.len(), &missed[..missed.len().min(5)]);
}

#[test]
fn scan_options_and_reply_shape() {
    let strata = Server::start();
    both(&strata, |con| {
        ok(con, &["MSET", "user:1", "a", "user:2", "b", "other", "c"]);
        let mut found = Vec::new();
        let mut cursor = "0".to_string();
        loop {
            let reply = ok(con, &["SCAN", &cursor, "MATCH", "user:*", "COUNT", "1000", "TYPE", "string"]);
            let Value::Array(parts) = reply else { panic!() };
            assert!(matches!(parts[0], Value::BulkString(_)), "the cursor is a bulk string: {:?}", parts[0]);
            cursor = as_text(&parts[0]);
            let Value::Array(keys) = &parts[1] else { panic!() };
            found.extend(keys.iter().map(as_text));
            if cursor == "0" {
                break;
            }
        }
        found.sort();
        assert_eq!(found, ["user:1", "user:2"]);
        let reply = ok(con, &["SCAN", "0", "TYPE", "list", "COUNT", "1000"]);
        assert_eq!(reply, array(vec![bulk("0"), array(vec![])]));
        assert_eq!(err(con, &["SCAN", "0", "COUNT", "0"]), "ERR syntax error");
        assert_eq!(err(con, &["SCAN", "x"]), "ERR invalid cursor");
    });
}

#[test]
fn keys_patterns_and_randomkey() {
    let strata = Server::start();
    both(&strata, |con| {
        assert_eq!(ok(con, &["RANDOMKEY"]), Value::Nil);
        ok(con, &["MSET", "hello", "1", "hallo", "2", "hxllo", "3", "hllo", "4", "heeeello", "5", "a*b", "6"]);
        let keys = |con: &mut redis::Connection, pattern: &str| -> Vec<String> {
            let Value::Array(items) = ok(con, &["KEYS", pattern]) else { panic!() };
            let mut names: Vec<String> = items.iter().map(as_text).collect();
            names.sort();
            names
        };
        assert_eq!(keys(con, "h?llo"), ["hallo", "hello", "hxllo"]);
        assert_eq!(keys(con, "h*llo"), ["hallo", "heeeello", "hello", "hllo", "hxllo"]);
        assert_eq!(keys(con, "h[ae]llo"), ["hallo", "hello"]);
        assert_eq!(keys(con, "h[^e]llo"), ["hallo", "hxllo"]);
        assert_eq!(keys(con, "h[a-b]llo"), ["hallo"]);
        assert_eq!(keys(con, "a\\*b"), ["a*b"]);
        assert_eq!(keys(con, "nothing*"), Vec::<String>::new());
        let random = as_text(&ok(con, &["RANDOMKEY"]));
        assert!(["hello", "hallo", "hxllo", "hllo", "heeeello", "a*b"].contains(&random.as_str()));
    });
}

#[test]
fn databases_select_swap_flush() {
    let strata = Server::start();
    both(&strata, |con| {
        ok(con, &["SET", "k", "zero"]);
        assert_eq!(ok(con, &["SELECT", "1"]), Value::Okay);
        assert_eq!(ok(con, &["GET", "k"]), Value::Nil);
        ok(con, &["SET", "k", "one"]);
        ok(con, &["SET", "k2", "one"]);
        assert_eq!(ok(con, &["SWAPDB", "0", "1"]), Value::Okay);
        assert_eq!(ok(con, &["GET", "k"]), bulk("zero"), "this connection's db 1 now holds db 0's data");
        assert_eq!(ok(con, &["DBSIZE"]), int(1));
        assert_eq!(ok(con, &["MOVE", "k", "0"]), int(0), "db 0 already has k");
        assert_eq!(ok(con, &["FLUSHDB"]), Value::Okay);
        assert_eq!(ok(con, &["DBSIZE"]), int(0));
        ok(con, &["SELECT", "0"]);
        assert_eq!(ok(con, &["DBSIZE"]), int(2));
        assert_eq!(ok(con, &["FLUSHALL", "ASYNC"]), Value::Okay);
        assert_eq!(ok(con, &["DBSIZE"]), int(0));
        assert_eq!(err(con, &["SELECT", "16"]), "ERR DB index is out of range");
    });
}

#[test]
fn object_subcommands() {
    let strata = Server::start();
    both(&strata, |con| {
        ok(con, &["SET", "k", "v"]);
        assert!(matches!(ok(con, &["OBJECT", "IDLETIME", "k"]), Value::Int(0..=2)));
        assert!(matches!(ok(con, &["OBJECT", "REFCOUNT", "k"]), Value::Int(_)));
        assert_eq!(ok(con, &["OBJECT", "IDLETIME", "nope"]), Value::Nil);
        let freq = err(con, &["OBJECT", "FREQ", "k"]);
        assert!(freq.starts_with("ERR An LFU maxmemory policy is not selected"), "{freq}");
        let Value::Array(help) = ok(con, &["OBJECT", "HELP"]) else { panic!() };
        assert!(help.iter().all(|line| matches!(line, Value::SimpleString(_))));
        assert_eq!(ok(con, &["TYPE", "k"]), status("string"));
    });
}
