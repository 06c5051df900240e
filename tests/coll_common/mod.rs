//! Starts the real strata-server binary for the collection tests and talks to it with the `redis`
//! crate. (Kept apart from `tests/common`, which belongs to the core tests.)

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

pub use redis::Value;

/// A running server, killed when dropped.
pub struct Server {
    child: Child,
    pub port: u16,
}

impl Server {
    pub fn start() -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_strata-server"))
            // Two event loops whatever the machine's cores, as tests/common does.
            .args(["--port", "0", "--threads", "2"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start strata-server");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let port = loop {
            let line = lines.next().expect("server exited before it was ready").expect("read stdout");
            if let Some(port) = line.strip_prefix("ready port=") {
                break port.trim().parse().expect("port number");
            }
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Server { child, port }
    }

    /// A connection speaking RESP2, or RESP3 when `resp3`.
    pub fn connect(&self, resp3: bool) -> redis::Connection {
        let url = format!("redis://127.0.0.1:{}/{}", self.port, if resp3 { "?protocol=resp3" } else { "" });
        redis::Client::open(url).expect("client").get_connection().expect("connect")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a command given as words and returns the raw reply (errors as `Err` with their text).
pub fn try_cmd(con: &mut redis::Connection, words: &[&str]) -> Result<Value, String> {
    let mut cmd = redis::cmd(words[0]);
    for word in &words[1..] {
        cmd.arg(*word);
    }
    cmd.query::<Value>(con).map_err(|e| match (e.code(), e.detail()) {
        (Some(code), Some(detail)) => format!("{code} {detail}"),
        (Some(code), None) => code.to_owned(),
        _ => e.to_string(),
    })
}

/// Runs a command that must succeed.
pub fn cmd(con: &mut redis::Connection, words: &[&str]) -> Value {
    try_cmd(con, words).unwrap_or_else(|e| panic!("{words:?} failed: {e}"))
}

/// The error text of a command that must fail.
pub fn err(con: &mut redis::Connection, words: &[&str]) -> String {
    match try_cmd(con, words) {
        Ok(value) => panic!("{words:?} succeeded with {value:?}"),
        Err(text) => text,
    }
}

pub fn bulk(text: &str) -> Value {
    Value::BulkString(text.as_bytes().to_vec())
}

pub fn bulks(items: &[&str]) -> Value {
    Value::Array(items.iter().map(|s| bulk(s)).collect())
}

pub fn int(n: i64) -> Value {
    Value::Int(n)
}

pub fn status(text: &str) -> Value {
    Value::SimpleString(text.to_owned())
}
