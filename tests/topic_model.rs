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
    // DUMP/RESTORE: a payload of strata's own type, restored equal (offsets, producers, groups).
    h.run(&["stream.sub", "t", "GROUP", "g", "CONSUMER", "c"]);
    h.run(&["stream.commit", "t", "GROUP", "g", "CONSUMER", "c", "0", "1"]);
    let Reply::Bulk(payload) = h.run(&["dump", "t"]) else { panic!("no payload") };
    assert_eq!(h.run(&[&b"restore"[..], b"copy", b"0", &payload]), Reply::Ok);
    assert_eq!(h.run(&["debug", "digest-value", "t"]), h.run(&["debug", "digest-value", "copy"]));
    assert_eq!(h.run(&["stream.info", "copy"]), h.run(&["stream.info", "t"]));
    assert_eq!(h.run(&["stream.offsets", "copy", "GROUP", "g"]), h.run(&["stream.offsets", "t", "GROUP", "g"]));
    assert_eq!(
        published(&h.run(&["stream.pub", "copy", "b", "KEY", "k", "PRODUCER", "p1", "SEQ", "1"])),
        (first.0, first.1 + 1),
        "a retry"
    );
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

/// One partition of the model: entries by offset, the log end.
#[derive(Default, Clone)]
struct Log {
    entries: std::collections::BTreeMap<u64, (u64, Option<String>, String)>,
    end: u64,
}

impl Log {
    fn bytes(&self) -> u64 {
        self.entries.values().map(|(_, k, p)| (k.as_ref().map_or(0, |k| k.len()) + p.len() + 16) as u64).sum()
    }

    fn start(&self) -> u64 {
        self.entries.keys().next().copied().unwrap_or(self.end)
    }
}

/// The model of one topic with one group `g`.
struct Model {
    logs: Vec<Log>,
    retention: Option<u64>,
    max_bytes: Option<u64>,
    /// Tombstone delay of a compacted topic.
    compact: Option<u64>,
    producers: std::collections::HashMap<(String, u32), Vec<(u64, u64)>>,
    members: std::collections::BTreeMap<String, u64>,
    session: u64,
    committed: std::collections::BTreeMap<u32, u64>,
    position: std::collections::BTreeMap<u32, u64>,
    owners: std::collections::BTreeMap<u32, String>,
}

impl Model {
    fn new(partitions: usize, retention: Option<u64>, max_bytes: Option<u64>, compact: Option<u64>) -> Model {
        Model {
            logs: vec![Log::default(); partitions],
            retention,
            max_bytes,
            compact,
            producers: Default::default(),
            members: Default::default(),
            session: 1000,
            committed: Default::default(),
            position: Default::default(),
            owners: Default::default(),
        }
    }

    fn append(&mut self, p: u32, key: Option<&str>, payload: &str, now: u64) -> u64 {
        let log = &mut self.logs[p as usize];
        let offset = log.end;
        log.entries.insert(offset, (now, key.map(String::from), payload.to_string()));
        log.end += 1;
        offset
    }

    /// Members not heard of for a session leave; their partitions' positions go (a member that
    /// comes back in the same command starts again from the committed offsets, as in Kafka).
    fn expire(&mut self, now: u64) {
        let session = self.session;
        let gone: Vec<String> = self.members.iter().filter(|(_, seen)| **seen + session <= now).map(|(n, _)| n.clone()).collect();
        for name in gone {
            self.leave(&name);
        }
    }

    fn leave(&mut self, name: &str) -> bool {
        let owned: Vec<u32> = self.owners.iter().filter(|(_, o)| o.as_str() == name).map(|(p, _)| *p).collect();
        for p in owned {
            self.position.remove(&p);
            self.owners.remove(&p);
        }
        self.members.remove(name).is_some()
    }

    /// Retention by age and bytes, then compaction, as the worker applies them.
    fn clean(&mut self, now: u64) {
        for log in &mut self.logs {
            while let Some((&offset, &(ts, _, _))) = log.entries.iter().next() {
                let old = self.retention.is_some_and(|ms| ts + ms <= now);
                let big = self.max_bytes.is_some_and(|max| log.bytes() > max);
                if !old && !big {
                    break;
                }
                log.entries.remove(&offset);
            }
            if let Some(tombstone_ms) = self.compact {
                let mut latest = std::collections::HashMap::new();
                for (offset, (_, key, _)) in &log.entries {
                    latest.insert(key.clone(), *offset);
                }
                log.entries.retain(|offset, (ts, key, payload)| {
                    latest.get(key) == Some(offset) && !(payload.is_empty() && *ts + tombstone_ms <= now)
                });
            }
        }
    }

    /// The group's next offset on `p` (position, else committed, else the start).
    fn next(&self, p: u32) -> u64 {
        let log = &self.logs[p as usize];
        self.position.get(&p).or(self.committed.get(&p)).copied().unwrap_or(0).max(log.start()).min(log.end)
    }

    /// Takes in the assignment the server reports: positions of partitions that changed owner go.
    fn observe(&mut self, assignment: &[(String, Vec<i64>)]) {
        let owners: std::collections::BTreeMap<u32, String> =
            assignment.iter().flat_map(|(name, parts)| parts.iter().map(move |p| (*p as u32, name.clone()))).collect();
        for p in 0..self.logs.len() as u32 {
            if self.owners.get(&p) != owners.get(&p) {
                self.position.remove(&p);
            }
        }
        self.owners = owners;
    }
}

fn check_assignment(model: &Model, assignment: &[(String, Vec<i64>)], context: &str) {
    let names: Vec<&String> = assignment.iter().map(|(n, _)| n).collect();
    assert_eq!(names, model.members.keys().collect::<Vec<_>>(), "{context}: members");
    if assignment.is_empty() {
        return;
    }
    let mut all: Vec<i64> = assignment.iter().flat_map(|(_, p)| p.clone()).collect();
    all.sort();
    assert_eq!(all, (0..model.logs.len() as i64).collect::<Vec<_>>(), "{context}: each partition has one owner");
    let sizes: Vec<usize> = assignment.iter().map(|(_, p)| p.len()).collect();
    assert!(sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1, "{context}: balanced {assignment:?}");
}

fn entry_reply(offset: u64, entry: &(u64, Option<String>, String)) -> Reply {
    Reply::Array(vec![
        Reply::Int(offset as i64),
        Reply::Int(entry.0 as i64),
        entry.1.as_ref().map_or(Reply::Nil, |k| Reply::bulk(k.as_bytes())),
        Reply::bulk(entry.2.as_bytes()),
    ])
}

/// One seeded run over a topic with one group: every STREAM.* command with random arguments and
/// a moving clock, each reply checked against the model, the worker's retention and compaction
/// and session ends applied to both; the topic rebuilt from the store now and then must equal
/// the live one, and every 97 steps the server restarts from its store.
fn model_run(seed: u64, steps: usize, compacted: bool) {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use strata::engine::persist::{recovery, Fsync, Store};
    use strata::engine::topic::partition_for;
    use strata::engine::{KeyHash, Keyspace, Limits};

    let dir = tempfile::tempdir().unwrap();
    let mut store = std::sync::Arc::new(Store::open(dir.path(), 16, Fsync::No).unwrap());
    let mut h = Harness::with_sinks(&[], vec![store.clone()]);
    let mut rng = StdRng::seed_from_u64(seed);
    let (mut model, create): (Model, Vec<&str>) = if compacted {
        (Model::new(2, None, None, Some(300)), vec!["stream.create", "t", "PARTITIONS", "2", "COMPACT", "TOMBSTONE", "300"])
    } else {
        (Model::new(3, Some(2000), Some(400), None), vec!["stream.create", "t", "PARTITIONS", "3", "RETENTION", "2000", "MAXBYTES", "400"])
    };
    assert_eq!(h.run(&create), Reply::Ok);
    // The group exists from the start (a SEEK creates it), so every group command has one to act on.
    assert_eq!(h.run(&["stream.seek", "t", "GROUP", "g", "PARTITION", "0", "EARLIEST"]), Reply::Ok);
    model.committed.insert(0, 0);
    let partitions = model.logs.len() as u32;
    let keys = ["a", "b", "c", "d", "e", "f"];
    let consumers = ["c1", "c2", "c3"];
    for step in 0..steps {
        let now = h.now_ms();
        let context = format!("seed {seed} step {step}");
        match rng.random_range(0..14) {
            0..=2 => {
                let key = keys[rng.random_range(0..keys.len())];
                let payload = if compacted && rng.random_bool(0.2) { String::new() } else { format!("p{step}") };
                let p = partition_for(key.as_bytes(), partitions);
                let offset = model.append(p, Some(key), &payload, now);
                let reply = h.run(&["stream.pub", "t", &payload, "KEY", key]);
                assert_eq!(published(&reply), (p as i64, offset as i64), "{context}");
            }
            3 => {
                let p = rng.random_range(0..partitions);
                let producer = ["x", "y"][rng.random_range(0..2)];
                let known = model.producers.get(&(producer.to_string(), p)).cloned().unwrap_or_default();
                let expected = known.last().map_or(0, |(s, _)| s + 1);
                let seq = (expected + rng.random_range(0..3)).saturating_sub(1);
                let key = if compacted { keys[0] } else { "" };
                let mut command = vec!["stream.pub", "t", "v", "PARTITION"];
                let (p_text, seq_text) = (p.to_string(), seq.to_string());
                command.extend([p_text.as_str(), "PRODUCER", producer, "SEQ", seq_text.as_str()]);
                if compacted {
                    command.extend(["KEY", key]);
                }
                let reply = h.run(&command);
                if let Some((_, offset)) = known.iter().find(|(s, _)| *s == seq) {
                    assert_eq!(published(&reply), (p as i64, *offset as i64), "{context}: a retry");
                } else if seq != expected {
                    assert!(error(&reply).contains(&format!("expected {expected}")), "{context}: {reply:?}");
                } else {
                    let offset = model.append(p, compacted.then_some(key), "v", now);
                    assert_eq!(published(&reply), (p as i64, offset as i64), "{context}");
                    let window = model.producers.entry((producer.to_string(), p)).or_default();
                    window.push((seq, offset));
                    if window.len() > 5 {
                        window.remove(0);
                    }
                }
            }
            4 => {
                let p = rng.random_range(0..partitions);
                let log = &model.logs[p as usize];
                let n = rng.random_range(1..6);
                let (how, from): (Vec<String>, u64) = match rng.random_range(0..4) {
                    0 => {
                        let o = rng.random_range(0..log.end + 2);
                        (vec!["OFFSET".into(), o.to_string()], o)
                    }
                    1 => (vec!["EARLIEST".into()], log.start()),
                    2 => (vec!["LATEST".into()], log.end),
                    _ => {
                        let t = now.saturating_sub(rng.random_range(0..3000));
                        let first = log.entries.iter().find(|(_, e)| e.0 >= t).map_or(log.end, |(o, _)| *o);
                        (vec!["TIME".into(), t.to_string()], first)
                    }
                };
                let mut command: Vec<String> = ["stream.read", "t", "PARTITION", &p.to_string()].iter().map(|s| s.to_string()).collect();
                command.extend(how);
                command.extend(["COUNT".to_string(), n.to_string()]);
                let expected = Reply::Array(log.entries.range(from..).take(n).map(|(o, e)| entry_reply(*o, e)).collect());
                assert_eq!(h.run(&command), expected, "{context}: {command:?}");
            }
            5..=7 => {
                let c = consumers[rng.random_range(0..consumers.len())];
                let n = rng.random_range(1..8);
                model.expire(now);
                model.members.insert(c.to_string(), now);
                let reply = h.run(&["stream.sub", "t", "GROUP", "g", "CONSUMER", c, "COUNT", &n.to_string(), "SESSION", "1000"]);
                let assignment = assignment(&mut h, "t", "g");
                check_assignment(&model, &assignment, &context);
                model.observe(&assignment);
                let mine: Vec<u32> = model.owners.iter().filter(|(_, o)| o.as_str() == c).map(|(p, _)| *p).collect();
                let mut cursors: Vec<(u32, u64)> = mine.iter().map(|p| (*p, model.next(*p))).collect();
                let mut expected = Vec::new();
                let mut progressed = true;
                while expected.len() < n && progressed {
                    progressed = false;
                    for (p, at) in cursors.iter_mut() {
                        if expected.len() >= n {
                            break;
                        }
                        if let Some((o, e)) = model.logs[*p as usize].entries.range(*at..).next() {
                            expected.push((*p as i64, *o as i64, e.2.clone()));
                            *at = o + 1;
                            progressed = true;
                        }
                    }
                }
                for (p, at) in cursors {
                    model.position.insert(p, at);
                }
                assert_eq!(sub_entries(&reply), expected, "{context}: SUB {c}");
            }
            8 => {
                let c = consumers[rng.random_range(0..consumers.len())];
                let p = rng.random_range(0..partitions);
                let o = rng.random_range(0..model.logs[p as usize].end + 2);
                model.expire(now);
                let reply = h.run(&["stream.commit", "t", "GROUP", "g", "CONSUMER", c, &p.to_string(), &o.to_string()]);
                let assignment = assignment(&mut h, "t", "g");
                check_assignment(&model, &assignment, &context);
                model.observe(&assignment);
                if !model.members.contains_key(c) {
                    assert!(error(&reply).contains("not a member"), "{context}: {reply:?}");
                } else if model.owners.get(&p).map(String::as_str) != Some(c) {
                    assert!(error(&reply).starts_with("FENCED"), "{context}: {reply:?}");
                } else if o > model.logs[p as usize].end {
                    assert!(error(&reply).contains("past the end"), "{context}: {reply:?}");
                } else {
                    assert_eq!(reply, Reply::Ok, "{context}");
                    model.committed.insert(p, o);
                }
            }
            9 => {
                let p = rng.random_range(0..partitions);
                let log = &model.logs[p as usize];
                let (how, to) =
                    if rng.random_bool(0.5) { (vec!["EARLIEST".to_string()], log.start()) } else { (vec!["LATEST".to_string()], log.end) };
                let mut command: Vec<String> =
                    ["stream.seek", "t", "GROUP", "g", "PARTITION", &p.to_string()].iter().map(|s| s.to_string()).collect();
                command.extend(how);
                assert_eq!(h.run(&command), Reply::Ok, "{context}");
                model.committed.insert(p, to);
                model.position.insert(p, to);
            }
            10 => {
                let c = consumers[rng.random_range(0..consumers.len())];
                let leave = rng.random_bool(0.3);
                if leave {
                    let was = model.leave(c);
                    assert_eq!(h.run(&["stream.leave", "t", "GROUP", "g", "CONSUMER", c]), Reply::Int(i64::from(was)), "{context}");
                } else {
                    model.expire(now);
                    let reply = h.run(&["stream.heartbeat", "t", "GROUP", "g", "CONSUMER", c]);
                    if let Some(seen) = model.members.get_mut(c) {
                        *seen = now;
                        assert!(matches!(reply, Reply::Array(_)), "{context}: {reply:?}");
                    } else {
                        assert!(error(&reply).contains("not a member"), "{context}: {reply:?}");
                    }
                }
                let assignment = assignment(&mut h, "t", "g");
                check_assignment(&model, &assignment, &context);
                model.observe(&assignment);
            }
            11 => {
                let rows = h.run(&["stream.offsets", "t", "GROUP", "g"]);
                for (p, row) in items(&rows).iter().enumerate() {
                    let log = &model.logs[p];
                    let committed = model.committed.get(&(p as u32)).copied();
                    assert_eq!(map_get(row, "committed"), &committed.map_or(Reply::Nil, |c| Reply::Int(c as i64)), "{context}");
                    assert_eq!(int(map_get(row, "log-end")), log.end as i64, "{context}");
                    assert_eq!(int(map_get(row, "log-start")), log.start() as i64, "{context}");
                    let lag = log.end.saturating_sub(committed.unwrap_or(0).max(log.start()));
                    assert_eq!(int(map_get(row, "lag")), lag as i64, "{context}");
                }
            }
            12 => h.advance_ms(rng.random_range(0..400)),
            _ => {
                assert!(strata::commands::topic::maintain(&h.shared, 0, b"t", now));
                model.expire(now);
                model.clean(now);
                let assignment = assignment(&mut h, "t", "g");
                check_assignment(&model, &assignment, &context);
                model.observe(&assignment);
            }
        }

        if step % 40 == 39 {
            store.flush();
            let rebuilt = Keyspace::new(16);
            recovery::load(&store, &rebuilt, &Limits::default(), now, &Default::default()).unwrap();
            let hash = KeyHash::of(b"t");
            let shown = |keyspace: &Keyspace| keyspace.db(0).lock(hash).get(hash, b"t", now).map(|e| format!("{:?}", e.value()));
            assert_eq!(shown(&rebuilt), shown(&h.shared.keyspace), "{context}: the store's topic");
        }

        // A restart: positions (soft state) go back to the committed offsets; members get a new session.
        if step % 97 == 96 {
            store.flush();
            let now = h.now_ms();
            drop(h);
            drop(store);
            store = std::sync::Arc::new(Store::open(dir.path(), 16, Fsync::No).unwrap());
            h = Harness::with_sinks(&[], vec![store.clone()]);
            h.advance_ms(now + 1 - h.now_ms());
            recovery::load(&store, &h.shared.keyspace, &Limits::default(), h.now_ms(), &Default::default()).unwrap();
            strata::commands::topic::register_all(&h.shared);
            model.position.clear();
            let restarted = h.now_ms();
            model.members.values_mut().for_each(|seen| *seen = restarted);
        }
    }
}

#[test]
fn random_sequences_match_the_model() {
    for seed in 0..40 {
        model_run(seed, 400, seed % 3 == 2);
    }
}

#[test]
fn blocking_forms_do_not_block_in_scripts() {
    let mut h = Harness::new();
    h.run(&["stream.create", "t"]);
    let script = "return redis.call('stream.read', KEYS[1], 'PARTITION', 0, 'LATEST', 'BLOCK', 0)";
    assert_eq!(h.run(&["eval", script, "1", "t"]), Reply::Nil, "a null array, as Redis gives inside scripts");
    let script = "return redis.call('stream.sub', KEYS[1], 'GROUP', 'g', 'CONSUMER', 'c', 'BLOCK', 0)";
    assert_eq!(h.run(&["eval", script, "1", "t"]), Reply::Nil);
}

#[test]
fn a_consumer_waiting_in_block_keeps_its_partitions() {
    let mut h = Harness::new();
    h.run(&["stream.create", "t", "PARTITIONS", "2"]);
    assert_eq!(h.run(&["stream.sub", "t", "GROUP", "g", "CONSUMER", "waiter", "BLOCK", "5000", "SESSION", "1000"]), Reply::NoReply);
    h.advance_ms(3000);
    h.run(&["stream.sub", "t", "GROUP", "g", "CONSUMER", "other"]);
    let shares = assignment(&mut h, "t", "g");
    assert_eq!(shares, vec![("other".into(), vec![1]), ("waiter".into(), vec![0])], "still a member 3 s into a 5 s wait");
    h.advance_ms(900);
    h.run(&["stream.heartbeat", "t", "GROUP", "g", "CONSUMER", "other"]);
    h.advance_ms(900);
    h.run(&["stream.heartbeat", "t", "GROUP", "g", "CONSUMER", "other"]);
    assert_eq!(assignment(&mut h, "t", "g").len(), 2, "4.8 s in: the wait has not ended");
    // The wait ended at 5 s and nothing was heard of the waiter for a session after.
    h.advance_ms(600);
    h.run(&["stream.heartbeat", "t", "GROUP", "g", "CONSUMER", "other"]);
    h.advance_ms(700);
    h.run(&["stream.heartbeat", "t", "GROUP", "g", "CONSUMER", "other"]);
    assert_eq!(assignment(&mut h, "t", "g"), vec![("other".into(), vec![0, 1])]);
}
