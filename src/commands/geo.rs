//! GEO commands. A geospatial index is a sorted set whose scores are 52-bit geohashes
//! (`engine::geohash`), so these commands read and write sorted sets and every ZSET command works
//! on them too.
//!
//! Searches follow Redis's geo.c step by step: the same nine geohash boxes are scanned in the same
//! order, members are checked with the same floating-point formulas, and results are sorted with the
//! same sorts (`engine::csort`), so members, their order (ties included) and COUNT ANY cut-offs
//! match Redis's.

use std::cmp::Ordering;

use super::args::{is, parse_int};
use super::collection::{get, get_or_create, limits};
use super::zsets::{notify_store, parse_score, read, store};
use super::{CmdError, Ctx};
use crate::engine::csort::{msort, pqsort};
use crate::engine::geohash::{self, Extent, Shape};
use crate::engine::{KeyHash, ZSet};
use crate::notify;
use crate::resp::{Args, Reply};

/// A number argument as Redis's `getDoubleFromObjectOrReply` reads it; `message` replaces the
/// default error text.
fn number(arg: &[u8], message: Option<&'static str>) -> Result<f64, CmdError> {
    parse_score(arg).ok_or_else(|| message.map_or(CmdError::NotFloat, CmdError::err))
}

/// `longitude latitude` at `at` (extractLongLatOrReply).
fn lon_lat(args: Args, at: usize) -> Result<(f64, f64), CmdError> {
    let lon = number(args.get(at), None)?;
    let lat = number(args.get(at + 1), None)?;
    if !geohash::valid_lon_lat(lon, lat) {
        return Err(CmdError::err(format!("invalid longitude,latitude pair {lon:.6},{lat:.6}")));
    }
    Ok((lon, lat))
}

/// Meters per unit (extractUnitOrReply).
fn unit(arg: &[u8]) -> Result<f64, CmdError> {
    let factor = [("m", 1.0), ("km", 1000.0), ("ft", 0.3048), ("mi", 1609.34)].into_iter().find(|(name, _)| is(arg, name));
    factor.map(|(_, f)| f).ok_or_else(|| CmdError::err("unsupported unit provided. please use M, KM, FT, MI"))
}

/// `radius unit` at `at` (extractDistanceOrReply).
fn radius_arg(args: Args, at: usize) -> Result<(Extent, f64), CmdError> {
    let radius = number(args.get(at), Some("need numeric radius"))?;
    if radius < 0.0 {
        return Err(CmdError::err("radius cannot be negative"));
    }
    Ok((Extent::Radius(radius), unit(args.get(at + 1))?))
}

/// `width height unit` at `at` (extractBoxOrReply).
fn box_arg(args: Args, at: usize) -> Result<(Extent, f64), CmdError> {
    let width = number(args.get(at), Some("need numeric width"))?;
    let height = number(args.get(at + 1), Some("need numeric height"))?;
    if height < 0.0 || width < 0.0 {
        return Err(CmdError::err("height or width cannot be negative"));
    }
    Ok((Extent::Box { width, height }, unit(args.get(at + 2))?))
}

/// The position of `member`, the centre of a FROMMEMBER / BYMEMBER search.
fn member_position(zset: &ZSet, member: &[u8]) -> Result<(f64, f64), CmdError> {
    zset.score(member).map(geohash::decode_score).ok_or_else(|| CmdError::err("could not decode requested zset member"))
}

/// `(long long)x` on x86-64: NaN and out-of-range values become i64::MIN, where `as` would saturate.
fn c_long_long(x: f64) -> i64 {
    if (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&x) {
        x as i64
    } else {
        i64::MIN
    }
}

/// A distance with 4 decimals, as a bulk string in both protocols. Redis 7.0.15 formats it with
/// `fixedpoint_d2string`, not `%.4f`: the value times 10^4 is rounded as a double (ties to even)
/// and then printed, which differs from `%.4f` in the last digit when the product lands on .5.
fn distance_reply(distance: f64) -> Reply {
    if distance == 0.0 {
        return Reply::bulk(b"0.0000");
    }
    let scaled = (distance * 10_000.0).round_ties_even();
    // llrint gives LLONG_MIN for NaN and out-of-range values, as the conversion does.
    let fixed = c_long_long(scaled);
    let sign = if fixed < 0 { "-" } else { "" };
    let magnitude = fixed.unsigned_abs();
    Reply::bulk_string(format!("{sign}{}.{:04}", magnitude / 10_000, magnitude % 10_000))
}

/// GEOADD key [NX | XX] [CH] longitude latitude member [longitude latitude member ...]
///
/// # Returns
/// The number of members added (plus those whose position changed, with CH).
pub fn geoadd(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let (mut nx, mut xx, mut ch) = (false, false, false);
    let mut at = 2;
    while at < args.len() {
        let word = args.get(at);
        if is(word, "NX") {
            nx = true;
        } else if is(word, "XX") {
            xx = true;
        } else if is(word, "CH") {
            ch = true;
        } else {
            break;
        }
        at += 1;
    }
    let elements = args.len() - at;
    if !elements.is_multiple_of(3) || elements == 0 || (nx && xx) {
        return Err(CmdError::Syntax);
    }
    let mut items = Vec::with_capacity(elements / 3);
    for i in (at..args.len()).step_by(3) {
        let (lon, lat) = lon_lat(args, i)?;
        let score = geohash::score_of(lon, lat).ok_or(CmdError::NotFloat)?;
        items.push((score as f64, args.get(i + 2)));
    }
    let key = args.get(1);
    let hash = KeyHash::of(key);
    let limits = limits(ctx);
    let mut shard = ctx.db().lock(hash);
    if xx && get::<ZSet>(&mut shard, hash, key, ctx.now_ms, ctx.touches())?.is_none() {
        return Ok(Reply::Int(0));
    }
    let mut zset = get_or_create::<ZSet>(&mut shard, hash, key, ctx.now_ms, ctx.touches())?;
    let (mut added, mut changed) = (0, 0);
    for (score, member) in items {
        let (new, updated) = zset.upsert(member, &limits, |current| match current {
            Some(current) if !nx && current != score => (Some(score), (0, 1)),
            None if !xx => (Some(score), (1, 0)),
            _ => (None, (0, 0)),
        });
        added += new;
        changed += updated;
    }
    drop(shard);
    if added + changed > 0 {
        // GEOADD runs as ZADD in Redis, and reports itself as one.
        ctx.notify(notify::ZSET, "zadd", key);
    }
    Ok(Reply::Int(if ch { added + changed } else { added }))
}

/// GEODIST key member1 member2 [M | KM | FT | MI]
///
/// # Returns
/// The distance with 4 decimals, or nil when a member (or the key) is missing.
pub fn geodist(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let to_meters = match args.len() {
        4 => 1.0,
        5 => unit(args.get(4))?,
        _ => return Err(CmdError::Syntax),
    };
    read(ctx, args.get(1), |z| {
        let found = z.and_then(|z| Some((z.score(args.get(2))?, z.score(args.get(3))?)));
        found.map_or(Reply::Nil, |(a, b)| {
            let ((lon1, lat1), (lon2, lat2)) = (geohash::decode_score(a), geohash::decode_score(b));
            distance_reply(geohash::distance(lon1, lat1, lon2, lat2) / to_meters)
        })
    })
}

/// One reply per member of `args[2..]`: `missing` when the member (or the key) is absent.
fn per_member(ctx: &mut Ctx, args: Args, missing: Reply, reply: impl Fn(f64) -> Reply) -> Result<Reply, CmdError> {
    read(ctx, args.get(1), |z| {
        Reply::Array(args.iter().skip(2).map(|m| z.as_ref().and_then(|z| z.score(m)).map_or(missing.clone(), &reply)).collect())
    })
}

/// GEOHASH key [member [member ...]]
///
/// # Returns
/// Standard 11-character geohash strings (nil for missing members).
pub fn geohash(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    per_member(ctx, args, Reply::Nil, |score| Reply::bulk(&geohash::geohash_string(score)))
}

/// GEOPOS key [member [member ...]]
///
/// # Returns
/// `[longitude, latitude]` per member (a nil array for missing ones).
pub fn geopos(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    per_member(ctx, args, Reply::NilArray, |score| {
        let (lon, lat) = geohash::decode_score(score);
        Reply::Array(vec![Reply::HumanDouble(lon), Reply::HumanDouble(lat)])
    })
}

/// Which search command runs (Redis's RADIUS_COORDS / RADIUS_MEMBER / GEOSEARCH flags).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Form {
    Radius,
    RadiusByMember,
    Search,
}

#[derive(Clone, Copy)]
struct Variant {
    form: Form,
    /// STORE/STOREDIST accepted (GEORADIUS and GEORADIUSBYMEMBER, not their _RO forms).
    store_option: bool,
    /// GEOSEARCHSTORE: the destination is argument 1.
    search_store: bool,
}

impl Variant {
    fn src_index(self) -> usize {
        if self.search_store {
            2
        } else {
            1
        }
    }

    /// Where the options start.
    fn base_args(self) -> usize {
        match self.form {
            Form::Radius => 6,
            Form::RadiusByMember => 5,
            Form::Search => self.src_index() + 1,
        }
    }
}

/// A parsed search.
#[derive(Default)]
struct Query<'a> {
    center: Option<(f64, f64)>,
    extent: Option<(Extent, f64)>,
    with_dist: bool,
    with_hash: bool,
    with_coord: bool,
    /// `Some(descending)` when results are sorted.
    sort: Option<bool>,
    /// 0: no limit.
    count: i64,
    any: bool,
    /// Destination and STOREDIST.
    store: Option<(&'a [u8], bool)>,
}

/// Parses a search the way georadiusGeneric does, errors in its order. `zset` is the source (the
/// caller has already type-checked it); with no source, member lookups are skipped but the
/// options are still checked so the reply can depend on STORE.
fn parse_query<'a>(args: Args<'a>, variant: Variant, zset: Option<&ZSet>) -> Result<Query<'a>, CmdError> {
    let mut query = Query::default();
    match variant.form {
        Form::Radius => {
            query.center = Some(lon_lat(args, 2)?);
            query.extent = Some(radius_arg(args, 4)?);
        }
        Form::RadiusByMember => {
            if let Some(zset) = zset {
                query.center = Some(member_position(zset, args.get(2))?);
                query.extent = Some(radius_arg(args, 3)?);
            }
        }
        Form::Search => {}
    }
    let search = variant.form == Form::Search;
    let (mut from_member, mut from_lon_lat, mut by_radius, mut by_box, mut store_dist) = (false, false, false, false, false);
    let mut i = variant.base_args();
    while i < args.len() {
        let arg = args.get(i);
        let left = args.len() - i - 1;
        if is(arg, "WITHDIST") {
            query.with_dist = true;
        } else if is(arg, "WITHHASH") {
            query.with_hash = true;
        } else if is(arg, "WITHCOORD") {
            query.with_coord = true;
        } else if is(arg, "ANY") {
            query.any = true;
        } else if is(arg, "ASC") {
            query.sort = Some(false);
        } else if is(arg, "DESC") {
            query.sort = Some(true);
        } else if is(arg, "COUNT") && left >= 1 {
            query.count = parse_int(args.get(i + 1))?;
            if query.count <= 0 {
                return Err(CmdError::err("COUNT must be > 0"));
            }
            i += 1;
        } else if (is(arg, "STORE") || is(arg, "STOREDIST")) && left >= 1 && variant.store_option && !search {
            query.store = Some((args.get(i + 1), is(arg, "STOREDIST")));
            i += 1;
        } else if is(arg, "STOREDIST") && variant.search_store {
            store_dist = true;
        } else if is(arg, "FROMMEMBER") && left >= 1 && search && !from_lon_lat {
            if let Some(zset) = zset {
                query.center = Some(member_position(zset, args.get(i + 1))?);
            }
            from_member = true;
            i += 1;
        } else if is(arg, "FROMLONLAT") && left >= 2 && search && !from_member {
            query.center = Some(lon_lat(args, i + 1)?);
            from_lon_lat = true;
            i += 2;
        } else if is(arg, "BYRADIUS") && left >= 2 && search && !by_box {
            query.extent = Some(radius_arg(args, i + 1)?);
            by_radius = true;
            i += 2;
        } else if is(arg, "BYBOX") && left >= 3 && search && !by_radius {
            query.extent = Some(box_arg(args, i + 1)?);
            by_box = true;
            i += 3;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    if variant.search_store {
        query.store = Some((args.get(1), store_dist));
    }
    if query.store.is_some() && (query.with_dist || query.with_hash || query.with_coord) {
        let what = if variant.search_store { "GEOSEARCHSTORE" } else { "STORE option in GEORADIUS" };
        return Err(CmdError::err(format!("{what} is not compatible with WITHDIST, WITHHASH and WITHCOORD options")));
    }
    // Redis names the command as the client typed it.
    let name = String::from_utf8_lossy(args.get(0));
    if search && !(from_member || from_lon_lat) {
        return Err(CmdError::err(format!("exactly one of FROMMEMBER or FROMLONLAT can be specified for {name}")));
    }
    if search && !(by_radius || by_box) {
        return Err(CmdError::err(format!("exactly one of BYRADIUS and BYBOX can be specified for {name}")));
    }
    if query.any && query.count == 0 {
        return Err(CmdError::err("the ANY argument requires COUNT argument"));
    }
    // Without ANY, COUNT means the nearest ones: sort ascending unless told otherwise.
    if query.count != 0 && query.sort.is_none() && !query.any {
        query.sort = Some(false);
    }
    Ok(query)
}

/// A member found by a search.
struct Point {
    lon: f64,
    lat: f64,
    /// Meters from the centre.
    dist: f64,
    score: f64,
    member: Vec<u8>,
}

/// Scans the boxes covering `shape` (membersOfAllNeighbors) and keeps the members inside it, in the
/// order Redis finds them; stops once `limit` (0: none) were found, as COUNT ... ANY does.
fn find_points(zset: &ZSet, shape: &Shape, limit: usize) -> Vec<Point> {
    let mut found = Vec::new();
    let full = |found: &Vec<Point>| limit > 0 && found.len() >= limit;
    for (min, max) in shape.score_ranges() {
        if full(&found) {
            break;
        }
        let (min, max) = (min as f64, max as f64);
        let start = zset.count_before(|s, _| s < min);
        let end = zset.count_before(|s, _| s < max);
        for (member, score) in zset.range(start, end) {
            let (lon, lat) = geohash::decode_score(score);
            if let Some(dist) = shape.distance_if_inside(lon, lat) {
                found.push(Point { lon, lat, dist, score, member: member.to_vec() });
            }
            if full(&found) {
                break;
            }
        }
    }
    found
}

/// The positions of the first `returned` results in reply order, sorted as Redis sorts them: glibc's
/// stable qsort for all results, Redis's pqsort when COUNT cuts them.
fn order(points: &[Point], sort: Option<bool>, returned: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..points.len()).collect();
    if let Some(descending) = sort {
        // sort_gp_asc / sort_gp_desc: NaN distances compare as "less" either way, as in C.
        let mut cmp = |a: &usize, b: &usize| {
            let (x, y) = (points[*a].dist, points[*b].dist);
            let asc = if x > y {
                Ordering::Greater
            } else if x == y {
                Ordering::Equal
            } else {
                Ordering::Less
            };
            if descending {
                asc.reverse()
            } else {
                asc
            }
        };
        if returned == points.len() {
            msort(&mut order, &mut cmp);
        } else {
            pqsort(&mut order, &mut cmp, 0, returned as i64 - 1);
        }
    }
    order.truncate(returned);
    order
}

/// GEORADIUS, GEORADIUSBYMEMBER, their _RO forms, GEOSEARCH and GEOSEARCHSTORE (georadiusGeneric).
fn search_generic(ctx: &mut Ctx, args: Args, variant: Variant) -> Result<Reply, CmdError> {
    let src = args.get(variant.src_index());
    let db = ctx.session.db;
    let (now, touch, limits) = (ctx.now_ms, ctx.touches(), limits(ctx));
    // Any destination the options may name is locked with the source, so the search and the store
    // happen as one step, as in Redis.
    let mut keys = vec![src];
    if variant.search_store {
        keys.push(args.get(1));
    } else if variant.store_option {
        keys.extend(radius_destination(args, variant.base_args()).map(|i| args.get(i)));
    }
    let shared = ctx.shared;
    let mut locked = shared.keyspace.lock_keys(keys.iter().map(|k| (db, KeyHash::of(k))));
    let hs = KeyHash::of(src);
    let zset = get::<ZSet>(locked.shard(db, hs), hs, src, now, touch)?;
    ctx.record_lookup(zset.is_some());
    let query = parse_query(args, variant, zset)?;
    let found = match zset {
        Some(zset) => {
            let (Some((lon, lat)), Some((extent, conversion))) = (query.center, query.extent) else {
                return Err(CmdError::Syntax);
            };
            let shape = Shape { lon, lat, extent, conversion };
            let limit = if query.any { usize::try_from(query.count).unwrap_or(usize::MAX) } else { 0 };
            Some((find_points(zset, &shape, limit), conversion))
        }
        None => None,
    };
    let Some((points, conversion)) = found else {
        // No source: an empty answer, or the destination deleted.
        let Some((dest, _)) = query.store else {
            return Ok(Reply::Array(Vec::new()));
        };
        let hd = KeyHash::of(dest);
        let deleted = locked.shard(db, hd).remove(hd, dest, now).is_some();
        drop(locked);
        if deleted {
            ctx.notify(notify::GENERIC, "del", dest);
        }
        return Ok(Reply::Int(0));
    };
    let returned = if query.count == 0 || (points.len() as u64) < query.count as u64 { points.len() } else { query.count as usize };
    let order = order(&points, query.sort, returned);
    if let Some((dest, store_dist)) = query.store {
        let mut result = ZSet::new();
        for &i in &order {
            let point = &points[i];
            result.insert(&point.member, if store_dist { point.dist / conversion } else { point.score }, &limits);
        }
        let event = if variant.form == Form::Search { "geosearchstore" } else { "georadiusstore" };
        let hd = KeyHash::of(dest);
        let (_, event) = store(locked.shard(db, hd), hd, dest, result, now, event);
        drop(locked);
        notify_store(ctx, dest, event);
        return Ok(Reply::from(returned));
    }
    drop(locked);
    let options = usize::from(query.with_dist) + usize::from(query.with_hash) + usize::from(query.with_coord);
    let items = order.into_iter().map(|i| {
        let point = &points[i];
        let member = Reply::bulk(&point.member);
        if options == 0 {
            return member;
        }
        let mut item = Vec::with_capacity(options + 1);
        item.push(member);
        if query.with_dist {
            item.push(distance_reply(point.dist / conversion));
        }
        if query.with_hash {
            item.push(Reply::Int(c_long_long(point.score)));
        }
        if query.with_coord {
            item.push(Reply::Array(vec![Reply::HumanDouble(point.lon), Reply::HumanDouble(point.lat)]));
        }
        Reply::Array(item)
    });
    Ok(Reply::Array(items.collect()))
}

/// GEORADIUS key longitude latitude radius M|KM|FT|MI [WITHCOORD] [WITHDIST] [WITHHASH]
/// [COUNT count [ANY]] [ASC | DESC] [STORE key | STOREDIST key]
pub fn georadius(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    search_generic(ctx, args, Variant { form: Form::Radius, store_option: true, search_store: false })
}

/// GEORADIUS_RO key longitude latitude radius M|KM|FT|MI [WITHCOORD] [WITHDIST] [WITHHASH]
/// [COUNT count [ANY]] [ASC | DESC]
pub fn georadius_ro(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    search_generic(ctx, args, Variant { form: Form::Radius, store_option: false, search_store: false })
}

/// GEORADIUSBYMEMBER key member radius M|KM|FT|MI [WITHCOORD] [WITHDIST] [WITHHASH]
/// [COUNT count [ANY]] [ASC | DESC] [STORE key | STOREDIST key]
pub fn georadiusbymember(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    search_generic(ctx, args, Variant { form: Form::RadiusByMember, store_option: true, search_store: false })
}

/// GEORADIUSBYMEMBER_RO key member radius M|KM|FT|MI [WITHCOORD] [WITHDIST] [WITHHASH]
/// [COUNT count [ANY]] [ASC | DESC]
pub fn georadiusbymember_ro(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    search_generic(ctx, args, Variant { form: Form::RadiusByMember, store_option: false, search_store: false })
}

/// GEOSEARCH key FROMMEMBER member | FROMLONLAT longitude latitude
/// BYRADIUS radius M|KM|FT|MI | BYBOX width height M|KM|FT|MI [ASC | DESC] [COUNT count [ANY]]
/// [WITHCOORD] [WITHDIST] [WITHHASH]
pub fn geosearch(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    search_generic(ctx, args, Variant { form: Form::Search, store_option: false, search_store: false })
}

/// GEOSEARCHSTORE destination source FROMMEMBER member | FROMLONLAT longitude latitude
/// BYRADIUS radius M|KM|FT|MI | BYBOX width height M|KM|FT|MI [ASC | DESC] [COUNT count [ANY]]
/// [STOREDIST]
///
/// # Returns
/// The number of members stored.
pub fn geosearchstore(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    search_generic(ctx, args, Variant { form: Form::Search, store_option: false, search_store: true })
}

/// The position of the destination GEORADIUS(BYMEMBER) writes: the last STORE or STOREDIST, found
/// by skipping options as [`parse_query`] does (when the options do not parse, nothing is written).
fn radius_destination(args: Args, base: usize) -> Option<usize> {
    let mut destination = None;
    let mut i = base;
    while i + 1 < args.len() {
        let word = args.get(i);
        if is(word, "STORE") || is(word, "STOREDIST") {
            destination = Some(i + 1);
            i += 1;
        } else if is(word, "COUNT") {
            i += 1;
        }
        i += 1;
    }
    destination
}

/// The keys of GEORADIUS(BYMEMBER): the source, then the first STORE and the first STOREDIST
/// destination at or after `start`, as Redis 7.0's key specs find them (COMMAND GETKEYS), then the
/// destination actually written when repeated options make it another one.
fn radius_keys(args: Args, start: usize) -> Vec<usize> {
    let mut keys = vec![1];
    for word in ["STORE", "STOREDIST"] {
        // The keyword search stops before the last argument: a keyword there names no key.
        if let Some(i) = (start..args.len().saturating_sub(1)).find(|&i| is(args.get(i), word)) {
            keys.push(i + 1);
        }
    }
    if let Some(written) = radius_destination(args, start) {
        if !keys.contains(&written) {
            keys.push(written);
        }
    }
    keys
}

/// Key positions of GEORADIUS (options start at 6).
pub fn georadius_keys(args: Args) -> Vec<usize> {
    radius_keys(args, 6)
}

/// Key positions of GEORADIUSBYMEMBER (options start at 5).
pub fn georadiusbymember_keys(args: Args) -> Vec<usize> {
    radius_keys(args, 5)
}

// The command table of this family, joined by `commands::registry`. Its imports stay here, beside
// the rows, so that the family's table and its handlers change independently.

use super::acl;
use super::flags::{DENYOOM, READONLY, WRITE};
use super::table::Command;

/// The geo commands, in the order COMMAND lists them.
pub(super) static COMMANDS: &[Command] = &[
    Command::new("geoadd", -5, geoadd).flags(WRITE | DENYOOM).keys(1, 1, 1).acl(acl::GEO),
    Command::new("geodist", -4, geodist).flags(READONLY).keys(1, 1, 1).acl(acl::GEO),
    Command::new("geohash", -2, geohash).flags(READONLY).keys(1, 1, 1).acl(acl::GEO),
    Command::new("geopos", -2, geopos).flags(READONLY).keys(1, 1, 1).acl(acl::GEO),
    Command::new("georadius", -6, georadius).flags(WRITE | DENYOOM).keys(1, 1, 1).acl(acl::GEO).movable_keys(georadius_keys),
    Command::new("georadius_ro", -6, georadius_ro).flags(READONLY).keys(1, 1, 1).acl(acl::GEO),
    Command::new("georadiusbymember", -5, georadiusbymember)
        .flags(WRITE | DENYOOM)
        .keys(1, 1, 1)
        .acl(acl::GEO)
        .movable_keys(georadiusbymember_keys),
    Command::new("georadiusbymember_ro", -5, georadiusbymember_ro).flags(READONLY).keys(1, 1, 1).acl(acl::GEO),
    Command::new("geosearch", -7, geosearch).flags(READONLY).keys(1, 1, 1).acl(acl::GEO),
    Command::new("geosearchstore", -8, geosearchstore).flags(WRITE | DENYOOM).keys(1, 2, 1).acl(acl::GEO),
];

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// The destination locked before parsing must be the one the parser picks, or the store would
    /// touch a shard that is not locked.
    #[test]
    fn the_locked_destination_is_the_parsed_one() {
        let words = ["WITHDIST", "ASC", "ANY", "COUNT", "2", "STORE", "STOREDIST", "a", "b", "store"];
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let mut stored = 0;
        for _ in 0..3000 {
            let mut line = String::from("GEORADIUS k 1 2 3 m");
            for _ in 0..rng.random_range(0..7) {
                line.push(' ');
                line.push_str(words[rng.random_range(0..words.len())]);
            }
            line.push_str("\r\n");
            let mut request = crate::resp::RequestBuf::default();
            crate::resp::parse_request(
                line.as_bytes(),
                &mut request,
                crate::resp::ParseLimits { max_bulk_len: 1 << 20, unauthenticated: false },
            )
            .expect("request");
            let args = request.args(line.as_bytes());
            let variant = Variant { form: Form::Radius, store_option: true, search_store: false };
            if let Ok(Query { store: Some((dest, _)), .. }) = parse_query(args, variant, None) {
                stored += 1;
                assert_eq!(radius_destination(args, 6).map(|i| args.get(i)), Some(dest), "{line}");
            }
        }
        assert!(stored > 100);
    }
}
