//! Opening a database: lock, manifest replay, WAL replay, cleanup.
//!
//! Replayed WAL data is written to L0 tables, then a fresh manifest describing the
//! whole state is written and `CURRENT` switched to it in one rename. Only then are
//! the old logs, the old manifest and orphaned tables (from a flush or compaction
//! that crashed before its manifest edit) deleted, so a crash at any point reopens
//! to the last consistent state.

use std::collections::{BTreeMap, VecDeque};
use std::fs::OpenOptions;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::{Condvar, Mutex, RwLock};

use super::cache::{BlockCache, FileCache};
use super::compaction::{self, Env};
use super::error::{Error, Result};
use super::manifest::{self, FileMeta, ManifestWriter, VersionEdit, NUM_LEVELS};
use super::memtable::{MemIter, Memtable};
use super::options::Options;
use super::version::{TableHandle, Version};
use super::wal::{self, WalWriter};
use super::{batch, table_path, wal_path, Counters, Inner, State, SuperVersion, WriteState};
use crate::engine::lsm::iterator::InternalIterator;
use crate::engine::lsm::key::Kind;
use crate::engine::lsm::sstable::Table;

/// Kinds of files in a database directory.
enum FileKind {
    Table(u64),
    Wal(u64),
    Manifest(u64),
    Other,
}

fn classify(name: &str) -> FileKind {
    let num = |s: &str| s.parse::<u64>().ok();
    if let Some(n) = name.strip_suffix(".sst").and_then(num) {
        FileKind::Table(n)
    } else if let Some(n) = name.strip_suffix(".wal").and_then(num) {
        FileKind::Wal(n)
    } else if let Some(n) = name.strip_prefix("MANIFEST-").and_then(num) {
        FileKind::Manifest(n)
    } else {
        FileKind::Other
    }
}

/// Minimal environment used while the database is not yet assembled.
struct OpenEnv<'a> {
    dir: &'a Path,
    opts: &'a Options,
    cache: Arc<BlockCache>,
    files: Arc<FileCache>,
    next_file: std::cell::Cell<u64>,
    next_cache: AtomicU64,
}

impl Env for OpenEnv<'_> {
    fn options(&self) -> &Options {
        self.opts
    }
    fn new_file_number(&self) -> u64 {
        let n = self.next_file.get();
        self.next_file.set(n + 1);
        n
    }
    fn table_path(&self, number: u64) -> std::path::PathBuf {
        table_path(self.dir, number)
    }
    fn open_table(&self, number: u64) -> Result<Arc<Table>> {
        let id = self.next_cache.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(Arc::new(Table::open(&table_path(self.dir, number), id, self.cache.clone(), self.files.clone(), self.opts.verify_checksums)?))
    }
    fn aborted(&self) -> bool {
        false
    }
}

pub(super) fn open(dir: &Path, opts: Options) -> Result<Inner> {
    if !dir.exists() {
        if !opts.create_if_missing {
            return Err(Error::NotFound(dir.to_path_buf()));
        }
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, "create directory", e))?;
    }
    let lock_path = dir.join("LOCK");
    let lock =
        OpenOptions::new().create(true).truncate(false).write(true).open(&lock_path).map_err(|e| Error::io(&lock_path, "open", e))?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => return Err(Error::Locked(dir.to_path_buf())),
        Err(std::fs::TryLockError::Error(e)) => return Err(Error::io(&lock_path, "lock", e)),
    }

    let recovered = manifest::recover(dir)?;
    let is_new = recovered.is_none();
    if is_new && !opts.create_if_missing {
        return Err(Error::NotFound(dir.to_path_buf()));
    }
    let rec = recovered.unwrap_or_else(|| manifest::Recovered { levels: vec![Vec::new(); NUM_LEVELS], next_file: 1, ..Default::default() });

    // Every number in the directory is taken, including logs and orphans written
    // after the last manifest edit.
    let mut max_number = rec.next_file;
    let mut wals = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, "list", e))?;
    let mut names = Vec::new();
    for e in entries {
        let e = e.map_err(|e| Error::io(dir, "list", e))?;
        let name = e.file_name().to_string_lossy().into_owned();
        match classify(&name) {
            FileKind::Table(n) | FileKind::Manifest(n) => max_number = max_number.max(n + 1),
            FileKind::Wal(n) => {
                max_number = max_number.max(n + 1);
                if n >= rec.log_number {
                    wals.push(n);
                }
            }
            FileKind::Other => {}
        }
        names.push(name);
    }
    wals.sort_unstable();

    let cache = Arc::new(BlockCache::new(opts.block_cache_bytes));
    let files = Arc::new(FileCache::new(opts.max_open_files));
    let env = OpenEnv {
        dir,
        opts: &opts,
        cache: cache.clone(),
        files: files.clone(),
        next_file: std::cell::Cell::new(max_number),
        next_cache: AtomicU64::new(1),
    };

    // Open every live table; a damaged one fails the open with its name.
    let mut version = Version::default();
    for (level, files) in rec.levels.iter().enumerate() {
        for f in files {
            let table = env.open_table(f.number)?;
            version.levels[level].push(Arc::new(TableHandle::new(f.clone(), table)));
        }
    }
    let (mut version, _) = version.apply(&[], Vec::new());
    if let Err(m) = version.check_invariants() {
        return Err(Error::corrupt(manifest::manifest_path(dir, rec.manifest_number), m));
    }

    // Replay the logs in order into memtables, writing L0 tables as they fill.
    let mut last_seq = rec.last_seq;
    let mut mem = Memtable::new(0, opts.memtable_size);
    let mut added: Vec<FileMeta> = Vec::new();
    for (i, &n) in wals.iter().enumerate() {
        let path = wal_path(dir, n);
        let replay = wal::replay(&path)?;
        if replay.truncated_at.is_some() && i + 1 != wals.len() {
            return Err(Error::corrupt(&path, "log ends in a torn record but newer logs follow"));
        }
        for (seq, count, body) in &replay.records {
            let mut s = *seq;
            let ok = batch::for_each(body, *count, |kind: Kind, k, v| {
                mem.insert(k, s, kind, v);
                s += 1;
            });
            if ok.is_none() {
                return Err(Error::corrupt(&path, format!("batch at sequence {seq} does not decode")));
            }
            last_seq = last_seq.max(s - 1);
            if mem.size() >= opts.memtable_size {
                let full = std::mem::replace(&mut mem, Memtable::new(0, opts.memtable_size));
                flush_replayed(&env, full, &mut version, &mut added)?;
            }
        }
    }
    flush_replayed(&env, mem, &mut version, &mut added)?;

    // Commit the recovered state in a fresh manifest.
    let wal_number = env.new_file_number();
    let manifest_number = env.new_file_number();
    let next_file = env.next_file.get();
    let mut snapshot =
        VersionEdit { log_number: Some(wal_number), next_file: Some(next_file), last_seq: Some(last_seq), ..Default::default() };
    for (level, files) in version.levels.iter().enumerate() {
        for t in files {
            snapshot.added.push((level, t.meta.clone()));
        }
    }
    let wal = WalWriter::create(&wal_path(dir, wal_number))?;
    let manifest = ManifestWriter::create(dir, manifest_number, &snapshot)?;

    // Cleanup: anything not part of the new state.
    let live: std::collections::HashSet<u64> = version.levels.iter().flatten().map(|t| t.meta.number).collect();
    for name in names {
        let stale = match classify(&name) {
            FileKind::Table(n) => !live.contains(&n),
            FileKind::Wal(n) => n != wal_number,
            FileKind::Manifest(n) => n != manifest_number,
            FileKind::Other => name == "CURRENT.tmp",
        };
        if stale {
            let _ = std::fs::remove_file(dir.join(&name));
        }
    }
    manifest::sync_dir(dir)?;

    let mem = Arc::new(Memtable::new(wal_number, opts.memtable_size));
    let version = Arc::new(version);
    let sv = Arc::new(SuperVersion { mem: mem.clone(), imms: Vec::new(), version: version.clone() });
    let next_cache_id = env.next_cache.load(std::sync::atomic::Ordering::Relaxed);
    Ok(Inner {
        dir: dir.to_path_buf(),
        cache,
        files,
        next_cache_id: AtomicU64::new(next_cache_id),
        queue: Mutex::new(VecDeque::new()),
        writer: Mutex::new(WriteState { wal, mem: mem.clone(), last_sync: Instant::now() }),
        visible_seq: AtomicU64::new(last_seq),
        state: Mutex::new(State {
            mem,
            imms: Vec::new(),
            version,
            manifest,
            log_number: wal_number,
            next_file,
            busy: [false; NUM_LEVELS],
            pointers: Default::default(),
            bg_error: None,
            flushing: false,
        }),
        snapshots: Mutex::new(BTreeMap::new()),
        state_cv: Condvar::new(),
        sv: RwLock::new(sv),
        shutting_down: AtomicBool::new(false),
        poisoned: Mutex::new(None),
        counters: Counters::default(),
        opts,
        _lock: lock,
    })
}

/// Writes a replayed memtable as an L0 table into `version`.
fn flush_replayed(env: &OpenEnv<'_>, mem: Memtable, version: &mut Version, added: &mut Vec<FileMeta>) -> Result<()> {
    if mem.is_empty() {
        return Ok(());
    }
    let mut it = MemIter::new(Arc::new(mem));
    it.seek_to_first();
    // No snapshot exists yet, but keep every version: recovery is not the place
    // to drop data.
    let built = compaction::build_tables(env, &mut it, 0, &|_| false, false, None)?;
    for b in built {
        added.push(b.meta.clone());
        let (v, _) = version.apply(&[], vec![(0, Arc::new(TableHandle::new(b.meta, b.table)))]);
        *version = v;
    }
    Ok(())
}
