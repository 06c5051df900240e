//! `cjson`: Lua CJSON 2.1.0 as Redis 7.0 bundles it (encode and decode depth limits of 1000,
//! invalid numbers refused when encoding and accepted when decoding).
//!
//! Encoding: numbers as `%.14g`; a table whose keys are all positive integers is an array from 1 to
//! its largest key (holes become `null`) unless it is "excessively sparse"; any other table, the
//! empty one included, is an object; `/` is escaped as `\/`. Decoding: arrays become tables 1..n,
//! `null` becomes `cjson.null` (a NULL lightuserdata), numbers go through `strtod`, so hex, `inf`
//! and `nan` are accepted. Configuration is per module table (`cjson.new()` makes another one) and
//! lasts as long as the Lua state, as in Redis.

use std::sync::{Arc, Mutex, PoisonError};

use mlua::{Function, LightUserData, Lua, LuaString, MultiValue, Table, Value};

use super::cfunc::{self, Args, Outcome, Raise};
use super::cnum;
use super::MAX_NESTING;

/// The settings the `encode_*`/`decode_*` functions read and change.
#[derive(Clone, Copy)]
struct Config {
    sparse_convert: bool,
    sparse_ratio: i32,
    sparse_safe: i32,
    encode_max_depth: i32,
    decode_max_depth: i32,
    /// 0: refuse NaN and Inf; 1: write `nan`/`inf`; 2: write them as `null`.
    encode_invalid_numbers: usize,
    encode_number_precision: i32,
    encode_keep_buffer: bool,
    decode_invalid_numbers: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            sparse_convert: false,
            sparse_ratio: 2,
            sparse_safe: 10,
            encode_max_depth: 1000,
            decode_max_depth: 1000,
            encode_invalid_numbers: 0,
            encode_number_precision: 14,
            encode_keep_buffer: true,
            decode_invalid_numbers: true,
        }
    }
}

type Shared = Arc<Mutex<Config>>;

fn current(cfg: &Shared) -> Config {
    *cfg.lock().unwrap_or_else(PoisonError::into_inner)
}

fn store(cfg: &Shared, c: Config) {
    *cfg.lock().unwrap_or_else(PoisonError::into_inner) = c;
}

/// A new module table with its own configuration (`luaopen_cjson`, and `cjson.new()`).
pub(super) fn module(lua: &Lua) -> mlua::Result<Table> {
    let cfg: Shared = Arc::new(Mutex::new(Config::default()));
    let t = lua.create_table()?;
    let c = cfg.clone();
    let next: Function = lua.globals().raw_get("next")?;
    t.set("encode", cfunc::function(lua, move |lua, args| encode(lua, &args, current(&c), &next))?)?;
    let c = cfg.clone();
    t.set("decode", cfunc::function(lua, move |lua, args| decode(lua, &args, current(&c)))?)?;
    let c = cfg.clone();
    t.set("encode_sparse_array", cfunc::function(lua, move |lua, args| encode_sparse_array(lua, &args, &c))?)?;
    let c = cfg.clone();
    t.set(
        "encode_max_depth",
        cfunc::function(lua, move |lua, args| integer_option(lua, &args, &c, 1, i32::MAX, |c| &mut c.encode_max_depth))?,
    )?;
    let c = cfg.clone();
    t.set(
        "decode_max_depth",
        cfunc::function(lua, move |lua, args| integer_option(lua, &args, &c, 1, i32::MAX, |c| &mut c.decode_max_depth))?,
    )?;
    let c = cfg.clone();
    t.set(
        "encode_number_precision",
        cfunc::function(lua, move |lua, args| integer_option(lua, &args, &c, 1, 14, |c| &mut c.encode_number_precision))?,
    )?;
    let c = cfg.clone();
    t.set("encode_keep_buffer", cfunc::function(lua, move |lua, args| bool_option(lua, &args, &c, |c| &mut c.encode_keep_buffer))?)?;
    let c = cfg.clone();
    t.set("encode_invalid_numbers", cfunc::function(lua, move |lua, args| encode_invalid_numbers(lua, &args, &c))?)?;
    t.set(
        "decode_invalid_numbers",
        cfunc::function(lua, move |lua, args| bool_option(lua, &args, &cfg, |c| &mut c.decode_invalid_numbers))?,
    )?;
    t.set("new", cfunc::function(lua, |lua, _| Ok(MultiValue::from_vec(vec![Value::Table(module(lua)?)])))?)?;
    t.set("null", Value::LightUserData(LightUserData(std::ptr::null_mut())))?;
    t.set("_NAME", "cjson")?;
    t.set("_VERSION", "2.1.0")?;
    Ok(t)
}

fn one(v: Value) -> Outcome<MultiValue> {
    Ok(MultiValue::from_vec(vec![v]))
}

// ===== Configuration =====

/// The configuration functions take at most `max` arguments.
fn check_arg_count(args: &Args, max: usize) -> Outcome<()> {
    if args.len() > max {
        return Err(Raise::arg(max + 1, "found too many arguments"));
    }
    Ok(())
}

/// Sets an integer setting from argument `n` when given, and returns its value. The range error
/// names argument #1 whatever `n` is, as lua_cjson does.
fn set_integer(lua: &Lua, args: &Args, n: usize, min: i32, max: i32, setting: &mut i32) -> Outcome<Value> {
    if !args.is_none_or_nil(n) {
        // The C code stores lua_Integer into an int.
        let value = args.check_integer(lua, n)? as i32;
        if value < min || value > max {
            return Err(Raise::arg(1, format!("expected integer between {min} and {max}")));
        }
        *setting = value;
    }
    Ok(Value::Number(f64::from(*setting)))
}

fn integer_option(lua: &Lua, args: &Args, cfg: &Shared, min: i32, max: i32, field: fn(&mut Config) -> &mut i32) -> Outcome<MultiValue> {
    check_arg_count(args, 1)?;
    let mut c = current(cfg);
    let v = set_integer(lua, args, 1, min, max, field(&mut c))?;
    store(cfg, c);
    one(v)
}

/// `json_enum_option`: argument `n` is a boolean (false and true are options 0 and 1) or the name
/// of one of `options`; the reply is a boolean for options 0 and 1, else the option's name.
fn set_enum(args: &Args, lua: &Lua, n: usize, options: &[&str], setting: &mut usize) -> Outcome<Value> {
    match args.get(n) {
        None | Some(Value::Nil) => {}
        Some(Value::Boolean(b)) => *setting = usize::from(*b),
        Some(_) => {
            let name = args.check_string(lua, n)?;
            let name = name.as_bytes();
            match options.iter().position(|o| o.as_bytes() == &name[..]) {
                Some(i) => *setting = i,
                None => {
                    let mut msg = b"invalid option '".to_vec();
                    msg.extend_from_slice(&name);
                    msg.push(b'\'');
                    return Err(Raise::arg(n, msg));
                }
            }
        }
    }
    if *setting <= 1 {
        Ok(Value::Boolean(*setting != 0))
    } else {
        Ok(Value::String(lua.create_string(options.get(*setting).copied().unwrap_or(""))?))
    }
}

const OFF_ON: &[&str] = &["off", "on"];

fn bool_option(lua: &Lua, args: &Args, cfg: &Shared, field: fn(&mut Config) -> &mut bool) -> Outcome<MultiValue> {
    check_arg_count(args, 1)?;
    let mut c = current(cfg);
    let mut setting = usize::from(*field(&mut c));
    let v = set_enum(args, lua, 1, OFF_ON, &mut setting)?;
    *field(&mut c) = setting != 0;
    store(cfg, c);
    one(v)
}

fn encode_invalid_numbers(lua: &Lua, args: &Args, cfg: &Shared) -> Outcome<MultiValue> {
    check_arg_count(args, 1)?;
    let mut c = current(cfg);
    let v = set_enum(args, lua, 1, &["off", "on", "null"], &mut c.encode_invalid_numbers)?;
    store(cfg, c);
    one(v)
}

/// `cjson.encode_sparse_array([convert [, ratio [, safe]]])`.
fn encode_sparse_array(lua: &Lua, args: &Args, cfg: &Shared) -> Outcome<MultiValue> {
    check_arg_count(args, 3)?;
    let mut c = current(cfg);
    let mut convert = usize::from(c.sparse_convert);
    let a = set_enum(args, lua, 1, OFF_ON, &mut convert)?;
    c.sparse_convert = convert != 0;
    let b = set_integer(lua, args, 2, 0, i32::MAX, &mut c.sparse_ratio)?;
    let s = set_integer(lua, args, 3, 0, i32::MAX, &mut c.sparse_safe)?;
    store(cfg, c);
    Ok(MultiValue::from_vec(vec![a, b, s]))
}

// ===== Encoding =====

/// `cjson.encode(value)`.
fn encode(lua: &Lua, args: &Args, cfg: Config, next: &Function) -> Outcome<MultiValue> {
    if args.len() != 1 {
        return Err(Raise::arg(1, "expected 1 argument"));
    }
    let mut out = Vec::new();
    let value = args.get(1).cloned().unwrap_or(Value::Nil);
    Encoder { cfg, next, out: &mut out }.run(value)?;
    one(Value::String(lua.create_string(out)?))
}

/// A table being written. The walk keeps these on a heap stack rather than recursing, so deep
/// nesting costs no Rust stack.
enum Writing {
    Array {
        table: Table,
        next: i32,
        len: i32,
    },
    /// `key` is the last key written (nil before the first), from which Lua's `next` continues.
    Object {
        table: Table,
        key: Value,
        first: bool,
    },
}

struct Encoder<'a> {
    cfg: Config,
    /// Lua's `next`: a stateless table walk that needs no borrow of the table across steps.
    next: &'a Function,
    out: &'a mut Vec<u8>,
}

/// "Cannot serialise <type>: <reason>".
fn cannot_serialise(v: &Value, reason: &str) -> Raise {
    Raise::error(format!("Cannot serialise {}: {reason}", cfunc::type_name(Some(v))))
}

fn as_number(v: &Value) -> Option<f64> {
    match v {
        Value::Integer(i) => Some(*i as f64),
        Value::Number(n) => Some(*n),
        _ => None,
    }
}

impl Encoder<'_> {
    fn run(&mut self, root: Value) -> Outcome<()> {
        let mut stack: Vec<Writing> = Vec::new();
        let mut pending = Some(root);
        loop {
            if let Some(v) = pending.take() {
                if let Value::Table(table) = v {
                    let depth = stack.len() + 1;
                    // MAX_NESTING bounds mlua's references (one or two per level) even when a
                    // script raises encode_max_depth.
                    if depth > self.cfg.encode_max_depth.max(0) as usize || depth > MAX_NESTING {
                        return Err(Raise::error(format!("Cannot serialise, excessive nesting ({depth})")));
                    }
                    match self.array_length(&table)? {
                        Some(len) if len > 0 => {
                            self.out.push(b'[');
                            stack.push(Writing::Array { table, next: 1, len });
                        }
                        _ => {
                            self.out.push(b'{');
                            stack.push(Writing::Object { table, key: Value::Nil, first: true });
                        }
                    }
                } else {
                    self.scalar(&v)?;
                }
            }
            let Some(top) = stack.last_mut() else { return Ok(()) };
            match top {
                Writing::Array { table, next, len } => {
                    if *next > *len {
                        self.out.push(b']');
                        stack.pop();
                    } else {
                        if *next > 1 {
                            self.out.push(b',');
                        }
                        pending = Some(table.raw_get(*next)?);
                        *next += 1;
                    }
                }
                Writing::Object { table, key, first } => {
                    let (k, v): (Value, Value) = self.next.call((table.clone(), key.clone()))?;
                    if k.is_nil() {
                        self.out.push(b'}');
                        stack.pop();
                    } else {
                        if !*first {
                            self.out.push(b',');
                        }
                        *first = false;
                        self.key(&k)?;
                        *key = k;
                        pending = Some(v);
                    }
                }
            }
        }
    }

    fn scalar(&mut self, v: &Value) -> Outcome<()> {
        match v {
            Value::String(s) => append_string(&s.as_bytes(), self.out),
            Value::Integer(i) => self.number(v, *i as f64)?,
            Value::Number(n) => self.number(v, *n)?,
            Value::Boolean(true) => self.out.extend_from_slice(b"true"),
            Value::Boolean(false) => self.out.extend_from_slice(b"false"),
            Value::Nil => self.out.extend_from_slice(b"null"),
            Value::LightUserData(p) if p.0.is_null() => self.out.extend_from_slice(b"null"),
            _ => return Err(cannot_serialise(v, "type not supported")),
        }
        Ok(())
    }

    /// An object key: strings as they are, numbers as their text in quotes.
    fn key(&mut self, k: &Value) -> Outcome<()> {
        if let Some(n) = as_number(k) {
            self.out.push(b'"');
            self.number(k, n)?;
            self.out.extend_from_slice(b"\":");
            return Ok(());
        }
        match k {
            Value::String(s) => {
                append_string(&s.as_bytes(), self.out);
                self.out.push(b':');
            }
            _ => return Err(cannot_serialise(k, "table key must be a number or string")),
        }
        Ok(())
    }

    /// `n` is the number `v` holds; `v` names its type in errors.
    fn number(&mut self, v: &Value, n: f64) -> Outcome<()> {
        if !n.is_finite() {
            match self.cfg.encode_invalid_numbers {
                0 => return Err(cannot_serialise(v, "must not be NaN or Inf")),
                1 if n.is_nan() => {
                    self.out.extend_from_slice(b"nan");
                    return Ok(());
                }
                1 => {}
                _ => {
                    self.out.extend_from_slice(b"null");
                    return Ok(());
                }
            }
        }
        self.out.extend_from_slice(cnum::format_g(n, self.cfg.encode_number_precision.max(1) as usize).as_bytes());
        Ok(())
    }

    /// `lua_array_length`: `None` when the table is not an array (a key that is not a positive
    /// integer, or too sparse with sparse conversion on); otherwise the largest key (0 if empty).
    fn array_length(&self, t: &Table) -> Outcome<Option<i32>> {
        let mut max: i32 = 0;
        let mut items: i64 = 0;
        for pair in t.pairs::<Value, Value>() {
            let (k, _) = pair?;
            let Some(k) = as_number(&k) else { return Ok(None) };
            if k == 0.0 || k.floor() != k || k < 1.0 {
                return Ok(None);
            }
            // C keeps the maximum in an int.
            if k > f64::from(max) {
                max = cnum::f64_to_i32(k);
            }
            items += 1;
        }
        let cfg = &self.cfg;
        if cfg.sparse_ratio > 0 && i64::from(max) > items * i64::from(cfg.sparse_ratio) && max > cfg.sparse_safe {
            if !cfg.sparse_convert {
                return Err(cannot_serialise(&Value::Table(t.clone()), "excessively sparse array"));
            }
            return Ok(None);
        }
        Ok(Some(max))
    }
}

/// A JSON string: control characters, DEL, `"`, `\` and `/` escaped; other bytes (UTF-8 or not)
/// copied as they are.
fn append_string(s: &[u8], out: &mut Vec<u8>) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    for &c in s {
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\/"),
            b'\x08' => out.extend_from_slice(b"\\b"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\x0c' => out.extend_from_slice(b"\\f"),
            b'\r' => out.extend_from_slice(b"\\r"),
            0..=0x1f | 0x7f => out.extend_from_slice(format!("\\u{c:04x}").as_bytes()),
            _ => out.push(c),
        }
    }
    out.push(b'"');
}

// ===== Decoding =====

/// `cjson.decode(text)`.
fn decode(lua: &Lua, args: &Args, cfg: Config) -> Outcome<MultiValue> {
    if args.len() != 1 {
        return Err(Raise::arg(1, "expected 1 argument"));
    }
    let text = args.check_string(lua, 1)?;
    let data = text.as_bytes();
    // Only the first two characters of JSON text are sure to be ASCII: a NUL there means UTF-16/32.
    if data.len() >= 2 && (data[0] == 0 || data[1] == 0) {
        return Err(Raise::error("JSON parser does not support UTF-16 or UTF-32"));
    }
    let mut parser = Parser { lua, data: &data, pos: 0, cfg };
    let value = parser.document()?;
    let token = parser.next_token();
    if !matches!(token.kind, Kind::End) {
        return Err(parse_error("the end", &token));
    }
    one(value)
}

enum Kind {
    ObjBegin,
    ObjEnd,
    ArrBegin,
    ArrEnd,
    String(Vec<u8>),
    Number(f64),
    Boolean(bool),
    Null,
    Colon,
    Comma,
    End,
    Error(&'static str),
}

struct Token {
    kind: Kind,
    /// 0-based position reported (plus one) in errors.
    index: usize,
}

/// "Expected <what> but found <token> at character <n>".
fn parse_error(expected: &str, token: &Token) -> Raise {
    let found = match &token.kind {
        Kind::ObjBegin => "T_OBJ_BEGIN",
        Kind::ObjEnd => "T_OBJ_END",
        Kind::ArrBegin => "T_ARR_BEGIN",
        Kind::ArrEnd => "T_ARR_END",
        Kind::String(_) => "T_STRING",
        Kind::Number(_) => "T_NUMBER",
        Kind::Boolean(_) => "T_BOOLEAN",
        Kind::Null => "T_NULL",
        Kind::Colon => "T_COLON",
        Kind::Comma => "T_COMMA",
        Kind::End => "T_END",
        Kind::Error(what) => what,
    };
    Raise::error(format!("Expected {expected} but found {found} at character {}", token.index + 1))
}

struct Parser<'a> {
    lua: &'a Lua,
    data: &'a [u8],
    pos: usize,
    cfg: Config,
}

/// A container being read; kept on a heap stack rather than recursing, so deep nesting costs no
/// Rust stack.
enum Reading {
    Array {
        table: Table,
        next: i64,
    },
    /// `key` is the key whose value is being read.
    Object {
        table: Table,
        key: LuaString,
    },
}

impl Parser<'_> {
    /// The byte at `i`; the C parser reads the text as a NUL-terminated string, so the end (and any
    /// NUL byte) reads as 0.
    fn at(&self, i: usize) -> u8 {
        self.data.get(i).copied().unwrap_or(0)
    }

    fn error_here(&self, what: &'static str) -> Token {
        Token { kind: Kind::Error(what), index: self.pos }
    }

    fn next_token(&mut self) -> Token {
        while matches!(self.at(self.pos), b' ' | b'\t' | b'\n' | b'\r') {
            self.pos += 1;
        }
        let index = self.pos;
        let single = |kind| Token { kind, index };
        let c = self.at(self.pos);
        let kind = match c {
            b'{' => Kind::ObjBegin,
            b'}' => Kind::ObjEnd,
            b'[' => Kind::ArrBegin,
            b']' => Kind::ArrEnd,
            b',' => Kind::Comma,
            b':' => Kind::Colon,
            0 => return single(Kind::End),
            b'"' => return self.string_token(),
            b'-' | b'0'..=b'9' => {
                if !self.cfg.decode_invalid_numbers && self.is_invalid_number() {
                    return self.error_here("invalid number");
                }
                return self.number_token();
            }
            b'f' | b'i' | b'I' | b'n' | b'N' | b't' | b'+' => return self.word_token(),
            _ => return self.error_here("invalid token"),
        };
        self.pos += 1;
        single(kind)
    }

    fn word_token(&mut self) -> Token {
        let index = self.pos;
        let rest = &self.data[self.pos..];
        let (kind, len) = if rest.starts_with(b"true") {
            (Kind::Boolean(true), 4)
        } else if rest.starts_with(b"false") {
            (Kind::Boolean(false), 5)
        } else if rest.starts_with(b"null") {
            (Kind::Null, 4)
        } else if self.cfg.decode_invalid_numbers && self.is_invalid_number() {
            // Only numbers known to be invalid JSON (inf, nan, +n) get here, so that any other
            // bad word reports "invalid token" rather than "invalid number".
            return self.number_token();
        } else {
            return self.error_here("invalid token");
        };
        self.pos += len;
        Token { kind, index }
    }

    /// `json_is_invalid_number`: forms strtod takes but JSON does not (a leading `+` or zero, hex,
    /// inf, nan).
    fn is_invalid_number(&self) -> bool {
        let mut p = self.pos;
        if self.at(p) == b'+' {
            return true;
        }
        if self.at(p) == b'-' {
            p += 1;
        }
        let c = self.at(p);
        if c == b'0' {
            let c2 = self.at(p + 1);
            return c2 | 0x20 == b'x' || c2.is_ascii_digit();
        }
        // C compares a signed char: bytes from 0x80 count as "ordinary numbers" too.
        if (c as i8) <= b'9' as i8 {
            return false;
        }
        let word = &self.data[p.min(self.data.len())..];
        let starts_ci = |w: &[u8]| word.len() >= 3 && word[..3].eq_ignore_ascii_case(w);
        starts_ci(b"inf") || starts_ci(b"nan")
    }

    fn number_token(&mut self) -> Token {
        let index = self.pos;
        match cnum::strtod(&self.data[self.pos..]) {
            Some((n, len)) => {
                self.pos += len;
                Token { kind: Kind::Number(n), index }
            }
            None => self.error_here("invalid number"),
        }
    }

    fn string_token(&mut self) -> Token {
        let index = self.pos;
        self.pos += 1;
        let mut s = Vec::new();
        loop {
            let c = self.at(self.pos);
            match c {
                b'"' => break,
                0 => return self.error_here("unexpected end of string"),
                b'\\' => {
                    let unescaped = match self.at(self.pos + 1) {
                        b'"' => b'"',
                        b'\\' => b'\\',
                        b'/' => b'/',
                        b'b' => b'\x08',
                        b't' => b'\t',
                        b'n' => b'\n',
                        b'f' => b'\x0c',
                        b'r' => b'\r',
                        b'u' => {
                            if !self.unicode_escape(&mut s) {
                                return self.error_here("invalid unicode escape code");
                            }
                            continue;
                        }
                        _ => return self.error_here("invalid escape code"),
                    };
                    s.push(unescaped);
                    self.pos += 2;
                }
                _ => {
                    s.push(c);
                    self.pos += 1;
                }
            }
        }
        self.pos += 1;
        Token { kind: Kind::String(s), index }
    }

    fn hex4(&self, at: usize) -> Option<u32> {
        (0..4).try_fold(0u32, |acc, i| char::from(self.at(at + i)).to_digit(16).map(|d| acc << 4 | d))
    }

    /// `\uXXXX` (or a `\uD8xx\uDCxx` surrogate pair) at `pos`, appended as UTF-8.
    fn unicode_escape(&mut self, s: &mut Vec<u8>) -> bool {
        let Some(mut code) = self.hex4(self.pos + 2) else { return false };
        let mut len = 6;
        if code & 0xF800 == 0xD800 {
            // A low surrogate first, or a high one not followed by a low one, is an error.
            if code & 0x400 != 0 || self.at(self.pos + 6) != b'\\' || self.at(self.pos + 7) != b'u' {
                return false;
            }
            let Some(low) = self.hex4(self.pos + 8) else { return false };
            if low & 0xFC00 != 0xDC00 {
                return false;
            }
            code = (((code & 0x3FF) << 10) | (low & 0x3FF)) + 0x10000;
            len = 12;
        }
        match char::from_u32(code) {
            Some(ch) => {
                let mut buf = [0u8; 4];
                s.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
            }
            None => return false,
        }
        self.pos += len;
        true
    }

    /// The key of an object member and its colon, starting at `token`; then the token of its value.
    fn member_key(&mut self, token: Token) -> Outcome<(LuaString, Token)> {
        let Kind::String(key) = token.kind else {
            return Err(parse_error("object key string", &token));
        };
        let key = self.lua.create_string(key)?;
        let colon = self.next_token();
        if !matches!(colon.kind, Kind::Colon) {
            return Err(parse_error("colon", &colon));
        }
        Ok((key, self.next_token()))
    }

    /// One JSON value, nested containers included.
    fn document(&mut self) -> Outcome<Value> {
        let mut stack: Vec<Reading> = Vec::new();
        let mut token = self.next_token();
        loop {
            let mut value = match token.kind {
                Kind::String(s) => Value::String(self.lua.create_string(s)?),
                Kind::Number(n) => Value::Number(n),
                Kind::Boolean(b) => Value::Boolean(b),
                Kind::Null => Value::LightUserData(LightUserData(std::ptr::null_mut())),
                Kind::ObjBegin | Kind::ArrBegin => {
                    let depth = stack.len() + 1;
                    // MAX_NESTING bounds mlua's references (one or two per level) even when a
                    // script raises decode_max_depth.
                    if depth > self.cfg.decode_max_depth.max(0) as usize || depth > MAX_NESTING {
                        return Err(Raise::error(format!("Found too many nested data structures ({depth}) at character {}", self.pos)));
                    }
                    let table = self.lua.create_table()?;
                    let is_object = matches!(token.kind, Kind::ObjBegin);
                    let first = self.next_token();
                    match first.kind {
                        Kind::ObjEnd if is_object => Value::Table(table),
                        Kind::ArrEnd if !is_object => Value::Table(table),
                        _ if is_object => {
                            let (key, next) = self.member_key(first)?;
                            stack.push(Reading::Object { table, key });
                            token = next;
                            continue;
                        }
                        _ => {
                            stack.push(Reading::Array { table, next: 1 });
                            token = first;
                            continue;
                        }
                    }
                }
                _ => return Err(parse_error("value", &token)),
            };
            // Store the value in its container; a container that ends is itself a value for the
            // one around it.
            loop {
                let Some(top) = stack.last_mut() else { return Ok(value) };
                let after = self.next_token();
                match top {
                    Reading::Array { table, next } => {
                        table.raw_set(*next, value)?;
                        *next += 1;
                        match after.kind {
                            Kind::ArrEnd => {}
                            Kind::Comma => {
                                token = self.next_token();
                                break;
                            }
                            _ => return Err(parse_error("comma or array end", &after)),
                        }
                    }
                    Reading::Object { table, key } => {
                        table.raw_set(key.clone(), value)?;
                        match after.kind {
                            Kind::ObjEnd => {}
                            Kind::Comma => {
                                let first = self.next_token();
                                let (next_key, next) = self.member_key(first)?;
                                *key = next_key;
                                token = next;
                                break;
                            }
                            _ => return Err(parse_error("comma or object end", &after)),
                        }
                    }
                }
                value = match stack.pop() {
                    Some(Reading::Array { table, .. } | Reading::Object { table, .. }) => Value::Table(table),
                    None => Value::Nil,
                };
            }
        }
    }
}
