//! A seeded random workload of write commands over every type, shared by the tests that check
//! what writes leave behind (the mutation stream, persistence across restarts).

use rand::rngs::StdRng;
use rand::Rng;

const KEYS: &[&str] = &["k1", "k2", "k3", "k4", "{t}a", "{t}b"];
/// Queues mostly live here, so they grow beyond a message or two; `k4` is shared with every type.
const QUEUE_KEYS: &[&str] = &["q1", "q2", "k4"];
/// Topics mostly live here; `k4` is shared with every type.
const TOPIC_KEYS: &[&str] = &["t1", "t2", "k4"];
/// Catalogs mostly live here, so their history grows; `k4` is shared with every type.
const LAKE_KEYS: &[&str] = &["j1", "j2", "k4"];
const MEMBERS: &[&str] = &["a", "b", "c", "d", "e", "1", "2", "3", "17", "-4", "long-member-name-beyond-nothing"];

fn pick<'a>(rng: &mut StdRng, from: &[&'a str]) -> &'a str {
    from[rng.random_range(0..from.len())]
}

/// One random write command (or a read that may expire keys lazily) over every type, with keys
/// from a small pool so types collide (WRONGTYPE) and commands meet each other's keys.
pub fn random_write(rng: &mut StdRng) -> Vec<String> {
    let id = format!("{}-1", rng.random_range(1..40));
    let k = pick(rng, KEYS).to_string();
    let k2 = pick(rng, KEYS).to_string();
    let m = pick(rng, MEMBERS).to_string();
    let m2 = pick(rng, MEMBERS).to_string();
    let n = rng.random_range(-3..6).to_string();
    let (qk, qk2) = (pick(rng, QUEUE_KEYS).to_string(), pick(rng, QUEUE_KEYS).to_string());
    let lk = pick(rng, LAKE_KEYS).to_string();
    let lake_path = pick(rng, &["/", "/a", "/a/b", "/c"]).to_string();
    let score = format!("{}", rng.random_range(-20..20) as f64 / 4.0);
    let words: Vec<&str> = match rng.random_range(0..137) {
        0 => vec!["set", &k, &m],
        1 => vec!["set", &k, &m, "px", "150"],
        2 => vec!["set", &k, &m, "keepttl", "get"],
        3 => vec!["append", &k, &m],
        4 => vec!["setrange", &k, "3", &m],
        5 => vec!["incrby", &k, &n],
        6 => vec!["incrbyfloat", &k, "1.5"],
        7 => vec!["getdel", &k],
        8 => vec!["getex", &k, "px", "200"],
        9 => vec!["mset", &k, &m, &k2, &m2],
        10 => vec!["setbit", &k, "13", "1"],
        11 => vec!["bitfield", &k, "set", "u8", "#1", "200", "incrby", "i5", "3", "7"],
        12 => vec!["bitop", "or", &k, &k2, &k],
        13 => vec!["pfadd", &k, &m, &m2],
        14 => vec!["pfmerge", &k, &k2],
        15 => vec!["pfcount", &k],
        16 => vec!["del", &k, &k2],
        17 => vec!["unlink", &k],
        18 => vec!["pexpire", &k, "120"],
        19 => vec!["expire", &k, "100", "gt"],
        20 => vec!["persist", &k],
        21 => vec!["rename", &k, &k2],
        22 => vec!["renamenx", &k, &k2],
        23 => vec!["copy", &k, &k2, "replace"],
        24 => vec!["move", &k, "1"],
        25 => vec!["lpush", &k, &m, &m2, &m],
        26 => vec!["rpush", &k, &m, &m2],
        27 => vec!["lpop", &k, "2"],
        28 => vec!["rpop", &k],
        29 => vec!["lset", &k, &n, &m],
        30 => vec!["linsert", &k, "before", &m, &m2],
        31 => vec!["lrem", &k, &n, &m],
        32 => vec!["ltrim", &k, "1", &n],
        33 => vec!["lmove", &k, &k2, "left", "right"],
        34 => vec!["lmpop", "2", &k, &k2, "right", "count", "2"],
        35 => vec!["hset", &k, &m, &m2, &m2, &m],
        36 => vec!["hdel", &k, &m, &m2],
        37 => vec!["hincrby", &k, &m, &n],
        38 => vec!["hincrbyfloat", &k, &m, "0.25"],
        39 => vec!["hsetnx", &k, &m, &m2],
        40 => vec!["sadd", &k, &m, &m2],
        41 => vec!["srem", &k, &m],
        42 => vec!["spop", &k, "2"],
        43 => vec!["smove", &k, &k2, &m],
        44 => vec!["sinterstore", &k, &k, &k2],
        45 => vec!["sunionstore", &k2, &k, &k2],
        46 => vec!["sdiffstore", &k, &k2, &k],
        47 => vec!["zadd", &k, &score, &m, &score, &m2],
        48 => vec!["zadd", &k, "gt", "ch", &score, &m],
        49 => vec!["zincrby", &k, &score, &m],
        50 => vec!["zrem", &k, &m, &m2],
        51 => vec!["zpopmin", &k, "2"],
        52 => vec!["zpopmax", &k],
        53 => vec!["zremrangebyrank", &k, "0", "1"],
        54 => vec!["zremrangebyscore", &k, "-2", "1"],
        55 => vec!["zunionstore", &k, "2", &k, &k2, "weights", "1", "2"],
        56 => vec!["zrangestore", &k2, &k, "0", "2"],
        57 => vec!["geoadd", &k, "13.36", "38.11", &m],
        58 => vec!["sort", &k, "alpha", "store", &k2],
        59 => vec!["swapdb", "0", "1"],
        60 => vec!["select", if rng.random_bool(0.5) { "0" } else { "1" }],
        61 => vec!["get", &k],
        62 => vec!["exists", &k, &k2],
        63 => vec!["eval", "redis.call('rpush', KEYS[1], ARGV[1]); return redis.call('hset', KEYS[2], ARGV[1], ARGV[1])", "2", &k, &k2, &m],
        64 => vec!["eval", "return redis.pcall('incr', KEYS[1])", "1", &k],
        65 => vec!["flushdb"],
        66 => vec!["lpushx", &k, &m],
        67 => vec!["zmpop", "2", &k, &k2, "min", "count", "3"],
        68 => vec!["srandmember", &k, "-2"],
        69 => vec!["restore", &k, "0", "bogus"],
        70 => vec!["setex", &k, "1", &m],
        71 => vec!["getset", &k, &m],
        72 => vec!["msetnx", &k, &m, &k2, &m2],
        73 => vec!["decr", &k],
        74 => vec!["xadd", &k, &id, &m, &m2],
        75 => vec!["xadd", &k, "maxlen", "~", "4", "*", &m, &m2],
        76 => vec!["xdel", &k, &id],
        77 => vec!["xtrim", &k, "minid", &id],
        78 => vec!["xgroup", "create", &k, &m, "0", "mkstream"],
        79 => vec!["xreadgroup", "group", &m, &m2, "count", "2", "streams", &k, ">"],
        80 => vec!["xreadgroup", "group", &m, &m2, "streams", &k, "0"],
        81 => vec!["xack", &k, &m, &id],
        82 => vec!["xautoclaim", &k, &m, &m2, "0", "0-0", "count", "2"],
        83 => vec!["xclaim", &k, &m, &m2, "0", &id, "force"],
        84 => vec!["xgroup", "setid", &k, &m, "$", "entriesread", "3"],
        85 => vec!["xgroup", "delconsumer", &k, &m, &m2],
        86 => vec!["xgroup", "destroy", &k, &m],
        87 => vec!["xsetid", &k, "50-1", "entriesadded", "80", "maxdeletedid", "2-1"],
        88 => vec!["xgroup", "createconsumer", &k, &m, &m2],
        89 => vec!["setnx", &k, &m],
        90 => vec!["psetex", &k, "90", &m],
        91 => vec!["hmset", &k, &m, &m2],
        92 => vec!["pexpireat", &k, "1767225600100"],
        93 => vec!["expireat", &k, "1767225700", "nx"],
        94 => vec!["rpushx", &k, &m],
        95 => vec!["zremrangebylex", &k, "-", "[c"],
        96 => vec!["zinterstore", &k2, "2", &k, &k2, "aggregate", "max"],
        97 => vec!["zdiffstore", &k2, "2", &k, &k2],
        98 => vec!["blpop", &k, &k2, "0.01"],
        99 => vec!["brpop", &k, "0.01"],
        100 => vec!["blmove", &k, &k2, "right", "left", "0.01"],
        101 => vec!["brpoplpush", &k, &k2, "0.01"],
        102 => vec!["blmpop", "0.01", "2", &k, &k2, "left"],
        103 => vec!["bzpopmin", &k, "0.01"],
        104 => vec!["bzpopmax", &k, &k2, "0.01"],
        105 => vec!["bzmpop", "0.01", "1", &k, "max", "count", "2"],
        106 => vec!["georadius", &k, "13.36", "38.11", "500", "km", "store", &k2],
        107 => vec!["georadiusbymember", &k, &m, "500", "km", "storedist", &k2],
        108 => vec!["geosearchstore", &k2, &k, "fromlonlat", "13.36", "38.11", "byradius", "900", "km"],
        109 => vec!["pfdebug", "todense", &k],
        110 => vec!["flushall"],
        111 => vec!["copy", &k, &k2, "db", "1"],
        112 => vec!["rename", &k, &k2],
        113 => vec!["sort", &k, "by", "nosort", "store", &k2],
        114 => vec!["incr", &k],
        115 => vec!["decrby", &k, &n],
        116 => vec!["rpoplpush", &k, &k2],
        117 => vec!["q.push", &qk, &m],
        118 => vec!["q.push", &qk, &m, "delay", "50", "priority", "3", "ttl", "300", "dedup", &m2],
        119 => vec!["q.pushmany", &qk, &m, &m2, &m],
        120 => vec!["q.pop", &qk, "count", "2", "lease", "100"],
        121 => vec!["q.config", &qk, "lease", "80", "maxdeliveries", "2", "deadletter", if rng.random_bool(0.5) { &qk2 } else { "" }],
        122 => vec!["q.config", &qk, "maxlen", "3", "overflow", "drop-oldest"],
        123 => vec!["eval", "local m = redis.call('q.pop', KEYS[1]); if m then return redis.call('q.ack', KEYS[1], m[1][1]) end", "1", &qk],
        124 => {
            let script = "local m = redis.call('q.pop', KEYS[1]); if m then return redis.call('q.nack', KEYS[1], m[1][1], unpack(ARGV)) end";
            match rng.random_range(0..3) {
                0 => vec!["eval", script, "1", &qk, "dead"],
                1 => vec!["eval", script, "1", &qk, "delay", "20"],
                _ => vec!["eval", script, "1", &qk],
            }
        }
        125 => vec!["eval", "local m = redis.call('q.pop', KEYS[1], 'count', 3); if m then return redis.call('q.touch', KEYS[1], m[1][1], 'lease', 500) end", "1", &qk],
        126 => vec!["q.redrive", &qk],
        127 => vec!["q.purge", &qk],
        // Unknown IDs (the scripts above ack, nack and touch real ones).
        128 => vec!["q.ack", &qk, "1", "2"],
        129 => vec![if rng.random_bool(0.5) { "q.nack" } else { "q.touch" }, &qk, "1"],
        130 => vec!["lake.write", &lk, &lake_path, "replace", r#"{"n":1,"s":"text"}"#],
        131 => vec!["lake.write", &lk, &lake_path, "merge", r#"{"n":null,"m":[1,2]}"#, "meta", r#"{"by":"w"}"#],
        132 => vec!["lake.write", &lk, &lake_path, "patch", r#"[{"op":"add","path":"/p","value":{"q":true}}]"#],
        133 => vec!["lake.write", &lk, "/", "patch", r#"[{"op":"test","path":"/n","value":1},{"op":"remove","path":"/n"}]"#],
        134 => vec!["lake.snapshot", &lk],
        135 => vec!["lake.compact", &lk, "keep", "1"],
        _ => vec!["hset", &k, &m2, "a-value-longer-than-nothing-at-all-surely-beyond-sixty-four-bytes-of-listpack"],
    };
    words.into_iter().map(String::from).collect()
}

/// One random STREAM.* write over a few topic keys (one shared with every type). A workload of
/// its own, drawn from a generator of its own, so adding it left [`random_write`]'s sequences as
/// they were.
pub fn random_topic_write(rng: &mut StdRng) -> Vec<String> {
    let tk = pick(rng, TOPIC_KEYS).to_string();
    let m = pick(rng, MEMBERS).to_string();
    let m2 = pick(rng, MEMBERS).to_string();
    let seq = rng.random_range(0..4).to_string();
    let words: Vec<&str> = match rng.random_range(0..9) {
        0 => match rng.random_range(0..3) {
            0 => vec!["stream.create", &tk, "partitions", "3"],
            1 => vec!["stream.create", &tk, "partitions", "2", "retention", "100", "maxbytes", "200"],
            _ => vec!["stream.create", &tk, "compact", "tombstone", "50"],
        },
        1 => vec!["stream.pub", &tk, &m, "key", &m2],
        2 => vec!["stream.pub", &tk, if rng.random_bool(0.2) { "" } else { &m }, "partition", "0", "producer", &m2, "seq", &seq],
        3 => vec!["stream.sub", &tk, "group", "g", "consumer", &m, "count", "2", "session", "100"],
        4 => vec![
            "eval",
            "local e = redis.call('stream.sub', KEYS[1], 'group', 'g', 'consumer', ARGV[1]); \
             if e[1] then return redis.call('stream.commit', KEYS[1], 'group', 'g', 'consumer', ARGV[1], e[1][1], e[1][2] + 1) end",
            "1",
            &tk,
            &m,
        ],
        5 => vec!["stream.seek", &tk, "group", if rng.random_bool(0.5) { "g" } else { "h" }, "partition", "0", "earliest"],
        6 => vec!["stream.leave", &tk, "group", "g", "consumer", &m],
        7 => vec!["stream.heartbeat", &tk, "group", "g", "consumer", &m],
        _ => vec!["stream.commit", &tk, "group", "g", "consumer", &m, "0", "1"],
    };
    words.into_iter().map(String::from).collect()
}
