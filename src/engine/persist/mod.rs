//! Persistence: the keyspace's changes written to the LSM engine ([`super::lsm`]) as records
//! ([`layout`]), and the keyspace rebuilt from them at start ([`recovery`]).
//!
//! [`Store`] is a change sink. Member-level changes of hashes, sets and sorted sets become one
//! record each as they arrive; any other change marks its key dirty, and when the shard holding
//! the key unlocks, the key's metadata record is rewritten from what the shard holds then (or
//! deleted when the key is gone). What one command changed is written as one LSM batch before its
//! last lock is released, so two loops writing one key reach the log in the order they wrote, and a
//! transaction or script ([`super::Keyspace::atomically`]) is one batch: after a crash it is there
//! whole or not at all.

pub mod garbage;
pub mod lake_codec;
pub mod layout;
pub mod pages;
pub mod queue_codec;
pub mod recovery;
pub mod store;
pub mod stream_codec;
pub mod topic_codec;

pub use store::{Fsync, Store, StoreError};
