//! RDB bytes to values, as Redis 7.0's `rdbLoadObject` reads them, for every encoding it loads.
//!
//! Collections are rebuilt member by member with the server's [`Limits`], so they take the encoding
//! strata (and Redis, which converts the same way on load) would give them.

use std::borrow::Cow;

use super::listpack::{self, Item};
use super::{kind, lzf, ziplist, RdbError};
use crate::engine::value::{Limits, Value, Versioned};
use crate::engine::{Hash, List, Set, ZSet};

fn malformed(what: &'static str) -> RdbError {
    RdbError::Malformed(what)
}

/// A cursor over RDB bytes. Every read is bounds-checked.
pub struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

/// An RDB length, or the number of a special string encoding.
enum Length {
    Plain(u64),
    Special(u8),
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, at: 0 }
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.at
    }

    pub fn u8(&mut self) -> Result<u8, RdbError> {
        let byte = *self.buf.get(self.at).ok_or(RdbError::Truncated)?;
        self.at += 1;
        Ok(byte)
    }

    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], RdbError> {
        let end = self.at.checked_add(n).ok_or(RdbError::Truncated)?;
        let bytes = self.buf.get(self.at..end).ok_or(RdbError::Truncated)?;
        self.at = end;
        Ok(bytes)
    }

    pub fn u64_le(&mut self) -> Result<u64, RdbError> {
        let raw = self.bytes(8)?;
        Ok(u64::from_le_bytes([raw[0], raw[1], raw[2], raw[3], raw[4], raw[5], raw[6], raw[7]]))
    }

    pub fn u32_le(&mut self) -> Result<u32, RdbError> {
        let raw = self.bytes(4)?;
        Ok(u32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]))
    }

    fn raw_length(&mut self) -> Result<Length, RdbError> {
        let first = self.u8()?;
        Ok(match first >> 6 {
            0 => Length::Plain(u64::from(first & 0x3F)),
            1 => Length::Plain(u64::from(first & 0x3F) << 8 | u64::from(self.u8()?)),
            2 if first == 0x80 => {
                let raw = self.bytes(4)?;
                Length::Plain(u64::from(u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]])))
            }
            2 if first == 0x81 => {
                let raw = self.bytes(8)?;
                Length::Plain(u64::from_be_bytes([raw[0], raw[1], raw[2], raw[3], raw[4], raw[5], raw[6], raw[7]]))
            }
            3 => Length::Special(first & 0x3F),
            _ => return Err(malformed("length encoding")),
        })
    }

    /// An RDB length.
    pub fn length(&mut self) -> Result<u64, RdbError> {
        match self.raw_length()? {
            Length::Plain(len) => Ok(len),
            Length::Special(_) => Err(malformed("string encoding where a length was expected")),
        }
    }

    /// A count of things that each take at least one byte: refused when the bytes left could not
    /// hold them, so no allocation is sized by a hostile number.
    pub fn count(&mut self) -> Result<usize, RdbError> {
        let count = self.length()?;
        match usize::try_from(count) {
            Ok(count) if count <= self.remaining() => Ok(count),
            _ => Err(RdbError::Truncated),
        }
    }

    /// An RDB string: plain, integer-encoded or LZF-compressed.
    pub fn string(&mut self) -> Result<Cow<'a, [u8]>, RdbError> {
        match self.raw_length()? {
            Length::Plain(len) => {
                let len = usize::try_from(len).map_err(|_| RdbError::Truncated)?;
                Ok(Cow::Borrowed(self.bytes(len)?))
            }
            Length::Special(0) => Ok(int_text(i64::from(self.u8()? as i8))),
            Length::Special(1) => {
                let raw = self.bytes(2)?;
                Ok(int_text(i64::from(i16::from_le_bytes([raw[0], raw[1]]))))
            }
            Length::Special(2) => Ok(int_text(i64::from(self.u32_le()? as i32))),
            Length::Special(3) => {
                let packed_len = usize::try_from(self.length()?).map_err(|_| RdbError::Truncated)?;
                let plain_len = usize::try_from(self.length()?).map_err(|_| RdbError::Truncated)?;
                let packed = self.bytes(packed_len)?;
                lzf::decompress(packed, plain_len).map(Cow::Owned).ok_or(malformed("LZF data"))
            }
            Length::Special(_) => Err(malformed("string encoding")),
        }
    }

    /// A score written as text (`ZSET`, the old encoding): a length byte, 253 = nan, 254 = +inf,
    /// 255 = -inf.
    fn text_double(&mut self) -> Result<f64, RdbError> {
        match self.u8()? {
            253 => Ok(f64::NAN),
            254 => Ok(f64::INFINITY),
            255 => Ok(f64::NEG_INFINITY),
            len => {
                let text = self.bytes(usize::from(len))?;
                std::str::from_utf8(text).ok().and_then(|t| t.parse().ok()).ok_or(malformed("score text"))
            }
        }
    }
}

fn int_text(n: i64) -> Cow<'static, [u8]> {
    Cow::Owned(itoa::Buffer::new().format(n).as_bytes().to_vec())
}

/// Reads one value of type `kind` (the byte before it).
pub fn value(reader: &mut Reader<'_>, kind: u8, limits: &Limits) -> Result<Value, RdbError> {
    let value = match kind {
        kind::STRING => Value::string(&reader.string()?),
        kind::STRATA_LAKE => {
            let blob = reader.string()?;
            let catalog = crate::engine::persist::lake_codec::decode_whole(&blob).ok_or(malformed("lake catalog"))?;
            crate::engine::Collection::into_value(catalog)
        }
        kind::LIST => {
            let mut list = List::new();
            for _ in 0..reader.count()? {
                list.push_back(&reader.string()?, limits);
            }
            list_value(list)?
        }
        kind::LIST_ZIPLIST => {
            let mut list = List::new();
            push_items(&mut list, &ziplist::read(&reader.string()?)?, limits);
            list_value(list)?
        }
        kind::LIST_QUICKLIST | kind::LIST_QUICKLIST_2 => {
            let mut list = List::new();
            for _ in 0..reader.count()? {
                let container = if kind == kind::LIST_QUICKLIST { 2 } else { reader.length()? };
                let node = reader.string()?;
                match container {
                    // A plain node: one element too big for a listpack.
                    1 => list.push_back(&node, limits),
                    2 if kind == kind::LIST_QUICKLIST => push_items(&mut list, &ziplist::read(&node)?, limits),
                    2 => {
                        let items = listpack::read(&node)?;
                        if items.is_empty() {
                            return Err(malformed("empty quicklist node"));
                        }
                        push_items(&mut list, &items, limits);
                    }
                    _ => return Err(malformed("quicklist container")),
                }
            }
            list_value(list)?
        }
        kind::SET => {
            let mut set = Set::new();
            for _ in 0..reader.count()? {
                if !set.insert(&reader.string()?, limits) {
                    return Err(malformed("duplicate set member"));
                }
            }
            set_value(set)?
        }
        kind::SET_INTSET => {
            let mut set = Set::new();
            for n in ziplist::read_intset(&reader.string()?)? {
                set.insert(itoa::Buffer::new().format(n).as_bytes(), limits);
            }
            set_value(set)?
        }
        kind::SET_LISTPACK => {
            let mut set = Set::new();
            for item in listpack::read(&reader.string()?)? {
                if !set.insert(&item.to_bytes(), limits) {
                    return Err(malformed("duplicate set member"));
                }
            }
            set_value(set)?
        }
        kind::HASH => {
            let mut hash = Hash::new();
            for _ in 0..reader.count()? {
                let field = reader.string()?;
                let value = reader.string()?;
                if !hash.set(&field, &value, limits) {
                    return Err(malformed("duplicate hash field"));
                }
            }
            hash_value(hash)?
        }
        kind::HASH_ZIPMAP => {
            let mut hash = Hash::new();
            for (field, value) in ziplist::read_zipmap(&reader.string()?)? {
                if !hash.set(field, value, limits) {
                    return Err(malformed("duplicate hash field"));
                }
            }
            hash_value(hash)?
        }
        kind::HASH_ZIPLIST | kind::HASH_LISTPACK => {
            let packed = reader.string()?;
            let items = if kind == kind::HASH_ZIPLIST { ziplist::read(&packed)? } else { listpack::read(&packed)? };
            if items.len() % 2 != 0 {
                return Err(malformed("odd hash listpack"));
            }
            let mut hash = Hash::new();
            for pair in items.chunks_exact(2) {
                if !hash.set(&pair[0].to_bytes(), &pair[1].to_bytes(), limits) {
                    return Err(malformed("duplicate hash field"));
                }
            }
            hash_value(hash)?
        }
        kind::ZSET | kind::ZSET_2 => {
            let mut zset = ZSet::new();
            for _ in 0..reader.count()? {
                let member = reader.string()?;
                let score = if kind == kind::ZSET_2 { f64::from_le_bytes(reader.u64_le()?.to_le_bytes()) } else { reader.text_double()? };
                zset_insert(&mut zset, &member, score, limits)?;
            }
            zset_value(zset)?
        }
        kind::ZSET_ZIPLIST | kind::ZSET_LISTPACK => {
            let packed = reader.string()?;
            let items = if kind == kind::ZSET_ZIPLIST { ziplist::read(&packed)? } else { listpack::read(&packed)? };
            if items.len() % 2 != 0 {
                return Err(malformed("odd sorted-set listpack"));
            }
            let mut zset = ZSet::new();
            for pair in items.chunks_exact(2) {
                let score = match pair[1] {
                    Item::Int(n) => n as f64,
                    Item::Bytes(text) => std::str::from_utf8(text).ok().and_then(parse_score).ok_or(malformed("score text"))?,
                };
                zset_insert(&mut zset, &pair[0].to_bytes(), score, limits)?;
            }
            zset_value(zset)?
        }
        kind::STREAM_LISTPACKS | kind::STREAM_LISTPACKS_2 | kind::STREAM_LISTPACKS_3 => {
            Value::Stream(Box::new(Versioned::new(super::stream::decode(reader, kind, limits)?)))
        }
        other => return Err(RdbError::UnsupportedType(other)),
    };
    Ok(value)
}

/// A score as `strtod` reads Redis's text (`inf`, `-inf` and `nan` spelled as C prints them).
fn parse_score(text: &str) -> Option<f64> {
    match text {
        "inf" | "+inf" => Some(f64::INFINITY),
        "-inf" => Some(f64::NEG_INFINITY),
        _ => text.parse().ok().filter(|s: &f64| !s.is_nan()),
    }
}

fn zset_insert(zset: &mut ZSet, member: &[u8], score: f64, limits: &Limits) -> Result<(), RdbError> {
    if score.is_nan() {
        return Err(malformed("NaN score"));
    }
    if zset.insert(member, score, limits).is_some() {
        return Err(malformed("duplicate sorted-set member"));
    }
    Ok(())
}

fn push_items(list: &mut List, items: &[Item<'_>], limits: &Limits) {
    for item in items {
        list.push_back(&item.to_bytes(), limits);
    }
}

fn list_value(list: List) -> Result<Value, RdbError> {
    if list.is_empty() {
        return Err(RdbError::EmptyKey);
    }
    Ok(Value::List(Box::new(Versioned::new(list))))
}

fn set_value(set: Set) -> Result<Value, RdbError> {
    if set.is_empty() {
        return Err(RdbError::EmptyKey);
    }
    Ok(Value::Set(Box::new(Versioned::new(set))))
}

fn hash_value(hash: Hash) -> Result<Value, RdbError> {
    if hash.is_empty() {
        return Err(RdbError::EmptyKey);
    }
    Ok(Value::Hash(Box::new(Versioned::new(hash))))
}

fn zset_value(zset: ZSet) -> Result<Value, RdbError> {
    if zset.is_empty() {
        return Err(RdbError::EmptyKey);
    }
    Ok(Value::ZSet(Box::new(Versioned::new(zset))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rdb::encode;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    fn decoded(kind: u8, body: &[u8]) -> Result<Value, RdbError> {
        value(&mut Reader::new(body), kind, &Limits::default())
    }

    fn ziplist(entries: &[&[u8]]) -> Vec<u8> {
        let mut zl = vec![0u8; 10];
        for entry in entries {
            zl.extend_from_slice(&[0, entry.len() as u8]);
            zl.extend_from_slice(entry);
        }
        zl.push(0xFF);
        let len = zl.len() as u32;
        zl[..4].copy_from_slice(&len.to_le_bytes());
        zl
    }

    fn with_string(prefix: &[u8], bytes: &[u8]) -> Vec<u8> {
        let mut out = prefix.to_vec();
        encode::string(&mut out, bytes);
        out
    }

    #[test]
    fn reads_the_older_encodings() {
        let list = decoded(kind::LIST_ZIPLIST, &with_string(&[], &ziplist(&[b"a", b"b"]))).unwrap();
        let Value::List(list) = list else { panic!() };
        assert_eq!(list.iter().collect::<Vec<_>>(), vec![&b"a"[..], &b"b"[..]]);

        let quicklist = decoded(kind::LIST_QUICKLIST, &with_string(&[1], &ziplist(&[b"x"]))).unwrap();
        assert!(matches!(quicklist, Value::List(l) if l.len() == 1));

        let mut linked = vec![2];
        encode::string(&mut linked, b"p");
        encode::string(&mut linked, b"q");
        assert!(matches!(decoded(kind::LIST, &linked).unwrap(), Value::List(l) if l.len() == 2));

        let zipmap = [1, 1, b'f', 1, 0, b'v', 0xFF];
        let Value::Hash(hash) = decoded(kind::HASH_ZIPMAP, &with_string(&[], &zipmap)).unwrap() else { panic!() };
        assert_eq!(hash.get(b"f"), Some(&b"v"[..]));

        let zipped = decoded(kind::HASH_ZIPLIST, &with_string(&[], &ziplist(&[b"f", b"v", b"g", b"w"]))).unwrap();
        assert!(matches!(zipped, Value::Hash(h) if h.len() == 2));

        let mut text_scores = vec![2];
        encode::string(&mut text_scores, b"a");
        text_scores.extend_from_slice(&[3, b'1', b'.', b'5']);
        encode::string(&mut text_scores, b"b");
        text_scores.push(254);
        let Value::ZSet(zset) = decoded(kind::ZSET, &text_scores).unwrap() else { panic!() };
        assert_eq!(zset.score(b"a"), Some(1.5));
        assert_eq!(zset.score(b"b"), Some(f64::INFINITY));

        let mut lp = crate::engine::rdb::listpack::Writer::new();
        lp.push(b"m");
        lp.push(b"7");
        let Value::Set(set) = decoded(kind::SET_LISTPACK, &with_string(&[], &lp.finish())).unwrap() else { panic!() };
        assert!(set.contains(b"m") && set.contains(b"7"));
    }

    #[test]
    fn refuses_what_redis_refuses() {
        assert!(matches!(decoded(kind::LIST_QUICKLIST_2, &[0]), Err(RdbError::EmptyKey)));
        let mut duplicate = vec![2];
        encode::string(&mut duplicate, b"a");
        encode::string(&mut duplicate, b"a");
        assert!(decoded(kind::SET, &duplicate).is_err());
        let mut nan = vec![1];
        encode::string(&mut nan, b"a");
        nan.extend_from_slice(&f64::NAN.to_le_bytes());
        assert!(decoded(kind::ZSET_2, &nan).is_err());
        assert!(matches!(decoded(kind::MODULE_2, &[0]), Err(RdbError::UnsupportedType(kind::MODULE_2))));
        // A count far beyond the bytes left is refused before anything is allocated for it.
        assert!(decoded(kind::SET, &[0x81, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]).is_err());
    }

    #[test]
    fn random_and_damaged_input_never_panics() {
        let mut rng = StdRng::seed_from_u64(11);
        let mut valid = Vec::new();
        for kind in [kind::LIST_QUICKLIST_2, kind::HASH_LISTPACK, kind::ZSET_LISTPACK, kind::SET_INTSET] {
            let mut body = Vec::new();
            match kind {
                kind::SET_INTSET => encode::string(&mut body, &crate::engine::rdb::ziplist::write_intset(&[1, 5, 1 << 40])),
                _ => {
                    if kind == kind::LIST_QUICKLIST_2 {
                        body.extend_from_slice(&[1, 2]);
                    }
                    let mut lp = crate::engine::rdb::listpack::Writer::new();
                    for item in [&b"field"[..], b"12", b"x", b"-3.5"] {
                        lp.push(item);
                    }
                    encode::string(&mut body, &lp.finish());
                }
            }
            assert!(decoded(kind, &body).is_ok(), "kind {kind}");
            valid.push((kind, body));
        }
        for round in 0..20_000 {
            let (kind, body) = if round % 2 == 0 {
                let (kind, body) = &valid[rng.random_range(0..valid.len())];
                let mut body = body.clone();
                let at = rng.random_range(0..body.len());
                body[at] = rng.random();
                body.truncate(rng.random_range(at..=body.len()));
                (*kind, body)
            } else {
                (rng.random_range(0..22u8), (0..rng.random_range(0..40)).map(|_| rng.random()).collect())
            };
            let _ = decoded(kind, &body);
        }
    }
}
