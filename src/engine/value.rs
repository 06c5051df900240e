//! Typed values stored under a key, with Redis's compact string encodings.

use std::borrow::Cow;

use super::thin::ThinBytes;
use crate::num::parse_i64;

/// Strings up to this length live inside the value (it keeps `Value` at 16 bytes).
const INLINE_CAPACITY: usize = 14;
/// Redis keeps strings up to this length in one allocation with the object header (`embstr`).
const EMBSTR_MAX: usize = 44;
/// Redis tries the integer encoding only for strings of at most 20 characters.
const INT_ENCODING_MAX_LEN: usize = 20;

/// A value. Strings are kept as an integer, inline bytes or one heap block, which is what makes small
/// strings cheap; collections arrive as further variants.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A string that is the canonical decimal form of an i64 (`int` encoding).
    Int(i64),
    /// A short string stored inside the value itself.
    Inline { len: u8, data: [u8; INLINE_CAPACITY] },
    /// A string on the heap, reported as `embstr` or `raw` by length as Redis would create it.
    Heap(ThinBytes),
    /// A string modified in place (APPEND, SETRANGE): Redis reports these as `raw` whatever the length.
    Raw(ThinBytes),
}

/// The type names of TYPE and SCAN ... TYPE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueType {
    String,
}

impl ValueType {
    pub fn name(self) -> &'static str {
        match self {
            ValueType::String => "string",
        }
    }

    pub fn from_name(name: &[u8]) -> Option<ValueType> {
        match name.to_ascii_lowercase().as_slice() {
            b"string" => Some(ValueType::String),
            _ => None,
        }
    }
}

impl Value {
    /// A string value with the encoding Redis's `tryObjectEncoding` would pick.
    pub fn string(bytes: &[u8]) -> Value {
        if bytes.len() <= INT_ENCODING_MAX_LEN {
            if let Some(n) = parse_i64(bytes) {
                return Value::Int(n);
            }
        }
        Self::string_verbatim(bytes)
    }

    /// A string value kept as bytes even if it looks like a number.
    pub fn string_verbatim(bytes: &[u8]) -> Value {
        if bytes.len() <= INLINE_CAPACITY {
            let mut data = [0; INLINE_CAPACITY];
            data[..bytes.len()].copy_from_slice(bytes);
            Value::Inline { len: bytes.len() as u8, data }
        } else {
            Value::Heap(ThinBytes::new(bytes))
        }
    }

    pub fn value_type(&self) -> ValueType {
        match self {
            Value::Int(_) | Value::Inline { .. } | Value::Heap(_) | Value::Raw(_) => ValueType::String,
        }
    }

    /// The bytes of a string value; `None` for other types.
    pub fn as_string(&self) -> Option<Cow<'_, [u8]>> {
        match self {
            Value::Int(n) => Some(Cow::Owned(itoa::Buffer::new().format(*n).as_bytes().to_vec())),
            Value::Inline { len, data } => Some(Cow::Borrowed(&data[..*len as usize])),
            Value::Heap(bytes) | Value::Raw(bytes) => Some(Cow::Borrowed(bytes)),
        }
    }

    /// Calls `f` with the bytes of a string value without allocating for integers.
    pub fn with_string<R>(&self, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        match self {
            Value::Int(n) => Some(f(itoa::Buffer::new().format(*n).as_bytes())),
            Value::Inline { len, data } => Some(f(&data[..*len as usize])),
            Value::Heap(bytes) | Value::Raw(bytes) => Some(f(bytes)),
        }
    }

    pub fn is_string(&self) -> bool {
        self.value_type() == ValueType::String
    }

    /// OBJECT ENCODING's answer.
    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Int(_) => "int",
            Value::Inline { .. } => "embstr",
            Value::Heap(bytes) if bytes.len() <= EMBSTR_MAX => "embstr",
            Value::Heap(_) | Value::Raw(_) => "raw",
        }
    }

    /// Heap bytes owned beyond the value itself, for memory accounting.
    pub fn heap_size(&self) -> usize {
        match self {
            Value::Int(_) | Value::Inline { .. } => 0,
            Value::Heap(bytes) | Value::Raw(bytes) => std::mem::size_of::<u32>() + bytes.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_pick_redis_encodings() {
        assert_eq!(std::mem::size_of::<Value>(), 16);
        assert_eq!(Value::string(b"12345").encoding(), "int");
        assert_eq!(Value::string(b"012").encoding(), "embstr");
        assert_eq!(Value::string(&[b'x'; 44]).encoding(), "embstr");
        assert_eq!(Value::string(&[b'x'; 45]).encoding(), "raw");
        assert_eq!(Value::Raw(ThinBytes::new(b"ab")).encoding(), "raw");
        assert_eq!(Value::string(b"-17").as_string().unwrap().as_ref(), b"-17");
    }
}
