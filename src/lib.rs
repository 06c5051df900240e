//! strata: a Redis-compatible server with an embedded LSM storage engine.
//!
//! Layers, one way (docs/ARCHITECTURE.md, "Layers"): [`server`] owns sockets and tasks and calls
//! [`commands`], which turn arguments into typed calls on the [`engine`] and the server's [`state`];
//! [`scripting`] is handed the dispatcher; [`resp`] turns bytes into arguments and replies into bytes.

// No `unwrap`/`expect` outside tests: data from the network or disk must never panic the server
// (STYLE.md, "Errors in tiers"). A justified exception is marked where it stands with
// `#[allow(clippy::unwrap_used, reason = "...")]`.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod cluster;
pub mod commands;
pub mod config;
pub mod engine;
pub mod glob;
pub mod logging;
pub mod notify;
pub mod num;
pub mod resp;
pub mod scripting;
pub mod server;
pub mod state;

/// strata's own version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The Redis version strata reports in HELLO and INFO: the Redis release whose commands it follows,
/// so clients that check versions enable the features strata has.
pub const VERSION_REPORTED: &str = "7.2.0";
