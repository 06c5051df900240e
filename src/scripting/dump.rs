//! FUNCTION DUMP / RESTORE payloads in Redis's format, so a dump taken from Redis restores here
//! and the other way round: per library an `RDB_OPCODE_FUNCTION2` byte and the code as an RDB
//! string, then the RDB version and CRC64 footer of DUMP payloads (`engine::rdb::dump`).

use crate::engine::rdb::decode::Reader;
use crate::engine::rdb::{dump, encode as rdb, opcode};

pub fn encode(codes: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for code in codes {
        out.push(opcode::FUNCTION2);
        rdb::string(&mut out, code);
    }
    dump::seal(out)
}

/// The library codes of a payload; `None` when the version or checksum is wrong or it is malformed.
pub fn decode(payload: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut reader = Reader::new(dump::verify(payload).ok()?);
    let mut codes = Vec::new();
    while reader.remaining() > 0 {
        if reader.u8().ok()? != opcode::FUNCTION2 {
            return None;
        }
        codes.push(reader.string().ok()?.into_owned());
    }
    Some(codes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let payload = encode(&[b"#!lua name=a\nx", &[b'y'; 300]]);
        assert_eq!(decode(&payload), Some(vec![b"#!lua name=a\nx".to_vec(), vec![b'y'; 300]]));
        let mut damaged = payload.clone();
        damaged[3] ^= 1;
        assert_eq!(decode(&damaged), None);
        assert_eq!(decode(b"short"), None);
    }
}
