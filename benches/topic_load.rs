//! Load generator for partitioned topics: producers publish 100-byte messages with keys over 8
//! partitions; then (phase `e2e`) a group of consumers reads them and commits every batch. Prints
//! messages/s and, end to end, the publish-to-commit latency (p50, p99).
//!
//!   cargo bench --bench topic_load -- --port 7379 --mode strata --phase publish|e2e
//!       [--producers 4] [--consumers 4] [--messages 200000] [--pipeline 16] [--count 100] [--maxbytes n]
//!
//! Modes: `strata` (STREAM.PUB with KEY; STREAM.SUB COUNT BLOCK and STREAM.COMMIT of the batch),
//! `redis`, what Redis Streams users write today (XADD to one of 8 stream keys chosen by a hash of
//! the key; XREADGROUP over the 8 streams with `>`; XACK of the batch per stream), and `xadd`, the
//! same Redis Streams commands sent to strata. `benches/topics.sh` runs them at the same
//! `appendfsync`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "common/load.rs"]
mod load;
use load::{connect, payload, sent_at};

const PARTITIONS: usize = 8;
const KEYS: usize = 1000;

struct Options {
    port: u16,
    mode: String,
    phase: String,
    producers: usize,
    consumers: usize,
    messages: usize,
    pipeline: usize,
    count: usize,
    /// STREAM.CREATE's MAXBYTES per partition (0: none), for the run that shows disk bounded by retention.
    max_bytes: usize,
}

fn options() -> Options {
    let flags = load::flags();
    Options {
        port: load::number(&flags, "port", 7379) as u16,
        mode: flags.get("mode").cloned().unwrap_or_else(|| "strata".into()),
        phase: flags.get("phase").cloned().unwrap_or_else(|| "e2e".into()),
        producers: load::number(&flags, "producers", 4),
        consumers: load::number(&flags, "consumers", 4),
        messages: load::number(&flags, "messages", 200_000),
        pipeline: load::number(&flags, "pipeline", 16).max(1),
        count: load::number(&flags, "count", 100).max(1),
        max_bytes: load::number(&flags, "maxbytes", 0),
    }
}

/// The stream key a Redis Streams user would pick for `key`: a hash of it modulo 8 (FNV-1a).
fn stream_of(key: &str) -> String {
    let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    format!("bench:s{}", hash % PARTITIONS as u64)
}

fn items(value: &redis::Value) -> &[redis::Value] {
    match value {
        redis::Value::Array(items) => items,
        _ => &[],
    }
}

fn int(value: &redis::Value) -> i64 {
    match value {
        redis::Value::Int(n) => *n,
        _ => -1,
    }
}

fn bytes(value: &redis::Value) -> &[u8] {
    match value {
        redis::Value::BulkString(bytes) => bytes,
        _ => &[],
    }
}

fn setup(options: &Options) {
    let mut con = connect(options.port);
    let streams: Vec<String> = (0..PARTITIONS).map(|s| format!("bench:s{s}")).collect();
    let _: redis::Value = redis::cmd("DEL").arg("bench:topic").arg(&streams).query(&mut con).expect("DEL");
    if options.mode == "strata" {
        let mut create = redis::cmd("STREAM.CREATE");
        create.arg("bench:topic").arg("PARTITIONS").arg(PARTITIONS);
        if options.max_bytes > 0 {
            create.arg("MAXBYTES").arg(options.max_bytes);
        }
        let _: redis::Value = create.query(&mut con).expect("CREATE");
        // The group's members join before anything is published, so no rebalance moves a partition
        // mid-run.
        for c in 0..options.consumers {
            let _: redis::Value = redis::cmd("STREAM.SUB")
                .arg("bench:topic")
                .arg("GROUP")
                .arg("g")
                .arg("CONSUMER")
                .arg(format!("c{c}"))
                .query(&mut con)
                .expect("SUB");
        }
    } else {
        for stream in &streams {
            let _: redis::Value =
                redis::cmd("XGROUP").arg("CREATE").arg(stream).arg("g").arg("$").arg("MKSTREAM").query(&mut con).expect("XGROUP");
        }
    }
}

/// Publishes `share` messages in pipelines of `pipeline`.
fn produce(options: &Options, start: Instant, producer: usize, share: usize) {
    let mut con = connect(options.port);
    let mut n = 0;
    while n < share {
        let mut pipe = redis::pipe();
        for _ in 0..options.pipeline.min(share - n) {
            let key = format!("key{}", (n * 31 + producer) % KEYS);
            let body = payload(start, n);
            if options.mode == "strata" {
                pipe.cmd("STREAM.PUB").arg("bench:topic").arg(body).arg("KEY").arg(&key);
            } else {
                pipe.cmd("XADD").arg(stream_of(&key)).arg("*").arg(&key).arg(body);
            }
            n += 1;
        }
        let _: redis::Value = pipe.query(&mut con).expect("publish");
    }
}

/// Reads and commits until `done` reaches `total`; the latencies (µs) it saw.
fn consume(options: &Options, consumer: usize, start: Instant, done: &AtomicUsize, total: usize) -> Vec<u64> {
    let mut con = connect(options.port);
    let name = format!("c{consumer}");
    let streams: Vec<String> = (0..PARTITIONS).map(|s| format!("bench:s{s}")).collect();
    let mut latencies = Vec::new();
    while done.load(Ordering::Relaxed) < total {
        let mut got = 0;
        let mut seen = Vec::new();
        if options.mode == "strata" {
            let reply: redis::Value = redis::cmd("STREAM.SUB")
                .arg("bench:topic")
                .arg("GROUP")
                .arg("g")
                .arg("CONSUMER")
                .arg(&name)
                .arg("COUNT")
                .arg(options.count)
                .arg("BLOCK")
                .arg(200)
                .query(&mut con)
                .expect("SUB");
            let mut next = [None; PARTITIONS];
            for entry in items(&reply) {
                let parts = items(entry);
                if let (Some(p), Some(o), Some(body)) = (parts.first(), parts.get(1), parts.get(4)) {
                    next[int(p) as usize % PARTITIONS] = Some(int(o) + 1);
                    seen.extend(sent_at(bytes(body)));
                    got += 1;
                }
            }
            if got > 0 {
                let mut commit = redis::cmd("STREAM.COMMIT");
                commit.arg("bench:topic").arg("GROUP").arg("g").arg("CONSUMER").arg(&name);
                for (p, offset) in next.iter().enumerate() {
                    if let Some(offset) = offset {
                        commit.arg(p).arg(*offset);
                    }
                }
                let _: redis::Value = commit.query(&mut con).expect("COMMIT");
            }
        } else {
            let reply: redis::Value = redis::cmd("XREADGROUP")
                .arg("GROUP")
                .arg("g")
                .arg(&name)
                .arg("COUNT")
                .arg(options.count)
                .arg("BLOCK")
                .arg(200)
                .arg("STREAMS")
                .arg(&streams)
                .arg(vec![">"; PARTITIONS])
                .query(&mut con)
                .expect("XREADGROUP");
            let mut pipe = redis::pipe();
            for stream in items(&reply) {
                let parts = items(stream);
                let (Some(key), Some(entries)) = (parts.first(), parts.get(1)) else { continue };
                let mut ids = Vec::new();
                for entry in items(entries) {
                    let fields = items(entry);
                    if let (Some(id), Some(kv)) = (fields.first(), fields.get(1)) {
                        ids.push(bytes(id).to_vec());
                        seen.extend(items(kv).get(1).and_then(|body| sent_at(bytes(body))));
                        got += 1;
                    }
                }
                if !ids.is_empty() {
                    pipe.cmd("XACK").arg(bytes(key)).arg("g").arg(ids);
                }
            }
            if got > 0 {
                let _: redis::Value = pipe.query(&mut con).expect("XACK");
            }
        }
        let now = start.elapsed().as_micros() as u64;
        latencies.extend(seen.into_iter().map(|at| now.saturating_sub(at)));
        done.fetch_add(got, Ordering::Relaxed);
    }
    latencies
}

fn main() {
    let options = Arc::new(options());
    setup(&options);
    let total = options.messages;
    let done = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let consumers: Vec<_> = if options.phase == "e2e" {
        (0..options.consumers)
            .map(|c| {
                let (options, done) = (options.clone(), done.clone());
                std::thread::spawn(move || consume(&options, c, start, &done, total))
            })
            .collect()
    } else {
        Vec::new()
    };
    let producers: Vec<_> = (0..options.producers)
        .map(|p| {
            let options = options.clone();
            let share = total / options.producers + usize::from(p < total % options.producers);
            std::thread::spawn(move || produce(&options, start, p, share))
        })
        .collect();
    producers.into_iter().for_each(|p| p.join().expect("producer"));
    let published = start.elapsed();
    let mut latencies: Vec<u64> = consumers.into_iter().flat_map(|c| c.join().expect("consumer")).collect();
    let elapsed = if options.phase == "e2e" { start.elapsed() } else { published };
    let (p50, p99) = load::p50_p99_ms(&mut latencies);
    let handled = if options.phase == "e2e" { done.load(Ordering::Relaxed) } else { total };
    println!(
        "{} {} producers={} consumers={} pipeline={} count={} messages={} msgs/s={:.0} p50_ms={:.2} p99_ms={:.2} ({:.1?})",
        options.mode,
        options.phase,
        options.producers,
        if options.phase == "e2e" { options.consumers } else { 0 },
        options.pipeline,
        options.count,
        handled,
        handled as f64 / elapsed.as_secs_f64().max(f64::EPSILON),
        p50,
        p99,
        Duration::from_secs_f64(elapsed.as_secs_f64()),
    );
}
