//! Redis's RDB format (version 10, what Redis 7.0 writes): the value encodings DUMP/RESTORE carry,
//! whole snapshot files (SAVE, BGSAVE, importing a `dump.rdb`), and DEBUG DIGEST's digest.
//!
//! What it writes is what Redis 7.0 writes for the same encodings: strings (integer-encoded when
//! short, LZF-compressed when that saves space), lists as quicklists of listpacks, sets as intsets
//! or plain sets, hashes and sorted sets as listpacks or plain (binary scores), streams as
//! `STREAM_LISTPACKS_2` with consumer groups. What it reads is everything Redis 7.0 loads, plus the
//! 7.2 listpack sets and `STREAM_LISTPACKS_3`: the older linked-list, ziplist, zipmap and
//! string-score encodings included. Modules are refused.
//!
//! Decoding reads input from the network (RESTORE) and files a user copied: every length is
//! checked against the bytes left before anything is allocated for it, and every malformation is
//! an [`RdbError`], never a panic.

pub mod crc64;
pub mod decode;
pub mod digest;
pub mod dump;
pub mod encode;
pub mod file;
pub mod import;
pub mod listpack;
pub mod lzf;
pub mod snapshot;
pub mod stream;
pub mod ziplist;

/// The RDB version strata writes: Redis 7.0's.
pub const RDB_VERSION: u16 = 10;
/// The newest RDB version strata reads (Redis 7.2's; its additions are read).
pub const MAX_READ_VERSION: u16 = 11;

/// Value type bytes (`RDB_TYPE_*`).
pub mod kind {
    pub const STRING: u8 = 0;
    pub const LIST: u8 = 1;
    pub const SET: u8 = 2;
    pub const ZSET: u8 = 3;
    pub const HASH: u8 = 4;
    pub const ZSET_2: u8 = 5;
    pub const MODULE: u8 = 6;
    pub const MODULE_2: u8 = 7;
    pub const HASH_ZIPMAP: u8 = 9;
    pub const LIST_ZIPLIST: u8 = 10;
    pub const SET_INTSET: u8 = 11;
    pub const ZSET_ZIPLIST: u8 = 12;
    pub const HASH_ZIPLIST: u8 = 13;
    pub const LIST_QUICKLIST: u8 = 14;
    pub const STREAM_LISTPACKS: u8 = 15;
    pub const HASH_LISTPACK: u8 = 16;
    pub const ZSET_LISTPACK: u8 = 17;
    pub const LIST_QUICKLIST_2: u8 = 18;
    pub const STREAM_LISTPACKS_2: u8 = 19;
    pub const SET_LISTPACK: u8 = 20;
    pub const STREAM_LISTPACKS_3: u8 = 21;
    /// strata's own: a topic in a DUMP payload (Redis has no such type and refuses the payload).
    pub const STRATA_TOPIC: u8 = 200;
    /// strata's JSON catalog (`lake`), a type Redis does not have: only strata restores such a
    /// DUMP payload, and SAVE leaves catalogs out of dump.rdb.
    pub const STRATA_LAKE: u8 = 201;
}

/// File opcodes (`RDB_OPCODE_*`).
pub mod opcode {
    pub const FUNCTION2: u8 = 245;
    pub const FUNCTION: u8 = 246;
    pub const MODULE_AUX: u8 = 247;
    pub const IDLE: u8 = 248;
    pub const FREQ: u8 = 249;
    pub const AUX: u8 = 250;
    pub const RESIZEDB: u8 = 251;
    pub const EXPIRETIME_MS: u8 = 252;
    pub const EXPIRETIME: u8 = 253;
    pub const SELECTDB: u8 = 254;
    pub const EOF: u8 = 255;
}

/// Why RDB input was refused.
#[derive(Debug)]
pub enum RdbError {
    /// The input ended inside a value.
    Truncated,
    /// The bytes do not form what Redis would write; the text says what was wrong.
    Malformed(&'static str),
    /// A value type strata does not read (modules) or that does not exist.
    UnsupportedType(u8),
    /// A collection with no members: Redis refuses these too.
    EmptyKey,
    /// A file's RDB version is newer than strata reads.
    Version(u16),
    /// A file or payload whose CRC64 does not match.
    Checksum,
    Io(std::io::Error),
}

impl std::fmt::Display for RdbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RdbError::Truncated => write!(f, "unexpected end of RDB data"),
            RdbError::Malformed(what) => write!(f, "malformed RDB data: {what}"),
            RdbError::UnsupportedType(kind) => write!(f, "unsupported RDB value type {kind}"),
            RdbError::EmptyKey => write!(f, "empty collection in RDB data"),
            RdbError::Version(version) => write!(f, "can't handle RDB format version {version}"),
            RdbError::Checksum => write!(f, "wrong RDB checksum"),
            RdbError::Io(error) => write!(f, "{error}"),
        }
    }
}

impl std::error::Error for RdbError {}

impl From<std::io::Error> for RdbError {
    fn from(error: std::io::Error) -> RdbError {
        RdbError::Io(error)
    }
}
