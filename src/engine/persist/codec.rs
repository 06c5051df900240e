//! Bodies of values stored whole in their metadata record: strings (their bytes) and lists (each
//! element as `length u32 | bytes`, head first). Streams have their own codec (`stream_codec`).

use crate::engine::list::List;
use crate::engine::value::Limits;

/// Appends the encoding of `list` to `out`.
pub fn encode_list(list: &List, out: &mut Vec<u8>) {
    for item in list.iter() {
        out.extend_from_slice(&(item.len() as u32).to_be_bytes());
        out.extend_from_slice(item);
    }
}

/// Rebuilds a list; `None` when `bytes` is not a list encoding.
pub fn decode_list(mut bytes: &[u8], limits: &Limits) -> Option<List> {
    let mut list = List::new();
    while !bytes.is_empty() {
        let (len, rest) = bytes.split_first_chunk::<4>()?;
        let (item, rest) = rest.split_at_checked(u32::from_be_bytes(*len) as usize)?;
        list.push_back(item, limits);
        bytes = rest;
    }
    Some(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_round_trip_and_damage_is_refused() {
        let limits = Limits::default();
        let mut list = List::new();
        for item in [&b"a"[..], b"", &[7u8; 300]] {
            list.push_back(item, &limits);
        }
        let mut bytes = Vec::new();
        encode_list(&list, &mut bytes);
        assert_eq!(decode_list(&bytes, &limits), Some(list));
        assert_eq!(decode_list(&bytes[..bytes.len() - 1], &limits), None);
        assert_eq!(decode_list(&[0, 0, 1], &limits), None);
    }
}
