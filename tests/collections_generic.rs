//! Generic key commands (SCAN TYPE, INFO keyspace, memory accounting, OBJECT) on collections.

mod coll_common;

use coll_common::{bulk, bulks, cmd, int, Server, Value};

fn text(value: Value) -> String {
    match value {
        Value::BulkString(bytes) => String::from_utf8(bytes).unwrap(),
        Value::VerbatimString { text, .. } => text,
        other => panic!("not text: {other:?}"),
    }
}

#[test]
fn scan_type_filters_collections() {
    let server = Server::start();
    let mut con = server.connect(false);
    for i in 0..20 {
        cmd(&mut con, &["RPUSH", &format!("list{i}"), "x"]);
        cmd(&mut con, &["HSET", &format!("hash{i}"), "f", "v"]);
        cmd(&mut con, &["SADD", &format!("set{i}"), "m"]);
        cmd(&mut con, &["ZADD", &format!("zset{i}"), "1", "m"]);
        cmd(&mut con, &["SET", &format!("str{i}"), "v"]);
    }
    for (kind, prefix) in [("list", "list"), ("hash", "hash"), ("set", "set"), ("zset", "zset"), ("string", "str")] {
        let Value::Array(parts) = cmd(&mut con, &["SCAN", "0", "TYPE", kind, "COUNT", "1000"]) else { panic!("SCAN") };
        let Value::Array(keys) = &parts[1] else { panic!("keys") };
        assert_eq!(keys.len(), 20, "{kind}");
        for key in keys {
            let Value::BulkString(key) = key else { panic!("key") };
            assert!(key.starts_with(prefix.as_bytes()) && !(kind == "set" && key.starts_with(b"zset")), "{kind}");
        }
    }
    let info = text(cmd(&mut con, &["INFO", "keyspace"]));
    assert!(info.contains("db0:keys=100,"), "{info}");
}

#[test]
fn memory_grows_and_shrinks_with_collections() {
    let server = Server::start();
    let mut con = server.connect(false);
    let used = |con: &mut redis::Connection| -> i64 {
        let info = text(cmd(con, &["INFO", "memory"]));
        info.lines().find_map(|l| l.strip_prefix("used_memory:")).and_then(|v| v.trim().parse().ok()).expect("used_memory")
    };
    let before = used(&mut con);
    let members: Vec<String> = (0..5000).map(|i| format!("member-{i:06}-padding-padding")).collect();
    for chunk in members.chunks(500) {
        let mut words = vec!["ZADD", "z"];
        let scores: Vec<String> = (0..chunk.len()).map(|i| i.to_string()).collect();
        for (score, member) in scores.iter().zip(chunk) {
            words.push(score);
            words.push(member);
        }
        cmd(&mut con, &words);
        let mut words = vec!["SADD", "s"];
        words.extend(chunk.iter().map(String::as_str));
        cmd(&mut con, &words);
    }
    let grown = used(&mut con);
    assert!(grown - before > 5000 * 60, "before {before}, after {grown}");
    cmd(&mut con, &["DEL", "z", "s"]);
    assert!(used(&mut con) < grown - 5000 * 60);
}

#[test]
fn copies_are_independent_and_keep_types() {
    let server = Server::start();
    let mut con = server.connect(false);
    cmd(&mut con, &["HSET", "h", "a", "1"]);
    assert_eq!(cmd(&mut con, &["COPY", "h", "h2"]), int(1));
    cmd(&mut con, &["HSET", "h2", "b", "2"]);
    assert_eq!(cmd(&mut con, &["HKEYS", "h"]), bulks(&["a"]));
    assert_eq!(cmd(&mut con, &["RENAME", "h2", "h3"]), Value::Okay);
    assert_eq!(cmd(&mut con, &["TYPE", "h3"]), coll_common::status("hash"));
    assert_eq!(cmd(&mut con, &["OBJECT", "ENCODING", "h3"]), bulk("listpack"));
    assert_eq!(cmd(&mut con, &["MOVE", "h3", "1"]), int(1));
    assert_eq!(cmd(&mut con, &["EXISTS", "h3"]), int(0));
}
