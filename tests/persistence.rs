//! Persistence through the real binary: what strata acknowledged is there after SHUTDOWN and a
//! restart, and after `kill -9` under `appendfsync always`, with no transaction half applied.

mod common;

use std::collections::BTreeMap;
use std::thread;
use std::time::{Duration, Instant};

use common::workload::{random_topic_write, random_write};
use common::{q, Server};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use redis::Value as Reply;

fn start(dir: &std::path::Path, fsync: &str) -> Server {
    Server::start_with(&["--appendonly", "yes", "--appendfsync", fsync, "--dir", dir.to_str().unwrap()])
}

fn text(value: &Reply) -> String {
    format!("{value:?}")
}

/// Every key of databases 0-2 with its type, value and deadline (`PEXPIRETIME`), in a comparable
/// form. Stream node details (`radix-tree-*`) are left out: a restart rebuilds nodes from the live
/// entries.
fn dump(con: &mut redis::Connection) -> BTreeMap<(i64, Vec<u8>), (String, i64)> {
    let mut all = BTreeMap::new();
    for db in 0..3 {
        q(con, &["select", &db.to_string()]).unwrap();
        let mut cursor = "0".to_string();
        let mut keys: Vec<Vec<u8>> = Vec::new();
        loop {
            let reply: (String, Vec<Vec<u8>>) = redis::cmd("scan").arg(&cursor).arg("count").arg(1000).query(con).unwrap();
            keys.extend(reply.1);
            cursor = reply.0;
            if cursor == "0" {
                break;
            }
        }
        for key in keys {
            let kind: String = redis::cmd("type").arg(&key).query(con).unwrap();
            let command: Vec<&str> = match kind.as_str() {
                "string" => vec!["get"],
                "list" => vec!["lrange", "0", "-1"],
                "hash" => vec!["hgetall"],
                "set" => vec!["smembers"],
                "zset" => vec!["zrange", "0", "-1", "withscores"],
                "stream" => vec!["xinfo"],
                // Its messages move with the clock (leases, delays, TTLs); its policy does not.
                "queue" => vec!["q.config"],
                "lake" => vec!["lake.read"],
                _ => vec!["type"],
            };
            let mut cmd = redis::cmd(command[0]);
            if kind == "stream" {
                cmd.arg("stream").arg(&key).arg("full");
            } else {
                cmd.arg(&key);
                for arg in &command[1..] {
                    cmd.arg(*arg);
                }
            }
            let value: Reply = cmd.query(con).unwrap();
            let mut shown = match (kind.as_str(), value) {
                ("hash" | "set", Reply::Array(items)) => {
                    let mut items: Vec<String> = if kind == "hash" {
                        items.chunks(2).map(|pair| pair.iter().map(text).collect::<Vec<_>>().join("=")).collect()
                    } else {
                        items.iter().map(text).collect()
                    };
                    items.sort();
                    items.join(",")
                }
                (_, value) => text(&value),
            };
            if kind == "stream" {
                shown = strip_radix(&shown);
            }
            let deadline: i64 = redis::cmd("pexpiretime").arg(&key).query(con).unwrap();
            // A key that expired while it was being read is not part of the picture.
            if kind != "none" && deadline != -2 {
                all.insert((db, key), (format!("{kind} {shown}"), deadline));
            }
        }
    }
    q(con, &["select", "0"]).unwrap();
    all
}

/// XINFO STREAM FULL without the node counts.
fn strip_radix(full: &str) -> String {
    let mut out = full.to_string();
    for field in ["radix-tree-keys", "radix-tree-nodes"] {
        if let Some(at) = out.find(field) {
            // The field name and the integer after it.
            let end = out[at..].find("), ").map_or(out.len(), |i| at + i + 3);
            let end = out[end..].find("), ").map_or(out.len(), |i| end + i + 3);
            out.replace_range(at..end, "");
        }
    }
    out
}

/// The dump without keys whose deadline falls before `by` (Unix ms): they may expire around a
/// restart.
fn settled(dump: &BTreeMap<(i64, Vec<u8>), (String, i64)>, by: i64) -> BTreeMap<(i64, Vec<u8>), (String, i64)> {
    dump.iter().filter(|(_, (_, deadline))| *deadline < 0 || *deadline > by).map(|(k, v)| (k.clone(), v.clone())).collect()
}

fn unix_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

/// Rounds of a seeded random workload over every type (expiry, MULTI, scripts, FLUSHDB, SWAPDB,
/// MOVE, RENAME, streams with groups), each followed by SHUTDOWN and a restart on the same
/// directory: every key, value and deadline is as it was, and writes after a restart build on what
/// was recovered.
#[test]
fn every_type_survives_shutdown_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = StdRng::seed_from_u64(7);
    let mut server = start(dir.path(), "everysec");
    let mut compared = 0;
    for round in 0..6 {
        let mut con = server.con();
        for _ in 0..800 {
            let command = random_write(&mut rng);
            let mut cmd = redis::cmd(&command[0]);
            for arg in &command[1..] {
                cmd.arg(arg);
            }
            let _: Result<Reply, _> = cmd.query(&mut con);
        }
        // A big hash (members filed one by one) with a deadline that outlives the restart.
        for i in 0..600 {
            q(&mut con, &["hset", &format!("big{round}"), &format!("field{i}"), &format!("value{i}")]).unwrap();
        }
        q(&mut con, &["expire", &format!("big{round}"), "3600"]).unwrap();
        let before = dump(&mut con);
        q(&mut con, &["shutdown"]).ok();
        assert!(
            server.wait_exit(Duration::from_secs(20)).is_some_and(|status| status.success()),
            "round {round}: SHUTDOWN did not exit cleanly"
        );
        server = start(dir.path(), "everysec");
        let after = dump(&mut server.con());
        let by = unix_ms() + 2_000;
        assert_eq!(settled(&after, by), settled(&before, by), "round {round}");
        compared += before.len();
    }
    assert!(compared > 10, "the workload left too few keys to compare: {compared}");
}

/// A transaction that writes two keys the same (a string and a hash field): after a crash there
/// must never be one without the other.
fn write_pair(con: &mut redis::Connection, writer: usize, value: i64) -> redis::RedisResult<Reply> {
    redis::pipe().atomic().set(format!("pair:a:{writer}"), value).hset(format!("pair:b:{writer}"), "v", value).query(con)
}

fn assert_pair_whole(con: &mut redis::Connection, writer: usize, cycle: usize) {
    let a: Option<i64> = redis::cmd("get").arg(format!("pair:a:{writer}")).query(con).unwrap();
    let b: Option<i64> = redis::cmd("hget").arg(format!("pair:b:{writer}")).arg("v").query(con).unwrap();
    assert_eq!(a, b, "cycle {cycle} writer {writer}: a transaction was half applied");
}

/// Writers under `appendfsync always` record every acknowledged write; the server is killed at a
/// random moment and restarted on the same directory. 20 cycles here; `scripts/crash-loop.sh`
/// runs more (`STRATA_CRASH_CYCLES`).
#[test]
fn acknowledged_writes_survive_kill_9_under_appendfsync_always() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = StdRng::seed_from_u64(11);
    let mut acked_counts = [0i64; 4];
    let mut acked_items = [0usize; 4];
    let cycles: usize = std::env::var("STRATA_CRASH_CYCLES").ok().and_then(|n| n.parse().ok()).unwrap_or(20);
    for cycle in 0..cycles {
        let server = start(dir.path(), "always");
        let port = server.port;
        let stop_at = Instant::now() + Duration::from_millis(rng.random_range(100..400));
        let writers: Vec<_> = (0..4)
            .map(|writer| {
                let (count, items) = (acked_counts[writer], acked_items[writer]);
                thread::spawn(move || {
                    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
                    let mut con = client.get_connection().unwrap();
                    let (mut count, mut items) = (count, items);
                    while Instant::now() < stop_at + Duration::from_secs(5) {
                        let counter: redis::RedisResult<i64> = redis::cmd("incr").arg(format!("counter:{writer}")).query(&mut con);
                        let Ok(counter) = counter else { break };
                        count = counter;
                        let pushed: redis::RedisResult<i64> =
                            redis::cmd("rpush").arg(format!("list:{writer}")).arg(format!("item{}", items)).query(&mut con);
                        let Ok(len) = pushed else { break };
                        items = len as usize;
                        if write_pair(&mut con, writer, counter).is_err() {
                            break;
                        }
                    }
                    (count, items)
                })
            })
            .collect();
        thread::sleep(stop_at.saturating_duration_since(Instant::now()));
        server.signal("KILL");
        let results: Vec<(i64, usize)> = writers.into_iter().map(|w| w.join().unwrap()).collect();
        drop(server);

        let server = start(dir.path(), "always");
        let mut con = server.con();
        for (writer, (count, items)) in results.iter().enumerate() {
            let stored: i64 = redis::cmd("get").arg(format!("counter:{writer}")).query(&mut con).unwrap_or(0);
            // Every acknowledged INCR is there; one more may have been written but not acknowledged.
            assert!(stored == *count || stored == count + 1, "cycle {cycle} writer {writer}: counter {stored}, acknowledged {count}");
            let len: usize = redis::cmd("llen").arg(format!("list:{writer}")).query(&mut con).unwrap();
            assert!(len == *items || len == items + 1, "cycle {cycle} writer {writer}: list of {len}, acknowledged {items}");
            assert_pair_whole(&mut con, writer, cycle);
            acked_counts[writer] = stored;
            acked_items[writer] = len;
        }
    }
}

/// In-process, many seeds: a keyspace rebuilt from the store after a random run holds exactly what
/// the server held (deadlines included), in every database.
#[test]
fn the_store_rebuilds_the_keyspace_exactly() {
    use strata::commands::harness::Harness;
    use strata::engine::keyspace::SHARDS;
    use strata::engine::persist::{recovery, Fsync, Store};
    use strata::engine::{Keyspace, Limits, Value};

    fn contents(keyspace: &Keyspace, now_ms: u64) -> Vec<(usize, Vec<u8>, String, Option<u64>)> {
        let mut all = Vec::new();
        for db in 0..keyspace.databases() {
            for shard in 0..SHARDS {
                let guard = keyspace.db(db).lock_index(shard);
                let live = guard.iter().filter(|e| e.expire_at().is_none_or(|at| at > now_ms));
                all.extend(live.map(|e| {
                    let value = e.value();
                    // A hash's or set's order after a restart is its members' byte order (not a
                    // promise Redis makes): compare members and encoding.
                    let shown = match value {
                        Value::Hash(hash) => {
                            let mut pairs: Vec<_> = hash.iter().collect();
                            pairs.sort();
                            format!("hash {} {pairs:?}", value.encoding())
                        }
                        Value::Set(set) => {
                            let mut members: Vec<_> = set.iter().collect();
                            members.sort();
                            format!("set {} {members:?}", value.encoding())
                        }
                        // Lease holders are clients of this process: a restart keeps the deadlines only.
                        Value::Queue(_) => without_holders(&format!("{value:?}")),
                        _ => match value.as_string() {
                            Some(bytes) => format!("string {bytes:?}"),
                            None => format!("{value:?}"),
                        },
                    };
                    (db, e.key().to_vec(), shown, e.expire_at())
                }));
            }
        }
        all.sort();
        all
    }

    fn without_holders(shown: &str) -> String {
        let mut out = String::new();
        let mut rest = shown;
        while let Some(at) = rest.find("holder: ") {
            out.push_str(&rest[..at]);
            rest = rest[at + 8..].trim_start_matches(|c: char| c.is_ascii_digit());
        }
        out + rest
    }

    for seed in 0..60 {
        let dir = tempfile::tempdir().unwrap();
        let store = std::sync::Arc::new(Store::open(dir.path(), 16, Fsync::No).unwrap());
        let mut harness =
            Harness::with_sinks(&[("hash-max-listpack-entries", "4"), ("zset-max-listpack-entries", "4")], vec![store.clone()]);
        let mut rng = StdRng::seed_from_u64(seed);
        let mut topic_rng = StdRng::seed_from_u64(seed + (1 << 32));
        for _ in 0..500 {
            if topic_rng.random_bool(0.15) {
                harness.run(&random_topic_write(&mut topic_rng));
            }
            if rng.random_bool(0.05) {
                harness.run(&["multi"]);
                for _ in 0..3 {
                    harness.run(&random_write(&mut rng));
                }
                harness.run(&["exec"]);
            } else {
                let command = random_write(&mut rng);
                let reply = harness.run(&command);
                if std::env::var("SHOW_SEED").is_ok_and(|s| s == seed.to_string()) {
                    eprintln!("{command:?} -> {reply:?}");
                }
            }
            if rng.random_bool(0.02) {
                harness.advance_ms(100);
            }
        }
        store.flush();
        // Half the seeds compact first: the garbage filter must drop nothing live.
        if seed % 2 == 0 {
            store.compact().unwrap();
        }
        let now = harness.now_ms();
        let limits = Limits { hash_max_entries: 4, zset_max_entries: 4, ..Limits::default() };
        let rebuilt = Keyspace::new(16);
        recovery::load(&store, &rebuilt, &limits, now, &Default::default()).unwrap();
        assert_eq!(contents(&rebuilt, now), contents(&harness.shared.keyspace, now), "seed {seed}");
    }
}

/// Under `appendfsync everysec` a `kill -9` loses at most about the last second: every write
/// acknowledged more than 1.5 s before the kill is there, nothing is there that was never sent, and
/// no MULTI is half applied.
#[test]
fn a_kill_9_under_everysec_loses_at_most_the_last_second() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = StdRng::seed_from_u64(13);
    for cycle in 0..3 {
        let server = start(dir.path(), "everysec");
        let port = server.port;
        let run_for = Duration::from_millis(rng.random_range(2_000..3_000));
        let started = Instant::now();
        let writers: Vec<_> = (0..2)
            .map(|writer| {
                thread::spawn(move || {
                    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
                    let mut con = client.get_connection().unwrap();
                    // (when acknowledged, value) of every INCR.
                    let mut acked: Vec<(Instant, i64)> = Vec::new();
                    loop {
                        let counter: redis::RedisResult<i64> = redis::cmd("incr").arg(format!("counter:{writer}")).query(&mut con);
                        let Ok(counter) = counter else { break };
                        acked.push((Instant::now(), counter));
                        if write_pair(&mut con, writer, counter).is_err() {
                            break;
                        }
                    }
                    acked
                })
            })
            .collect();
        thread::sleep(run_for.saturating_sub(started.elapsed()));
        let killed = Instant::now();
        server.signal("KILL");
        let results: Vec<Vec<(Instant, i64)>> = writers.into_iter().map(|w| w.join().unwrap()).collect();
        drop(server);

        let server = start(dir.path(), "everysec");
        let mut con = server.con();
        for (writer, acked) in results.iter().enumerate() {
            let stored: i64 = redis::cmd("get").arg(format!("counter:{writer}")).query(&mut con).unwrap_or(0);
            let last = acked.last().map_or(0, |(_, v)| *v);
            let safe = acked
                .iter()
                .filter(|(at, _)| killed.duration_since(*at) > Duration::from_millis(1_500))
                .map(|(_, v)| *v)
                .max()
                .unwrap_or(0);
            assert!(stored >= safe, "cycle {cycle} writer {writer}: counter {stored}, acknowledged {safe} more than 1.5 s before the kill");
            assert!(acked.is_empty() || stored <= last + 1, "cycle {cycle} writer {writer}: counter {stored} above anything sent ({last})");
            assert_pair_whole(&mut con, writer, cycle);
        }
    }
}

/// CONFIG SET appendfsync takes effect at once: switched from everysec to always, every write
/// acknowledged before a `kill -9` right after it is there. Turning persistence on or off while
/// running is refused rather than ignored.
#[test]
fn config_set_appendfsync_always_makes_the_next_acknowledgement_durable() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), "everysec");
    let mut con = server.con();
    q(&mut con, &["config", "set", "appendfsync", "always"]).unwrap();
    let shown: Vec<String> = redis::cmd("config").arg("get").arg("appendfsync").query(&mut con).unwrap();
    assert_eq!(shown, ["appendfsync", "always"]);
    let refused = common::err(&mut con, &["config", "set", "appendonly", "no"]);
    assert!(refused.contains("appendonly"), "{refused}");
    for i in 0..200 {
        q(&mut con, &["rpush", "acknowledged", &i.to_string()]).unwrap();
    }
    server.signal("KILL");
    drop(server);
    let server = start(dir.path(), "everysec");
    let mut con = server.con();
    let len: i64 = redis::cmd("llen").arg("acknowledged").query(&mut con).unwrap();
    assert_eq!(len, 200);
}

/// ID.* generators persist a reservation above every ID they issued, so IDs keep increasing
/// across a `kill -9` and restart (the clock is not trusted alone: see `Snowflake`).
#[test]
fn ids_issued_after_a_kill_9_are_above_every_id_before() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), "always");
    let mut con = server.con();
    let before: Vec<i64> = redis::cmd("id.next").arg("COUNT").arg(5000).query(&mut con).unwrap();
    let named_before: i64 = redis::cmd("id.next").arg("orders").query(&mut con).unwrap();
    server.signal("KILL");
    drop(server);
    let server = start(dir.path(), "always");
    let mut con = server.con();
    let after: i64 = redis::cmd("id.next").query(&mut con).unwrap();
    let named_after: i64 = redis::cmd("id.next").arg("orders").query(&mut con).unwrap();
    assert!(after > *before.last().unwrap(), "{after} after {:?}", before.last());
    assert!(named_after > named_before);
}

/// What deletes, overwrites, LTRIM and FLUSHDB leave behind is reclaimed by compaction (a DEL of a
/// big collection writes one record; its members go when their tables are compacted).
#[test]
fn compaction_reclaims_deleted_collections_trimmed_lists_and_flushed_databases() {
    use strata::commands::harness::Harness;
    use strata::engine::persist::{Fsync, Store};

    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(Store::open(dir.path(), 16, Fsync::No).unwrap());
    let mut harness = Harness::with_sinks(&[], vec![store.clone()]);
    let fields: Vec<String> = (0..1000).flat_map(|i| [format!("f{i}"), "v".into()]).collect();
    let mut hset = vec!["hset", "deleted"];
    hset.extend(fields.iter().map(String::as_str));
    harness.run(&hset);
    hset[1] = "replaced";
    harness.run(&hset);
    hset[1] = "kept";
    harness.run(&hset);
    harness.run(&["del", "deleted"]);
    harness.run(&["set", "replaced", "now a string"]);
    let items: Vec<String> = (0..500).map(|i| i.to_string()).collect();
    let mut rpush = vec!["rpush", "list"];
    rpush.extend(items.iter().map(String::as_str));
    harness.run(&rpush);
    harness.run(&["ltrim", "list", "0", "9"]);
    harness.run(&["select", "3"]);
    harness.run(&hset);
    harness.run(&["flushdb"]);
    store.flush();
    let before = store.count_records().unwrap();
    store.compact().unwrap();
    let after = store.count_records().unwrap();
    // Left: the kept hash (1000 fields and its metadata), the string, the list (10 elements and
    // its metadata), database 3's store-id record, and the default ID reservation if any.
    assert!(before > 3000, "{before} records before");
    assert!((1000 + 1 + 1 + 10 + 1 + 1..=1000 + 1 + 1 + 10 + 1 + 2).contains(&after), "{after} records after");
}

/// A big string is stored in pages: an in-place edit writes the pages it touches, not the string
/// (a SETRANGE of one byte on a 1 MB string writes about 4 KB), and every way of growing,
/// shrinking and replacing one reads back exactly after a rebuild.
#[test]
fn big_strings_are_paged_and_edits_write_only_the_pages_they_touch() {
    use strata::commands::harness::Harness;
    use strata::engine::persist::{recovery, Fsync, Store};
    use strata::engine::{KeyHash, Keyspace, Limits};

    fn disk_bytes(dir: &std::path::Path) -> u64 {
        std::fs::read_dir(dir).unwrap().map(|entry| entry.unwrap().metadata().unwrap().len()).sum()
    }

    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(Store::open(dir.path(), 16, Fsync::No).unwrap());
    let mut harness = Harness::with_sinks(&[], vec![store.clone()]);
    let mega = "m".repeat(1 << 20);
    harness.run(&["set", "big", &mega]);
    store.flush();
    let before = disk_bytes(dir.path());
    for i in 0..100 {
        harness.run(&["setrange", "big", &(i * 10_007).to_string(), "X"]);
        store.flush();
    }
    let written = disk_bytes(dir.path()) - before;
    assert!(written < 1 << 20, "100 one-byte edits wrote {written} bytes");

    // Grown by SETBIT far past the end (the gap reads as zeros), by APPEND across the paging
    // threshold, replaced by a shorter paged value and then grown again, shrunk to a short string.
    harness.run(&["setbit", "big", &((3u64 << 20) * 8).to_string(), "1"]);
    harness.run(&["set", "grows", &"g".repeat(10_000)]);
    for _ in 0..3 {
        harness.run(&["append", "grows", &"a".repeat(5_000)]);
    }
    harness.run(&["set", "replaced", &"r".repeat(100_000)]);
    harness.run(&["set", "replaced", &"s".repeat(20_000)]);
    harness.run(&["setrange", "replaced", "90000", "tail"]);
    harness.run(&["set", "shrunk", &"h".repeat(50_000)]);
    harness.run(&["set", "shrunk", "short"]);
    harness.run(&["setrange", "shrunk", "40000", "again"]);
    store.flush();
    for compact in [false, true] {
        if compact {
            store.compact().unwrap();
        }
        let rebuilt = Keyspace::new(16);
        let now = harness.now_ms();
        recovery::load(&store, &rebuilt, &Limits::default(), now, &Default::default()).unwrap();
        for key in ["big", "grows", "replaced", "shrunk"] {
            let string = |keyspace: &Keyspace| {
                let hash = KeyHash::of(key.as_bytes());
                let mut shard = keyspace.db(0).lock(hash);
                shard.get(hash, key.as_bytes(), now).and_then(|entry| entry.value().as_string().map(|s| s.into_owned()))
            };
            let (stored, live) = (string(&rebuilt), string(&harness.shared.keyspace));
            assert!(live.is_some() && stored == live, "{key} differs after a rebuild (compacted: {compact})");
        }
    }
}

/// BGREWRITEAOF compacts the store in the background, as Redis rewrites its AOF: INFO shows it
/// running and done, and everything is still there after a restart.
#[test]
fn bgrewriteaof_compacts_the_store_and_keeps_every_key() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), "everysec");
    let mut con = server.con();
    for i in 0..200 {
        q(&mut con, &["hset", &format!("hash:{i}"), "a", "1", "b", "2"]).unwrap();
    }
    for i in 0..100 {
        q(&mut con, &["del", &format!("hash:{i}")]).unwrap();
    }
    let started: String = redis::cmd("bgrewriteaof").query(&mut con).unwrap();
    assert_eq!(started, "Background append only file rewriting started");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let info: String = redis::cmd("info").arg("persistence").query(&mut con).unwrap();
        if info.contains("aof_rewrite_in_progress:0") {
            assert!(info.contains("aof_last_bgrewrite_status:ok"), "{info}");
            break;
        }
        assert!(Instant::now() < deadline, "the rewrite did not end");
        thread::sleep(Duration::from_millis(20));
    }
    q(&mut con, &["shutdown"]).ok();
    drop(server);
    let server = start(dir.path(), "everysec");
    let mut con = server.con();
    assert_eq!(redis::cmd("dbsize").query::<i64>(&mut con).unwrap(), 100);
    let field: String = redis::cmd("hget").arg("hash:150").arg("b").query(&mut con).unwrap();
    assert_eq!(field, "2");
}

/// DEBUG RELOAD drops the keyspace from memory and loads it back, from the store with persistence
/// on and through the RDB file without: the same DEBUG DIGEST before and after.
#[test]
fn debug_reload_gives_back_the_same_dataset_with_and_without_persistence() {
    for persistence in ["yes", "no"] {
        let dir = tempfile::tempdir().unwrap();
        let server = Server::start_with(&["--appendonly", persistence, "--dir", dir.path().to_str().unwrap()]);
        let mut con = server.con();
        for db in ["1", "0"] {
            q(&mut con, &["select", db]).unwrap();
            q(&mut con, &["debug", "populate", "500"]).unwrap();
            q(&mut con, &["hset", "hash", "a", "1", "b", "2"]).unwrap();
            q(&mut con, &["rpush", "list", "a", "b", "c"]).unwrap();
            q(&mut con, &["zadd", "zset", "1.5", "a", "2", "b"]).unwrap();
            q(&mut con, &["sadd", "set", "a", "7"]).unwrap();
            q(&mut con, &["xadd", "stream", "1-1", "f", "v"]).unwrap();
            q(&mut con, &["xgroup", "create", "stream", "g", "0"]).unwrap();
            q(&mut con, &["pexpire", "hash", "100000"]).unwrap();
        }
        q(&mut con, &["set", "big", &"x".repeat(40_000)]).unwrap();
        q(&mut con, &["setrange", "big", "20000", "y"]).unwrap();
        let before: String = redis::cmd("debug").arg("digest").query(&mut con).unwrap();
        let keys_before: i64 = redis::cmd("dbsize").query(&mut con).unwrap();
        let keys_everywhere = |con: &mut redis::Connection| {
            let info: String = redis::cmd("info").arg("keyspace").query(con).unwrap();
            info.lines()
                .filter_map(|line| line.split_once(":keys="))
                .map(|(_, rest)| rest.split(',').next().unwrap().parse::<i64>().unwrap())
                .sum::<i64>()
        };
        let everywhere_before = keys_everywhere(&mut con);
        assert!(everywhere_before > 20, "{everywhere_before} keys");
        assert_eq!(q(&mut con, &["debug", "reload"]).unwrap(), Reply::Okay, "appendonly {persistence}");
        let after: String = redis::cmd("debug").arg("digest").query(&mut con).unwrap();
        assert_eq!(after, before, "appendonly {persistence}");
        assert_eq!(redis::cmd("dbsize").query::<i64>(&mut con).unwrap(), keys_before);
        assert_eq!(keys_everywhere(&mut con), everywhere_before);
        assert!(common::err(&mut con, &["debug", "reload", "sideways"]).contains("MERGE, NOFLUSH and NOSAVE"));
        // A queue lives only in strata's store: without one, an RDB reload would lose it.
        q(&mut con, &["q.push", "jobs", "work"]).unwrap();
        match persistence {
            "yes" => assert_eq!(q(&mut con, &["debug", "reload"]).unwrap(), Reply::Okay),
            _ => assert!(common::err(&mut con, &["debug", "reload"]).contains("queue"), "refused, not lost"),
        }
        assert_eq!(redis::cmd("type").arg("jobs").query::<String>(&mut con).unwrap(), "queue");
    }
}
