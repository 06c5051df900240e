//! List commands against the real binary, RESP2 and RESP3 reply shapes.

mod coll_common;

use coll_common::{bulk, bulks, cmd, err, int, Server, Value};

#[test]
fn push_pop_range_and_reply_shapes() {
    let server = Server::start();
    for resp3 in [false, true] {
        let mut con = server.connect(resp3);
        cmd(&mut con, &["FLUSHALL"]);
        assert_eq!(cmd(&mut con, &["RPUSH", "l", "a", "b", "c"]), int(3));
        assert_eq!(cmd(&mut con, &["LPUSH", "l", "z"]), int(4));
        assert_eq!(cmd(&mut con, &["LRANGE", "l", "0", "-1"]), bulks(&["z", "a", "b", "c"]));
        assert_eq!(cmd(&mut con, &["LINDEX", "l", "-1"]), bulk("c"));
        assert_eq!(cmd(&mut con, &["LINDEX", "l", "9"]), Value::Nil);
        assert_eq!(cmd(&mut con, &["LPOP", "l"]), bulk("z"));
        assert_eq!(cmd(&mut con, &["RPOP", "l", "2"]), bulks(&["c", "b"]));
        assert_eq!(cmd(&mut con, &["LPOP", "l", "0"]), Value::Array(vec![]));
        // A missing key with a count is a nil array (`*-1` / `_`), which the crate maps to Nil.
        assert_eq!(cmd(&mut con, &["LPOP", "missing", "2"]), Value::Nil);
        assert_eq!(cmd(&mut con, &["LPOP", "l", "5"]), bulks(&["a"]));
        assert_eq!(cmd(&mut con, &["EXISTS", "l"]), int(0), "an emptied list is deleted");
        assert_eq!(cmd(&mut con, &["TYPE", "l"]), coll_common::status("none"));
    }
}

#[test]
fn edits_positions_and_moves() {
    let server = Server::start();
    let mut con = server.connect(false);
    cmd(&mut con, &["RPUSH", "l", "a", "b", "a", "c", "a"]);
    assert_eq!(cmd(&mut con, &["TYPE", "l"]), coll_common::status("list"));
    assert_eq!(cmd(&mut con, &["OBJECT", "ENCODING", "l"]), bulk("quicklist"));
    assert_eq!(cmd(&mut con, &["LPOS", "l", "a", "RANK", "-1"]), int(4));
    assert_eq!(cmd(&mut con, &["LPOS", "l", "a", "COUNT", "0"]), Value::Array(vec![int(0), int(2), int(4)]));
    assert_eq!(cmd(&mut con, &["LPOS", "l", "x"]), Value::Nil);
    assert_eq!(cmd(&mut con, &["LREM", "l", "-2", "a"]), int(2));
    assert_eq!(cmd(&mut con, &["LRANGE", "l", "0", "-1"]), bulks(&["a", "b", "c"]));
    assert_eq!(cmd(&mut con, &["LINSERT", "l", "BEFORE", "c", "bb"]), int(4));
    assert_eq!(cmd(&mut con, &["LINSERT", "l", "AFTER", "zz", "x"]), int(-1));
    assert_eq!(cmd(&mut con, &["LSET", "l", "0", "A"]), Value::Okay);
    assert_eq!(err(&mut con, &["LSET", "l", "10", "A"]), "ERR index out of range");
    assert_eq!(cmd(&mut con, &["LTRIM", "l", "1", "-1"]), Value::Okay);
    assert_eq!(cmd(&mut con, &["LMOVE", "l", "m", "LEFT", "RIGHT"]), bulk("b"));
    assert_eq!(cmd(&mut con, &["RPOPLPUSH", "l", "m"]), bulk("c"));
    assert_eq!(cmd(&mut con, &["LMPOP", "2", "nope", "l", "LEFT", "COUNT", "5"]), Value::Array(vec![bulk("l"), bulks(&["bb"])]));
    assert_eq!(cmd(&mut con, &["LMPOP", "1", "l", "LEFT"]), Value::Nil);
    assert_eq!(cmd(&mut con, &["LRANGE", "m", "0", "-1"]), bulks(&["c", "b"]));
    cmd(&mut con, &["SET", "s", "x"]);
    assert!(err(&mut con, &["LPUSH", "s", "a"]).starts_with("WRONGTYPE"));
    assert_eq!(err(&mut con, &["LPOP", "m", "-1"]), "ERR value is out of range, must be positive");
}

#[test]
fn large_lists_convert_and_copy_deeply() {
    let server = Server::start();
    let mut con = server.connect(false);
    cmd(&mut con, &["CONFIG", "SET", "list-max-listpack-size", "4"]);
    let items: Vec<String> = (0..100).map(|i| i.to_string()).collect();
    let mut words = vec!["RPUSH", "big"];
    words.extend(items.iter().map(String::as_str));
    assert_eq!(cmd(&mut con, &words), int(100));
    assert_eq!(cmd(&mut con, &["LINDEX", "big", "57"]), bulk("57"));
    assert_eq!(cmd(&mut con, &["COPY", "big", "copy"]), int(1));
    assert_eq!(cmd(&mut con, &["LPOP", "copy", "98"]).as_sequence().map(|v| v.len()), Some(98));
    assert_eq!(cmd(&mut con, &["LLEN", "big"]), int(100));
    assert_eq!(cmd(&mut con, &["LRANGE", "copy", "0", "-1"]), bulks(&["98", "99"]));
}
