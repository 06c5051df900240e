//! String commands through the `redis` crate over RESP2 and RESP3, asserting raw reply types.
//! (Semantics are also compared with redis-server by tests/differential.rs.)

mod common;

use common::{array, bulk, err, int, ok, qb, status, Server};
use redis::Value;

/// Runs `test` on a fresh database over RESP2, then over RESP3.
fn both(strata: &Server, test: impl Fn(&mut redis::Connection, u8)) {
    for protocol in [2, 3] {
        let mut con = strata.con_proto(protocol);
        ok(&mut con, &["FLUSHALL"]);
        test(&mut con, protocol);
    }
}

#[test]
fn set_and_get_reply_types() {
    let strata = Server::start();
    both(&strata, |con, _| {
        assert_eq!(ok(con, &["GET", "k"]), Value::Nil);
        assert_eq!(ok(con, &["SET", "k", "1"]), Value::Okay);
        // A bulk "1", not an integer: the crate's FromRedisValue would hide the difference.
        assert_eq!(ok(con, &["GET", "k"]), bulk("1"));
        assert_eq!(ok(con, &["SET", "k", "2", "NX"]), Value::Nil);
        assert_eq!(ok(con, &["SET", "k", "2", "XX"]), Value::Okay);
        assert_eq!(ok(con, &["SET", "new", "x", "XX"]), Value::Nil);
        assert_eq!(ok(con, &["SET", "k", "3", "GET"]), bulk("2"));
        assert_eq!(ok(con, &["SET", "missing", "3", "GET"]), Value::Nil);
        assert_eq!(ok(con, &["SET", "k", "4", "NX", "GET"]), bulk("3"), "NX GET returns the old value and doesn't set");
        assert_eq!(ok(con, &["GET", "k"]), bulk("3"));
        assert_eq!(ok(con, &["SETNX", "k", "x"]), int(0));
        assert_eq!(ok(con, &["SETNX", "k2", "x"]), int(1));
        assert_eq!(ok(con, &["GETSET", "k2", "y"]), bulk("x"));
        assert_eq!(ok(con, &["GETDEL", "k2"]), bulk("y"));
        assert_eq!(ok(con, &["GETDEL", "k2"]), Value::Nil);
        assert_eq!(ok(con, &["MSET", "a", "1", "b", "2"]), Value::Okay);
        assert_eq!(ok(con, &["MGET", "a", "nope", "b"]), array(vec![bulk("1"), Value::Nil, bulk("2")]));
        assert_eq!(ok(con, &["MSETNX", "a", "9", "c", "3"]), int(0));
        assert_eq!(ok(con, &["EXISTS", "c"]), int(0), "MSETNX sets nothing when one key exists");
        assert_eq!(ok(con, &["MSETNX", "c", "3", "d", "4"]), int(1));
    });
}

#[test]
fn set_expiry_options() {
    let strata = Server::start();
    both(&strata, |con, _| {
        assert_eq!(ok(con, &["SET", "k", "v", "EX", "100"]), Value::Okay);
        let ttl = common::as_int(&ok(con, &["TTL", "k"]));
        assert!((99..=100).contains(&ttl), "{ttl}");
        ok(con, &["SET", "k", "v2", "KEEPTTL"]);
        assert!(common::as_int(&ok(con, &["PTTL", "k"])) > 98_000, "KEEPTTL keeps the deadline");
        ok(con, &["SET", "k", "v3"]);
        assert_eq!(ok(con, &["TTL", "k"]), int(-1), "a plain SET clears the deadline");
        ok(con, &["SET", "k", "v", "PX", "100000"]);
        assert!(common::as_int(&ok(con, &["PTTL", "k"])) > 99_000);
        let at = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 500;
        ok(con, &["SET", "k", "v", "EXAT", &at.to_string()]);
        assert_eq!(ok(con, &["EXPIRETIME", "k"]), int(at as i64));
        ok(con, &["SET", "k", "v", "PXAT", &(at * 1000 + 7).to_string()]);
        assert_eq!(ok(con, &["PEXPIRETIME", "k"]), int(at as i64 * 1000 + 7));
        assert_eq!(ok(con, &["SETEX", "s", "100", "v"]), Value::Okay);
        assert_eq!(ok(con, &["PSETEX", "p", "100000", "v"]), Value::Okay);
        assert!(common::as_int(&ok(con, &["TTL", "s"])) > 0);
        assert!(common::as_int(&ok(con, &["TTL", "p"])) > 0);
        assert_eq!(err(con, &["SET", "k", "v", "EX", "0"]), "ERR invalid expire time in 'set' command");
        assert_eq!(err(con, &["SET", "k", "v", "EX", "1", "KEEPTTL"]), "ERR syntax error");
        // GETEX changes or clears the deadline and returns the value.
        ok(con, &["SET", "g", "v"]);
        assert_eq!(ok(con, &["GETEX", "g", "EX", "100"]), bulk("v"));
        assert!(common::as_int(&ok(con, &["TTL", "g"])) > 0);
        assert_eq!(ok(con, &["GETEX", "g", "PERSIST"]), bulk("v"));
        assert_eq!(ok(con, &["TTL", "g"]), int(-1));
        assert_eq!(ok(con, &["GETEX", "g", "PXAT", "1"]), bulk("v"), "a past PXAT returns the value, then deletes");
        assert_eq!(ok(con, &["EXISTS", "g"]), int(0));
        assert_eq!(ok(con, &["GETEX", "g", "EX", "abc"]), Value::Nil, "missing key: nil before the time is parsed");
    });
}

#[test]
fn counters() {
    let strata = Server::start();
    both(&strata, |con, _| {
        assert_eq!(ok(con, &["INCR", "n"]), int(1));
        assert_eq!(ok(con, &["INCRBY", "n", "10"]), int(11));
        assert_eq!(ok(con, &["DECR", "n"]), int(10));
        assert_eq!(ok(con, &["DECRBY", "n", "-5"]), int(15));
        assert_eq!(ok(con, &["GET", "n"]), bulk("15"));
        // INCRBYFLOAT answers a bulk string, not a double, in both protocols (as Redis).
        assert_eq!(ok(con, &["INCRBYFLOAT", "n", "0.5"]), bulk("15.5"));
        assert_eq!(ok(con, &["INCRBYFLOAT", "n", "-0.5"]), bulk("15"));
        assert_eq!(ok(con, &["INCRBYFLOAT", "f", "1e2"]), bulk("100"));
        assert_eq!(ok(con, &["INCRBYFLOAT", "f", "0.1"]), bulk("100.1"));
        assert_eq!(err(con, &["INCR", "f"]), "ERR value is not an integer or out of range");
        ok(con, &["SET", "max", "9223372036854775807"]);
        assert_eq!(err(con, &["INCR", "max"]), "ERR increment or decrement would overflow");
        assert_eq!(ok(con, &["GET", "max"]), bulk("9223372036854775807"));
        assert_eq!(err(con, &["INCRBYFLOAT", "n", "inf"]), "ERR increment would produce NaN or Infinity");
        ok(con, &["SET", "ttl", "1", "EX", "100"]);
        ok(con, &["INCR", "ttl"]);
        assert!(common::as_int(&ok(con, &["TTL", "ttl"])) > 0, "INCR keeps the deadline");
    });
}

#[test]
fn ranges_and_appends() {
    let strata = Server::start();
    both(&strata, |con, _| {
        assert_eq!(ok(con, &["APPEND", "s", "Hello"]), int(5));
        assert_eq!(ok(con, &["APPEND", "s", " World"]), int(11));
        assert_eq!(ok(con, &["STRLEN", "s"]), int(11));
        assert_eq!(ok(con, &["STRLEN", "none"]), int(0));
        assert_eq!(ok(con, &["GETRANGE", "s", "0", "4"]), bulk("Hello"));
        assert_eq!(ok(con, &["GETRANGE", "s", "-5", "-1"]), bulk("World"));
        assert_eq!(ok(con, &["GETRANGE", "s", "5", "1"]), bulk(""));
        assert_eq!(ok(con, &["GETRANGE", "none", "0", "-1"]), bulk(""));
        assert_eq!(ok(con, &["SUBSTR", "s", "0", "0"]), bulk("H"));
        assert_eq!(ok(con, &["SETRANGE", "s", "6", "Redis"]), int(11));
        assert_eq!(ok(con, &["GET", "s"]), bulk("Hello Redis"));
        // Past the end pads with zero bytes.
        assert_eq!(ok(con, &["SETRANGE", "pad", "3", "x"]), int(4));
        assert_eq!(ok(con, &["GET", "pad"]), Value::BulkString(b"\0\0\0x".to_vec()));
        assert_eq!(ok(con, &["SETRANGE", "empty", "5", ""]), int(0));
        assert_eq!(ok(con, &["EXISTS", "empty"]), int(0), "an empty SETRANGE on a missing key creates nothing");
    });
}

#[test]
fn values_are_binary_safe_and_large() {
    let strata = Server::start();
    both(&strata, |con, _| {
        let binary: Vec<u8> = (0..=255u8).chain(b"\r\n\r\n$3\r\n*1".iter().copied()).collect();
        assert_eq!(qb(con, &[b"SET".to_vec(), b"bin\0key".to_vec(), binary.clone()]), Ok(Value::Okay));
        assert_eq!(qb(con, &[b"GET".to_vec(), b"bin\0key".to_vec()]), Ok(Value::BulkString(binary.clone())));
        let big = vec![b'z'; 4 * 1024 * 1024];
        assert_eq!(qb(con, &[b"SET".to_vec(), b"big".to_vec(), big.clone()]), Ok(Value::Okay));
        assert_eq!(qb(con, &[b"GET".to_vec(), b"big".to_vec()]), Ok(Value::BulkString(big)));
        assert_eq!(ok(con, &["STRLEN", "big"]), int(4 * 1024 * 1024));
    });
}

#[test]
fn lcs_reply_shapes() {
    let strata = Server::start();
    both(&strata, |con, protocol| {
        ok(con, &["MSET", "a", "ohmytext", "b", "mynewtext"]);
        assert_eq!(ok(con, &["LCS", "a", "b"]), bulk("mytext"));
        assert_eq!(ok(con, &["LCS", "a", "b", "LEN"]), int(6));
        let idx = ok(con, &["LCS", "a", "b", "IDX", "MINMATCHLEN", "4", "WITHMATCHLEN"]);
        let range = |a: i64, b: i64| array(vec![int(a), int(b)]);
        let matches = array(vec![array(vec![range(4, 7), range(5, 8), int(4)])]);
        let pairs = vec![(bulk("matches"), matches), (bulk("len"), int(6))];
        let expected = if protocol == 3 { Value::Map(pairs) } else { array(pairs.into_iter().flat_map(|(k, v)| [k, v]).collect()) };
        assert_eq!(idx, expected);
    });
}

#[test]
fn object_encoding_follows_redis_rules() {
    let strata = Server::start();
    both(&strata, |con, _| {
        ok(con, &["SET", "i", "12345"]);
        ok(con, &["SET", "e", "short"]);
        ok(con, &["SET", "r", &"x".repeat(45)]);
        assert_eq!(ok(con, &["OBJECT", "ENCODING", "i"]), bulk("int"));
        assert_eq!(ok(con, &["OBJECT", "ENCODING", "e"]), bulk("embstr"));
        assert_eq!(ok(con, &["OBJECT", "ENCODING", "r"]), bulk("raw"));
        ok(con, &["APPEND", "e", "x"]);
        assert_eq!(ok(con, &["OBJECT", "ENCODING", "e"]), bulk("raw"));
        assert_eq!(ok(con, &["OBJECT", "ENCODING", "none"]), Value::Nil);
        assert_eq!(ok(con, &["TYPE", "i"]), status("string"));
        assert_eq!(ok(con, &["TYPE", "none"]), status("none"));
    });
}
