//! Redis Cluster's view of the keyspace: hash slots now; membership, MOVED/ASK and migration later.

pub mod slot;
