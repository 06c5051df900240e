//! Crash test: a child process (this test binary re-run in child mode) writes with
//! sync `always` and prints every acknowledged operation; the parent SIGKILLs it
//! at random moments, reopens, and checks that every acknowledged write is there.
//! With sync `none` the reopened state must be a prefix of the writes.
//!
//! Operation `i` of round `r` is one atomic batch: put `r{r}-{i}` = value(r, i),
//! put `last` = "r:i", and every 7th operation also deletes `r{r}-{i-3}`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use strata::engine::lsm::{Db, Options, SyncMode, WriteBatch};

const CHILD_ENV: &str = "STRATA_LSM_CRASH_CHILD";

fn options(sync: SyncMode) -> Options {
    // Tiny memtables and levels so kills also land in flushes and compactions.
    Options {
        memtable_size: 32 << 10,
        block_size: 1024,
        target_file_size: 64 << 10,
        level_base_bytes: 128 << 10,
        l0_compaction_trigger: 2,
        sync,
        ..Options::default()
    }
}

fn key(round: u32, i: u64) -> Vec<u8> {
    format!("r{round:02}-{i:07}").into_bytes()
}

fn value(round: u32, i: u64) -> Vec<u8> {
    format!("{round}:{i}:{}", "v".repeat((i % 50) as usize)).into_bytes()
}

fn batch(round: u32, i: u64) -> WriteBatch {
    let mut b = WriteBatch::new();
    b.put(&key(round, i), &value(round, i));
    b.put(b"last", format!("{round}:{i}").as_bytes());
    if i % 7 == 6 {
        b.delete(&key(round, i - 3));
    }
    b
}

/// Applies operations `0..=upto` of `round` to the model.
fn apply(model: &mut BTreeMap<Vec<u8>, Vec<u8>>, round: u32, upto: Option<u64>) {
    let Some(upto) = upto else { return };
    for i in 0..=upto {
        model.insert(key(round, i), value(round, i));
        model.insert(b"last".to_vec(), format!("{round}:{i}").into_bytes());
        if i % 7 == 6 {
            model.remove(&key(round, i - 3));
        }
    }
}

/// Child mode: write forever, acknowledging each operation on stdout.
#[test]
fn crash_child_entry() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return; // normal test run: nothing to do
    };
    let mut parts = spec.splitn(3, ',');
    let (Some(sync), Some(round), Some(dir)) = (parts.next(), parts.next(), parts.next()) else {
        panic!("bad child spec {spec}");
    };
    let sync = if sync == "always" { SyncMode::Always } else { SyncMode::None };
    let round: u32 = round.parse().unwrap();
    let db = Db::open(dir, options(sync)).unwrap();
    let out = std::io::stdout();
    let mut out = out.lock();
    writeln!(out, "ready").unwrap();
    out.flush().unwrap();
    for i in 0.. {
        db.write(batch(round, i)).unwrap();
        writeln!(out, "{i}").unwrap();
        out.flush().unwrap();
    }
}

/// Runs one child round, kills it after `delay`, returns the last acknowledged op.
fn run_child(dir: &Path, sync: &str, round: u32, delay: Duration) -> Option<u64> {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args(["crash_child_entry", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, format!("{sync},{round},{}", dir.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut last = None;
        let mut ready_at = None;
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line == "ready" {
                ready_at = Some(Instant::now());
            } else if let Ok(i) = line.trim().parse::<u64>() {
                last = Some(i);
            }
        }
        (last, ready_at)
    });
    std::thread::sleep(delay);
    // Child::kill sends SIGKILL on unix: no destructor, no flush, no close runs.
    child.kill().unwrap();
    child.wait().unwrap();
    let (last, _) = reader.join().unwrap();
    last
}

fn check(db: &Db, model: &BTreeMap<Vec<u8>, Vec<u8>>, ctx: &str) {
    let got: BTreeMap<Vec<u8>, Vec<u8>> = db
        .range::<&[u8], _>(..)
        .map(|r| {
            let (k, v) = r.unwrap_or_else(|e| panic!("{ctx}: {e}"));
            (k.to_vec(), v.to_vec())
        })
        .collect();
    if &got != model {
        let missing: Vec<_> = model.keys().filter(|k| !got.contains_key(*k)).take(5).collect();
        let extra: Vec<_> = got.keys().filter(|k| !model.contains_key(*k)).take(5).collect();
        panic!(
            "{ctx}: state differs: {} vs {} keys; missing {missing:?}, extra {extra:?}, last {:?} vs {:?}",
            got.len(),
            model.len(),
            got.get(&b"last"[..]).map(|v| String::from_utf8_lossy(v).into_owned()),
            model.get(&b"last"[..]).map(|v| String::from_utf8_lossy(v).into_owned()),
        );
    }
}

/// Which op of `round` the reopened database says was applied last.
fn applied_upto(db: &Db, round: u32) -> Option<u64> {
    let last = db.get(b"last").unwrap()?;
    let s = String::from_utf8(last.to_vec()).unwrap();
    let (r, i) = s.split_once(':').unwrap();
    (r.parse::<u32>().unwrap() == round).then(|| i.parse().unwrap())
}

fn crash_rounds(sync: &str, rounds: u32, seed: u64) {
    let seed = std::env::var("LSM_CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(seed);
    let mut rng = StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let mut model = BTreeMap::new();
    let mut total_acked = 0;
    for round in 0..rounds {
        // Short delays kill the child while it is still opening (recovering) the
        // database; longer ones land in writes, flushes and compactions.
        let delay = Duration::from_millis(rng.random_range(1..250));
        let acked = run_child(dir.path(), sync, round, delay);
        total_acked += acked.map_or(0, |a| a + 1);
        let db = Db::open(dir.path(), options(SyncMode::Always)).unwrap();
        let applied = applied_upto(&db, round);
        let ctx = format!("{sync} round {round}: acked {acked:?}, applied {applied:?}");
        eprintln!("{ctx}, tables {}", db.stats().levels.iter().map(|l| l.files).sum::<usize>());
        if sync == "always" {
            // Every acknowledged op is there; at most the one in flight beyond.
            let ok = match (acked, applied) {
                (None, None) => true,
                (None, Some(a)) => a == 0,
                (Some(k), Some(a)) => a == k || a == k + 1,
                (Some(_), None) => false,
            };
            assert!(ok, "{ctx}: acknowledged writes lost");
        }
        // Whatever survived must be exactly a prefix of the operations.
        apply(&mut model, round, applied);
        check(&db, &model, &ctx);
        db.close().unwrap();
    }
    assert!(total_acked > 0, "children never got to write");
}

#[test]
fn sigkill_with_sync_always_loses_no_acknowledged_write() {
    crash_rounds("always", 24, 0xc0ffee);
}

#[test]
fn sigkill_with_sync_none_reopens_to_a_prefix() {
    crash_rounds("none", 12, 0xbadcafe);
}
