//! Set commands against the real binary, RESP2 and RESP3 reply shapes.

mod coll_common;

use coll_common::{bulk, bulks, cmd, err, int, Server, Value};

fn sorted(value: Value) -> Vec<Vec<u8>> {
    let items = match value {
        Value::Array(items) | Value::Set(items) => items,
        other => panic!("not a collection: {other:?}"),
    };
    let mut out: Vec<Vec<u8>> = items
        .into_iter()
        .map(|v| match v {
            Value::BulkString(b) => b,
            other => panic!("not a bulk: {other:?}"),
        })
        .collect();
    out.sort();
    out
}

fn strings(items: &[&str]) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = items.iter().map(|s| s.as_bytes().to_vec()).collect();
    out.sort();
    out
}

#[test]
fn membership_and_set_replies() {
    let server = Server::start();
    for resp3 in [false, true] {
        let mut con = server.connect(resp3);
        cmd(&mut con, &["FLUSHALL"]);
        assert_eq!(cmd(&mut con, &["SADD", "s", "3", "1", "2", "2"]), int(3));
        assert_eq!(cmd(&mut con, &["OBJECT", "ENCODING", "s"]), bulk("intset"));
        let members = cmd(&mut con, &["SMEMBERS", "s"]);
        // Intsets iterate in ascending order; RESP3 answers with a set type.
        if resp3 {
            assert_eq!(members, Value::Set(vec![bulk("1"), bulk("2"), bulk("3")]));
        } else {
            assert_eq!(members, bulks(&["1", "2", "3"]));
        }
        assert_eq!(cmd(&mut con, &["SADD", "s", "x"]), int(1));
        assert_eq!(cmd(&mut con, &["OBJECT", "ENCODING", "s"]), bulk("hashtable"));
        assert_eq!(cmd(&mut con, &["SISMEMBER", "s", "x"]), int(1));
        assert_eq!(cmd(&mut con, &["SMISMEMBER", "s", "x", "nope"]), Value::Array(vec![int(1), int(0)]));
        assert_eq!(cmd(&mut con, &["SCARD", "s"]), int(4));
        assert_eq!(cmd(&mut con, &["SREM", "s", "1", "2", "3", "x"]), int(4));
        assert_eq!(cmd(&mut con, &["EXISTS", "s"]), int(0), "an emptied set is deleted");
        let popped = cmd(&mut con, &["SPOP", "nope", "2"]);
        assert_eq!(popped, if resp3 { Value::Set(vec![]) } else { Value::Array(vec![]) });
        assert_eq!(cmd(&mut con, &["SPOP", "nope"]), Value::Nil);
    }
}

#[test]
fn algebra_and_stores() {
    let server = Server::start();
    let mut con = server.connect(false);
    cmd(&mut con, &["SADD", "a", "1", "2", "3", "x"]);
    cmd(&mut con, &["SADD", "b", "2", "3", "4", "x"]);
    assert_eq!(sorted(cmd(&mut con, &["SINTER", "a", "b"])), strings(&["2", "3", "x"]));
    assert_eq!(sorted(cmd(&mut con, &["SUNION", "a", "b"])), strings(&["1", "2", "3", "4", "x"]));
    assert_eq!(sorted(cmd(&mut con, &["SDIFF", "a", "b"])), strings(&["1"]));
    assert_eq!(cmd(&mut con, &["SINTERSTORE", "d", "a", "b"]), int(3));
    assert_eq!(cmd(&mut con, &["SUNIONSTORE", "d", "a", "b"]), int(5));
    assert_eq!(cmd(&mut con, &["SDIFFSTORE", "d", "a", "b", "a"]), int(0));
    assert_eq!(cmd(&mut con, &["EXISTS", "d"]), int(0));
    assert_eq!(cmd(&mut con, &["SINTERCARD", "2", "a", "b", "LIMIT", "2"]), int(2));
    assert_eq!(err(&mut con, &["SINTERCARD", "3", "a", "b"]), "ERR Number of keys can't be greater than number of args");
    assert_eq!(cmd(&mut con, &["SMOVE", "a", "c", "1"]), int(1));
    assert_eq!(cmd(&mut con, &["SMEMBERS", "c"]), bulks(&["1"]));
    cmd(&mut con, &["SET", "str", "v"]);
    assert!(err(&mut con, &["SINTER", "missing", "str"]).starts_with("WRONGTYPE"));
    assert_eq!(cmd(&mut con, &["SINTERSTORE", "str", "a"]), int(3), "STORE replaces any type");
    assert_eq!(cmd(&mut con, &["TYPE", "str"]), coll_common::status("set"));
}

#[test]
fn random_members_and_scan() {
    let server = Server::start();
    let mut con = server.connect(false);
    let members: Vec<String> = (0..300).map(|i| format!("m{i}")).collect();
    let mut words = vec!["SADD", "big"];
    words.extend(members.iter().map(String::as_str));
    assert_eq!(cmd(&mut con, &words), int(300));
    assert_eq!(sorted(cmd(&mut con, &["SRANDMEMBER", "big", "20"])).windows(2).filter(|w| w[0] == w[1]).count(), 0);
    assert_eq!(cmd(&mut con, &["SRANDMEMBER", "big", "-500"]).as_sequence().map(|v| v.len()), Some(500));
    assert_eq!(cmd(&mut con, &["SPOP", "big", "100"]).as_sequence().map(|v| v.len()), Some(100));
    assert_eq!(cmd(&mut con, &["SCARD", "big"]), int(200));
    let mut seen = std::collections::HashSet::new();
    let mut cursor = "0".to_owned();
    loop {
        let Value::Array(parts) = cmd(&mut con, &["SSCAN", "big", &cursor, "COUNT", "9"]) else { panic!("SSCAN") };
        let Value::BulkString(next) = &parts[0] else { panic!("cursor") };
        for item in sorted(parts[1].clone()) {
            seen.insert(item);
        }
        cursor = String::from_utf8(next.clone()).unwrap();
        if cursor == "0" {
            break;
        }
    }
    assert_eq!(seen.len(), 200);
}
