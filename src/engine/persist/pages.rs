//! Big strings as pages: a string longer than [`PAGED_FROM`] bytes is stored as a metadata record
//! (its length) and one record per [`PAGE`] bytes, filed under a page version. A SETRANGE, SETBIT,
//! BITFIELD or APPEND rewrites only the pages its bytes fall in (growth alone only the length: a
//! page missing or shorter than the string reads as zeros); a new value (SET, RENAME, ...) gets a
//! new page version, so its pages never mix with the old value's, which compaction reclaims.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::layout::{member_prefix, paged_meta};
use crate::engine::lsm::WriteBatch;
use crate::engine::value::fresh_version;

/// Bytes per page.
pub const PAGE: usize = 4096;
/// Strings longer than this are paged.
pub const PAGED_FROM: usize = 16 * 1024;

/// The page version of every paged string, by store id and key (looked up without copying the
/// key): a write to part of one must file its pages where the others are.
#[derive(Default)]
pub struct Pages {
    versions: parking_lot::Mutex<HashMap<u32, HashMap<Vec<u8>, u64>>>,
    /// How many entries `versions` has: while 0, no key needs looking up.
    count: AtomicUsize,
}

/// Where a settle writes records, and buffers for their keys and values.
pub struct Records<'a> {
    pub batch: &'a mut WriteBatch,
    pub record_key: &'a mut Vec<u8>,
    pub record_value: &'a mut Vec<u8>,
}

/// A string as a settle finds it: its store, key, bytes and deadline.
pub struct StoredString<'a> {
    pub store: u32,
    pub key: &'a [u8],
    pub bytes: &'a [u8],
    pub deadline: Option<u64>,
}

impl Pages {
    /// Writes the records of string `bytes` at `key` (whose metadata record key is in
    /// `out.record_key`) when it is paged, and returns true; false when it is short enough to stay
    /// inline (any pages it had are forgotten, left to compaction). `whole` when the value is new,
    /// else `touched` holds the bytes the unit changed.
    pub fn write(&self, out: Records<'_>, string: StoredString<'_>, whole: bool, touched: Option<Range<usize>>) -> bool {
        let StoredString { store, key, bytes, deadline } = string;
        if bytes.len() <= PAGED_FROM {
            self.forget(store, key);
            return false;
        }
        let mut versions = self.versions.lock();
        let known = if whole { None } else { versions.get(&store).and_then(|keys| keys.get(key)).copied() };
        let (version, pages) = match known {
            Some(version) => {
                let touched = touched.unwrap_or(0..0);
                (version, touched.start / PAGE..touched.end.min(bytes.len()).div_ceil(PAGE))
            }
            None => {
                let version = fresh_version();
                if versions.entry(store).or_default().insert(key.to_vec(), version).is_none() {
                    self.count.fetch_add(1, Ordering::Relaxed);
                }
                (version, 0..bytes.len().div_ceil(PAGE))
            }
        };
        drop(versions);
        paged_meta(version, deadline, bytes.len(), out.record_value);
        out.batch.put(out.record_key, out.record_value);
        for page in pages {
            member_prefix(store, key, version, out.record_key);
            out.record_key.extend_from_slice(&(page as u32).to_be_bytes());
            let at = page * PAGE;
            out.batch.put(out.record_key, &bytes[at..(at + PAGE).min(bytes.len())]);
        }
        true
    }

    /// `key` holds no paged string any more (deleted, or stored short or as another type).
    pub fn forget(&self, store: u32, key: &[u8]) {
        if self.count.load(Ordering::Relaxed) == 0 {
            return;
        }
        if self.versions.lock().get_mut(&store).and_then(|keys| keys.remove(key)).is_some() {
            self.count.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// A paged string found at start.
    pub fn remember(&self, store: u32, key: &[u8], version: u64) {
        if self.versions.lock().entry(store).or_default().insert(key.to_vec(), version).is_none() {
            self.count.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Rebuilds a paged string of `len` bytes from its pages (page number, bytes), in order; pages
/// missing or short read as zeros. `None` if a page lies outside the string.
pub fn assemble(len: usize, pages: impl Iterator<Item = (u32, Vec<u8>)>) -> Option<Vec<u8>> {
    let mut bytes = vec![0; len];
    for (page, data) in pages {
        let at = (page as usize).checked_mul(PAGE)?;
        let end = at.checked_add(data.len())?;
        if data.len() > PAGE || end > len {
            return None;
        }
        bytes[at..end].copy_from_slice(&data);
    }
    Some(bytes)
}
