//! STREAM.* in process, with the harness clock: the behaviours the issue names one by one, then
//! seeded random sequences against a plain model of partitioned logs and groups, restarting from
//! the store now and then.

use strata::commands::harness::Harness;
use strata::resp::Reply;

fn int(reply: &Reply) -> i64 {
    match reply {
        Reply::Int(n) => *n,
        other => panic!("not an integer: {other:?}"),
    }
}

fn text(reply: &Reply) -> String {
    match reply {
        Reply::Bulk(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        Reply::Nil => "(nil)".into(),
        other => panic!("not a bulk string: {other:?}"),
    }
}

fn items(reply: &Reply) -> &[Reply] {
    match reply {
        Reply::Array(items) => items,
        Reply::NilArray => &[],
        other => panic!("not an array: {other:?}"),
    }
}

/// `[partition, offset]` of a STREAM.PUB reply.
fn published(reply: &Reply) -> (i64, i64) {
    match items(reply) {
        [p, o] => (int(p), int(o)),
        other => panic!("not a publish reply: {other:?}"),
    }
}

/// (offset, timestamp, key, payload) of a STREAM.READ reply.
fn read_entries(reply: &Reply) -> Vec<(i64, i64, String, String)> {
    items(reply)
        .iter()
        .map(|entry| match items(entry) {
            [o, t, k, p] => (int(o), int(t), text(k), text(p)),
            other => panic!("not an entry: {other:?}"),
        })
        .collect()
}

/// (partition, offset, payload) of a STREAM.SUB reply.
fn sub_entries(reply: &Reply) -> Vec<(i64, i64, String)> {
    items(reply)
        .iter()
        .map(|entry| match items(entry) {
            [p, o, _, _, payload] => (int(p), int(o), text(payload)),
            other => panic!("not an entry: {other:?}"),
        })
        .collect()
}

fn map_get<'a>(reply: &'a Reply, name: &str) -> &'a Reply {
    match reply {
        Reply::Map(pairs) => {
            pairs.iter().find(|(k, _)| *k == Reply::bulk(name.as_bytes())).map(|(_, v)| v).unwrap_or_else(|| panic!("no {name}"))
        }
        other => panic!("not a map: {other:?}"),
    }
}

fn error(reply: &Reply) -> &str {
    match reply {
        Reply::Error(line) => line,
        other => panic!("not an error: {other:?}"),
    }
}

/// Each member's partitions, from STREAM.INFO.
fn assignment(h: &mut Harness, topic: &str, group: &str) -> Vec<(String, Vec<i64>)> {
    let info = h.run(&["stream.info", topic]);
    let groups = items(map_get(&info, "groups"));
    let Some(found) = groups.iter().find(|g| text(map_get(g, "name")) == group) else {
        return Vec::new();
    };
    items(map_get(found, "members"))
        .iter()
        .map(|m| (text(map_get(m, "name")), items(map_get(m, "partitions")).iter().map(int).collect()))
        .collect()
}

#[test]
fn publish_by_key_and_in_turn_then_read_by_offset_and_time() {
    let mut h = Harness::new();
    assert_eq!(h.run(&["stream.create", "t", "PARTITIONS", "4"]), Reply::Ok);
    assert!(error(&h.run(&["stream.create", "t"])).contains("already exists"));
    // Kafka's default partitioner: murmur2("21") = -973932308, toPositive % 4 = 0.
    let expected = ((-973_932_308i32 & 0x7fff_ffff) % 4) as i64;
    assert_eq!(published(&h.run(&["stream.pub", "t", "a", "KEY", "21"])), (expected, 0));
    assert_eq!(published(&h.run(&["stream.pub", "t", "b", "KEY", "21"])), (expected, 1), "a key keeps its partition");
    // Without a key: the partitions in turn.
    let turns: Vec<i64> = (0..4).map(|i| published(&h.run(&["stream.pub", "t", &format!("r{i}")])).0).collect();
    let mut sorted = turns.clone();
    sorted.sort();
    assert_eq!(sorted, vec![0, 1, 2, 3]);
    assert_eq!(published(&h.run(&["stream.pub", "t", "x", "PARTITION", "3"])).0, 3);
    h.advance_ms(1000);
    let later = h.now_ms();
    h.run(&["stream.pub", "t", "c", "KEY", "21"]);
    let all = read_entries(&h.run(&["stream.read", "t", "PARTITION", &expected.to_string(), "EARLIEST"]));
    let keyed: Vec<&str> = all.iter().filter(|e| e.2 == "21").map(|e| e.3.as_str()).collect();
    assert_eq!(keyed, ["a", "b", "c"]);
    let by_time = read_entries(&h.run(&["stream.read", "t", "PARTITION", &expected.to_string(), "TIME", &later.to_string()]));
    assert_eq!((by_time[0].1, by_time[0].3.as_str()), (later as i64, "c"), "replay by time starts at the first entry at or after it");
    let from = read_entries(&h.run(&["stream.read", "t", "PARTITION", &expected.to_string(), "OFFSET", "1", "COUNT", "1"]));
    assert_eq!(from.iter().map(|e| e.3.as_str()).collect::<Vec<_>>(), ["b"]);
    assert!(items(&h.run(&["stream.read", "t", "PARTITION", "0", "LATEST"])).is_empty());
    assert_eq!(h.run(&["stream.read", "t", "PARTITION", "0", "LATEST", "BLOCK", "10"]), Reply::NoReply, "blocks");
    assert_eq!(h.run(&["type", "t"]), Reply::Status("topic".into()));
    assert_eq!(h.run(&["scan", "0", "TYPE", "topic"]), Reply::Array(vec![Reply::bulk(b"0"), Reply::Array(vec![Reply::bulk(b"t")])]));
    // A first publish creates the topic with the configured partitions.
    h.run(&["config", "set", "stream-default-partitions", "3"]);
    h.run(&["stream.pub", "auto", "p"]);
    assert_eq!(items(map_get(&h.run(&["stream.info", "auto"]), "partitions")).len(), 3);
    assert_eq!(h.run(&["del", "t", "auto"]), Reply::Int(2));
}

#[test]
fn idempotent_producers_and_bad_input() {
    let mut h = Harness::new();
    h.run(&["stream.create", "t", "PARTITIONS", "2"]);
    let first = published(&h.run(&["stream.pub", "t", "a", "KEY", "k", "PRODUCER", "p1", "SEQ", "0"]));
    assert_eq!(published(&h.run(&["stream.pub", "t", "a", "KEY", "k", "PRODUCER", "p1", "SEQ", "0"])), first, "a retry appends nothing");
    assert!(error(&h.run(&["stream.pub", "t", "b", "KEY", "k", "PRODUCER", "p1", "SEQ", "2"])).contains("expected 1"));
    assert_eq!(published(&h.run(&["stream.pub", "t", "b", "KEY", "k", "PRODUCER", "p1", "SEQ", "1"])).1, first.1 + 1);
    assert_eq!(int(map_get(&items(map_get(&h.run(&["stream.info", "t"]), "partitions"))[first.0 as usize], "entries")), 2);
    assert!(error(&h.run(&["stream.pub", "t", "a", "PRODUCER", "p1", "SEQ", "0"])).contains("needs KEY or PARTITION"));
    assert!(error(&h.run(&["stream.pub", "t", "a", "PARTITION", "2"])).contains("partition 2 does not exist"));
    assert!(error(&h.run(&["stream.pub", "t", "a", "PARTITION", "-1"])).contains("non-negative"));
    assert_eq!(error(&h.run(&["stream.pub", "t", "a", "BOGUS"])), "ERR syntax error");
    assert!(error(&h.run(&["stream.read", "t", "PARTITION", "0", "COUNT", "5"])).contains("needs PARTITION"));
    assert!(error(&h.run(&["stream.read", "missing", "PARTITION", "0", "EARLIEST"])).contains("no such topic"));
    assert!(error(&h.run(&["stream.create", "c", "TOMBSTONE", "5"])).contains("needs COMPACT"));
    assert!(error(&h.run(&["stream.create", "c", "PARTITIONS", "0"])).contains("PARTITIONS"));
    h.run(&["set", "s", "v"]);
    assert!(error(&h.run(&["stream.pub", "s", "a"])).starts_with("WRONGTYPE"));
    assert!(error(&h.run(&["stream.create", "s"])).starts_with("WRONGTYPE"));
    assert!(error(&h.run(&["dump", "t"])).contains("DUMP of a topic"));
    h.run(&["stream.create", "c", "COMPACT"]);
    assert!(error(&h.run(&["stream.pub", "c", "v"])).contains("only entries with a KEY"));
}

#[test]
fn groups_share_partitions_commit_fence_and_fail_over() {
    let mut h = Harness::new();
    h.run(&["stream.create", "t", "PARTITIONS", "4"]);
    for i in 0..12 {
        h.run(&["stream.pub", "t", &format!("m{i}"), "PARTITION", &(i % 4).to_string()]);
    }
    let got = sub_entries(&h.run(&["stream.sub", "t", "GROUP", "g", "CONSUMER", "a", "COUNT", "4", "SESSION", "1000"]));
    assert_eq!(got.iter().map(|e| e.0).collect::<Vec<_>>(), [0, 1, 2, 3], "partitions in turn");
    assert_eq!(h.run(&["stream.commit", "t", "GROUP", "g", "CONSUMER", "a", "0", "1", "1", "1", "2", "1", "3", "1"]), Reply::Ok);
    h.advance_ms(100);
    h.run(&["stream.sub", "t", "GROUP", "g", "CONSUMER", "b", "COUNT", "1"]);
    let shares = assignment(&mut h, "t", "g");
    assert_eq!(shares, vec![("a".into(), vec![0, 1]), ("b".into(), vec![2, 3])]);
    // a read partition 2 and 3 up to 1 before b joined: the commit for them is fenced now.
    let fenced = h.run(&["stream.commit", "t", "GROUP", "g", "CONSUMER", "a", "0", "2", "2", "2"]);
    assert!(error(&fenced).starts_with("FENCED consumer 'a' does not own partition 2"), "{fenced:?}");
    let offsets = h.run(&["stream.offsets", "t", "GROUP", "g"]);
    assert_eq!(int(map_get(&items(&offsets)[0], "committed")), 1, "nothing half applied");
    assert_eq!(int(map_get(&items(&offsets)[2], "lag")), 2);
    assert_eq!(text(map_get(&items(&offsets)[2], "owner")), "b");
    // a goes silent: at 1000 its session ends, and b continues a's partitions from the commits.
    h.advance_ms(850);
    h.run(&["stream.heartbeat", "t", "GROUP", "g", "CONSUMER", "b"]);
    h.advance_ms(50);
    let taken = sub_entries(&h.run(&["stream.sub", "t", "GROUP", "g", "CONSUMER", "b", "COUNT", "20"]));
    assert!(taken.contains(&(0, 1, "m4".into())) && taken.contains(&(1, 1, "m5".into())), "{taken:?}");
    assert!(error(&h.run(&["stream.heartbeat", "t", "GROUP", "g", "CONSUMER", "a"])).contains("not a member"));
    // Replay: seek partition 0 back to the start.
    assert_eq!(h.run(&["stream.seek", "t", "GROUP", "g", "PARTITION", "0", "EARLIEST"]), Reply::Ok);
    let again = sub_entries(&h.run(&["stream.sub", "t", "GROUP", "g", "CONSUMER", "b", "COUNT", "20"]));
    assert_eq!(again.iter().filter(|e| e.0 == 0).map(|e| e.1).collect::<Vec<_>>(), [0, 1, 2]);
    assert_eq!(h.run(&["stream.leave", "t", "GROUP", "g", "CONSUMER", "b"]), Reply::Int(1));
    assert_eq!(h.run(&["stream.leave", "t", "GROUP", "g", "CONSUMER", "b"]), Reply::Int(0));
    let groups = h.run(&["stream.groups", "t"]);
    assert_eq!(int(map_get(&items(&groups)[0], "members")), 0);
    assert!(error(&h.run(&["stream.offsets", "t", "GROUP", "nope"])).starts_with("NOGROUP"));
}

#[test]
fn retention_and_compaction_by_the_worker() {
    let mut h = Harness::new();
    h.run(&["stream.create", "t", "RETENTION", "1000"]);
    for i in 0..3 {
        h.run(&["stream.pub", "t", &format!("old{i}")]);
    }
    h.advance_ms(600);
    h.run(&["stream.pub", "t", "new"]);
    h.advance_ms(400);
    assert!(strata::commands::topic::maintain(&h.shared, 0, b"t", h.now_ms()));
    let left = read_entries(&h.run(&["stream.read", "t", "PARTITION", "0", "OFFSET", "0"]));
    assert_eq!(
        left.iter().map(|e| (e.0, e.3.as_str())).collect::<Vec<_>>(),
        [(3, "new")],
        "a removed offset reads on from the earliest left"
    );
    h.advance_ms(600);
    strata::commands::topic::maintain(&h.shared, 0, b"t", h.now_ms());
    assert_eq!(published(&h.run(&["stream.pub", "t", "after"])).1, 4, "offsets are never reused");

    h.run(&["stream.create", "c", "COMPACT", "TOMBSTONE", "100"]);
    for (k, v) in [("a", "1"), ("b", "1"), ("a", "2"), ("b", "")] {
        h.run(&["stream.pub", "c", v, "KEY", k]);
    }
    strata::commands::topic::maintain(&h.shared, 0, b"c", h.now_ms());
    let kept = read_entries(&h.run(&["stream.read", "c", "PARTITION", "0", "EARLIEST"]));
    assert_eq!(kept.iter().map(|e| (e.2.as_str(), e.3.as_str())).collect::<Vec<_>>(), [("a", "2"), ("b", "")]);
    h.advance_ms(100);
    strata::commands::topic::maintain(&h.shared, 0, b"c", h.now_ms());
    let kept = read_entries(&h.run(&["stream.read", "c", "PARTITION", "0", "EARLIEST"]));
    assert_eq!(kept.iter().map(|e| e.0).collect::<Vec<_>>(), [2], "the tombstone is gone after its delay");
    h.run(&["set", "t", "string now"]);
    assert!(!strata::commands::topic::maintain(&h.shared, 0, b"t", h.now_ms()), "not a topic any more");
}

#[test]
fn inside_multi_exec_scripts_and_resp3() {
    let mut h = Harness::new();
    h.run(&["multi"]);
    h.run(&["stream.create", "t"]);
    h.run(&["stream.read", "t", "PARTITION", "0", "LATEST", "BLOCK", "0"]);
    h.run(&["stream.pub", "t", "a", "KEY", "k"]);
    let Reply::Array(replies) = h.run(&["exec"]) else { panic!() };
    assert_eq!(replies[1], Reply::NilArray, "no blocking inside EXEC");
    assert_eq!(published(&replies[2]), (0, 0));
    let script = "local e = redis.call('stream.sub', KEYS[1], 'GROUP', 'g', 'CONSUMER', 'c'); \
                  return redis.call('stream.commit', KEYS[1], 'GROUP', 'g', 'CONSUMER', 'c', e[1][1], e[1][2] + 1)";
    assert_eq!(h.run(&["eval", script, "1", "t"]), Reply::Status("OK".into()));
    assert_eq!(int(map_get(&items(&h.run(&["stream.offsets", "t", "GROUP", "g"]))[0], "committed")), 1);
    h.run(&["hello", "3"]);
    let read = h.run(&["stream.read", "t", "PARTITION", "0", "EARLIEST"]);
    let entry = &items(&read)[0];
    assert_eq!(text(map_get(entry, "key")), "k");
    assert_eq!(text(map_get(entry, "payload")), "a");
}
