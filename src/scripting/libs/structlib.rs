//! `struct`: Roberto Ierusalimschy's struct library (struct.c 1.4) as Redis 7.0 bundles it, with
//! Redis's fixes (size overflow, offset checks).
//!
//! Formats: `<` `>` endianness (little by default, as on x86-64), `![n]` maximum alignment
//! (default 8, 1 until set), `x` a zero byte, `b/B` 1-byte, `h/H` 2-byte, `l/L` and `T` 8-byte,
//! `i/I[n]` n-byte (default 4, at most 32) integers, lower case signed; `f` float, `d` double,
//! `c[n]` n chars (`c0`: the whole string when packing, the previous number as length when
//! unpacking), `s` a zero-terminated string; spaces are ignored.

use mlua::{Lua, MultiValue, Table, Value};

use super::cfunc::{self, Args, Outcome, Raise};
use super::cnum;
use super::LUA_STACK_SLOTS;

/// Largest size of an `i`/`I` integer.
const MAX_INT_SIZE: usize = 32;
/// Default of `!`: the alignment of a double on x86-64.
const MAX_ALIGN: usize = 8;

pub(super) fn module(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("pack", cfunc::function(lua, pack)?)?;
    t.set("unpack", cfunc::function(lua, unpack)?)?;
    t.set("size", cfunc::function(lua, size)?)?;
    Ok(t)
}

#[derive(Clone, Copy, PartialEq)]
enum Endian {
    Big,
    Little,
}

struct Header {
    endian: Endian,
    align: usize,
}

impl Default for Header {
    fn default() -> Self {
        Header { endian: Endian::Little, align: 1 }
    }
}

/// A cursor over the format string.
struct Format<'a> {
    fmt: &'a [u8],
    pos: usize,
}

impl Format<'_> {
    fn next_option(&mut self) -> Option<u8> {
        let c = self.fmt.get(self.pos).copied().filter(|&c| c != 0)?;
        self.pos += 1;
        Some(c)
    }

    /// The number after an option, or `default` when there is none.
    fn number(&mut self, default: usize) -> Outcome<usize> {
        let mut n: i32 = 0;
        let mut any = false;
        while let Some(&c) = self.fmt.get(self.pos).filter(|c| c.is_ascii_digit()) {
            let digit = i32::from(c - b'0');
            if n > i32::MAX / 10 || n * 10 > i32::MAX - digit {
                return Err(Raise::error("integral size overflow"));
            }
            n = n * 10 + digit;
            any = true;
            self.pos += 1;
        }
        Ok(if any { n as usize } else { default })
    }

    /// `optsize`: the bytes option `opt` takes (0 for those with no fixed size).
    fn size(&mut self, opt: u8) -> Outcome<usize> {
        Ok(match opt {
            b'B' | b'b' | b'x' => 1,
            b'H' | b'h' => 2,
            b'L' | b'l' | b'T' | b'd' => 8,
            b'f' => 4,
            b'c' => self.number(1)?,
            b'i' | b'I' => {
                let size = self.number(4)?;
                if size > MAX_INT_SIZE {
                    return Err(Raise::error(format!("integral size {size} is larger than limit of {MAX_INT_SIZE}")));
                }
                size
            }
            _ => 0,
        })
    }

    /// `controloptions`: endianness, alignment and spaces; anything else is not a format option.
    fn control(&mut self, opt: u8, h: &mut Header) -> Outcome<()> {
        match opt {
            b' ' => {}
            b'>' => h.endian = Endian::Big,
            b'<' => h.endian = Endian::Little,
            b'!' => {
                let a = self.number(MAX_ALIGN)?;
                if !a.is_power_of_two() {
                    return Err(Raise::error(format!("alignment {a} is not a power of 2")));
                }
                h.align = a;
            }
            _ => {
                let mut msg = b"invalid format option '".to_vec();
                msg.push(opt);
                msg.push(b'\'');
                return Err(Raise::arg(1, msg));
            }
        }
        Ok(())
    }
}

/// Padding before an item of `size` bytes at offset `len`. The C arithmetic also runs on sizes that
/// are not powers of two (`i3`), so it is kept as is, wrapping.
fn to_align(len: usize, h: &Header, opt: u8, size: usize) -> usize {
    if size == 0 || opt == b'c' {
        return 0;
    }
    let size = size.min(h.align);
    size.wrapping_sub(len & size.wrapping_sub(1)) & size.wrapping_sub(1)
}

fn is_integer_option(opt: u8) -> bool {
    matches!(opt, b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I')
}

/// `struct.pack(fmt, v1, ...)`.
fn pack(lua: &Lua, mut args: Args) -> Outcome<MultiValue> {
    let fmt = args.check_string(lua, 1)?;
    let fmt = fmt.as_bytes();
    let mut fmt = Format { fmt: &fmt, pos: 0 };
    // The C code pushes a nil after the arguments, so one missing value reads as "nil" rather
    // than "no value".
    args.push(Value::Nil);
    let mut h = Header::default();
    let mut arg = 2;
    let mut out: Vec<u8> = Vec::new();
    while let Some(opt) = fmt.next_option() {
        let mut size = fmt.size(opt)?;
        let pad = to_align(out.len(), &h, opt, size);
        out.resize(out.len() + pad, 0);
        match opt {
            _ if is_integer_option(opt) => {
                let n = args.check_number(lua, arg)?;
                arg += 1;
                let mut value = if n < 0.0 { cnum::f64_to_i64(n) as u64 } else { cnum::f64_to_u64(n) };
                let mut bytes = vec![0u8; size];
                // Beyond 8 bytes the value has been shifted out: the extra bytes are 0, even for
                // negative numbers.
                for b in bytes.iter_mut() {
                    *b = value as u8;
                    value >>= 8;
                }
                if h.endian == Endian::Big {
                    bytes.reverse();
                }
                out.extend_from_slice(&bytes);
            }
            b'x' => out.push(0),
            b'f' => {
                let f = args.check_number(lua, arg)? as f32;
                arg += 1;
                out.extend_from_slice(&if h.endian == Endian::Big { f.to_be_bytes() } else { f.to_le_bytes() });
            }
            b'd' => {
                let d = args.check_number(lua, arg)?;
                arg += 1;
                out.extend_from_slice(&if h.endian == Endian::Big { d.to_be_bytes() } else { d.to_le_bytes() });
            }
            b'c' | b's' => {
                let s = args.check_string(lua, arg)?;
                let s = s.as_bytes();
                arg += 1;
                if size == 0 {
                    size = s.len();
                }
                if s.len() < size {
                    return Err(Raise::arg(arg, "string too short"));
                }
                out.extend_from_slice(&s[..size]);
                if opt == b's' {
                    out.push(0);
                }
            }
            _ => fmt.control(opt, &mut h)?,
        }
    }
    Ok(MultiValue::from_vec(vec![Value::String(lua.create_string(out)?)]))
}

/// An integer of `bytes.len()` bytes. The C code accumulates into 64 bits, so wider integers keep
/// their low 8 bytes, and its sign mask uses a shift count x86 reduces modulo 64.
fn get_integer(bytes: &[u8], endian: Endian, signed: bool) -> f64 {
    let fold = |l: u64, &b: &u8| l.wrapping_shl(8) | u64::from(b);
    let l = match endian {
        Endian::Big => bytes.iter().fold(0, fold),
        Endian::Little => bytes.iter().rev().fold(0, fold),
    };
    if !signed {
        return l as f64;
    }
    let shift = (bytes.len() as i64 * 8 - 1) as u32 & 63;
    let mask = u64::MAX << shift;
    let l = if l & mask != 0 { l | mask } else { l };
    l as i64 as f64
}

/// `struct.unpack(fmt, data [, pos])`: the values, then the position after them.
fn unpack(lua: &Lua, args: Args) -> Outcome<MultiValue> {
    let fmt = args.check_string(lua, 1)?;
    let fmt = fmt.as_bytes();
    let mut fmt = Format { fmt: &fmt, pos: 0 };
    let data = args.check_string(lua, 2)?;
    let data = data.as_bytes();
    let ld = data.len();
    // size_t arithmetic, as in C: a negative offset becomes huge and fails the length check.
    let mut pos = args.opt_integer(lua, 3, 1)? as usize;
    if pos == 0 {
        return Err(Raise::arg(3, "offset must be 1 or greater"));
    }
    pos -= 1;
    let too_short = || Raise::arg(2, "data string too short");
    let mut h = Header::default();
    let mut results: Vec<Value> = Vec::new();
    while let Some(opt) = fmt.next_option() {
        let mut size = fmt.size(opt)?;
        pos = pos.wrapping_add(to_align(pos, &h, opt, size));
        if size > ld || pos > ld - size {
            return Err(too_short());
        }
        // The format and the data, the results, then room for one more and the final position.
        if 2 + results.len() + 2 > LUA_STACK_SLOTS {
            return Err(Raise::error("stack overflow (too many results)"));
        }
        let bytes = &data[pos..pos + size];
        match opt {
            _ if is_integer_option(opt) => {
                results.push(Value::Number(get_integer(bytes, h.endian, opt.is_ascii_lowercase())));
            }
            b'x' => {}
            b'f' => {
                let mut b = [0u8; 4];
                b.copy_from_slice(bytes);
                let f = if h.endian == Endian::Big { f32::from_be_bytes(b) } else { f32::from_le_bytes(b) };
                results.push(Value::Number(f64::from(f)));
            }
            b'd' => {
                let mut b = [0u8; 8];
                b.copy_from_slice(bytes);
                let d = if h.endian == Endian::Big { f64::from_be_bytes(b) } else { f64::from_le_bytes(b) };
                results.push(Value::Number(d));
            }
            b'c' => {
                if size == 0 {
                    // The length is the previous result, which it replaces.
                    let previous = match results.last() {
                        Some(v) => cfunc::to_number(lua, Some(v))?,
                        None => None,
                    };
                    let Some(n) = previous else {
                        return Err(Raise::error("format 'c0' needs a previous size"));
                    };
                    results.pop();
                    size = cnum::f64_to_u64(n) as usize;
                    if size > ld || pos > ld - size {
                        return Err(too_short());
                    }
                }
                results.push(Value::String(lua.create_string(&data[pos..pos + size])?));
            }
            b's' => {
                let Some(len) = data[pos..].iter().position(|&b| b == 0) else {
                    return Err(Raise::error("unfinished string in data"));
                };
                results.push(Value::String(lua.create_string(&data[pos..pos + len])?));
                size = len + 1;
            }
            _ => fmt.control(opt, &mut h)?,
        }
        pos = pos.wrapping_add(size);
    }
    results.push(Value::Number(pos.wrapping_add(1) as i64 as f64));
    Ok(MultiValue::from_vec(results))
}

/// `struct.size(fmt)`: the bytes `struct.pack(fmt, ...)` produces, for formats of fixed size.
fn size(lua: &Lua, args: Args) -> Outcome<MultiValue> {
    let fmt = args.check_string(lua, 1)?;
    let fmt = fmt.as_bytes();
    let mut fmt = Format { fmt: &fmt, pos: 0 };
    let mut h = Header::default();
    let mut pos: usize = 0;
    while let Some(opt) = fmt.next_option() {
        let size = fmt.size(opt)?;
        pos = pos.wrapping_add(to_align(pos, &h, opt, size));
        if opt == b's' {
            return Err(Raise::arg(1, "option 's' has no fixed size"));
        } else if opt == b'c' && size == 0 {
            return Err(Raise::arg(1, "option 'c0' has no fixed size"));
        }
        if !opt.is_ascii_alphanumeric() {
            fmt.control(opt, &mut h)?;
        }
        pos = pos.wrapping_add(size);
    }
    Ok(MultiValue::from_vec(vec![Value::Number(pos as i64 as f64)]))
}
