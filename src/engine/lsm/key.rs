//! Internal keys: a user key followed by an 8-byte trailer `(seq << 8) | kind`,
//! little-endian. Internal keys sort by user key ascending, then by sequence number
//! descending, so the newest version of a key comes first and a seek to
//! `(key, snapshot_seq)` lands on the newest version visible to that snapshot.

use std::borrow::Borrow;
use std::cmp::Ordering;

use bytes::Bytes;

/// Largest sequence number; 56 bits because the low byte of the trailer is the kind.
pub const MAX_SEQ: u64 = (1 << 56) - 1;

/// What an entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// A tombstone: the key was deleted at this sequence number.
    Delete = 0,
    /// A value.
    Put = 1,
}

impl Kind {
    pub(crate) fn from_u8(b: u8) -> Option<Kind> {
        match b {
            0 => Some(Kind::Delete),
            1 => Some(Kind::Put),
            _ => None,
        }
    }
}

/// Appends the internal key for `user_key` to `buf`.
#[inline]
pub(crate) fn append_internal(buf: &mut Vec<u8>, user_key: &[u8], seq: u64, kind_byte: u8) {
    buf.extend_from_slice(user_key);
    buf.extend_from_slice(&((seq << 8) | u64::from(kind_byte)).to_le_bytes());
}

/// Builds an internal key.
#[inline]
pub(crate) fn make_internal(user_key: &[u8], seq: u64, kind_byte: u8) -> Vec<u8> {
    let mut v = Vec::with_capacity(user_key.len() + 8);
    append_internal(&mut v, user_key, seq, kind_byte);
    v
}

/// The user-key part of an internal key (empty if the key is malformed).
#[inline]
pub(crate) fn user_key(ikey: &[u8]) -> &[u8] {
    ikey.get(..ikey.len().saturating_sub(8)).unwrap_or(&[])
}

/// The trailer of an internal key (0 if malformed; callers validate with [`parse`]).
#[inline]
pub(crate) fn trailer(ikey: &[u8]) -> u64 {
    let n = ikey.len();
    if n < 8 {
        return 0;
    }
    let mut a = [0u8; 8];
    a.copy_from_slice(&ikey[n - 8..]);
    u64::from_le_bytes(a)
}

/// Splits an internal key into user key, sequence number and kind.
#[inline]
pub(crate) fn parse(ikey: &[u8]) -> Option<(&[u8], u64, Kind)> {
    if ikey.len() < 8 {
        return None;
    }
    let t = trailer(ikey);
    Some((user_key(ikey), t >> 8, Kind::from_u8((t & 0xff) as u8)?))
}

/// The internal-key order: user key ascending, trailer descending.
#[inline]
pub(crate) fn compare(a: &[u8], b: &[u8]) -> Ordering {
    match user_key(a).cmp(user_key(b)) {
        Ordering::Equal => trailer(b).cmp(&trailer(a)),
        o => o,
    }
}

/// An owned internal key ordered by [`compare`]; the memtable's skiplist key.
#[derive(Clone, Debug)]
pub(crate) struct IKey(pub Bytes);

/// A borrowed internal key ordered by [`compare`], so the skiplist can be searched
/// without allocating an owned key.
#[repr(transparent)]
#[derive(Debug)]
pub(crate) struct IKeyRef(pub [u8]);

impl IKeyRef {
    #[inline]
    pub(crate) fn new(b: &[u8]) -> &IKeyRef {
        // SAFETY: IKeyRef is repr(transparent) over [u8], so the pointer cast keeps
        // layout, metadata (length) and lifetime.
        unsafe { &*(b as *const [u8] as *const IKeyRef) }
    }
}

impl Borrow<IKeyRef> for IKey {
    fn borrow(&self) -> &IKeyRef {
        IKeyRef::new(&self.0)
    }
}

impl PartialEq for IKeyRef {
    fn eq(&self, o: &Self) -> bool {
        compare(&self.0, &o.0) == Ordering::Equal
    }
}
impl Eq for IKeyRef {}
impl PartialOrd for IKeyRef {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for IKeyRef {
    fn cmp(&self, o: &Self) -> Ordering {
        compare(&self.0, &o.0)
    }
}
impl PartialEq for IKey {
    fn eq(&self, o: &Self) -> bool {
        compare(&self.0, &o.0) == Ordering::Equal
    }
}
impl Eq for IKey {}
impl PartialOrd for IKey {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for IKey {
    fn cmp(&self, o: &Self) -> Ordering {
        compare(&self.0, &o.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_is_user_key_then_newest_first() {
        let a1 = make_internal(b"a", 1, 1);
        let a2 = make_internal(b"a", 2, 1);
        let ab = make_internal(b"ab", 0, 1);
        assert_eq!(compare(&a2, &a1), Ordering::Less);
        assert_eq!(compare(&a1, &ab), Ordering::Less);
        assert_eq!(parse(&a2), Some((&b"a"[..], 2, Kind::Put)));
    }
}
