//! The store's faults and start, through the real binary: a disk that refuses writes (here: the
//! process's file size limit lowered under it, a real EFBIG from every write) gives MISCONF to
//! writes while reads go on, and once it takes writes again strata resumes on its own with nothing
//! acknowledged lost; while the dataset loads, clients get LOADING and INFO shows it.

mod common;

use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use common::{err, free_port, q, Server};
use redis::Value as Reply;

fn start(dir: &std::path::Path, fsync: &str) -> Server {
    Server::start_with(&["--appendonly", "yes", "--appendfsync", fsync, "--dir", dir.to_str().unwrap()])
}

/// Sets the server's soft file size limit (`prlimit`, from util-linux).
fn limit_file_size(pid: u32, soft: &str) {
    let status = Command::new("prlimit").args(["--pid", &pid.to_string(), &format!("--fsize={soft}:")]).status().expect("run prlimit");
    assert!(status.success(), "prlimit --fsize={soft}:");
}

/// The limit the server started with (inherited from the test), to give it back.
fn original_file_size_limit() -> String {
    let (soft, _) = rlimit::getrlimit(rlimit::Resource::FSIZE).unwrap();
    if soft == rlimit::INFINITY {
        "unlimited".into()
    } else {
        soft.to_string()
    }
}

fn persistence(con: &mut redis::Connection) -> String {
    redis::cmd("info").arg("persistence").query(con).unwrap()
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(20));
    }
}

fn get(con: &mut redis::Connection, key: &str) -> Option<String> {
    redis::cmd("get").arg(key).query(con).unwrap()
}

/// What every mode must show while the disk refuses: reads answer, writes and PING get MISCONF
/// with the operating system's reason, a transaction with a write is discarded, INFO says `err`.
fn assert_refusing(con: &mut redis::Connection) {
    assert_eq!(get(con, "before").as_deref(), Some("1"));
    let refused = err(con, &["set", "refused", "x"]);
    assert!(refused.starts_with("MISCONF Errors writing to the AOF file: File too large"), "{refused}");
    assert!(err(con, &["ping"]).starts_with("MISCONF"));
    assert!(persistence(con).contains("aof_last_write_status:err"));
    q(con, &["multi"]).unwrap();
    assert!(err(con, &["set", "refused", "x"]).starts_with("MISCONF"));
    assert!(err(con, &["exec"]).starts_with("EXECABORT"));
    assert_eq!(get(con, "refused"), None);
}

#[test]
fn under_always_a_refusing_disk_holds_the_reply_until_the_write_is_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let original = original_file_size_limit();
    let mut server = start(dir.path(), "always");
    let mut con = server.con();
    q(&mut con, &["set", "before", "1"]).unwrap();
    limit_file_size(server.pid(), "1");

    let url = server.url();
    let writer = thread::spawn(move || {
        let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
        q(&mut con, &["set", "during", "2"])
    });
    wait_for("the failed write", || persistence(&mut con).contains("aof_last_write_status:err"));
    assert_refusing(&mut con);
    thread::sleep(Duration::from_millis(300));
    assert!(!writer.is_finished(), "a write that is not on disk was acknowledged");

    limit_file_size(server.pid(), &original);
    assert_eq!(writer.join().unwrap(), Ok(Reply::Okay), "the held reply goes out once the write is on disk");
    wait_for("writes to work again", || persistence(&mut con).contains("aof_last_write_status:ok"));
    q(&mut con, &["set", "after", "3"]).unwrap();

    server.signal("KILL");
    server.wait_exit(Duration::from_secs(5));
    drop(server);
    let server = start(dir.path(), "always");
    let mut con = server.con();
    for (key, value) in [("before", "1"), ("during", "2"), ("after", "3")] {
        assert_eq!(get(&mut con, key).as_deref(), Some(value), "{key}");
    }
}

#[test]
fn under_everysec_writes_are_refused_once_the_log_fails_and_every_acknowledged_one_survives() {
    let dir = tempfile::tempdir().unwrap();
    let original = original_file_size_limit();
    let mut server = start(dir.path(), "everysec");
    let mut con = server.con();
    q(&mut con, &["set", "before", "1"]).unwrap();
    limit_file_size(server.pid(), "1");

    // Acknowledged at once, as everysec promises; the background write fails within a second or
    // so, and from then on writes are refused.
    let mut acknowledged = Vec::new();
    wait_for("MISCONF", || match q(&mut con, &["set", &format!("probe:{}", acknowledged.len()), "v"]) {
        Ok(_) => {
            acknowledged.push(format!("probe:{}", acknowledged.len()));
            false
        }
        Err(error) => {
            assert!(error.starts_with("MISCONF"), "{error}");
            true
        }
    });
    assert_refusing(&mut con);

    limit_file_size(server.pid(), &original);
    wait_for("writes to work again", || persistence(&mut con).contains("aof_last_write_status:ok"));
    q(&mut con, &["set", "after", "3"]).unwrap();
    // everysec: what the last second wrote may still be in flight; wait it out.
    thread::sleep(Duration::from_millis(1500));

    server.signal("KILL");
    server.wait_exit(Duration::from_secs(5));
    drop(server);
    let server = start(dir.path(), "everysec");
    let mut con = server.con();
    for key in acknowledged.iter().map(String::as_str).chain(["before", "after"]) {
        assert!(get(&mut con, key).is_some(), "{key} was acknowledged and is gone");
    }
}

#[test]
fn clients_get_loading_while_the_dataset_loads() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start(dir.path(), "everysec");
    let mut con = server.con();
    q(&mut con, &["debug", "populate", "2000"]).unwrap();
    let _ = q(&mut con, &["shutdown"]);
    assert!(server.wait_exit(Duration::from_secs(10)).is_some());
    drop(server);

    // 1 ms per key: two seconds of loading to watch.
    let port = free_port();
    let args = ["--appendonly", "yes", "--dir", dir.path().to_str().unwrap(), "--port", &port.to_string(), "--key-load-delay", "1000"]
        .map(String::from);
    let starting = thread::spawn(move || Server::start_with(&args.each_ref().map(String::as_str)));
    let mut raw = loop {
        if let Ok(stream) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            break common::RawClient { stream };
        }
        thread::sleep(Duration::from_millis(5));
    };
    raw.send(b"GET key:1\r\n");
    assert_eq!(raw.read_line(), "-LOADING Redis is loading the dataset in memory");
    raw.send(b"PING\r\n");
    assert_eq!(raw.read_line(), "-LOADING Redis is loading the dataset in memory");
    raw.send(b"INFO persistence\r\n");
    let header = raw.read_line();
    let length: usize = header[1..].parse().unwrap();
    let mut info = String::new();
    while info.len() < length {
        info.push_str(&raw.read_line());
        info.push_str("\r\n");
    }
    assert!(info.contains("loading:1"), "{info}");
    assert!(info.contains("loading_loaded_perc:"), "{info}");

    let server = starting.join().unwrap();
    let mut con = server.con();
    assert!(persistence(&mut con).contains("loading:0"));
    assert_eq!(redis::cmd("dbsize").query::<i64>(&mut con).unwrap(), 2000);
    assert_eq!(get(&mut con, "key:1").as_deref(), Some("value:1"));
    assert!(server.log_lines().iter().any(|line| line.contains("DB loaded from disk")));
}

fn strata(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_strata-server")).args(args).output().expect("run strata-server")
}

#[test]
fn a_damaged_log_stops_startup_naming_the_file_and_check_store_fix_keeps_the_intact_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let dir_arg = dir.path().to_str().unwrap();
    let server = start(dir.path(), "always");
    let mut con = server.con();
    for i in 0..100 {
        q(&mut con, &["rpush", "list", &i.to_string()]).unwrap();
    }
    server.signal("KILL");
    drop(server);
    let store = dir.path().join("strata-store");
    let log = std::fs::read_dir(&store)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "wal"))
        .max_by_key(|path| std::fs::metadata(path).unwrap().len())
        .unwrap();
    let mut bytes = std::fs::read(&log).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x5a;
    std::fs::write(&log, bytes).unwrap();

    let refused = strata(&["--port", "0", "--appendonly", "yes", "--dir", dir_arg]);
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    let name = log.file_name().unwrap().to_str().unwrap();
    assert!(said.contains(name) && said.contains("--check-store"), "{said}");

    let checked = strata(&["--check-store", dir_arg]);
    assert!(!checked.status.success());
    assert!(String::from_utf8_lossy(&checked.stdout).contains(&format!("damaged: {}", log.display())));

    let fixed = strata(&["--check-store", dir_arg, "--fix"]);
    let report = String::from_utf8_lossy(&fixed.stdout);
    assert!(fixed.status.success() && report.contains("fixed:") && report.contains("the store is whole"), "{report}");

    let server = start(dir.path(), "always");
    let mut con = server.con();
    let kept: Vec<i64> = redis::cmd("lrange").arg("list").arg(0).arg(-1).query(&mut con).unwrap();
    assert!(!kept.is_empty() && kept.len() < 100, "{} elements", kept.len());
    assert_eq!(kept, (0..kept.len() as i64).collect::<Vec<_>>(), "what is kept is a prefix of what was written");
}
