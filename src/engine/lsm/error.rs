//! The one error type of the LSM engine.
//!
//! Every error that comes from a file names that file, so an operator can tell which
//! table, log or manifest is damaged without a debugger.

use std::fmt;
use std::path::PathBuf;

/// Result alias used throughout the engine.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong inside the LSM engine.
#[derive(Debug)]
pub enum Error {
    /// An I/O call failed on `path` while doing `op`.
    Io {
        /// The file or directory the call was about.
        path: PathBuf,
        /// What the engine was doing ("open", "read", "fsync", ...).
        op: &'static str,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A file's content failed validation (checksum, magic, bounds, decoding).
    Corruption {
        /// The damaged file.
        path: PathBuf,
        /// What exactly was wrong, including offsets where known.
        detail: String,
    },
    /// The database directory is used by another `Db` (the LOCK file is held).
    Locked(PathBuf),
    /// The directory holds no database and `create_if_missing` is off.
    NotFound(PathBuf),
    /// An option or argument is out of range.
    InvalidArgument(String),
    /// An earlier write-ahead-log or background failure left the engine unable to
    /// guarantee durability; all later writes are refused until `Db::resume` succeeds
    /// or the `Db` is reopened.
    Poisoned(String),
    /// The `Db` was closed.
    Closed,
}

impl Error {
    /// Builds an [`Error::Io`] for `path`.
    pub(crate) fn io(path: impl Into<PathBuf>, op: &'static str, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), op, source }
    }

    /// Builds an [`Error::Corruption`] for `path`.
    pub(crate) fn corrupt(path: impl Into<PathBuf>, detail: impl Into<String>) -> Self {
        Error::Corruption { path: path.into(), detail: detail.into() }
    }

    /// What went wrong underneath, in the operating system's words for a failed I/O call
    /// ("No space left on device"), also when it poisoned the engine earlier.
    pub fn cause(&self) -> String {
        let os_text = |text: &str| text.split(" (os error").next().unwrap_or(text).to_owned();
        match self {
            Error::Io { source, .. } => os_text(&source.to_string()),
            // The first failure's text, as Display wrote it for an I/O error: "... failed: <os text>".
            Error::Poisoned(first) => os_text(first.rsplit(" failed: ").next().unwrap_or(first)),
            other => other.to_string(),
        }
    }

    /// True for [`Error::Corruption`].
    pub fn is_corruption(&self) -> bool {
        matches!(self, Error::Corruption { .. })
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { path, op, source } => {
                write!(f, "lsm: {op} {} failed: {source}", path.display())
            }
            Error::Corruption { path, detail } => {
                write!(f, "lsm: corrupted file {}: {detail}", path.display())
            }
            Error::Locked(p) => write!(f, "lsm: database {} is locked by another process", p.display()),
            Error::NotFound(p) => write!(f, "lsm: no database in {}", p.display()),
            Error::InvalidArgument(m) => write!(f, "lsm: invalid argument: {m}"),
            Error::Poisoned(m) => write!(f, "lsm: engine refuses writes after an earlier failure: {m}"),
            Error::Closed => write!(f, "lsm: database is closed"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
