//! Behaviour of the public LSM API: persistence, atomic batches, snapshots,
//! concurrency, space reclamation, locking and stats.

use std::sync::Arc;

use strata::engine::lsm::{Db, Error, Options, SyncMode, WriteBatch};

fn small() -> Options {
    Options { memtable_size: 16 << 10, block_size: 1024, target_file_size: 64 << 10, level_base_bytes: 128 << 10, ..Options::default() }
}

#[test]
fn put_get_delete_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), small()).unwrap();
    let s1 = db.put(b"a", b"1").unwrap();
    let s2 = db.put(b"b", b"2").unwrap();
    assert!(s2 > s1);
    db.delete(b"a").unwrap();
    assert_eq!(db.get(b"a").unwrap(), None);
    assert_eq!(db.get(b"b").unwrap().as_deref(), Some(&b"2"[..]));
    db.close().unwrap();
    let db = Db::open(dir.path(), small()).unwrap();
    assert_eq!(db.get(b"a").unwrap(), None);
    assert_eq!(db.get(b"b").unwrap().as_deref(), Some(&b"2"[..]));
    assert!(db.last_sequence() >= s2);
}

#[test]
fn batch_later_entry_wins_and_is_atomic_for_readers() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), small()).unwrap();
    let mut b = WriteBatch::new();
    b.put(b"k", b"old").put(b"k", b"new").put(b"x", b"1").delete(b"x");
    assert_eq!(b.len(), 4);
    db.write(b).unwrap();
    assert_eq!(db.get(b"k").unwrap().as_deref(), Some(&b"new"[..]));
    assert_eq!(db.get(b"x").unwrap(), None);
    db.write(WriteBatch::new()).unwrap();
}

#[test]
fn snapshot_sees_old_state_across_flush_and_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), small()).unwrap();
    for i in 0..2000u32 {
        db.put(format!("k{i:05}").as_bytes(), b"v1").unwrap();
    }
    let snap = db.snapshot();
    for i in 0..2000u32 {
        if i % 2 == 0 {
            db.delete(format!("k{i:05}").as_bytes()).unwrap();
        } else {
            db.put(format!("k{i:05}").as_bytes(), b"v2").unwrap();
        }
    }
    db.compact_range(None, None).unwrap();
    assert_eq!(snap.range::<&[u8], _>(..).count(), 2000);
    assert!(snap.range::<&[u8], _>(..).all(|r| &r.unwrap().1[..] == b"v1"));
    assert_eq!(snap.get(b"k00000").unwrap().as_deref(), Some(&b"v1"[..]));
    assert_eq!(db.get(b"k00000").unwrap(), None);
    assert_eq!(db.range::<&[u8], _>(..).count(), 1000);
    let it = snap.prefix(b"k0001");
    drop(snap);
    // The iterator keeps the snapshot's view even after the handle is gone.
    db.compact_range(None, None).unwrap();
    assert_eq!(it.count(), 10);
}

#[test]
fn compaction_reclaims_space_of_deleted_and_overwritten_keys() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), small()).unwrap();
    let v = vec![7u8; 200];
    for round in 0..3 {
        for i in 0..3000u32 {
            db.put(format!("key{i:06}").as_bytes(), &v).unwrap();
        }
        let _ = round;
    }
    db.compact_range(None, None).unwrap();
    let full = db.stats().table_bytes;
    let entries: u64 = db.stats().levels.iter().map(|l| l.entries).sum();
    assert_eq!(entries, 3000, "old versions must be gone");
    for i in 0..3000u32 {
        db.delete(format!("key{i:06}").as_bytes()).unwrap();
    }
    db.compact_range(None, None).unwrap();
    let st = db.stats();
    assert_eq!(st.levels.iter().map(|l| l.entries).sum::<u64>(), 0, "{st:?}");
    assert!(st.table_bytes < full / 10, "{} vs {}", st.table_bytes, full);
    assert_eq!(db.range::<&[u8], _>(..).count(), 0);
}

#[test]
fn many_threads_read_and_write_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(Db::open(dir.path(), small()).unwrap());
    let writers: Vec<_> = (0..4)
        .map(|t| {
            let db = db.clone();
            std::thread::spawn(move || {
                for i in 0..1500u32 {
                    let k = format!("t{t}-{i:05}");
                    db.put(k.as_bytes(), k.as_bytes()).unwrap();
                }
            })
        })
        .collect();
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let db = db.clone();
            std::thread::spawn(move || {
                for _ in 0..20 {
                    // Each thread's keys appear in order: a scan sees a prefix of them.
                    for t in 0..4 {
                        let keys: Vec<_> = db.prefix(format!("t{t}-").as_bytes()).map(|r| r.unwrap().0).collect();
                        for (i, k) in keys.iter().enumerate() {
                            assert_eq!(&k[..], format!("t{t}-{i:05}").as_bytes());
                        }
                    }
                }
            })
        })
        .collect();
    for h in writers.into_iter().chain(readers) {
        h.join().unwrap();
    }
    for t in 0..4 {
        assert_eq!(db.prefix(format!("t{t}-").as_bytes()).count(), 1500);
    }
    let st = db.stats();
    assert!(st.flushes > 0, "{st:?}");
}

#[test]
fn second_open_is_refused_while_locked() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), small()).unwrap();
    assert!(matches!(Db::open(dir.path(), small()), Err(Error::Locked(_))));
    drop(db);
    Db::open(dir.path(), small()).unwrap();
}

#[test]
fn missing_database_without_create() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options { create_if_missing: false, ..small() };
    assert!(matches!(Db::open(dir.path().join("nope"), opts), Err(Error::NotFound(_))));
}

#[test]
fn presets_open_and_work() {
    for (name, opts) in [
        ("default", Options::default()),
        ("low_memory", Options::low_memory()),
        ("high_throughput", Options::high_throughput()),
        ("always", Options { sync: SyncMode::Always, ..Options::default() }),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path(), opts.clone()).unwrap();
        for i in 0..500u32 {
            db.put(&i.to_be_bytes(), name.as_bytes()).unwrap();
        }
        db.flush().unwrap();
        assert_eq!(db.get(&7u32.to_be_bytes()).unwrap().as_deref(), Some(name.as_bytes()));
        let rev: Vec<_> = db.range_rev(10u32.to_be_bytes()..20u32.to_be_bytes()).map(|r| r.unwrap().0).collect();
        assert_eq!(rev.len(), 10);
        assert_eq!(&rev[0][..], &19u32.to_be_bytes());
        db.close().unwrap();
    }
}

#[test]
fn stats_count_cache_hits() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), small()).unwrap();
    for i in 0..3000u32 {
        db.put(format!("k{i:05}").as_bytes(), &[1u8; 50]).unwrap();
    }
    db.flush().unwrap();
    // Compactions replace tables (and their cached blocks): let them finish.
    db.wait_idle().unwrap();
    for _ in 0..3 {
        for i in (0..3000u32).step_by(50) {
            assert!(db.get(format!("k{i:05}").as_bytes()).unwrap().is_some());
        }
    }
    let st = db.stats();
    assert!(st.block_cache_hits > 0 && st.block_cache_misses > 0, "{st:?}");
    assert!(st.cache_hit_rate() > 0.5, "{st:?}");
    assert!(st.table_memory_bytes > 0);
}

fn sst_names(dir: &std::path::Path) -> Vec<std::ffi::OsString> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "sst"))
        .filter_map(|p| p.file_name().map(|n| n.to_owned()))
        .collect()
}

fn sst_count(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir).unwrap().filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "sst")).count()
}

#[test]
fn obsolete_tables_are_deleted_only_after_the_last_reader_lets_go() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), small()).unwrap();
    for i in 0..3000u32 {
        db.put(format!("k{i:05}").as_bytes(), &[3u8; 40]).unwrap();
    }
    db.flush().unwrap();
    db.wait_idle().unwrap();
    // Tables made obsolete by background compaction are deleted lazily; once the files on disk are
    // exactly the live ones, they are the tables a new iterator reads.
    let live = || db.stats().levels.iter().map(|l| l.files).sum::<usize>();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while sst_count(dir.path()) != live() {
        assert!(std::time::Instant::now() < deadline, "obsolete tables were never deleted");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let mut it = db.range::<&[u8], _>(..);
    let pinned = sst_names(dir.path());
    let first = it.next().unwrap().unwrap();
    for i in 0..3000u32 {
        db.put(format!("k{i:05}").as_bytes(), &[4u8; 40]).unwrap();
    }
    db.compact_range(None, None).unwrap();
    // The iterator still reads the replaced tables: they must still exist.
    let now = sst_names(dir.path());
    assert!(pinned.iter().all(|name| now.contains(name)), "pinned {pinned:?}, on disk {now:?}");
    assert_eq!(&first.1[..], &[3u8; 40]);
    assert_eq!(it.by_ref().count(), 2999);
    drop(it);
    let after = sst_count(dir.path());
    assert_eq!(after, db.stats().levels.iter().map(|l| l.files).sum::<usize>());
    assert!(db.range::<&[u8], _>(..).all(|r| r.unwrap().1[..] == [4u8; 40]));
}

#[test]
fn concurrent_writers_share_fsyncs_with_sync_always() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options { sync: SyncMode::Always, ..small() };
    let db = Arc::new(Db::open(dir.path(), opts).unwrap());
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let db = db.clone();
            std::thread::spawn(move || {
                for i in 0..50u32 {
                    db.put(format!("t{t}-{i}").as_bytes(), b"v").unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let st = db.stats();
    assert_eq!(st.last_sequence, 400);
    // Group commit: one WAL write and fsync can carry several writers' batches.
    assert!(st.wal_syncs <= 400 && st.write_groups == st.wal_syncs, "{st:?}");
    assert!(st.write_groups < 400, "no group formed: {st:?}");
}

#[test]
fn more_tables_than_open_file_slots() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        memtable_size: 8 << 10,
        target_file_size: 8 << 10,
        level_base_bytes: 1 << 30,
        l0_compaction_trigger: 100,
        l0_stop_writes: 100,
        max_open_files: 16,
        ..small()
    };
    let db = Db::open(dir.path(), opts).unwrap();
    for i in 0..4000u32 {
        db.put(format!("k{i:05}").as_bytes(), &[5u8; 40]).unwrap();
    }
    db.flush().unwrap();
    let files: usize = db.stats().levels.iter().map(|l| l.files).sum();
    assert!(files > 32, "only {files} tables");
    for _ in 0..2 {
        for i in (0..4000u32).step_by(13) {
            assert!(db.get(format!("k{i:05}").as_bytes()).unwrap().is_some());
        }
    }
    assert_eq!(db.range::<&[u8], _>(..).count(), 4000);
}

#[test]
fn parallel_compactions_under_concurrent_load_keep_every_write() {
    use rand::{Rng, SeedableRng};
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        memtable_size: 8 << 10,
        block_size: 512,
        target_file_size: 16 << 10,
        level_base_bytes: 32 << 10,
        level_multiplier: 3,
        l0_compaction_trigger: 2,
        compaction_threads: 3,
        ..small()
    };
    let db = Arc::new(Db::open(dir.path(), opts.clone()).unwrap());
    let writers: Vec<_> = (0..3u64)
        .map(|t| {
            let db = db.clone();
            std::thread::spawn(move || {
                let mut rng = rand::rngs::StdRng::seed_from_u64(t);
                let mut last = std::collections::BTreeMap::new();
                for i in 0..3000u32 {
                    let k = format!("t{t}-{:04}", rng.random_range(0..400u32));
                    if rng.random_bool(0.2) {
                        db.delete(k.as_bytes()).unwrap();
                        last.insert(k, None);
                    } else {
                        let v = format!("{i}").into_bytes();
                        db.put(k.as_bytes(), &v).unwrap();
                        last.insert(k, Some(v));
                    }
                }
                last
            })
        })
        .collect();
    let reader = {
        let db = db.clone();
        std::thread::spawn(move || {
            for _ in 0..30 {
                let keys: Vec<_> = db.range::<&[u8], _>(..).map(|r| r.unwrap().0).collect();
                assert!(keys.windows(2).all(|w| w[0] < w[1]), "scan out of order or duplicated");
                let mut rev: Vec<_> = db.range_rev::<&[u8], _>(..).map(|r| r.unwrap().0).collect();
                rev.reverse();
                assert!(rev.windows(2).all(|w| w[0] < w[1]));
            }
        })
    };
    let mut expect = std::collections::BTreeMap::new();
    for w in writers {
        expect.extend(w.join().unwrap());
    }
    reader.join().unwrap();
    db.wait_idle().unwrap();
    let check = |db: &Db| {
        for (k, v) in &expect {
            assert_eq!(db.get(k.as_bytes()).unwrap().map(|b| b.to_vec()), *v, "{k}");
        }
        let live = expect.values().filter(|v| v.is_some()).count();
        assert_eq!(db.range::<&[u8], _>(..).count(), live);
    };
    check(&db);
    assert!(db.stats().compactions > 0);
    drop(db);
    let db = Db::open(dir.path(), opts).unwrap();
    check(&db);
}

#[test]
fn invalid_options_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    for bad in [
        Options { memtable_size: 10, ..small() },
        Options { bloom_fp_rate: Some(1.5), ..small() },
        Options { compaction_threads: 0, ..small() },
        Options { l0_stop_writes: 1, l0_compaction_trigger: 4, ..small() },
        Options { compression: strata::engine::lsm::Compression::Zstd(99), ..small() },
    ] {
        assert!(matches!(Db::open(dir.path(), bad), Err(Error::InvalidArgument(_))));
    }
}
