//! `redis-benchmark` runs its whole default test list against strata to completion with no error.
//! Not a performance test: throughput is only parsed.

mod common;

use std::process::Command;

use common::{bulk, ok, Server};

/// Runs redis-benchmark and returns (test name, requests per second) from its `-q` summary lines.
fn benchmark(port: u16, extra: &[&str]) -> Vec<(String, f64)> {
    let output = Command::new("redis-benchmark")
        .args(["-p", &port.to_string(), "-q", "-n", "20000"])
        .args(extra)
        .output()
        .expect("redis-benchmark (apt-get install redis-tools)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "redis-benchmark failed: {:?}\n{stdout}\n{stderr}", output.status);
    // Progress lines are separated by carriage returns; summaries end the run of each test.
    let pieces: Vec<&str> = stdout.split(['\r', '\n']).map(str::trim).filter(|p| !p.is_empty()).collect();
    let errors: Vec<&&str> = pieces.iter().filter(|p| p.to_ascii_lowercase().contains("error")).collect();
    assert!(errors.is_empty() && stderr.trim().is_empty(), "errors: {errors:?} {stderr}");
    pieces
        .iter()
        .filter_map(|piece| {
            let (name, rest) = piece.rsplit_once(": ")?;
            let rps = rest.strip_suffix(" msec")?.split_once(" requests per second")?.0.parse().ok()?;
            Some((name.to_string(), rps))
        })
        .collect()
}

#[test]
fn redis_benchmark_completes_without_errors() {
    if Command::new("redis-benchmark").arg("--version").output().is_err() {
        println!("SKIPPED: redis-benchmark is not installed");
        return;
    }
    let strata = Server::start();
    let results = benchmark(strata.port, &[]);
    let names: Vec<&str> = results.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        names,
        [
            "PING_INLINE",
            "PING_MBULK",
            "SET",
            "GET",
            "INCR",
            "LPUSH",
            "RPUSH",
            "LPOP",
            "RPOP",
            "SADD",
            "HSET",
            "SPOP",
            "ZADD",
            "ZPOPMIN",
            "LPUSH (needed to benchmark LRANGE)",
            "LRANGE_100 (first 100 elements)",
            "LRANGE_300 (first 300 elements)",
            "LRANGE_500 (first 500 elements)",
            "LRANGE_600 (first 600 elements)",
            "MSET (10 keys)"
        ],
        "{results:?}"
    );
    assert!(results.iter().all(|(_, rps)| *rps > 0.0), "{results:?}");
    let mut con = strata.con();
    // Without -r every INCR hits the one literal key: all 20000 arrived.
    assert_eq!(ok(&mut con, &["GET", "counter:__rand_int__"]), bulk("20000"));
    assert_eq!(ok(&mut con, &["STRLEN", "key:__rand_int__"]), common::int(3), "SET and MSET wrote 3-byte values");

    // Pipelined, random keys, bigger values.
    let results = benchmark(strata.port, &["-t", "set,get", "-P", "16", "-r", "1000", "-d", "100"]);
    assert_eq!(results.len(), 2, "{results:?}");
    let keys = common::as_int(&ok(&mut con, &["DBSIZE"]));
    assert!(keys > 100, "random keys were written: {keys}");
    assert_eq!(ok(&mut strata.con(), &["PING"]), common::status("PONG"));
}
