//! Many clients at once: single commands are atomic, multi-key commands are atomic across shards,
//! and the server stays healthy. Each test runs a bounded number of operations.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::{as_text, bulk, int, ok, q, Server};
use redis::Value;

#[test]
fn concurrent_incr_loses_no_update() {
    let strata = Server::start();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let mut con = strata.con();
            std::thread::spawn(move || {
                for _ in 0..500 {
                    ok(&mut con, &["INCR", "counter"]);
                    ok(&mut con, &["INCRBYFLOAT", "float", "0.5"]);
                    ok(&mut con, &["APPEND", "log", "x"]);
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let mut con = strata.con();
    assert_eq!(ok(&mut con, &["GET", "counter"]), bulk("2000"));
    assert_eq!(ok(&mut con, &["GET", "float"]), bulk("1000"));
    assert_eq!(ok(&mut con, &["STRLEN", "log"]), int(2000));
}

#[test]
fn mset_is_all_or_nothing_for_readers() {
    let strata = Server::start();
    // Enough keys to span many shards.
    let keys: Vec<String> = (0..16).map(|i| format!("atomic:{i}")).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let mut con = strata.con();
            let keys = keys.clone();
            std::thread::spawn(move || {
                for round in 0..400 {
                    let value = format!("w{w}r{round}");
                    let mut args = vec!["MSET".to_string()];
                    for key in &keys {
                        args.push(key.clone());
                        args.push(value.clone());
                    }
                    let args: Vec<&str> = args.iter().map(String::as_str).collect();
                    ok(&mut con, &args);
                }
            })
        })
        .collect();
    let reader = {
        let mut con = strata.con();
        let keys = keys.clone();
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut reads = 0;
            while !stop.load(Ordering::Relaxed) {
                let mut args = vec!["MGET"];
                args.extend(keys.iter().map(String::as_str));
                let Value::Array(values) = ok(&mut con, &args) else { panic!() };
                if values[0] != Value::Nil {
                    assert!(values.iter().all(|v| *v == values[0]), "MGET saw a half-applied MSET: {values:?}");
                }
                reads += 1;
            }
            reads
        })
    };
    for writer in writers {
        writer.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    assert!(reader.join().unwrap() > 0);
}

#[test]
fn rename_ping_pong_keeps_exactly_one_key() {
    let strata = Server::start();
    ok(&mut strata.con(), &["SET", "left", "payload"]);
    let movers: Vec<_> = [("left", "right"), ("right", "left")]
        .into_iter()
        .map(|(from, to)| {
            let mut con = strata.con();
            std::thread::spawn(move || {
                for _ in 0..500 {
                    // Fails with "no such key" when the other mover got there first.
                    let _ = q(&mut con, &["RENAME", from, to]);
                    let _ = q(&mut con, &["COPY", to, "copied", "REPLACE"]);
                }
            })
        })
        .collect();
    let mut con = strata.con();
    for _ in 0..500 {
        assert_eq!(ok(&mut con, &["EXISTS", "left", "right"]), int(1));
    }
    for mover in movers {
        mover.join().unwrap();
    }
    assert_eq!(ok(&mut con, &["EXISTS", "left", "right"]), int(1));
    assert_eq!(ok(&mut con, &["GET", "copied"]), bulk("payload"));
}

#[test]
fn swapdb_flush_and_scan_under_load_stay_healthy() {
    let mut strata = Server::start();
    let workers: Vec<_> = (0..3)
        .map(|w| {
            let mut con = strata.con();
            std::thread::spawn(move || {
                for i in 0..300 {
                    match (w, i % 5) {
                        (0, _) => {
                            ok(&mut con, &["SWAPDB", "0", "1"]);
                        }
                        (1, 0) => {
                            ok(&mut con, &["FLUSHDB"]);
                        }
                        (1, _) => {
                            ok(&mut con, &["MSET", &format!("a{i}"), "1", &format!("b{i}"), "2"]);
                        }
                        _ => {
                            let reply = ok(&mut con, &["SCAN", "0", "COUNT", "50"]);
                            let Value::Array(parts) = reply else { panic!() };
                            as_text(&parts[0]);
                            ok(&mut con, &["KEYS", "a*"]);
                            ok(&mut con, &["DBSIZE"]);
                        }
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    strata.assert_healthy();
}
