//! Blocking pops served across connections, timeouts, CLIENT UNBLOCK, and behaviour inside MULTI.

mod common;

use std::thread;
use std::time::{Duration, Instant};

use common::{bulk, err, ok, Server};
use redis::Value;

#[test]
fn blpop_is_served_by_a_push_from_another_client() {
    let server = Server::start();
    let mut waiter = server.con();
    let port = server.port;
    let pusher = thread::spawn(move || {
        thread::sleep(Duration::from_millis(100));
        let mut con = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap().get_connection().unwrap();
        ok(&mut con, &["RPUSH", "jobs", "job-1"])
    });
    let started = Instant::now();
    assert_eq!(ok(&mut waiter, &["BLPOP", "other", "jobs", "5"]), Value::Array(vec![bulk("jobs"), bulk("job-1")]));
    assert!(started.elapsed() < Duration::from_secs(4));
    assert_eq!(pusher.join().unwrap(), Value::Int(1));
    assert_eq!(ok(&mut waiter, &["EXISTS", "jobs"]), Value::Int(0), "the element was consumed by the waiter");
}

#[test]
fn timeouts_answer_nil_in_both_protocols() {
    let server = Server::start();
    let mut resp2 = server.con();
    let mut resp3 = server.con3();
    assert_eq!(ok(&mut resp2, &["BLPOP", "none", "0.1"]), Value::Nil);
    assert_eq!(ok(&mut resp3, &["BRPOP", "none", "0.1"]), Value::Nil);
    assert_eq!(ok(&mut resp2, &["BLMOVE", "none", "dst", "LEFT", "RIGHT", "0.1"]), Value::Nil);
    assert_eq!(ok(&mut resp2, &["BZPOPMIN", "none", "0.1"]), Value::Nil);
    assert_eq!(ok(&mut resp2, &["BLMPOP", "0.1", "1", "none", "LEFT"]), Value::Nil);
    assert_eq!(err(&mut resp2, &["BLPOP", "k", "-1"]), "ERR timeout is negative");
    assert_eq!(err(&mut resp2, &["BLPOP", "k", "abc"]), "ERR timeout is not a float or out of range");
}

#[test]
fn waiters_are_served_first_come_first_served() {
    let server = Server::start();
    let port = server.port;
    let mut handles = Vec::new();
    for i in 0..3 {
        handles.push(thread::spawn(move || {
            let mut con = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap().get_connection().unwrap();
            ok(&mut con, &["CLIENT", "SETNAME", &format!("waiter{i}")]);
            ok(&mut con, &["BRPOP", "queue", "5"])
        }));
        // Let each waiter block before the next one arrives.
        thread::sleep(Duration::from_millis(100));
    }
    let mut pusher = server.con();
    ok(&mut pusher, &["LPUSH", "queue", "a", "b", "c"]);
    let got: Vec<Value> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    // RPOP order of [c, b, a] is a, b, c: the first waiter gets the first element.
    assert_eq!(
        got,
        vec![
            Value::Array(vec![bulk("queue"), bulk("a")]),
            Value::Array(vec![bulk("queue"), bulk("b")]),
            Value::Array(vec![bulk("queue"), bulk("c")])
        ]
    );
}

#[test]
fn bzpopmin_and_blmove_wake_on_writes() {
    let server = Server::start();
    let port = server.port;
    let waiter = thread::spawn(move || {
        let mut con = redis::Client::open(format!("redis://127.0.0.1:{port}/?protocol=resp3")).unwrap().get_connection().unwrap();
        let popped = ok(&mut con, &["BZPOPMIN", "z", "5"]);
        let moved = ok(&mut con, &["BLMOVE", "src", "dst", "LEFT", "RIGHT", "5"]);
        (popped, moved)
    });
    thread::sleep(Duration::from_millis(100));
    let mut con = server.con();
    ok(&mut con, &["ZADD", "z", "1.5", "m"]);
    thread::sleep(Duration::from_millis(100));
    ok(&mut con, &["RPUSH", "src", "item"]);
    let (popped, moved) = waiter.join().unwrap();
    assert_eq!(popped, Value::Array(vec![bulk("z"), bulk("m"), Value::Double(1.5)]));
    assert_eq!(moved, bulk("item"));
    assert_eq!(ok(&mut con, &["LRANGE", "dst", "0", "-1"]), Value::Array(vec![bulk("item")]));
}

#[test]
fn blocking_commands_do_not_block_inside_multi() {
    let server = Server::start();
    let mut con = server.con();
    ok(&mut con, &["MULTI"]);
    ok(&mut con, &["BLPOP", "empty", "0"]);
    let started = Instant::now();
    assert_eq!(ok(&mut con, &["EXEC"]), Value::Array(vec![Value::Nil]));
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[test]
fn client_unblock_wakes_with_timeout_or_error() {
    let server = Server::start();
    let mut admin = server.con();
    for (mode, expect_error) in [("TIMEOUT", false), ("ERROR", true)] {
        let mut blocked = server.con();
        let Value::Int(id) = ok(&mut blocked, &["CLIENT", "ID"]) else { panic!() };
        let waiter = thread::spawn(move || common::q(&mut blocked, &["BLPOP", "never", "0"]));
        let deadline = Instant::now() + Duration::from_secs(5);
        while ok(&mut admin, &["CLIENT", "UNBLOCK", &id.to_string(), mode]) != Value::Int(1) {
            assert!(Instant::now() < deadline, "client never blocked");
            thread::sleep(Duration::from_millis(20));
        }
        let result = waiter.join().unwrap();
        if expect_error {
            assert_eq!(result.unwrap_err(), "UNBLOCKED client unblocked via CLIENT UNBLOCK");
        } else {
            assert_eq!(result.unwrap(), Value::Nil);
        }
    }
    assert_eq!(ok(&mut admin, &["CLIENT", "UNBLOCK", "999999"]), Value::Int(0));
}

/// A client that disconnects while blocked leaves no waiter behind and takes no element.
#[test]
fn a_vanished_waiter_loses_nothing() {
    let server = Server::start();
    {
        let mut raw = server.raw();
        raw.send(b"*3\r\n$5\r\nBLPOP\r\n$1\r\nq\r\n$1\r\n0\r\n");
        thread::sleep(Duration::from_millis(100));
    }
    thread::sleep(Duration::from_millis(100));
    let mut con = server.con();
    ok(&mut con, &["RPUSH", "q", "kept"]);
    thread::sleep(Duration::from_millis(100));
    assert_eq!(ok(&mut con, &["LRANGE", "q", "0", "-1"]), Value::Array(vec![bulk("kept")]));
    let Value::BulkString(info) = ok(&mut con, &["INFO", "clients"]) else { panic!() };
    assert!(String::from_utf8(info).unwrap().contains("blocked_clients:0\r\n"));
}

/// Blocks a new connection on `BLPOP key 5` and waits until the server counts it blocked.
fn blocked_blpop(server: &Server, admin: &mut redis::Connection, key: &str) -> thread::JoinHandle<Value> {
    let port = server.port;
    let key = key.to_owned();
    let waiter = thread::spawn(move || {
        let mut con = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap().get_connection().unwrap();
        ok(&mut con, &["BLPOP", &key, "5"])
    });
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let Value::BulkString(info) = ok(admin, &["INFO", "clients"]) else { panic!() };
        if String::from_utf8(info).unwrap().contains("blocked_clients:1\r\n") {
            return waiter;
        }
        assert!(Instant::now() < deadline, "client never blocked");
        thread::sleep(Duration::from_millis(10));
    }
}

/// The waiter gets the element before the pusher's next command runs, as in Redis: a pipelined
/// LPOP right after the push finds nothing.
#[test]
fn a_waiter_is_served_before_the_pushers_next_command() {
    let server = Server::start();
    let mut pusher = server.con();
    let waiter = blocked_blpop(&server, &mut pusher, "q");
    let replies: Vec<Value> = redis::pipe().cmd("RPUSH").arg("q").arg("x").cmd("LPOP").arg("q").query(&mut pusher).unwrap();
    assert_eq!(replies, vec![Value::Int(1), Value::Nil]);
    assert_eq!(waiter.join().unwrap(), Value::Array(vec![bulk("q"), bulk("x")]));
}

/// Inside a transaction the waiter is served only after EXEC, so the transaction's own pop wins.
#[test]
fn a_waiter_is_served_after_the_pushing_transaction() {
    let server = Server::start();
    let mut pusher = server.con();
    let waiter = blocked_blpop(&server, &mut pusher, "q");
    let replies: Vec<Value> =
        redis::pipe().atomic().cmd("RPUSH").arg("q").arg("x").arg("y").cmd("LPOP").arg("q").query(&mut pusher).unwrap();
    assert_eq!(replies, vec![Value::Int(2), bulk("x")]);
    assert_eq!(waiter.join().unwrap(), Value::Array(vec![bulk("q"), bulk("y")]));
    assert_eq!(ok(&mut pusher, &["EXISTS", "q"]), Value::Int(0));
}
