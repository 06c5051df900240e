//! Writing the keyspace to an RDB file (SAVE, BGSAVE) as it was at one instant, while it keeps
//! serving writes.
//!
//! Redis forks and writes its child's frozen copy of memory. strata freezes the keyspace instead
//! ([`Keyspace::freeze`]): from that instant every shard is copied before its next change, or when
//! the writer reaches it, whichever comes first, and the copies are encoded and written with no
//! lock held. Writers wait at most for one shard's copy (1/256 of a database), and memory grows by
//! the copies not yet written, as a fork's copy-on-write pages would.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;
use std::sync::Arc;

use super::file::Writer;
use super::RdbError;
use crate::engine::keyspace::{Keyspace, SHARDS};

/// The keyspace frozen at the instant this was made, until it is dropped. Make it when no command
/// is half done (with the gate's write side held).
pub struct Frozen {
    keyspace: Arc<Keyspace>,
}

impl Frozen {
    pub fn new(keyspace: Arc<Keyspace>) -> Frozen {
        keyspace.freeze();
        Frozen { keyspace }
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        // Also after a failed save: no shard goes on being copied for a writer that stopped.
        self.keyspace.thaw();
    }
}

/// What goes before the keys: aux fields and function library codes.
pub struct Header {
    pub aux: Vec<(&'static str, Vec<u8>)>,
    pub functions: Vec<Vec<u8>>,
}

/// Writes the frozen keyspace to `path` as Redis does: into a temporary file beside it, synced to
/// disk, renamed over `path`, then the directory synced, so a crash leaves the old file or the new
/// one, never part of one. Keys whose deadline has passed at `now_ms` are left out. Returns how
/// many keys were written.
pub fn save(frozen: &Frozen, header: &Header, path: &Path, now_ms: u64) -> Result<usize, RdbError> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let temp = dir.join(format!("temp-{}-{}.rdb", std::process::id(), unique()));
    let written = write(&frozen.keyspace, header, &temp, now_ms).and_then(|keys| {
        std::fs::rename(&temp, path)?;
        File::open(dir)?.sync_all()?;
        Ok(keys)
    });
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    Ok(written?)
}

/// A number that differs between two saves of one process (SAVE may run while a BGSAVE's
/// temporary file exists).
fn unique() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

fn write(keyspace: &Keyspace, header: &Header, temp: &Path, now_ms: u64) -> std::io::Result<usize> {
    let mut writer = Writer::new(BufWriter::with_capacity(1 << 16, File::create(temp)?))?;
    for (name, value) in &header.aux {
        writer.aux(name, value)?;
    }
    for code in &header.functions {
        writer.function(code)?;
    }
    let mut written = 0;
    for db in 0..keyspace.databases() {
        let mut selected = false;
        for index in 0..SHARDS {
            let copy = keyspace.frozen(db, index);
            let mut live = copy.iter().filter(|entry| entry.expire_at.is_none_or(|at| at > now_ms)).peekable();
            if live.peek().is_none() {
                continue;
            }
            if !selected {
                // The sizes are a hint for the loader's tables.
                let db_handle = keyspace.db(db);
                writer.select_db(db, db_handle.len(), db_handle.volatile())?;
                selected = true;
            }
            for entry in live {
                writer.key(&entry.key, &entry.value, entry.expire_at)?;
                written += 1;
            }
        }
    }
    let file = writer.finish()?.into_inner().map_err(|e| e.into_error())?;
    // IMPORTANT: the data is on disk before the rename makes it the snapshot.
    file.sync_all()?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rdb::file::{read, Record};
    use crate::engine::value::{Limits, Value};
    use crate::engine::KeyHash;

    #[test]
    fn saves_live_keys_of_every_database() {
        let keyspace = Arc::new(Keyspace::new(4));
        let now = 1_000_000;
        for (db, key, deadline) in [(0, "a", None), (2, "b", Some(now + 5000)), (2, "gone", Some(now - 1)), (3, "c", None)] {
            let hash = KeyHash::of(key.as_bytes());
            keyspace.db(db).lock(hash).restore(hash, key.as_bytes(), Value::string(key.as_bytes()), deadline, 0, 0);
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dump.rdb");
        let header = Header { aux: vec![("redis-ver", b"7.0.15".to_vec())], functions: Vec::new() };
        let frozen = Frozen::new(keyspace.clone());
        // Changes after the freeze are not in the file.
        let hash = KeyHash::of(b"late");
        keyspace.db(0).lock(hash).set(hash, b"late", Value::string(b"x"), None, now);
        let hash = KeyHash::of(b"a");
        keyspace.db(0).lock(hash).set(hash, b"a", Value::string(b"changed"), None, now);
        assert_eq!(save(&frozen, &header, &path, now).unwrap(), 3);
        drop(frozen);
        let data = std::fs::read(&path).unwrap();
        let mut seen = Vec::new();
        read(&data, &Limits::default(), |record| {
            if let Record::Key { db, key, expire_at, value } = record {
                seen.push((db, String::from_utf8_lossy(&key).into_owned(), expire_at));
                assert_eq!(value.as_string().unwrap().as_ref(), key.as_ref(), "the value as it was at the freeze");
            }
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, vec![(0, "a".to_owned(), None), (2, "b".to_owned(), Some(now + 5000)), (3, "c".to_owned(), None)]);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file is left");
    }
}
