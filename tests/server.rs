//! Server commands: INFO, CONFIG GET/SET/REWRITE/RESETSTAT, SLOWLOG, MONITOR, COMMAND, DEBUG, TIME,
//! SHUTDOWN and SIGTERM; reply shapes compared with redis-server where values can't be.

mod common;

use std::time::Duration;

use common::{array, as_int, as_pairs, as_text, bulk, err, int, ok, q, status, Server};
use redis::Value;

/// A reply's shape: variants and nesting, not values (arrays by their distinct element shapes).
fn shape(value: &Value) -> String {
    match value {
        Value::Nil => "nil".into(),
        Value::Int(_) => "int".into(),
        Value::BulkString(_) => "bulk".into(),
        Value::SimpleString(_) => "status".into(),
        Value::Okay => "ok".into(),
        Value::Double(_) => "double".into(),
        Value::Boolean(_) => "bool".into(),
        Value::VerbatimString { .. } => "verbatim".into(),
        Value::Array(items) | Value::Set(items) => {
            let mut shapes: Vec<String> = items.iter().map(shape).collect();
            shapes.sort();
            shapes.dedup();
            format!("[{}]", shapes.join("|"))
        }
        Value::Map(pairs) => {
            let mut shapes: Vec<String> = pairs.iter().map(|(k, v)| format!("{}=>{}", shape(k), shape(v))).collect();
            shapes.sort();
            shapes.dedup();
            format!("{{{}}}", shapes.join("|"))
        }
        other => format!("{other:?}"),
    }
}

/// Commands whose values differ between servers (times, ids, addresses) but whose reply types must
/// not: a client decodes them by type.
const SHAPED: &[&[&str]] = &[
    &["TIME"],
    &["LASTSAVE"],
    &["CLIENT", "ID"],
    &["CLIENT", "INFO"],
    &["CLIENT", "LIST"],
    &["CLIENT", "GETNAME"],
    &["INFO"],
    &["INFO", "server"],
    &["CONFIG", "GET", "maxclients"],
    &["CONFIG", "GET", "maxclients", "timeout"],
    &["CONFIG", "GET", "nosuchsetting"],
    &["CONFIG", "RESETSTAT"],
    &["SLOWLOG", "LEN"],
    &["SLOWLOG", "GET"],
    &["SLOWLOG", "RESET"],
    &["SLOWLOG", "HELP"],
    &["CLIENT", "HELP"],
    &["CONFIG", "HELP"],
    &["COMMAND", "COUNT"],
    // (Not COMMAND DOCS: strata's entries have no `complexity` and `arguments` yet.)
    &["COMMAND", "INFO", "get", "nosuch"],
    &["COMMAND", "GETKEYS", "MSET", "a", "1", "b", "2"],
    &["COMMAND", "GETKEYSANDFLAGS", "SET", "a", "1"],
    &["COMMAND", "LIST", "FILTERBY", "PATTERN", "getex"],
    &["OBJECT", "IDLETIME", "k"],
    &["OBJECT", "REFCOUNT", "k"],
    &["OBJECT", "ENCODING", "k"],
    &["WAIT", "0", "0"],
    &["DBSIZE"],
    &["HELLO", "3"],
    &["HELLO", "2"],
];

#[test]
fn reply_shapes_match_redis() {
    let strata = Server::start();
    let redis = Server::start_redis();
    let mut mismatches = Vec::new();
    for protocol in [2, 3] {
        let mut ours = strata.con_proto(protocol);
        let mut theirs = redis.con_proto(protocol);
        for con in [&mut ours, &mut theirs] {
            ok(con, &["SET", "k", "v"]);
            ok(con, &["CONFIG", "SET", "slowlog-log-slower-than", "0"]);
            ok(con, &["CLIENT", "SETNAME", "shape"]);
        }
        for args in SHAPED {
            let got = q(&mut ours, args).map(|v| shape(&v));
            let expected = q(&mut theirs, args).map(|v| shape(&v));
            if got != expected {
                mismatches.push(format!("RESP{protocol} {args:?}\n    strata: {got:?}\n    redis:  {expected:?}"));
            }
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

/// Flags and categories are sets: their order carries no meaning.
fn normalized(value: &Value) -> Value {
    match value {
        Value::Array(items) => {
            let mut items = items.clone();
            items.sort_by_key(|item| format!("{item:?}"));
            Value::Array(items)
        }
        other => other.clone(),
    }
}

/// The table's metadata for every command strata has that Redis has too: name, arity, flags,
/// key positions and ACL categories, as COMMAND INFO reports them.
#[test]
fn command_info_matches_redis() {
    let strata = Server::start();
    let redis = Server::start_redis();
    let mut ours = strata.con();
    let mut theirs = redis.con();
    let Value::Array(names) = ok(&mut ours, &["COMMAND", "LIST"]) else { panic!() };
    let mut names: Vec<String> = names.iter().map(as_text).collect();
    names.sort();
    // Commands Redis 7.0 lacks or where strata's row follows a newer Redis on purpose.
    let strata_only = ["id.next", "id.parse"];
    let mut differences = Vec::new();
    // strata's own families: ID.*, Q.*, STREAM.*, LAKE.*.
    for name in names
        .iter()
        .filter(|n| !strata_only.contains(&n.as_str()) && !n.starts_with("q.") && !n.starts_with("stream.") && !n.starts_with("lake."))
    {
        let Value::Array(mine) = ok(&mut ours, &["COMMAND", "INFO", name]) else { panic!() };
        let Value::Array(real) = ok(&mut theirs, &["COMMAND", "INFO", name]) else { panic!() };
        if real[0] == Value::Nil {
            differences.push(format!("{name}: not in redis-server 7.0"));
            continue;
        }
        let (Value::Array(mine), Value::Array(real)) = (&mine[0], &real[0]) else { panic!() };
        // name, arity, flags, first, last, step, categories; then subcommands (index 9) one by one.
        for i in 0..7 {
            if normalized(&mine[i]) != normalized(&real[i]) {
                differences.push(format!("{name} field {i}: strata {:?} redis {:?}", mine[i], real[i]));
            }
        }
        let (Value::Array(my_subs), Value::Array(real_subs)) = (&mine[9], &real[9]) else { panic!() };
        for sub in my_subs {
            let Value::Array(sub) = sub else { panic!() };
            match real_subs.iter().find(|r| matches!(r, Value::Array(r) if r[0] == sub[0])) {
                Some(Value::Array(real)) => {
                    for i in 0..7 {
                        if normalized(&sub[i]) != normalized(&real[i]) {
                            differences.push(format!("{} field {i}: strata {:?} redis {:?}", as_text(&sub[0]), sub[i], real[i]));
                        }
                    }
                }
                _ => differences.push(format!("{}: not in redis-server 7.0", as_text(&sub[0]))),
            }
        }
    }
    // Redis 7.2 additions that 7.0 lacks (strata reports 7.2.0).
    // ZRANK/ZREVRANK take WITHSCORE since 7.2, so their arity is -3 instead of 7.0's 3.
    let newer = ["client|setinfo: not in redis-server 7.0", "client|no-touch: not in redis-server 7.0"];
    differences.retain(|d| !newer.contains(&d.as_str()) && !d.starts_with("zrank field 1:") && !d.starts_with("zrevrank field 1:"));
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

#[test]
fn info_sections_are_crlf_field_value_lines() {
    let strata = Server::start();
    let mut con = strata.con();
    ok(&mut con, &["SET", "k", "v"]);
    for section in [&["INFO"][..], &["INFO", "all"], &["INFO", "everything"], &["INFO", "server", "clients"]] {
        let text = as_text(&ok(&mut con, section));
        assert!(!text.contains("\n\n") && !text.replace("\r\n", "").contains('\n'), "lines end in CRLF: {text:?}");
        for line in text.split("\r\n") {
            let valid =
                line.is_empty() || line.starts_with("# ") || line.split_once(':').is_some_and(|(k, _)| !k.is_empty() && !k.contains(' '));
            assert!(valid, "{section:?}: bad line {line:?}");
        }
    }
    let text = as_text(&ok(&mut con, &["INFO"]));
    let fields: std::collections::HashMap<&str, &str> = text.split("\r\n").filter_map(|l| l.split_once(':')).collect();
    for name in
        ["redis_version", "loading", "connected_clients", "role", "master_repl_offset", "cluster_enabled", "tcp_port", "uptime_in_seconds"]
    {
        assert!(fields.contains_key(name), "INFO has {name}");
    }
    assert_eq!(fields["loading"], "0");
    assert_eq!(fields["role"], "master");
    assert_eq!(fields["cluster_enabled"], "0");
    assert_eq!(fields["tcp_port"], strata.port.to_string());
    assert!(fields["db0"].starts_with("keys=1,expires=0"), "{}", fields["db0"]);
    let sections: Vec<&str> = text.split("\r\n").filter_map(|l| l.strip_prefix("# ")).collect();
    assert_eq!(
        sections,
        ["Server", "Clients", "Memory", "Persistence", "Stats", "Replication", "CPU", "Modules", "Errorstats", "Cluster", "Keyspace"]
    );
    let stats = as_text(&ok(&mut con, &["INFO", "commandstats"]));
    assert!(stats.contains("cmdstat_set:calls=1,"), "{stats}");
    // RESP3: a verbatim string, same text.
    let mut con3 = strata.con3();
    assert!(matches!(ok(&mut con3, &["INFO", "server"]), Value::VerbatimString { .. }));
}

#[test]
fn config_get_set() {
    let strata = Server::start();
    for protocol in [2, 3] {
        let mut con = strata.con_proto(protocol);
        let reply = ok(&mut con, &["CONFIG", "GET", "maxclients"]);
        if protocol == 3 {
            assert!(matches!(reply, Value::Map(_)));
        } else {
            assert_eq!(reply, array(vec![bulk("maxclients"), bulk("10000")]));
        }
        assert_eq!(ok(&mut con, &["CONFIG", "SET", "maxclients", "500", "timeout", "30"]), Value::Okay);
        let pairs = as_pairs(&ok(&mut con, &["CONFIG", "GET", "maxclients", "timeout"]));
        assert_eq!(pairs, vec![("maxclients".into(), bulk("500")), ("timeout".into(), bulk("30"))]);
        // Globs, and memory units normalised to bytes.
        let names: Vec<String> = as_pairs(&ok(&mut con, &["CONFIG", "GET", "slowlog-*"])).into_iter().map(|(k, _)| k).collect();
        assert!(names.contains(&"slowlog-log-slower-than".to_string()) && names.contains(&"slowlog-max-len".to_string()), "{names:?}");
        ok(&mut con, &["CONFIG", "SET", "maxmemory", "2mb"]);
        assert_eq!(as_pairs(&ok(&mut con, &["CONFIG", "GET", "maxmemory"]))[0].1, bulk("2097152"));
        // redis-benchmark asks for these first.
        assert_eq!(as_pairs(&ok(&mut con, &["CONFIG", "GET", "save"])).len(), 1);
        assert_eq!(as_pairs(&ok(&mut con, &["CONFIG", "GET", "appendonly"]))[0].1, bulk("no"));
        let failed = err(&mut con, &["CONFIG", "SET", "hz", "abc"]);
        assert!(failed.starts_with("ERR CONFIG SET failed (possibly related to argument 'hz')"), "{failed}");
        // A failed multi-setting SET changes nothing.
        assert!(q(&mut con, &["CONFIG", "SET", "timeout", "5", "hz", "0"]).is_err());
        assert_eq!(as_pairs(&ok(&mut con, &["CONFIG", "GET", "timeout"]))[0].1, bulk("30"));
        ok(&mut con, &["CONFIG", "SET", "maxclients", "10000", "timeout", "0", "maxmemory", "0"]);
    }
}

/// Spring Data Redis sets notify-keyspace-events on start: strata accepts and reports it as Redis
/// normalises it (no notifications are sent: strata has no pub/sub yet).
#[test]
fn notify_keyspace_events_is_normalised_like_redis() {
    let strata = Server::start();
    let redis = Server::start_redis();
    let (mut ours, mut theirs) = (strata.con(), redis.con());
    for value in ["KEA", "Kx", "Egx$", "A", "AK", "nKE", "dmA", "An", "Ktx", "", "bogus"] {
        let set = ["CONFIG", "SET", "notify-keyspace-events", value];
        assert_eq!(q(&mut ours, &set), q(&mut theirs, &set), "{value:?}");
        let get = ["CONFIG", "GET", "notify-keyspace-events"];
        assert_eq!(q(&mut ours, &get), q(&mut theirs, &get), "{value:?}");
    }
}

#[test]
fn config_rewrite_updates_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("strata.conf");
    std::fs::write(&path, "# a comment that stays\nmaxclients 100\n\ntimeout 0\n").unwrap();
    let strata = Server::start_with(&[path.to_str().unwrap()]);
    let mut con = strata.con();
    assert_eq!(as_pairs(&ok(&mut con, &["CONFIG", "GET", "maxclients"]))[0].1, bulk("100"), "the file was read");
    ok(&mut con, &["CONFIG", "SET", "maxclients", "200", "slowlog-max-len", "7"]);
    assert_eq!(ok(&mut con, &["CONFIG", "REWRITE"]), Value::Okay);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("# a comment that stays\nmaxclients 200\n"), "{text}");
    assert!(text.contains("\nslowlog-max-len 7\n"), "{text}");
    assert!(text.contains("\ntimeout 0\n"), "{text}");
    // A server started from the rewritten file has the new values.
    drop(con);
    drop(strata);
    let again = Server::start_with(&[path.to_str().unwrap()]);
    let mut con = again.con();
    assert_eq!(as_pairs(&ok(&mut con, &["CONFIG", "GET", "maxclients"]))[0].1, bulk("200"));
    assert_eq!(as_pairs(&ok(&mut con, &["CONFIG", "GET", "slowlog-max-len"]))[0].1, bulk("7"));
    // Without a file, REWRITE says so.
    let plain = Server::start();
    assert_eq!(err(&mut plain.con(), &["CONFIG", "REWRITE"]), "ERR The server is running without a config file");
}

#[test]
fn slowlog_records_commands() {
    let strata = Server::start_with(&["--slowlog-log-slower-than", "0", "--slowlog-max-len", "3"]);
    let mut con = strata.con();
    ok(&mut con, &["CLIENT", "SETNAME", "slowpoke"]);
    ok(&mut con, &["SLOWLOG", "RESET"]);
    ok(&mut con, &["SET", "k", "v"]);
    ok(&mut con, &["GET", "k"]);
    let Value::Array(entries) = ok(&mut con, &["SLOWLOG", "GET"]) else { panic!() };
    // Newest first; SLOWLOG RESET itself is logged, as in Redis.
    assert_eq!(entries.len(), 3, "{entries:?}");
    let Value::Array(newest) = &entries[0] else { panic!() };
    assert_eq!(newest.len(), 6);
    assert!(matches!(newest[0], Value::Int(_)) && matches!(newest[1], Value::Int(_)) && matches!(newest[2], Value::Int(_)));
    assert_eq!(newest[3], array(vec![bulk("GET"), bulk("k")]));
    assert!(as_text(&newest[4]).starts_with("127.0.0.1:"));
    assert_eq!(newest[5], bulk("slowpoke"));
    let Value::Array(older) = &entries[1] else { panic!() };
    assert_eq!(older[3], array(vec![bulk("SET"), bulk("k"), bulk("v")]));
    assert!(as_int(&older[0]) < as_int(&newest[0]), "ids increase");
    for i in 0..5 {
        ok(&mut con, &["SET", &format!("k{i}"), "v"]);
    }
    assert_eq!(ok(&mut con, &["SLOWLOG", "LEN"]), int(3), "slowlog-max-len caps it");
    let Value::Array(one) = ok(&mut con, &["SLOWLOG", "GET", "1"]) else { panic!() };
    assert_eq!(one.len(), 1);
    // Long argument lists and values are cut as Redis cuts them.
    let long = "x".repeat(200);
    let mut many = vec!["MSET"];
    for _ in 0..20 {
        many.extend([long.as_str(), "1"]);
    }
    ok(&mut con, &many);
    let Value::Array(entries) = ok(&mut con, &["SLOWLOG", "GET", "1"]) else { panic!() };
    let Value::Array(entry) = &entries[0] else { panic!() };
    let Value::Array(args) = &entry[3] else { panic!() };
    assert_eq!(args.len(), 32);
    assert_eq!(args[31], bulk("... (10 more arguments)"));
    assert_eq!(args[1], bulk(&format!("{}... (72 more bytes)", "x".repeat(128))));
    // -1 turns it off.
    ok(&mut con, &["CONFIG", "SET", "slowlog-log-slower-than", "-1"]);
    ok(&mut con, &["SLOWLOG", "RESET"]);
    ok(&mut con, &["SET", "k", "v"]);
    assert_eq!(ok(&mut con, &["SLOWLOG", "LEN"]), int(0));
}

#[test]
fn monitor_streams_commands() {
    let strata = Server::start();
    let mut monitor = strata.raw();
    monitor.send(b"MONITOR\r\n");
    assert_eq!(monitor.read_line(), "+OK");
    let mut con = strata.con();
    ok(&mut con, &["SELECT", "3"]);
    ok(&mut con, &["SET", "k", "a \"quoted\"\nvalue"]);
    ok(&mut con, &["CONFIG", "GET", "maxclients"]);
    ok(&mut con, &["GET", "k"]);
    let mut lines = Vec::new();
    while !lines.last().is_some_and(|l: &String| l.contains("\"GET\"")) {
        lines.push(monitor.read_line());
    }
    let set = lines.iter().find(|l| l.contains("\"SET\"")).expect("SET line");
    // +1700000000.123456 [3 127.0.0.1:54321] "SET" "k" "a \"quoted\"\nvalue"
    let (time, rest) = set.strip_prefix('+').unwrap().split_once(' ').unwrap();
    let (secs, micros) = time.split_once('.').unwrap();
    assert!(secs.parse::<u64>().is_ok() && micros.len() == 6, "{set}");
    assert!(rest.starts_with("[3 127.0.0.1:"), "{set}");
    assert!(rest.ends_with("] \"SET\" \"k\" \"a \\\"quoted\\\"\\nvalue\""), "{set}");
    assert!(!lines.iter().any(|l| l.contains("CONFIG")), "admin commands aren't shown: {lines:?}");
    // A monitor that leaves is dropped cleanly.
    drop(monitor);
    ok(&mut con, &["SET", "after", "1"]);
    assert_eq!(ok(&mut con, &["GET", "after"]), bulk("1"));
}

#[test]
fn command_introspection() {
    let strata = Server::start();
    let mut con = strata.con();
    let count = as_int(&ok(&mut con, &["COMMAND", "COUNT"]));
    let Value::Array(all) = ok(&mut con, &["COMMAND"]) else { panic!() };
    assert_eq!(all.len() as i64, count);
    assert_eq!(ok(&mut con, &["COMMAND", "GETKEYS", "MSET", "a", "1", "b", "2"]), array(vec![bulk("a"), bulk("b")]));
    assert_eq!(ok(&mut con, &["COMMAND", "GETKEYS", "COPY", "src", "dst"]), array(vec![bulk("src"), bulk("dst")]));
    assert_eq!(err(&mut con, &["COMMAND", "GETKEYS", "ECHO", "hi"]), "ERR The command has no key arguments");
    assert_eq!(err(&mut con, &["COMMAND", "GETKEYS", "GET"]), "ERR wrong number of arguments for 'command|getkeys' command");
    let docs = as_pairs(&ok(&mut con, &["COMMAND", "DOCS", "set"]));
    assert_eq!(docs[0].0, "set");
    let fields = as_pairs(&docs[0].1);
    assert!(fields.iter().any(|(k, v)| k == "summary" && !as_text(v).is_empty()));
    assert!(fields.iter().any(|(k, v)| k == "group" && *v == bulk("string")));
    let Value::Array(list) = ok(&mut con, &["COMMAND", "LIST", "FILTERBY", "ACLCAT", "string"]) else { panic!() };
    assert!(list.contains(&bulk("incrbyfloat")) && !list.contains(&bulk("ping")));
}

#[test]
fn time_lastsave_debug_wait() {
    let strata = Server::start();
    let mut con = strata.con();
    let Value::Array(time) = ok(&mut con, &["TIME"]) else { panic!() };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    assert!((as_text(&time[0]).parse::<i64>().unwrap() - now).abs() <= 2);
    assert!(as_text(&time[1]).parse::<i64>().unwrap() < 1_000_000);
    assert!(matches!(ok(&mut con, &["LASTSAVE"]), Value::Int(_)));
    assert_eq!(ok(&mut con, &["DEBUG", "POPULATE", "100", "pop", "10"]), Value::Okay);
    assert_eq!(ok(&mut con, &["DBSIZE"]), int(100));
    assert_eq!(ok(&mut con, &["GET", "pop:7"]), Value::BulkString(b"value:7\0\0\0".to_vec()));
    // Sizes that can't be allocated are refused rather than aborting the server.
    let huge = err(&mut con, &["DEBUG", "POPULATE", "1", "big", "9223372036854775807"]);
    assert_eq!(huge, "ERR string exceeds maximum allowed size (proto-max-bulk-len)");
    assert_eq!(err(&mut con, &["DEBUG", "POPULATE", "1", "big", "-5"]), "ERR value is out of range, must be positive");
    assert_eq!(ok(&mut con, &["DEBUG", "SLEEP", "0"]), Value::Okay);
    assert_eq!(ok(&mut con, &["WAIT", "0", "0"]), int(0));
    // DEBUG SLEEP holds only this client.
    let mut sleeper = strata.raw();
    sleeper.send(b"DEBUG SLEEP 0.3\r\n");
    let started = std::time::Instant::now();
    assert_eq!(ok(&mut con, &["PING"]), status("PONG"));
    assert!(started.elapsed() < Duration::from_millis(250));
    assert_eq!(sleeper.read_line(), "+OK");
}

#[test]
fn shutdown_exits_cleanly() {
    let mut strata = Server::start();
    let mut raw = strata.raw();
    assert_eq!(raw.send_until_close(b"SHUTDOWN NOSAVE\r\n"), "", "SHUTDOWN answers nothing, the connection closes");
    let status = strata.wait_exit(Duration::from_secs(10)).expect("the server exits");
    assert!(status.success(), "{status:?}");
    assert!(strata.log_lines().iter().any(|l| l.contains("ready to exit")), "{:?}", strata.log_lines());
    // SHUTDOWN ABORT with nothing in progress is an error and the server stays up.
    let mut strata = Server::start();
    assert_eq!(err(&mut strata.con(), &["SHUTDOWN", "ABORT"]), "ERR No shutdown in progress.");
    assert_eq!(err(&mut strata.con(), &["SHUTDOWN", "BOGUS"]), "ERR syntax error");
    strata.assert_healthy();
}

#[test]
fn sigterm_and_sigint_exit_gracefully() {
    for signal in ["TERM", "INT"] {
        let mut strata = Server::start();
        let mut idle = strata.raw();
        idle.send(b"PING\r\n");
        assert_eq!(idle.read_line(), "+PONG");
        strata.signal(signal);
        let status = strata.wait_exit(Duration::from_secs(10)).expect("the server exits");
        assert!(status.success(), "SIG{signal}: {status:?}");
        assert_eq!(idle.read_to_close(), b"", "connected clients are closed");
        let log = strata.log_lines();
        assert!(log.iter().any(|l| l.contains(&format!("Received SIG{signal}"))), "{log:?}");
    }
}

#[test]
fn stats_count_commands_and_errors() {
    let strata = Server::start();
    let mut con = strata.con();
    ok(&mut con, &["CONFIG", "RESETSTAT"]);
    ok(&mut con, &["SET", "k", "v"]);
    ok(&mut con, &["GET", "k"]);
    ok(&mut con, &["GET", "missing"]);
    let _ = q(&mut con, &["NOSUCH"]);
    let _ = q(&mut con, &["INCR", "k"]);
    let info = as_text(&ok(&mut con, &["INFO", "all"]));
    let field = |name: &str| -> String {
        info.split("\r\n").find_map(|l| l.strip_prefix(&format!("{name}:"))).unwrap_or_else(|| panic!("{name} in INFO")).to_string()
    };
    assert_eq!(field("keyspace_hits"), "1");
    assert_eq!(field("keyspace_misses"), "1");
    assert_eq!(field("total_error_replies"), "2");
    assert_eq!(field("errorstat_ERR"), "count=2");
    assert!(field("cmdstat_incr").contains("failed_calls=1"), "{}", field("cmdstat_incr"));
}

#[test]
fn commands_run_by_exec_and_scripts_count_once_each_as_in_redis() {
    let strata = Server::start();
    let mut con = strata.con();
    ok(&mut con, &["CONFIG", "RESETSTAT"]);
    ok(&mut con, &["MULTI"]);
    ok(&mut con, &["SET", "a", "1"]);
    ok(&mut con, &["INCR", "a"]);
    ok(&mut con, &["EXEC"]);
    ok(&mut con, &["EVAL", "redis.call('set', 'b', 1) return redis.call('get', 'b')", "0"]);
    let _ = q(&mut con, &["EVAL", "return redis.pcall('incr', 'b', 'c')", "0"]);
    let info = as_text(&ok(&mut con, &["INFO", "all"]));
    let calls = |name: &str| -> String {
        let line = info.split("\r\n").find_map(|l| l.strip_prefix(&format!("cmdstat_{name}:"))).unwrap_or_default();
        line.split(',').filter(|part| part.starts_with("calls=") || part.starts_with("rejected_calls=")).collect::<Vec<_>>().join(",")
    };
    // Queued commands count when EXEC runs them, not when they are queued.
    assert_eq!(calls("set"), "calls=2,rejected_calls=0");
    assert_eq!(calls("incr"), "calls=1,rejected_calls=1");
    assert_eq!(calls("get"), "calls=1,rejected_calls=0");
    assert_eq!(calls("eval"), "calls=2,rejected_calls=0");
    // CONFIG RESETSTAT itself, then eight commands; the refused INCR is not processed.
    assert!(info.contains("\r\ntotal_commands_processed:9\r\n"), "{info}");
}
