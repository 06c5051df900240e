//! Geohashes as Redis computes them (geohash.c and geohash_helper.c): the 52-bit interleaved score
//! a GEO member is stored with, decoding back to coordinates, the haversine distance, and the nine
//! geohash boxes a radius or box search scans. Every step follows Redis's arithmetic operation by
//! operation, because search results (which members fall in, and the order they are found in)
//! depend on the exact floating-point values. Knows nothing of RESP or sorted sets.

/// Bits per coordinate of a stored score: 26 × 2 = 52 bits, exact in a double.
pub const STEP_MAX: u8 = 26;
pub const LON_MIN: f64 = -180.0;
pub const LON_MAX: f64 = 180.0;
/// The Web Mercator limits (EPSG:900913): latitudes beyond them cannot be indexed.
pub const LAT_MIN: f64 = -85.05112878;
pub const LAT_MAX: f64 = 85.05112878;

use std::cmp::Ordering;

const D_R: f64 = std::f64::consts::PI / 180.0;
const EARTH_RADIUS_IN_METERS: f64 = 6372797.560856;
const MERCATOR_MAX: f64 = 20037726.37;

/// A geohash of `step` bits per coordinate: latitude bits at even positions, longitude at odd.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct HashBits {
    pub bits: u64,
    pub step: u8,
}

impl HashBits {
    /// Redis marks a neighbour excluded from a search by zeroing it.
    fn is_zero(self) -> bool {
        self.bits == 0 && self.step == 0
    }

    /// The score the box starts at, aligned to 52 bits.
    fn align52(self) -> u64 {
        self.bits << (52 - u32::from(self.step) * 2)
    }
}

#[derive(Clone, Copy, Debug)]
struct Range {
    min: f64,
    max: f64,
}

const LON_RANGE: Range = Range { min: LON_MIN, max: LON_MAX };
const LAT_RANGE: Range = Range { min: LAT_MIN, max: LAT_MAX };

#[derive(Clone, Copy, Debug)]
struct Area {
    lon: Range,
    lat: Range,
}

/// Spreads the 32 bits of `x` over the even bits of the result and those of `y` over the odd bits.
fn interleave64(x: u32, y: u32) -> u64 {
    fn spread(v: u32) -> u64 {
        let mut v = u64::from(v);
        v = (v | (v << 16)) & 0x0000_FFFF_0000_FFFF;
        v = (v | (v << 8)) & 0x00FF_00FF_00FF_00FF;
        v = (v | (v << 4)) & 0x0F0F_0F0F_0F0F_0F0F;
        v = (v | (v << 2)) & 0x3333_3333_3333_3333;
        (v | (v << 1)) & 0x5555_5555_5555_5555
    }
    spread(x) | (spread(y) << 1)
}

/// The inverse of [`interleave64`]: even bits in the low half, odd bits in the high half.
fn deinterleave64(interleaved: u64) -> u64 {
    fn squash(v: u64) -> u64 {
        let mut v = v & 0x5555_5555_5555_5555;
        v = (v | (v >> 1)) & 0x3333_3333_3333_3333;
        v = (v | (v >> 2)) & 0x0F0F_0F0F_0F0F_0F0F;
        v = (v | (v >> 4)) & 0x00FF_00FF_00FF_00FF;
        v = (v | (v >> 8)) & 0x0000_FFFF_0000_FFFF;
        (v | (v >> 16)) & 0x0000_0000_FFFF_FFFF
    }
    squash(interleaved) | (squash(interleaved >> 1) << 32)
}

/// geohashEncode: `None` outside the indexable area or the given ranges.
fn encode(lon_range: Range, lat_range: Range, lon: f64, lat: f64, step: u8) -> Option<HashBits> {
    if !(LON_MIN..=LON_MAX).contains(&lon) || !(LAT_MIN..=LAT_MAX).contains(&lat) {
        return None;
    }
    if lat < lat_range.min || lat > lat_range.max || lon < lon_range.min || lon > lon_range.max {
        return None;
    }
    let scale = (1u64 << step) as f64;
    let lat_offset = (lat - lat_range.min) / (lat_range.max - lat_range.min) * scale;
    let lon_offset = (lon - lon_range.min) / (lon_range.max - lon_range.min) * scale;
    // C converts the offsets to uint32_t, truncating; the maximum (2^step) still fits.
    Some(HashBits { bits: interleave64(lat_offset as u32, lon_offset as u32), step })
}

/// geohashDecode over the WGS84 ranges.
fn decode(hash: HashBits) -> Area {
    let separated = deinterleave64(hash.bits);
    let lat_scale = LAT_RANGE.max - LAT_RANGE.min;
    let lon_scale = LON_RANGE.max - LON_RANGE.min;
    let ilato = separated as u32;
    let ilono = (separated >> 32) as u32;
    let cells = (1u64 << hash.step) as f64;
    // `ilato + 1` is 32-bit arithmetic in C: it wraps for a score with every bit set.
    Area {
        lat: Range {
            min: LAT_RANGE.min + (f64::from(ilato) / cells) * lat_scale,
            max: LAT_RANGE.min + (f64::from(ilato.wrapping_add(1)) / cells) * lat_scale,
        },
        lon: Range {
            min: LON_RANGE.min + (f64::from(ilono) / cells) * lon_scale,
            max: LON_RANGE.min + (f64::from(ilono.wrapping_add(1)) / cells) * lon_scale,
        },
    }
}

/// The centre of an area, clamped to the indexable ranges.
fn area_center(area: &Area) -> (f64, f64) {
    let lon = ((area.lon.min + area.lon.max) / 2.0).clamp(LON_MIN, LON_MAX);
    let lat = ((area.lat.min + area.lat.max) / 2.0).clamp(LAT_MIN, LAT_MAX);
    (lon, lat)
}

/// Whether a longitude, latitude pair can be indexed.
pub fn valid_lon_lat(lon: f64, lat: f64) -> bool {
    (LON_MIN..=LON_MAX).contains(&lon) && (LAT_MIN..=LAT_MAX).contains(&lat)
}

/// The sorted-set score GEOADD stores for a valid position.
pub fn score_of(lon: f64, lat: f64) -> Option<u64> {
    encode(LON_RANGE, LAT_RANGE, lon, lat, STEP_MAX).map(HashBits::align52)
}

/// `(uint64_t)score` as Redis's x86-64 build computes it: negative scores wrap around (-1 becomes
/// all ones) and scores of 2^64 or more become 0, where Rust's `as` would saturate.
fn score_bits(score: f64) -> u64 {
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    // cvttsd2si: truncation, or the "integer indefinite" value i64::MIN when out of range.
    let cvt = |x: f64| if (-TWO_63..TWO_63).contains(&x) { x as i64 } else { i64::MIN };
    if score >= TWO_63 {
        (cvt(score - TWO_63) as u64) ^ (1 << 63)
    } else {
        cvt(score) as u64
    }
}

/// The position a member's score stands for (any score decodes, as in Redis).
pub fn decode_score(score: f64) -> (f64, f64) {
    area_center(&decode(HashBits { bits: score_bits(score), step: STEP_MAX }))
}

/// The standard 11-character geohash of a stored score, as GEOHASH prints it: the position is
/// re-encoded over latitudes -90..90 (the standard range, not the Mercator one scores use).
pub fn geohash_string(score: f64) -> [u8; 11] {
    const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let (lon, lat) = decode_score(score);
    let standard = Range { min: -90.0, max: 90.0 };
    let bits = encode(LON_RANGE, standard, lon, lat, STEP_MAX).map_or(0, |h| h.bits);
    let mut out = [b'0'; 11];
    // 52 bits make ten characters; the eleventh is always '0', as in Redis.
    for (i, c) in out.iter_mut().take(10).enumerate() {
        *c = ALPHABET[((bits >> (52 - (i + 1) * 5)) & 0x1f) as usize];
    }
    out
}

/// The distance between two latitudes on a meridian (geohashGetLatDistance): the haversine
/// formula reduces to this when the longitudes are equal.
fn lat_distance(lat1: f64, lat2: f64) -> f64 {
    EARTH_RADIUS_IN_METERS * (lat2 * D_R - lat1 * D_R).abs()
}

/// Haversine great-circle distance in meters (geohashGetDistance, with the shortcut for equal
/// longitudes that Redis 7.0.15 has: it changes the last bit of some distances).
pub fn distance(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    let (lon1r, lon2r) = (lon1 * D_R, lon2 * D_R);
    let v = ((lon2r - lon1r) / 2.0).sin();
    if v == 0.0 {
        return lat_distance(lat1, lat2);
    }
    let (lat1r, lat2r) = (lat1 * D_R, lat2 * D_R);
    let u = ((lat2r - lat1r) / 2.0).sin();
    let a = u * u + lat1r.cos() * lat2r.cos() * v * v;
    2.0 * EARTH_RADIUS_IN_METERS * a.sqrt().asin()
}

/// What a search covers, in the caller's unit; `conversion` turns that unit into meters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Extent {
    Radius(f64),
    Box { width: f64, height: f64 },
}

/// A search area: a centre, an extent and its unit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Shape {
    pub lon: f64,
    pub lat: f64,
    pub extent: Extent,
    pub conversion: f64,
}

impl Shape {
    /// The distance from the centre in meters when the point lies inside the shape
    /// (geohashGetDistanceIfInRadius / geohashGetDistanceIfInRectangle).
    pub fn distance_if_inside(&self, lon: f64, lat: f64) -> Option<f64> {
        match self.extent {
            Extent::Radius(radius) => {
                let radius = radius * self.conversion;
                // A cheap rejection first (most candidates of a box search are outside the circle): the
                // great-circle distance is never less than the distance along the meridian. The margin
                // keeps rounding from rejecting a point the full formula would accept.
                if lat_distance(self.lat, lat) > radius * (1.0 + 1e-9) {
                    return None;
                }
                let d = distance(self.lon, self.lat, lon, lat);
                // Only "farther than the radius" excludes, as in Redis: a NaN distance (antipodes) counts as inside.
                match d.partial_cmp(&radius) {
                    Some(Ordering::Greater) => None,
                    _ => Some(d),
                }
            }
            Extent::Box { width, height } => {
                let (width_m, height_m) = (width * self.conversion, height * self.conversion);
                if lat_distance(lat, self.lat) > height_m / 2.0 || distance(lon, lat, self.lon, lat) > width_m / 2.0 {
                    return None;
                }
                Some(distance(self.lon, self.lat, lon, lat))
            }
        }
    }

    /// The half-open score ranges `[min, max)` to scan, in the order Redis scans them: the centre
    /// box, then north, south, east, west, north-east, north-west, south-east, south-west, minus
    /// the boxes Redis excludes or skips as repeats.
    pub fn score_ranges(&self) -> Vec<(u64, u64)> {
        let boxes = self.boxes();
        let mut ranges = Vec::with_capacity(9);
        let mut last_processed = 0;
        for (i, hash) in boxes.iter().enumerate() {
            if hash.is_zero() {
                continue;
            }
            // Redis compares with the previous box only once one past the centre was scanned.
            if last_processed != 0 && *hash == boxes[last_processed] {
                continue;
            }
            let next = HashBits { bits: hash.bits + 1, step: hash.step };
            ranges.push((hash.align52(), next.align52()));
            last_processed = i;
        }
        ranges
    }

    /// geohashBoundingBox: min lon, min lat, max lon, max lat.
    fn bounding_box(&self) -> [f64; 4] {
        let (half_height, half_width) = match self.extent {
            Extent::Radius(r) => (r, r),
            Extent::Box { width, height } => (height / 2.0, width / 2.0),
        };
        let height = self.conversion * half_height;
        let width = self.conversion * half_width;
        let lat_delta = height / EARTH_RADIUS_IN_METERS / D_R;
        let lon_delta_top = width / EARTH_RADIUS_IN_METERS / ((self.lat + lat_delta) * D_R).cos() / D_R;
        let lon_delta_bottom = width / EARTH_RADIUS_IN_METERS / ((self.lat - lat_delta) * D_R).cos() / D_R;
        // The box's wider edge is the one nearer the equator.
        let lon_delta = if self.lat < 0.0 { lon_delta_bottom } else { lon_delta_top };
        [self.lon - lon_delta, self.lat - lat_delta, self.lon + lon_delta, self.lat + lat_delta]
    }

    /// geohashCalculateAreasByShapeWGS84: the centre box and its eight neighbours, in scan order
    /// (zeroed when excluded).
    fn boxes(&self) -> [HashBits; 9] {
        let [min_lon, min_lat, max_lon, max_lat] = self.bounding_box();
        let radius_meters = match self.extent {
            Extent::Radius(r) => r,
            Extent::Box { width, height } => ((width / 2.0) * (width / 2.0) + (height / 2.0) * (height / 2.0)).sqrt(),
        } * self.conversion;
        let mut steps = estimate_steps(radius_meters, self.lat);
        let (mut hash, mut neighbours) = self.cells(steps);
        let (north, south, east, west) = (decode(neighbours[0]), decode(neighbours[1]), decode(neighbours[2]), decode(neighbours[3]));
        // Near an edge of the search area a neighbour may be too close to cover it: go one level up.
        let too_small = north.lat.max < max_lat || south.lat.min > min_lat || east.lon.max < max_lon || west.lon.min > min_lon;
        if steps > 1 && too_small {
            steps -= 1;
            (hash, neighbours) = self.cells(steps);
        }
        let area = decode(hash);
        // Neighbours order: north, south, east, west, north-east, north-west, south-east, south-west.
        let mut drop = [false; 8];
        if steps >= 2 {
            let mut exclude = |which: [usize; 3]| which.iter().for_each(|&i| drop[i] = true);
            if area.lat.min < min_lat {
                exclude([1, 7, 6]);
            }
            if area.lat.max > max_lat {
                exclude([0, 4, 5]);
            }
            if area.lon.min < min_lon {
                exclude([3, 7, 5]);
            }
            if area.lon.max > max_lon {
                exclude([2, 6, 4]);
            }
        }
        let mut boxes = [HashBits::default(); 9];
        boxes[0] = hash;
        for (i, neighbour) in neighbours.iter().enumerate() {
            boxes[i + 1] = if drop[i] { HashBits::default() } else { *neighbour };
        }
        boxes
    }

    /// The centre's box at `steps` and its neighbours: N, S, E, W, NE, NW, SE, SW.
    fn cells(&self, steps: u8) -> (HashBits, [HashBits; 8]) {
        // The centre was validated by the caller; Redis leaves the hash zeroed otherwise too.
        let hash = encode(LON_RANGE, LAT_RANGE, self.lon, self.lat, steps).unwrap_or(HashBits { bits: 0, step: steps });
        let at = |dx: i8, dy: i8| move_y(move_x(hash, dx), dy);
        (hash, [at(0, 1), at(0, -1), at(1, 0), at(-1, 0), at(1, 1), at(-1, 1), at(1, -1), at(-1, -1)])
    }
}

/// geohashEstimateStepsByRadius: the precision whose boxes are about as large as the radius.
fn estimate_steps(mut range_meters: f64, lat: f64) -> u8 {
    if range_meters == 0.0 {
        return 26;
    }
    let mut step: i32 = 1;
    while range_meters < MERCATOR_MAX {
        range_meters *= 2.0;
        step += 1;
    }
    step -= 2;
    // Boxes narrow towards the poles.
    if !(-66.0..=66.0).contains(&lat) {
        step -= 1;
        if !(-80.0..=80.0).contains(&lat) {
            step -= 1;
        }
    }
    step.clamp(1, 26) as u8
}

const ODD_BITS: u64 = 0xaaaa_aaaa_aaaa_aaaa;
const EVEN_BITS: u64 = 0x5555_5555_5555_5555;

/// Moves a hash one box east (`d > 0`) or west along the longitude (odd) bits, wrapping around.
fn move_x(hash: HashBits, d: i8) -> HashBits {
    move_along(hash, d, ODD_BITS)
}

/// Moves a hash one box north (`d > 0`) or south along the latitude (even) bits, wrapping around.
fn move_y(hash: HashBits, d: i8) -> HashBits {
    move_along(hash, d, EVEN_BITS)
}

/// geohash_move_x / geohash_move_y: adds or subtracts one on the interleaved bits of `moving`
/// (filling the other bits with ones lets the carry or borrow run through them).
fn move_along(hash: HashBits, d: i8, moving: u64) -> HashBits {
    if d == 0 {
        return hash;
    }
    let fixed = !moving;
    let shift = 64 - u32::from(hash.step) * 2;
    let mut bits = hash.bits & moving;
    let zz = fixed >> shift;
    if d > 0 {
        bits = bits.wrapping_add(zz + 1);
    } else {
        bits = (bits | zz).wrapping_sub(zz + 1);
    }
    bits &= moving >> shift;
    HashBits { bits: bits | (hash.bits & fixed), step: hash.step }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_and_positions_match_redis() {
        // Values printed by redis-server 7.0 for GEOADD Sicily 13.361389 38.115556 Palermo.
        assert_eq!(score_of(13.361389, 38.115556), Some(3479099956230698));
        let (lon, lat) = decode_score(3479099956230698.0);
        assert_eq!(format!("{lon:.17}"), "13.36138933897018433");
        assert_eq!(format!("{lat:.17}"), "38.11555639549629859");
        assert_eq!(&geohash_string(3479099956230698.0), b"sqc8b49rny0");
        // Edges: 180 carries into a 53rd bit, as in Redis.
        assert_eq!(score_of(180.0, 0.0), Some(10133099161583616));
        assert_eq!(score_of(-180.0, 0.0), Some(1125899906842624));
        assert_eq!(score_of(1.0, 86.0), None);
        // Scores no GEOADD makes still decode, with C's conversion to uint64_t.
        assert_eq!(decode_score(-1.0), (180.0, 85.05112878));
        assert_eq!(decode_score(1e30), decode_score(0.0));
    }

    #[test]
    fn interleave_round_trips() {
        for (x, y) in [(0u32, 0u32), (1, 0), (0, 1), (0x3ff_ffff, 0x155_5555), (u32::MAX, 7)] {
            let merged = deinterleave64(interleave64(x, y));
            assert_eq!((merged as u32, (merged >> 32) as u32), (x, y));
        }
    }

    #[test]
    fn neighbours_move_one_box() {
        let hash = encode(LON_RANGE, LAT_RANGE, 0.0, 0.0, 4).unwrap();
        let east = decode(move_x(hash, 1));
        let here = decode(hash);
        assert_eq!(east.lon.min, here.lon.max);
        assert_eq!(decode(move_y(hash, -1)).lat.max, here.lat.min);
        assert_eq!(move_x(move_x(hash, 1), -1), hash);
    }

    #[test]
    fn distance_is_haversine() {
        // GEODIST Sicily Palermo Catania = 166274.1516 m in Redis.
        let (a, b) = (decode_score(3479099956230698.0), decode_score(3479447370796909.0));
        assert_eq!(format!("{:.4}", distance(a.0, a.1, b.0, b.1)), "166274.1516");
    }
}
