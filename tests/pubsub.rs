//! Pub/sub and keyspace notifications through the real binary: reply shapes in RESP2 and RESP3,
//! subscribed mode, PUBSUB introspection, slow subscribers, and keyspace events (commands and expiry).
//!
//! The scripted sessions also run against a real redis-server when one is installed, and every
//! connection's byte stream must then be identical.

mod coll_common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use coll_common::{bulk, cmd, int, Server, Value};

/// A redis-server for comparisons, killed when dropped.
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
    while TcpStream::connect(("127.0.0.1", server.port)).is_err() {
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Some(server)
}

/// The length of the first complete RESP2/RESP3 frame in `buf`, if it is complete.
fn frame_len(buf: &[u8]) -> Option<usize> {
    let line_end = buf.windows(2).position(|w| w == b"\r\n")?;
    let header = std::str::from_utf8(&buf[1..line_end]).ok()?;
    let after = line_end + 2;
    match buf[0] {
        b'+' | b'-' | b':' | b'_' | b'#' | b',' | b'(' => Some(after),
        b'$' | b'=' | b'!' => {
            let n: i64 = header.parse().ok()?;
            if n < 0 {
                return Some(after);
            }
            let end = after + n as usize + 2;
            (buf.len() >= end).then_some(end)
        }
        b'*' | b'>' | b'~' | b'%' | b'|' => {
            let n: i64 = header.parse().ok()?;
            let items = if matches!(buf[0], b'%' | b'|') { 2 * n } else { n };
            let mut at = after;
            for _ in 0..items.max(0) {
                at += frame_len(&buf[at..])?;
            }
            Some(at)
        }
        other => panic!("unexpected RESP type byte {:?} in {:?}", other as char, String::from_utf8_lossy(buf)),
    }
}

/// A raw connection that keeps everything it received.
struct Raw {
    stream: TcpStream,
    received: Vec<u8>,
}

impl Raw {
    fn connect(port: u16) -> Raw {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        Raw { stream, received: Vec::new() }
    }

    fn send(&mut self, words: &[&str]) {
        let mut out = format!("*{}\r\n", words.len()).into_bytes();
        for word in words {
            out.extend_from_slice(format!("${}\r\n", word.len()).as_bytes());
            out.extend_from_slice(word.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        self.stream.write_all(&out).expect("send");
    }

    /// Reads what arrives within `wait`; false when the peer closed.
    fn pump(&mut self, wait: Duration) -> bool {
        self.stream.set_read_timeout(Some(wait)).expect("timeout");
        let mut buf = [0u8; 65536];
        match self.stream.read(&mut buf) {
            Ok(0) => false,
            Ok(n) => {
                self.received.extend_from_slice(&buf[..n]);
                true
            }
            Err(_) => true,
        }
    }

    /// Reads until `frames` complete frames are buffered (10 s at most) and returns them as text.
    fn frames(&mut self, frames: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let mut out = Vec::new();
            let mut at = 0;
            while out.len() < frames {
                match frame_len(&self.received[at..]) {
                    Some(len) => {
                        out.push(String::from_utf8_lossy(&self.received[at..at + len]).into_owned());
                        at += len;
                    }
                    None => break,
                }
            }
            if out.len() == frames {
                self.received.drain(..at);
                return out;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {frames} frames, have {:?}", String::from_utf8_lossy(&self.received));
            assert!(self.pump(Duration::from_millis(50)), "connection closed");
        }
    }

    /// One frame.
    fn frame(&mut self) -> String {
        self.frames(1).remove(0)
    }

    /// Sends a command and reads `frames` frames.
    fn call(&mut self, words: &[&str], frames: usize) -> Vec<String> {
        self.send(words);
        self.frames(frames)
    }
}

/// A script line: `N word...` sends the words on connection N.
fn run_script(port: u16, connections: usize, script: &str) -> Vec<String> {
    let mut cons: Vec<Raw> = (0..connections).map(|_| Raw::connect(port)).collect();
    for line in script.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let (index, rest) = line.split_once(' ').expect("connection number");
        let words: Vec<&str> = rest.split_whitespace().map(|w| if w == "\"\"" { "" } else { w }).collect();
        let index: usize = index.parse().expect("connection number");
        let before = cons[index].received.len();
        cons[index].send(&words);
        // Wait for something on the sending connection, then until every connection is quiet.
        let deadline = Instant::now() + Duration::from_secs(10);
        while cons[index].received.len() == before {
            assert!(Instant::now() < deadline, "no reply to {line}");
            cons[index].pump(Duration::from_millis(20));
        }
        loop {
            let sizes: Vec<usize> = cons.iter().map(|c| c.received.len()).collect();
            for con in &mut cons {
                con.pump(Duration::from_millis(5));
            }
            if cons.iter().map(|c| c.received.len()).eq(sizes) {
                break;
            }
        }
    }
    for con in &mut cons {
        con.pump(Duration::from_millis(50));
    }
    cons.into_iter().map(|c| String::from_utf8_lossy(&c.received).into_owned()).collect()
}

/// Runs a script on strata, and on redis-server when installed, and requires the same bytes on
/// every connection. Returns strata's streams.
fn differential(connections: usize, script: &str) -> Vec<String> {
    let strata = Server::start();
    let ours = run_script(strata.port, connections, script);
    match start_redis() {
        Some(redis) => {
            let theirs = run_script(redis.port, connections, script);
            for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
                assert_eq!(lines(a), lines(b), "connection {i} differs from redis-server (left strata, right redis)");
            }
        }
        None => eprintln!("redis-server not found: pub/sub differential comparison skipped"),
    }
    ours
}

/// The lines of a stream, with the server version and client id HELLO reports masked.
fn lines(stream: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut lines = stream.split("\r\n");
    while let Some(line) = lines.next() {
        out.push(line);
        match line {
            "version" => {
                lines.next();
                lines.next();
                out.push("<version>");
            }
            "id" => {
                lines.next();
                out.push("<id>");
            }
            _ => {}
        }
    }
    out
}

#[test]
fn resp2_subscribed_mode_matches_redis() {
    let streams = differential(
        2,
        "
        0 UNSUBSCRIBE
        0 PUNSUBSCRIBE
        0 SUNSUBSCRIBE
        0 SUBSCRIBE news sport
        0 SUBSCRIBE news
        0 PING
        0 PING hello
        0 GET x
        0 CLIENT LIST
        0 CONFIG GET port
        1 PUBLISH news first
        1 PUBLISH nobody x
        0 PSUBSCRIBE n* s?ort [ab]*
        1 PUBLISH news second
        1 PUBLISH sport third
        1 PUBLISH apple fourth
        0 SSUBSCRIBE shard1
        1 SPUBLISH shard1 sharded
        1 PUBLISH shard1 not-sharded
        1 SPUBLISH news not-for-news
        1 PUBSUB NUMSUB news sport none
        1 PUBSUB NUMPAT
        1 PUBSUB SHARDNUMSUB shard1 none
        1 PUBSUB SHARDCHANNELS
        1 PUBSUB SHARDCHANNELS sh*
        1 PUBSUB CHANNELS nomatch*
        1 PUBSUB CHANNELS spo*
        1 PUBSUB CHANNELS a b
        1 PUBSUB NUMPAT x
        1 PUBSUB FOO
        1 PUBLISH
        0 UNSUBSCRIBE news nope
        0 PUNSUBSCRIBE n*
        0 SUNSUBSCRIBE shard1 nope
        1 PUBLISH news gone
        1 PUBLISH sport kept
        0 PUNSUBSCRIBE s?ort [ab]*
        0 UNSUBSCRIBE sport
        0 GET x
        0 SSUBSCRIBE s1
        0 GET x
        0 SUNSUBSCRIBE
        0 PSUBSCRIBE p
        0 UNSUBSCRIBE
        0 RESET
        0 GET x
        1 PUBSUB NUMPAT
        0 MULTI
        0 RESET
        0 MULTI
        0 SUBSCRIBE inside
        0 EXEC
        0 GET x
        1 PUBSUB NUMSUB inside
        0 SUBSCRIBE after
        1 PUBSUB NUMSUB after
        0 QUIT
        ",
    );
    let subscriber = &streams[0];
    assert!(subscriber.starts_with("*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n"), "{subscriber}");
    assert!(subscriber.contains("*2\r\n$4\r\npong\r\n$5\r\nhello\r\n"), "{subscriber}");
    assert!(
        subscriber
            .contains("-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"),
        "{subscriber}"
    );
    assert!(subscriber.contains("-ERR Can't execute 'client|list'"), "{subscriber}");
    assert!(subscriber.contains("*4\r\n$8\r\npmessage\r\n$2\r\nn*\r\n$4\r\nnews\r\n$6\r\nsecond\r\n"), "{subscriber}");
    assert!(subscriber.contains("*3\r\n$8\r\nsmessage\r\n$6\r\nshard1\r\n$7\r\nsharded\r\n"), "{subscriber}");
    assert!(!subscriber.contains("gone"), "{subscriber}");
    assert!(streams[1].ends_with("*2\r\n$5\r\nafter\r\n:1\r\n"), "{}", streams[1]);
    assert!(subscriber.ends_with("+OK\r\n"), "QUIT is allowed in subscribed mode: {subscriber}");
}

#[test]
fn resp3_pushes_interleave_with_replies_like_redis() {
    differential(
        2,
        "
        0 HELLO 3
        0 SUBSCRIBE a
        0 SET k v
        0 GET k
        0 PING
        0 PUBLISH a self
        1 PUBLISH a other
        0 GET k
        0 PSUBSCRIBE a*
        1 PUBLISH a both
        0 UNSUBSCRIBE nope
        0 SSUBSCRIBE s
        1 SPUBLISH s x
        0 SUNSUBSCRIBE s
        0 PUNSUBSCRIBE
        0 UNSUBSCRIBE
        0 HELLO 2
        0 GET k
        ",
    );
}

#[test]
fn keyspace_notifications_match_redis() {
    let script = "
        1 CONFIG SET notify-keyspace-events KEA
        0 PSUBSCRIBE __key*__:*
        1 SET k v
        1 SET k v2 KEEPTTL
        1 SET k v PX 100000
        1 SETNX k v
        1 SETNX k2 v
        1 GETSET k x
        1 GETDEL k2
        1 GETEX k PX 100000
        1 GETEX k PERSIST
        1 GETEX k PERSIST
        1 SETEX e 10 v
        1 MSET a 1 b 2
        1 MSETNX c 1 d 2
        1 APPEND a x
        1 APPEND newa x
        1 SETRANGE a 0 zz
        1 INCR i
        1 DECRBY i 2
        1 INCRBYFLOAT f 1.5
        1 DEL a b nope
        1 UNLINK c
        1 RENAME d dd
        1 RENAMENX dd ddd
        1 COPY ddd cp
        1 MOVE cp 1
        1 EXPIRE ddd 100
        1 PEXPIREAT ddd 99999999999
        1 PERSIST ddd
        1 EXPIRE ddd 0
        1 RPUSH l a b c d e
        1 LPUSHX l z
        1 LPOP l
        1 RPOP l 2
        1 LINSERT l BEFORE a y
        1 LSET l 0 q
        1 LREM l 1 q
        1 LTRIM l 0 1
        1 LMOVE l l2 LEFT RIGHT
        1 RPOPLPUSH l l
        1 LMPOP 1 l LEFT COUNT 5
        1 HSET h a 1 b 2
        1 HSETNX h c 3
        1 HDEL h a nope
        1 HINCRBY h b 1
        1 HINCRBYFLOAT h b 1.5
        1 HDEL h b c
        1 SADD s a b c
        1 SADD s a
        1 SREM s a
        1 SMOVE s s2 b
        1 SINTERSTORE si s s2
        1 SUNIONSTORE su s s2
        1 SDIFFSTORE sd s s2
        1 SINTERSTORE su nope
        1 SPOP s 5
        1 ZADD z 1 a 2 b 3 c 4 d 5 e
        1 ZADD z INCR 1 a
        1 ZINCRBY z 1 a
        1 ZADD z 1 b
        1 ZREM z a
        1 ZREMRANGEBYSCORE z 0 2
        1 ZREMRANGEBYRANK z 0 0
        1 ZADD zl 0 a 0 b 0 c
        1 ZREMRANGEBYLEX zl - [a
        1 ZUNIONSTORE zu 2 z zl
        1 ZINTERSTORE zi 2 z zl
        1 ZDIFFSTORE zd 2 z zl
        1 ZRANGESTORE zr z 0 -1
        1 ZPOPMIN z
        1 ZPOPMAX z 5
        1 ZADD z 1 a
        1 ZMPOP 1 z MIN
        1 RPUSH bl a b
        1 BLPOP bl 1
        1 BRPOP bl 1
        1 ZADD bz 1 a
        1 BZPOPMAX bz 1
        1 RPUSH bm a
        1 BLMOVE bm bm2 LEFT LEFT 1
        1 MULTI
        1 SET tx 1
        1 INCR tx
        1 EXEC
        1 CONFIG SET notify-keyspace-events Egn
        1 SET fresh 1
        1 SET fresh 2
        1 DEL fresh
        1 SET past v PXAT 1
        1 SET fresh 3
        1 SET fresh v PXAT 1
        1 CONFIG SET notify-keyspace-events Kl
        1 LPUSH only-lists a
        1 SET not-a-list 1
        1 CONFIG SET notify-keyspace-events \"\"
        1 SET silent 1
    ";
    let streams = differential(2, script);
    let events = &streams[0];
    for expected in [
        "__keyevent@0__:set\r\n$1\r\nk\r\n",
        "__keyspace@0__:dd\r\n$9\r\nrename_to\r\n",
        "__keyevent@1__:move_to\r\n$2\r\ncp\r\n",
        "__keyevent@0__:zincr\r\n$1\r\nz\r\n",
        "__keyevent@0__:new\r\n$5\r\nfresh\r\n",
        "__keyspace@0__:only-lists\r\n$5\r\nlpush\r\n",
    ] {
        assert!(events.contains(expected), "missing {expected:?} in {events}");
    }
    assert!(!events.contains("not-a-list") && !events.contains("silent"), "{events}");
}

#[test]
fn the_redis_crate_pubsub_api_works() {
    let strata = Server::start();
    let mut subscriber = strata.connect(false);
    let mut publisher = strata.connect(false);
    let mut pubsub = subscriber.as_pubsub();
    pubsub.subscribe("orders").unwrap();
    pubsub.psubscribe("ord*").unwrap();
    pubsub.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(cmd(&mut publisher, &["PUBLISH", "orders", "42"]), int(2));
    let direct = pubsub.get_message().unwrap();
    assert_eq!((direct.get_channel_name(), direct.get_payload::<String>().unwrap()), ("orders", "42".to_owned()));
    assert!(!direct.from_pattern());
    let matched = pubsub.get_message().unwrap();
    assert!(matched.from_pattern());
    assert_eq!(matched.get_pattern::<String>().unwrap(), "ord*");
    pubsub.unsubscribe("orders").unwrap();
    pubsub.punsubscribe("ord*").unwrap();
    drop(pubsub);
    assert_eq!(cmd(&mut publisher, &["PUBLISH", "orders", "43"]), int(0));
    // Back in normal mode.
    assert_eq!(cmd(&mut subscriber, &["PING"]), Value::SimpleString("PONG".into()));
}

#[test]
fn client_list_shows_subscription_counts() {
    let strata = Server::start();
    let mut subscriber = Raw::connect(strata.port);
    subscriber.call(&["SUBSCRIBE", "a", "b"], 2);
    subscriber.call(&["PSUBSCRIBE", "p*"], 1);
    subscriber.call(&["SSUBSCRIBE", "s"], 1);
    let mut con = strata.connect(false);
    let Value::BulkString(list) = cmd(&mut con, &["CLIENT", "LIST"]) else { panic!("CLIENT LIST is a bulk string") };
    let list = String::from_utf8(list).unwrap();
    let line = list.lines().find(|l| l.contains("sub=2")).unwrap_or_else(|| panic!("{list}"));
    assert!(line.contains(" flags=P ") && line.contains(" psub=1 ") && line.contains(" ssub=1 "), "{line}");
    let Value::BulkString(info) = cmd(&mut con, &["INFO", "stats"]) else { panic!("INFO is a bulk string") };
    let info = String::from_utf8(info).unwrap();
    for expected in ["pubsub_channels:2\r\n", "pubsub_patterns:1\r\n", "pubsubshard_channels:1\r\n"] {
        assert!(info.contains(expected), "{expected} in {info}");
    }
    let Value::BulkString(pubsub_clients) = cmd(&mut con, &["CLIENT", "LIST", "TYPE", "pubsub"]) else { panic!() };
    assert_eq!(String::from_utf8(pubsub_clients).unwrap().lines().count(), 1);
    let Value::BulkString(normal_clients) = cmd(&mut con, &["CLIENT", "LIST", "TYPE", "normal"]) else { panic!() };
    assert!(!String::from_utf8(normal_clients).unwrap().contains("sub=2"));
    // RESET unsubscribes everything.
    subscriber.call(&["RESET"], 1);
    assert_eq!(cmd(&mut con, &["PUBSUB", "NUMSUB", "a"]), Value::Array(vec![bulk("a"), int(0)]));
    assert_eq!(cmd(&mut con, &["PUBSUB", "NUMPAT"]), int(0));
    assert_eq!(cmd(&mut con, &["PUBSUB", "SHARDNUMSUB", "s"]), Value::Array(vec![bulk("s"), int(0)]));
    let Value::BulkString(list) = cmd(&mut con, &["CLIENT", "LIST"]) else { panic!() };
    assert!(!String::from_utf8(list).unwrap().contains("flags=P"));
    // A dropped connection leaves nothing behind either.
    let mut gone = Raw::connect(strata.port);
    gone.call(&["SUBSCRIBE", "x"], 1);
    assert_eq!(cmd(&mut con, &["PUBSUB", "NUMSUB", "x"]), Value::Array(vec![bulk("x"), int(1)]));
    drop(gone);
    wait_for(|| cmd(&mut con, &["PUBSUB", "NUMSUB", "x"]) == Value::Array(vec![bulk("x"), int(0)]));
    // CLIENT KILL TYPE pubsub closes subscribers only.
    let mut victim = Raw::connect(strata.port);
    victim.call(&["PSUBSCRIBE", "*"], 1);
    assert_eq!(cmd(&mut con, &["CLIENT", "KILL", "TYPE", "pubsub"]), int(1));
    assert!(!victim.pump(Duration::from_secs(5)), "killed subscriber closed");
    wait_for(|| cmd(&mut con, &["PUBSUB", "NUMPAT"]) == int(0));
}

fn wait_for(mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(Instant::now() < deadline, "condition not reached in 10 s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_slow_subscriber_is_disconnected_past_the_hard_limit() {
    let strata = Server::start();
    let mut con = strata.connect(false);
    cmd(&mut con, &["CONFIG", "SET", "client-output-buffer-limit", "pubsub 256kb 0 0"]);
    assert_eq!(
        cmd(&mut con, &["CONFIG", "GET", "client-output-buffer-limit"]),
        Value::Array(vec![bulk("client-output-buffer-limit"), bulk("normal 0 0 0 slave 268435456 67108864 60 pubsub 262144 0 0")])
    );
    let mut slow = Raw::connect(strata.port);
    slow.call(&["SUBSCRIBE", "firehose"], 1);
    // A subscriber that keeps reading until it sees the last message, reporting how many bytes it got.
    let (ready, subscribed) = std::sync::mpsc::channel();
    let healthy_bytes = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let port = strata.port;
    let healthy = std::thread::spawn({
        let healthy_bytes = healthy_bytes.clone();
        move || {
            let mut con = Raw::connect(port);
            con.call(&["SUBSCRIBE", "firehose"], 1);
            ready.send(()).unwrap();
            let deadline = Instant::now() + Duration::from_secs(60);
            while Instant::now() < deadline {
                let before = con.received.len();
                if !con.pump(Duration::from_millis(20)) {
                    return false;
                }
                healthy_bytes.fetch_add(con.received.len() - before, std::sync::atomic::Ordering::SeqCst);
                if con.received.windows(10).any(|w| w == b"$4\r\nlast\r\n") {
                    return true;
                }
                let keep = con.received.len().saturating_sub(16);
                con.received.drain(..keep);
            }
            false
        }
    });
    subscribed.recv().unwrap();
    // `slow` never reads: once the socket buffers are full its queue grows past the limit.
    let payload = "x".repeat(16 * 1024);
    let mut published = 0;
    while cmd(&mut con, &["PUBSUB", "NUMSUB", "firehose"]) != Value::Array(vec![bulk("firehose"), int(1)]) {
        // Bursts of 128 KiB (half the limit), each one read by the healthy subscriber before the
        // next goes out, so however loaded the machine it never falls a whole limit behind.
        for _ in 0..8 {
            cmd(&mut con, &["PUBLISH", "firehose", &payload]);
            published += 1;
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while healthy_bytes.load(std::sync::atomic::Ordering::SeqCst) < published * payload.len() {
            assert!(Instant::now() < deadline, "the healthy subscriber stopped reading");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(published < 8192, "the slow subscriber was never disconnected");
    }
    cmd(&mut con, &["PUBLISH", "firehose", "last"]);
    assert!(healthy.join().unwrap(), "the healthy subscriber got every message");
    // The slow one reads what was already in flight, then the end of the stream.
    let deadline = Instant::now() + Duration::from_secs(10);
    while slow.pump(Duration::from_millis(50)) {
        slow.received.clear();
        assert!(Instant::now() < deadline, "slow subscriber still connected");
    }
}

#[test]
fn expiry_reports_expired_events() {
    let strata = Server::start();
    let mut con = strata.connect(false);
    cmd(&mut con, &["CONFIG", "SET", "notify-keyspace-events", "Ex"]);
    let mut events = Raw::connect(strata.port);
    events.call(&["SUBSCRIBE", "__keyevent@0__:expired"], 1);
    // Active expiry: nobody touches the key.
    cmd(&mut con, &["SET", "active", "v", "PX", "30"]);
    assert_eq!(events.frame(), "*3\r\n$7\r\nmessage\r\n$22\r\n__keyevent@0__:expired\r\n$6\r\nactive\r\n");
    // Lazy expiry (or active, whichever comes first): the key is read right after its deadline.
    cmd(&mut con, &["SET", "lazy", "v", "PX", "1"]);
    std::thread::sleep(Duration::from_millis(5));
    assert_eq!(cmd(&mut con, &["GET", "lazy"]), Value::Nil);
    assert_eq!(events.frame(), "*3\r\n$7\r\nmessage\r\n$22\r\n__keyevent@0__:expired\r\n$4\r\nlazy\r\n");
    // Overwriting an expired key reports it expired first.
    cmd(&mut con, &["CONFIG", "SET", "notify-keyspace-events", "Exn"]);
    events.call(&["SUBSCRIBE", "__keyevent@0__:new"], 1);
    cmd(&mut con, &["SET", "again", "v", "PX", "1"]);
    assert_eq!(events.frame(), "*3\r\n$7\r\nmessage\r\n$18\r\n__keyevent@0__:new\r\n$5\r\nagain\r\n");
    std::thread::sleep(Duration::from_millis(5));
    cmd(&mut con, &["SET", "again", "w"]);
    assert_eq!(
        events.frames(2),
        vec![
            "*3\r\n$7\r\nmessage\r\n$22\r\n__keyevent@0__:expired\r\n$5\r\nagain\r\n".to_owned(),
            "*3\r\n$7\r\nmessage\r\n$18\r\n__keyevent@0__:new\r\n$5\r\nagain\r\n".to_owned(),
        ]
    );
}

#[test]
fn notify_keyspace_events_is_validated_and_normalised() {
    let strata = Server::start();
    let mut con = strata.connect(false);
    for (given, shown) in [("KEA", "AKE"), ("An", "A"), ("Kg$lshzxetd", "AK"), ("KEAmn", "AKEm"), ("Exn", "xnE"), ("", "")] {
        cmd(&mut con, &["CONFIG", "SET", "notify-keyspace-events", given]);
        assert_eq!(
            cmd(&mut con, &["CONFIG", "GET", "notify-keyspace-events"]),
            Value::Array(vec![bulk("notify-keyspace-events"), bulk(shown)]),
            "{given}"
        );
    }
    assert_eq!(
        coll_common::err(&mut con, &["CONFIG", "SET", "notify-keyspace-events", "KEq"]),
        "ERR CONFIG SET failed (possibly related to argument 'notify-keyspace-events') - Invalid event class character. Use 'Ag$lshzxeKEtmdn'."
    );
}

#[test]
fn concurrent_publishers_reach_every_subscriber_exactly_once() {
    let strata = Server::start();
    let port = strata.port;
    const PUBLISHERS: usize = 4;
    const MESSAGES: usize = 300;
    let mut subscribers: Vec<Raw> = (0..4).map(|_| Raw::connect(port)).collect();
    for (i, subscriber) in subscribers.iter_mut().enumerate() {
        if i % 2 == 0 {
            // RESP3 subscribers get the same messages as push frames.
            subscriber.call(&["HELLO", "3"], 1);
        }
        subscriber.call(&["SUBSCRIBE", "load"], 1);
        subscriber.call(&["PSUBSCRIBE", "lo*"], 1);
    }
    // A client that keeps subscribing and leaving while messages fly.
    let churn = std::thread::spawn(move || {
        let mut con = Raw::connect(port);
        for _ in 0..200 {
            con.call(&["SUBSCRIBE", "load", "other"], 2);
            con.send(&["UNSUBSCRIBE"]);
            con.pump(Duration::from_millis(1));
            con.received.clear();
        }
    });
    let publishers: Vec<_> = (0..PUBLISHERS)
        .map(|p| {
            std::thread::spawn(move || {
                let mut con = Raw::connect(port);
                for m in 0..MESSAGES {
                    con.call(&["PUBLISH", "load", &format!("{p}:{m}")], 1);
                }
            })
        })
        .collect();
    for publisher in publishers {
        publisher.join().unwrap();
    }
    churn.join().unwrap();
    for (i, subscriber) in subscribers.iter_mut().enumerate() {
        let frames = subscriber.frames(2 * PUBLISHERS * MESSAGES);
        let marker = if i % 2 == 0 { '>' } else { '*' };
        assert!(frames.iter().all(|f| f.starts_with(marker)), "{marker} frames for subscriber {i}");
        // Each publisher's messages arrive once per subscription, in the order it sent them.
        let mut next = std::collections::HashMap::new();
        for frame in &frames {
            let payload = frame.rsplit("\r\n").nth(1).unwrap();
            let (publisher, number) = payload.split_once(':').unwrap();
            let number: usize = number.parse().unwrap();
            let expected = next.entry((frame.contains("pmessage"), publisher.to_owned())).or_insert(0);
            assert_eq!(number, *expected, "{frame}");
            *expected += 1;
        }
        assert_eq!(next.len(), 2 * PUBLISHERS);
        // Nothing more arrives.
        subscriber.pump(Duration::from_millis(100));
        assert!(subscriber.received.is_empty(), "{:?}", String::from_utf8_lossy(&subscriber.received));
    }
}

#[test]
fn a_blocked_resp3_subscriber_gets_its_messages_while_it_waits() {
    let strata = Server::start();
    let mut waiter = Raw::connect(strata.port);
    waiter.call(&["HELLO", "3"], 1);
    waiter.call(&["SUBSCRIBE", "news"], 1);
    waiter.send(&["BLPOP", "jobs", "0"]);
    let mut con = strata.connect(false);
    wait_for(|| cmd(&mut con, &["PUBLISH", "news", "hello"]) == int(1));
    assert_eq!(waiter.frames(1), vec![">3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$5\r\nhello\r\n"]);
    cmd(&mut con, &["RPUSH", "jobs", "j1"]);
    assert_eq!(waiter.frames(1), vec!["*2\r\n$4\r\njobs\r\n$2\r\nj1\r\n"]);
}

#[test]
fn new_key_events_survive_the_a_shorthand() {
    let strata = Server::start();
    let mut con = strata.connect(false);
    // Shown as AKE, as Redis shows it, but `n` still holds.
    cmd(&mut con, &["CONFIG", "SET", "notify-keyspace-events", "KEAn"]);
    assert_eq!(
        cmd(&mut con, &["CONFIG", "GET", "notify-keyspace-events"]),
        Value::Array(vec![bulk("notify-keyspace-events"), bulk("AKE")])
    );
    let mut listener = Raw::connect(strata.port);
    listener.call(&["SUBSCRIBE", "__keyevent@0__:new"], 1);
    cmd(&mut con, &["SET", "fresh", "1"]);
    assert_eq!(listener.frames(1), vec!["*3\r\n$7\r\nmessage\r\n$18\r\n__keyevent@0__:new\r\n$5\r\nfresh\r\n"]);
}
