//! The `redis` table scripts see, apart from call/pcall (see [`super::call`]).

use mlua::{Lua, MultiValue, Table, Value};

use super::call::{redis_call, redis_pcall, redis_setresp};

use super::convert::error_table;

pub fn redis_table(lua: &Lua) -> mlua::Result<Table> {
    let redis = lua.create_table()?;
    // SAFETY: both follow the Lua C API's calling convention (see their documentation).
    let (call, pcall) = unsafe { (lua.create_c_function(redis_call)?, lua.create_c_function(redis_pcall)?) };
    redis.raw_set("call", call)?;
    redis.raw_set("pcall", pcall)?;
    redis.raw_set("sha1hex", lua.create_function(|_, text: mlua::LuaString| Ok(sha1_hex(&text.as_bytes())))?)?;
    redis.raw_set("error_reply", lua.create_function(|lua, text: mlua::LuaString| error_table(lua, &text.to_string_lossy()))?)?;
    redis.raw_set(
        "status_reply",
        lua.create_function(|lua, text: mlua::LuaString| {
            let table = lua.create_table()?;
            table.raw_set("ok", text)?;
            Ok(table)
        })?,
    )?;
    redis.raw_set("log", lua.create_function(log)?)?;
    // SAFETY: follows the Lua C API's calling convention (see its documentation).
    redis.raw_set("setresp", unsafe { lua.create_c_function(redis_setresp)? })?;
    // Scripts replicate by their effects; the old switches are accepted and change nothing.
    redis.raw_set("set_repl", lua.create_function(|_, _: MultiValue| Ok(()))?)?;
    redis.raw_set("replicate_commands", lua.create_function(|_, _: MultiValue| Ok(true))?)?;
    // Without the script debugger: breakpoint reports "not debugging", debug prints nothing.
    redis.raw_set("breakpoint", lua.create_function(|_, _: MultiValue| Ok(false))?)?;
    redis.raw_set("debug", lua.create_function(|_, _: MultiValue| Ok(()))?)?;
    for (name, value) in [
        ("LOG_DEBUG", 0),
        ("LOG_VERBOSE", 1),
        ("LOG_NOTICE", 2),
        ("LOG_WARNING", 3),
        ("REPL_NONE", 0),
        ("REPL_AOF", 1),
        ("REPL_SLAVE", 2),
        ("REPL_REPLICA", 2),
        ("REPL_ALL", 3),
    ] {
        redis.raw_set(name, value)?;
    }
    redis.raw_set("REDIS_VERSION", crate::VERSION_REPORTED)?;
    redis.raw_set("REDIS_VERSION_NUM", version_number(crate::VERSION_REPORTED))?;
    Ok(redis)
}

pub fn sha1_hex(bytes: &[u8]) -> String {
    sha1_smol::Sha1::from(bytes).digest().to_string()
}

/// `7.2.0` as 0x070200.
fn version_number(version: &str) -> i64 {
    version.split('.').take(3).fold(0, |acc, part| (acc << 8) | part.parse::<i64>().unwrap_or(0))
}

/// redis.log(level, message, ...): to the server log at the matching level.
fn log(_: &Lua, args: MultiValue) -> mlua::Result<()> {
    if args.len() < 2 {
        return Err(mlua::Error::RuntimeError("redis.log() requires two arguments or more.".into()));
    }
    let level = match args.front() {
        Some(Value::Integer(level)) => *level,
        _ => return Err(mlua::Error::RuntimeError("First argument must be a number (log level).".into())),
    };
    let words: Vec<String> = args.iter().skip(1).map(|v| v.to_string().unwrap_or_default()).collect();
    let message = words.join(" ");
    match level {
        0 => tracing::debug!(target: "script", "{message}"),
        1 | 2 => tracing::info!(target: "script", "{message}"),
        3 => tracing::warn!(target: "script", "{message}"),
        _ => return Err(mlua::Error::RuntimeError("Invalid debug level.".into())),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha1_and_version_number() {
        assert_eq!(sha1_hex(b""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert_eq!(version_number("7.2.0"), 0x070200);
    }
}
