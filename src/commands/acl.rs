//! ACL categories: the ones a command's flags imply, as Redis derives them, and the ones its row
//! names. COMMAND INFO prints them in Redis's order (`ACLCommandCategories` in Redis's acl.c).

pub const KEYSPACE: u32 = 1;
pub const READ: u32 = 1 << 1;
pub const WRITE: u32 = 1 << 2;
pub const SET: u32 = 1 << 3;
pub const SORTEDSET: u32 = 1 << 4;
pub const LIST: u32 = 1 << 5;
pub const HASH: u32 = 1 << 6;
pub const STRING: u32 = 1 << 7;
pub const BITMAP: u32 = 1 << 8;
pub const HYPERLOGLOG: u32 = 1 << 9;
pub const GEO: u32 = 1 << 10;
pub const STREAM: u32 = 1 << 11;
pub const PUBSUB: u32 = 1 << 12;
pub const ADMIN: u32 = 1 << 13;
pub const FAST: u32 = 1 << 14;
pub const SLOW: u32 = 1 << 15;
pub const BLOCKING: u32 = 1 << 16;
pub const DANGEROUS: u32 = 1 << 17;
pub const CONNECTION: u32 = 1 << 18;
pub const TRANSACTION: u32 = 1 << 19;
pub const SCRIPTING: u32 = 1 << 20;
/// strata's work queues (Q.*).
pub const QUEUE: u32 = 1 << 21;
/// strata's partitioned topics (STREAM.*).
pub const TOPIC: u32 = 1 << 22;
/// strata's snowflake IDs (ID.*).
pub const ID: u32 = 1 << 24;
/// strata's JSON catalogs (LAKE.*).
pub const LAKE: u32 = 1 << 23;

/// Category names with their `@`, in the order Redis prints them.
pub const NAMES: &[(u32, &str)] = &[
    (KEYSPACE, "@keyspace"),
    (READ, "@read"),
    (WRITE, "@write"),
    (SET, "@set"),
    (SORTEDSET, "@sortedset"),
    (LIST, "@list"),
    (HASH, "@hash"),
    (STRING, "@string"),
    (BITMAP, "@bitmap"),
    (HYPERLOGLOG, "@hyperloglog"),
    (GEO, "@geo"),
    (STREAM, "@stream"),
    (PUBSUB, "@pubsub"),
    (ADMIN, "@admin"),
    (FAST, "@fast"),
    (SLOW, "@slow"),
    (BLOCKING, "@blocking"),
    (DANGEROUS, "@dangerous"),
    (CONNECTION, "@connection"),
    (TRANSACTION, "@transaction"),
    (SCRIPTING, "@scripting"),
    (QUEUE, "@queue"),
    (TOPIC, "@topic"),
    (ID, "@id"),
    (LAKE, "@lake"),
];

/// A command's categories: the ones its row names plus the ones its flags imply, by the rules of
/// Redis's `setImplicitACLCategories`: write → @write; readonly → @read (not for @scripting
/// commands); admin → @admin @dangerous; pubsub → @pubsub; fast → @fast; blocking → @blocking;
/// and @slow for whatever is not @fast.
pub const fn with_implied(named: u32, flags: u32) -> u32 {
    use super::flags;
    let mut categories = named;
    if flags & flags::WRITE != 0 {
        categories |= WRITE;
    }
    if flags & flags::READONLY != 0 && named & SCRIPTING == 0 {
        categories |= READ;
    }
    if flags & flags::ADMIN != 0 {
        categories |= ADMIN | DANGEROUS;
    }
    if flags & flags::PUBSUB != 0 {
        categories |= PUBSUB;
    }
    if flags & flags::FAST != 0 {
        categories |= FAST;
    }
    if flags & flags::BLOCKING != 0 {
        categories |= BLOCKING;
    }
    if categories & FAST == 0 {
        categories |= SLOW;
    }
    categories
}

/// The names of a set of categories, in Redis's order.
pub fn names(categories: u32) -> impl Iterator<Item = &'static str> {
    NAMES.iter().filter(move |(bit, _)| categories & bit != 0).map(|(_, name)| *name)
}

/// The category called `name`, without its `@` (case-insensitive).
pub fn by_name(name: &[u8]) -> Option<u32> {
    NAMES.iter().find(|(_, known)| known.as_bytes()[1..].eq_ignore_ascii_case(name)).map(|(bit, _)| *bit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::flags;

    #[test]
    fn flags_imply_categories_as_in_redis() {
        let hset = with_implied(HASH, flags::WRITE | flags::DENYOOM | flags::FAST);
        assert_eq!(names(hset).collect::<Vec<_>>(), ["@write", "@hash", "@fast"]);
        let pfdebug = with_implied(HYPERLOGLOG, flags::WRITE | flags::DENYOOM | flags::ADMIN);
        assert_eq!(names(pfdebug).collect::<Vec<_>>().join(" "), "@write @hyperloglog @admin @slow @dangerous");
        let eval_ro = with_implied(SCRIPTING, flags::READONLY | flags::NOSCRIPT);
        assert_eq!(names(eval_ro).collect::<Vec<_>>().join(" "), "@slow @scripting");
        assert_eq!(by_name(b"SortedSet"), Some(SORTEDSET));
        assert_eq!(by_name(b"@read"), None, "named without the @, as Redis takes it");
    }
}
