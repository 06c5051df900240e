//! The server's state, below the commands that read and change it and the server that owns the
//! sockets: configuration, keyspace and everything else every connection shares ([`shared::Shared`]),
//! the client registry, pub/sub, WATCH, blocked clients, queue timers and leases, statistics, the slow log and monitors, and
//! one connection's [`session::Session`].
//!
//! It knows no command table and no socket: `commands` runs handlers against it, `server` owns the
//! tasks that hold it. Where it must run a command (serving a blocked client) it is handed the
//! dispatcher by its caller.

pub mod acl;
pub mod blocked;
pub mod clients;
pub mod monitor;
pub mod pubsub;
pub mod queues;
pub mod saving;
pub mod session;
pub mod shared;
pub mod slowlog;
pub mod stats;
pub mod tls;
pub mod watch;
