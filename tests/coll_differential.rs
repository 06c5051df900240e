//! Differential tests: each script in tests/coll_scripts/ runs against strata and a real
//! redis-server, in RESP2 and in RESP3, and the raw replies must be byte-identical.
//!
//! Scripts hold one command per line (words split on whitespace, `"..."` for empty or spaced
//! words, `\n` inside quotes for a newline, `#` comments, `@strata ...` for a setup command sent to strata only); they avoid
//! commands whose answers are random or depend on hash-table order. The test is skipped (with a
//! note) when `redis-server` is not installed.

mod coll_common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct RedisServer {
    child: Child,
    port: u16,
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_redis() -> Option<RedisServer> {
    let port = TcpListener::bind("127.0.0.1:0").ok()?.local_addr().ok()?.port();
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--save", "", "--appendonly", "no", "--bind", "127.0.0.1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let server = RedisServer { child, port };
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Some(server)
}

/// A raw RESP connection.
struct Raw {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Raw {
    fn connect(port: u16) -> Raw {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
        Raw { reader: BufReader::new(stream.try_clone().expect("clone")), writer: stream }
    }

    fn send(&mut self, words: &[&str]) {
        let mut out = format!("*{}\r\n", words.len()).into_bytes();
        for word in words {
            out.extend_from_slice(format!("${}\r\n{word}\r\n", word.len()).as_bytes());
        }
        self.writer.write_all(&out).expect("write");
    }

    /// One complete reply, raw bytes.
    fn read(&mut self) -> Vec<u8> {
        let mut line = Vec::new();
        self.reader.read_until(b'\n', &mut line).expect("read");
        let count = || std::str::from_utf8(&line[1..line.len() - 2]).ok().and_then(|t| t.parse::<i64>().ok()).unwrap_or(0);
        match line.first() {
            Some(b'$' | b'=' | b'!') if count() >= 0 => {
                let mut body = vec![0; count() as usize + 2];
                self.reader.read_exact(&mut body).expect("read bulk");
                line.extend(body);
            }
            Some(b'*' | b'~' | b'>' | b'%' | b'|') if count() > 0 => {
                let items = if matches!(line[0], b'%' | b'|') { 2 * count() } else { count() };
                for _ in 0..items {
                    let item = self.read();
                    line.extend(item);
                }
            }
            _ => {}
        }
        line
    }

    fn call(&mut self, words: &[&str]) -> Vec<u8> {
        self.send(words);
        self.read()
    }
}

/// Words split on whitespace; `"..."` keeps spaces and may be empty.
fn split_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current: Option<String> = None;
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                quoted = !quoted;
                current.get_or_insert_with(String::new);
            }
            // `\n` inside quotes is a newline (multi-line Lua scripts).
            '\\' if quoted && chars.peek() == Some(&'n') => {
                chars.next();
                current.get_or_insert_with(String::new).push('\n');
            }
            c if c.is_whitespace() && !quoted => words.extend(current.take()),
            c => current.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(current);
    words
}

fn run_script(name: &str, text: &str, redis_port: u16, strata_port: u16, resp3: bool) -> Vec<String> {
    let mut redis = Raw::connect(redis_port);
    let mut strata = Raw::connect(strata_port);
    for raw in [&mut redis, &mut strata] {
        if resp3 {
            raw.call(&["HELLO", "3"]);
        }
        raw.call(&["FLUSHALL"]);
    }
    let mut diffs = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        // `@strata cmd ...` goes to strata only (settings Redis 7.0 lacks); its reply must be OK.
        if let Some(own) = line.strip_prefix("@strata ") {
            let owned = split_words(own);
            let words: Vec<&str> = owned.iter().map(String::as_str).collect();
            assert_eq!(strata.call(&words), b"+OK\r\n", "{name}: {line}");
            continue;
        }
        let owned = split_words(line);
        let words: Vec<&str> = owned.iter().map(String::as_str).collect();
        let (want, got) = (redis.call(&words), strata.call(&words));
        if want != got {
            diffs.push(format!(
                "{name} (RESP{}): {line}\n  redis : {:?}\n  strata: {:?}",
                if resp3 { 3 } else { 2 },
                String::from_utf8_lossy(&want),
                String::from_utf8_lossy(&got)
            ));
        }
    }
    diffs
}

#[test]
fn collection_scripts_match_redis() {
    let Some(redis) = start_redis() else {
        eprintln!("redis-server not found: differential collection tests skipped");
        return;
    };
    let strata = coll_common::Server::start();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/coll_scripts");
    let mut scripts: Vec<_> = std::fs::read_dir(&dir).expect("scripts dir").filter_map(Result::ok).map(|e| e.path()).collect();
    scripts.sort();
    assert!(scripts.len() >= 5, "scripts missing from {}", dir.display());
    let mut diffs = Vec::new();
    for path in &scripts {
        let text = std::fs::read_to_string(path).expect("script");
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        for resp3 in [false, true] {
            diffs.extend(run_script(&name, &text, redis.port, strata.port, resp3));
        }
    }
    assert!(diffs.is_empty(), "{} replies differ from redis-server:\n{}", diffs.len(), diffs.join("\n"));
}
