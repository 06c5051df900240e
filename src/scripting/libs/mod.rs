//! The Lua libraries Redis 7.0 gives scripts, beside Lua's own: `cjson`, `cmsgpack`, `bit` and
//! `struct`, reimplemented in Rust so that scripts see the same values, bytes and error texts as
//! with Redis's bundled C versions (lua_cjson 2.1.0, lua_cmsgpack 0.4.0, LuaBitOp 1.0.2, struct 1.4).
//!
//! This module depends on `mlua` only; it knows nothing of the server. Sandboxing (read-only
//! globals) is the script runner's business.

mod bit;
mod cfunc;
mod cjson;
mod cmsgpack;
mod cnum;
mod structlib;
#[cfg(test)]
mod tests;

use mlua::Lua;

/// `LUAI_MAXCSTACK`, the Lua 5.1 stack a C function may use, less a reserve: the C libraries fail
/// with "stack overflow" when the values they hold reach it, and mlua keeps its references to Lua
/// values on an auxiliary stack of the same size, so this code must never come close to holding
/// 8000 of them at once.
const LUA_STACK_SLOTS: usize = 7800;

/// How deep nested tables may go when encoding or decoding (Redis's default JSON depth limits).
/// The C libraries recurse up to their stack limit; here each level is a Rust stack frame and one or
/// two mlua references, so the depth is bounded even if a script raises `encode_max_depth`.
const MAX_NESTING: usize = 1000;

/// Installs the globals `cjson`, `cmsgpack`, `bit` and `struct`, as Redis 7.0's scripting
/// environment has them. Call it after Lua's base library is loaded (`cjson.encode` keeps the
/// original `next`) and before the globals are sandboxed.
///
/// Errors the functions raise are Lua strings, as with Redis's C libraries; a script runner that
/// gets one back from mlua sees `Error::RuntimeError` with mlua's traceback after the first line.
pub fn register(lua: &Lua) -> mlua::Result<()> {
    let globals = lua.globals();
    globals.set("cjson", cjson::module(lua)?)?;
    globals.set("cmsgpack", cmsgpack::module(lua)?)?;
    globals.set("bit", bit::module(lua)?)?;
    globals.set("struct", structlib::module(lua)?)?;
    Ok(())
}
