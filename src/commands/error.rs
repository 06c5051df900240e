//! Command errors; each renders as Redis's exact error line.

use std::borrow::Cow;
use std::fmt;

use crate::resp::Reply;

/// An error a command answers with. The connection stays open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CmdError {
    Syntax,
    NotInteger,
    NotFloat,
    WrongType,
    NoSuchKey,
    Overflow,
    /// `ERR wrong number of arguments for '<name>' command`.
    WrongArity(String),
    /// `ERR unknown subcommand '<sub>'. Try <CMD> HELP.`
    UnknownSubcommand {
        command: String,
        sub: String,
    },
    /// A full error line, code included (`ERR ...`, `NOAUTH ...`).
    Other(Cow<'static, str>),
}

impl CmdError {
    /// An `ERR`-prefixed error with a message.
    pub fn err(message: impl Into<String>) -> CmdError {
        CmdError::Other(Cow::Owned(format!("ERR {}", message.into())))
    }

    /// A complete error line, such as `NOAUTH Authentication required.`.
    pub const fn line(text: &'static str) -> CmdError {
        CmdError::Other(Cow::Borrowed(text))
    }
}

impl fmt::Display for CmdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CmdError::Syntax => f.write_str("ERR syntax error"),
            CmdError::NotInteger => f.write_str("ERR value is not an integer or out of range"),
            CmdError::NotFloat => f.write_str("ERR value is not a valid float"),
            CmdError::WrongType => f.write_str("WRONGTYPE Operation against a key holding the wrong kind of value"),
            CmdError::NoSuchKey => f.write_str("ERR no such key"),
            CmdError::Overflow => f.write_str("ERR increment or decrement would overflow"),
            CmdError::WrongArity(name) => write!(f, "ERR wrong number of arguments for '{name}' command"),
            CmdError::UnknownSubcommand { command, sub } => {
                write!(f, "ERR unknown subcommand '{}'. Try {} HELP.", truncate(sub, 128), command.to_ascii_uppercase())
            }
            CmdError::Other(text) => f.write_str(text),
        }
    }
}

impl std::error::Error for CmdError {}

impl From<CmdError> for Reply {
    fn from(error: CmdError) -> Reply {
        match error {
            CmdError::Other(text) => Reply::Error(text),
            other => Reply::Error(Cow::Owned(other.to_string())),
        }
    }
}

/// The first `max` bytes of `text`, cut at a character boundary.
pub fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}
