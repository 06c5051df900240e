//! Compaction filters: the application tells compactions which records are garbage (a member of
//! a collection that was deleted or replaced, everything of a flushed database), so they stop
//! taking space without a delete per record, as RocksDB's compaction filters do for kvrocks.

use std::fmt;

use super::Snapshot;

/// Whether a record (user key, value) is garbage, for one compaction.
pub type Judge<'a> = Box<dyn FnMut(&[u8], &[u8]) -> bool + 'a>;

/// Decides, during a compaction, which records are garbage. A garbage record's newest version is
/// dropped, or becomes a deletion where older versions of its key may sit in deeper levels.
pub trait CompactionFilter: Send + Sync + fmt::Debug {
    /// A judge for one compaction: called with each record's user key and value (the newest
    /// version, visible to every reader), it reads the database through `view` (as of the oldest
    /// live snapshot, so no reader can still reach what it calls garbage).
    fn judge<'a>(&'a self, view: &'a Snapshot) -> Judge<'a>;
}
