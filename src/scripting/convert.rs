//! The conversions between command replies and Lua values, as Redis documents them: replies reach
//! scripts shaped by the script's protocol (`redis.setresp`, RESP2 unless changed), and a script's
//! return value becomes the reply of EVAL or FCALL.

use bytes::Bytes;
use mlua::{Lua, Table, Value};

use crate::resp::{format_double, format_human_double, Reply};

/// The protocol a script reads replies in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScriptResp {
    Resp2,
    Resp3,
}

/// A command's reply as the script sees it. Error replies never get here: redis.call raises them
/// and redis.pcall returns them as `{err=...}` tables (see [`error_table`]).
pub fn reply_to_lua(lua: &Lua, reply: &Reply, resp: ScriptResp) -> mlua::Result<Value> {
    let resp3 = resp == ScriptResp::Resp3;
    Ok(match reply {
        Reply::Ok => status_table(lua, "OK")?,
        Reply::Status(text) => status_table(lua, text)?,
        Reply::Error(text) => Value::Table(error_table(lua, text)?),
        Reply::Int(n) => Value::Integer(*n),
        Reply::Bulk(bytes) => Value::String(lua.create_string(bytes)?),
        Reply::Verbatim(bytes) if !resp3 => Value::String(lua.create_string(bytes)?),
        Reply::Verbatim(bytes) => {
            let inner = lua.create_table()?;
            inner.raw_set("format", "txt")?;
            inner.raw_set("string", lua.create_string(bytes)?)?;
            single_field(lua, "verbatim_string", Value::Table(inner))?
        }
        Reply::Nil | Reply::NilArray => {
            if resp3 {
                Value::Nil
            } else {
                Value::Boolean(false)
            }
        }
        Reply::Array(items) | Reply::Push(items) | Reply::Multi(items) => Value::Table(array(lua, items, resp)?),
        Reply::Set(items) if !resp3 => Value::Table(array(lua, items, resp)?),
        Reply::Set(items) => {
            let set = lua.create_table()?;
            for item in items {
                set.raw_set(reply_to_lua(lua, item, resp)?, true)?;
            }
            single_field(lua, "set", Value::Table(set))?
        }
        Reply::Map(pairs) if !resp3 => {
            let flat = lua.create_table_with_capacity(pairs.len() * 2, 0)?;
            for (i, (key, value)) in pairs.iter().enumerate() {
                flat.raw_set(2 * i + 1, reply_to_lua(lua, key, resp)?)?;
                flat.raw_set(2 * i + 2, reply_to_lua(lua, value, resp)?)?;
            }
            Value::Table(flat)
        }
        Reply::Map(pairs) => {
            let map = lua.create_table()?;
            for (key, value) in pairs {
                map.raw_set(reply_to_lua(lua, key, resp)?, reply_to_lua(lua, value, resp)?)?;
            }
            single_field(lua, "map", Value::Table(map))?
        }
        Reply::Double(value) if !resp3 => Value::String(lua.create_string(format_double(*value))?),
        Reply::Double(value) => single_field(lua, "double", Value::Number(*value))?,
        Reply::HumanDouble(value) if !resp3 => Value::String(lua.create_string(format_human_double(*value))?),
        Reply::HumanDouble(value) => single_field(lua, "double", Value::Number(*value))?,
        Reply::Bool(value) if !resp3 => Value::Integer(i64::from(*value)),
        Reply::Bool(value) => Value::Boolean(*value),
        Reply::BigNumber(digits) if !resp3 => Value::String(lua.create_string(digits)?),
        Reply::BigNumber(digits) => single_field(lua, "big_number", Value::String(lua.create_string(digits)?))?,
        Reply::NoReply => Value::Nil,
    })
}

fn array(lua: &Lua, items: &[Reply], resp: ScriptResp) -> mlua::Result<Table> {
    let table = lua.create_table_with_capacity(items.len(), 0)?;
    for (i, item) in items.iter().enumerate() {
        table.raw_set(i + 1, reply_to_lua(lua, item, resp)?)?;
    }
    Ok(table)
}

fn single_field(lua: &Lua, name: &str, value: Value) -> mlua::Result<Value> {
    let table = lua.create_table_with_capacity(0, 1)?;
    table.raw_set(name, value)?;
    Ok(Value::Table(table))
}

fn status_table(lua: &Lua, text: &str) -> mlua::Result<Value> {
    single_field(lua, "ok", Value::String(lua.create_string(text)?))
}

/// `{err = text}`: how scripts see an error reply.
pub fn error_table(lua: &Lua, text: &str) -> mlua::Result<Table> {
    let table = lua.create_table_with_capacity(0, 1)?;
    table.raw_set("err", text)?;
    Ok(table)
}

/// A script's return value as a reply. `resp` is the script's protocol: it decides what booleans
/// become, as in Redis.
pub fn lua_to_reply(value: &Value, resp: ScriptResp) -> Reply {
    match value {
        Value::String(s) => Reply::Bulk(Bytes::copy_from_slice(&s.as_bytes())),
        Value::Integer(n) => Reply::Int(*n),
        // Redis truncates toward zero (a C cast); saturating at the i64 range.
        Value::Number(n) => Reply::Int(*n as i64),
        Value::Boolean(b) => match resp {
            ScriptResp::Resp3 => Reply::Bool(*b),
            ScriptResp::Resp2 if *b => Reply::Int(1),
            ScriptResp::Resp2 => Reply::Nil,
        },
        Value::Table(table) => table_to_reply(table, resp),
        _ => Reply::Nil,
    }
}

fn table_to_reply(table: &Table, resp: ScriptResp) -> Reply {
    if let Ok(Value::String(text)) = table.raw_get::<Value>("err") {
        return Reply::Error(sanitize(&text.to_string_lossy()).into());
    }
    if let Ok(Value::String(text)) = table.raw_get::<Value>("ok") {
        return Reply::Status(sanitize(&text.to_string_lossy()).into());
    }
    if let Ok(Value::Table(map)) = table.raw_get::<Value>("map") {
        let pairs = map.pairs::<Value, Value>().filter_map(Result::ok);
        return Reply::Map(pairs.map(|(k, v)| (lua_to_reply(&k, resp), lua_to_reply(&v, resp))).collect());
    }
    if let Ok(Value::Table(set)) = table.raw_get::<Value>("set") {
        return Reply::Set(set.pairs::<Value, Value>().filter_map(Result::ok).map(|(k, _)| lua_to_reply(&k, resp)).collect());
    }
    if let Ok(value) = table.raw_get::<Value>("double") {
        if let Some(number) = value.as_number().or_else(|| value.as_integer().map(|n| n as f64)) {
            return Reply::Double(number);
        }
    }
    if let Ok(Value::String(digits)) = table.raw_get::<Value>("big_number") {
        return Reply::BigNumber(Bytes::copy_from_slice(&digits.as_bytes()));
    }
    if let Ok(Value::Table(verbatim)) = table.raw_get::<Value>("verbatim_string") {
        if let Ok(Value::String(text)) = verbatim.raw_get::<Value>("string") {
            return Reply::Verbatim(Bytes::copy_from_slice(&text.as_bytes()));
        }
    }
    // An array: elements 1, 2, ... up to the first nil.
    let mut items = Vec::new();
    for i in 1.. {
        match table.raw_get::<Value>(i) {
            Ok(Value::Nil) | Err(_) => break,
            Ok(value) => items.push(lua_to_reply(&value, resp)),
        }
    }
    Reply::Array(items)
}

/// Error and status lines cannot hold line breaks; Redis turns them into spaces.
pub fn sanitize(text: &str) -> String {
    text.replace(['\r', '\n'], " ")
}
