//! LAKE.* through real clients and the real binary: the RFC 7396 appendix and the RFC 6902 test
//! suite (data in tests/data/lake) through LAKE.WRITE and LAKE.READ, Lake's path rules, writes at
//! missing targets, reply shapes, MULTI and scripts, keyspace events, restarts from the store with
//! and without encryption (a wrong key stops the server), and 16 concurrent writers whose history
//! replays to the document and whose diffs turn any version into any other.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{as_int, as_pairs, as_text, bulk, err, int, ok, q, Server};
use redis::Value;
use serde_json::{json, Value as Json};

fn data(name: &str) -> Json {
    let path = format!("{}/tests/data/lake/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn text(value: &Json) -> String {
    serde_json::to_string(value).unwrap()
}

/// The document (or value) LAKE.READ answers, parsed.
#[track_caller]
fn read(con: &mut redis::Connection, args: &[&str]) -> Json {
    let mut full = vec!["LAKE.READ"];
    full.extend_from_slice(args);
    match ok(con, &full) {
        Value::Nil => Json::Null,
        reply => serde_json::from_str(&as_text(&reply)).unwrap(),
    }
}

#[test]
fn rfc7396_appendix_a_through_write_and_read() {
    let server = Server::start();
    let mut con = server.con();
    for (n, case) in data("rfc7396-appendix-a.json").as_array().unwrap().iter().enumerate() {
        let key = format!("merge{n}");
        ok(&mut con, &["LAKE.WRITE", &key, "/", "REPLACE", &text(&case["original"])]);
        assert_eq!(ok(&mut con, &["LAKE.WRITE", &key, "/", "MERGE", &text(&case["patch"])]), int(2), "{case}");
        let doc = ok(&mut con, &["LAKE.READ", &key]);
        assert_eq!(serde_json::from_str::<Json>(&as_text(&doc)).unwrap(), case["result"], "{case}");
        // The same patch one level down, at a field that does not exist yet (counts as {}).
        ok(&mut con, &["LAKE.WRITE", &key, "/", "REPLACE", "{}"]);
        ok(&mut con, &["LAKE.WRITE", &key, "/field", "MERGE", &text(&case["patch"])]);
        let mut from_empty = Json::Null;
        json_patch::merge(&mut from_empty, &case["patch"]);
        assert_eq!(read(&mut con, &[&key, "/field"]), from_empty, "{case}");
    }
}

#[test]
fn rfc6902_test_suite_through_write_and_read() {
    let server = Server::start();
    let mut con = server.con();
    let mut run = 0;
    for file in ["rfc6902-tests.json", "rfc6902-spec-tests.json"] {
        for case in data(file).as_array().unwrap() {
            if case.get("disabled") == Some(&json!(true)) {
                continue;
            }
            run += 1;
            let key = format!("patch{run}");
            ok(&mut con, &["LAKE.WRITE", &key, "/", "REPLACE", &text(&case["doc"])]);
            let written = q(&mut con, &["LAKE.WRITE", &key, "/", "PATCH", &text(&case["patch"])]);
            let doc = read(&mut con, &[&key]);
            if case.get("error").is_some() {
                assert!(written.is_err(), "{file}: {case} wrote {written:?}");
                assert_eq!(doc, case["doc"], "{file}: a failed patch leaves the document: {case}");
                assert_eq!(read(&mut con, &[&key, "VERSION", "1"]), case["doc"]);
                assert_eq!(as_int(&as_pairs(&ok(&mut con, &["LAKE.INFO", &key]))[0].1), 1, "no delta: {case}");
            } else {
                assert!(written.is_ok(), "{file}: {case}: {written:?}");
                assert_eq!(&doc, case.get("expected").unwrap_or(&case["doc"]), "{file}: {case}");
            }
        }
    }
    assert!(run > 90, "{run} cases");
}

#[test]
fn path_rules() {
    let server = Server::start();
    let mut con = server.con();
    let paths = data("paths.json");
    for path in paths["valid"].as_array().unwrap() {
        let path = path.as_str().unwrap();
        ok(&mut con, &["LAKE.WRITE", path, path, "REPLACE", "1"]);
        assert_eq!(read(&mut con, &[path, path]), json!(1), "{path}");
    }
    for path in paths["invalid"].as_array().unwrap() {
        let path = path.as_str().unwrap();
        let error = err(&mut con, &["LAKE.WRITE", "invalid", path, "REPLACE", "1"]);
        assert!(error.starts_with("ERR invalid path"), "{path}: {error}");
    }
    assert_eq!(ok(&mut con, &["EXISTS", "invalid"]), int(0));
    assert!(err(&mut con, &["LAKE.READ", "/", "/a-b"]).starts_with("ERR invalid path"));
}

#[test]
fn field_scoped_writes_and_missing_targets() {
    let server = Server::start();
    let mut con = server.con();
    // REPLACE creates missing parents; MERGE treats a missing target as {}.
    ok(&mut con, &["LAKE.WRITE", "c", "/a/b/c", "REPLACE", "1"]);
    ok(&mut con, &["LAKE.WRITE", "c", "/x/y", "MERGE", r#"{"k":"v","gone":null}"#]);
    assert_eq!(read(&mut con, &["c"]), json!({"a": {"b": {"c": 1}}, "x": {"y": {"k": "v"}}}));
    // PATCH needs its target, and its pointers are relative to it.
    let error = err(&mut con, &["LAKE.WRITE", "c", "/missing", "PATCH", r#"[{"op":"add","path":"/k","value":1}]"#]);
    assert_eq!(error, "ERR no value at /missing to patch");
    ok(&mut con, &["LAKE.WRITE", "c", "/a/b", "PATCH", r#"[{"op":"test","path":"/c","value":1},{"op":"add","path":"/d","value":2}]"#]);
    assert_eq!(read(&mut con, &["c", "/a"]), json!({"b": {"c": 1, "d": 2}}));
    // A compare-and-set that loses changes nothing.
    let lost = err(
        &mut con,
        &["LAKE.WRITE", "c", "/a/b", "PATCH", r#"[{"op":"replace","path":"/d","value":3},{"op":"test","path":"/c","value":9}]"#],
    );
    assert!(lost.starts_with("ERR patch failed, nothing written"), "{lost}");
    assert_eq!(read(&mut con, &["c", "/a/b/d"]), json!(2));
    // No path through a value that is not an object.
    assert_eq!(err(&mut con, &["LAKE.WRITE", "c", "/a/b/c/d", "REPLACE", "1"]), "ERR the value at /a/b/c is not an object");
    assert_eq!(read(&mut con, &["c", "/nothing/here"]), Json::Null);
    assert_eq!(as_int(&as_pairs(&ok(&mut con, &["LAKE.INFO", "c"]))[0].1), 3);
}

#[test]
fn reply_shapes_types_and_generic_commands() {
    let server = Server::start();
    let mut resp2 = server.con();
    let mut resp3 = server.con3();
    assert_eq!(ok(&mut resp2, &["LAKE.WRITE", "c", "/", "REPLACE", r#"{"b":1,"a":2}"#, "META", r#"{"owner":"ann"}"#]), int(1));
    assert_eq!(ok(&mut resp2, &["LAKE.READ", "c"]), bulk(r#"{"b":1,"a":2}"#), "keys keep the order they were written in");
    assert_eq!(ok(&mut resp2, &["LAKE.READ", "none"]), Value::Nil);
    assert_eq!(ok(&mut resp2, &["TYPE", "c"]), Value::SimpleString("lake".into()));
    assert_eq!(ok(&mut resp2, &["SCAN", "0", "TYPE", "lake"]), Value::Array(vec![bulk("0"), Value::Array(vec![bulk("c")])]));
    assert_eq!(ok(&mut resp2, &["LAKE.META", "c"]), bulk(r#"{"owner":"ann"}"#));
    let Value::Array(history) = ok(&mut resp2, &["LAKE.HISTORY", "c"]) else { panic!() };
    let Value::Array(fields) = &history[0] else { panic!("{history:?}") };
    assert_eq!(fields[0..2], [bulk("version"), int(1)]);
    assert_eq!(fields[4..10], [bulk("mode"), bulk("replace"), bulk("path"), bulk("/"), bulk("body"), bulk(r#"{"b":1,"a":2}"#)]);
    let Value::Array(history) = ok(&mut resp3, &["LAKE.HISTORY", "c"]) else { panic!() };
    assert!(matches!(history[0], Value::Map(_)), "{history:?}");
    assert!(matches!(ok(&mut resp3, &["LAKE.INFO", "c"]), Value::Map(_)));
    assert!(err(&mut resp2, &["LPUSH", "c", "x"]).starts_with("WRONGTYPE"));
    ok(&mut resp2, &["SET", "s", "v"]);
    assert!(err(&mut resp2, &["LAKE.READ", "s"]).starts_with("WRONGTYPE"));
    assert_eq!(ok(&mut resp2, &["LAKE.MREAD", "c", "s", "none"]), Value::Array(vec![bulk(r#"{"b":1,"a":2}"#), Value::Nil, Value::Nil]));
    // DUMP and RESTORE carry the whole catalog: document, history and metadata.
    ok(&mut resp2, &["LAKE.WRITE", "c", "/a", "MERGE", r#"{"z":true}"#]);
    let Value::BulkString(payload) = ok(&mut resp2, &["DUMP", "c"]) else { panic!() };
    let restore = redis::cmd("RESTORE").arg("copy").arg(0).arg(&payload[..]).query::<Value>(&mut resp2);
    assert_eq!(restore.unwrap(), Value::Okay);
    assert_eq!(ok(&mut resp2, &["LAKE.READ", "copy", "VERSION", "1"]), bulk(r#"{"b":1,"a":2}"#));
    assert_eq!(ok(&mut resp2, &["LAKE.META", "copy"]), bulk(r#"{"owner":"ann"}"#));
    assert_eq!(ok(&mut resp2, &["LAKE.DIFF", "copy", "0", "2"]), ok(&mut resp2, &["LAKE.DIFF", "c", "0", "2"]));
    let mut damaged = payload.clone();
    let middle = damaged.len() / 2;
    damaged[middle] ^= 0x55;
    assert!(redis::cmd("RESTORE").arg("bad").arg(0).arg(&damaged[..]).query::<Value>(&mut resp2).is_err());
    assert_eq!(ok(&mut resp2, &["RENAME", "c", "d"]), Value::Okay);
    assert_eq!(read(&mut resp2, &["d", "/b"]), json!(1));
    assert_eq!(ok(&mut resp2, &["DEL", "d"]), int(1));
    assert_eq!(ok(&mut resp2, &["EXISTS", "d"]), int(0));
    let info = ok(&mut resp2, &["COMMAND", "INFO", "LAKE.WRITE"]);
    assert!(format!("{info:?}").contains("@lake"), "{info:?}");
    let Value::Array(lake_commands) = ok(&mut resp2, &["ACL", "CAT", "lake"]) else { panic!() };
    assert_eq!(lake_commands.len(), 9, "{lake_commands:?}");
    ok(&mut resp2, &["ACL", "SETUSER", "reader", "on", "nopass", "~*", "+@all", "-@lake", "+lake.read"]);
    ok(&mut resp2, &["AUTH", "reader", "x"]);
    assert!(err(&mut resp2, &["LAKE.WRITE", "copy", "/", "REPLACE", "1"]).starts_with("NOPERM"));
    assert_eq!(read(&mut resp2, &["copy", "/b"]), json!(1));
}

#[test]
fn transactions_scripts_and_keyspace_events() {
    let server = Server::start();
    let mut con = server.con();
    ok(&mut con, &["CONFIG", "SET", "notify-keyspace-events", "KEd"]);
    let client = redis::Client::open(server.url()).unwrap();
    let mut sub = client.get_connection().unwrap();
    let mut pubsub = sub.as_pubsub();
    pubsub.subscribe("__keyevent@0__:lake.write").unwrap();
    pubsub.set_read_timeout(Some(Duration::from_secs(5))).unwrap();

    ok(&mut con, &["MULTI"]);
    q(&mut con, &["LAKE.WRITE", "t", "/n", "REPLACE", "1"]).unwrap();
    q(&mut con, &["LAKE.WRITE", "t", "/n", "PATCH", r#"[{"op":"test","path":"","value":5}]"#]).unwrap();
    q(&mut con, &["LAKE.WRITE", "t", "/m", "REPLACE", "2"]).unwrap();
    // The failed compare-and-set is its own reply; the commands around it ran.
    let exec = q(&mut con, &["EXEC"]).unwrap_err();
    assert!(exec.contains("patch failed, nothing written"), "{exec}");
    assert_eq!(read(&mut con, &["t"]), json!({"n": 1, "m": 2}));
    assert_eq!(as_int(&as_pairs(&ok(&mut con, &["LAKE.INFO", "t"]))[0].1), 2);
    let script = "redis.call('LAKE.WRITE', KEYS[1], '/c', 'MERGE', ARGV[1]); return redis.call('LAKE.READ', KEYS[1], '/c')";
    assert_eq!(ok(&mut con, &["EVAL", script, "1", "t", r#"{"x":1}"#]), bulk(r#"{"x":1}"#));
    let message = pubsub.get_message().unwrap();
    assert_eq!(message.get_payload::<String>().unwrap(), "t");
    assert_eq!(message.get_channel_name(), "__keyevent@0__:lake.write");
}

fn start_persistent(dir: &std::path::Path, extra: &[&str]) -> Server {
    let mut args = vec!["--appendonly", "yes", "--dir", dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    Server::start_with(&args)
}

/// Everything a catalog answers: the document, every version, the history, metadata and info.
fn picture(con: &mut redis::Connection, key: &str) -> Vec<String> {
    let info = as_pairs(&ok(con, &["LAKE.INFO", key]));
    let version = as_int(&info[0].1);
    let horizon = as_int(&info[1].1);
    let mut shown: Vec<String> = info.iter().filter(|(name, _)| name != "updated").map(|(name, v)| format!("{name}={v:?}")).collect();
    shown.push(as_text(&ok(con, &["LAKE.META", key])));
    for v in horizon..=version {
        shown.push(as_text(&ok(con, &["LAKE.READ", key, "VERSION", &v.to_string()])));
    }
    shown.push(format!("{:?}", ok(con, &["LAKE.HISTORY", key])));
    shown
}

#[test]
fn restarts_keep_history_snapshots_and_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("lake.key");
    std::fs::write(&key_file, "42".repeat(32)).unwrap();
    let key_arg = key_file.to_str().unwrap();
    let before = {
        let server = start_persistent(dir.path(), &["--lake-encryption-key-file", key_arg, "--lake-snapshot-interval", "4"]);
        let mut con = server.con();
        for i in 0..30 {
            let body = json!({ format!("field{}", i % 7): "secret-value-".repeat(20), "n": i });
            ok(&mut con, &["LAKE.WRITE", "cat", "/", "MERGE", &text(&body)]);
        }
        ok(&mut con, &["LAKE.WRITE", "cat", "/", "PATCH", "[]", "META", r#"{"owner":"ann"}"#]);
        ok(&mut con, &["LAKE.COMPACT", "cat", "KEEP", "2"]);
        ok(&mut con, &["LAKE.WRITE", "cat", "/tail", "REPLACE", "true"]);
        ok(&mut con, &["LAKE.WRITE", "other", "/", "REPLACE", "[1,2,3]"]);
        let shown = picture(&mut con, "cat");
        stop(server, &mut con);
        shown
    };
    // Nothing of the documents is in the store's files in the clear.
    for file in walk(&dir.path().join("strata-store")) {
        let bytes = std::fs::read(&file).unwrap();
        assert!(!bytes.windows(12).any(|w| w == b"secret-value"), "{file:?} holds a plain document");
    }
    {
        let server = start_persistent(dir.path(), &["--lake-encryption-key-file", key_arg]);
        let mut con = server.con();
        assert_eq!(picture(&mut con, "cat"), before);
        assert_eq!(read(&mut con, &["other"]), json!([1, 2, 3]));
        stop(server, &mut con);
    }
    // A wrong key, or none, stops the server with a clear error instead of serving garbage.
    std::fs::write(&key_file, "17".repeat(32)).unwrap();
    for extra in [&["--lake-encryption-key-file", key_arg][..], &[]] {
        let output = Command::new(env!("CARGO_BIN_EXE_strata-server"))
            .args(["--port", "0", "--bind", "127.0.0.1", "--appendonly", "yes", "--dir", dir.path().to_str().unwrap()])
            .args(extra)
            .output()
            .unwrap();
        let said = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        assert!(!output.status.success(), "{said}");
        assert!(said.contains("catalog 'cat'") && said.contains("lake-encryption-key-file"), "{said}");
    }
}

fn stop(mut server: Server, con: &mut redis::Connection) {
    q(con, &["SHUTDOWN"]).ok();
    assert!(server.wait_exit(Duration::from_secs(10)).is_some_and(|status| status.success()));
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[test]
fn sixteen_concurrent_writers_replay_and_diff() {
    let server = Server::start_with(&["--lake-snapshot-interval", "16"]);
    let port = server.port;
    let writers: Vec<_> = (0..16)
        .map(|writer| {
            std::thread::spawn(move || {
                let mut con = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap().get_connection().unwrap();
                for i in 0..40 {
                    let field = format!("/w{writer}");
                    let reply = match i % 4 {
                        0 => q(&mut con, &["LAKE.WRITE", "shared", &field, "REPLACE", &format!(r#"{{"i":{i}}}"#)]),
                        1 => q(&mut con, &["LAKE.WRITE", "shared", "/", "MERGE", &format!(r#"{{"last":{writer},"c{}":{i}}}"#, i % 5)]),
                        2 => q(
                            &mut con,
                            &["LAKE.WRITE", "shared", &field, "PATCH", &format!(r#"[{{"op":"add","path":"/p{i}","value":[{i}]}}]"#)],
                        ),
                        _ => q(&mut con, &["LAKE.WRITE", "shared", "/", "PATCH", r#"[{"op":"add","path":"/seq/-","value":1}]"#]),
                    };
                    // The last mode fails until someone made /seq: a refused write adds nothing.
                    if reply.is_err() {
                        let _ = q(&mut con, &["LAKE.WRITE", "shared", "/seq", "REPLACE", "[]"]);
                    }
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().unwrap();
    }
    let mut con = server.con();
    let Value::Array(history) = ok(&mut con, &["LAKE.HISTORY", "shared"]) else { panic!() };
    let mut doc = json!({});
    let mut versions = vec![doc.clone()];
    for (n, delta) in history.iter().enumerate() {
        let fields = as_pairs(delta);
        let field = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap();
        assert_eq!(as_int(&field("version")), n as i64 + 1, "versions have no gaps");
        let path = as_text(&field("path"));
        let body: Json = serde_json::from_str(&as_text(&field("body"))).unwrap();
        let pointer = if path == "/" { String::new() } else { path.clone() };
        if doc.pointer(&pointer).is_none() {
            doc.as_object_mut().unwrap().insert(path[1..].to_string(), Json::Null);
        }
        let target = doc.pointer_mut(&pointer).unwrap();
        match as_text(&field("mode")).as_str() {
            "replace" => *target = body,
            "merge" => json_patch::merge(target, &body),
            _ => json_patch::patch(target, &serde_json::from_value::<json_patch::Patch>(body).unwrap()).unwrap(),
        }
        versions.push(doc.clone());
    }
    assert!(history.len() >= 16 * 30, "{} deltas", history.len());
    assert_eq!(read(&mut con, &["shared"]), doc, "the history replays to the document");
    let last = versions.len() - 1;
    for (v1, v2) in [(0, last), (last, 0), (1, 7), (100, 101), (last / 2, last), (33, 17)] {
        let diff = as_text(&ok(&mut con, &["LAKE.DIFF", "shared", &v1.to_string(), &v2.to_string()]));
        let mut patched = read(&mut con, &["shared", "VERSION", &v1.to_string()]);
        assert_eq!(patched, versions[v1]);
        json_patch::patch(&mut patched, &serde_json::from_str::<json_patch::Patch>(&diff).unwrap()).unwrap();
        assert_eq!(patched, versions[v2], "DIFF {v1} {v2}");
    }
}
