//! DUMP/RESTORE payloads (`cluster.c` in Redis 7.0): one value's type byte and encoding, the RDB
//! version (2 bytes LE) and a CRC64 (8 bytes LE) of everything before it.

use super::decode::{self, Reader};
use super::{crc64, encode, RdbError, MAX_READ_VERSION, RDB_VERSION};
use crate::engine::value::{Limits, Value};

/// The payload DUMP returns for `value`.
pub fn payload(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    encode::value(&mut out, value);
    seal(out)
}

/// Appends the version and checksum footer to a payload body.
pub fn seal(mut body: Vec<u8>) -> Vec<u8> {
    body.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = crc64::checksum(&body);
    body.extend_from_slice(&crc.to_le_bytes());
    body
}

/// The body of a payload whose footer is right (Redis's `verifyDumpPayload`): a version it can
/// read and a matching checksum. `Checksum` otherwise.
pub fn verify(payload: &[u8]) -> Result<&[u8], RdbError> {
    let body_len = payload.len().checked_sub(10).ok_or(RdbError::Checksum)?;
    let (body, footer) = payload.split_at(body_len);
    let version = u16::from_le_bytes([footer[0], footer[1]]);
    let mut crc = [0u8; 8];
    crc.copy_from_slice(&footer[2..]);
    if version > MAX_READ_VERSION || crc64::checksum(&payload[..body_len + 2]) != u64::from_le_bytes(crc) {
        return Err(RdbError::Checksum);
    }
    Ok(body)
}

/// The value of a verified payload body.
pub fn value(body: &[u8], limits: &Limits) -> Result<Value, RdbError> {
    let mut reader = Reader::new(body);
    let kind = reader.u8()?;
    decode::value(&mut reader, kind, limits)
}
