//! Data ownership and durability. Knows nothing of RESP or connections.

pub mod compact;
pub mod keyspace;
pub mod snowflake;
pub mod thin;
pub mod value;

pub use keyspace::{Db, Entry, KeyHash, Keyspace, Shard};
pub use value::{Value, ValueType};
