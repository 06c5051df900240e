//! Load generator for work queues: N producers push 100-byte messages, M consumers pop and ack
//! them; prints messages/s end to end and the push-to-ack latency (p50, p99).
//!
//!   cargo bench --bench queue_load -- --port 7379 --mode strata [--producers 4] [--consumers 4]
//!       [--messages 200000] [--count 16] [--batch 16]
//!
//! Modes: `strata` (Q.PUSHMANY of `batch` messages, or Q.PUSH with `--batch 1`; Q.POP COUNT n
//! BLOCK; one Q.ACK for the batch) and `redis`, the reliable queue pattern Redis users write today
//! (LPUSH of `batch` messages; BLMOVE to a processing list; LREM to ack, one message at a time as
//! BLMOVE gives them). `benches/queues.sh` runs both at the same `appendfsync`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "common/load.rs"]
mod load;
use load::{connect, payload, sent_at};

struct Options {
    port: u16,
    mode: String,
    producers: usize,
    consumers: usize,
    messages: usize,
    count: usize,
    batch: usize,
}

fn options() -> Options {
    let flags = load::flags();
    Options {
        port: load::number(&flags, "port", 7379) as u16,
        mode: flags.get("mode").cloned().unwrap_or_else(|| "strata".into()),
        producers: load::number(&flags, "producers", 4),
        consumers: load::number(&flags, "consumers", 4),
        messages: load::number(&flags, "messages", 200_000),
        count: load::number(&flags, "count", 16),
        batch: load::number(&flags, "batch", 16).max(1),
    }
}

fn bulk(value: &redis::Value) -> Option<&[u8]> {
    match value {
        redis::Value::BulkString(bytes) => Some(bytes),
        _ => None,
    }
}

/// Pops and acks until `done` reaches `total`; the latencies (µs) it saw.
fn consume(options: &Options, start: Instant, done: &AtomicUsize, total: usize) -> Vec<u64> {
    let mut con = connect(options.port);
    let mut latencies = Vec::new();
    let mut ids: Vec<Vec<u8>> = Vec::with_capacity(options.count);
    while done.load(Ordering::Relaxed) < total {
        if options.mode == "redis" {
            let moved: Option<Vec<u8>> = redis::cmd("BLMOVE")
                .arg("bench:queue")
                .arg("bench:processing")
                .arg("RIGHT")
                .arg("LEFT")
                .arg(0.2)
                .query(&mut con)
                .expect("BLMOVE");
            let Some(message) = moved else { continue };
            let _: i64 = redis::cmd("LREM").arg("bench:processing").arg(1).arg(&message).query(&mut con).expect("LREM");
            if let Some(at) = sent_at(&message) {
                latencies.push((start.elapsed().as_micros() as u64).saturating_sub(at));
            }
            done.fetch_add(1, Ordering::Relaxed);
        } else {
            let reply: redis::Value = redis::cmd("Q.POP")
                .arg("bench:queue")
                .arg("COUNT")
                .arg(options.count)
                .arg("BLOCK")
                .arg(200)
                .query(&mut con)
                .expect("Q.POP");
            let redis::Value::Array(batch) = reply else { continue };
            ids.clear();
            let mut pushed = Vec::with_capacity(batch.len());
            for message in &batch {
                if let redis::Value::Array(parts) = message {
                    if let (Some(id), Some(body)) = (parts.first().and_then(bulk), parts.get(1).and_then(bulk)) {
                        ids.push(id.to_vec());
                        pushed.extend(sent_at(body));
                    }
                }
            }
            let _: i64 = redis::cmd("Q.ACK").arg("bench:queue").arg(&ids).query(&mut con).expect("Q.ACK");
            let now = start.elapsed().as_micros() as u64;
            latencies.extend(pushed.into_iter().map(|at| now.saturating_sub(at)));
            done.fetch_add(ids.len(), Ordering::Relaxed);
        }
    }
    latencies
}

fn main() {
    let options = Arc::new(options());
    let mut con = connect(options.port);
    let _: redis::Value = redis::cmd("DEL").arg("bench:queue").arg("bench:processing").query(&mut con).expect("DEL");
    let total = options.messages;
    let done = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let consumers: Vec<_> = (0..options.consumers)
        .map(|_| {
            let (options, done) = (options.clone(), done.clone());
            std::thread::spawn(move || consume(&options, start, &done, total))
        })
        .collect();
    let producers: Vec<_> = (0..options.producers)
        .map(|p| {
            let options = options.clone();
            std::thread::spawn(move || {
                let mut con = connect(options.port);
                let share = total / options.producers + usize::from(p < total % options.producers);
                let command = match (options.mode.as_str(), options.batch) {
                    ("redis", _) => "LPUSH",
                    (_, 1) => "Q.PUSH",
                    _ => "Q.PUSHMANY",
                };
                let mut n = 0;
                while n < share {
                    let mut push = redis::cmd(command);
                    push.arg("bench:queue");
                    for _ in 0..options.batch.min(share - n) {
                        push.arg(payload(start, n));
                        n += 1;
                    }
                    let _: redis::Value = push.query(&mut con).expect("push");
                }
            })
        })
        .collect();
    producers.into_iter().for_each(|p| p.join().expect("producer"));
    let mut latencies: Vec<u64> = consumers.into_iter().flat_map(|c| c.join().expect("consumer")).collect();
    let elapsed = start.elapsed();
    let (p50, p99) = load::p50_p99_ms(&mut latencies);
    println!(
        "{} producers={} consumers={} count={} batch={} messages={} msgs/s={:.0} p50_ms={:.2} p99_ms={:.2} ({:.1?})",
        options.mode,
        options.producers,
        options.consumers,
        options.count,
        options.batch,
        done.load(Ordering::Relaxed),
        done.load(Ordering::Relaxed) as f64 / elapsed.as_secs_f64().max(f64::EPSILON),
        p50,
        p99,
        Duration::from_secs_f64(elapsed.as_secs_f64()),
    );
}
