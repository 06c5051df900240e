//! RESP decoding and encoding: strata's hand-written decoder side by side with the redis-protocol crate
//! on the same pipelined requests, and reply encoding.

use bytes::{Bytes, BytesMut};
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use strata::resp::{encode, parse_request, ParseLimits, Protocol, Reply, RequestBuf};

const PIPELINE: usize = 16;

fn pipelined_sets() -> Vec<u8> {
    let value = "x".repeat(100);
    (0..PIPELINE).map(|i| format!("*3\r\n$3\r\nSET\r\n$16\r\nkey:{i:012}\r\n$100\r\n{value}\r\n")).collect::<String>().into_bytes()
}

fn decode(c: &mut Criterion) {
    let input = pipelined_sets();
    let limits = ParseLimits { max_bulk_len: 512 * 1024 * 1024, unauthenticated: false };
    let mut group = c.benchmark_group("decode 16 pipelined SET");
    group.throughput(Throughput::Elements(PIPELINE as u64));
    group.bench_function("strata", |b| {
        let mut request = RequestBuf::default();
        b.iter(|| {
            let mut at = 0;
            let mut args = 0;
            while let Ok(Some(length)) = parse_request(&input[at..], &mut request, limits) {
                args += request.args(&input[at..]).len();
                at += length;
            }
            black_box(args)
        })
    });
    let shared = Bytes::from(input.clone());
    group.bench_function("redis-protocol decode_bytes", |b| {
        b.iter(|| {
            let mut at = 0;
            let mut frames = 0;
            while let Ok(Some((frame, length))) = redis_protocol::resp2::decode::decode_bytes(&shared.slice(at..)) {
                black_box(frame);
                frames += 1;
                at += length;
            }
            black_box(frames)
        })
    });
    group.finish();
}

fn encode_replies(c: &mut Criterion) {
    let bulk = Reply::Bulk(Bytes::from(vec![b'v'; 100]));
    let array = Reply::Array((0..10).map(|i| Reply::Bulk(Bytes::from(format!("member:{i}")))).collect());
    let mut out = BytesMut::with_capacity(64 * 1024);
    c.bench_function("encode 100-byte bulk", |b| {
        b.iter(|| {
            out.clear();
            encode(black_box(&bulk), Protocol::Resp2, &mut out);
        })
    });
    c.bench_function("encode array of 10 bulks", |b| {
        b.iter(|| {
            out.clear();
            encode(black_box(&array), Protocol::Resp3, &mut out);
        })
    });
}

criterion_group!(benches, decode, encode_replies);
criterion_main!(benches);
