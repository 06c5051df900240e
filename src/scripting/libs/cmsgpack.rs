//! `cmsgpack`: lua-cmsgpack 0.4.0, MessagePack for Lua, as Redis bundles it.
//!
//! Encoding: a number that is a whole value fitting an int64 is written as the smallest integer
//! form, other numbers as float32 when that is exact, else float64; strings use fixstr/str8/16/32
//! (no bin types); a table whose keys are exactly 1..n is an array (the empty table too), any other
//! a map; tables nested 16 deep, and values of other types, are written as nil. Decoding also
//! reads back the str types only (bin and ext are "bad data format").

use mlua::{Lua, MultiValue, Table, Value};

use super::cfunc::{self, Args, Outcome, Raise};
use super::cnum;
use super::{LUA_STACK_SLOTS, MAX_NESTING};

/// Tables deeper than this are encoded as nil, which also ends cycles.
const MAX_ENCODE_NESTING: usize = 16;

pub(super) fn module(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("pack", cfunc::function(lua, pack)?)?;
    t.set("unpack", cfunc::function(lua, |lua, args| unpack_full(lua, &args, 0, 0))?)?;
    t.set(
        "unpack_one",
        cfunc::function(lua, |lua, args| {
            let offset = args.opt_integer(lua, 2, 0)?;
            unpack_full(lua, &args, 1, offset)
        })?,
    )?;
    t.set(
        "unpack_limit",
        cfunc::function(lua, |lua, args| {
            let limit = args.check_integer(lua, 2)?;
            let offset = args.opt_integer(lua, 3, 0)?;
            unpack_full(lua, &args, limit, offset)
        })?,
    )?;
    t.set("_NAME", "cmsgpack")?;
    t.set("_VERSION", "lua-cmsgpack 0.4.0")?;
    t.set("_COPYRIGHT", "Copyright (C) 2012, Salvatore Sanfilippo")?;
    t.set("_DESCRIPTION", "MessagePack C implementation for Lua")?;
    Ok(t)
}

// ===== Encoding =====

/// `cmsgpack.pack(v1, ...)`: the encodings of all arguments, one after the other.
fn pack(lua: &Lua, args: Args) -> Outcome<MultiValue> {
    if args.len() == 0 {
        return Err(Raise::arg(0, "MessagePack pack needs input."));
    }
    let mut out = Vec::new();
    for n in 1..=args.len() {
        encode_value(args.get(n).unwrap_or(&Value::Nil), 0, &mut out)?;
    }
    Ok(MultiValue::from_vec(vec![Value::String(lua.create_string(out)?)]))
}

fn encode_value(v: &Value, level: usize, out: &mut Vec<u8>) -> Outcome<()> {
    match v {
        Value::String(s) => encode_bytes(&s.as_bytes(), out),
        Value::Boolean(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Integer(i) => encode_number(*i as f64, out),
        Value::Number(n) => encode_number(*n, out),
        Value::Table(t) if level < MAX_ENCODE_NESTING => {
            if is_array(t)? {
                let len = t.raw_len();
                encode_array_header(len, out);
                for j in 1..=len {
                    let item: Value = t.get(j)?;
                    encode_value(&item, level + 1, out)?;
                }
            } else {
                let mut len = 0;
                for pair in t.pairs::<Value, Value>() {
                    pair?;
                    len += 1;
                }
                encode_map_header(len, out);
                for pair in t.pairs::<Value, Value>() {
                    let (k, item) = pair?;
                    encode_value(&k, level + 1, out)?;
                    encode_value(&item, level + 1, out)?;
                }
            }
        }
        _ => out.push(0xc0),
    }
    Ok(())
}

/// `table_is_an_array`: every key a positive number equal to an int, and as many keys as the
/// largest one, so they are exactly 1..n.
fn is_array(t: &Table) -> Outcome<bool> {
    let mut count: i64 = 0;
    let mut max: i64 = 0;
    for pair in t.pairs::<Value, Value>() {
        let (k, _) = pair?;
        let n = match k {
            Value::Integer(i) => i as f64,
            Value::Number(n) => n,
            _ => return Ok(false),
        };
        if n <= 0.0 || n.is_infinite() || f64::from(cnum::f64_to_i32(n)) != n {
            return Ok(false);
        }
        max = max.max(n as i64);
        count += 1;
    }
    Ok(max == count)
}

fn encode_number(n: f64, out: &mut Vec<u8>) {
    let i = cnum::f64_to_i64(n);
    if !n.is_infinite() && i as f64 == n {
        encode_int(i, out);
    } else if n == f64::from(n as f32) {
        out.push(0xca);
        out.extend_from_slice(&(n as f32).to_be_bytes());
    } else {
        out.push(0xcb);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn encode_int(n: i64, out: &mut Vec<u8>) {
    if n >= 0 {
        match n {
            0..=127 => out.push(n as u8),
            128..=0xff => out.extend_from_slice(&[0xcc, n as u8]),
            0x100..=0xffff => {
                out.push(0xcd);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            0x1_0000..=0xffff_ffff => {
                out.push(0xce);
                out.extend_from_slice(&(n as u32).to_be_bytes());
            }
            _ => {
                out.push(0xcf);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
    } else if n >= -32 {
        out.push(n as i8 as u8);
    } else if n >= -128 {
        out.extend_from_slice(&[0xd0, n as i8 as u8]);
    } else if n >= -32768 {
        out.push(0xd1);
        out.extend_from_slice(&(n as i16).to_be_bytes());
    } else if n >= -2_147_483_648 {
        out.push(0xd2);
        out.extend_from_slice(&(n as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn encode_bytes(s: &[u8], out: &mut Vec<u8>) {
    let len = s.len();
    if len < 32 {
        out.push(0xa0 | len as u8);
    } else if len <= 0xff {
        out.extend_from_slice(&[0xd9, len as u8]);
    } else if len <= 0xffff {
        out.push(0xda);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        // Longer than 4 GiB cannot be told in 32 bits; the C code writes the low bits too.
        out.push(0xdb);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
    out.extend_from_slice(s);
}

fn encode_array_header(n: usize, out: &mut Vec<u8>) {
    if n <= 15 {
        out.push(0x90 | n as u8);
    } else if n <= 0xffff {
        out.push(0xdc);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(0xdd);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
}

fn encode_map_header(n: usize, out: &mut Vec<u8>) {
    if n <= 15 {
        out.push(0x80 | n as u8);
    } else if n <= 0xffff {
        out.push(0xde);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(0xdf);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
}

// ===== Decoding =====

/// `mp_unpack_full`: decodes up to `limit` values (all of them when both `limit` and `offset` are
/// 0) from byte `offset` of argument 1. With a limit or offset, the first result is the offset of
/// the next value, or -1 when the input is used up.
fn unpack_full(lua: &Lua, args: &Args, limit: i64, offset: i64) -> Outcome<MultiValue> {
    let s = args.check_string(lua, 1)?;
    let data = s.as_bytes();
    let len = data.len();
    let decode_all = limit == 0 && offset == 0;
    if offset < 0 || limit < 0 {
        // The C code prints the input length where it announces the limit.
        return Err(Raise::error(format!("Invalid request to unpack with offset of {} and limit of {}.", offset as i32, len as i32)));
    }
    let offset = usize::try_from(offset).unwrap_or(usize::MAX);
    if offset > len {
        return Err(Raise::error(format!("Start offset {} greater than input length {}.", offset as i32, len as i32)));
    }
    let limit = if decode_all { i64::from(i32::MAX) } else { limit };

    let mut d = Decoder { lua, data: &data, pos: offset };
    let mut results = Vec::new();
    // The C function holds its argument and then every value it decodes on the Lua stack.
    while d.pos < len && (results.len() as i64) < limit {
        results.push(d.value(1 + results.len())?);
    }
    if !decode_all {
        let next = if d.pos == len { -1 } else { d.pos as i64 };
        results.insert(0, Value::Number(next as f64));
    }
    Ok(MultiValue::from_vec(results))
}

struct Decoder<'a> {
    lua: &'a Lua,
    data: &'a [u8],
    pos: usize,
}

fn too_many_values() -> Raise {
    Raise::error("stack overflow (too many return values at once; use unpack_one or unpack_limit instead.)")
}

fn missing_bytes() -> Raise {
    Raise::error("Missing bytes in input.")
}

impl Decoder<'_> {
    /// The `n` bytes after the type byte, consuming them with it.
    fn take(&mut self, n: usize) -> Outcome<&[u8]> {
        let start = self.pos + 1;
        let end = start.checked_add(n).filter(|&end| end <= self.data.len()).ok_or_else(missing_bytes)?;
        self.pos = end;
        Ok(&self.data[start..end])
    }

    fn take_array<const N: usize>(&mut self) -> Outcome<[u8; N]> {
        let bytes = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(bytes);
        Ok(a)
    }

    /// A length field of `N` bytes after the type byte.
    fn length<const N: usize>(&mut self) -> Outcome<usize> {
        let bytes = self.take_array::<N>()?;
        Ok(bytes.iter().fold(0usize, |acc, &b| acc << 8 | usize::from(b)))
    }

    /// `len` bytes from the current position, as a string.
    fn bytes(&mut self, len: usize) -> Outcome<Value> {
        let start = self.pos;
        let end = start.checked_add(len).filter(|&end| end <= self.data.len()).ok_or_else(missing_bytes)?;
        self.pos = end;
        Ok(Value::String(self.lua.create_string(&self.data[start..end])?))
    }

    /// One value, nested arrays and maps included. `slots` is how many values the C code holds on
    /// its Lua stack when it starts on this one: where that reaches the stack limit, it fails.
    fn value(&mut self, slots: usize) -> Outcome<Value> {
        // Open arrays and maps, kept on a heap stack rather than recursing, so deep nesting costs
        // no Rust stack.
        let mut stack: Vec<Reading> = Vec::new();
        let mut slots = slots;
        loop {
            let mut value = match self.item(slots, stack.len())? {
                Item::Value(v) => v,
                Item::Array(table, len) if len > 0 => {
                    stack.push(Reading::Array { table, next: 1, len, slots });
                    // The C code keeps the table and the next index on the stack meanwhile.
                    slots += 2;
                    continue;
                }
                Item::Map(table, len) if len > 0 => {
                    stack.push(Reading::Map { table, left: len, key: None, slots });
                    // The table, then also the key while the value is read.
                    slots += 1;
                    continue;
                }
                Item::Array(table, _) | Item::Map(table, _) => Value::Table(table),
            };
            loop {
                match stack.last_mut() {
                    None => return Ok(value),
                    Some(Reading::Array { table, next, len, slots: base }) => {
                        table.raw_set(*next, value)?;
                        *next += 1;
                        if *next <= *len {
                            slots = *base + 2;
                            break;
                        }
                    }
                    Some(Reading::Map { table, left, key, slots: base }) => match key.take() {
                        None => {
                            *key = Some(value);
                            slots = *base + 2;
                            break;
                        }
                        Some(k) => {
                            // lua_settable refuses these keys with the VM's own message.
                            match k {
                                Value::Nil => return Err(Raise::Plain(b"table index is nil".to_vec())),
                                Value::Number(n) if n.is_nan() => {
                                    return Err(Raise::Plain(b"table index is NaN".to_vec()));
                                }
                                k => table.raw_set(k, value)?,
                            }
                            *left -= 1;
                            if *left > 0 {
                                slots = *base + 1;
                                break;
                            }
                        }
                    },
                }
                value = match stack.pop() {
                    Some(Reading::Array { table, .. } | Reading::Map { table, .. }) => Value::Table(table),
                    None => Value::Nil,
                };
            }
        }
    }

    /// The item at the current position: a value, or the header of an array or map (with its new
    /// table) whose elements follow. `nesting` counts the enclosing arrays and maps.
    fn item(&mut self, slots: usize, nesting: usize) -> Outcome<Item> {
        let Some(&c) = self.data.get(self.pos) else { return Err(missing_bytes()) };
        if slots + 1 > LUA_STACK_SLOTS {
            return Err(too_many_values());
        }
        let int = |i: i64| Item::Value(Value::Number(i as f64));
        Ok(match c {
            0xcc => int(i64::from(self.take(1)?[0])),
            0xd0 => int(i64::from(self.take(1)?[0] as i8)),
            0xcd => int(i64::from(u16::from_be_bytes(self.take_array()?))),
            0xd1 => int(i64::from(i16::from_be_bytes(self.take_array()?))),
            0xce => int(i64::from(u32::from_be_bytes(self.take_array()?))),
            0xd2 => int(i64::from(i32::from_be_bytes(self.take_array()?))),
            // Pushed as a signed lua_Integer first, so values from 2^63 come back negative.
            0xcf => int(u64::from_be_bytes(self.take_array()?) as i64),
            0xd3 => int(i64::from_be_bytes(self.take_array()?)),
            0xc0 => {
                self.pos += 1;
                Item::Value(Value::Nil)
            }
            0xc3 | 0xc2 => {
                self.pos += 1;
                Item::Value(Value::Boolean(c == 0xc3))
            }
            0xca => Item::Value(Value::Number(f64::from(f32::from_be_bytes(self.take_array()?)))),
            0xcb => Item::Value(Value::Number(f64::from_be_bytes(self.take_array()?))),
            0xd9 => {
                let len = self.length::<1>()?;
                Item::Value(self.bytes(len)?)
            }
            0xda => {
                let len = self.length::<2>()?;
                Item::Value(self.bytes(len)?)
            }
            0xdb => {
                let len = self.length::<4>()?;
                Item::Value(self.bytes(len)?)
            }
            0xdc => {
                let len = self.length::<2>()?;
                self.array(len, slots, nesting)?
            }
            0xdd => {
                let len = self.length::<4>()?;
                self.array(len, slots, nesting)?
            }
            0xde => {
                let len = self.length::<2>()?;
                self.map(len, nesting)?
            }
            0xdf => {
                let len = self.length::<4>()?;
                self.map(len, nesting)?
            }
            0x00..=0x7f => {
                self.pos += 1;
                int(i64::from(c))
            }
            0xe0..=0xff => {
                self.pos += 1;
                int(i64::from(c as i8))
            }
            0xa0..=0xbf => {
                self.pos += 1;
                Item::Value(self.bytes(usize::from(c & 0x1f))?)
            }
            0x90..=0x9f => {
                self.pos += 1;
                self.array(usize::from(c & 0xf), slots, nesting)?
            }
            0x80..=0x8f => {
                self.pos += 1;
                self.map(usize::from(c & 0xf), nesting)?
            }
            _ => return Err(Raise::error("Bad data format in input.")),
        })
    }

    /// An array's table; the C code checks for room for the table and an index first. Past
    /// MAX_NESTING this code fails the way the C code fails deeper down.
    fn array(&mut self, len: usize, slots: usize, nesting: usize) -> Outcome<Item> {
        if slots + 2 > LUA_STACK_SLOTS || nesting >= MAX_NESTING {
            return Err(Raise::error("stack overflow (in function mp_decode_to_lua_array)"));
        }
        Ok(Item::Array(self.lua.create_table()?, len))
    }

    fn map(&mut self, len: usize, nesting: usize) -> Outcome<Item> {
        if nesting >= MAX_NESTING {
            return Err(too_many_values());
        }
        Ok(Item::Map(self.lua.create_table()?, len))
    }
}

enum Item {
    Value(Value),
    Array(Table, usize),
    Map(Table, usize),
}

/// An array or map being filled; `slots` is the C stack depth where it started.
enum Reading {
    Array { table: Table, next: usize, len: usize, slots: usize },
    Map { table: Table, left: usize, key: Option<Value>, slots: usize },
}
