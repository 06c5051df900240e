//! The manifest: a crash-safe log of version edits.
//!
//! `CURRENT` names the live `MANIFEST-NNNNNN`. A manifest starts with one edit that
//! describes the whole state, followed by one edit per flush or compaction, each a
//! framed record (see [`super::wal::frame`]) fsynced before the change takes effect.
//! A torn last edit is dropped (its tables are orphans and get deleted); damage in
//! the middle is a corruption error.
//!
//! Edit encoding: a sequence of `tag varint | fields`:
//! 1 log_number, 2 next_file_number, 3 last_sequence, 4 deleted file (level,
//! number), 5 added file (level, number, size, smallest, largest, min seq, max seq,
//! entries).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::coding::{put_bytes, put_varint, Reader};
use super::error::{Error, Result};
use super::wal::{frame, read_log};

/// Number of levels, L0 to L6.
pub(crate) const NUM_LEVELS: usize = 7;

/// What the manifest records about one table file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileMeta {
    pub number: u64,
    pub size: u64,
    /// Smallest and largest internal key in the file.
    pub smallest: Vec<u8>,
    pub largest: Vec<u8>,
    pub min_seq: u64,
    pub max_seq: u64,
    pub entries: u64,
}

/// One atomic change to the set of live files and counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct VersionEdit {
    /// WAL files numbered below this are fully flushed.
    pub log_number: Option<u64>,
    pub next_file: Option<u64>,
    pub last_seq: Option<u64>,
    pub deleted: Vec<(usize, u64)>,
    pub added: Vec<(usize, FileMeta)>,
}

impl VersionEdit {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut b = Vec::new();
        for (tag, v) in [(1, self.log_number), (2, self.next_file), (3, self.last_seq)] {
            if let Some(v) = v {
                put_varint(&mut b, tag);
                put_varint(&mut b, v);
            }
        }
        for &(level, n) in &self.deleted {
            put_varint(&mut b, 4);
            put_varint(&mut b, level as u64);
            put_varint(&mut b, n);
        }
        for (level, f) in &self.added {
            put_varint(&mut b, 5);
            put_varint(&mut b, *level as u64);
            put_varint(&mut b, f.number);
            put_varint(&mut b, f.size);
            put_bytes(&mut b, &f.smallest);
            put_bytes(&mut b, &f.largest);
            put_varint(&mut b, f.min_seq);
            put_varint(&mut b, f.max_seq);
            put_varint(&mut b, f.entries);
        }
        b
    }

    pub(crate) fn decode(b: &[u8]) -> Option<VersionEdit> {
        let mut r = Reader::new(b);
        let mut e = VersionEdit::default();
        let level = |r: &mut Reader<'_>| r.varint().and_then(|l| usize::try_from(l).ok()).filter(|&l| l < NUM_LEVELS);
        while !r.is_empty() {
            match r.varint()? {
                1 => e.log_number = Some(r.varint()?),
                2 => e.next_file = Some(r.varint()?),
                3 => e.last_seq = Some(r.varint()?),
                4 => e.deleted.push((level(&mut r)?, r.varint()?)),
                5 => {
                    let l = level(&mut r)?;
                    e.added.push((
                        l,
                        FileMeta {
                            number: r.varint()?,
                            size: r.varint()?,
                            smallest: r.bytes()?.to_vec(),
                            largest: r.bytes()?.to_vec(),
                            min_seq: r.varint()?,
                            max_seq: r.varint()?,
                            entries: r.varint()?,
                        },
                    ))
                }
                _ => return None,
            }
        }
        Some(e)
    }
}

/// The state a manifest describes after replaying all its edits.
#[derive(Debug, Default)]
pub(crate) struct Recovered {
    pub levels: Vec<Vec<FileMeta>>,
    pub log_number: u64,
    pub next_file: u64,
    pub last_seq: u64,
    pub manifest_number: u64,
}

pub(crate) fn manifest_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("MANIFEST-{n:06}"))
}

/// Fsyncs a directory so created, renamed and deleted entries are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| Error::io(dir, "fsync directory", e))
}

/// Reads `CURRENT` and replays its manifest. `Ok(None)` when there is no database.
pub(crate) fn recover(dir: &Path) -> Result<Option<Recovered>> {
    let cur = dir.join("CURRENT");
    let name = match std::fs::read_to_string(&cur) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(&cur, "read", e)),
    };
    let name = name.trim_end_matches('\n');
    let number = name
        .strip_prefix("MANIFEST-")
        .and_then(|n| n.parse::<u64>().ok())
        .ok_or_else(|| Error::corrupt(&cur, format!("names {name:?}, not a manifest")))?;
    let path = manifest_path(dir, number);
    let (records, _) = read_log(&path)?;
    let mut rec = Recovered { levels: vec![Vec::new(); NUM_LEVELS], manifest_number: number, ..Recovered::default() };
    if records.is_empty() {
        return Err(Error::corrupt(&path, "manifest holds no edit"));
    }
    for (i, r) in records.iter().enumerate() {
        let e = VersionEdit::decode(r).ok_or_else(|| Error::corrupt(&path, format!("edit {i} does not decode")))?;
        if let Some(v) = e.log_number {
            rec.log_number = v;
        }
        if let Some(v) = e.next_file {
            rec.next_file = v;
        }
        if let Some(v) = e.last_seq {
            rec.last_seq = rec.last_seq.max(v);
        }
        for (level, n) in &e.deleted {
            rec.levels[*level].retain(|f| f.number != *n);
        }
        for (level, f) in e.added {
            rec.next_file = rec.next_file.max(f.number + 1);
            rec.last_seq = rec.last_seq.max(f.max_seq);
            rec.levels[level].push(f);
        }
    }
    Ok(Some(rec))
}

/// Appends edits to the live manifest.
pub(crate) struct ManifestWriter {
    pub path: PathBuf,
    file: File,
    pub size: u64,
}

impl ManifestWriter {
    /// Writes a new manifest holding `snapshot` and points `CURRENT` at it.
    pub(crate) fn create(dir: &Path, number: u64, snapshot: &VersionEdit) -> Result<Self> {
        let path = manifest_path(dir, number);
        let mut file = OpenOptions::new().create(true).truncate(true).write(true).open(&path).map_err(|e| Error::io(&path, "create", e))?;
        let mut buf = Vec::new();
        frame(&mut buf, &[&snapshot.encode()]);
        file.write_all(&buf).and_then(|_| file.sync_all()).map_err(|e| Error::io(&path, "write", e))?;
        // IMPORTANT: CURRENT switches atomically by rename, after the new manifest is
        // durable; a crash before the rename keeps the old manifest live.
        let tmp = dir.join("CURRENT.tmp");
        let cur = dir.join("CURRENT");
        let mut t = File::create(&tmp).map_err(|e| Error::io(&tmp, "create", e))?;
        t.write_all(format!("MANIFEST-{number:06}\n").as_bytes()).and_then(|_| t.sync_all()).map_err(|e| Error::io(&tmp, "write", e))?;
        std::fs::rename(&tmp, &cur).map_err(|e| Error::io(&cur, "rename", e))?;
        sync_dir(dir)?;
        Ok(ManifestWriter { path, file, size: buf.len() as u64 })
    }

    /// Appends one edit and fsyncs it.
    pub(crate) fn append(&mut self, edit: &VersionEdit) -> Result<()> {
        let mut buf = Vec::new();
        frame(&mut buf, &[&edit.encode()]);
        self.file.write_all(&buf).and_then(|_| self.file.sync_data()).map_err(|e| Error::io(&self.path, "write", e))?;
        self.size += buf.len() as u64;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(n: u64) -> FileMeta {
        FileMeta {
            number: n,
            size: 100 * n,
            smallest: b"a\0\0\0\0\0\0\0\0".to_vec(),
            largest: b"z\0\0\0\0\0\0\0\0".to_vec(),
            min_seq: n,
            max_seq: 10 * n,
            entries: 5,
        }
    }

    #[test]
    fn edits_round_trip_and_replay() {
        let dir = tempfile::tempdir().unwrap();
        let snap = VersionEdit { log_number: Some(3), next_file: Some(10), last_seq: Some(7), ..Default::default() };
        let mut m = ManifestWriter::create(dir.path(), 2, &snap).unwrap();
        let e1 = VersionEdit { added: vec![(0, meta(11)), (1, meta(12))], log_number: Some(13), ..Default::default() };
        assert_eq!(VersionEdit::decode(&e1.encode()), Some(e1.clone()));
        m.append(&e1).unwrap();
        m.append(&VersionEdit { deleted: vec![(0, 11)], added: vec![(2, meta(14))], ..Default::default() }).unwrap();
        let r = recover(dir.path()).unwrap().unwrap();
        assert_eq!(r.manifest_number, 2);
        assert_eq!(r.log_number, 13);
        assert_eq!(r.next_file, 15);
        assert_eq!(r.last_seq, 140);
        assert!(r.levels[0].is_empty());
        assert_eq!(r.levels[1], vec![meta(12)]);
        assert_eq!(r.levels[2], vec![meta(14)]);
        // A torn last edit is dropped.
        let p = manifest_path(dir.path(), 2);
        let len = std::fs::metadata(&p).unwrap().len();
        let f = OpenOptions::new().write(true).open(&p).unwrap();
        f.set_len(len - 3).unwrap();
        let r = recover(dir.path()).unwrap().unwrap();
        assert_eq!(r.levels[0], vec![meta(11)]);
        assert!(r.levels[2].is_empty());
    }
}
