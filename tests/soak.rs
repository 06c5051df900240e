//! A bounded soak: 50 clients mixing pushes, transactions and blocking pops on shared queues.
//! Afterwards every pushed element was popped exactly once.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;

use common::{ok, Server};
use redis::Value;

const PRODUCERS: usize = 20;
const CONSUMERS: usize = 30;
const ITEMS_PER_PRODUCER: usize = 150;
const QUEUES: [&str; 3] = ["soak:a", "soak:b", "soak:c"];

#[test]
fn every_pushed_element_is_popped_exactly_once() {
    let server = Server::start();
    let producers_done = Arc::new(AtomicBool::new(false));
    let consumers: Vec<_> = (0..CONSUMERS)
        .map(|c| {
            let mut con = server.con();
            let done = producers_done.clone();
            thread::spawn(move || {
                let mut popped = Vec::new();
                loop {
                    let mut args = vec![if c % 2 == 0 { "BRPOP" } else { "BLPOP" }];
                    args.extend(QUEUES);
                    args.push("0.05");
                    match ok(&mut con, &args) {
                        Value::Array(pair) => match &pair[1] {
                            Value::BulkString(item) => popped.push(String::from_utf8(item.clone()).unwrap()),
                            other => panic!("unexpected element {other:?}"),
                        },
                        Value::Nil if done.load(Ordering::SeqCst) => break,
                        Value::Nil => {}
                        other => panic!("unexpected reply {other:?}"),
                    }
                }
                popped
            })
        })
        .collect();
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let mut con = server.con();
            thread::spawn(move || {
                let mut i = 0;
                while i < ITEMS_PER_PRODUCER {
                    let queue = QUEUES[(p + i) % QUEUES.len()];
                    if i % 3 == 0 && i + 3 <= ITEMS_PER_PRODUCER {
                        // Three pushes in one transaction, to two different queues.
                        ok(&mut con, &["MULTI"]);
                        for j in 0..3 {
                            ok(&mut con, &["LPUSH", QUEUES[(p + i + j) % QUEUES.len()], &format!("p{p}-{}", i + j)]);
                        }
                        let Value::Array(replies) = ok(&mut con, &["EXEC"]) else { panic!("EXEC failed") };
                        assert_eq!(replies.len(), 3);
                        i += 3;
                    } else {
                        ok(&mut con, &["RPUSH", queue, &format!("p{p}-{i}")]);
                        i += 1;
                    }
                }
            })
        })
        .collect();
    for producer in producers {
        producer.join().unwrap();
    }
    // Consumers stop at their first empty wait after this; the queues drain first.
    let mut check = server.con();
    while QUEUES.iter().any(|q| ok(&mut check, &["LLEN", q]) != Value::Int(0)) {
        thread::sleep(std::time::Duration::from_millis(20));
    }
    producers_done.store(true, Ordering::SeqCst);
    let mut counts: HashMap<String, usize> = HashMap::new();
    for consumer in consumers {
        for item in consumer.join().unwrap() {
            *counts.entry(item).or_default() += 1;
        }
    }
    assert_eq!(counts.len(), PRODUCERS * ITEMS_PER_PRODUCER, "some pushed elements were never popped");
    let duplicated: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(duplicated.is_empty(), "popped more than once: {duplicated:?}");
    let Value::BulkString(info) = ok(&mut check, &["INFO", "clients"]) else { panic!() };
    assert!(String::from_utf8(info).unwrap().contains("blocked_clients:0\r\n"));
}
