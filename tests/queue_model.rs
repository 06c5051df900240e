//! Q.* in process, with the harness clock: the behaviours the issue names one by one, then seeded
//! random sequences of every Q.* command against a plain model of a queue.

use std::collections::HashMap;

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
}
