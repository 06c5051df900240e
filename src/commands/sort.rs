//! SORT and SORT_RO, following Redis's sort.c: the same option parsing, the same LIMIT clamping,
//! the same comparison (numeric with ties broken by the element, or ALPHA), and the same sorts
//! (`engine::csort`), so results match Redis's even where elements compare equal.
//!
//! BY and GET patterns name other keys (`weight_*`, `obj_*->field`), unknown until the elements are
//! read. A SORT that uses them locks every shard of the database, in shard order like every
//! multi-key command, so it sees (and STORE writes) one consistent state, as Redis's single thread
//! does; a plain SORT locks only its source and destination.

use std::cmp::Ordering;

use super::args::{is, parse_int};
use super::collection::{limits, Collection};
use super::{CmdError, Ctx};
use crate::engine::csort::{msort, pqsort};
use crate::engine::keyspace::LockedShards;
use crate::engine::{KeyHash, List, Shard, ShardGuard, Value};
use crate::notify;
use crate::resp::{Args, Reply};

/// SORT key [BY pattern] [LIMIT offset count] [GET pattern [GET pattern ...]] [ASC | DESC] [ALPHA]
/// [STORE destination]
///
/// # Returns
/// The sorted elements (or what the GET patterns fetch for them); with STORE, the length of the
/// list stored.
///
/// # Errors
/// `ERR One or more scores can't be converted into double` when sorting numerically.
pub fn sort(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    sort_generic(ctx, args, false)
}

/// SORT_RO key [BY pattern] [LIMIT offset count] [GET pattern [GET pattern ...]] [ASC | DESC] [ALPHA]
pub fn sort_ro(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    sort_generic(ctx, args, true)
}

/// The key positions of SORT as Redis's sortGetKeys finds them: the source and the last STORE
/// destination, skipping the arguments of LIMIT, GET and BY.
pub fn sort_keys(args: Args) -> Vec<usize> {
    let mut keys = vec![1];
    let mut store = None;
    let mut i = 2;
    while i < args.len() {
        let word = args.get(i);
        if is(word, "LIMIT") {
            i += 2;
        } else if is(word, "GET") || is(word, "BY") {
            i += 1;
        } else if is(word, "STORE") && i + 1 < args.len() {
            // Not skipped: Redis looks at the argument after STORE as an option too.
            store = Some(i + 1);
        }
        i += 1;
    }
    keys.extend(store);
    keys
}

/// The key positions of SORT_RO: only the source (its BY and GET patterns name no declared keys).
pub fn sort_ro_keys(_args: Args) -> Vec<usize> {
    vec![1]
}

/// The text C string functions see: everything before the first NUL byte.
fn c_str(bytes: &[u8]) -> &[u8] {
    bytes.iter().position(|&b| b == 0).map_or(bytes, |end| &bytes[..end])
}

/// Parsed options.
struct SortArgs<'a> {
    desc: bool,
    alpha: bool,
    limit_start: i64,
    limit_count: i64,
    store: Option<&'a [u8]>,
    by: Option<&'a [u8]>,
    /// A BY pattern without `*` (such as `nosort`): keep the native order.
    dont_sort: bool,
    gets: Vec<&'a [u8]>,
}

fn parse_sort_args(args: Args<'_>, readonly: bool) -> Result<SortArgs<'_>, CmdError> {
    let mut parsed =
        SortArgs { desc: false, alpha: false, limit_start: 0, limit_count: -1, store: None, by: None, dont_sort: false, gets: Vec::new() };
    let mut j = 2;
    while j < args.len() {
        let word = args.get(j);
        let left = args.len() - j - 1;
        if is(word, "ASC") {
            parsed.desc = false;
        } else if is(word, "DESC") {
            parsed.desc = true;
        } else if is(word, "ALPHA") {
            parsed.alpha = true;
        } else if is(word, "LIMIT") && left >= 2 {
            parsed.limit_start = parse_int(args.get(j + 1))?;
            parsed.limit_count = parse_int(args.get(j + 2))?;
            j += 2;
        } else if !readonly && is(word, "STORE") && left >= 1 {
            parsed.store = Some(args.get(j + 1));
            j += 1;
        } else if is(word, "BY") && left >= 1 {
            let pattern = args.get(j + 1);
            parsed.by = Some(pattern);
            // Once set it stays set, even if a later BY has a `*`.
            if !c_str(pattern).contains(&b'*') {
                parsed.dont_sort = true;
            }
            j += 1;
        } else if is(word, "GET") && left >= 1 {
            parsed.gets.push(args.get(j + 1));
            j += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    Ok(parsed)
}

/// The shards a SORT holds: those of its keys, or the whole database when patterns may name any key.
enum Held<'a> {
    Keys(LockedShards<'a>),
    Whole(Vec<ShardGuard<'a>>),
}

impl Held<'_> {
    fn shard(&mut self, db: usize, hash: KeyHash) -> &mut Shard {
        match self {
            Held::Keys(locked) => locked.shard(db, hash),
            Held::Whole(guards) => &mut guards[hash.shard()],
        }
    }
}

/// Reads keys for BY and GET patterns (lookupKeyByPattern).
struct Lookup<'a> {
    held: Held<'a>,
    db: usize,
    now: u64,
    touch: bool,
    /// Keyspace hits and misses, as each pattern lookup counts in Redis.
    hits: u64,
    misses: u64,
}

impl Lookup<'_> {
    /// What `pattern` names for element `subst`: the element itself for `#`, else the string at the
    /// key with `*` replaced by the element, or a field of the hash there with `key->field`.
    fn get(&mut self, pattern: &[u8], subst: &[u8]) -> Option<Vec<u8>> {
        // Redis scans the pattern with C string functions.
        let text = c_str(pattern);
        if text == b"#" {
            return Some(subst.to_vec());
        }
        let star = text.iter().position(|&b| b == b'*')?;
        let arrow = text[star + 1..].windows(2).position(|w| w == b"->").map(|at| star + 1 + at);
        let field = arrow.filter(|&at| at + 2 < text.len()).map(|at| &pattern[at + 2..]);
        let postfix_end = field.map_or(pattern.len(), |f| pattern.len() - f.len() - 2);
        let mut key = Vec::with_capacity(pattern.len() + subst.len());
        key.extend_from_slice(&pattern[..star]);
        key.extend_from_slice(subst);
        key.extend_from_slice(&pattern[star + 1..postfix_end]);
        let hash = KeyHash::of(&key);
        let shard = self.held.shard(self.db, hash);
        let entry = if self.touch { shard.touch(hash, &key, self.now) } else { shard.get(hash, &key, self.now) };
        if entry.is_some() {
            self.hits += 1;
        } else {
            self.misses += 1;
        }
        match (entry?.value(), field) {
            (Value::Hash(h), Some(field)) => h.get(field).map(<[u8]>::to_vec),
            (value, None) => value.as_string().map(|s| s.into_owned()),
            _ => None,
        }
    }
}

/// strtod as sort.c checks it: leading spaces allowed, nothing after the number, no NaN, no
/// overflow or underflow; an empty string reads as 0.
fn sort_score(text: &[u8]) -> Option<f64> {
    let text = c_str(text);
    if text.is_empty() {
        return Some(0.0);
    }
    let start = text.iter().position(|b| !matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'))?;
    super::zsets::parse_score(&text[start..])
}

/// One element being sorted (redisSortObject).
#[derive(Clone)]
struct Item {
    element: Vec<u8>,
    score: f64,
    /// The BY value of an ALPHA sort; `None` when the pattern found nothing.
    by_value: Option<Vec<u8>>,
}

fn sort_generic(ctx: &mut Ctx, args: Args, readonly: bool) -> Result<Reply, CmdError> {
    let mut opts = parse_sort_args(args, readonly)?;
    let key = args.get(1);
    let db = ctx.session.db;
    let (now, touch, limits) = (ctx.now_ms, ctx.touches(), limits(ctx));
    let patterns = opts.by.is_some_and(|p| c_str(p).contains(&b'*')) || opts.gets.iter().any(|g| c_str(g) != b"#");
    let shared = ctx.shared;
    let held = if patterns {
        Held::Whole(shared.keyspace.db(db).lock_all())
    } else {
        Held::Keys(shared.keyspace.lock_keys(std::iter::once(key).chain(opts.store).map(|k| (db, KeyHash::of(k)))))
    };
    let mut lookup = Lookup { held, db, now, touch, hits: 0, misses: 0 };

    // The elements in their native order: list order, set order, sorted set by rank.
    let hash = KeyHash::of(key);
    let shard = lookup.held.shard(db, hash);
    let entry = if touch { shard.touch(hash, key, now) } else { shard.get(hash, key, now) };
    ctx.record_lookup(entry.is_some());
    let (elements, ordered): (Vec<Vec<u8>>, bool) = match entry.map(|e| e.value()) {
        None => (Vec::new(), true),
        Some(Value::List(list)) => (list.iter().map(<[u8]>::to_vec).collect(), true),
        Some(Value::Set(set)) => (set.iter().map(|m| m.into_owned()).collect(), false),
        Some(Value::ZSet(zset)) => (zset.range(0, zset.len()).into_iter().map(|(m, _)| m.to_vec()).collect(), true),
        Some(_) => return Err(CmdError::WrongType),
    };
    // A set's order is its hash table's: with STORE, sort it so the stored list is deterministic.
    if opts.dont_sort && !ordered && opts.store.is_some() {
        opts.dont_sort = false;
        opts.alpha = true;
        opts.by = None;
    }

    let len = elements.len() as i64;
    let mut start = opts.limit_start.max(0);
    let mut end = if opts.limit_count < 0 { len - 1 } else { start.saturating_add(opts.limit_count) - 1 };
    if start >= len {
        start = len - 1;
        end = len - 2;
    }
    end = end.min(len - 1);

    let mut items: Vec<Item> = if opts.dont_sort && ordered {
        // Native order, reversed for DESC, cut to the LIMIT range here (sort.c does the same).
        let in_order: Box<dyn Iterator<Item = Vec<u8>>> =
            if opts.desc { Box::new(elements.into_iter().rev()) } else { Box::new(elements.into_iter()) };
        let taken = (end - start + 1).max(0) as usize;
        let items = in_order.skip(start.max(0) as usize).take(taken).map(|element| Item { element, score: 0.0, by_value: None }).collect();
        if end >= start {
            end -= start;
            start = 0;
        }
        items
    } else {
        elements.into_iter().map(|element| Item { element, score: 0.0, by_value: None }).collect()
    };

    let mut conversion_error = false;
    if !opts.dont_sort {
        for item in &mut items {
            let by_value = match opts.by {
                Some(pattern) => match lookup.get(pattern, &item.element) {
                    Some(value) => value,
                    None => continue,
                },
                None => item.element.clone(),
            };
            if opts.alpha {
                if opts.by.is_some() {
                    item.by_value = Some(by_value);
                }
            } else {
                match sort_score(&by_value) {
                    Some(score) => item.score = score,
                    None => conversion_error = true,
                }
            }
        }
        let (alpha, by_pattern, binary, desc) = (opts.alpha, opts.by.is_some(), opts.store.is_some(), opts.desc);
        let mut cmp = |a: &Item, b: &Item| {
            let order = compare(a, b, alpha, by_pattern, binary);
            if desc {
                order.reverse()
            } else {
                order
            }
        };
        if by_pattern && (start != 0 || end != items.len() as i64 - 1) {
            pqsort(&mut items, &mut cmp, start, end);
        } else {
            msort(&mut items, &mut cmp);
        }
    }
    if conversion_error {
        return Err(CmdError::err("One or more scores can't be converted into double"));
    }

    let range = if end >= start { &items[start as usize..=end as usize] } else { &[][..] };
    let mut output: Vec<Option<Vec<u8>>> = Vec::with_capacity(range.len() * opts.gets.len().max(1));
    for item in range {
        if opts.gets.is_empty() {
            output.push(Some(item.element.clone()));
        }
        for pattern in &opts.gets {
            output.push(lookup.get(pattern, &item.element));
        }
    }
    let (hits, misses) = (lookup.hits, lookup.misses);
    let reply = match opts.store {
        None => Reply::Array(output.into_iter().map(|v| v.map_or(Reply::Nil, |v| Reply::bulk(&v))).collect()),
        Some(dest) => {
            let hd = KeyHash::of(dest);
            let shard = lookup.held.shard(db, hd);
            let stored = output.len();
            let event = if stored > 0 {
                let mut list = List::new();
                for value in &output {
                    // A GET that found nothing stores an empty string.
                    list.push_back(value.as_deref().unwrap_or_default(), &limits);
                }
                shard.set(hd, dest, list.into_value(), None, now);
                Some((notify::LIST, "sortstore"))
            } else {
                shard.remove(hd, dest, now).map(|_| (notify::GENERIC, "del"))
            };
            drop(lookup);
            if let Some((class, event)) = event {
                ctx.notify(class, event, dest);
            }
            Reply::from(stored)
        }
    };
    ctx.hits += hits;
    ctx.misses += misses;
    Ok(reply)
}

/// sortCompare, ascending.
fn compare(a: &Item, b: &Item, alpha: bool, by_pattern: bool, binary: bool) -> Ordering {
    // Without STORE Redis compares with strcoll on C strings (byte order in the C and C.UTF-8
    // locales); with STORE it compares binary-safe, so the stored result never depends on the locale.
    let text_cmp = |x: &[u8], y: &[u8]| if binary { x.cmp(y) } else { c_str(x).cmp(c_str(y)) };
    if !alpha {
        return if a.score > b.score {
            Ordering::Greater
        } else if a.score < b.score {
            Ordering::Less
        } else {
            // Equal scores: by element, so the result is deterministic.
            a.element.cmp(&b.element)
        };
    }
    if !by_pattern {
        return text_cmp(&a.element, &b.element);
    }
    match (&a.by_value, &b.by_value) {
        (Some(x), Some(y)) => text_cmp(x, y),
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
    }
}

// The command table of this family, joined by `commands::registry`. Its imports stay here, beside
// the rows, so that the family's table and its handlers change independently.

use super::acl;
use super::flags::{DENYOOM, READONLY, WRITE};
use super::table::Command;

/// The SORT commands, in the order COMMAND lists them.
pub(super) static COMMANDS: &[Command] = &[
    Command::new("sort", -2, sort)
        .flags(WRITE | DENYOOM)
        .keys(1, 1, 1)
        .acl(acl::SET | acl::SORTEDSET | acl::LIST | acl::DANGEROUS)
        .movable_keys(sort_keys),
    // Redis flags SORT_RO movablekeys for its BY/GET key spec, though only the source is a key.
    Command::new("sort_ro", -2, sort_ro)
        .flags(READONLY)
        .keys(1, 1, 1)
        .acl(acl::SET | acl::SORTEDSET | acl::LIST | acl::DANGEROUS)
        .movable_keys(sort_ro_keys),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_read_like_strtod() {
        assert_eq!(sort_score(b""), Some(0.0));
        assert_eq!(sort_score(b" 1.5"), Some(1.5));
        assert_eq!(sort_score(b"1.5 "), None);
        assert_eq!(sort_score(b"   "), None);
        assert_eq!(sort_score(b"nan"), None);
        assert_eq!(sort_score(b"1e400"), None);
        assert_eq!(sort_score(b"2\0junk"), Some(2.0));
        assert_eq!(sort_score(b"0x10"), Some(16.0));
    }
}
