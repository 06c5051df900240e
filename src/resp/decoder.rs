//! Request decoding: RESP arrays of bulk strings and inline commands.
//!
//! The decoder never copies argument bytes for RESP requests: it records the span of every argument in
//! the connection's read buffer and handlers read them through [`Args`]. Inline commands (telnet,
//! `redis-benchmark`'s PING_INLINE) are unescaped into a scratch buffer, which is rare and cheap.

use std::fmt;
use std::ops::Range;

use memchr::memchr;

use crate::num::parse_i64;

/// Longest inline request accepted, as Redis's `PROTO_INLINE_MAX_SIZE`.
const INLINE_MAX: usize = 64 * 1024;
/// Largest multibulk count accepted, as Redis (`ll > INT_MAX` is refused).
const MULTIBULK_MAX: i64 = i32::MAX as i64;

/// Limits that come from configuration.
#[derive(Clone, Copy, Debug)]
pub struct ParseLimits {
    /// `proto-max-bulk-len`.
    pub max_bulk_len: i64,
    /// The client has not authenticated while a password is required: Redis accepts at most
    /// [`UNAUTHENTICATED_MAX_ARGS`] arguments of [`UNAUTHENTICATED_MAX_BULK`] bytes, so a stranger
    /// cannot make the server buffer megabytes.
    pub unauthenticated: bool,
}

/// The most arguments a request of an unauthenticated client may have.
pub const UNAUTHENTICATED_MAX_ARGS: i64 = 10;
/// The longest argument of an unauthenticated client's request.
pub const UNAUTHENTICATED_MAX_BULK: i64 = 16 * 1024;

/// A malformed request. Redis replies `-ERR Protocol error: ...` and closes the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtocolError {
    InvalidMultibulkLength,
    InvalidBulkLength,
    ExpectedDollar(u8),
    UnbalancedQuotes,
    TooBigInline,
    TooBigMultibulkCount,
    TooBigBulkCount,
    UnauthenticatedMultibulkLength,
    UnauthenticatedBulkLength,
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ERR Protocol error: ")?;
        match self {
            ProtocolError::InvalidMultibulkLength => f.write_str("invalid multibulk length"),
            ProtocolError::InvalidBulkLength => f.write_str("invalid bulk length"),
            ProtocolError::UnauthenticatedMultibulkLength => f.write_str("unauthenticated multibulk length"),
            ProtocolError::UnauthenticatedBulkLength => f.write_str("unauthenticated bulk length"),
            // Redis echoes the raw byte; an error line is text here, so a non-ASCII byte shows as U+FFFD
            // (what a client decoding Redis's reply as UTF-8 sees too), not as a Latin-1 character.
            ProtocolError::ExpectedDollar(got) => {
                write!(f, "expected '$', got '{}'", if got.is_ascii() { *got as char } else { char::REPLACEMENT_CHARACTER })
            }
            ProtocolError::UnbalancedQuotes => f.write_str("unbalanced quotes in request"),
            ProtocolError::TooBigInline => f.write_str("too big inline request"),
            ProtocolError::TooBigMultibulkCount => f.write_str("too big mbulk count string"),
            ProtocolError::TooBigBulkCount => f.write_str("too big bulk count string"),
        }
    }
}

impl std::error::Error for ProtocolError {}

/// Where the arguments of the current request live.
#[derive(Default)]
pub struct RequestBuf {
    spans: Vec<Range<usize>>,
    /// Unescaped inline arguments; `spans` index into it when `inline` is set.
    scratch: Vec<u8>,
    inline: bool,
    /// A multibulk request cut short by the end of the buffer: arguments still to read and where the
    /// next one starts. Parsing resumes there, so a huge request arriving in many reads costs O(n).
    partial: Option<(i64, usize)>,
}

impl RequestBuf {
    /// The arguments of the last parsed request, reading RESP spans from `buf`.
    pub fn args<'a>(&'a self, buf: &'a [u8]) -> Args<'a> {
        let data = if self.inline { &self.scratch[..] } else { buf };
        Args { data, spans: &self.spans }
    }
}

/// The arguments of one request: argument 0 is the command name.
#[derive(Clone, Copy)]
pub struct Args<'a> {
    data: &'a [u8],
    spans: &'a [Range<usize>],
}

impl<'a> Args<'a> {
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Argument `i`, or an empty slice past the end (callers check arity first).
    pub fn get(&self, i: usize) -> &'a [u8] {
        match self.spans.get(i) {
            Some(span) => &self.data[span.clone()],
            None => &[],
        }
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = &'a [u8]> + 'a {
        let data = self.data;
        self.spans.iter().map(move |span| &data[span.clone()])
    }

    /// The arguments from `start` on, as their own list (COMMAND GETKEYS inspects a nested command).
    pub fn sub_args(args: Args<'a>, start: usize) -> Args<'a> {
        Args { data: args.data, spans: args.spans.get(start..).unwrap_or(&[]) }
    }

    /// Copies the arguments out, for work that outlives the read buffer (MULTI queues, blocked
    /// commands).
    pub fn to_owned(&self) -> OwnedArgs {
        let mut data = Vec::with_capacity(self.spans.iter().map(|s| s.len()).sum());
        let mut spans = Vec::with_capacity(self.spans.len());
        for arg in self.iter() {
            spans.push(data.len()..data.len() + arg.len());
            data.extend_from_slice(arg);
        }
        OwnedArgs { data, spans }
    }
}

/// A request's arguments copied into one buffer of their own.
#[derive(Debug, Clone, Default)]
pub struct OwnedArgs {
    data: Vec<u8>,
    spans: Vec<Range<usize>>,
}

impl OwnedArgs {
    pub fn args(&self) -> Args<'_> {
        Args { data: &self.data, spans: &self.spans }
    }

    /// Appends an argument (scripts build the commands they call this way, reusing one buffer).
    pub fn push(&mut self, arg: &[u8]) {
        self.spans.push(self.data.len()..self.data.len() + arg.len());
        self.data.extend_from_slice(arg);
    }

    pub fn clear(&mut self) {
        self.data.clear();
        self.spans.clear();
    }
}

/// Parses one request from the start of `buf`.
///
/// Returns `Ok(Some(consumed))` when a whole request was found (its arguments are in `req`),
/// `Ok(None)` when more bytes are needed. An empty inline line yields a request with no arguments,
/// which callers skip, as Redis does.
///
/// The caller must pass the same buffer (possibly grown) until a request completes or fails.
pub fn parse_request(buf: &[u8], req: &mut RequestBuf, limits: ParseLimits) -> Result<Option<usize>, ProtocolError> {
    if let Some((remaining, pos)) = req.partial.take() {
        return parse_bulks(buf, remaining, pos, req, limits);
    }
    req.spans.clear();
    match buf.first() {
        None => Ok(None),
        Some(b'*') => {
            req.inline = false;
            parse_multibulk(buf, req, limits)
        }
        Some(_) => {
            req.inline = true;
            parse_inline(buf, req)
        }
    }
}

fn parse_multibulk(buf: &[u8], req: &mut RequestBuf, limits: ParseLimits) -> Result<Option<usize>, ProtocolError> {
    let Some((count, pos)) = read_line_int(buf, 1, ProtocolError::TooBigMultibulkCount)? else {
        return Ok(None);
    };
    let count = count.ok_or(ProtocolError::InvalidMultibulkLength)?;
    if count > MULTIBULK_MAX {
        return Err(ProtocolError::InvalidMultibulkLength);
    }
    if limits.unauthenticated && count > UNAUTHENTICATED_MAX_ARGS {
        return Err(ProtocolError::UnauthenticatedMultibulkLength);
    }
    if count <= 0 {
        return Ok(Some(pos));
    }
    // Cap the reservation: a client announcing a huge count must send the bytes before we grow.
    req.spans.reserve((count as usize).min(1024));
    parse_bulks(buf, count, pos, req, limits)
}

fn parse_bulks(
    buf: &[u8],
    mut remaining: i64,
    mut pos: usize,
    req: &mut RequestBuf,
    limits: ParseLimits,
) -> Result<Option<usize>, ProtocolError> {
    while remaining > 0 {
        // As Redis, wait for the whole `$<len>\r\n` line before judging its first byte: a client
        // that stops mid-request gets no error, and one that sends garbage gets it once the line ends.
        let rest = buf.get(pos..).unwrap_or(&[]);
        match find_cr(rest) {
            Some(cr) if rest.len() >= cr + 2 => {}
            Some(_) => {
                req.partial = Some((remaining, pos));
                return Ok(None);
            }
            None if rest.len() > INLINE_MAX => return Err(ProtocolError::TooBigBulkCount),
            None => {
                req.partial = Some((remaining, pos));
                return Ok(None);
            }
        }
        let marker = rest[0];
        if marker != b'$' {
            return Err(ProtocolError::ExpectedDollar(marker));
        }
        let Some((len, after)) = read_line_int(buf, pos + 1, ProtocolError::TooBigBulkCount)? else {
            req.partial = Some((remaining, pos));
            return Ok(None);
        };
        let len = match len {
            Some(len) if limits.unauthenticated && len > UNAUTHENTICATED_MAX_BULK => return Err(ProtocolError::UnauthenticatedBulkLength),
            Some(len) if (0..=limits.max_bulk_len).contains(&len) => len as usize,
            _ => return Err(ProtocolError::InvalidBulkLength),
        };
        let end = after + len;
        if buf.len() < end + 2 {
            req.partial = Some((remaining, pos));
            return Ok(None);
        }
        req.spans.push(after..end);
        pos = end + 2;
        remaining -= 1;
    }
    Ok(Some(pos))
}

/// Reads `<digits>\r\n` starting at `start`; returns the number (None if not a valid integer) and the
/// position after the CRLF, or `Ok(None)` if the line is incomplete.
fn read_line_int(buf: &[u8], start: usize, too_big: ProtocolError) -> Result<Option<(Option<i64>, usize)>, ProtocolError> {
    let rest = buf.get(start..).unwrap_or(&[]);
    let Some(cr) = find_cr(rest) else {
        if rest.len() > INLINE_MAX {
            return Err(too_big);
        }
        return Ok(None);
    };
    if rest.len() < cr + 2 {
        return Ok(None);
    }
    Ok(Some((parse_i64(&rest[..cr]), start + cr + 2)))
}

/// The first `\r` of a header line, searched as Redis's strchr does: not past a NUL byte, so a NUL
/// in a header leaves it incomplete (until the size limit) rather than malformed.
fn find_cr(rest: &[u8]) -> Option<usize> {
    let searchable = memchr(0, rest).map_or(rest, |nul| &rest[..nul]);
    memchr(b'\r', searchable)
}

fn parse_inline(buf: &[u8], req: &mut RequestBuf) -> Result<Option<usize>, ProtocolError> {
    // Redis finds the newline with strchr, which stops at a NUL byte: a line with a NUL before its
    // newline never completes, and only the inline size limit ends the wait. Do the same.
    let searchable = memchr(0, buf).map_or(buf, |nul| &buf[..nul]);
    let Some(newline) = memchr(b'\n', searchable) else {
        if buf.len() > INLINE_MAX {
            return Err(ProtocolError::TooBigInline);
        }
        return Ok(None);
    };
    if newline > INLINE_MAX {
        return Err(ProtocolError::TooBigInline);
    }
    let mut line = &buf[..newline];
    if let Some(stripped) = line.strip_suffix(b"\r") {
        line = stripped;
    }
    req.scratch.clear();
    split_inline_args(line, &mut req.scratch, &mut req.spans)?;
    Ok(Some(newline + 1))
}

/// Splits a line as Redis's `sdssplitargs`: whitespace separated, with "double quotes" (C escapes and
/// \xHH) and 'single quotes' (only \' escaped). A closing quote must be followed by a space or the end.
///
/// As in C, the line ends at a NUL byte (which also keeps the unquoted case below, where NUL ends an
/// argument, from looping forever on it).
pub fn split_inline_args(line: &[u8], out: &mut Vec<u8>, spans: &mut Vec<Range<usize>>) -> Result<(), ProtocolError> {
    let line = memchr(0, line).map_or(line, |nul| &line[..nul]);
    let mut i = 0;
    loop {
        while i < line.len() && line[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= line.len() {
            return Ok(());
        }
        let start = out.len();
        let mut in_double = false;
        let mut in_single = false;
        loop {
            let Some(&c) = line.get(i) else {
                if in_double || in_single {
                    return Err(ProtocolError::UnbalancedQuotes);
                }
                break;
            };
            if in_double {
                if c == b'\\' && i + 3 < line.len() && line[i + 1] == b'x' {
                    if let (Some(h), Some(l)) = (hex_value(line[i + 2]), hex_value(line[i + 3])) {
                        out.push(h * 16 + l);
                        i += 4;
                        continue;
                    }
                }
                if c == b'\\' && i + 1 < line.len() {
                    out.push(match line[i + 1] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 8,
                        b'a' => 7,
                        other => other,
                    });
                    i += 2;
                    continue;
                }
                if c == b'"' {
                    i = after_closing_quote(line, i)?;
                    break;
                }
                out.push(c);
                i += 1;
            } else if in_single {
                if c == b'\\' && line.get(i + 1) == Some(&b'\'') {
                    out.push(b'\'');
                    i += 2;
                    continue;
                }
                if c == b'\'' {
                    i = after_closing_quote(line, i)?;
                    break;
                }
                out.push(c);
                i += 1;
            } else {
                match c {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => break,
                    b'"' => in_double = true,
                    b'\'' => in_single = true,
                    _ => out.push(c),
                }
                i += 1;
            }
        }
        spans.push(start..out.len());
    }
}

/// The position after a closing quote at `at`, which must end the argument (space or end of line).
fn after_closing_quote(line: &[u8], at: usize) -> Result<usize, ProtocolError> {
    if line.get(at + 1).is_some_and(|n| !n.is_ascii_whitespace()) {
        return Err(ProtocolError::UnbalancedQuotes);
    }
    Ok(at + 1)
}

fn hex_value(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: ParseLimits = ParseLimits { max_bulk_len: 512 * 1024 * 1024, unauthenticated: false };

    /// Bytes consumed and the arguments, when a whole request was parsed.
    type Parsed = Option<(usize, Vec<Vec<u8>>)>;

    fn parse(buf: &[u8]) -> Result<Parsed, ProtocolError> {
        let mut req = RequestBuf::default();
        Ok(parse_request(buf, &mut req, LIMITS)?.map(|n| (n, req.args(buf).iter().map(<[u8]>::to_vec).collect())))
    }

    #[test]
    fn unauthenticated_clients_get_small_requests_only() {
        let stranger = ParseLimits { unauthenticated: true, ..LIMITS };
        let parse_as_stranger = |buf: &[u8]| parse_request(buf, &mut RequestBuf::default(), stranger);
        assert_eq!(parse_as_stranger(b"*11\r\n"), Err(ProtocolError::UnauthenticatedMultibulkLength));
        assert_eq!(parse_as_stranger(b"*10\r\n"), Ok(None));
        assert_eq!(parse_as_stranger(b"*2\r\n$16385\r\n"), Err(ProtocolError::UnauthenticatedBulkLength));
        assert_eq!(parse_as_stranger(b"*2\r\n$16384\r\n"), Ok(None));
        assert_eq!(
            ProtocolError::UnauthenticatedBulkLength.to_string(),
            "ERR Protocol error: unauthenticated bulk length",
            "Redis 7.0's text"
        );
        assert_eq!(parse(b"*11\r\n"), Ok(None), "authenticated clients are not limited");
    }

    #[test]
    fn inline_nul_bytes_behave_as_in_redis() {
        // A NUL before the newline hides it: the line never completes...
        assert_eq!(parse(b"\0PING\r\n"), Ok(None));
        assert_eq!(parse(b"ECHO a\0b\r\nPING\r\n"), Ok(None));
        // ...until the inline limit is passed.
        let mut long = b"\0PING\r\n".to_vec();
        long.resize(INLINE_MAX + 1, b'x');
        assert_eq!(parse(&long), Err(ProtocolError::TooBigInline));
        // Splitting stops at a NUL, as C strings do.
        let (mut out, mut spans) = (Vec::new(), Vec::new());
        split_inline_args(b"SET a\0b c", &mut out, &mut spans).unwrap();
        assert_eq!(spans.len(), 2);
    }

    #[test]
    fn bulk_headers_are_judged_once_their_line_is_complete() {
        // Redis waits for the `\r\n` before checking for `$`: no error for a request cut short.
        assert_eq!(parse(b"*2\r\n$4\r\nECHO\r\nxy"), Ok(None));
        assert_eq!(parse(b"*2\r\n$4\r\nECHO\r\nxy\r\n"), Err(ProtocolError::ExpectedDollar(b'x')));
        // A NUL hides the `\r` from Redis's strchr: still incomplete.
        assert_eq!(parse(b"*2\r\n$4\r\nECHO\r\n$\x003\r\nabc\r\n"), Ok(None));
        assert_eq!(parse(b"*1\x00\r\n$4\r\nPING\r\n"), Ok(None));
    }

    #[test]
    fn multibulk_round_trip() {
        let buf = b"*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n*1\r\n";
        let (n, args) = parse(buf).unwrap().unwrap();
        assert_eq!(n, 22);
        assert_eq!(args, vec![b"GET".to_vec(), b"key".to_vec()]);
    }

    #[test]
    fn incomplete_frames_need_more_and_resume() {
        let full = b"*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n";
        for cut in 0..full.len() {
            assert_eq!(parse(&full[..cut]).unwrap(), None, "cut at {cut}");
        }
        let mut req = RequestBuf::default();
        for cut in 0..full.len() {
            assert_eq!(parse_request(&full[..cut], &mut req, LIMITS).unwrap(), None);
        }
        assert_eq!(parse_request(full, &mut req, LIMITS).unwrap(), Some(full.len()));
        assert_eq!(req.args(full).iter().collect::<Vec<_>>(), vec![&b"GET"[..], &b"key"[..]]);
    }

    #[test]
    fn protocol_errors_match_redis() {
        assert_eq!(parse(b"*x\r\n"), Err(ProtocolError::InvalidMultibulkLength));
        assert_eq!(parse(b"*1\r\n+GET\r\n"), Err(ProtocolError::ExpectedDollar(b'+')));
        assert_eq!(parse(b"*1\r\n$-5\r\n"), Err(ProtocolError::InvalidBulkLength));
        assert_eq!(parse(b"*1\r\n$999999999999\r\n"), Err(ProtocolError::InvalidBulkLength));
        assert_eq!(ProtocolError::ExpectedDollar(b'+').to_string(), "ERR Protocol error: expected '$', got '+'");
    }

    #[test]
    fn inline_commands_split_like_redis() {
        let (_, args) = parse(b"SET k \"a b\\x41\\n\" 'it\\'s'\r\n").unwrap().unwrap();
        assert_eq!(args, vec![b"SET".to_vec(), b"k".to_vec(), b"a bA\n".to_vec(), b"it's".to_vec()]);
        assert_eq!(parse(b"PING\n").unwrap().unwrap().1, vec![b"PING".to_vec()]);
        assert_eq!(parse(b"SET \"a\"b\r\n"), Err(ProtocolError::UnbalancedQuotes));
        assert_eq!(parse(b"\r\n").unwrap().unwrap(), (2, vec![]));
    }
}
