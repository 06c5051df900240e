//! Tuning knobs of the engine and the three presets.

use super::error::{Error, Result};

/// How each block of an SSTable is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Stored as is: fastest reads, most bytes on disk.
    None,
    /// zstd at the given level (1 = fastest; 3 = zstd's default; up to 22).
    Zstd(i32),
}

/// When the write-ahead log is made durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncMode {
    /// fsync before every write returns (group commit shares one fsync among the
    /// writers that queued up meanwhile). Nothing acknowledged is ever lost.
    Always,
    /// Records reach the OS at least every `n` milliseconds and are fsynced then; a
    /// crash of the machine loses at most that window, a crash of the process loses
    /// at most the records still in the process's WAL buffer.
    EveryMillis(u64),
    /// Records are buffered and handed to the OS in 64 KiB chunks, never fsynced except
    /// on memtable rotation and close. A crash loses a suffix of the writes, never
    /// leaves the database inconsistent.
    None,
}

/// Every knob of the engine. Start from [`Options::default`], [`Options::low_memory`]
/// or [`Options::high_throughput`] and change fields as needed.
#[derive(Debug, Clone)]
pub struct Options {
    /// Create the directory and an empty database when none exists (default true).
    pub create_if_missing: bool,
    /// Bytes of keys and values the active memtable holds before it becomes
    /// immutable and is flushed to an L0 table (default 4 MiB).
    pub memtable_size: usize,
    /// Immutable memtables allowed to wait for their flush; a writer that would
    /// create one more waits instead (default 2).
    pub max_immutable_memtables: usize,
    /// Target uncompressed size of an SSTable data block (default 16 KiB).
    pub block_size: usize,
    /// Every n-th key of a block is stored whole (a restart point that binary
    /// search can land on); the others share their prefix with the previous key
    /// (default 16).
    pub block_restart_interval: usize,
    /// Compression of data blocks (default zstd level 1).
    pub compression: Compression,
    /// Target false-positive rate of the per-table bloom filter, or `None` for no
    /// filters at all (default 1%).
    pub bloom_fp_rate: Option<f64>,
    /// Byte budget of the block cache shared by all tables; 0 disables it
    /// (default 64 MiB).
    pub block_cache_bytes: usize,
    /// Durability of writes (default every 1000 ms, like Redis's `everysec`).
    pub sync: SyncMode,
    /// Number of L0 tables that triggers an L0 → L1 compaction (default 4).
    pub l0_compaction_trigger: usize,
    /// Number of L0 tables at which writers wait for compaction (default 20).
    pub l0_stop_writes: usize,
    /// Size budget of L1; each deeper level gets `level_multiplier` times more
    /// (default 64 MiB).
    pub level_base_bytes: u64,
    /// Size ratio between adjacent levels (default 10).
    pub level_multiplier: u64,
    /// Compaction output is cut into tables of about this many bytes (default 32 MiB).
    pub target_file_size: u64,
    /// Background threads that run compactions; flushes have their own thread
    /// (default 1: the engine shares small machines with the server).
    pub compaction_threads: usize,
    /// Table files kept open at once; others are reopened on demand (default 1000).
    pub max_open_files: usize,
    /// Verify block checksums on every read (default true). Off saves a hash per
    /// block read; corruption then shows up as a decoding error instead.
    pub verify_checksums: bool,
    /// Tells compactions which records are garbage (default none).
    pub compaction_filter: Option<std::sync::Arc<dyn super::CompactionFilter>>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            create_if_missing: true,
            memtable_size: 4 << 20,
            max_immutable_memtables: 2,
            block_size: 16 << 10,
            block_restart_interval: 16,
            compression: Compression::Zstd(1),
            bloom_fp_rate: Some(0.01),
            block_cache_bytes: 64 << 20,
            sync: SyncMode::EveryMillis(1000),
            l0_compaction_trigger: 4,
            l0_stop_writes: 20,
            level_base_bytes: 64 << 20,
            level_multiplier: 10,
            target_file_size: 32 << 20,
            compaction_threads: 1,
            max_open_files: 1000,
            verify_checksums: true,
            compaction_filter: None,
        }
    }
}

impl Options {
    /// Least memory: 4 MiB memtable with a single immutable one, no block cache,
    /// no bloom filters, zstd level 1. Memory then is the memtables plus the sparse
    /// index of each table (about 40 bytes per 16 KiB block).
    pub fn low_memory() -> Self {
        Options { memtable_size: 4 << 20, max_immutable_memtables: 1, block_cache_bytes: 0, bloom_fp_rate: None, ..Options::default() }
    }

    /// Most throughput: 64 MiB memtables, 256 MiB cache, no compression, writes
    /// buffered without fsync, two compaction threads.
    pub fn high_throughput() -> Self {
        Options {
            memtable_size: 64 << 20,
            max_immutable_memtables: 4,
            block_cache_bytes: 256 << 20,
            compression: Compression::None,
            sync: SyncMode::None,
            l0_stop_writes: 36,
            level_base_bytes: 256 << 20,
            target_file_size: 64 << 20,
            compaction_threads: 2,
            ..Options::default()
        }
    }

    /// Rejects settings the engine cannot work with.
    pub(crate) fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(Error::InvalidArgument(m.to_string()));
        if self.memtable_size < 1024 {
            return bad("memtable_size must be at least 1024 bytes");
        }
        if self.block_size < 64 || self.block_size > (64 << 20) {
            return bad("block_size must be between 64 bytes and 64 MiB");
        }
        if self.block_restart_interval == 0 {
            return bad("block_restart_interval must be at least 1");
        }
        if let Some(p) = self.bloom_fp_rate {
            if !(p > 0.0 && p < 1.0) {
                return bad("bloom_fp_rate must be in (0, 1)");
            }
        }
        if self.l0_compaction_trigger == 0 || self.l0_stop_writes < self.l0_compaction_trigger {
            return bad("need 0 < l0_compaction_trigger <= l0_stop_writes");
        }
        if self.level_multiplier < 2 {
            return bad("level_multiplier must be at least 2");
        }
        if self.target_file_size < 1024 || self.level_base_bytes < 1024 {
            return bad("target_file_size and level_base_bytes must be at least 1024 bytes");
        }
        if self.compaction_threads == 0 {
            return bad("compaction_threads must be at least 1");
        }
        if self.max_open_files < 16 {
            return bad("max_open_files must be at least 16");
        }
        if self.max_immutable_memtables == 0 {
            return bad("max_immutable_memtables must be at least 1");
        }
        if let Compression::Zstd(l) = self.compression {
            if !(-7..=22).contains(&l) {
                return bad("zstd level must be between -7 and 22");
            }
        }
        Ok(())
    }
}
