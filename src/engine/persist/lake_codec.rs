//! How a catalog (`engine::lake`) is written as records: its head (version, horizon, last update,
//! metadata) is the body of its metadata record, and each delta and each snapshot is one member
//! record, so a LAKE.WRITE writes one delta record and the small head whatever the history's
//! length, and LAKE.COMPACT deletes the records it dropped.
//!
//! Member names: `'D' | version u64` for a delta, `'S' | version u64` for a snapshot (big-endian,
//! so a catalog's deltas and snapshots each sort by version). Bodies, big-endian:
//! - head: `version u64 | horizon u64 | updated u64 | sealed(metadata JSON text)`;
//! - delta: `sealed(time u64 | mode u8 | path length u32 | path | meta length u32 (u32::MAX: none)
//!   | meta JSON | body JSON)`;
//! - snapshot: `sealed(time u64 | document JSON)`.
//!
//! Sealing ([`Sealer`]): `flags u8 | payload`, flag bit 0 = zstd-compressed, bit 1 = encrypted
//! with AES-256-GCM (payload `nonce 12 bytes | ciphertext and tag`) when `lake-encryption-key-file`
//! is set. A record sealed with another key fails its tag check, so a wrong key is an error at
//! startup, never a garbage document.

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng};
use aes_gcm::{Aes256Gcm, Nonce};
use serde_json::{Map, Value as Json};

use crate::engine::lake::{to_text, Delta, Lake, LakeHead, Mode, Path, Snapshot};
use crate::engine::mutation::LakeMember;

const COMPRESSED: u8 = 1;
const ENCRYPTED: u8 = 2;
const NONCE: usize = 12;
/// Bodies shorter than this are not worth a zstd frame.
const COMPRESS_FROM: usize = 64;

/// Why a stored record could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SealError {
    /// Encrypted, and no key is configured.
    NoKey,
    /// The tag check failed: another key sealed it, or it was altered.
    WrongKey,
    Damaged,
}

impl std::fmt::Display for SealError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SealError::NoKey => "a lake record is encrypted and lake-encryption-key-file is not set",
            SealError::WrongKey => "a lake record does not decrypt with the key of lake-encryption-key-file (wrong key?)",
            SealError::Damaged => "a lake record is damaged",
        })
    }
}

/// Compresses and, with a key, encrypts catalog records.
#[derive(Clone, Default)]
pub struct Sealer {
    cipher: Option<Aes256Gcm>,
}

impl Sealer {
    pub fn new(key: Option<[u8; 32]>) -> Sealer {
        Sealer { cipher: key.map(|key| Aes256Gcm::new(&key.into())) }
    }

    pub fn encrypts(&self) -> bool {
        self.cipher.is_some()
    }

    /// Appends `plain`, sealed, to `out`.
    pub fn seal(&self, plain: &[u8], out: &mut Vec<u8>) {
        let compressed = (plain.len() >= COMPRESS_FROM).then(|| zstd::bulk::compress(plain, 1).ok()).flatten();
        let (mut flags, payload) = match &compressed {
            Some(smaller) if smaller.len() < plain.len() => (COMPRESSED, &smaller[..]),
            _ => (0, plain),
        };
        let encrypted = self.cipher.as_ref().and_then(|cipher| {
            let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
            cipher.encrypt(&nonce, payload).ok().map(|sealed| (nonce, sealed))
        });
        match encrypted {
            Some((nonce, sealed)) => {
                flags |= ENCRYPTED;
                out.push(flags);
                out.extend_from_slice(&nonce);
                out.extend_from_slice(&sealed);
            }
            None => {
                out.push(flags);
                out.extend_from_slice(payload);
            }
        }
    }

    /// The bytes `sealed` was made from.
    pub fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, SealError> {
        let (&flags, rest) = sealed.split_first().ok_or(SealError::Damaged)?;
        let decrypted;
        let payload = if flags & ENCRYPTED != 0 {
            let cipher = self.cipher.as_ref().ok_or(SealError::NoKey)?;
            let (nonce, ciphertext) = rest.split_at_checked(NONCE).ok_or(SealError::Damaged)?;
            decrypted = cipher.decrypt(Nonce::from_slice(nonce), ciphertext).map_err(|_| SealError::WrongKey)?;
            &decrypted[..]
        } else {
            rest
        };
        if flags & COMPRESSED != 0 {
            // Records are at most a document or a body, which the size limit bounds.
            zstd::stream::decode_all(payload).map_err(|_| SealError::Damaged)
        } else {
            Ok(payload.to_vec())
        }
    }
}

/// Reads `lake-encryption-key-file`: 32 raw bytes, or 64 hexadecimal digits (surrounding
/// whitespace ignored).
pub fn read_key_file(path: &std::path::Path) -> Result<[u8; 32], String> {
    let bytes = std::fs::read(path).map_err(|error| format!("lake-encryption-key-file {}: {error}", path.display()))?;
    if let Ok(key) = <[u8; 32]>::try_from(&bytes[..]) {
        return Ok(key);
    }
    let text = String::from_utf8_lossy(&bytes);
    let hex = text.trim();
    let digits: Option<Vec<u8>> =
        (0..hex.len()).step_by(2).map(|at| hex.get(at..at + 2).and_then(|pair| u8::from_str_radix(pair, 16).ok())).collect();
    digits
        .and_then(|key| <[u8; 32]>::try_from(&key[..]).ok())
        .ok_or_else(|| format!("lake-encryption-key-file {}: expected a 256-bit key (32 bytes, or 64 hexadecimal digits)", path.display()))
}

/// The member name of a delta's or a snapshot's record.
pub fn member_name(member: LakeMember) -> [u8; 9] {
    let (kind, version) = match member {
        LakeMember::Delta(version) => (b'D', version),
        LakeMember::Snapshot(version) => (b'S', version),
    };
    let mut name = [kind; 9];
    name[1..].copy_from_slice(&version.to_be_bytes());
    name
}

/// The member a record's name stands for.
pub fn member_of_name(name: &[u8]) -> Option<LakeMember> {
    let (&kind, version) = name.split_first()?;
    let version = u64::from_be_bytes(version.try_into().ok()?);
    match kind {
        b'D' => Some(LakeMember::Delta(version)),
        b'S' => Some(LakeMember::Snapshot(version)),
        _ => None,
    }
}

pub fn encode_head(head: &LakeHead, sealer: &Sealer, out: &mut Vec<u8>) {
    out.extend_from_slice(&head.version.to_be_bytes());
    out.extend_from_slice(&head.horizon.to_be_bytes());
    out.extend_from_slice(&head.updated_ms.to_be_bytes());
    sealer.seal(to_text(&Json::Object(head.meta.clone())).as_bytes(), out);
}

fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn object(text: &[u8]) -> Result<Map<String, Json>, SealError> {
    match serde_json::from_slice(text) {
        Ok(Json::Object(map)) => Ok(map),
        _ => Err(SealError::Damaged),
    }
}

pub fn decode_head(body: &[u8], sealer: &Sealer) -> Result<LakeHead, SealError> {
    let number = |at| u64_at(body, at).ok_or(SealError::Damaged);
    let meta = object(&sealer.open(body.get(24..).ok_or(SealError::Damaged)?)?)?;
    Ok(LakeHead { version: number(0)?, horizon: number(8)?, updated_ms: number(16)?, meta })
}

pub fn encode_delta(delta: &Delta, sealer: &Sealer, scratch: &mut Vec<u8>, out: &mut Vec<u8>) {
    scratch.clear();
    scratch.extend_from_slice(&delta.time_ms.to_be_bytes());
    scratch.push(delta.mode.code());
    let path = delta.path.as_str().as_bytes();
    scratch.extend_from_slice(&(path.len() as u32).to_be_bytes());
    scratch.extend_from_slice(path);
    match &delta.meta {
        Some(meta) => {
            let text = to_text(&Json::Object(meta.clone()));
            scratch.extend_from_slice(&(text.len() as u32).to_be_bytes());
            scratch.extend_from_slice(text.as_bytes());
        }
        None => scratch.extend_from_slice(&u32::MAX.to_be_bytes()),
    }
    // Serializing a value into a vector cannot fail.
    let _ = serde_json::to_writer(&mut *scratch, &delta.body);
    sealer.seal(scratch, out);
}

pub fn decode_delta(version: u64, record: &[u8], sealer: &Sealer) -> Result<Delta, SealError> {
    let plain = sealer.open(record)?;
    let damaged = || SealError::Damaged;
    let time_ms = u64_at(&plain, 0).ok_or_else(damaged)?;
    let mode = plain.get(8).copied().and_then(Mode::of_code).ok_or_else(damaged)?;
    let path_len = u32_at(&plain, 9).ok_or_else(damaged)? as usize;
    let path = Path::parse(plain.get(13..13 + path_len).ok_or_else(damaged)?).map_err(|_| damaged())?;
    let at = 13 + path_len;
    let (meta, at) = match u32_at(&plain, at).ok_or_else(damaged)? {
        u32::MAX => (None, at + 4),
        len => {
            let end = at + 4 + len as usize;
            (Some(object(plain.get(at + 4..end).ok_or_else(damaged)?)?), end)
        }
    };
    let body = serde_json::from_slice(plain.get(at..).ok_or_else(damaged)?).map_err(|_| damaged())?;
    Ok(Delta { version, time_ms, mode, path, body, meta })
}

pub fn encode_snapshot(snapshot: &Snapshot, sealer: &Sealer, scratch: &mut Vec<u8>, out: &mut Vec<u8>) {
    scratch.clear();
    scratch.extend_from_slice(&snapshot.time_ms.to_be_bytes());
    scratch.extend_from_slice(snapshot.doc.as_bytes());
    sealer.seal(scratch, out);
}

pub fn decode_snapshot(version: u64, record: &[u8], sealer: &Sealer) -> Result<Snapshot, SealError> {
    let plain = sealer.open(record)?;
    let time_ms = u64_at(&plain, 0).ok_or(SealError::Damaged)?;
    let doc = std::str::from_utf8(plain.get(8..).ok_or(SealError::Damaged)?).map_err(|_| SealError::Damaged)?;
    Ok(Snapshot { version, time_ms, doc: doc.into() })
}

/// A whole catalog as one blob (the body of a DUMP payload): `head length u32 | head | deltas u32 |
/// (version u64 | length u32 | delta)* | snapshots u32 | (version u64 | length u32 | snapshot)*`,
/// records sealed without encryption (a DUMP leaves the server as a read does).
pub fn encode_whole(lake: &Lake, out: &mut Vec<u8>) {
    let sealer = Sealer::default();
    let mut part = Vec::new();
    encode_head(lake.head(), &sealer, &mut part);
    let put = |out: &mut Vec<u8>, part: &[u8]| {
        out.extend_from_slice(&(part.len() as u32).to_be_bytes());
        out.extend_from_slice(part);
    };
    put(out, &part);
    let mut scratch = Vec::new();
    out.extend_from_slice(&(lake.deltas().count() as u32).to_be_bytes());
    for delta in lake.deltas() {
        part.clear();
        encode_delta(delta, &sealer, &mut scratch, &mut part);
        out.extend_from_slice(&delta.version.to_be_bytes());
        put(out, &part);
    }
    out.extend_from_slice(&(lake.snapshots().count() as u32).to_be_bytes());
    for snapshot in lake.snapshots() {
        part.clear();
        encode_snapshot(snapshot, &sealer, &mut scratch, &mut part);
        out.extend_from_slice(&snapshot.version.to_be_bytes());
        put(out, &part);
    }
}

/// Reads length-prefixed parts off the front of a blob.
struct Parts<'a>(&'a [u8]);

impl<'a> Parts<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(head)
    }

    fn u32(&mut self) -> Option<u32> {
        self.take(4)?.try_into().ok().map(u32::from_be_bytes)
    }

    fn u64(&mut self) -> Option<u64> {
        self.take(8)?.try_into().ok().map(u64::from_be_bytes)
    }

    fn part(&mut self) -> Option<&'a [u8]> {
        let len = self.u32()? as usize;
        self.take(len)
    }
}

/// The catalog [`encode_whole`] wrote; `None` when the blob is damaged or does not replay.
pub fn decode_whole(blob: &[u8]) -> Option<Lake> {
    let sealer = Sealer::default();
    let mut parts = Parts(blob);
    let head = decode_head(parts.part()?, &sealer).ok()?;
    let mut deltas = Vec::new();
    for _ in 0..parts.u32()? {
        let version = parts.u64()?;
        deltas.push(decode_delta(version, parts.part()?, &sealer).ok()?);
    }
    let mut snapshots = Vec::new();
    for _ in 0..parts.u32()? {
        let version = parts.u64()?;
        snapshots.push(decode_snapshot(version, parts.part()?, &sealer).ok()?);
    }
    if !parts.0.is_empty() {
        return None;
    }
    Lake::restore(head, deltas, snapshots).ok()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn records_round_trip_compressed_and_encrypted() {
        let delta = Delta {
            version: 7,
            time_ms: 123,
            mode: Mode::Merge,
            path: Path::parse(b"/a/b").unwrap(),
            body: json!({"text": "x".repeat(500)}),
            meta: json!({"who": "me"}).as_object().cloned(),
        };
        let snapshot = Snapshot { version: 9, time_ms: 5, doc: "{\"a\":1}".into() };
        let head = LakeHead { version: 9, horizon: 2, updated_ms: 77, meta: json!({"k": [1]}).as_object().cloned().unwrap() };
        for sealer in [Sealer::new(None), Sealer::new(Some([7; 32]))] {
            let (mut scratch, mut out) = (Vec::new(), Vec::new());
            encode_delta(&delta, &sealer, &mut scratch, &mut out);
            assert!(out.len() < 200, "compressed: {}", out.len());
            assert_eq!(decode_delta(7, &out, &sealer).unwrap(), delta);
            out.clear();
            encode_snapshot(&snapshot, &sealer, &mut scratch, &mut out);
            assert_eq!(decode_snapshot(9, &out, &sealer).unwrap(), snapshot);
            out.clear();
            encode_head(&head, &sealer, &mut out);
            assert_eq!(decode_head(&out, &sealer).unwrap(), head);
        }
    }

    #[test]
    fn a_wrong_or_missing_key_is_an_error() {
        let mut sealed = Vec::new();
        Sealer::new(Some([1; 32])).seal(b"secret document", &mut sealed);
        assert!(!sealed.windows(6).any(|w| w == b"secret"));
        assert_eq!(Sealer::new(Some([2; 32])).open(&sealed), Err(SealError::WrongKey));
        assert_eq!(Sealer::new(None).open(&sealed), Err(SealError::NoKey));
        assert_eq!(Sealer::new(Some([1; 32])).open(&sealed).unwrap(), b"secret document");
        let mut plain = Vec::new();
        Sealer::new(None).seal(b"old record", &mut plain);
        assert_eq!(Sealer::new(Some([1; 32])).open(&plain).unwrap(), b"old record", "records from before the key still read");
        for cut in 0..sealed.len() {
            assert!(Sealer::new(Some([1; 32])).open(&sealed[..cut]).is_err());
        }
    }

    #[test]
    fn whole_catalogs_round_trip_and_damage_is_refused() {
        use crate::engine::lake::{LakeLimits, Write};
        let mut lake = Lake::new();
        let limits = LakeLimits { snapshot_interval: 3, ..LakeLimits::default() };
        for i in 0..8 {
            let write = Write { mode: Mode::Merge, path: Path::parse(b"/a").unwrap(), body: Some(json!({ "n": i })), meta: None };
            lake.write(write, &limits, i).unwrap();
        }
        lake.compact(0);
        let mut blob = Vec::new();
        encode_whole(&lake, &mut blob);
        assert_eq!(decode_whole(&blob), Some(lake));
        for cut in 0..blob.len() {
            assert_eq!(decode_whole(&blob[..cut]), None);
        }
        blob.push(0);
        assert_eq!(decode_whole(&blob), None);
    }

    #[test]
    fn member_names_round_trip_and_key_files_parse() {
        for member in [LakeMember::Delta(1), LakeMember::Snapshot(u64::MAX)] {
            assert_eq!(member_of_name(&member_name(member)), Some(member));
        }
        assert_eq!(member_of_name(b"X12345678"), None);
        let dir = tempfile::tempdir().unwrap();
        let hex = dir.path().join("hex");
        std::fs::write(&hex, format!("{}\n", "ab".repeat(32))).unwrap();
        assert_eq!(read_key_file(&hex).unwrap(), [0xab; 32]);
        let raw = dir.path().join("raw");
        std::fs::write(&raw, [3u8; 32]).unwrap();
        assert_eq!(read_key_file(&raw).unwrap(), [3; 32]);
        std::fs::write(&raw, b"short").unwrap();
        assert!(read_key_file(&raw).unwrap_err().contains("256-bit"));
    }
}
