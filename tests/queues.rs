//! Q.* through real clients and the real binary: blocking pops served across connections and event
//! loops, timers that deliver delayed and expired-lease messages to blocked consumers, leases given
//! back when a client goes away, many producers and consumers with consumers killed mid-job, and
//! durability across SHUTDOWN and `kill -9`.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::{as_int, as_pairs, as_text, bulk, err, ok, q, Server};
use redis::Value;

fn connect(port: u16) -> redis::Connection {
    redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap().get_connection().unwrap()
}

/// `(id, payload, deliveries)` of a RESP2 Q.POP/Q.PEEK reply.
#[track_caller]
fn messages(value: &Value) -> Vec<(String, String, i64)> {
    match value {
        Value::Nil => Vec::new(),
        Value::Array(items) => items
            .iter()
            .map(|item| match item {
                Value::Array(parts) if parts.len() == 3 => (as_text(&parts[0]), as_text(&parts[1]), as_int(&parts[2])),
                other => panic!("not a message: {other:?}"),
            })
            .collect(),
        other => panic!("not a message list: {other:?}"),
    }
}

fn stat(con: &mut redis::Connection, queue: &str, name: &str) -> i64 {
    let pairs = as_pairs(&ok(con, &["Q.STATS", queue]));
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| as_int(v)).unwrap_or_else(|| panic!("no {name}"))
}

#[test]
fn reply_shapes_in_both_protocols() {
    let server = Server::start();
    let mut resp2 = server.con();
    let mut resp3 = server.con3();
    let id = ok(&mut resp2, &["Q.PUSH", "q", "payload"]);
    assert!(matches!(&id, Value::BulkString(_)), "the ID is a bulk string: {id:?}");
    assert_eq!(ok(&mut resp2, &["TYPE", "q"]), Value::SimpleString("queue".into()));
    let popped = ok(&mut resp3, &["Q.POP", "q"]);
    let Value::Array(items) = popped else { panic!("{popped:?}") };
    assert_eq!(
        items[0],
        Value::Map(vec![(bulk("id"), id.clone()), (bulk("payload"), bulk("payload")), (bulk("deliveries"), Value::Int(1))])
    );
    assert_eq!(ok(&mut resp2, &["Q.POP", "q"]), Value::Nil, "a null array when nothing is ready");
    assert_eq!(as_int(&ok(&mut resp2, &["Q.ACK", "q", &as_text(&id)])), 1);
    assert!(matches!(ok(&mut resp3, &["Q.STATS", "q"]), Value::Map(_)));
    let info = ok(&mut resp2, &["COMMAND", "INFO", "Q.POP"]);
    assert!(format!("{info:?}").contains("@queue"), "{info:?}");
    assert_eq!(ok(&mut resp2, &["SCAN", "0", "TYPE", "queue"]), Value::Array(vec![bulk("0"), Value::Array(vec![bulk("q")])]));
    assert_eq!(err(&mut resp2, &["Q.POP", "q", "COUNT", "0"]), "ERR COUNT must be between 1 and 100000");
}

#[test]
fn a_blocked_pop_is_served_by_a_push_timer_and_client_unblock() {
    let server = Server::start();
    let port = server.port;
    // Served by a push from another client (perhaps on the other event loop).
    let waiter = thread::spawn(move || {
        let mut con = connect(port);
        let got = messages(&ok(&mut con, &["Q.POP", "jobs", "BLOCK", "5000"]));
        // Acked before the connection drops, which would give the lease back.
        ok(&mut con, &["Q.ACK", "jobs", &got[0].0]);
        got
    });
    thread::sleep(Duration::from_millis(100));
    let mut con = server.con();
    ok(&mut con, &["Q.PUSH", "jobs", "first"]);
    assert_eq!(waiter.join().unwrap()[0].1, "first");

    // A delayed message reaches a blocked consumer at its time, with no other push.
    ok(&mut con, &["Q.PUSH", "jobs", "later", "DELAY", "300"]);
    let started = Instant::now();
    let mut consumer = connect(port);
    let got = ok(&mut consumer, &["Q.POP", "jobs", "BLOCK", "0"]);
    assert_eq!(messages(&got)[0].1, "later");
    ok(&mut consumer, &["Q.ACK", "jobs", &messages(&got)[0].0]);
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(250) && waited < Duration::from_secs(2), "{waited:?}");

    // A lease that ends is redelivered to a blocked consumer on time.
    ok(&mut con, &["Q.PUSH", "jobs", "crashy"]);
    let leased = messages(&ok(&mut con, &["Q.POP", "jobs", "LEASE", "300"]));
    let started = Instant::now();
    let again = messages(&ok(&mut connect(port), &["Q.POP", "jobs", "BLOCK", "5000"]));
    assert_eq!((again[0].0.as_str(), again[0].2), (leased[0].0.as_str(), 2));
    assert!(started.elapsed() >= Duration::from_millis(200), "not before the lease ended");

    // BLOCK with a timeout answers a null array; CLIENT UNBLOCK ends a BLOCK 0 wait.
    assert_eq!(ok(&mut con, &["Q.POP", "none", "BLOCK", "100"]), Value::Nil);
    let mut blocked = connect(port);
    let id = as_int(&ok(&mut blocked, &["CLIENT", "ID"]));
    let waiter = thread::spawn(move || q(&mut blocked, &["Q.POP", "none", "BLOCK", "0"]));
    assert!(common::eventually(Duration::from_secs(5), || stat(&mut con, "none", "consumers-waiting") == 1));
    assert_eq!(ok(&mut con, &["CLIENT", "UNBLOCK", &id.to_string()]), Value::Int(1));
    assert_eq!(waiter.join().unwrap(), Ok(Value::Nil));
}

#[test]
fn waiters_are_served_first_come_first_served() {
    let server = Server::start();
    let port = server.port;
    let mut con = server.con();
    let mut handles = Vec::new();
    for i in 0..3 {
        handles.push(thread::spawn(move || messages(&ok(&mut connect(port), &["Q.POP", "fifo", "BLOCK", "5000"]))[0].1.clone()));
        assert!(common::eventually(Duration::from_secs(5), || stat(&mut con, "fifo", "consumers-waiting") == i + 1));
    }
    ok(&mut con, &["Q.PUSHMANY", "fifo", "a", "b", "c"]);
    let got: Vec<String> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(got, ["a", "b", "c"]);
}

#[test]
fn a_client_that_goes_away_gives_its_leases_back_at_once() {
    let server = Server::start();
    let mut con = server.con();
    ok(&mut con, &["Q.PUSHMANY", "q", "a", "b"]);
    {
        let mut consumer = server.con();
        assert_eq!(messages(&ok(&mut consumer, &["Q.POP", "q", "COUNT", "2"])).len(), 2);
        assert_eq!(stat(&mut con, "q", "leased"), 2);
    }
    assert!(common::eventually(Duration::from_secs(2), || stat(&mut con, "q", "ready") == 2), "leases given back on disconnect");
    let again = messages(&ok(&mut con, &["Q.POP", "q", "COUNT", "2"]));
    assert_eq!(again.iter().map(|m| (m.1.as_str(), m.2)).collect::<Vec<_>>(), [("a", 2), ("b", 2)]);
}

#[test]
fn dead_letters_after_maxdeliveries() {
    let server = Server::start();
    let mut con = server.con();
    ok(&mut con, &["Q.CONFIG", "q", "MAXDELIVERIES", "3", "LEASE", "50", "DEADLETTER", "q:dead"]);
    ok(&mut con, &["Q.PUSH", "q", "poison"]);
    for delivery in 1..=3 {
        let got = messages(&ok(&mut con, &["Q.POP", "q", "BLOCK", "2000"]));
        assert_eq!(got[0].2, delivery);
    }
    assert!(common::eventually(Duration::from_secs(2), || stat(&mut con, "q", "dead-lettered") == 1));
    assert_eq!(messages(&ok(&mut con, &["Q.PEEK", "q:dead"]))[0].1, "poison");
    assert_eq!(stat(&mut con, "q", "ready") + stat(&mut con, "q", "leased"), 0);
}

/// N producers, M consumers; some consumers die mid-job (their connection drops with leases held).
/// Every message is processed at least once, none is lost, and none is handed to two consumers at
/// once while its lease holds.
#[test]
fn producers_and_consumers_with_consumers_killed_mid_job() {
    const PRODUCERS: usize = 3;
    const PER_PRODUCER: usize = 300;
    const CONSUMERS: usize = 4;
    let server = Server::start();
    let port = server.port;
    ok(&mut server.con(), &["Q.CONFIG", "work", "LEASE", "2000"]);
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            thread::spawn(move || {
                let mut con = connect(port);
                for i in 0..PER_PRODUCER {
                    ok(&mut con, &["Q.PUSH", "work", &format!("{p}-{i}")]);
                }
            })
        })
        .collect();
    // Who holds each message now; a second holder while the first holds it is a violation.
    let holding: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let done: Arc<Mutex<HashSet<String>>> = Arc::default();
    let violations: Arc<Mutex<Vec<String>>> = Arc::default();
    let total = PRODUCERS * PER_PRODUCER;
    let consumers: Vec<_> = (0..CONSUMERS)
        .map(|c| {
            let (holding, done, violations) = (holding.clone(), done.clone(), violations.clone());
            thread::spawn(move || {
                let mut rng_state = c as u64 + 1;
                let mut con = connect(port);
                while done.lock().unwrap().len() < total {
                    let reply = ok(&mut con, &["Q.POP", "work", "COUNT", "5", "BLOCK", "200"]);
                    let batch = messages(&reply);
                    for (id, payload, _) in &batch {
                        if let Some(other) = holding.lock().unwrap().insert(id.clone(), c) {
                            violations.lock().unwrap().push(format!("{payload} held by {other} and {c}"));
                        }
                    }
                    rng_state = rng_state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    if !batch.is_empty() && rng_state >> 60 == 0 {
                        // Dies mid-job: the leases go back when the connection drops.
                        for (id, _, _) in &batch {
                            holding.lock().unwrap().remove(id);
                        }
                        con = connect(port);
                        continue;
                    }
                    for (id, payload, _) in &batch {
                        holding.lock().unwrap().remove(id);
                        done.lock().unwrap().insert(payload.clone());
                        ok(&mut con, &["Q.ACK", "work", id]);
                    }
                }
            })
        })
        .collect();
    producers.into_iter().for_each(|p| p.join().unwrap());
    consumers.into_iter().for_each(|c| c.join().unwrap());
    assert!(violations.lock().unwrap().is_empty(), "{:?}", violations.lock().unwrap());
    assert_eq!(done.lock().unwrap().len(), total, "every message processed");
    let mut con = server.con();
    assert!(common::eventually(Duration::from_secs(3), || stat(&mut con, "work", "acked") as usize == total));
    assert_eq!(stat(&mut con, "work", "ready") + stat(&mut con, "work", "leased"), 0);
    server.assert_no_panic();
}

fn start_durable(dir: &std::path::Path, fsync: &str) -> Server {
    Server::start_with(&["--appendonly", "yes", "--appendfsync", fsync, "--dir", dir.to_str().unwrap()])
}

#[test]
fn a_queue_survives_shutdown_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_durable(dir.path(), "everysec");
    let mut con = server.con();
    ok(&mut con, &["Q.CONFIG", "q", "LEASE", "60000", "MAXDELIVERIES", "2", "MAXLEN", "100", "OVERFLOW", "drop-oldest"]);
    ok(&mut con, &["Q.PUSHMANY", "q", "r1", "r2", "r3"]);
    ok(&mut con, &["Q.PUSH", "q", "hi", "PRIORITY", "9"]);
    ok(&mut con, &["Q.PUSH", "q", "delayed", "DELAY", "600000"]);
    let leased = messages(&ok(&mut con, &["Q.POP", "q", "LEASE", "600000"]));
    assert_eq!(leased[0].1, "hi");
    let short = messages(&ok(&mut con, &["Q.POP", "q", "LEASE", "300"]));
    let dead = messages(&ok(&mut con, &["Q.POP", "q"]));
    ok(&mut con, &["Q.NACK", "q", &dead[0].0, "DEAD"]);
    let config = ok(&mut con, &["Q.CONFIG", "q"]);
    let before: Vec<(String, Value)> = as_pairs(&ok(&mut con, &["Q.STATS", "q"]));
    q(&mut con, &["SHUTDOWN"]).ok();
    let mut server = server;
    assert!(server.wait_exit(Duration::from_secs(20)).is_some_and(|s| s.success()));
    thread::sleep(Duration::from_millis(400));

    let server = start_durable(dir.path(), "everysec");
    let mut con = server.con();
    assert_eq!(ok(&mut con, &["Q.CONFIG", "q"]), config);
    let after = as_pairs(&ok(&mut con, &["Q.STATS", "q"]));
    let get = |pairs: &[(String, Value)], name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| as_int(v)).unwrap();
    // The short lease ended while the server was down: its message is ready again.
    assert_eq!(get(&after, "leased"), 1);
    assert_eq!(get(&after, "ready"), get(&before, "ready") + 1);
    for name in ["delayed", "dead", "pushed", "delivered", "nacked", "dead-lettered"] {
        assert_eq!(get(&after, name), get(&before, name), "{name}");
    }
    let ready = messages(&ok(&mut con, &["Q.PEEK", "q", "COUNT", "10"]));
    assert_eq!(ready[0], (short[0].0.clone(), short[0].1.clone(), 1), "back at the head");
    assert_eq!(messages(&ok(&mut con, &["Q.DEAD", "q"]))[0].0, dead[0].0);
    assert_eq!(as_int(&ok(&mut con, &["Q.ACK", "q", &leased[0].0])), 1, "still leased after the restart");
}

/// `appendfsync always`: every push acknowledged before a `kill -9` is there afterwards, and every
/// message popped but not acked is delivered again.
#[test]
fn kill_9_under_appendfsync_always_loses_no_acknowledged_push() {
    let dir = tempfile::tempdir().unwrap();
    let mut pushed: HashSet<String> = HashSet::new();
    let mut acked: HashSet<String> = HashSet::new();
    let mut maybe_acked: HashSet<String> = HashSet::new();
    for cycle in 0..3 {
        let server = start_durable(dir.path(), "always");
        let port = server.port;
        let stop = Instant::now() + Duration::from_millis(300 + 100 * cycle);
        let producer = thread::spawn(move || {
            let mut con = connect(port);
            let mut ids = Vec::new();
            for i in 0.. {
                match q(&mut con, &["Q.PUSH", "durable", &format!("{cycle}-{i}"), "PRIORITY", &(i % 3).to_string()]) {
                    Ok(id) => ids.push(as_text(&id)),
                    Err(_) => break,
                }
                if Instant::now() > stop + Duration::from_secs(5) {
                    break;
                }
            }
            ids
        });
        let consumer = thread::spawn(move || {
            let mut con = connect(port);
            let mut acked = Vec::new();
            while let Ok(reply) = q(&mut con, &["Q.POP", "durable", "COUNT", "3", "LEASE", "500"]) {
                let batch = messages(&reply);
                // Ack all but every third: those stay leased and must come back.
                for (n, (id, _, _)) in batch.iter().enumerate() {
                    if n % 3 != 2 {
                        match q(&mut con, &["Q.ACK", "durable", id]) {
                            Ok(Value::Int(1)) => acked.push((id.clone(), true)),
                            Ok(_) => {}
                            // Killed with the ack sent: it may or may not have been written.
                            Err(_) => {
                                acked.push((id.clone(), false));
                                return acked;
                            }
                        }
                    }
                }
            }
            acked
        });
        thread::sleep(stop.saturating_duration_since(Instant::now()));
        server.signal("KILL");
        pushed.extend(producer.join().unwrap());
        for (id, sure) in consumer.join().unwrap() {
            if sure {
                acked.insert(id);
            } else {
                maybe_acked.insert(id);
            }
        }
        drop(server);
    }
    // Drain after the last restart: every acknowledged push that was not acked comes out.
    let server = start_durable(dir.path(), "always");
    let mut con = server.con();
    let mut drained: HashSet<String> = HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let batch = messages(&ok(&mut con, &["Q.POP", "durable", "COUNT", "100", "BLOCK", "700"]));
        if batch.is_empty() && stat(&mut con, "durable", "leased") == 0 && stat(&mut con, "durable", "delayed") == 0 {
            break;
        }
        for (id, _, _) in batch {
            ok(&mut con, &["Q.ACK", "durable", &id]);
            drained.insert(id);
        }
    }
    assert!(pushed.len() > 50, "too few pushes to mean anything: {}", pushed.len());
    let lost: Vec<&String> =
        pushed.iter().filter(|id| !acked.contains(*id) && !maybe_acked.contains(*id) && !drained.contains(*id)).collect();
    assert!(lost.is_empty(), "{} acknowledged pushes lost, e.g. {:?}", lost.len(), &lost[..lost.len().min(5)]);
    let twice: Vec<&String> = acked.iter().filter(|id| drained.contains(*id)).collect();
    assert!(twice.is_empty(), "acked messages delivered again: {twice:?}");
}

#[test]
fn keyspace_events_in_the_module_class() {
    let server = Server::start();
    let mut con = server.con();
    ok(&mut con, &["CONFIG", "SET", "notify-keyspace-events", "Ed"]);
    let mut subscriber = server.con();
    let mut pubsub = subscriber.as_pubsub();
    pubsub.psubscribe("__keyevent@0__:q*").unwrap();
    ok(&mut con, &["Q.PUSH", "q", "x"]);
    let id = messages(&ok(&mut con, &["Q.POP", "q"]))[0].0.clone();
    ok(&mut con, &["Q.ACK", "q", &id]);
    let events: Vec<String> = (0..3).map(|_| pubsub.get_message().unwrap().get_channel_name().to_string()).collect();
    assert_eq!(events, ["__keyevent@0__:qpush", "__keyevent@0__:qpop", "__keyevent@0__:qack"]);
}

#[test]
fn an_expired_message_reaches_a_consumer_of_the_dead_letter_queue_on_time() {
    let server = Server::start();
    let mut con = server.con();
    ok(&mut con, &["Q.CONFIG", "q", "DEADLETTER", "q:expired"]);
    ok(&mut con, &["Q.PUSH", "q", "stale", "TTL", "300"]);
    let started = Instant::now();
    let got = messages(&ok(&mut server.con(), &["Q.POP", "q:expired", "BLOCK", "5000"]));
    assert_eq!(got[0].1, "stale");
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(250) && waited < Duration::from_secs(3), "{waited:?}");
    assert_eq!(stat(&mut con, "q", "dead-lettered"), 1);
}

#[test]
fn dump_refuses_a_queue_and_save_leaves_queues_out() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(&["--dir", dir.path().to_str().unwrap()]);
    let mut con = server.con();
    ok(&mut con, &["Q.PUSH", "q", "x"]);
    ok(&mut con, &["SET", "s", "v"]);
    assert!(err(&mut con, &["DUMP", "q"]).starts_with("ERR DUMP of a queue is not supported"));
    assert_eq!(ok(&mut con, &["SAVE"]), Value::Okay);
    assert!(dir.path().join("dump.rdb").exists());
}
