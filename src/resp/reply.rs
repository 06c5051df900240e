//! The value a command answers with, independent of protocol version.

use std::borrow::Cow;

use bytes::Bytes;

/// A reply. RESP3-only shapes (maps, sets, doubles, booleans, verbatim strings, pushes) degrade to their
/// RESP2 forms in the encoder, as Redis does.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// `+OK`.
    Ok,
    /// A simple string such as `+PONG`.
    Status(Cow<'static, str>),
    /// An error line without the leading `-`, e.g. `ERR syntax error`.
    Error(Cow<'static, str>),
    Int(i64),
    Bulk(Bytes),
    /// A missing value: `$-1` in RESP2, `_` in RESP3.
    Nil,
    /// A missing aggregate: `*-1` in RESP2, `_` in RESP3.
    NilArray,
    Array(Vec<Reply>),
    /// Key/value pairs: a flat array in RESP2.
    Map(Vec<(Reply, Reply)>),
    /// An unordered collection: an array in RESP2.
    Set(Vec<Reply>),
    /// A floating point number: a bulk string in RESP2.
    Double(f64),
    /// A double written as Redis's `addReplyHumanLongDouble` writes it (`%.17Lf` without trailing
    /// zeros, e.g. GEOPOS coordinates): a bulk string in RESP2.
    HumanDouble(f64),
    /// A boolean: integer 1/0 in RESP2.
    Bool(bool),
    /// An integer of any size, as decimal digits: a bulk string in RESP2 (scripts return them).
    BigNumber(Bytes),
    /// Text with a format hint (`txt`): a bulk string in RESP2.
    Verbatim(Bytes),
    /// Out-of-band data (pub/sub messages, invalidations): an array in RESP2.
    Push(Vec<Reply>),
    /// Nothing is written (SHUTDOWN closes the connection without answering).
    NoReply,
    /// Several replies to one command, written one after the other with no aggregate header: the
    /// per-channel confirmations of (P|S)SUBSCRIBE and (P|S)UNSUBSCRIBE, which Redis sends as separate
    /// replies. Only those commands return it.
    Multi(Vec<Reply>),
}

impl Reply {
    pub fn status(text: &'static str) -> Reply {
        Reply::Status(Cow::Borrowed(text))
    }

    pub fn bulk(bytes: &[u8]) -> Reply {
        Reply::Bulk(Bytes::copy_from_slice(bytes))
    }

    pub fn bulk_string(text: String) -> Reply {
        Reply::Bulk(Bytes::from(text))
    }

    /// A bulk string, or nil when absent.
    pub fn optional_bulk(bytes: Option<&[u8]>) -> Reply {
        bytes.map_or(Reply::Nil, Reply::bulk)
    }

    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }
}

impl From<i64> for Reply {
    fn from(value: i64) -> Self {
        Reply::Int(value)
    }
}

impl From<usize> for Reply {
    fn from(value: usize) -> Self {
        Reply::Int(i64::try_from(value).unwrap_or(i64::MAX))
    }
}

impl From<bool> for Reply {
    /// Redis answers most yes/no questions with integers 1 and 0 in both protocols.
    fn from(value: bool) -> Self {
        Reply::Int(i64::from(value))
    }
}
