//! Reply encoding for RESP2 and RESP3; the one place the two protocols differ.

use bytes::{BufMut, BytesMut};

use super::Reply;

/// The protocol a connection speaks, chosen with `HELLO`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    #[default]
    Resp2,
    Resp3,
}

impl Protocol {
    pub fn version(self) -> i64 {
        match self {
            Protocol::Resp2 => 2,
            Protocol::Resp3 => 3,
        }
    }
}

/// Appends the encoding of `reply` to `out`.
pub fn encode(reply: &Reply, proto: Protocol, out: &mut BytesMut) {
    let resp3 = proto == Protocol::Resp3;
    match reply {
        Reply::Ok => out.put_slice(b"+OK\r\n"),
        Reply::Status(text) => line(out, b'+', text.as_bytes()),
        Reply::Error(text) => line(out, b'-', text.as_bytes()),
        Reply::Int(n) => int_line(out, b':', *n),
        Reply::Bulk(bytes) => bulk(out, bytes),
        Reply::Nil if resp3 => out.put_slice(b"_\r\n"),
        Reply::Nil => out.put_slice(b"$-1\r\n"),
        Reply::NilArray if resp3 => out.put_slice(b"_\r\n"),
        Reply::NilArray => out.put_slice(b"*-1\r\n"),
        Reply::Array(items) => aggregate(out, b'*', items, proto),
        Reply::Set(items) => aggregate(out, if resp3 { b'~' } else { b'*' }, items, proto),
        Reply::Push(items) => aggregate(out, if resp3 { b'>' } else { b'*' }, items, proto),
        Reply::Map(pairs) => {
            if resp3 {
                int_line(out, b'%', pairs.len() as i64);
            } else {
                int_line(out, b'*', 2 * pairs.len() as i64);
            }
            for (key, value) in pairs {
                encode(key, proto, out);
                encode(value, proto, out);
            }
        }
        Reply::Double(value) => double(out, &format_double(*value), resp3),
        Reply::HumanDouble(value) => double(out, &format_human_double(*value), resp3),
        Reply::Bool(value) if resp3 => out.put_slice(if *value { b"#t\r\n" } else { b"#f\r\n" }),
        Reply::Bool(value) => int_line(out, b':', i64::from(*value)),
        Reply::Verbatim(text) if resp3 => {
            int_line(out, b'=', text.len() as i64 + 4);
            out.put_slice(b"txt:");
            out.put_slice(text);
            out.put_slice(b"\r\n");
        }
        Reply::Verbatim(text) => bulk(out, text),
        Reply::BigNumber(digits) if resp3 => line(out, b'(', digits),
        Reply::BigNumber(digits) => bulk(out, digits),
        Reply::NoReply => {}
        Reply::Multi(replies) => {
            for reply in replies {
                encode(reply, proto, out);
            }
        }
    }
}

fn aggregate(out: &mut BytesMut, marker: u8, items: &[Reply], proto: Protocol) {
    int_line(out, marker, items.len() as i64);
    for item in items {
        encode(item, proto, out);
    }
}

fn line(out: &mut BytesMut, marker: u8, text: &[u8]) {
    out.reserve(text.len() + 3);
    out.put_u8(marker);
    // A status or error must stay on one line whatever text a handler built.
    for &b in text {
        out.put_u8(if b == b'\r' || b == b'\n' { b' ' } else { b });
    }
    out.put_slice(b"\r\n");
}

/// A double's text: `,` in RESP3, a bulk string in RESP2.
fn double(out: &mut BytesMut, text: &str, resp3: bool) {
    if resp3 {
        line(out, b',', text.as_bytes());
    } else {
        bulk(out, text.as_bytes());
    }
}

fn int_line(out: &mut BytesMut, marker: u8, n: i64) {
    let mut digits = itoa::Buffer::new();
    let text = digits.format(n);
    out.reserve(text.len() + 3);
    out.put_u8(marker);
    out.put_slice(text.as_bytes());
    out.put_slice(b"\r\n");
}

fn bulk(out: &mut BytesMut, bytes: &[u8]) {
    int_line(out, b'$', bytes.len() as i64);
    out.reserve(bytes.len() + 2);
    out.put_slice(bytes);
    out.put_slice(b"\r\n");
}

/// Formats a double as Redis 7.0 replies do: `%.17g`, with `inf`, `-inf` and `nan` spelled out.
pub fn format_double(value: f64) -> String {
    if value.is_nan() {
        return "nan".to_owned();
    }
    if value.is_infinite() {
        return if value > 0.0 { "inf".to_owned() } else { "-inf".to_owned() };
    }
    crate::num::format_g(value, 17)
}

/// Redis's `ld2string(..., LD_STR_HUMAN)`: 17 decimals, trailing zeros (and a bare point) removed,
/// `-0` shown as `0`.
pub fn format_human_double(value: f64) -> String {
    if value.is_infinite() {
        return if value > 0.0 { "inf".to_owned() } else { "-inf".to_owned() };
    }
    let text = format!("{value:.17}");
    let trimmed = crate::num::strip_fraction_zeros(&text);
    if trimmed == "-0" {
        "0".to_owned()
    } else {
        trimmed.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn enc(reply: Reply, proto: Protocol) -> String {
        let mut out = BytesMut::new();
        encode(&reply, proto, &mut out);
        String::from_utf8(out.to_vec()).unwrap()
    }

    #[test]
    fn doubles_format_like_redis_7_0() {
        assert_eq!(format_double(1.1), "1.1000000000000001");
        assert_eq!(format_double(1.5), "1.5");
        assert_eq!(format_double(3.0), "3");
        assert_eq!(format_double(1e20), "1e+20");
        assert_eq!(format_double(1.5e-7), "1.4999999999999999e-07");
        assert_eq!(format_double(0.0001), "0.0001");
        assert_eq!(format_double(123456789012345678.0), "1.2345678901234568e+17");
        assert_eq!(format_double(f64::NEG_INFINITY), "-inf");
        assert_eq!(format_double(-2.5), "-2.5");
    }

    #[test]
    fn resp3_shapes_degrade_in_resp2() {
        let map = Reply::Map(vec![(Reply::bulk(b"a"), Reply::Int(1))]);
        assert_eq!(enc(map.clone(), Protocol::Resp2), "*2\r\n$1\r\na\r\n:1\r\n");
        assert_eq!(enc(map, Protocol::Resp3), "%1\r\n$1\r\na\r\n:1\r\n");
        assert_eq!(enc(Reply::Nil, Protocol::Resp2), "$-1\r\n");
        assert_eq!(enc(Reply::NilArray, Protocol::Resp2), "*-1\r\n");
        assert_eq!(enc(Reply::Nil, Protocol::Resp3), "_\r\n");
        assert_eq!(enc(Reply::Double(2.5), Protocol::Resp2), "$3\r\n2.5\r\n");
        assert_eq!(enc(Reply::Double(2.5), Protocol::Resp3), ",2.5\r\n");
        assert_eq!(enc(Reply::HumanDouble(13.361389338970184), Protocol::Resp3), ",13.36138933897018433\r\n");
        assert_eq!(enc(Reply::HumanDouble(-0.0), Protocol::Resp2), "$1\r\n0\r\n");
        assert_eq!(enc(Reply::HumanDouble(180.0), Protocol::Resp2), "$3\r\n180\r\n");
        assert_eq!(enc(Reply::Bool(true), Protocol::Resp3), "#t\r\n");
        assert_eq!(enc(Reply::Verbatim(Bytes::from_static(b"hi")), Protocol::Resp3), "=6\r\ntxt:hi\r\n");
        let confirmations = Reply::Multi(vec![
            Reply::Push(vec![Reply::bulk(b"subscribe"), Reply::bulk(b"a"), Reply::Int(1)]),
            Reply::Push(vec![Reply::bulk(b"subscribe"), Reply::bulk(b"b"), Reply::Int(2)]),
        ]);
        assert_eq!(
            enc(confirmations.clone(), Protocol::Resp2),
            "*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n"
        );
        assert!(enc(confirmations, Protocol::Resp3).starts_with(">3\r\n$9\r\nsubscribe\r\n"));
    }
}
