//! `redis.call`, `redis.pcall` and `redis.setresp`: a script runs a command as its client would,
//! after the checks Redis makes for scripts (known command, arity, allowed in scripts, no writes
//! when read-only).
//!
//! They are C functions working on the Lua stack directly, as Redis's are: a C function keeps its
//! caller's frame even in tail position (`return redis.call(...)`), so an error names the script
//! line; only C can raise an error table; and reading the arguments and pushing the reply without
//! going through mlua's value handles keeps a call cheap. What a run needs (the dispatcher of the
//! calling client, the script's protocol and flags) is a [`CallEnv`] that
//! [`super::vm::ScriptVm::run`] lends through a thread-local pointer for the duration of the run.
//!
//! Scripting imports no command code: the command layer hands each run its [`Dispatcher`].

use std::cell::Cell;
use std::ffi::{c_int, c_void, CStr};

use mlua::ffi;

use super::convert::ScriptResp;
use super::status::ScriptStatus;
use crate::resp::{format_double, format_human_double, Args, OwnedArgs, Reply};

/// Reply nesting deeper than this is cut (Lua's C stack is limited).
const MAX_DEPTH: usize = 200;

/// How a script's `redis.call` reaches the commands, handed to [`super::vm::ScriptVm::run`] by its
/// caller (the command layer implements it for its per-command context).
pub trait Dispatcher {
    /// Runs `request` for the script's client after the checks Redis makes for a command called
    /// from a script (known command, arity, not `noscript`, no write when `read_only`; a write is
    /// noted on `status`, so the script can no longer be killed): the command's reply, or Redis's
    /// error for the check that failed.
    fn call(&mut self, request: Args, read_only: bool, status: &ScriptStatus) -> Result<Reply, &'static str>;
}

/// What the C functions need during one run.
pub struct CallEnv<'r, 'c> {
    pub calls: &'r mut (dyn Dispatcher + 'c),
    pub resp: ScriptResp,
    pub read_only: bool,
    pub status: &'r ScriptStatus,
    /// Reused for the arguments of every call.
    pub args: &'r mut OwnedArgs,
}

thread_local! {
    /// The [`CallEnv`] of the run in progress on this thread (scripts run on the thread that
    /// called [`super::vm::ScriptVm::run`]), null between runs.
    static CALL_ENV: Cell<*mut c_void> = const { Cell::new(std::ptr::null_mut()) };
}

/// Lends `env` to the C functions until the returned guard drops (the pointer is cleared then, so
/// a call outside a run finds none). `env` must not be used otherwise while the guard lives.
pub fn lend(env: &mut CallEnv) -> Lent {
    let previous = CALL_ENV.replace(env as *mut CallEnv as *mut c_void);
    Lent { previous }
}

pub struct Lent {
    previous: *mut c_void,
}

impl Drop for Lent {
    fn drop(&mut self) {
        CALL_ENV.set(self.previous);
    }
}

/// The environment lent for the current run, if any.
///
/// # Safety
/// Only from a C function called by a script while [`lend`]'s guard lives.
unsafe fn env<'e>() -> Option<&'e mut CallEnv<'e, 'e>> {
    (CALL_ENV.get() as *mut CallEnv).as_mut()
}

/// redis.call: the reply, or raises the error table.
///
/// # Safety
/// Called by Lua as a C function.
pub unsafe extern "C-unwind" fn redis_call(state: *mut ffi::lua_State) -> c_int {
    if !call(state) {
        ffi::lua_error(state);
    }
    1
}

/// redis.pcall: the reply or the error table.
///
/// # Safety
/// Called by Lua as a C function.
pub unsafe extern "C-unwind" fn redis_pcall(state: *mut ffi::lua_State) -> c_int {
    call(state);
    1
}

/// redis.setresp(2|3): the protocol the script reads replies in.
///
/// # Safety
/// Called by Lua as a C function.
pub unsafe extern "C-unwind" fn redis_setresp(state: *mut ffi::lua_State) -> c_int {
    let resp = match (ffi::lua_gettop(state), ffi::lua_type(state, 1)) {
        (1, ffi::LUA_TNUMBER) => match ffi::lua_tonumber(state, 1) {
            2.0 => Some(ScriptResp::Resp2),
            3.0 => Some(ScriptResp::Resp3),
            _ => None,
        },
        _ => None,
    };
    let Some(resp) = resp else {
        ffi::lua_pushstring(state, c"RESP version must be 2 or 3.".as_ptr());
        ffi::lua_error(state);
    };
    if let Some(env) = env() {
        env.resp = resp;
    }
    0
}

/// Runs the command whose arguments are on the stack and leaves one value on top: the reply, or
/// an error table. Returns whether it succeeded. A panic in a handler becomes an error reply here
/// rather than unwinding through Lua's C frames.
unsafe fn call(state: *mut ffi::lua_State) -> bool {
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_command(state)));
    let (reply, resp) = match outcome {
        Ok(Ok((reply, resp))) => (reply, resp),
        Ok(Err(error)) => (Reply::Error(error.into()), ScriptResp::Resp2),
        Err(_) => (Reply::Error("ERR the command panicked".into()), ScriptResp::Resp2),
    };
    ffi::lua_settop(state, 0);
    match &reply {
        Reply::Error(text) => {
            push_error_table(state, text);
            false
        }
        reply => {
            push_reply(state, reply, resp, 0);
            true
        }
    }
}

/// The checks Redis makes for a command called from a script, then the command itself.
unsafe fn run_command(state: *mut ffi::lua_State) -> Result<(Reply, ScriptResp), &'static str> {
    let env = env().ok_or("ERR redis.call is only available while a script runs")?;
    let count = ffi::lua_gettop(state);
    if count == 0 {
        return Err("ERR Please specify at least one argument for this redis lib call");
    }
    env.args.clear();
    for index in 1..=count {
        match ffi::lua_type(state, index) {
            ffi::LUA_TSTRING => {
                let mut len = 0;
                let data = ffi::lua_tolstring(state, index, &mut len) as *const u8;
                env.args.push(std::slice::from_raw_parts(data, len));
            }
            // Redis formats numbers with %.17g (Lua's own conversion would round to 14 digits).
            ffi::LUA_TNUMBER => env.args.push(format_double(ffi::lua_tonumber(state, index)).as_bytes()),
            _ => return Err("ERR Lua redis lib command arguments must be strings or integers"),
        }
    }
    let reply = env.calls.call(env.args.args(), env.read_only, env.status)?;
    Ok((reply, env.resp))
}

unsafe fn push_bytes(state: *mut ffi::lua_State, bytes: &[u8]) {
    ffi::lua_pushlstring(state, bytes.as_ptr() as *const _, bytes.len());
}

/// `{err = text}`.
unsafe fn push_error_table(state: *mut ffi::lua_State, text: &str) {
    ffi::lua_createtable(state, 0, 1);
    push_bytes(state, text.as_bytes());
    ffi::lua_setfield(state, -2, c"err".as_ptr());
}

/// Sets `table[name] = value on top` for the table just below the top.
unsafe fn single_field(state: *mut ffi::lua_State, name: &CStr) {
    ffi::lua_createtable(state, 0, 1);
    ffi::lua_insert(state, -2);
    ffi::lua_setfield(state, -2, name.as_ptr());
}

/// Pushes a command's reply as the script sees it (Redis's conversion rules; see
/// [`super::convert`] for the same rules in mlua values).
unsafe fn push_reply(state: *mut ffi::lua_State, reply: &Reply, resp: ScriptResp, depth: usize) {
    if depth > MAX_DEPTH || ffi::lua_checkstack(state, 4) == 0 {
        ffi::lua_pushnil(state);
        return;
    }
    let resp3 = resp == ScriptResp::Resp3;
    match reply {
        Reply::Ok => {
            push_bytes(state, b"OK");
            single_field(state, c"ok");
        }
        Reply::Status(text) => {
            push_bytes(state, text.as_bytes());
            single_field(state, c"ok");
        }
        Reply::Error(text) => push_error_table(state, text),
        Reply::Int(n) => ffi::lua_pushnumber(state, *n as f64),
        Reply::Bulk(bytes) => push_bytes(state, bytes),
        Reply::Verbatim(bytes) if !resp3 => push_bytes(state, bytes),
        Reply::Verbatim(bytes) => {
            ffi::lua_createtable(state, 0, 2);
            push_bytes(state, b"txt");
            ffi::lua_setfield(state, -2, c"format".as_ptr());
            push_bytes(state, bytes);
            ffi::lua_setfield(state, -2, c"string".as_ptr());
            single_field(state, c"verbatim_string");
        }
        Reply::Nil | Reply::NilArray | Reply::NoReply if resp3 => ffi::lua_pushnil(state),
        Reply::Nil | Reply::NilArray | Reply::NoReply => ffi::lua_pushboolean(state, 0),
        Reply::Array(items) | Reply::Push(items) | Reply::Multi(items) => push_array(state, items, resp, depth),
        Reply::Set(items) if !resp3 => push_array(state, items, resp, depth),
        Reply::Set(items) => {
            ffi::lua_createtable(state, 0, items.len().min(i32::MAX as usize) as c_int);
            for item in items {
                push_reply(state, item, resp, depth + 1);
                ffi::lua_pushboolean(state, 1);
                ffi::lua_rawset(state, -3);
            }
            single_field(state, c"set");
        }
        Reply::Map(pairs) if !resp3 => {
            ffi::lua_createtable(state, (pairs.len() * 2).min(i32::MAX as usize) as c_int, 0);
            for (i, (key, value)) in pairs.iter().enumerate() {
                push_reply(state, key, resp, depth + 1);
                ffi::lua_rawseti(state, -2, (2 * i + 1) as ffi::lua_Integer);
                push_reply(state, value, resp, depth + 1);
                ffi::lua_rawseti(state, -2, (2 * i + 2) as ffi::lua_Integer);
            }
        }
        Reply::Map(pairs) => {
            ffi::lua_createtable(state, 0, pairs.len().min(i32::MAX as usize) as c_int);
            for (key, value) in pairs {
                push_reply(state, key, resp, depth + 1);
                push_reply(state, value, resp, depth + 1);
                ffi::lua_rawset(state, -3);
            }
            single_field(state, c"map");
        }
        Reply::Double(value) if !resp3 => push_bytes(state, format_double(*value).as_bytes()),
        Reply::HumanDouble(value) if !resp3 => push_bytes(state, format_human_double(*value).as_bytes()),
        Reply::Double(value) | Reply::HumanDouble(value) => {
            ffi::lua_pushnumber(state, *value);
            single_field(state, c"double");
        }
        Reply::Bool(value) if !resp3 => ffi::lua_pushnumber(state, f64::from(u8::from(*value))),
        Reply::Bool(value) => ffi::lua_pushboolean(state, c_int::from(*value)),
        Reply::BigNumber(digits) if !resp3 => push_bytes(state, digits),
        Reply::BigNumber(digits) => {
            push_bytes(state, digits);
            single_field(state, c"big_number");
        }
    }
}

unsafe fn push_array(state: *mut ffi::lua_State, items: &[Reply], resp: ScriptResp, depth: usize) {
    ffi::lua_createtable(state, items.len().min(i32::MAX as usize) as c_int, 0);
    for (i, item) in items.iter().enumerate() {
        push_reply(state, item, resp, depth + 1);
        ffi::lua_rawseti(state, -2, (i + 1) as ffi::lua_Integer);
    }
}
