//! ACL users through real clients: the `redis` crate logging in as users with key, channel and
//! command rules; rules changed while clients are connected; ACL LOG; `user` config lines, the ACL
//! file (ACL LOAD, ACL SAVE) and `requirepass` as the default user's password. The replies and error
//! texts themselves are compared with a real redis-server in `tests/redis-cli/acl.redis`.

mod common;

use std::time::Duration;

use common::{bulk, err, ok, q, Server};
use redis::Value;

fn connect_as(server: &Server, user: &str, password: &str) -> redis::Connection {
    let url = format!("redis://{user}:{password}@127.0.0.1:{}/", server.port);
    redis::Client::open(url).unwrap().get_connection().unwrap()
}

fn strings(value: Value) -> Vec<String> {
    match value {
        Value::Array(items) | Value::Set(items) => items
            .into_iter()
            .map(|item| match item {
                Value::BulkString(bytes) => String::from_utf8(bytes).unwrap(),
                Value::SimpleString(text) => text,
                other => panic!("not a string: {other:?}"),
            })
            .collect(),
        other => panic!("not an array: {other:?}"),
    }
}

/// The fields of an ACL LOG entry by name (RESP2: a flat array).
fn log_entries(con: &mut redis::Connection) -> Vec<std::collections::HashMap<String, Value>> {
    let Value::Array(entries) = ok(con, &["ACL", "LOG"]) else { panic!("ACL LOG is an array") };
    entries
        .into_iter()
        .map(|entry| {
            let Value::Array(fields) = entry else { panic!("an entry is an array") };
            fields
                .chunks(2)
                .map(|pair| match &pair[0] {
                    Value::BulkString(name) => (String::from_utf8(name.clone()).unwrap(), pair[1].clone()),
                    other => panic!("field name {other:?}"),
                })
                .collect()
        })
        .collect()
}

#[test]
fn users_log_in_through_the_redis_crate_and_get_only_what_their_rules_allow() {
    let server = Server::start();
    let mut admin = server.con();
    ok(
        &mut admin,
        &[
            "ACL",
            "SETUSER",
            "app",
            "on",
            ">s3cret",
            "~app:*",
            "%R~shared:*",
            "&events",
            "+@read",
            "+@write",
            "-flushdb",
            "+publish",
            "+subscribe",
        ],
    );
    ok(&mut admin, &["SET", "shared:config", "v1"]);
    let mut app = connect_as(&server, "app", "s3cret");
    assert_eq!(err(&mut app, &["ACL", "WHOAMI"]), "NOPERM this user has no permissions to run the 'acl|whoami' command");
    assert_eq!(ok(&mut app, &["SET", "app:1", "x"]), Value::Okay);
    assert_eq!(ok(&mut app, &["GET", "app:1"]), bulk("x"));
    assert_eq!(ok(&mut app, &["GET", "shared:config"]), bulk("v1"));
    assert_eq!(
        err(&mut app, &["SET", "shared:config", "v2"]),
        "NOPERM this user has no permissions to access one of the keys used as arguments"
    );
    assert_eq!(err(&mut app, &["GET", "other"]), "NOPERM this user has no permissions to access one of the keys used as arguments");
    assert_eq!(err(&mut app, &["FLUSHDB"]), "NOPERM this user has no permissions to run the 'flushdb' command");
    assert_eq!(err(&mut app, &["CONFIG", "GET", "port"]), "NOPERM this user has no permissions to run the 'config|get' command");
    assert_eq!(ok(&mut app, &["PUBLISH", "events", "m"]), Value::Int(0));
    assert_eq!(
        err(&mut app, &["PUBLISH", "other", "m"]),
        "NOPERM this user has no permissions to access one of the channels used as arguments"
    );
    // LMOVE reads and writes its source, only writes its destination.
    ok(&mut admin, &["ACL", "SETUSER", "mover", "on", "nopass", "~src", "%W~dst", "+lmove", "+rpush"]);
    let mut mover = connect_as(&server, "mover", "any");
    ok(&mut mover, &["RPUSH", "src", "a"]);
    assert_eq!(ok(&mut mover, &["LMOVE", "src", "dst", "LEFT", "RIGHT"]), bulk("a"));
    assert!(err(&mut mover, &["LMOVE", "dst", "src", "LEFT", "RIGHT"]).starts_with("NOPERM"));

    let wrong = redis::Client::open(format!("redis://app:nope@127.0.0.1:{}/", server.port)).unwrap().get_connection();
    assert!(wrong.is_err(), "a wrong password is refused");
    ok(&mut admin, &["ACL", "SETUSER", "app", "off"]);
    assert!(
        redis::Client::open(format!("redis://app:s3cret@127.0.0.1:{}/", server.port)).unwrap().get_connection().is_err(),
        "off users can't log in"
    );
    assert_eq!(ok(&mut app, &["GET", "app:1"]), bulk("x"), "but its connected clients go on");
}

#[test]
fn rule_changes_reach_connected_clients_and_deleted_users_are_disconnected() {
    let server = Server::start();
    let mut admin = server.con();
    ok(&mut admin, &["ACL", "SETUSER", "worker", "on", ">pw", "~*", "+get"]);
    let mut worker = connect_as(&server, "worker", "pw");
    assert_eq!(ok(&mut worker, &["GET", "k"]), Value::Nil);
    ok(&mut admin, &["ACL", "SETUSER", "worker", "-get"]);
    assert_eq!(err(&mut worker, &["GET", "k"]), "NOPERM this user has no permissions to run the 'get' command");
    ok(&mut admin, &["ACL", "SETUSER", "worker", "+get", "+set"]);
    assert_eq!(ok(&mut worker, &["SET", "k", "v"]), Value::Okay);

    let client_list = strings(Value::Array(
        String::from_utf8(match ok(&mut admin, &["CLIENT", "LIST"]) {
            Value::BulkString(text) => text,
            Value::VerbatimString { text, .. } => text.into_bytes(),
            other => panic!("{other:?}"),
        })
        .unwrap()
        .lines()
        .map(|line| Value::BulkString(line.as_bytes().to_vec()))
        .collect(),
    ));
    assert!(client_list.iter().any(|line| line.contains(" user=worker ")), "{client_list:?}");
    assert_eq!(ok(&mut admin, &["ACL", "DELUSER", "worker", "nobody"]), Value::Int(1));
    std::thread::sleep(Duration::from_millis(100));
    assert!(q(&mut worker, &["PING"]).is_err(), "the deleted user's connection is closed");
    assert_eq!(err(&mut admin, &["ACL", "DELUSER", "default"]), "ERR The 'default' user cannot be removed");
}

#[test]
fn denials_and_failed_logins_are_in_the_acl_log() {
    let server = Server::start();
    let mut admin = server.con();
    ok(&mut admin, &["ACL", "SETUSER", "u", "on", ">pw", "~a*", "+get", "+multi", "+eval"]);
    let mut user = connect_as(&server, "u", "pw");
    // The client library's CLIENT SETINFO on connecting was denied too.
    ok(&mut admin, &["ACL", "LOG", "RESET"]);
    err(&mut user, &["GET", "b"]);
    err(&mut user, &["GET", "b"]);
    err(&mut user, &["SET", "a", "1"]);
    err(&mut user, &["EVAL", "return redis.call('get', 'zz')", "0"]);
    assert!(q(&mut admin, &["AUTH", "u", "wrong"]).is_err());
    let entries = log_entries(&mut admin);
    let summary: Vec<(String, String, String, i64)> = entries
        .iter()
        .map(|entry| {
            let text = |name: &str| match &entry[name] {
                Value::BulkString(bytes) => String::from_utf8(bytes.clone()).unwrap(),
                other => panic!("{other:?}"),
            };
            let Value::Int(count) = entry["count"] else { panic!("count") };
            (text("reason"), text("context"), text("object"), count)
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("auth".to_owned(), "toplevel".to_owned(), "AUTH".to_owned(), 1),
            ("key".to_owned(), "lua".to_owned(), "zz".to_owned(), 1),
            ("command".to_owned(), "toplevel".to_owned(), "set".to_owned(), 1),
            ("key".to_owned(), "toplevel".to_owned(), "b".to_owned(), 2),
        ]
    );
    assert_eq!(entries[3]["username"], bulk("u"));
    assert_eq!(ok(&mut admin, &["ACL", "LOG", "RESET"]), Value::Okay);
    assert!(log_entries(&mut admin).is_empty());
    ok(&mut admin, &["CONFIG", "SET", "acllog-max-len", "1"]);
    err(&mut user, &["GET", "c"]);
    err(&mut user, &["GET", "d"]);
    assert_eq!(log_entries(&mut admin).len(), 1);
}

#[test]
fn requirepass_is_the_default_users_password() {
    let server = Server::start_with(&["--requirepass", "topsecret"]);
    let mut con = redis::Client::open(format!("redis://127.0.0.1:{}/", server.port)).unwrap().get_connection().unwrap();
    assert_eq!(err(&mut con, &["GET", "k"]), "NOAUTH Authentication required.");
    assert_eq!(ok(&mut con, &["AUTH", "topsecret"]), Value::Okay);
    let passwords = strings(match ok(&mut con, &["ACL", "GETUSER", "default"]) {
        Value::Array(fields) => fields[3].clone(),
        other => panic!("{other:?}"),
    });
    assert_eq!(passwords.len(), 1);
    ok(&mut con, &["CONFIG", "SET", "requirepass", "other"]);
    let mut fresh = redis::Client::open(format!("redis://127.0.0.1:{}/", server.port)).unwrap().get_connection().unwrap();
    assert_eq!(err(&mut fresh, &["AUTH", "topsecret"]), "WRONGPASS invalid username-password pair or user is disabled.");
    assert_eq!(ok(&mut fresh, &["AUTH", "default", "other"]), Value::Okay);
    ok(&mut con, &["CONFIG", "SET", "requirepass", ""]);
    let mut open = redis::Client::open(format!("redis://127.0.0.1:{}/", server.port)).unwrap().get_connection().unwrap();
    assert_eq!(ok(&mut open, &["GET", "k"]), Value::Nil, "no password: clients start authenticated");
}

#[test]
fn users_come_from_config_lines_and_the_acl_file() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("strata.conf");
    std::fs::write(&conf, "user reader on >r ~* +@read\nuser default on nopass ~* &* +@all -flushall\n").unwrap();
    let server = Server::start_with(&[conf.to_str().unwrap(), "--appendonly", "no"]);
    let mut admin = server.con();
    assert_eq!(err(&mut admin, &["FLUSHALL"]), "NOPERM this user has no permissions to run the 'flushall' command");
    let mut reader = connect_as(&server, "reader", "r");
    assert_eq!(ok(&mut reader, &["GET", "k"]), Value::Nil);
    assert!(err(&mut reader, &["SET", "k", "v"]).starts_with("NOPERM"));
    assert_eq!(
        err(&mut admin, &["ACL", "SAVE"]).split(". ").next().unwrap(),
        "ERR This Redis instance is not configured to use an ACL file"
    );
    drop(server);

    let acl_file = dir.path().join("users.acl");
    std::fs::write(&acl_file, "user ops on >o ~* &* +@all\n\nuser viewer on >v ~view:* +get\n").unwrap();
    let server = Server::start_with(&["--aclfile", acl_file.to_str().unwrap(), "--appendonly", "no"]);
    let mut ops = connect_as(&server, "ops", "o");
    assert_eq!(strings(ok(&mut ops, &["ACL", "USERS"])), ["default", "ops", "viewer"]);
    let mut viewer = connect_as(&server, "viewer", "v");
    assert_eq!(ok(&mut viewer, &["GET", "view:1"]), Value::Nil);
    ok(&mut ops, &["ACL", "SETUSER", "viewer", "~more:*"]);
    ok(&mut ops, &["ACL", "SETUSER", "late", "on", ">l", "+ping"]);
    assert_eq!(ok(&mut ops, &["ACL", "SAVE"]), Value::Okay);
    let saved = std::fs::read_to_string(&acl_file).unwrap();
    assert!(saved.contains("user late on #") && saved.contains("~view:* ~more:*"), "{saved}");
    ok(&mut ops, &["ACL", "DELUSER", "late"]);
    assert_eq!(ok(&mut ops, &["ACL", "LOAD"]), Value::Okay);
    std::thread::sleep(Duration::from_millis(100));
    assert!(q(&mut viewer, &["PING"]).is_err(), "ACL LOAD disconnects the clients of the users it replaced");
    assert!(q(&mut ops, &["PING"]).is_err(), "its own caller's too, after the reply, as Redis does");
    let mut ops = connect_as(&server, "ops", "o");
    assert_eq!(strings(ok(&mut ops, &["ACL", "USERS"])), ["default", "late", "ops", "viewer"]);

    std::fs::write(&acl_file, "user broken on +nosuchcommand\nnot a user line\n").unwrap();
    let error = err(&mut ops, &["ACL", "LOAD"]);
    assert!(error.contains("Error in applying operation '+nosuchcommand'") && error.contains("should start with user keyword"), "{error}");
    assert!(error.ends_with("WARNING: ACL errors detected, no change to the previously active ACL rules was performed"));
    assert_eq!(strings(ok(&mut ops, &["ACL", "USERS"])), ["default", "late", "ops", "viewer"], "nothing changed");
}

#[test]
fn subscribers_to_revoked_channels_are_disconnected() {
    let server = Server::start();
    let mut admin = server.con();
    ok(&mut admin, &["ACL", "SETUSER", "listener", "on", ">l", "&news.*", "&alerts", "+subscribe", "+psubscribe", "+ping"]);
    let mut news = connect_as(&server, "listener", "l");
    let mut alerts = connect_as(&server, "listener", "l");
    ok(&mut news, &["PSUBSCRIBE", "news.*"]);
    ok(&mut alerts, &["SUBSCRIBE", "alerts"]);
    assert_eq!(
        ok(&mut admin, &["ACL", "DRYRUN", "listener", "SUBSCRIBE", "other"]),
        bulk("This user has no permissions to access the 'other' channel")
    );
    ok(&mut admin, &["ACL", "SETUSER", "listener", "resetchannels", "&alerts"]);
    std::thread::sleep(Duration::from_millis(100));
    let mut subscribed = redis::cmd("PING");
    subscribed.arg("still");
    assert!(subscribed.query::<Value>(&mut news).is_err(), "its pattern was revoked");
    assert!(subscribed.query::<Value>(&mut alerts).is_ok(), "its channel is still allowed");
}

#[test]
fn acl_cat_lists_redis_categories_then_strata_families() {
    let server = Server::start();
    let mut con = server.con();
    let categories = strings(ok(&mut con, &["ACL", "CAT"]));
    assert_eq!(&categories[..3], ["keyspace", "read", "write"]);
    assert_eq!(categories[20], "scripting", "Redis's 21 categories first");
    assert!(categories.contains(&"queue".to_owned()) && categories.contains(&"id".to_owned()));
    assert_eq!(strings(ok(&mut con, &["ACL", "CAT", "id"])), ["id.next", "id.parse"]);
    let queue_commands = strings(ok(&mut con, &["ACL", "CAT", "queue"]));
    assert!(queue_commands.contains(&"q.push".to_owned()), "{queue_commands:?}");
    assert!(strings(ok(&mut con, &["ACL", "CAT", "hash"])).contains(&"hset".to_owned()));
    assert_eq!(err(&mut con, &["ACL", "CAT", "nosuch"]), "ERR Unknown category 'nosuch'");
    let password = ok(&mut con, &["ACL", "GENPASS"]);
    assert!(matches!(&password, Value::BulkString(p) if p.len() == 64 && p.iter().all(u8::is_ascii_hexdigit)), "{password:?}");
    assert!(matches!(ok(&mut con, &["ACL", "GENPASS", "5"]), Value::BulkString(p) if p.len() == 2));
}

#[test]
fn a_restricted_users_blocked_pop_is_served() {
    let server = Server::start();
    let mut admin = server.con();
    ok(&mut admin, &["ACL", "SETUSER", "consumer", "on", ">c", "~jobs", "+blpop"]);
    let port = server.port;
    let waiter = std::thread::spawn(move || {
        let mut consumer = redis::Client::open(format!("redis://consumer:c@127.0.0.1:{port}/")).unwrap().get_connection().unwrap();
        q(&mut consumer, &["BLPOP", "jobs", "5"])
    });
    std::thread::sleep(Duration::from_millis(200));
    ok(&mut admin, &["RPUSH", "jobs", "j1"]);
    assert_eq!(waiter.join().unwrap(), Ok(Value::Array(vec![bulk("jobs"), bulk("j1")])));
}

#[test]
fn strangers_may_not_send_big_requests_before_authenticating() {
    let server = Server::start_with(&["--requirepass", "pw"]);
    let mut stranger = server.raw();
    assert_eq!(stranger.send_until_close(b"*11\r\n"), "-ERR Protocol error: unauthenticated multibulk length\r\n");
    let mut stranger = server.raw();
    assert_eq!(stranger.send_until_close(b"*2\r\n$16385\r\n"), "-ERR Protocol error: unauthenticated bulk length\r\n");
    let mut stranger = server.raw();
    stranger.send(b"PING\r\n");
    assert_eq!(stranger.read_line(), "-NOAUTH Authentication required.");
    // Once authenticated, in the same pipeline, the limits are gone.
    let big = "x".repeat(100_000);
    let request = format!("AUTH pw\r\n*12\r\n$5\r\nRPUSH\r\n$1\r\nl\r\n{}$100000\r\n{big}\r\n", "$1\r\na\r\n".repeat(9));
    stranger.send(request.as_bytes());
    assert_eq!(stranger.read_line(), "+OK");
    assert_eq!(stranger.read_line(), ":10");
}

/// An address of this machine outside the loopback interface, if it has one.
fn outside_address() -> Option<std::net::IpAddr> {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.connect("192.0.2.1:9").ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

#[test]
fn protected_mode_refuses_outside_clients_while_the_default_user_has_no_password() {
    let Some(ip) = outside_address() else {
        println!("SKIPPED: no address outside the loopback interface");
        return;
    };
    let server = Server::start_with(&["--bind", "0.0.0.0"]);
    let mut outside = common::RawClient { stream: std::net::TcpStream::connect((ip, server.port)).unwrap() };
    outside.stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let answer = outside.send_until_close(b"PING\r\n");
    assert!(answer.starts_with("-DENIED Redis is running in protected mode because protected mode is enabled"), "{answer}");
    let mut local = server.con();
    ok(&mut local, &["CONFIG", "SET", "requirepass", "pw"]);
    let mut outside_con = redis::Client::open(format!("redis://:pw@{ip}:{}/", server.port)).unwrap().get_connection().unwrap();
    assert_eq!(ok(&mut outside_con, &["PING"]), common::status("PONG"), "with a password, protected mode lets it in");
}

#[test]
fn debug_and_protected_configs_follow_their_enable_settings() {
    let server = Server::start_with(&["--enable-debug-command", "no"]);
    let mut con = server.con();
    assert_eq!(
        err(&mut con, &["DEBUG", "SLEEP", "0"]),
        "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server."
    );
    assert_eq!(
        err(&mut con, &["CONFIG", "SET", "dir", "/tmp"]),
        "ERR CONFIG SET failed (possibly related to argument 'dir') - can't set protected config"
    );
    assert_eq!(
        err(&mut con, &["CONFIG", "SET", "enable-debug-command", "yes"]),
        "ERR CONFIG SET failed (possibly related to argument 'enable-debug-command') - can't set immutable config"
    );
    let server = Server::start_with(&["--enable-debug-command", "local", "--enable-protected-configs", "local"]);
    let mut con = server.con();
    assert_eq!(ok(&mut con, &["DEBUG", "SLEEP", "0"]), Value::Okay);
    assert_eq!(ok(&mut con, &["CONFIG", "SET", "dbfilename", "other.rdb"]), Value::Okay);
}
