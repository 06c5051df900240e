//! strata's LSM engine side by side with fjall 3 on the same workloads and
//! settings (100-byte values, 4 MiB memtables, 4 KiB blocks, no compression, 1%
//! bloom filters, same block cache budget, writes buffered without fsync).
//!
//! `cargo bench --bench lsm` prints a table of ops/s and the ratio strata/fjall.
//! Environment:
//! - `LSM_BENCH_KEYS` (default 1000000): keys per workload.
//! - `LSM_BENCH_DIR` (default the system temp dir): where databases go.
//! - `LSM_BENCH_LARGE=<keys>`: instead, write that many keys (e.g. 50000000) with
//!   the `low_memory` preset and report throughput and peak RSS (VmHWM).
//! - `LSM_BENCH_ONLY=strata`: skip fjall (for profiling).
//! - `LSM_BENCH_RUNS` (default 2): alternating runs per engine; the best figure
//!   of each engine is reported, which evens out load from other processes.
//! - `LSM_BENCH_DEBUG=1`: print strata's stats after the cached-read workload.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use strata::engine::lsm::{Compression, Db, Options, SyncMode};

const VALUE_LEN: usize = 100;
const CACHE: usize = 64 << 20;
const MEMTABLE: usize = 4 << 20;
const BLOCK: usize = 4 << 10;

fn key(i: u64) -> [u8; 15] {
    let mut k = *b"key000000000000";
    let mut n = i;
    for b in k[3..].iter_mut().rev() {
        *b = b'0' + (n % 10) as u8;
        n /= 10;
    }
    k
}

/// Values look like application data: partly repetitive, unique per key.
fn value(i: u64, buf: &mut [u8; VALUE_LEN]) {
    let mut x = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    for (j, b) in buf.iter_mut().enumerate() {
        if j % 4 == 0 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
        }
        *b = b"abcdefghijklmnopqrstuvwxyz012345"[((x >> (j % 4 * 8)) & 31) as usize];
    }
}

trait Engine {
    fn put(&self, k: &[u8], v: &[u8]);
    fn get(&self, k: &[u8]) -> Option<usize>;
    fn prefix_count(&self, p: &[u8]) -> usize;
    /// Flushes and waits for background work to finish.
    fn settle(&self);
    fn compact(&self);
    fn path(&self) -> &Path;
    fn debug(&self) {}
}

struct Strata(Db, PathBuf);

fn strata_options(cache: usize) -> Options {
    Options {
        memtable_size: MEMTABLE,
        block_size: BLOCK,
        compression: Compression::None,
        bloom_fp_rate: Some(0.01),
        block_cache_bytes: cache,
        sync: SyncMode::None,
        ..Options::default()
    }
}

impl Strata {
    fn open(dir: &Path, cache: usize) -> Self {
        Strata(Db::open(dir, strata_options(cache)).expect("open strata"), dir.to_path_buf())
    }
}

impl Engine for Strata {
    fn put(&self, k: &[u8], v: &[u8]) {
        self.0.put(k, v).expect("put");
    }
    fn get(&self, k: &[u8]) -> Option<usize> {
        self.0.get(k).expect("get").map(|v| v.len())
    }
    fn prefix_count(&self, p: &[u8]) -> usize {
        self.0.prefix(p).fold(0, |n, r| {
            r.expect("scan");
            n + 1
        })
    }
    fn settle(&self) {
        self.0.flush().expect("flush");
        self.0.wait_idle().expect("idle");
    }
    fn compact(&self) {
        self.0.compact_range(None, None).expect("compact");
    }
    fn debug(&self) {
        if std::env::var("LSM_BENCH_DEBUG").is_ok() {
            eprintln!("{:?}", self.0.stats());
        }
    }
    fn path(&self) -> &Path {
        &self.1
    }
}

/// The database handle is kept so the keyspace stays open.
struct Fjall(#[allow(dead_code)] fjall::Database, fjall::Keyspace, PathBuf);

impl Fjall {
    fn open(dir: &Path, cache: usize) -> Self {
        use fjall::config::{BlockSizePolicy, BloomConstructionPolicy, CompressionPolicy, FilterPolicy, FilterPolicyEntry};
        let db = fjall::Database::builder(dir).cache_size(cache as u64).open().expect("open fjall");
        let ks = db
            .keyspace("bench", || {
                fjall::KeyspaceCreateOptions::default()
                    .max_memtable_size(MEMTABLE as u64)
                    .data_block_size_policy(BlockSizePolicy::all(BLOCK as u32))
                    .data_block_compression_policy(CompressionPolicy::disabled())
                    .filter_policy(FilterPolicy::all(FilterPolicyEntry::Bloom(BloomConstructionPolicy::FalsePositiveRate(0.01))))
                    // Like strata's SyncMode::None: buffered in the process, no fsync.
                    .manual_journal_persist(true)
            })
            .expect("keyspace");
        Fjall(db, ks, dir.to_path_buf())
    }
}

impl Engine for Fjall {
    fn put(&self, k: &[u8], v: &[u8]) {
        self.1.insert(k, v).expect("insert");
    }
    fn get(&self, k: &[u8]) -> Option<usize> {
        self.1.get(k).expect("get").map(|v| v.len())
    }
    fn prefix_count(&self, p: &[u8]) -> usize {
        // Key and value, like strata's iterator yields.
        self.1.prefix(p).fold(0, |n, g| {
            g.into_inner().expect("scan");
            n + 1
        })
    }
    fn settle(&self) {
        self.1.rotate_memtable_and_wait().expect("flush");
        // fjall has no "wait for compactions"; poll until L0 drains and the table
        // count stops changing.
        let mut last = usize::MAX;
        for _ in 0..600 {
            std::thread::sleep(Duration::from_millis(100));
            let n = self.1.table_count();
            if self.1.l0_table_count() < 4 && n == last {
                break;
            }
            last = n;
        }
    }
    fn compact(&self) {
        self.1.major_compact().expect("compact");
    }
    fn path(&self) -> &Path {
        &self.2
    }
}

fn dir_bytes(p: &Path) -> u64 {
    let mut total = 0;
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            let Ok(m) = e.metadata() else { continue };
            total += if m.is_dir() { dir_bytes(&e.path()) } else { m.len() };
        }
    }
    total
}

fn timed(ops: u64, f: impl FnOnce()) -> f64 {
    let t = Instant::now();
    f();
    ops as f64 / t.elapsed().as_secs_f64()
}

struct Row {
    name: &'static str,
    strata: f64,
    fjall: f64,
    /// True when lower is better (bytes): the ratio is inverted so > 1 favours strata.
    lower_better: bool,
}

fn run_engine<E: Engine>(open: impl Fn(&Path, usize) -> E, base: &Path, n: u64) -> Vec<f64> {
    let mut out = Vec::new();
    let mut rng = StdRng::seed_from_u64(42);
    let mut v = [0u8; VALUE_LEN];

    // 1. Sequential write.
    let seq_dir = base.join("seq");
    {
        let e = open(&seq_dir, CACHE);
        out.push(timed(n, || {
            for i in 0..n {
                value(i, &mut v);
                e.put(&key(i), &v);
            }
        }));
        e.settle();
    }
    // 2. Random write (the database the read workloads use).
    let dir = base.join("rand");
    let mut order: Vec<u64> = (0..n).collect();
    order.shuffle(&mut rng);
    {
        let e = open(&dir, CACHE);
        out.push(timed(n, || {
            for &i in &order {
                value(i, &mut v);
                e.put(&key(i), &v);
            }
        }));
        e.settle();
        e.debug();
    }
    // For profiling the write workloads alone.
    if std::env::var("LSM_BENCH_WRITES_ONLY").is_ok() {
        return out;
    }
    let reads = n.min(1_000_000);
    let probes: Vec<u64> = (0..reads).map(|_| rng.random_range(0..n)).collect();
    // 3. Random read, 64 MiB cache (one warm-up pass first).
    {
        let e = open(&dir, CACHE);
        for &i in probes.iter().take(reads as usize / 2) {
            e.get(&key(i));
        }
        out.push(timed(reads, || {
            for &i in &probes {
                assert!(e.get(&key(i)).is_some());
            }
        }));
        e.debug();
    }
    // 4. Random read, no cache.
    {
        let e = open(&dir, 0);
        let few = reads / 4;
        out.push(timed(few, || {
            for &i in probes.iter().take(few as usize) {
                assert!(e.get(&key(i)).is_some());
            }
        }));
    }
    // 5. 80/20 read/write mix.
    {
        let e = open(&dir, CACHE);
        let ops = reads;
        out.push(timed(ops, || {
            for (j, &i) in probes.iter().enumerate() {
                if j % 5 == 4 {
                    value(i ^ 1, &mut v);
                    e.put(&key(i), &v);
                } else {
                    e.get(&key(i));
                }
            }
        }));
        e.settle();
    }
    // 6. Prefix scans of 100 keys.
    {
        let e = open(&dir, CACHE);
        let scans = 20_000u64.min(n / 100);
        let starts: Vec<u64> = (0..scans).map(|_| rng.random_range(0..n / 100)).collect();
        out.push(timed(scans, || {
            for &s in &starts {
                let k = key(s * 100);
                assert_eq!(e.prefix_count(&k[..13]), 100);
            }
        }));
    }
    // 7. Bytes on disk after a full compaction.
    {
        let e = open(&dir, CACHE);
        e.compact();
        e.settle();
        out.push(dir_bytes(e.path()) as f64);
    }
    out
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1).and_then(|x| x.parse().ok())))
        .unwrap_or(0)
}

fn large_run(base: &Path, n: u64) {
    let dir = base.join("large");
    let db = Db::open(&dir, Options::low_memory()).expect("open");
    let mut v = [0u8; VALUE_LEN];
    let t = Instant::now();
    let mut last = Instant::now();
    for i in 0..n {
        value(i, &mut v);
        db.put(&key(i), &v).expect("put");
        if last.elapsed() > Duration::from_secs(10) {
            last = Instant::now();
            eprintln!("  {i} keys, {:.0} ops/s, peak RSS {} MiB", i as f64 / t.elapsed().as_secs_f64(), peak_rss_kib() / 1024);
        }
    }
    db.flush().expect("flush");
    let secs = t.elapsed().as_secs_f64();
    db.wait_idle().expect("idle");
    let st = db.stats();
    // Spot-check reads over the whole key space.
    let mut rng = StdRng::seed_from_u64(7);
    let t2 = Instant::now();
    for _ in 0..10_000 {
        let i = rng.random_range(0..n);
        value(i, &mut v);
        assert_eq!(db.get(&key(i)).expect("get").as_deref(), Some(&v[..]));
    }
    let read_us = t2.elapsed().as_secs_f64() / 10_000.0 * 1e6;
    println!("large run: {n} keys, low_memory preset (4 MiB memtable, no cache, no bloom, zstd 1)");
    println!("  write: {:.0} ops/s ({secs:.1} s)", n as f64 / secs);
    println!("  random read (no cache, spot check of 10000): {read_us:.1} us");
    println!(
        "  tables: {} files, {:.2} GiB on disk, index+filter memory {:.1} MiB",
        st.levels.iter().map(|l| l.files).sum::<usize>(),
        st.table_bytes as f64 / (1u64 << 30) as f64,
        st.table_memory_bytes as f64 / (1u64 << 20) as f64
    );
    println!("  peak RSS (VmHWM): {:.1} MiB", peak_rss_kib() as f64 / 1024.0);
    db.close().expect("close");
    let _ = std::fs::remove_dir_all(&dir);
}

fn main() {
    // Test runners list and run every target: `--list` (nextest) or a run without `--bench`
    // (`cargo test --all-targets`) must not start a minutes-long benchmark.
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--list") || !args.iter().any(|a| a == "--bench") {
        return;
    }
    let base = std::env::var("LSM_BENCH_DIR").map(PathBuf::from).unwrap_or_else(|_| std::env::temp_dir());
    let base = base.join(format!("strata-lsm-bench-{}", std::process::id()));
    if let Ok(n) = std::env::var("LSM_BENCH_LARGE") {
        let n = n.parse().unwrap_or(50_000_000);
        large_run(&base, n);
        let _ = std::fs::remove_dir_all(&base);
        return;
    }
    let n: u64 = std::env::var("LSM_BENCH_KEYS").ok().and_then(|s| s.parse().ok()).unwrap_or(1_000_000);
    // The machine may be shared: run the engines alternately and keep each
    // engine's best figure per workload.
    let runs: usize = std::env::var("LSM_BENCH_RUNS").ok().and_then(|s| s.parse().ok()).unwrap_or(2);
    let only_strata = std::env::var("LSM_BENCH_ONLY").as_deref() == Ok("strata");
    let best = |acc: &mut Vec<f64>, r: Vec<f64>| {
        if acc.is_empty() {
            *acc = r;
        } else {
            for (i, (a, b)) in acc.iter_mut().zip(r).enumerate() {
                // Bytes (the last figure) are better when lower.
                *a = if i == 6 { a.min(b) } else { a.max(b) };
            }
        }
    };
    let (mut s, mut f) = (Vec::new(), Vec::new());
    for run in 0..runs {
        eprintln!("run {run}: strata ({n} keys)...");
        let r = run_engine(Strata::open, &base.join("strata"), n);
        eprintln!("  {r:?}");
        best(&mut s, r);
        let _ = std::fs::remove_dir_all(base.join("strata"));
        if only_strata {
            continue;
        }
        eprintln!("run {run}: fjall ({n} keys)...");
        let r = run_engine(Fjall::open, &base.join("fjall"), n);
        eprintln!("  {r:?}");
        best(&mut f, r);
        let _ = std::fs::remove_dir_all(base.join("fjall"));
    }
    let _ = std::fs::remove_dir_all(&base);
    if only_strata {
        println!("{s:?}");
        return;
    }
    let names = [
        "sequential write",
        "random write",
        "random read, 64 MiB cache",
        "random read, no cache",
        "80/20 read/write mix",
        "prefix scan, 100 keys",
        "bytes on disk after compaction",
    ];
    let rows: Vec<Row> = names
        .iter()
        .zip(s.iter().zip(&f))
        .map(|(&name, (&strata, &fjall))| Row { name, strata, fjall, lower_better: name.starts_with("bytes") })
        .collect();
    println!("\n{n} keys, {VALUE_LEN}-byte values, single thread, best of {runs} alternating runs");
    println!("| workload | strata | fjall | strata/fjall |");
    println!("|---|---:|---:|---:|");
    for r in rows {
        if r.lower_better {
            println!(
                "| {} | {:.1} MiB | {:.1} MiB | {:.2} (fjall/strata, >1 = strata smaller) |",
                r.name,
                r.strata / 1048576.0,
                r.fjall / 1048576.0,
                r.fjall / r.strata
            );
        } else {
            println!(
                "| {} | {:.0} ops/s ({:.2} us) | {:.0} ops/s ({:.2} us) | {:.2} |",
                r.name,
                r.strata,
                1e6 / r.strata,
                r.fjall,
                1e6 / r.fjall,
                r.strata / r.fjall
            );
        }
    }
}
