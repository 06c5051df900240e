//! A cursor over a command's arguments with Redis's parsing rules and error texts.

use crate::num::{parse_f64, parse_i64};
use crate::resp::Args;

use super::CmdError;

/// Reads arguments left to right, starting after the command name.
pub struct ArgCursor<'a> {
    args: Args<'a>,
    pos: usize,
}

impl<'a> ArgCursor<'a> {
    /// A cursor positioned at argument `start` (1 for commands, 2 for subcommands).
    pub fn new(args: Args<'a>, start: usize) -> Self {
        ArgCursor { args, pos: start }
    }

    pub fn remaining(&self) -> usize {
        self.args.len().saturating_sub(self.pos)
    }

    pub fn is_done(&self) -> bool {
        self.remaining() == 0
    }

    /// The next argument, or a syntax error if there is none.
    pub fn next_bytes(&mut self) -> Result<&'a [u8], CmdError> {
        if self.pos >= self.args.len() {
            return Err(CmdError::Syntax);
        }
        self.pos += 1;
        Ok(self.args.get(self.pos - 1))
    }

    pub fn peek(&self) -> Option<&'a [u8]> {
        (self.pos < self.args.len()).then(|| self.args.get(self.pos))
    }

    pub fn next_i64(&mut self) -> Result<i64, CmdError> {
        parse_int(self.next_bytes()?)
    }

    pub fn next_f64(&mut self) -> Result<f64, CmdError> {
        parse_float(self.next_bytes()?)
    }

    pub fn next_string(&mut self) -> Result<String, CmdError> {
        Ok(String::from_utf8_lossy(self.next_bytes()?).into_owned())
    }

    /// Consumes the next argument if it equals `word`, ignoring ASCII case.
    pub fn eat(&mut self, word: &str) -> bool {
        match self.peek() {
            Some(arg) if arg.eq_ignore_ascii_case(word.as_bytes()) => {
                self.pos += 1;
                true
            }
            _ => false,
        }
    }

    /// Every argument left.
    pub fn rest(&mut self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let args = self.args;
        let from = self.pos;
        self.pos = args.len();
        (from..args.len()).map(move |i| args.get(i))
    }
}

/// An integer argument, with Redis's error text.
pub fn parse_int(arg: &[u8]) -> Result<i64, CmdError> {
    parse_i64(arg).ok_or(CmdError::NotInteger)
}

/// An integer argument that must fit a C `int`, as Redis's getIntFromObjectOrReply: a database
/// index, for instance.
pub fn parse_c_int(arg: &[u8]) -> Result<i64, CmdError> {
    let value = parse_int(arg)?;
    if i32::try_from(value).is_err() {
        return Err(CmdError::err("value is out of range, value must between -2147483648 and 2147483647"));
    }
    Ok(value)
}

/// A float argument, with Redis's error text.
pub fn parse_float(arg: &[u8]) -> Result<f64, CmdError> {
    parse_f64(arg).ok_or(CmdError::NotFloat)
}

/// Whether `arg` names `word`, ignoring ASCII case.
pub fn is(arg: &[u8], word: &str) -> bool {
    arg.eq_ignore_ascii_case(word.as_bytes())
}

/// A non-negative number of milliseconds or a count (strata's own commands), with Redis's integer
/// error when it is no integer.
pub fn non_negative(cursor: &mut ArgCursor, what: &str) -> Result<u64, CmdError> {
    let n = cursor.next_i64()?;
    u64::try_from(n).map_err(|_| CmdError::err(format!("{what} must be positive or zero")))
}

/// [`non_negative`], and not 0.
pub fn positive(cursor: &mut ArgCursor, what: &str) -> Result<u64, CmdError> {
    match non_negative(cursor, what)? {
        0 => Err(CmdError::err(format!("{what} must be positive"))),
        n => Ok(n),
    }
}

/// A COUNT of 1 to `max`.
pub fn count(cursor: &mut ArgCursor, max: i64) -> Result<usize, CmdError> {
    let n = cursor.next_i64()?;
    if !(1..=max).contains(&n) {
        return Err(CmdError::err(format!("COUNT must be between 1 and {max}")));
    }
    Ok(n as usize)
}

/// A blocking command's timeout in seconds with fractions (BLPOP, BZPOPMIN, ...): `None` for 0,
/// which waits forever.
pub fn parse_timeout_secs(arg: &[u8]) -> Result<Option<std::time::Duration>, CmdError> {
    let seconds = parse_f64(arg).filter(|s| s.is_finite()).ok_or_else(|| CmdError::err("timeout is not a float or out of range"))?;
    if seconds < 0.0 {
        return Err(CmdError::err("timeout is negative"));
    }
    Ok((seconds > 0.0).then(|| std::time::Duration::from_secs_f64(seconds.min(1e12))))
}
