//! Redis's DEBUG DIGEST and DEBUG DIGEST-VALUE (`debug.c`): SHA1s combined so that the same data
//! gives the same 20 bytes whatever its encoding or the order of unordered members.
//!
//! `xor` adds a SHA1 where order does not matter (keys, set members, hash pairs, sorted-set
//! pairs); `mix` also hashes the running digest, where order matters (list elements, stream
//! entries, a key then its value). A key's digest mixes its name, its type number, its value and,
//! when it has a deadline, the text `!!expire!!` (its time is not part of it).

use sha1_smol::Sha1;

use crate::engine::value::Value;

/// A 20-byte digest.
pub type Digest = [u8; 20];

/// Redis's type numbers (`OBJ_STRING` ...), which the digest mixes in.
fn type_number(value: &Value) -> u32 {
    match value {
        Value::Int(_) | Value::Inline { .. } | Value::Heap(_) | Value::Raw(_) => 0,
        Value::List(_) => 1,
        Value::Set(_) => 2,
        Value::ZSet(_) => 3,
        Value::Hash(_) => 4,
        Value::Stream(_) => 6,
        // strata's own type, which Redis does not have: a number Redis does not use.
        Value::Queue(_) => 64,
        Value::Topic(_) => 65,
        Value::Lake(_) => 66,
    }
}

/// `xorDigest`: `digest ^= SHA1(data)`.
pub fn xor(digest: &mut Digest, data: &[u8]) {
    let hash = Sha1::from(data).digest().bytes();
    for (d, h) in digest.iter_mut().zip(hash) {
        *d ^= h;
    }
}

/// `mixDigest`: `digest = SHA1(digest ^ SHA1(data))`.
pub fn mix(digest: &mut Digest, data: &[u8]) {
    xor(digest, data);
    *digest = Sha1::from(&digest[..]).digest().bytes();
}

/// `xorObjectDigest`: mixes `value` (and whether it expires) into `digest`.
pub fn value(digest: &mut Digest, value: &Value, expires: bool) {
    mix(digest, &type_number(value).to_be_bytes());
    match value {
        Value::Lake(lake) => {
            // The current document, its version and metadata, and every delta kept.
            mix(digest, &lake.current_version().to_be_bytes());
            mix(digest, crate::engine::lake::to_text(lake.document()).as_bytes());
            mix(digest, crate::engine::lake::to_text(&serde_json::Value::Object(lake.meta().clone())).as_bytes());
            for delta in lake.deltas() {
                mix(digest, &delta.version.to_be_bytes());
                mix(digest, crate::engine::lake::to_text(&delta.body).as_bytes());
            }
        }
        Value::Queue(queue) => {
            let mut messages: Vec<_> = queue.messages().collect();
            messages.sort_by_key(|(id, _)| *id);
            for (id, message) in messages {
                mix(digest, &id.to_be_bytes());
                mix(digest, &message.payload);
            }
        }
        Value::Topic(topic) => {
            for (partition, log) in topic.partitions().iter().enumerate() {
                for (offset, entry) in log.entries() {
                    mix(digest, &(partition as u32).to_be_bytes());
                    mix(digest, &offset.to_be_bytes());
                    mix(digest, entry.key.as_deref().unwrap_or_default());
                    mix(digest, &entry.payload);
                }
            }
        }
        Value::List(list) => {
            for item in list.iter() {
                mix(digest, item);
            }
        }
        Value::Set(set) => {
            for member in set.iter() {
                xor(digest, &member);
            }
        }
        Value::ZSet(zset) => {
            for (member, score) in zset.range(0, zset.len()) {
                let mut element = [0u8; 20];
                mix(&mut element, member);
                mix(&mut element, format_score(score).as_bytes());
                xor(digest, &element);
            }
        }
        Value::Hash(hash) => {
            for (field, value) in hash.iter() {
                let mut element = [0u8; 20];
                mix(&mut element, field);
                mix(&mut element, value);
                xor(digest, &element);
            }
        }
        Value::Stream(stream) => {
            for (id, fields) in stream.range(crate::engine::StreamId::MIN, crate::engine::StreamId::MAX, usize::MAX, false) {
                mix(digest, format!("{}.{}", id.ms, id.seq).as_bytes());
                for item in fields.iter() {
                    mix(digest, &item);
                }
            }
        }
        Value::Int(_) | Value::Inline { .. } | Value::Heap(_) | Value::Raw(_) => {
            value.with_string(|bytes| mix(digest, bytes));
        }
    }
    if expires {
        xor(digest, b"!!expire!!");
    }
}

/// The digest of one key and its value, which `computeDatasetDigest` [`xor`]s into the dataset's.
pub fn key(key: &[u8], val: &Value, expires: bool) -> Digest {
    let mut digest = [0u8; 20];
    mix(&mut digest, key);
    value(&mut digest, val, expires);
    digest
}

/// Adds database `db`'s number to a dataset digest, before its keys' digests are [`xor`]ed in
/// (only for databases that have keys).
pub fn enter_db(dataset: &mut Digest, db: usize) {
    mix(dataset, &(db as u32).to_be_bytes());
}

/// Lowercase hex, as DEBUG DIGEST replies.
pub fn hex(digest: &Digest) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A score as Redis's `d2string` writes it: integers (below 2^52) in decimal, `inf`, `-inf`,
/// `-0`, otherwise C's `%.17g`. Sorted-set listpacks and the digest use this text.
pub fn format_score(score: f64) -> String {
    if score.is_nan() {
        return "nan".to_owned();
    }
    if score.is_infinite() {
        return if score > 0.0 { "inf" } else { "-inf" }.to_owned();
    }
    if score == 0.0 {
        return if score.is_sign_negative() { "-0" } else { "0" }.to_owned();
    }
    if score > -4_503_599_627_370_495.0 && score < 4_503_599_627_370_496.0 && score == score.trunc() {
        return (score as i64).to_string();
    }
    crate::num::format_g(score, 17)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_print_as_c_does() {
        assert_eq!(format_score(1.5), "1.5");
        assert_eq!(format_score(0.1), "0.10000000000000001");
        assert_eq!(format_score(3.0), "3");
        assert_eq!(format_score(-0.0), "-0");
        assert_eq!(format_score(1e20), "1e+20");
        assert_eq!(format_score(1.5e-7), "1.4999999999999999e-07");
        assert_eq!(format_score(123456.789), "123456.789");
        assert_eq!(format_score(f64::NEG_INFINITY), "-inf");
        assert_eq!(format_score(0.0001), "0.0001");
        assert_eq!(format_score(1e16 + 2.0), "10000000000000002");
        assert_eq!(format_score(2.5e16), "25000000000000000");
    }
}
