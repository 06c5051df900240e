//! Redis's RDB format against a real redis-server 7.0: DUMP payloads cross both ways and restore
//! to values with the same DEBUG DIGEST-VALUE, the same dataset has the same DEBUG DIGEST, RESTORE
//! refuses what Redis refuses, and no payload (a seeded fuzz of damaged ones) panics or hangs.

mod common;

use common::{q, qb, Server};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use redis::Value as Reply;

/// redis-server with DEBUG allowed (Redis 7.0 refuses it by default), validating every payload and
/// file it loads in depth (`sanitize-dump-payload yes`: listpack entries, stream node layout, PEL
/// ownership), so what strata writes must pass Redis's strictest checks.
fn redis() -> Server {
    Server::start_redis_with(&["--enable-debug-command", "yes", "--sanitize-dump-payload", "yes"])
}

fn run(con: &mut redis::Connection, args: &[&str]) -> Reply {
    q(con, args).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

/// Commands building every type in every encoding Redis 7.0 writes: int, short and compressible
/// strings, a HyperLogLog; small and multi-node lists; intsets and plain sets; listpack and
/// hashtable hashes; listpack and skiplist sorted sets with odd scores; streams with deletions,
/// consumer groups, pending entries and consumers; keys with a deadline.
fn dataset() -> Vec<Vec<String>> {
    let mut commands: Vec<Vec<String>> = Vec::new();
    let mut add = |args: &[&str]| commands.push(args.iter().map(|s| s.to_string()).collect());
    add(&["set", "str:small", "hello"]);
    add(&["set", "str:int", "12345"]);
    add(&["set", "str:negative", "-7"]);
    add(&["set", "str:bigint", "123456789012345"]);
    add(&["set", "str:empty", ""]);
    add(&["set", "str:zeros", "007"]);
    let long = "abcdefgh".repeat(200);
    add(&["set", "str:compressible", &long]);
    let noise: String = (0..3000u32).map(|i| char::from(b'!' + (i.wrapping_mul(2_654_435_761) >> 24) as u8 % 90)).collect();
    add(&["set", "str:noise", &noise]);
    add(&["set", "str:ttl", "soon", "ex", "1000"]);
    add(&["pfadd", "hll", "a", "b", "c", "d"]);
    add(&["setbit", "bits", "1000", "1"]);

    add(&["rpush", "list:small", "a", "1", "b", "-5", "99999999999"]);
    let items: Vec<String> = (0..2000).map(|i| if i % 3 == 0 { i.to_string() } else { format!("element-{i}") }).collect();
    let mut push = vec!["rpush", "list:big"];
    push.extend(items.iter().map(String::as_str));
    add(&push);
    let huge = "x".repeat(20_000);
    add(&["rpush", "list:huge-element", "a", &huge, "b"]);

    add(&["sadd", "set:ints", "1", "2", "3", "-100000", "1099511627776"]);
    add(&["sadd", "set:small", "a", "b", "1"]);
    let members: Vec<String> = (0..1000).map(|i| format!("m{i}")).collect();
    let mut sadd = vec!["sadd", "set:big"];
    sadd.extend(members.iter().map(String::as_str));
    add(&sadd);
    let ints: Vec<String> = (0..600).map(|i| (i * 7).to_string()).collect();
    let mut sadd = vec!["sadd", "set:many-ints"];
    sadd.extend(ints.iter().map(String::as_str));
    add(&sadd);

    add(&["hset", "hash:small", "f1", "v1", "f2", "2", "3", "three"]);
    let mut hset = vec!["hset".to_string(), "hash:big".to_string()];
    for i in 0..700 {
        hset.push(format!("field{i}"));
        hset.push(if i % 2 == 0 { i.to_string() } else { format!("value{i}") });
    }
    commands.push(hset);
    let mut add = |args: &[&str]| commands.push(args.iter().map(|s| s.to_string()).collect());
    add(&["hset", "hash:long-value", "f", &"v".repeat(100)]);

    add(&["zadd", "zset:small", "0.1", "a", "1.5", "b", "3", "c", "-inf", "d", "inf", "e", "-0.25", "f"]);
    let mut zadd = vec!["zadd".to_string(), "zset:big".to_string()];
    for i in 0..500 {
        zadd.push(format!("{}", f64::from(i) / 7.0 - 30.0));
        zadd.push(format!("member{i}"));
    }
    commands.push(zadd);
    let mut add = |args: &[&str]| commands.push(args.iter().map(|s| s.to_string()).collect());
    add(&["zadd", "zset:long-member", "1", &"m".repeat(100)]);

    for i in 1..=250 {
        let id = format!("{}-{}", 1000 + i / 3, i % 3);
        if i % 5 == 0 {
            add(&["xadd", "stream", &id, "other", &i.to_string()]);
        } else {
            add(&["xadd", "stream", &id, "field", &i.to_string(), "name", "x"]);
        }
    }
    add(&["xdel", "stream", "1010-1", "1020-2"]);
    add(&["xgroup", "create", "stream", "g1", "0"]);
    add(&["xgroup", "create", "stream", "g2", "1050-0"]);
    add(&["xreadgroup", "group", "g1", "alice", "count", "10", "streams", "stream", ">"]);
    add(&["xreadgroup", "group", "g1", "bob", "count", "5", "streams", "stream", ">"]);
    add(&["xack", "stream", "g1", "1000-2", "1001-0"]);
    add(&["xgroup", "createconsumer", "stream", "g2", "carol"]);
    add(&["xgroup", "create", "empty-stream", "g", "$", "mkstream"]);
    add(&["xadd", "small-stream", "5-5", "a", "1"]);
    add(&["pexpire", "small-stream", "100000000"]);
    commands
}

fn load(con: &mut redis::Connection, commands: &[Vec<String>]) {
    for command in commands {
        let args: Vec<&str> = command.iter().map(String::as_str).collect();
        run(con, &args);
    }
}

fn keys(con: &mut redis::Connection) -> Vec<String> {
    let mut keys: Vec<String> = redis::cmd("keys").arg("*").query(con).unwrap();
    keys.sort();
    keys
}

fn digest_value(con: &mut redis::Connection, key: &str) -> String {
    match run(con, &["debug", "digest-value", key]) {
        Reply::Array(items) => format!("{:?}", items[0]),
        other => panic!("DEBUG DIGEST-VALUE answered {other:?}"),
    }
}

fn dump(con: &mut redis::Connection, key: &str) -> Vec<u8> {
    match run(con, &["dump", key]) {
        Reply::BulkString(bytes) => bytes,
        other => panic!("DUMP {key} answered {other:?}"),
    }
}

fn restore(con: &mut redis::Connection, key: &str, payload: &[u8]) -> Result<Reply, String> {
    qb(con, &[b"restore".to_vec(), key.as_bytes().to_vec(), b"0".to_vec(), payload.to_vec()])
}

/// What the groups of a stream hold, without times: names, cursors, counters, pending entries and
/// their owners and delivery counts.
fn groups(con: &mut redis::Connection, key: &str) -> String {
    let mut out = format!("{:?}", run(con, &["xinfo", "groups", key]));
    if let Reply::Array(groups) = run(con, &["xinfo", "groups", key]) {
        for group in groups {
            let Reply::Array(fields) = group else { continue };
            let name = common::as_text(&fields[1]);
            if let Reply::Array(pending) = run(con, &["xpending", key, &name, "-", "+", "1000"]) {
                for entry in pending {
                    if let Reply::Array(parts) = entry {
                        out.push_str(&format!(" {:?}/{:?}/{:?}", parts[0], parts[1], parts[3]));
                    }
                }
            }
            if let Reply::Array(consumers) = run(con, &["xinfo", "consumers", key, &name]) {
                for consumer in consumers {
                    if let Reply::Array(parts) = consumer {
                        out.push_str(&format!(" {:?}:{:?}", parts[1], parts[3]));
                    }
                }
            }
        }
    }
    out
}

/// Every key's payload from `from` restores into `to` as the same value.
fn cross(from: &Server, to: &Server) {
    let (mut src, mut dst) = (from.con(), to.con());
    let names = keys(&mut src);
    assert!(names.len() > 25, "dataset too small: {names:?}");
    for key in &names {
        let payload = dump(&mut src, key);
        let ttl = match run(&mut src, &["pttl", key]) {
            Reply::Int(ms) if ms > 0 => ms.to_string(),
            _ => "0".to_owned(),
        };
        let restored = qb(&mut dst, &[b"restore".to_vec(), key.as_bytes().to_vec(), ttl.into_bytes(), payload]);
        assert_eq!(restored, Ok(Reply::Okay), "RESTORE {key}");
        assert_eq!(digest_value(&mut src, key), digest_value(&mut dst, key), "digest of {key}");
        assert_eq!(run(&mut src, &["type", key]), run(&mut dst, &["type", key]), "type of {key}");
        if key.contains("stream") {
            assert_eq!(groups(&mut src, key), groups(&mut dst, key), "groups of {key}");
            assert_eq!(run(&mut src, &["xinfo", "stream", key]).counters(), run(&mut dst, &["xinfo", "stream", key]).counters());
        }
    }
}

/// The parts of XINFO STREAM that do not depend on node layout.
trait StreamSummary {
    fn counters(&self) -> String;
}

impl StreamSummary for Reply {
    fn counters(&self) -> String {
        let pairs = common::as_pairs(self);
        pairs
            .iter()
            .filter(|(name, _)| ["length", "last-generated-id", "max-deleted-entry-id", "entries-added", "groups"].contains(&name.as_str()))
            .map(|(name, value)| format!("{name}={value:?}"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

#[test]
fn dumps_from_redis_restore_into_strata() {
    let (redis, strata) = (redis(), Server::start());
    load(&mut redis.con(), &dataset());
    cross(&redis, &strata);
    // Encodings follow from the same limits on both sides.
    let (mut r, mut s) = (redis.con(), strata.con());
    for key in
        ["list:small", "set:ints", "set:big", "hash:small", "hash:big", "hash:long-value", "zset:small", "zset:big", "str:int", "str:noise"]
    {
        assert_eq!(run(&mut r, &["object", "encoding", key]), run(&mut s, &["object", "encoding", key]), "encoding of {key}");
    }
}

#[test]
fn dumps_from_strata_restore_into_redis() {
    let (redis, strata) = (redis(), Server::start());
    load(&mut strata.con(), &dataset());
    cross(&strata, &redis);
}

#[test]
fn the_same_dataset_has_the_same_digest() {
    let (redis, strata) = (redis(), Server::start());
    for server in [&redis, &strata] {
        let mut con = server.con();
        assert_eq!(run(&mut con, &["debug", "digest"]), Reply::SimpleString("0".repeat(40)));
        load(&mut con, &dataset());
        run(&mut con, &["select", "5"]);
        run(&mut con, &["set", "in-db-5", "x"]);
        run(&mut con, &["rpush", "list:small", "other", "db"]);
    }
    let digest = run(&mut redis.con(), &["debug", "digest"]);
    assert_eq!(digest, run(&mut strata.con(), &["debug", "digest"]));
    assert_ne!(digest, Reply::SimpleString("0".repeat(40)));
}

#[test]
fn strata_payloads_restore_into_strata() {
    let strata = Server::start();
    let mut con = strata.con();
    load(&mut con, &dataset());
    let before = run(&mut con, &["debug", "digest"]);
    for key in keys(&mut con) {
        let payload = dump(&mut con, &key);
        let ttl = run(&mut con, &["pttl", &key]);
        let replaced = qb(&mut con, &[b"restore".to_vec(), key.as_bytes().to_vec(), b"0".to_vec(), payload.clone(), b"replace".to_vec()]);
        assert_eq!(replaced, Ok(Reply::Okay));
        if let Reply::Int(ttl) = ttl {
            if ttl > 0 {
                run(&mut con, &["pexpire", &key, &ttl.to_string()]);
            }
        }
    }
    assert_eq!(run(&mut con, &["debug", "digest"]), before);
    strata.assert_no_panic();
}

#[test]
fn restore_refuses_as_redis_does() {
    let (redis, strata) = (redis(), Server::start());
    for server in [&redis, &strata] {
        let mut con = server.con();
        run(&mut con, &["set", "k", "v"]);
        let payload = dump(&mut con, "k");
        let mut bad_crc = payload.clone();
        let last = bad_crc.len() - 1;
        bad_crc[last] ^= 1;
        let mut newer = payload[..payload.len() - 10].to_vec();
        newer.extend_from_slice(&12u16.to_le_bytes());
        let crc = crc64(&newer);
        newer.extend_from_slice(&crc.to_le_bytes());
        let mut unknown_type = vec![0x42, 1, b'x'];
        seal(&mut unknown_type);
        let mut truncated = payload[..1].to_vec();
        seal(&mut truncated);
        let cases: Vec<(Vec<Vec<u8>>, &str)> = vec![
            (vec![b"k".to_vec(), b"0".to_vec(), payload.clone()], "BUSYKEY Target key name already exists."),
            (vec![b"k2".to_vec(), b"0".to_vec(), bad_crc], "ERR DUMP payload version or checksum are wrong"),
            (vec![b"k2".to_vec(), b"0".to_vec(), newer], "ERR DUMP payload version or checksum are wrong"),
            (vec![b"k2".to_vec(), b"0".to_vec(), b"short".to_vec()], "ERR DUMP payload version or checksum are wrong"),
            (vec![b"k2".to_vec(), b"0".to_vec(), unknown_type], "ERR Bad data format"),
            (vec![b"k2".to_vec(), b"0".to_vec(), truncated], "ERR Bad data format"),
            (vec![b"k2".to_vec(), b"-1".to_vec(), payload.clone()], "ERR Invalid TTL value, must be >= 0"),
            (vec![b"k2".to_vec(), b"x".to_vec(), payload.clone()], "ERR value is not an integer or out of range"),
            (
                vec![b"k2".to_vec(), b"0".to_vec(), payload.clone(), b"idletime".to_vec(), b"-1".to_vec()],
                "ERR Invalid IDLETIME value, must be >= 0",
            ),
            (
                vec![b"k2".to_vec(), b"0".to_vec(), payload.clone(), b"freq".to_vec(), b"256".to_vec()],
                "ERR Invalid FREQ value, must be >= 0 and <= 255",
            ),
            (
                vec![b"k2".to_vec(), b"0".to_vec(), payload.clone(), b"freq".to_vec(), b"1".to_vec(), b"idletime".to_vec(), b"1".to_vec()],
                "ERR syntax error",
            ),
            (vec![b"k2".to_vec(), b"0".to_vec(), payload.clone(), b"bogus".to_vec()], "ERR syntax error"),
        ];
        for (args, expected) in cases {
            let mut command = vec![b"restore".to_vec()];
            command.extend(args.clone());
            let got = qb(&mut con, &command);
            assert_eq!(
                got,
                Err(expected.to_owned()),
                "{} on port {}: RESTORE {:?}",
                expected,
                server.port,
                args.iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect::<Vec<_>>()
            );
        }
        // A deadline already past deletes the key being replaced and stores nothing.
        let past =
            qb(&mut con, &[b"restore".to_vec(), b"k".to_vec(), b"1".to_vec(), payload.clone(), b"replace".to_vec(), b"absttl".to_vec()]);
        assert_eq!(past, Ok(Reply::Okay));
        assert_eq!(run(&mut con, &["exists", "k"]), Reply::Int(0));
        let later = qb(&mut con, &[b"restore".to_vec(), b"k".to_vec(), b"5000".to_vec(), payload]);
        assert_eq!(later, Ok(Reply::Okay));
        assert!(matches!(run(&mut con, &["pttl", "k"]), Reply::Int(ms) if ms > 4000 && ms <= 5000));
    }
}

/// Redis's CRC64, written out here so the test does not trust the code it checks.
fn crc64(data: &[u8]) -> u64 {
    let mut crc = 0u64;
    for &byte in data {
        crc ^= u64::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0x95ac_9329_ac4b_c9b5 } else { crc >> 1 };
        }
    }
    crc
}

/// Appends a valid footer (RDB version 10 and the CRC64), so the bytes reach the decoder.
fn seal(body: &mut Vec<u8>) {
    body.extend_from_slice(&10u16.to_le_bytes());
    let crc = crc64(body);
    body.extend_from_slice(&crc.to_le_bytes());
}

#[test]
fn damaged_payloads_are_refused_without_a_panic() {
    let (redis, strata) = (redis(), Server::start());
    load(&mut redis.con(), &dataset());
    let mut src = redis.con();
    let payloads: Vec<Vec<u8>> = keys(&mut src).iter().map(|key| dump(&mut src, key)).collect();
    let mut con = strata.con();
    let mut rng = StdRng::seed_from_u64(0x5eed_0d0b);
    let (mut refused, mut accepted) = (0, 0);
    for round in 0..3000 {
        let base = &payloads[rng.random_range(0..payloads.len())];
        let mut body = base[..base.len() - 10].to_vec();
        match round % 4 {
            // Flip a few bytes.
            0 => {
                for _ in 0..rng.random_range(1..4) {
                    let at = rng.random_range(0..body.len());
                    body[at] ^= 1 << rng.random_range(0..8);
                }
            }
            // Cut it short.
            1 => body.truncate(rng.random_range(0..body.len())),
            // Overwrite a byte with an extreme value (lengths, counts, encodings).
            2 => {
                let at = rng.random_range(0..body.len());
                body[at] = [0x00, 0x3F, 0x7F, 0x80, 0x81, 0xC3, 0xFE, 0xFF][rng.random_range(0..8)];
            }
            // Random bytes after a valid type byte.
            _ => {
                let len = rng.random_range(0..64);
                body = std::iter::once(rng.random_range(0..22u8)).chain((0..len).map(|_| rng.random::<u8>())).collect();
            }
        }
        seal(&mut body);
        match restore(&mut con, "fuzz", &body) {
            Ok(_) => {
                accepted += 1;
                // What was accepted must also be usable: read it, write to it, dump it again.
                let kind = common::as_text(&run(&mut con, &["type", "fuzz"]));
                let uses: &[&[&str]] = match kind.as_str() {
                    "list" => &[&["lrange", "fuzz", "0", "-1"], &["rpush", "fuzz", "x"], &["lpop", "fuzz"]],
                    "set" => &[&["smembers", "fuzz"], &["sadd", "fuzz", "x"], &["spop", "fuzz"]],
                    "zset" => &[&["zrange", "fuzz", "0", "-1", "withscores"], &["zadd", "fuzz", "1", "x"], &["zpopmin", "fuzz"]],
                    "hash" => &[&["hgetall", "fuzz"], &["hset", "fuzz", "x", "y"]],
                    "stream" => &[
                        &["xinfo", "stream", "fuzz", "full"],
                        &["xinfo", "groups", "fuzz"],
                        &["xadd", "fuzz", "*", "a", "b"],
                        &["xrange", "fuzz", "-", "+"],
                        &["xtrim", "fuzz", "maxlen", "1"],
                    ],
                    _ => &[&["get", "fuzz"], &["append", "fuzz", "x"], &["pfcount", "fuzz"]],
                };
                for args in
                    uses.iter().chain([&["debug", "digest-value", "fuzz"][..], &["dump", "fuzz"], &["object", "encoding", "fuzz"]].iter())
                {
                    if let Err(error) = q(&mut con, args) {
                        assert!(!error.starts_with("client error"), "round {round}: {args:?}: {error}");
                    }
                }
                run(&mut con, &["del", "fuzz"]);
            }
            Err(error) => {
                assert!(error.starts_with("ERR Bad data format"), "round {round}: {error}");
                refused += 1;
            }
        }
    }
    assert!(refused > 1000, "only {refused} of 3000 damaged payloads were refused");
    assert!(accepted > 100, "only {accepted} of 3000 damaged payloads decoded: the uses were hardly tried");
    assert_eq!(run(&mut con, &["ping"]), Reply::SimpleString("PONG".into()));
    strata.assert_no_panic();
}

const LIBRARY: &str = "#!lua name=rdblib\nredis.register_function('rdbfunc', function(keys, args) return 42 end)";

/// The dataset, two more databases and a function library.
fn load_everything(con: &mut redis::Connection) {
    load(con, &dataset());
    run(con, &["function", "load", LIBRARY]);
    run(con, &["select", "3"]);
    run(con, &["set", "in-db-3", "x"]);
    run(con, &["hset", "h3", "a", "1"]);
    run(con, &["select", "0"]);
}

fn digest(con: &mut redis::Connection) -> Reply {
    run(con, &["debug", "digest"])
}

fn info_field(con: &mut redis::Connection, name: &str) -> String {
    let text = common::as_text(&run(con, &["info", "persistence"]));
    text.lines().find_map(|line| line.strip_prefix(&format!("{name}:"))).unwrap_or_else(|| panic!("no {name} in INFO")).trim().to_owned()
}

/// redis-server loading `dir`/`file` at start-up.
fn redis_loading(dir: &std::path::Path, file: &str) -> Server {
    Server::start_redis_with(&[
        "--enable-debug-command",
        "yes",
        "--sanitize-dump-payload",
        "yes",
        "--dir",
        dir.to_str().unwrap(),
        "--dbfilename",
        file,
    ])
}

#[test]
fn strata_save_loads_into_redis() {
    let dir = tempfile::tempdir().unwrap();
    let strata = Server::start_with(&["--dir", dir.path().to_str().unwrap(), "--dbfilename", "snap.rdb"]);
    let mut con = strata.con();
    load_everything(&mut con);
    assert_ne!(info_field(&mut con, "rdb_changes_since_last_save"), "0");
    let before = common::as_int(&run(&mut con, &["lastsave"]));
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert_eq!(run(&mut con, &["save"]), Reply::Okay);
    assert!(common::as_int(&run(&mut con, &["lastsave"])) > before);
    assert_eq!(info_field(&mut con, "rdb_changes_since_last_save"), "0");
    assert_eq!(info_field(&mut con, "rdb_saves"), "1");

    let check = std::process::Command::new("redis-check-rdb").arg(dir.path().join("snap.rdb")).output().unwrap();
    assert!(String::from_utf8_lossy(&check.stdout).contains("RDB looks OK"), "{}", String::from_utf8_lossy(&check.stdout));
    let redis = redis_loading(dir.path(), "snap.rdb");
    let mut r = redis.con();
    assert_eq!(digest(&mut r), digest(&mut con));
    assert_eq!(run(&mut r, &["fcall", "rdbfunc", "0"]), Reply::Int(42));
    assert_eq!(groups(&mut r, "stream"), groups(&mut con, "stream"));
}

#[test]
fn bgsave_writes_a_snapshot_in_the_background() {
    let dir = tempfile::tempdir().unwrap();
    let strata = Server::start_with(&["--dir", dir.path().to_str().unwrap()]);
    let mut con = strata.con();
    load_everything(&mut con);
    assert_eq!(err_of(&mut con, &["bgsave", "now"]), "ERR syntax error");
    assert_eq!(run(&mut con, &["bgsave", "schedule"]), Reply::SimpleString("Background saving started".into()));
    assert!(common::eventually(std::time::Duration::from_secs(20), || info_field(&mut con, "rdb_bgsave_in_progress") == "0"));
    assert_eq!(info_field(&mut con, "rdb_last_bgsave_status"), "ok");
    assert_eq!(info_field(&mut con, "rdb_changes_since_last_save"), "0");
    // Inside EXEC it is scheduled, and runs after the transaction, as in Redis.
    let saves = info_field(&mut con, "rdb_saves");
    run(&mut con, &["multi"]);
    run(&mut con, &["bgsave"]);
    assert_eq!(run(&mut con, &["exec"]), Reply::Array(vec![Reply::SimpleString("Background saving scheduled".into())]));
    assert!(common::eventually(std::time::Duration::from_secs(20), || info_field(&mut con, "rdb_saves") != saves));
    assert!(common::eventually(std::time::Duration::from_secs(20), || info_field(&mut con, "rdb_bgsave_in_progress") == "0"));
    // Writes go on while a save runs, and count as changes after it.
    assert_eq!(run(&mut con, &["bgsave"]), Reply::SimpleString("Background saving started".into()));
    run(&mut con, &["set", "during", "the save"]);
    assert!(common::eventually(std::time::Duration::from_secs(20), || info_field(&mut con, "rdb_bgsave_in_progress") == "0"));
    run(&mut con, &["del", "during"]);
    assert_ne!(info_field(&mut con, "rdb_changes_since_last_save"), "0");

    let redis = redis_loading(dir.path(), "dump.rdb");
    let mut r = redis.con();
    run(&mut r, &["del", "during"]);
    assert_eq!(digest(&mut r), digest(&mut con));
}

fn err_of(con: &mut redis::Connection, args: &[&str]) -> String {
    q(con, args).expect_err("should fail")
}

#[test]
fn redis_dump_imports_into_strata_and_into_its_store() {
    let dir = tempfile::tempdir().unwrap();
    let redis = redis_loading(dir.path(), "dump.rdb");
    let mut r = redis.con();
    load_everything(&mut r);
    assert_eq!(run(&mut r, &["save"]), Reply::Okay);
    let expected = digest(&mut r);
    let dir_arg = dir.path().to_str().unwrap();

    // Without persistence: the file is loaded at every start.
    let memory_only = Server::start_with(&["--dir", dir_arg]);
    let mut con = memory_only.con();
    assert_eq!(digest(&mut con), expected);
    assert_eq!(run(&mut con, &["fcall", "rdbfunc", "0"]), Reply::Int(42));
    assert_eq!(groups(&mut con, "stream"), groups(&mut r, "stream"));
    drop(memory_only);

    // With persistence and a fresh store: imported once, into the store, which later starts
    // recover from even without the file.
    let mut persistent = Server::start_with(&["--dir", dir_arg, "--appendonly", "yes"]);
    assert_eq!(digest(&mut persistent.con()), expected);
    run(&mut persistent.con(), &["set", "after-import", "1"]);
    q(&mut persistent.con(), &["shutdown"]).ok();
    assert!(persistent.wait_exit(std::time::Duration::from_secs(20)).is_some_and(|s| s.success()));
    std::fs::remove_file(dir.path().join("dump.rdb")).unwrap();
    let restarted = Server::start_with(&["--dir", dir_arg, "--appendonly", "yes"]);
    let mut con = restarted.con();
    run(&mut con, &["del", "after-import"]);
    assert_eq!(digest(&mut con), expected);
}

#[test]
fn a_damaged_file_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("dump.rdb"), b"REDIS0010\xfa\x01").unwrap();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_strata-server"));
    command.args(["--port", "0", "--bind", "127.0.0.1", "--dir", dir.path().to_str().unwrap()]);
    let output = command.output().unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("can't import the RDB file"));
}

#[test]
fn a_save_point_starts_a_background_save() {
    let dir = tempfile::tempdir().unwrap();
    let strata = Server::start_with(&["--dir", dir.path().to_str().unwrap(), "--save", "1 2"]);
    let mut con = strata.con();
    run(&mut con, &["set", "a", "1"]);
    std::thread::sleep(std::time::Duration::from_millis(2500));
    assert!(!dir.path().join("dump.rdb").exists(), "one change is below the save point");
    run(&mut con, &["set", "b", "2"]);
    assert!(common::eventually(std::time::Duration::from_secs(10), || dir.path().join("dump.rdb").exists()));
    assert!(common::eventually(std::time::Duration::from_secs(10), || info_field(&mut con, "rdb_changes_since_last_save") == "0"));
    let redis = redis_loading(dir.path(), "dump.rdb");
    assert_eq!(digest(&mut redis.con()), digest(&mut con));
}

/// Runs `count` commands of the shared random workload (every type, odd stream states from XSETID,
/// XCLAIM FORCE, trims and deletions; databases 0 and 1), waits out its short deadlines, and
/// touches every key so the expired ones are gone before digests are taken.
fn random_dataset(con: &mut redis::Connection, seed: u64, count: usize) {
    let mut rng = StdRng::seed_from_u64(seed);
    for _ in 0..count {
        let command = common::workload::random_write(&mut rng);
        let args: Vec<&str> = command.iter().map(String::as_str).collect();
        let _ = q(con, &args);
    }
    std::thread::sleep(std::time::Duration::from_millis(1100));
    for db in ["0", "1"] {
        run(con, &["select", db]);
        for key in keys(con) {
            run(con, &["exists", &key]);
            // Redis's format has no queue or lake type (the workload makes strata queues and catalogs).
            if [Reply::SimpleString("queue".into()), Reply::SimpleString("lake".into())].contains(&run(con, &["type", &key])) {
                run(con, &["del", &key]);
            }
        }
    }
    run(con, &["select", "0"]);
}

#[test]
fn random_datasets_cross_through_payloads_and_files() {
    for seed in [1, 2, 3] {
        // strata's data to Redis, key by key through DUMP/RESTORE, then whole through SAVE.
        let dir = tempfile::tempdir().unwrap();
        let strata = Server::start_with(&["--dir", dir.path().to_str().unwrap()]);
        let redis = redis();
        let (mut s, mut r) = (strata.con(), redis.con());
        random_dataset(&mut s, seed, 1500);
        for db in ["0", "1"] {
            run(&mut s, &["select", db]);
            run(&mut r, &["select", db]);
            for key in keys(&mut s) {
                let payload = dump(&mut s, &key);
                let ttl = match run(&mut s, &["pttl", &key]) {
                    Reply::Int(ms) if ms > 0 => ms.to_string(),
                    _ => "0".to_owned(),
                };
                let restored = qb(&mut r, &[b"restore".to_vec(), key.as_bytes().to_vec(), ttl.into_bytes(), payload]);
                assert_eq!(restored, Ok(Reply::Okay), "seed {seed}: RESTORE {key} into Redis");
                assert_eq!(digest_value(&mut s, &key), digest_value(&mut r, &key), "seed {seed}: {key}");
            }
        }
        let expected = digest(&mut s);
        assert_ne!(expected, Reply::SimpleString("0".repeat(40)), "seed {seed}: the workload left no keys");
        assert_eq!(digest(&mut r), expected, "seed {seed}: DUMP/RESTORE");
        assert_eq!(run(&mut s, &["save"]), Reply::Okay);
        let loaded = redis_loading(dir.path(), "dump.rdb");
        assert_eq!(digest(&mut loaded.con()), expected, "seed {seed}: strata's SAVE in Redis");

        // Redis's data to strata through its dump.rdb.
        let dir = tempfile::tempdir().unwrap();
        let redis = redis_loading(dir.path(), "dump.rdb");
        let mut r = redis.con();
        random_dataset(&mut r, seed + 100, 1500);
        assert_eq!(run(&mut r, &["save"]), Reply::Okay);
        let strata = Server::start_with(&["--dir", dir.path().to_str().unwrap()]);
        assert_eq!(digest(&mut strata.con()), digest(&mut r), "seed {seed}: Redis's SAVE in strata");
    }
}

#[test]
fn shutdown_save_writes_a_snapshot_and_nosave_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let dir_arg = dir.path().to_str().unwrap();
    let mut strata = Server::start_with(&["--dir", dir_arg]);
    run(&mut strata.con(), &["set", "kept", "1"]);
    q(&mut strata.con(), &["shutdown", "nosave"]).ok();
    assert!(strata.wait_exit(std::time::Duration::from_secs(20)).is_some());
    assert!(!dir.path().join("dump.rdb").exists());

    let mut strata = Server::start_with(&["--dir", dir_arg]);
    let mut con = strata.con();
    run(&mut con, &["set", "kept", "1"]);
    run(&mut con, &["bgsave"]);
    q(&mut con, &["shutdown", "save"]).ok();
    assert!(strata.wait_exit(std::time::Duration::from_secs(20)).is_some());
    let restarted = Server::start_with(&["--dir", dir_arg]);
    assert_eq!(run(&mut restarted.con(), &["get", "kept"]), Reply::BulkString(b"1".to_vec()));
}

#[test]
fn bgsave_is_one_point_in_time_while_writes_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let strata = Server::start_with(&["--dir", dir.path().to_str().unwrap()]);
    let mut con = strata.con();
    // Enough keys that the save takes a while, and two counters in different shards that only
    // ever change together, in one transaction.
    run(&mut con, &["debug", "populate", "100000", "filler", "64"]);
    run(&mut con, &["mset", "pair:a", "0", "pair:b", "0"]);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (stop, mut con) = (stop.clone(), strata.con());
        std::thread::spawn(move || {
            let mut rounds = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _: () =
                    redis::pipe().atomic().incr("pair:a", 1).incr("pair:b", 1).set(format!("new:{rounds}"), 1).query(&mut con).unwrap();
                rounds += 1;
            }
            rounds
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(100));
    let before = common::as_int(&run(&mut con, &["incrby", "pair:a", "0"]));
    assert_eq!(run(&mut con, &["bgsave"]), Reply::SimpleString("Background saving started".into()));
    let after = common::as_int(&run(&mut con, &["incrby", "pair:a", "0"]));
    assert!(common::eventually(std::time::Duration::from_secs(60), || info_field(&mut con, "rdb_bgsave_in_progress") == "0"));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let rounds = writer.join().unwrap();
    assert_eq!(info_field(&mut con, "rdb_last_bgsave_status"), "ok");

    let redis = redis_loading(dir.path(), "dump.rdb");
    let mut r = redis.con();
    let a = common::as_int(&run(&mut r, &["incrby", "pair:a", "0"]));
    let b = common::as_int(&run(&mut r, &["incrby", "pair:b", "0"]));
    assert_eq!(a, b, "a transaction appears in part");
    assert!((before..=after).contains(&a), "{a} was not the value at BGSAVE ({before}..={after})");
    // Exactly the keys the writer had made by then, and none it made later.
    let made = keys(&mut r).iter().filter(|k| k.starts_with("new:")).count() as i64;
    assert_eq!(made, a, "of {rounds} rounds");
}
