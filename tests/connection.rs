//! Connection and CLIENT commands: PING/ECHO, HELLO's map, AUTH, SELECT, QUIT, RESET, CLIENT *,
//! RESP3 wire encodings, and the async client.

mod common;

use std::time::{Duration, Instant};

use common::{array, as_int, as_pairs, as_text, bulk, err, eventually, int, ok, status, Server};
use redis::Value;

#[test]
fn ping_and_echo() {
    let strata = Server::start();
    for protocol in [2, 3] {
        let mut con = strata.con_proto(protocol);
        assert_eq!(ok(&mut con, &["PING"]), status("PONG"));
        assert_eq!(ok(&mut con, &["PING", "hi"]), bulk("hi"));
        assert_eq!(ok(&mut con, &["ECHO", ""]), bulk(""));
        assert_eq!(err(&mut con, &["PING", "a", "b"]), "ERR wrong number of arguments for 'ping' command");
    }
}

#[test]
fn hello_3_map_shape() {
    let strata = Server::start();
    let mut con = strata.con();
    let reply = ok(&mut con, &["HELLO", "3"]);
    let Value::Map(pairs) = &reply else { panic!("HELLO 3 answers a RESP3 map: {reply:?}") };
    let fields: Vec<String> = pairs.iter().map(|(k, _)| as_text(k)).collect();
    assert_eq!(fields, ["server", "version", "proto", "id", "mode", "role", "modules"]);
    let pairs = as_pairs(&reply);
    let get = |name: &str| pairs.iter().find(|(k, _)| k == name).unwrap().1.clone();
    assert_eq!(get("server"), bulk("redis"));
    // Lettuce casts version, mode and role to strings and proto, id to integers.
    assert!(matches!(get("version"), Value::BulkString(_)));
    assert_eq!(get("proto"), int(3));
    assert_eq!(get("id"), ok(&mut con, &["CLIENT", "ID"]));
    assert_eq!(get("mode"), bulk("standalone"));
    assert_eq!(get("role"), bulk("master"));
    assert_eq!(get("modules"), array(vec![]));
    // Back to RESP2: the same fields as a flat array.
    let reply = ok(&mut con, &["HELLO", "2"]);
    let Value::Array(flat) = &reply else { panic!("HELLO 2 answers a flat array: {reply:?}") };
    assert_eq!(flat.len(), 14);
    assert_eq!(flat[5], int(2));
    // No version: the current protocol; unknown versions: NOPROTO.
    assert!(matches!(ok(&mut con, &["HELLO"]), Value::Array(_)));
    assert_eq!(err(&mut con, &["HELLO", "4"]), "NOPROTO unsupported protocol version");
    let reply = ok(&mut con, &["HELLO", "3", "SETNAME", "named"]);
    assert!(matches!(reply, Value::Map(_)));
    assert_eq!(ok(&mut con, &["CLIENT", "GETNAME"]), bulk("named"));
}

#[test]
fn resp3_wire_encodings() {
    let strata = Server::start();
    let mut raw = strata.raw();
    raw.send(b"HELLO 3\r\n");
    assert!(raw.read_line().starts_with("%7"));
    // Up to the last value, the empty modules array.
    while raw.read_line() != "*0" {}
    raw.send(b"GET missing\r\n");
    assert_eq!(raw.read_line(), "_", "RESP3 null");
    raw.send(b"CONFIG GET maxclients\r\n");
    assert_eq!(raw.read_line(), "%1", "CONFIG GET is a map in RESP3");
    raw.read_line();
    raw.read_line();
    raw.read_line();
    raw.read_line();
    raw.send(b"CLIENT INFO\r\n");
    let header = raw.read_line();
    assert!(header.starts_with('='), "CLIENT INFO is a verbatim string in RESP3: {header}");
    assert!(raw.read_line().starts_with("txt:id="));
    let mut raw2 = strata.raw();
    raw2.send(b"GET missing\r\n");
    assert_eq!(raw2.read_line(), "$-1", "RESP2 null bulk");
}

#[test]
fn auth_and_requirepass() {
    let strata = Server::start_with(&["--requirepass", "s3cret"]);
    let mut raw = strata.raw();
    raw.send(b"GET k\r\n");
    assert_eq!(raw.read_line(), "-NOAUTH Authentication required.");
    raw.send(b"AUTH wrong\r\n");
    assert_eq!(raw.read_line(), "-WRONGPASS invalid username-password pair or user is disabled.");
    raw.send(b"HELLO 3\r\n");
    assert!(raw.read_line().starts_with("-NOAUTH HELLO must be called with the client already authenticated"));
    raw.send(b"AUTH s3cret\r\n");
    assert_eq!(raw.read_line(), "+OK");
    raw.send(b"GET k\r\n");
    assert_eq!(raw.read_line(), "$-1");
    // HELLO can authenticate too.
    let mut raw = strata.raw();
    raw.send(b"HELLO 2 AUTH default s3cret\r\n");
    assert_eq!(raw.read_line(), "*14");
    // The redis crate authenticates from the URL.
    let client = redis::Client::open(format!("redis://:s3cret@127.0.0.1:{}/", strata.port)).unwrap();
    let mut con = client.get_connection().unwrap();
    assert_eq!(ok(&mut con, &["PING"]), status("PONG"));
    // Without requirepass, AUTH is an error with Redis's text.
    let open = Server::start();
    let message = err(&mut open.con(), &["AUTH", "x"]);
    assert_eq!(
        message,
        "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"
    );
}

#[test]
fn quit_answers_then_closes() {
    let strata = Server::start();
    let mut raw = strata.raw();
    assert_eq!(raw.send_until_close(b"QUIT\r\n"), "+OK\r\n");
    let mut raw = strata.raw();
    assert_eq!(raw.send_until_close(b"CLIENT REPLY OFF\r\nQUIT\r\n"), "+OK\r\n", "QUIT answers even with replies off");
}

#[test]
fn reset_restores_the_connection_defaults() {
    let strata = Server::start();
    let mut con = strata.con3();
    ok(&mut con, &["SELECT", "5"]);
    ok(&mut con, &["CLIENT", "SETNAME", "before"]);
    ok(&mut con, &["CLIENT", "NO-EVICT", "on"]);
    assert_eq!(ok(&mut con, &["RESET"]), status("RESET"));
    let info = as_text(&ok(&mut con, &["CLIENT", "INFO"]));
    for field in ["db=0 ", "name= ", "resp=2 ", "flags=N "] {
        assert!(info.contains(field), "{field} in {info}");
    }
    assert_eq!(ok(&mut con, &["CLIENT", "GETNAME"]), Value::Nil);
}

#[test]
fn client_identity_commands() {
    let strata = Server::start();
    for protocol in [2, 3] {
        let mut con = strata.con_proto(protocol);
        let id = as_int(&ok(&mut con, &["CLIENT", "ID"]));
        assert!(id > 0);
        assert_eq!(ok(&mut con, &["CLIENT", "GETNAME"]), Value::Nil);
        assert_eq!(ok(&mut con, &["CLIENT", "SETNAME", "worker-1"]), Value::Okay);
        assert_eq!(ok(&mut con, &["CLIENT", "GETNAME"]), bulk("worker-1"));
        assert_eq!(err(&mut con, &["CLIENT", "SETNAME", "a b"]), "ERR Client names cannot contain spaces, newlines or special characters.");
        assert_eq!(ok(&mut con, &["CLIENT", "SETINFO", "LIB-NAME", "mylib"]), Value::Okay);
        assert_eq!(ok(&mut con, &["CLIENT", "SETINFO", "LIB-VER", "1.2"]), Value::Okay);
        let info = as_text(&ok(&mut con, &["CLIENT", "INFO"]));
        assert!(info.ends_with('\n'));
        for field in
            [format!("id={id} "), "name=worker-1 ".into(), "lib-name=mylib".into(), "lib-ver=1.2".into(), format!("resp={protocol}")]
        {
            assert!(info.contains(&field), "{field} in {info}");
        }
        let list = as_text(&ok(&mut con, &["CLIENT", "LIST"]));
        let mine: Vec<&str> = list.lines().filter(|l| l.starts_with(&format!("id={id} "))).collect();
        assert_eq!(mine.len(), 1, "{list}");
        assert!(mine[0].contains("cmd=client|list"), "{}", mine[0]);
        let only = as_text(&ok(&mut con, &["CLIENT", "LIST", "ID", &id.to_string()]));
        assert_eq!(only.lines().count(), 1);
        // Every CLIENT LIST line is `key=value` pairs.
        for line in list.lines() {
            assert!(line.split(' ').all(|pair| pair.contains('=')), "{line}");
        }
    }
}

#[test]
fn client_kill_closes_the_other_connection() {
    let strata = Server::start();
    let mut victim = strata.raw();
    victim.send(b"CLIENT ID\r\n");
    let victim_id: i64 = victim.read_line().trim_start_matches(':').parse().unwrap();
    let mut con = strata.con();
    assert_eq!(ok(&mut con, &["CLIENT", "KILL", "ID", &victim_id.to_string()]), int(1));
    assert_eq!(victim.read_to_close(), b"");
    assert_eq!(ok(&mut con, &["CLIENT", "KILL", "ID", &victim_id.to_string()]), int(0));
    // The old ip:port form.
    let mut victim = strata.raw();
    let address = victim.stream.local_addr().unwrap().to_string();
    victim.send(b"PING\r\n");
    victim.read_line();
    assert_eq!(ok(&mut con, &["CLIENT", "KILL", &address]), Value::Okay);
    assert_eq!(victim.read_to_close(), b"");
    assert_eq!(err(&mut con, &["CLIENT", "KILL", &address]), "ERR No such client");
    // SKIPME yes (the default) spares the caller.
    assert_eq!(ok(&mut con, &["CLIENT", "KILL", "TYPE", "normal"]), int(0));
    assert_eq!(ok(&mut con, &["PING"]), status("PONG"));
}

#[test]
fn client_reply_off_and_skip() {
    let strata = Server::start();
    let mut raw = strata.raw();
    raw.send(b"CLIENT REPLY OFF\r\nSET a 1\r\nGET a\r\nCLIENT REPLY ON\r\nGET a\r\n");
    assert_eq!(raw.read_line(), "+OK", "REPLY ON answers");
    assert_eq!(raw.read_line(), "$1");
    assert_eq!(raw.read_line(), "1");
    raw.send(b"CLIENT REPLY SKIP\r\nSET b 2\r\nGET b\r\n");
    assert_eq!(raw.read_line(), "$1", "only the command after SKIP is silent");
    assert_eq!(raw.read_line(), "2");
    // A SKIP while skipped skips the command after it too (as Redis).
    raw.send(b"CLIENT REPLY SKIP\r\nCLIENT REPLY SKIP\r\nPING one\r\nPING two\r\n");
    assert_eq!(raw.read_line(), "$3");
    assert_eq!(raw.read_line(), "two");
    // ON while skipped answers.
    raw.send(b"CLIENT REPLY SKIP\r\nCLIENT REPLY ON\r\nPING three\r\n");
    assert_eq!(raw.read_line(), "+OK");
    assert_eq!(raw.read_line(), "$5");
}

#[test]
fn client_pause_holds_writes_until_it_ends() {
    let strata = Server::start();
    let mut admin = strata.con();
    let mut writer = strata.con();
    ok(&mut admin, &["SET", "k", "before"]);
    ok(&mut admin, &["CLIENT", "PAUSE", "300", "WRITE"]);
    // Reads are served during a WRITE pause.
    assert_eq!(ok(&mut writer, &["GET", "k"]), bulk("before"));
    let started = Instant::now();
    assert_eq!(ok(&mut writer, &["SET", "k", "after"]), Value::Okay);
    assert!(started.elapsed() >= Duration::from_millis(200), "the write waited for the pause: {:?}", started.elapsed());
    // UNPAUSE releases the held write at once. (Under a pause ALL, UNPAUSE itself would wait, as in Redis.)
    let mut held = strata.con();
    ok(&mut admin, &["CLIENT", "PAUSE", "100000", "WRITE"]);
    let handle = std::thread::spawn(move || ok(&mut held, &["SET", "k", "released"]));
    std::thread::sleep(Duration::from_millis(100));
    assert!(!handle.is_finished(), "the write is held");
    ok(&mut admin, &["CLIENT", "UNPAUSE"]);
    assert_eq!(handle.join().unwrap(), Value::Okay);
    assert_eq!(ok(&mut admin, &["GET", "k"]), bulk("released"));
}

#[test]
fn client_no_touch_keeps_idle_time() {
    let strata = Server::start();
    let mut con = strata.con();
    ok(&mut con, &["SET", "k", "v"]);
    assert_eq!(ok(&mut con, &["CLIENT", "NO-TOUCH", "on"]), Value::Okay);
    assert_eq!(ok(&mut con, &["CLIENT", "NO-EVICT", "on"]), Value::Okay);
    let info = as_text(&ok(&mut con, &["CLIENT", "INFO"]));
    assert!(info.contains("flags=eT "), "{info}");
    assert_eq!(err(&mut con, &["CLIENT", "NO-TOUCH", "maybe"]), "ERR syntax error");
    // Reads under NO-TOUCH leave the key's idle time alone; TOUCH still counts; plain reads reset it.
    std::thread::sleep(Duration::from_millis(2100));
    ok(&mut con, &["GET", "k"]);
    assert!(as_int(&ok(&mut con, &["OBJECT", "IDLETIME", "k"])) >= 2, "NO-TOUCH GET didn't touch");
    ok(&mut con, &["TOUCH", "k"]);
    assert_eq!(ok(&mut con, &["OBJECT", "IDLETIME", "k"]), int(0), "TOUCH touches even under NO-TOUCH");
    std::thread::sleep(Duration::from_millis(2100));
    ok(&mut con, &["CLIENT", "NO-TOUCH", "off"]);
    ok(&mut con, &["GET", "k"]);
    assert_eq!(ok(&mut con, &["OBJECT", "IDLETIME", "k"]), int(0));
}

#[test]
fn select_is_per_connection() {
    let strata = Server::start();
    let mut a = strata.con();
    let mut b = strata.con();
    ok(&mut a, &["SELECT", "2"]);
    ok(&mut a, &["SET", "k", "in 2"]);
    assert_eq!(ok(&mut b, &["GET", "k"]), Value::Nil);
    assert!(as_text(&ok(&mut b, &["CLIENT", "LIST"])).contains(" db=2 "));
}

#[test]
fn async_client_pipelines_over_both_protocols() {
    let strata = Server::start();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        for protocol in [2u8, 3] {
            let mut con = strata.async_con(protocol).await;
            let mut pipe = redis::pipe();
            for i in 0..1000 {
                pipe.cmd("SET").arg(format!("p{i}")).arg(i);
            }
            pipe.cmd("DBSIZE");
            pipe.cmd("INCRBY").arg("p7").arg(3);
            pipe.cmd("GET").arg("p7");
            let replies: Vec<Value> = pipe.query_async(&mut con).await.unwrap();
            assert_eq!(replies.len(), 1003);
            assert!(replies[..1000].iter().all(|r| *r == Value::Okay));
            assert_eq!(replies[1000], int(1000));
            assert_eq!(replies[1001], int(10));
            assert_eq!(replies[1002], bulk("10"));
            let _: () = redis::cmd("FLUSHALL").query_async(&mut con).await.unwrap();
        }
    });
}

#[test]
fn idle_timeout_closes_clients() {
    let strata = Server::start_with(&["--timeout", "1"]);
    let mut raw = strata.raw();
    raw.send(b"PING\r\n");
    assert_eq!(raw.read_line(), "+PONG");
    let started = Instant::now();
    assert_eq!(raw.read_to_close(), b"");
    assert!(started.elapsed() >= Duration::from_millis(900));
    let mut con = strata.con();
    assert!(eventually(Duration::from_secs(5), || !as_text(&ok(&mut con, &["CLIENT", "LIST"])).contains("cmd=ping")));
}
