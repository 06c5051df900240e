//! A script's return value as the reply of EVAL or FCALL, by Redis's conversion rules (the other
//! direction, replies reaching scripts, is pushed straight onto the Lua stack by
//! [`super::call`]).

use bytes::Bytes;
use mlua::{Lua, Table, Value};

use crate::resp::Reply;

/// The protocol a script reads replies in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScriptResp {
    Resp2,
    Resp3,
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
