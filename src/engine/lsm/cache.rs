//! The block cache: one byte-budgeted cache of decoded blocks shared by all tables.
//!
//! Keys are `(table cache id, block offset)`. Cache ids are handed out per opened
//! table and never reused, so blocks of deleted tables can never be served for a new
//! table; they simply age out.

use std::fs::File;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use quick_cache::sync::Cache;
use quick_cache::Weighter;

use super::block::Block;
use super::error::{Error, Result};

#[derive(Clone)]
struct BlockWeighter;

impl Weighter<(u64, u64), Arc<Block>> for BlockWeighter {
    fn weight(&self, _key: &(u64, u64), val: &Arc<Block>) -> u64 {
        // Key, Arc and map overhead on top of the data itself.
        val.size() as u64 + 64
    }
}

/// Shared block cache with hit/miss counters. A zero budget disables it.
pub(crate) struct BlockCache {
    cache: Option<Cache<(u64, u64), Arc<Block>, BlockWeighter>>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl BlockCache {
    pub(crate) fn new(bytes: usize) -> Self {
        let cache = (bytes > 0).then(|| {
            // Estimate the item count from 16 KiB blocks; quick_cache only uses it
            // to size its tables.
            Cache::with_weighter((bytes / (16 << 10)).max(16), bytes as u64, BlockWeighter)
        });
        BlockCache { cache, hits: AtomicU64::new(0), misses: AtomicU64::new(0) }
    }

    /// Looks a block up; `count` is false for compaction reads, which should not
    /// skew the hit rate that readers see.
    pub(crate) fn get(&self, table: u64, offset: u64, count: bool) -> Option<Arc<Block>> {
        let c = self.cache.as_ref()?;
        let r = c.get(&(table, offset));
        if !count {
            return r;
        }
        if r.is_some() {
            self.hits.fetch_add(1, Ordering::Relaxed);
        } else {
            self.misses.fetch_add(1, Ordering::Relaxed);
        }
        r
    }

    pub(crate) fn insert(&self, table: u64, offset: u64, block: Arc<Block>) {
        if let Some(c) = &self.cache {
            c.insert((table, offset), block);
        }
    }

    pub(crate) fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    pub(crate) fn misses(&self) -> u64 {
        self.misses.load(Ordering::Relaxed)
    }

    pub(crate) fn used_bytes(&self) -> u64 {
        self.cache.as_ref().map_or(0, |c| c.weight())
    }
}

/// Open table files, bounded by `max_open_files`: a table whose descriptor was
/// evicted reopens its file on the next block read. Keeps the engine within the
/// process's descriptor limit however many tables there are.
pub(crate) struct FileCache {
    cache: Cache<u64, Arc<File>>,
}

impl FileCache {
    pub(crate) fn new(max_open: usize) -> Self {
        FileCache { cache: Cache::new(max_open.max(1)) }
    }

    /// The open file of table `id`, opening `path` if needed.
    pub(crate) fn get(&self, id: u64, path: &Path) -> Result<Arc<File>> {
        self.cache.get_or_insert_with(&id, || File::open(path).map(Arc::new).map_err(|e| Error::io(path, "open", e)))
    }

    /// Hands an already open file to the cache.
    pub(crate) fn insert(&self, id: u64, file: Arc<File>) {
        self.cache.insert(id, file);
    }

    /// Closes table `id`'s file (when the table goes away).
    pub(crate) fn forget(&self, id: u64) {
        self.cache.remove(&id);
    }
}
