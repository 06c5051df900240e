//! DUMP/RESTORE payloads (`cluster.c` in Redis 7.0): one value's type byte and encoding, the RDB
//! version (2 bytes LE) and a CRC64 (8 bytes LE) of everything before it. A topic, which Redis's
//! format lacks, gets a type byte of strata's own ([`super::kind::STRATA_TOPIC`]): its config, then
//! its store records (`persist::topic_codec`) as string pairs.

use super::decode::{self, Reader};
use super::{crc64, encode, kind, RdbError, MAX_READ_VERSION, RDB_VERSION};
use crate::engine::persist::topic_codec;
use crate::engine::topic::Topic;
use crate::engine::value::{Limits, Value};
use crate::engine::Collection;

/// The payload DUMP returns for `value`.
pub fn payload(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    match value {
        Value::Topic(topic) => topic_body(&mut out, topic),
        _ => encode::value(&mut out, value),
    }
    seal(out)
}

fn topic_body(out: &mut Vec<u8>, topic: &Topic) {
    out.push(kind::STRATA_TOPIC);
    let mut config = Vec::new();
    topic_codec::encode_config(topic.config(), &mut config);
    encode::string(out, &config);
    let mut records = Vec::new();
    topic_codec::each_record(topic, |member, value| records.push((member.to_vec(), value.to_vec())));
    encode::length(out, records.len() as u64);
    for (member, value) in records {
        encode::string(out, &member);
        encode::string(out, &value);
    }
}

fn topic_value(reader: &mut Reader<'_>) -> Result<Value, RdbError> {
    let config = topic_codec::decode_config(&reader.string()?).ok_or(RdbError::Malformed("topic config"))?;
    let mut topic = Topic::new();
    topic.apply(&crate::engine::topic::TopicChange::Config(&config), 0);
    for _ in 0..reader.count()? {
        let member = reader.string()?;
        let value = reader.string()?;
        let record = topic_codec::decode(&member, &value).ok_or(RdbError::Malformed("topic record"))?;
        topic.apply(&record.as_change(), 0);
    }
    Ok(topic.into_value())
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
    match reader.u8()? {
        kind::STRATA_TOPIC => topic_value(&mut reader),
        kind => decode::value(&mut reader, kind, limits),
    }
}
