//! Lua scripting through a real client: EVAL/EVALSHA with the redis crate's Script helper,
//! RESP3 conversions, undeclared keys, COMMAND GETKEYS, atomicity against a concurrent client,
//! BUSY and SCRIPT KILL / FUNCTION KILL from a second connection, and FUNCTION libraries.
//!
//! The BUSY tests run strata with one event loop: the script holds it, so the clients that
//! connect meanwhile are served by the spare loop, which is what they exercise.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::{bulk, err, ok, q, Server};
use redis::Value;

#[test]
fn script_helper_loads_on_noscript_and_reuses_the_sha() {
    let server = Server::start();
    let mut con = server.con();
    let script = redis::Script::new("redis.call('SET', KEYS[1], ARGV[1]) return redis.call('INCRBY', KEYS[2], ARGV[2])");
    // The first invoke gets NOSCRIPT from EVALSHA and falls back to loading the script.
    let first: i64 = script.key("name").key("counter").arg("strata").arg(5).invoke(&mut con).unwrap();
    let second: i64 = script.key("name").key("counter").arg("strata").arg(5).invoke(&mut con).unwrap();
    assert_eq!((first, second), (5, 10));
    assert_eq!(ok(&mut con, &["GET", "name"]), bulk("strata"));
    let exists = ok(&mut con, &["SCRIPT", "EXISTS", script.get_hash(), "0000000000000000000000000000000000000000"]);
    assert_eq!(exists, Value::Array(vec![Value::Int(1), Value::Int(0)]));
    assert_eq!(ok(&mut con, &["SCRIPT", "FLUSH"]), Value::Okay);
    assert_eq!(err(&mut con, &["EVALSHA", script.get_hash(), "0"]), "NOSCRIPT No matching script. Please use EVAL.");
}

#[test]
fn resp3_clients_get_maps_sets_doubles_and_booleans() {
    let server = Server::start();
    let mut con = server.con3();
    ok(&mut con, &["HSET", "h", "f", "v"]);
    let map = ok(&mut con, &["EVAL", "redis.setresp(3) return redis.call('HGETALL', KEYS[1])", "1", "h"]);
    assert_eq!(map, Value::Map(vec![(bulk("f"), bulk("v"))]));
    assert_eq!(ok(&mut con, &["EVAL", "return {double=1.5}", "0"]), Value::Double(1.5));
    assert_eq!(ok(&mut con, &["EVAL", "redis.setresp(3) return true", "0"]), Value::Boolean(true));
    // Without setresp(3) a script speaks RESP2: true is 1 and false is nil, whatever the client speaks.
    assert_eq!(ok(&mut con, &["EVAL", "return true", "0"]), Value::Int(1));
    assert_eq!(ok(&mut con, &["EVAL", "return false", "0"]), Value::Nil);
    assert_eq!(ok(&mut con, &["EVAL", "return {set={a=true}}", "0"]), Value::Set(vec![bulk("a")]));
}

#[test]
fn scripts_may_touch_undeclared_keys_and_getkeys_reports_the_declared_ones() {
    let server = Server::start();
    let mut con = server.con();
    let body = "redis.call('SET', 'undeclared:' .. ARGV[1], 1) return redis.call('LPUSH', KEYS[1], ARGV[1])";
    assert_eq!(ok(&mut con, &["EVAL", body, "1", "queue", "job1"]), Value::Int(1));
    assert_eq!(ok(&mut con, &["GET", "undeclared:job1"]), bulk("1"));
    let keys = ok(&mut con, &["COMMAND", "GETKEYS", "EVAL", body, "2", "a", "b", "arg"]);
    assert_eq!(keys, Value::Array(vec![bulk("a"), bulk("b")]));
    let keys = ok(&mut con, &["COMMAND", "GETKEYS", "FCALL", "f", "1", "k", "arg"]);
    assert_eq!(keys, Value::Array(vec![bulk("k")]));
}

#[test]
fn a_concurrent_client_never_sees_a_scripts_intermediate_state() {
    let server = Server::start();
    let mut con = server.con();
    ok(&mut con, &["MSET", "a", "0", "b", "0"]);
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let stop = stop.clone();
        let mut con = server.con();
        thread::spawn(move || {
            let mut checks = 0;
            while !stop.load(Ordering::Relaxed) {
                let Value::Array(values) = ok(&mut con, &["MGET", "a", "b"]) else { panic!("MGET") };
                assert_eq!(values[0], values[1], "saw a half-applied script");
                checks += 1;
            }
            checks
        })
    };
    // Each run moves both counters together, with many commands in between.
    let body = "for i = 1, 50 do redis.call('INCR', 'a') redis.call('PING') redis.call('INCR', 'b') end";
    for _ in 0..100 {
        ok(&mut con, &["EVAL", body, "0"]);
    }
    stop.store(true, Ordering::Relaxed);
    assert!(watcher.join().unwrap() > 0);
    assert_eq!(ok(&mut con, &["GET", "a"]), bulk("5000"));
}

/// Starts `body` on its own connection; returns the thread that waits for its reply.
fn run_in_background(server: &Server, command: &[&str]) -> thread::JoinHandle<Result<Value, String>> {
    let mut con = server.con();
    let command: Vec<String> = command.iter().map(|s| s.to_string()).collect();
    thread::spawn(move || {
        let args: Vec<&str> = command.iter().map(String::as_str).collect();
        q(&mut con, &args)
    })
}

/// A connection made while a script holds the only event loop, once it answers BUSY (the script
/// has passed busy-reply-threshold), with that BUSY line.
fn connect_while_busy(server: &Server) -> (redis::Connection, String) {
    // Let the script start first.
    thread::sleep(Duration::from_millis(100));
    let mut con = server.con();
    let busy = wait_for_busy(&mut con);
    (con, busy)
}

/// Polls until a command answers BUSY.
fn wait_for_busy(con: &mut redis::Connection) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match q(con, &["GET", "x"]) {
            Err(line) if line.starts_with("BUSY") => return line,
            _ => assert!(Instant::now() < deadline, "the script never became busy"),
        }
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_busy_script_is_killed_by_script_kill_from_another_connection() {
    // One event loop: the killer shares it with the script's connection and must still get through.
    let server = Server::start_with(&["--busy-reply-threshold", "100", "--threads", "1"]);
    let mut con = server.con();
    assert_eq!(err(&mut con, &["SCRIPT", "KILL"]), "NOTBUSY No scripts in execution right now.");
    drop(con);
    let script = run_in_background(&server, &["EVAL", "local i = 0 while true do i = i + 1 end", "0"]);
    let (mut con, busy) = connect_while_busy(&server);
    assert_eq!(busy, "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.");
    assert!(err(&mut con, &["FUNCTION", "KILL"]).starts_with("BUSY"));
    assert_eq!(ok(&mut con, &["SCRIPT", "KILL"]), Value::Okay);
    let reply = script.join().unwrap().unwrap_err();
    assert!(reply.starts_with("ERR Script killed by user with SCRIPT KILL..."), "{reply}");
    assert_eq!(ok(&mut con, &["PING"]), Value::SimpleString("PONG".into()));
}

#[test]
fn a_script_that_wrote_cannot_be_killed() {
    let server = Server::start_with(&["--busy-reply-threshold", "100", "--threads", "1"]);
    // Runs for two to three seconds of server time.
    let body = "redis.call('SET', 'written', '1') local stop = tonumber(redis.call('TIME')[1]) + 3 \
                while tonumber(redis.call('TIME')[1]) < stop do end return 'done'";
    let script = run_in_background(&server, &["EVAL", body, "0"]);
    let (mut con, _) = connect_while_busy(&server);
    assert!(err(&mut con, &["SCRIPT", "KILL"]).starts_with("UNKILLABLE Sorry the script already executed write commands"));
    // It runs to completion; its write stays.
    assert_eq!(script.join().unwrap().unwrap(), bulk("done"));
    assert_eq!(ok(&mut con, &["GET", "written"]), bulk("1"));
}

#[test]
fn a_busy_function_is_killed_by_function_kill_and_shows_in_function_stats() {
    let server = Server::start_with(&["--busy-reply-threshold", "100", "--threads", "1"]);
    let mut con = server.con();
    let library = "#!lua name=spin\nredis.register_function('spin', function(keys, args) while true do end end)";
    assert_eq!(ok(&mut con, &["FUNCTION", "LOAD", library]), bulk("spin"));
    drop(con);
    let function = run_in_background(&server, &["FCALL", "spin", "0"]);
    let (mut con, busy) = connect_while_busy(&server);
    assert_eq!(busy, "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.");
    let Value::Array(stats) = ok(&mut con, &["FUNCTION", "STATS"]) else { panic!("FUNCTION STATS") };
    let Value::Array(running) = &stats[1] else { panic!("running_script: {stats:?}") };
    assert_eq!(running[..4], [bulk("name"), bulk("spin"), bulk("command"), Value::Array(vec![bulk("FCALL"), bulk("spin"), bulk("0")])]);
    assert_eq!(ok(&mut con, &["FUNCTION", "KILL"]), Value::Okay);
    let reply = function.join().unwrap().unwrap_err();
    assert!(reply.starts_with("ERR Script killed by user with FUNCTION KILL..."), "{reply}");
}

#[test]
fn functions_load_call_list_dump_and_restore() {
    let server = Server::start();
    let mut con = server.con();
    let library = "#!lua name=jobs\n\
        redis.register_function('enqueue', function(keys, args) return redis.call('RPUSH', keys[1], args[1]) end)\n\
        redis.register_function{function_name='peek', callback=function(keys) return redis.call('LINDEX', keys[1], 0) end, flags={'no-writes'}}";
    assert_eq!(ok(&mut con, &["FUNCTION", "LOAD", library]), bulk("jobs"));
    assert_eq!(ok(&mut con, &["FCALL", "enqueue", "1", "q", "job-1"]), Value::Int(1));
    assert_eq!(ok(&mut con, &["FCALL_RO", "peek", "1", "q"]), bulk("job-1"));
    assert_eq!(err(&mut con, &["FCALL_RO", "enqueue", "1", "q", "x"]), "ERR Can not execute a script with write flag using *_ro command.");
    let dump = redis::cmd("FUNCTION").arg("DUMP").query::<Vec<u8>>(&mut con).unwrap();
    assert_eq!(ok(&mut con, &["FUNCTION", "FLUSH"]), Value::Okay);
    assert_eq!(err(&mut con, &["FCALL", "enqueue", "1", "q", "x"]), "ERR Function not found");
    assert_eq!(redis::cmd("FUNCTION").arg("RESTORE").arg(&dump).query::<Value>(&mut con).unwrap(), Value::Okay);
    assert_eq!(ok(&mut con, &["FCALL", "enqueue", "1", "q", "job-2"]), Value::Int(2));
    let restore_again = redis::cmd("FUNCTION").arg("RESTORE").arg(&dump).query::<Value>(&mut con).unwrap_err();
    assert_eq!(common::error_line(restore_again), "ERR Library jobs already exists");
    assert_eq!(redis::cmd("FUNCTION").arg("RESTORE").arg(&dump).arg("REPLACE").query::<Value>(&mut con).unwrap(), Value::Okay);
    let Value::Array(libraries) = ok(&mut con, &["FUNCTION", "LIST"]) else { panic!("FUNCTION LIST") };
    assert_eq!(libraries.len(), 1);
}

#[test]
fn scripts_inside_multi_run_in_the_transaction() {
    let server = Server::start();
    let mut con = server.con();
    ok(&mut con, &["MULTI"]);
    ok(&mut con, &["SET", "k", "1"]);
    ok(&mut con, &["EVAL", "return redis.call('INCR', 'k')", "0"]);
    assert_eq!(ok(&mut con, &["EXEC"]), Value::Array(vec![Value::Okay, Value::Int(2)]));
}

#[test]
fn lua_time_limit_is_an_alias_of_busy_reply_threshold() {
    let server = Server::start();
    let mut con = server.con();
    ok(&mut con, &["CONFIG", "SET", "lua-time-limit", "1234"]);
    assert_eq!(ok(&mut con, &["CONFIG", "GET", "busy-reply-threshold"]), Value::Array(vec![bulk("busy-reply-threshold"), bulk("1234")]));
}

#[test]
fn info_memory_counts_cached_scripts_and_functions() {
    let server = Server::start();
    let mut con = server.con();
    let field = |con: &mut redis::Connection, name: &str| -> String {
        let Value::BulkString(text) = ok(con, &["INFO", "memory"]) else { panic!("INFO") };
        let text = String::from_utf8(text).unwrap();
        let line = text.lines().find(|l| l.starts_with(&format!("{name}:"))).unwrap_or_else(|| panic!("{name} missing"));
        line.split_once(':').unwrap().1.to_owned()
    };
    assert_eq!(field(&mut con, "number_of_cached_scripts"), "0");
    ok(&mut con, &["SCRIPT", "LOAD", "return 1"]);
    ok(&mut con, &["EVAL", "return 2", "0"]);
    ok(&mut con, &["FUNCTION", "LOAD", "#!lua name=l\nredis.register_function('f', function() return 1 end)"]);
    assert_eq!(field(&mut con, "number_of_cached_scripts"), "2");
    assert_eq!(field(&mut con, "number_of_functions"), "1");
    assert!(field(&mut con, "used_memory_vm_eval").parse::<u64>().unwrap() > 0);
    assert_eq!(field(&mut con, "used_memory_scripts_eval"), "16");
}

#[test]
fn shutdown_nosave_ends_a_server_stuck_in_a_script() {
    let mut server = Server::start_with(&["--busy-reply-threshold", "100", "--threads", "1"]);
    let _script = run_in_background(&server, &["EVAL", "redis.call('SET', 'x', 1) while true do end", "0"]);
    let (mut con, _) = connect_while_busy(&server);
    assert!(err(&mut con, &["SHUTDOWN"]).starts_with("BUSY"));
    let _ = q(&mut con, &["SHUTDOWN", "NOSAVE"]);
    assert!(server.wait_exit(Duration::from_secs(10)).is_some(), "the server is still running");
}
