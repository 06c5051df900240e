//! Hash commands against the real binary, RESP2 and RESP3 reply shapes.

mod coll_common;

use coll_common::{bulk, bulks, cmd, err, int, Server, Value};

#[test]
fn set_get_and_map_replies() {
    let server = Server::start();
    for resp3 in [false, true] {
        let mut con = server.connect(resp3);
        cmd(&mut con, &["FLUSHALL"]);
        assert_eq!(cmd(&mut con, &["HSET", "h", "a", "1", "b", "2"]), int(2));
        assert_eq!(cmd(&mut con, &["HSET", "h", "a", "3"]), int(0));
        assert_eq!(cmd(&mut con, &["HMSET", "h", "c", "4"]), Value::Okay);
        assert_eq!(cmd(&mut con, &["HSETNX", "h", "c", "5"]), int(0));
        assert_eq!(cmd(&mut con, &["HGET", "h", "a"]), bulk("3"));
        assert_eq!(cmd(&mut con, &["HGET", "h", "zz"]), Value::Nil);
        assert_eq!(cmd(&mut con, &["HMGET", "h", "a", "zz"]), Value::Array(vec![bulk("3"), Value::Nil]));
        assert_eq!(cmd(&mut con, &["HKEYS", "h"]), bulks(&["a", "b", "c"]));
        assert_eq!(cmd(&mut con, &["HVALS", "h"]), bulks(&["3", "2", "4"]));
        let all = cmd(&mut con, &["HGETALL", "h"]);
        if resp3 {
            assert_eq!(all, Value::Map(vec![(bulk("a"), bulk("3")), (bulk("b"), bulk("2")), (bulk("c"), bulk("4"))]));
        } else {
            assert_eq!(all, bulks(&["a", "3", "b", "2", "c", "4"]));
        }
        assert_eq!(cmd(&mut con, &["HLEN", "h"]), int(3));
        assert_eq!(cmd(&mut con, &["HSTRLEN", "h", "a"]), int(1));
        assert_eq!(cmd(&mut con, &["HEXISTS", "h", "b"]), int(1));
        assert_eq!(cmd(&mut con, &["HDEL", "h", "a", "b", "c", "zz"]), int(3));
        assert_eq!(cmd(&mut con, &["EXISTS", "h"]), int(0), "an emptied hash is deleted");
        let empty = cmd(&mut con, &["HGETALL", "h"]);
        assert_eq!(empty, if resp3 { Value::Map(vec![]) } else { Value::Array(vec![]) });
    }
}

#[test]
fn increments_and_their_errors() {
    let server = Server::start();
    let mut con = server.connect(false);
    assert_eq!(cmd(&mut con, &["HINCRBY", "h", "n", "5"]), int(5));
    assert_eq!(cmd(&mut con, &["HINCRBY", "h", "n", "-7"]), int(-2));
    assert_eq!(cmd(&mut con, &["HINCRBYFLOAT", "h", "f", "1.5"]), bulk("1.5"));
    assert_eq!(cmd(&mut con, &["HINCRBYFLOAT", "h", "f", "0.1"]), bulk("1.6"));
    cmd(&mut con, &["HSET", "h", "s", "text", "m", "9223372036854775807"]);
    assert_eq!(err(&mut con, &["HINCRBY", "h", "s", "1"]), "ERR hash value is not an integer");
    assert_eq!(err(&mut con, &["HINCRBYFLOAT", "h", "s", "1"]), "ERR hash value is not a float");
    assert_eq!(err(&mut con, &["HINCRBY", "h", "m", "1"]), "ERR increment or decrement would overflow");
    assert_eq!(err(&mut con, &["HSET", "h", "a"]), "ERR wrong number of arguments for 'hset' command");
    cmd(&mut con, &["SET", "str", "x"]);
    assert!(err(&mut con, &["HGET", "str", "a"]).starts_with("WRONGTYPE"));
}

#[test]
fn random_fields_scan_and_encodings() {
    let server = Server::start();
    let mut con = server.connect(true);
    cmd(&mut con, &["HSET", "h", "a", "1", "b", "2"]);
    assert_eq!(cmd(&mut con, &["OBJECT", "ENCODING", "h"]), bulk("listpack"));
    // RESP3 WITHVALUES: an array of [field, value] pairs.
    let pairs = cmd(&mut con, &["HRANDFIELD", "h", "5", "WITHVALUES"]);
    assert_eq!(pairs, Value::Array(vec![bulks(&["a", "1"]), bulks(&["b", "2"])]));
    let repeated = cmd(&mut con, &["HRANDFIELD", "h", "-6"]);
    assert_eq!(repeated.as_sequence().map(|v| v.len()), Some(6));
    assert_eq!(cmd(&mut con, &["HRANDFIELD", "nope"]), Value::Nil);
    assert_eq!(cmd(&mut con, &["HRANDFIELD", "nope", "3"]), Value::Array(vec![]));
    let mut con2 = server.connect(false);
    assert_eq!(cmd(&mut con2, &["HRANDFIELD", "h", "5", "WITHVALUES"]), bulks(&["a", "1", "b", "2"]));

    cmd(&mut con, &["CONFIG", "SET", "hash-max-listpack-entries", "16"]);
    for i in 0..200 {
        cmd(&mut con, &["HSET", "big", &format!("f{i}"), &i.to_string()]);
    }
    assert_eq!(cmd(&mut con, &["OBJECT", "ENCODING", "big"]), bulk("hashtable"));
    let mut seen = std::collections::HashSet::new();
    let mut cursor = "0".to_owned();
    loop {
        let reply = cmd(&mut con, &["HSCAN", "big", &cursor, "COUNT", "7"]);
        let Value::Array(parts) = reply else { panic!("HSCAN reply") };
        let Value::BulkString(next) = &parts[0] else { panic!("cursor") };
        let Value::Array(items) = &parts[1] else { panic!("items") };
        for pair in items.chunks(2) {
            if let Value::BulkString(field) = &pair[0] {
                seen.insert(field.clone());
            }
        }
        cursor = String::from_utf8(next.clone()).unwrap();
        if cursor == "0" {
            break;
        }
    }
    assert_eq!(seen.len(), 200);
    assert_eq!(cmd(&mut con, &["COPY", "big", "big2"]), int(1));
    cmd(&mut con, &["HDEL", "big2", "f1"]);
    assert_eq!(cmd(&mut con, &["HLEN", "big"]), int(200));
}
