//! `bit`: LuaBitOp 1.0.2, 32-bit operations on Lua numbers.
//!
//! Every argument is normalised the way LuaBitOp does it on a double-number Lua: adding 2^52+2^51
//! puts the value, rounded to the nearest integer (ties to even), in the low 32 bits of the
//! double's representation. So numbers wrap modulo 2^32, and results are signed 32-bit values.

use mlua::{Lua, MultiValue, Table, Value};

use super::cfunc::{self, Args, Outcome};

/// Installs the module's functions in a new table.
pub(super) fn module(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("tobit", cfunc::function(lua, |lua, args| ret(barg(lua, &args, 1)?))?)?;
    t.set("bnot", cfunc::function(lua, |lua, args| ret(!barg(lua, &args, 1)?))?)?;
    t.set("band", cfunc::function(lua, |lua, args| fold(lua, &args, |a, b| a & b))?)?;
    t.set("bor", cfunc::function(lua, |lua, args| fold(lua, &args, |a, b| a | b))?)?;
    t.set("bxor", cfunc::function(lua, |lua, args| fold(lua, &args, |a, b| a ^ b))?)?;
    t.set("lshift", cfunc::function(lua, |lua, args| shift(lua, &args, |b, n| b << n))?)?;
    t.set("rshift", cfunc::function(lua, |lua, args| shift(lua, &args, |b, n| b >> n))?)?;
    t.set("arshift", cfunc::function(lua, |lua, args| shift(lua, &args, |b, n| ((b as i32) >> n) as u32))?)?;
    t.set("rol", cfunc::function(lua, |lua, args| shift(lua, &args, u32::rotate_left))?)?;
    t.set("ror", cfunc::function(lua, |lua, args| shift(lua, &args, u32::rotate_right))?)?;
    t.set("bswap", cfunc::function(lua, |lua, args| ret(barg(lua, &args, 1)?.swap_bytes()))?)?;
    t.set("tohex", cfunc::function(lua, tohex)?)?;
    Ok(t)
}

/// Argument `n` as 32 bits. A value that is not a number (nor a string that converts) is an error.
fn barg(lua: &Lua, args: &Args, n: usize) -> Outcome<u32> {
    match args.to_number(lua, n)? {
        Some(x) => Ok(normalise(x)),
        None => Err(cfunc::type_error(n, "number", args.get(n))),
    }
}

fn normalise(x: f64) -> u32 {
    (x + 6_755_399_441_055_744.0).to_bits() as u32
}

/// Results are signed 32-bit numbers.
fn ret(b: u32) -> Outcome<MultiValue> {
    Ok(MultiValue::from_vec(vec![Value::Number(f64::from(b as i32))]))
}

/// band/bor/bxor: LuaBitOp reads the first argument, then the others from the last one down, which
/// decides which bad argument an error names.
fn fold(lua: &Lua, args: &Args, op: fn(u32, u32) -> u32) -> Outcome<MultiValue> {
    let mut b = barg(lua, args, 1)?;
    for n in (2..=args.len()).rev() {
        b = op(b, barg(lua, args, n)?);
    }
    ret(b)
}

/// Shifts and rotations use the low 5 bits of the count.
fn shift(lua: &Lua, args: &Args, op: fn(u32, u32) -> u32) -> Outcome<MultiValue> {
    let b = barg(lua, args, 1)?;
    let n = barg(lua, args, 2)? & 31;
    ret(op(b, n))
}

/// `bit.tohex(x [, n])`: the low `|n|` hex digits of x (at most 8, 8 by default), upper case when
/// n is negative.
fn tohex(lua: &Lua, args: Args) -> Outcome<MultiValue> {
    let mut b = barg(lua, &args, 1)?;
    let mut n = if args.len() < 2 { 8 } else { barg(lua, &args, 2)? as i32 };
    let mut digits = b"0123456789abcdef";
    if n == i32::MIN {
        n = i32::MIN + 1;
    }
    if n < 0 {
        n = -n;
        digits = b"0123456789ABCDEF";
    }
    let n = n.min(8) as usize;
    let mut buf = vec![0u8; n];
    for slot in buf.iter_mut().rev() {
        *slot = digits[(b & 15) as usize];
        b >>= 4;
    }
    Ok(MultiValue::from_vec(vec![Value::String(lua.create_string(buf)?)]))
}
