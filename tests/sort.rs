//! SORT and SORT_RO against the real binary, RESP2 and RESP3: lists, sets and sorted sets, BY and
//! GET patterns over strings and hash fields, LIMIT, ALPHA, STORE, errors, keyspace events and
//! WATCH. Expected values were read from redis-server 7.0 (tests/coll_scripts/sort.txt compares
//! many more cases with it byte for byte).

mod coll_common;

use coll_common::{bulk, bulks, cmd, err, int, Server, Value};

#[test]
fn numeric_and_alpha_sorts_of_every_type() {
    let server = Server::start();
    for resp3 in [false, true] {
        let mut con = server.connect(resp3);
        cmd(&mut con, &["FLUSHALL"]);
        cmd(&mut con, &["RPUSH", "l", "3", "1", "2", "10", "-5", "2.5", "0x10"]);
        assert_eq!(cmd(&mut con, &["SORT", "l"]), bulks(&["-5", "1", "2", "2.5", "3", "10", "0x10"]));
        assert_eq!(cmd(&mut con, &["SORT", "l", "DESC", "LIMIT", "1", "3"]), bulks(&["10", "3", "2.5"]));
        assert_eq!(cmd(&mut con, &["SORT", "l", "ALPHA"]), bulks(&["-5", "0x10", "1", "10", "2", "2.5", "3"]));
        assert_eq!(cmd(&mut con, &["SORT_RO", "l", "LIMIT", "-3", "2"]), bulks(&["-5", "1"]));
        assert_eq!(cmd(&mut con, &["SORT", "l", "LIMIT", "100", "2"]), Value::Array(vec![]));
        assert_eq!(cmd(&mut con, &["SORT", "l", "BY", "nosort", "DESC", "LIMIT", "0", "2"]), bulks(&["0x10", "2.5"]));
        cmd(&mut con, &["SADD", "s", "5", "-1", "30"]);
        assert_eq!(cmd(&mut con, &["SORT", "s"]), bulks(&["-1", "5", "30"]), "sets sort numerically by default");
        assert_eq!(cmd(&mut con, &["SORT", "s", "ALPHA", "DESC"]), bulks(&["5", "30", "-1"]));
        cmd(&mut con, &["ZADD", "z", "3", "c", "1", "a", "2", "b"]);
        assert_eq!(cmd(&mut con, &["SORT", "z", "BY", "nosort"]), bulks(&["a", "b", "c"]), "a sorted set keeps its order");
        assert_eq!(cmd(&mut con, &["SORT", "z", "BY", "nosort", "DESC", "LIMIT", "1", "1"]), bulks(&["b"]));
        assert_eq!(cmd(&mut con, &["SORT", "z", "ALPHA", "DESC"]), bulks(&["c", "b", "a"]));
        assert_eq!(cmd(&mut con, &["SORT", "missing"]), Value::Array(vec![]));
    }
}

#[test]
fn by_and_get_patterns() {
    let server = Server::start();
    for resp3 in [false, true] {
        let mut con = server.connect(resp3);
        cmd(&mut con, &["FLUSHALL"]);
        cmd(&mut con, &["RPUSH", "ids", "1", "2", "3", "4"]);
        cmd(&mut con, &["MSET", "w_1", "40", "w_2", "10", "w_3", "30", "o_1", "one", "o_2", "two", "o_4", "four"]);
        assert_eq!(cmd(&mut con, &["SORT", "ids", "BY", "w_*"]), bulks(&["4", "2", "3", "1"]), "a missing weight counts as 0");
        let got = cmd(&mut con, &["SORT", "ids", "BY", "w_*", "DESC", "GET", "#", "GET", "o_*"]);
        assert_eq!(got, Value::Array(vec![bulk("1"), bulk("one"), bulk("3"), Value::Nil, bulk("2"), bulk("two"), bulk("4"), bulk("four")]));
        cmd(&mut con, &["HSET", "h_1", "name", "ann", "age", "31"]);
        cmd(&mut con, &["HSET", "h_2", "name", "bob", "age", "25"]);
        cmd(&mut con, &["HSET", "h_3", "name", "cy"]);
        let by_age = cmd(&mut con, &["SORT", "ids", "BY", "h_*->age", "GET", "h_*->name"]);
        assert_eq!(by_age, Value::Array(vec![bulk("cy"), Value::Nil, bulk("bob"), bulk("ann")]));
        let by_name = cmd(&mut con, &["SORT", "ids", "BY", "h_*->name", "ALPHA", "DESC", "GET", "#"]);
        assert_eq!(by_name, bulks(&["3", "2", "1", "4"]), "no name sorts first (last when DESC)");
        assert_eq!(cmd(&mut con, &["SORT", "ids", "BY", "nosort", "GET", "o_*->x"]), Value::Array(vec![Value::Nil; 4]), "not a hash");
        assert_eq!(cmd(&mut con, &["SORT", "ids", "GET", "fixed"]), Value::Array(vec![Value::Nil; 4]), "no * names no key");
        cmd(&mut con, &["SET", "w_3", "heavy"]);
        assert_eq!(err(&mut con, &["SORT", "ids", "BY", "w_*"]), "ERR One or more scores can't be converted into double");
        assert_eq!(cmd(&mut con, &["SORT", "ids", "BY", "w_*", "ALPHA"]), bulks(&["4", "2", "1", "3"]));
    }
}

#[test]
fn store_writes_a_list() {
    let server = Server::start();
    let mut con = server.connect(false);
    cmd(&mut con, &["RPUSH", "ids", "2", "1", "3"]);
    cmd(&mut con, &["MSET", "o_1", "one", "o_3", "three"]);
    cmd(&mut con, &["SET", "dst", "x", "EX", "100"]);
    assert_eq!(cmd(&mut con, &["SORT", "ids", "GET", "o_*", "GET", "#", "STORE", "dst"]), int(6));
    assert_eq!(cmd(&mut con, &["LRANGE", "dst", "0", "-1"]), bulks(&["one", "1", "", "2", "three", "3"]), "a missing GET stores \"\"");
    assert_eq!(cmd(&mut con, &["TTL", "dst"]), int(-1));
    assert_eq!(cmd(&mut con, &["SORT", "ids", "DESC", "STORE", "ids"]), int(3));
    assert_eq!(cmd(&mut con, &["LRANGE", "ids", "0", "-1"]), bulks(&["3", "2", "1"]));
    assert_eq!(cmd(&mut con, &["SORT", "ids", "LIMIT", "0", "0", "STORE", "dst"]), int(0));
    assert_eq!(cmd(&mut con, &["EXISTS", "dst"]), int(0), "an empty result deletes the destination");
    cmd(&mut con, &["SADD", "names", "carol", "alice", "bob"]);
    assert_eq!(cmd(&mut con, &["SORT", "names", "BY", "nosort", "STORE", "dst"]), int(3));
    assert_eq!(cmd(&mut con, &["LRANGE", "dst", "0", "-1"]), bulks(&["alice", "bob", "carol"]), "a set is sorted when stored");
    let keys = cmd(&mut con, &["COMMAND", "GETKEYS", "SORT", "a", "STORE", "b", "LIMIT", "0", "1", "STORE", "c", "GET", "x"]);
    assert_eq!(keys, bulks(&["a", "c"]));
    assert_eq!(cmd(&mut con, &["COMMAND", "GETKEYS", "SORT_RO", "a", "BY", "x"]), bulks(&["a"]));
}

#[test]
fn errors_have_redis_texts() {
    let server = Server::start();
    let mut con = server.connect(false);
    cmd(&mut con, &["RPUSH", "l", "1", "x"]);
    cmd(&mut con, &["SET", "str", "v"]);
    let cases: &[(&[&str], &str)] = &[
        (&["SORT", "l"], "ERR One or more scores can't be converted into double"),
        (&["SORT", "l", "LIMIT", "0"], "ERR syntax error"),
        (&["SORT", "l", "LIMIT", "a", "1"], "ERR value is not an integer or out of range"),
        (&["SORT", "l", "BOGUS"], "ERR syntax error"),
        (&["SORT", "l", "STORE"], "ERR syntax error"),
        (&["SORT_RO", "l", "STORE", "x"], "ERR syntax error"),
        (&["SORT", "str", "BOGUS"], "ERR syntax error"),
        (&["SORT", "str"], "WRONGTYPE Operation against a key holding the wrong kind of value"),
        (&["SORT_RO", "str"], "WRONGTYPE Operation against a key holding the wrong kind of value"),
        (&["SORT"], "ERR wrong number of arguments for 'sort' command"),
    ];
    for (args, text) in cases {
        assert_eq!(err(&mut con, args), *text, "{args:?}");
    }
    assert_eq!(cmd(&mut con, &["SORT", "l", "ALPHA"]), bulks(&["1", "x"]));
    assert_eq!(cmd(&mut con, &["EXISTS", "x"]), int(0), "SORT_RO never stores");
}

#[test]
fn store_events_and_watch() {
    let server = Server::start();
    let mut con = server.connect(false);
    let mut watcher = server.connect(false);
    cmd(&mut con, &["RPUSH", "l", "2", "1"]);
    cmd(&mut watcher, &["WATCH", "dst"]);
    cmd(&mut con, &["CONFIG", "SET", "notify-keyspace-events", "Egl"]);
    let mut sub = server.connect(false);
    let mut pubsub = sub.as_pubsub();
    pubsub.psubscribe("__keyevent@0__:*").expect("psubscribe");
    pubsub.set_read_timeout(Some(std::time::Duration::from_secs(5))).expect("timeout");
    assert_eq!(cmd(&mut con, &["SORT", "l", "STORE", "dst"]), int(2));
    assert_eq!(cmd(&mut con, &["SORT", "l", "LIMIT", "0", "0", "STORE", "dst"]), int(0));
    let mut events = Vec::new();
    for _ in 0..2 {
        let message = pubsub.get_message().expect("event");
        let key: String = message.get_payload().expect("payload");
        events.push((message.get_channel_name().to_owned(), key));
    }
    // What redis-server 7.0 sends: sortstore (a list event), then del when an empty result deletes.
    let want = [("__keyevent@0__:sortstore", "dst"), ("__keyevent@0__:del", "dst")];
    assert_eq!(events, want.map(|(c, k)| (c.to_owned(), k.to_owned())));
    cmd(&mut watcher, &["MULTI"]);
    cmd(&mut watcher, &["PING"]);
    assert_eq!(cmd(&mut watcher, &["EXEC"]), Value::Nil, "SORT ... STORE touched the watched destination");
}
