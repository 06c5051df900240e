//! Sorted string tables: immutable files of internal keys.
//!
//! ```text
//! data block 0 .. data block n      (each: stored bytes | type u8 | checksum u32)
//! filter block                      (bloom over user keys; empty when disabled)
//! index block                       (block format, one entry per data block:
//!                                    last internal key -> offset varint, length varint)
//! properties block                  (counts, sequence range, smallest/largest key)
//! footer, 64 bytes: filter off,len | index off,len | props off,len | reserved u64
//!                   | format version u32 | magic u32     (all little-endian)
//! ```
//! Offsets/lengths in the footer and index exclude the 5-byte block trailer.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::block::{decode_block, encode_block, Block, BlockBuilder, BlockIter, BLOCK_TRAILER};
use super::bloom::{self, BloomBuilder};
use super::cache::{BlockCache, FileCache};
use super::coding::{get_u32, get_u64, put_bytes, put_varint, Reader};
use super::error::{Error, Result};
use super::iterator::InternalIterator;
use super::key::{self, Kind};
use super::options::{Compression, Options};

const FOOTER_LEN: usize = 64;
const MAGIC: u32 = 0x5354_4c53; // "SLTS" little-endian: strata LSM table
const FORMAT_VERSION: u32 = 1;

/// Facts about a finished table, recorded in its properties block and the manifest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Properties {
    pub entries: u64,
    pub deletions: u64,
    pub min_seq: u64,
    pub max_seq: u64,
    /// Smallest and largest internal key.
    pub smallest: Vec<u8>,
    pub largest: Vec<u8>,
    pub raw_key_bytes: u64,
    pub raw_value_bytes: u64,
    pub data_blocks: u64,
}

impl Properties {
    fn encode(&self) -> Vec<u8> {
        let mut b = Vec::new();
        for v in [self.entries, self.deletions, self.min_seq, self.max_seq, self.raw_key_bytes, self.raw_value_bytes, self.data_blocks] {
            put_varint(&mut b, v);
        }
        put_bytes(&mut b, &self.smallest);
        put_bytes(&mut b, &self.largest);
        b
    }

    fn decode(b: &[u8]) -> Option<Properties> {
        let mut r = Reader::new(b);
        Some(Properties {
            entries: r.varint()?,
            deletions: r.varint()?,
            min_seq: r.varint()?,
            max_seq: r.varint()?,
            raw_key_bytes: r.varint()?,
            raw_value_bytes: r.varint()?,
            data_blocks: r.varint()?,
            smallest: r.bytes()?.to_vec(),
            largest: r.bytes()?.to_vec(),
        })
    }
}

/// Writes one table file from entries given in internal-key order.
pub(crate) struct TableBuilder {
    path: PathBuf,
    file: File,
    buf: Vec<u8>,
    offset: u64,
    block_size: usize,
    compression: Compression,
    data: BlockBuilder,
    index: BlockBuilder,
    bloom: Option<BloomBuilder>,
    props: Properties,
    handle: Vec<u8>,
}

impl TableBuilder {
    pub(crate) fn create(path: &Path, opts: &Options) -> Result<Self> {
        let file = File::create(path).map_err(|e| Error::io(path, "create", e))?;
        Ok(TableBuilder {
            path: path.to_path_buf(),
            file,
            buf: Vec::with_capacity(256 << 10),
            offset: 0,
            block_size: opts.block_size,
            compression: opts.compression,
            data: BlockBuilder::new(opts.block_restart_interval),
            index: BlockBuilder::new(1),
            bloom: opts.bloom_fp_rate.map(BloomBuilder::new),
            props: Properties { min_seq: u64::MAX, ..Properties::default() },
            handle: Vec::new(),
        })
    }

    /// Adds an entry; `ikey` must be greater than every key added before.
    pub(crate) fn add(&mut self, ikey: &[u8], value: &[u8]) -> Result<()> {
        let Some((uk, seq, kind)) = key::parse(ikey) else {
            return Err(Error::InvalidArgument("malformed internal key".into()));
        };
        if self.props.entries == 0 {
            self.props.smallest = ikey.to_vec();
        }
        self.props.entries += 1;
        if kind == Kind::Delete {
            self.props.deletions += 1;
        }
        self.props.min_seq = self.props.min_seq.min(seq);
        self.props.max_seq = self.props.max_seq.max(seq);
        self.props.raw_key_bytes += ikey.len() as u64;
        self.props.raw_value_bytes += value.len() as u64;
        if let Some(b) = &mut self.bloom {
            b.add(uk);
        }
        self.data.add(ikey, value);
        if self.data.estimated_size() >= self.block_size {
            self.flush_block()?;
        }
        Ok(())
    }

    /// Bytes written so far plus the open block, to cut compaction output.
    pub(crate) fn file_size(&self) -> u64 {
        self.offset + self.buf.len() as u64 + self.data.estimated_size() as u64
    }

    pub(crate) fn entries(&self) -> u64 {
        self.props.entries
    }

    fn flush_block(&mut self) -> Result<()> {
        if self.data.is_empty() {
            return Ok(());
        }
        self.props.largest.clear();
        self.props.largest.extend_from_slice(self.data.last_key());
        let raw = self.data.finish();
        let off = self.offset + self.buf.len() as u64;
        let stored = encode_block(&raw, self.compression, &mut self.buf);
        self.handle.clear();
        put_varint(&mut self.handle, off);
        put_varint(&mut self.handle, stored as u64);
        let last = self.props.largest.clone();
        self.index.add(&last, &self.handle);
        self.props.data_blocks += 1;
        if self.buf.len() >= 256 << 10 {
            self.write_buf()?;
        }
        Ok(())
    }

    fn write_buf(&mut self) -> Result<()> {
        self.file.write_all(&self.buf).map_err(|e| Error::io(&self.path, "write", e))?;
        self.offset += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }

    /// Writes filter, index, properties and footer and fsyncs the file.
    pub(crate) fn finish(mut self) -> Result<(u64, Properties)> {
        self.flush_block()?;
        if self.props.entries == 0 {
            self.props.min_seq = 0;
        }
        let base = self.offset;
        let filter = self.bloom.as_ref().map(|b| b.finish()).unwrap_or_default();
        let f_off = base + self.buf.len() as u64;
        let f_len = encode_block(&filter, Compression::None, &mut self.buf) as u64;
        let index = self.index.finish();
        let i_off = base + self.buf.len() as u64;
        let i_len = encode_block(&index, Compression::None, &mut self.buf) as u64;
        let p_off = base + self.buf.len() as u64;
        let p_len = encode_block(&self.props.encode(), Compression::None, &mut self.buf) as u64;
        for v in [f_off, f_len, i_off, i_len, p_off, p_len, 0] {
            self.buf.extend_from_slice(&v.to_le_bytes());
        }
        self.buf.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        self.buf.extend_from_slice(&MAGIC.to_le_bytes());
        self.write_buf()?;
        // IMPORTANT: the table must be durable before a manifest edit refers to it.
        self.file.sync_all().map_err(|e| Error::io(&self.path, "fsync", e))?;
        Ok((self.offset, self.props))
    }
}

/// An open table: index, filter and properties in memory, data blocks read on demand
/// through the shared block cache.
pub(crate) struct Table {
    pub path: PathBuf,
    files: Arc<FileCache>,
    cache_id: u64,
    cache: Arc<BlockCache>,
    index: Arc<Block>,
    filter: Vec<u8>,
    /// Read by tests and kept for diagnostics.
    #[allow(dead_code)]
    pub props: Properties,
    data_end: u64,
    verify: bool,
}

impl Table {
    /// Opens and validates a table's footer, index, filter and properties.
    pub(crate) fn open(path: &Path, cache_id: u64, cache: Arc<BlockCache>, files: Arc<FileCache>, verify: bool) -> Result<Table> {
        let file = File::open(path).map_err(|e| Error::io(path, "open", e))?;
        let size = file.metadata().map_err(|e| Error::io(path, "stat", e))?.len();
        let corrupt = |d: String| Error::corrupt(path, d);
        if size < FOOTER_LEN as u64 {
            return Err(corrupt(format!("{size} bytes is shorter than the footer")));
        }
        let mut footer = [0u8; FOOTER_LEN];
        file.read_exact_at(&mut footer, size - FOOTER_LEN as u64).map_err(|e| Error::io(path, "read", e))?;
        let magic = get_u32(&footer, 60).unwrap_or(0);
        if magic != MAGIC {
            return Err(corrupt(format!("bad magic {magic:#010x} (not a strata table?)")));
        }
        let version = get_u32(&footer, 56).unwrap_or(0);
        if version != FORMAT_VERSION {
            return Err(corrupt(format!("unsupported table format version {version}")));
        }
        let f = |i: usize| get_u64(&footer, i * 8).unwrap_or(u64::MAX);
        let (f_off, f_len, i_off, i_len, p_off, p_len) = (f(0), f(1), f(2), f(3), f(4), f(5));
        let meta_end = size - FOOTER_LEN as u64;
        let read_meta = |off: u64, len: u64, what: &str| -> Result<Vec<u8>> {
            let end = off
                .checked_add(len)
                .and_then(|x| x.checked_add(BLOCK_TRAILER as u64))
                .filter(|&e| e <= meta_end)
                .ok_or_else(|| corrupt(format!("{what} block {off}+{len} outside the file")))?;
            let mut b = vec![0u8; (end - off) as usize];
            file.read_exact_at(&mut b, off).map_err(|e| Error::io(path, "read", e))?;
            // Metadata is always verified: it is read once per open.
            decode_block(b, true).map_err(|d| corrupt(format!("{what} block: {d}")))
        };
        let filter = read_meta(f_off, f_len, "filter")?;
        let index = read_meta(i_off, i_len, "index")?;
        let index = Block::new(index).map_err(|d| corrupt(format!("index block: {d}")))?;
        let props = read_meta(p_off, p_len, "properties")?;
        let props = Properties::decode(&props).ok_or_else(|| corrupt("properties block does not decode".into()))?;
        files.insert(cache_id, Arc::new(file));
        Ok(Table { path: path.to_path_buf(), files, cache_id, cache, index: Arc::new(index), filter, props, data_end: f_off, verify })
    }

    /// Bytes of memory the table keeps outside the block cache.
    pub(crate) fn memory(&self) -> usize {
        self.index.size() + self.filter.len()
    }

    /// False when the bloom filter rules `user_key` (by [`bloom::hash`]) out.
    #[inline]
    pub(crate) fn may_contain(&self, h: u64) -> bool {
        self.filter.is_empty() || bloom::may_contain(&self.filter, h)
    }

    fn read_block(&self, handle: &[u8], fill_cache: bool) -> Result<Arc<Block>> {
        let mut r = Reader::new(handle);
        let (Some(off), Some(len)) = (r.varint(), r.varint()) else {
            return Err(Error::corrupt(&self.path, "index entry has a bad block handle"));
        };
        if let Some(b) = self.cache.get(self.cache_id, off, fill_cache) {
            return Ok(b);
        }
        let end = off
            .checked_add(len)
            .and_then(|x| x.checked_add(BLOCK_TRAILER as u64))
            .filter(|&e| e <= self.data_end)
            .ok_or_else(|| Error::corrupt(&self.path, format!("data block {off}+{len} outside the data area")))?;
        let mut buf = vec![0u8; (end - off) as usize];
        self.files.get(self.cache_id, &self.path)?.read_exact_at(&mut buf, off).map_err(|e| Error::io(&self.path, "read", e))?;
        let raw = decode_block(buf, self.verify).map_err(|d| Error::corrupt(&self.path, format!("data block at {off}: {d}")))?;
        let block = Block::new(raw).map_err(|d| Error::corrupt(&self.path, format!("data block at {off}: {d}")))?;
        let block = Arc::new(block);
        if fill_cache {
            self.cache.insert(self.cache_id, off, block.clone());
        }
        Ok(block)
    }

    /// The newest entry for `user_key` with sequence `<= seq`, if this table has one:
    /// `Some((kind, value))`.
    pub(crate) fn get(self: &Arc<Self>, user_key: &[u8], seek_key: &[u8], h: u64) -> Result<Option<(Kind, Vec<u8>)>> {
        if !self.may_contain(h) {
            return Ok(None);
        }
        // A direct two-step lookup: cheaper than a TableIter on the hot path.
        let mut idx = BlockIter::new(self.index.clone());
        idx.seek(seek_key);
        loop {
            if let Some(d) = idx.corruption() {
                return Err(Error::corrupt(&self.path, format!("index block: {d}")));
            }
            if !idx.valid() {
                return Ok(None);
            }
            let mut it = BlockIter::new(self.read_block(idx.value(), true)?);
            it.seek(seek_key);
            if let Some(d) = it.corruption() {
                return Err(Error::corrupt(&self.path, format!("data block: {d}")));
            }
            if it.valid() {
                return match key::parse(it.key()) {
                    Some((uk, _, kind)) if uk == user_key => Ok(Some((kind, it.value().to_vec()))),
                    Some(_) => Ok(None),
                    None => Err(Error::corrupt(&self.path, "malformed internal key in data block")),
                };
            }
            // The index promised an entry >= seek_key in that block; keep looking
            // rather than trust it.
            idx.next();
        }
    }
}

impl Drop for Table {
    fn drop(&mut self) {
        self.files.forget(self.cache_id);
    }
}

/// Two-level iterator over a table: index block → data blocks.
pub(crate) struct TableIter {
    table: Arc<Table>,
    index: BlockIter,
    data: Option<BlockIter>,
    fill_cache: bool,
    err: Option<Error>,
}

impl TableIter {
    pub(crate) fn new(table: Arc<Table>, fill_cache: bool) -> Self {
        let index = BlockIter::new(table.index.clone());
        TableIter { table, index, data: None, fill_cache, err: None }
    }

    fn set_err(&mut self, e: Error) {
        if self.err.is_none() {
            self.err = Some(e);
        }
        self.data = None;
    }

    fn check_block(&mut self) {
        if let Some(d) = self.index.corruption() {
            let e = Error::corrupt(&self.table.path, format!("index block: {d}"));
            self.set_err(e);
            return;
        }
        if let Some(d) = self.data.as_ref().and_then(|b| b.corruption()) {
            let e = Error::corrupt(&self.table.path, format!("data block: {d}"));
            self.set_err(e);
        }
    }

    /// Loads the data block the index points at.
    fn load(&mut self) -> bool {
        self.data = None;
        if self.err.is_some() || !self.index.valid() {
            self.check_block();
            return false;
        }
        match self.table.read_block(self.index.value(), self.fill_cache) {
            Ok(b) => {
                self.data = Some(BlockIter::new(b));
                true
            }
            Err(e) => {
                self.set_err(e);
                false
            }
        }
    }

    fn data_valid(&self) -> bool {
        self.data.as_ref().is_some_and(|d| d.valid())
    }

    fn skip_forward(&mut self) {
        self.check_block();
        while self.err.is_none() && !self.data_valid() {
            if self.data.is_none() && !self.index.valid() {
                return;
            }
            self.index.next();
            if !self.load() {
                return;
            }
            if let Some(d) = &mut self.data {
                d.seek_to_first();
            }
            self.check_block();
        }
    }

    fn skip_backward(&mut self) {
        self.check_block();
        while self.err.is_none() && !self.data_valid() {
            if self.data.is_none() && !self.index.valid() {
                return;
            }
            self.index.prev();
            if !self.load() {
                return;
            }
            if let Some(d) = &mut self.data {
                d.seek_to_last();
            }
            self.check_block();
        }
    }
}

impl InternalIterator for TableIter {
    fn valid(&self) -> bool {
        self.err.is_none() && self.data_valid()
    }
    fn key(&self) -> &[u8] {
        self.data.as_ref().map_or(&[][..], |d| d.key())
    }
    fn value(&self) -> &[u8] {
        self.data.as_ref().map_or(&[][..], |d| d.value())
    }
    fn seek(&mut self, target: &[u8]) {
        self.index.seek(target);
        if self.load() {
            if let Some(d) = &mut self.data {
                d.seek(target);
            }
        }
        self.skip_forward();
    }
    fn seek_to_first(&mut self) {
        self.index.seek_to_first();
        if self.load() {
            if let Some(d) = &mut self.data {
                d.seek_to_first();
            }
        }
        self.skip_forward();
    }
    fn seek_to_last(&mut self) {
        self.index.seek_to_last();
        if self.load() {
            if let Some(d) = &mut self.data {
                d.seek_to_last();
            }
        }
        self.skip_backward();
    }
    fn next(&mut self) {
        if let Some(d) = &mut self.data {
            d.next();
        }
        self.skip_forward();
    }
    fn prev(&mut self) {
        if let Some(d) = &mut self.data {
            d.prev();
        }
        self.skip_backward();
    }
    fn take_err(&mut self) -> Option<Error> {
        self.err.take()
    }
    fn take_err_peek(&self) -> bool {
        self.err.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::lsm::key::make_internal;

    fn write_table(dir: &Path, n: usize, opts: &Options) -> PathBuf {
        let path = dir.join("000001.sst");
        let mut b = TableBuilder::create(&path, opts).unwrap();
        for i in 0..n {
            let k = make_internal(format!("key{i:06}").as_bytes(), i as u64 + 1, 1);
            b.add(&k, format!("value-{i}").repeat(3).as_bytes()).unwrap();
        }
        let (size, props) = b.finish().unwrap();
        assert_eq!(props.entries, n as u64);
        assert_eq!(size, std::fs::metadata(&path).unwrap().len());
        path
    }

    #[test]
    fn write_then_iterate_and_get() {
        let dir = tempfile::tempdir().unwrap();
        let opts = Options { block_size: 512, ..Options::default() };
        let n = 3000;
        let path = write_table(dir.path(), n, &opts);
        let cache = Arc::new(BlockCache::new(1 << 20));
        let files = Arc::new(FileCache::new(10));
        let t = Arc::new(Table::open(&path, 1, cache, files, true).unwrap());
        assert!(t.props.data_blocks > 10);
        let mut it = TableIter::new(t.clone(), true);
        it.seek_to_first();
        let mut i = 0;
        while it.valid() {
            assert_eq!(key::user_key(it.key()), format!("key{i:06}").as_bytes());
            i += 1;
            it.next();
        }
        assert_eq!(i, n);
        it.seek_to_last();
        while it.valid() {
            i -= 1;
            assert_eq!(key::user_key(it.key()), format!("key{i:06}").as_bytes());
            it.prev();
        }
        assert_eq!(i, 0);
        for i in (0..n).step_by(7) {
            let uk = format!("key{i:06}");
            let sk = make_internal(uk.as_bytes(), key::MAX_SEQ, 0xff);
            let got = t.get(uk.as_bytes(), &sk, bloom::hash(uk.as_bytes())).unwrap();
            assert_eq!(got, Some((Kind::Put, format!("value-{i}").repeat(3).into_bytes())));
        }
        let uk = b"key0000055";
        let sk = make_internal(uk, key::MAX_SEQ, 0xff);
        assert_eq!(t.get(uk, &sk, bloom::hash(uk)).unwrap(), None);
        // A snapshot older than the entry does not see it.
        let uk = b"key000100";
        let sk = make_internal(uk, 50, 0xff);
        assert_eq!(t.get(uk, &sk, bloom::hash(uk)).unwrap(), None);
    }

    #[test]
    fn truncated_or_flipped_file_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_table(dir.path(), 500, &Options::default());
        let data = std::fs::read(&path).unwrap();
        std::fs::write(&path, &data[..data.len() - 10]).unwrap();
        let cache = Arc::new(BlockCache::new(0));
        let files = Arc::new(FileCache::new(10));
        let e = Table::open(&path, 1, cache.clone(), files.clone(), true).err().unwrap();
        assert!(e.to_string().contains("000001.sst"), "{e}");
        let mut d = data.clone();
        d[20] ^= 0xff;
        std::fs::write(&path, &d).unwrap();
        let t = Arc::new(Table::open(&path, 2, cache, files, true).unwrap());
        let mut it = TableIter::new(t, false);
        it.seek_to_first();
        assert!(!it.valid());
        let e = it.take_err().unwrap();
        assert!(e.is_corruption() && e.to_string().contains("000001.sst"), "{e}");
    }
}
