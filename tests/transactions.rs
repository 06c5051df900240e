//! MULTI/EXEC/DISCARD/WATCH through a real client, over RESP2 and RESP3.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::{bulk, err, ok, Server};
use redis::Value;

fn status(text: &str) -> Value {
    Value::SimpleString(text.to_owned())
}

#[test]
fn exec_runs_queued_commands_and_returns_their_replies() {
    let server = Server::start();
    for protocol in [2, 3] {
        let mut con = server.con_proto(protocol);
        ok(&mut con, &["DEL", "a", "l"]);
        assert_eq!(ok(&mut con, &["MULTI"]), Value::Okay);
        assert_eq!(ok(&mut con, &["INCR", "a"]), status("QUEUED"));
        assert_eq!(ok(&mut con, &["SET", "l", "x"]), status("QUEUED"));
        assert_eq!(ok(&mut con, &["GET", "l"]), status("QUEUED"));
        assert_eq!(ok(&mut con, &["EXEC"]), Value::Array(vec![Value::Int(1), Value::Okay, bulk("x")]));
    }
}

/// A runtime error inside EXEC is that command's reply; the others still run (raw socket: the
/// redis crate turns an array holding an error into an error).
#[test]
fn runtime_errors_stay_inside_the_exec_reply() {
    let server = Server::start();
    let mut raw = server.raw();
    raw.send(b"MULTI\r\nSET l x\r\nLPUSH l y\r\nINCR n\r\nEXEC\r\n");
    let lines: Vec<String> = (0..8).map(|_| raw.read_line()).collect();
    assert_eq!(
        lines,
        ["+OK", "+QUEUED", "+QUEUED", "+QUEUED", "*3", "+OK", "-WRONGTYPE Operation against a key holding the wrong kind of value", ":1"]
    );
}

#[test]
fn errors_while_queueing_abort_exec() {
    let server = Server::start();
    let mut con = server.con();
    ok(&mut con, &["MULTI"]);
    assert_eq!(err(&mut con, &["GET"]), "ERR wrong number of arguments for 'get' command");
    ok(&mut con, &["SET", "k", "v"]);
    assert_eq!(err(&mut con, &["EXEC"]), "EXECABORT Transaction discarded because of previous errors.");
    assert_eq!(ok(&mut con, &["EXISTS", "k"]), Value::Int(0));
    assert_eq!(err(&mut con, &["EXEC"]), "ERR EXEC without MULTI");
    assert_eq!(err(&mut con, &["DISCARD"]), "ERR DISCARD without MULTI");
    ok(&mut con, &["MULTI"]);
    assert_eq!(err(&mut con, &["MULTI"]), "ERR MULTI calls can not be nested");
    assert_eq!(err(&mut con, &["WATCH", "k"]), "ERR WATCH inside MULTI is not allowed");
    ok(&mut con, &["SET", "k", "v"]);
    assert_eq!(ok(&mut con, &["DISCARD"]), Value::Okay);
    assert_eq!(ok(&mut con, &["EXISTS", "k"]), Value::Int(0));
}

#[test]
fn watch_is_broken_by_another_clients_write() {
    let server = Server::start();
    let mut watcher = server.con();
    let mut other = server.con();
    ok(&mut watcher, &["SET", "balance", "10"]);
    ok(&mut watcher, &["WATCH", "balance"]);
    ok(&mut other, &["INCRBY", "balance", "5"]);
    ok(&mut watcher, &["MULTI"]);
    ok(&mut watcher, &["DECRBY", "balance", "3"]);
    assert_eq!(ok(&mut watcher, &["EXEC"]), Value::Nil);
    assert_eq!(ok(&mut watcher, &["GET", "balance"]), bulk("15"));

    // Without interference the same transaction commits, and EXEC forgets the watch.
    ok(&mut watcher, &["WATCH", "balance"]);
    ok(&mut watcher, &["MULTI"]);
    ok(&mut watcher, &["DECRBY", "balance", "3"]);
    assert_eq!(ok(&mut watcher, &["EXEC"]), Value::Array(vec![Value::Int(12)]));
    ok(&mut other, &["SET", "balance", "0"]);
    ok(&mut watcher, &["MULTI"]);
    ok(&mut watcher, &["INCR", "balance"]);
    assert_eq!(ok(&mut watcher, &["EXEC"]), Value::Array(vec![Value::Int(1)]));
}

/// MOVE and COPY ... DB write a key of another database: its WATCHers there see it, as in Redis.
#[test]
fn watch_is_broken_by_a_move_or_copy_into_its_database() {
    let server = Server::start();
    let mut watcher = server.con();
    let mut other = server.con();
    ok(&mut watcher, &["SELECT", "1"]);
    for write in [&["MOVE", "k", "1"][..], &["COPY", "k", "k", "DB", "1"]] {
        ok(&mut watcher, &["DEL", "k"]);
        ok(&mut other, &["SET", "k", "v"]);
        ok(&mut watcher, &["WATCH", "k"]);
        assert_eq!(ok(&mut other, write), Value::Int(1));
        ok(&mut watcher, &["MULTI"]);
        ok(&mut watcher, &["GET", "k"]);
        assert_eq!(ok(&mut watcher, &["EXEC"]), Value::Nil, "{write:?}");
    }
}

#[test]
fn watch_is_broken_by_expiry_and_flushall_but_not_by_unwatch() {
    let server = Server::start();
    let mut con = server.con();
    let mut other = server.con();
    ok(&mut con, &["SET", "t", "1", "PX", "50"]);
    ok(&mut con, &["WATCH", "t"]);
    thread::sleep(Duration::from_millis(120));
    ok(&mut con, &["MULTI"]);
    ok(&mut con, &["SET", "x", "1"]);
    assert_eq!(ok(&mut con, &["EXEC"]), Value::Nil, "a watched key that expired aborts EXEC");

    ok(&mut con, &["SET", "f", "1"]);
    ok(&mut con, &["WATCH", "f"]);
    ok(&mut other, &["FLUSHALL"]);
    ok(&mut con, &["MULTI"]);
    ok(&mut con, &["SET", "x", "1"]);
    assert_eq!(ok(&mut con, &["EXEC"]), Value::Nil, "FLUSHALL touches every watched key");

    ok(&mut con, &["WATCH", "u"]);
    ok(&mut con, &["UNWATCH"]);
    ok(&mut other, &["SET", "u", "changed"]);
    ok(&mut con, &["MULTI"]);
    ok(&mut con, &["GET", "u"]);
    assert_eq!(ok(&mut con, &["EXEC"]), Value::Array(vec![bulk("changed")]));
}

/// Two clients race WATCH/MULTI/INCR/EXEC retries on one counter: every committed increment counts
/// once, so the final value equals the number of successful EXECs.
#[test]
fn optimistic_increments_race_without_lost_updates() {
    let server = Server::start();
    let mut setup = server.con();
    ok(&mut setup, &["SET", "counter", "0"]);
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let mut con = server.con();
            thread::spawn(move || {
                let mut committed = 0;
                while committed < 50 {
                    ok(&mut con, &["WATCH", "counter"]);
                    let Value::BulkString(current) = ok(&mut con, &["GET", "counter"]) else { panic!() };
                    let next = String::from_utf8(current).unwrap().parse::<i64>().unwrap() + 1;
                    ok(&mut con, &["MULTI"]);
                    ok(&mut con, &["SET", "counter", &next.to_string()]);
                    if ok(&mut con, &["EXEC"]) != Value::Nil {
                        committed += 1;
                    }
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    assert_eq!(ok(&mut setup, &["GET", "counter"]), bulk("200"));
}

/// While one client runs a long transaction, another client never sees it half done.
#[test]
fn exec_is_atomic_to_other_clients() {
    let server = Server::start();
    let stop = Arc::new(AtomicBool::new(false));
    let mut reader = server.con();
    let observer = {
        let stop = stop.clone();
        thread::spawn(move || {
            let mut torn = 0;
            while !stop.load(Ordering::Relaxed) {
                let Value::Array(values) = ok(&mut reader, &["MGET", "a", "b"]) else { panic!() };
                if values[0] != values[1] {
                    torn += 1;
                }
            }
            torn
        })
    };
    let mut writer = server.con();
    for round in 0..300 {
        let value = round.to_string();
        ok(&mut writer, &["MULTI"]);
        ok(&mut writer, &["SET", "a", &value]);
        ok(&mut writer, &["SET", "b", &value]);
        ok(&mut writer, &["EXEC"]);
    }
    stop.store(true, Ordering::Relaxed);
    assert_eq!(observer.join().unwrap(), 0, "a reader saw a transaction half applied");
}

/// Whether another client's command breaks a WATCH on `k`, compared with a real redis-server:
/// writes that change the key do, writes that turn out to change nothing do not.
#[test]
fn watch_is_broken_exactly_when_redis_breaks_it() {
    let scenarios: &[(&[&str], &[&str])] = &[
        (&["SET k v"], &["SET k w"]),
        (&["SET k v"], &["SET k w NX"]),
        (&[], &["SET k w XX"]),
        (&["SET k v"], &["SETNX k w"]),
        (&["SET k v"], &["MSETNX k w other x"]),
        (&[], &["DEL k"]),
        (&["SET k v"], &["DEL k"]),
        (&[], &["UNLINK k"]),
        (&[], &["GETDEL k"]),
        (&[], &["EXPIRE k 100"]),
        (&["SET k v"], &["EXPIRE k 100"]),
        (&["SET k v EX 100"], &["EXPIRE k 50 GT"]),
        (&["SET k v"], &["PERSIST k"]),
        (&["SET k v EX 100"], &["PERSIST k"]),
        (&[], &["LPUSHX k a"]),
        (&[], &["RPOP k"]),
        (&["RPUSH k a"], &["RPOP k"]),
        (&["RPUSH k a"], &["LREM k 0 b"]),
        (&["RPUSH k a"], &["LINSERT k BEFORE b c"]),
        (&["HSET k f v"], &["HSETNX k f w"]),
        (&["HSET k f v"], &["HDEL k g"]),
        (&["HSET k f v"], &["HSET k f v"]),
        (&["SADD k a"], &["SADD k a"]),
        (&["SADD k a"], &["SREM k b"]),
        (&["SADD k a"], &["SMOVE k other b"]),
        (&["ZADD k 1 a"], &["ZADD k 1 a"]),
        (&["ZADD k 1 a"], &["ZADD k NX 2 a"]),
        (&["ZADD k 1 a"], &["ZADD k 2 a"]),
        (&["ZADD k 1 a"], &["ZREM k b"]),
        (&["ZADD k 1 a"], &["ZREMRANGEBYSCORE k 5 10"]),
        (&[], &["ZPOPMIN k"]),
        (&["SET k v"], &["RENAMENX other k"]),
        (&["SET other v"], &["RENAMENX other k"]),
        (&["SET other v"], &["COPY other k"]),
        (&["SET k v", "SET other v"], &["COPY other k"]),
        (&["SET k v"], &["APPEND k x"]),
        (&["SET k v"], &["SETRANGE k 0 \"\""]),
        (&["XADD k 1-1 f v"], &["XDEL k 2-2"]),
        (&["XADD k 1-1 f v"], &["XTRIM k MAXLEN 5"]),
        (&["SET k 1"], &["INCRBY k 0"]),
        (&["SET k v"], &["GETEX k"]),
        (&["SET k v"], &["GETEX k PERSIST"]),
        // Multi-key writes break the WATCH only on the keys they changed.
        (&["SET other v"], &["DEL other k"]),
        (&["SET k v"], &["DEL other k"]),
        (&["SET other v"], &["UNLINK k other"]),
        (&["SET other v"], &["EXISTS k other", "TOUCH k other"]),
        (&["RPUSH other a"], &["LMOVE other k LEFT LEFT"]),
        (&["RPUSH k a"], &["LMOVE other k LEFT LEFT"]),
        (&["RPUSH other a"], &["LMPOP 2 k other LEFT"]),
        (&["RPUSH k a"], &["LMPOP 2 other k LEFT"]),
        (&["ZADD other 1 a"], &["ZMPOP 2 k other MIN"]),
        (&["SADD other a"], &["SMOVE other k a"]),
        (&["SADD other a"], &["SMOVE k other a"]),
        (&["SADD other a", "SADD k a"], &["SMOVE other k a"]),
        (&["SET k v"], &["COPY k other DB 1"]),
        (&["SADD other a"], &["SINTERSTORE dst k other"]),
        (&["SADD other a"], &["SUNIONSTORE k other"]),
        (&["SET other v"], &["RENAME other k"]),
        (&["SET k v"], &["COPY k other"]),
        (&["SET other v"], &["MSET other w k w"]),
        (&["SET other v"], &["MSETNX other w k w"]),
        (&["SET other 1"], &["BITOP AND dst k other"]),
        (&["PFADD other a"], &["PFMERGE dst k other"]),
        (&["ZADD other 1 a"], &["ZUNIONSTORE dst 2 k other"]),
    ];
    let strata = Server::start();
    let redis = Server::start_redis();
    let mut differences = Vec::new();
    for (setup, command) in scenarios {
        let outcome = |server: &Server| {
            let mut watcher = server.con();
            let mut other = server.con();
            ok(&mut watcher, &["FLUSHALL"]);
            for line in setup.iter() {
                let words: Vec<&str> = line.split(' ').collect();
                ok(&mut other, &words);
            }
            ok(&mut watcher, &["WATCH", "k"]);
            for line in command.iter() {
                let words: Vec<&str> = line.split(' ').map(|w| if w == "\"\"" { "" } else { w }).collect();
                let _ = common::q(&mut other, &words);
            }
            ok(&mut watcher, &["MULTI"]);
            ok(&mut watcher, &["PING"]);
            ok(&mut watcher, &["EXEC"]) == Value::Nil
        };
        let (ours, theirs) = (outcome(&strata), outcome(&redis));
        if ours != theirs {
            differences.push(format!("{setup:?} then {command:?}: strata broke the watch: {ours}, redis: {theirs}"));
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}
