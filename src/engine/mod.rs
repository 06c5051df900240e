//! Data ownership and durability. Knows nothing of RESP or connections.

pub mod bitmap;
pub mod compact;
pub mod csort;
pub mod dense;
pub mod geohash;
pub mod hash;
pub mod hyperloglog;
pub mod keyspace;
pub mod lazyfree;
pub mod limits;
pub mod list;
pub mod lsm;
pub mod mutation;
pub mod pack;
pub mod persist;
pub mod rdb;
pub mod replay;
pub mod set;
pub mod skiplist;
pub mod snowflake;
pub mod stream;
pub mod stream_group;
pub mod thin;
pub mod value;
pub mod write;
pub mod zset;

pub use hash::Hash;
pub use keyspace::{Db, Entry, KeyHash, Keyspace, Shard, ShardGuard};
pub use limits::Limits;
pub use list::List;
pub use mutation::{ChangeSink, Mutation, Side};
pub use set::Set;
pub use stream::{Stream, StreamId};
pub use value::{Value, ValueType};
pub use write::{Collection, KeyWrite, Tracked};
pub use zset::ZSet;
