//! Loading an RDB file into the keyspace at start-up: how a Redis user migrates, by copying their
//! `dump.rdb` into `dir`.
//!
//! Keys are stored with [`crate::engine::Shard::set`], the ordinary write path, so the keyspace's
//! change sinks see them: with persistence on, every imported key is written to the store, and the
//! next start recovers from the store instead of the file.

use std::path::Path;

use super::file::{read, Record};
use super::RdbError;
use crate::engine::keyspace::Keyspace;
use crate::engine::value::Limits;
use crate::engine::KeyHash;

/// What an import brought in.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Imported {
    pub keys: usize,
    /// Keys left out because their deadline had passed.
    pub expired: usize,
    /// The code of each function library, for the caller to load into the VM.
    pub functions: Vec<Vec<u8>>,
}

/// Loads the RDB file at `path` into `keyspace`. The file is read whole and its checksum checked
/// before any key is stored. A key already present is replaced.
pub fn import(path: &Path, keyspace: &Keyspace, limits: &Limits, now_ms: u64) -> Result<Imported, RdbError> {
    let data = std::fs::read(path)?;
    let mut imported = Imported::default();
    read(&data, limits, |record| {
        match record {
            Record::Function(code) => imported.functions.push(code.into_owned()),
            Record::Key { db, key, value, expire_at } => {
                if db >= keyspace.databases() {
                    return Err(RdbError::Malformed("database number beyond `databases`"));
                }
                if expire_at.is_some_and(|at| at <= now_ms) {
                    imported.expired += 1;
                    return Ok(());
                }
                let hash = KeyHash::of(&key);
                keyspace.db(db).lock(hash).set(hash, &key, value, expire_at, now_ms);
                imported.keys += 1;
            }
        }
        Ok(())
    })?;
    Ok(imported)
}
