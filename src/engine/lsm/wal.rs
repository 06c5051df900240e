//! The write-ahead log.
//!
//! One file per memtable (`NNNNNN.wal`). Each write batch is one record:
//! ```text
//! len u32 | check(len) u32 | check(payload) u32 | payload
//! payload = first sequence number u64 | entry count u32 | batch body
//! ```
//! `check` is the low 32 bits of xxh3-64. The separate length check tells a damaged
//! length (corruption, an error) from a record cut short by a crash (a torn tail,
//! truncated on recovery).

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::coding::{get_u32, get_u64};
use super::error::{Error, Result};

const HEADER: usize = 12;

fn check(b: &[u8]) -> u32 {
    xxhash_rust::xxh3::xxh3_64(b) as u32
}

/// Appends records to one log file. Records are staged in a buffer and written with
/// one `write` per group commit or buffer fill.
///
/// The buffer keeps every byte until an fsync covers it, so a failed write or fsync
/// (disk full, I/O error) can be repaired: [`WalWriter::repair`] cuts the file back to
/// what the last fsync made durable and writes the rest again. Rewriting matters after
/// a failed fsync too: Linux may drop the dirty pages it could not write and report
/// the next fsync as a success.
pub(crate) struct WalWriter {
    pub path: PathBuf,
    file: Arc<File>,
    /// Records since the last fsync; they start at file offset `synced_len`.
    buf: Vec<u8>,
    /// How much of `buf` was handed to the OS.
    written: usize,
    /// File length the last fsync made durable.
    synced_len: u64,
}

impl WalWriter {
    /// Creates a new, empty log file.
    pub(crate) fn create(path: &Path) -> Result<Self> {
        let file = OpenOptions::new().create_new(true).write(true).open(path).map_err(|e| Error::io(path, "create", e))?;
        Ok(WalWriter { path: path.to_path_buf(), file: Arc::new(file), buf: Vec::with_capacity(64 << 10), written: 0, synced_len: 0 })
    }

    /// Stages one batch record.
    pub(crate) fn add_record(&mut self, seq: u64, count: u32, body: &[u8]) {
        frame(&mut self.buf, &[&seq.to_le_bytes(), &count.to_le_bytes(), body]);
    }

    /// Where the next record will be staged: [`WalWriter::discard_from`] takes records
    /// back to here.
    pub(crate) fn mark(&self) -> usize {
        self.buf.len()
    }

    /// Forgets the records staged since `mark` (a group whose write failed and which
    /// its writers were told about), so a repair does not write them.
    pub(crate) fn discard_from(&mut self, mark: usize) {
        self.buf.truncate(mark);
        self.written = self.written.min(mark);
    }

    /// Bytes staged in the process and not yet handed to the OS.
    pub(crate) fn buffered(&self) -> usize {
        self.buf.len() - self.written
    }

    /// Hands staged records to the OS.
    pub(crate) fn write_out(&mut self) -> Result<()> {
        if self.written == self.buf.len() {
            return Ok(());
        }
        self.file
            .write_all_at(&self.buf[self.written..], self.synced_len + self.written as u64)
            .map_err(|e| Error::io(&self.path, "write", e))?;
        self.written = self.buf.len();
        Ok(())
    }

    /// Writes staged records and fsyncs the file.
    pub(crate) fn sync(&mut self) -> Result<()> {
        self.write_out()?;
        if !self.buf.is_empty() {
            self.file.sync_data().map_err(|e| Error::io(&self.path, "fsync", e))?;
            self.synced_through(self.synced_len + self.buf.len() as u64);
        }
        Ok(())
    }

    /// A handle to fsync outside the writer's lock, with the file length it will make
    /// durable, when written bytes are not yet fsynced. After a successful fsync the
    /// caller reports it with [`WalWriter::synced_through`]; after a failed one it
    /// must poison the engine.
    pub(crate) fn sync_handle(&self) -> Option<(Arc<File>, u64)> {
        (self.written > 0).then(|| (self.file.clone(), self.synced_len + self.written as u64))
    }

    /// Drops the buffered bytes an fsync made durable, up to file length `end`.
    pub(crate) fn synced_through(&mut self, end: u64) {
        let Some(done) = end.checked_sub(self.synced_len).map(|d| d as usize).filter(|&d| d <= self.written) else {
            return;
        };
        self.buf.drain(..done);
        self.written -= done;
        self.synced_len = end;
    }

    /// After a failed write or fsync: cuts the file back to its durable length and
    /// writes and fsyncs everything since again.
    pub(crate) fn repair(&mut self) -> Result<()> {
        self.file.set_len(self.synced_len).map_err(|e| Error::io(&self.path, "truncate", e))?;
        self.written = 0;
        self.sync()
    }
}

/// Appends one framed record whose payload is the concatenation of `parts`.
pub(crate) fn frame(buf: &mut Vec<u8>, parts: &[&[u8]]) {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    let len = len as u32;
    let start = buf.len();
    buf.extend_from_slice(&len.to_le_bytes());
    buf.extend_from_slice(&check(&len.to_le_bytes()).to_le_bytes());
    buf.extend_from_slice(&[0; 4]);
    let p = buf.len();
    for part in parts {
        buf.extend_from_slice(part);
    }
    let c = check(&buf[p..]);
    buf[start + 8..start + 12].copy_from_slice(&c.to_le_bytes());
}

/// What a log file holds: its intact records, and how it ends.
pub(crate) struct Scan {
    pub records: Vec<Vec<u8>>,
    /// Bytes of the intact records: the file is whole up to here.
    pub intact: usize,
    pub end: LogEnd,
}

/// How a log file ends after its intact records.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum LogEnd {
    /// Nothing follows.
    Clean,
    /// A record cut short by a crash (or zeros a crash left): dropped on recovery.
    Torn,
    /// A damaged record with more data after it: corruption.
    Damaged(String),
}

/// Reads every framed record of log file data (WAL or manifest) until its end or the first record
/// that is not intact.
pub(crate) fn scan_log(data: &[u8]) -> Scan {
    let mut records = Vec::new();
    let mut pos = 0usize;
    let end = loop {
        if pos == data.len() {
            break LogEnd::Clean;
        }
        let rest = &data[pos..];
        if rest.len() < HEADER {
            break LogEnd::Torn;
        }
        let len = get_u32(rest, 0).unwrap_or(0) as usize;
        if get_u32(rest, 4) != Some(check(&rest[0..4])) {
            // All zeros past this point is what a crash leaves in unwritten pages.
            if rest.iter().all(|&b| b == 0) {
                break LogEnd::Torn;
            }
            break LogEnd::Damaged(format!("record header at offset {pos} fails its checksum"));
        }
        let Some(payload) = rest.get(HEADER..HEADER + len) else {
            break LogEnd::Torn;
        };
        if get_u32(rest, 8) != Some(check(payload)) {
            if HEADER + len == rest.len() {
                break LogEnd::Torn;
            }
            break LogEnd::Damaged(format!("record at offset {pos} ({len} bytes) fails its checksum"));
        }
        records.push(payload.to_vec());
        pos += HEADER + len;
    };
    Scan { records, intact: pos, end }
}

/// Cuts `path` to its first `len` bytes, durably.
pub(crate) fn truncate(path: &Path, len: u64) -> Result<()> {
    let f = OpenOptions::new().write(true).open(path).map_err(|e| Error::io(path, "open", e))?;
    f.set_len(len).map_err(|e| Error::io(path, "truncate", e))?;
    f.sync_all().map_err(|e| Error::io(path, "fsync", e))
}

/// Reads every framed record of a log file (WAL or manifest), truncating a torn
/// tail in place. A damaged record followed by more data is a corruption error
/// naming the file. Returns the payloads and the offset of a cut tail.
pub(crate) fn read_log(path: &Path) -> Result<(Vec<Vec<u8>>, Option<u64>)> {
    let data = std::fs::read(path).map_err(|e| Error::io(path, "read", e))?;
    let scan = scan_log(&data);
    match scan.end {
        LogEnd::Clean => Ok((scan.records, None)),
        LogEnd::Torn => {
            truncate(path, scan.intact as u64)?;
            Ok((scan.records, Some(scan.intact as u64)))
        }
        LogEnd::Damaged(detail) => Err(Error::corrupt(path, detail)),
    }
}

/// What recovery found in one WAL file.
pub(crate) struct Replay {
    /// Records in order: first sequence number, entry count, batch body.
    pub records: Vec<(u64, u32, Vec<u8>)>,
    /// Set when a torn tail was cut off at this offset.
    pub truncated_at: Option<u64>,
}

/// Reads a WAL file; see [`read_log`].
pub(crate) fn replay(path: &Path) -> Result<Replay> {
    let (raw, truncated_at) = read_log(path)?;
    let mut records = Vec::with_capacity(raw.len());
    for (i, r) in raw.into_iter().enumerate() {
        let (Some(seq), Some(count)) = (get_u64(&r, 0), get_u32(&r, 8)) else {
            return Err(Error::corrupt(path, format!("record {i} is too short")));
        };
        records.push((seq, count, r[12..].to_vec()));
    }
    Ok(Replay { records, truncated_at })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, n: u64) {
        let mut w = WalWriter::create(path).unwrap();
        for i in 0..n {
            w.add_record(i + 1, 1, format!("body-{i}").as_bytes());
        }
        w.sync().unwrap();
    }

    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("000001.wal");
        write(&p, 10);
        let r = replay(&p).unwrap();
        assert_eq!(r.records.len(), 10);
        assert_eq!(r.records[3], (4, 1, b"body-3".to_vec()));
        assert_eq!(r.truncated_at, None);
    }

    #[test]
    fn torn_tail_is_truncated_at_every_cut() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("000001.wal");
        write(&p, 3);
        let full = std::fs::read(&p).unwrap();
        let rec = full.len() / 3;
        for cut in 1..rec {
            std::fs::write(&p, &full[..2 * rec + cut]).unwrap();
            let r = replay(&p).unwrap();
            assert_eq!(r.records.len(), 2, "cut {cut}");
            assert_eq!(std::fs::metadata(&p).unwrap().len(), 2 * rec as u64);
        }
        // Zero-filled tail.
        let mut z = full[..2 * rec].to_vec();
        z.extend_from_slice(&[0u8; 100]);
        std::fs::write(&p, &z).unwrap();
        assert_eq!(replay(&p).unwrap().records.len(), 2);
    }

    #[test]
    fn repair_rewrites_what_no_fsync_covered_and_drops_discarded_records() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("000001.wal");
        let mut w = WalWriter::create(&p).unwrap();
        w.add_record(1, 1, b"durable");
        w.sync().unwrap();
        w.add_record(2, 1, b"written, not fsynced");
        w.write_out().unwrap();
        let mark = w.mark();
        w.add_record(3, 1, b"a group whose write failed");
        w.write_out().unwrap();
        w.discard_from(mark);
        // What a failed write can leave: junk past the durable length.
        let mut f = OpenOptions::new().append(true).open(&p).unwrap();
        std::io::Write::write_all(&mut f, b"\x07junk").unwrap();
        w.repair().unwrap();
        let r = replay(&p).unwrap();
        assert_eq!(r.records, vec![(1, 1, b"durable".to_vec()), (2, 1, b"written, not fsynced".to_vec())]);
        assert_eq!(r.truncated_at, None);
        w.add_record(3, 1, b"after the repair");
        w.sync().unwrap();
        assert_eq!(replay(&p).unwrap().records.len(), 3);
    }

    #[test]
    fn corruption_in_the_middle_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("000007.wal");
        write(&p, 3);
        let mut d = std::fs::read(&p).unwrap();
        for at in [2usize, 5, 14] {
            let mut c = d.clone();
            c[at] ^= 0x10;
            std::fs::write(&p, &c).unwrap();
            let e = replay(&p).err().expect("corruption must be reported");
            assert!(e.is_corruption() && e.to_string().contains("000007.wal"), "{e}");
        }
        // The last record's payload damaged: indistinguishable from a torn write.
        let n = d.len();
        d[n - 1] ^= 1;
        std::fs::write(&p, &d).unwrap();
        assert_eq!(replay(&p).unwrap().records.len(), 2);
    }
}
