//! Sorted set commands against the real binary, RESP2 and RESP3 reply shapes.

mod coll_common;

use coll_common::{bulk, bulks, cmd, err, int, Server, Value};

fn pair(member: &str, score: f64) -> Value {
    Value::Array(vec![bulk(member), Value::Double(score)])
}

#[test]
fn scores_and_withscores_shapes() {
    let server = Server::start();
    for resp3 in [false, true] {
        let mut con = server.connect(resp3);
        cmd(&mut con, &["FLUSHALL"]);
        assert_eq!(cmd(&mut con, &["ZADD", "z", "1", "a", "2", "b", "0.1", "c"]), int(3));
        let score = cmd(&mut con, &["ZSCORE", "z", "c"]);
        // RESP2 sends %.17g text; RESP3 a double.
        assert_eq!(score, if resp3 { Value::Double(0.1) } else { bulk("0.10000000000000001") });
        let ranged = cmd(&mut con, &["ZRANGE", "z", "0", "1", "WITHSCORES"]);
        if resp3 {
            assert_eq!(ranged, Value::Array(vec![pair("c", 0.1), pair("a", 1.0)]));
        } else {
            assert_eq!(ranged, bulks(&["c", "0.10000000000000001", "a", "1"]));
        }
        let popped = cmd(&mut con, &["ZPOPMIN", "z"]);
        if resp3 {
            assert_eq!(popped, Value::Array(vec![bulk("c"), Value::Double(0.1)]), "no count: one flat pair");
        } else {
            assert_eq!(popped, bulks(&["c", "0.10000000000000001"]));
        }
        let popped = cmd(&mut con, &["ZPOPMAX", "z", "1"]);
        assert_eq!(popped, if resp3 { Value::Array(vec![pair("b", 2.0)]) } else { bulks(&["b", "2"]) });
        let mpop = cmd(&mut con, &["ZMPOP", "2", "nope", "z", "MIN", "COUNT", "5"]);
        let nested = if resp3 { pair("a", 1.0) } else { bulks(&["a", "1"]) };
        assert_eq!(mpop, Value::Array(vec![bulk("z"), Value::Array(vec![nested])]));
        assert_eq!(cmd(&mut con, &["EXISTS", "z"]), int(0), "an emptied sorted set is deleted");
        assert_eq!(cmd(&mut con, &["ZMPOP", "1", "z", "MIN"]), Value::Nil);
        assert_eq!(cmd(&mut con, &["ZSCORE", "z", "a"]), Value::Nil);
        let incr = cmd(&mut con, &["ZINCRBY", "z", "1.5", "m"]);
        assert_eq!(incr, if resp3 { Value::Double(1.5) } else { bulk("1.5") });
        let rank = cmd(&mut con, &["ZRANK", "z", "m", "WITHSCORE"]);
        assert_eq!(rank, Value::Array(vec![int(0), if resp3 { Value::Double(1.5) } else { bulk("1.5") }]));
    }
}

#[test]
fn zadd_flags_and_errors() {
    let server = Server::start();
    let mut con = server.connect(false);
    assert_eq!(cmd(&mut con, &["ZADD", "z", "1", "a", "2", "b"]), int(2));
    assert_eq!(cmd(&mut con, &["ZADD", "z", "CH", "5", "a", "3", "c"]), int(2));
    assert_eq!(cmd(&mut con, &["ZADD", "z", "GT", "CH", "1", "a"]), int(0));
    assert_eq!(cmd(&mut con, &["ZADD", "z", "LT", "CH", "1", "a"]), int(1));
    assert_eq!(cmd(&mut con, &["ZADD", "z", "XX", "1", "new"]), int(0));
    assert_eq!(cmd(&mut con, &["ZADD", "z", "NX", "INCR", "1", "a"]), Value::Nil);
    assert_eq!(cmd(&mut con, &["ZADD", "z", "INCR", "2", "a"]), bulk("3"));
    assert_eq!(err(&mut con, &["ZADD", "z", "NX", "XX", "1", "a"]), "ERR XX and NX options at the same time are not compatible");
    assert_eq!(err(&mut con, &["ZADD", "z", "GT", "LT", "1", "a"]), "ERR GT, LT, and/or NX options at the same time are not compatible");
    assert_eq!(err(&mut con, &["ZADD", "z", "INCR", "1", "a", "2", "b"]), "ERR INCR option supports a single increment-element pair");
    assert_eq!(err(&mut con, &["ZADD", "z", "nan", "a"]), "ERR value is not a valid float");
    cmd(&mut con, &["ZADD", "z", "inf", "a"]);
    assert_eq!(err(&mut con, &["ZINCRBY", "z", "-inf", "a"]), "ERR resulting score is not a number (NaN)");
    assert_eq!(
        err(&mut con, &["ZRANGE", "z", "0", "-1", "LIMIT", "0", "1"]),
        "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"
    );
    assert_eq!(err(&mut con, &["ZRANGE", "z", "a", "b", "BYSCORE"]), "ERR min or max is not a float");
    assert_eq!(err(&mut con, &["ZRANGEBYLEX", "z", "a", "b"]), "ERR min or max not valid string range item");
    cmd(&mut con, &["SET", "s", "x"]);
    assert!(err(&mut con, &["ZADD", "s", "1", "a"]).starts_with("WRONGTYPE"));
}

#[test]
fn ranges_algebra_and_the_skiplist_encoding() {
    let server = Server::start();
    let mut con = server.connect(false);
    cmd(&mut con, &["CONFIG", "SET", "zset-max-listpack-entries", "8"]);
    for i in 0..100 {
        cmd(&mut con, &["ZADD", "big", &i.to_string(), &format!("m{i:03}")]);
    }
    assert_eq!(cmd(&mut con, &["OBJECT", "ENCODING", "big"]), bulk("skiplist"));
    assert_eq!(cmd(&mut con, &["ZRANK", "big", "m042"]), int(42));
    assert_eq!(cmd(&mut con, &["ZREVRANK", "big", "m042"]), int(57));
    assert_eq!(cmd(&mut con, &["ZRANGE", "big", "(10", "20", "BYSCORE", "LIMIT", "2", "3"]), bulks(&["m013", "m014", "m015"]));
    assert_eq!(cmd(&mut con, &["ZRANGE", "big", "20", "(10", "BYSCORE", "REV", "LIMIT", "0", "2"]), bulks(&["m020", "m019"]));
    assert_eq!(cmd(&mut con, &["ZCOUNT", "big", "(10", "+inf"]), int(89));
    assert_eq!(cmd(&mut con, &["ZREMRANGEBYSCORE", "big", "50", "+inf"]), int(50));
    assert_eq!(cmd(&mut con, &["ZREMRANGEBYRANK", "big", "0", "9"]), int(10));
    assert_eq!(cmd(&mut con, &["ZCARD", "big"]), int(40));
    assert_eq!(cmd(&mut con, &["ZRANGESTORE", "part", "big", "0", "2"]), int(3));
    assert_eq!(cmd(&mut con, &["ZRANGE", "part", "0", "-1"]), bulks(&["m010", "m011", "m012"]));

    cmd(&mut con, &["ZADD", "a", "1", "x", "2", "y"]);
    cmd(&mut con, &["ZADD", "b", "10", "y", "20", "z"]);
    cmd(&mut con, &["SADD", "s", "x", "z"]);
    assert_eq!(cmd(&mut con, &["ZUNION", "3", "a", "b", "s", "WITHSCORES"]), bulks(&["x", "2", "y", "12", "z", "21"]));
    assert_eq!(cmd(&mut con, &["ZINTER", "2", "a", "b", "AGGREGATE", "MAX", "WITHSCORES"]), bulks(&["y", "10"]));
    assert_eq!(cmd(&mut con, &["ZDIFF", "2", "a", "s"]), bulks(&["y"]));
    assert_eq!(cmd(&mut con, &["ZUNIONSTORE", "u", "2", "a", "b", "WEIGHTS", "2", "1"]), int(3));
    assert_eq!(cmd(&mut con, &["ZRANGE", "u", "0", "-1", "WITHSCORES"]), bulks(&["x", "2", "y", "14", "z", "20"]));
    assert_eq!(cmd(&mut con, &["ZINTERCARD", "2", "a", "b"]), int(1));
    assert_eq!(err(&mut con, &["ZUNION", "0", "a"]), "ERR at least 1 input key is needed for 'zunion' command");
    assert_eq!(cmd(&mut con, &["COPY", "big", "big2"]), int(1));
    cmd(&mut con, &["ZREM", "big2", "m010"]);
    assert_eq!(cmd(&mut con, &["ZSCORE", "big", "m010"]), bulk("10"));
}
