//! STREAM.* through real clients and the real binary: reply shapes in both protocols, blocking
//! reads and subscriptions served by publishes from other connections, producers with keys and a
//! consumer group with a member killed mid-run, committed offsets and idempotent producers across
//! `kill -9` under `appendfsync always`, and replay by time.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::{as_int, as_text, bulk, err, ok, q, Server};
use redis::Value;

fn connect(port: u16) -> redis::Connection {
    redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap().get_connection().unwrap()
}

fn items(value: &Value) -> &[Value] {
    match value {
        Value::Array(items) => items,
        Value::Nil => &[],
        other => panic!("not an array: {other:?}"),
    }
}

/// `(partition, offset)` of a STREAM.PUB reply.
#[track_caller]
fn published(value: &Value) -> (i64, i64) {
    match items(value) {
        [p, o] => (as_int(p), as_int(o)),
        other => panic!("not a publish reply: {other:?}"),
    }
}

/// `(partition, offset, payload)` of a RESP2 STREAM.SUB reply.
fn sub_entries(value: &Value) -> Vec<(i64, i64, String)> {
    items(value)
        .iter()
        .map(|entry| match items(entry) {
            [p, o, _, _, payload] => (as_int(p), as_int(o), as_text(payload)),
            other => panic!("not an entry: {other:?}"),
        })
        .collect()
}

/// `(offset, timestamp, key, payload)` of a RESP2 STREAM.READ reply.
fn read_entries(value: &Value) -> Vec<(i64, i64, String, String)> {
    items(value)
        .iter()
        .map(|entry| match items(entry) {
            [o, t, k, p] => (as_int(o), as_int(t), if *k == Value::Nil { String::new() } else { as_text(k) }, as_text(p)),
            other => panic!("not an entry: {other:?}"),
        })
        .collect()
}

/// The committed offset per partition from STREAM.OFFSETS (RESP2: flat field lists).
fn committed(con: &mut redis::Connection, topic: &str, group: &str) -> BTreeMap<i64, Option<i64>> {
    items(&ok(con, &["STREAM.OFFSETS", topic, "GROUP", group]))
        .iter()
        .map(|row| {
            let fields: HashMap<String, &Value> = items(row).chunks(2).map(|kv| (as_text(&kv[0]), &kv[1])).collect();
            let committed = match fields["committed"] {
                Value::Nil => None,
                other => Some(as_int(other)),
            };
            (as_int(fields["partition"]), committed)
        })
        .collect()
}

/// The lag of `group` over all partitions, from STREAM.GROUPS.
fn group_lag(con: &mut redis::Connection, topic: &str, group: &str) -> i64 {
    items(&ok(con, &["STREAM.GROUPS", topic]))
        .iter()
        .map(|row| items(row).chunks(2).map(|kv| (as_text(&kv[0]), kv[1].clone())).collect::<HashMap<String, Value>>())
        .find(|row| as_text(&row["name"]) == group)
        .map_or(i64::MAX, |row| as_int(&row["lag"]))
}

#[test]
fn reply_shapes_and_blocking_across_connections() {
    let server = Server::start();
    let port = server.port;
    let mut resp2 = server.con();
    let mut resp3 = server.con3();
    assert_eq!(ok(&mut resp2, &["STREAM.CREATE", "t", "PARTITIONS", "2"]), Value::Okay);
    assert_eq!(
        ok(&mut resp2, &["STREAM.PUB", "t", "hello", "PARTITION", "1", "KEY", "k"]),
        Value::Array(vec![Value::Int(1), Value::Int(0)])
    );
    assert_eq!(ok(&mut resp2, &["TYPE", "t"]), Value::SimpleString("topic".into()));
    let read = ok(&mut resp3, &["STREAM.READ", "t", "PARTITION", "1", "EARLIEST"]);
    let Value::Array(entries) = read else { panic!("{read:?}") };
    let Value::Map(fields) = &entries[0] else { panic!("{entries:?}") };
    assert_eq!(fields[0], (bulk("offset"), Value::Int(0)));
    assert_eq!(fields[2], (bulk("key"), bulk("k")));
    assert_eq!(fields[3], (bulk("payload"), bulk("hello")));
    let info = ok(&mut resp2, &["COMMAND", "INFO", "STREAM.SUB"]);
    assert!(format!("{info:?}").contains("@topic"), "{info:?}");
    assert_eq!(err(&mut resp2, &["STREAM.READ", "t", "PARTITION", "7", "EARLIEST"]), "ERR partition 7 does not exist (the topic has 2)");
    assert_eq!(ok(&mut resp2, &["STREAM.READ", "t", "PARTITION", "0", "LATEST", "BLOCK", "50"]), Value::Nil, "timed out");

    // A blocked READ at LATEST and a blocked SUB, served by publishes from another connection.
    let reader =
        thread::spawn(move || read_entries(&ok(&mut connect(port), &["STREAM.READ", "t", "PARTITION", "0", "LATEST", "BLOCK", "5000"])));
    let subscriber = thread::spawn(move || {
        let mut con = connect(port);
        ok(&mut con, &["STREAM.SEEK", "t", "GROUP", "g", "PARTITION", "1", "LATEST"]);
        sub_entries(&ok(&mut con, &["STREAM.SUB", "t", "GROUP", "g", "CONSUMER", "c", "BLOCK", "5000"]))
    });
    thread::sleep(Duration::from_millis(200));
    ok(&mut resp2, &["STREAM.PUB", "t", "second", "PARTITION", "1"]);
    ok(&mut resp2, &["STREAM.PUB", "t", "first", "PARTITION", "0"]);
    assert_eq!(reader.join().unwrap().iter().map(|e| e.3.as_str()).collect::<Vec<_>>(), ["first"]);
    let got = subscriber.join().unwrap();
    assert!(got.contains(&(1, 1, "second".into())), "{got:?}");
    server.assert_no_panic();
}

/// 4 producers publish with keys to 8 partitions while 3 consumers of one group read, commit each
/// batch, and one consumer is killed mid-run (its connection dropped without a commit for what it
/// last read): every message is consumed at least once, each key keeps its partition and its order,
/// and in the end the group's commits reach every log end.
#[test]
fn producers_with_keys_and_a_group_with_a_consumer_killed() {
    const PRODUCERS: usize = 4;
    const PER_PRODUCER: usize = 400;
    const CONSUMERS: usize = 3;
    let server = Server::start();
    let port = server.port;
    ok(&mut server.con(), &["STREAM.CREATE", "events", "PARTITIONS", "8"]);
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            thread::spawn(move || {
                let mut con = connect(port);
                let mut seqs: HashMap<String, usize> = HashMap::new();
                for i in 0..PER_PRODUCER {
                    let key = format!("key{}", (i * 7 + p) % 16);
                    let seq = seqs.entry(key.clone()).or_default();
                    ok(&mut con, &["STREAM.PUB", "events", &format!("{p}/{key}/{seq}"), "KEY", &key]);
                    *seq += 1;
                }
            })
        })
        .collect();
    let consumed: Arc<Mutex<HashSet<String>>> = Arc::default();
    let total = PRODUCERS * PER_PRODUCER;
    let deadline = Instant::now() + Duration::from_secs(60);
    let consumers: Vec<_> = (0..CONSUMERS)
        .map(|c| {
            let consumed = consumed.clone();
            thread::spawn(move || {
                let mut con = connect(port);
                let name = format!("c{c}");
                let mut batches = 0;
                // Until everything was read and the group committed it all (the killed member's
                // partitions included, once its session ended and they moved).
                while (consumed.lock().unwrap().len() < total || group_lag(&mut con, "events", "g") > 0) && Instant::now() < deadline {
                    let reply = ok(
                        &mut con,
                        &["STREAM.SUB", "events", "GROUP", "g", "CONSUMER", &name, "COUNT", "25", "BLOCK", "200", "SESSION", "1500"],
                    );
                    let batch = sub_entries(&reply);
                    if batch.is_empty() {
                        continue;
                    }
                    batches += 1;
                    consumed.lock().unwrap().extend(batch.iter().map(|e| e.2.clone()));
                    if c == 0 && batches == 5 {
                        // Killed mid-run: what it read since its last commit is read again by
                        // whoever gets its partitions once its session ends.
                        drop(con);
                        return batches;
                    }
                    let mut next: BTreeMap<i64, i64> = BTreeMap::new();
                    for (p, o, _) in &batch {
                        next.insert(*p, o + 1);
                    }
                    let mut command =
                        vec!["STREAM.COMMIT".to_string(), "events".into(), "GROUP".into(), "g".into(), "CONSUMER".into(), name.clone()];
                    command.extend(next.iter().flat_map(|(p, o)| [p.to_string(), o.to_string()]));
                    let args: Vec<&str> = command.iter().map(String::as_str).collect();
                    // A commit racing a rebalance is fenced: those entries are read again by the new owner.
                    if let Err(error) = q(&mut con, &args) {
                        assert!(error.starts_with("FENCED"), "{error}");
                    }
                }
                batches
            })
        })
        .collect();
    producers.into_iter().for_each(|p| p.join().unwrap());
    consumers.into_iter().for_each(|c| assert!(c.join().unwrap() > 0, "every consumer got something"));
    let consumed = consumed.lock().unwrap();
    assert_eq!(consumed.len(), total, "every message consumed at least once");

    // Each key kept one partition and its publish order.
    let mut con = server.con();
    let mut seen: HashMap<String, (i64, i64)> = HashMap::new();
    for partition in 0..8 {
        let entries =
            read_entries(&ok(&mut con, &["STREAM.READ", "events", "PARTITION", &partition.to_string(), "EARLIEST", "COUNT", "100000"]));
        for (_, _, key, payload) in entries {
            let mut parts = payload.split('/');
            let (producer, _, seq) = (parts.next().unwrap().to_string(), parts.next(), parts.next().unwrap().parse::<i64>().unwrap());
            let last = seen.insert(format!("{producer}/{key}"), (partition, seq));
            if let Some((p, s)) = last {
                assert_eq!(p, partition, "{payload}: one partition per key");
                assert_eq!(s + 1, seq, "{payload}: in order");
            }
        }
    }
    // The survivors committed up to every log end (the killed member's partitions included).
    let ends: Vec<i64> = (0..8)
        .map(|p| {
            let entries = read_entries(&ok(&mut con, &["STREAM.READ", "events", "PARTITION", &p.to_string(), "LATEST"]));
            assert!(entries.is_empty());
            let info = ok(&mut con, &["STREAM.PUB", "events", "probe", "PARTITION", &p.to_string()]);
            published(&info).1
        })
        .collect();
    let killed = err(&mut con, &["STREAM.HEARTBEAT", "events", "GROUP", "g", "CONSUMER", "c0"]);
    assert!(killed.contains("not a member"), "the killed consumer's session ended: {killed}");
    let commits = committed(&mut con, "events", "g");
    for (p, end) in ends.iter().enumerate() {
        assert_eq!(commits[&(p as i64)], Some(*end), "partition {p}");
    }
    server.assert_no_panic();
}

fn start_durable(dir: &std::path::Path, fsync: &str) -> Server {
    Server::start_with(&["--appendonly", "yes", "--appendfsync", fsync, "--dir", dir.to_str().unwrap()])
}

/// Under `appendfsync always`: commits and publishes acknowledged before a `kill -9` are there
/// afterwards, offsets go on from the log end, and a producer's retry after the restart appends
/// nothing.
#[test]
fn commits_and_producer_state_survive_kill_9_under_appendfsync_always() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_durable(dir.path(), "always");
    let port = server.port;
    let mut con = server.con();
    ok(&mut con, &["STREAM.CREATE", "t", "PARTITIONS", "3"]);
    let committer = thread::spawn(move || {
        let mut con = connect(port);
        let mut last: BTreeMap<i64, i64> = BTreeMap::new();
        for round in 0.. {
            for p in 0..3 {
                if q(
                    &mut con,
                    &["STREAM.PUB", "t", &format!("{round}"), "PARTITION", &p.to_string(), "PRODUCER", "prod", "SEQ", &round.to_string()],
                )
                .is_err()
                {
                    return last;
                }
            }
            let Ok(reply) = q(&mut con, &["STREAM.SUB", "t", "GROUP", "g", "CONSUMER", "c", "COUNT", "100"]) else { return last };
            let mut next = last.clone();
            for (p, o, _) in sub_entries(&reply) {
                next.insert(p, o + 1);
            }
            let mut command = vec!["STREAM.COMMIT".to_string(), "t".into(), "GROUP".into(), "g".into(), "CONSUMER".into(), "c".into()];
            command.extend(next.iter().flat_map(|(p, o)| [p.to_string(), o.to_string()]));
            let args: Vec<&str> = command.iter().map(String::as_str).collect();
            match q(&mut con, &args) {
                Ok(_) => last = next,
                Err(_) => return last,
            }
        }
        last
    });
    thread::sleep(Duration::from_millis(700));
    server.signal("KILL");
    let acknowledged = committer.join().unwrap();
    drop(server);
    assert!(!acknowledged.is_empty());

    let server = start_durable(dir.path(), "always");
    let mut con = server.con();
    let after = committed(&mut con, "t", "g");
    for (p, offset) in &acknowledged {
        let found = after[p].unwrap();
        // The last commit may have reached the disk without its reply reaching us.
        assert!(found >= *offset, "partition {p}: committed {found}, acknowledged {offset}");
    }
    // Publishing after the restart continues from the log end, and the producer's state survived:
    // the last sequence again is a duplicate.
    let entries = read_entries(&ok(&mut con, &["STREAM.READ", "t", "PARTITION", "0", "EARLIEST", "COUNT", "100000"]));
    let (last_offset, _, _, last_round) = entries.last().cloned().unwrap();
    assert_eq!(entries.iter().map(|e| e.0).collect::<Vec<_>>(), (0..=last_offset).collect::<Vec<_>>(), "dense offsets");
    let retry = ok(&mut con, &["STREAM.PUB", "t", &last_round, "PARTITION", "0", "PRODUCER", "prod", "SEQ", &last_round]);
    assert_eq!(published(&retry), (0, last_offset), "a retry after the restart appends nothing");
    let next_seq = (last_round.parse::<i64>().unwrap() + 1).to_string();
    let fresh = ok(&mut con, &["STREAM.PUB", "t", "new", "PARTITION", "0", "PRODUCER", "prod", "SEQ", &next_seq]);
    assert_eq!(published(&fresh), (0, last_offset + 1), "offsets go on from the log end");
    server.assert_no_panic();
}

/// Replaying from a time: READ TIME and a group's SEEK TIME start at the first entry published at
/// or after it.
#[test]
fn replay_by_time_starts_at_the_right_entry() {
    let server = Server::start();
    let mut con = server.con();
    for i in 0..5 {
        ok(&mut con, &["STREAM.PUB", "t", &format!("early{i}"), "PARTITION", "0"]);
    }
    thread::sleep(Duration::from_millis(30));
    let cut = items(&ok(&mut con, &["TIME"])).iter().map(|v| as_text(v).parse::<i64>().unwrap()).collect::<Vec<_>>();
    let cut_ms = cut[0] * 1000 + cut[1] / 1000 + 1;
    thread::sleep(Duration::from_millis(30));
    for i in 0..3 {
        ok(&mut con, &["STREAM.PUB", "t", &format!("late{i}"), "PARTITION", "0"]);
    }
    let replayed = read_entries(&ok(&mut con, &["STREAM.READ", "t", "PARTITION", "0", "TIME", &cut_ms.to_string(), "COUNT", "1"]));
    assert_eq!((replayed[0].0, replayed[0].3.as_str()), (5, "late0"));
    assert!(replayed[0].1 >= cut_ms);
    ok(&mut con, &["STREAM.SEEK", "t", "GROUP", "replay", "PARTITION", "0", "TIME", &cut_ms.to_string()]);
    let sub = sub_entries(&ok(&mut con, &["STREAM.SUB", "t", "GROUP", "replay", "CONSUMER", "r"]));
    assert_eq!(sub.iter().map(|e| e.2.as_str()).collect::<Vec<_>>(), ["late0", "late1", "late2"]);
}

/// The worker applies retention by itself, also to a topic renamed away from the key its STREAM.*
/// writes registered; offsets go on after everything was removed.
#[test]
fn the_worker_applies_retention_to_renamed_topics_too() {
    let server = Server::start();
    let mut con = server.con();
    ok(&mut con, &["STREAM.CREATE", "r", "RETENTION", "200"]);
    for i in 0..3 {
        ok(&mut con, &["STREAM.PUB", "r", &format!("m{i}")]);
    }
    ok(&mut con, &["RENAME", "r", "renamed"]);
    let entries = |con: &mut redis::Connection| read_entries(&ok(con, &["STREAM.READ", "renamed", "PARTITION", "0", "EARLIEST"])).len();
    assert!(common::eventually(Duration::from_secs(20), || entries(&mut con) == 0), "retention removed the entries");
    assert_eq!(published(&ok(&mut con, &["STREAM.PUB", "renamed", "next"])), (0, 3), "offsets are never reused");
    server.assert_no_panic();
}
