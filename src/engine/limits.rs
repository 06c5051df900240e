//! When collections leave their compact encodings. A leaf: the value types read it, it knows none
//! of them.

/// When collections leave their compact encodings: the `*-max-listpack-*` / `*-max-intset-*`
/// settings, passed in by the commands so the engine never reads the configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub list_max_listpack_size: i64,
    pub hash_max_entries: usize,
    pub hash_max_value: usize,
    pub set_max_intset_entries: usize,
    /// Redis 7.2's listpack sets; 0 (the default here) keeps Redis 7.0's intset/hashtable only.
    pub set_max_listpack_entries: usize,
    pub set_max_listpack_value: usize,
    pub zset_max_entries: usize,
    pub zset_max_value: usize,
    /// When a stream opens a new node (`stream-node-max-bytes`, `stream-node-max-entries`; 0 = no
    /// limit of that kind).
    pub stream_node_max_bytes: usize,
    pub stream_node_max_entries: usize,
}

impl Default for Limits {
    /// Redis 7.0's defaults.
    fn default() -> Self {
        Limits {
            list_max_listpack_size: -2,
            hash_max_entries: 512,
            hash_max_value: 64,
            set_max_intset_entries: 512,
            set_max_listpack_entries: 0,
            set_max_listpack_value: 64,
            zset_max_entries: 128,
            zset_max_value: 64,
            stream_node_max_bytes: 4096,
            stream_node_max_entries: 100,
        }
    }
}
