//! Whole RDB files: the writer SAVE and BGSAVE use (`snapshot`) and the reader of start-up imports.
//!
//! ```text
//! "REDIS0010" | aux fields (0xFA name value) | functions (0xF5 code)
//! per database with keys: 0xFE db | 0xFB keys volatile-keys
//!     per key: [0xFC deadline u64 LE ms] | type | key | value
//! 0xFF | CRC64 u64 LE of everything before it
//! ```
//! Reading also takes what older or newer Redis versions put there: second-precision deadlines,
//! LRU/LFU hints (skipped), functions, the old string-score and packed encodings.

use std::borrow::Cow;
use std::io::Write;

use super::decode::{self, Reader};
use super::{crc64, encode, opcode, RdbError, MAX_READ_VERSION, RDB_VERSION};
use crate::engine::value::{Limits, Value};

const MAGIC: &[u8] = b"REDIS";

/// Writes an RDB file piece by piece, keeping its running checksum.
pub struct Writer<W: Write> {
    out: W,
    crc: crc::Digest<'static, u64>,
    scratch: Vec<u8>,
}

impl<W: Write> Writer<W> {
    /// Starts a file: the magic and version.
    pub fn new(out: W) -> std::io::Result<Writer<W>> {
        let mut writer = Writer { out, crc: crc64::running(), scratch: Vec::new() };
        writer.scratch.extend_from_slice(MAGIC);
        writer.scratch.extend_from_slice(format!("{RDB_VERSION:04}").as_bytes());
        writer.flush_scratch()?;
        Ok(writer)
    }

    fn flush_scratch(&mut self) -> std::io::Result<()> {
        self.crc.update(&self.scratch);
        self.out.write_all(&self.scratch)?;
        self.scratch.clear();
        Ok(())
    }

    /// An auxiliary field (`redis-ver`, `ctime`, ...).
    pub fn aux(&mut self, name: &str, value: &[u8]) -> std::io::Result<()> {
        self.scratch.push(opcode::AUX);
        encode::string(&mut self.scratch, name.as_bytes());
        encode::string(&mut self.scratch, value);
        self.flush_scratch()
    }

    /// A function library's code.
    pub fn function(&mut self, code: &[u8]) -> std::io::Result<()> {
        self.scratch.push(opcode::FUNCTION2);
        encode::string(&mut self.scratch, code);
        self.flush_scratch()
    }

    /// Starts database `db`, which holds `keys` keys of which `volatile` have a deadline.
    pub fn select_db(&mut self, db: usize, keys: usize, volatile: usize) -> std::io::Result<()> {
        self.scratch.push(opcode::SELECTDB);
        encode::length(&mut self.scratch, db as u64);
        self.scratch.push(opcode::RESIZEDB);
        encode::length(&mut self.scratch, keys as u64);
        encode::length(&mut self.scratch, volatile as u64);
        self.flush_scratch()
    }

    /// One key of the current database.
    pub fn key(&mut self, key: &[u8], value: &Value, expire_at: Option<u64>) -> std::io::Result<()> {
        // Redis's format has no queue, topic or lake type: those live in strata's store only.
        if matches!(value, Value::Queue(_) | Value::Topic(_) | Value::Lake(_)) {
            return Ok(());
        }
        if let Some(at) = expire_at {
            self.scratch.push(opcode::EXPIRETIME_MS);
            self.scratch.extend_from_slice(&at.to_le_bytes());
        }
        // The type byte comes first, then the key, then the value's encoding.
        self.scratch.push(encode::value_type(value));
        encode::string(&mut self.scratch, key);
        encode::value_body(&mut self.scratch, value);
        self.flush_scratch()
    }

    /// Ends the file (end byte and checksum) and hands back the output.
    pub fn finish(mut self) -> std::io::Result<W> {
        self.scratch.push(opcode::EOF);
        self.flush_scratch()?;
        let crc = self.crc.finalize();
        self.out.write_all(&crc.to_le_bytes())?;
        Ok(self.out)
    }
}

/// What a file holds, in file order.
pub enum Record<'a> {
    /// A function library's code.
    Function(Cow<'a, [u8]>),
    Key {
        db: usize,
        key: Cow<'a, [u8]>,
        value: Value,
        expire_at: Option<u64>,
    },
}

/// Reads a whole file, handing each record to `each`. The checksum is checked before anything is
/// handed over; empty collections are skipped, as Redis skips them.
pub fn read(data: &[u8], limits: &Limits, mut each: impl FnMut(Record<'_>) -> Result<(), RdbError>) -> Result<(), RdbError> {
    let header = data.get(..9).ok_or(RdbError::Truncated)?;
    if &header[..5] != MAGIC {
        return Err(RdbError::Malformed("not an RDB file"));
    }
    let version: u16 = std::str::from_utf8(&header[5..]).ok().and_then(|v| v.parse().ok()).ok_or(RdbError::Malformed("version"))?;
    if !(1..=MAX_READ_VERSION).contains(&version) {
        return Err(RdbError::Version(version));
    }
    // From version 5 on, the file ends with a CRC64 (0 when the writer had `rdbchecksum no`).
    let body = if version >= 5 {
        let body_len = data.len().checked_sub(8).filter(|n| *n >= 9).ok_or(RdbError::Truncated)?;
        let mut crc = [0u8; 8];
        crc.copy_from_slice(&data[body_len..]);
        let expected = u64::from_le_bytes(crc);
        if expected != 0 && crc64::checksum(&data[..body_len]) != expected {
            return Err(RdbError::Checksum);
        }
        &data[9..body_len]
    } else {
        &data[9..]
    };
    let mut reader = Reader::new(body);
    let mut db = 0;
    let mut expire_at = None;
    loop {
        let kind = reader.u8()?;
        match kind {
            opcode::EOF => {
                return if reader.remaining() == 0 { Ok(()) } else { Err(RdbError::Malformed("data after the end byte")) };
            }
            opcode::EXPIRETIME_MS => expire_at = Some(reader.u64_le()?),
            opcode::EXPIRETIME => expire_at = Some(u64::from(reader.u32_le()?) * 1000),
            opcode::FREQ => {
                reader.u8()?;
            }
            opcode::IDLE => {
                reader.length()?;
            }
            opcode::SELECTDB => db = usize::try_from(reader.length()?).map_err(|_| RdbError::Malformed("database number"))?,
            opcode::RESIZEDB => {
                reader.length()?;
                reader.length()?;
            }
            opcode::AUX => {
                reader.string()?;
                reader.string()?;
            }
            opcode::FUNCTION2 => each(Record::Function(reader.string()?))?,
            opcode::MODULE_AUX | opcode::FUNCTION => return Err(RdbError::UnsupportedType(kind)),
            _ => {
                let key = reader.string()?;
                match decode::value(&mut reader, kind, limits) {
                    Ok(value) => each(Record::Key { db, key, value, expire_at: expire_at.take() })?,
                    Err(RdbError::EmptyKey) => expire_at = None,
                    Err(error) => return Err(error),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_file_reads_back() {
        let limits = Limits::default();
        let mut writer = Writer::new(Vec::new()).unwrap();
        writer.aux("redis-ver", b"7.0.15").unwrap();
        let code = b"#!lua name=lib\nredis.register_function('f', function() return 1 end)";
        writer.function(code).unwrap();
        writer.select_db(3, 2, 1).unwrap();
        writer.key(b"a", &Value::string(b"12345"), None).unwrap();
        writer.key(b"b", &Value::string(&[b'x'; 100]), Some(1 << 45)).unwrap();
        let file = writer.finish().unwrap();
        let mut seen = Vec::new();
        read(&file, &limits, |record| {
            seen.push(match record {
                Record::Function(code) => format!("function {}", code.len()),
                Record::Key { db, key, value, expire_at } => {
                    format!("{db} {} {} {expire_at:?}", String::from_utf8_lossy(&key), value.as_string().unwrap().len())
                }
            });
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, vec![format!("function {}", code.len()), "3 a 5 None".to_owned(), format!("3 b 100 Some({})", 1u64 << 45)]);
        let mut damaged = file.clone();
        damaged[20] ^= 1;
        assert!(matches!(read(&damaged, &limits, |_| Ok(())), Err(RdbError::Checksum)));
    }

    #[test]
    fn damaged_files_never_panic() {
        use rand::{Rng, SeedableRng};
        let mut writer = Writer::new(Vec::new()).unwrap();
        writer.aux("ctime", b"1700000000").unwrap();
        writer.select_db(0, 3, 1).unwrap();
        writer.key(b"s", &Value::string(&[b'q'; 200]), Some(5)).unwrap();
        writer.key(b"n", &Value::string(b"77"), None).unwrap();
        let file = writer.finish().unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        for _ in 0..5000 {
            let mut damaged = file.clone();
            let at = rng.random_range(9..damaged.len() - 8);
            damaged[at] = rng.random();
            // A zero checksum means "not checked", so the damage reaches the parser.
            let len = damaged.len();
            damaged[len - 8..].fill(0);
            let _ = read(&damaged, &Limits::default(), |_| Ok(()));
        }
    }
}
