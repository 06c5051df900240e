//! Damaged files give an error that names the file: never a panic, never wrong data.

use std::path::{Path, PathBuf};

use strata::engine::lsm::{Db, Error, Options, SyncMode};

fn opts() -> Options {
    Options { memtable_size: 64 << 10, block_size: 1024, sync: SyncMode::Always, ..Options::default() }
}

fn files_with(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut v: Vec<_> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.to_string_lossy().ends_with(suffix)).collect();
    v.sort();
    v
}

fn flip(path: &Path, at: usize) {
    let mut d = std::fs::read(path).unwrap();
    let at = at.min(d.len() - 1);
    d[at] ^= 0x5a;
    std::fs::write(path, d).unwrap();
}

fn names(e: &Error, path: &Path) -> bool {
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    e.to_string().contains(&name)
}

fn populate(dir: &Path) {
    // Unsynced writes made durable by the flush: quicker than 3000 fsyncs.
    let db = Db::open(dir, Options { sync: SyncMode::None, ..opts() }).unwrap();
    for i in 0..3000u32 {
        db.put(format!("key{i:05}").as_bytes(), format!("value-{i}-{}", "x".repeat(40)).as_bytes()).unwrap();
    }
    db.flush().unwrap();
    db.close().unwrap();
}

#[test]
fn flipped_byte_in_sstable_data_is_reported_with_the_file_name() {
    let dir = tempfile::tempdir().unwrap();
    populate(dir.path());
    let ssts = files_with(dir.path(), ".sst");
    assert!(!ssts.is_empty());
    let victim = &ssts[0];
    flip(victim, 100);
    let db = Db::open(dir.path(), opts()).unwrap();
    let errs: Vec<_> = db.range::<&[u8], _>(..).filter_map(|r| r.err()).collect();
    assert_eq!(errs.len(), 1, "a scan must end with the error");
    assert!(errs[0].is_corruption() && names(&errs[0], victim), "{}", errs[0]);
    // Point reads either fail naming the file or return the right value.
    let mut failed = 0;
    for i in 0..3000u32 {
        match db.get(format!("key{i:05}").as_bytes()) {
            Ok(Some(v)) => assert_eq!(&v[..], format!("value-{i}-{}", "x".repeat(40)).as_bytes()),
            Ok(None) => panic!("key{i:05} silently missing"),
            Err(e) => {
                assert!(names(&e, victim), "{e}");
                failed += 1;
            }
        }
    }
    assert!(failed > 0);
}

#[test]
fn damaged_sstable_footer_or_truncation_fails_open_with_the_file_name() {
    for damage in ["footer", "truncate", "index"] {
        let dir = tempfile::tempdir().unwrap();
        populate(dir.path());
        let victim = files_with(dir.path(), ".sst").remove(0);
        let len = std::fs::metadata(&victim).unwrap().len() as usize;
        match damage {
            "footer" => flip(&victim, len - 2),
            "index" => flip(&victim, len - 64 - 40),
            _ => {
                let d = std::fs::read(&victim).unwrap();
                std::fs::write(&victim, &d[..len / 2]).unwrap();
            }
        }
        let e = Db::open(dir.path(), opts()).err().expect("open must fail");
        assert!(e.is_corruption() && names(&e, &victim), "{damage}: {e}");
    }
}

#[test]
fn flipped_byte_in_the_middle_of_the_wal_fails_open_with_the_file_name() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Db::open(dir.path(), Options { memtable_size: 1 << 20, ..opts() }).unwrap();
        for i in 0..200u32 {
            db.put(format!("key{i:05}").as_bytes(), b"v").unwrap();
        }
        // Dropped without a flush: the data lives only in the WAL.
    }
    let wals = files_with(dir.path(), ".wal");
    let victim = wals.iter().max_by_key(|p| std::fs::metadata(p).unwrap().len()).unwrap();
    flip(victim, 300);
    let e = Db::open(dir.path(), opts()).err().expect("open must fail");
    assert!(e.is_corruption() && names(&e, victim), "{e}");
}

#[test]
fn damaged_manifest_fails_open_with_the_file_name() {
    let dir = tempfile::tempdir().unwrap();
    populate(dir.path());
    let m = files_with(dir.path(), "").into_iter().find(|p| p.file_name().unwrap().to_string_lossy().starts_with("MANIFEST-")).unwrap();
    flip(&m, 5);
    let e = Db::open(dir.path(), opts()).err().expect("open must fail");
    assert!(e.is_corruption() && names(&e, &m), "{e}");
}

#[test]
fn the_offline_check_reads_every_table_and_names_a_damaged_one() {
    let dir = tempfile::tempdir().unwrap();
    populate(dir.path());
    let whole = strata::engine::lsm::check::check(dir.path(), false).unwrap();
    assert!(whole.healthy() && whole.tables > 0 && whole.table_entries == 3000, "{whole:?}");
    let victim = &files_with(dir.path(), ".sst")[0];
    flip(victim, 100);
    let report = strata::engine::lsm::check::check(dir.path(), true).unwrap();
    assert_eq!(report.damaged.len(), 1, "{report:?}");
    assert!(report.damaged[0].contains(&*victim.file_name().unwrap().to_string_lossy()), "{report:?}");
    assert!(report.fixed.is_empty(), "a table is not cut back");
}
