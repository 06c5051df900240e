//! Test harness: starts the real `strata-server` binary on an ephemeral port, or a real `redis-server`
//! to compare with, and hands out `redis` crate connections and raw sockets to either.
//!
//! Every server is killed when its handle drops, so a failing test leaves no process behind.

#![allow(dead_code)]

pub mod workload;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use redis::Value;

/// How long a server may take to start before the test fails.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A running server process (strata or redis-server) on 127.0.0.1.
pub struct Server {
    child: Child,
    pub port: u16,
    /// Standard output lines after `ready port=` (strata logs there), for tests that read the log.
    log: Arc<Mutex<Vec<String>>>,
    /// `panicked at` lines seen on standard error.
    panics: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// strata with default settings.
    pub fn start() -> Server {
        Server::start_with(&[])
    }

    /// strata with extra command-line arguments (`["--maxclients", "2"]`, or a config file first).
    pub fn start_with(args: &[&str]) -> Server {
        let mut command = Command::new(env!("CARGO_BIN_EXE_strata-server"));
        command.args(args);
        if !args.contains(&"--port") {
            command.args(["--port", "0"]);
        }
        if !args.contains(&"--bind") {
            command.args(["--bind", "127.0.0.1"]);
        }
        // Two event loops whatever the machine's cores, so what crosses loops (the gate, blocked
        // clients served by another loop, contended shards) is always exercised.
        if !args.contains(&"--threads") {
            command.args(["--threads", "2"]);
        }
        // Redis's default refuses DEBUG; tests use it from the loopback interface.
        if !args.contains(&"--enable-debug-command") {
            command.args(["--enable-debug-command", "local"]);
        }
        command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        limit_memory(&mut command);
        let mut child = command.spawn().expect("spawn strata-server");
        let stdout = child.stdout.take().expect("child stdout");
        // Standard error is passed on (the test runner shows it for failed tests) and watched for
        // panics: a panicking handler only drops its connection, which a test could miss.
        let stderr = child.stderr.take().expect("child stderr");
        let panics = Arc::new(Mutex::new(Vec::new()));
        let panic_writer = panics.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                eprintln!("strata-server: {line}");
                if line.contains("panicked at") {
                    panic_writer.lock().unwrap().push(line);
                }
            }
        });
        let log = Arc::new(Mutex::new(Vec::new()));
        let (sender, receiver) = mpsc::channel();
        let log_writer = log.clone();
        std::thread::spawn(move || {
            let mut sender = Some(sender);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(port) = line.strip_prefix("ready port=") {
                    if let Some(sender) = sender.take() {
                        let _ = sender.send(port.trim().parse::<u16>().expect("port number"));
                    }
                }
                log_writer.lock().unwrap().push(line);
            }
        });
        let port = match receiver.recv_timeout(START_TIMEOUT) {
            Ok(port) => port,
            Err(_) => {
                let _ = child.kill();
                let status = child.wait();
                panic!("strata-server did not print `ready port=` (args {args:?}, exit {status:?})");
            }
        };
        Server { child, port, log, panics }
    }

    /// A real redis-server on a free port, with no persistence, once it answers PING.
    pub fn start_redis() -> Server {
        Server::start_redis_with(&[])
    }

    pub fn start_redis_with(args: &[&str]) -> Server {
        // redis-server can't listen on port 0: find a free port and hope nobody takes it meanwhile;
        // retry if somebody did.
        for _ in 0..5 {
            let port = free_port();
            let mut child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn redis-server (apt-get install redis-server)");
            let deadline = Instant::now() + START_TIMEOUT;
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                if ping_raw(port) {
                    return Server { child, port, log: Default::default(), panics: Default::default() };
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("could not start redis-server");
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    pub fn url3(&self) -> String {
        format!("redis://127.0.0.1:{}/?protocol=resp3", self.port)
    }

    /// A RESP2 connection.
    pub fn con(&self) -> redis::Connection {
        redis::Client::open(self.url()).unwrap().get_connection().expect("connect (RESP2)")
    }

    /// A RESP3 connection (the client sends HELLO 3 first).
    pub fn con3(&self) -> redis::Connection {
        redis::Client::open(self.url3()).unwrap().get_connection().expect("connect (RESP3)")
    }

    /// A connection over the protocol given as 2 or 3.
    pub fn con_proto(&self, protocol: u8) -> redis::Connection {
        if protocol == 3 {
            self.con3()
        } else {
            self.con()
        }
    }

    pub async fn async_con(&self, protocol: u8) -> redis::aio::MultiplexedConnection {
        let url = if protocol == 3 { self.url3() } else { self.url() };
        redis::Client::open(url).unwrap().get_multiplexed_async_connection().await.expect("connect (async)")
    }

    /// A plain socket, for bytes the redis crate would never send.
    pub fn raw(&self) -> RawClient {
        let stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect raw");
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        RawClient { stream }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The process's exit status if it has exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().expect("try_wait")
    }

    /// Waits up to `timeout` for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.exited() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    /// The process is running, never panicked, and a fresh connection gets PONG: what every
    /// bad-input test ends with.
    pub fn assert_healthy(&mut self) {
        assert!(self.exited().is_none(), "server process exited: {:?}", self.exited());
        self.assert_no_panic();
        let mut raw = self.raw();
        raw.send(b"PING\r\n");
        assert_eq!(raw.read_line(), "+PONG");
    }

    /// Fails the test if the server printed a panic so far.
    pub fn assert_no_panic(&self) {
        let panics = self.panics.lock().unwrap();
        assert!(panics.is_empty(), "strata-server panicked: {panics:?}");
    }

    pub fn log_lines(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill").args(["-s", signal, &self.child.id().to_string()]).status().expect("kill");
        assert!(status.success());
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Every test that starts strata checks this at the end, unless it is already failing.
        if !std::thread::panicking() {
            // Give the stderr reader a moment to see the last lines.
            std::thread::sleep(Duration::from_millis(20));
            self.assert_no_panic();
        }
    }
}

/// Caps the server's address space so a runaway allocation (a parser loop, say) fails that server
/// instead of sending the shared machine's OOM killer after other processes.
fn limit_memory(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    const LIMIT: u64 = 8 << 30;
    // SAFETY: only an async-signal-safe setrlimit call runs between fork and exec.
    unsafe {
        command.pre_exec(|| {
            rlimit::setrlimit(rlimit::Resource::AS, LIMIT, LIMIT)?;
            Ok(())
        });
    }
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn ping_raw(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    if stream.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut reply = [0u8; 7];
    stream.read_exact(&mut reply).is_ok() && &reply == b"+PONG\r\n"
}

/// A socket speaking raw bytes.
pub struct RawClient {
    pub stream: TcpStream,
}

impl RawClient {
    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    /// One reply line without its CRLF.
    pub fn read_line(&mut self) -> String {
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        loop {
            match self.stream.read(&mut byte) {
                Ok(0) => break,
                Ok(_) => {
                    line.push(byte[0]);
                    if line.ends_with(b"\r\n") {
                        line.truncate(line.len() - 2);
                        break;
                    }
                }
                Err(error) => panic!("read failed after {:?}: {error}", String::from_utf8_lossy(&line)),
            }
        }
        String::from_utf8_lossy(&line).into_owned()
    }

    /// Everything until the server closes the connection (or the read timeout, which fails the test).
    pub fn read_to_close(&mut self) -> Vec<u8> {
        let mut all = Vec::new();
        match self.stream.read_to_end(&mut all) {
            Ok(_) => all,
            Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => all,
            Err(error) => {
                let shown = String::from_utf8_lossy(&all[..all.len().min(300)]).into_owned();
                panic!("connection not closed: {error}; read {} bytes so far, starting {shown:?}", all.len())
            }
        }
    }

    /// Sends a request and reads until the server closes the connection.
    pub fn send_until_close(&mut self, bytes: &[u8]) -> String {
        // The server may close before it has read everything we send; a failed write is fine then.
        let _ = self.stream.write_all(bytes);
        String::from_utf8_lossy(&self.read_to_close()).into_owned()
    }
}

/// Runs one command and returns the raw reply, or the error line (`"ERR ..."`, `"WRONGTYPE ..."`).
pub fn q(con: &mut redis::Connection, args: &[&str]) -> Result<Value, String> {
    let mut cmd = redis::cmd(args[0]);
    for arg in &args[1..] {
        cmd.arg(*arg);
    }
    cmd.query::<Value>(con).map_err(error_line)
}

/// Same with binary arguments.
pub fn qb(con: &mut redis::Connection, args: &[Vec<u8>]) -> Result<Value, String> {
    let mut cmd = redis::cmd(std::str::from_utf8(&args[0]).unwrap());
    for arg in &args[1..] {
        cmd.arg(&arg[..]);
    }
    cmd.query::<Value>(con).map_err(error_line)
}

/// A command that must succeed.
#[track_caller]
pub fn ok(con: &mut redis::Connection, args: &[&str]) -> Value {
    match q(con, args) {
        Ok(value) => value,
        Err(error) => panic!("{args:?} failed: {error}"),
    }
}

/// A command that must fail; returns the error line.
#[track_caller]
pub fn err(con: &mut redis::Connection, args: &[&str]) -> String {
    match q(con, args) {
        Ok(value) => panic!("{args:?} should fail, got {value:?}"),
        Err(error) => error,
    }
}

/// The error line as the server sent it: code, space, message.
pub fn error_line(error: redis::RedisError) -> String {
    match (error.code(), error.detail()) {
        (Some(code), Some(detail)) => format!("{code} {detail}"),
        (Some(code), None) => code.to_owned(),
        _ => format!("client error: {error}"),
    }
}

pub fn bulk(text: &str) -> Value {
    Value::BulkString(text.as_bytes().to_vec())
}

pub fn status(text: &str) -> Value {
    Value::SimpleString(text.to_owned())
}

pub fn int(n: i64) -> Value {
    Value::Int(n)
}

pub fn array(items: Vec<Value>) -> Value {
    Value::Array(items)
}

/// The bulk's text, panicking on anything else.
#[track_caller]
pub fn as_text(value: &Value) -> String {
    match value {
        Value::BulkString(bytes) => String::from_utf8(bytes.clone()).expect("utf-8 bulk"),
        Value::SimpleString(text) => text.clone(),
        Value::VerbatimString { text, .. } => text.clone(),
        other => panic!("expected a string, got {other:?}"),
    }
}

#[track_caller]
pub fn as_int(value: &Value) -> i64 {
    match value {
        Value::Int(n) => *n,
        other => panic!("expected an integer, got {other:?}"),
    }
}

/// A map reply as pairs: RESP3 maps, or RESP2 flat arrays of alternating keys and values.
#[track_caller]
pub fn as_pairs(value: &Value) -> Vec<(String, Value)> {
    match value {
        Value::Map(pairs) => pairs.iter().map(|(k, v)| (as_text(k), v.clone())).collect(),
        Value::Array(items) => {
            assert!(items.len() % 2 == 0, "odd flat map {items:?}");
            items.chunks(2).map(|pair| (as_text(&pair[0]), pair[1].clone())).collect()
        }
        other => panic!("expected a map, got {other:?}"),
    }
}

/// Polls `check` until it holds or `timeout` passes; for effects the server applies in the background
/// (active expiry). Returns whether it held.
pub fn eventually(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if check() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
