//! Scripted `redis-cli` sessions: every `tests/redis-cli/NAME.redis` is piped through
//! `redis-cli -p PORT --no-raw [NAME.args...]` against a fresh strata and the output must equal
//! `NAME.expected`, which `tests/redis-cli/generate.sh` produced from a real redis-server (sessions
//! named `strata_*` use strata-only commands and have hand-reviewed expected files).
//!
//! Also: redis-cli's one-shot command line, `-x`, and its interactive mode under a pseudo-terminal
//! (`script` provides one), whose HELP output comes from the server's COMMAND DOCS.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::Server;

fn sessions_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/redis-cli")
}

fn have(program: &str) -> bool {
    Command::new(program).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok()
}

/// Runs redis-cli with `args`, feeding `stdin`; returns stdout and stderr together, as a terminal shows them.
fn redis_cli(port: u16, args: &[String], stdin: &[u8]) -> String {
    let mut child = Command::new("redis-cli")
        .args(["-p", &port.to_string(), "--no-raw"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("redis-cli (apt-get install redis-tools)");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let output = child.wait_with_output().unwrap();
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    text
}

/// The first differing line, with context, for a readable failure.
fn first_difference(expected: &str, got: &str) -> String {
    let (expected, got): (Vec<&str>, Vec<&str>) = (expected.lines().collect(), got.lines().collect());
    for i in 0..expected.len().max(got.len()) {
        if expected.get(i) != got.get(i) {
            let from = i.saturating_sub(3);
            return format!(
                "line {}:\n  expected: {:?}\n  got:      {:?}\n  expected lines {from}..: {:?}\n  got lines {from}..:      {:?}",
                i + 1,
                expected.get(i),
                got.get(i),
                &expected[from..(i + 3).min(expected.len())],
                &got[from..(i + 3).min(got.len())]
            );
        }
    }
    "no line differs (line endings?)".into()
}

#[test]
fn scripted_sessions_match_redis_server_output() {
    if !have("redis-cli") {
        println!("SKIPPED: redis-cli is not installed");
        return;
    }
    let mut scripts: Vec<PathBuf> = std::fs::read_dir(sessions_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "redis"))
        .collect();
    scripts.sort();
    assert!(scripts.len() >= 5, "sessions found: {scripts:?}");
    let mut failures = Vec::new();
    for script in &scripts {
        let name = script.file_stem().unwrap().to_string_lossy().into_owned();
        let args: Vec<String> = match std::fs::read_to_string(script.with_extension("args")) {
            Ok(text) => text.lines().map(str::to_owned).collect(),
            Err(_) => Vec::new(),
        };
        let expected = std::fs::read_to_string(script.with_extension("expected")).unwrap_or_else(|_| panic!("{name}.expected"));
        let strata = Server::start();
        let got = redis_cli(strata.port, &args, &std::fs::read(script).unwrap());
        if got != expected {
            failures.push(format!("session {name}: {}", first_difference(&expected, &got)));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn one_shot_command_lines() {
    if !have("redis-cli") {
        println!("SKIPPED: redis-cli is not installed");
        return;
    }
    let strata = Server::start();
    let run = |args: &[&str], stdin: &[u8]| redis_cli(strata.port, &args.iter().map(|s| s.to_string()).collect::<Vec<_>>(), stdin);
    assert_eq!(run(&["SET", "greeting", "hi there"], b""), "OK\n");
    assert_eq!(run(&["GET", "greeting"], b""), "\"hi there\"\n");
    assert_eq!(run(&["-x", "SET", "fromstdin"], b"piped\nvalue"), "OK\n");
    assert_eq!(run(&["GET", "fromstdin"], b""), "\"piped\\nvalue\"\n");
    assert_eq!(run(&["-3", "CONFIG", "GET", "maxclients"], b""), "1# \"maxclients\" => \"10000\"\n");
    assert_eq!(run(&["-n", "2", "SET", "indb2", "x"], b""), "OK\n");
    assert_eq!(run(&["-n", "2", "DBSIZE"], b""), "(integer) 1\n");
    assert_eq!(run(&["NOSUCH"], b""), "(error) ERR unknown command 'NOSUCH', with args beginning with: \n");
    // -r repeats a command.
    assert_eq!(run(&["-r", "3", "INCR", "n"], b""), "(integer) 1\n(integer) 2\n(integer) 3\n");
    // The keyspace tools: --scan (SCAN with MATCH) and --bigkeys (SCAN, TYPE, STRLEN).
    assert_eq!(run(&["-n", "3", "DEBUG", "POPULATE", "300", "key", "10"], b""), "OK\n");
    let scanned = run(&["-n", "3", "--scan", "--pattern", "key:1*"], b"");
    let mut keys: Vec<&str> = scanned.lines().collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 111, "key:1, key:10..19, key:100..199: {scanned}");
    let big = run(&["-n", "3", "--bigkeys"], b"");
    assert!(big.contains("300 strings with 3000 bytes"), "{big}");
}

/// Runs an interactive redis-cli under a pseudo-terminal (`script -q -c ...`), typing `input`.
fn interactive(port: u16, input: &str) -> String {
    let mut child = Command::new("script")
        .args(["-q", "-e", "-c", &format!("redis-cli -p {port}"), "/dev/null"])
        .env("TERM", "dumb")
        .env("HOME", std::env::temp_dir()) // no ~/.redisclirc, and the history file goes there
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script (util-linux)");
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    strip_terminal_codes(&String::from_utf8_lossy(&output.stdout))
}

/// Drops carriage returns and ANSI colour sequences (`ESC [ ... m`).
fn strip_terminal_codes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {}
            '\x1b' if chars.peek() == Some(&'[') => {
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            c => out.push(c),
        }
    }
    out
}

#[test]
fn interactive_help_comes_from_the_server() {
    if !have("redis-cli") || !have("script") {
        println!("SKIPPED: redis-cli or script (util-linux) is not installed");
        return;
    }
    let strata = Server::start();
    let redis = Server::start_redis();
    let input = "HELP GETEX\nSET k v\nGET k\nQUIT\n";
    let ours = interactive(strata.port, input);
    let theirs = interactive(redis.port, input);
    // redis-cli prints the command's summary and group from COMMAND DOCS (or its built-in table).
    for text in [&ours, &theirs] {
        assert!(text.contains("Get the value of a key and optionally set its expiration"), "{text}");
        assert!(text.contains("group: string"), "{text}");
        assert!(text.contains("\"v\""), "{text}");
    }
    let summary = |text: &str| text.lines().find(|l| l.contains("summary:")).map(|l| l.trim().to_owned());
    assert_eq!(summary(&ours), summary(&theirs));
    // redis-cli 7 builds its help from COMMAND DOCS, so strata's own commands have help too.
    // (The argument line after the name stays empty until COMMAND DOCS reports `arguments`.)
    let ours = interactive(strata.port, "HELP ID.NEXT\nQUIT\n");
    assert!(ours.contains("summary: Returns new snowflake IDs, strictly increasing per node"), "{ours}");
    assert!(ours.contains("group: id"), "{ours}");
}

/// IDs (snowflakes) and ages change from run to run: masked as `"<id>"` and `(integer) <ms>`.
fn mask_ids_and_ages(text: &str) -> String {
    let mut out = Vec::new();
    let mut after_age = false;
    for line in text.split('\n') {
        let mut masked = String::new();
        let mut rest = line;
        // A quoted run of 15-20 digits is an ID.
        while let Some(start) = rest.find('"') {
            let digits = rest[start + 1..].chars().take_while(char::is_ascii_digit).count();
            let closes = rest[start + 1 + digits..].starts_with('"');
            masked.push_str(&rest[..start]);
            if (15..=20).contains(&digits) && closes {
                masked.push_str("\"<id>\"");
                rest = &rest[start + digits + 2..];
            } else {
                masked.push('"');
                rest = &rest[start + 1..];
            }
        }
        masked.push_str(rest);
        if after_age {
            if let Some(at) = masked.find("(integer) ") {
                masked.truncate(at);
                masked.push_str("(integer) <ms>");
            }
        }
        after_age = masked.contains("oldest-ready-age-ms");
        out.push(masked);
    }
    out.join("\n")
}

/// The Q.* family in one redis-cli session (`tests/redis-cli/masked/strata_queue.redis`, its
/// expected output written and reviewed by hand, IDs and ages masked).
#[test]
fn queue_session() {
    if !have("redis-cli") {
        println!("SKIPPED: redis-cli is not installed");
        return;
    }
    let dir = sessions_dir().join("masked");
    let expected = std::fs::read_to_string(dir.join("strata_queue.expected")).unwrap();
    let strata = Server::start();
    let got = mask_ids_and_ages(&redis_cli(strata.port, &[], &std::fs::read(dir.join("strata_queue.redis")).unwrap()));
    assert!(got == expected, "{}", first_difference(&expected, &got));
}

/// Entry timestamps (Unix ms, 12 digits or more) change from run to run: masked as `(integer) <ms>`.
fn mask_timestamps(text: &str) -> String {
    let mut out = Vec::new();
    for line in text.split('\n') {
        match line.find("(integer) ") {
            Some(at) if line[at + 10..].len() >= 12 && line[at + 10..].bytes().all(|b| b.is_ascii_digit()) => {
                out.push(format!("{}(integer) <ms>", &line[..at]));
            }
            _ => out.push(line.to_string()),
        }
    }
    out.join("\n")
}

/// The STREAM.* family in one redis-cli session (`tests/redis-cli/masked/strata_topic.redis`, its
/// expected output written and reviewed by hand, entry timestamps masked).
#[test]
fn topic_session() {
    if !have("redis-cli") {
        println!("SKIPPED: redis-cli is not installed");
        return;
    }
    let dir = sessions_dir().join("masked");
    let expected = std::fs::read_to_string(dir.join("strata_topic.expected")).unwrap();
    let strata = Server::start();
    let got = mask_timestamps(&redis_cli(strata.port, &[], &std::fs::read(dir.join("strata_topic.redis")).unwrap()));
    assert!(got == expected, "{}", first_difference(&expected, &got));
}
