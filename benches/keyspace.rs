//! Keyspace operations without the network: SET and GET on a database of 1M keys.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use strata::engine::{KeyHash, Keyspace, Value};

const KEYS: u64 = 1_000_000;

fn key(i: u64) -> Vec<u8> {
    format!("key:{i:012}").into_bytes()
}

fn keyspace(c: &mut Criterion) {
    let keyspace = Keyspace::new(1);
    let db = keyspace.db(0);
    let value = vec![b'v'; 100];
    for i in 0..KEYS {
        let k = key(i);
        let hash = KeyHash::of(&k);
        db.lock(hash).set(hash, &k, Value::string(&value), None, 0);
    }
    // A cheap xorshift keeps the access pattern random without measuring an RNG.
    let mut state = 0x9E3779B97F4A7C15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % KEYS
    };
    c.bench_function("get random key of 1M", |b| {
        b.iter(|| {
            let k = key(next());
            let hash = KeyHash::of(&k);
            let mut shard = db.lock(hash);
            black_box(shard.get(hash, &k, 0).map(|e| e.value().heap_size()))
        })
    });
    c.bench_function("set random key of 1M", |b| {
        b.iter(|| {
            let k = key(next());
            let hash = KeyHash::of(&k);
            db.lock(hash).set(hash, &k, Value::string(&value), None, 0);
        })
    });
}

criterion_group!(benches, keyspace);
criterion_main!(benches);
