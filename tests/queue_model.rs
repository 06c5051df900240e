//! Q.* in process, with the harness clock: the behaviours the issue names one by one, then seeded
//! random sequences of every Q.* command against a plain model of a queue.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use strata::commands::harness::Harness;
use strata::resp::Reply;

fn bulk(text: &str) -> Reply {
    Reply::bulk(text.as_bytes())
}

fn text(reply: &Reply) -> String {
    match reply {
        Reply::Bulk(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        other => panic!("not a bulk string: {other:?}"),
    }
}

/// `[id, payload, deliveries]` triples of a RESP2 message list.
fn messages(reply: &Reply) -> Vec<(String, String, i64)> {
    match reply {
        Reply::NilArray => Vec::new(),
        Reply::Array(items) => items
            .iter()
            .map(|item| match item {
                Reply::Array(parts) => match parts.as_slice() {
                    [id, payload, Reply::Int(n)] => (text(id), text(payload), *n),
                    other => panic!("not a message: {other:?}"),
                },
                other => panic!("not a message: {other:?}"),
            })
            .collect(),
        other => panic!("not a message list: {other:?}"),
    }
}

fn payloads(reply: &Reply) -> Vec<String> {
    messages(reply).into_iter().map(|m| m.1).collect()
}

fn stat(h: &mut Harness, queue: &str, name: &str) -> i64 {
    match h.run(&["q.stats", queue]) {
        Reply::Map(pairs) => pairs
            .iter()
            .find(|(k, _)| *k == bulk(name))
            .map(|(_, v)| match v {
                Reply::Int(n) => *n,
                other => panic!("{other:?}"),
            })
            .unwrap_or_else(|| panic!("no stat {name}")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn priority_then_fifo_and_nack_to_the_head() {
    let mut h = Harness::new();
    for (payload, priority) in [("a", "0"), ("b", "5"), ("c", "0"), ("d", "9"), ("e", "5")] {
        let id = h.run(&["q.push", "q", payload, "PRIORITY", priority]);
        assert!(matches!(id, Reply::Bulk(_)), "{id:?}");
    }
    assert_eq!(payloads(&h.run(&["q.peek", "q", "COUNT", "10"])), ["d", "b", "e", "a", "c"]);
    let popped = messages(&h.run(&["q.pop", "q", "COUNT", "2"]));
    assert_eq!(popped.iter().map(|m| m.1.as_str()).collect::<Vec<_>>(), ["d", "b"]);
    assert!(popped.iter().all(|m| m.2 == 1));
    // Nacked: back to the head of its own priority's line.
    assert_eq!(h.run(&["q.nack", "q", &popped[1].0]), Reply::Int(1));
    assert_eq!(h.run(&["q.nack", "q", &popped[1].0]), Reply::Int(0), "no longer leased");
    assert_eq!(payloads(&h.run(&["q.peek", "q", "COUNT", "10"])), ["b", "e", "a", "c"]);
    assert_eq!(h.run(&["q.ack", "q", &popped[0].0, "12345", &popped[0].0]), Reply::Int(1));
    let again = messages(&h.run(&["q.pop", "q"]));
    assert_eq!((again[0].1.as_str(), again[0].2), ("b", 2));
    assert_eq!(stat(&mut h, "q", "redelivered"), 1);
    assert_eq!(stat(&mut h, "q", "acked"), 1);
    assert_eq!(h.run(&["type", "q"]), Reply::Status("queue".into()));
    assert_eq!(h.run(&["object", "encoding", "q"]), bulk("queue"));
}

#[test]
fn delays_leases_and_dead_letters_follow_the_clock() {
    let mut h = Harness::new();
    h.run(&["q.config", "q", "LEASE", "1000", "MAXDELIVERIES", "2"]);
    h.run(&["q.push", "q", "later", "DELAY", "500"]);
    h.run(&["q.push", "q", "now"]);
    assert_eq!(payloads(&h.run(&["q.peek", "q", "COUNT", "5"])), ["now"]);
    let first = messages(&h.run(&["q.pop", "q"]));
    assert_eq!(first[0].1, "now");
    assert_eq!(h.run(&["q.pop", "q"]), Reply::NilArray);
    h.advance_ms(500);
    assert_eq!(payloads(&h.run(&["q.peek", "q"])), ["later"]);
    // The lease of "now" ends at 1000: back to the head, delivered a second time.
    h.advance_ms(500);
    assert_eq!(stat(&mut h, "q", "leased"), 0);
    let second = messages(&h.run(&["q.pop", "q"]));
    assert_eq!((second[0].1.as_str(), second[0].2), ("now", 2));
    assert_eq!(h.run(&["q.touch", "q", &second[0].0, "LEASE", "5000"]), Reply::Int(1));
    h.advance_ms(4000);
    assert_eq!(stat(&mut h, "q", "leased"), 1, "touched");
    h.advance_ms(1000);
    // Past MAXDELIVERIES: dead, not lost.
    assert_eq!(stat(&mut h, "q", "dead"), 1);
    assert_eq!(payloads(&h.run(&["q.dead", "q"])), ["now"]);
    assert_eq!(h.run(&["q.redrive", "q"]), Reply::Int(1));
    assert_eq!(payloads(&h.run(&["q.peek", "q", "COUNT", "5"])), ["later", "now"]);
}

#[test]
fn dead_letter_queue_ttl_maxlen_and_dedup() {
    let mut h = Harness::new();
    assert_eq!(h.run(&["q.config", "q", "DEADLETTER", "dlq", "MAXDELIVERIES", "1", "TTL", "100"]), Reply::Ok);
    h.run(&["q.push", "q", "x"]);
    let x = messages(&h.run(&["q.pop", "q"]));
    assert_eq!(h.run(&["q.nack", "q", &x[0].0]), Reply::Int(1));
    assert_eq!(payloads(&h.run(&["q.peek", "dlq"])), ["x"]);
    h.run(&["q.push", "q", "ages"]);
    h.advance_ms(100);
    // The harness has no timer: the source queue's next use settles its time.
    assert_eq!(stat(&mut h, "q", "dead-lettered"), 2);
    assert_eq!(payloads(&h.run(&["q.peek", "dlq", "COUNT", "5"])), ["x", "ages"], "TTL forwards to the dead-letter queue");

    h.run(&["q.config", "m", "MAXLEN", "2"]);
    h.run(&["q.pushmany", "m", "1", "2"]);
    assert!(matches!(h.run(&["q.push", "m", "3"]), Reply::Error(e) if e.starts_with("ERR queue is full")));
    h.run(&["q.config", "m", "MAXLEN", "2", "OVERFLOW", "drop-oldest"]);
    h.run(&["q.push", "m", "3"]);
    assert_eq!(payloads(&h.run(&["q.peek", "m", "COUNT", "5"])), ["2", "3"]);

    let first = h.run(&["q.push", "d", "p", "DEDUP", "t"]);
    assert_eq!(h.run(&["q.push", "d", "other", "DEDUP", "t"]), first);
    let popped = messages(&h.run(&["q.pop", "d"]));
    h.run(&["q.ack", "d", &popped[0].0]);
    assert_ne!(h.run(&["q.push", "d", "p", "DEDUP", "t"]), first, "the token is free once the message is gone");
}

#[test]
fn bad_input_and_missing_queues() {
    let mut h = Harness::new();
    assert_eq!(h.run(&["q.pop", "none"]), Reply::NilArray);
    assert_eq!(h.run(&["q.ack", "none", "1"]), Reply::Int(0));
    assert_eq!(h.run(&["q.peek", "none"]), Reply::Array(vec![]));
    assert_eq!(stat(&mut h, "none", "ready"), 0);
    h.run(&["set", "s", "v"]);
    let wrongtype = Reply::Error("WRONGTYPE Operation against a key holding the wrong kind of value".into());
    assert_eq!(h.run(&["q.push", "s", "x"]), wrongtype);
    assert_eq!(h.run(&["q.pop", "s"]), wrongtype);
    assert_eq!(h.run(&["q.push", "q", "x", "PRIORITY", "10"]), Reply::Error("ERR PRIORITY must be between 0 and 9".into()));
    assert_eq!(h.run(&["q.push", "q", "x", "DELAY", "abc"]), Reply::Error("ERR value is not an integer or out of range".into()));
    assert_eq!(h.run(&["q.push", "q", "x", "NOPE"]), Reply::Error("ERR syntax error".into()));
    assert_eq!(h.run(&["q.ack", "q", "not-an-id"]), Reply::Error("ERR invalid message ID".into()));
    assert_eq!(h.run(&["q.config", "q", "MAXLEN", "1", "OVERFLOW", "sideways"]), Reply::Error("ERR syntax error".into()));
    assert_eq!(h.run(&["exists", "q"]), Reply::Int(0), "nothing half applied");
    assert_eq!(h.run(&["q.config", "q", "DEADLETTER", "s"]), wrongtype);
    h.run(&["q.push", "q", "x"]);
    assert_eq!(h.run(&["q.list"]), Reply::Array(vec![bulk("q")]));
    assert_eq!(h.run(&["rename", "q", "q2"]), Reply::Ok);
    assert_eq!(h.run(&["q.list", "q*"]), Reply::Array(vec![bulk("q2")]));
    assert_eq!(h.run(&["q.purge", "q2"]), Reply::Int(1));
    assert_eq!(h.run(&["exists", "q2"]), Reply::Int(1), "an empty queue keeps its config");
    assert_eq!(h.run(&["del", "q2"]), Reply::Int(1));

    // Generic key commands treat a queue as any other value.
    h.run(&["q.push", "e", "x"]);
    assert_eq!(h.run(&["copy", "e", "e2"]), Reply::Int(1));
    assert_eq!(payloads(&h.run(&["q.pop", "e2"])), ["x"]);
    assert_eq!(stat(&mut h, "e", "ready"), 1, "a copy is its own queue");
    assert_eq!(h.run(&["scan", "0", "type", "queue"]), Reply::Array(vec![bulk("0"), Reply::Array(vec![bulk("e2"), bulk("e")])]));
    assert_eq!(h.run(&["pexpire", "e", "100"]), Reply::Int(1));
    h.advance_ms(100);
    assert_eq!(h.run(&["exists", "e"]), Reply::Int(0));
}

/// Where a model message is.
#[derive(Clone, Copy, Debug, PartialEq)]
enum At {
    Ready(i64),
    Delayed(u64),
    Leased(u64),
    Dead(i64),
}

#[derive(Clone, Debug)]
struct Msg {
    id: u64,
    payload: String,
    priority: u8,
    deliveries: i64,
    at: At,
    expire_at: Option<u64>,
    dedup: Option<String>,
}

/// A queue as plainly as it can be said: a vector of messages scanned and sorted on every step.
struct Model {
    msgs: Vec<Msg>,
    tail: i64,
    front: i64,
    lease: u64,
    max_deliveries: i64,
    max_len: Option<usize>,
    drop_oldest: bool,
    ttl: Option<u64>,
    /// pushed, delivered, redelivered, acked, nacked, expired, dead-lettered, dropped.
    counters: [i64; 8],
}

const PUSHED: usize = 0;
const DELIVERED: usize = 1;
const REDELIVERED: usize = 2;
const ACKED: usize = 3;
const NACKED: usize = 4;
const EXPIRED: usize = 5;
const DEAD_LETTERED: usize = 6;
const DROPPED: usize = 7;
const COUNTER_NAMES: [&str; 8] = ["pushed", "delivered", "redelivered", "acked", "nacked", "expired", "dead-lettered", "dropped"];

impl Model {
    fn new() -> Model {
        Model {
            msgs: Vec::new(),
            tail: 0,
            front: 0,
            lease: 30_000,
            max_deliveries: 20,
            max_len: None,
            drop_oldest: false,
            ttl: None,
            counters: [0; 8],
        }
    }

    fn find(&mut self, id: u64) -> Option<&mut Msg> {
        self.msgs.iter_mut().find(|m| m.id == id)
    }

    fn ready(&self) -> Vec<Msg> {
        let mut ready: Vec<Msg> = self.msgs.iter().filter(|m| matches!(m.at, At::Ready(_))).cloned().collect();
        ready.sort_by_key(|m| match m.at {
            At::Ready(rank) => (9 - m.priority, rank),
            _ => unreachable!(),
        });
        ready
    }

    fn dead(&self) -> Vec<Msg> {
        let mut dead: Vec<Msg> = self.msgs.iter().filter(|m| matches!(m.at, At::Dead(_))).cloned().collect();
        dead.sort_by_key(|m| match m.at {
            At::Dead(rank) => rank,
            _ => unreachable!(),
        });
        dead
    }

    fn count(&self, f: impl Fn(&At) -> bool) -> usize {
        self.msgs.iter().filter(|m| f(&m.at)).count()
    }

    fn waiting(&self) -> usize {
        self.count(|at| matches!(at, At::Ready(_) | At::Delayed(_)))
    }

    fn ready_at_tail(&mut self, id: u64) {
        let rank = self.tail;
        self.tail += 1;
        self.find(id).unwrap().at = At::Ready(rank);
    }

    fn ready_at_front(&mut self, id: u64) {
        self.front -= 1;
        let rank = self.front;
        self.find(id).unwrap().at = At::Ready(rank);
    }

    fn kill(&mut self, id: u64) {
        self.counters[DEAD_LETTERED] += 1;
        let rank = self.tail;
        self.tail += 1;
        self.find(id).unwrap().at = At::Dead(rank);
    }

    fn settle(&mut self, now: u64) {
        let mut due: Vec<(u64, u64)> =
            self.msgs.iter().filter_map(|m| if let At::Delayed(d) = m.at { (d <= now).then_some((d, m.id)) } else { None }).collect();
        due.sort();
        for (_, id) in due {
            self.ready_at_tail(id);
        }
        let mut ended: Vec<(u64, u64)> =
            self.msgs.iter().filter_map(|m| if let At::Leased(d) = m.at { (d <= now).then_some((d, m.id)) } else { None }).collect();
        ended.sort();
        for (_, id) in ended {
            if self.find(id).unwrap().deliveries >= self.max_deliveries {
                self.kill(id);
            } else {
                self.ready_at_front(id);
            }
        }
        let before = self.msgs.len();
        self.msgs.retain(|m| !(matches!(m.at, At::Ready(_) | At::Delayed(_)) && m.expire_at.is_some_and(|at| at <= now)));
        self.counters[EXPIRED] += (before - self.msgs.len()) as i64;
    }

    /// Makes room for one more message; false when the push must be refused.
    fn make_room(&mut self) -> bool {
        let Some(max) = self.max_len else { return true };
        if self.waiting() < max {
            return true;
        }
        if !self.drop_oldest {
            return false;
        }
        let oldest_ready = self.msgs.iter().filter(|m| matches!(m.at, At::Ready(_))).map(|m| m.id).min();
        let first_delayed =
            self.msgs.iter().filter_map(|m| if let At::Delayed(d) = m.at { Some((d, m.id)) } else { None }).min().map(|(_, id)| id);
        let Some(victim) = oldest_ready.or(first_delayed) else { return false };
        self.msgs.retain(|m| m.id != victim);
        self.counters[DROPPED] += 1;
        true
    }

    /// `options`: delay, priority, TTL, DEDUP token.
    fn push(&mut self, id: u64, payload: &str, options: (u64, u8, Option<u64>, Option<&str>), now: u64) {
        let (delay, priority, ttl, dedup) = options;
        let at = if delay > 0 {
            At::Delayed(now + delay)
        } else {
            self.tail += 1;
            At::Ready(self.tail - 1)
        };
        let expire_at = ttl.or(self.ttl).map(|ttl| now + delay + ttl);
        self.msgs.push(Msg { id, payload: payload.into(), priority, deliveries: 0, at, expire_at, dedup: dedup.map(String::from) });
        self.counters[PUSHED] += 1;
    }
}

fn reply_messages(msgs: &[Msg]) -> Reply {
    Reply::Array(
        msgs.iter().map(|m| Reply::Array(vec![Reply::bulk_string(m.id.to_string()), bulk(&m.payload), Reply::Int(m.deliveries)])).collect(),
    )
}

fn id_of(reply: &Reply) -> u64 {
    text(reply).parse().unwrap()
}

/// One seeded run: every Q.* command with random arguments and a clock that moves, each reply
/// checked against the model; the queue rebuilt from the store now and then must equal the live
/// one, and every 97 steps the server restarts from its store.
fn model_run(seed: u64, steps: usize) {
    use strata::engine::persist::{recovery, Fsync, Store};
    use strata::engine::{KeyHash, Keyspace, Limits};

    let dir = tempfile::tempdir().unwrap();
    let mut store = std::sync::Arc::new(Store::open(dir.path(), 16, Fsync::No).unwrap());
    let mut h = Harness::with_sinks(&[], vec![store.clone()]);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut model = Model::new();
    let mut known: Vec<u64> = vec![1];
    let tokens = ["t1", "t2", "t3"];
    for step in 0..steps {
        let now = h.now_ms();
        let some_ids = |rng: &mut StdRng, known: &[u64]| -> Vec<u64> {
            (0..rng.random_range(1..4)).map(|_| known[rng.random_range(0..known.len())]).collect()
        };
        let mut command: Vec<String> = Vec::new();
        let expected: Reply;
        match rng.random_range(0..16) {
            0..=2 => {
                let payload = format!("p{step}");
                let delay = if rng.random_bool(0.3) { rng.random_range(1..300) } else { 0 };
                let priority = if rng.random_bool(0.4) { rng.random_range(0..10) } else { 0 };
                let ttl = rng.random_bool(0.2).then(|| rng.random_range(1..500));
                let dedup = rng.random_bool(0.2).then(|| tokens[rng.random_range(0..3)]);
                command.extend(["q.push".into(), "q".into(), payload.clone()]);
                if delay > 0 {
                    command.extend(["DELAY".into(), delay.to_string()]);
                }
                if priority > 0 {
                    command.extend(["PRIORITY".into(), priority.to_string()]);
                }
                if let Some(ttl) = ttl {
                    command.extend(["TTL".into(), ttl.to_string()]);
                }
                if let Some(token) = dedup {
                    command.extend(["DEDUP".into(), token.into()]);
                }
                let reply = h.run(&command);
                model.settle(now);
                if let Some(existing) = dedup.and_then(|t| model.msgs.iter().find(|m| m.dedup.as_deref() == Some(t))) {
                    assert_eq!(reply, Reply::bulk_string(existing.id.to_string()), "seed {seed} step {step}: {command:?}");
                    continue;
                }
                if !model.make_room() {
                    assert!(matches!(reply, Reply::Error(_)), "seed {seed} step {step}: {command:?} -> {reply:?}");
                    continue;
                }
                let id = id_of(&reply);
                known.push(id);
                model.push(id, &payload, (delay, priority, ttl, dedup), now);
                continue;
            }
            3 => {
                let n = rng.random_range(1..4);
                command.extend(["q.pushmany".into(), "q".into()]);
                command.extend((0..n).map(|i| format!("m{step}-{i}")));
                let reply = h.run(&command);
                model.settle(now);
                let refused = !model.drop_oldest && model.max_len.is_some_and(|max| model.waiting() + n > max);
                if refused {
                    assert!(matches!(reply, Reply::Error(_)), "seed {seed} step {step}: {command:?} -> {reply:?}");
                    continue;
                }
                let Reply::Array(ids) = reply else { panic!("seed {seed} step {step}: {reply:?}") };
                for (i, id) in ids.iter().enumerate() {
                    let id = id_of(id);
                    known.push(id);
                    model.make_room();
                    model.push(id, &command[i + 2].clone(), (0, 0, None, None), now);
                }
                continue;
            }
            4..=5 => {
                let n = rng.random_range(1..4);
                let lease = rng.random_bool(0.5).then(|| rng.random_range(1..400u64));
                command.extend(["q.pop".into(), "q".into(), "COUNT".into(), n.to_string()]);
                if let Some(lease) = lease {
                    command.extend(["LEASE".into(), lease.to_string()]);
                }
                model.settle(now);
                let lease = lease.unwrap_or(model.lease);
                let taken: Vec<Msg> = model.ready().into_iter().take(n).collect();
                let mut shown = Vec::new();
                for msg in &taken {
                    let m = model.find(msg.id).unwrap();
                    m.deliveries += 1;
                    m.at = At::Leased(now + lease);
                    let redelivered = m.deliveries > 1;
                    shown.push(m.clone());
                    model.counters[DELIVERED] += 1;
                    model.counters[REDELIVERED] += i64::from(redelivered);
                }
                expected = if shown.is_empty() { Reply::NilArray } else { reply_messages(&shown) };
            }
            6..=7 => {
                let ids = some_ids(&mut rng, &known);
                command.extend(["q.ack".into(), "q".into()]);
                command.extend(ids.iter().map(u64::to_string));
                model.settle(now);
                let mut done = 0;
                for id in ids {
                    if model.msgs.iter().any(|m| m.id == id && matches!(m.at, At::Leased(_))) {
                        model.msgs.retain(|m| m.id != id);
                        model.counters[ACKED] += 1;
                        done += 1;
                    }
                }
                expected = Reply::Int(done);
            }
            8 => {
                let ids = some_ids(&mut rng, &known);
                let (delay, dead) = (if rng.random_bool(0.3) { rng.random_range(1..200) } else { 0 }, rng.random_bool(0.2));
                command.extend(["q.nack".into(), "q".into()]);
                command.extend(ids.iter().map(u64::to_string));
                if delay > 0 {
                    command.extend(["DELAY".into(), delay.to_string()]);
                }
                if dead {
                    command.push("DEAD".into());
                }
                model.settle(now);
                let mut done = 0;
                for id in ids {
                    let Some(m) = model.find(id) else { continue };
                    if !matches!(m.at, At::Leased(_)) {
                        continue;
                    }
                    let deliveries = m.deliveries;
                    model.counters[NACKED] += 1;
                    if dead || deliveries >= model.max_deliveries {
                        model.kill(id);
                    } else if delay > 0 {
                        model.find(id).unwrap().at = At::Delayed(now + delay);
                    } else {
                        model.ready_at_front(id);
                    }
                    done += 1;
                }
                expected = Reply::Int(done);
            }
            9 => {
                let ids = some_ids(&mut rng, &known);
                let lease = rng.random_range(1..400u64);
                command.extend(["q.touch".into(), "q".into()]);
                command.extend(ids.iter().map(u64::to_string));
                command.extend(["LEASE".into(), lease.to_string()]);
                model.settle(now);
                let mut done = 0;
                for id in ids {
                    if let Some(m) = model.find(id).filter(|m| matches!(m.at, At::Leased(_))) {
                        m.at = At::Leased(now + lease);
                        done += 1;
                    }
                }
                expected = Reply::Int(done);
            }
            10 => {
                let n = rng.random_range(1..6);
                command.extend(["q.peek".into(), "q".into(), "COUNT".into(), n.to_string()]);
                model.settle(now);
                expected = reply_messages(&model.ready().into_iter().take(n).collect::<Vec<_>>());
            }
            11 => {
                command.extend(["q.dead".into(), "q".into()]);
                model.settle(now);
                expected = reply_messages(&model.dead().into_iter().take(10).collect::<Vec<_>>());
            }
            12 => {
                let n = rng.random_range(1..4);
                command.extend(["q.redrive".into(), "q".into(), "COUNT".into(), n.to_string()]);
                model.settle(now);
                let moved: Vec<u64> = model.dead().into_iter().take(n).map(|m| m.id).collect();
                for &id in &moved {
                    model.find(id).unwrap().deliveries = 0;
                    model.ready_at_tail(id);
                }
                expected = Reply::Int(moved.len() as i64);
            }
            13 => {
                command.extend(["q.purge".into(), "q".into()]);
                model.settle(now);
                let before = model.msgs.len();
                model.msgs.retain(|m| !matches!(m.at, At::Ready(_) | At::Delayed(_)));
                expected = Reply::Int((before - model.msgs.len()) as i64);
            }
            14 => {
                command.extend(["q.config".into(), "q".into()]);
                // Time is settled under the old policy, then the new one applies.
                model.settle(now);
                match rng.random_range(0..4) {
                    0 => {
                        let lease = rng.random_range(1..300u64);
                        command.extend(["LEASE".into(), lease.to_string()]);
                        model.lease = lease;
                    }
                    1 => {
                        let n = rng.random_range(1..4i64);
                        command.extend(["MAXDELIVERIES".into(), n.to_string()]);
                        model.max_deliveries = n;
                    }
                    2 => {
                        let n = rng.random_range(0..8usize);
                        let drop = rng.random_bool(0.5);
                        command.extend([
                            "MAXLEN".into(),
                            n.to_string(),
                            "OVERFLOW".into(),
                            if drop { "drop-oldest" } else { "reject" }.into(),
                        ]);
                        model.max_len = (n > 0).then_some(n);
                        model.drop_oldest = drop;
                    }
                    _ => {
                        let ttl = rng.random_range(0..400u64);
                        command.extend(["TTL".into(), ttl.to_string()]);
                        model.ttl = (ttl > 0).then_some(ttl);
                    }
                }
                expected = Reply::Ok;
            }
            _ => {
                h.advance_ms(rng.random_range(0..150));
                continue;
            }
        }
        let reply = h.run(&command);
        assert_eq!(reply, expected, "seed {seed} step {step}: {command:?}");

        // The counters and sizes after every step.
        let now = h.now_ms();
        model.settle(now);
        let stats = h.run(&["q.stats", "q"]);
        let Reply::Map(pairs) = stats else { panic!("{stats:?}") };
        let get = |name: &str| pairs.iter().find(|(k, _)| *k == bulk(name)).map(|(_, v)| v.clone()).unwrap();
        let oldest = model.msgs.iter().filter(|m| matches!(m.at, At::Ready(_))).map(|m| m.id).min();
        let age = oldest.map_or(0, |id| now - strata::engine::snowflake::parse(id).unix_ms);
        let sizes = [
            ("ready", model.count(|a| matches!(a, At::Ready(_)))),
            ("delayed", model.count(|a| matches!(a, At::Delayed(_)))),
            ("leased", model.count(|a| matches!(a, At::Leased(_)))),
            ("dead", model.count(|a| matches!(a, At::Dead(_)))),
            ("oldest-ready-age-ms", age as usize),
        ];
        for (name, n) in sizes {
            assert_eq!(get(name), Reply::Int(n as i64), "seed {seed} step {step}: {name} after {command:?}");
        }
        for (i, name) in COUNTER_NAMES.iter().enumerate() {
            assert_eq!(get(name), Reply::Int(model.counters[i]), "seed {seed} step {step}: {name} after {command:?}");
        }

        if step % 40 == 39 {
            store.flush();
            let rebuilt = Keyspace::new(16);
            recovery::load(&store, &rebuilt, &Limits::default(), now, &Default::default()).unwrap();
            let hash = KeyHash::of(b"q");
            let shown = |keyspace: &Keyspace| {
                let mut shard = keyspace.db(0).lock(hash);
                let shown = shard.get(hash, b"q", now).map(|e| format!("{:?}", e.value()));
                shown.map(|s| s.replace(&format!("holder: {}", 1), "holder: 0"))
            };
            assert_eq!(shown(&rebuilt), shown(&h.shared.keyspace), "seed {seed} step {step}: the store's queue");
        }

        // A restart: a new server state recovered from the store, a moment later; the model goes on.
        if step % 97 == 96 {
            store.flush();
            let now = h.now_ms();
            drop(h);
            drop(store);
            store = std::sync::Arc::new(Store::open(dir.path(), 16, Fsync::No).unwrap());
            h = Harness::with_sinks(&[], vec![store.clone()]);
            h.advance_ms(now + 1 - h.now_ms());
            recovery::load(&store, &h.shared.keyspace, &Limits::default(), h.now_ms(), &Default::default()).unwrap();
            strata::commands::queue::after_recovery(&h.shared);
        }
    }
}

#[test]
fn random_sequences_match_the_model() {
    for seed in 0..60 {
        model_run(seed, 400);
    }
}

#[test]
fn inside_multi_exec_and_scripts() {
    let mut h = Harness::new();
    assert_eq!(h.run(&["multi"]), Reply::Ok);
    h.run(&["q.pop", "q", "BLOCK", "0"]);
    h.run(&["q.push", "q", "a"]);
    h.run(&["q.pop", "q"]);
    let Reply::Array(replies) = h.run(&["exec"]) else { panic!() };
    assert_eq!(replies[0], Reply::NilArray, "no blocking inside EXEC");
    assert_eq!(payloads(&replies[2]), ["a"]);
    let script = "local m = redis.call('q.pop', KEYS[1]); return redis.call('q.ack', KEYS[1], m[1][1])";
    h.run(&["q.push", "q", "b"]);
    assert_eq!(h.run(&["eval", script, "1", "q"]), Reply::Int(1));
    assert_eq!(stat(&mut h, "q", "acked"), 1);
}
