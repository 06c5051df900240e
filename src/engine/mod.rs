//! Data ownership and durability. Knows nothing of RESP or connections.
pub mod lsm;
