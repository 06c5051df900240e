//! The compaction filter that reclaims what the layout leaves behind: records of a flushed
//! database (its store id no longer named by any database), metadata of such stores, members
//! filed under a collection version that is no longer the key's (the collection was deleted,
//! replaced or renamed away), list elements outside the list's positions (after LTRIM, LREM,
//! LINSERT rewrote it) and pages past a paged string's end. kvrocks reclaims its subkeys the same way.

use std::collections::HashMap;

use super::layout::{db_map_prefix, db_of_map_key, parse_member, read_meta_code, store_of_meta, type_of_code, PAGED_STRING};
use super::pages::PAGE;
use crate::engine::lsm::{CompactionFilter, Judge, Snapshot};
use crate::engine::value::ValueType;

/// See the module documentation.
#[derive(Debug)]
pub struct Garbage {
    databases: usize,
}

impl Garbage {
    pub fn new(databases: usize) -> Garbage {
        Garbage { databases }
    }
}

/// What the judge remembers of the last collection it looked up: members of one collection
/// are adjacent, so one lookup serves them all.
struct Collection {
    meta_key: Vec<u8>,
    /// The version its key holds now (`None`: the key is gone).
    version: Option<u64>,
    /// For a list, the positions its elements occupy.
    positions: Option<std::ops::Range<u64>>,
}

impl CompactionFilter for Garbage {
    fn judge<'a>(&'a self, view: &'a Snapshot) -> Judge<'a> {
        // Store ids the databases use: each database's mapped id, or its own number if unmapped.
        let mut mapped = HashMap::new();
        for record in view.prefix(&db_map_prefix()) {
            let Ok((key, value)) = record else {
                return Box::new(|_, _| false);
            };
            if let (Some(db), Ok(id)) = (db_of_map_key(&key), <[u8; 4]>::try_from(&value[..])) {
                mapped.insert(u32::from(db), u32::from_be_bytes(id));
            }
        }
        let databases = self.databases as u64;
        let live =
            move |store: u32| mapped.values().any(|&id| id == store) || (u64::from(store) < databases && !mapped.contains_key(&store));
        let mut meta_key = Vec::new();
        let mut last: Option<Collection> = None;
        Box::new(move |key, _value| {
            if let Some(store) = store_of_meta(key) {
                return !live(store);
            }
            let Some((store, version, member)) = parse_member(key, &mut meta_key) else {
                return false;
            };
            if !live(store) {
                return true;
            }
            if last.as_ref().is_none_or(|seen| seen.meta_key != meta_key) {
                let Ok(meta) = view.get(&meta_key) else {
                    return false;
                };
                let read = meta.as_deref().and_then(read_meta_code);
                let positions = read.and_then(|(code, _, _, body)| {
                    let number = |at: usize| body.get(at..at + 8).and_then(|n| n.try_into().ok()).map(u64::from_be_bytes);
                    match code {
                        PAGED_STRING => Some(0..number(0)?.div_ceil(PAGE as u64)),
                        _ if type_of_code(code) == Some(ValueType::List) => {
                            let head = number(0)?;
                            Some(head..head.checked_add(number(8)?)?)
                        }
                        _ => None,
                    }
                });
                last = Some(Collection { meta_key: meta_key.clone(), version: read.map(|(_, version, _, _)| version), positions });
            }
            let Some(seen) = &last else {
                return false;
            };
            if seen.version != Some(version) {
                return true;
            }
            // A list element's position (8 bytes) or a string page's number (4).
            let position = match member.len() {
                8 => member.try_into().ok().map(u64::from_be_bytes),
                4 => member.try_into().ok().map(u32::from_be_bytes).map(u64::from),
                _ => None,
            };
            match (&seen.positions, position) {
                (Some(positions), Some(position)) => !positions.contains(&position),
                _ => false,
            }
        })
    }
}
