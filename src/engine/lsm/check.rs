//! Verifying a database directory offline, and keeping the intact prefix of a damaged log, as
//! `redis-check-aof [--fix]` does for an AOF: what `strata-server --check-store DIR [--fix]` runs.
//!
//! Every table the manifest lists is read through (every block's checksum), and every log that
//! recovery would replay is scanned. A log damaged in the middle can be cut back to its intact
//! records (the later logs go too, since their writes came after the lost ones); a damaged table
//! cannot be cut that way (its keys interleave with every other table's), so it is reported for
//! the operator to restore from a copy.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::cache::{BlockCache, FileCache};
use super::error::{Error, Result};
use super::iterator::InternalIterator;
use super::manifest;
use super::sstable::{Table, TableIter};
use super::wal::{self, LogEnd};
use super::{table_path, wal_path};

/// What a check found.
#[derive(Debug, Default)]
pub struct Report {
    /// Tables the manifest lists.
    pub tables: usize,
    /// Entries read from the intact ones.
    pub table_entries: u64,
    /// Logs recovery would replay.
    pub logs: usize,
    /// Intact records in them.
    pub log_records: u64,
    /// Damage, one line per file, naming the file.
    pub damaged: Vec<String>,
    /// What `fix` changed, one line per file.
    pub fixed: Vec<String>,
}

impl Report {
    /// True when nothing damaged is left.
    pub fn healthy(&self) -> bool {
        self.damaged.is_empty()
    }
}

/// Checks the database in `dir` (which no server may have open); with `fix`, cuts a damaged log
/// back to its intact records and removes the logs after it. A damaged manifest is an error.
pub fn check(dir: &Path, fix: bool) -> Result<Report> {
    let recovered = manifest::recover(dir)?.ok_or_else(|| Error::NotFound(dir.to_path_buf()))?;
    let mut report = Report::default();
    let cache = Arc::new(BlockCache::new(0));
    let files = Arc::new(FileCache::new(16));
    for (id, meta) in recovered.levels.iter().flatten().enumerate() {
        report.tables += 1;
        let path = table_path(dir, meta.number);
        match read_table(&path, id as u64, &cache, &files) {
            Ok(entries) => report.table_entries += entries,
            Err(error) => report.damaged.push(error.to_string()),
        }
    }
    let mut logs = log_numbers(dir)?;
    logs.retain(|&n| n >= recovered.log_number);
    let mut cut_at = None;
    for (index, &number) in logs.iter().enumerate() {
        let path = wal_path(dir, number);
        let data = std::fs::read(&path).map_err(|e| Error::io(&path, "read", e))?;
        let scan = wal::scan_log(&data);
        report.logs += 1;
        report.log_records += scan.records.len() as u64;
        let damaged = match (&scan.end, index + 1 == logs.len()) {
            (LogEnd::Clean, _) | (LogEnd::Torn, true) => continue,
            (LogEnd::Torn, false) => "ends in a torn record but newer logs follow".to_owned(),
            (LogEnd::Damaged(detail), _) => detail.clone(),
        };
        if fix {
            wal::truncate(&path, scan.intact as u64)?;
            report.fixed.push(format!(
                "{}: {damaged}; kept the first {} records ({} bytes)",
                path.display(),
                scan.records.len(),
                scan.intact
            ));
            cut_at = Some(index);
        } else {
            report.damaged.push(format!("{}: {damaged}", path.display()));
        }
        break;
    }
    if let Some(index) = cut_at {
        for &number in &logs[index + 1..] {
            let path = wal_path(dir, number);
            std::fs::remove_file(&path).map_err(|e| Error::io(&path, "remove", e))?;
            report.fixed.push(format!("{}: removed (it followed the damage)", path.display()));
        }
    }
    Ok(report)
}

/// Reads every entry of a table, checking every block; returns how many there are.
fn read_table(path: &Path, id: u64, cache: &Arc<BlockCache>, files: &Arc<FileCache>) -> Result<u64> {
    let table = Arc::new(Table::open(path, id, cache.clone(), files.clone(), true)?);
    let mut entries = TableIter::new(table, false);
    entries.seek_to_first();
    let mut count = 0;
    while entries.valid() {
        count += 1;
        entries.next();
    }
    match entries.take_err() {
        Some(error) => Err(error),
        None => Ok(count),
    }
}

/// The numbers of the log files in `dir`, in order.
fn log_numbers(dir: &Path) -> Result<Vec<u64>> {
    let mut numbers = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, "list", e))? {
        let name: PathBuf = entry.map_err(|e| Error::io(dir, "list", e))?.file_name().into();
        if let Some(number) = name.to_str().and_then(|n| n.strip_suffix(".wal")).and_then(|n| n.parse().ok()) {
            numbers.push(number);
        }
    }
    numbers.sort_unstable();
    Ok(numbers)
}
