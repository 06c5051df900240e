//! Stream commands against the real binary: RESP2 and RESP3 reply shapes, the time-dependent
//! fields the differential scripts leave out (auto IDs, idle and delivery times), the generic key
//! commands on streams, and blocking reads.

mod coll_common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use coll_common::{bulk, bulks, cmd, err, int, Server, Value};

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_millis() as i64
}

fn entry(id: &str, fields: &[&str]) -> Value {
    Value::Array(vec![bulk(id), bulks(fields)])
}

fn text(value: &Value) -> String {
    match value {
        Value::BulkString(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        Value::SimpleString(s) => s.clone(),
        other => panic!("not a string: {other:?}"),
    }
}

fn integer(value: &Value) -> i64 {
    match value {
        Value::Int(n) => *n,
        other => panic!("not an integer: {other:?}"),
    }
}

/// The fields of an XINFO-style reply: a flat array in RESP2, a map in RESP3.
fn fields_of(value: &Value, resp3: bool) -> Vec<(String, Value)> {
    match (value, resp3) {
        (Value::Map(pairs), true) => pairs.iter().map(|(k, v)| (text(k), v.clone())).collect(),
        (Value::Array(items), false) => items.chunks(2).map(|pair| (text(&pair[0]), pair[1].clone())).collect(),
        (other, _) => panic!("unexpected XINFO shape for resp3={resp3}: {other:?}"),
    }
}

fn field(pairs: &[(String, Value)], name: &str) -> Value {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_else(|| panic!("no field {name} in {pairs:?}"))
}

fn names(pairs: &[(String, Value)]) -> Vec<&str> {
    pairs.iter().map(|(k, _)| k.as_str()).collect()
}

#[test]
fn reply_shapes_in_both_protocols() {
    let server = Server::start();
    for resp3 in [false, true] {
        let mut con = server.connect(resp3);
        cmd(&mut con, &["FLUSHALL"]);
        assert_eq!(cmd(&mut con, &["XADD", "s", "1-1", "a", "1"]), bulk("1-1"));
        assert_eq!(cmd(&mut con, &["XADD", "s", "1-*", "b", "2"]), bulk("1-2"));
        assert_eq!(cmd(&mut con, &["XLEN", "s"]), int(2));
        assert_eq!(cmd(&mut con, &["XADD", "missing", "NOMKSTREAM", "*", "a", "1"]), Value::Nil);
        assert_eq!(cmd(&mut con, &["XRANGE", "s", "-", "+"]), Value::Array(vec![entry("1-1", &["a", "1"]), entry("1-2", &["b", "2"])]));
        assert_eq!(cmd(&mut con, &["XRANGE", "s", "-", "+", "COUNT", "0"]), Value::Nil, "null array");
        assert_eq!(cmd(&mut con, &["XRANGE", "missing", "-", "+"]), Value::Array(vec![]));
        let read = cmd(&mut con, &["XREAD", "STREAMS", "s", "1-1"]);
        let entries = Value::Array(vec![entry("1-2", &["b", "2"])]);
        if resp3 {
            assert_eq!(read, Value::Map(vec![(bulk("s"), entries)]));
        } else {
            assert_eq!(read, Value::Array(vec![Value::Array(vec![bulk("s"), entries])]));
        }
        assert_eq!(cmd(&mut con, &["XREAD", "STREAMS", "s", "$"]), Value::Nil);
        assert_eq!(cmd(&mut con, &["XGROUP", "CREATE", "s", "g", "0"]), Value::Okay);
        assert_eq!(cmd(&mut con, &["XGROUP", "CREATECONSUMER", "s", "g", "c"]), int(1));
        let summary = cmd(&mut con, &["XPENDING", "s", "g"]);
        assert_eq!(summary, Value::Array(vec![int(0), Value::Nil, Value::Nil, Value::Nil]));
        cmd(&mut con, &["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">"]);
        let summary = cmd(&mut con, &["XPENDING", "s", "g"]);
        assert_eq!(summary, Value::Array(vec![int(2), bulk("1-1"), bulk("1-2"), Value::Array(vec![bulks(&["c", "2"])])]));
        let info = cmd(&mut con, &["XINFO", "STREAM", "s"]);
        let pairs = fields_of(&info, resp3);
        assert_eq!(
            names(&pairs),
            [
                "length",
                "radix-tree-keys",
                "radix-tree-nodes",
                "last-generated-id",
                "max-deleted-entry-id",
                "entries-added",
                "recorded-first-entry-id",
                "groups",
                "first-entry",
                "last-entry"
            ]
        );
        assert_eq!(field(&pairs, "first-entry"), entry("1-1", &["a", "1"]));
        assert_eq!(field(&pairs, "last-generated-id"), bulk("1-2"));
        let groups = cmd(&mut con, &["XINFO", "GROUPS", "s"]);
        let Value::Array(groups) = groups else { panic!("groups: {groups:?}") };
        let group = fields_of(&groups[0], resp3);
        assert_eq!(names(&group), ["name", "consumers", "pending", "last-delivered-id", "entries-read", "lag"]);
        assert_eq!((field(&group, "entries-read"), field(&group, "lag")), (int(2), int(0)));
        assert_eq!(err(&mut con, &["XINFO", "STREAM", "missing"]), "ERR no such key");
        assert_eq!(
            err(&mut con, &["XADD", "s", "1-1", "a", "1"]),
            "ERR The ID specified in XADD is equal or smaller than the target stream top item"
        );
        assert_eq!(err(&mut con, &["XREADGROUP", "GROUP", "nog", "c", "STREAMS", "s", ">"]).split(' ').next(), Some("NOGROUP"));
    }
}

#[test]
fn automatic_ids_follow_the_clock() {
    let server = Server::start();
    let mut con = server.connect(false);
    let before = now_ms();
    let first = text(&cmd(&mut con, &["XADD", "s", "*", "a", "1"]));
    let second = text(&cmd(&mut con, &["XADD", "s", "*", "a", "2"]));
    let parse = |id: &str| -> (i64, u64) {
        let (ms, seq) = id.split_once('-').expect("ms-seq");
        (ms.parse().expect("ms"), seq.parse().expect("seq"))
    };
    let (ms1, seq1) = parse(&first);
    let (ms2, seq2) = parse(&second);
    assert!(ms1 >= before && ms1 <= now_ms(), "{first} is not now");
    assert!((ms2, seq2) > (ms1, seq1));
    // An ID in the future makes `*` continue from it.
    let future = now_ms() + 60_000;
    cmd(&mut con, &["XADD", "s", &format!("{future}-5"), "a", "3"]);
    assert_eq!(cmd(&mut con, &["XADD", "s", "*", "a", "4"]), bulk(&format!("{future}-6")));
}

#[test]
fn idle_and_delivery_times() {
    let server = Server::start();
    for resp3 in [false, true] {
        let mut con = server.connect(resp3);
        cmd(&mut con, &["FLUSHALL"]);
        for id in ["1-1", "2-1", "3-1"] {
            cmd(&mut con, &["XADD", "s", id, "f", "v"]);
        }
        cmd(&mut con, &["XGROUP", "CREATE", "s", "g", "0"]);
        let delivered_at = now_ms();
        cmd(&mut con, &["XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", ">"]);
        std::thread::sleep(Duration::from_millis(120));
        let pending = cmd(&mut con, &["XPENDING", "s", "g", "-", "+", "10"]);
        let Value::Array(rows) = pending else { panic!("{pending:?}") };
        assert_eq!(rows.len(), 3);
        for row in &rows {
            let Value::Array(cols) = row else { panic!("{row:?}") };
            assert_eq!(cols[1], bulk("alice"));
            let idle = integer(&cols[2]);
            assert!((100..10_000).contains(&idle), "idle {idle}");
            assert_eq!(cols[3], int(1));
        }
        // IDLE filters by idle time; a claim resets it.
        assert_eq!(cmd(&mut con, &["XPENDING", "s", "g", "IDLE", "100000", "-", "+", "10"]), Value::Array(vec![]));
        assert_eq!(cmd(&mut con, &["XCLAIM", "s", "g", "bob", "100", "1-1", "JUSTID"]), Value::Array(vec![bulk("1-1")]));
        let Value::Array(idle_rows) = cmd(&mut con, &["XPENDING", "s", "g", "IDLE", "100", "-", "+", "10"]) else { panic!() };
        assert_eq!(idle_rows.len(), 2, "1-1 was just claimed");
        // XCLAIM IDLE sets the delivery time in the past; XAUTOCLAIM then finds it idle enough.
        cmd(&mut con, &["XCLAIM", "s", "g", "bob", "0", "1-1", "IDLE", "50000", "JUSTID"]);
        let Value::Array(rows) = cmd(&mut con, &["XPENDING", "s", "g", "-", "+", "1", "bob"]) else { panic!() };
        let Value::Array(cols) = &rows[0] else { panic!() };
        assert!(integer(&cols[2]) >= 50_000);
        let claimed = cmd(&mut con, &["XAUTOCLAIM", "s", "g", "carol", "40000", "0", "JUSTID"]);
        assert_eq!(claimed, Value::Array(vec![bulk("0-0"), bulks(&["1-1"]), Value::Array(vec![])]));
        // XINFO CONSUMERS: idle since last seen.
        let consumers = cmd(&mut con, &["XINFO", "CONSUMERS", "s", "g"]);
        let Value::Array(consumers) = consumers else { panic!() };
        let consumer_names: Vec<Value> = consumers.iter().map(|c| field(&fields_of(c, resp3), "name")).collect();
        assert_eq!(consumer_names, bulks(&["alice", "bob", "carol"]).as_sequence().expect("names").to_vec());
        let alice = fields_of(&consumers[0], resp3);
        assert_eq!(names(&alice), ["name", "pending", "idle"]);
        assert!(integer(&field(&alice, "idle")) >= 100);
        assert_eq!(field(&alice, "pending"), int(2));
        // XINFO STREAM FULL carries absolute times.
        let full = cmd(&mut con, &["XINFO", "STREAM", "s", "FULL"]);
        let pairs = fields_of(&full, resp3);
        assert_eq!(
            names(&pairs),
            [
                "length",
                "radix-tree-keys",
                "radix-tree-nodes",
                "last-generated-id",
                "max-deleted-entry-id",
                "entries-added",
                "recorded-first-entry-id",
                "entries",
                "groups"
            ]
        );
        let Value::Array(groups) = field(&pairs, "groups") else { panic!() };
        let group = fields_of(&groups[0], resp3);
        assert_eq!(names(&group), ["name", "last-delivered-id", "entries-read", "lag", "pel-count", "pending", "consumers"]);
        let Value::Array(pending) = field(&group, "pending") else { panic!() };
        let Value::Array(first) = &pending[0] else { panic!() };
        assert_eq!((first[0].clone(), first[1].clone()), (bulk("1-1"), bulk("carol")));
        assert!(integer(&first[2]) <= now_ms() && integer(&first[2]) > delivered_at - 60_000);
        let Value::Array(consumers) = field(&group, "consumers") else { panic!() };
        let alice = fields_of(&consumers[0], resp3);
        assert_eq!(names(&alice), ["name", "seen-time", "pel-count", "pending"]);
        assert!(integer(&field(&alice, "seen-time")) >= delivered_at);
    }
}

#[test]
fn generic_key_commands_on_streams() {
    let server = Server::start();
    let mut con = server.connect(false);
    cmd(&mut con, &["XADD", "s", "1-1", "a", "1"]);
    cmd(&mut con, &["XGROUP", "CREATE", "s", "g", "0"]);
    assert_eq!(cmd(&mut con, &["TYPE", "s"]), status("stream"));
    assert_eq!(cmd(&mut con, &["OBJECT", "ENCODING", "s"]), bulk("stream"));
    assert_eq!(cmd(&mut con, &["SCAN", "0", "TYPE", "stream"]), Value::Array(vec![bulk("0"), bulks(&["s"])]));
    assert_eq!(cmd(&mut con, &["SCAN", "0", "TYPE", "list"]), Value::Array(vec![bulk("0"), Value::Array(vec![])]));
    // COPY is deep: the copy's groups and entries are its own.
    assert_eq!(cmd(&mut con, &["COPY", "s", "c"]), int(1));
    cmd(&mut con, &["XADD", "c", "2-1", "b", "2"]);
    cmd(&mut con, &["XREADGROUP", "GROUP", "g", "x", "STREAMS", "c", ">"]);
    assert_eq!(cmd(&mut con, &["XLEN", "s"]), int(1));
    assert_eq!(cmd(&mut con, &["XPENDING", "s", "g"]).as_sequence().map(|v| v[0].clone()), Some(int(0)));
    assert_eq!(cmd(&mut con, &["XPENDING", "c", "g"]).as_sequence().map(|v| v[0].clone()), Some(int(2)));
    assert_eq!(cmd(&mut con, &["RENAME", "c", "r"]), Value::Okay);
    assert_eq!(cmd(&mut con, &["XLEN", "r"]), int(2));
    assert_eq!(cmd(&mut con, &["MOVE", "r", "1"]), int(1));
    assert_eq!(cmd(&mut con, &["EXISTS", "r"]), int(0));
    // An emptied stream stays (Redis never deletes streams for being empty).
    assert_eq!(cmd(&mut con, &["XDEL", "s", "1-1"]), int(1));
    assert_eq!(cmd(&mut con, &["EXISTS", "s"]), int(1));
    assert_eq!(cmd(&mut con, &["XLEN", "s"]), int(0));
    assert_eq!(cmd(&mut con, &["DEL", "s"]), int(1));
    assert_eq!(cmd(&mut con, &["SET", "str", "x"]), Value::Okay);
    assert_eq!(err(&mut con, &["XADD", "str", "1-1", "a", "1"]), "WRONGTYPE Operation against a key holding the wrong kind of value");
    assert_eq!(err(&mut con, &["XREAD", "STREAMS", "str", "0"]), "WRONGTYPE Operation against a key holding the wrong kind of value");
    // XREAD's keys come after STREAMS.
    assert_eq!(cmd(&mut con, &["COMMAND", "GETKEYS", "XREAD", "COUNT", "2", "STREAMS", "a", "b", "0", "0"]), bulks(&["a", "b"]));
    assert_eq!(cmd(&mut con, &["COMMAND", "GETKEYS", "XREADGROUP", "GROUP", "g", "c", "STREAMS", "k", ">"]), bulks(&["k"]));
}

fn status(text: &str) -> Value {
    coll_common::status(text)
}

// Blocking reads, through the connection loop's side of the blocking contract.

#[test]
fn xread_block_wakes_on_xadd_with_only_new_entries() {
    let server = Server::start();
    let mut writer = server.connect(false);
    cmd(&mut writer, &["XADD", "s", "1-1", "old", "1"]);
    let port = server.port;
    let reader = std::thread::spawn(move || {
        let mut con = redis::Client::open(format!("redis://127.0.0.1:{port}/")).expect("client").get_connection().expect("connect");
        cmd(&mut con, &["XREAD", "BLOCK", "0", "STREAMS", "s", "$"])
    });
    std::thread::sleep(Duration::from_millis(200));
    // A write that adds nothing readable must not end the wait, nor change what `$` meant.
    cmd(&mut writer, &["XDEL", "s", "9-9"]);
    cmd(&mut writer, &["XADD", "other", "1-1", "x", "y"]);
    std::thread::sleep(Duration::from_millis(100));
    cmd(&mut writer, &["XADD", "s", "2-1", "new", "2"]);
    let got = reader.join().expect("reader");
    assert_eq!(got, Value::Array(vec![Value::Array(vec![bulk("s"), Value::Array(vec![entry("2-1", &["new", "2"])])])]));
}

#[test]
fn xread_block_times_out_with_a_null_array() {
    let server = Server::start();
    for resp3 in [false, true] {
        let mut con = server.connect(resp3);
        let started = Instant::now();
        assert_eq!(cmd(&mut con, &["XREAD", "BLOCK", "150", "STREAMS", "s", "$"]), Value::Nil);
        assert!(started.elapsed() >= Duration::from_millis(140));
    }
}

#[test]
fn xreadgroup_block_wakes_and_records_the_delivery() {
    let server = Server::start();
    let mut writer = server.connect(false);
    cmd(&mut writer, &["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]);
    let port = server.port;
    let reader = std::thread::spawn(move || {
        let mut con = redis::Client::open(format!("redis://127.0.0.1:{port}/")).expect("client").get_connection().expect("connect");
        cmd(&mut con, &["XREADGROUP", "GROUP", "g", "c", "BLOCK", "5000", "STREAMS", "s", ">"])
    });
    std::thread::sleep(Duration::from_millis(200));
    cmd(&mut writer, &["XADD", "s", "1-1", "f", "v"]);
    let got = reader.join().expect("reader");
    assert_eq!(got, Value::Array(vec![Value::Array(vec![bulk("s"), Value::Array(vec![entry("1-1", &["f", "v"])])])]));
    assert_eq!(cmd(&mut writer, &["XPENDING", "s", "g"]).as_sequence().map(|v| v[0].clone()), Some(int(1)));
}

#[test]
fn xread_block_wakes_every_reader_of_the_key() {
    let server = Server::start();
    let mut writer = server.connect(false);
    cmd(&mut writer, &["XADD", "s", "1-1", "old", "1"]);
    let port = server.port;
    let readers: Vec<_> = (0..3)
        .map(|i| {
            std::thread::spawn(move || {
                let mut con = redis::Client::open(format!("redis://127.0.0.1:{port}/")).expect("client").get_connection().expect("connect");
                // Mixed forms: `$`, an explicit ID, and a group read with `>`.
                match i {
                    0 => cmd(&mut con, &["XREAD", "BLOCK", "5000", "STREAMS", "s", "$"]),
                    1 => cmd(&mut con, &["XREAD", "BLOCK", "5000", "STREAMS", "s", "1-1"]),
                    _ => {
                        cmd(&mut con, &["XGROUP", "CREATE", "s", "g", "$"]);
                        cmd(&mut con, &["XREADGROUP", "GROUP", "g", "c", "BLOCK", "5000", "STREAMS", "s", ">"])
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    cmd(&mut writer, &["XADD", "s", "2-1", "new", "2"]);
    let want = Value::Array(vec![Value::Array(vec![bulk("s"), Value::Array(vec![entry("2-1", &["new", "2"])])])]);
    for reader in readers {
        assert_eq!(reader.join().expect("reader"), want);
    }
}

#[test]
fn blocking_reads_inside_multi_answer_at_once() {
    let server = Server::start();
    for resp3 in [false, true] {
        let mut con = server.connect(resp3);
        cmd(&mut con, &["FLUSHALL"]);
        cmd(&mut con, &["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]);
        assert_eq!(cmd(&mut con, &["MULTI"]), Value::Okay);
        assert_eq!(cmd(&mut con, &["XREAD", "BLOCK", "0", "STREAMS", "s", "$"]), status("QUEUED"));
        assert_eq!(cmd(&mut con, &["XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "s", ">"]), status("QUEUED"));
        assert_eq!(cmd(&mut con, &["EXEC"]), Value::Array(vec![Value::Nil, Value::Nil]));
    }
}

#[test]
fn a_new_xread_after_client_unblock_resolves_dollar_again() {
    let server = Server::start();
    let mut writer = server.connect(false);
    cmd(&mut writer, &["XADD", "s", "1-1", "a", "1"]);
    let port = server.port;
    let (id_tx, id_rx) = std::sync::mpsc::channel();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let reader = std::thread::spawn(move || {
        let mut con = redis::Client::open(format!("redis://127.0.0.1:{port}/")).expect("client").get_connection().expect("connect");
        id_tx.send(integer(&cmd(&mut con, &["CLIENT", "ID"]))).expect("send id");
        let first = cmd(&mut con, &["XREAD", "BLOCK", "0", "STREAMS", "s", "$"]);
        go_rx.recv().expect("2-1 added");
        // The same words again: `$` is now 2-1, not what it was for the unblocked call.
        let second = cmd(&mut con, &["XREAD", "BLOCK", "0", "STREAMS", "s", "$"]);
        (first, second)
    });
    let id = id_rx.recv().expect("client id").to_string();
    // Poll instead of sleeping: on a loaded machine the reader may take a while to block.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while cmd(&mut writer, &["CLIENT", "UNBLOCK", &id]) != int(1) {
        assert!(std::time::Instant::now() < deadline, "the reader never blocked");
        std::thread::sleep(Duration::from_millis(10));
    }
    cmd(&mut writer, &["XADD", "s", "2-1", "b", "2"]);
    go_tx.send(()).expect("go");
    let blocked = |con: &mut redis::Connection| match cmd(con, &["INFO", "clients"]) {
        Value::BulkString(text) => String::from_utf8_lossy(&text).contains("blocked_clients:1\r\n"),
        _ => false,
    };
    while !blocked(&mut writer) {
        assert!(std::time::Instant::now() < deadline, "the second read never blocked");
        std::thread::sleep(Duration::from_millis(10));
    }
    cmd(&mut writer, &["XADD", "s", "3-1", "c", "3"]);
    let (first, second) = reader.join().expect("reader");
    assert_eq!(first, Value::Nil);
    assert_eq!(second, Value::Array(vec![Value::Array(vec![bulk("s"), Value::Array(vec![entry("3-1", &["c", "3"])])])]));
}

#[test]
fn reads_count_keyspace_hits_and_misses_as_redis_does() {
    let server = Server::start();
    let mut con = server.connect(false);
    cmd(&mut con, &["XADD", "s", "1-1", "a", "1"]);
    cmd(&mut con, &["SET", "str", "x"]);
    cmd(&mut con, &["CONFIG", "RESETSTAT"]);
    // Read lookups count (XREAD looks each key up twice, as Redis does); write lookups do not.
    let script: &[&[&str]] = &[
        &["XREAD", "STREAMS", "s", "nokey", "0", "0"],
        &["XRANGE", "s", "-", "+"],
        &["XLEN", "nokey"],
        &["XINFO", "STREAM", "s"],
        &["XGROUP", "CREATE", "s", "g", "0"],
        &["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">"],
        &["XACK", "s", "g", "1-1"],
        &["XCLAIM", "s", "g", "c", "0", "1-1"],
        &["XAUTOCLAIM", "s", "g", "c", "0", "0"],
        &["XDEL", "s", "1-1"],
        &["XTRIM", "s", "MAXLEN", "0"],
        &["XLEN", "str"],
        &["XPENDING", "nokey", "g"],
    ];
    for words in script {
        let _ = coll_common::try_cmd(&mut con, words);
    }
    let info = text(&cmd(&mut con, &["INFO", "stats"]));
    // Counted against redis-server 7.0 with the same commands.
    assert!(info.contains("keyspace_hits:10\r\n"), "{info}");
    assert!(info.contains("keyspace_misses:4\r\n"), "{info}");
}

#[test]
fn stream_commands_send_redis_keyspace_events() {
    let server = Server::start();
    let mut con = server.connect(false);
    cmd(&mut con, &["CONFIG", "SET", "notify-keyspace-events", "KEA"]);
    let mut listener = server.connect(false);
    listener.set_read_timeout(Some(Duration::from_millis(500))).expect("timeout");
    let mut pubsub = listener.as_pubsub();
    pubsub.psubscribe("__keyevent@0__:*").expect("psubscribe");
    let script: &[&[&str]] = &[
        &["XADD", "s", "1-1", "a", "1"],
        &["XADD", "s", "MAXLEN", "1", "2-1", "a", "2"],
        &["XTRIM", "s", "MAXLEN", "0"],
        &["XTRIM", "s", "MAXLEN", "0"],
        &["XADD", "s", "4-1", "a", "1"],
        &["XDEL", "s", "4-1", "9-9"],
        &["XDEL", "s", "9-9"],
        &["XSETID", "s", "10-1"],
        &["XGROUP", "CREATE", "s", "g", "$"],
        &["XGROUP", "CREATE", "k", "g", "$", "MKSTREAM"],
        &["XGROUP", "CREATECONSUMER", "s", "g", "c"],
        &["XGROUP", "CREATECONSUMER", "s", "g", "c"],
        &["XGROUP", "DELCONSUMER", "s", "g", "c"],
        &["XGROUP", "SETID", "s", "g", "0"],
        &["XADD", "s", "11-1", "a", "1"],
        &["XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", ">"],
        &["XCLAIM", "s", "g", "carol", "0", "11-1"],
        &["XGROUP", "DESTROY", "s", "g"],
        &["XGROUP", "DESTROY", "s", "g"],
    ];
    for words in script {
        let _ = coll_common::try_cmd(&mut con, words);
    }
    let mut seen = Vec::new();
    while let Ok(message) = pubsub.get_message() {
        let key: String = message.get_payload().expect("payload");
        seen.push(format!("{} {key}", message.get_channel_name().trim_start_matches("__keyevent@0__:")));
    }
    // The events redis-server 7.0 sends for the same commands.
    let want = [
        "xadd s",
        "xadd s",
        "xtrim s",
        "xtrim s",
        "xadd s",
        "xdel s",
        "xsetid s",
        "xgroup-create s",
        "xgroup-create k",
        "xgroup-createconsumer s",
        "xgroup-delconsumer s",
        "xgroup-setid s",
        "xadd s",
        "xgroup-createconsumer s",
        "xgroup-createconsumer s",
        "xgroup-destroy s",
    ];
    assert_eq!(seen, want);
}
