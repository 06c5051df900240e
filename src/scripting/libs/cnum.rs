//! The C number conversions the bundled libraries rely on, reproduced as Redis's build does them
//! (glibc on x86-64), because their results show through to scripts: `%.14g` text, what `strtod`
//! accepts, and what a cast of a double to an integer gives when the value does not fit.

/// 2^63 as a double: the first value `(int64_t)d` cannot represent.
const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;

pub(super) use crate::num::format_g;

/// glibc's `strtod` at the start of `s` (which does not start with white space): the value and how
/// many bytes make it, or `None` when no number starts there. Accepts what C does: a sign,
/// decimal and hexadecimal (`0x1.8p3`) forms, `inf`, `infinity` and `nan(...)` in any case.
pub(super) fn strtod(s: &[u8]) -> Option<(f64, usize)> {
    let at = |i: usize| s.get(i).copied().unwrap_or(0);
    let mut i = 0;
    let negative = match at(0) {
        b'-' => {
            i = 1;
            true
        }
        b'+' => {
            i = 1;
            false
        }
        _ => false,
    };
    let signed = |v: f64| if negative { -v } else { v };
    let starts_with_ci = |from: usize, word: &[u8]| s.len() >= from + word.len() && s[from..from + word.len()].eq_ignore_ascii_case(word);

    if starts_with_ci(i, b"inf") {
        let len = if starts_with_ci(i, b"infinity") { i + 8 } else { i + 3 };
        return Some((signed(f64::INFINITY), len));
    }
    if starts_with_ci(i, b"nan") {
        let mut end = i + 3;
        if at(end) == b'(' {
            let mut j = end + 1;
            while at(j).is_ascii_alphanumeric() || at(j) == b'_' {
                j += 1;
            }
            if at(j) == b')' {
                end = j + 1;
            }
        }
        return Some((signed(f64::NAN), end));
    }
    if at(i) == b'0' && at(i + 1) | 0x20 == b'x' {
        let digits_follow = at(i + 2).is_ascii_hexdigit() || (at(i + 2) == b'.' && at(i + 3).is_ascii_hexdigit());
        if digits_follow {
            let (value, end) = hex_float(s, i + 2);
            return Some((signed(value), end));
        }
        // "0x" with no hex digits: only the "0" is a number.
        return Some((signed(0.0), i + 1));
    }

    let start = i;
    let mut digits = 0;
    while at(i).is_ascii_digit() {
        i += 1;
        digits += 1;
    }
    if at(i) == b'.' {
        i += 1;
        while at(i).is_ascii_digit() {
            i += 1;
            digits += 1;
        }
    }
    if digits == 0 {
        return None;
    }
    if at(i) | 0x20 == b'e' {
        let mut j = i + 1;
        if at(j) == b'+' || at(j) == b'-' {
            j += 1;
        }
        if at(j).is_ascii_digit() {
            while at(j).is_ascii_digit() {
                j += 1;
            }
            i = j;
        }
    }
    // The slice is ASCII digits, one point and an exponent: Rust parses it with the same correct
    // rounding as glibc (overflow to infinity, underflow to zero).
    let text = std::str::from_utf8(&s[start..i]).ok()?;
    let value: f64 = text.parse().ok()?;
    Some((signed(value), i))
}

/// The hexadecimal digits (with an optional point and binary exponent) starting at `from`.
fn hex_float(s: &[u8], from: usize) -> (f64, usize) {
    let at = |i: usize| s.get(i).copied().unwrap_or(0);
    let hex = |c: u8| char::from(c).to_digit(16).map(u64::from);
    let mut mantissa: u64 = 0;
    let mut exponent: i64 = 0;
    let mut sticky = false;
    let mut i = from;
    let mut seen_point = false;
    loop {
        let c = at(i);
        if c == b'.' && !seen_point {
            seen_point = true;
        } else if let Some(d) = hex(c) {
            // 60 bits keep more than a double's 53 and leave room for the sticky bit below.
            if mantissa >> 56 == 0 {
                mantissa = mantissa << 4 | d;
                if seen_point {
                    exponent -= 4;
                }
            } else {
                sticky |= d != 0;
                if !seen_point {
                    exponent += 4;
                }
            }
        } else {
            break;
        }
        i += 1;
    }
    if at(i) | 0x20 == b'p' {
        let mut j = i + 1;
        let negative = at(j) == b'-';
        if at(j) == b'+' || at(j) == b'-' {
            j += 1;
        }
        if at(j).is_ascii_digit() {
            let mut e: i64 = 0;
            while at(j).is_ascii_digit() {
                e = (e * 10 + i64::from(at(j) - b'0')).min(100_000);
                j += 1;
            }
            exponent += if negative { -e } else { e };
            i = j;
        }
    }
    // Dropped non-zero digits must still round the result up when it sits exactly half way.
    let value = (mantissa | u64::from(sticky)) as f64;
    (scale_by_power_of_two(value, exponent), i)
}

fn scale_by_power_of_two(mut value: f64, mut exponent: i64) -> f64 {
    // Steps small enough that each factor is an exact, finite double.
    while exponent > 0 && value.is_finite() && value != 0.0 {
        let step = exponent.min(1000);
        value *= 2f64.powi(step as i32);
        exponent -= step;
    }
    while exponent < 0 && value != 0.0 {
        let step = exponent.max(-1000);
        value *= 2f64.powi(step as i32);
        exponent -= step;
    }
    value
}

/// `(int64_t)d` (also `(long)d` and `lua_tointeger`) as x86-64 computes it: truncation toward zero,
/// and 0x8000000000000000 ("integer indefinite") for NaN and values out of range.
pub(super) fn f64_to_i64(d: f64) -> i64 {
    if (-TWO_POW_63..TWO_POW_63).contains(&d) {
        d as i64
    } else {
        i64::MIN
    }
}

/// `(int)d` as x86-64 computes it, with the same "integer indefinite" for what does not fit.
pub(super) fn f64_to_i32(d: f64) -> i32 {
    if (-2_147_483_648.0..2_147_483_648.0).contains(&d) {
        d as i32
    } else {
        i32::MIN
    }
}

/// `(unsigned long)d` as gcc compiles it for x86-64: values below 2^63 (and NaN) through the signed
/// conversion, larger ones shifted down by 2^63 first, so 2^64 and beyond come out as 0.
pub(super) fn f64_to_u64(d: f64) -> u64 {
    if d >= TWO_POW_63 {
        (f64_to_i64(d - TWO_POW_63) as u64) ^ (1 << 63)
    } else {
        f64_to_i64(d) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_g_matches_printf() {
        let cases: &[(f64, usize, &str)] = &[
            (0.1, 14, "0.1"),
            (1.0 / 3.0, 14, "0.33333333333333"),
            (1e15, 14, "1e+15"),
            (1e14, 14, "1e+14"),
            (123456789012345.0, 14, "1.2345678901234e+14"),
            (-0.0, 14, "-0"),
            (2f64.powi(53), 14, "9.007199254741e+15"),
            (1e-5, 14, "1e-05"),
            (0.0001, 14, "0.0001"),
            (100.0, 14, "100"),
            (1e300, 14, "1e+300"),
            (std::f64::consts::PI, 3, "3.14"),
            (f64::INFINITY, 14, "inf"),
            (f64::NEG_INFINITY, 14, "-inf"),
            (1.5e-300, 14, "1.5e-300"),
            (99999999999999.5, 14, "1e+14"),
            (0.000123456, 2, "0.00012"),
        ];
        for &(x, p, want) in cases {
            assert_eq!(format_g(x, p), want, "{x} with precision {p}");
        }
    }

    #[test]
    fn strtod_accepts_what_glibc_accepts() {
        let cases: &[(&str, f64, usize)] = &[
            ("0x10", 16.0, 4),
            ("+5", 5.0, 2),
            ("007", 7.0, 3),
            ("1e3", 1000.0, 3),
            ("-1.5E-2", -0.015, 7),
            ("1.", 1.0, 2),
            ("0x1p4", 16.0, 5),
            ("0x1.8", 1.5, 5),
            ("0x", 0.0, 1),
            ("1E", 1.0, 1),
            ("1e+", 1.0, 1),
            ("1.5x", 1.5, 3),
            ("infinity", f64::INFINITY, 8),
            ("-Inf", f64::NEG_INFINITY, 4),
            ("1e400", f64::INFINITY, 5),
            ("0x1fffffffffffff", 9007199254740991.0, 16),
            ("0x20000000000001", 9007199254740992.0, 16),
            ("0x20000000000003", 9007199254740996.0, 16),
        ];
        for &(s, want, len) in cases {
            assert_eq!(strtod(s.as_bytes()), Some((want, len)), "{s}");
        }
        let (nan, len) = strtod(b"nan(123)x").unwrap_or((0.0, 0));
        assert!(nan.is_nan() && len == 8);
        assert_eq!(strtod(b"-"), None);
        assert_eq!(strtod(b".x"), None);
        assert_eq!(strtod(b"- 1"), None);
    }

    #[test]
    fn casts_match_x86_64() {
        assert_eq!(f64_to_i64(-1.9), -1);
        assert_eq!(f64_to_i64(f64::NAN), i64::MIN);
        assert_eq!(f64_to_i64(1e300), i64::MIN);
        assert_eq!(f64_to_i32(2f64.powi(31)), i32::MIN);
        assert_eq!(f64_to_u64(2f64.powi(63)), 1 << 63);
        assert_eq!(f64_to_u64(2f64.powi(64)), 0);
        assert_eq!(f64_to_u64(f64::NAN), 1 << 63);
        assert_eq!(f64_to_u64(1.9), 1);
    }
}
