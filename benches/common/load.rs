//! What the end-to-end load generators (`queue_load`, `topic_load`) share: their command-line
//! flags, payloads stamped with their send time, connections and latency percentiles.

use std::collections::HashMap;
use std::time::Instant;

/// `--name value` pairs from the command line (`cargo bench` adds a lone `--bench`, skipped).
pub fn flags() -> HashMap<String, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut flags = HashMap::new();
    let mut i = 0;
    while i + 1 < args.len() {
        if args[i + 1].starts_with("--") {
            i += 1;
            continue;
        }
        flags.insert(args[i].trim_start_matches('-').to_string(), args[i + 1].clone());
        i += 2;
    }
    flags
}

/// The number given as `--name`, else `default`.
pub fn number(flags: &HashMap<String, String>, name: &str, default: usize) -> usize {
    flags.get(name).map_or(default, |value| value.parse().unwrap_or_else(|_| panic!("--{name}: not a number: {value}")))
}

/// A 100-byte payload that starts with its send time (µs since `start`).
pub fn payload(start: Instant, n: usize) -> Vec<u8> {
    let mut bytes = format!("{:020}:{n:010}:", start.elapsed().as_micros()).into_bytes();
    bytes.resize(100, b'x');
    bytes
}

/// The send time a [`payload`] carries.
pub fn sent_at(payload: &[u8]) -> Option<u64> {
    std::str::from_utf8(payload.get(..20)?).ok()?.parse().ok()
}

pub fn connect(port: u16) -> redis::Connection {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).expect("client");
    client.get_connection().expect("connection")
}

/// p50 and p99 of `latencies` (µs), in ms (NaN when there are none).
pub fn p50_p99_ms(latencies: &mut [u64]) -> (f64, f64) {
    latencies.sort_unstable();
    let at = |p: f64| latencies.get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1))).copied();
    let ms = |us: Option<u64>| us.map_or(f64::NAN, |us| us as f64 / 1000.0);
    (ms(at(0.50)), ms(at(0.99)))
}
