//! `redis.call` and `redis.pcall`: a script runs a command as its client would, after the checks
//! Redis makes for scripts (known command, arity, allowed in scripts, no writes when read-only).
//!
//! Both are C functions, as in Redis: a C function keeps its caller's frame even when called in
//! tail position (`return redis.call(...)`), so an error still names the script line, and only C
//! can raise an error table. They forward to the per-run Rust function stored under [`RAW_CALL`]
//! in the registry, which answers `(ok, reply-or-error-table)`.

use std::ffi::c_int;

use mlua::{ffi, Lua, MultiValue, Value};

use super::convert::{error_table, reply_to_lua};
use super::vm::RunState;
use crate::commands::dispatch::{dispatch, resolve};
use crate::commands::{Ctx, NOSCRIPT, WRITE};
use crate::resp::{format_double, Reply};

/// The registry key of the current run's command function.
pub const RAW_CALL: &str = "strata.raw_call";
const RAW_CALL_C: &std::ffi::CStr = c"strata.raw_call";

/// Calls the run's command function with this call's arguments; leaves `ok` and the value on top.
///
/// # Safety
/// Called by Lua as a C function with its arguments on the stack.
unsafe fn forward(state: *mut ffi::lua_State) {
    let nargs = ffi::lua_gettop(state);
    ffi::lua_getfield(state, ffi::LUA_REGISTRYINDEX, RAW_CALL_C.as_ptr());
    ffi::lua_insert(state, 1);
    ffi::lua_call(state, nargs, 2);
}

/// redis.call: the reply, or raises the error table.
pub unsafe extern "C-unwind" fn redis_call(state: *mut ffi::lua_State) -> c_int {
    forward(state);
    if ffi::lua_toboolean(state, -2) == 0 {
        ffi::lua_error(state);
    }
    1
}

/// redis.pcall: the reply or the error table.
pub unsafe extern "C-unwind" fn redis_pcall(state: *mut ffi::lua_State) -> c_int {
    forward(state);
    1
}

/// Runs one command for a script: `(true, reply)` or `(false, {err=...})`; redis.call raises the
/// latter, redis.pcall returns it.
pub fn call_from_script(ctx: &mut Ctx, lua: &Lua, args: MultiValue) -> mlua::Result<(bool, Value)> {
    let Some(mut state) = lua.app_data_mut::<RunState>() else {
        return failure(lua, "ERR redis.call is only available while a script runs");
    };
    if args.is_empty() {
        return failure(lua, "ERR Please specify at least one argument for this redis lib call");
    }
    state.args.clear();
    for arg in args.iter() {
        match arg {
            Value::String(s) => state.args.push(&s.as_bytes()),
            Value::Integer(n) => state.args.push(itoa::Buffer::new().format(*n).as_bytes()),
            Value::Number(n) => state.args.push(format_double(*n).as_bytes()),
            _ => return failure(lua, "ERR Lua redis lib command arguments must be strings or integers"),
        }
    }
    let request = state.args.args();
    let command = match resolve(request) {
        Ok((_, command)) => command,
        Err(_) => return failure(lua, "ERR Unknown Redis command called from script"),
    };
    if !command.arity_ok(request.len()) {
        return failure(lua, "ERR Wrong number of args calling Redis command from script");
    }
    if command.has(NOSCRIPT) {
        return failure(lua, "ERR This Redis command is not allowed from script");
    }
    if command.has(WRITE) {
        if state.read_only {
            return failure(lua, "ERR Write commands are not allowed from read-only scripts.");
        }
        state.status.note_write();
    }
    let reply = dispatch(ctx, request).reply;
    let resp = state.resp;
    drop(state);
    match &reply {
        Reply::Error(text) => failure(lua, text),
        reply => Ok((true, reply_to_lua(lua, reply, resp)?)),
    }
}

fn failure(lua: &Lua, text: &str) -> mlua::Result<(bool, Value)> {
    Ok((false, Value::Table(error_table(lua, text)?)))
}
