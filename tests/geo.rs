//! GEO commands against the real binary: reply shapes in RESP2 and RESP3, search options, the
//! STORE forms, errors, keyspace events and WATCH. Expected values were read from redis-server 7.0
//! (tests/coll_scripts/geo*.txt compare many more cases with it byte for byte).

mod coll_common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

use coll_common::{bulk, bulks, cmd, err, int, Server, Value};

fn sicily(con: &mut redis::Connection) {
    cmd(con, &["FLUSHALL"]);
    let added = cmd(con, &["GEOADD", "Sicily", "13.361389", "38.115556", "Palermo", "15.087269", "37.502669", "Catania"]);
    assert_eq!(added, int(2));
}

/// A coordinate as Redis sends it: text in RESP2, a double in RESP3.
fn coord(text: &str, resp3: bool) -> Value {
    if resp3 {
        Value::Double(text.parse().expect("number"))
    } else {
        bulk(text)
    }
}

#[test]
fn positions_hashes_and_distances() {
    let server = Server::start();
    for resp3 in [false, true] {
        let mut con = server.connect(resp3);
        sicily(&mut con);
        assert_eq!(
            cmd(&mut con, &["ZSCORE", "Sicily", "Palermo"]),
            if resp3 { Value::Double(3479099956230698.0) } else { bulk("3479099956230698") }
        );
        let palermo = Value::Array(vec![coord("13.36138933897018433", resp3), coord("38.11555639549629859", resp3)]);
        assert_eq!(cmd(&mut con, &["GEOPOS", "Sicily", "Palermo", "nope"]), Value::Array(vec![palermo, Value::Nil]));
        assert_eq!(cmd(&mut con, &["GEOPOS", "missing", "a"]), Value::Array(vec![Value::Nil]));
        assert_eq!(cmd(&mut con, &["GEOPOS", "Sicily"]), Value::Array(vec![]));
        let hashes = Value::Array(vec![bulk("sqc8b49rny0"), bulk("sqdtr74hyu0"), Value::Nil]);
        assert_eq!(cmd(&mut con, &["GEOHASH", "Sicily", "Palermo", "Catania", "nope"]), hashes);
        // Distances are bulk strings with 4 decimals in both protocols.
        for (unit, text) in [("m", "166274.1516"), ("km", "166.2742"), ("ft", "545518.8700"), ("mi", "103.3182"), ("KM", "166.2742")] {
            assert_eq!(cmd(&mut con, &["GEODIST", "Sicily", "Palermo", "Catania", unit]), bulk(text), "{unit}");
        }
        assert_eq!(cmd(&mut con, &["GEODIST", "Sicily", "Palermo", "Catania"]), bulk("166274.1516"));
        assert_eq!(cmd(&mut con, &["GEODIST", "Sicily", "Palermo", "Palermo"]), bulk("0.0000"));
        assert_eq!(cmd(&mut con, &["GEODIST", "Sicily", "Palermo", "nope"]), Value::Nil);
        assert_eq!(cmd(&mut con, &["GEODIST", "missing", "a", "b"]), Value::Nil);
    }
}

#[test]
fn geoadd_flags_edges_and_errors() {
    let server = Server::start();
    let mut con = server.connect(false);
    sicily(&mut con);
    assert_eq!(cmd(&mut con, &["GEOADD", "Sicily", "NX", "1", "1", "Palermo", "2", "2", "new"]), int(1));
    assert_eq!(cmd(&mut con, &["GEOADD", "Sicily", "XX", "CH", "1", "1", "Palermo", "3", "3", "ghost"]), int(1));
    assert_eq!(cmd(&mut con, &["GEOADD", "Sicily", "CH", "1", "1", "Palermo"]), int(0), "same position: no change");
    assert_eq!(cmd(&mut con, &["GEOADD", "fresh", "XX", "1", "1", "a"]), int(0));
    assert_eq!(cmd(&mut con, &["EXISTS", "fresh"]), int(0));
    // The edges of the indexable area, as redis-server stores them.
    cmd(&mut con, &["GEOADD", "edges", "180", "0", "east", "-180", "0", "west", "0", "85.05112878", "north"]);
    let scores = bulks(&["west", "1125899906842624", "north", "6755399441055744", "east", "10133099161583616"]);
    assert_eq!(cmd(&mut con, &["ZRANGE", "edges", "0", "-1", "WITHSCORES"]), scores);
    // Any score decodes, as C converts it: -1 is all ones (the north-east corner).
    cmd(&mut con, &["ZADD", "odd", "-1", "neg"]);
    assert_eq!(cmd(&mut con, &["GEOPOS", "odd", "neg"]), Value::Array(vec![bulks(&["180", "85.0511287799999991"])]));

    for (args, text) in [
        (&["GEOADD", "k", "1", "100", "x"][..], "ERR invalid longitude,latitude pair 1.000000,100.000000"),
        (&["GEOADD", "k", "-0", "86", "x"], "ERR invalid longitude,latitude pair -0.000000,86.000000"),
        (&["GEOADD", "k", "181", "0", "x"], "ERR invalid longitude,latitude pair 181.000000,0.000000"),
        (&["GEOADD", "k", "abc", "0", "x"], "ERR value is not a valid float"),
        (&["GEOADD", "k", "nan", "0", "x"], "ERR value is not a valid float"),
        (&["GEOADD", "k", "1", "1", "a", "2"], "ERR syntax error"),
        (&["GEOADD", "k", "NX", "XX", "1", "1", "a"], "ERR syntax error"),
        (&["GEOADD", "k", "CH", "CH", "CH"], "ERR syntax error"),
        (&["GEOADD", "k", "1", "1"], "ERR wrong number of arguments for 'geoadd' command"),
        (&["GEODIST", "Sicily", "a", "b", "furlong"], "ERR unsupported unit provided. please use M, KM, FT, MI"),
        (&["GEODIST", "Sicily", "a", "b", "km", "x"], "ERR syntax error"),
    ] {
        assert_eq!(err(&mut con, args), text, "{args:?}");
    }
    assert_eq!(cmd(&mut con, &["EXISTS", "k"]), int(0), "a rejected GEOADD adds nothing");
    cmd(&mut con, &["SET", "s", "x"]);
    for args in [&["GEOADD", "s", "1", "1", "a"][..], &["GEOPOS", "s", "a"], &["GEOHASH", "s"], &["GEODIST", "s", "a", "b"]] {
        assert!(err(&mut con, args).starts_with("WRONGTYPE"), "{args:?}");
    }
}

#[test]
fn search_reply_shapes_and_order() {
    let server = Server::start();
    for resp3 in [false, true] {
        let mut con = server.connect(resp3);
        sicily(&mut con);
        let near = cmd(&mut con, &["GEORADIUS", "Sicily", "15", "37", "200", "km", "WITHDIST", "WITHHASH", "WITHCOORD", "ASC"]);
        let catania = Value::Array(vec![
            bulk("Catania"),
            bulk("56.4413"),
            int(3479447370796909),
            Value::Array(vec![coord("15.08726745843887329", resp3), coord("37.50266842333162032", resp3)]),
        ]);
        let palermo = Value::Array(vec![
            bulk("Palermo"),
            bulk("190.4424"),
            int(3479099956230698),
            Value::Array(vec![coord("13.36138933897018433", resp3), coord("38.11555639549629859", resp3)]),
        ]);
        assert_eq!(near, Value::Array(vec![catania.clone(), palermo.clone()]));
        let far_first = cmd(
            &mut con,
            &["GEOSEARCH", "Sicily", "FROMLONLAT", "15", "37", "BYRADIUS", "200", "km", "DESC", "WITHHASH", "WITHCOORD", "WITHDIST"],
        );
        assert_eq!(far_first, Value::Array(vec![palermo, catania]));
        assert_eq!(cmd(&mut con, &["GEORADIUS_RO", "Sicily", "15", "37", "200", "km", "DESC"]), bulks(&["Palermo", "Catania"]));
        assert_eq!(
            cmd(&mut con, &["GEORADIUS", "Sicily", "15", "37", "200", "km", "COUNT", "1"]),
            bulks(&["Catania"]),
            "COUNT sorts ascending"
        );
        let dist_only = cmd(&mut con, &["GEORADIUSBYMEMBER", "Sicily", "Palermo", "200", "km", "WITHDIST", "ASC"]);
        let pair = |m: &str, d: &str| Value::Array(vec![bulk(m), bulk(d)]);
        assert_eq!(dist_only, Value::Array(vec![pair("Palermo", "0.0000"), pair("Catania", "166.2742")]));
        let boxed = cmd(&mut con, &["GEOSEARCH", "Sicily", "FROMMEMBER", "Palermo", "BYBOX", "400", "200", "km", "ASC", "WITHDIST"]);
        assert_eq!(boxed, Value::Array(vec![pair("Palermo", "0.0000"), pair("Catania", "166.2742")]));
        let narrow = cmd(&mut con, &["GEOSEARCH", "Sicily", "FROMMEMBER", "Palermo", "BYBOX", "400", "10", "km"]);
        assert_eq!(narrow, bulks(&["Palermo"]));
        assert_eq!(cmd(&mut con, &["GEOSEARCH", "missing", "FROMMEMBER", "x", "BYRADIUS", "1", "km"]), Value::Array(vec![]));
        assert_eq!(cmd(&mut con, &["GEORADIUS", "Sicily", "0", "0", "1", "km"]), Value::Array(vec![]));
    }
}

#[test]
fn ties_and_count_any_follow_redis() {
    let server = Server::start();
    let mut con = server.connect(false);
    // Eight members on two spots: equal distances keep the order Redis finds them in (score, then
    // member), and COUNT takes Redis's partial sort.
    for (i, spot) in ["a", "b", "c", "d", "e", "f", "g", "h"].iter().enumerate() {
        let (lon, lat) = if i % 2 == 0 { ("10", "10") } else { ("10.001", "10") };
        cmd(&mut con, &["GEOADD", "tie", lon, lat, spot]);
    }
    let all = cmd(&mut con, &["GEOSEARCH", "tie", "FROMLONLAT", "10", "10", "BYRADIUS", "1", "km", "ASC"]);
    assert_eq!(all, bulks(&["a", "c", "e", "g", "b", "d", "f", "h"]));
    let desc = cmd(&mut con, &["GEOSEARCH", "tie", "FROMLONLAT", "10", "10", "BYRADIUS", "1", "km", "DESC"]);
    assert_eq!(desc, bulks(&["b", "d", "f", "h", "a", "c", "e", "g"]));
    let three = cmd(&mut con, &["GEOSEARCH", "tie", "FROMLONLAT", "10", "10", "BYRADIUS", "1", "km", "COUNT", "3"]);
    // Redis's partial quicksort does not keep ties in scan order: these are the three it returns.
    assert_eq!(three, bulks(&["c", "e", "g"]));
    let any = cmd(&mut con, &["GEOSEARCH", "tie", "FROMLONLAT", "10.001", "10", "BYRADIUS", "1", "km", "COUNT", "3", "ANY"]);
    assert_eq!(any, bulks(&["a", "c", "e"]), "ANY stops at the first three found, unsorted");
}

#[test]
fn store_forms() {
    let server = Server::start();
    let mut con = server.connect(false);
    sicily(&mut con);
    assert_eq!(cmd(&mut con, &["GEORADIUS", "Sicily", "15", "37", "200", "km", "STORE", "dst"]), int(2));
    assert_eq!(
        cmd(&mut con, &["ZRANGE", "dst", "0", "-1", "WITHSCORES"]),
        bulks(&["Palermo", "3479099956230698", "Catania", "3479447370796909"])
    );
    assert_eq!(cmd(&mut con, &["GEORADIUS", "Sicily", "15", "37", "200", "km", "STOREDIST", "dst"]), int(2));
    let by_distance = bulks(&["Catania", "56.441257870158204", "Palermo", "190.44242984775784"]);
    assert_eq!(cmd(&mut con, &["ZRANGE", "dst", "0", "-1", "WITHSCORES"]), by_distance);
    assert_eq!(cmd(&mut con, &["GEORADIUSBYMEMBER", "Sicily", "Palermo", "10", "km", "STORE", "one"]), int(1));
    assert_eq!(cmd(&mut con, &["ZRANGE", "one", "0", "-1"]), bulks(&["Palermo"]));
    let stored = cmd(
        &mut con,
        &["GEOSEARCHSTORE", "gs", "Sicily", "FROMLONLAT", "15", "37", "BYBOX", "400", "400", "km", "COUNT", "1", "STOREDIST"],
    );
    assert_eq!(stored, int(1));
    assert_eq!(cmd(&mut con, &["ZRANGE", "gs", "0", "-1", "WITHSCORES"]), bulks(&["Catania", "56.441257870158204"]));
    // Nothing found (or no source): the destination is deleted, TTL and all.
    cmd(&mut con, &["SET", "str", "x", "EX", "100"]);
    assert_eq!(cmd(&mut con, &["GEOSEARCHSTORE", "str", "Sicily", "FROMLONLAT", "0", "0", "BYRADIUS", "1", "km"]), int(0));
    assert_eq!(cmd(&mut con, &["EXISTS", "str"]), int(0));
    assert_eq!(cmd(&mut con, &["GEORADIUS", "missing", "0", "0", "1", "km", "STORE", "dst"]), int(0));
    assert_eq!(cmd(&mut con, &["EXISTS", "dst"]), int(0));
    // A stored result replaces any value and its TTL.
    cmd(&mut con, &["SET", "str", "x", "EX", "100"]);
    assert_eq!(cmd(&mut con, &["GEORADIUS", "Sicily", "15", "37", "200", "km", "STORE", "str"]), int(2));
    assert_eq!(cmd(&mut con, &["TTL", "str"]), int(-1));
    assert_eq!(cmd(&mut con, &["TYPE", "str"]), Value::SimpleString("zset".into()));
    let keys = cmd(&mut con, &["COMMAND", "GETKEYS", "GEORADIUS", "k", "1", "2", "3", "m", "STORE", "a", "STOREDIST", "b"]);
    assert_eq!(keys, bulks(&["k", "a", "b"]));
    let keys = cmd(&mut con, &["COMMAND", "GETKEYS", "GEOSEARCHSTORE", "d", "s", "FROMLONLAT", "0", "0", "BYRADIUS", "1", "km"]);
    assert_eq!(keys, bulks(&["d", "s"]));
}

#[test]
fn search_errors_have_redis_texts() {
    let server = Server::start();
    let mut con = server.connect(false);
    sicily(&mut con);
    let cases: &[(&[&str], &str)] = &[
        (&["GEORADIUS", "Sicily", "0", "0", "1", "parsec"], "ERR unsupported unit provided. please use M, KM, FT, MI"),
        (&["GEORADIUS", "Sicily", "0", "0", "-1", "km"], "ERR radius cannot be negative"),
        (&["GEORADIUS", "Sicily", "0", "0", "x", "km"], "ERR need numeric radius"),
        (&["GEORADIUS", "Sicily", "0", "91", "1", "km"], "ERR invalid longitude,latitude pair 0.000000,91.000000"),
        (&["GEORADIUS", "Sicily", "0", "0", "1", "km", "COUNT", "0"], "ERR COUNT must be > 0"),
        (&["GEORADIUS", "Sicily", "0", "0", "1", "km", "COUNT", "x"], "ERR value is not an integer or out of range"),
        (&["GEORADIUS", "Sicily", "0", "0", "1", "km", "ANY"], "ERR the ANY argument requires COUNT argument"),
        (&["GEORADIUS", "Sicily", "0", "0", "1", "km", "STORE"], "ERR syntax error"),
        (
            &["GEORADIUS", "Sicily", "0", "0", "1", "km", "STORE", "d", "WITHDIST"],
            "ERR STORE option in GEORADIUS is not compatible with WITHDIST, WITHHASH and WITHCOORD options",
        ),
        (&["GEORADIUS_RO", "Sicily", "0", "0", "1", "km", "STORE", "d"], "ERR syntax error"),
        (&["GEORADIUSBYMEMBER", "Sicily", "nope", "1", "km"], "ERR could not decode requested zset member"),
        (&["GEOSEARCH", "Sicily", "FROMMEMBER", "nope", "BYRADIUS", "1", "km"], "ERR could not decode requested zset member"),
        (
            &["GEOSEARCH", "Sicily", "BYRADIUS", "1", "km", "ASC", "WITHDIST"],
            "ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for GEOSEARCH",
        ),
        (
            &["geosearch", "Sicily", "BYRADIUS", "1", "km", "ASC", "WITHDIST"],
            "ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for geosearch",
        ),
        (
            &["GEOSEARCH", "Sicily", "FROMLONLAT", "0", "0", "ASC", "WITHDIST"],
            "ERR exactly one of BYRADIUS and BYBOX can be specified for GEOSEARCH",
        ),
        (&["GEOSEARCH", "Sicily", "FROMLONLAT", "0", "0", "FROMMEMBER", "Palermo", "BYRADIUS", "1", "km"], "ERR syntax error"),
        (&["GEOSEARCH", "Sicily", "FROMLONLAT", "0", "0", "BYRADIUS", "1", "km", "BYBOX", "1", "1", "km"], "ERR syntax error"),
        (&["GEOSEARCH", "Sicily", "FROMLONLAT", "0", "0", "BYBOX", "-1", "1", "km"], "ERR height or width cannot be negative"),
        (&["GEOSEARCH", "Sicily", "FROMLONLAT", "0", "0", "BYBOX", "x", "1", "km"], "ERR need numeric width"),
        (&["GEOSEARCH", "Sicily", "FROMLONLAT", "0", "0", "BYBOX", "1", "x", "km"], "ERR need numeric height"),
        (&["GEOSEARCH", "Sicily", "FROMLONLAT", "0", "0", "BYRADIUS", "1", "km", "STOREDIST"], "ERR syntax error"),
        (
            &["GEOSEARCHSTORE", "d", "Sicily", "FROMLONLAT", "0", "0", "BYRADIUS", "1", "km", "WITHCOORD"],
            "ERR GEOSEARCHSTORE is not compatible with WITHDIST, WITHHASH and WITHCOORD options",
        ),
        (&["GEOSEARCH", "Sicily", "FROMLONLAT", "0", "0"], "ERR wrong number of arguments for 'geosearch' command"),
        // With no source, a missing member is not an error, but the options still are.
        (&["GEOSEARCH", "missing", "FROMMEMBER", "x", "BYRADIUS", "1", "km", "COUNT", "0"], "ERR COUNT must be > 0"),
    ];
    for (args, text) in cases {
        assert_eq!(err(&mut con, args), *text, "{args:?}");
    }
    assert_eq!(cmd(&mut con, &["GEORADIUSBYMEMBER", "missing", "m", "not-a-number", "parsec"]), Value::Array(vec![]));
    cmd(&mut con, &["SET", "s", "x"]);
    assert!(err(&mut con, &["GEOSEARCH", "s", "BOGUS", "1", "2", "3", "4"]).starts_with("WRONGTYPE"), "the type is checked first");
}

/// A RESP2 subscriber on a raw socket: PSUBSCRIBE `__keyevent*`, then (event, key) pairs.
struct Subscriber {
    reader: BufReader<TcpStream>,
}

impl Subscriber {
    fn start(port: u16) -> Subscriber {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
        stream.write_all(b"*2\r\n$10\r\nPSUBSCRIBE\r\n$11\r\n__keyevent*\r\n").expect("subscribe");
        let mut sub = Subscriber { reader: BufReader::new(stream) };
        assert_eq!(sub.lines(3)[0], "psubscribe");
        sub
    }

    /// The next `n` lines without their `$len` headers.
    fn lines(&mut self, n: usize) -> Vec<String> {
        let mut out = Vec::new();
        while out.len() < n {
            let mut line = String::new();
            self.reader.read_line(&mut line).expect("read");
            let line = line.trim_end().to_owned();
            if !line.starts_with('$') && !line.starts_with('*') {
                out.push(line);
            }
        }
        out
    }

    fn event(&mut self) -> (String, String) {
        let lines = self.lines(4);
        (lines[2].trim_start_matches("__keyevent@0__:").to_owned(), lines[3].clone())
    }
}

#[test]
fn keyspace_events_match_redis() {
    let server = Server::start();
    let mut con = server.connect(false);
    cmd(&mut con, &["CONFIG", "SET", "notify-keyspace-events", "KEA"]);
    let mut sub = Subscriber::start(server.port);
    cmd(&mut con, &["GEOADD", "g", "1", "1", "a", "2", "2", "b"]);
    cmd(&mut con, &["GEOADD", "g", "1", "1", "a"]);
    cmd(&mut con, &["GEOADD", "g", "CH", "1.5", "1", "a"]);
    cmd(&mut con, &["GEORADIUS", "g", "1", "1", "500", "km", "STORE", "d1"]);
    cmd(&mut con, &["GEOSEARCHSTORE", "d2", "g", "FROMLONLAT", "1", "1", "BYRADIUS", "500", "km"]);
    cmd(&mut con, &["SET", "d3", "x"]);
    cmd(&mut con, &["GEOSEARCHSTORE", "d3", "g", "FROMLONLAT", "50", "50", "BYRADIUS", "1", "km"]);
    cmd(&mut con, &["GEORADIUS", "nokey", "1", "1", "1", "km", "STORE", "d2"]);
    // The sequence redis-server 7.0 publishes for the same commands.
    let want =
        [("zadd", "g"), ("zadd", "g"), ("georadiusstore", "d1"), ("geosearchstore", "d2"), ("set", "d3"), ("del", "d3"), ("del", "d2")];
    for (event, key) in want {
        assert_eq!(sub.event(), (event.to_owned(), key.to_owned()));
    }
}

#[test]
fn a_search_store_breaks_a_watch_on_its_destination() {
    let server = Server::start();
    let mut con = server.connect(false);
    let mut other = server.connect(false);
    sicily(&mut con);
    cmd(&mut con, &["WATCH", "dst"]);
    cmd(&mut other, &["GEOSEARCHSTORE", "dst", "Sicily", "FROMMEMBER", "Palermo", "BYRADIUS", "1", "km"]);
    cmd(&mut con, &["MULTI"]);
    cmd(&mut con, &["PING"]);
    assert_eq!(cmd(&mut con, &["EXEC"]), Value::Nil);
}

#[test]
fn a_repeated_store_option_writes_and_announces_the_last_destination() {
    let server = Server::start();
    let mut con = server.connect(false);
    let mut other = server.connect(false);
    sicily(&mut con);
    cmd(&mut con, &["WATCH", "second"]);
    assert_eq!(cmd(&mut other, &["GEORADIUS", "Sicily", "15", "37", "200", "km", "STORE", "first", "STORE", "second"]), int(2));
    assert_eq!(cmd(&mut other, &["EXISTS", "first", "second"]), int(1));
    cmd(&mut con, &["MULTI"]);
    cmd(&mut con, &["PING"]);
    assert_eq!(cmd(&mut con, &["EXEC"]), Value::Nil);
    // Redis's key specs name only the first STORE; strata adds the key actually written.
    let keys = cmd(&mut con, &["COMMAND", "GETKEYS", "GEORADIUS", "k", "1", "2", "3", "m", "STORE", "x", "STORE", "y"]);
    assert_eq!(keys, bulks(&["k", "x", "y"]));
}
