//! Blocking pops and stream reads served across connections, timeouts, CLIENT UNBLOCK and KILL,
//! and behaviour inside MULTI.

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

/// Runs `command` on a new connection (selecting `db` first) and returns once the server counts
/// `blocked` clients; the handle yields the command's reply or error.
fn blocked_in(
    server: &Server,
    admin: &mut redis::Connection,
    db: u32,
    command: &[&str],
    blocked: usize,
) -> thread::JoinHandle<Result<Value, String>> {
    let port = server.port;
    let command: Vec<String> = command.iter().map(|word| word.to_string()).collect();
    let waiter = thread::spawn(move || {
        let mut con = redis::Client::open(format!("redis://127.0.0.1:{port}/{db}")).unwrap().get_connection().unwrap();
        let words: Vec<&str> = command.iter().map(String::as_str).collect();
        common::q(&mut con, &words)
    });
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let Value::BulkString(info) = ok(admin, &["INFO", "clients"]) else { panic!() };
        if String::from_utf8(info).unwrap().contains(&format!("blocked_clients:{blocked}\r\n")) {
            return waiter;
        }
        assert!(Instant::now() < deadline, "client never blocked");
        thread::sleep(Duration::from_millis(10));
    }
}

fn blocked_blpop(server: &Server, admin: &mut redis::Connection, key: &str) -> thread::JoinHandle<Result<Value, String>> {
    blocked_in(server, admin, 0, &["BLPOP", key, "5"], 1)
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
    assert_eq!(waiter.join().unwrap(), Ok(Value::Array(vec![bulk("q"), bulk("x")])));
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
    assert_eq!(waiter.join().unwrap(), Ok(Value::Array(vec![bulk("q"), bulk("y")])));
    assert_eq!(ok(&mut pusher, &["EXISTS", "q"]), Value::Int(0));
}

/// The id of the client blocked in `command`, from CLIENT LIST (which flags it `b`).
fn blocked_client_id(admin: &mut redis::Connection, command: &str) -> String {
    let Value::BulkString(list) = ok(admin, &["CLIENT", "LIST"]) else { panic!() };
    let list = String::from_utf8(list).unwrap();
    let line = list.lines().find(|line| line.contains(&format!(" cmd={command} "))).expect("blocked client listed");
    assert!(line.contains(" flags=b "), "{line}");
    line.split(' ').find_map(|field| field.strip_prefix("id=")).unwrap().to_owned()
}

/// CLIENT UNBLOCK and CLIENT KILL end the wait at once: a push right after them (same pipeline)
/// stays in the list, as in Redis.
#[test]
fn unblocked_or_killed_waiters_take_nothing_pushed_after() {
    let server = Server::start();
    let mut admin = server.con();
    ok(&mut admin, &["CONFIG", "RESETSTAT"]);
    let waiter = blocked_blpop(&server, &mut admin, "q");
    let id = blocked_client_id(&mut admin, "blpop");
    let replies: Vec<Value> =
        redis::pipe().cmd("CLIENT").arg("UNBLOCK").arg(&id).arg("ERROR").cmd("RPUSH").arg("q").arg("x").query(&mut admin).unwrap();
    assert_eq!(replies, vec![Value::Int(1), Value::Int(1)]);
    assert_eq!(waiter.join().unwrap(), Err("UNBLOCKED client unblocked via CLIENT UNBLOCK".to_owned()));
    assert_eq!(ok(&mut admin, &["CLIENT", "UNBLOCK", &id]), Value::Int(0), "no longer blocked");
    // Counted as in Redis: the call when it blocked, the failure and the error when unblocked.
    let Value::BulkString(stats) = ok(&mut admin, &["INFO", "all"]) else { panic!() };
    let stats = String::from_utf8(stats).unwrap();
    assert!(stats.contains("cmdstat_blpop:calls=1,") && stats.contains(",rejected_calls=0,failed_calls=1\r\n"), "{stats}");
    assert!(stats.contains("errorstat_UNBLOCKED:count=1\r\n") && stats.contains("total_error_replies:1\r\n"));

    ok(&mut admin, &["DEL", "q"]);
    let waiter = blocked_blpop(&server, &mut admin, "q");
    let id = blocked_client_id(&mut admin, "blpop");
    let replies: Vec<Value> =
        redis::pipe().cmd("CLIENT").arg("KILL").arg("ID").arg(&id).cmd("RPUSH").arg("q").arg("x").query(&mut admin).unwrap();
    assert_eq!(replies, vec![Value::Int(1), Value::Int(1)]);
    assert!(waiter.join().unwrap().is_err(), "the killed client's connection closed");
    assert_eq!(ok(&mut admin, &["LRANGE", "q", "0", "-1"]), Value::Array(vec![bulk("x")]));
}

/// A key of another type does not serve a waiter (it stays blocked), as in Redis.
#[test]
fn a_key_of_another_type_leaves_the_waiter_blocked() {
    let server = Server::start();
    let mut admin = server.con();
    let list_waiter = blocked_in(&server, &mut admin, 0, &["BLPOP", "k", "5"], 1);
    let stream_waiter = blocked_in(&server, &mut admin, 0, &["XREAD", "BLOCK", "5000", "STREAMS", "s", "$"], 2);
    ok(&mut admin, &["SET", "k", "string"]);
    ok(&mut admin, &["SET", "s", "string"]);
    thread::sleep(Duration::from_millis(50));
    ok(&mut admin, &["DEL", "k", "s"]);
    ok(&mut admin, &["RPUSH", "k", "a"]);
    ok(&mut admin, &["XADD", "s", "1-1", "f", "v"]);
    assert_eq!(list_waiter.join().unwrap(), Ok(Value::Array(vec![bulk("k"), bulk("a")])));
    let entry = Value::Array(vec![bulk("1-1"), Value::Array(vec![bulk("f"), bulk("v")])]);
    assert_eq!(stream_waiter.join().unwrap(), Ok(Value::Array(vec![Value::Array(vec![bulk("s"), Value::Array(vec![entry])])])));
}

/// A consumer-group read ends when its stream or group goes away, with Redis 7.0's errors.
#[test]
fn xreadgroup_waiters_end_when_the_stream_or_group_goes() {
    let server = Server::start();
    let mut admin = server.con();
    let read = ["XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "s", ">"];
    let gone = Err("UNBLOCKED the stream key no longer exists".to_owned());
    ok(&mut admin, &["CONFIG", "RESETSTAT"]);
    for removal in [&["DEL", "s"][..], &["FLUSHALL"], &["SET", "s", "x"]] {
        ok(&mut admin, &["DEL", "s"]);
        ok(&mut admin, &["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]);
        let waiter = blocked_in(&server, &mut admin, 0, &read, 1);
        if removal[0] == "SET" {
            ok(&mut admin, &["DEL", "s"]);
        }
        ok(&mut admin, removal);
        assert_eq!(waiter.join().unwrap(), gone, "{removal:?}");
    }
    // Counted as Redis counts them: one call each when it blocked, then a failure and an error.
    let info = |section: &str, admin: &mut redis::Connection| {
        let Value::BulkString(text) = ok(admin, &["INFO", section]) else { panic!() };
        String::from_utf8(text).unwrap()
    };
    assert!(info("commandstats", &mut admin).contains("cmdstat_xreadgroup:calls=3,"), "{}", info("commandstats", &mut admin));
    assert!(info("commandstats", &mut admin).contains(",rejected_calls=0,failed_calls=3\r\n"));
    assert!(info("errorstats", &mut admin).contains("errorstat_UNBLOCKED:count=3\r\n"));
    assert!(info("stats", &mut admin).contains("total_error_replies:3\r\n"));
    ok(&mut admin, &["DEL", "s"]);
    ok(&mut admin, &["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]);
    let waiter = blocked_in(&server, &mut admin, 0, &read, 1);
    ok(&mut admin, &["XGROUP", "DESTROY", "s", "g"]);
    assert_eq!(waiter.join().unwrap(), Err("NOGROUP the consumer group this client was blocked on no longer exists".to_owned()));
}

/// A served BLMOVE's push serves the next waiter in the chain; waiters in another database are
/// served by writes there.
#[test]
fn served_moves_serve_further_waiters_in_any_database() {
    let server = Server::start();
    let mut admin = server.con();
    ok(&mut admin, &["SELECT", "1"]);
    let mover = blocked_in(&server, &mut admin, 1, &["BLMOVE", "src", "dst", "LEFT", "RIGHT", "5"], 1);
    let popper = blocked_in(&server, &mut admin, 1, &["BLPOP", "dst", "5"], 2);
    ok(&mut admin, &["RPUSH", "src", "item"]);
    assert_eq!(mover.join().unwrap(), Ok(bulk("item")));
    assert_eq!(popper.join().unwrap(), Ok(Value::Array(vec![bulk("dst"), bulk("item")])));
    assert_eq!(ok(&mut admin, &["EXISTS", "src", "dst"]), Value::Int(0));

    // MOVE brings a list into database 1, where a client waits on it.
    let popper = blocked_in(&server, &mut admin, 1, &["BLPOP", "moved", "5"], 1);
    ok(&mut admin, &["SELECT", "0"]);
    ok(&mut admin, &["RPUSH", "moved", "m"]);
    assert_eq!(ok(&mut admin, &["MOVE", "moved", "1"]), Value::Int(1));
    assert_eq!(popper.join().unwrap(), Ok(Value::Array(vec![bulk("moved"), bulk("m")])));
}

/// With two event loops, clients popping on the other loop at the moment of a push never take the
/// element from a blocked client: pushes to awaited keys run exclusively and serve the waiters
/// before anything else runs. (Racy by nature: without that guarantee some rounds fail.)
#[test]
fn pops_on_other_loops_never_overtake_a_waiter() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    let server = Server::start_with(&["--threads", "2"]);
    let mut admin = server.con();
    let stop = Arc::new(AtomicBool::new(false));
    // Several connections, so some land on the loop the pusher is not on.
    let poppers: Vec<_> = (0..4)
        .map(|_| {
            let mut con = server.con();
            let stop = stop.clone();
            thread::spawn(move || {
                let mut stolen = 0;
                while !stop.load(Ordering::Relaxed) {
                    if ok(&mut con, &["LPOP", "q"]) != Value::Nil {
                        stolen += 1;
                    }
                }
                stolen
            })
        })
        .collect();
    let mut pusher = server.con();
    for round in 0..100 {
        let waiter = blocked_blpop(&server, &mut admin, "q");
        ok(&mut pusher, &["RPUSH", "q", &round.to_string()]);
        assert_eq!(waiter.join().unwrap(), Ok(Value::Array(vec![bulk("q"), bulk(&round.to_string())])), "round {round}");
    }
    stop.store(true, Ordering::Relaxed);
    let stolen: usize = poppers.into_iter().map(|p| p.join().unwrap()).sum();
    assert_eq!(stolen, 0);
}

/// CLIENT REPLY SKIP before a blocking command skips the answer it gets when served, as in Redis.
#[test]
fn client_reply_skip_applies_to_the_served_answer() {
    let server = Server::start();
    let mut admin = server.con();
    let mut raw = server.raw();
    raw.send(b"CLIENT REPLY SKIP\r\nBLPOP q 5\r\n");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let Value::BulkString(info) = ok(&mut admin, &["INFO", "clients"]) else { panic!() };
        if String::from_utf8(info).unwrap().contains("blocked_clients:1\r\n") {
            break;
        }
        assert!(Instant::now() < deadline, "client never blocked");
        thread::sleep(Duration::from_millis(10));
    }
    ok(&mut admin, &["RPUSH", "q", "x"]);
    raw.send(b"PING\r\n");
    assert_eq!(raw.read_line(), "+PONG");
    assert_eq!(ok(&mut admin, &["EXISTS", "q"]), Value::Int(0), "served all the same");
}
