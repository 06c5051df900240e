//! Commands: the command table, the checks every command passes through, and one file per family
//! (its handlers, then its table of rows, which `table` joins).
//!
//! A handler is a synchronous function of its context and arguments that returns a [`Reply`] or a
//! [`CmdError`]; it never touches the socket. Arity, authentication and unknown-command checks happen
//! once, in [`dispatch`], before any handler runs.

mod access;
mod acl;
pub mod admission;
mod args;
pub mod context;
pub mod dispatch;
mod docs;
mod error;
mod flags;
pub mod harness;
mod table;

mod bitmaps;
mod blocking;
mod client;
mod collection;
mod config_cmd;
mod connection;
mod expiry;
mod geo;
mod hashes;
mod hyperloglog;
mod id;
mod info;
mod introspection;
mod keys;
mod lake;
mod lists;
mod persistence;
mod pubsub;
pub mod queue;
mod scripting;
mod server;
mod sets;
mod sort;
mod streams;
mod strings;
pub mod topic;
mod tx;
mod zsets;

pub use access::load_configured_users;
pub use admission::Admission;
pub use args::{is, parse_float, parse_int, parse_timeout_secs, ArgCursor};
pub use context::{BlockRequest, BlockedOn, Ctx, ReplyMode, Session};
pub use dispatch::{dispatch, Dispatched};
pub use docs::Doc;
pub use error::CmdError;
pub use flags::*;
pub use persistence::run_save_points;
pub use table::{registry, Command, Registry};

use crate::resp::{Args, Reply};

/// A command implementation.
pub type Handler = fn(&mut Ctx, Args) -> Result<Reply, CmdError>;
